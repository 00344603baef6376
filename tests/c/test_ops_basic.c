/* The basic ops of engine/ops/ops_basic.h (elementwise, pooling, global average pool, concat,
 * losses) against plain C references computed in double, on random shapes including odd sizes.
 *
 * Comparisons use the max-norm relative error: max_i |got_i - want_i| <= rel * max_i |want_i|.
 * Forward bounds: 0 (exact) where the device does the same single float operation as the
 * reference (ReLU, max, add, scale, copies), 1e-5 for means and per-row losses, 1e-4 for losses
 * summed over hundreds of rows in float.
 * Every backward is checked by central finite differences (step 1e-4 .. 1e-3) of the double
 * reference forward, L(x) = sum_j dy_j * f(x)_j with a random dy: the device gradient must match
 * the numeric one within 1e-4 (relative, max-norm). Inputs keep away from kinks (ReLU at 0, ties
 * of a max, |d| = 1 of smooth L1) so the difference quotient is exact up to rounding. */
#include "dc_test.h"
#include "ops/ops_basic.h"

static dc_ctx *ctx;
static dc_rng rng;

#define FD_REL 1e-4

static void must(dc_status st)
{
    if (st != DC_STATUS_OK) {
        fprintf(stderr, "setup failed: %s\n", dc_error_message());
        exit(2);
    }
}

static dc_tensor *tensor(int ndim, const int *shape)
{
    dc_tensor *t;
    must(dc_tensor_new(ctx, ndim, shape, &t));
    return t;
}

static dc_tensor *tensor_from(int ndim, const int *shape, const float *host)
{
    dc_tensor *t = tensor(ndim, shape);
    must(dc_tensor_upload(t, host, t->numel));
    return t;
}

static float *host_of(const dc_tensor *t)
{
    float *h = malloc(t->numel * sizeof *h);
    must(dc_tensor_download(t, h, t->numel));
    return h;
}

static float *random_floats(size_t n, double lo, double hi)
{
    float *a = malloc(n * sizeof *a);
    for (size_t i = 0; i < n; i++) a[i] = (float)(lo + (hi - lo) * dc_rng_uniform(&rng));
    return a;
}

static double *to_double(const float *a, size_t n)
{
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = a[i];
    return d;
}

/* max |got - want| <= rel * max |want| (rel 0: bit-exact). */
static void check_near(const char *what, const float *got, const double *want, size_t n, double rel)
{
    double err = 0.0, scale = 0.0;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(got[i] - want[i]);
        if (e > err || (e != e)) {
            err = e;
            worst = i;
        }
        if (fabs(want[i]) > scale) scale = fabs(want[i]);
    }
    CHECK(err <= rel * scale, "%s: max error %.3g at %zu (got %.9g, want %.9g), bound %.3g x %.3g",
          what, err, worst, got[worst], want[worst], rel, scale);
}

/* Central differences of loss at x (restored afterwards). */
typedef double (*loss_fn)(const double *x, const void *ud);
static double *numeric_grad(loss_fn f, const void *ud, double *x, size_t n, double eps)
{
    double *g = malloc(n * sizeof *g);
    for (size_t i = 0; i < n; i++) {
        double keep = x[i];
        x[i] = keep + eps;
        double lp = f(x, ud);
        x[i] = keep - eps;
        double lm = f(x, ud);
        x[i] = keep;
        g[i] = (lp - lm) / (2 * eps);
    }
    return g;
}

/* ------------------------------------------------------------------ elementwise */

typedef struct { const double *dy; size_t n; } relu_ud;
static double relu_loss(const double *x, const void *ud)
{
    const relu_ud *u = ud;
    double s = 0.0;
    for (size_t i = 0; i < u->n; i++) s += u->dy[i] * (x[i] > 0 ? x[i] : 0.0);
    return s;
}

