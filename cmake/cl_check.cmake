# Compile every OpenCL C file of SOURCES (a ;-list) as OpenCL C 1.2 with clang's OpenCL front end
# (syntax and semantics only, no code generation), warnings as errors, for the generic SPIR target
# (no device's extensions assumed) and the host target. Each file gets the build options the runtime
# passes it on a device that allows groups of 64 (engine/ops/basic_train.c -DGROUP, channel.c
# -DBIAS_GRAD_WG, engine/detect/targets.c -DMATCH_GROUP); the others are built without options.
# Run as: cmake -DCLANG=.. "-DSOURCES=.." -P cl_check.cmake. Fails naming the file and clang's
# message.
set(failed "")
foreach(src IN LISTS SOURCES)
  get_filename_component(name "${src}" NAME)
  set(defs "")
  if(name STREQUAL "basic_train.cl")
    set(defs "-DGROUP=64")
  elseif(name STREQUAL "conv_channel.cl")
    set(defs "-DBIAS_GRAD_WG=64")
  elseif(name STREQUAL "targets.cl")
    set(defs "-DMATCH_GROUP=64")
  endif()
  foreach(target spir x86_64-unknown-linux-gnu)
    execute_process(COMMAND ${CLANG} -target ${target} -x cl -cl-std=CL1.2 -fsyntax-only -Wall
                            -Wextra -Wno-unused-parameter -Werror ${defs} ${src}
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    if(NOT rc EQUAL 0)
      message("${name} (clang -target ${target} -cl-std=CL1.2):\n${out}")
      list(APPEND failed "${name}")
    endif()
  endforeach()
endforeach()
list(LENGTH SOURCES n)
if(failed)
  list(REMOVE_DUPLICATES failed)
  message(FATAL_ERROR "OpenCL C 1.2 check failed for: ${failed}")
endif()
message("OpenCL C 1.2 check: ${n} files compiled cleanly with ${CLANG}")
