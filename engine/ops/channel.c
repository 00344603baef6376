/* Per-channel ops: bias add and its gradient, frozen batch norm and its folding into a
 * convolution. Kernels: opencl/conv_channel.cl. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "ops/ops_conv.h"

#define CHANNEL_CL "conv_channel.cl"
#define BIAS_GRAD_WG 64 /* work-group size of bias_grad where the device allows it */
#include <stdio.h>

/* bias_grad's group: BIAS_GRAD_WG, or the largest power of two below it that the device allows */
static size_t bias_grad_wg(dc_ctx *ctx) { return dc_ctx_group_size(ctx, BIAS_GRAD_WG, sizeof(float)); }

/* Every kernel of conv_channel.cl, from one program built with the device's bias_grad group. */
static dc_status channel_kernel(dc_ctx *ctx, const char *name, cl_kernel *k)
{
    char options[48];
    snprintf(options, sizeof options, "-DBIAS_GRAD_WG=%zu", bias_grad_wg(ctx));
    return dc_kernel_get(ctx, CHANNEL_CL, name, options, k);
}

/* The [N, C, S] view of a 2- to 4-dimensional tensor. */
typedef struct ncs { int n, c, s; } ncs;

static dc_status ncs_of(const dc_tensor *t, const char *op, const char *arg, ncs *v)
{
    if (!t) return DC_FAIL(DC_STATUS_INVALID_ARG, "%s: argument %s is missing", op, arg);
    if (t->ndim < 2) {
        char s[96];
        return DC_FAIL(DC_STATUS_SHAPE, "%s: argument %s has shape %s; it needs [N, C, ...] (2 to 4 "
                       "dimensions)", op, arg, dc_tensor_shape_str(t, s, sizeof s));
    }
    if (t->numel > INT_MAX)
        return DC_FAIL(DC_STATUS_INVALID_ARG, "%s: argument %s has %zu values; at most %d are "
                       "supported", op, arg, t->numel, INT_MAX);
    v->n = t->shape[0];
    v->c = t->shape[1];
    v->s = (int)(t->numel / ((size_t)v->n * (size_t)v->c));
    return DC_STATUS_OK;
}

static dc_status per_channel(const dc_tensor *t, const char *op, const char *arg, int c)
{
    return t ? dc_tensor_expect(t, op, arg, 1, c, -1, -1, -1) : DC_STATUS_OK;
}

/* ------------------------------------------------------------------ launch wrappers */

static dc_status launch_bias_add(dc_ctx *ctx, cl_mem y, cl_mem b, ncs v)
{
    cl_kernel k;
    DC_TRY(channel_kernel(ctx, "bias_add", &k));
    DC_TRY(dc_arg_mem(k, "bias_add", 0, y));
    DC_TRY(dc_arg_mem(k, "bias_add", 1, b));
    DC_TRY(dc_arg_int(k, "bias_add", 2, v.n));
    DC_TRY(dc_arg_int(k, "bias_add", 3, v.c));
    DC_TRY(dc_arg_int(k, "bias_add", 4, v.s));
    const size_t global[3] = {(size_t)v.s, (size_t)v.c, (size_t)v.n};
    return dc_kernel_launch(ctx, k, "bias_add", 3, global, NULL);
}

static dc_status launch_bias_grad(dc_ctx *ctx, cl_mem dy, ncs v, cl_mem db, int accumulate)
{
    cl_kernel k;
    DC_TRY(channel_kernel(ctx, "bias_grad", &k));
    DC_TRY(dc_arg_mem(k, "bias_grad", 0, dy));
    DC_TRY(dc_arg_int(k, "bias_grad", 1, v.n));
    DC_TRY(dc_arg_int(k, "bias_grad", 2, v.c));
    DC_TRY(dc_arg_int(k, "bias_grad", 3, v.s));
    DC_TRY(dc_arg_mem(k, "bias_grad", 4, db));
    DC_TRY(dc_arg_int(k, "bias_grad", 5, accumulate != 0));
    const size_t wg = bias_grad_wg(ctx);
    const size_t global[1] = {(size_t)v.c * wg}, local[1] = {wg};
    return dc_kernel_launch(ctx, k, "bias_grad", 1, global, local);
}

