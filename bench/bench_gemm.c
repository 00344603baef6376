/* SGEMM throughput at the GEMM shapes of Inception-v2's convolutions at a 1000x1000 input
 * (bench/inception_shapes.h): OpenBLAS (the reference, measured in the same run), CLBlast with
 * its own default parameters, CLBlast with the tuned entry for the device (stored by
 * `deepcee tune`, else built in; engine/cl/tune.h), both through the plain call dc_gemm_mem, and
 * the engine's GEMM as the convolutions run it ("engine": tile-padded where dc_gemm_pad_plan says
 * so, engine/ops/gemm.c, else the plain call). All compute the row-major product
 * C[M, N] = W[M, K] cols[K, N]. The padded path starts from the column matrix already in the
 * padded layout (im2col writes it so; a 1x1 layer's copy of its input into that layout is timed,
 * since the plain call would use the input in place) and W as the layer stores it; its time
 * includes staging W^T, the GEMM and copying C out of the padded result, and only the 2MNK flops
 * of the unpadded product are counted. Last, the host route ("host", DEEPCEE_GEMM=host): the same
 * dc_gemm_mem call running OpenBLAS on the mapped device buffers (engine/ops/gemm.c), so its ratio
 * to the OpenBLAS column is the cost of the map, unmap and queue drain around the same kernel.
 *
 *   bench_gemm [--reps N] [--quick]
 *
 * Each cell is the median of N timed runs (default 5) after one warm-up run; --quick measures only
 * every third shape. The totals weigh each shape by the number of layers that have it, i.e. they
 * are the rates of one forward pass of the network's convolution GEMMs. */
#define _POSIX_C_SOURCE 200809L
#include "bench_util.h"

#include <cblas.h>
#include <math.h>

#include "ops/ops_tune.h"
#include "inception_shapes.h"
#include "ops/ops_conv.h"

/* One CLBlast GEMM of layer l through the engine's call, finished. */
static dc_status run_clblast(dc_ctx *ctx, const inception_layer *l, cl_mem a, cl_mem b, cl_mem c)
{
    DC_TRY(dc_gemm_mem(ctx, DC_TRANS_NO, DC_TRANS_NO, l->m, l->n, l->k, 1.0f, a, 0, l->k, b, 0, l->n,
                       0.0f, c, 0, l->n));
    return dc_ctx_finish(ctx);
}

/* 1x1 stride-1 layers: their input is the column matrix, used in place by the plain call. */
static int is_pointwise(const inception_layer *l) { return l->kh == 1 && l->kw == 1 && l->stride == 1; }

/* The engine's GEMM as the convolution runs it (see the top): bp holds cols [K, N] in the padded
 * layout [pad.k, pad.n]; ws is staged W^T, cp the padded result; C ends in c as [M, N]. A 1x1
 * layer pays for copying its input into the padded layout (im2col of a 1x1 kernel), which a
 * larger kernel's im2col does on the plain path too. Where dc_gemm_pad_plan says plain, the plain
 * call. */
static dc_status run_padded(dc_ctx *ctx, const inception_layer *l, const dc_gemm_pad *pad, int use,
                            cl_mem a, cl_mem b, cl_mem bp, cl_mem ws, cl_mem cp, cl_mem c)
{
    if (!use) return run_clblast(ctx, l, a, b, c);
    if (is_pointwise(l)) DC_TRY(dc_gemm_pad_copy(ctx, b, 0, l->n, l->k, l->n, 0, bp, pad->k, pad->n));
    DC_TRY(dc_gemm_pad_copy(ctx, a, 0, l->k, l->m, l->k, 1, ws, pad->k, pad->m));
    DC_TRY(dc_gemm_padded(ctx, pad, ws, bp, cp));
    DC_TRY(dc_gemm_pad_copy(ctx, cp, 0, pad->n, l->m, l->n, 0, c, l->m, l->n));
    return dc_ctx_finish(ctx);
}

/* The Xgemm kernel alone: 1024^3 col-major C = A B^T, tile multiples, so CLBlast runs no padding
 * or transpose kernels around it (the ceiling the engine's calls could reach). A and B both read
 * buffer b. */
#define ALIGNED 1024
static dc_status run_aligned(dc_ctx *ctx, cl_mem b, cl_mem c)
{
    cl_command_queue q = dc_ctx_queue(ctx);
    DC_BLAS_CHECK(CLBlastSgemm(CLBlastLayoutColMajor, CLBlastTransposeNo, CLBlastTransposeYes, ALIGNED,
                               ALIGNED, ALIGNED, 1.0f, b, 0, ALIGNED, b, 0, ALIGNED, 0.0f, c, 0,
                               ALIGNED, &q, NULL));
    return dc_ctx_finish(ctx);
}

