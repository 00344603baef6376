/* Stateless ops other than convolution: activations and elementwise arithmetic, pooling, channel
 * concat, global average pool, losses, and the SGD update with gradient clipping.
 *
 * Common rules:
 * - Tensors are NCHW float32 on the device; every op checks shapes and fails with DC_STATUS_SHAPE
 *   (or DC_STATUS_INVALID_ARG for scalars and lists) naming the op and the argument.
 * - Outputs are provided by the caller and overwritten (backward passes too: a gradient is written,
 *   not accumulated; accumulate with dc_add_forward).
 * - Every op is deterministic: a result depends only on the inputs, never on scheduling (backward
 *   passes gather instead of scattering with atomics; reductions have a fixed order).
 * - Ops only enqueue work; results are ready after a download or dc_ctx_finish. */
#ifndef DC_OPS_BASIC_H
#define DC_OPS_BASIC_H

#include "tensor.h"

/* ------------------------------------------------------------------ elementwise */

/* y = max(x, 0). y has x's shape; y may be x (in place). */
dc_status dc_relu_forward(dc_ctx *ctx, const dc_tensor *x, dc_tensor *y);
/* dx = dy where ref > 0, else 0. ref is either the forward input x or its output y (both are
 * positive at the same places). dx may be dy (in place). At x == 0 the gradient is 0 (as in TF). */
dc_status dc_relu_backward(dc_ctx *ctx, const dc_tensor *ref, const dc_tensor *dy, dc_tensor *dx);

/* y = a + b, all three of the same shape; y may be a or b (gradient accumulation: y = a).
 * The backward of an add passes dy unchanged to both inputs. */
dc_status dc_add_forward(dc_ctx *ctx, const dc_tensor *a, const dc_tensor *b, dc_tensor *y);
/* y = alpha * x, same shape; y may be x. Its backward is dc_scale_forward(dy, alpha). */
dc_status dc_scale_forward(dc_ctx *ctx, const dc_tensor *x, float alpha, dc_tensor *y);

/* ------------------------------------------------------------------ 2-D pooling */

/* Window geometry of a max or average pool. With same = 1 the padding is TensorFlow's 'SAME':
 * output size ceil(in / stride), total padding max((out - 1) * stride + kernel - in, 0) of which
 * floor(total / 2) goes before (top/left) and the rest after; pad_h/pad_w are then ignored.
 * With same = 0 the padding is pad_h/pad_w on both sides (0 is TF's 'VALID') and the output size
 * floor((in + 2 * pad - kernel) / stride) + 1; a pad must be smaller than its kernel.
 * Padded positions never win a max, and an average divides by the number of real (non-padded)
 * elements of its window (TF's avg_pool with 'SAME'). */
typedef struct dc_pool2d_params {
    int kernel_h, kernel_w;
    int stride_h, stride_w;
    int pad_h, pad_w;
    int same;
} dc_pool2d_params;

/* Output height and width for an input of h x w; DC_STATUS_INVALID_ARG names a bad parameter
 * (non-positive kernel or stride, negative pad, pad >= kernel) or a window larger than the
 * padded input. */
dc_status dc_pool2d_out_size(const dc_pool2d_params *p, int h, int w, int *out_h, int *out_w);

/* x [N, C, H, W] -> y [N, C, OH, OW]. */
dc_status dc_maxpool_forward(dc_ctx *ctx, const dc_tensor *x, dc_tensor *y,
                             const dc_pool2d_params *p);
/* dx (x's shape) from dy (y's shape). Each output's gradient goes to the argmax of its window:
 * the first element (row-major) equal to the maximum, which is the one the forward took (for
 * inputs without NaN). Two passes: the windows' argmax into a temporary device buffer (one int
 * per output), then a gather over the inputs. */
dc_status dc_maxpool_backward(dc_ctx *ctx, const dc_tensor *x, const dc_tensor *dy, dc_tensor *dx,
                              const dc_pool2d_params *p);
/* The same, given also y, the output of dc_maxpool_forward(x) (its shape is checked; the argmax
 * pass reads x). */
dc_status dc_maxpool_backward_given_y(dc_ctx *ctx, const dc_tensor *x, const dc_tensor *y,
                                      const dc_tensor *dy, dc_tensor *dx,
                                      const dc_pool2d_params *p);
dc_status dc_avgpool_forward(dc_ctx *ctx, const dc_tensor *x, dc_tensor *y,
                             const dc_pool2d_params *p);
/* dx [N, C, H, W] from dy [N, C, OH, OW]: each output's gradient spread evenly over the real
 * elements of its window. */
dc_status dc_avgpool_backward(dc_ctx *ctx, const dc_tensor *dy, dc_tensor *dx,
                              const dc_pool2d_params *p);

/* Spatial mean: x [N, C, H, W] -> y [N, C, 1, 1] or [N, C]. */
dc_status dc_global_avgpool_forward(dc_ctx *ctx, const dc_tensor *x, dc_tensor *y);
/* dx [N, C, H, W] = dy[n, c] / (H * W). */
dc_status dc_global_avgpool_backward(dc_ctx *ctx, const dc_tensor *dy, dc_tensor *dx);

