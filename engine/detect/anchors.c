/* Anchor grid and the head-to-anchor permutation (opencl/anchors.cl). */
#include <math.h>

#include "detect/detect_impl.h"

#define LOCAL 64

void dc_anchor_params_paper(dc_anchor_params *p)
{
    /* docs/facts.md section 1: every 16 px, base 256, scales 0.25-2, ratios 0.5-2 (12 per position);
     * the offset is TF's default (grid_anchor_generator anchor_offset [0, 0]). */
    *p = (dc_anchor_params){.n_scales = 4, .scales = {0.25f, 0.5f, 1.0f, 2.0f},
                            .n_ratios = 3, .ratios = {0.5f, 1.0f, 2.0f},
                            .base_size = 256.0f, .stride = 16.0f, .offset = 0.0f};
}

int dc_anchor_per_position(const dc_anchor_params *p)
{
    return p->n_scales * p->n_ratios;
}

static dc_status check_params(const dc_anchor_params *p)
{
    DC_CHECK_ARG(p->n_scales >= 1 && p->n_scales <= DC_ANCHOR_MAX_SIZES && p->n_ratios >= 1 &&
                     p->n_ratios <= DC_ANCHOR_MAX_SIZES,
                 "anchors: %d scales and %d aspect ratios given; each count must be 1 to %d",
                 p->n_scales, p->n_ratios, DC_ANCHOR_MAX_SIZES);
    for (int i = 0; i < p->n_scales; i++)
        DC_CHECK_ARG(p->scales[i] > 0 && isfinite(p->scales[i]),
                     "anchors: scale %d is %g; scales must be positive", i, p->scales[i]);
    for (int i = 0; i < p->n_ratios; i++)
        DC_CHECK_ARG(p->ratios[i] > 0 && isfinite(p->ratios[i]),
                     "anchors: aspect ratio %d is %g; ratios must be positive", i, p->ratios[i]);
    DC_CHECK_ARG(p->base_size > 0 && isfinite(p->base_size) && p->stride > 0 &&
                     isfinite(p->stride) && isfinite(p->offset),
                 "anchors: base size %g and stride %g must be positive (offset %g finite)",
                 p->base_size, p->stride, p->offset);
    return DC_STATUS_OK;
}

static dc_status launch_anchors_grid(dc_ctx *ctx, cl_mem out, cl_mem sizes, int grid_h,
                                     int grid_w, int n_per_pos, float stride, float offset)
{
    static const char *name = "anchors_grid";
    cl_kernel k;
    DC_TRY(dc_kernel_get(ctx, "anchors.cl", name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, out));
    DC_TRY(dc_arg_mem(k, name, 1, sizes));
    DC_TRY(dc_arg_int(k, name, 2, grid_h));
    DC_TRY(dc_arg_int(k, name, 3, grid_w));
    DC_TRY(dc_arg_int(k, name, 4, n_per_pos));
    DC_TRY(dc_arg_float(k, name, 5, stride));
    DC_TRY(dc_arg_float(k, name, 6, offset));
    size_t g = (size_t)grid_h * grid_w * n_per_pos, l = LOCAL;
    return dc_kernel_launch(ctx, k, name, 1, &g, &l);
}