static void test_elementwise(int ndim, const int *shape)
{
    dc_tensor *x = tensor(ndim, shape);
    size_t n = x->numel;
    /* |x| >= 0.01 keeps the finite differences off the kink at 0 */
    float *hx = random_floats(n, -1, 1), *hdy = random_floats(n, -1, 1), *hb = random_floats(n, -2, 2);
    for (size_t i = 0; i < n; i++)
        if (fabsf(hx[i]) < 0.01f) hx[i] += hx[i] < 0 ? -0.01f : 0.01f;
    must(dc_tensor_upload(x, hx, n));
    dc_tensor *y = tensor(ndim, shape), *dy = tensor_from(ndim, shape, hdy), *dx = tensor(ndim, shape);
    dc_tensor *b = tensor_from(ndim, shape, hb);
    double *want = calloc(n, sizeof *want), *dyd = to_double(hdy, n);

    CHECK_OK(dc_relu_forward(ctx, x, y));
    float *got = host_of(y);
    for (size_t i = 0; i < n; i++) want[i] = hx[i] > 0 ? hx[i] : 0.0;
    check_near("relu_forward", got, want, n, 0);
    free(got);

    /* backward from the input and from the output give the same mask */
    for (size_t i = 0; i < n; i++) want[i] = hx[i] > 0 ? hdy[i] : 0.0;
    CHECK_OK(dc_relu_backward(ctx, x, dy, dx));
    got = host_of(dx);
    check_near("relu_backward(x)", got, want, n, 0);
    free(got);
    CHECK_OK(dc_relu_backward(ctx, y, dy, dx));
    got = host_of(dx);
    check_near("relu_backward(y)", got, want, n, 0);
    free(got);
    double *xd = to_double(hx, n);
    relu_ud u = {dyd, n};
    double *num = numeric_grad(relu_loss, &u, xd, n, 1e-3);
    got = host_of(dx);
    check_near("relu_backward vs finite differences", got, num, n, FD_REL);
    free(got);
    free(num);

    /* add, scale and their in-place forms */
    CHECK_OK(dc_add_forward(ctx, x, b, y));
    got = host_of(y);
    for (size_t i = 0; i < n; i++) want[i] = (float)(hx[i] + hb[i]);
    check_near("add_forward", got, want, n, 0);
    free(got);
    CHECK_OK(dc_scale_forward(ctx, x, -0.375f, y));
    got = host_of(y);
    for (size_t i = 0; i < n; i++) want[i] = (float)(-0.375f * hx[i]);
    check_near("scale_forward", got, want, n, 0);
    free(got);
    CHECK_OK(dc_add_forward(ctx, y, b, y)); /* accumulate: y = -0.375 x + b */
    got = host_of(y);
    for (size_t i = 0; i < n; i++) want[i] = (float)((float)(-0.375f * hx[i]) + hb[i]);
    check_near("add_forward in place", got, want, n, 0);
    free(got);
    CHECK_OK(dc_relu_forward(ctx, x, x));
    got = host_of(x);
    for (size_t i = 0; i < n; i++) want[i] = hx[i] > 0 ? hx[i] : 0.0;
    check_near("relu_forward in place", got, want, n, 0);
    free(got);

    free(hx), free(hdy), free(hb), free(want), free(dyd), free(xd);
    dc_tensor_free(x), dc_tensor_free(y), dc_tensor_free(dy), dc_tensor_free(dx), dc_tensor_free(b);
}

static void test_elementwise_errors(void)
{
    dc_tensor *a = tensor(2, (int[]){3, 4}), *b = tensor(2, (int[]){4, 3}), *c = tensor(1, (int[]){12});
    CHECK_FAILS(dc_relu_forward(ctx, a, b), DC_STATUS_SHAPE, "relu_forward: argument y");
    CHECK_FAILS(dc_relu_backward(ctx, a, c, a), DC_STATUS_SHAPE, "relu_backward: argument dy");
    CHECK_FAILS(dc_add_forward(ctx, a, a, b), DC_STATUS_SHAPE, "add_forward: argument y");
    CHECK_FAILS(dc_scale_forward(ctx, a, 2.0f, c), DC_STATUS_SHAPE, "scale_forward: argument y");
    CHECK_FAILS(dc_relu_forward(ctx, a, NULL), DC_STATUS_INVALID_ARG, "relu_forward");
    dc_tensor_free(a), dc_tensor_free(b), dc_tensor_free(c);
}

/* ------------------------------------------------------------------ pooling */

/* The reference's own geometry (TF's formulas, written independently of the op). */
static void ref_axis(int in, int k, int s, int pad, int same, int *out, int *lead)
{
    if (same) {
        *out = (in + s - 1) / s;
        int total = (*out - 1) * s + k - in;
        *lead = total > 0 ? total / 2 : 0;
    } else {
        *out = (in + 2 * pad - k) / s + 1;
        *lead = pad;
    }
}

typedef struct {
    int planes, h, w, oh, ow, pt, pl;
    dc_pool2d_params p;
    int is_max;
    const double *dy;
} pool_ref_t;

static void pool_ref(const pool_ref_t *r, const double *x, double *y)
{
    const dc_pool2d_params *p = &r->p;
    for (int c = 0; c < r->planes; c++)
        for (int oy = 0; oy < r->oh; oy++)
            for (int ox = 0; ox < r->ow; ox++) {
                double best = 0.0, sum = 0.0;
                int count = 0;
                for (int ky = 0; ky < p->kernel_h; ky++)
                    for (int kx = 0; kx < p->kernel_w; kx++) {
                        int iy = oy * p->stride_h - r->pt + ky, ix = ox * p->stride_w - r->pl + kx;
                        if (iy < 0 || iy >= r->h || ix < 0 || ix >= r->w) continue;
                        double v = x[((size_t)c * r->h + iy) * r->w + ix];
                        if (count == 0 || v > best) best = v;
                        sum += v;
                        count++;
                    }
                y[((size_t)c * r->oh + oy) * r->ow + ox] = r->is_max ? best : sum / count;
            }
}

static double pool_loss(const double *x, const void *ud)
{
    const pool_ref_t *r = ud;
    size_t n = (size_t)r->planes * r->oh * r->ow;
    double *y = malloc(n * sizeof *y), s = 0.0;
    pool_ref(r, x, y);
    for (size_t i = 0; i < n; i++) s += r->dy[i] * y[i];
    free(y);
    return s;
}

/* Distinct values (a shuffled ramp with steps of 0.01, shifted by offset) keep a max away from
 * ties, so the finite differences never cross a switch of the argmax. */
