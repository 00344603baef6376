/* The one table-driven harness for the ops of engine/ops (ops_conv.h, ops_basic.h) and the two
 * detector ops with a backward (head_to_anchors, crop_resize), after ggml's test-backend-ops: a
 * table of cases {op, shape and parameters, tolerances}; for each case
 *  1. random inputs from the engine's RNG (dc_rng, one seed), nudged off kinks and ties where the
 *     op has them;
 *  2. the device forward into an output pre-filled with NaN (an element the op does not write
 *     fails), against a plain C reference in double written here from the op's definition (its
 *     geometry, e.g. TF 'SAME' padding, computed here too, not by the engine);
 *  3. the forward run again: the output must be bit-identical (the ops are deterministic);
 *  4. the device backward of every input that has a gradient op, into buffers pre-filled with NaN,
 *     against central finite differences of the reference's loss = sum(r * y) for a random
 *     projection r of the output (for a loss op, y is the scalar and r its upstream gradient
 *     dloss); then again (bit-identical), and for the ops that accumulate, once more with
 *     accumulate = 1 onto random gradients (their sum).
 * One line per case; a case that fails is named on its line and in the summary, and the exit
 * status is non-zero.
 *
 * Errors are max-norm relative: max_i |got_i - want_i| / max_i |want_i|.
 *
 * Tolerances (stated per case in the table, float32 unit roundoff u = 2^-24 = 6e-8):
 * - 0 where the device does no arithmetic (ReLU, max pool, concat: copies and selections);
 *   backward 1e-9 for them: the device copies dy and the central difference of a function that is
 *   linear around the point (inputs kept 0.01 off kinks and ties, step 1e-3) is exact up to double
 *   rounding (~1e-13). A max pool with overlapping windows (kernel > stride) sums the dy of every
 *   window an input wins, so its backward gets the bound of sums below.
 * - 0 also for add and scale forward, against the reference rounded to float (IEEE float + and *
 *   are correctly rounded); 1e-7 for scale's backward against exact central differences and for
 *   bias's forward (x + b against the unrounded sum): one rounding, |error| <= u |want|.
 * - 1e-5 for sums and means of up to a few hundred float terms (conv, fc, bias, batch norm, pools,
 *   GEMM, clipping): the float rounding of an n-term sum is about sqrt(n) u sum|t|, a few 1e-7
 *   of max |y| for these shapes; 1e-5 leaves a factor of 10 or more. The backward of these ops is
 *   linear, so its central differences (step 1e-3) are exact up to double rounding and the same
 *   bound holds.
 * - 1e-4 for the losses (softmax cross-entropy, smooth L1, Gaussian NLL), forward and backward:
 *   float exp/log and a float reduction over up to 600 values; finite-difference step 1e-4 on a
 *   smooth function, truncation error ~eps^2 |f'''| ~ 1e-8.
 * The ops' error paths (shapes, arguments), hand-computed values and the engine's own geometry
 * helpers are tested in the op's own file (test_ops_*.c, test_sgd.c).
 *
 * To see it fail without rebuilding, run it on a broken copy of the kernels
 * (DEEPCEE_KERNELS=<folder with edited .cl files>): an off-by-one in basic_pool.cl's covering()
 * fails the 8 avgpool cases on their backward, a max pool that skips its last output column
 * fails the 16 maxpool cases on NaN in the forward, a global_avgpool_backward that skips element
 * 0 fails its 3 cases ("element 0 is NaN (not written)"). */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "dc_test.h"
#include "detect/detect.h"
#include "ops/ops.h"
#include "test_ops_util.h"

enum { MAX_IN = 12, FD_MAX = 3000 };

static dc_ctx *ctx;
static dc_rng rng;
/* Set while the reference computes the forward to compare with: the references of single
 * correctly rounded float ops (add, scale) then round to float. The finite differences use the
 * unrounded function (a rounded one is a staircase). */
static int round_ref;
static double maybe_round(double v) { return round_ref ? (double)(float)v : v; }

/* One input or output: ndim 0 = absent (an optional argument passed as NULL). */
typedef struct tspec {
    int ndim, shape[4];
    double lo, hi;   /* random values uniform in [lo, hi) */
    int diff;        /* the op has a gradient for it */
} tspec;

struct op_def;
typedef struct hcase {
    const struct op_def *op;
    int n, c, h, w;       /* input dims, leading non-zero ones (37,0,0,0 is 1-D [37]) */
    int k;                /* output channels (conv, fc), property count (gauss_nll) */
    int kh, kw, sh, sw;   /* window and stride (conv, pools) */
    int pad[4];           /* top, left, bottom, right (conv); pad_h, pad_w (pools) */
    int same;             /* TF 'SAME' padding (conv, pools) */
    int mode;             /* op-specific variant, see each op */
    int parts[6];         /* channels of each concat input; sizes of the tensors of clip and sgd */
    double f0, f1;        /* op-specific scalars (scale's alpha, GEMM's alpha, lr / momentum, clip) */
    double fwd_tol, bwd_tol;
    const char *env;      /* "NAME=value" set while the case runs, or NULL */
} hcase;

typedef struct op_def {
    const char *name;
    /* the inputs and the output of case c */
    void (*spec)(const hcase *c, int *n_in, tspec *in, tspec *out);
    /* adjust the random inputs (kinks, ties, targets); may be NULL */
    void (*fix)(const hcase *c, float **in);
    /* the reference forward in double */
    void (*ref)(const hcase *c, const double *const *in, double *y);
    dc_status (*fwd)(const hcase *c, dc_tensor **in, dc_tensor *y);
    /* the gradients g[i] of the inputs with diff set (g[i] NULL otherwise); dy is r (NULL for a
     * loss op, which gets dloss); NULL: the op has no backward */
    dc_status (*bwd)(const hcase *c, dc_tensor **in, const dc_tensor *y, const dc_tensor *dy,
                     float dloss, dc_tensor **g, int accumulate);
    int is_loss, accumulates;
    double fd_eps;
    void (*describe)(const hcase *c, char *buf, size_t size);
} op_def;

/* ------------------------------------------------------------------ shapes and geometry */

static int dims_of(const hcase *c, int *shape)
{
    const int d[4] = {c->n, c->c, c->h, c->w};
    int nd = 0;
    while (nd < 4 && d[nd] > 0) shape[nd] = d[nd], nd++;
    return nd;
}

static size_t numel(const tspec *t)
{
    if (!t->ndim) return 0;
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
    return n;
}

static tspec ts(int ndim, int d0, int d1, int d2, int d3, double lo, double hi, int diff)
{
    return (tspec){ndim, {d0, d1, d2, d3}, lo, hi, diff};
}

static tspec ts_like(const hcase *c, double lo, double hi, int diff)
{
    tspec t = {0, {0}, lo, hi, diff};
    t.ndim = dims_of(c, t.shape);
    return t;
}

/* TF's geometry along one axis, written from its definition: 'SAME' gives ceil(in / s) outputs
 * and total padding max((out - 1) s + k - in, 0), floor(total / 2) before; otherwise pad on both
 * sides and floor((in + 2 pad - k) / s) + 1 outputs. */
static void axis_geometry(int in, int k, int s, int pad, int same, int *out, int *lead, int *trail)
{
    if (same) {
        *out = (in + s - 1) / s;
        int total = (*out - 1) * s + k - in;
        if (total < 0) total = 0;
        *lead = total / 2;
        *trail = total - *lead;
    } else {
        *out = (in + 2 * pad - k) / s + 1;
        *lead = *trail = pad;
    }
}

/* ------------------------------------------------------------------ elementwise */

/* relu: mode & 1 backward from y (else from x), mode & 2 forward in place (y = x) */
static void relu_spec(const hcase *c, int *n_in, tspec *in, tspec *out)
{
    *n_in = 1;
    in[0] = ts_like(c, -1, 1, 1);
    *out = ts_like(c, 0, 0, 0);
}
static void relu_fix(const hcase *c, float **in)
{
    tspec t = ts_like(c, 0, 0, 0);
    for (size_t i = 0; i < numel(&t); i++) /* 0.01 off the kink at 0 */
        if (fabsf(in[0][i]) < 0.01f) in[0][i] += in[0][i] < 0 ? -0.01f : 0.01f;
}
static void relu_ref(const hcase *c, const double *const *in, double *y)
{
    tspec t = ts_like(c, 0, 0, 0);
    for (size_t i = 0; i < numel(&t); i++) y[i] = in[0][i] > 0 ? in[0][i] : 0.0;
}
static dc_status relu_fwd(const hcase *c, dc_tensor **in, dc_tensor *y)
{
    if (!(c->mode & 2)) return dc_relu_forward(ctx, in[0], y);
    DC_TRY(dc_tensor_copy(in[0], y));
    return dc_relu_forward(ctx, y, y);
}
static dc_status relu_bwd(const hcase *c, dc_tensor **in, const dc_tensor *y, const dc_tensor *dy,
                          float dloss, dc_tensor **g, int acc)
{
    (void)dloss, (void)acc;
    return dc_relu_backward(ctx, c->mode & 1 ? y : in[0], dy, g[0]);
}

/* add: y = a + b (mode 1: in place, y = a); its backward passes dy unchanged (no op). The
 * reference rounds to float: the device result must be the correctly rounded sum. */
static void add_spec(const hcase *c, int *n_in, tspec *in, tspec *out)
{
    *n_in = 2;
    in[0] = ts_like(c, -1, 1, 0);
    in[1] = ts_like(c, -2, 2, 0);
    *out = ts_like(c, 0, 0, 0);
}
static void add_ref(const hcase *c, const double *const *in, double *y)
{
    tspec t = ts_like(c, 0, 0, 0);
    for (size_t i = 0; i < numel(&t); i++) y[i] = maybe_round(in[0][i] + in[1][i]);
}
static dc_status add_fwd(const hcase *c, dc_tensor **in, dc_tensor *y)
{
    if (!c->mode) return dc_add_forward(ctx, in[0], in[1], y);
    DC_TRY(dc_tensor_copy(in[0], y));
    return dc_add_forward(ctx, y, in[1], y);
}

/* scale: y = f0 x (the reference rounded to float: one correctly rounded product); backward
 * dx = f0 dy with the same op */
