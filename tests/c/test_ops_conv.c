/* 2-D convolution: TF 'SAME'/'VALID' parameters against hand-computed values; forward against a
 * plain C reference in double; backward (input, weights, bias) against the analytical gradient of
 * that reference (itself spot-checked by central differences in double), plus central
 * differences of the op itself; accumulate, bit-identical repeats, scratch pool / no pool,
 * batched and per-image paths, both im2col variants, shape errors.
 *
 * Bounds: forward and backward |got - ref| <= 3e-5 * (sum of |terms|) + 1e-6 (float32 rounding
 * of the sums, with margin). Finite differences: the op is linear in x and in w, so central
 * differences have no truncation error; with step 0.5 the float32 rounding of the affected
 * outputs gives a relative error far below the bound used, 2e-3 (of max(|g|, 0.05)). The double
 * reference is checked by central differences with step 1e-3 to relative 1e-6. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "dc_test.h"
#include "ops/ops_conv.h"
#include "tensor.h"
#include "test_ops_util.h"

static dc_ctx *ctx;
static dc_rng rng;

typedef struct conv_case {
    const char *name;
    int n, c, h, w, k;
    dc_conv_params p;
    int bias;
} conv_case;

/* ------------------------------------------------------------------ reference (double) */

typedef struct ref_dims { int n, c, h, w, k, oh, ow; } ref_dims;

/* y and |y| terms; x, w, b are float inputs. */
static void ref_forward(const ref_dims *d, const dc_conv_params *p, const float *x, const float *w,
                        const float *b, double *y, double *yabs)
{
    for (int n = 0; n < d->n; n++)
        for (int k = 0; k < d->k; k++)
            for (int oh = 0; oh < d->oh; oh++)
                for (int ow = 0; ow < d->ow; ow++) {
                    double s = b ? b[k] : 0.0, sa = b ? fabs(b[k]) : 0.0;
                    for (int c = 0; c < d->c; c++)
                        for (int ki = 0; ki < p->kh; ki++)
                            for (int kj = 0; kj < p->kw; kj++) {
                                const int h = oh * p->sh - p->pad_t + ki, ww = ow * p->sw - p->pad_l + kj;
                                if (h < 0 || h >= d->h || ww < 0 || ww >= d->w) continue;
                                const double t = (double)x[((n * d->c + c) * d->h + h) * d->w + ww] *
                                                 w[((k * d->c + c) * p->kh + ki) * p->kw + kj];
                                s += t;
                                sa += fabs(t);
                            }
                    const size_t i = (((size_t)n * d->k + k) * d->oh + oh) * d->ow + ow;
                    y[i] = s;
                    if (yabs) yabs[i] = sa;
                }
}

/* Gradients of L = sum(y * r): dx, dw, db and the |term| sums of each (for tolerances). */
static void ref_backward(const ref_dims *d, const dc_conv_params *p, const float *x, const float *w,
                         const float *r, double *dx, double *dxa, double *dw, double *dwa,
                         double *db, double *dba)
{
    const size_t nx = (size_t)d->n * d->c * d->h * d->w, nw = (size_t)d->k * d->c * p->kh * p->kw;
    memset(dx, 0, nx * sizeof *dx);
    memset(dxa, 0, nx * sizeof *dxa);
    memset(dw, 0, nw * sizeof *dw);
    memset(dwa, 0, nw * sizeof *dwa);
    memset(db, 0, (size_t)d->k * sizeof *db);
    memset(dba, 0, (size_t)d->k * sizeof *dba);
    for (int n = 0; n < d->n; n++)
        for (int k = 0; k < d->k; k++)
            for (int oh = 0; oh < d->oh; oh++)
                for (int ow = 0; ow < d->ow; ow++) {
                    const double rv = r[(((size_t)n * d->k + k) * d->oh + oh) * d->ow + ow];
                    db[k] += rv;
                    dba[k] += fabs(rv);
                    for (int c = 0; c < d->c; c++)
                        for (int ki = 0; ki < p->kh; ki++)
                            for (int kj = 0; kj < p->kw; kj++) {
                                const int h = oh * p->sh - p->pad_t + ki, ww = ow * p->sw - p->pad_l + kj;
                                if (h < 0 || h >= d->h || ww < 0 || ww >= d->w) continue;
                                const size_t xi = (((size_t)n * d->c + c) * d->h + h) * d->w + ww;
                                const size_t wi = (((size_t)k * d->c + c) * p->kh + ki) * p->kw + kj;
                                dx[xi] += w[wi] * rv;
                                dxa[xi] += fabs(w[wi] * rv);
                                dw[wi] += x[xi] * rv;
                                dwa[wi] += fabs(x[xi] * rv);
                            }
                }
}

