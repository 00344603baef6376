/* The convolution family of stateless ops: GEMM through CLBlast, 2-D convolution, fully connected,
 * per-channel bias and frozen (inference-mode) batch norm, each with its backward.
 *
 * Conventions shared by every op here:
 * - Tensors are float32 NCHW; outputs are provided by the caller and their shapes are checked
 *   (DC_STATUS_SHAPE names the op and the argument).
 * - Backward ops take `accumulate`: 0 overwrites the gradient tensor, non-zero adds into it (a layer
 *   whose input feeds several branches accumulates its input gradient; parameter gradients
 *   accumulate until the optimiser zeroes them).
 * - Gradients are split as in Torch's THNN: *_backward_input (gradient of the input) and
 *   *_backward_params (gradients of weights and bias), so a frozen layer skips the second.
 * - `scratch` is a pool reserved for op workspaces (im2col columns, transposed blocks). An op takes
 *   what it needs from it and resets it before returning, so one scratch pool per context serves
 *   every op and holds only the largest workspace ever needed; the in-order queue makes the reuse
 *   by the next op safe. Never pass the activation pool. NULL: workspaces are allocated and freed
 *   within the call (slower).
 * - Results are deterministic: no atomics; reductions run in a fixed order. */
#ifndef DC_OPS_CONV_H
#define DC_OPS_CONV_H

#include <clblast_c.h>

#include "cl/tune.h"
#include "tensor.h"

/* ------------------------------------------------------------------ CLBlast and GEMM */

/* Turn a CLBlast status into a dc_status: DC_STATUS_OK for CLBlastSuccess, allocation failures into
 * DC_STATUS_OUT_OF_MEMORY, everything else into DC_STATUS_BLAS, with a message naming the call, the
 * code's name, file and line. */
