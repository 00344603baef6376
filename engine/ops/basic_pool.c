/* Max and average pooling, global average pool (opencl/basic_pool.cl). */
#include <limits.h>

#include "ops/ops_basic.h"

#define FILE_CL "basic_pool.cl"
#define LOCAL 64

/* Everything a pooling kernel needs to know about the shapes. */
typedef struct geometry {
    int planes, h, w, oh, ow, kh, kw, sh, sw, pt, pl;
} geometry;

/* Output size and leading padding along one axis. */
static dc_status axis_size(const char *op, const char *axis, int in, int k, int s, int pad,
                           int same, int *out, int *lead)
{
    if (same) {
        *out = (in + s - 1) / s;
        int total = (*out - 1) * s + k - in;
        *lead = total > 0 ? total / 2 : 0;
        return DC_STATUS_OK;
    }
    DC_CHECK_ARG(pad >= 0 && pad < k, "%s: pad_%s is %d; it must be in [0, kernel_%s = %d)", op,
                 axis, pad, axis, k);
    DC_CHECK_ARG(in + 2 * pad >= k,
                 "%s: kernel_%s %d is larger than the input (%d) plus padding (2 x %d); use "
                 "a smaller kernel or same padding", op, axis, k, in, pad);
    *out = (in + 2 * pad - k) / s + 1;
    *lead = pad;
    return DC_STATUS_OK;
}

static dc_status params_check(const char *op, const dc_pool2d_params *p)
{
    DC_CHECK_ARG(p, "%s: the pooling parameters are missing", op);
    DC_CHECK_ARG(p->kernel_h > 0 && p->kernel_w > 0,
                 "%s: kernel_h and kernel_w must be positive, got %d x %d", op, p->kernel_h,
                 p->kernel_w);
    DC_CHECK_ARG(p->stride_h > 0 && p->stride_w > 0,
                 "%s: stride_h and stride_w must be positive, got %d x %d", op, p->stride_h,
                 p->stride_w);
    return DC_STATUS_OK;
}

dc_status dc_pool2d_out_size(const dc_pool2d_params *p, int h, int w, int *out_h, int *out_w)
{
    static const char *op = "pool2d_output_size";
    DC_TRY(params_check(op, p));
    int lead;
    DC_TRY(axis_size(op, "h", h, p->kernel_h, p->stride_h, p->pad_h, p->same, out_h, &lead));
    return axis_size(op, "w", w, p->kernel_w, p->stride_w, p->pad_w, p->same, out_w, &lead);
}

/* Geometry for input x [N, C, H, W]; checks x and the parameters. */
static dc_status geometry_of(const char *op, const dc_tensor *x, const char *x_name,
                             const dc_pool2d_params *p, geometry *g)
{
    DC_TRY(dc_tensor_expect(x, op, x_name, 4, -1, -1, -1, -1));
    DC_CHECK_ARG(x->numel <= INT_MAX, "%s: argument %s has %zu elements; at most %d are supported",
                 op, x_name, x->numel, INT_MAX);
    DC_TRY(params_check(op, p));
    g->planes = x->shape[0] * x->shape[1];
    g->h = x->shape[2];
    g->w = x->shape[3];
    g->kh = p->kernel_h;
    g->kw = p->kernel_w;
    g->sh = p->stride_h;
    g->sw = p->stride_w;
    DC_TRY(axis_size(op, "h", g->h, g->kh, g->sh, p->pad_h, p->same, &g->oh, &g->pt));
    return axis_size(op, "w", g->w, g->kw, g->sw, p->pad_w, p->same, &g->ow, &g->pl);
}

static dc_status set_geometry(cl_kernel k, const char *name, cl_uint first, const geometry *g)
{
    const int v[] = {g->h, g->w, g->oh, g->ow, g->kh, g->kw, g->sh, g->sw, g->pt, g->pl};
    for (cl_uint i = 0; i < sizeof v / sizeof v[0]; i++)
        DC_TRY(dc_arg_int(k, name, first + i, v[i]));
    return DC_STATUS_OK;
}

