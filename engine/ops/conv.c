/* 2-D convolution, forward and backward, as im2col (opencl/im2col.cl) + CLBlast SGEMM.
 *
 * Per image, with S = OH*OW and R = C*KH*KW: y[K, S] = w[K, R] cols[R, S]; dcols = w^T dy, which
 * col2im sums back into dx; dw += dy cols^T. A 1x1 stride-1 unpadded convolution needs no
 * columns: x itself is the [C, S] matrix.
 *
 * Small maps (S below GEMM_MIN_COLUMNS, e.g. the second stage's 7x7 and 14x14 crops) would make
 * thin GEMMs, so several images are put side by side in one column matrix [R, G*S] and one GEMM
 * covers them; its [K, G, S] result goes to NCHW through conv_cgs_to_nchw (adding the bias on
 * the way), and dy comes the other way through conv_nchw_to_cgs.
 *
 * Where the device's GEMM tiles are known (a tuning entry, engine/cl/tune.h) and the product is
 * large, the forward and backward-input products run tile-padded (dc_gemm_padded, gemm.c): im2col
 * writes the columns straight into the padded layout and col2im reads them from it, so CLBlast
 * runs its kernel without padding and transposing the large matrices itself.
 *
 * im2col and col2im have a variant for CPUs ("rows") and one for GPUs ("pixel"), see
 * opencl/im2col.cl; the device type picks one, DEEPCEE_IM2COL=rows|pixel forces one (the tests
 * run both). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops_conv.h"

#define IM2COL_CL "im2col.cl"
/* Workspaces of one call stay under this (unless a single image needs more). */
#define WORKSPACE_MAX_BYTES ((size_t)256 << 20)
/* Maps with fewer positions than this are batched several images per GEMM. */
#define GEMM_MIN_COLUMNS 4096

/* ------------------------------------------------------------------ parameters */

static void same_axis(int in, int k, int s, int *before, int *after)
{
    *before = *after = 0;
    if (in <= 0 || s <= 0) return; /* invalid; dc_conv2d_out_size reports it */
    const int out = (in + s - 1) / s;
    int total = (out - 1) * s + k - in;
    if (total < 0) total = 0;
    *before = total / 2;
    *after = total - total / 2;
}

dc_conv_params dc_conv_params_same(int in_h, int in_w, int kh, int kw, int sh, int sw)
{
    dc_conv_params p = {.kh = kh, .kw = kw, .sh = sh, .sw = sw};
    same_axis(in_h, kh, sh, &p.pad_t, &p.pad_b);
    same_axis(in_w, kw, sw, &p.pad_l, &p.pad_r);
    return p;
}

dc_conv_params dc_conv_params_valid(int kh, int kw, int sh, int sw)
{
    return (dc_conv_params){.kh = kh, .kw = kw, .sh = sh, .sw = sw};
}

dc_status dc_conv2d_out_size(const dc_conv_params *p, int in_h, int in_w, int *out_h, int *out_w)
{
    if (!p) return DC_FAIL(DC_STATUS_INVALID_ARG, "conv2d: the parameters are missing");
    if (p->kh <= 0 || p->kw <= 0 || p->sh <= 0 || p->sw <= 0)
        return DC_FAIL(DC_STATUS_INVALID_ARG, "conv2d: kernel %dx%d and stride %dx%d must be positive",
                       p->kh, p->kw, p->sh, p->sw);
    if (p->pad_t < 0 || p->pad_b < 0 || p->pad_l < 0 || p->pad_r < 0 || p->pad_t >= p->kh ||
        p->pad_b >= p->kh || p->pad_l >= p->kw || p->pad_r >= p->kw)
        return DC_FAIL(DC_STATUS_INVALID_ARG,
                       "conv2d: padding (top %d, left %d, bottom %d, right %d) must be >= 0 and "
                       "smaller than the kernel %dx%d", p->pad_t, p->pad_l, p->pad_b, p->pad_r,
                       p->kh, p->kw);
    if (in_h <= 0 || in_w <= 0)
        return DC_FAIL(DC_STATUS_INVALID_ARG, "conv2d: input size %dx%d must be positive", in_h, in_w);
    const int ph = in_h + p->pad_t + p->pad_b, pw = in_w + p->pad_l + p->pad_r;
    if (ph < p->kh || pw < p->kw)
        return DC_FAIL(DC_STATUS_SHAPE, "conv2d: the padded input %dx%d is smaller than the kernel "
                       "%dx%d", ph, pw, p->kh, p->kw);
    *out_h = (ph - p->kh) / p->sh + 1;
    *out_w = (pw - p->kw) / p->sw + 1;
    return DC_STATUS_OK;
}

