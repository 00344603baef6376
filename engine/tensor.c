/* Device tensors and the activation pool. */
#include "tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static dc_status shape_validate(int ndim, const int *shape, size_t *numel)
{
    if (ndim < 1 || ndim > DC_TENSOR_MAX_DIMS)
        return DC_FAIL(DC_STATUS_INVALID_ARG, "a tensor has 1 to %d dimensions, not %d",
                       DC_TENSOR_MAX_DIMS, ndim);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0)
            return DC_FAIL(DC_STATUS_INVALID_ARG, "tensor dimension %d is %d; sizes must be positive",
                           i, shape[i]);
        if (n > SIZE_MAX / 4 / (size_t)shape[i])
            return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "tensor shape overflows the address space");
        n *= (size_t)shape[i];
    }
    *numel = n;
    return DC_STATUS_OK;
}

static dc_status buffer_new(dc_ctx *ctx, size_t bytes, cl_mem *out)
{
    const dc_device_info *info = dc_ctx_info(ctx);
    if (bytes > info->max_alloc)
        return DC_FAIL(DC_STATUS_OUT_OF_MEMORY,
                       "cannot allocate %.1f MiB on %s: its largest single allocation is %.1f MiB "
                       "(global memory %.1f MiB); use a smaller input or batch",
                       bytes / 1048576.0, info->name, info->max_alloc / 1048576.0,
                       info->global_mem / 1048576.0);
    cl_int err;
    *out = clCreateBuffer(dc_ctx_context(ctx), CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) return dc_cl_fail(err, "clCreateBuffer", __FILE__, __LINE__);
    return DC_STATUS_OK;
}

static void tensor_init(dc_tensor *t, dc_ctx *ctx, int ndim, const int *shape, size_t numel)
{
    t->ctx = ctx;
    t->ndim = ndim;
    for (int i = 0; i < DC_TENSOR_MAX_DIMS; i++) t->shape[i] = i < ndim ? shape[i] : 1;
    t->numel = numel;
}

dc_status dc_tensor_new(dc_ctx *ctx, int ndim, const int *shape, dc_tensor **out)
{
    *out = NULL;
    size_t numel;
    DC_TRY(shape_validate(ndim, shape, &numel));
    dc_tensor *t = calloc(1, sizeof *t);
    if (!t) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory for a tensor");
    dc_status st = buffer_new(ctx, numel * sizeof(float), &t->buf);
    if (st != DC_STATUS_OK) {
        free(t);
        return st;
    }
    tensor_init(t, ctx, ndim, shape, numel);
    *out = t;
    return DC_STATUS_OK;
}

void dc_tensor_free(dc_tensor *t)
{
    if (!t || t->pool) return;
    clReleaseMemObject(t->buf);
    free(t);
}

static dc_status count_check(const dc_tensor *t, size_t n, const char *what)
{
    if (n != t->numel) {
        char s[96];
        return DC_FAIL(DC_STATUS_SHAPE, "%s: %zu values given for a tensor of shape %s (%zu values)",
                       what, n, dc_tensor_shape_str(t, s, sizeof s), t->numel);
    }
    return DC_STATUS_OK;
}

dc_status dc_tensor_upload(dc_tensor *t, const float *host, size_t n)
{
    DC_TRY(count_check(t, n, "upload"));
    DC_CL_CHECK(clEnqueueWriteBuffer(dc_ctx_queue(t->ctx), t->buf, CL_TRUE, 0, n * sizeof(float),
                                     host, 0, NULL, NULL));
    return DC_STATUS_OK;
}

dc_status dc_tensor_download(const dc_tensor *t, float *host, size_t n)
{
    DC_TRY(count_check(t, n, "download"));
    DC_CL_CHECK(clEnqueueReadBuffer(dc_ctx_queue(t->ctx), t->buf, CL_TRUE, 0, n * sizeof(float),
                                    host, 0, NULL, NULL));
    return DC_STATUS_OK;
}

dc_status dc_tensor_fill(dc_tensor *t, float value)
{
    DC_CL_CHECK(clEnqueueFillBuffer(dc_ctx_queue(t->ctx), t->buf, &value, sizeof value, 0,
                                    t->numel * sizeof(float), 0, NULL, NULL));
    return DC_STATUS_OK;
}

dc_status dc_tensor_copy(const dc_tensor *src, dc_tensor *dst)
{
    if (src->numel != dst->numel) {
        char a[96], b[96];
        return DC_FAIL(DC_STATUS_SHAPE, "copy: source %s and destination %s differ in size",
                       dc_tensor_shape_str(src, a, sizeof a), dc_tensor_shape_str(dst, b, sizeof b));
    }
    DC_CL_CHECK(clEnqueueCopyBuffer(dc_ctx_queue(src->ctx), src->buf, dst->buf, 0, 0,
                                    src->numel * sizeof(float), 0, NULL, NULL));
    return DC_STATUS_OK;
}

