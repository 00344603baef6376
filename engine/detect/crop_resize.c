/* crop_and_resize forward and backward (opencl/crop_resize.cl). */
#include <math.h>

#include "detect/detect_impl.h"

#define LOCAL 64

static dc_status launch_forward(dc_ctx *ctx, cl_mem feat, cl_mem boxes, cl_mem box_index, int n,
                                int channels, int height, int width, int crop_h, int crop_w,
                                float extrapolation, cl_mem out)
{
    static const char *name = "crop_forward";
    cl_kernel k;
    DC_TRY(dc_kernel_get(ctx, "crop_resize.cl", name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, feat));
    DC_TRY(dc_arg_mem(k, name, 1, boxes));
    DC_TRY(dc_arg_mem(k, name, 2, box_index));
    DC_TRY(dc_arg_int(k, name, 3, n));
    DC_TRY(dc_arg_int(k, name, 4, channels));
    DC_TRY(dc_arg_int(k, name, 5, height));
    DC_TRY(dc_arg_int(k, name, 6, width));
    DC_TRY(dc_arg_int(k, name, 7, crop_h));
    DC_TRY(dc_arg_int(k, name, 8, crop_w));
    DC_TRY(dc_arg_float(k, name, 9, extrapolation));
    DC_TRY(dc_arg_mem(k, name, 10, out));
    size_t g = (size_t)n * crop_h * crop_w, l = LOCAL;
    return dc_kernel_launch(ctx, k, name, 1, &g, &l);
}

static dc_status launch_axis_table(dc_ctx *ctx, cl_mem boxes, int n, int coord, int size,
                                   int crop, cl_mem lo, cl_mem hi, cl_mem lerp)
{
    static const char *name = "crop_axis_table";
    cl_kernel k;
    DC_TRY(dc_kernel_get(ctx, "crop_resize.cl", name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, boxes));
    DC_TRY(dc_arg_int(k, name, 1, n));
    DC_TRY(dc_arg_int(k, name, 2, coord));
    DC_TRY(dc_arg_int(k, name, 3, size));
    DC_TRY(dc_arg_int(k, name, 4, crop));
    DC_TRY(dc_arg_mem(k, name, 5, lo));
    DC_TRY(dc_arg_mem(k, name, 6, hi));
    DC_TRY(dc_arg_mem(k, name, 7, lerp));
    size_t g = (size_t)n * crop, l = LOCAL;
    return dc_kernel_launch(ctx, k, name, 1, &g, &l);
}

/* The per-axis sample tables of the backward: lines read and weights, for y then x. */
typedef struct crop_tables {
    dc_tensor *ylo, *yhi, *ylerp, *xlo, *xhi, *xlerp;
} crop_tables;

static dc_status launch_count(dc_ctx *ctx, cl_mem box_index, int n, int batch, int height,
                              int width, int crop_h, int crop_w, const crop_tables *t,
                              cl_mem offsets)
{
    static const char *name = "crop_count";
    cl_kernel k;
    DC_TRY(dc_kernel_get(ctx, "crop_resize.cl", name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, box_index));
    DC_TRY(dc_arg_int(k, name, 1, n));
    DC_TRY(dc_arg_int(k, name, 2, batch));
    DC_TRY(dc_arg_int(k, name, 3, height));
    DC_TRY(dc_arg_int(k, name, 4, width));
    DC_TRY(dc_arg_int(k, name, 5, crop_h));
    DC_TRY(dc_arg_int(k, name, 6, crop_w));
    DC_TRY(dc_arg_mem(k, name, 7, t->ylo->buf));
    DC_TRY(dc_arg_mem(k, name, 8, t->yhi->buf));
    DC_TRY(dc_arg_mem(k, name, 9, t->xlo->buf));
    DC_TRY(dc_arg_mem(k, name, 10, t->xhi->buf));
    DC_TRY(dc_arg_mem(k, name, 11, offsets));
    size_t g = (size_t)batch * height * width, l = LOCAL;
    return dc_kernel_launch(ctx, k, name, 1, &g, &l);
}

static dc_status launch_scan(dc_ctx *ctx, cl_mem offsets, int n_pix)
{
    static const char *name = "crop_scan";
    cl_kernel k;
    DC_TRY(dc_kernel_get(ctx, "crop_resize.cl", name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, offsets));
    DC_TRY(dc_arg_int(k, name, 1, n_pix));
    size_t g = 1, l = 1;
    return dc_kernel_launch(ctx, k, name, 1, &g, &l);
}

