/* im2col and its adjoint col2im for 2-D convolution of G consecutive NCHW images.
 *
 * cols is [C*KH*KW, G*OH*OW] with leading dimension LD >= G*OH*OW: row (c*KH + ki)*KW + kj,
 * column (g*OH + oh)*OW + ow holds x[g, c, oh*SH - PT + ki, ow*SW - PL + kj] (0 outside the
 * image), so one SGEMM W[K, C*KH*KW] x cols gives the outputs of all G images at once. LD larger
 * than the columns is the tile-padded layout of engine/ops/gemm.c (im2col leaves the padding to
 * gemm_pad_zero). x and dx point at the first image (x_off / dx_off floats into the buffer).
 *
 * Each comes in two variants with the same arguments, chosen by the host per device type:
 * - *_rows for CPUs: one work item per row segment, a plain loop along it (divisions once per
 *   row, contiguous runs that vectorise); 4 to 10 times faster than the others under PoCL.
 * - *_pixel for GPUs: one work item per output pixel (im2col, looping over the kernel window as
 *   Caffe does) or per input pixel (col2im, gathering), so that neighbouring work items touch
 *   neighbouring addresses.
 * col2im never scatters across work items (each owns its outputs): no atomics, and the terms of
 * every dx value are added in the same (ki, kj) order, so the result is deterministic.
 *
 * The GEMM over G images yields [K, G, S] (S = OH*OW); conv_cgs_to_nchw turns it into NCHW (adding
 * the bias on the way) and conv_nchw_to_cgs does the reverse for the gradients. */

