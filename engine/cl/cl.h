/* OpenCL runtime: device discovery and choice, the context (context + queue), program build with an
 * in-memory and on-disk binary cache, typed kernel-argument checks, launches and error names.
 *
 * Kernels are the files opencl/<name>.cl, embedded at build time; DEEPCEE_KERNELS=<dir> makes the
 * runtime read them from that folder instead (edit a kernel without rebuilding). Compiled programs are
 * cached on disk under $DEEPCEE_CACHE (default $XDG_CACHE_HOME/deepcee or ~/.cache/deepcee), keyed by
 * device, driver version, source hash and build options. */
#ifndef DC_CL_H
#define DC_CL_H

#include <CL/cl.h>

#include "core.h"

typedef struct dc_device_info {
    int index;                 /* position in dc_devices_list order */
    char platform[128];
    char name[128];
    char vendor[128];
    char version[128];         /* CL_DEVICE_VERSION */
    char driver[128];          /* CL_DRIVER_VERSION */
    cl_device_type type;
    cl_uint compute_units;
    cl_ulong global_mem;
    cl_ulong max_alloc;
    cl_uint base_align_bits;   /* CL_DEVICE_MEM_BASE_ADDR_ALIGN: sub-buffer origins align to it */
    cl_bool host_unified;      /* CL_DEVICE_HOST_UNIFIED_MEMORY: buffers live in host memory */
    size_t max_work_group;     /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
    size_t max_work_item0;     /* CL_DEVICE_MAX_WORK_ITEM_SIZES[0] */
    cl_ulong local_mem;        /* CL_DEVICE_LOCAL_MEM_SIZE, bytes */
    cl_platform_id platform_id;
    cl_device_id device_id;
} dc_device_info;

/* Every device of every platform. *out is malloc'd (free it); *n may be 0. */
dc_status dc_devices_list(dc_device_info **out, int *n);
const char *dc_device_type_name(cl_device_type t);

typedef struct dc_ctx dc_ctx;

/* Open a device. choice: NULL or "" uses $DEEPCEE_DEVICE, else the first GPU, else the first
 * device. A choice is an index ("1") or a case-insensitive substring of "platform device vendor".
 * A choice matching nothing fails with a message listing the devices there are. */
dc_status dc_ctx_new(dc_ctx **out, const char *choice);
void dc_ctx_free(dc_ctx *ctx);
cl_context dc_ctx_context(const dc_ctx *ctx);
cl_command_queue dc_ctx_queue(const dc_ctx *ctx);
cl_device_id dc_ctx_device(const dc_ctx *ctx);
const dc_device_info *dc_ctx_info(const dc_ctx *ctx);
dc_status dc_ctx_finish(dc_ctx *ctx);

/* Tile sizes of CLBlast's Xgemm kernel as the tuning entry set them (engine/cl/tune.h), in
 * CLBlast's column-major naming: the GEMM ops (engine/ops/gemm.c) pad operands to these multiples
 * so that CLBlast runs the kernel on them without its padding and transpose copies. mwg = 0 when
 * they are unknown (no entry: CLBlast's own database or defaults, whose values it does not
 * expose). min_indirect: products below min_indirect^3 go to CLBlast's direct kernel, which needs
 * no padding (0 when unknown). */
typedef struct dc_gemm_tiles {
    int mwg, nwg, kwg, min_indirect;
} dc_gemm_tiles;
dc_gemm_tiles dc_ctx_gemm_tiles(const dc_ctx *ctx);
void dc_ctx_set_gemm_tiles(dc_ctx *ctx, dc_gemm_tiles tiles);
/* The GEMM route chosen for this context (a dc_gemm_route of engine/ops/ops_conv.h), which takes
 * precedence over DEEPCEE_GEMM; -1 (the default) when none is chosen. The tuning measurement sets
 * CLBlast's for its duration, the benchmarks switch routes within one process with it. */