/* ------------------------------------------------------------------ geometry and workspace */

typedef struct conv_geom {
    int n, c, h, w;   /* input */
    int k, oh, ow;    /* output */
    int s, r;         /* oh*ow, c*kh*kw */
    int pointwise;    /* 1x1, stride 1, no padding: x is its own column matrix */
} conv_geom;

/* Check the three tensors of a convolution: x-like [N, C, H, W], w-like [K, C, KH, KW] and y-like
 * [N, K, OH, OW] (the names are those of the calling op's arguments). */
static dc_status conv_geom_get(const char *op, const dc_conv_params *p, const dc_tensor *x,
                               const char *x_arg, const dc_tensor *w, const char *w_arg,
                               const dc_tensor *y, const char *y_arg, conv_geom *g)
{
    if (!p) return DC_FAIL(DC_STATUS_INVALID_ARG, "%s: the parameters are missing", op);
    DC_TRY(dc_tensor_expect(x, op, x_arg, 4, -1, -1, -1, -1));
    g->n = x->shape[0];
    g->c = x->shape[1];
    g->h = x->shape[2];
    g->w = x->shape[3];
    DC_TRY(dc_tensor_expect(w, op, w_arg, 4, -1, g->c, p->kh, p->kw));
    g->k = w->shape[0];
    dc_status st = dc_conv2d_out_size(p, g->h, g->w, &g->oh, &g->ow);
    if (st != DC_STATUS_OK) {
        char msg[1024], s[96];
        snprintf(msg, sizeof msg, "%s", dc_error_message());
        return DC_FAIL(st, "%s: argument %s %s: %s", op, x_arg, dc_tensor_shape_str(x, s, sizeof s), msg);
    }
    DC_TRY(dc_tensor_expect(y, op, y_arg, 4, g->n, g->k, g->oh, g->ow));
    if (x->numel > INT_MAX || y->numel > INT_MAX)
        return DC_FAIL(DC_STATUS_INVALID_ARG, "%s: tensors of more than %d values are not supported",
                       op, INT_MAX);
    g->s = g->oh * g->ow;
    g->r = g->c * p->kh * p->kw;
    g->pointwise = p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 && p->pad_t == 0 &&
                   p->pad_l == 0 && p->pad_b == 0 && p->pad_r == 0;
    return DC_STATUS_OK;
}

/* Images per GEMM: 1 for large maps, else as many as keep the two workspaces of a chunk (columns
 * [R, G*S] and a [K, G*S] block) under WORKSPACE_MAX_BYTES and the device's largest allocation. */
static int images_per_gemm(dc_ctx *ctx, const conv_geom *g)
{
    if (g->n == 1 || g->s >= GEMM_MIN_COLUMNS) return 1;
    const size_t total = (size_t)(g->r + g->k) * g->s * sizeof(float);
    const size_t largest = (size_t)(g->r > g->k ? g->r : g->k) * g->s;
    size_t gi = WORKSPACE_MAX_BYTES / total;
    const size_t by_alloc = (size_t)dc_ctx_info(ctx)->max_alloc / (largest * sizeof(float));
    const size_t by_int = (size_t)INT_MAX / largest; /* kernels index the columns with int */
    if (by_alloc < gi) gi = by_alloc;
    if (by_int < gi) gi = by_int;
    if (gi > (size_t)g->n) gi = (size_t)g->n;
    return gi < 1 ? 1 : (int)gi;
}

/* Workspace buffers from the scratch pool, or owned ones when there is no pool. */
typedef struct workspace {
    dc_ctx *ctx;
    dc_pool *pool;
    dc_tensor *own[3];
    int n_own;
} workspace;