static dc_status launch_fill(dc_ctx *ctx, cl_mem box_index, int n, int batch, int channels,
                             int height, int width, int crop_h, int crop_w, const crop_tables *t,
                             cl_mem offsets, cl_mem entry_index, cl_mem entry_weight)
{
    static const char *name = "crop_fill";
    cl_kernel k;
    DC_TRY(dc_kernel_get(ctx, "crop_resize.cl", name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, box_index));
    DC_TRY(dc_arg_int(k, name, 1, n));
    DC_TRY(dc_arg_int(k, name, 2, batch));
    DC_TRY(dc_arg_int(k, name, 3, channels));
    DC_TRY(dc_arg_int(k, name, 4, height));
    DC_TRY(dc_arg_int(k, name, 5, width));
    DC_TRY(dc_arg_int(k, name, 6, crop_h));
    DC_TRY(dc_arg_int(k, name, 7, crop_w));
    DC_TRY(dc_arg_mem(k, name, 8, t->ylo->buf));
    DC_TRY(dc_arg_mem(k, name, 9, t->yhi->buf));
    DC_TRY(dc_arg_mem(k, name, 10, t->ylerp->buf));
    DC_TRY(dc_arg_mem(k, name, 11, t->xlo->buf));
    DC_TRY(dc_arg_mem(k, name, 12, t->xhi->buf));
    DC_TRY(dc_arg_mem(k, name, 13, t->xlerp->buf));
    DC_TRY(dc_arg_mem(k, name, 14, offsets));
    DC_TRY(dc_arg_mem(k, name, 15, entry_index));
    DC_TRY(dc_arg_mem(k, name, 16, entry_weight));
    size_t g = (size_t)batch * height * width, l = LOCAL;
    return dc_kernel_launch(ctx, k, name, 1, &g, &l);
}

static dc_status launch_gather(dc_ctx *ctx, cl_mem grad_out, cl_mem offsets, cl_mem entry_index,
                               cl_mem entry_weight, int batch, int channels, int height,
                               int width, int crop_h, int crop_w, cl_mem grad_feat)
{
    static const char *name = "crop_gather";
    cl_kernel k;
    DC_TRY(dc_kernel_get(ctx, "crop_resize.cl", name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, grad_out));
    DC_TRY(dc_arg_mem(k, name, 1, offsets));
    DC_TRY(dc_arg_mem(k, name, 2, entry_index));
    DC_TRY(dc_arg_mem(k, name, 3, entry_weight));
    DC_TRY(dc_arg_int(k, name, 4, batch));
    DC_TRY(dc_arg_int(k, name, 5, channels));
    DC_TRY(dc_arg_int(k, name, 6, height));
    DC_TRY(dc_arg_int(k, name, 7, width));
    DC_TRY(dc_arg_int(k, name, 8, crop_h));
    DC_TRY(dc_arg_int(k, name, 9, crop_w));
    DC_TRY(dc_arg_mem(k, name, 10, grad_feat));
    size_t g = (size_t)batch * channels * height * width, l = LOCAL;
    return dc_kernel_launch(ctx, k, name, 1, &g, &l);
}

/* ------------------------------------------------------------------ shared checks */

/* feat [B, C, H, W], boxes [N, 4], crops [N, C, ch, cw]; box_index values in [0, B). */
static dc_status check_shapes(const char *op, const dc_tensor *feat, const char *feat_arg,
                              const dc_tensor *boxes, const int *box_index,
                              const dc_tensor *crops, const char *crops_arg)
{
    DC_TRY(dc_tensor_expect(feat, op, feat_arg, 4, -1, -1, -1, -1));
    DC_TRY(dc_detect_expect_boxes(boxes, op, "boxes", 1));
    DC_TRY(dc_tensor_expect(crops, op, crops_arg, 4, boxes->shape[0], feat->shape[1], -1, -1));
    /* The kernels index with 32-bit ints. */
    DC_CHECK_ARG(crops->numel < (size_t)INT32_MAX && feat->numel < (size_t)INT32_MAX,
                 "%s: %zu crop values or %zu feature values are too many for one call; split the "
                 "boxes", op, crops->numel, feat->numel);
    for (int i = 0; box_index && i < boxes->shape[0]; i++)
        DC_CHECK_ARG(box_index[i] >= 0 && box_index[i] < feat->shape[0],
                     "%s: box_index[%d] is %d; it must name an image of the batch, 0 to %d", op,
                     i, box_index[i], feat->shape[0] - 1);
    return DC_STATUS_OK;
}