int dc_ctx_gemm_route(const dc_ctx *ctx);
void dc_ctx_set_gemm_route(dc_ctx *ctx, int route);

/* A scratch store the context owns for layers above it (the detector ops keep a pool of scratch
 * buffers there: engine/detect/boxes.c): NULL until set; free_fn(p) runs in dc_ctx_free before the
 * queue and context are released. Setting it again frees the previous one. */
void *dc_ctx_scratch(const dc_ctx *ctx);
void dc_ctx_set_scratch(dc_ctx *ctx, void *p, void (*free_fn)(void *));

/* The work-group size for a 1-D kernel on this device: the largest power of two <= want that
 * the device's CL_DEVICE_MAX_WORK_GROUP_SIZE and first CL_DEVICE_MAX_WORK_ITEM_SIZES allow and
 * whose local memory (local_bytes_per_item per item) fits half of CL_DEVICE_LOCAL_MEM_SIZE; at
 * least 1. Kernels with a fixed group size get it as a build option (-DGROUP=...), so sizes and
 * local memory come from the device, never assumed. */
size_t dc_ctx_group_size(const dc_ctx *ctx, size_t want, size_t local_bytes_per_item);

/* The kernel `name` of program file `file` (e.g. "im2col.cl") built with `options` (may be NULL).
 * Programs and kernels are cached per context; the returned kernel is owned by the context.
 * A build failure returns DC_STATUS_BUILD naming the file and carrying the compiler log.
 * Kernels are shared: set all arguments and enqueue before asking for the same kernel again. */
dc_status dc_kernel_get(dc_ctx *ctx, const char *file, const char *name, const char *options,
                        cl_kernel *out);
/* Build from explicit source (tests of the build-failure path use this). */
dc_status dc_program_build_source(dc_ctx *ctx, const char *label, const char *source,
                                  const char *options, cl_program *out);
/* Source of an embedded (or DEEPCEE_KERNELS) kernel file; *out is malloc'd. */
dc_status dc_kernel_source(const char *file, char **out, size_t *len);

/* Enqueue a kernel over a 1-3 D range; global sizes are rounded up to multiples of local
 * (local may be NULL: the implementation picks). Kernels must guard against the padding. */
dc_status dc_kernel_launch(dc_ctx *ctx, cl_kernel k, const char *name, cl_uint dims,
                           const size_t *global, const size_t *local);

/* Typed argument setters: each names the kernel and argument on failure. */
dc_status dc_arg_mem(cl_kernel k, const char *name, cl_uint i, cl_mem v);
dc_status dc_arg_int(cl_kernel k, const char *name, cl_uint i, cl_int v);
dc_status dc_arg_float(cl_kernel k, const char *name, cl_uint i, cl_float v);
dc_status dc_arg_local(cl_kernel k, const char *name, cl_uint i, size_t bytes);

const char *dc_cl_error_name(cl_int err);
/* Turn an OpenCL error code into a status with a message naming the call, file and line;
 * allocation failures become DC_STATUS_OUT_OF_MEMORY. */
dc_status dc_cl_fail(cl_int err, const char *call, const char *file, int line);
#define DC_CL_CHECK(call)                                                                  \
    do {                                                                                   \
        cl_int dc_cl_err_ = (call);                                                        \
        if (dc_cl_err_ != CL_SUCCESS) return dc_cl_fail(dc_cl_err_, #call, __FILE__, __LINE__); \
    } while (0)

/* The cache folder ($DEEPCEE_CACHE, else $XDG_CACHE_HOME/deepcee, else ~/.cache/deepcee), created
 * on demand; on failure buf is "". */
dc_status dc_cache_dir(char *buf, size_t size);

/* Statistics of the program cache (for the benchmark of start-up time and for tests). */
typedef struct dc_cache_stats { int memory_hits, disk_hits, compiles; } dc_cache_stats;
dc_cache_stats dc_ctx_cache_stats(const dc_ctx *ctx);

#endif