static float *distinct_floats(size_t n, double offset)
{
    float *a = malloc(n * sizeof *a);
    for (size_t i = 0; i < n; i++) a[i] = (float)(0.01 * (double)i + offset);
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = dc_rng_below(&rng, (uint32_t)(i + 1));
        float t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
    return a;
}

static void test_pool(int N, int C, int H, int W, dc_pool2d_params p, int is_max, double offset)
{
    char what[160];
    snprintf(what, sizeof what, "%s [%d,%d,%d,%d] k%dx%d s%dx%d %s pad %d,%d",
             is_max ? "maxpool" : "avgpool", N, C, H, W, p.kernel_h, p.kernel_w, p.stride_h,
             p.stride_w, p.same ? "SAME" : "explicit", p.pad_h, p.pad_w);
    pool_ref_t r = {.planes = N * C, .h = H, .w = W, .p = p, .is_max = is_max};
    ref_axis(H, p.kernel_h, p.stride_h, p.pad_h, p.same, &r.oh, &r.pt);
    ref_axis(W, p.kernel_w, p.stride_w, p.pad_w, p.same, &r.ow, &r.pl);
    int oh, ow;
    CHECK_OK(dc_pool2d_out_size(&p, H, W, &oh, &ow));
    CHECK(oh == r.oh && ow == r.ow, "%s: output size %dx%d, reference %dx%d", what, oh, ow, r.oh, r.ow);

    size_t n = (size_t)N * C * H * W, m = (size_t)N * C * r.oh * r.ow;
    float *hx = distinct_floats(n, offset), *hdy = random_floats(m, -1, 1);
    double *xd = to_double(hx, n), *dyd = to_double(hdy, m), *want = malloc(m * sizeof *want);
    r.dy = dyd;
    dc_tensor *x = tensor_from(4, (int[]){N, C, H, W}, hx), *dx = tensor(4, (int[]){N, C, H, W});
    dc_tensor *y = tensor(4, (int[]){N, C, r.oh, r.ow}), *dy = tensor_from(4, (int[]){N, C, r.oh, r.ow}, hdy);

    CHECK_OK((is_max ? dc_maxpool_forward : dc_avgpool_forward)(ctx, x, y, &p));
    float *got = host_of(y);
    pool_ref(&r, xd, want);
    check_near(what, got, want, m, is_max ? 0 : 1e-5);
    free(got);

    if (is_max) CHECK_OK(dc_maxpool_backward_given_y(ctx, x, y, dy, dx, &p));
    else CHECK_OK(dc_avgpool_backward(ctx, dy, dx, &p));
    got = host_of(dx);
    double *num = numeric_grad(pool_loss, &r, xd, n, 1e-3);
    strncat(what, " backward vs finite differences", sizeof what - strlen(what) - 1);
    check_near(what, got, num, n, FD_REL);
    free(got);
    if (is_max) { /* without y: the same result */
        must(dc_tensor_fill(dx, -7.0f));
        CHECK_OK(dc_maxpool_backward(ctx, x, dy, dx, &p));
        got = host_of(dx);
        check_near(what, got, num, n, FD_REL);
        free(got);
    }
    free(num);

    free(hx), free(hdy), free(xd), free(dyd), free(want);
    dc_tensor_free(x), dc_tensor_free(dx), dc_tensor_free(y), dc_tensor_free(dy);
}

