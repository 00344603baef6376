/* Box coding, clipping, scaling and the IoU matrix (opencl/boxes.cl), and the helpers every file
 * of engine/detect shares. */
#include <math.h>

#include "detect/detect_impl.h"

#define LOCAL 64

/* ------------------------------------------------------------------ shared helpers */

static void scratch_pool_free(void *p) { dc_pool_free(p); }

dc_status dc_detect_scratch_shape(dc_ctx *ctx, int ndim, const int *shape, dc_tensor **out)
{
    dc_pool *pool = dc_ctx_scratch(ctx);
    if (!pool) {
        DC_TRY(dc_pool_new(ctx, &pool));
        dc_ctx_set_scratch(ctx, pool, scratch_pool_free);
    }
    return dc_pool_tensor(pool, ndim, shape, out);
}

dc_status dc_detect_scratch(dc_ctx *ctx, size_t words, dc_tensor **out)
{
    if (words > (size_t)INT32_MAX)
        return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "detect: scratch of %zu words is too large", words);
    return dc_detect_scratch_shape(ctx, 1, (int[]){words ? (int)words : 1}, out);
}

void dc_detect_release(dc_tensor *t)
{
    if (t && t->pool) dc_pool_release(t);
    else dc_tensor_free(t);
}

size_t dc_detect_scratch_bytes(const dc_ctx *ctx)
{
    const dc_pool *pool = dc_ctx_scratch(ctx);
    return pool ? dc_pool_bytes(pool) : 0;
}

int dc_detect_scratch_in_use(const dc_ctx *ctx)
{
    const dc_pool *pool = dc_ctx_scratch(ctx);
    return pool ? dc_pool_in_use(pool) : 0;
}

dc_status dc_detect_read(dc_ctx *ctx, cl_mem buf, size_t bytes, void *host)
{
    if (!bytes) return DC_STATUS_OK;
    DC_CL_CHECK(
        clEnqueueReadBuffer(dc_ctx_queue(ctx), buf, CL_TRUE, 0, bytes, host, 0, NULL, NULL));
    return DC_STATUS_OK;
}

dc_status dc_detect_write(dc_ctx *ctx, cl_mem buf, size_t bytes, const void *host)
{
    if (!bytes) return DC_STATUS_OK;
    DC_CL_CHECK(
        clEnqueueWriteBuffer(dc_ctx_queue(ctx), buf, CL_TRUE, 0, bytes, host, 0, NULL, NULL));
    return DC_STATUS_OK;
}

dc_status dc_detect_expect_boxes(const dc_tensor *t, const char *op, const char *arg, int min_rows)
{
    DC_TRY(dc_tensor_expect(t, op, arg, 2, -1, 4, 0, 0));
    if (t->shape[0] < min_rows)
        return DC_FAIL(DC_STATUS_SHAPE, "%s: argument %s has %d rows; at least %d are needed", op,
                       arg, t->shape[0], min_rows);
    return DC_STATUS_OK;
}

dc_status dc_detect_check_host_boxes(const float *boxes, int n, const char *op, const char *arg)
{
    for (int i = 0; i < n; i++) {
        const float *b = boxes + 4 * i;
        if (!(isfinite(b[0]) && isfinite(b[1]) && isfinite(b[2]) && isfinite(b[3])))
            return DC_FAIL(DC_STATUS_INVALID_ARG, "%s: %s box %d has a non-finite coordinate",
                           op, arg, i);
        if (b[2] < b[0] || b[3] < b[1])
            return DC_FAIL(DC_STATUS_INVALID_ARG,
                           "%s: %s box %d is [ymin %g, xmin %g, ymax %g, xmax %g]; boxes need "
                           "ymax >= ymin and xmax >= xmin (order [ymin, xmin, ymax, xmax])",
                           op, arg, i, b[0], b[1], b[2], b[3]);
    }
    return DC_STATUS_OK;
}

/* ------------------------------------------------------------------ coder */

void dc_box_coder_paper(dc_box_coder *c)
{
    *c = (dc_box_coder){{10.0f, 10.0f, 5.0f, 5.0f}}; /* docs/facts.md section 1: box coding */
}

static dc_status coder_get(const dc_box_coder *coder, const char *op, dc_box_coder *out)
{
    if (!coder) {
        dc_box_coder_paper(out);
        return DC_STATUS_OK;
    }
    for (int i = 0; i < 4; i++)
        DC_CHECK_ARG(coder->scale[i] > 0 && isfinite(coder->scale[i]),
                     "%s: box coder scale factor %d is %g; scale factors must be positive", op, i,
                     coder->scale[i]);
    *out = *coder;
    return DC_STATUS_OK;
}

/* The two row-wise coder kernels share their argument list. */
static dc_status launch_coder(dc_ctx *ctx, const char *name, cl_mem in, cl_mem anchors,
                              cl_mem out, int n, const dc_box_coder *c)
{
    cl_kernel k;
    DC_TRY(dc_kernel_get(ctx, "boxes.cl", name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, in));
    DC_TRY(dc_arg_mem(k, name, 1, anchors));
    DC_TRY(dc_arg_mem(k, name, 2, out));
    DC_TRY(dc_arg_int(k, name, 3, n));
    for (int i = 0; i < 4; i++) DC_TRY(dc_arg_float(k, name, 4 + (cl_uint)i, c->scale[i]));
    size_t g = (size_t)n, l = LOCAL;
    return dc_kernel_launch(ctx, k, name, 1, &g, &l);
}

