/* Shared by the network tests (test_net.c, test_frcnn.c): layer-spec builders and a finite-
 * difference probe that recognises ReLU/max kinks. */
#ifndef DC_TEST_NN_UTIL_H
#define DC_TEST_NN_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "dc_test.h"
#include "nn/net.h"

static inline dc_layer_spec test_conv(const char *name, int in, int out, int k, int s, int relu)
{
    dc_layer_spec l = {.kind = DC_LAYER_KIND_CONV, .inputs = {in}, .n_inputs = 1, .out = out,
                       .kh = k, .kw = k, .sh = s, .sw = s, .same = 1, .relu = relu};
    snprintf(l.name, sizeof l.name, "%s", name);
    return l;
}

/* Nudge element k of t by d (download, change, upload). */
static inline void test_nudge(dc_tensor *t, size_t k, float d)
{
    float *h = malloc(t->numel * sizeof *h);
    dc_tensor_download(t, h, t->numel);
    h[k] += d;
    dc_tensor_upload(t, h, t->numel);
    free(h);
}

/* The loss as a function of the current tensors (ud: the test's state). */
typedef double (*test_loss_fn)(void *ud);

static inline double test_central(test_loss_fn loss, void *ud, dc_tensor *t, size_t k, float eps)
{
    test_nudge(t, k, eps);
    double lp = loss(ud);
    test_nudge(t, k, -2 * eps);
    double lm = loss(ud);
    test_nudge(t, k, eps);
    return (lp - lm) / (2 * eps);
}

/* Compare the analytic derivative g of element k of t with central differences at eps = 1e-3 and
 * 5e-4. ReLU and max make the loss piecewise smooth: when the two steps disagree
 * (|a - b| > 2e-3 + 1e-2 |b|) the probe straddles a kink and says nothing (returns -1; the caller
 * draws another element). Otherwise 1 when |fd - g| <= 2e-3 + rtol |g|, else 0. */
static inline int test_fd_probe(test_loss_fn loss, void *ud, dc_tensor *t, size_t k, double g,
                                double rtol, const char *what)
{
    double a = test_central(loss, ud, t, k, 1e-3f), b = test_central(loss, ud, t, k, 5e-4f);
    if (fabs(a - b) > 2e-3 + 1e-2 * fabs(b)) return -1;
    int ok = fabs(b - g) <= 2e-3 + rtol * fabs(g);
    if (!ok) fprintf(stderr, "%s[%zu]: fd %.6g analytic %.6g\n", what, k, b, g);
    return ok;
}

/* A 3 x S x S test image (CHW) with a bright blob at (x 17, y 14), where the detector tests put
 * their ground truth, on noise of sigma 0.1 from rng. */
static inline void test_blob_image(float *img, int S, dc_rng *rng)
{
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                double d2 = (y - 14) * (y - 14) + (x - 17) * (x - 17);
                img[(c * S + y) * S + x] = (float)(-0.5 + 1.2 * exp(-d2 / 30.0) + 0.1 * dc_rng_normal(rng));
            }
}

#endif