/* Hand-made cases: TF's averaging over real elements only, and the tie rule of the max. */
static void test_pool_hand(void)
{
    /* 3x3 s1 SAME average of [[1,2],[3,4]]: every window covers all four real values, so every
     * output is 10/4 = 2.5 (dividing by 9 would give 1.11) */
    dc_pool2d_params s1 = {3, 3, 1, 1, 0, 0, 1};
    dc_tensor *x = tensor_from(4, (int[]){1, 1, 2, 2}, (float[]){1, 2, 3, 4});
    dc_tensor *y = tensor(4, (int[]){1, 1, 2, 2});
    CHECK_OK(dc_avgpool_forward(ctx, x, y, &s1));
    float h[4];
    must(dc_tensor_download(y, h, 4));
    CHECK(h[0] == 2.5f && h[1] == 2.5f && h[2] == 2.5f && h[3] == 2.5f, "SAME avg %g %g %g %g",
          h[0], h[1], h[2], h[3]);
    /* max of all-negative values with SAME padding: padding must not win (it would give 0) */
    must(dc_tensor_upload(x, (float[]){-4, -3, -2, -1}, 4));
    CHECK_OK(dc_maxpool_forward(ctx, x, y, &s1));
    must(dc_tensor_download(y, h, 4));
    CHECK(h[0] == -1 && h[1] == -1 && h[2] == -1 && h[3] == -1, "SAME max %g %g %g %g", h[0], h[1],
          h[2], h[3]);
    /* ties: 2x2 s2 on a plane of equal values routes each gradient to the window's top-left */
    dc_pool2d_params k2 = {2, 2, 2, 2, 0, 0, 0};
    dc_tensor *x4 = tensor(4, (int[]){1, 1, 4, 4}), *dx4 = tensor(4, (int[]){1, 1, 4, 4});
    dc_tensor *dy2 = tensor_from(4, (int[]){1, 1, 2, 2}, (float[]){1, 2, 3, 4});
    dc_tensor *y2 = tensor(4, (int[]){1, 1, 2, 2});
    must(dc_tensor_fill(x4, 0.5f));
    CHECK_OK(dc_maxpool_forward(ctx, x4, y2, &k2));
    CHECK_OK(dc_maxpool_backward_given_y(ctx, x4, y2, dy2, dx4, &k2));
    float g[16];
    must(dc_tensor_download(dx4, g, 16));
    const float want[16] = {1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0};
    CHECK(memcmp(g, want, sizeof g) == 0, "tie rule: gradient not at the first maximum");
    CHECK_OK(dc_maxpool_backward(ctx, x4, dy2, dx4, &k2));
    must(dc_tensor_download(dx4, g, 16));
    CHECK(memcmp(g, want, sizeof g) == 0, "tie rule without y: gradient not at the first maximum");
    /* overlapping 3x3 s1 windows on a plane of equal values: each window's gradient goes to its
     * first real element, so dx(i, j) counts the windows whose clipped top-left is (i, j): with
     * one row of padding, window rows start at 0, 0, 1, 2 (counts 2, 1, 1, 0), same for columns */
    dc_tensor *dy44 = tensor(4, (int[]){1, 1, 4, 4});
    must(dc_tensor_fill(dy44, 1.0f));
    CHECK_OK(dc_maxpool_backward(ctx, x4, dy44, dx4, &s1));
    must(dc_tensor_download(dx4, g, 16));
    const float want3[16] = {4, 2, 2, 0, 2, 1, 1, 0, 2, 1, 1, 0, 0, 0, 0, 0};
    CHECK(memcmp(g, want3, sizeof g) == 0, "3x3 s1 ties: %g %g %g %g / %g %g %g %g", g[0], g[1],
          g[2], g[3], g[4], g[5], g[6], g[7]);
    dc_tensor_free(dy44);
    /* output sizes */
    int oh, ow;
    dc_pool2d_params s2 = {3, 3, 2, 2, 0, 0, 1}, v2 = {3, 3, 2, 2, 0, 0, 0};
    CHECK_OK(dc_pool2d_out_size(&s2, 7, 8, &oh, &ow));
    CHECK(oh == 4 && ow == 4, "SAME 3x3 s2 on 7x8: %dx%d, want 4x4", oh, ow);
    CHECK_OK(dc_pool2d_out_size(&v2, 7, 8, &oh, &ow));
    CHECK(oh == 3 && ow == 3, "VALID 3x3 s2 on 7x8: %dx%d, want 3x3", oh, ow);
    CHECK_OK(dc_pool2d_out_size(&k2, 14, 14, &oh, &ow));
    CHECK(oh == 7 && ow == 7, "2x2 s2 on the 14x14 crop: %dx%d, want 7x7", oh, ow);
    dc_tensor_free(x), dc_tensor_free(y), dc_tensor_free(x4), dc_tensor_free(dx4), dc_tensor_free(dy2);
    dc_tensor_free(y2);
}

static void test_pool_errors(void)
{
    dc_pool2d_params p = {3, 3, 2, 2, 0, 0, 1};
    dc_tensor *x = tensor(4, (int[]){1, 2, 7, 7}), *y = tensor(4, (int[]){1, 2, 3, 4});
    dc_tensor *x3 = tensor(3, (int[]){2, 7, 7}), *y4 = tensor(4, (int[]){1, 2, 4, 4});
    CHECK_FAILS(dc_maxpool_forward(ctx, x, y, &p), DC_STATUS_SHAPE, "maxpool_forward: argument y");
    CHECK_FAILS(dc_avgpool_forward(ctx, x3, y, &p), DC_STATUS_SHAPE, "avgpool_forward: argument x");
    CHECK_FAILS(dc_maxpool_backward_given_y(ctx, x, y, y4, x, &p), DC_STATUS_SHAPE, "maxpool_backward: argument y");
    CHECK_FAILS(dc_maxpool_backward_given_y(ctx, x, y4, y, x, &p), DC_STATUS_SHAPE, "maxpool_backward: argument dy");
    CHECK_FAILS(dc_maxpool_backward(ctx, x, y, x, &p), DC_STATUS_SHAPE, "maxpool_backward: argument dy");
    CHECK_FAILS(dc_maxpool_backward(ctx, x, y4, y4, &p), DC_STATUS_SHAPE, "maxpool_backward: argument dx");
    CHECK_FAILS(dc_avgpool_backward(ctx, y4, y4, &p), DC_STATUS_SHAPE, "avgpool_backward: argument dy");
    dc_pool2d_params bad = {3, 3, 0, 2, 0, 0, 1};
    CHECK_FAILS(dc_maxpool_forward(ctx, x, y4, &bad), DC_STATUS_INVALID_ARG, "stride");
    dc_pool2d_params bigpad = {3, 3, 1, 1, 3, 1, 0};
    CHECK_FAILS(dc_maxpool_forward(ctx, x, y4, &bigpad), DC_STATUS_INVALID_ARG, "pad_h");
    dc_pool2d_params big = {9, 9, 1, 1, 0, 0, 0};
    CHECK_FAILS(dc_avgpool_forward(ctx, x, y4, &big), DC_STATUS_INVALID_ARG, "kernel_h");
    CHECK_FAILS(dc_maxpool_forward(ctx, x, y4, NULL), DC_STATUS_INVALID_ARG, "parameters");
    /* global pool */
    dc_tensor *g = tensor(2, (int[]){1, 3});
    CHECK_FAILS(dc_global_avgpool_forward(ctx, x, g), DC_STATUS_SHAPE, "global_avgpool_forward: argument y");
    CHECK_FAILS(dc_global_avgpool_backward(ctx, g, x), DC_STATUS_SHAPE, "global_avgpool_backward: argument dy");
    dc_tensor_free(x), dc_tensor_free(y), dc_tensor_free(x3), dc_tensor_free(y4), dc_tensor_free(g);
}