static double ref_loss(const ref_dims *d, const dc_conv_params *p, const float *x, const float *w,
                       const float *b, const float *r, double *y)
{
    ref_forward(d, p, x, w, b, y, NULL);
    double l = 0;
    for (size_t i = 0; i < (size_t)d->n * d->k * d->oh * d->ow; i++) l += y[i] * r[i];
    return l;
}

/* ------------------------------------------------------------------ helpers */

/* uniform in [-1, 1) */
static float *random_host(size_t n) { return ops_random(&rng, n, -1, 1); }

static dc_tensor *tensor4(int a, int b, int c, int d, const float *host)
{
    dc_tensor *t = NULL;
    CHECK_OK(dc_tensor_new(ctx, 4, (int[]){a, b, c, d}, &t));
    if (t && host) CHECK_OK(dc_tensor_upload(t, host, t->numel));
    return t;
}

static dc_tensor *tensor1(int a, const float *host)
{
    dc_tensor *t = NULL;
    CHECK_OK(dc_tensor_new(ctx, 1, (int[]){a}, &t));
    if (t && host) CHECK_OK(dc_tensor_upload(t, host, t->numel));
    return t;
}

/* Count values outside |got - ref| <= 3e-5 * abs + 1e-6 (got = got0 + base when accumulating). */
static int compare(const char *what, const char *name, const float *got, const float *base,
                   const double *ref, const double *abs_terms, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const double want = ref[i] + (base ? base[i] : 0.0);
        const double tol = 3e-5 * (abs_terms[i] + (base ? fabs(base[i]) : 0.0)) + 1e-6;
        if (!(fabs(got[i] - want) <= tol) && bad++ < 3)
            fprintf(stderr, "%s %s: [%zu] = %.8g, expected %.8g\n", name, what, i, got[i], want);
    }
    return bad;
}

static double host_loss(const dc_tensor *y, const float *r)
{
    float *h = ops_download(y);
    double l = 0;
    for (size_t i = 0; i < y->numel; i++) l += (double)h[i] * r[i];
    free(h);
    return l;
}

/* ------------------------------------------------------------------ one case */