static dc_status ws_take(workspace *ws, size_t numel, cl_mem *out)
{
    if (numel > INT_MAX)
        return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "conv2d: a workspace of %zu values is too large; use "
                       "a smaller input", numel);
    dc_tensor *t;
    const int shape[1] = {(int)numel};
    if (ws->pool) {
        DC_TRY(dc_pool_tensor(ws->pool, 1, shape, &t));
    } else {
        DC_TRY(dc_tensor_new(ws->ctx, 1, shape, &t));
        ws->own[ws->n_own++] = t;
    }
    *out = t->buf;
    return DC_STATUS_OK;
}

/* Release the workspaces; returns st so that calls end with `return ws_done(&ws, st)`. Owned
 * buffers may still be in use by queued commands: OpenCL frees them after those complete. */
static dc_status ws_done(workspace *ws, dc_status st)
{
    if (ws->pool) dc_pool_reset(ws->pool);
    for (int i = 0; i < ws->n_own; i++) dc_tensor_free(ws->own[i]);
    return st;
}

/* ------------------------------------------------------------------ launch wrappers */

/* 1 for the CPU variants of im2col/col2im, 0 for the GPU ones. */
static dc_status variant_rows(dc_ctx *ctx, int *rows)
{
    const char *v = getenv("DEEPCEE_IM2COL");
    if (!v || !*v) {
        *rows = (dc_ctx_info(ctx)->type & CL_DEVICE_TYPE_CPU) != 0;
        return DC_STATUS_OK;
    }
    if (strcmp(v, "rows") != 0 && strcmp(v, "pixel") != 0)
        return DC_FAIL(DC_STATUS_INVALID_ARG, "DEEPCEE_IM2COL is '%s'; use rows, pixel or leave it "
                       "unset", v);
    *rows = strcmp(v, "rows") == 0;
    return DC_STATUS_OK;
}

/* im2col_rows and im2col_pixel take the same arguments; they differ in the range. */
static dc_status launch_im2col(dc_ctx *ctx, cl_mem x, int x_off, const conv_geom *g,
                               const dc_conv_params *p, int images, cl_mem cols, int ld)
{
    int rows;
    DC_TRY(variant_rows(ctx, &rows));
    const char *name = rows ? "im2col_rows" : "im2col_pixel";
    cl_kernel k;
    DC_TRY(dc_kernel_get(ctx, IM2COL_CL, name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, x));
    DC_TRY(dc_arg_int(k, name, 1, x_off));
    DC_TRY(dc_arg_int(k, name, 2, g->c));
    DC_TRY(dc_arg_int(k, name, 3, g->h));
    DC_TRY(dc_arg_int(k, name, 4, g->w));
    DC_TRY(dc_arg_int(k, name, 5, p->kh));
    DC_TRY(dc_arg_int(k, name, 6, p->kw));
    DC_TRY(dc_arg_int(k, name, 7, p->sh));
    DC_TRY(dc_arg_int(k, name, 8, p->sw));
    DC_TRY(dc_arg_int(k, name, 9, p->pad_t));
    DC_TRY(dc_arg_int(k, name, 10, p->pad_l));
    DC_TRY(dc_arg_int(k, name, 11, g->oh));
    DC_TRY(dc_arg_int(k, name, 12, g->ow));
    DC_TRY(dc_arg_int(k, name, 13, images));
    DC_TRY(dc_arg_mem(k, name, 14, cols));
    DC_TRY(dc_arg_int(k, name, 15, ld));
    if (rows) {
        const size_t global[2] = {(size_t)images * g->oh, (size_t)g->r};
        return dc_kernel_launch(ctx, k, name, 2, global, NULL);
    }
    const size_t global[3] = {(size_t)g->ow, (size_t)images * g->oh, (size_t)g->c};
    return dc_kernel_launch(ctx, k, name, 3, global, NULL);
}

