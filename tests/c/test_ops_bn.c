/* Frozen batch norm: the backward in place (dx aliasing dy) gives the same bits as out of place,
 * folding into a convolution (conv + bn == folded conv, on the device; the host fold matches the
 * tensor fold), argument errors. Its forward (with and without gamma / beta, in place) and
 * backward (overwrite, accumulate, in place) against a C reference and finite differences are in
 * the op harness (tests/c/test_ops_harness.c).
 * Bound of the fold: folded conv against conv + bn within 1e-4 * (sum of |terms| of the conv)
 * + 1e-5. */
#include "dc_test.h"
#include "ops/ops_conv.h"
#include "test_ops_util.h"

static dc_ctx *ctx;
static dc_rng rng;
static const float k_eps = 0.001f; /* the paper's model */

static float *random_host(size_t n, double lo, double hi) { return ops_random(&rng, n, lo, hi); }
static dc_tensor *tensor(int ndim, const int *shape, const float *host)
{
    return ops_tensor(ctx, ndim, shape, host);
}

/* dc_bn_backward_input with dx = dy gives the bits of the out-of-place call. */
static void inplace_backward_case(void)
{
    const int shape[4] = {3, 4, 2, 3}, c = 4;
    const size_t nx = 72;
    float *r = random_host(nx, -1, 1), *gamma = random_host((size_t)c, 0.5, 1.5);
    float *var = random_host((size_t)c, 0.0, 2.0);
    dc_tensor *tr = tensor(4, shape, r), *tdx = tensor(4, shape, NULL);
    dc_tensor *tg = tensor(1, &c, gamma), *tv = tensor(1, &c, var);
    CHECK_OK(dc_bn_backward_input(ctx, tr, tg, tv, k_eps, tdx, 0));
    CHECK_OK(dc_bn_backward_input(ctx, tr, tg, tv, k_eps, tr, 0));
    float *gx = ops_download(tdx), *ix = ops_download(tr);
    CHECK(memcmp(ix, gx, nx * sizeof *ix) == 0, "bn backward in place differs from out of place");
    free(r), free(gamma), free(var), free(gx), free(ix);
    dc_tensor_free(tr), dc_tensor_free(tdx), dc_tensor_free(tg), dc_tensor_free(tv);
}

/* conv (with or without bias) followed by bn equals the conv with folded weights and bias. */
static void fold_case(int with_bias, int with_gamma)
{
    const int n = 2, c = 3, h = 9, w = 7, k = 5;
    dc_conv_params p = dc_conv_params_same(h, w, 3, 3, 2, 2);
    int oh, ow;
    CHECK_OK(dc_conv2d_out_size(&p, h, w, &oh, &ow));
    const size_t nx = (size_t)n * c * h * w, nw = (size_t)k * c * 9, ny = (size_t)n * k * oh * ow;
    float *x = random_host(nx, -1, 1), *wt = random_host(nw, -1, 1);
    float *b = with_bias ? random_host((size_t)k, -1, 1) : calloc((size_t)k, sizeof(float));
    float *gamma = with_gamma ? random_host((size_t)k, 0.5, 2) : NULL, *beta = random_host((size_t)k, -1, 1);
    float *mean = random_host((size_t)k, -1, 1), *var = random_host((size_t)k, 0.01, 3);
    dc_tensor *tx = tensor(4, (int[]){n, c, h, w}, x), *tw = tensor(4, (int[]){k, c, 3, 3}, wt);
    dc_tensor *tb = tensor(1, &k, b), *tg = gamma ? tensor(1, &k, gamma) : NULL;
    dc_tensor *tbeta = tensor(1, &k, beta), *tm = tensor(1, &k, mean), *tv = tensor(1, &k, var);
    dc_tensor *ty = tensor(4, (int[]){n, k, oh, ow}, NULL), *tz = tensor(4, (int[]){n, k, oh, ow}, NULL);
    CHECK_OK(dc_conv2d_forward(ctx, tx, tw, with_bias ? tb : NULL, ty, &p, NULL));
    CHECK_OK(dc_bn_forward(ctx, ty, tg, tbeta, tm, tv, k_eps, ty));
    CHECK_OK(dc_bn_fold(ctx, tw, tb, tg, tbeta, tm, tv, k_eps));
    CHECK_OK(dc_conv2d_forward(ctx, tx, tw, tb, tz, &p, NULL));
    float *y = ops_download(ty), *z = ops_download(tz);
    /* tolerance from the conv's |terms| scaled by the bn factor */
    int bad = 0;
    for (size_t i = 0; i < ny; i++) {
        const int ch = (int)(i / ((size_t)oh * ow)) % k;
        const double sc = (gamma ? gamma[ch] : 1.0) / sqrt((double)var[ch] + k_eps);
        const double tol = 1e-4 * (27.0 * sc + fabs(mean[ch] * sc) + fabs(beta[ch]) + fabs(b[ch] * sc)) + 1e-5;
        if (!(fabs(y[i] - z[i]) <= tol) && bad++ < 3)
            fprintf(stderr, "fold: conv+bn %g, folded %g at %zu\n", y[i], z[i], i);
    }
    CHECK(bad == 0, "folded conv differs from conv + bn (bias %d, gamma %d)", with_bias, with_gamma);
    /* the host fold matches the tensor fold */
    float *w2 = malloc(nw * sizeof *w2), *b2 = malloc((size_t)k * sizeof *b2);
    memcpy(w2, wt, nw * sizeof *w2);
    memcpy(b2, b, (size_t)k * sizeof *b2);
    CHECK_OK(dc_bn_fold_host(k, c * 9, w2, b2, gamma, beta, mean, var, k_eps));
    float *fw = ops_download(tw), *fb = ops_download(tb);
    CHECK(memcmp(fw, w2, nw * sizeof *fw) == 0 && memcmp(fb, b2, (size_t)k * sizeof *fb) == 0,
          "dc_bn_fold and dc_bn_fold_host differ");
    free(x); free(wt); free(b); free(gamma); free(beta); free(mean); free(var); free(y); free(z);
    free(w2); free(b2); free(fw); free(fb);
    dc_tensor_free(tx); dc_tensor_free(tw); dc_tensor_free(tb); dc_tensor_free(tg);
    dc_tensor_free(tbeta); dc_tensor_free(tm); dc_tensor_free(tv); dc_tensor_free(ty); dc_tensor_free(tz);
}