/* Device copy of the box indices (all 0 when box_index is NULL). */
static dc_status upload_index(dc_ctx *ctx, const int *box_index, int n, dc_tensor **out)
{
    DC_TRY(dc_detect_scratch(ctx, (size_t)n, out));
    dc_status st = DC_STATUS_OK;
    if (box_index) {
        st = dc_detect_write(ctx, (*out)->buf, (size_t)n * sizeof(int), box_index);
    } else {
        const int zero = 0;
        const cl_int err = clEnqueueFillBuffer(dc_ctx_queue(ctx), (*out)->buf, &zero, sizeof zero,
                                               0, (size_t)n * sizeof(int), 0, NULL, NULL);
        if (err != CL_SUCCESS)
            st = dc_cl_fail(err, "clEnqueueFillBuffer", __FILE__, __LINE__);
    }
    if (st) { /* give the scratch back: the caller sees only the failure */
        dc_detect_release(*out);
        *out = NULL;
    }
    return st;
}

dc_status dc_crop_resize_forward(dc_ctx *ctx, const dc_tensor *feat, const dc_tensor *boxes,
                                 const int *box_index, float extrapolation, dc_tensor *out)
{
    DC_TRY(check_shapes("crop_resize", feat, "feat", boxes, box_index, out, "out"));
    const int n = boxes->shape[0];
    dc_tensor *idx;
    DC_TRY(upload_index(ctx, box_index, n, &idx));
    dc_status st = launch_forward(ctx, feat->buf, boxes->buf, idx->buf, n, feat->shape[1],
                                  feat->shape[2], feat->shape[3], out->shape[2], out->shape[3],
                                  extrapolation, out->buf);
    dc_detect_release(idx);
    return st;
}

dc_status dc_crop_resize_backward(dc_ctx *ctx, const dc_tensor *grad_out, const dc_tensor *boxes,
                                  const int *box_index, dc_tensor *grad_feat)
{
    DC_TRY(check_shapes("crop_resize_backward", grad_feat, "grad_feat", boxes, box_index,
                        grad_out, "grad_out"));
    const int n = boxes->shape[0], batch = grad_feat->shape[0], channels = grad_feat->shape[1];
    const int height = grad_feat->shape[2], width = grad_feat->shape[3];
    const int crop_h = grad_out->shape[2], crop_w = grad_out->shape[3];
    const size_t n_pix = (size_t)batch * height * width;
    /* Each sample reads at most 2 x 2 pixels, so at most 4 entries per (box, row, column). */
    const size_t max_entries = (size_t)4 * n * crop_h * crop_w;

    crop_tables t = {0};
    dc_tensor *idx = NULL, *offsets = NULL, *eidx = NULL, *ew = NULL;
    dc_status st = upload_index(ctx, box_index, n, &idx);
    if (!st) st = dc_detect_scratch(ctx, (size_t)n * crop_h, &t.ylo);
    if (!st) st = dc_detect_scratch(ctx, (size_t)n * crop_h, &t.yhi);
    if (!st) st = dc_detect_scratch(ctx, (size_t)n * crop_h, &t.ylerp);
    if (!st) st = dc_detect_scratch(ctx, (size_t)n * crop_w, &t.xlo);
    if (!st) st = dc_detect_scratch(ctx, (size_t)n * crop_w, &t.xhi);
    if (!st) st = dc_detect_scratch(ctx, (size_t)n * crop_w, &t.xlerp);
    if (!st) st = dc_detect_scratch(ctx, n_pix + 1, &offsets);
    if (!st) st = dc_detect_scratch(ctx, max_entries, &eidx);
    if (!st) st = dc_detect_scratch(ctx, max_entries, &ew);
    if (!st)
        st = launch_axis_table(ctx, boxes->buf, n, 0, height, crop_h, t.ylo->buf, t.yhi->buf,
                               t.ylerp->buf);
    if (!st)
        st = launch_axis_table(ctx, boxes->buf, n, 1, width, crop_w, t.xlo->buf, t.xhi->buf,
                               t.xlerp->buf);
    if (!st)
        st = launch_count(ctx, idx->buf, n, batch, height, width, crop_h, crop_w, &t,
                          offsets->buf);
    if (!st) st = launch_scan(ctx, offsets->buf, (int)n_pix);
    if (!st)
        st = launch_fill(ctx, idx->buf, n, batch, channels, height, width, crop_h, crop_w, &t,
                         offsets->buf, eidx->buf, ew->buf);
    if (!st)
        st = launch_gather(ctx, grad_out->buf, offsets->buf, eidx->buf, ew->buf, batch, channels,
                           height, width, crop_h, crop_w, grad_feat->buf);
    dc_detect_release(idx);
    dc_detect_release(t.ylo);
    dc_detect_release(t.yhi);
    dc_detect_release(t.ylerp);
    dc_detect_release(t.xlo);
    dc_detect_release(t.xhi);
    dc_detect_release(t.xlerp);
    dc_detect_release(offsets);
    dc_detect_release(eidx);
    dc_detect_release(ew);
    return st;
}
