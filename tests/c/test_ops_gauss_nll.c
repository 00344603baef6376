/* The Gaussian negative log-likelihood loss of the property heads (dc_gauss_nll_forward /
 * _backward, engine/ops/ops_basic.h) against a plain C reference in double on random shapes and
 * values, with per-value weights (some zero, their targets NaN: they must not be read), a
 * hand-computed case, the backward against central finite differences of the reference, and
 * shape and argument errors. Tolerances as tests/c/test_ops_basic.c: forward 1e-4 relative
 * (a sum over hundreds of values in float), backward within 1e-4 of the numeric gradient. */
#include "dc_test.h"
#include "ops/ops_basic.h"

static dc_ctx *ctx;
static dc_rng rng;

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

static float *random_floats(size_t n, double lo, double hi)
{
    float *a = malloc(n * sizeof *a);
    for (size_t i = 0; i < n; i++) a[i] = (float)(lo + (hi - lo) * dc_rng_uniform(&rng));
    return a;
}

/* max |got - want| <= rel * max |want| */
static void check_near(const char *what, const float *got, const double *want, size_t n, double rel)
{
    double err = 0.0, scale = 0.0;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(got[i] - want[i]);
        if (e > err || e != e) {
            err = e;
            worst = i;
        }
        if (fabs(want[i]) > scale) scale = fabs(want[i]);
    }
    CHECK(err <= rel * scale, "%s: max error %.3g at %zu (got %.9g, want %.9g), bound %.3g x %.3g",
          what, err, worst, got[worst], want[worst], rel, scale);
}

typedef struct {
    int r, k;
    const double *t, *w;
    double norm;
} ref_ud;

/* sum_{r,j} w (0.5 (t - mu)^2 exp(-2 s) + s) / norm, in double */
static double ref_loss(const double *p, const ref_ud *u)
{
    double total = 0.0;
    for (int r = 0; r < u->r; r++)
        for (int j = 0; j < u->k; j++) {
            size_t i = (size_t)r * u->k + j;
            double w = u->w ? u->w[i] : 1.0;
            if (w == 0.0) continue;
            double mu = p[(size_t)r * 2 * u->k + 2 * j], s = p[(size_t)r * 2 * u->k + 2 * j + 1];
            double d = u->t[i] - mu;
            total += w * (0.5 * d * d * exp(-2.0 * s) + s);
        }
    return total / u->norm;
}

static void test_random(int R, int K, int weighted)
{
    char what[96];
    snprintf(what, sizeof what, "gauss_nll R=%d K=%d%s", R, K, weighted ? " weighted" : "");
    size_t np = (size_t)R * 2 * K, nt = (size_t)R * K;
    float *hp = random_floats(np, -1, 1), *ht = random_floats(nt, -2, 2);
    float *hw = weighted ? random_floats(nt, 0.5, 2) : NULL;
    if (hw)
        for (size_t i = 0; i < nt; i += 3) { /* every third value ignored, its target unreadable */
            hw[i] = 0.0f;
            ht[i] = NAN;
        }
    double *pd = malloc(np * sizeof *pd), *td = malloc(nt * sizeof *td), *wd = hw ? malloc(nt * sizeof *wd) : NULL;
    for (size_t i = 0; i < np; i++) pd[i] = hp[i];
    for (size_t i = 0; i < nt; i++) {
        td[i] = ht[i];
        if (wd) wd[i] = hw[i];
    }
    ref_ud u = {R, K, td, wd, 3.0};
    dc_tensor *p = tensor_from(2, (int[]){R, 2 * K}, hp), *t = tensor_from(2, (int[]){R, K}, ht);
    dc_tensor *w = hw ? tensor_from(2, (int[]){R, K}, hw) : NULL, *loss = tensor(1, (int[]){1});
    dc_tensor *dp = tensor(2, (int[]){R, 2 * K});
    CHECK_OK(dc_gauss_nll_forward(ctx, p, t, w, 3.0f, loss));
    float l;
    must(dc_tensor_download(loss, &l, 1));
    double want = ref_loss(pd, &u);
    check_near(what, &l, &want, 1, 1e-4);

    /* dloss 0.7: the loss's weight in the total */
    CHECK_OK(dc_gauss_nll_backward(ctx, p, t, w, 3.0f, 0.7f, dp));
    double *num = malloc(np * sizeof *num);
    const double eps = 1e-4;
    for (size_t i = 0; i < np; i++) {
        double keep = pd[i];
        pd[i] = keep + eps;
        double lp = ref_loss(pd, &u);
        pd[i] = keep - eps;
        double lm = ref_loss(pd, &u);
        pd[i] = keep;
        num[i] = 0.7 * (lp - lm) / (2 * eps);
    }
    float *got = malloc(np * sizeof *got);
    must(dc_tensor_download(dp, got, np));
    strncat(what, " backward vs finite differences", sizeof what - strlen(what) - 1);
    check_near(what, got, num, np, 1e-4);
    if (hw) /* an ignored value has exactly zero gradient in both its columns */
        for (int r = 0; r < R; r++)
            for (int j = 0; j < K; j++)
                if (hw[(size_t)r * K + j] == 0.0f)
                    CHECK(got[(size_t)r * 2 * K + 2 * j] == 0.0f && got[(size_t)r * 2 * K + 2 * j + 1] == 0.0f,
                          "%s: ignored value (%d, %d) has a gradient", what, r, j);
    free(hp), free(ht), free(hw), free(pd), free(td), free(wd), free(num), free(got);
    dc_tensor_free(p), dc_tensor_free(t), dc_tensor_free(w), dc_tensor_free(loss), dc_tensor_free(dp);
}