static void test_errors(void)
{
    const int c = 4, c5 = 5;
    dc_tensor *x = tensor(4, (int[]){2, c, 3, 3}, NULL), *y = tensor(4, (int[]){2, c, 3, 2}, NULL);
    dc_tensor *v = tensor(1, &c, NULL), *v5 = tensor(1, &c5, NULL), *x1 = tensor(1, &c, NULL);
    CHECK_FAILS(dc_bn_forward(ctx, x, NULL, NULL, v, v, k_eps, y), DC_STATUS_SHAPE,
                "bn_forward: argument y has shape [2, 4, 3, 2], expected x's shape [2, 4, 3, 3]");
    CHECK_FAILS(dc_bn_forward(ctx, x, v5, NULL, v, v, k_eps, x), DC_STATUS_SHAPE, "bn_forward: argument gamma");
    CHECK_FAILS(dc_bn_forward(ctx, x, NULL, NULL, v, v5, k_eps, x), DC_STATUS_SHAPE, "bn_forward: argument var");
    CHECK_FAILS(dc_bn_forward(ctx, x1, NULL, NULL, v, v, k_eps, x1), DC_STATUS_SHAPE,
                "bn_forward: argument x has shape [4]");
    CHECK_FAILS(dc_bn_forward(ctx, x, NULL, NULL, v, v, -1.0f, x), DC_STATUS_INVALID_ARG, "eps");
    CHECK_FAILS(dc_bn_backward_input(ctx, x, NULL, v, k_eps, y, 0), DC_STATUS_SHAPE,
                "bn_backward_input: argument dx");
    CHECK_FAILS(dc_bn_backward_input(ctx, x, NULL, v5, k_eps, x, 0), DC_STATUS_SHAPE,
                "bn_backward_input: argument var");
    float w[4] = {1, 2, 3, 4}, b[2] = {0, 0}, mean[2] = {0, 0}, var[2] = {1, -0.5f};
    CHECK_FAILS(dc_bn_fold_host(2, 2, w, b, NULL, NULL, mean, var, k_eps), DC_STATUS_INVALID_ARG,
                "channel 1 has var + eps");
    CHECK_FAILS(dc_bn_fold(ctx, x, v5, NULL, NULL, v5, v5, k_eps), DC_STATUS_SHAPE, "bn_fold: argument b");
    dc_tensor_free(x); dc_tensor_free(y); dc_tensor_free(v); dc_tensor_free(v5); dc_tensor_free(x1);
}

int main(void)
{
    dc_rng_seed(&rng, 5);
    ops_must(dc_ctx_new(&ctx, NULL));
    inplace_backward_case();
    fold_case(0, 0);
    fold_case(1, 1);
    test_errors();
    dc_ctx_free(ctx);
    return dc_test_finish("test_ops_bn");
}
