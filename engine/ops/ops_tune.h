/* Measuring CLBlast tuning candidates: GEMMs of the network's shapes timed and checked as the
 * convolutions run them. This uses the GEMM ops (engine/ops/gemm.c), so it lives above them; the
 * stored parameters and their lookup stay in the OpenCL runtime (engine/cl/tune.h). The timing
 * always runs on CLBlast's route (dc_gemm_route_get), whatever DEEPCEE_GEMM says, since it
 * measures CLBlast's parameters. */
#ifndef DC_OPS_TUNE_H
#define DC_OPS_TUNE_H

#include "cl/tune.h"

/* ------------------------------------------------------------------ measuring candidates */

/* One GEMM shape as the engine calls it: row-major C[m, n] = op(A)[m, k] op(B)[k, n]. */
typedef struct dc_tune_shape {
    int m, n, k;
    int trans_a, trans_b;
    const char *label;   /* for progress lines; may be NULL */
    int in_place;        /* a 1x1 convolution's product: see dc_gemm_pad_plan */
} dc_tune_shape;

/* The default tuning shapes: GEMMs of Inception-v2's convolutions at a 1000x1000 input (forward,
 * and the two backward products of one layer; 17 GFLOP in all). *n receives the count. */
const dc_tune_shape *dc_tune_default_shapes(int *n);

typedef struct dc_tune_measurement {
    double gflops;    /* total flops / total of the per-shape median times; 0 when rejected */
    double cpu_gflops; /* the same from process CPU time / compute units, on CPU devices (else 0):
                          close to gflops on an idle machine, and steadier while other processes
                          share the cores, which makes it the better ranking there */
    double seconds;   /* wall time of the whole measurement, kernel builds included */
    char bad[1024];   /* why the active parameters were rejected; "" when they passed */
} dc_tune_measurement;

/* Check and time the parameters active on the device (apply candidates first with
 * dc_tune_override). Each shape runs once on a sentinel-filled C and is compared with a
 * double-precision host reference on 1000 sampled entries (plus a scan for unwritten or
 * non-finite ones), after three small odd shapes (all transposes, padding) compared in full; then
 * `reps` timed runs (1..16), whose median counts. shapes NULL: the default shapes. times and
 * cpu_times (each may be NULL) receive the median wall and CPU (per compute unit) seconds per
 * shape. A set that fails to build or launch, or gives a
 * wrong result, is a rejection reported in out->bad, not an error; errors are reserved for the
 * timing itself failing (allocation, OpenCL). The search over candidates runs in
 * scripts/tune.lua, one child process per candidate, because a bad parameter set can crash the
 * OpenCL driver (seen with GEMMK=1 VWM=8 on PoCL 3.1) and must not take the search down. */
dc_status dc_tune_measure(dc_ctx *ctx, const dc_tune_shape *shapes, int n_shapes, int reps,
                          double *times, double *cpu_times, dc_tune_measurement *out);

#endif