/* col2im_rows and col2im_pixel take the same arguments; they differ in the range. */
static dc_status launch_col2im(dc_ctx *ctx, cl_mem dcols, int ld, const conv_geom *g,
                               const dc_conv_params *p, int images, cl_mem dx, int dx_off,
                               int accumulate)
{
    int rows;
    DC_TRY(variant_rows(ctx, &rows));
    const char *name = rows ? "col2im_rows" : "col2im_pixel";
    cl_kernel k;
    DC_TRY(dc_kernel_get(ctx, IM2COL_CL, name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, dcols));
    DC_TRY(dc_arg_int(k, name, 1, g->c));
    DC_TRY(dc_arg_int(k, name, 2, g->h));
    DC_TRY(dc_arg_int(k, name, 3, g->w));
    DC_TRY(dc_arg_int(k, name, 4, p->kh));
    DC_TRY(dc_arg_int(k, name, 5, p->kw));
    DC_TRY(dc_arg_int(k, name, 6, p->sh));
    DC_TRY(dc_arg_int(k, name, 7, p->sw));
    DC_TRY(dc_arg_int(k, name, 8, p->pad_t));
    DC_TRY(dc_arg_int(k, name, 9, p->pad_l));
    DC_TRY(dc_arg_int(k, name, 10, g->oh));
    DC_TRY(dc_arg_int(k, name, 11, g->ow));
    DC_TRY(dc_arg_int(k, name, 12, images));
    DC_TRY(dc_arg_mem(k, name, 13, dx));
    DC_TRY(dc_arg_int(k, name, 14, dx_off));
    DC_TRY(dc_arg_int(k, name, 15, accumulate != 0));
    DC_TRY(dc_arg_int(k, name, 16, ld));
    if (rows) {
        const size_t global[2] = {(size_t)images * g->h, (size_t)g->c};
        return dc_kernel_launch(ctx, k, name, 2, global, NULL);
    }
    const size_t global[3] = {(size_t)g->w, (size_t)images * g->h, (size_t)g->c};
    return dc_kernel_launch(ctx, k, name, 3, global, NULL);
}

/* t [C, G*S] (leading dimension ld) -> y[y_off + (g*C + c)*S + s], plus b[c] when b is not NULL. */
static dc_status launch_cgs_to_nchw(dc_ctx *ctx, cl_mem t, int ld, int c, int images, int s,
                                    cl_mem b, cl_mem y, int y_off)
{
    cl_kernel k;
    const char *name = "conv_cgs_to_nchw";
    DC_TRY(dc_kernel_get(ctx, IM2COL_CL, name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, t));
    DC_TRY(dc_arg_int(k, name, 1, c));
    DC_TRY(dc_arg_int(k, name, 2, images));
    DC_TRY(dc_arg_int(k, name, 3, s));
    DC_TRY(dc_arg_mem(k, name, 4, b ? b : t)); /* any valid buffer when there is no bias */
    DC_TRY(dc_arg_int(k, name, 5, b != NULL));
    DC_TRY(dc_arg_mem(k, name, 6, y));
    DC_TRY(dc_arg_int(k, name, 7, y_off));
    DC_TRY(dc_arg_int(k, name, 8, ld));
    const size_t global[3] = {(size_t)s, (size_t)c, (size_t)images};
    return dc_kernel_launch(ctx, k, name, 3, global, NULL);
}

/* y -> t [rows, ld] (rows >= c, ld >= images*s), zeros in the padding. */
static dc_status launch_nchw_to_cgs(dc_ctx *ctx, cl_mem y, int y_off, int c, int images, int s,
                                    cl_mem t, int ld, int rows)
{
    cl_kernel k;
    const char *name = "conv_nchw_to_cgs";
    DC_TRY(dc_kernel_get(ctx, IM2COL_CL, name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, y));
    DC_TRY(dc_arg_int(k, name, 1, y_off));
    DC_TRY(dc_arg_int(k, name, 2, c));
    DC_TRY(dc_arg_int(k, name, 3, images));
    DC_TRY(dc_arg_int(k, name, 4, s));
    DC_TRY(dc_arg_mem(k, name, 5, t));
    DC_TRY(dc_arg_int(k, name, 6, ld));
    DC_TRY(dc_arg_int(k, name, 7, rows));
    const size_t global[2] = {(size_t)ld, (size_t)rows};
    return dc_kernel_launch(ctx, k, name, 2, global, NULL);
}

/* ------------------------------------------------------------------ forward */

/* The tile-padded forward (engine/ops/gemm.c): columns of `images` images at a time written
 * straight into the padded layout, w^T staged once, and the result copied out to NCHW with the
 * bias added. 1x1 convolutions go through im2col too (a plain copy there), which is cheaper than
 * the padding CLBlast would do. */
