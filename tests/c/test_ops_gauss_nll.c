/* The Gaussian negative log-likelihood loss of the property heads (dc_gauss_nll_forward /
 * _backward, engine/ops/ops_basic.h): a hand-computed case and the shape and argument errors.
 * Random shapes with per-value weights (some zero, their targets NaN), against a C reference and
 * finite differences, are in the op harness (tests/c/test_ops_harness.c). */
#include "dc_test.h"
#include "ops/ops_basic.h"
#include "test_ops_util.h"

static dc_ctx *ctx;

static dc_tensor *tensor(int ndim, const int *shape) { return ops_tensor(ctx, ndim, shape, NULL); }
static dc_tensor *tensor_from(int ndim, const int *shape, const float *host)
{
    return ops_tensor(ctx, ndim, shape, host);
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
    ops_must(dc_tensor_download(loss, &l, 1));
    CHECK_CLOSE(l, 1.5 + log(2.0), 1e-6, 1e-6);
    CHECK_OK(dc_gauss_nll_backward(ctx, p, t, w, 2.0f, 1.0f, dp));
    ops_must(dc_tensor_download(dp, g, 4));
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
    ops_must(dc_ctx_new(&ctx, NULL));
    test_hand_and_errors();
    dc_ctx_free(ctx);
    return dc_test_finish("test_ops_gauss_nll");
}