static dc_status launch_bn_forward(dc_ctx *ctx, cl_mem x, cl_mem gamma, cl_mem beta, cl_mem mean,
                                   cl_mem var, float eps, ncs v, cl_mem y)
{
    cl_kernel k;
    const char *name = "bn_frozen_forward";
    DC_TRY(channel_kernel(ctx, name, &k));
    DC_TRY(dc_arg_mem(k, name, 0, x));
    DC_TRY(dc_arg_mem(k, name, 1, gamma ? gamma : mean)); /* any valid buffer when absent */
    DC_TRY(dc_arg_int(k, name, 2, gamma != NULL));
    DC_TRY(dc_arg_mem(k, name, 3, beta ? beta : mean));
    DC_TRY(dc_arg_int(k, name, 4, beta != NULL));
    DC_TRY(dc_arg_mem(k, name, 5, mean));
    DC_TRY(dc_arg_mem(k, name, 6, var));
    DC_TRY(dc_arg_float(k, name, 7, eps));
    DC_TRY(dc_arg_int(k, name, 8, v.n));
    DC_TRY(dc_arg_int(k, name, 9, v.c));
    DC_TRY(dc_arg_int(k, name, 10, v.s));
    DC_TRY(dc_arg_mem(k, name, 11, y));
    const size_t global[3] = {(size_t)v.s, (size_t)v.c, (size_t)v.n};
    return dc_kernel_launch(ctx, k, name, 3, global, NULL);
}

static dc_status launch_bn_backward(dc_ctx *ctx, cl_mem dy, cl_mem gamma, cl_mem var, float eps,
                                    ncs v, cl_mem dx, int accumulate)
{
    cl_kernel k;
    const char *name = "bn_frozen_backward";
    DC_TRY(channel_kernel(ctx, name, &k));
    DC_TRY(dc_arg_mem(k, name, 0, dy));
    DC_TRY(dc_arg_mem(k, name, 1, gamma ? gamma : var));
    DC_TRY(dc_arg_int(k, name, 2, gamma != NULL));
    DC_TRY(dc_arg_mem(k, name, 3, var));
    DC_TRY(dc_arg_float(k, name, 4, eps));
    DC_TRY(dc_arg_int(k, name, 5, v.n));
    DC_TRY(dc_arg_int(k, name, 6, v.c));
    DC_TRY(dc_arg_int(k, name, 7, v.s));
    DC_TRY(dc_arg_mem(k, name, 8, dx));
    DC_TRY(dc_arg_int(k, name, 9, accumulate != 0));
    const size_t global[3] = {(size_t)v.s, (size_t)v.c, (size_t)v.n};
    return dc_kernel_launch(ctx, k, name, 3, global, NULL);
}

/* ------------------------------------------------------------------ bias */

dc_status dc_bias_forward(dc_ctx *ctx, dc_tensor *y, const dc_tensor *b)
{
    ncs v;
    DC_TRY(ncs_of(y, "bias_forward", "y", &v));
    DC_TRY(dc_tensor_expect(b, "bias_forward", "b", 1, v.c, -1, -1, -1));
    return launch_bias_add(ctx, y->buf, b->buf, v);
}

dc_status dc_bias_backward(dc_ctx *ctx, const dc_tensor *dy, dc_tensor *db, int accumulate)
{
    ncs v;
    DC_TRY(ncs_of(dy, "bias_backward", "dy", &v));
    DC_TRY(dc_tensor_expect(db, "bias_backward", "db", 1, v.c, -1, -1, -1));
    return launch_bias_grad(ctx, dy->buf, v, db->buf, accumulate);
}

/* ------------------------------------------------------------------ frozen batch norm */

static dc_status eps_check(const char *op, float eps)
{
    if (!(eps >= 0.0f) || !isfinite(eps))
        return DC_FAIL(DC_STATUS_INVALID_ARG, "%s: eps is %g; it must be finite and >= 0 (the "
                       "paper's model uses 0.001)", op, (double)eps);
    return DC_STATUS_OK;
}

dc_status dc_bn_forward(dc_ctx *ctx, const dc_tensor *x, const dc_tensor *gamma,
                        const dc_tensor *beta, const dc_tensor *mean, const dc_tensor *var,
                        float eps, dc_tensor *y)
{
    const char *op = "bn_forward";
    ncs v;
    DC_TRY(ncs_of(x, op, "x", &v));
    DC_TRY(eps_check(op, eps));
    DC_TRY(per_channel(gamma, op, "gamma", v.c));
    DC_TRY(per_channel(beta, op, "beta", v.c));
    DC_TRY(dc_tensor_expect(mean, op, "mean", 1, v.c, -1, -1, -1));
    DC_TRY(dc_tensor_expect(var, op, "var", 1, v.c, -1, -1, -1));
    if (!y) return DC_FAIL(DC_STATUS_INVALID_ARG, "%s: argument y is missing", op);
    if (!dc_tensor_same_shape(x, y)) {
        char a[96], b[96];
        return DC_FAIL(DC_STATUS_SHAPE, "%s: argument y has shape %s, expected x's shape %s", op,
                       dc_tensor_shape_str(y, a, sizeof a), dc_tensor_shape_str(x, b, sizeof b));
    }
    return launch_bn_forward(ctx, x->buf, gamma ? gamma->buf : NULL, beta ? beta->buf : NULL,
                             mean->buf, var->buf, eps, v, y->buf);
}

