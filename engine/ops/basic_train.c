/* Training ops (opencl/basic_train.cl): softmax cross-entropy and smooth L1 losses with per-row
 * weights, the Gaussian NLL of the property heads (weights per value), clipping by global norm
 * and the momentum SGD update. */
#include <limits.h>
#include <math.h>

#include "ops/ops_basic.h"

#define FILE_CL "basic_train.cl"
#include <stdio.h>

/* Work-group size of the reducing kernels: 64, or the largest power of two below it that the
 * device allows (dc_ctx_group_size); the kernels get it as -DGROUP, so each device's results stay
 * deterministic. Other kernels run in groups of up to 64 items (LOCAL). */
#define GROUP_WANT 64
#define GROUP dc_ctx_group_size(ctx, GROUP_WANT, sizeof(float))
#define LOCAL dc_ctx_group_size(ctx, 64, 0)

static dc_status train_kernel(dc_ctx *ctx, const char *name, cl_kernel *k)
{
    char options[32];
    snprintf(options, sizeof options, "-DGROUP=%zu", GROUP);
    return dc_kernel_get(ctx, FILE_CL, name, options, k);
}

/* What the kernels need besides the buffers. */
typedef struct rows {
    int r, k;            /* rows and values per row */
    int index_targets;   /* targets are class indices [R] */
    cl_mem weights;      /* the weights, or another buffer when has_weights is 0 */
    int has_weights;
} rows;

/* Checks shared by both losses: x [R, K] (named x_name), the weights and norm. */
static dc_status check_rows(const char *op, const dc_tensor *x, const char *x_name,
                            const dc_tensor *weights, float norm, rows *rw)
{
    DC_TRY(dc_tensor_expect(x, op, x_name, 2, -1, -1, -1, -1));
    DC_CHECK_ARG(x->numel <= INT_MAX, "%s: argument %s has %zu elements; at most %d are supported",
                 op, x_name, x->numel, INT_MAX);
    DC_CHECK_ARG(isfinite(norm) && norm > 0.0f,
                 "%s: argument norm is %g; it must be positive (e.g. the number of sampled rows)",
                 op, norm);
    rw->r = x->shape[0];
    rw->k = x->shape[1];
    rw->index_targets = 0;
    rw->has_weights = weights != NULL;
    rw->weights = weights ? weights->buf : x->buf;
    if (weights) DC_TRY(dc_tensor_expect(weights, op, "weights", 1, rw->r, -1, -1, -1));
    return DC_STATUS_OK;
}

static dc_status check_scalar_out(const char *op, const dc_tensor *loss)
{
    DC_CHECK_ARG(loss, "%s: argument loss is missing", op);
    if (loss->numel != 1) {
        char s[96];
        return DC_FAIL(DC_STATUS_SHAPE, "%s: argument loss has shape %s; it must hold one value",
                       op, dc_tensor_shape_str(loss, s, sizeof s));
    }
    return DC_STATUS_OK;
}

/* targets of a cross-entropy: [R, K] distributions or [R] class indices. */
static dc_status check_xent_targets(const char *op, const dc_tensor *targets, rows *rw)
{
    DC_CHECK_ARG(targets, "%s: argument targets is missing", op);
    if (targets->ndim == 1) {
        rw->index_targets = 1;
        return dc_tensor_expect(targets, op, "targets", 1, rw->r, -1, -1, -1);
    }
    return dc_tensor_expect(targets, op, "targets", 2, rw->r, rw->k, -1, -1);
}

/* The four loss kernels take (a, b, weights, R, K, [index_targets,] has_weights, scalar, out),
 * index_targets only in the cross-entropy ones (xent); one launch of `global` items in groups of
 * `local`. */
static dc_status launch_loss(dc_ctx *ctx, const char *name, int xent, cl_mem a, cl_mem b, const rows *rw,
                             float scalar, cl_mem out, size_t global, size_t local)
{
    cl_kernel k;
    DC_TRY(train_kernel(ctx, name, &k));
    cl_uint i = 0;
    DC_TRY(dc_arg_mem(k, name, i++, a));
    DC_TRY(dc_arg_mem(k, name, i++, b));
    DC_TRY(dc_arg_mem(k, name, i++, rw->weights));
    DC_TRY(dc_arg_int(k, name, i++, rw->r));
    DC_TRY(dc_arg_int(k, name, i++, rw->k));
    if (xent) DC_TRY(dc_arg_int(k, name, i++, rw->index_targets));
    DC_TRY(dc_arg_int(k, name, i++, rw->has_weights));
    DC_TRY(dc_arg_float(k, name, i++, scalar));
    DC_TRY(dc_arg_mem(k, name, i++, out));
    return dc_kernel_launch(ctx, k, name, 1, (size_t[]){global}, (size_t[]){local});
}

