/* dc_gemm / dc_matmul against a double-precision C reference (transposes, offsets, leading
 * dimensions, alpha, beta, odd sizes, products small enough for CLBlast's direct kernel and large
 * enough for its padded indirect one), the tile-padded GEMM (dc_gemm_pad_plan, dc_gemm_pad_copy,
 * dc_gemm_pad_zero, dc_gemm_padded) with NaN in the buffers before the padding is written,
 * CLBlast status mapping, and shape errors. ctest runs it twice, under DEEPCEE_GEMM=host (OpenBLAS on
 * mapped buffers) and DEEPCEE_GEMM=clblast; test_route checks what auto picks.
 * Tolerance: |got - ref| <= 1e-5 * sum_k |alpha a b| + |beta c| terms + 1e-6, a few times the
 * float32 rounding of a k-term sum. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "dc_test.h"
#include "ops/ops_conv.h"
#include "tensor.h"
#include "test_ops_util.h"

static dc_ctx *ctx;
static dc_rng rng;

/* uniform in [-1, 1) */
static float *random_host(size_t n) { return ops_random(&rng, n, -1, 1); }

static dc_tensor *tensor_from(const float *h, size_t n)
{
    dc_tensor *t = NULL;
    CHECK_OK(dc_tensor_new(ctx, 1, (int[]){(int)n}, &t));
    CHECK_OK(dc_tensor_upload(t, h, n));
    return t;
}

/* One random GEMM with the given transposes and padding of the leading dimensions. */
static void gemm_case(int ta, int tb, int m, int n, int k, int pad, float alpha, float beta)
{
    const int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
    const size_t a_off = (size_t)pad * 3, b_off = (size_t)pad, c_off = (size_t)pad * 2;
    const size_t na = a_off + (size_t)(ta ? k : m) * lda, nb = b_off + (size_t)(tb ? n : k) * ldb;
    const size_t nc = c_off + (size_t)m * ldc;
    float *a = random_host(na), *b = random_host(nb), *c = random_host(nc), *got = malloc(nc * sizeof *got);
    dc_tensor *ta_ = tensor_from(a, na), *tb_ = tensor_from(b, nb), *tc = tensor_from(c, nc);
    CHECK_OK(dc_gemm(ctx, ta, tb, m, n, k, alpha, ta_, a_off, lda, tb_, b_off, ldb, beta, tc, c_off, ldc));
    CHECK_OK(dc_tensor_download(tc, got, nc));
    int bad = 0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0, sa = 0;
            for (int l = 0; l < k; l++) {
                double av = ta ? a[a_off + (size_t)l * lda + i] : a[a_off + (size_t)i * lda + l];
                double bv = tb ? b[b_off + (size_t)j * ldb + l] : b[b_off + (size_t)l * ldb + j];
                s += av * bv;
                sa += fabs(av * bv);
            }
            const double cv = c[c_off + (size_t)i * ldc + j];
            const double ref = alpha * s + beta * cv;
            const double tol = 1e-5 * (fabs(alpha) * sa + fabs(beta * cv)) + 1e-6;
            if (fabs(got[c_off + (size_t)i * ldc + j] - ref) > tol && bad++ < 3)
                fprintf(stderr, "gemm ta=%d tb=%d %dx%dx%d: C[%d,%d] = %g, expected %g\n", ta, tb,
                        m, n, k, i, j, got[c_off + (size_t)i * ldc + j], ref);
        }
    /* values outside the C block are untouched */
    for (int i = 0; i < m; i++)
        for (int j = n; j < ldc; j++)
            if (got[c_off + (size_t)i * ldc + j] != c[c_off + (size_t)i * ldc + j]) bad++;
    for (size_t i = 0; i < c_off; i++)
        if (got[i] != c[i]) bad++;
    CHECK(bad == 0, "gemm ta=%d tb=%d m=%d n=%d k=%d pad=%d: %d values wrong", ta, tb, m, n, k, pad, bad);
    dc_tensor_free(ta_);
    dc_tensor_free(tb_);
    dc_tensor_free(tc);
    free(a);
    free(b);
    free(c);
    free(got);
}

