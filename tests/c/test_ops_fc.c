/* Fully connected layer: shape errors. Its forward and backward (input, weights, bias; overwrite
 * and accumulate) on the shapes the detector uses are in the op harness
 * (tests/c/test_ops_harness.c). */
#include "dc_test.h"
#include "ops/ops_conv.h"
#include "test_ops_util.h"

static dc_ctx *ctx;

static dc_tensor *tensor(int ndim, const int *shape) { return ops_tensor(ctx, ndim, shape, NULL); }

static void test_errors(void)
{
    dc_tensor *x = tensor(4, (int[]){3, 4, 1, 1}), *w = tensor(2, (int[]){5, 4});
    dc_tensor *y = tensor(2, (int[]){3, 5}), *wbad = tensor(2, (int[]){5, 3});
    dc_tensor *ybad = tensor(2, (int[]){3, 4}), *b = tensor(1, (int[]){4});
    CHECK_FAILS(dc_fc_forward(ctx, x, wbad, NULL, y), DC_STATUS_SHAPE,
                "fc_forward: argument w has shape [5, 3], expected [5, 4]");
    CHECK_FAILS(dc_fc_forward(ctx, x, w, NULL, ybad), DC_STATUS_SHAPE, "fc_forward: argument y");
    CHECK_FAILS(dc_fc_forward(ctx, x, w, b, y), DC_STATUS_SHAPE, "fc_forward: argument b");
    CHECK_FAILS(dc_fc_backward_input(ctx, ybad, w, x, 0), DC_STATUS_SHAPE, "fc_backward_input: argument dy");
    CHECK_FAILS(dc_fc_backward_params(ctx, x, y, wbad, NULL, 0), DC_STATUS_SHAPE,
                "fc_backward_params: argument dw");
    CHECK_FAILS(dc_fc_backward_params(ctx, x, y, w, b, 0), DC_STATUS_SHAPE, "fc_backward_params: argument db");
    dc_tensor_free(x); dc_tensor_free(w); dc_tensor_free(y); dc_tensor_free(wbad);
    dc_tensor_free(ybad); dc_tensor_free(b);
}

int main(void)
{
    ops_must(dc_ctx_new(&ctx, NULL));
    test_errors();
    dc_ctx_free(ctx);
    return dc_test_finish("test_ops_fc");
}
