/* Activations for a step come from one pool reset per step, so device memory stays flat: 2000
 * steps of (reset; allocate the same sequence of activations; forward and backward of a small
 * branch-and-concat network ending in a loss) must leave dc_pool_bytes exactly where the first
 * step left it. The loss must also be bit-identical every step (same inputs, deterministic ops),
 * which shows the reused buffers carry no stale state into the result. */
#include "dc_test.h"
#include "ops/ops_basic.h"
#include "test_ops_util.h"

enum { STEPS = 2000, C = 8, H = 15, W = 15 };

static dc_tensor *act(dc_pool *pool, int ndim, int d0, int d1, int d2, int d3)
{
    dc_tensor *t;
    ops_must(dc_pool_tensor(pool, ndim, (int[]){d0, d1, d2, d3}, &t));
    return t;
}

/* One step; returns the loss. */
static float step(dc_ctx *ctx, dc_pool *pool, const float *image, const dc_tensor *label)
{
    const dc_pool2d_params s2 = {3, 3, 2, 2, 0, 0, 1}, s1 = {3, 3, 1, 1, 0, 0, 1};
    dc_pool_reset(pool);
    dc_tensor *x = act(pool, 4, 1, C, H, W), *r = act(pool, 4, 1, C, H, W);
    ops_must(dc_tensor_upload(x, image, x->numel));
    ops_must(dc_relu_forward(ctx, x, r));
    dc_tensor *m = act(pool, 4, 1, C, 8, 8), *a = act(pool, 4, 1, C, 8, 8);
    ops_must(dc_maxpool_forward(ctx, r, m, &s2));
    ops_must(dc_avgpool_forward(ctx, m, a, &s1));
    dc_tensor *cat = act(pool, 4, 1, 2 * C, 8, 8), *logits = act(pool, 2, 1, 2 * C, 0, 0);
    const dc_tensor *parts[] = {m, a};
    ops_must(dc_concat_forward(ctx, parts, 2, cat));
    ops_must(dc_global_avgpool_forward(ctx, cat, logits));
    dc_tensor *loss = act(pool, 1, 1, 0, 0, 0);
    ops_must(dc_softmax_xent_forward(ctx, logits, label, NULL, 1.0f, loss));

    dc_tensor *dlogits = act(pool, 2, 1, 2 * C, 0, 0), *dcat = act(pool, 4, 1, 2 * C, 8, 8);
    ops_must(dc_softmax_xent_backward(ctx, logits, label, NULL, 1.0f, 1.0f, dlogits));
    ops_must(dc_global_avgpool_backward(ctx, dlogits, dcat));
    dc_tensor *dm = act(pool, 4, 1, C, 8, 8), *da = act(pool, 4, 1, C, 8, 8);
    dc_tensor *dm2 = act(pool, 4, 1, C, 8, 8), *dr = act(pool, 4, 1, C, H, W);
    dc_tensor *dsplit[] = {dm, da};
    ops_must(dc_concat_backward(ctx, dcat, dsplit, 2));
    ops_must(dc_avgpool_backward(ctx, da, dm2, &s1));
    ops_must(dc_add_forward(ctx, dm, dm2, dm));
    ops_must(dc_maxpool_backward_given_y(ctx, r, m, dm, dr, &s2));
    ops_must(dc_relu_backward(ctx, r, dr, dr));
    float l;
    ops_must(dc_tensor_download(loss, &l, 1)); /* also waits for the step */
    return l;
}

int main(void)
{
    dc_ctx *ctx;
    dc_pool *pool;
    ops_must(dc_ctx_new(&ctx, NULL));
    ops_must(dc_pool_new(ctx, &pool));
    dc_rng rng;
    dc_rng_seed(&rng, 11);
    float image[C * H * W];
    for (int i = 0; i < C * H * W; i++) image[i] = (float)dc_rng_normal(&rng);
    dc_tensor *label;
    ops_must(dc_tensor_new(ctx, 1, (int[]){1}, &label));
    ops_must(dc_tensor_upload(label, (float[]){3}, 1));

    float first_loss = step(ctx, pool, image, label);
    size_t first_bytes = dc_pool_bytes(pool);
    CHECK(first_bytes > 0, "the pool holds nothing after a step");
    int grew = 0, changed = 0;
    for (int s = 1; s < STEPS; s++) {
        float l = step(ctx, pool, image, label);
        if (dc_pool_bytes(pool) != first_bytes && !grew++)
            fprintf(stderr, "step %d: pool holds %zu bytes, %zu after step 1\n", s,
                    dc_pool_bytes(pool), first_bytes);
        changed += memcmp(&l, &first_loss, sizeof l) != 0;
    }
    CHECK(!grew, "pool memory grew on %d of %d steps", grew, STEPS - 1);
    CHECK(!changed, "loss differed from the first step's on %d steps", changed);
    CHECK(isfinite(first_loss) && first_loss > 0, "loss %g", first_loss);
    printf("pool: %zu bytes after step 1 and after step %d\n", first_bytes, STEPS);

    dc_tensor_free(label);
    dc_pool_free(pool);
    dc_ctx_free(ctx);
    return dc_test_finish("test_pool_flat");
}