const char *dc_tensor_shape_str(const dc_tensor *t, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < t->ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%d", i ? ", " : "", t->shape[i]);
    if (used < size) snprintf(buf + used, size - used, "]");
    return buf;
}

dc_status dc_tensor_expect(const dc_tensor *t, const char *op, const char *arg, int ndim,
                           int d0, int d1, int d2, int d3)
{
    char s[96];
    if (!t) return DC_FAIL(DC_STATUS_INVALID_ARG, "%s: argument %s is missing", op, arg);
    const int want[4] = {d0, d1, d2, d3};
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = want[i] < 0 || want[i] == t->shape[i];
    if (ok) return DC_STATUS_OK;
    char w[96];
    size_t used = (size_t)snprintf(w, sizeof w, "[");
    for (int i = 0; i < ndim; i++) {
        if (want[i] < 0)
            used += (size_t)snprintf(w + used, sizeof w - used, "%s*", i ? ", " : "");
        else
            used += (size_t)snprintf(w + used, sizeof w - used, "%s%d", i ? ", " : "", want[i]);
    }
    snprintf(w + used, sizeof w - used, "]");
    return DC_FAIL(DC_STATUS_SHAPE, "%s: argument %s has shape %s, expected %s", op, arg,
                   dc_tensor_shape_str(t, s, sizeof s), w);
}

int dc_tensor_same_shape(const dc_tensor *a, const dc_tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

/* ------------------------------------------------------------------ pool
 * A list of buffers with their capacity and an in-use mark. An allocation takes the smallest free
 * buffer that is large enough, else creates one; a reset frees them all for reuse. Tensor headers
 * live in the same slots, so a repeated sequence of allocations allocates nothing new. */

typedef struct pool_slot {
    dc_tensor tensor;
    size_t capacity; /* bytes */
    int in_use;
} pool_slot;

struct dc_pool {
    dc_ctx *ctx;
    pool_slot **slots;
    int count, cap;
    size_t bytes;
};

dc_status dc_pool_new(dc_ctx *ctx, dc_pool **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory for a pool");
    (*out)->ctx = ctx;
    return DC_STATUS_OK;
}

void dc_pool_free(dc_pool *pool)
{
    if (!pool) return;
    for (int i = 0; i < pool->count; i++) {
        clReleaseMemObject(pool->slots[i]->tensor.buf);
        free(pool->slots[i]);
    }
    free(pool->slots);
    free(pool);
}

dc_status dc_pool_tensor(dc_pool *pool, int ndim, const int *shape, dc_tensor **out)
{
    *out = NULL;
    size_t numel;
    DC_TRY(shape_validate(ndim, shape, &numel));
    size_t bytes = numel * sizeof(float);
    pool_slot *best = NULL;
    for (int i = 0; i < pool->count; i++) {
        pool_slot *s = pool->slots[i];
        if (!s->in_use && s->capacity >= bytes && (!best || s->capacity < best->capacity)) best = s;
    }
    if (!best) {
        if (pool->count == pool->cap) {
            int cap = pool->cap ? pool->cap * 2 : 32;
            pool_slot **grown = realloc(pool->slots, (size_t)cap * sizeof *grown);
            if (!grown) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory growing a pool");
            pool->slots = grown;
            pool->cap = cap;
        }
        best = calloc(1, sizeof *best);
        if (!best) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory growing a pool");
        dc_status st = buffer_new(pool->ctx, bytes, &best->tensor.buf);
        if (st != DC_STATUS_OK) {
            free(best);
            return st;
        }
        best->capacity = bytes;
        pool->slots[pool->count++] = best;
        pool->bytes += bytes;
    }
    best->in_use = 1;
    tensor_init(&best->tensor, pool->ctx, ndim, shape, numel);
    best->tensor.pool = pool;
    *out = &best->tensor;
    return DC_STATUS_OK;
}

void dc_pool_reset(dc_pool *pool)
{
    for (int i = 0; i < pool->count; i++) pool->slots[i]->in_use = 0;
}

void dc_pool_release(dc_tensor *t)
{
    if (!t || !t->pool) return;
    ((pool_slot *)(void *)t)->in_use = 0; /* the tensor is the slot's first member */
}

size_t dc_pool_bytes(const dc_pool *pool) { return pool->bytes; }

int dc_pool_in_use(const dc_pool *pool)
{
    int n = 0;
    for (int i = 0; i < pool->count; i++) n += pool->slots[i]->in_use;
    return n;
}