/* ------------------------------------------------------------------ global average pool */

typedef struct { int planes, hw; const double *dy; } gap_ud;
static double gap_loss(const double *x, const void *ud)
{
    const gap_ud *u = ud;
    double s = 0.0;
    for (int p = 0; p < u->planes; p++) {
        double m = 0.0;
        for (int i = 0; i < u->hw; i++) m += x[(size_t)p * u->hw + i];
        s += u->dy[p] * m / u->hw;
    }
    return s;
}

static void test_global_avgpool(int N, int C, int H, int W, int flat)
{
    size_t n = (size_t)N * C * H * W, m = (size_t)N * C;
    float *hx = random_floats(n, -2, 2), *hdy = random_floats(m, -1, 1);
    dc_tensor *x = tensor_from(4, (int[]){N, C, H, W}, hx), *dx = tensor(4, (int[]){N, C, H, W});
    int yshape[4] = {N, C, 1, 1};
    dc_tensor *y = tensor(flat ? 2 : 4, yshape), *dy = tensor_from(flat ? 2 : 4, yshape, hdy);
    CHECK_OK(dc_global_avgpool_forward(ctx, x, y));
    double *want = malloc(m * sizeof *want), *dyd = to_double(hdy, m), *xd = to_double(hx, n);
    for (size_t p = 0; p < m; p++) {
        double s = 0.0;
        for (int i = 0; i < H * W; i++) s += xd[p * H * W + i];
        want[p] = s / (H * W);
    }
    float *got = host_of(y);
    check_near("global_avgpool_forward", got, want, m, 1e-5);
    free(got);
    CHECK_OK(dc_global_avgpool_backward(ctx, dy, dx));
    gap_ud u = {(int)m, H * W, dyd};
    double *num = numeric_grad(gap_loss, &u, xd, n, 1e-3);
    got = host_of(dx);
    check_near("global_avgpool_backward vs finite differences", got, num, n, FD_REL);
    free(got), free(num), free(want), free(dyd), free(xd), free(hx), free(hdy);
    dc_tensor_free(x), dc_tensor_free(dx), dc_tensor_free(y), dc_tensor_free(dy);
}

/* ------------------------------------------------------------------ concat */

typedef struct { int n, k, hw, ctot; const int *cs; const double *dy; } concat_ud;
/* x holds the inputs one after the other; L = sum dy * concat(x). */
static double concat_loss(const double *x, const void *ud)
{
    const concat_ud *u = ud;
    double s = 0.0;
    size_t at = 0;
    int coff = 0;
    for (int i = 0; i < u->k; i++) {
        for (int b = 0; b < u->n; b++)
            for (int j = 0; j < u->cs[i] * u->hw; j++)
                s += u->dy[((size_t)b * u->ctot + coff) * u->hw + j] * x[at++];
        coff += u->cs[i];
    }
    return s;
}

static void test_concat(int N, int H, int W, int k, const int *cs)
{
    int ctot = 0;
    for (int i = 0; i < k; i++) ctot += cs[i];
    size_t hw = (size_t)H * W, total = (size_t)N * ctot * hw;
    dc_tensor *xs[8], *dxs[8];
    float *hx[8];
    for (int i = 0; i < k; i++) {
        hx[i] = random_floats((size_t)N * cs[i] * hw, -1, 1);
        xs[i] = tensor_from(4, (int[]){N, cs[i], H, W}, hx[i]);
        dxs[i] = tensor(4, (int[]){N, cs[i], H, W});
    }
    dc_tensor *y = tensor(4, (int[]){N, ctot, H, W});
    CHECK_OK(dc_concat_forward(ctx, (const dc_tensor *const *)xs, k, y));
    double *want = malloc(total * sizeof *want);
    int coff = 0;
    for (int i = 0; i < k; i++) {
        for (int b = 0; b < N; b++)
            for (size_t j = 0; j < cs[i] * hw; j++)
                want[((size_t)b * ctot + coff) * hw + j] = hx[i][(size_t)b * cs[i] * hw + j];
        coff += cs[i];
    }
    float *got = host_of(y);
    check_near("concat_forward", got, want, total, 0);
    free(got);

    float *hdy = random_floats(total, -1, 1);
    dc_tensor *dy = tensor_from(4, (int[]){N, ctot, H, W}, hdy);
    CHECK_OK(dc_concat_backward(ctx, dy, dxs, k));
    double *dyd = to_double(hdy, total), *xall = malloc(total * sizeof *xall);
    size_t at = 0;
    for (int i = 0; i < k; i++)
        for (size_t j = 0; j < (size_t)N * cs[i] * hw; j++) xall[at++] = hx[i][j];
    concat_ud u = {N, k, (int)hw, ctot, cs, dyd};
    double *num = numeric_grad(concat_loss, &u, xall, total, 1e-3);
    at = 0;
    for (int i = 0; i < k; i++) {
        got = host_of(dxs[i]);
        char what[64];
        snprintf(what, sizeof what, "concat_backward dxs[%d] vs finite differences", i);
        check_near(what, got, num + at, dxs[i]->numel, FD_REL);
        at += dxs[i]->numel;
        free(got);
    }
    for (int i = 0; i < k; i++) free(hx[i]), dc_tensor_free(xs[i]), dc_tensor_free(dxs[i]);
    free(want), free(hdy), free(dyd), free(xall), free(num);
    dc_tensor_free(y), dc_tensor_free(dy);
}