static void scale_spec(const hcase *c, int *n_in, tspec *in, tspec *out)
{
    *n_in = 1;
    in[0] = ts_like(c, -2, 2, 1);
    *out = ts_like(c, 0, 0, 0);
}
static void scale_ref(const hcase *c, const double *const *in, double *y)
{
    tspec t = ts_like(c, 0, 0, 0);
    for (size_t i = 0; i < numel(&t); i++) y[i] = maybe_round((float)c->f0 * in[0][i]);
}
static dc_status scale_fwd(const hcase *c, dc_tensor **in, dc_tensor *y)
{
    return dc_scale_forward(ctx, in[0], (float)c->f0, y);
}
static dc_status scale_bwd(const hcase *c, dc_tensor **in, const dc_tensor *y, const dc_tensor *dy,
                           float dloss, dc_tensor **g, int acc)
{
    (void)in, (void)y, (void)dloss, (void)acc;
    return dc_scale_forward(ctx, dy, (float)c->f0, g[0]);
}

static void describe_elementwise(const hcase *c, char *buf, size_t size)
{
    int s[4], nd = dims_of(c, s), at = snprintf(buf, size, "%s [", c->op->name);
    for (int i = 0; i < nd; i++) at += snprintf(buf + at, size - (size_t)at, i ? ",%d" : "%d", s[i]);
    at += snprintf(buf + at, size - (size_t)at, "]");
    if (!strcmp(c->op->name, "relu"))
        snprintf(buf + at, size - (size_t)at, " bwd from %s%s", c->mode & 1 ? "y" : "x", c->mode & 2 ? " in place" : "");
    if (!strcmp(c->op->name, "add") && c->mode) snprintf(buf + at, size - (size_t)at, " in place");
    if (!strcmp(c->op->name, "scale")) snprintf(buf + at, size - (size_t)at, " alpha %g", c->f0);
}

/* ------------------------------------------------------------------ pooling */

static dc_pool2d_params pool_params(const hcase *c)
{
    return (dc_pool2d_params){c->kh, c->kw, c->sh, c->sw, c->pad[0], c->pad[1], c->same};
}

static void pool_out(const hcase *c, int *oh, int *ow, int *pt, int *pl)
{
    int trail;
    axis_geometry(c->h, c->kh, c->sh, c->pad[0], c->same, oh, pt, &trail);
    axis_geometry(c->w, c->kw, c->sw, c->pad[1], c->same, ow, pl, &trail);
}

static void pool_spec(const hcase *c, int *n_in, tspec *in, tspec *out)
{
    int oh, ow, pt, pl;
    pool_out(c, &oh, &ow, &pt, &pl);
    *n_in = 1;
    in[0] = ts(4, c->n, c->c, c->h, c->w, 0, 0, 1);
    *out = ts(4, c->n, c->c, oh, ow, 0, 0, 0);
}
/* distinct values from f0 (all negative with f0 low enough: padding must never win a max) */
static void pool_fix(const hcase *c, float **in)
{
    size_t n = (size_t)c->n * c->c * c->h * c->w;
    float *d = ops_distinct(&rng, n, c->f0);
    memcpy(in[0], d, n * sizeof *d);
    free(d);
}
static void pool_ref(const hcase *c, const double *const *in, double *y, int is_max)
{
    int oh, ow, pt, pl;
    pool_out(c, &oh, &ow, &pt, &pl);
    for (int p = 0; p < c->n * c->c; p++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                double best = 0.0, sum = 0.0;
                int count = 0;
                for (int ky = 0; ky < c->kh; ky++)
                    for (int kx = 0; kx < c->kw; kx++) {
                        int iy = oy * c->sh - pt + ky, ix = ox * c->sw - pl + kx;
                        if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w) continue;
                        double v = in[0][((size_t)p * c->h + iy) * c->w + ix];
                        if (count == 0 || v > best) best = v;
                        sum += v;
                        count++;
                    }
                y[((size_t)p * oh + oy) * ow + ox] = is_max ? best : sum / count;
            }
}
static void maxpool_ref(const hcase *c, const double *const *in, double *y) { pool_ref(c, in, y, 1); }
static void avgpool_ref(const hcase *c, const double *const *in, double *y) { pool_ref(c, in, y, 0); }
static dc_status maxpool_fwd(const hcase *c, dc_tensor **in, dc_tensor *y)
{
    dc_pool2d_params p = pool_params(c);
    return dc_maxpool_forward(ctx, in[0], y, &p);
}
/* mode 0: dc_maxpool_backward, 1: dc_maxpool_backward_given_y */
static dc_status maxpool_bwd(const hcase *c, dc_tensor **in, const dc_tensor *y, const dc_tensor *dy,
                             float dloss, dc_tensor **g, int acc)
{
    (void)dloss, (void)acc;
    dc_pool2d_params p = pool_params(c);
    return c->mode ? dc_maxpool_backward_given_y(ctx, in[0], y, dy, g[0], &p)
                   : dc_maxpool_backward(ctx, in[0], dy, g[0], &p);
}
static dc_status avgpool_fwd(const hcase *c, dc_tensor **in, dc_tensor *y)
{
    dc_pool2d_params p = pool_params(c);
    return dc_avgpool_forward(ctx, in[0], y, &p);
}
static dc_status avgpool_bwd(const hcase *c, dc_tensor **in, const dc_tensor *y, const dc_tensor *dy,
                             float dloss, dc_tensor **g, int acc)
{
    (void)in, (void)y, (void)dloss, (void)acc;
    dc_pool2d_params p = pool_params(c);
    return dc_avgpool_backward(ctx, dy, g[0], &p);
}
static void describe_pool(const hcase *c, char *buf, size_t size)
{
    int at = snprintf(buf, size, "%s k%dx%d s%dx%d ", c->op->name, c->kh, c->kw, c->sh, c->sw);
    if (c->same) at += snprintf(buf + at, size - (size_t)at, "SAME");
    else at += snprintf(buf + at, size - (size_t)at, "p%d,%d", c->pad[0], c->pad[1]);
    at += snprintf(buf + at, size - (size_t)at, " n%d c%dx%dx%d from %g", c->n, c->c, c->h, c->w, c->f0);
    if (!strcmp(c->op->name, "maxpool"))
        snprintf(buf + at, size - (size_t)at, " bwd%s", c->mode ? " given y" : "");
}

/* global average pool: mode 1 flat output [N, C], else [N, C, 1, 1] */
static void gap_spec(const hcase *c, int *n_in, tspec *in, tspec *out)
{
    *n_in = 1;
    in[0] = ts(4, c->n, c->c, c->h, c->w, -2, 2, 1);
    *out = c->mode ? ts(2, c->n, c->c, 0, 0, 0, 0, 0) : ts(4, c->n, c->c, 1, 1, 0, 0, 0);
}
static void gap_ref(const hcase *c, const double *const *in, double *y)
{
    const int hw = c->h * c->w;
    for (int p = 0; p < c->n * c->c; p++) {
        double s = 0.0;
        for (int i = 0; i < hw; i++) s += in[0][(size_t)p * hw + i];
        y[p] = s / hw;
    }
}
static dc_status gap_fwd(const hcase *c, dc_tensor **in, dc_tensor *y)
{
    (void)c;
    return dc_global_avgpool_forward(ctx, in[0], y);
}
static dc_status gap_bwd(const hcase *c, dc_tensor **in, const dc_tensor *y, const dc_tensor *dy,
                         float dloss, dc_tensor **g, int acc)
{
    (void)c, (void)in, (void)y, (void)dloss, (void)acc;
    return dc_global_avgpool_backward(ctx, dy, g[0]);
}
static void describe_gap(const hcase *c, char *buf, size_t size)
{
    snprintf(buf, size, "global_avgpool n%d c%dx%dx%d -> %s", c->n, c->c, c->h, c->w,
             c->mode ? "[N, C]" : "[N, C, 1, 1]");
}

/* ------------------------------------------------------------------ concat */

static int concat_parts(const hcase *c, int *total)
{
    int k = 0;
    *total = 0;
    while (k < 6 && c->parts[k] > 0) *total += c->parts[k++];
    return k;
}
static void concat_spec(const hcase *c, int *n_in, tspec *in, tspec *out)
{
    int total;
    *n_in = concat_parts(c, &total);
    for (int i = 0; i < *n_in; i++) in[i] = ts(4, c->n, c->parts[i], c->h, c->w, -1, 1, 1);
    *out = ts(4, c->n, total, c->h, c->w, 0, 0, 0);
}
static void concat_ref(const hcase *c, const double *const *in, double *y)
{
    int total, k = concat_parts(c, &total), coff = 0;
    const size_t hw = (size_t)c->h * c->w;
    for (int i = 0; i < k; i++) {
        for (int b = 0; b < c->n; b++)
            for (size_t j = 0; j < c->parts[i] * hw; j++)
                y[((size_t)b * total + coff) * hw + j] = in[i][(size_t)b * c->parts[i] * hw + j];
        coff += c->parts[i];
    }
}
static dc_status concat_fwd(const hcase *c, dc_tensor **in, dc_tensor *y)
{
    int total;
    return dc_concat_forward(ctx, (const dc_tensor *const *)in, concat_parts(c, &total), y);
}
static dc_status concat_bwd(const hcase *c, dc_tensor **in, const dc_tensor *y, const dc_tensor *dy,
                            float dloss, dc_tensor **g, int acc)
{
    (void)in, (void)y, (void)dloss, (void)acc;
    int total;
    return dc_concat_backward(ctx, dy, g, concat_parts(c, &total));
}
static void describe_concat(const hcase *c, char *buf, size_t size)
{
    int total, k = concat_parts(c, &total);
    int at = snprintf(buf, size, "concat n%d %dx%d channels ", c->n, c->h, c->w);
    for (int i = 0; i < k; i++) at += snprintf(buf + at, size - (size_t)at, i ? "+%d" : "%d", c->parts[i]);
    snprintf(buf + at, size - (size_t)at, " -> %d", total);
}

/* ------------------------------------------------------------------ losses
 * Rows R = n. Weighted (mode & 4): row weights in [0.5, 2) with every fifth row 0 (every third
 * value for gauss_nll), the targets of an ignored row NaN (they must not be read). */

static double xent_norm(const hcase *c) { return 0.5 * c->n; }

/* softmax_xent: logits [R, K = c]; mode & 3: 0 one-hot [R, K], 1 class indices [R], 2 soft
 * targets [R, K] not summing to 1 */