dc_status dc_anchors_generate(dc_ctx *ctx, const dc_anchor_params *p, int grid_h, int grid_w,
                              dc_tensor *out)
{
    DC_TRY(check_params(p));
    DC_CHECK_ARG(grid_h >= 1 && grid_w >= 1,
                 "anchors: the feature grid is %d x %d; it needs at least one cell (is the image "
                 "smaller than the network's stride?)", grid_h, grid_w);
    const int a = dc_anchor_per_position(p);
    DC_TRY(dc_tensor_expect(out, "anchors", "out", 2, grid_h * grid_w * a, 4, 0, 0));
    /* Sizes in float as TF computes them: scale / sqrt(ratio) * base, scale * sqrt(ratio) * base;
     * anchor a = ratio_index * n_scales + scale_index (TF's meshgrid order). */
    float sizes[2 * DC_ANCHOR_MAX_SIZES * DC_ANCHOR_MAX_SIZES];
    for (int r = 0; r < p->n_ratios; r++)
        for (int s = 0; s < p->n_scales; s++) {
            const float rs = sqrtf(p->ratios[r]);
            sizes[r * p->n_scales + s] = p->scales[s] / rs * p->base_size;
            sizes[a + r * p->n_scales + s] = p->scales[s] * rs * p->base_size;
        }
    dc_tensor *dev;
    DC_TRY(dc_tensor_new(ctx, 1, (int[]){2 * a}, &dev));
    dc_status st = dc_tensor_upload(dev, sizes, (size_t)2 * a);
    if (st == DC_STATUS_OK)
        st = launch_anchors_grid(ctx, out->buf, dev->buf, grid_h, grid_w, a, p->stride, p->offset);
    dc_tensor_free(dev); /* OpenCL keeps a released buffer until the kernel using it is done */
    return st;
}

/* ------------------------------------------------------------------ head layout */

static dc_status launch_permute(dc_ctx *ctx, const char *name, cl_mem src, cl_mem dst, int batch,
                                int n_per_pos, int k, int height, int width)
{
    cl_kernel kern;
    DC_TRY(dc_kernel_get(ctx, "anchors.cl", name, NULL, &kern));
    DC_TRY(dc_arg_mem(kern, name, 0, src));
    DC_TRY(dc_arg_mem(kern, name, 1, dst));
    DC_TRY(dc_arg_int(kern, name, 2, batch));
    DC_TRY(dc_arg_int(kern, name, 3, n_per_pos));
    DC_TRY(dc_arg_int(kern, name, 4, k));
    DC_TRY(dc_arg_int(kern, name, 5, height));
    DC_TRY(dc_arg_int(kern, name, 6, width));
    size_t g = (size_t)batch * n_per_pos * k * height * width, l = LOCAL;
    return dc_kernel_launch(ctx, kern, name, 1, &g, &l);
}

/* Both directions check the same pair of shapes: head [B, A*k, H, W], rows [B*H*W*A, k]. */
static dc_status check_head(const char *op, const dc_tensor *head, const char *head_arg,
                            const dc_tensor *rows, const char *rows_arg, int k)
{
    DC_CHECK_ARG(k >= 1, "%s: k is %d; it must be at least 1 (2 for logits, 4 for deltas)", op, k);
    DC_TRY(dc_tensor_expect(head, op, head_arg, 4, -1, -1, -1, -1));
    if (head->shape[1] % k != 0) {
        char s[96];
        return DC_FAIL(DC_STATUS_SHAPE,
                       "%s: argument %s has shape %s; its channels must be a multiple of k = %d "
                       "(anchors per position x %d)", op, head_arg,
                       dc_tensor_shape_str(head, s, sizeof s), k, k);
    }
    const int rows_n = head->shape[0] * head->shape[2] * head->shape[3] * (head->shape[1] / k);
    return dc_tensor_expect(rows, op, rows_arg, 2, rows_n, k, 0, 0);
}

dc_status dc_head_to_anchors_forward(dc_ctx *ctx, const dc_tensor *head, int k, dc_tensor *out)
{
    DC_TRY(check_head("head_to_anchors", head, "head", out, "out", k));
    return launch_permute(ctx, "head_to_anchors", head->buf, out->buf, head->shape[0],
                          head->shape[1] / k, k, head->shape[2], head->shape[3]);
}

dc_status dc_head_to_anchors_backward(dc_ctx *ctx, const dc_tensor *grad_out, int k,
                                      dc_tensor *grad_head)
{
    DC_TRY(check_head("head_to_anchors_backward", grad_head, "grad_head", grad_out, "grad_out", k));
    return launch_permute(ctx, "anchors_to_head", grad_out->buf, grad_head->buf,
                          grad_head->shape[0], grad_head->shape[1] / k, k, grad_head->shape[2],
                          grad_head->shape[3]);
}