static dc_status forward_padded(dc_ctx *ctx, const conv_geom *g, const dc_conv_params *p,
                                const dc_tensor *x, const dc_tensor *w, const dc_tensor *b,
                                dc_tensor *y, int images, const dc_gemm_pad *pad, workspace *ws)
{
    const size_t xs = (size_t)g->c * g->h * g->w, ys = (size_t)g->k * g->s;
    cl_mem wt, cols, t;
    DC_TRY(ws_take(ws, (size_t)pad->k * pad->m, &wt));
    DC_TRY(ws_take(ws, (size_t)pad->k * pad->n, &cols));
    DC_TRY(ws_take(ws, (size_t)pad->m * pad->n, &t));
    DC_TRY(dc_gemm_pad_copy(ctx, w->buf, 0, g->r, g->k, g->r, 1, wt, pad->k, pad->m));
    DC_TRY(dc_gemm_pad_zero(ctx, cols, pad->n, 0, g->r, pad->n, pad->k - g->r));
    for (int n0 = 0; n0 < g->n; n0 += images) {
        const int gc = g->n - n0 < images ? g->n - n0 : images, cs = gc * g->s;
        DC_TRY(launch_im2col(ctx, x->buf, (int)(n0 * xs), g, p, gc, cols, pad->n));
        DC_TRY(dc_gemm_pad_zero(ctx, cols, pad->n, cs, 0, pad->n - cs, g->r));
        DC_TRY(dc_gemm_padded(ctx, pad, wt, cols, t));
        DC_TRY(launch_cgs_to_nchw(ctx, t, pad->n, g->k, gc, g->s, b ? b->buf : NULL, y->buf,
                                  (int)(n0 * ys)));
    }
    return DC_STATUS_OK;
}

static dc_status forward_run(dc_ctx *ctx, const conv_geom *g, const dc_conv_params *p,
                             const dc_tensor *x, const dc_tensor *w, const dc_tensor *b,
                             dc_tensor *y, workspace *ws)
{
    const size_t xs = (size_t)g->c * g->h * g->w, ys = (size_t)g->k * g->s;
    const int images = images_per_gemm(ctx, g);
    dc_gemm_pad pad;
    int padded;
    DC_TRY(dc_gemm_pad_plan(ctx, g->k, images * g->s, g->r, g->pointwise && images == 1, &pad, &padded));
    if (padded) return forward_padded(ctx, g, p, x, w, b, y, images, &pad, ws);
    if (images == 1) {
        cl_mem cols = NULL;
        if (!g->pointwise) DC_TRY(ws_take(ws, (size_t)g->r * g->s, &cols));
        for (int n = 0; n < g->n; n++) {
            size_t b_off = 0;
            if (g->pointwise) {
                cols = x->buf;
                b_off = n * xs;
            } else {
                DC_TRY(launch_im2col(ctx, x->buf, (int)(n * xs), g, p, 1, cols, g->s));
            }
            DC_TRY(dc_gemm_mem(ctx, DC_TRANS_NO, DC_TRANS_NO, g->k, g->s, g->r, 1.0f, w->buf, 0,
                               g->r, cols, b_off, g->s, 0.0f, y->buf, n * ys, g->s));
        }
        return b ? dc_bias_forward(ctx, y, b) : DC_STATUS_OK;
    }
    cl_mem cols, t;
    DC_TRY(ws_take(ws, (size_t)g->r * images * g->s, &cols));
    DC_TRY(ws_take(ws, (size_t)g->k * images * g->s, &t));
    for (int n0 = 0; n0 < g->n; n0 += images) {
        const int gc = g->n - n0 < images ? g->n - n0 : images, cs = gc * g->s;
        DC_TRY(launch_im2col(ctx, x->buf, (int)(n0 * xs), g, p, gc, cols, cs));
        DC_TRY(dc_gemm_mem(ctx, DC_TRANS_NO, DC_TRANS_NO, g->k, cs, g->r, 1.0f, w->buf, 0, g->r,
                           cols, 0, cs, 0.0f, t, 0, cs));
        DC_TRY(launch_cgs_to_nchw(ctx, t, cs, g->k, gc, g->s, b ? b->buf : NULL, y->buf, (int)(n0 * ys)));
    }
    return DC_STATUS_OK;
}

