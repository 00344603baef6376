/* Shared by the op tests (test_ops_*.c, test_sgd.c, test_pool_flat.c): device tensors from host
 * arrays, random host data from the engine's deterministic RNG, the max-norm relative error and
 * central finite differences of a loss computed in double. One home for these: a test of an op
 * does not keep its own copy. */
#ifndef DC_TEST_OPS_UTIL_H
#define DC_TEST_OPS_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "dc_test.h"
#include "tensor.h"

/* Setup that cannot go on without: print the engine's message and exit 2. */
static inline void ops_must(dc_status st)
{
    if (st != DC_STATUS_OK) {
        fprintf(stderr, "setup failed: %s\n", dc_error_message());
        exit(2);
    }
}

/* A new tensor of the given shape; with host not NULL, its values uploaded. */
static inline dc_tensor *ops_tensor(dc_ctx *ctx, int ndim, const int *shape, const float *host)
{
    dc_tensor *t;
    ops_must(dc_tensor_new(ctx, ndim, shape, &t));
    if (host) ops_must(dc_tensor_upload(t, host, t->numel));
    return t;
}

/* The tensor's values in a new host array (the caller frees it). */
static inline float *ops_download(const dc_tensor *t)
{
    float *h = malloc(t->numel * sizeof *h);
    ops_must(dc_tensor_download(t, h, t->numel));
    return h;
}

/* n floats uniform in [lo, hi). */
static inline float *ops_random(dc_rng *rng, size_t n, double lo, double hi)
{
    float *a = malloc((n ? n : 1) * sizeof *a);
    for (size_t i = 0; i < n; i++) a[i] = (float)(lo + (hi - lo) * dc_rng_uniform(rng));
    return a;
}

/* n distinct values (a ramp with steps of 0.01 from offset, shuffled): a max over them has no
 * ties, so finite differences with a step below 0.005 never switch its argmax. */
static inline float *ops_distinct(dc_rng *rng, size_t n, double offset)
{
    float *a = malloc((n ? n : 1) * sizeof *a);
    for (size_t i = 0; i < n; i++) a[i] = (float)(0.01 * (double)i + offset);
    for (size_t i = n; i > 1; i--) {
        size_t j = dc_rng_below(rng, (uint32_t)i);
        float t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
    return a;
}

static inline double *ops_to_double(const float *a, size_t n)
{
    double *d = malloc((n ? n : 1) * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = a[i];
    return d;
}

/* max_i |got_i - want_i| / max_i |want_i| (want all zero: the absolute error); NaN anywhere in
 * got gives NaN, which fails every `err <= tol`. *worst (may be NULL) is the index of the largest
 * error. */
static inline double ops_max_rel_err(const float *got, const double *want, size_t n, size_t *worst)
{
    double err = 0.0, scale = 0.0;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(got[i] - want[i]);
        if (e != e) {
            err = NAN;
            w = i;
            break;
        }
        if (e > err) err = e, w = i;
        if (fabs(want[i]) > scale) scale = fabs(want[i]);
    }
    if (worst) *worst = w;
    return scale > 0.0 ? err / scale : err;
}

/* max |got - want| <= rel * max |want| as a CHECK (rel 0: bit-exact), naming what and the worst
 * element. */
static inline void ops_check_near(const char *what, const float *got, const double *want, size_t n,
                                  double rel)
{
    size_t worst = 0;
    double err = ops_max_rel_err(got, want, n, &worst);
    CHECK(err <= rel, "%s: max relative error %.3g at %zu (got %.9g, want %.9g), bound %.3g", what,
          err, worst, n ? got[worst] : 0.0, n ? want[worst] : 0.0, rel);
}

/* Central differences of loss(x) at each of x's n elements, step eps (x is restored). */
typedef double (*ops_loss_fn)(const double *x, const void *ud);
static inline double *ops_numeric_grad(ops_loss_fn f, const void *ud, double *x, size_t n, double eps)
{
    double *g = malloc((n ? n : 1) * sizeof *g);
    for (size_t i = 0; i < n; i++) {
        double keep = x[i];
        x[i] = keep + eps;
        double lp = f(x, ud);
        x[i] = keep - eps;
        double lm = f(x, ud);
        x[i] = keep;
        g[i] = (lp - lm) / (2 * eps);
    }
    return g;
}

#endif
