/* Not a kernel of the engine: the clang check's negative case (CMakeLists.txt, test
 * cl_syntax_clang_detects_errors). `undeclared` does not exist, so clang must reject this file. */
__kernel void bad_kernel(__global float *x)
{
    x[get_global_id(0)] = 1.0f + undeclared;
}
