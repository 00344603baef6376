/* The harness the benchmarks share: a monotonic clock, the median of timed runs, the failure
 * message and the --reps / --quick arguments. A header of static functions, since CMake builds
 * every .c file in bench/ as an executable of its own. */
#ifndef DC_BENCH_UTIL_H
#define DC_BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core.h"

/* Monotonic wall-clock seconds. */
static inline double bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n) (sorts v; the mean of the middle two for even n). */
static inline double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Print "<bench>: <what>: <the engine's last error>" to stderr; returns the exit status 1. */
static inline int bench_fail(const char *bench, const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", bench, what, dc_error_message());
    return 1;
}

/* The arguments of the shape-table benchmarks: [--reps N] (1..64, else reps keeps its default)
 * [--quick] (*step = 3: every third shape). Returns 0, or 2 after printing the usage. */
static inline int bench_args(int argc, char **argv, const char *bench, int *reps, int *step)
{
    const int def = *reps;
    *step = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) *reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--quick") == 0) *step = 3;
        else {
            fprintf(stderr, "usage: %s [--reps N] [--quick]\n", bench);
            return 2;
        }
    }
    if (*reps < 1 || *reps > 64) *reps = def;
    return 0;
}

#endif