static void test_concat_errors(void)
{
    dc_tensor *a = tensor(4, (int[]){2, 3, 5, 5}), *b = tensor(4, (int[]){2, 4, 5, 4});
    dc_tensor *c = tensor(4, (int[]){2, 4, 5, 5}), *y = tensor(4, (int[]){2, 7, 5, 5});
    const dc_tensor *ab[] = {a, b}, *ac[] = {a, c}, *aa[] = {a, a};
    CHECK_FAILS(dc_concat_forward(ctx, ab, 2, y), DC_STATUS_SHAPE, "concat_forward: xs[1]");
    CHECK_FAILS(dc_concat_forward(ctx, aa, 2, y), DC_STATUS_SHAPE, "6 channels");
    CHECK_FAILS(dc_concat_forward(ctx, ac, 0, y), DC_STATUS_INVALID_ARG, "concat_forward: xs");
    CHECK_OK(dc_concat_forward(ctx, ac, 2, y));
    dc_tensor *parts[] = {a, b};
    CHECK_FAILS(dc_concat_backward(ctx, y, parts, 2), DC_STATUS_SHAPE, "concat_backward: dxs[1]");
    dc_tensor_free(a), dc_tensor_free(b), dc_tensor_free(c), dc_tensor_free(y);
}

/* ------------------------------------------------------------------ losses */

typedef struct {
    int r, k, index;   /* index: targets are class indices */
    const double *t, *w, *dy_unused;
    double norm;
} loss_ud;

static double xent_ref(const double *z, const void *ud)
{
    const loss_ud *u = ud;
    double total = 0.0;
    for (int r = 0; r < u->r; r++) {
        double w = u->w ? u->w[r] : 1.0;
        if (w == 0.0) continue;
        const double *zr = z + (size_t)r * u->k;
        double m = zr[0], s = 0.0;
        for (int k = 1; k < u->k; k++) m = fmax(m, zr[k]);
        for (int k = 0; k < u->k; k++) s += exp(zr[k] - m);
        double lse = m + log(s), l = 0.0;
        for (int k = 0; k < u->k; k++) {
            double t = u->index ? (k == (int)u->t[r]) : u->t[(size_t)r * u->k + k];
            l += t * (lse - zr[k]);
        }
        total += w * l;
    }
    return total / u->norm;
}

static double smooth_l1_ref(const double *p, const void *ud)
{
    const loss_ud *u = ud;
    double total = 0.0;
    for (int r = 0; r < u->r; r++) {
        double w = u->w ? u->w[r] : 1.0, l = 0.0;
        if (w == 0.0) continue;
        for (int j = 0; j < u->k; j++) {
            double d = fabs(p[(size_t)r * u->k + j] - u->t[(size_t)r * u->k + j]);
            l += d < 1 ? 0.5 * d * d : d - 0.5;
        }
        total += w * l;
    }
    return total / u->norm;
}

/* Random weights in [0.5, 2) with every fifth row ignored (weight 0). */
static float *row_weights(int r)
{
    float *w = random_floats((size_t)r, 0.5, 2);
    for (int i = 0; i < r; i += 5) w[i] = 0.0f;
    return w;
}