static void xent_spec(const hcase *c, int *n_in, tspec *in, tspec *out)
{
    *n_in = 3;
    in[0] = ts(2, c->n, c->c, 0, 0, -4, 4, 1);
    in[1] = (c->mode & 3) == 1 ? ts(1, c->n, 0, 0, 0, 0, 1, 0) : ts(2, c->n, c->c, 0, 0, 0, 1, 0);
    in[2] = c->mode & 4 ? ts(1, c->n, 0, 0, 0, 0.5, 2, 0) : (tspec){0};
    *out = ts(1, 1, 0, 0, 0, 0, 0, 0);
}
static void xent_fix(const hcase *c, float **in)
{
    const int R = c->n, K = c->c, kind = c->mode & 3;
    for (int r = 0; r < R; r++) {
        int cls = (int)dc_rng_below(&rng, (uint32_t)K);
        if (kind == 1) in[1][r] = (float)cls;
        if (kind == 0)
            for (int k = 0; k < K; k++) in[1][(size_t)r * K + k] = k == cls ? 1.0f : 0.0f;
        if (in[2] && r % 5 == 0) {
            in[2][r] = 0.0f;
            in[1][kind == 1 ? (size_t)r : (size_t)r * K] = NAN;
        }
    }
}
static void xent_ref(const hcase *c, const double *const *in, double *y)
{
    const int R = c->n, K = c->c, index = (c->mode & 3) == 1;
    double total = 0.0;
    for (int r = 0; r < R; r++) {
        double w = in[2] ? in[2][r] : 1.0;
        if (w == 0.0) continue;
        const double *z = in[0] + (size_t)r * K;
        double m = z[0], s = 0.0, l = 0.0;
        for (int k = 1; k < K; k++) m = fmax(m, z[k]);
        for (int k = 0; k < K; k++) s += exp(z[k] - m);
        for (int k = 0; k < K; k++) {
            double t = index ? (k == (int)in[1][r]) : in[1][(size_t)r * K + k];
            l += t * (m + log(s) - z[k]);
        }
        total += w * l;
    }
    y[0] = total / xent_norm(c);
}
static dc_status xent_fwd(const hcase *c, dc_tensor **in, dc_tensor *y)
{
    return dc_softmax_xent_forward(ctx, in[0], in[1], in[2], (float)xent_norm(c), y);
}
static dc_status xent_bwd(const hcase *c, dc_tensor **in, const dc_tensor *y, const dc_tensor *dy,
                          float dloss, dc_tensor **g, int acc)
{
    (void)y, (void)dy, (void)acc;
    return dc_softmax_xent_backward(ctx, in[0], in[1], in[2], (float)xent_norm(c), dloss, g[0]);
}
static void describe_xent(const hcase *c, char *buf, size_t size)
{
    static const char *kinds[] = {"one-hot", "class indices", "soft targets"};
    snprintf(buf, size, "softmax_xent R%d K%d %s%s", c->n, c->c, kinds[c->mode & 3],
             c->mode & 4 ? " weighted" : "");
}

/* smooth_l1: pred, target [R, M = c], norm 7 */
static void sl1_spec(const hcase *c, int *n_in, tspec *in, tspec *out)
{
    *n_in = 3;
    in[0] = ts(2, c->n, c->c, 0, 0, -3, 3, 1);
    in[1] = ts(2, c->n, c->c, 0, 0, -3, 3, 0);
    in[2] = c->mode & 4 ? ts(1, c->n, 0, 0, 0, 0.5, 2, 0) : (tspec){0};
    *out = ts(1, 1, 0, 0, 0, 0, 0, 0);
}
static void sl1_fix(const hcase *c, float **in)
{
    for (size_t i = 0; i < (size_t)c->n * c->c; i++) /* |p - t| 0.01 off the switch at 1 */
        if (fabsf(fabsf(in[0][i] - in[1][i]) - 1.0f) < 0.01f) in[0][i] += 0.05f;
    if (in[2])
        for (int r = 0; r < c->n; r += 5) in[2][r] = 0.0f, in[1][(size_t)r * c->c] = NAN;
}
static void sl1_ref(const hcase *c, const double *const *in, double *y)
{
    double total = 0.0;
    for (int r = 0; r < c->n; r++) {
        double w = in[2] ? in[2][r] : 1.0, l = 0.0;
        if (w == 0.0) continue;
        for (int j = 0; j < c->c; j++) {
            double d = fabs(in[0][(size_t)r * c->c + j] - in[1][(size_t)r * c->c + j]);
            l += d < 1 ? 0.5 * d * d : d - 0.5;
        }
        total += w * l;
    }
    y[0] = total / 7.0;
}
static dc_status sl1_fwd(const hcase *c, dc_tensor **in, dc_tensor *y)
{
    (void)c;
    return dc_smooth_l1_forward(ctx, in[0], in[1], in[2], 7.0f, y);
}
static dc_status sl1_bwd(const hcase *c, dc_tensor **in, const dc_tensor *y, const dc_tensor *dy,
                         float dloss, dc_tensor **g, int acc)
{
    (void)c, (void)y, (void)dy, (void)acc;
    return dc_smooth_l1_backward(ctx, in[0], in[1], in[2], 7.0f, dloss, g[0]);
}
static void describe_rows(const hcase *c, char *buf, size_t size)
{
    snprintf(buf, size, "%s R%d %s%d%s", c->op->name, c->n,
             strcmp(c->op->name, "gauss_nll") ? "M" : "K", strcmp(c->op->name, "gauss_nll") ? c->c : c->k,
             c->mode & 4 ? " weighted" : "");
}

/* gauss_nll: pred [R, 2K] (mu, log sigma per property), target [R, K], per-value weights [R, K];
 * norm 3 */
static void gnll_spec(const hcase *c, int *n_in, tspec *in, tspec *out)
{
    *n_in = 3;
    in[0] = ts(2, c->n, 2 * c->k, 0, 0, -1, 1, 1);
    in[1] = ts(2, c->n, c->k, 0, 0, -2, 2, 0);
    in[2] = c->mode & 4 ? ts(2, c->n, c->k, 0, 0, 0.5, 2, 0) : (tspec){0};
    *out = ts(1, 1, 0, 0, 0, 0, 0, 0);
}
static void gnll_fix(const hcase *c, float **in)
{
    if (in[2])
        for (size_t i = 0; i < (size_t)c->n * c->k; i += 3) in[2][i] = 0.0f, in[1][i] = NAN;
}
static void gnll_ref(const hcase *c, const double *const *in, double *y)
{
    double total = 0.0;
    for (int r = 0; r < c->n; r++)
        for (int j = 0; j < c->k; j++) {
            size_t i = (size_t)r * c->k + j;
            double w = in[2] ? in[2][i] : 1.0;
            if (w == 0.0) continue;
            double mu = in[0][(size_t)r * 2 * c->k + 2 * j], s = in[0][(size_t)r * 2 * c->k + 2 * j + 1];
            double d = in[1][i] - mu;
            total += w * (0.5 * d * d * exp(-2.0 * s) + s);
        }
    y[0] = total / 3.0;
}
static dc_status gnll_fwd(const hcase *c, dc_tensor **in, dc_tensor *y)
{
    (void)c;
    return dc_gauss_nll_forward(ctx, in[0], in[1], in[2], 3.0f, y);
}
static dc_status gnll_bwd(const hcase *c, dc_tensor **in, const dc_tensor *y, const dc_tensor *dy,
                          float dloss, dc_tensor **g, int acc)
{
    (void)c, (void)y, (void)dy, (void)acc;
    return dc_gauss_nll_backward(ctx, in[0], in[1], in[2], 3.0f, dloss, g[0]);
}

/* ------------------------------------------------------------------ convolution family */

/* conv2d: x [N, C, H, W], w [K, C, kh, kw], b [K] with mode & 1 */
static dc_conv_params conv_params(const hcase *c)
{
    dc_conv_params p = {c->kh, c->kw, c->sh, c->sw, c->pad[0], c->pad[1], c->pad[2], c->pad[3]};
    if (c->same) {
        int out;
        axis_geometry(c->h, c->kh, c->sh, 0, 1, &out, &p.pad_t, &p.pad_b);
        axis_geometry(c->w, c->kw, c->sw, 0, 1, &out, &p.pad_l, &p.pad_r);
    }
    return p;
}
static void conv_out(const hcase *c, int *oh, int *ow)
{
    dc_conv_params p = conv_params(c);
    *oh = (c->h + p.pad_t + p.pad_b - c->kh) / c->sh + 1;
    *ow = (c->w + p.pad_l + p.pad_r - c->kw) / c->sw + 1;
}
static void conv_spec(const hcase *c, int *n_in, tspec *in, tspec *out)
{
    int oh, ow;
    conv_out(c, &oh, &ow);
    *n_in = 3;
    in[0] = ts(4, c->n, c->c, c->h, c->w, -1, 1, 1);
    in[1] = ts(4, c->k, c->c, c->kh, c->kw, -1, 1, 1);
    in[2] = c->mode & 1 ? ts(1, c->k, 0, 0, 0, -1, 1, 1) : (tspec){0};
    *out = ts(4, c->n, c->k, oh, ow, 0, 0, 0);
}
static void conv_ref(const hcase *c, const double *const *in, double *y)
{
    int oh, ow;
    conv_out(c, &oh, &ow);
    dc_conv_params p = conv_params(c);
    for (int n = 0; n < c->n; n++)
        for (int k = 0; k < c->k; k++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    double s = in[2] ? in[2][k] : 0.0;
                    for (int ch = 0; ch < c->c; ch++)
                        for (int ki = 0; ki < c->kh; ki++)
                            for (int kj = 0; kj < c->kw; kj++) {
                                int iy = oy * c->sh - p.pad_t + ki, ix = ox * c->sw - p.pad_l + kj;
                                if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w) continue;
                                s += in[0][(((size_t)n * c->c + ch) * c->h + iy) * c->w + ix] *
                                     in[1][(((size_t)k * c->c + ch) * c->kh + ki) * c->kw + kj];
                            }
                    y[(((size_t)n * c->k + k) * oh + oy) * ow + ox] = s;
                }
}
static dc_pool *scratch;
static dc_status conv_fwd(const hcase *c, dc_tensor **in, dc_tensor *y)
{
    dc_conv_params p = conv_params(c);
    return dc_conv2d_forward(ctx, in[0], in[1], in[2], y, &p, c->mode & 2 ? NULL : scratch);
}
static dc_status conv_bwd(const hcase *c, dc_tensor **in, const dc_tensor *y, const dc_tensor *dy,
                          float dloss, dc_tensor **g, int acc)
{
    (void)y, (void)dloss;
    dc_conv_params p = conv_params(c);
    dc_pool *s = c->mode & 2 ? NULL : scratch;
    DC_TRY(dc_conv2d_backward_input(ctx, dy, in[1], g[0], &p, acc, s));
    return dc_conv2d_backward_params(ctx, in[0], dy, g[1], g[2], &p, acc, s);
}
static void describe_conv(const hcase *c, char *buf, size_t size)
{
    dc_conv_params p = conv_params(c);
    int at = snprintf(buf, size, "conv2d k%dx%d s%dx%d %sp%d,%d,%d,%d n%d c%dx%dx%d -> %d%s%s", c->kh,
                      c->kw, c->sh, c->sw, c->same ? "SAME " : "", p.pad_t, p.pad_l, p.pad_b, p.pad_r,
                      c->n, c->c, c->h, c->w, c->k, c->mode & 1 ? " bias" : "",
                      c->mode & 2 ? " no scratch" : "");
    if (c->env) snprintf(buf + at, size - (size_t)at, " %s", c->env);
}

