/* Convolution forward + backward throughput for Inception-v2's convolutions at a 1000x1000 input
 * (bench/inception_shapes.h, batch 1), against the rate of the bare GEMMs that carry the same
 * FLOPs, measured in the same run with the same (tuned) CLBlast parameters:
 *   forward          dc_conv2d_forward (im2col + GEMM NN + bias)       vs GEMM M x N x K, NN
 *   backward input   dc_conv2d_backward_input (GEMM TN + col2im)       vs GEMM K x N x M, TN
 *   backward params  dc_conv2d_backward_params (im2col + GEMM NT + db) vs GEMM M x K x N, NT
 * Each counts 2 M N K flops; the ratio conv rate / GEMM rate shows what im2col, col2im, bias and
 * the calls around the GEMM cost (the target is at least 70 %).
 *
 *   bench_conv [--reps N] [--quick]
 *
 * Medians of N timed runs (default 3) after a warm-up; --quick measures every third layer. The
 * totals weigh each row by the number of layers with that shape (one training step's
 * convolutions). */
#define _POSIX_C_SOURCE 200809L
#include "bench_util.h"

#include "ops/ops_tune.h"
#include "inception_shapes.h"
#include "ops/ops.h"

enum { OP_FWD, OP_BWD_INPUT, OP_BWD_PARAMS, N_OPS };

typedef struct layer_bufs {
    dc_tensor *x, *w, *b, *y, *dy, *dx, *dw, *db, *cols;
    dc_conv_params p;
} layer_bufs;

static dc_status run_conv(dc_ctx *ctx, layer_bufs *t, int op, dc_pool *scratch)
{
    switch (op) {
    case OP_FWD: return dc_conv2d_forward(ctx, t->x, t->w, t->b, t->y, &t->p, scratch);
    case OP_BWD_INPUT: return dc_conv2d_backward_input(ctx, t->dy, t->w, t->dx, &t->p, 0, scratch);
    default: return dc_conv2d_backward_params(ctx, t->x, t->dy, t->dw, t->db, &t->p, 0, scratch);
    }
}

/* The bare GEMM of each op on same-sized buffers (cols stands for im2col's output). */
static dc_status run_gemm(dc_ctx *ctx, const inception_layer *l, layer_bufs *t, int op)
{
    const int m = l->m, n = l->n, k = l->k;
    switch (op) {
    case OP_FWD:
        return dc_gemm_mem(ctx, DC_TRANS_NO, DC_TRANS_NO, m, n, k, 1.0f, t->w->buf, 0, k,
                           t->cols->buf, 0, n, 0.0f, t->y->buf, 0, n);
    case OP_BWD_INPUT:
        return dc_gemm_mem(ctx, DC_TRANS_YES, DC_TRANS_NO, k, n, m, 1.0f, t->w->buf, 0, k,
                           t->dy->buf, 0, n, 0.0f, t->cols->buf, 0, n);
    default:
        return dc_gemm_mem(ctx, DC_TRANS_NO, DC_TRANS_YES, m, k, n, 1.0f, t->dy->buf, 0, n,
                           t->cols->buf, 0, n, 0.0f, t->dw->buf, 0, k);
    }
}

/* Median seconds of reps runs after a warm-up; gemm selects the bare GEMM. */
static dc_status time_op(dc_ctx *ctx, const inception_layer *l, layer_bufs *t, int op, int gemm,
                         dc_pool *scratch, int reps, double *out)
{
    double s[64];
    for (int r = -1; r < reps; r++) {
        double t0 = bench_now();
        DC_TRY(gemm ? run_gemm(ctx, l, t, op) : run_conv(ctx, t, op, scratch));
        DC_TRY(dc_ctx_finish(ctx));
        if (r >= 0) s[r] = bench_now() - t0;
    }
    *out = bench_median(s, reps);
    return DC_STATUS_OK;
}

static dc_status new_tensor(dc_ctx *ctx, int d0, int d1, int d2, int d3, dc_rng *rng, dc_tensor **out)
{
    const int shape[4] = {d0, d1, d2, d3};
    const int ndim = d3 ? 4 : d2 ? 3 : d1 ? 2 : 1;
    DC_TRY(dc_tensor_new(ctx, ndim, shape, out));
    float *h = malloc((*out)->numel * sizeof(float));
    if (!h) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory");
    for (size_t i = 0; i < (*out)->numel; i++) h[i] = (float)(dc_rng_uniform(rng) - 0.5);
    dc_status st = dc_tensor_upload(*out, h, (*out)->numel);
    free(h);
    return st;
}

static void free_bufs(layer_bufs *t)
{
    dc_tensor *all[] = {t->x, t->w, t->b, t->y, t->dy, t->dx, t->dw, t->db, t->cols};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) dc_tensor_free(all[i]);
    memset(t, 0, sizeof *t);
}