static void test_matmul(void)
{
    const int m = 5, n = 7, k = 3;
    float a[15], b[21], c[35];
    for (int i = 0; i < 15; i++) a[i] = (float)(i % 4) - 1.5f;
    for (int i = 0; i < 21; i++) b[i] = (float)(i % 5) * 0.25f;
    dc_tensor *ta, *tb, *tc, *bad;
    CHECK_OK(dc_tensor_new(ctx, 2, (int[]){k, m}, &ta)); /* stored transposed */
    CHECK_OK(dc_tensor_new(ctx, 2, (int[]){k, n}, &tb));
    CHECK_OK(dc_tensor_new(ctx, 2, (int[]){m, n}, &tc));
    CHECK_OK(dc_tensor_new(ctx, 2, (int[]){n, m}, &bad));
    CHECK_OK(dc_tensor_upload(ta, a, 15));
    CHECK_OK(dc_tensor_upload(tb, b, 21));
    CHECK_OK(dc_matmul(ctx, DC_TRANS_YES, DC_TRANS_NO, 2.0f, ta, tb, 0.0f, tc));
    CHECK_OK(dc_tensor_download(tc, c, 35));
    int wrong = 0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int l = 0; l < k; l++) s += (double)a[l * m + i] * b[l * n + j];
            wrong += fabs(c[i * n + j] - 2.0 * s) > 1e-5;
        }
    CHECK(wrong == 0, "matmul: %d values wrong", wrong);
    CHECK_FAILS(dc_matmul(ctx, DC_TRANS_NO, DC_TRANS_NO, 1.0f, ta, tb, 0.0f, tc), DC_STATUS_SHAPE,
                "matmul: inner dimensions");
    CHECK_FAILS(dc_matmul(ctx, DC_TRANS_YES, DC_TRANS_NO, 1.0f, ta, tb, 0.0f, bad), DC_STATUS_SHAPE,
                "matmul: argument C has shape [7, 5], expected [5, 7]");
    /* blocks that do not fit their tensors */
    CHECK_FAILS(dc_gemm(ctx, DC_TRANS_NO, DC_TRANS_NO, m, n, k, 1.0f, ta, 1, k, tb, 0, n, 0.0f, tc, 0, n),
                DC_STATUS_SHAPE, "gemm: argument A");
    CHECK_FAILS(dc_gemm(ctx, DC_TRANS_NO, DC_TRANS_NO, m, n, k, 1.0f, ta, 0, k, tb, 0, n, 0.0f, tc, 0, n + 1),
                DC_STATUS_SHAPE, "gemm: argument C");
    CHECK_FAILS(dc_gemm(ctx, DC_TRANS_NO, DC_TRANS_YES, m, n, k, 1.0f, ta, 0, k, tb, 0, k + 1, 0.0f, tc, 0, n),
                DC_STATUS_SHAPE, "gemm: argument B");
    CHECK_FAILS(dc_gemm(ctx, DC_TRANS_NO, DC_TRANS_NO, m, n, k, 1.0f, ta, 0, k - 1, tb, 0, n, 0.0f, tc, 0, n),
                DC_STATUS_INVALID_ARG, "leading dimensions");
    CHECK_FAILS(dc_gemm(ctx, DC_TRANS_NO, DC_TRANS_NO, m, n, 0, 1.0f, ta, 0, 1, tb, 0, n, 0.0f, tc, 0, n),
                DC_STATUS_INVALID_ARG, "inner size k is 0");
    CHECK_FAILS(dc_gemm(ctx, DC_TRANS_NO, DC_TRANS_NO, -1, n, k, 1.0f, ta, 0, k, tb, 0, n, 0.0f, tc, 0, n),
                DC_STATUS_INVALID_ARG, "must not be negative");
    CHECK_OK(dc_gemm(ctx, DC_TRANS_NO, DC_TRANS_NO, 0, n, k, 1.0f, ta, 0, k, tb, 0, n, 0.0f, tc, 0, n));
    /* raw buffers too small: CLBlast's own check comes back as DC_STATUS_BLAS */
    CHECK_FAILS(dc_gemm_mem(ctx, DC_TRANS_NO, DC_TRANS_NO, 50, n, k, 1.0f, ta->buf, 0, k, tb->buf, 0,
                            n, 0.0f, tc->buf, 0, n), DC_STATUS_BLAS, "CLBlastInsufficientMemory");
    dc_tensor_free(ta);
    dc_tensor_free(tb);
    dc_tensor_free(tc);
    dc_tensor_free(bad);
}