static void run_case(const conv_case *cc, dc_pool *scratch)
{
    ref_dims d = {cc->n, cc->c, cc->h, cc->w, cc->k, 0, 0};
    const dc_conv_params *p = &cc->p;
    CHECK_OK(dc_conv2d_out_size(p, d.h, d.w, &d.oh, &d.ow));
    const size_t nx = (size_t)d.n * d.c * d.h * d.w, nw = (size_t)d.k * d.c * p->kh * p->kw;
    const size_t ny = (size_t)d.n * d.k * d.oh * d.ow;
    float *x = random_host(nx), *w = random_host(nw), *b = cc->bias ? random_host((size_t)d.k) : NULL;
    float *r = random_host(ny);
    double *y = malloc(ny * sizeof *y), *ya = malloc(ny * sizeof *ya);
    ref_forward(&d, p, x, w, b, y, ya);

    dc_tensor *tx = tensor4(d.n, d.c, d.h, d.w, x), *tw = tensor4(d.k, d.c, p->kh, p->kw, w);
    dc_tensor *tb = b ? tensor1(d.k, b) : NULL, *ty = tensor4(d.n, d.k, d.oh, d.ow, NULL);
    dc_tensor *tr = tensor4(d.n, d.k, d.oh, d.ow, r);
    /* NaN in the output must not leak through: the op overwrites, it does not scale by beta = 0 */
    CHECK_OK(dc_tensor_fill(ty, NAN));
    CHECK_OK(dc_conv2d_forward(ctx, tx, tw, tb, ty, p, scratch));
    float *got = ops_download(ty);
    CHECK(compare("forward", cc->name, got, NULL, y, ya, ny) == 0, "%s: forward differs", cc->name);
    free(got);

    /* analytical gradients of the double reference, spot-checked by central differences */
    double *dx = malloc(nx * sizeof *dx), *dxa = malloc(nx * sizeof *dxa);
    double *dw = malloc(nw * sizeof *dw), *dwa = malloc(nw * sizeof *dwa);
    double *db = malloc((size_t)d.k * sizeof *db), *dba = malloc((size_t)d.k * sizeof *dba);
    ref_backward(&d, p, x, w, r, dx, dxa, dw, dwa, db, dba);
    for (int t = 0; t < 3; t++) {
        const size_t i = dc_rng_below(&rng, (uint32_t)nx);
        const float keep = x[i];
        /* x is float: divide by the step the rounded values really took */
        x[i] = keep + 1e-3f;
        const double xp = x[i], lp = ref_loss(&d, p, x, w, b, r, y);
        x[i] = keep - 1e-3f;
        const double xm = x[i], lm = ref_loss(&d, p, x, w, b, r, y);
        x[i] = keep;
        CHECK_CLOSE((lp - lm) / (xp - xm), dx[i], 1e-9, 1e-6);
    }

    /* the op's backward against the reference, overwriting and then accumulating */
    dc_tensor *tdx = tensor4(d.n, d.c, d.h, d.w, NULL), *tdw = tensor4(d.k, d.c, p->kh, p->kw, NULL);
    dc_tensor *tdb = tensor1(d.k, NULL);
    CHECK_OK(dc_tensor_fill(tdx, NAN));
    CHECK_OK(dc_tensor_fill(tdw, NAN));
    CHECK_OK(dc_tensor_fill(tdb, NAN));
    CHECK_OK(dc_conv2d_backward_input(ctx, tr, tw, tdx, p, 0, scratch));
    CHECK_OK(dc_conv2d_backward_params(ctx, tx, tr, tdw, tdb, p, 0, scratch));
    float *gx = ops_download(tdx), *gw = ops_download(tdw), *gb = ops_download(tdb);
    CHECK(compare("dx", cc->name, gx, NULL, dx, dxa, nx) == 0, "%s: dx differs", cc->name);
    CHECK(compare("dw", cc->name, gw, NULL, dw, dwa, nw) == 0, "%s: dw differs", cc->name);
    CHECK(compare("db", cc->name, gb, NULL, db, dba, (size_t)d.k) == 0, "%s: db differs", cc->name);
    float *bx = random_host(nx), *bw = random_host(nw), *bb = random_host((size_t)d.k);
    CHECK_OK(dc_tensor_upload(tdx, bx, nx));
    CHECK_OK(dc_tensor_upload(tdw, bw, nw));
    CHECK_OK(dc_tensor_upload(tdb, bb, (size_t)d.k));
    CHECK_OK(dc_conv2d_backward_input(ctx, tr, tw, tdx, p, 1, scratch));
    CHECK_OK(dc_conv2d_backward_params(ctx, tx, tr, tdw, tdb, p, 1, scratch));
    float *ax = ops_download(tdx), *aw = ops_download(tdw), *ab = ops_download(tdb);
    CHECK(compare("dx accumulated", cc->name, ax, bx, dx, dxa, nx) == 0, "%s: dx (+=) differs", cc->name);
    CHECK(compare("dw accumulated", cc->name, aw, bw, dw, dwa, nw) == 0, "%s: dw (+=) differs", cc->name);
    CHECK(compare("db accumulated", cc->name, ab, bb, db, dba, (size_t)d.k) == 0, "%s: db (+=) differs",
          cc->name);

    /* deterministic: overwriting again gives the same bits */
    CHECK_OK(dc_conv2d_backward_input(ctx, tr, tw, tdx, p, 0, scratch));
    CHECK_OK(dc_conv2d_backward_params(ctx, tx, tr, tdw, tdb, p, 0, scratch));
    float *rx = ops_download(tdx), *rw = ops_download(tdw), *rb = ops_download(tdb);
    CHECK(memcmp(rx, gx, nx * sizeof *rx) == 0 && memcmp(rw, gw, nw * sizeof *rw) == 0 &&
          memcmp(rb, gb, (size_t)d.k * sizeof *rb) == 0, "%s: backward differs between runs", cc->name);
    free(rx); free(rw); free(rb);

    /* central differences of the op itself at a few inputs and weights */
    const float step = 0.5f;
    for (int t = 0; t < 2; t++) {
        const size_t i = dc_rng_below(&rng, (uint32_t)nx);
        const float keep = x[i];
        x[i] = keep + step;
        const double vp = x[i];
        CHECK_OK(dc_tensor_upload(tx, x, nx));
        CHECK_OK(dc_conv2d_forward(ctx, tx, tw, tb, ty, p, scratch));
        const double lp = host_loss(ty, r);
        x[i] = keep - step;
        const double vm = x[i];
        CHECK_OK(dc_tensor_upload(tx, x, nx));
        CHECK_OK(dc_conv2d_forward(ctx, tx, tw, tb, ty, p, scratch));
        const double lm = host_loss(ty, r);
        x[i] = keep;
        const double fd = (lp - lm) / (vp - vm);
        CHECK(fabs(fd - gx[i]) <= 2e-3 * fmax(fabs(gx[i]), 0.05), "%s: dx[%zu] = %g, finite "
              "difference %g", cc->name, i, gx[i], fd);
    }
    CHECK_OK(dc_tensor_upload(tx, x, nx));
    for (int t = 0; t < 2; t++) {
        const size_t i = dc_rng_below(&rng, (uint32_t)nw);
        const float keep = w[i];
        w[i] = keep + step;
        const double vp = w[i];
        CHECK_OK(dc_tensor_upload(tw, w, nw));
        CHECK_OK(dc_conv2d_forward(ctx, tx, tw, tb, ty, p, scratch));
        const double lp = host_loss(ty, r);
        w[i] = keep - step;
        const double vm = w[i];
        CHECK_OK(dc_tensor_upload(tw, w, nw));
        CHECK_OK(dc_conv2d_forward(ctx, tx, tw, tb, ty, p, scratch));
        const double lm = host_loss(ty, r);
        w[i] = keep;
        const double fd = (lp - lm) / (vp - vm);
        CHECK(fabs(fd - gw[i]) <= 2e-3 * fmax(fabs(gw[i]), 0.05), "%s: dw[%zu] = %g, finite "
              "difference %g", cc->name, i, gw[i], fd);
    }

    free(x); free(w); free(b); free(r); free(y); free(ya);
    free(dx); free(dxa); free(dw); free(dwa); free(db); free(dba);
    free(gx); free(gw); free(gb); free(bx); free(bw); free(bb); free(ax); free(aw); free(ab);
    dc_tensor_free(tx); dc_tensor_free(tw); dc_tensor_free(tb); dc_tensor_free(ty); dc_tensor_free(tr);
    dc_tensor_free(tdx); dc_tensor_free(tdw); dc_tensor_free(tdb);
}