/* Largest |x - ref| / max|ref| over C (the products are O(sqrt(K)) with inputs in [-1, 1]). */
static double rel_diff(const float *x, const float *ref, size_t n)
{
    double worst = 0, scale = 1e-30;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(ref[i]));
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)x[i] - ref[i]));
    return worst / scale;
}

int main(int argc, char **argv)
{
    int reps = 5, step;
    if (bench_args(argc, argv, "bench_gemm", &reps, &step)) return 2;

    /* CLBlast's defaults first: the context opens without the tuned entry, which is applied
     * later (CLBlast cannot return to its defaults once parameters are overridden). */
    setenv("DEEPCEE_TUNE", "off", 1);
    dc_ctx *ctx;
    if (dc_ctx_new(&ctx, NULL) != DC_STATUS_OK) return bench_fail("bench_gemm", "opening the device");
    dc_ctx_set_gemm_route(ctx, DC_GEMM_CLBLAST); /* passes 1-3; the host route is pass 4 */
    const dc_device_info *dev = dc_ctx_info(ctx);
    dc_tune_entry tuned;
    dc_tune_origin origin;
    if (dc_tune_lookup(dev, &tuned, &origin) != DC_STATUS_OK) return bench_fail("bench_gemm", "reading the tuned entry");

    size_t na = 0, nb = 0, nc = 0;
    for (int i = 0; i < N_INCEPTION_LAYERS; i++) {
        const inception_layer *l = &inception_layers[i];
        na = fmax(na, (double)l->m * l->k);
        nb = fmax(nb, (double)l->k * l->n);
        nc = fmax(nc, (double)l->m * l->n);
    }
    /* the padded path's buffers, sized for the tuned entry's tiles */
    dc_gemm_pad pads[N_INCEPTION_LAYERS];
    int use_pad[N_INCEPTION_LAYERS];
    size_t nbp = 1, nws = 1, ncp = 1;
    {
        const dc_gemm_tiles keep = dc_ctx_gemm_tiles(ctx);
        dc_ctx_set_gemm_tiles(ctx, dc_tune_entry_tiles(&tuned)); /* plan only; the override comes before pass 2 */
        for (int i = 0; i < N_INCEPTION_LAYERS; i++) {
            const inception_layer *l = &inception_layers[i];
            if (dc_gemm_pad_plan(ctx, l->m, l->n, l->k, is_pointwise(l), &pads[i], &use_pad[i]) !=
                DC_STATUS_OK)
                return bench_fail("bench_gemm", "planning the padded GEMMs");
            nbp = fmax(nbp, (double)pads[i].k * pads[i].n);
            nws = fmax(nws, (double)pads[i].k * pads[i].m);
            ncp = fmax(ncp, (double)pads[i].m * pads[i].n);
        }
        dc_ctx_set_gemm_tiles(ctx, keep);
    }
    float *ha = malloc(na * sizeof(float)), *hb = malloc(nb * sizeof(float));
    float *hc = malloc(nc * sizeof(float)), *href = malloc(nc * sizeof(float));
    if (!ha || !hb || !hc || !href) {
        fprintf(stderr, "bench_gemm: out of host memory\n");
        return 1;
    }
    dc_rng rng;
    dc_rng_seed(&rng, 1);
    for (size_t i = 0; i < na; i++) ha[i] = (float)(2 * dc_rng_uniform(&rng) - 1);
    for (size_t i = 0; i < nb; i++) hb[i] = (float)(2 * dc_rng_uniform(&rng) - 1);
    cl_int e1, e2, e3;
    cl_context cl = dc_ctx_context(ctx);
    cl_mem a = clCreateBuffer(cl, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, na * sizeof(float), ha, &e1);
    cl_mem b = clCreateBuffer(cl, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, nb * sizeof(float), hb, &e2);
    cl_mem c = clCreateBuffer(cl, CL_MEM_READ_WRITE, nc * sizeof(float), NULL, &e3);
    cl_int e4, e5, e6;
    cl_mem bp = clCreateBuffer(cl, CL_MEM_READ_WRITE, nbp * sizeof(float), NULL, &e4);
    cl_mem wsb = clCreateBuffer(cl, CL_MEM_READ_WRITE, nws * sizeof(float), NULL, &e5);
    cl_mem cp = clCreateBuffer(cl, CL_MEM_READ_WRITE, ncp * sizeof(float), NULL, &e6);
    const cl_int ea[6] = {e1, e2, e3, e4, e5, e6};
    for (int i = 0; i < 6; i++)
        if (ea[i] != CL_SUCCESS) {
            fprintf(stderr, "bench_gemm: cannot allocate device buffers (%s)\n", dc_cl_error_name(ea[i]));
            return 1;
        }

    printf("SGEMM, row-major C[M,N] = A[M,K] B[K,N], Inception-v2 convolutions at 1000x1000\n");
    printf("device: %s (%s, driver %s); median of %d runs\n", dev->name, dev->platform, dev->driver,
           reps);
    printf("tuned entry: %s%s%s\n", dc_tune_origin_name(origin), tuned.note[0] ? " - " : "", tuned.note);
    for (int i = 0; i < tuned.n; i++) {
        char text[1024];
        printf("  %s\n", dc_tune_set_format(&tuned.sets[i], text, sizeof text));
    }

    /* Pass 1: CLBlast defaults; pass 2: CLBlast tuned (after one override). In both, each CLBlast
     * run alternates with an OpenBLAS run, so that every ratio compares runs made under the same
     * load (other programs may share the cores). */
    double t_blas[4][N_INCEPTION_LAYERS], t_cl[4][N_INCEPTION_LAYERS], err[4][N_INCEPTION_LAYERS];
    double al_blas[2] = {0, 0}, al_cl[2] = {0, 0};
    /* Pass 3: the padded path with the tuned entry; pass 4: the host route. */
    const int have_tuned = origin != DC_TUNE_ORIGIN_NONE;
    for (int pass = 0; pass < 4; pass++) {
        if (pass == 1) {
            if (!have_tuned) continue;
            if (dc_tune_override(ctx, &tuned) != DC_STATUS_OK) return bench_fail("bench_gemm", "applying the tuned entry");
        }
        if (pass == 2 && !have_tuned) continue;
        if (pass == 3) dc_ctx_set_gemm_route(ctx, DC_GEMM_HOST);
        for (int i = pass >= 2 ? 0 : -1; i < N_INCEPTION_LAYERS; i += (i < 0 ? 1 : step)) {
            /* i = -1: the aligned 1024^3 product */
            const inception_layer *l = i >= 0 ? &inception_layers[i] : NULL;
            if (pass == 2 && use_pad[i] &&
                dc_gemm_pad_copy(ctx, b, 0, l->n, l->k, l->n, 0, bp, pads[i].k, pads[i].n) != DC_STATUS_OK)
                return bench_fail("bench_gemm", "writing the padded columns");
            double tb[65], tc[65];
            for (int r = 0; r <= reps; r++) { /* run 0 warms up (and builds CLBlast's kernels) */
                double t0 = bench_now();
                if (l)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, l->m, l->n, l->k, 1.0f, ha,
                                l->k, hb, l->n, 0.0f, href, l->n);
                else
                    cblas_sgemm(CblasColMajor, CblasNoTrans, CblasTrans, ALIGNED, ALIGNED, ALIGNED,
                                1.0f, hb, ALIGNED, hb, ALIGNED, 0.0f, href, ALIGNED);
                tb[r] = bench_now() - t0;
                t0 = bench_now();
                const dc_status st = !l ? run_aligned(ctx, b, c)
                                     : pass == 2 ? run_padded(ctx, l, &pads[i], use_pad[i], a, b, bp, wsb, cp, c)
                                                 : run_clblast(ctx, l, a, b, c);
                if (st != DC_STATUS_OK) return bench_fail("bench_gemm", l ? l->name : "aligned GEMM");
                tc[r] = bench_now() - t0;
            }
            if (i < 0) {
                printf("%s: first GEMM %.2f s (with CLBlast's kernel build)\n",
                       pass == 0 ? "CLBlast defaults" : "CLBlast tuned", tc[0]);
                al_blas[pass] = bench_median(tb + 1, reps);
                al_cl[pass] = bench_median(tc + 1, reps);
                continue;
            }
            t_blas[pass][i] = bench_median(tb + 1, reps);
            t_cl[pass][i] = bench_median(tc + 1, reps);
            size_t n = (size_t)l->m * l->n;
            if (clEnqueueReadBuffer(dc_ctx_queue(ctx), c, CL_TRUE, 0, n * sizeof(float), hc, 0, NULL,
                                    NULL) != CL_SUCCESS) {
                fprintf(stderr, "bench_gemm: reading C failed\n");
                return 1;
            }
            err[pass][i] = rel_diff(hc, href, n);
        }
    }

    printf("\n%-32s %5s %7s %5s %3s | %8s | %8s %6s | %8s %6s | %8s %6s | %8s %6s\n", "layers", "M", "N",
           "K", "x", "OpenBLAS", "CLB def", "ratio", "CLB tune", "ratio", "engine", "ratio", "host",
           "ratio");
    printf("%-32s %5s %7s %5s %3s | %8s | %8s %6s | %8s %6s | %8s %6s | %8s %6s\n", "", "", "", "", "",
           "GFLOPS", "GFLOPS", "", "GFLOPS", "", "GFLOPS", "", "GFLOPS", "");
    /* without a tuned entry, passes 2 and 3 did not run: show the host pass in the first free column */
    const int passes = 4;
    const int ran[4] = {1, have_tuned, have_tuned, 1};
    double sum_f = 0, sum_b[4] = {0, 0, 0, 0}, sum_c[4] = {0, 0, 0, 0}, worst = 0;
    int n_ran = 0;
    for (int p = 0; p < passes; p++) n_ran += ran[p];
    for (int i = 0; i < N_INCEPTION_LAYERS; i += step) {
        const inception_layer *l = &inception_layers[i];
        const double f = 2.0 * l->m * (double)l->n * l->k;
        double tb = 0;
        for (int p = 0; p < passes; p++)
            if (ran[p]) tb += t_blas[p][i] / n_ran;
        sum_f += f * l->count;
        printf("%-32s %5d %7d %5d %3d | %8.1f |", l->name, l->m, l->n, l->k, l->count, f / tb * 1e-9);
        for (int p = 0; p < passes; p++) {
            if (!ran[p]) {
                printf(" %8s %6s |", "-", "");
                continue;
            }
            sum_b[p] += t_blas[p][i] * l->count;
            sum_c[p] += t_cl[p][i] * l->count;
            worst = fmax(worst, err[p][i]);
            printf(" %8.1f %5.0f%% |", f / t_cl[p][i] * 1e-9, 100 * t_blas[p][i] / t_cl[p][i]);
        }
        printf("\n");
    }
    double pooled = 0;
    for (int p = 0; p < passes; p++)
        if (ran[p]) pooled += sum_b[p] / n_ran;
    printf("%-32s %5s %7s %5s %3s | %8.1f |", "network total (weighted by x)", "", "", "", "",
           sum_f / pooled * 1e-9);
    for (int p = 0; p < passes; p++)
        if (!ran[p]) printf(" %8s %6s |", "-", "");
        else printf(" %8.1f %5.0f%% |", sum_f / sum_c[p] * 1e-9, 100 * sum_b[p] / sum_c[p]);
    const double fa = 2.0 * ALIGNED * ALIGNED * ALIGNED;
    double al[2] = {al_blas[0], have_tuned ? al_blas[1] : al_blas[0]};
    printf("\n%-32s %5d %7d %5d %3s | %8.1f |", "kernel alone (aligned, no copies)", ALIGNED,
           ALIGNED, ALIGNED, "", fa / (0.5 * (al[0] + al[1])) * 1e-9);
    for (int p = 0; p < 2 && ran[p]; p++)
        printf(" %8.1f %5.0f%% |", fa / al_cl[p] * 1e-9, 100 * al_blas[p] / al_cl[p]);
    printf("\n%s(%.1f GFLOP per pass); largest difference from OpenBLAS %.2g of max|C|\n",
           have_tuned ? "" : "no tuned entry for this device: run `deepcee tune` ", sum_f * 1e-9, worst);
    printf("ratios: OpenBLAS time / CLBlast time, each against the OpenBLAS runs interleaved with it; "
           "the OpenBLAS column is the mean of all passes; engine: the GEMM as the convolutions run it "
           "(tile-padded where planned; tuned entry); host: dc_gemm_mem on the host route (OpenBLAS on "
           "mapped buffers)\n");

    clReleaseMemObject(a);
    clReleaseMemObject(b);
    clReleaseMemObject(c);
    clReleaseMemObject(bp);
    clReleaseMemObject(wsb);
    clReleaseMemObject(cp);
    dc_ctx_free(ctx);
    free(ha);
    free(hb);
    free(hc);
    free(href);
    return worst > 1e-3 ? 1 : 0;
}