static void write_nan(cl_mem buf, size_t n)
{
    float *h = malloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++) h[i] = NAN;
    CHECK(clEnqueueWriteBuffer(dc_ctx_queue(ctx), buf, CL_TRUE, 0, n * sizeof *h, h, 0, NULL, NULL) ==
              CL_SUCCESS, "write");
    free(h);
}

/* C[m, n] = W[m, k] B[k, n] the way the convolutions run it padded: S = W^T staged by
 * dc_gemm_pad_copy, B written row by row into a NaN-filled padded buffer (as im2col does) and its
 * padding zeroed by dc_gemm_pad_zero, the padded product, and the block copied out. */
static void padded_case(int m, int n, int k)
{
    dc_gemm_pad pad;
    int use;
    CHECK_OK(dc_gemm_pad_plan(ctx, m, n, k, 0, &pad, &use));
    CHECK(use == 1, "DEEPCEE_GEMM_PAD=on pads %dx%dx%d", m, n, k);
    CHECK(pad.m >= m && pad.n >= n && pad.k >= k && pad.m % 16 == 0 && pad.k % 16 == 0 &&
          pad.n % 16 == 0, "padded sizes %d %d %d of %d %d %d", pad.m, pad.n, pad.k, m, n, k);
    float *w = random_host((size_t)m * k), *b = random_host((size_t)k * n);
    float *c = malloc((size_t)m * n * sizeof *c);
    dc_tensor *tw = tensor_from(w, (size_t)m * k), *s, *bp, *cp, *out;
    CHECK_OK(dc_tensor_new(ctx, 1, (int[]){pad.k * pad.m}, &s));
    CHECK_OK(dc_tensor_new(ctx, 1, (int[]){pad.k * pad.n}, &bp));
    CHECK_OK(dc_tensor_new(ctx, 1, (int[]){pad.m * pad.n}, &cp));
    CHECK_OK(dc_tensor_new(ctx, 1, (int[]){m * n}, &out));
    write_nan(s->buf, s->numel);
    write_nan(bp->buf, bp->numel);
    CHECK_OK(dc_gemm_pad_copy(ctx, tw->buf, 0, k, m, k, 1, s->buf, pad.k, pad.m));
    for (int r = 0; r < k; r++)
        clEnqueueWriteBuffer(dc_ctx_queue(ctx), bp->buf, CL_TRUE, (size_t)r * pad.n * sizeof(float),
                             (size_t)n * sizeof(float), b + (size_t)r * n, 0, NULL, NULL);
    CHECK_OK(dc_gemm_pad_zero(ctx, bp->buf, pad.n, n, 0, pad.n - n, k));
    CHECK_OK(dc_gemm_pad_zero(ctx, bp->buf, pad.n, 0, k, pad.n, pad.k - k));
    CHECK_OK(dc_gemm_padded(ctx, &pad, s->buf, bp->buf, cp->buf));
    CHECK_OK(dc_gemm_pad_copy(ctx, cp->buf, 0, pad.n, m, n, 0, out->buf, m, n));
    CHECK_OK(dc_tensor_download(out, c, (size_t)m * n));
    int bad = 0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double r = 0, sa = 0;
            for (int l = 0; l < k; l++) {
                r += (double)w[(size_t)i * k + l] * b[(size_t)l * n + j];
                sa += fabs((double)w[(size_t)i * k + l] * b[(size_t)l * n + j]);
            }
            const double got = c[(size_t)i * n + j];
            if (!(fabs(got - r) <= 1e-5 * sa + 1e-6) && bad++ < 3)
                fprintf(stderr, "padded %dx%dx%d: C[%d,%d] = %g, expected %g\n", m, n, k, i, j, got, r);
        }
    CHECK(bad == 0, "padded GEMM %dx%dx%d (padded %dx%dx%d): %d values wrong", m, n, k, pad.m, pad.n,
          pad.k, bad);
    /* the staged S is W^T with zeros around it */
    float *hs = malloc(s->numel * sizeof *hs);
    CHECK_OK(dc_tensor_download(s, hs, s->numel));
    int wrong = 0;
    for (int i = 0; i < pad.k; i++)
        for (int j = 0; j < pad.m; j++)
            wrong += hs[(size_t)i * pad.m + j] != (i < k && j < m ? w[(size_t)j * k + i] : 0.0f);
    CHECK(wrong == 0, "staged W^T: %d values wrong", wrong);
    free(hs);
    dc_tensor_free(tw); dc_tensor_free(s); dc_tensor_free(bp); dc_tensor_free(cp); dc_tensor_free(out);
    free(w); free(b); free(c);
}