/* A range of one work-item per element of a [planes, h, w] tensor. */
static dc_status launch_planes(dc_ctx *ctx, cl_kernel k, const char *name, int planes, int h, int w)
{
    const size_t global[3] = {(size_t)w, (size_t)h, (size_t)planes};
    return dc_kernel_launch(ctx, k, name, 3, global, NULL);
}

/* maxpool_forward, avgpool_forward and avgpool_backward share this signature:
 * (in, out, H, W, OH, OW, kh, kw, sh, sw, pt, pl), one work-item per element of out
 * (the output of a forward, the input gradient of a backward). */
static dc_status launch_window_kernel(dc_ctx *ctx, const char *name, cl_mem in, cl_mem out,
                                      const geometry *g, int backward)
{
    cl_kernel k;
    DC_TRY(dc_kernel_get(ctx, FILE_CL, name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, in));
    DC_TRY(dc_arg_mem(k, name, 1, out));
    DC_TRY(set_geometry(k, name, 2, g));
    return launch_planes(ctx, k, name, g->planes, backward ? g->h : g->oh, backward ? g->w : g->ow);
}

/* The max-pool backward (opencl/basic_pool.cl): dx = 0, then one scatter per class of outputs
 * whose windows do not overlap, in a fixed order. */
static dc_status launch_maxpool_backward(dc_ctx *ctx, cl_mem x, cl_mem dy, dc_tensor *dx, const geometry *g)
{
    static const char *name = "maxpool_backward";
    DC_TRY(dc_tensor_fill(dx, 0.0f));
    cl_kernel k;
    DC_TRY(dc_kernel_get(ctx, FILE_CL, name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, x));
    DC_TRY(dc_arg_mem(k, name, 1, dy));
    DC_TRY(dc_arg_mem(k, name, 2, dx->buf));
    DC_TRY(set_geometry(k, name, 3, g));
    const int cy = (g->kh + g->sh - 1) / g->sh, cx = (g->kw + g->sw - 1) / g->sw;
    DC_TRY(dc_arg_int(k, name, 13, cy));
    DC_TRY(dc_arg_int(k, name, 14, cx));
    for (int ay = 0; ay < cy && ay < g->oh; ay++)
        for (int ax = 0; ax < cx && ax < g->ow; ax++) {
            DC_TRY(dc_arg_int(k, name, 15, ay));
            DC_TRY(dc_arg_int(k, name, 16, ax));
            const size_t global[3] = {(size_t)((g->ow - ax + cx - 1) / cx), (size_t)((g->oh - ay + cy - 1) / cy),
                                      (size_t)g->planes};
            DC_TRY(dc_kernel_launch(ctx, k, name, 3, global, NULL));
        }
    return DC_STATUS_OK;
}

static dc_status launch_global_avgpool(dc_ctx *ctx, const char *name, cl_mem in, cl_mem out,
                                       int planes, int hw, size_t items)
{
    cl_kernel k;
    DC_TRY(dc_kernel_get(ctx, FILE_CL, name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, in));
    DC_TRY(dc_arg_mem(k, name, 1, out));
    DC_TRY(dc_arg_int(k, name, 2, planes));
    DC_TRY(dc_arg_int(k, name, 3, hw));
    return dc_kernel_launch(ctx, k, name, 1, (size_t[]){items}, (size_t[]){LOCAL});
}

static dc_status pool_forward(dc_ctx *ctx, const char *op, const dc_tensor *x, dc_tensor *y,
                              const dc_pool2d_params *p)
{
    geometry g;
    DC_TRY(geometry_of(op, x, "x", p, &g));
    DC_TRY(dc_tensor_expect(y, op, "y", 4, x->shape[0], x->shape[1], g.oh, g.ow));
    return launch_window_kernel(ctx, op, x->buf, y->buf, &g, 0);
}

dc_status dc_maxpool_forward(dc_ctx *ctx, const dc_tensor *x, dc_tensor *y,
                             const dc_pool2d_params *p)
{
    return pool_forward(ctx, "maxpool_forward", x, y, p);
}

dc_status dc_avgpool_forward(dc_ctx *ctx, const dc_tensor *x, dc_tensor *y,
                             const dc_pool2d_params *p)
{
    return pool_forward(ctx, "avgpool_forward", x, y, p);
}