/* fc: x dims from the case (N rows of F = numel / N), w [K, F], b [K] with mode & 1 */
static int fc_features(const hcase *c)
{
    tspec t = ts_like(c, 0, 0, 0);
    return (int)(numel(&t) / (size_t)c->n);
}
static void fc_spec(const hcase *c, int *n_in, tspec *in, tspec *out)
{
    *n_in = 3;
    in[0] = ts_like(c, -1, 1, 1);
    in[1] = ts(2, c->k, fc_features(c), 0, 0, -1, 1, 1);
    in[2] = c->mode & 1 ? ts(1, c->k, 0, 0, 0, -1, 1, 1) : (tspec){0};
    *out = ts(2, c->n, c->k, 0, 0, 0, 0, 0);
}
static void fc_ref(const hcase *c, const double *const *in, double *y)
{
    const int f = fc_features(c);
    for (int i = 0; i < c->n; i++)
        for (int j = 0; j < c->k; j++) {
            double s = in[2] ? in[2][j] : 0.0;
            for (int l = 0; l < f; l++) s += in[0][(size_t)i * f + l] * in[1][(size_t)j * f + l];
            y[(size_t)i * c->k + j] = s;
        }
}
static dc_status fc_fwd(const hcase *c, dc_tensor **in, dc_tensor *y)
{
    (void)c;
    return dc_fc_forward(ctx, in[0], in[1], in[2], y);
}
static dc_status fc_bwd(const hcase *c, dc_tensor **in, const dc_tensor *y, const dc_tensor *dy,
                        float dloss, dc_tensor **g, int acc)
{
    (void)c, (void)y, (void)dloss;
    DC_TRY(dc_fc_backward_input(ctx, dy, in[1], g[0], acc));
    return dc_fc_backward_params(ctx, in[0], dy, g[1], g[2], acc);
}
static void describe_fc(const hcase *c, char *buf, size_t size)
{
    int s[4], nd = dims_of(c, s), at = snprintf(buf, size, "fc [");
    for (int i = 0; i < nd; i++) at += snprintf(buf + at, size - (size_t)at, i ? ",%d" : "%d", s[i]);
    snprintf(buf + at, size - (size_t)at, "] (F %d) -> %d%s", fc_features(c), c->k, c->mode & 1 ? " bias" : "");
}

/* bias: y = x + b[c] (the op runs in place on y, so the harness copies x into the NaN-filled y
 * first); the gradient of x is dy itself (no op), of b the per-channel sum of dy */
static size_t bias_inner(const hcase *c)
{
    tspec t = ts_like(c, 0, 0, 0);
    return numel(&t) / ((size_t)c->n * c->c);
}
static void bias_spec(const hcase *c, int *n_in, tspec *in, tspec *out)
{
    *n_in = 2;
    in[0] = ts_like(c, -1, 1, 0);
    in[1] = ts(1, c->c, 0, 0, 0, -1, 1, 1);
    *out = ts_like(c, 0, 0, 0);
}
static void bias_ref(const hcase *c, const double *const *in, double *y)
{
    const size_t s = bias_inner(c), n = s * c->n * c->c;
    for (size_t i = 0; i < n; i++) y[i] = in[0][i] + in[1][(i / s) % (size_t)c->c];
}
static dc_status bias_fwd(const hcase *c, dc_tensor **in, dc_tensor *y)
{
    (void)c;
    DC_TRY(dc_tensor_copy(in[0], y));
    return dc_bias_forward(ctx, y, in[1]);
}
static dc_status bias_bwd(const hcase *c, dc_tensor **in, const dc_tensor *y, const dc_tensor *dy,
                          float dloss, dc_tensor **g, int acc)
{
    (void)c, (void)in, (void)y, (void)dloss;
    return dc_bias_backward(ctx, dy, g[1], acc);
}

/* bn (frozen): x dims from the case, gamma [C] with mode & 1, beta [C] with mode & 2, mean, var
 * [C] (var[0] = 0: eps alone keeps it finite); eps 0.001 (the paper's model); mode & 4: forward
 * in place (y = x), mode & 8: backward in place (dx = dy; the accumulating run stays apart, as
 * the header allows the alias only when overwriting). Only x has a gradient op (the statistics
 * are frozen). */
static const float k_bn_eps = 0.001f;
static void bn_spec(const hcase *c, int *n_in, tspec *in, tspec *out)
{
    *n_in = 5;
    in[0] = ts_like(c, -2, 2, 1);
    in[1] = c->mode & 1 ? ts(1, c->c, 0, 0, 0, 0.5, 1.5, 0) : (tspec){0};
    in[2] = c->mode & 2 ? ts(1, c->c, 0, 0, 0, -1, 1, 0) : (tspec){0};
    in[3] = ts(1, c->c, 0, 0, 0, -0.5, 0.5, 0);
    in[4] = ts(1, c->c, 0, 0, 0, 0, 2, 0);
    *out = ts_like(c, 0, 0, 0);
}
static void bn_fix(const hcase *c, float **in)
{
    (void)c;
    in[4][0] = 0.0f;
}
static void bn_ref(const hcase *c, const double *const *in, double *y)
{
    const size_t s = bias_inner(c), n = s * c->n * c->c;
    for (size_t i = 0; i < n; i++) {
        size_t ch = (i / s) % (size_t)c->c;
        y[i] = (in[0][i] - in[3][ch]) * (in[1] ? in[1][ch] : 1.0) / sqrt(in[4][ch] + (double)k_bn_eps) +
               (in[2] ? in[2][ch] : 0.0);
    }
}
static dc_status bn_fwd(const hcase *c, dc_tensor **in, dc_tensor *y)
{
    if (!(c->mode & 4)) return dc_bn_forward(ctx, in[0], in[1], in[2], in[3], in[4], k_bn_eps, y);
    DC_TRY(dc_tensor_copy(in[0], y));
    return dc_bn_forward(ctx, y, in[1], in[2], in[3], in[4], k_bn_eps, y);
}
static dc_status bn_bwd(const hcase *c, dc_tensor **in, const dc_tensor *y, const dc_tensor *dy,
                        float dloss, dc_tensor **g, int acc)
{
    (void)y, (void)dloss;
    if (!(c->mode & 8) || acc) return dc_bn_backward_input(ctx, dy, in[1], in[4], k_bn_eps, g[0], acc);
    DC_TRY(dc_tensor_copy(dy, g[0]));
    return dc_bn_backward_input(ctx, g[0], in[1], in[4], k_bn_eps, g[0], 0);
}
static void describe_channels(const hcase *c, char *buf, size_t size)
{
    int s[4], nd = dims_of(c, s), at = snprintf(buf, size, "%s [", c->op->name);
    for (int i = 0; i < nd; i++) at += snprintf(buf + at, size - (size_t)at, i ? ",%d" : "%d", s[i]);
    at += snprintf(buf + at, size - (size_t)at, "]");
    if (!strcmp(c->op->name, "bn"))
        snprintf(buf + at, size - (size_t)at, "%s%s%s%s", c->mode & 1 ? " gamma" : "", c->mode & 2 ? " beta" : "",
                 c->mode & 4 ? " fwd in place" : "", c->mode & 8 ? " bwd in place" : "");
}

/* matmul: C [M = n, N = c] = f0 op(A) op(B), op(A) [M, K = k], A stored transposed with mode & 1,
 * B with mode & 2; beta 0, so the NaN in C must not be read. No backward op (fc and conv test
 * the GEMMs of their gradients). */
static void mm_spec(const hcase *c, int *n_in, tspec *in, tspec *out)
{
    *n_in = 2;
    in[0] = c->mode & 1 ? ts(2, c->k, c->n, 0, 0, -1, 1, 0) : ts(2, c->n, c->k, 0, 0, -1, 1, 0);
    in[1] = c->mode & 2 ? ts(2, c->c, c->k, 0, 0, -1, 1, 0) : ts(2, c->k, c->c, 0, 0, -1, 1, 0);
    *out = ts(2, c->n, c->c, 0, 0, 0, 0, 0);
}
static void mm_ref(const hcase *c, const double *const *in, double *y)
{
    const int M = c->n, N = c->c, K = c->k;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0.0;
            for (int l = 0; l < K; l++)
                s += (c->mode & 1 ? in[0][(size_t)l * M + i] : in[0][(size_t)i * K + l]) *
                     (c->mode & 2 ? in[1][(size_t)j * K + l] : in[1][(size_t)l * N + j]);
            y[(size_t)i * N + j] = (float)c->f0 * s;
        }
}
static dc_status mm_fwd(const hcase *c, dc_tensor **in, dc_tensor *y)
{
    return dc_matmul(ctx, c->mode & 1 ? DC_TRANS_YES : DC_TRANS_NO, c->mode & 2 ? DC_TRANS_YES : DC_TRANS_NO,
                     (float)c->f0, in[0], in[1], 0.0f, y);
}
static void describe_mm(const hcase *c, char *buf, size_t size)
{
    snprintf(buf, size, "matmul %s%s M%d N%d K%d alpha %g", c->mode & 1 ? "A^T" : "A",
             c->mode & 2 ? "B^T" : "B", c->n, c->c, c->k, c->f0);
}

/* ------------------------------------------------------------------ optimisation
 * In-place updates without a backward. The harness runs them on copies of the inputs and
 * concatenates the results into the NaN-filled output [1, total]. */