/* The forward kernels reduce in one group; the backward ones run an item per row (xent) or
 * per value (smooth L1). */
static dc_status launch_softmax_xent_forward(dc_ctx *ctx, cl_mem z, cl_mem t, const rows *rw,
                                             float norm, cl_mem loss)
{
    return launch_loss(ctx, "softmax_xent_forward", 1, z, t, rw, norm, loss, GROUP, GROUP);
}

static dc_status launch_softmax_xent_backward(dc_ctx *ctx, cl_mem z, cl_mem t, const rows *rw,
                                              float scale, cl_mem dz)
{
    return launch_loss(ctx, "softmax_xent_backward", 1, z, t, rw, scale, dz, (size_t)rw->r, LOCAL);
}

static dc_status launch_smooth_l1_forward(dc_ctx *ctx, cl_mem p, cl_mem q, const rows *rw,
                                          float norm, cl_mem loss)
{
    return launch_loss(ctx, "smooth_l1_forward", 0, p, q, rw, norm, loss, GROUP, GROUP);
}

static dc_status launch_smooth_l1_backward(dc_ctx *ctx, cl_mem p, cl_mem q, const rows *rw,
                                           float scale, cl_mem dp)
{
    return launch_loss(ctx, "smooth_l1_backward", 0, p, q, rw, scale, dp, (size_t)rw->r * rw->k, LOCAL);
}

dc_status dc_softmax_xent_forward(dc_ctx *ctx, const dc_tensor *logits, const dc_tensor *targets,
                                  const dc_tensor *weights, float norm, dc_tensor *loss)
{
    static const char *op = "softmax_xent_forward";
    rows rw;
    DC_TRY(check_rows(op, logits, "logits", weights, norm, &rw));
    DC_TRY(check_xent_targets(op, targets, &rw));
    DC_TRY(check_scalar_out(op, loss));
    return launch_softmax_xent_forward(ctx, logits->buf, targets->buf, &rw, norm, loss->buf);
}

dc_status dc_softmax_xent_backward(dc_ctx *ctx, const dc_tensor *logits, const dc_tensor *targets,
                                   const dc_tensor *weights, float norm, float dloss,
                                   dc_tensor *dlogits)
{
    static const char *op = "softmax_xent_backward";
    rows rw;
    DC_TRY(check_rows(op, logits, "logits", weights, norm, &rw));
    DC_TRY(check_xent_targets(op, targets, &rw));
    DC_TRY(dc_tensor_expect(dlogits, op, "dlogits", 2, rw.r, rw.k, -1, -1));
    return launch_softmax_xent_backward(ctx, logits->buf, targets->buf, &rw, dloss / norm,
                                        dlogits->buf);
}

dc_status dc_smooth_l1_forward(dc_ctx *ctx, const dc_tensor *pred, const dc_tensor *target,
                               const dc_tensor *weights, float norm, dc_tensor *loss)
{
    static const char *op = "smooth_l1_forward";
    rows rw;
    DC_TRY(check_rows(op, pred, "pred", weights, norm, &rw));
    DC_TRY(dc_tensor_expect(target, op, "target", 2, rw.r, rw.k, -1, -1));
    DC_TRY(check_scalar_out(op, loss));
    return launch_smooth_l1_forward(ctx, pred->buf, target->buf, &rw, norm, loss->buf);
}

dc_status dc_smooth_l1_backward(dc_ctx *ctx, const dc_tensor *pred, const dc_tensor *target,
                                const dc_tensor *weights, float norm, float dloss,
                                dc_tensor *dpred)
{
    static const char *op = "smooth_l1_backward";
    rows rw;
    DC_TRY(check_rows(op, pred, "pred", weights, norm, &rw));
    DC_TRY(dc_tensor_expect(target, op, "target", 2, rw.r, rw.k, -1, -1));
    DC_TRY(dc_tensor_expect(dpred, op, "dpred", 2, rw.r, rw.k, -1, -1));
    return launch_smooth_l1_backward(ctx, pred->buf, target->buf, &rw, dloss / norm, dpred->buf);
}