static void test_padded(void)
{
    setenv("DEEPCEE_GEMM_PAD", "on", 1);
    padded_case(1, 1, 1);
    padded_case(37, 300, 45);
    padded_case(64, 1000, 147); /* the network's first layer, on 1000 pixels */
    padded_case(40, 200, 1900); /* k in inner blocks (sub-buffers, beta = 1 after the first) */
    {
        dc_gemm_pad pad;
        int use;
        CHECK_OK(dc_gemm_pad_plan(ctx, 40, 200, 1900, 0, &pad, &use));
        CHECK(pad.kb > 0 && pad.kb < pad.k && pad.kb % 16 == 0, "k = %d runs in blocks of %d", pad.k, pad.kb);
    }
    for (int i = 0; i < 3; i++)
        padded_case(1 + (int)dc_rng_below(&rng, 200), 1 + (int)dc_rng_below(&rng, 700),
                    1 + (int)dc_rng_below(&rng, 300));
    setenv("DEEPCEE_GEMM_PAD", "off", 1);
    dc_gemm_pad pad;
    int use = 1;
    CHECK_OK(dc_gemm_pad_plan(ctx, 512, 512, 512, 0, &pad, &use));
    CHECK(use == 0 && pad.m == 512, "DEEPCEE_GEMM_PAD=off never pads");
    setenv("DEEPCEE_GEMM_PAD", "auto", 1);
    /* the host route never pads under auto (OpenBLAS needs no padding) */
    const int keep_route = dc_ctx_gemm_route(ctx);
    dc_ctx_set_gemm_route(ctx, DC_GEMM_HOST);
    CHECK_OK(dc_gemm_pad_plan(ctx, 512, 4000, 576, 0, &pad, &use));
    CHECK(use == 0, "auto does not pad on the host route");
    /* the planning rules below are CLBlast's route */
    dc_ctx_set_gemm_route(ctx, DC_GEMM_CLBLAST);
    CHECK_OK(dc_gemm_pad_plan(ctx, 512, 4000, 576, 0, &pad, &use));
    const dc_gemm_tiles t = dc_ctx_gemm_tiles(ctx);
    if (t.mwg > 0) {
        CHECK(use == 1 && pad.n % t.mwg == 0 && pad.m % t.nwg == 0 && pad.k % t.kwg == 0,
              "auto pads a large product to the tuned tiles %d/%d/%d: %d %d %d", t.mwg, t.nwg, t.kwg,
              pad.m, pad.n, pad.k);
        /* a 1x1 convolution's operand used in place: padded only from 32768 columns */
        CHECK_OK(dc_gemm_pad_plan(ctx, 512, 4000, 576, 1, &pad, &use));
        CHECK(use == 0, "in place, 4000 columns stay plain");
        CHECK_OK(dc_gemm_pad_plan(ctx, 64, 62500, 64, 1, &pad, &use));
        CHECK(use == 1, "in place, 62500 columns are padded");
    } else {
        CHECK(use == 0, "auto does not pad without known tiles");
    }
    CHECK_OK(dc_gemm_pad_plan(ctx, 4, 4, 4, 0, &pad, &use));
    CHECK(use == 0 || t.min_indirect <= 4, "auto leaves a 4x4x4 product to the direct kernel");
    setenv("DEEPCEE_GEMM_PAD", "sometimes", 1);
    CHECK_FAILS(dc_gemm_pad_plan(ctx, 8, 8, 8, 0, &pad, &use), DC_STATUS_INVALID_ARG,
                "DEEPCEE_GEMM_PAD is 'sometimes'");
    unsetenv("DEEPCEE_GEMM_PAD");
    dc_ctx_set_gemm_route(ctx, keep_route);
}