/* ------------------------------------------------------------------ parameters and errors */

static void test_params(void)
{
    /* TF 'SAME': 224 with 7x7 stride 2 pads 2 before and 3 after (output 112) */
    dc_conv_params p = dc_conv_params_same(224, 1000, 7, 7, 2, 2);
    CHECK(p.pad_t == 2 && p.pad_b == 3 && p.pad_l == 2 && p.pad_r == 3, "SAME 7x7 s2: %d %d %d %d",
          p.pad_t, p.pad_b, p.pad_l, p.pad_r);
    int oh, ow;
    CHECK_OK(dc_conv2d_out_size(&p, 224, 1000, &oh, &ow));
    CHECK(oh == 112 && ow == 500, "SAME 7x7 s2 output %dx%d", oh, ow);
    /* 7 x 5 with 3x3 stride 2: out 4 x 3, pad_total 2 per axis */
    p = dc_conv_params_same(7, 5, 3, 3, 2, 2);
    CHECK(p.pad_t == 1 && p.pad_b == 1 && p.pad_l == 1 && p.pad_r == 1, "SAME 3x3 s2 on 7x5");
    CHECK_OK(dc_conv2d_out_size(&p, 7, 5, &oh, &ow));
    CHECK(oh == 4 && ow == 3, "SAME 3x3 s2 on 7x5: %dx%d", oh, ow);
    /* 8 with 3x3 stride 2: out 4, pad_total (4-1)*2 + 3 - 8 = 1: 0 before, 1 after */
    p = dc_conv_params_same(8, 8, 3, 3, 2, 2);
    CHECK(p.pad_t == 0 && p.pad_b == 1, "SAME 3x3 s2 on 8: %d %d", p.pad_t, p.pad_b);
    /* 1x1 stride 2 never pads */
    p = dc_conv_params_same(6, 7, 1, 1, 2, 2);
    CHECK(p.pad_t == 0 && p.pad_b == 0 && p.pad_l == 0 && p.pad_r == 0, "SAME 1x1 s2 pads");
    p = dc_conv_params_valid(3, 3, 2, 2);
    CHECK_OK(dc_conv2d_out_size(&p, 9, 10, &oh, &ow));
    CHECK(oh == 4 && ow == 4, "VALID 3x3 s2 on 9x10: %dx%d", oh, ow);
    CHECK_FAILS(dc_conv2d_out_size(&p, 2, 10, &oh, &ow), DC_STATUS_SHAPE, "smaller than the kernel");
    p.sh = 0;
    CHECK_FAILS(dc_conv2d_out_size(&p, 9, 9, &oh, &ow), DC_STATUS_INVALID_ARG, "must be positive");
    p = dc_conv_params_valid(3, 3, 1, 1);
    p.pad_b = 3;
    CHECK_FAILS(dc_conv2d_out_size(&p, 9, 9, &oh, &ow), DC_STATUS_INVALID_ARG, "smaller than the kernel 3x3");
}