static void test_hand_and_errors(void)
{
    /* one row, two properties: (mu 1, s 0) vs t 3 -> 0.5 * 4 * 1 + 0 = 2; (mu 0, s ln 2) vs t 2 ->
     * 0.5 * 4 / 4 + ln 2 = 0.5 + ln 2. Weights (1, 2), norm 2: (2 + 2 (0.5 + ln 2)) / 2 = 1.5 + ln 2.
     * Gradients (scale dloss / norm = 0.5): property 0: dmu = -0.5 * 2 * 1 = -1, ds = 0.5 (1 - 4) = -1.5;
     * property 1 (weight 2): dmu = -0.5 * 2 * 2 / 4 = -0.5, ds = 0.5 * 2 * (1 - 4 / 4) = 0. */
    float ln2 = logf(2.0f);
    dc_tensor *p = tensor_from(2, (int[]){1, 4}, (float[]){1, 0, 0, ln2});
    dc_tensor *t = tensor_from(2, (int[]){1, 2}, (float[]){3, 2});
    dc_tensor *w = tensor_from(2, (int[]){1, 2}, (float[]){1, 2}), *loss = tensor(1, (int[]){1});
    dc_tensor *dp = tensor(2, (int[]){1, 4});
    CHECK_OK(dc_gauss_nll_forward(ctx, p, t, w, 2.0f, loss));
    float l, g[4];
    must(dc_tensor_download(loss, &l, 1));
    CHECK_CLOSE(l, 1.5 + log(2.0), 1e-6, 1e-6);
    CHECK_OK(dc_gauss_nll_backward(ctx, p, t, w, 2.0f, 1.0f, dp));
    must(dc_tensor_download(dp, g, 4));
    CHECK_CLOSE(g[0], -1.0, 1e-6, 1e-6);
    CHECK_CLOSE(g[1], -1.5, 1e-6, 1e-6);
    CHECK_CLOSE(g[2], -0.5, 1e-6, 1e-6);
    CHECK_CLOSE(g[3], 0.0, 1e-6, 1e-6);

    dc_tensor *odd = tensor(2, (int[]){1, 3}), *t3 = tensor(2, (int[]){1, 3}), *w1 = tensor(1, (int[]){1});
    dc_tensor *l2 = tensor(1, (int[]){2});
    CHECK_FAILS(dc_gauss_nll_forward(ctx, odd, t, NULL, 1.0f, loss), DC_STATUS_INVALID_ARG,
                "gauss_nll_forward: argument pred has 3 columns");
    CHECK_FAILS(dc_gauss_nll_forward(ctx, p, t3, NULL, 1.0f, loss), DC_STATUS_SHAPE, "argument target");
    CHECK_FAILS(dc_gauss_nll_forward(ctx, p, t, w1, 1.0f, loss), DC_STATUS_SHAPE, "argument weights");
    CHECK_FAILS(dc_gauss_nll_forward(ctx, p, t, w, 1.0f, l2), DC_STATUS_SHAPE, "argument loss");
    CHECK_FAILS(dc_gauss_nll_forward(ctx, p, t, w, 0.0f, loss), DC_STATUS_INVALID_ARG, "norm");
    CHECK_FAILS(dc_gauss_nll_backward(ctx, p, t, w, 1.0f, 1.0f, t3), DC_STATUS_SHAPE, "gauss_nll_backward: argument dpred");
    dc_tensor_free(p), dc_tensor_free(t), dc_tensor_free(w), dc_tensor_free(loss), dc_tensor_free(dp);
    dc_tensor_free(odd), dc_tensor_free(t3), dc_tensor_free(w1), dc_tensor_free(l2);
}

int main(void)
{
    must(dc_ctx_new(&ctx, NULL));
    dc_rng_seed(&rng, 20191210);
    test_random(1, 1, 0);
    test_random(7, 2, 1);
    test_random(300, 2, 1); /* more values than the reducing work-group has items */
    test_random(13, 3, 0);
    test_hand_and_errors();
    dc_ctx_free(ctx);
    return dc_test_finish("test_ops_gauss_nll");
}