static int list_parts(const hcase *c, size_t *total)
{
    int k = 0;
    *total = 0;
    while (k < 6 && c->parts[k] > 0) *total += (size_t)c->parts[k++];
    return k;
}

/* clip_by_global_norm with clip f0: output the clipped grads, then the norm it returned divided
 * by sqrt(total) (of the order of one value, so that the max-norm error of the clipped values is
 * not measured against the much larger norm) */
static void clip_spec(const hcase *c, int *n_in, tspec *in, tspec *out)
{
    size_t total;
    *n_in = list_parts(c, &total);
    for (int i = 0; i < *n_in; i++) in[i] = ts(2, 1, c->parts[i], 0, 0, -1, 1, 0);
    *out = ts(2, 1, (int)total + 1, 0, 0, 0, 0, 0);
}
static void clip_ref(const hcase *c, const double *const *in, double *y)
{
    size_t total, at = 0;
    int k = list_parts(c, &total);
    double sq = 0.0;
    for (int i = 0; i < k; i++)
        for (int j = 0; j < c->parts[i]; j++) sq += in[i][j] * in[i][j];
    double norm = sqrt(sq), clip = (float)c->f0, scale = clip > 0 ? clip / fmax(norm, clip) : 1.0;
    for (int i = 0; i < k; i++)
        for (int j = 0; j < c->parts[i]; j++) y[at++] = in[i][j] * scale;
    y[at] = norm / sqrt((double)total);
}
static dc_status clip_fwd(const hcase *c, dc_tensor **in, dc_tensor *y)
{
    size_t total;
    int k = list_parts(c, &total);
    dc_tensor *work[7] = {0};
    float norm = NAN;
    dc_status st = DC_STATUS_OK;
    for (int i = 0; i < k && !st; i++) {
        st = dc_tensor_new(ctx, 2, in[i]->shape, &work[i]);
        if (!st) st = dc_tensor_copy(in[i], work[i]);
    }
    if (!st) st = dc_clip_by_global_norm(ctx, work, k, (float)c->f0, &norm);
    norm = (float)(norm / sqrt((double)total));
    if (!st) st = dc_tensor_new(ctx, 2, (int[]){1, 1}, &work[k]);
    if (!st) st = dc_tensor_upload(work[k], &norm, 1);
    if (!st) st = dc_concat_forward(ctx, (const dc_tensor *const *)work, k + 1, y);
    for (int i = 0; i <= k; i++) dc_tensor_free(work[i]);
    return st;
}

/* sgd_momentum_step with lr f0, momentum f1: inputs params, grads, accums of each size; output
 * the new params and accumulators, p0 a0 p1 a1 ... */
static void sgd_spec(const hcase *c, int *n_in, tspec *in, tspec *out)
{
    size_t total;
    int k = list_parts(c, &total);
    *n_in = 3 * k;
    for (int i = 0; i < k; i++)
        for (int j = 0; j < 3; j++) in[3 * i + j] = ts(2, 1, c->parts[i], 0, 0, -1, 1, 0);
    *out = ts(2, 1, 2 * (int)total, 0, 0, 0, 0, 0);
}
static void sgd_ref(const hcase *c, const double *const *in, double *y)
{
    size_t total, at = 0;
    int k = list_parts(c, &total);
    const double lr = (float)c->f0, mom = (float)c->f1;
    for (int i = 0; i < k; i++) {
        const double *p = in[3 * i], *g = in[3 * i + 1], *a = in[3 * i + 2];
        for (int j = 0; j < c->parts[i]; j++) y[at + j] = p[j] - lr * (mom * a[j] + g[j]);
        for (int j = 0; j < c->parts[i]; j++) y[at + c->parts[i] + j] = mom * a[j] + g[j];
        at += 2 * (size_t)c->parts[i];
    }
}
static dc_status sgd_fwd(const hcase *c, dc_tensor **in, dc_tensor *y)
{
    size_t total;
    int k = list_parts(c, &total);
    dc_tensor *p[6] = {0}, *a[6] = {0}, *g[6] = {0}, *cat[12] = {0};
    dc_status st = DC_STATUS_OK;
    for (int i = 0; i < k && !st; i++) {
        g[i] = in[3 * i + 1];
        st = dc_tensor_new(ctx, 2, in[3 * i]->shape, &p[i]);
        if (!st) st = dc_tensor_copy(in[3 * i], p[i]);
        if (!st) st = dc_tensor_new(ctx, 2, in[3 * i]->shape, &a[i]);
        if (!st) st = dc_tensor_copy(in[3 * i + 2], a[i]);
        cat[2 * i] = p[i], cat[2 * i + 1] = a[i];
    }
    if (!st)
        st = dc_sgd_momentum_step(ctx, p, (const dc_tensor *const *)g, a, k, (float)c->f0, (float)c->f1);
    if (!st) st = dc_concat_forward(ctx, (const dc_tensor *const *)cat, 2 * k, y);
    for (int i = 0; i < k; i++) dc_tensor_free(p[i]), dc_tensor_free(a[i]);
    return st;
}
static void describe_list(const hcase *c, char *buf, size_t size)
{
    size_t total;
    int k = list_parts(c, &total), at = snprintf(buf, size, "%s sizes ", c->op->name);
    for (int i = 0; i < k; i++) at += snprintf(buf + at, size - (size_t)at, i ? ",%d" : "%d", c->parts[i]);
    if (!strcmp(c->op->name, "clip_by_global_norm")) snprintf(buf + at, size - (size_t)at, " clip %g", c->f0);
    else snprintf(buf + at, size - (size_t)at, " lr %g momentum %g", c->f0, c->f1);
}

/* ------------------------------------------------------------------ detector ops with a backward
 * (engine/detect: the two whose gradients training uses) */

/* head_to_anchors: head [B, A*k, H, W] (c = A*k, k = k) -> out [B*H*W*A, k], row
 * ((b H + y) W + x) A + a, column t from channel a k + t; the backward is the inverse permutation */
static void h2a_spec(const hcase *c, int *n_in, tspec *in, tspec *out)
{
    *n_in = 1;
    in[0] = ts(4, c->n, c->c, c->h, c->w, -1, 1, 1);
    *out = ts(2, c->n * c->h * c->w * (c->c / c->k), c->k, 0, 0, 0, 0, 0);
}
static void h2a_ref(const hcase *c, const double *const *in, double *y)
{
    const int A = c->c / c->k;
    for (int b = 0; b < c->n; b++)
        for (int yy = 0; yy < c->h; yy++)
            for (int x = 0; x < c->w; x++)
                for (int a = 0; a < A; a++)
                    for (int t = 0; t < c->k; t++) {
                        size_t row = (((size_t)b * c->h + yy) * c->w + x) * A + a;
                        y[row * c->k + t] = in[0][(((size_t)b * c->c + a * c->k + t) * c->h + yy) * c->w + x];
                    }
}
static dc_status h2a_fwd(const hcase *c, dc_tensor **in, dc_tensor *y)
{
    return dc_head_to_anchors_forward(ctx, in[0], c->k, y);
}
static dc_status h2a_bwd(const hcase *c, dc_tensor **in, const dc_tensor *y, const dc_tensor *dy,
                         float dloss, dc_tensor **g, int acc)
{
    (void)in, (void)y, (void)dloss, (void)acc;
    return dc_head_to_anchors_backward(ctx, dy, c->k, g[0]);
}
static void describe_h2a(const hcase *c, char *buf, size_t size)
{
    snprintf(buf, size, "head_to_anchors n%d c%dx%dx%d k%d (A %d)", c->n, c->c, c->h, c->w, c->k, c->c / c->k);
}

/* crop_resize: feat [B, C, H, W], boxes [N = k, 4] normalised, crops kh x kw, extrapolation f0;
 * mode & 1: box_index n % B (else NULL: image 0); mode & 2: every other box upside down; some
 * boxes reach outside the map (extrapolated samples, no gradient). The sample coordinates are
 * computed in float in TF's order, as the header defines them; the interpolation in double. */
static int crop_index[64];
static const int *crop_boxes_index(const hcase *c)
{
    if (!(c->mode & 1)) return NULL;
    for (int i = 0; i < c->k && i < 64; i++) crop_index[i] = i % c->n;
    return crop_index;
}
static void crop_spec(const hcase *c, int *n_in, tspec *in, tspec *out)
{
    *n_in = 2;
    in[0] = ts(4, c->n, c->c, c->h, c->w, -1, 1, 1);
    in[1] = ts(2, c->k, 4, 0, 0, 0, 1, 0);
    *out = ts(4, c->k, c->c, c->kh, c->kw, 0, 0, 0);
}
static void crop_fix(const hcase *c, float **in)
{
    for (int b = 0; b < c->k; b++) {
        float *box = in[1] + 4 * b;
        for (int a = 0; a < 2; a++) {
            box[a] = (float)(-0.15 + 0.7 * dc_rng_uniform(&rng));
            box[a + 2] = box[a] + (float)(0.2 + 0.4 * dc_rng_uniform(&rng));
        }
        if ((c->mode & 2) && b % 2) {
            float t = box[0];
            box[0] = box[2], box[2] = t;
        }
    }
}
static float crop_coord(float c1, float c2, int size, int crop, int i)
{
    if (crop > 1) {
        volatile float step = (c2 - c1) * (float)(size - 1) / (float)(crop - 1);
        volatile float start = c1 * (float)(size - 1), off = (float)i * step;
        return start + off;
    }
    volatile float mid = 0.5f * (c1 + c2);
    return mid * (float)(size - 1);
}
static void crop_ref(const hcase *c, const double *const *in, double *y)
{
    const int *index = crop_boxes_index(c);
    const size_t hw = (size_t)c->h * c->w;
    for (int b = 0; b < c->k; b++)
        for (int i = 0; i < c->kh; i++)
            for (int j = 0; j < c->kw; j++) {
                const double *box = in[1] + 4 * b;
                float fy = crop_coord((float)box[0], (float)box[2], c->h, c->kh, i);
                float fx = crop_coord((float)box[1], (float)box[3], c->w, c->kw, j);
                int inside = fy >= 0.0f && fy <= (float)(c->h - 1) && fx >= 0.0f && fx <= (float)(c->w - 1);
                int top = (int)floorf(fy), bottom = (int)ceilf(fy), left = (int)floorf(fx), right = (int)ceilf(fx);
                double ly = fy - top, lx = fx - left;
                for (int ch = 0; ch < c->c; ch++) {
                    double *o = y + (((size_t)b * c->c + ch) * c->kh + i) * c->kw + j;
                    if (!inside) {
                        *o = (float)c->f0;
                        continue;
                    }
                    const double *f = in[0] + ((size_t)(index ? index[b] : 0) * c->c + ch) * hw;
                    double t = f[top * c->w + left] + (f[top * c->w + right] - f[top * c->w + left]) * lx;
                    double d = f[bottom * c->w + left] + (f[bottom * c->w + right] - f[bottom * c->w + left]) * lx;
                    *o = t + (d - t) * ly;
                }
            }
}
static dc_status crop_fwd(const hcase *c, dc_tensor **in, dc_tensor *y)
{
    return dc_crop_resize_forward(ctx, in[0], in[1], crop_boxes_index(c), (float)c->f0, y);
}
static dc_status crop_bwd(const hcase *c, dc_tensor **in, const dc_tensor *y, const dc_tensor *dy,
                          float dloss, dc_tensor **g, int acc)
{
    (void)y, (void)dloss, (void)acc;
    return dc_crop_resize_backward(ctx, dy, in[1], crop_boxes_index(c), g[0]);
}
static void describe_crop(const hcase *c, char *buf, size_t size)
{
    snprintf(buf, size, "crop_resize n%d c%dx%dx%d %d boxes -> %dx%d extrapolation %g%s%s", c->n, c->c,
             c->h, c->w, c->k, c->kh, c->kw, c->f0, c->mode & 1 ? " box_index" : "",
             c->mode & 2 ? " upside-down boxes" : "");
}