dc_status dc_blas_check(CLBlastStatusCode code, const char *call, const char *file, int line);
/* dc_blas_status_name (the constant name of a CLBlast status) is in cl/tune.h. */
#define DC_BLAS_CHECK(call)                                                                \
    do {                                                                                   \
        CLBlastStatusCode dc_blas_code_ = (call);                                          \
        if (dc_blas_code_ != CLBlastSuccess)                                               \
            return dc_blas_check(dc_blas_code_, #call, __FILE__, __LINE__);                \
    } while (0)

typedef enum dc_trans { DC_TRANS_NO = 0, DC_TRANS_YES = 1 } dc_trans;

/* Where the GEMMs run. DC_GEMM_CLBLAST: CLBlast's kernels on the device. DC_GEMM_HOST: the host's
 * OpenBLAS (cblas_sgemm) on mapped buffers, after the queue has drained; on a CPU device (PoCL)
 * the buffers are host memory, so the map is free and the route reaches 98-100 % of OpenBLAS
 * called directly, against 20-27 % for tuned CLBlast at the network's shapes on the development
 * machine (bench/README.md). DEEPCEE_GEMM=auto (the default: host on devices of
 * type CPU, CLBlast elsewhere, GPUs with host-unified memory included), host or clblast; another
 * value is an error naming the variable. On the host route OpenBLAS gets the device's compute
 * units as threads unless OPENBLAS_NUM_THREADS or OMP_NUM_THREADS is set. A route chosen for the
 * context (dc_ctx_set_gemm_route) takes precedence over the variable. */
typedef enum dc_gemm_route { DC_GEMM_CLBLAST = 0, DC_GEMM_HOST = 1 } dc_gemm_route;
dc_status dc_gemm_route_get(const dc_ctx *ctx, dc_gemm_route *out);

/* C = alpha op(A) op(B) + beta C, row-major (as BLAS with CblasRowMajor), on the context's queue.
 * op(A) is m x k: A is stored m x k with lda >= k, or (ta = DC_TRANS_YES) k x m with lda >= m;
 * likewise op(B) is k x n, C is m x n with ldc >= n. Offsets count floats from the start of each
 * tensor. Every element touched must lie inside its tensor, else DC_STATUS_SHAPE naming the
 * argument. m or n of 0 does nothing; k must be positive when they are not. */
dc_status dc_gemm(dc_ctx *ctx, dc_trans ta, dc_trans tb, int m, int n, int k, float alpha,
                  const dc_tensor *a, size_t a_off, int lda, const dc_tensor *b, size_t b_off,
                  int ldb, float beta, dc_tensor *c, size_t c_off, int ldc);
/* The same on raw buffers; only the leading dimensions are checked here (CLBlast checks that the
 * buffers are large enough). */
dc_status dc_gemm_mem(dc_ctx *ctx, dc_trans ta, dc_trans tb, int m, int n, int k, float alpha,
                      cl_mem a, size_t a_off, int lda, cl_mem b, size_t b_off, int ldb, float beta,
                      cl_mem c, size_t c_off, int ldc);
/* Whole 2-D tensors: C[m, n] = alpha op(A) op(B) + beta C, shapes taken from the tensors. */
dc_status dc_matmul(dc_ctx *ctx, dc_trans ta, dc_trans tb, float alpha, const dc_tensor *a,
                    const dc_tensor *b, float beta, dc_tensor *c);

/* Tile-padded GEMM, for the large products of the convolutions.
 *
 * CLBlast's fast Xgemm kernel runs on its operands as they are only when they are in its layout
 * and every size is a multiple of its tiles (dc_ctx_gemm_tiles); otherwise CLBlast pads and
 * transposes them through temporary buffers first, which costs about as much as the arithmetic
 * for the convolutions' large column matrices. So the convolutions write their column matrices
 * straight into the padded layout (im2col with a leading dimension), stage the small weight
 * matrix with dc_gemm_pad_copy, and call dc_gemm_padded, which then runs the bare kernel.
 *
 * The product is C[pm, pn] = S^T A with A [pk, pn] (row-major, e.g. the column matrix) and
 * S [pk, pm] (the staged weights); pm, pn, pk are m, n, k padded as dc_gemm_pad_plan says. The
 * padding of A and S must hold finite values (zeros) since it enters the sums; the padding of C
 * is left with whatever the kernel computed there. */
typedef struct dc_gemm_pad {
    int m, n, k;   /* padded sizes of C[m, n] = op(A)[m, k] op(B)[k, n] */
    int kb;        /* inner block: dc_gemm_padded sums k in blocks of kb (= k: one block) */
} dc_gemm_pad;
/* Whether C[m, n] = A[m, k] B[k, n] should run padded (*use = 1, sizes in *pad) or through
 * dc_gemm_mem (*use = 0: the host route (dc_gemm_route_get), the tiles are unknown, or the product is small enough for CLBlast's
 * direct kernel, which needs no padding). in_place: the plain call could use the large operand
 * where it lies (a 1x1 convolution's input or output gradient), so padding costs an extra copy;
 * that paid on the development machine only for n >= 32768 columns (bench/README.md), so smaller
 * ones stay plain. DEEPCEE_GEMM_PAD=auto (the default), on (pad whenever possible, with 32/32/16
 * tiles when unknown; the tests run both paths) or off; another value is an error naming the
 * variable. */
dc_status dc_gemm_pad_plan(dc_ctx *ctx, int m, int n, int k, int in_place, dc_gemm_pad *pad,
                           int *use);
/* C [pad.m, pad.n] = S^T A as above, on buffers that start at offset 0: one CLBlast call per
 * inner block of pad.kb rows of S and A (sub-buffers, so each still starts at offset 0), the
 * first with beta 0 and the others adding. Blocking K keeps a block of A within the CPU's cache:
 * CLBlast's kernel streams the whole of K through each tile, and beyond a few hundred rows (the
 * 3x3 layers have K = 576-1728) it fell from about 65 % to 40 % of OpenBLAS on the development
 * machine (bench/README.md). */
dc_status dc_gemm_padded(dc_ctx *ctx, const dc_gemm_pad *pad, cl_mem s, cl_mem a, cl_mem c);
/* dst [dr, dc] = the rows x cols block of src (leading dimension ld, from src_off), transposed
 * when trans, zero elsewhere (opencl/gemm_pad.cl). */
dc_status dc_gemm_pad_copy(dc_ctx *ctx, cl_mem src, size_t src_off, int ld, int rows, int cols,
                           int trans, cl_mem dst, int dr, int dc);
/* Zero the nx x ny block at column x0, row y0 of a matrix with leading dimension ld. */
dc_status dc_gemm_pad_zero(dc_ctx *ctx, cl_mem m, int ld, int x0, int y0, int nx, int ny);

/* ------------------------------------------------------------------ 2-D convolution */

/* Kernel size, stride and padding (top, left, bottom, right: may be asymmetric, as TF's 'SAME'). */
typedef struct dc_conv_params {
    int kh, kw;
    int sh, sw;
    int pad_t, pad_l, pad_b, pad_r;
} dc_conv_params;

/* TF 'SAME' for an input of in_h x in_w: output ceil(in / s); per axis pad_total =
 * max((ceil(in / s) - 1) * s + k - in, 0), pad_before = pad_total / 2, the rest after. SAME padding
 * depends on the input size, so compute it for each input size. */
dc_conv_params dc_conv_params_same(int in_h, int in_w, int kh, int kw, int sh, int sw);
/* TF 'VALID': no padding, output floor((in - k) / s) + 1. */
dc_conv_params dc_conv_params_valid(int kh, int kw, int sh, int sw);
/* Output size for an input of in_h x in_w: (in + pad_before + pad_after - k) / s + 1. Fails with
 * DC_STATUS_INVALID_ARG for non-positive sizes or strides, negative padding, or a padding of at
 * least the kernel size, and with DC_STATUS_SHAPE when the padded input is smaller than the
 * kernel. */
dc_status dc_conv2d_out_size(const dc_conv_params *p, int in_h, int in_w, int *out_h, int *out_w);

/* y = conv(x, w) + b. x [N, C, H, W], w [K, C, kh, kw], b [K] or NULL, y [N, K, OH, OW] with
 * OH x OW from dc_conv2d_out_size. A 1x1 stride-1 unpadded convolution is a plain GEMM on x;
 * others run im2col + SGEMM. Large products run tile-padded where the GEMM tiles are known
 * (dc_gemm_pad_plan; for a 1x1 convolution only on maps of 32768 pixels or more). Maps of fewer
 * than 4096 positions (the second stage's crops) put several images side by side in one GEMM, as
 * many as fit 256 MiB of workspace. im2col/col2im have a CPU and a GPU variant picked by device
 * type; DEEPCEE_IM2COL=rows|pixel forces one. */
dc_status dc_conv2d_forward(dc_ctx *ctx, const dc_tensor *x, const dc_tensor *w, const dc_tensor *b,
                            dc_tensor *y, const dc_conv_params *p, dc_pool *scratch);
/* dx (+)= d loss / d x for y = conv(x, w): GEMM w^T dy, then col2im gathering per input pixel. */
dc_status dc_conv2d_backward_input(dc_ctx *ctx, const dc_tensor *dy, const dc_tensor *w,
                                   dc_tensor *dx, const dc_conv_params *p, int accumulate,
                                   dc_pool *scratch);
/* dw (+)= d loss / d w and, when db is not NULL, db (+)= d loss / d b (the sum of dy over N, OH, OW
 * per channel). x is the forward input. */
dc_status dc_conv2d_backward_params(dc_ctx *ctx, const dc_tensor *x, const dc_tensor *dy,
                                    dc_tensor *dw, dc_tensor *db, const dc_conv_params *p,
                                    int accumulate, dc_pool *scratch);

/* ------------------------------------------------------------------ per-channel bias */

/* y[n, c, ...] += b[c] in place, for y of shape [N, C, ...] (2 to 4 dimensions) and b [C]. */
dc_status dc_bias_forward(dc_ctx *ctx, dc_tensor *y, const dc_tensor *b);
/* db (+)= sum over n and the spatial positions of dy[n, c, ...]. */
dc_status dc_bias_backward(dc_ctx *ctx, const dc_tensor *dy, dc_tensor *db, int accumulate);

/* ------------------------------------------------------------------ fully connected */

/* y = x w^T + b. x [N, ...] is read as N rows of F = numel / N features (so a [N, C, 1, 1] pooled
 * map works as is), w [O, F], b [O] or NULL, y [N, O]. */
dc_status dc_fc_forward(dc_ctx *ctx, const dc_tensor *x, const dc_tensor *w, const dc_tensor *b,
                        dc_tensor *y);
/* dx (+)= dy w; dx has x's shape. */
dc_status dc_fc_backward_input(dc_ctx *ctx, const dc_tensor *dy, const dc_tensor *w, dc_tensor *dx,
                               int accumulate);
/* dw (+)= dy^T x and, when db is not NULL, db (+)= column sums of dy. */
dc_status dc_fc_backward_params(dc_ctx *ctx, const dc_tensor *x, const dc_tensor *dy, dc_tensor *dw,
                                dc_tensor *db, int accumulate);

/* ------------------------------------------------------------------ frozen batch norm */

/* Frozen (inference-mode) batch norm, the feature network's mode (the paper's TF model: eps 0.001):
 * y = gamma (x - mean) / sqrt(var + eps) + beta per channel, for x [N, C, ...] (2 to 4
 * dimensions); gamma, beta, mean, var are [C]; gamma NULL means 1 (TF-slim's scale=False) and
 * beta NULL means 0. y may be x (in place). */
dc_status dc_bn_forward(dc_ctx *ctx, const dc_tensor *x, const dc_tensor *gamma,
                        const dc_tensor *beta, const dc_tensor *mean, const dc_tensor *var,
                        float eps, dc_tensor *y);
/* dx (+)= dy gamma / sqrt(var + eps): the statistics are frozen, so only the input has a gradient
 * through them. dx may be dy (in place) when accumulate is 0. */
dc_status dc_bn_backward_input(dc_ctx *ctx, const dc_tensor *dy, const dc_tensor *gamma,
                               const dc_tensor *var, float eps, dc_tensor *dx, int accumulate);
/* Fold a frozen batch norm into the convolution (or fully connected layer) before it, on host
 * arrays: w [K, per_out] becomes w * s and b [K] becomes (b - mean) s + beta, with
 * s = gamma / sqrt(var + eps). gamma and beta may be NULL (1 and 0); b must be writable (pass
 * zeros for a layer without bias). Fails with DC_STATUS_INVALID_ARG when var + eps <= 0. */
dc_status dc_bn_fold_host(int k, int per_out, float *w, float *b, const float *gamma,
                          const float *beta, const float *mean, const float *var, float eps);
/* The same on device tensors (downloads, folds, uploads): w [K, ...], b [K]. */
dc_status dc_bn_fold(dc_ctx *ctx, dc_tensor *w, dc_tensor *b, const dc_tensor *gamma,
                     const dc_tensor *beta, const dc_tensor *mean, const dc_tensor *var, float eps);

#endif