static dc_status blas_fail(CLBlastStatusCode code) { DC_BLAS_CHECK(code); return DC_STATUS_OK; }

static void test_status_mapping(void)
{
    CHECK_OK(blas_fail(CLBlastSuccess));
    CHECK_FAILS(blas_fail(CLBlastInvalidLeadDimA), DC_STATUS_BLAS, "CLBlastInvalidLeadDimA (-1016)");
    CHECK(strstr(dc_error_message(), "test_ops_gemm.c") != NULL, "message names the file: %s",
          dc_error_message());
    CHECK_FAILS(blas_fail(CLBlastTempBufferAllocFailure), DC_STATUS_OUT_OF_MEMORY, "out of memory");
    CHECK_FAILS(blas_fail(CLBlastOpenCLOutOfResources), DC_STATUS_OUT_OF_MEMORY, "CLBlastOpenCLOutOfResources");
    CHECK_FAILS(dc_blas_check((CLBlastStatusCode)-77777, "CLBlastSgemm(a, b)", "x.c", 12), DC_STATUS_BLAS,
                "CLBlast call CLBlastSgemm failed with CLBlastUnknownStatus (-77777)");
    CHECK(strcmp(dc_blas_status_name(CLBlastInvalidDimension), "CLBlastInvalidDimension") == 0, "name");
}

/* DEEPCEE_GEMM: auto picks the host BLAS exactly on CPU devices; a bad value names the variable. */
static void test_route(void)
{
    const char *saved = getenv("DEEPCEE_GEMM");
    char keep[32] = "";
    if (saved) snprintf(keep, sizeof keep, "%s", saved);
    dc_gemm_route r;
    const dc_gemm_route cpu = (dc_ctx_info(ctx)->type & CL_DEVICE_TYPE_CPU) ? DC_GEMM_HOST : DC_GEMM_CLBLAST;
    unsetenv("DEEPCEE_GEMM");
    CHECK_OK(dc_gemm_route_get(ctx, &r));
    CHECK(r == cpu, "unset DEEPCEE_GEMM: route %d, expected %d", (int)r, (int)cpu);
    setenv("DEEPCEE_GEMM", "auto", 1);
    CHECK_OK(dc_gemm_route_get(ctx, &r));
    CHECK(r == cpu, "DEEPCEE_GEMM=auto: route %d, expected %d", (int)r, (int)cpu);
    setenv("DEEPCEE_GEMM", "host", 1);
    CHECK_OK(dc_gemm_route_get(ctx, &r));
    CHECK(r == DC_GEMM_HOST, "DEEPCEE_GEMM=host");
    setenv("DEEPCEE_GEMM", "clblast", 1);
    CHECK_OK(dc_gemm_route_get(ctx, &r));
    CHECK(r == DC_GEMM_CLBLAST, "DEEPCEE_GEMM=clblast");
    setenv("DEEPCEE_GEMM", "gpu", 1);
    CHECK_FAILS(dc_gemm_route_get(ctx, &r), DC_STATUS_INVALID_ARG, "DEEPCEE_GEMM is 'gpu'");
    if (saved) setenv("DEEPCEE_GEMM", keep, 1);
    else unsetenv("DEEPCEE_GEMM");
}