static dc_status check_rows(const char *op, const dc_tensor *a, const char *an,
                            const dc_tensor *b, const char *bn, const dc_tensor *out)
{
    DC_TRY(dc_detect_expect_boxes(a, op, an, 1));
    DC_TRY(dc_tensor_expect(b, op, bn, 2, a->shape[0], 4, 0, 0));
    return dc_tensor_expect(out, op, "out", 2, a->shape[0], 4, 0, 0);
}

dc_status dc_box_encode(dc_ctx *ctx, const dc_box_coder *coder, const dc_tensor *boxes,
                        const dc_tensor *anchors, dc_tensor *out)
{
    dc_box_coder c;
    DC_TRY(coder_get(coder, "box_encode", &c));
    DC_TRY(check_rows("box_encode", boxes, "boxes", anchors, "anchors", out));
    return launch_coder(ctx, "box_encode_rows", boxes->buf, anchors->buf, out->buf,
                        boxes->shape[0], &c);
}

dc_status dc_box_decode(dc_ctx *ctx, const dc_box_coder *coder, const dc_tensor *deltas,
                        const dc_tensor *anchors, dc_tensor *out)
{
    dc_box_coder c;
    DC_TRY(coder_get(coder, "box_decode", &c));
    DC_TRY(check_rows("box_decode", deltas, "deltas", anchors, "anchors", out));
    return launch_coder(ctx, "box_decode_rows", deltas->buf, anchors->buf, out->buf,
                        deltas->shape[0], &c);
}

/* ------------------------------------------------------------------ clip, scale, IoU */

static dc_status launch_clip(dc_ctx *ctx, cl_mem boxes, int n, float height, float width)
{
    static const char *name = "box_clip_rows";
    cl_kernel k;
    DC_TRY(dc_kernel_get(ctx, "boxes.cl", name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, boxes));
    DC_TRY(dc_arg_int(k, name, 1, n));
    DC_TRY(dc_arg_float(k, name, 2, height));
    DC_TRY(dc_arg_float(k, name, 3, width));
    size_t g = (size_t)n, l = LOCAL;
    return dc_kernel_launch(ctx, k, name, 1, &g, &l);
}

dc_status dc_box_clip(dc_ctx *ctx, dc_tensor *boxes, float height, float width)
{
    DC_TRY(dc_detect_expect_boxes(boxes, "box_clip", "boxes", 1));
    DC_CHECK_ARG(height > 0 && width > 0 && isfinite(height) && isfinite(width),
                 "box_clip: the window is %g x %g; height and width must be positive", height,
                 width);
    return launch_clip(ctx, boxes->buf, boxes->shape[0], height, width);
}

static dc_status launch_scale(dc_ctx *ctx, cl_mem boxes, cl_mem out, int n, float sy, float sx)
{
    static const char *name = "box_scale_rows";
    cl_kernel k;
    DC_TRY(dc_kernel_get(ctx, "boxes.cl", name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, boxes));
    DC_TRY(dc_arg_mem(k, name, 1, out));
    DC_TRY(dc_arg_int(k, name, 2, n));
    DC_TRY(dc_arg_float(k, name, 3, sy));
    DC_TRY(dc_arg_float(k, name, 4, sx));
    size_t g = (size_t)n, l = LOCAL;
    return dc_kernel_launch(ctx, k, name, 1, &g, &l);
}

dc_status dc_box_scale(dc_ctx *ctx, const dc_tensor *boxes, float sy, float sx, dc_tensor *out)
{
    DC_TRY(dc_detect_expect_boxes(boxes, "box_scale", "boxes", 1));
    DC_TRY(dc_tensor_expect(out, "box_scale", "out", 2, boxes->shape[0], 4, 0, 0));
    DC_CHECK_ARG(isfinite(sy) && isfinite(sx), "box_scale: factors %g, %g must be finite", sy, sx);
    return launch_scale(ctx, boxes->buf, out->buf, boxes->shape[0], sy, sx);
}

static dc_status launch_iou(dc_ctx *ctx, cl_mem a, cl_mem b, cl_mem out, int n, int m)
{
    static const char *name = "box_iou_matrix";
    cl_kernel k;
    DC_TRY(dc_kernel_get(ctx, "boxes.cl", name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, a));
    DC_TRY(dc_arg_mem(k, name, 1, b));
    DC_TRY(dc_arg_mem(k, name, 2, out));
    DC_TRY(dc_arg_int(k, name, 3, n));
    DC_TRY(dc_arg_int(k, name, 4, m));
    size_t g[2] = {(size_t)m, (size_t)n}, l[2] = {16, 4};
    return dc_kernel_launch(ctx, k, name, 2, g, l);
}

dc_status dc_box_iou(dc_ctx *ctx, const dc_tensor *a, const dc_tensor *b, dc_tensor *out)
{
    DC_TRY(dc_detect_expect_boxes(a, "box_iou", "a", 1));
    DC_TRY(dc_detect_expect_boxes(b, "box_iou", "b", 1));
    DC_TRY(dc_tensor_expect(out, "box_iou", "out", 2, a->shape[0], b->shape[0], 0, 0));
    return launch_iou(ctx, a->buf, b->buf, out->buf, a->shape[0], b->shape[0]);
}