static void test_errors(void)
{
    dc_conv_params p = dc_conv_params_same(7, 5, 3, 3, 2, 2);
    dc_tensor *x = tensor4(2, 3, 7, 5, NULL), *w = tensor4(4, 3, 3, 3, NULL), *y = tensor4(2, 4, 4, 3, NULL);
    dc_tensor *wbad = tensor4(4, 2, 3, 3, NULL), *ybad = tensor4(2, 4, 4, 4, NULL), *b = tensor1(5, NULL);
    CHECK_FAILS(dc_conv2d_forward(ctx, x, wbad, NULL, y, &p, NULL), DC_STATUS_SHAPE,
                "conv2d_forward: argument w has shape [4, 2, 3, 3], expected [*, 3, 3, 3]");
    CHECK_FAILS(dc_conv2d_forward(ctx, x, w, NULL, ybad, &p, NULL), DC_STATUS_SHAPE,
                "conv2d_forward: argument y has shape [2, 4, 4, 4], expected [2, 4, 4, 3]");
    CHECK_FAILS(dc_conv2d_forward(ctx, x, w, b, y, &p, NULL), DC_STATUS_SHAPE,
                "conv2d_forward: argument b has shape [5]");
    CHECK_FAILS(dc_conv2d_forward(ctx, y, w, NULL, y, &p, NULL), DC_STATUS_SHAPE,
                "conv2d_forward: argument w");
    CHECK_FAILS(dc_conv2d_backward_input(ctx, ybad, w, x, &p, 0, NULL), DC_STATUS_SHAPE,
                "conv2d_backward_input: argument dy");
    CHECK_FAILS(dc_conv2d_backward_params(ctx, x, y, wbad, NULL, &p, 0, NULL), DC_STATUS_SHAPE,
                "conv2d_backward_params: argument dw");
    CHECK_FAILS(dc_conv2d_backward_params(ctx, x, y, w, b, &p, 0, NULL), DC_STATUS_SHAPE,
                "conv2d_backward_params: argument db");
    dc_conv_params big = dc_conv_params_valid(3, 3, 1, 1);
    dc_tensor *tiny = tensor4(1, 3, 2, 2, NULL);
    CHECK_FAILS(dc_conv2d_forward(ctx, tiny, w, NULL, y, &big, NULL), DC_STATUS_SHAPE,
                "conv2d_forward: argument x [1, 3, 2, 2]: conv2d: the padded input 2x2 is smaller");
    CHECK_FAILS(dc_conv2d_forward(ctx, x, w, NULL, y, NULL, NULL), DC_STATUS_INVALID_ARG, "parameters");
    CHECK_FAILS(dc_conv2d_forward(ctx, NULL, w, NULL, y, &p, NULL), DC_STATUS_INVALID_ARG,
                "conv2d_forward: argument x is missing");
    setenv("DEEPCEE_IM2COL", "columns", 1);
    CHECK_FAILS(dc_conv2d_forward(ctx, x, w, NULL, y, &p, NULL), DC_STATUS_INVALID_ARG,
                "DEEPCEE_IM2COL is 'columns'");
    unsetenv("DEEPCEE_IM2COL");
    dc_tensor_free(x); dc_tensor_free(w); dc_tensor_free(y); dc_tensor_free(wbad);
    dc_tensor_free(ybad); dc_tensor_free(b); dc_tensor_free(tiny);
}