dc_status dc_bn_backward_input(dc_ctx *ctx, const dc_tensor *dy, const dc_tensor *gamma,
                               const dc_tensor *var, float eps, dc_tensor *dx, int accumulate)
{
    const char *op = "bn_backward_input";
    ncs v;
    DC_TRY(ncs_of(dy, op, "dy", &v));
    DC_TRY(eps_check(op, eps));
    DC_TRY(per_channel(gamma, op, "gamma", v.c));
    DC_TRY(dc_tensor_expect(var, op, "var", 1, v.c, -1, -1, -1));
    if (!dx) return DC_FAIL(DC_STATUS_INVALID_ARG, "%s: argument dx is missing", op);
    if (!dc_tensor_same_shape(dy, dx)) {
        char a[96], b[96];
        return DC_FAIL(DC_STATUS_SHAPE, "%s: argument dx has shape %s, expected dy's shape %s", op,
                       dc_tensor_shape_str(dx, a, sizeof a), dc_tensor_shape_str(dy, b, sizeof b));
    }
    return launch_bn_backward(ctx, dy->buf, gamma ? gamma->buf : NULL, var->buf, eps, v, dx->buf,
                              accumulate);
}

dc_status dc_bn_fold_host(int k, int per_out, float *w, float *b, const float *gamma,
                          const float *beta, const float *mean, const float *var, float eps)
{
    DC_CHECK_ARG(k > 0 && per_out > 0 && w && b && mean && var,
                 "bn_fold: needs k > 0, per_out > 0 and the arrays w, b, mean, var");
    for (int c = 0; c < k; c++)
        if (!(var[c] + eps > 0.0f))
            return DC_FAIL(DC_STATUS_INVALID_ARG, "bn_fold: channel %d has var + eps = %g; it must "
                           "be positive", c, (double)(var[c] + eps));
    for (int c = 0; c < k; c++) {
        /* double keeps the folded layer as close as float allows to conv followed by bn */
        const double s = (gamma ? gamma[c] : 1.0) / sqrt((double)var[c] + eps);
        for (int i = 0; i < per_out; i++) w[(size_t)c * per_out + i] = (float)(w[(size_t)c * per_out + i] * s);
        b[c] = (float)(((double)b[c] - mean[c]) * s + (beta ? beta[c] : 0.0));
    }
    return DC_STATUS_OK;
}

/* Download an optional [k] tensor into host (left NULL when the tensor is). */
static dc_status download_opt(const dc_tensor *t, float *host, int k, const float **out)
{
    *out = NULL;
    if (!t) return DC_STATUS_OK;
    DC_TRY(dc_tensor_download(t, host, (size_t)k));
    *out = host;
    return DC_STATUS_OK;
}

dc_status dc_bn_fold(dc_ctx *ctx, dc_tensor *w, dc_tensor *b, const dc_tensor *gamma,
                     const dc_tensor *beta, const dc_tensor *mean, const dc_tensor *var, float eps)
{
    const char *op = "bn_fold";
    if (!w) return DC_FAIL(DC_STATUS_INVALID_ARG, "%s: argument w is missing", op);
    const int k = w->shape[0];
    const size_t per_out = w->numel / (size_t)k;
    if (per_out > INT_MAX)
        return DC_FAIL(DC_STATUS_INVALID_ARG, "%s: w has too many values per output channel", op);
    DC_TRY(dc_tensor_expect(b, op, "b", 1, k, -1, -1, -1));
    DC_TRY(per_channel(gamma, op, "gamma", k));
    DC_TRY(per_channel(beta, op, "beta", k));
    DC_TRY(dc_tensor_expect(mean, op, "mean", 1, k, -1, -1, -1));
    DC_TRY(dc_tensor_expect(var, op, "var", 1, k, -1, -1, -1));
    float *host = malloc((w->numel + 5 * (size_t)k) * sizeof *host);
    if (!host) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "%s: out of host memory for %zu weights", op, w->numel);
    float *hb = host + w->numel, *hg = hb + k, *hbeta = hg + k, *hm = hbeta + k, *hv = hm + k;
    const float *pg, *pbeta;
    dc_status st = dc_tensor_download(w, host, w->numel);
    if (st == DC_STATUS_OK) st = dc_tensor_download(b, hb, (size_t)k);
    if (st == DC_STATUS_OK) st = download_opt(gamma, hg, k, &pg);
    if (st == DC_STATUS_OK) st = download_opt(beta, hbeta, k, &pbeta);
    if (st == DC_STATUS_OK) st = dc_tensor_download(mean, hm, (size_t)k);
    if (st == DC_STATUS_OK) st = dc_tensor_download(var, hv, (size_t)k);
    if (st == DC_STATUS_OK) st = dc_bn_fold_host(k, (int)per_out, host, hb, pg, pbeta, hm, hv, eps);
    if (st == DC_STATUS_OK) st = dc_tensor_upload(w, host, w->numel);
    if (st == DC_STATUS_OK) st = dc_tensor_upload(b, hb, (size_t)k);
    free(host);
    return st;
}