/* The ow range [lo, hi) whose column w = ow*SW + w0 lies inside [0, W). */
void ow_range(const int w0, const int W, const int SW, const int OW, int *lo, int *hi)
{
    int a = w0 >= 0 ? 0 : (-w0 + SW - 1) / SW;
    int b = W - 1 - w0 >= 0 ? (W - 1 - w0) / SW + 1 : 0;
    if (b > OW) b = OW;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

/* Global range (G*OH, C*KH*KW): one item per (image row oh, column-matrix row). */
__kernel void im2col_rows(__global const float *x, const int x_off, const int C, const int H,
                          const int W, const int KH, const int KW, const int SH, const int SW,
                          const int PT, const int PL, const int OH, const int OW, const int G,
                          __global float *cols, const int LD)
{
    const int goh = get_global_id(0); /* g * OH + oh */
    const int row = get_global_id(1); /* (c * KH + ki) * KW + kj */
    if (goh >= G * OH || row >= C * KH * KW) return;
    const int g = goh / OH, oh = goh - g * OH;
    const int kj = row % KW, ki = (row / KW) % KH, c = row / (KW * KH);
    const int h = oh * SH - PT + ki;
    __global float *out = cols + (size_t)row * LD + goh * OW;
    int lo = 0, hi = 0;
    if (h >= 0 && h < H) ow_range(kj - PL, W, SW, OW, &lo, &hi);
    const int base = x_off + ((g * C + c) * H + h) * W + kj - PL; /* x index of ow = 0 */
    for (int ow = 0; ow < lo; ow++) out[ow] = 0.0f;
    for (int ow = lo; ow < hi; ow++) out[ow] = x[base + ow * SW];
    for (int ow = hi; ow < OW; ow++) out[ow] = 0.0f;
}

/* Global range (OW, G*OH, C): one item per output pixel and input channel. */
__kernel void im2col_pixel(__global const float *x, const int x_off, const int C, const int H,
                           const int W, const int KH, const int KW, const int SH, const int SW,
                           const int PT, const int PL, const int OH, const int OW, const int G,
                           __global float *cols, const int LD)
{
    const int ow = get_global_id(0);
    const int goh = get_global_id(1);
    const int c = get_global_id(2);
    if (ow >= OW || goh >= G * OH || c >= C) return;
    const int g = goh / OH, oh = goh - g * OH;
    const size_t ncols = LD;
    __global float *out = cols + (size_t)c * KH * KW * ncols + goh * OW + ow;
    __global const float *in = x + x_off + (g * C + c) * H * W;
    for (int ki = 0; ki < KH; ki++) {
        const int h = oh * SH - PT + ki;
        for (int kj = 0; kj < KW; kj++) {
            const int w = ow * SW - PL + kj;
            *out = h >= 0 && h < H && w >= 0 && w < W ? in[h * W + w] : 0.0f;
            out += ncols;
        }
    }
}

/* dx[g, c, h, w] (+)= the sum of dcols over every (ki, kj, oh, ow) that im2col read (c, h, w)
 * from. Global range (G*H, C): one item per input row. */
__kernel void col2im_rows(__global const float *dcols, const int C, const int H, const int W,
                          const int KH, const int KW, const int SH, const int SW, const int PT,
                          const int PL, const int OH, const int OW, const int G,
                          __global float *dx, const int dx_off, const int accumulate,
                          const int LD)
{
    const int gh = get_global_id(0); /* g * H + h */
    const int c = get_global_id(1);
    if (gh >= G * H || c >= C) return;
    const int g = gh / H, h = gh - g * H;
    const size_t ncols = LD;
    __global float *out = dx + dx_off + ((g * C + c) * H + h) * W;
    if (!accumulate)
        for (int w = 0; w < W; w++) out[w] = 0.0f;
    for (int ki = 0; ki < KH; ki++) {
        const int ty = h + PT - ki; /* = oh * SH */
        if (ty < 0 || ty % SH) continue;
        const int oh = ty / SH;
        if (oh >= OH) continue;
        for (int kj = 0; kj < KW; kj++) {
            __global const float *src =
                dcols + (size_t)((c * KH + ki) * KW + kj) * ncols + (g * OH + oh) * OW;
            int lo, hi;
            ow_range(kj - PL, W, SW, OW, &lo, &hi);
            for (int ow = lo; ow < hi; ow++) out[ow * SW + kj - PL] += src[ow]; /* w in [0, W) */
        }
    }
}

/* Global range (W, G*H, C): one item per input value, gathering its terms. */
__kernel void col2im_pixel(__global const float *dcols, const int C, const int H, const int W,
                           const int KH, const int KW, const int SH, const int SW, const int PT,
                           const int PL, const int OH, const int OW, const int G,
                           __global float *dx, const int dx_off, const int accumulate,
                           const int LD)
{
    const int w = get_global_id(0);
    const int gh = get_global_id(1);
    const int c = get_global_id(2);
    if (w >= W || gh >= G * H || c >= C) return;
    const int g = gh / H, h = gh - g * H;
    const size_t ncols = LD;
    float s = 0.0f;
    for (int ki = 0; ki < KH; ki++) {
        const int ty = h + PT - ki;
        if (ty < 0 || ty % SH) continue;
        const int oh = ty / SH;
        if (oh >= OH) continue;
        for (int kj = 0; kj < KW; kj++) {
            const int tx = w + PL - kj;
            if (tx < 0 || tx % SW) continue;
            const int ow = tx / SW;
            if (ow >= OW) continue;
            s += dcols[(size_t)((c * KH + ki) * KW + kj) * ncols + (g * OH + oh) * OW + ow];
        }
    }
    const int i = dx_off + ((g * C + c) * H + h) * W + w;
    dx[i] = accumulate ? dx[i] + s : s;
}

/* y[g, c, s] = t[c, g*S + s] + (has_bias ? b[c] : 0) for G images of C channels, t with leading
 * dimension LD >= G*S; y starts at y_off. */
__kernel void conv_cgs_to_nchw(__global const float *t, const int C, const int G, const int S,
                               __global const float *b, const int has_bias, __global float *y,
                               const int y_off, const int LD)
{
    const int s = get_global_id(0), c = get_global_id(1), g = get_global_id(2);
    if (s >= S || c >= C || g >= G) return;
    const float v = t[(size_t)c * LD + g * S + s];
    y[y_off + ((g * C + c) * S) + s] = has_bias ? v + b[c] : v;
}

/* t[c, g*S + s] = y[g, c, s]: the inverse of conv_cgs_to_nchw without bias, into t [RP, LD]
 * (RP >= C, LD >= G*S) with zeros in the padding. Global range (LD, RP). */
__kernel void conv_nchw_to_cgs(__global const float *y, const int y_off, const int C, const int G,
                               const int S, __global float *t, const int LD, const int RP)
{
    const int j = get_global_id(0), c = get_global_id(1);
    if (j >= LD || c >= RP) return;
    const int g = j / S, s = j - g * S;
    t[(size_t)c * LD + j] = c < C && g < G ? y[y_off + ((g * C + c) * S) + s] : 0.0f;
}
