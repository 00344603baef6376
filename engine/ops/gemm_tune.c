/* The checked timing of CLBlast tuning candidates (declared in ops/ops_tune.h): GEMMs of the
 * network's shapes run as the convolutions run them, through the GEMM ops, always on CLBlast's
 * route. The stored-parameter side of the tuning (files, lookup, override) is engine/cl/tune.c,
 * below the ops. */
#define _POSIX_C_SOURCE 200809L
#include "ops/ops_tune.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/ops_conv.h"

/* ------------------------------------------------------------------ measuring candidates */

/* GEMMs of Inception-v2's convolutions at a 1000x1000 input as the engine issues them (conv.c:
 * forward NN y = w cols; backward TN dcols = w^T dy and NT dw = dy cols^T): M = output channels,
 * N = output pixels, K = input channels x kernel area. About 17 GFLOP in all. */
static const dc_tune_shape default_shapes[] = {
    {64, 250000, 147, 0, 0, "Conv2d_1a_7x7 fwd", 0},
    {64, 62500, 64, 0, 0, "Conv2d_2b_1x1 fwd", 1},
    {64, 15625, 192, 0, 0, "Mixed_3b 1x1 fwd", 1},
    {96, 15625, 864, 0, 0, "Mixed_3b 3x3 fwd", 0},
    {864, 15625, 96, 1, 0, "Mixed_3b 3x3 bwd-input", 0},
    {96, 864, 15625, 0, 1, "Mixed_3b 3x3 bwd-weights", 0},
    {224, 3969, 576, 0, 0, "Mixed_4b 1x1 fwd", 1},
    {192, 3969, 1728, 0, 0, "Mixed_4e 3x3 fwd", 0},
};

const dc_tune_shape *dc_tune_default_shapes(int *n)
{
    *n = (int)(sizeof default_shapes / sizeof default_shapes[0]);
    return default_shapes;
}

/* Small odd shapes that exercise padding, every transpose combination and both GEMM paths. */
static const dc_tune_shape odd_shapes[] = {
    {37, 291, 75, 0, 0, "odd NN", 0}, {70, 133, 41, 1, 0, "odd TN", 0}, {29, 65, 203, 0, 1, "odd NT", 0},
};
#define N_ODD ((int)(sizeof odd_shapes / sizeof odd_shapes[0]))

/* Host and device matrices large enough for every shape, filled once with seeded values; and the
 * buffers of the tile-padded path: s (staged A), bp (B padded, staged once per shape, as im2col
 * writes it in a convolution), cp (padded C). */
typedef struct bench {
    dc_ctx *ctx;
    cl_mem a, b, c, s, bp, cp;
    float *ha, *hb, *hc;
    const dc_tune_shape *staged;
    dc_gemm_pad pad;
    int padded;
} bench;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double shape_flops(const dc_tune_shape *sh) { return 2.0 * sh->m * (double)sh->n * sh->k; }

/* Reference entry C[i, j] in double, with sum |a b| (the scale of its rounding error). */
static double ref_entry(const dc_tune_shape *sh, const float *a, const float *b, int i, int j,
                        double *mag)
{
    double sum = 0, abs_sum = 0;
    for (int p = 0; p < sh->k; p++) {
        double x = sh->trans_a ? a[(size_t)p * sh->m + i] : a[(size_t)i * sh->k + p];
        double y = sh->trans_b ? b[(size_t)j * sh->k + p] : b[(size_t)p * sh->n + j];
        sum += x * y;
        abs_sum += fabs(x * y);
    }
    *mag = abs_sum;
    return sum;
}

/* One GEMM of the shape as the engine runs it (C packed m x n): the forward and backward-input
 * products (B not transposed) tile-padded where dc_gemm_pad_plan says so, as the convolutions
 * run them (A staged, the padded product, C copied out), else through dc_gemm_mem. */
static dc_status run_shape(bench *w, const dc_tune_shape *sh)
{
    if (w->staged != sh) {
        w->staged = sh;
        w->padded = 0;
        if (!sh->trans_b)
            DC_TRY(dc_gemm_pad_plan(w->ctx, sh->m, sh->n, sh->k, sh->in_place, &w->pad, &w->padded));
        if (w->padded)
            DC_TRY(dc_gemm_pad_copy(w->ctx, w->b, 0, sh->n, sh->k, sh->n, 0, w->bp, w->pad.k, w->pad.n));
    }
    if (!w->padded)
        return dc_gemm_mem(w->ctx, sh->trans_a, sh->trans_b, sh->m, sh->n, sh->k, 1.0f, w->a, 0,
                           sh->trans_a ? sh->m : sh->k, w->b, 0, sh->trans_b ? sh->k : sh->n, 0.0f,
                           w->c, 0, sh->n);
    if (sh->trans_a)
        DC_TRY(dc_gemm_pad_copy(w->ctx, w->a, 0, sh->m, sh->k, sh->m, 0, w->s, w->pad.k, w->pad.m));
    else
        DC_TRY(dc_gemm_pad_copy(w->ctx, w->a, 0, sh->k, sh->m, sh->k, 1, w->s, w->pad.k, w->pad.m));
    DC_TRY(dc_gemm_padded(w->ctx, &w->pad, w->s, w->bp, w->cp));
    return dc_gemm_pad_copy(w->ctx, w->cp, 0, w->pad.n, sh->m, sh->n, 0, w->c, sh->m, sh->n);
}

