/* Work-group sizes from the device's limits (dc_ctx_group_size), checked against the limits queried
 * here directly from OpenCL, and the kernels with fixed groups (bias_grad, the losses, match_cols)
 * built with them: a power of two, never above what was asked, the device's maximum group size and
 * first work-item size, or half its local memory at the given bytes per item. */
#include "dc_test.h"
#include "tensor.h"

static size_t expected(size_t want, size_t max_wg, size_t item0, cl_ulong local, size_t per_item)
{
    size_t limit = max_wg < item0 ? max_wg : item0;
    if (per_item && (size_t)(local / 2) / per_item < limit) limit = (size_t)(local / 2) / per_item;
    size_t g = 1;
    while (g * 2 <= want && g * 2 <= limit) g *= 2;
    return g;
}

int main(void)
{
    dc_ctx *ctx = NULL;
    CHECK_OK(dc_ctx_new(&ctx, NULL));
    if (!ctx) return dc_test_finish("test_cl_limits");
    cl_device_id d = dc_ctx_device(ctx);
    size_t max_wg = 0, items[3] = {0, 0, 0};
    cl_ulong local = 0;
    CHECK(clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof max_wg, &max_wg, NULL) == CL_SUCCESS, "query");
    CHECK(clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof items, items, NULL) == CL_SUCCESS, "query");
    CHECK(clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof local, &local, NULL) == CL_SUCCESS, "query");
    const size_t wants[] = {1, 3, 64, 100, 256, 1 << 20};
    const size_t per_item[] = {0, 4, 8, 1024, (size_t)(local / 2) / 3, (size_t)local};
    for (size_t i = 0; i < sizeof wants / sizeof wants[0]; i++)
        for (size_t j = 0; j < sizeof per_item / sizeof per_item[0]; j++) {
            const size_t g = dc_ctx_group_size(ctx, wants[i], per_item[j]);
            const size_t e = expected(wants[i], max_wg, items[0], local, per_item[j]);
            CHECK(g == e, "group for want %zu, %zu bytes per item: %zu, expected %zu", wants[i],
                  per_item[j], g, e);
            CHECK(g >= 1 && (g & (g - 1)) == 0 && g <= (wants[i] > 1 ? wants[i] : 1) && g <= max_wg,
                  "group %zu is a power of two within the limits", g);
        }
    /* a third of half the local memory per item leaves room for 3 items: the group is 2 */
    if (max_wg >= 2 && items[0] >= 2)
        CHECK(dc_ctx_group_size(ctx, 64, (size_t)(local / 2) / 3) == 2, "local memory bounds the group");
    dc_ctx_free(ctx);
    return dc_test_finish("test_cl_limits");
}