/* mode 0: one-hot [R, K]; 1: class indices [R]; 2: soft targets [R, K] not summing to 1. */
static void test_xent(int R, int K, int mode, int weighted)
{
    char what[96];
    snprintf(what, sizeof what, "softmax_xent R=%d K=%d mode %d%s", R, K, mode,
             weighted ? " weighted" : "");
    size_t n = (size_t)R * K;
    float *hz = random_floats(n, -4, 4), *hw = weighted ? row_weights(R) : NULL;
    float *ht = calloc(n, sizeof *ht);
    for (int r = 0; r < R; r++) {
        int c = (int)dc_rng_below(&rng, (uint32_t)K);
        if (mode == 1) ht[r] = (float)c;
        else if (mode == 0) ht[(size_t)r * K + c] = 1.0f;
        else
            for (int k = 0; k < K; k++) ht[(size_t)r * K + k] = (float)dc_rng_uniform(&rng);
        /* ignored rows may hold anything, even NaN: they must not be read */
        if (hw && hw[r] == 0.0f) ht[mode == 1 ? (size_t)r : (size_t)r * K] = NAN;
    }
    dc_tensor *z = tensor_from(2, (int[]){R, K}, hz), *dz = tensor(2, (int[]){R, K});
    dc_tensor *t = mode == 1 ? tensor_from(1, (int[]){R}, ht) : tensor_from(2, (int[]){R, K}, ht);
    dc_tensor *w = hw ? tensor_from(1, (int[]){R}, hw) : NULL, *loss = tensor(1, (int[]){1});
    double *zd = to_double(hz, n), *td = to_double(ht, mode == 1 ? (size_t)R : n);
    double *wd = hw ? to_double(hw, (size_t)R) : NULL;
    loss_ud u = {R, K, mode == 1, td, wd, NULL, 0.5 * R};

    CHECK_OK(dc_softmax_xent_forward(ctx, z, t, w, (float)u.norm, loss));
    float l;
    must(dc_tensor_download(loss, &l, 1));
    double want = xent_ref(zd, &u);
    check_near(what, &l, &want, 1, 1e-4);

    /* dloss 2: the loss counted twice in the total */
    CHECK_OK(dc_softmax_xent_backward(ctx, z, t, w, (float)u.norm, 2.0f, dz));
    double *num = numeric_grad(xent_ref, &u, zd, n, 1e-4);
    for (size_t i = 0; i < n; i++) num[i] *= 2.0;
    float *got = host_of(dz);
    strncat(what, " backward vs finite differences", sizeof what - strlen(what) - 1);
    check_near(what, got, num, n, FD_REL);
    free(got), free(num), free(hz), free(hw), free(ht), free(zd), free(td), free(wd);
    dc_tensor_free(z), dc_tensor_free(dz), dc_tensor_free(t), dc_tensor_free(w), dc_tensor_free(loss);
}

static void test_smooth_l1(int R, int M, int weighted)
{
    char what[96];
    snprintf(what, sizeof what, "smooth_l1 R=%d M=%d%s", R, M, weighted ? " weighted" : "");
    size_t n = (size_t)R * M;
    float *hp = random_floats(n, -3, 3), *hq = random_floats(n, -3, 3);
    float *hw = weighted ? row_weights(R) : NULL;
    for (size_t i = 0; i < n; i++) /* keep |p - q| away from the switch at 1 */
        if (fabsf(fabsf(hp[i] - hq[i]) - 1.0f) < 0.01f) hp[i] += 0.05f;
    dc_tensor *p = tensor_from(2, (int[]){R, M}, hp), *q = tensor_from(2, (int[]){R, M}, hq);
    dc_tensor *dp = tensor(2, (int[]){R, M}), *loss = tensor(2, (int[]){1, 1});
    dc_tensor *w = hw ? tensor_from(1, (int[]){R}, hw) : NULL;
    double *pd = to_double(hp, n), *qd = to_double(hq, n), *wd = hw ? to_double(hw, (size_t)R) : NULL;
    loss_ud u = {R, M, 0, qd, wd, NULL, 7.0};
    CHECK_OK(dc_smooth_l1_forward(ctx, p, q, w, 7.0f, loss));
    float l;
    must(dc_tensor_download(loss, &l, 1));
    double want = smooth_l1_ref(pd, &u);
    check_near(what, &l, &want, 1, 1e-4);
    CHECK_OK(dc_smooth_l1_backward(ctx, p, q, w, 7.0f, 0.5f, dp));
    double *num = numeric_grad(smooth_l1_ref, &u, pd, n, 1e-4);
    for (size_t i = 0; i < n; i++) num[i] *= 0.5;
    float *got = host_of(dp);
    strncat(what, " backward vs finite differences", sizeof what - strlen(what) - 1);
    check_near(what, got, num, n, FD_REL);
    free(got), free(num), free(hp), free(hq), free(hw), free(pd), free(qd), free(wd);
    dc_tensor_free(p), dc_tensor_free(q), dc_tensor_free(dp), dc_tensor_free(loss), dc_tensor_free(w);
}