/* Run a shape once on C pre-filled with a sentinel and compare against the double reference: all
 * entries when `full`, else 1000 sampled ones plus a scan of all for non-finite or unwritten
 * values. Tolerance 1e-4 of sum |a b| per entry: float rounding stays near 1e-7 of it, while a
 * wrong tile, a skipped block or an unwritten entry is off by percents. A CLBlast failure (a set
 * that does not build or launch) is a rejection too. bad receives why, "" when fine. */
static dc_status check_shape(bench *w, const dc_tune_shape *sh, int full, char *bad, size_t bad_size)
{
    bad[0] = '\0';
    const float sentinel = 1e30f;
    const size_t nc = (size_t)sh->m * sh->n;
    cl_command_queue q = dc_ctx_queue(w->ctx);
    DC_CL_CHECK(clEnqueueFillBuffer(q, w->c, &sentinel, sizeof sentinel, 0, nc * sizeof(float), 0,
                                    NULL, NULL));
    if (run_shape(w, sh) != DC_STATUS_OK || dc_ctx_finish(w->ctx) != DC_STATUS_OK) {
        snprintf(bad, bad_size, "%s", dc_error_message());
        dc_error_clear();
        return DC_STATUS_OK;
    }
    DC_CL_CHECK(clEnqueueReadBuffer(q, w->c, CL_TRUE, 0, nc * sizeof(float), w->hc, 0, NULL, NULL));
    dc_rng rng;
    dc_rng_seed(&rng, 7);
    const size_t count = full ? nc : 1000;
    double worst = 0;
    for (size_t t = 0; t < count; t++) {
        const size_t idx = full ? t : dc_rng_below(&rng, (uint32_t)nc);
        double mag, ref = ref_entry(sh, w->ha, w->hb, (int)(idx / (size_t)sh->n),
                                    (int)(idx % (size_t)sh->n), &mag);
        double err = fabs((double)w->hc[idx] - ref) / (mag + 1e-30);
        if (!(err <= worst)) worst = err; /* also takes NaN */
    }
    for (size_t t = 0; t < nc && worst <= 1e-4; t++)
        if (!isfinite(w->hc[t]) || fabsf(w->hc[t]) >= 1e29f) worst = INFINITY;
    if (!(worst <= 1e-4))
        snprintf(bad, bad_size, "wrong result for %dx%dx%d %s%s (%s): relative error %.3g", sh->m,
                 sh->n, sh->k, sh->trans_a ? "T" : "N", sh->trans_b ? "T" : "N",
                 sh->label ? sh->label : "", worst);
    return DC_STATUS_OK;
}

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double median_of(double *t, int n)
{
    for (int x = 1; x < n; x++)
        for (int y = x; y > 0 && t[y] < t[y - 1]; y--) {
            double tmp = t[y];
            t[y] = t[y - 1];
            t[y - 1] = tmp;
        }
    return t[n / 2];
}

static dc_status measure_run(bench *w, const dc_tune_shape *shapes, int n_shapes, int reps,
                             double *times, double *cpu_times, dc_tune_measurement *out)
{
    for (int i = 0; i < N_ODD; i++) {
        DC_TRY(check_shape(w, &odd_shapes[i], 1, out->bad, sizeof out->bad));
        if (out->bad[0]) return DC_STATUS_OK;
    }
    const dc_device_info *dev = dc_ctx_info(w->ctx);
    const double units = dev->compute_units > 0 ? dev->compute_units : 1;
    double total_t = 0, total_c = 0, total_f = 0;
    for (int i = 0; i < n_shapes; i++) {
        const dc_tune_shape *sh = &shapes[i];
        DC_TRY(check_shape(w, sh, 0, out->bad, sizeof out->bad)); /* also the warm-up */
        if (out->bad[0]) return DC_STATUS_OK;
        double t[16], c[16];
        for (int r = 0; r < reps; r++) {
            if (dc_interrupt_pending()) return DC_FAIL(DC_STATUS_INTERRUPTED, "GEMM timing interrupted");
            double t0 = now_s(), c0 = cpu_s();
            DC_TRY(run_shape(w, sh));
            DC_TRY(dc_ctx_finish(w->ctx));
            t[r] = now_s() - t0;
            c[r] = (cpu_s() - c0) / units;
        }
        const double tm = median_of(t, reps), cm = median_of(c, reps);
        if (times) times[i] = tm;
        if (cpu_times) cpu_times[i] = cm;
        total_t += tm;
        total_c += cm;
        total_f += shape_flops(sh);
    }
    out->gflops = total_f / total_t * 1e-9;
    if (dev->type & CL_DEVICE_TYPE_CPU) out->cpu_gflops = total_f / total_c * 1e-9;
    return DC_STATUS_OK;
}