/* pred [R, 2K], target [R, K], weights [R, K] or NULL. The kernels take R and K (properties). */
static dc_status check_gauss_nll(const char *op, const dc_tensor *pred, const dc_tensor *target,
                                 const dc_tensor *weights, float norm, rows *rw)
{
    DC_TRY(check_rows(op, pred, "pred", NULL, norm, rw));
    DC_CHECK_ARG(rw->k % 2 == 0, "%s: argument pred has %d columns; it must hold a (mean, log sigma) "
                 "pair per property (an even number)", op, rw->k);
    rw->k /= 2;
    DC_TRY(dc_tensor_expect(target, op, "target", 2, rw->r, rw->k, -1, -1));
    if (weights) DC_TRY(dc_tensor_expect(weights, op, "weights", 2, rw->r, rw->k, -1, -1));
    rw->has_weights = weights != NULL;
    rw->weights = weights ? weights->buf : pred->buf;
    return DC_STATUS_OK;
}

dc_status dc_gauss_nll_forward(dc_ctx *ctx, const dc_tensor *pred, const dc_tensor *target,
                               const dc_tensor *weights, float norm, dc_tensor *loss)
{
    static const char *op = "gauss_nll_forward";
    rows rw;
    DC_TRY(check_gauss_nll(op, pred, target, weights, norm, &rw));
    DC_TRY(check_scalar_out(op, loss));
    return launch_loss(ctx, op, 0, pred->buf, target->buf, &rw, norm, loss->buf, GROUP, GROUP);
}

dc_status dc_gauss_nll_backward(dc_ctx *ctx, const dc_tensor *pred, const dc_tensor *target,
                                const dc_tensor *weights, float norm, float dloss,
                                dc_tensor *dpred)
{
    static const char *op = "gauss_nll_backward";
    rows rw;
    DC_TRY(check_gauss_nll(op, pred, target, weights, norm, &rw));
    DC_TRY(dc_tensor_expect(dpred, op, "dpred", 2, rw.r, 2 * rw.k, -1, -1));
    return launch_loss(ctx, op, 0, pred->buf, target->buf, &rw, dloss / norm, dpred->buf,
                       (size_t)rw.r * rw.k, LOCAL);
}

/* ------------------------------------------------------------------ optimisation */

#define NORM_GROUPS 64 /* most work-groups reducing one tensor's sum of squares */

static dc_status launch_sumsq_partial(dc_ctx *ctx, cl_mem x, int n, cl_mem scratch, int groups)
{
    static const char *name = "sumsq_partial";
    cl_kernel k;
    DC_TRY(train_kernel(ctx, name, &k));
    DC_TRY(dc_arg_mem(k, name, 0, x));
    DC_TRY(dc_arg_int(k, name, 1, n));
    DC_TRY(dc_arg_mem(k, name, 2, scratch));
    size_t global = (size_t)groups * GROUP;
    return dc_kernel_launch(ctx, k, name, 1, &global, (size_t[]){GROUP});
}

static dc_status launch_sumsq_accumulate(dc_ctx *ctx, cl_mem scratch, int groups, int first)
{
    static const char *name = "sumsq_accumulate";
    cl_kernel k;
    DC_TRY(train_kernel(ctx, name, &k));
    DC_TRY(dc_arg_mem(k, name, 0, scratch));
    DC_TRY(dc_arg_int(k, name, 1, groups));
    DC_TRY(dc_arg_int(k, name, 2, first));
    return dc_kernel_launch(ctx, k, name, 1, (size_t[]){GROUP}, (size_t[]){GROUP});
}

static dc_status launch_clip_scale(dc_ctx *ctx, cl_mem x, int n, cl_mem scratch, float clip)
{
    static const char *name = "clip_scale";
    cl_kernel k;
    DC_TRY(train_kernel(ctx, name, &k));
    DC_TRY(dc_arg_mem(k, name, 0, x));
    DC_TRY(dc_arg_int(k, name, 1, n));
    DC_TRY(dc_arg_mem(k, name, 2, scratch));
    DC_TRY(dc_arg_float(k, name, 3, clip));
    return dc_kernel_launch(ctx, k, name, 1, (size_t[]){(size_t)n}, (size_t[]){LOCAL});
}

static dc_status launch_sgd_momentum(dc_ctx *ctx, cl_mem param, cl_mem grad, cl_mem accum, int n,
                                     float lr, float momentum)
{
    static const char *name = "sgd_momentum";
    cl_kernel k;
    DC_TRY(train_kernel(ctx, name, &k));
    DC_TRY(dc_arg_mem(k, name, 0, param));
    DC_TRY(dc_arg_mem(k, name, 1, grad));
    DC_TRY(dc_arg_mem(k, name, 2, accum));
    DC_TRY(dc_arg_int(k, name, 3, n));
    DC_TRY(dc_arg_float(k, name, 4, lr));
    DC_TRY(dc_arg_float(k, name, 5, momentum));
    return dc_kernel_launch(ctx, k, name, 1, (size_t[]){(size_t)n}, (size_t[]){LOCAL});
}