int main(void)
{
    dc_rng_seed(&rng, 7);
    CHECK_OK(dc_ctx_new(&ctx, NULL));
    if (!ctx) return dc_test_finish("test_ops_conv");
    test_params();
    test_errors();
    dc_pool *scratch;
    CHECK_OK(dc_pool_new(ctx, &scratch));

    const conv_case cases[] = {
        {"3x3 s1 SAME 7x5", 1, 3, 7, 5, 4, dc_conv_params_same(7, 5, 3, 3, 1, 1), 1},
        {"3x3 s2 SAME 7x5 N=3", 3, 2, 7, 5, 5, dc_conv_params_same(7, 5, 3, 3, 2, 2), 1},
        {"7x7 s2 SAME (Inception stem) N=2", 2, 3, 23, 19, 8, dc_conv_params_same(23, 19, 7, 7, 2, 2), 1},
        {"1x1 N=3 (batched)", 3, 5, 6, 7, 4, dc_conv_params_valid(1, 1, 1, 1), 1},
        {"1x1 N=1 (plain GEMM)", 1, 6, 9, 8, 3, dc_conv_params_valid(1, 1, 1, 1), 0},
        {"1x1 N=2 65x64 (GEMM per image)", 2, 4, 65, 64, 3, dc_conv_params_valid(1, 1, 1, 1), 1},
        {"3x3 s1 SAME 65x64 N=2 (im2col per image)", 2, 2, 65, 64, 3, dc_conv_params_same(65, 64, 3, 3, 1, 1), 1},
        {"3x3 s2 VALID 9x9 N=2", 2, 3, 9, 9, 4, dc_conv_params_valid(3, 3, 2, 2), 0},
        {"1x1 s2 N=3", 3, 4, 7, 6, 5, dc_conv_params_same(7, 6, 1, 1, 2, 2), 1},
        {"3x2 asymmetric pads", 2, 3, 8, 7, 4, {3, 2, 2, 1, 1, 0, 2, 1}, 1},
        {"3x3 s2 SAME 8x8 (pad after only)", 3, 4, 8, 8, 6, dc_conv_params_same(8, 8, 3, 3, 2, 2), 1},
    };
    /* both im2col/col2im variants (CPU "rows", GPU "pixel") on every fixed case, each with the
     * plain GEMMs and with the tile-padded ones (engine/ops/gemm.c) */
    for (int pad = 0; pad < 2; pad++) {
        setenv("DEEPCEE_GEMM_PAD", pad ? "on" : "off", 1);
        for (int v = 0; v < 2; v++) {
            setenv("DEEPCEE_IM2COL", v ? "pixel" : "rows", 1);
            fprintf(stderr, "fixed cases, GEMM padding %s, im2col %s\n", pad ? "on" : "off", v ? "pixel" : "rows");
            for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i], i % 2 ? NULL : scratch);
        }
    }
    unsetenv("DEEPCEE_IM2COL");
    unsetenv("DEEPCEE_GEMM_PAD");
    /* random shapes */
    for (int i = 0; i < 4; i++) {
        const int ks[] = {1, 3, 5, 7};
        const int kh = ks[dc_rng_below(&rng, 4)], kw = ks[dc_rng_below(&rng, 4)];
        const int s = 1 + (int)dc_rng_below(&rng, 2);
        const int h = kh + (int)dc_rng_below(&rng, 12), w = kw + (int)dc_rng_below(&rng, 12);
        conv_case cc = {"random", 1 + (int)dc_rng_below(&rng, 3), 1 + (int)dc_rng_below(&rng, 5), h, w,
                        1 + (int)dc_rng_below(&rng, 6),
                        dc_rng_below(&rng, 2) ? dc_conv_params_same(h, w, kh, kw, s, s)
                                              : dc_conv_params_valid(kh, kw, s, s), 1};
        fprintf(stderr, "random case %d: N=%d C=%d %dx%d K=%d kernel %dx%d stride %d pads %d %d %d %d\n",
                i, cc.n, cc.c, h, w, cc.k, kh, kw, s, cc.p.pad_t, cc.p.pad_l, cc.p.pad_b, cc.p.pad_r);
        setenv("DEEPCEE_GEMM_PAD", "on", 1);
        run_case(&cc, scratch);
        setenv("DEEPCEE_GEMM_PAD", "off", 1);
        run_case(&cc, scratch);
        unsetenv("DEEPCEE_GEMM_PAD");
    }
    /* the scratch pool holds no more than one call's workspaces */
    CHECK(dc_pool_bytes(scratch) < ((size_t)8 << 20), "scratch pool grew to %zu bytes", dc_pool_bytes(scratch));
    dc_pool_free(scratch);
    dc_ctx_free(ctx);
    return dc_test_finish("test_ops_conv");
}