/* A, B and C as blocks of one buffer (the host route maps it once over the union of the blocks),
 * against the same double-precision reference; values between the blocks stay untouched. */
static void test_one_buffer(void)
{
    const int m = 19, n = 23, k = 37;
    const size_t a_off = 5, b_off = a_off + (size_t)m * k + 3, c_off = b_off + (size_t)k * n + 7;
    const size_t total = c_off + (size_t)m * n + 4;
    float *h = random_host(total), *got = malloc(total * sizeof *got);
    dc_tensor *t = tensor_from(h, total);
    CHECK_OK(dc_gemm(ctx, DC_TRANS_NO, DC_TRANS_YES, m, n, k, 0.75f, t, a_off, k, t, b_off, k, 0.5f, t,
                     c_off, n));
    CHECK_OK(dc_tensor_download(t, got, total));
    int bad = 0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0, sa = 0;
            for (int l = 0; l < k; l++) {
                const double p = (double)h[a_off + (size_t)i * k + l] * h[b_off + (size_t)j * k + l];
                s += p;
                sa += fabs(p);
            }
            const double cv = h[c_off + (size_t)i * n + j], ref = 0.75 * s + 0.5 * cv;
            if (fabs(got[c_off + (size_t)i * n + j] - ref) > 1e-5 * (0.75 * sa + fabs(0.5 * cv)) + 1e-6)
                bad++;
        }
    for (size_t i = 0; i < c_off; i++)
        if (got[i] != h[i]) bad++;
    for (size_t i = c_off + (size_t)m * n; i < total; i++)
        if (got[i] != h[i]) bad++;
    CHECK(bad == 0, "gemm with A, B, C in one buffer: %d values wrong", bad);
    dc_tensor_free(t);
    free(h);
    free(got);
}

int main(void)
{
    dc_rng_seed(&rng, 2);
    CHECK_OK(dc_ctx_new(&ctx, NULL));
    if (!ctx) return dc_test_finish("test_ops_gemm");
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            gemm_case(ta, tb, 7, 5, 3, 0, 1.0f, 0.0f);
            gemm_case(ta, tb, 33, 17, 65, 3, -0.5f, 1.0f);
            gemm_case(ta, tb, 1, 129, 31, 1, 1.25f, 0.5f);
            gemm_case(ta, tb, 150, 141, 131, 2, 1.0f, 0.5f); /* above 128^3: the indirect kernel */
        }
    for (int i = 0; i < 6; i++) {
        const int m = 1 + (int)dc_rng_below(&rng, 90), n = 1 + (int)dc_rng_below(&rng, 90);
        const int k = 1 + (int)dc_rng_below(&rng, 200), pad = (int)dc_rng_below(&rng, 4);
        gemm_case((int)dc_rng_below(&rng, 2), (int)dc_rng_below(&rng, 2), m, n, k, pad, 1.0f,
                  (float)dc_rng_below(&rng, 2));
    }
    test_matmul();
    test_one_buffer();
    test_route();
    test_padded();
    test_status_mapping();
    dc_ctx_free(ctx);
    return dc_test_finish("test_ops_gemm");
}