/* ------------------------------------------------------------------ the ops */

#define LINEAR_EPS 1e-3 /* the backward of a linear op: exact central differences at any step */
#define SMOOTH_EPS 1e-4 /* the losses: truncation error ~eps^2 */
static const op_def RELU = {"relu", relu_spec, relu_fix, relu_ref, relu_fwd, relu_bwd, 0, 0, LINEAR_EPS, describe_elementwise};
static const op_def ADD = {"add", add_spec, NULL, add_ref, add_fwd, NULL, 0, 0, 0, describe_elementwise};
static const op_def SCALE = {"scale", scale_spec, NULL, scale_ref, scale_fwd, scale_bwd, 0, 0, LINEAR_EPS, describe_elementwise};
static const op_def MAXPOOL = {"maxpool", pool_spec, pool_fix, maxpool_ref, maxpool_fwd, maxpool_bwd, 0, 0, LINEAR_EPS, describe_pool};
static const op_def AVGPOOL = {"avgpool", pool_spec, pool_fix, avgpool_ref, avgpool_fwd, avgpool_bwd, 0, 0, LINEAR_EPS, describe_pool};
static const op_def GAP = {"global_avgpool", gap_spec, NULL, gap_ref, gap_fwd, gap_bwd, 0, 0, LINEAR_EPS, describe_gap};
static const op_def CONCAT = {"concat", concat_spec, NULL, concat_ref, concat_fwd, concat_bwd, 0, 0, LINEAR_EPS, describe_concat};
static const op_def XENT = {"softmax_xent", xent_spec, xent_fix, xent_ref, xent_fwd, xent_bwd, 1, 0, SMOOTH_EPS, describe_xent};
static const op_def SMOOTH_L1 = {"smooth_l1", sl1_spec, sl1_fix, sl1_ref, sl1_fwd, sl1_bwd, 1, 0, SMOOTH_EPS, describe_rows};
static const op_def GAUSS_NLL = {"gauss_nll", gnll_spec, gnll_fix, gnll_ref, gnll_fwd, gnll_bwd, 1, 0, SMOOTH_EPS, describe_rows};
static const op_def CONV = {"conv2d", conv_spec, NULL, conv_ref, conv_fwd, conv_bwd, 0, 1, LINEAR_EPS, describe_conv};
static const op_def FC = {"fc", fc_spec, NULL, fc_ref, fc_fwd, fc_bwd, 0, 1, LINEAR_EPS, describe_fc};
static const op_def BIAS = {"bias", bias_spec, NULL, bias_ref, bias_fwd, bias_bwd, 0, 1, LINEAR_EPS, describe_channels};
static const op_def BN = {"bn", bn_spec, bn_fix, bn_ref, bn_fwd, bn_bwd, 0, 1, LINEAR_EPS, describe_channels};
static const op_def MATMUL = {"matmul", mm_spec, NULL, mm_ref, mm_fwd, NULL, 0, 0, 0, describe_mm};
static const op_def CLIP = {"clip_by_global_norm", clip_spec, NULL, clip_ref, clip_fwd, NULL, 0, 0, 0, describe_list};
static const op_def H2A = {"head_to_anchors", h2a_spec, NULL, h2a_ref, h2a_fwd, h2a_bwd, 0, 0, LINEAR_EPS, describe_h2a};
static const op_def CROP = {"crop_resize", crop_spec, crop_fix, crop_ref, crop_fwd, crop_bwd, 0, 0, LINEAR_EPS, describe_crop};
static const op_def SGD = {"sgd_momentum", sgd_spec, NULL, sgd_ref, sgd_fwd, NULL, 0, 0, 0, describe_list};

/* Tolerances: EXACT 0 (copies, selections, correctly rounded single ops), ONE_ROUNDING 1e-7 (one
 * float op per element against the unrounded value), SUM
 * 1e-5 (float sums of up to a few hundred terms), LOSS 1e-4 (float exp/log and reductions over up
 * to 600 values); COPY_FD 1e-9: a copied gradient against exact central differences. See the top
 * of the file. */
#define EXACT 0.0
#define COPY_FD 1e-9
#define ONE_ROUNDING 1e-7
#define SUM 1e-5
#define LOSS 1e-4

