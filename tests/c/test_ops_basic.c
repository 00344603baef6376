/* The basic ops of engine/ops/ops_basic.h (elementwise, pooling, global average pool, concat,
 * losses): hand-computed cases and their shape and argument errors. Their forward and backward on
 * random shapes (against C references and finite differences) are in the op harness,
 * tests/c/test_ops_harness.c. */
#include "dc_test.h"
#include "ops/ops_basic.h"
#include "test_ops_util.h"

static dc_ctx *ctx;

static dc_tensor *tensor(int ndim, const int *shape) { return ops_tensor(ctx, ndim, shape, NULL); }
static dc_tensor *tensor_from(int ndim, const int *shape, const float *host)
{
    return ops_tensor(ctx, ndim, shape, host);
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
    ops_must(dc_tensor_download(y, h, 4));
    CHECK(h[0] == 2.5f && h[1] == 2.5f && h[2] == 2.5f && h[3] == 2.5f, "SAME avg %g %g %g %g",
          h[0], h[1], h[2], h[3]);
    /* max of all-negative values with SAME padding: padding must not win (it would give 0) */
    ops_must(dc_tensor_upload(x, (float[]){-4, -3, -2, -1}, 4));
    CHECK_OK(dc_maxpool_forward(ctx, x, y, &s1));
    ops_must(dc_tensor_download(y, h, 4));
    CHECK(h[0] == -1 && h[1] == -1 && h[2] == -1 && h[3] == -1, "SAME max %g %g %g %g", h[0], h[1],
          h[2], h[3]);
    /* ties: 2x2 s2 on a plane of equal values routes each gradient to the window's top-left */
    dc_pool2d_params k2 = {2, 2, 2, 2, 0, 0, 0};
    dc_tensor *x4 = tensor(4, (int[]){1, 1, 4, 4}), *dx4 = tensor(4, (int[]){1, 1, 4, 4});
    dc_tensor *dy2 = tensor_from(4, (int[]){1, 1, 2, 2}, (float[]){1, 2, 3, 4});
    dc_tensor *y2 = tensor(4, (int[]){1, 1, 2, 2});
    ops_must(dc_tensor_fill(x4, 0.5f));
    CHECK_OK(dc_maxpool_forward(ctx, x4, y2, &k2));
    CHECK_OK(dc_maxpool_backward_given_y(ctx, x4, y2, dy2, dx4, &k2));
    float g[16];
    ops_must(dc_tensor_download(dx4, g, 16));
    const float want[16] = {1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0};
    CHECK(memcmp(g, want, sizeof g) == 0, "tie rule: gradient not at the first maximum");
    CHECK_OK(dc_maxpool_backward(ctx, x4, dy2, dx4, &k2));
    ops_must(dc_tensor_download(dx4, g, 16));
    CHECK(memcmp(g, want, sizeof g) == 0, "tie rule without y: gradient not at the first maximum");
    /* overlapping 3x3 s1 windows on a plane of equal values: each window's gradient goes to its
     * first real element, so dx(i, j) counts the windows whose clipped top-left is (i, j): with
     * one row of padding, window rows start at 0, 0, 1, 2 (counts 2, 1, 1, 0), same for columns */
    dc_tensor *dy44 = tensor(4, (int[]){1, 1, 4, 4});
    ops_must(dc_tensor_fill(dy44, 1.0f));
    CHECK_OK(dc_maxpool_backward(ctx, x4, dy44, dx4, &s1));
    ops_must(dc_tensor_download(dx4, g, 16));
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

static void test_loss_hand_and_errors(void)
{
    /* two rows, K = 2: logits (0, 0) with class 1 -> log 2; logits (ln 3, 0) with class 0 ->
     * -log(3/4). Weights (1, 2), norm 2: (log 2 + 2 log(4/3)) / 2 = 0.634253 */
    dc_tensor *z = tensor_from(2, (int[]){2, 2}, (float[]){0, 0, logf(3), 0});
    dc_tensor *t = tensor_from(1, (int[]){2}, (float[]){1, 0});
    dc_tensor *w = tensor_from(1, (int[]){2}, (float[]){1, 2}), *loss = tensor(1, (int[]){1});
    CHECK_OK(dc_softmax_xent_forward(ctx, z, t, w, 2.0f, loss));
    float l;
    ops_must(dc_tensor_download(loss, &l, 1));
    CHECK_CLOSE(l, (log(2.0) + 2 * log(4.0 / 3.0)) / 2, 1e-6, 1e-6);
    /* a class index outside [0, K) on a weighted row makes the loss NaN */
    ops_must(dc_tensor_upload(t, (float[]){2, 0}, 2));
    CHECK_OK(dc_softmax_xent_forward(ctx, z, t, w, 2.0f, loss));
    ops_must(dc_tensor_download(loss, &l, 1));
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
    ops_must(dc_ctx_new(&ctx, NULL));
    test_elementwise_errors();
    test_pool_hand();
    test_pool_errors();
    test_concat_errors();
    test_loss_hand_and_errors();
    dc_ctx_free(ctx);
    return dc_test_finish("test_ops_basic");
}
