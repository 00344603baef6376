/* Momentum SGD and clipping by global norm (engine/ops/ops_basic.h): a worked example by hand,
 * then random tensors of odd sizes against a double-precision reference.
 *
 * Worked example (lr 0.1, momentum 0.9, accumulators starting at 0):
 *   params p1 = [1, 2], p2 = [0.5]; grads g1 = [3, 4], g2 = [12].
 *   global norm = sqrt(3^2 + 4^2 + 12^2) = sqrt(169) = 13.
 *   Step 1, clip 6.5: scale = 6.5 / max(13, 6.5) = 0.5, so g1 = [1.5, 2], g2 = [6].
 *     accum1 = 0.9 * 0 + [1.5, 2] = [1.5, 2];   p1 = [1, 2] - 0.1 * [1.5, 2] = [0.85, 1.8]
 *     accum2 = [6];                              p2 = 0.5 - 0.6 = -0.1
 *   Step 2, fresh grads [3, 4], [12], clip 100 > 13: unchanged.
 *     accum1 = 0.9 * [1.5, 2] + [3, 4] = [4.35, 5.8];  p1 = [0.85, 1.8] - [0.435, 0.58] = [0.415, 1.22]
 *     accum2 = 0.9 * 6 + 12 = 17.4;                     p2 = -0.1 - 1.74 = -1.84
 * Bounds: the hand values within 1e-6 (absolute, a few float roundings). Random tensors of odd
 * sizes (one of 70001 values, reduced by several work-groups) against a double reference are in
 * the op harness (tests/c/test_ops_harness.c). */
#include "dc_test.h"
#include "ops/ops_basic.h"
#include "test_ops_util.h"

static dc_ctx *ctx;

static dc_tensor *tensor_from(int ndim, const int *shape, const float *host)
{
    return ops_tensor(ctx, ndim, shape, host);
}

static void expect_values(const char *what, const dc_tensor *t, const float *want)
{
    float got[4];
    ops_must(dc_tensor_download(t, got, t->numel));
    for (size_t i = 0; i < t->numel; i++)
        CHECK(fabsf(got[i] - want[i]) <= 1e-6f, "%s[%zu] = %.9g, want %.9g", what, i, got[i], want[i]);
}

static void test_worked_example(void)
{
    dc_tensor *p1 = tensor_from(1, (int[]){2}, (float[]){1, 2});
    dc_tensor *p2 = tensor_from(4, (int[]){1, 1, 1, 1}, (float[]){0.5f});
    dc_tensor *g1 = tensor_from(1, (int[]){2}, (float[]){3, 4});
    dc_tensor *g2 = tensor_from(4, (int[]){1, 1, 1, 1}, (float[]){12});
    dc_tensor *a1 = tensor_from(1, (int[]){2}, (float[]){0, 0});
    dc_tensor *a2 = tensor_from(4, (int[]){1, 1, 1, 1}, (float[]){0});
    dc_tensor *params[] = {p1, p2}, *grads[] = {g1, g2}, *accums[] = {a1, a2};

    float norm = 0;
    CHECK_OK(dc_clip_by_global_norm(ctx, grads, 2, 6.5f, &norm));
    CHECK_CLOSE(norm, 13.0, 1e-6, 0);
    expect_values("clipped g1", g1, (float[]){1.5f, 2});
    expect_values("clipped g2", g2, (float[]){6});
    CHECK_OK(dc_sgd_momentum_step(ctx, params, (const dc_tensor *const *)grads, accums, 2, 0.1f, 0.9f));
    expect_values("step 1 p1", p1, (float[]){0.85f, 1.8f});
    expect_values("step 1 p2", p2, (float[]){-0.1f});
    expect_values("step 1 accum1", a1, (float[]){1.5f, 2});

    ops_must(dc_tensor_upload(g1, (float[]){3, 4}, 2));
    ops_must(dc_tensor_upload(g2, (float[]){12}, 1));
    CHECK_OK(dc_clip_by_global_norm(ctx, grads, 2, 100.0f, &norm));
    CHECK_CLOSE(norm, 13.0, 1e-6, 0);
    expect_values("unclipped g1", g1, (float[]){3, 4});
    CHECK_OK(dc_sgd_momentum_step(ctx, params, (const dc_tensor *const *)grads, accums, 2, 0.1f, 0.9f));
    expect_values("step 2 p1", p1, (float[]){0.415f, 1.22f});
    expect_values("step 2 p2", p2, (float[]){-1.84f});
    expect_values("step 2 accum1", a1, (float[]){4.35f, 5.8f});
    expect_values("step 2 accum2", a2, (float[]){17.4f});

    /* clip <= 0: the norm only */
    CHECK_OK(dc_clip_by_global_norm(ctx, grads, 2, 0.0f, &norm));
    CHECK_CLOSE(norm, 13.0, 1e-6, 0);
    expect_values("measured only g2", g2, (float[]){12});

    /* errors */
    dc_tensor *bad[] = {p1, g1};
    CHECK_FAILS(dc_sgd_momentum_step(ctx, params, (const dc_tensor *const *)grads, bad, 2, 0.1f, 0.9f),
                DC_STATUS_SHAPE, "sgd_momentum_step: params[1]");
    CHECK_FAILS(dc_sgd_momentum_step(ctx, params, (const dc_tensor *const *)grads, accums, 0, 0.1f, 0.9f),
                DC_STATUS_INVALID_ARG, "sgd_momentum_step: params");
    CHECK_FAILS(dc_sgd_momentum_step(ctx, params, (const dc_tensor *const *)grads, accums, 2, NAN, 0.9f),
                DC_STATUS_INVALID_ARG, "learning rate");
    CHECK_FAILS(dc_clip_by_global_norm(ctx, NULL, 2, 1.0f, &norm), DC_STATUS_INVALID_ARG,
                "clip_by_global_norm: grads");
    dc_tensor *holes[] = {g1, NULL};
    CHECK_FAILS(dc_clip_by_global_norm(ctx, holes, 2, 1.0f, &norm), DC_STATUS_INVALID_ARG, "grads[1]");
    for (int i = 0; i < 2; i++) dc_tensor_free(params[i]), dc_tensor_free(grads[i]), dc_tensor_free(accums[i]);
}

int main(void)
{
    ops_must(dc_ctx_new(&ctx, NULL));
    test_worked_example();
    dc_ctx_free(ctx);
    return dc_test_finish("test_sgd");
}
