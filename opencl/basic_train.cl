/* Training kernels: the losses, the global gradient norm and the SGD update.
 *
 * Losses are over rows (anchors or ROIs) with per-row weights: softmax cross-entropy and smooth L1;
 * the Gaussian NLL of the property heads has weights per value.
 * A forward is one work-group of GROUP items: item i takes rows i, i + GROUP, ..., and a tree in
 * local memory sums the items' partial sums, so the loss is reduced on the device in a fixed order
 * (deterministic). A row of weight 0 is skipped entirely. Backwards run one item per row. */
#ifndef GROUP
#define GROUP 64
#endif

/* Sum of the GROUP values of red (local memory) after each item stored its own; the result is
 * valid in item 0. */
inline float group_sum(__local float *red, int lid)
{
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = GROUP / 2; s > 0; s >>= 1) {
        if (lid < s) red[lid] += red[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    return red[0];
}

/* log(sum_k exp(z_k)) of one row, stable. */
inline float log_sum_exp(const __global float *z, int K)
{
    float m = z[0];
    for (int k = 1; k < K; k++) m = fmax(m, z[k]);
    float s = 0.0f;
    for (int k = 0; k < K; k++) s += exp(z[k] - m);
    return m + log(s);
}

/* A class-index target: its class, or -1 when it is not an integer in [0, K). */
inline int class_of(float label, int K)
{
    return label >= 0.0f && label < (float)K && label == floor(label) ? (int)label : -1;
}

/* targets: [R, K] distributions, or [R] class indices when index_targets != 0. */
__kernel __attribute__((reqd_work_group_size(GROUP, 1, 1)))
void softmax_xent_forward(const __global float *z, const __global float *t, const __global float *w,
                          int R, int K, int index_targets, int has_weights, float norm,
                          __global float *loss)
{
    __local float red[GROUP];
    int lid = get_local_id(0);
    float acc = 0.0f;
    for (int r = lid; r < R; r += GROUP) {
        float wr = has_weights ? w[r] : 1.0f;
        if (wr == 0.0f) continue;
        const __global float *zr = z + (size_t)r * K;
        float lse = log_sum_exp(zr, K), l = 0.0f;
        if (index_targets) {
            int c = class_of(t[r], K);
            l = c >= 0 ? lse - zr[c] : NAN;
        } else {
            const __global float *tr = t + (size_t)r * K;
            for (int k = 0; k < K; k++) l += tr[k] * (lse - zr[k]);
        }
        acc += wr * l;
    }
    red[lid] = acc;
    float total = group_sum(red, lid);
    if (lid == 0) loss[0] = total / norm;
}

/* dz = scale * w_r * (softmax(z_r) * sum_k t_k - t_r), scale = dloss / norm. */
__kernel void softmax_xent_backward(const __global float *z, const __global float *t,
                                    const __global float *w, int R, int K, int index_targets,
                                    int has_weights, float scale, __global float *dz)
{
    int r = get_global_id(0);
    if (r >= R) return;
    const __global float *zr = z + (size_t)r * K;
    __global float *dr = dz + (size_t)r * K;
    float wr = has_weights ? w[r] : 1.0f;
    if (wr == 0.0f) {
        for (int k = 0; k < K; k++) dr[k] = 0.0f;
        return;
    }
    float lse = log_sum_exp(zr, K), g = scale * wr;
    if (index_targets) {
        int c = class_of(t[r], K);
        for (int k = 0; k < K; k++) dr[k] = g * (exp(zr[k] - lse) - (k == c ? 1.0f : 0.0f));
    } else {
        const __global float *tr = t + (size_t)r * K;
        float tsum = 0.0f;
        for (int k = 0; k < K; k++) tsum += tr[k];
        for (int k = 0; k < K; k++) dr[k] = g * (exp(zr[k] - lse) * tsum - tr[k]);
    }
}

__kernel __attribute__((reqd_work_group_size(GROUP, 1, 1)))
void smooth_l1_forward(const __global float *p, const __global float *q, const __global float *w,
                       int R, int M, int has_weights, float norm, __global float *loss)
{
    __local float red[GROUP];
    int lid = get_local_id(0);
    float acc = 0.0f;
    for (int r = lid; r < R; r += GROUP) {
        float wr = has_weights ? w[r] : 1.0f;
        if (wr == 0.0f) continue;
        float l = 0.0f;
        for (int j = 0; j < M; j++) {
            float d = fabs(p[(size_t)r * M + j] - q[(size_t)r * M + j]);
            l += d < 1.0f ? 0.5f * d * d : d - 0.5f;
        }
        acc += wr * l;
    }
    red[lid] = acc;
    float total = group_sum(red, lid);
    if (lid == 0) loss[0] = total / norm;
}

/* One item per value: dp = scale * w_r * clamp(p - q, -1, 1), scale = dloss / norm. */
__kernel void smooth_l1_backward(const __global float *p, const __global float *q,
                                 const __global float *w, int R, int M, int has_weights,
                                 float scale, __global float *dp)
{
    int i = get_global_id(0);
    if (i >= R * M) return;
    float wr = has_weights ? w[i / M] : 1.0f;
    dp[i] = wr == 0.0f ? 0.0f : scale * wr * clamp(p[i] - q[i], -1.0f, 1.0f);
}

/* Gaussian NLL: p [R, 2K] (mean, log sigma per property), q [R, K], w [R, K] per value. */
__kernel __attribute__((reqd_work_group_size(GROUP, 1, 1)))
void gauss_nll_forward(const __global float *p, const __global float *q, const __global float *w,
                       int R, int K, int has_weights, float norm, __global float *loss)
{
    __local float red[GROUP];
    int lid = get_local_id(0);
    float acc = 0.0f;
    for (int i = lid; i < R * K; i += GROUP) {
        float wi = has_weights ? w[i] : 1.0f;
        if (wi == 0.0f) continue;
        int r = i / K, j = i - r * K;
        float mu = p[(size_t)r * 2 * K + 2 * j], s = p[(size_t)r * 2 * K + 2 * j + 1];
        float d = q[i] - mu;
        acc += wi * (0.5f * d * d * exp(-2.0f * s) + s);
    }
    red[lid] = acc;
    float total = group_sum(red, lid);
    if (lid == 0) loss[0] = total / norm;
}

/* One item per (row, property): writes both of its pred columns; scale = dloss / norm. */
__kernel void gauss_nll_backward(const __global float *p, const __global float *q,
                                 const __global float *w, int R, int K, int has_weights,
                                 float scale, __global float *dp)
{
    int i = get_global_id(0);
    if (i >= R * K) return;
    int r = i / K, j = i - r * K;
    size_t c = (size_t)r * 2 * K + 2 * j;
    float wi = has_weights ? w[i] : 1.0f;
    if (wi == 0.0f) {
        dp[c] = 0.0f;
        dp[c + 1] = 0.0f;
        return;
    }
    float d = q[i] - p[c], e = exp(-2.0f * p[c + 1]), g = scale * wi;
    dp[c] = -g * d * e;
    dp[c + 1] = g * (1.0f - d * d * e);
}

/* ---- global norm: the sum of squares of a list of tensors, reduced in a fixed order.
 * scratch[0] holds the running total over the tensors (launches run in queue order), and
 * scratch[1 + g] the partial sum of group g of the current tensor. */

/* ng groups of GROUP items; item i takes elements i, i + ng * GROUP, ... */
__kernel __attribute__((reqd_work_group_size(GROUP, 1, 1)))
void sumsq_partial(const __global float *x, int n, __global float *scratch)
{
    __local float red[GROUP];
    int lid = get_local_id(0), stride = get_global_size(0);
    float acc = 0.0f;
    for (int i = get_global_id(0); i < n; i += stride) acc += x[i] * x[i];
    red[lid] = acc;
    float total = group_sum(red, lid);
    if (lid == 0) scratch[1 + get_group_id(0)] = total;
}

/* One group: scratch[0] (0 instead when first != 0) + the ng partial sums. */
__kernel __attribute__((reqd_work_group_size(GROUP, 1, 1)))
void sumsq_accumulate(__global float *scratch, int ng, int first)
{
    __local float red[GROUP];
    int lid = get_local_id(0);
    float acc = 0.0f;
    for (int g = lid; g < ng; g += GROUP) acc += scratch[1 + g];
    red[lid] = acc;
    float total = group_sum(red, lid);
    if (lid == 0) scratch[0] = (first ? 0.0f : scratch[0]) + total;
}

/* TF clip_by_global_norm: x *= clip / max(global norm, clip). */
__kernel void clip_scale(__global float *x, int n, const __global float *scratch, float clip)
{
    int i = get_global_id(0);
    if (i < n) x[i] *= clip / fmax(sqrt(scratch[0]), clip);
}

/* TF MomentumOptimizer: accum = momentum * accum + grad; param -= lr * accum. */
__kernel void sgd_momentum(__global float *param, const __global float *grad,
                           __global float *accum, int n, float lr, float momentum)
{
    int i = get_global_id(0);
    if (i >= n) return;
    float a = momentum * accum[i] + grad[i];
    accum[i] = a;
    param[i] -= lr * a;
}
