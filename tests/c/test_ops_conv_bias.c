/* Per-channel bias: shape errors. Its forward and gradient (fewer and more spatial positions than
 * the work-group, [N, C], 3-D; overwrite, accumulate, bit-identical repeats) are in the op harness
 * (tests/c/test_ops_harness.c). */
#include "dc_test.h"
#include "ops/ops_conv.h"
#include "test_ops_util.h"

int main(void)
{
    dc_ctx *ctx;
    ops_must(dc_ctx_new(&ctx, NULL));
    dc_tensor *y, *b;
    CHECK_OK(dc_tensor_new(ctx, 4, (int[]){2, 3, 4, 4}, &y));
    CHECK_OK(dc_tensor_new(ctx, 1, (int[]){4}, &b));
    CHECK_FAILS(dc_bias_forward(ctx, y, b), DC_STATUS_SHAPE, "bias_forward: argument b has shape [4], expected [3]");
    CHECK_FAILS(dc_bias_backward(ctx, y, b, 0), DC_STATUS_SHAPE, "bias_backward: argument db");
    CHECK_FAILS(dc_bias_forward(ctx, b, b), DC_STATUS_SHAPE, "bias_forward: argument y has shape [4]");
    dc_tensor_free(y);
    dc_tensor_free(b);
    dc_ctx_free(ctx);
    return dc_test_finish("test_ops_conv_bias");
}