static dc_status layer_setup(dc_ctx *ctx, const inception_layer *l, dc_rng *rng, layer_bufs *t)
{
    memset(t, 0, sizeof *t);
    t->p = dc_conv_params_same(l->in_hw, l->in_hw, l->kh, l->kw, l->stride, l->stride);
    int oh, ow;
    DC_TRY(dc_conv2d_out_size(&t->p, l->in_hw, l->in_hw, &oh, &ow));
    if (oh * ow != l->n || l->cin * l->kh * l->kw != l->k || l->cout != l->m)
        return DC_FAIL(DC_STATUS_INTERNAL, "%s: the shape table disagrees with the convolution "
                       "(%dx%d output)", l->name, oh, ow);
    DC_TRY(new_tensor(ctx, 1, l->cin, l->in_hw, l->in_hw, rng, &t->x));
    DC_TRY(new_tensor(ctx, l->cout, l->cin, l->kh, l->kw, rng, &t->w));
    DC_TRY(new_tensor(ctx, l->cout, 0, 0, 0, rng, &t->b));
    DC_TRY(new_tensor(ctx, 1, l->cout, oh, ow, rng, &t->y));
    DC_TRY(new_tensor(ctx, 1, l->cout, oh, ow, rng, &t->dy));
    DC_TRY(new_tensor(ctx, 1, l->cin, l->in_hw, l->in_hw, rng, &t->dx));
    DC_TRY(new_tensor(ctx, l->cout, l->cin, l->kh, l->kw, rng, &t->dw));
    DC_TRY(new_tensor(ctx, l->cout, 0, 0, 0, rng, &t->db));
    return new_tensor(ctx, l->k, l->n, 0, 0, rng, &t->cols);
}

int main(int argc, char **argv)
{
    int reps = 3, step;
    if (bench_args(argc, argv, "bench_conv", &reps, &step)) return 2;
    dc_ctx *ctx;
    if (dc_ctx_new(&ctx, NULL) != DC_STATUS_OK) return bench_fail("bench_conv", "opening the device");
    dc_pool *scratch;
    if (dc_pool_new(ctx, &scratch) != DC_STATUS_OK) return bench_fail("bench_conv", "creating the scratch pool");
    const dc_device_info *dev = dc_ctx_info(ctx);
    dc_tune_entry tuned;
    dc_tune_origin origin;
    if (dc_tune_lookup(dev, &tuned, &origin) != DC_STATUS_OK) return bench_fail("bench_conv", "reading the tuned entry");
    const char *env = getenv("DEEPCEE_TUNE");
    if (env && (strcmp(env, "off") == 0 || strcmp(env, "0") == 0)) origin = DC_TUNE_ORIGIN_NONE;

    printf("convolution forward + backward vs the bare GEMMs, Inception-v2 at 1000x1000, batch 1\n");
    printf("device: %s (%s, driver %s); CLBlast parameters: %s; median of %d runs\n", dev->name,
           dev->platform, dev->driver, dc_tune_origin_name(origin), reps);
    printf("\n%-32s %3s | %17s | %17s | %17s | %6s\n", "", "", "forward", "backward input",
           "backward params", "");
    printf("%-32s %3s | %5s %5s %5s | %5s %5s %5s | %5s %5s %5s | %6s\n", "layers", "x", "conv",
           "gemm", "ratio", "conv", "gemm", "ratio", "conv", "gemm", "ratio", "all");
    printf("%-32s %3s | %5s %5s %5s | %5s %5s %5s | %5s %5s %5s | %6s\n", "", "", "GF/s", "GF/s", "",
           "GF/s", "GF/s", "", "GF/s", "GF/s", "", "ratio");

    double sum_f = 0, sum_conv[N_OPS] = {0}, sum_gemm[N_OPS] = {0};
    dc_rng rng;
    dc_rng_seed(&rng, 3);
    for (int i = 0; i < N_INCEPTION_LAYERS; i += step) {
        const inception_layer *l = &inception_layers[i];
        layer_bufs t;
        if (layer_setup(ctx, l, &rng, &t) != DC_STATUS_OK) return bench_fail("bench_conv", l->name);
        const double f = 2.0 * l->m * (double)l->n * l->k;
        double tc[N_OPS], tg[N_OPS], all_c = 0, all_g = 0;
        printf("%-32s %3d |", l->name, l->count);
        for (int op = 0; op < N_OPS; op++) {
            if (time_op(ctx, l, &t, op, 0, scratch, reps, &tc[op]) != DC_STATUS_OK ||
                time_op(ctx, l, &t, op, 1, scratch, reps, &tg[op]) != DC_STATUS_OK)
                return bench_fail("bench_conv", l->name);
            printf(" %5.1f %5.1f %4.0f%% |", f / tc[op] * 1e-9, f / tg[op] * 1e-9, 100 * tg[op] / tc[op]);
            sum_conv[op] += tc[op] * l->count;
            sum_gemm[op] += tg[op] * l->count;
            all_c += tc[op];
            all_g += tg[op];
        }
        printf(" %5.0f%%\n", 100 * all_g / all_c);
        fflush(stdout);
        sum_f += f * l->count;
        free_bufs(&t);
    }
    double all_c = 0, all_g = 0;
    printf("%-32s %3s |", "network total (weighted by x)", "");
    for (int op = 0; op < N_OPS; op++) {
        printf(" %5.1f %5.1f %4.0f%% |", sum_f / sum_conv[op] * 1e-9, sum_f / sum_gemm[op] * 1e-9,
               100 * sum_gemm[op] / sum_conv[op]);
        all_c += sum_conv[op];
        all_g += sum_gemm[op];
    }
    printf(" %5.0f%%\n", 100 * all_g / all_c);
    printf("forward + backward: conv %.1f GFLOPS, bare GEMMs %.1f GFLOPS (%.1f GFLOP per step)\n",
           3 * sum_f / all_c * 1e-9, 3 * sum_f / all_g * 1e-9, 3 * sum_f * 1e-9);
    dc_pool_free(scratch);
    dc_ctx_free(ctx);
    return 0;
}