static const hcase cases[] = {
    /* elementwise: 4-D with odd sizes, batch 2, 1-D */
    {&RELU, 1, 3, 7, 5, .fwd_tol = EXACT, .bwd_tol = COPY_FD},
    {&RELU, 2, 5, 13, 11, .mode = 1, .fwd_tol = EXACT, .bwd_tol = COPY_FD},
    {&RELU, 2, 5, 13, 11, .mode = 1 | 2, .fwd_tol = EXACT, .bwd_tol = COPY_FD},
    {&RELU, 37, .fwd_tol = EXACT, .bwd_tol = COPY_FD},
    {&ADD, 2, 5, 13, 11, .fwd_tol = EXACT},
    {&ADD, 2, 5, 13, 11, .mode = 1, .fwd_tol = EXACT},
    {&ADD, 37, .fwd_tol = EXACT},
    {&SCALE, 2, 3, 7, 5, .f0 = -0.375, .fwd_tol = EXACT, .bwd_tol = ONE_ROUNDING},
    {&SCALE, 129, 7, .f0 = 3.1, .fwd_tol = EXACT, .bwd_tol = ONE_ROUNDING},
    /* pools: Inception-v2's and the ROI pool's geometries, odd and even sizes, batch > 1, all
     * negative values (padding must not win a max), a 1x1 input; max pools with both backward
     * variants (from x alone and given y) */
    {&MAXPOOL, 1, 3, 7, 9, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .same = 1, .f0 = -1, .fwd_tol = EXACT, .bwd_tol = SUM},
    {&MAXPOOL, 1, 3, 7, 9, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .same = 1, .f0 = -1, .mode = 1, .fwd_tol = EXACT, .bwd_tol = SUM},
    {&MAXPOOL, 2, 2, 9, 7, .kh = 3, .kw = 3, .sh = 2, .sw = 2, .same = 1, .f0 = -5, .fwd_tol = EXACT, .bwd_tol = SUM},
    {&MAXPOOL, 2, 2, 9, 7, .kh = 3, .kw = 3, .sh = 2, .sw = 2, .same = 1, .f0 = -5, .mode = 1, .fwd_tol = EXACT, .bwd_tol = SUM},
    {&MAXPOOL, 1, 2, 14, 14, .kh = 2, .kw = 2, .sh = 2, .sw = 2, .fwd_tol = EXACT, .bwd_tol = COPY_FD},
    {&MAXPOOL, 1, 2, 14, 14, .kh = 2, .kw = 2, .sh = 2, .sw = 2, .mode = 1, .fwd_tol = EXACT, .bwd_tol = COPY_FD},
    {&MAXPOOL, 1, 3, 7, 5, .kh = 2, .kw = 2, .sh = 2, .sw = 2, .same = 1, .f0 = -0.5, .fwd_tol = EXACT, .bwd_tol = COPY_FD},
    {&MAXPOOL, 1, 3, 7, 5, .kh = 2, .kw = 2, .sh = 2, .sw = 2, .same = 1, .f0 = -0.5, .mode = 1, .fwd_tol = EXACT, .bwd_tol = COPY_FD},
    {&MAXPOOL, 2, 1, 11, 8, .kh = 3, .kw = 3, .sh = 2, .sw = 2, .f0 = -0.5, .mode = 1, .fwd_tol = EXACT, .bwd_tol = SUM},
    {&MAXPOOL, 2, 1, 11, 8, .kh = 3, .kw = 3, .sh = 2, .sw = 2, .f0 = -0.5, .fwd_tol = EXACT, .bwd_tol = SUM},
    {&MAXPOOL, 1, 2, 6, 7, .kh = 3, .kw = 3, .sh = 2, .sw = 2, .pad = {1, 1}, .f0 = -0.5, .fwd_tol = EXACT, .bwd_tol = SUM},
    {&MAXPOOL, 1, 2, 6, 7, .kh = 3, .kw = 3, .sh = 2, .sw = 2, .pad = {1, 1}, .f0 = -0.5, .mode = 1, .fwd_tol = EXACT, .bwd_tol = SUM},
    {&MAXPOOL, 3, 2, 7, 6, .kh = 3, .kw = 2, .sh = 2, .sw = 1, .pad = {1, 0}, .f0 = -0.5, .fwd_tol = EXACT, .bwd_tol = SUM},
    {&MAXPOOL, 3, 2, 7, 6, .kh = 3, .kw = 2, .sh = 2, .sw = 1, .pad = {1, 0}, .f0 = -0.5, .mode = 1, .fwd_tol = EXACT, .bwd_tol = SUM},
    {&MAXPOOL, 1, 1, 1, 1, .kh = 3, .kw = 3, .sh = 2, .sw = 2, .same = 1, .f0 = 0.25, .fwd_tol = EXACT, .bwd_tol = SUM},
    {&MAXPOOL, 1, 1, 1, 1, .kh = 3, .kw = 3, .sh = 2, .sw = 2, .same = 1, .f0 = 0.25, .mode = 1, .fwd_tol = EXACT, .bwd_tol = SUM},
    {&AVGPOOL, 1, 3, 7, 9, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .same = 1, .f0 = -1, .fwd_tol = SUM, .bwd_tol = SUM},
    {&AVGPOOL, 2, 2, 9, 7, .kh = 3, .kw = 3, .sh = 2, .sw = 2, .same = 1, .f0 = -5, .fwd_tol = SUM, .bwd_tol = SUM},
    {&AVGPOOL, 1, 2, 14, 14, .kh = 2, .kw = 2, .sh = 2, .sw = 2, .fwd_tol = SUM, .bwd_tol = SUM},
    {&AVGPOOL, 1, 3, 7, 5, .kh = 2, .kw = 2, .sh = 2, .sw = 2, .same = 1, .f0 = -0.5, .fwd_tol = SUM, .bwd_tol = SUM},
    {&AVGPOOL, 2, 1, 11, 8, .kh = 3, .kw = 3, .sh = 2, .sw = 2, .f0 = -0.5, .fwd_tol = SUM, .bwd_tol = SUM},
    {&AVGPOOL, 1, 2, 6, 7, .kh = 3, .kw = 3, .sh = 2, .sw = 2, .pad = {1, 1}, .f0 = -0.5, .fwd_tol = SUM, .bwd_tol = SUM},
    {&AVGPOOL, 3, 2, 7, 6, .kh = 3, .kw = 2, .sh = 2, .sw = 1, .pad = {1, 0}, .f0 = -0.5, .fwd_tol = SUM, .bwd_tol = SUM},
    {&AVGPOOL, 1, 1, 1, 1, .kh = 3, .kw = 3, .sh = 2, .sw = 2, .same = 1, .f0 = 0.25, .fwd_tol = SUM, .bwd_tol = SUM},
    {&GAP, 2, 3, 7, 5, .fwd_tol = SUM, .bwd_tol = SUM},
    {&GAP, 3, 4, 1, 1, .mode = 1, .fwd_tol = SUM, .bwd_tol = SUM},
    {&GAP, 1, 5, 14, 13, .mode = 1, .fwd_tol = SUM, .bwd_tol = SUM},
    /* concat */
    {&CONCAT, 2, 0, 5, 3, .parts = {1, 4, 3}, .fwd_tol = EXACT, .bwd_tol = COPY_FD},
    {&CONCAT, 1, 0, 7, 7, .parts = {2, 3, 1, 5}, .fwd_tol = EXACT, .bwd_tol = COPY_FD},
    {&CONCAT, 3, 0, 1, 1, .parts = {6}, .fwd_tol = EXACT, .bwd_tol = COPY_FD},
    /* losses: more rows than the reducing work-group has items (300), weights with ignored rows */
    {&XENT, 37, 2, .mode = 4, .fwd_tol = LOSS, .bwd_tol = LOSS},
    {&XENT, 300, 2, .mode = 1 | 4, .fwd_tol = LOSS, .bwd_tol = LOSS},
    {&XENT, 13, 5, .mode = 2 | 4, .fwd_tol = LOSS, .bwd_tol = LOSS},
    {&XENT, 64, 3, .mode = 1, .fwd_tol = LOSS, .bwd_tol = LOSS},
    {&SMOOTH_L1, 41, 4, .mode = 4, .fwd_tol = LOSS, .bwd_tol = LOSS},
    {&SMOOTH_L1, 257, 4, .fwd_tol = LOSS, .bwd_tol = LOSS},
    {&SMOOTH_L1, 5, 3, .mode = 4, .fwd_tol = LOSS, .bwd_tol = LOSS},
    {&GAUSS_NLL, 1, .k = 1, .fwd_tol = LOSS, .bwd_tol = LOSS},
    {&GAUSS_NLL, 7, .k = 2, .mode = 4, .fwd_tol = LOSS, .bwd_tol = LOSS},
    {&GAUSS_NLL, 300, .k = 2, .mode = 4, .fwd_tol = LOSS, .bwd_tol = LOSS},
    {&GAUSS_NLL, 13, .k = 3, .fwd_tol = LOSS, .bwd_tol = LOSS},
    /* conv2d: SAME with odd sizes and stride 2 (asymmetric and after-only padding), the 7x7
     * stem, 1x1 (plain GEMM and batched), VALID, explicit asymmetric pads, without scratch pool,
     * both im2col variants */
    {&CONV, 1, 3, 7, 5, 4, 3, 3, 1, 1, .same = 1, .mode = 1, .fwd_tol = SUM, .bwd_tol = SUM},
    {&CONV, 2, 3, 17, 19, 5, 3, 3, 2, 2, .pad = {1, 1, 1, 1}, .mode = 1, .fwd_tol = SUM, .bwd_tol = SUM},
    {&CONV, 3, 2, 7, 5, 5, 3, 3, 2, 2, .same = 1, .mode = 1 | 2, .fwd_tol = SUM, .bwd_tol = SUM},
    {&CONV, 2, 3, 15, 13, 4, 7, 7, 2, 2, .same = 1, .mode = 1, .fwd_tol = SUM, .bwd_tol = SUM},
    {&CONV, 3, 5, 6, 7, 4, 1, 1, 1, 1, .mode = 1, .fwd_tol = SUM, .bwd_tol = SUM},
    {&CONV, 1, 6, 9, 8, 3, 1, 1, 1, 1, .fwd_tol = SUM, .bwd_tol = SUM},
    {&CONV, 3, 4, 7, 6, 5, 1, 1, 2, 2, .same = 1, .mode = 1, .fwd_tol = SUM, .bwd_tol = SUM},
    {&CONV, 2, 3, 9, 9, 4, 3, 3, 2, 2, .fwd_tol = SUM, .bwd_tol = SUM},
    {&CONV, 2, 3, 8, 7, 4, 3, 2, 2, 1, .pad = {1, 0, 2, 1}, .mode = 1, .fwd_tol = SUM, .bwd_tol = SUM},
    {&CONV, 3, 4, 8, 8, 6, 3, 3, 2, 2, .same = 1, .mode = 1 | 2, .fwd_tol = SUM, .bwd_tol = SUM},
    {&CONV, 2, 3, 11, 9, 4, 3, 3, 1, 1, .same = 1, .mode = 1, .env = "DEEPCEE_IM2COL=rows", .fwd_tol = SUM, .bwd_tol = SUM},
    {&CONV, 2, 3, 11, 9, 4, 3, 3, 1, 1, .same = 1, .mode = 1, .env = "DEEPCEE_IM2COL=pixel", .fwd_tol = SUM, .bwd_tol = SUM},
    {&CONV, 2, 3, 11, 9, 4, 5, 3, 2, 1, .same = 1, .mode = 1, .env = "DEEPCEE_GEMM_PAD=on", .fwd_tol = SUM, .bwd_tol = SUM},
    /* fc: a 2-class head, pooled [N, C, 1, 1] features, a flattened map without bias, 64 ROIs */
    {&FC, 1, 7, .k = 3, .mode = 1, .fwd_tol = SUM, .bwd_tol = SUM},
    {&FC, 5, 33, .k = 2, .mode = 1, .fwd_tol = SUM, .bwd_tol = SUM},
    {&FC, 3, 17, 1, 1, .k = 8, .mode = 1, .fwd_tol = SUM, .bwd_tol = SUM},
    {&FC, 2, 3, 5, 7, .k = 9, .fwd_tol = SUM, .bwd_tol = SUM},
    {&FC, 64, 130, .k = 8, .mode = 1, .fwd_tol = SUM, .bwd_tol = SUM},
    /* bias: fewer and more spatial positions than the work-group, [N, C], 3-D */
    {&BIAS, 3, 5, 7, 5, .fwd_tol = ONE_ROUNDING, .bwd_tol = SUM},
    {&BIAS, 2, 3, 17, 13, .fwd_tol = ONE_ROUNDING, .bwd_tol = SUM},
    {&BIAS, 129, 7, .fwd_tol = ONE_ROUNDING, .bwd_tol = SUM},
    {&BIAS, 1, 64, 250, .fwd_tol = ONE_ROUNDING, .bwd_tol = SUM},
    /* frozen batch norm: with and without gamma / beta, [N, C] */
    {&BN, 2, 3, 7, 5, .mode = 1 | 2, .fwd_tol = SUM, .bwd_tol = SUM},
    {&BN, 1, 5, 9, 11, .mode = 2, .fwd_tol = SUM, .bwd_tol = SUM},
    {&BN, 3, 4, 2, 3, .mode = 1 | 4 | 8, .fwd_tol = SUM, .bwd_tol = SUM},
    {&BN, 6, 7, .mode = 1 | 2, .fwd_tol = SUM, .bwd_tol = SUM},
    /* GEMM: each transpose, odd sizes, small (direct kernel) and larger */
    {&MATMUL, 5, 7, .k = 3, .f0 = 2, .mode = 1, .fwd_tol = SUM},
    {&MATMUL, 13, 9, .k = 17, .f0 = 1, .fwd_tol = SUM},
    {&MATMUL, 33, 65, .k = 31, .f0 = -0.5, .mode = 2, .fwd_tol = SUM},
    {&MATMUL, 70, 129, .k = 67, .f0 = 1, .mode = 3, .fwd_tol = SUM},
    /* optimisation: one tensor large enough for several reducing work-groups */
    {&CLIP, .parts = {1, 37, 70001, 513}, .f0 = 80, .fwd_tol = SUM},
    {&CLIP, .parts = {1, 37, 70001, 513}, .f0 = 1000, .fwd_tol = SUM},
    {&CLIP, .parts = {2, 5}, .f0 = 0, .fwd_tol = SUM},
    {&SGD, .parts = {2, 1}, .f0 = 0.1, .f1 = 0.9, .fwd_tol = SUM},
    {&SGD, .parts = {37, 1001, 3}, .f0 = 0.01, .f1 = 0.5, .fwd_tol = SUM},
    /* detector ops: objectness (k 2) and box deltas (k 4) of 3 and 9 anchors; crops of one and of
     * several images, 1x1 and 7x5 and the second stage's 14x14 */
    {&H2A, 1, 6, 5, 7, .k = 2, .fwd_tol = EXACT, .bwd_tol = COPY_FD},
    {&H2A, 2, 36, 3, 4, .k = 4, .fwd_tol = EXACT, .bwd_tol = COPY_FD},
    {&CROP, 1, 3, 9, 11, .k = 5, .kh = 7, .kw = 5, .f0 = 0.5, .fwd_tol = SUM, .bwd_tol = SUM},
    {&CROP, 2, 2, 8, 6, .k = 7, .kh = 14, .kw = 14, .mode = 1 | 2, .fwd_tol = SUM, .bwd_tol = SUM},
    {&CROP, 3, 1, 5, 5, .k = 4, .kh = 1, .kw = 1, .f0 = -2, .mode = 1, .fwd_tol = SUM, .bwd_tol = SUM},
};