static dc_status measure_clblast(dc_ctx *ctx, const dc_tune_shape *shapes, int n_shapes, int reps,
                                 double *times, double *cpu_times, dc_tune_measurement *out)
{
    memset(out, 0, sizeof *out);
    if (!shapes) shapes = dc_tune_default_shapes(&n_shapes);
    DC_CHECK_ARG(n_shapes > 0, "GEMM timing needs at least one shape");
    DC_CHECK_ARG(reps >= 1 && reps <= 16, "GEMM timing repetitions %d must be 1..16", reps);
    size_t na = 1, nb = 1, nc = 1, ns = 1, nbp = 1, ncp = 1;
    for (int i = -N_ODD; i < n_shapes; i++) {
        const dc_tune_shape *sh = i < 0 ? &odd_shapes[i + N_ODD] : &shapes[i];
        DC_CHECK_ARG(sh->m > 0 && sh->n > 0 && sh->k > 0 && (double)sh->m * sh->n < 4e9 &&
                         (double)sh->k * sh->n < 4e9 && (double)sh->m * sh->k < 4e9,
                     "GEMM shape %d (%dx%dx%d) must have positive sizes and fewer than 4e9 values "
                     "per matrix", i + 1, sh->m, sh->n, sh->k);
        size_t a = (size_t)sh->m * sh->k, b = (size_t)sh->k * sh->n, c = (size_t)sh->m * sh->n;
        na = a > na ? a : na;
        nb = b > nb ? b : nb;
        nc = c > nc ? c : nc;
        dc_gemm_pad pad;
        int use;
        DC_TRY(dc_gemm_pad_plan(ctx, sh->m, sh->n, sh->k, sh->in_place, &pad, &use));
        if (use && !sh->trans_b) {
            a = (size_t)pad.k * pad.m, b = (size_t)pad.k * pad.n, c = (size_t)pad.m * pad.n;
            ns = a > ns ? a : ns;
            nbp = b > nbp ? b : nbp;
            ncp = c > ncp ? c : ncp;
        }
    }
    const double start = now_s();
    bench w = {.ctx = ctx};
    dc_status st = DC_STATUS_OK;
    w.ha = malloc(na * sizeof(float));
    w.hb = malloc(nb * sizeof(float));
    w.hc = malloc(nc * sizeof(float));
    if (!w.ha || !w.hb || !w.hc)
        st = DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory for the GEMM timing matrices "
                     "(%zu floats)", na + nb + nc);
    if (st == DC_STATUS_OK) {
        dc_rng rng;
        dc_rng_seed(&rng, 2019);
        for (size_t i = 0; i < na; i++) w.ha[i] = (float)(2 * dc_rng_uniform(&rng) - 1);
        for (size_t i = 0; i < nb; i++) w.hb[i] = (float)(2 * dc_rng_uniform(&rng) - 1);
        cl_context cl = dc_ctx_context(ctx);
        cl_int err[6];
        w.a = clCreateBuffer(cl, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, na * sizeof(float), w.ha, &err[0]);
        w.b = clCreateBuffer(cl, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, nb * sizeof(float), w.hb, &err[1]);
        w.c = clCreateBuffer(cl, CL_MEM_READ_WRITE, nc * sizeof(float), NULL, &err[2]);
        w.s = clCreateBuffer(cl, CL_MEM_READ_WRITE, ns * sizeof(float), NULL, &err[3]);
        w.bp = clCreateBuffer(cl, CL_MEM_READ_WRITE, nbp * sizeof(float), NULL, &err[4]);
        w.cp = clCreateBuffer(cl, CL_MEM_READ_WRITE, ncp * sizeof(float), NULL, &err[5]);
        for (int i = 0; i < 6 && st == DC_STATUS_OK; i++)
            if (err[i] != CL_SUCCESS)
                st = dc_cl_fail(err[i], "clCreateBuffer (GEMM timing matrices)", __FILE__, __LINE__);
    }
    if (st == DC_STATUS_OK) st = measure_run(&w, shapes, n_shapes, reps, times, cpu_times, out);
    out->seconds = now_s() - start;
    if (w.a) clReleaseMemObject(w.a);
    if (w.b) clReleaseMemObject(w.b);
    if (w.c) clReleaseMemObject(w.c);
    if (w.s) clReleaseMemObject(w.s);
    if (w.bp) clReleaseMemObject(w.bp);
    if (w.cp) clReleaseMemObject(w.cp);
    free(w.ha);
    free(w.hb);
    free(w.hc);
    return st;
}

dc_status dc_tune_measure(dc_ctx *ctx, const dc_tune_shape *shapes, int n_shapes, int reps,
                          double *times, double *cpu_times, dc_tune_measurement *out)
{
    /* CLBlast's parameters are what is measured: its route for the duration, whatever else is set */
    const int route = dc_ctx_gemm_route(ctx);
    dc_ctx_set_gemm_route(ctx, DC_GEMM_CLBLAST);
    dc_status st = measure_clblast(ctx, shapes, n_shapes, reps, times, cpu_times, out);
    dc_ctx_set_gemm_route(ctx, route);
    return st;
}
