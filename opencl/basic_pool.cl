/* 2-D max and average pooling with explicit or TF 'SAME' padding, and the global average pool.
 * Tensors are planes of H x W (planes = N * C); window kernels run over (x, y, plane). The window
 * of output (oy, ox) starts at (oy * sh - pt, ox * sw - pl); padded positions are skipped (never
 * a max, not counted in a mean). Backward passes gather: one work-item per input element sums
 * over the windows holding it, so they need no atomics and are deterministic. */

/* Clip the window of output (oy, ox) to the plane: rows [*ya, *yb), columns [*xa, *xb). */
inline void window(int oy, int ox, int H, int W, int kh, int kw, int sh, int sw, int pt, int pl,
                   int *ya, int *yb, int *xa, int *xb)
{
    int y0 = oy * sh - pt, x0 = ox * sw - pl;
    *ya = max(y0, 0);
    *yb = min(y0 + kh, H);
    *xa = max(x0, 0);
    *xb = min(x0 + kw, W);
}

/* Plane index of the window's maximum; ties go to the first in row-major order. */
inline int window_argmax(const __global float *plane, int W, int ya, int yb, int xa, int xb)
{
    int best_i = ya * W + xa;
    float best = plane[best_i];
    for (int y = ya; y < yb; y++)
        for (int x = xa; x < xb; x++) {
            float v = plane[y * W + x];
            if (v > best) {
                best = v;
                best_i = y * W + x;
            }
        }
    return best_i;
}

/* Range [*o0, *o1] of outputs along one axis whose windows hold input position i. */
inline void covering(int i, int k, int s, int pad, int out, int *o0, int *o1)
{
    int lo = i + pad - k + 1;
    *o0 = lo <= 0 ? 0 : (lo + s - 1) / s;
    *o1 = min((i + pad) / s, out - 1);
}

__kernel void maxpool_forward(const __global float *x, __global float *y, int H, int W, int OH,
                              int OW, int kh, int kw, int sh, int sw, int pt, int pl)
{
    int ox = get_global_id(0), oy = get_global_id(1), p = get_global_id(2);
    if (ox >= OW || oy >= OH) return;
    const __global float *plane = x + (size_t)p * H * W;
    int ya, yb, xa, xb;
    window(oy, ox, H, W, kh, kw, sh, sw, pt, pl, &ya, &yb, &xa, &xb);
    y[((size_t)p * OH + oy) * OW + ox] = plane[window_argmax(plane, W, ya, yb, xa, xb)];
}

/* Max-pool backward as scatters without conflicts: each output adds its dy to the first maximum
 * (row-major, the element window_argmax gave the forward) of its window. The outputs are dealt
 * into classes (oy mod cy, ox mod cx) with cy = ceil(kh / sh), cx = ceil(kw / sw), so the windows
 * of one class never overlap and one launch per class needs no atomics; dx starts at zero, and
 * the classes run in a fixed order, so the sums are deterministic. One work-item per output of
 * the class (ay + cy * j, ax + cx * i): the forward's work plus one read-modify-write, where a
 * gather over the inputs costs a work-item per input. */
__kernel void maxpool_backward(const __global float *x, const __global float *dy, __global float *dx,
                               int H, int W, int OH, int OW, int kh, int kw, int sh, int sw, int pt,
                               int pl, int cy, int cx, int ay, int ax)
{
    int ox = ax + cx * (int)get_global_id(0), oy = ay + cy * (int)get_global_id(1), p = get_global_id(2);
    if (ox >= OW || oy >= OH) return;
    const __global float *plane = x + (size_t)p * H * W;
    int ya, yb, xa, xb;
    window(oy, ox, H, W, kh, kw, sh, sw, pt, pl, &ya, &yb, &xa, &xb);
    dx[(size_t)p * H * W + window_argmax(plane, W, ya, yb, xa, xb)] += dy[((size_t)p * OH + oy) * OW + ox];
}

__kernel void avgpool_forward(const __global float *x, __global float *y, int H, int W, int OH,
                              int OW, int kh, int kw, int sh, int sw, int pt, int pl)
{
    int ox = get_global_id(0), oy = get_global_id(1), p = get_global_id(2);
    if (ox >= OW || oy >= OH) return;
    const __global float *plane = x + (size_t)p * H * W;
    int ya, yb, xa, xb;
    window(oy, ox, H, W, kh, kw, sh, sw, pt, pl, &ya, &yb, &xa, &xb);
    float s = 0.0f;
    for (int yy = ya; yy < yb; yy++)
        for (int xx = xa; xx < xb; xx++) s += plane[yy * W + xx];
    y[((size_t)p * OH + oy) * OW + ox] = s / (float)((yb - ya) * (xb - xa));
}

__kernel void avgpool_backward(const __global float *dy, __global float *dx, int H, int W, int OH,
                               int OW, int kh, int kw, int sh, int sw, int pt, int pl)
{
    int ix = get_global_id(0), iy = get_global_id(1), p = get_global_id(2);
    if (ix >= W || iy >= H) return;
    const __global float *dplane = dy + (size_t)p * OH * OW;
    int oy0, oy1, ox0, ox1;
    covering(iy, kh, sh, pt, OH, &oy0, &oy1);
    covering(ix, kw, sw, pl, OW, &ox0, &ox1);
    float g = 0.0f;
    for (int oy = oy0; oy <= oy1; oy++)
        for (int ox = ox0; ox <= ox1; ox++) {
            int ya, yb, xa, xb;
            window(oy, ox, H, W, kh, kw, sh, sw, pt, pl, &ya, &yb, &xa, &xb);
            g += dplane[oy * OW + ox] / (float)((yb - ya) * (xb - xa));
        }
    dx[((size_t)p * H + iy) * W + ix] = g;
}

/* One work-item per plane: the mean of its hw values. */
__kernel void global_avgpool_forward(const __global float *x, __global float *y, int planes, int hw)
{
    int p = get_global_id(0);
    if (p >= planes) return;
    const __global float *plane = x + (size_t)p * hw;
    float s = 0.0f;
    for (int i = 0; i < hw; i++) s += plane[i];
    y[p] = s / (float)hw;
}

__kernel void global_avgpool_backward(const __global float *dy, __global float *dx, int planes,
                                      int hw)
{
    int gid = get_global_id(0);
    if (gid >= planes * hw) return;
    dx[gid] = dy[gid / hw] / (float)hw;
}