/* ------------------------------------------------------------------ the runner */

typedef struct proj { const hcase *c; double **in; const double *r; double *y; size_t ny; int which; } proj;

/* sum(r * ref(in)) with input `which` replaced by x */
static double proj_loss(const double *x, const void *ud)
{
    const proj *u = ud;
    double *keep = u->in[u->which];
    u->in[u->which] = (double *)x;
    u->c->op->ref(u->c, (const double *const *)u->in, u->y);
    u->in[u->which] = keep;
    double s = 0.0;
    for (size_t i = 0; i < u->ny; i++) s += u->r[i] * u->y[i];
    return s;
}

static void set_env(const char *env, int on)
{
    if (!env) return;
    char name[64];
    const char *eq = strchr(env, '=');
    snprintf(name, sizeof name, "%.*s", (int)(eq - env), env);
    if (on) setenv(name, eq + 1, 1);
    else unsetenv(name);
}

/* Runs one case; returns 1 when it passed. */
static int run_case(const hcase *c)
{
    const op_def *op = c->op;
    char what[200], why[400] = "";
    op->describe(c, what, sizeof what);
    set_env(c->env, 1);
    int n_in = 0, ok = 1;
    tspec in[MAX_IN] = {{0}}, out = {0};
    op->spec(c, &n_in, in, &out);
    float *h[MAX_IN] = {0};
    double *d[MAX_IN] = {0};
    dc_tensor *t[MAX_IN] = {0}, *g[MAX_IN] = {0};
    for (int i = 0; i < n_in; i++)
        if (in[i].ndim) h[i] = ops_random(&rng, numel(&in[i]), in[i].lo, in[i].hi);
    if (op->fix) op->fix(c, h);
    for (int i = 0; i < n_in; i++)
        if (h[i]) {
            d[i] = ops_to_double(h[i], numel(&in[i]));
            t[i] = ops_tensor(ctx, in[i].ndim, in[i].shape, h[i]);
        }

    /* forward */
    const size_t ny = numel(&out);
    double *want = malloc(ny * sizeof *want), fwd_err = NAN, bwd_err = 0.0;
    round_ref = 1;
    op->ref(c, (const double *const *)d, want);
    round_ref = 0;
    dc_tensor *y = ops_tensor(ctx, out.ndim, out.shape, NULL);
    float *got = NULL, *again = NULL;
    ops_must(dc_tensor_fill(y, NAN));
    dc_status st = op->fwd(c, t, y);
    if (st) {
        snprintf(why, sizeof why, "forward failed: %s", dc_error_message());
        ok = 0;
        goto done;
    }
    got = ops_download(y);
    size_t worst;
    fwd_err = ops_max_rel_err(got, want, ny, &worst);
    if (!(fwd_err <= c->fwd_tol)) {
        snprintf(why, sizeof why, "forward: y[%zu] = %.9g, want %.9g; max rel err %.3g > %.3g", worst,
                 got[worst], want[worst], fwd_err, c->fwd_tol);
        ok = 0;
    }
    ops_must(dc_tensor_fill(y, NAN));
    ops_must(op->fwd(c, t, y));
    again = ops_download(y);
    if (ok && memcmp(again, got, ny * sizeof *got)) {
        snprintf(why, sizeof why, "forward differs between two runs");
        ok = 0;
    }

    /* backward */
    if (op->bwd && ok) {
        float *r = ops_random(&rng, ny, -1, 1);
        double *rd = ops_to_double(r, ny), *ybuf = malloc(ny * sizeof *ybuf);
        dc_tensor *dy = op->is_loss ? NULL : ops_tensor(ctx, out.ndim, out.shape, r);
        for (int i = 0; i < n_in; i++)
            if (in[i].diff && in[i].ndim) {
                g[i] = ops_tensor(ctx, in[i].ndim, in[i].shape, NULL);
                ops_must(dc_tensor_fill(g[i], NAN));
            }
        st = op->bwd(c, t, y, dy, r[0], g, 0);
        if (st) {
            snprintf(why, sizeof why, "backward failed: %s", dc_error_message());
            ok = 0;
        }
        for (int i = 0; i < n_in && ok; i++) {
            if (!g[i]) continue;
            const size_t n = numel(&in[i]);
            float *gi = ops_download(g[i]);
            /* every element written */
            for (size_t j = 0; j < n && ok; j++)
                if (isnan(gi[j])) {
                    snprintf(why, sizeof why, "backward: input %d element %zu is NaN (not written)", i, j);
                    ok = 0;
                }
            /* central differences at every element, or FD_MAX drawn ones of a large input */
            size_t m = n <= FD_MAX ? n : FD_MAX;
            size_t *idx = malloc(m * sizeof *idx);
            for (size_t j = 0; j < m; j++) idx[j] = n <= FD_MAX ? j : dc_rng_below(&rng, (uint32_t)n);
            float *gs = malloc(m * sizeof *gs);
            double *num = malloc(m * sizeof *num);
            proj u = {c, d, rd, ybuf, ny, i};
            for (size_t j = 0; j < m; j++) {
                double *x = d[i] + idx[j], keep = *x;
                *x = keep + op->fd_eps;
                double lp = proj_loss(d[i], &u);
                *x = keep - op->fd_eps;
                double lm = proj_loss(d[i], &u);
                *x = keep;
                num[j] = (lp - lm) / (2 * op->fd_eps);
                gs[j] = gi[idx[j]];
            }
            /* where the loss does not depend on an element at all (a ReLU's negative input, an
             * ignored row, a max pool's loser) both differences are the same number and the
             * gradient must be exactly 0 */
            for (size_t j = 0; j < m && ok; j++)
                if (num[j] == 0.0 && gs[j] != 0.0f) {
                    snprintf(why, sizeof why, "backward: d input %d [%zu] = %.9g where the loss does not "
                             "depend on it", i, idx[j], gs[j]);
                    ok = 0;
                }
            double e = ops_max_rel_err(gs, num, m, &worst);
            if (ok && !(e <= c->bwd_tol)) {
                snprintf(why, sizeof why, "backward: d input %d [%zu] = %.9g, finite differences %.9g; "
                         "max rel err %.3g > %.3g", i, idx[worst], gs[worst], num[worst], e, c->bwd_tol);
                ok = 0;
            }
            if (e > bwd_err || e != e) bwd_err = e;
            /* deterministic, and accumulating adds onto what is there */
            if (ok) {
                ops_must(op->bwd(c, t, y, dy, r[0], g, 0));
                float *g2 = ops_download(g[i]);
                if (memcmp(g2, gi, n * sizeof *gi)) {
                    snprintf(why, sizeof why, "backward of input %d differs between two runs", i);
                    ok = 0;
                }
                free(g2);
            }
            if (ok && op->accumulates) {
                float *base = NULL;
                for (int k = 0; k < n_in; k++) /* every gradient gets random values to add to */
                    if (g[k]) {
                        float *b = ops_random(&rng, g[k]->numel, -1, 1);
                        ops_must(dc_tensor_upload(g[k], b, g[k]->numel));
                        if (k == i) base = b;
                        else free(b);
                    }
                ops_must(op->bwd(c, t, y, dy, r[0], g, 1));
                float *ga = ops_download(g[i]);
                for (size_t j = 0; j < m; j++) {
                    num[j] += base[idx[j]];
                    gs[j] = ga[idx[j]];
                }
                double ea = ops_max_rel_err(gs, num, m, &worst);
                if (!(ea <= c->bwd_tol)) {
                    snprintf(why, sizeof why, "backward accumulate: d input %d [%zu] = %.9g, want "
                             "%.9g; max rel err %.3g > %.3g", i, idx[worst], gs[worst], num[worst], ea,
                             c->bwd_tol);
                    ok = 0;
                }
                free(base), free(ga);
                ops_must(op->bwd(c, t, y, dy, r[0], g, 0)); /* back to the overwritten gradients */
            }
            free(gi), free(idx), free(gs), free(num);
        }
        free(r), free(rd), free(ybuf);
        dc_tensor_free(dy);
    }

done:
    if (ok && op->bwd)
        printf("ok %s: fwd max err %.2g, bwd max rel err %.2g\n", what, fwd_err, bwd_err);
    else if (ok)
        printf("ok %s: fwd max err %.2g (no backward op)\n", what, fwd_err);
    else
        printf("FAIL %s: %s\n", what, why);
    fflush(stdout);
    CHECK(ok, "%s: %s", what, why);
    set_env(c->env, 0);
    for (int i = 0; i < n_in; i++) free(h[i]), free(d[i]), dc_tensor_free(t[i]), dc_tensor_free(g[i]);
    dc_tensor_free(y);
    free(want), free(got), free(again);
    return ok;
}

int main(void)
{
    ops_must(dc_ctx_new(&ctx, NULL));
    ops_must(dc_pool_new(ctx, &scratch));
    dc_rng_seed(&rng, 20261204);
    dc_gemm_route route;
    ops_must(dc_gemm_route_get(ctx, &route));
    printf("GEMM route: %s\n", route == DC_GEMM_HOST ? "host" : "clblast");
    const size_t n = sizeof cases / sizeof cases[0];
    char failed[4096] = "";
    int n_failed = 0;
    for (size_t i = 0; i < n; i++)
        if (!run_case(&cases[i])) {
            char what[200];
            cases[i].op->describe(&cases[i], what, sizeof what);
            if (strlen(failed) + strlen(what) + 4 < sizeof failed) strcat(strcat(failed, "\n  "), what);
            n_failed++;
        }
    printf("%zu cases, %d failed%s\n", n, n_failed, failed);
    dc_pool_free(scratch);
    dc_ctx_free(ctx);
    return dc_test_finish("test_ops_harness");
}