dc_status dc_conv2d_forward(dc_ctx *ctx, const dc_tensor *x, const dc_tensor *w, const dc_tensor *b,
                            dc_tensor *y, const dc_conv_params *p, dc_pool *scratch)
{
    conv_geom g;
    DC_TRY(conv_geom_get("conv2d_forward", p, x, "x", w, "w", y, "y", &g));
    if (b) DC_TRY(dc_tensor_expect(b, "conv2d_forward", "b", 1, g.k, -1, -1, -1));
    workspace ws = {.ctx = ctx, .pool = scratch};
    return ws_done(&ws, forward_run(ctx, &g, p, x, w, b, y, &ws));
}

/* ------------------------------------------------------------------ backward */

/* The tile-padded dcols = w^T dy: w staged padded once, dy copied into the padded layout, and
 * col2im reading the padded columns. */
static dc_status backward_input_padded(dc_ctx *ctx, const conv_geom *g, const dc_conv_params *p,
                                       const dc_tensor *dy, const dc_tensor *w, dc_tensor *dx,
                                       int accumulate, int images, const dc_gemm_pad *pad,
                                       workspace *ws)
{
    const size_t xs = (size_t)g->c * g->h * g->w, ys = (size_t)g->k * g->s;
    cl_mem wp, dyt, dcols;
    DC_TRY(ws_take(ws, (size_t)pad->k * pad->m, &wp));
    DC_TRY(ws_take(ws, (size_t)pad->k * pad->n, &dyt));
    DC_TRY(ws_take(ws, (size_t)pad->m * pad->n, &dcols));
    DC_TRY(dc_gemm_pad_copy(ctx, w->buf, 0, g->r, g->k, g->r, 0, wp, pad->k, pad->m));
    for (int n0 = 0; n0 < g->n; n0 += images) {
        const int gc = g->n - n0 < images ? g->n - n0 : images;
        DC_TRY(launch_nchw_to_cgs(ctx, dy->buf, (int)(n0 * ys), g->k, gc, g->s, dyt, pad->n, pad->k));
        DC_TRY(dc_gemm_padded(ctx, pad, wp, dyt, dcols));
        DC_TRY(launch_col2im(ctx, dcols, pad->n, g, p, gc, dx->buf, (int)(n0 * xs), accumulate));
    }
    return DC_STATUS_OK;
}

static dc_status backward_input_run(dc_ctx *ctx, const conv_geom *g, const dc_conv_params *p,
                                    const dc_tensor *dy, const dc_tensor *w, dc_tensor *dx,
                                    int accumulate, workspace *ws)
{
    const size_t xs = (size_t)g->c * g->h * g->w, ys = (size_t)g->k * g->s;
    const int images = images_per_gemm(ctx, g);
    dc_gemm_pad pad;
    int padded;
    DC_TRY(dc_gemm_pad_plan(ctx, g->r, images * g->s, g->k, g->pointwise && images == 1, &pad, &padded));
    if (padded) return backward_input_padded(ctx, g, p, dy, w, dx, accumulate, images, &pad, ws);
    if (images == 1) {
        cl_mem dcols = NULL;
        if (!g->pointwise) DC_TRY(ws_take(ws, (size_t)g->r * g->s, &dcols));
        for (int n = 0; n < g->n; n++) {
            if (g->pointwise) {
                DC_TRY(dc_gemm_mem(ctx, DC_TRANS_YES, DC_TRANS_NO, g->c, g->s, g->k, 1.0f, w->buf,
                                   0, g->r, dy->buf, n * ys, g->s, accumulate ? 1.0f : 0.0f,
                                   dx->buf, n * xs, g->s));
            } else {
                DC_TRY(dc_gemm_mem(ctx, DC_TRANS_YES, DC_TRANS_NO, g->r, g->s, g->k, 1.0f, w->buf,
                                   0, g->r, dy->buf, n * ys, g->s, 0.0f, dcols, 0, g->s));
                DC_TRY(launch_col2im(ctx, dcols, g->s, g, p, 1, dx->buf, (int)(n * xs), accumulate));
            }
        }
        return DC_STATUS_OK;
    }
    cl_mem dyt, dcols;
    DC_TRY(ws_take(ws, (size_t)g->k * images * g->s, &dyt));
    DC_TRY(ws_take(ws, (size_t)g->r * images * g->s, &dcols));
    for (int n0 = 0; n0 < g->n; n0 += images) {
        const int gc = g->n - n0 < images ? g->n - n0 : images, cs = gc * g->s;
        DC_TRY(launch_nchw_to_cgs(ctx, dy->buf, (int)(n0 * ys), g->k, gc, g->s, dyt, cs, g->k));
        DC_TRY(dc_gemm_mem(ctx, DC_TRANS_YES, DC_TRANS_NO, g->r, cs, g->k, 1.0f, w->buf, 0, g->r,
                           dyt, 0, cs, 0.0f, dcols, 0, cs));
        DC_TRY(launch_col2im(ctx, dcols, cs, g, p, gc, dx->buf, (int)(n0 * xs), accumulate));
    }
    return DC_STATUS_OK;
}