/* ------------------------------------------------------------------ channel concat */

/* Concatenate n >= 1 tensors along dimension 1 (channels): each xs[i] has y's shape except in
 * dimension 1, and the channel counts add up to y's. */
dc_status dc_concat_forward(dc_ctx *ctx, const dc_tensor *const *xs, int n, dc_tensor *y);
/* Split dy into the slices dxs[i] (the shapes of the forward inputs). */
dc_status dc_concat_backward(dc_ctx *ctx, const dc_tensor *dy, dc_tensor *const *dxs, int n);

/* ------------------------------------------------------------------ losses
 * Rows are anchors or ROIs. weights [R] (NULL: all 1) scale each row; weight 0 ignores a row
 * entirely (its targets are not read and its gradient is 0). The loss is
 * sum_r weights[r] * loss_r / norm, norm > 0 (e.g. the number of sampled rows), written to the
 * one-element device tensor `loss`. The backward writes d(dloss * loss)/d(input): dloss is the
 * upstream gradient of the scalar, i.e. the weight of this loss in the total. */

/* logits [R, K]; targets either [R, K] (a distribution per row, e.g. one-hot) or [R] (class
 * indices stored as floats). loss_r = -sum_k t_k log softmax(logits_r)_k. A class index outside
 * [0, K) on a row of non-zero weight makes the loss NaN. */
dc_status dc_softmax_xent_forward(dc_ctx *ctx, const dc_tensor *logits, const dc_tensor *targets,
                                  const dc_tensor *weights, float norm, dc_tensor *loss);
/* dlogits [R, K] = dloss * weights[r] / norm * (softmax(logits_r) * sum_k t_k - t). */
dc_status dc_softmax_xent_backward(dc_ctx *ctx, const dc_tensor *logits, const dc_tensor *targets,
                                   const dc_tensor *weights, float norm, float dloss,
                                   dc_tensor *dlogits);

/* pred, target [R, M] (M = 4 box values); loss_r = sum_j huber(pred - target) with delta 1:
 * 0.5 d^2 for |d| < 1, |d| - 0.5 otherwise. */
dc_status dc_smooth_l1_forward(dc_ctx *ctx, const dc_tensor *pred, const dc_tensor *target,
                               const dc_tensor *weights, float norm, dc_tensor *loss);
/* dpred [R, M] = dloss * weights[r] / norm * clamp(pred - target, -1, 1). */
dc_status dc_smooth_l1_backward(dc_ctx *ctx, const dc_tensor *pred, const dc_tensor *target,
                                const dc_tensor *weights, float norm, float dloss,
                                dc_tensor *dpred);

/* Gaussian negative log-likelihood of K properties per row (the detector's property heads):
 * pred [R, 2K] holds per property j a mean mu = pred[r, 2j] and a log standard deviation
 * s = pred[r, 2j + 1]; target [R, K]; weights [R, K] (NULL: all 1) are PER VALUE, so a row may
 * train one property and not another; weight 0 ignores a value (its target is not read, NaN
 * allowed, and its gradient is 0). loss = sum_{r,j} w_rj (0.5 (t - mu)^2 exp(-2 s) + s) / norm
 * (the constant 0.5 log 2 pi left out). */
dc_status dc_gauss_nll_forward(dc_ctx *ctx, const dc_tensor *pred, const dc_tensor *target,
                               const dc_tensor *weights, float norm, dc_tensor *loss);
/* dpred [R, 2K] = dloss w / norm * ((mu - t) exp(-2 s), 1 - (t - mu)^2 exp(-2 s)). */
dc_status dc_gauss_nll_backward(dc_ctx *ctx, const dc_tensor *pred, const dc_tensor *target,
                                const dc_tensor *weights, float norm, float dloss,
                                dc_tensor *dpred);

/* ------------------------------------------------------------------ optimisation */

/* TF clip_by_global_norm, in place: global_norm = sqrt(sum over all grads of g^2), then every
 * grad *= clip / max(global_norm, clip). clip <= 0 or infinite only measures the norm. The norm
 * is reduced on the device in a fixed order; *global_norm (may be NULL: then the call does not
 * wait for the device) receives it. */
dc_status dc_clip_by_global_norm(dc_ctx *ctx, dc_tensor *const *grads, int n, float clip,
                                 float *global_norm);
/* TF MomentumOptimizer (no Nesterov) on n parameter tensors, in place:
 * accum = momentum * accum + grad; param -= lr * accum. grads[i] and accums[i] have params[i]'s
 * shape; accumulators start at zero (the caller fills them). */
dc_status dc_sgd_momentum_step(dc_ctx *ctx, dc_tensor *const *params,
                               const dc_tensor *const *grads, dc_tensor *const *accums, int n,
                               float lr, float momentum);

#endif
