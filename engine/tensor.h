/* Device tensors: float32, row-major NCHW (up to 4 dimensions), one cl_mem each.
 *
 * Ownership: a tensor from dc_tensor_new owns its buffer and is freed with dc_tensor_free. A tensor
 * from a pool (dc_pool_tensor) belongs to the pool: it stays valid until dc_pool_reset, which makes
 * all of the pool's buffers available again; a training step resets its pool once per step, so the
 * same sequence of allocations reuses the same buffers and memory stays flat. Only tensors handed
 * to Lua are reference counted (by the binding). */
#ifndef DC_TENSOR_H
#define DC_TENSOR_H

#include "cl/cl.h"

#define DC_TENSOR_MAX_DIMS 4

typedef struct dc_pool dc_pool;

typedef struct dc_tensor {
    dc_ctx *ctx;
    cl_mem buf;
    int ndim;
    int shape[DC_TENSOR_MAX_DIMS];
    size_t numel;
    dc_pool *pool;   /* NULL: owned by itself */
} dc_tensor;

/* New tensor with undefined contents. Shapes must be positive; device allocation failure is
 * DC_STATUS_OUT_OF_MEMORY with the size asked for and the device's limits. */
dc_status dc_tensor_new(dc_ctx *ctx, int ndim, const int *shape, dc_tensor **out);
/* Free an owned tensor (no-op for NULL and for pool tensors). */
void dc_tensor_free(dc_tensor *t);
dc_status dc_tensor_upload(dc_tensor *t, const float *host, size_t n);
dc_status dc_tensor_download(const dc_tensor *t, float *host, size_t n);
dc_status dc_tensor_fill(dc_tensor *t, float value);
dc_status dc_tensor_copy(const dc_tensor *src, dc_tensor *dst);
/* "[1, 64, 250, 250]" into buf; returns buf. */
const char *dc_tensor_shape_str(const dc_tensor *t, char *buf, size_t size);
/* Shape check helper for ops: fails with DC_STATUS_SHAPE naming op and argument. Pass -1 for
 * "any" in a dimension. */
dc_status dc_tensor_expect(const dc_tensor *t, const char *op, const char *arg, int ndim,
                           int d0, int d1, int d2, int d3);
int dc_tensor_same_shape(const dc_tensor *a, const dc_tensor *b);

/* Activation pool. */
dc_status dc_pool_new(dc_ctx *ctx, dc_pool **out);
void dc_pool_free(dc_pool *pool);
dc_status dc_pool_tensor(dc_pool *pool, int ndim, const int *shape, dc_tensor **out);
void dc_pool_reset(dc_pool *pool);
/* Make one tensor of a pool available again (no-op for NULL and for owned tensors): for scratch
 * taken and given back within one op, where a reset would free what an enclosing op still uses. */
void dc_pool_release(dc_tensor *t);
/* Bytes of device memory the pool holds (for the flat-memory test). */
size_t dc_pool_bytes(const dc_pool *pool);
/* Number of the pool's tensors in use (taken and neither released nor reset). */
int dc_pool_in_use(const dc_pool *pool);

#endif