dc_status dc_maxpool_backward_given_y(dc_ctx *ctx, const dc_tensor *x, const dc_tensor *y,
                                      const dc_tensor *dy, dc_tensor *dx,
                                      const dc_pool2d_params *p)
{
    static const char *op = "maxpool_backward";
    geometry g;
    DC_TRY(geometry_of(op, x, "x", p, &g));
    DC_TRY(dc_tensor_expect(y, op, "y", 4, x->shape[0], x->shape[1], g.oh, g.ow));
    DC_TRY(dc_tensor_expect(dy, op, "dy", 4, x->shape[0], x->shape[1], g.oh, g.ow));
    DC_TRY(dc_tensor_expect(dx, op, "dx", 4, x->shape[0], x->shape[1], g.h, g.w));
    return launch_maxpool_backward(ctx, x->buf, dy->buf, dx, &g);
}

dc_status dc_maxpool_backward(dc_ctx *ctx, const dc_tensor *x, const dc_tensor *dy, dc_tensor *dx,
                              const dc_pool2d_params *p)
{
    static const char *op = "maxpool_backward";
    geometry g;
    DC_TRY(geometry_of(op, x, "x", p, &g));
    DC_TRY(dc_tensor_expect(dy, op, "dy", 4, x->shape[0], x->shape[1], g.oh, g.ow));
    DC_TRY(dc_tensor_expect(dx, op, "dx", 4, x->shape[0], x->shape[1], g.h, g.w));
    return launch_maxpool_backward(ctx, x->buf, dy->buf, dx, &g);
}

dc_status dc_avgpool_backward(dc_ctx *ctx, const dc_tensor *dy, dc_tensor *dx,
                              const dc_pool2d_params *p)
{
    static const char *op = "avgpool_backward";
    geometry g;
    DC_TRY(geometry_of(op, dx, "dx", p, &g));
    DC_TRY(dc_tensor_expect(dy, op, "dy", 4, dx->shape[0], dx->shape[1], g.oh, g.ow));
    return launch_window_kernel(ctx, op, dy->buf, dx->buf, &g, 1);
}

/* y must be [N, C, 1, 1] or [N, C] for x [N, C, H, W]. */
static dc_status pooled_shape(const char *op, const char *y_name, const dc_tensor *x,
                              const dc_tensor *y)
{
    DC_CHECK_ARG(y, "%s: argument %s is missing", op, y_name);
    if (y->ndim == 2) return dc_tensor_expect(y, op, y_name, 2, x->shape[0], x->shape[1], -1, -1);
    return dc_tensor_expect(y, op, y_name, 4, x->shape[0], x->shape[1], 1, 1);
}

dc_status dc_global_avgpool_forward(dc_ctx *ctx, const dc_tensor *x, dc_tensor *y)
{
    static const char *op = "global_avgpool_forward";
    DC_TRY(dc_tensor_expect(x, op, "x", 4, -1, -1, -1, -1));
    DC_CHECK_ARG(x->numel <= INT_MAX, "%s: argument x has %zu elements; at most %d are supported",
                 op, x->numel, INT_MAX);
    DC_TRY(pooled_shape(op, "y", x, y));
    int planes = x->shape[0] * x->shape[1];
    return launch_global_avgpool(ctx, op, x->buf, y->buf, planes, x->shape[2] * x->shape[3],
                                 (size_t)planes);
}

dc_status dc_global_avgpool_backward(dc_ctx *ctx, const dc_tensor *dy, dc_tensor *dx)
{
    static const char *op = "global_avgpool_backward";
    DC_TRY(dc_tensor_expect(dx, op, "dx", 4, -1, -1, -1, -1));
    DC_CHECK_ARG(dx->numel <= INT_MAX, "%s: argument dx has %zu elements; at most %d are supported",
                 op, dx->numel, INT_MAX);
    DC_TRY(pooled_shape(op, "dy", dx, dy));
    return launch_global_avgpool(ctx, op, dy->buf, dx->buf, dx->shape[0] * dx->shape[1],
                                 dx->shape[2] * dx->shape[3], dx->numel);
}