static void test_loss_hand_and_errors(void)
{
    /* two rows, K = 2: logits (0, 0) with class 1 -> log 2; logits (ln 3, 0) with class 0 ->
     * -log(3/4). Weights (1, 2), norm 2: (log 2 + 2 log(4/3)) / 2 = 0.634253 */
    dc_tensor *z = tensor_from(2, (int[]){2, 2}, (float[]){0, 0, logf(3), 0});
    dc_tensor *t = tensor_from(1, (int[]){2}, (float[]){1, 0});
    dc_tensor *w = tensor_from(1, (int[]){2}, (float[]){1, 2}), *loss = tensor(1, (int[]){1});
    CHECK_OK(dc_softmax_xent_forward(ctx, z, t, w, 2.0f, loss));
    float l;
    must(dc_tensor_download(loss, &l, 1));
    CHECK_CLOSE(l, (log(2.0) + 2 * log(4.0 / 3.0)) / 2, 1e-6, 1e-6);
    /* a class index outside [0, K) on a weighted row makes the loss NaN */
    must(dc_tensor_upload(t, (float[]){2, 0}, 2));
    CHECK_OK(dc_softmax_xent_forward(ctx, z, t, w, 2.0f, loss));
    must(dc_tensor_download(loss, &l, 1));
    CHECK(isnan(l), "bad class index gave loss %g, not NaN", l);

    dc_tensor *t3 = tensor(1, (int[]){3}), *t23 = tensor(2, (int[]){2, 3}), *l2 = tensor(1, (int[]){2});
    CHECK_FAILS(dc_softmax_xent_forward(ctx, z, t3, w, 2.0f, loss), DC_STATUS_SHAPE,
                "softmax_xent_forward: argument targets");
    CHECK_FAILS(dc_softmax_xent_forward(ctx, z, t23, w, 2.0f, loss), DC_STATUS_SHAPE, "targets");
    CHECK_FAILS(dc_softmax_xent_forward(ctx, z, t, t3, 2.0f, loss), DC_STATUS_SHAPE, "weights");
    CHECK_FAILS(dc_softmax_xent_forward(ctx, z, t, w, 2.0f, l2), DC_STATUS_SHAPE, "argument loss");
    CHECK_FAILS(dc_softmax_xent_forward(ctx, z, t, w, 0.0f, loss), DC_STATUS_INVALID_ARG, "norm");
    CHECK_FAILS(dc_softmax_xent_backward(ctx, z, t, w, 1.0f, 1.0f, t23), DC_STATUS_SHAPE, "dlogits");
    CHECK_FAILS(dc_smooth_l1_forward(ctx, z, t23, w, 1.0f, loss), DC_STATUS_SHAPE,
                "smooth_l1_forward: argument target");
    CHECK_FAILS(dc_smooth_l1_backward(ctx, z, z, w, 1.0f, 1.0f, t23), DC_STATUS_SHAPE, "dpred");
    CHECK_FAILS(dc_smooth_l1_forward(ctx, t, t, NULL, 1.0f, loss), DC_STATUS_SHAPE, "argument pred");
    dc_tensor_free(z), dc_tensor_free(t), dc_tensor_free(w), dc_tensor_free(loss);
    dc_tensor_free(t3), dc_tensor_free(t23), dc_tensor_free(l2);
}

int main(void)
{
    must(dc_ctx_new(&ctx, NULL));
    dc_rng_seed(&rng, 20190924);

    test_elementwise(4, (int[]){1, 3, 7, 5});
    test_elementwise(4, (int[]){2, 5, 13, 11});
    test_elementwise(1, (int[]){37});
    test_elementwise_errors();

    /* the geometries Inception-v2 and the ROI pool use, on odd and even sizes */
    const dc_pool2d_params same3s1 = {3, 3, 1, 1, 0, 0, 1}, same3s2 = {3, 3, 2, 2, 0, 0, 1};
    const dc_pool2d_params valid2s2 = {2, 2, 2, 2, 0, 0, 0}, same2s2 = {2, 2, 2, 2, 0, 0, 1};
    const dc_pool2d_params valid3s2 = {3, 3, 2, 2, 0, 0, 0}, pad1 = {3, 3, 2, 2, 1, 1, 0};
    const dc_pool2d_params odd = {3, 2, 2, 1, 1, 0, 0};
    for (int is_max = 0; is_max <= 1; is_max++) {
        test_pool(1, 3, 7, 9, same3s1, is_max, -1.0);
        test_pool(2, 2, 9, 7, same3s2, is_max, -5.0); /* all negative: padding must not win */
        test_pool(1, 2, 14, 14, valid2s2, is_max, 0.0);
        test_pool(1, 3, 7, 5, same2s2, is_max, -0.5);
        test_pool(2, 1, 11, 8, valid3s2, is_max, -0.5);
        test_pool(1, 2, 6, 7, pad1, is_max, -0.5);
        test_pool(1, 2, 7, 6, odd, is_max, -0.5);
        test_pool(1, 1, 1, 1, same3s2, is_max, 0.25);
    }
    test_pool_hand();
    test_pool_errors();

    test_global_avgpool(2, 3, 7, 5, 0);
    test_global_avgpool(3, 4, 1, 1, 1);
    test_global_avgpool(1, 5, 14, 13, 1);

    test_concat(2, 5, 3, 3, (int[]){1, 4, 3});
    test_concat(1, 7, 7, 4, (int[]){2, 3, 1, 5});
    test_concat(3, 1, 1, 1, (int[]){6});
    test_concat_errors();

    test_xent(37, 2, 0, 1);
    test_xent(300, 2, 1, 1);  /* more rows than the reducing work-group has items */
    test_xent(13, 5, 2, 1);
    test_xent(64, 3, 1, 0);
    test_smooth_l1(41, 4, 1);
    test_smooth_l1(257, 4, 0);
    test_smooth_l1(5, 3, 1);
    test_loss_hand_and_errors();

    dc_ctx_free(ctx);
    return dc_test_finish("test_ops_basic");
}