/* A list argument: n >= 1 tensors, none missing, each small enough for int indexing. */
static dc_status check_list(const char *op, const char *name, const dc_tensor *const *ts, int n)
{
    DC_CHECK_ARG(ts && n >= 1, "%s: %s must be a list of at least one tensor, got %d", op, name, n);
    for (int i = 0; i < n; i++) {
        DC_CHECK_ARG(ts[i], "%s: %s[%d] is missing", op, name, i);
        DC_CHECK_ARG(ts[i]->numel <= INT_MAX, "%s: %s[%d] has %zu elements; at most %d are "
                     "supported", op, name, i, ts[i]->numel, INT_MAX);
    }
    return DC_STATUS_OK;
}

/* Enqueue the reduction and the scaling; scratch holds 1 + NORM_GROUPS floats. */
static dc_status clip_enqueue(dc_ctx *ctx, dc_tensor *const *grads, int n, float clip,
                              cl_mem scratch)
{
    for (int i = 0; i < n; i++) {
        int len = (int)grads[i]->numel;
        /* a group per 16384 values, at most NORM_GROUPS: fixed by the size, so deterministic */
        int groups = len / (GROUP * 256) + 1;
        if (groups > NORM_GROUPS) groups = NORM_GROUPS;
        DC_TRY(launch_sumsq_partial(ctx, grads[i]->buf, len, scratch, groups));
        DC_TRY(launch_sumsq_accumulate(ctx, scratch, groups, i == 0));
    }
    if (clip > 0.0f && isfinite(clip))
        for (int i = 0; i < n; i++)
            DC_TRY(launch_clip_scale(ctx, grads[i]->buf, (int)grads[i]->numel, scratch, clip));
    return DC_STATUS_OK;
}

dc_status dc_clip_by_global_norm(dc_ctx *ctx, dc_tensor *const *grads, int n, float clip,
                                 float *global_norm)
{
    static const char *op = "clip_by_global_norm";
    DC_TRY(check_list(op, "grads", (const dc_tensor *const *)grads, n));
    DC_CHECK_ARG(!isnan(clip), "%s: argument clip is NaN", op);
    cl_int err;
    cl_mem scratch = clCreateBuffer(dc_ctx_context(ctx), CL_MEM_READ_WRITE,
                                    (1 + NORM_GROUPS) * sizeof(float), NULL, &err);
    if (err != CL_SUCCESS) return dc_cl_fail(err, "clCreateBuffer", __FILE__, __LINE__);
    dc_status st = clip_enqueue(ctx, grads, n, clip, scratch);
    float sumsq = 0.0f;
    if (st == DC_STATUS_OK && global_norm) {
        err = clEnqueueReadBuffer(dc_ctx_queue(ctx), scratch, CL_TRUE, 0, sizeof sumsq, &sumsq, 0,
                                  NULL, NULL);
        if (err != CL_SUCCESS) st = dc_cl_fail(err, "clEnqueueReadBuffer", __FILE__, __LINE__);
        *global_norm = sqrtf(sumsq);
    }
    clReleaseMemObject(scratch); /* released once the enqueued kernels are done with it */
    return st;
}

dc_status dc_sgd_momentum_step(dc_ctx *ctx, dc_tensor *const *params,
                               const dc_tensor *const *grads, dc_tensor *const *accums, int n,
                               float lr, float momentum)
{
    static const char *op = "sgd_momentum_step";
    DC_TRY(check_list(op, "params", (const dc_tensor *const *)params, n));
    DC_TRY(check_list(op, "grads", grads, n));
    DC_TRY(check_list(op, "accums", (const dc_tensor *const *)accums, n));
    DC_CHECK_ARG(isfinite(lr) && isfinite(momentum),
                 "%s: learning rate %g and momentum %g must be finite", op, lr, momentum);
    for (int i = 0; i < n; i++) {
        char a[96], b[96], c[96];
        if (!dc_tensor_same_shape(params[i], grads[i]) ||
            !dc_tensor_same_shape(params[i], accums[i]))
            return DC_FAIL(DC_STATUS_SHAPE, "%s: params[%d] %s, grads[%d] %s and accums[%d] %s "
                           "must have the same shape", op, i,
                           dc_tensor_shape_str(params[i], a, sizeof a), i,
                           dc_tensor_shape_str(grads[i], b, sizeof b), i,
                           dc_tensor_shape_str(accums[i], c, sizeof c));
    }
    for (int i = 0; i < n; i++)
        DC_TRY(launch_sgd_momentum(ctx, params[i]->buf, grads[i]->buf, accums[i]->buf,
                                   (int)params[i]->numel, lr, momentum));
    return DC_STATUS_OK;
}