dc_status dc_conv2d_backward_input(dc_ctx *ctx, const dc_tensor *dy, const dc_tensor *w,
                                   dc_tensor *dx, const dc_conv_params *p, int accumulate,
                                   dc_pool *scratch)
{
    conv_geom g;
    DC_TRY(conv_geom_get("conv2d_backward_input", p, dx, "dx", w, "w", dy, "dy", &g));
    workspace ws = {.ctx = ctx, .pool = scratch};
    return ws_done(&ws, backward_input_run(ctx, &g, p, dy, w, dx, accumulate, &ws));
}

static dc_status backward_params_run(dc_ctx *ctx, const conv_geom *g, const dc_conv_params *p,
                                     const dc_tensor *x, const dc_tensor *dy, dc_tensor *dw,
                                     int accumulate, workspace *ws)
{
    const size_t xs = (size_t)g->c * g->h * g->w, ys = (size_t)g->k * g->s;
    const int images = images_per_gemm(ctx, g);
    if (images == 1) {
        cl_mem cols = NULL;
        if (!g->pointwise) DC_TRY(ws_take(ws, (size_t)g->r * g->s, &cols));
        for (int n = 0; n < g->n; n++) {
            size_t b_off = 0;
            if (g->pointwise) {
                cols = x->buf;
                b_off = n * xs;
            } else {
                DC_TRY(launch_im2col(ctx, x->buf, (int)(n * xs), g, p, 1, cols, g->s));
            }
            const float beta = n > 0 || accumulate ? 1.0f : 0.0f;
            DC_TRY(dc_gemm_mem(ctx, DC_TRANS_NO, DC_TRANS_YES, g->k, g->r, g->s, 1.0f, dy->buf,
                               n * ys, g->s, cols, b_off, g->s, beta, dw->buf, 0, g->r));
        }
        return DC_STATUS_OK;
    }
    cl_mem cols, dyt;
    DC_TRY(ws_take(ws, (size_t)g->r * images * g->s, &cols));
    DC_TRY(ws_take(ws, (size_t)g->k * images * g->s, &dyt));
    for (int n0 = 0; n0 < g->n; n0 += images) {
        const int gc = g->n - n0 < images ? g->n - n0 : images, cs = gc * g->s;
        DC_TRY(launch_im2col(ctx, x->buf, (int)(n0 * xs), g, p, gc, cols, cs));
        DC_TRY(launch_nchw_to_cgs(ctx, dy->buf, (int)(n0 * ys), g->k, gc, g->s, dyt, cs, g->k));
        const float beta = n0 > 0 || accumulate ? 1.0f : 0.0f;
        DC_TRY(dc_gemm_mem(ctx, DC_TRANS_NO, DC_TRANS_YES, g->k, g->r, cs, 1.0f, dyt, 0, cs, cols,
                           0, cs, beta, dw->buf, 0, g->r));
    }
    return DC_STATUS_OK;
}

dc_status dc_conv2d_backward_params(dc_ctx *ctx, const dc_tensor *x, const dc_tensor *dy,
                                    dc_tensor *dw, dc_tensor *db, const dc_conv_params *p,
                                    int accumulate, dc_pool *scratch)
{
    conv_geom g;
    DC_TRY(conv_geom_get("conv2d_backward_params", p, x, "x", dw, "dw", dy, "dy", &g));
    if (db) DC_TRY(dc_tensor_expect(db, "conv2d_backward_params", "db", 1, g.k, -1, -1, -1));
    workspace ws = {.ctx = ctx, .pool = scratch};
    DC_TRY(ws_done(&ws, backward_params_run(ctx, &g, p, x, dy, dw, accumulate, &ws)));
    return db ? dc_bias_backward(ctx, dy, db, accumulate) : DC_STATUS_OK;
}
