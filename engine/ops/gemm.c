/* CLBlast status handling and the GEMM wrappers every GEMM-based op goes through. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "ops/ops_conv.h"

dc_status dc_blas_check(CLBlastStatusCode code, const char *call, const char *file, int line)
{
    if (code == CLBlastSuccess) return DC_STATUS_OK;
    dc_status st = DC_STATUS_BLAS;
    const char *hint = "";
    if (code == CLBlastTempBufferAllocFailure || code == CLBlastOpenCLOutOfResources ||
        code == CLBlastOpenCLOutOfHostMemory) {
        st = DC_STATUS_OUT_OF_MEMORY;
        hint = ": the device ran out of memory; use a smaller input or batch, or another device";
    } else if (code == CLBlastOpenCLBuildProgramFailure) {
        hint = ": CLBlast could not compile its kernels for this device (tuned parameters that do "
               "not fit it? remove the stored tuning)";
    }
    /* Name only the function, not its whole argument list. */
    char shortcall[160];
    snprintf(shortcall, sizeof shortcall, "%s", call);
    for (char *s = shortcall; *s; s++)
        if (*s == '(') *s = '\0';
    return dc_error_set(st, file, line, "CLBlast call %s failed with %s (%d)%s", shortcall,
                        dc_blas_status_name(code), (int)code, hint);
}

/* ------------------------------------------------------------------ host BLAS route */

dc_status dc_gemm_route_get(const dc_ctx *ctx, dc_gemm_route *out)
{
    const int chosen = dc_ctx_gemm_route(ctx);
    if (chosen == DC_GEMM_CLBLAST || chosen == DC_GEMM_HOST) {
        *out = (dc_gemm_route)chosen;
        return DC_STATUS_OK;
    }
    const char *v = getenv("DEEPCEE_GEMM");
    const int cpu = (dc_ctx_info(ctx)->type & CL_DEVICE_TYPE_CPU) != 0;
    if (!v || !*v || strcmp(v, "auto") == 0) {
        *out = cpu ? DC_GEMM_HOST : DC_GEMM_CLBLAST;
        return DC_STATUS_OK;
    }
    if (strcmp(v, "host") == 0) *out = DC_GEMM_HOST;
    else if (strcmp(v, "clblast") == 0) *out = DC_GEMM_CLBLAST;
    else
        return DC_FAIL(DC_STATUS_INVALID_ARG, "DEEPCEE_GEMM is '%s'; use clblast, host, auto or leave "
                       "it unset", v);
    return DC_STATUS_OK;
}

/* Floats from the first to one past the last element of a rows x cols block, leading dimension ld. */
static size_t block_span(int rows, int cols, int ld)
{
    return (size_t)(rows - 1) * (size_t)ld + (size_t)cols;
}

/* One mapped buffer: floats [lo, hi) of mem, at ptr. */
typedef struct host_map {
    cl_mem mem;
    size_t lo, hi;
    int write;
    float *ptr;
} host_map;

static dc_status unmap_all(cl_command_queue q, host_map *maps, int n, dc_status st)
{
    for (int i = 0; i < n; i++) {
        if (!maps[i].ptr) continue;
        cl_int err = clEnqueueUnmapMemObject(q, maps[i].mem, maps[i].ptr, 0, NULL, NULL);
        if (err != CL_SUCCESS && st == DC_STATUS_OK)
            st = dc_cl_fail(err, "clEnqueueUnmapMemObject", __FILE__, __LINE__);
    }
    return st;
}

/* C = alpha op(A) op(B) + beta C through the host's OpenBLAS on mapped buffers. The first (blocking)
 * map waits for everything queued before, so OpenBLAS runs while the device is idle and may use
 * all of its cores; the unmaps are queued before anything that comes after. A buffer appearing
 * twice (A and C the same cl_mem, say) is mapped once over the union of its blocks. */
static dc_status gemm_host(dc_ctx *ctx, dc_trans ta, dc_trans tb, int m, int n, int k, float alpha,
                           cl_mem a, size_t a_off, int lda, cl_mem b, size_t b_off, int ldb,
                           float beta, cl_mem c, size_t c_off, int ldc)
{
    static int threads_set = 0;
    const dc_device_info *info = dc_ctx_info(ctx);
    if (!threads_set) {
        /* PoCL's threads wait while OpenBLAS runs: give OpenBLAS the device's cores, unless the
         * user chose a count */
        threads_set = 1;
        if (!getenv("OPENBLAS_NUM_THREADS") && !getenv("OMP_NUM_THREADS") &&
            (info->type & CL_DEVICE_TYPE_CPU) && info->compute_units > 0)
            openblas_set_num_threads((int)info->compute_units);
    }
    const struct { cl_mem mem; size_t off, len; int write; } want[3] = {
        {a, a_off, block_span(ta ? k : m, ta ? m : k, lda), 0},
        {b, b_off, block_span(tb ? n : k, tb ? k : n, ldb), 0},
        {c, c_off, block_span(m, n, ldc), 1},
    };
    /* the same check as CLBlast's, with the same status, so both routes fail alike */
    static const char names[3] = {'A', 'B', 'C'};
    for (int i = 0; i < 3; i++) {
        size_t bytes = 0;
        DC_CL_CHECK(clGetMemObjectInfo(want[i].mem, CL_MEM_SIZE, sizeof bytes, &bytes, NULL));
        if ((want[i].off + want[i].len) * sizeof(float) > bytes)
            return DC_FAIL(DC_STATUS_BLAS, "gemm (host BLAS route): buffer %c holds %zu floats, the "
                           "%c block needs %zu (CLBlastInsufficientMemory%c in CLBlast's terms)",
                           names[i], bytes / sizeof(float), names[i], want[i].off + want[i].len,
                           names[i]);
    }
    host_map maps[3];
    int nm = 0, which[3];
    for (int i = 0; i < 3; i++) {
        int j = 0;
        while (j < nm && maps[j].mem != want[i].mem) j++;
        if (j == nm) {
            maps[nm++] = (host_map){want[i].mem, want[i].off, want[i].off + want[i].len, want[i].write, NULL};
        } else {
            if (want[i].off < maps[j].lo) maps[j].lo = want[i].off;
            if (want[i].off + want[i].len > maps[j].hi) maps[j].hi = want[i].off + want[i].len;
            maps[j].write |= want[i].write;
        }
        which[i] = j;
    }
    cl_command_queue q = dc_ctx_queue(ctx);
    for (int j = 0; j < nm; j++) {
        cl_int err;
        const cl_map_flags flags = maps[j].write ? CL_MAP_READ | CL_MAP_WRITE : CL_MAP_READ;
        maps[j].ptr = clEnqueueMapBuffer(q, maps[j].mem, CL_TRUE, flags, maps[j].lo * sizeof(float),
                                         (maps[j].hi - maps[j].lo) * sizeof(float), 0, NULL, NULL, &err);
        if (err != CL_SUCCESS) {
            maps[j].ptr = NULL;
            return unmap_all(q, maps, nm, dc_cl_fail(err, "clEnqueueMapBuffer", __FILE__, __LINE__));
        }
    }
    const float *pa = maps[which[0]].ptr + (a_off - maps[which[0]].lo);
    const float *pb = maps[which[1]].ptr + (b_off - maps[which[1]].lo);
    float *pc = maps[which[2]].ptr + (c_off - maps[which[2]].lo);
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
                k, alpha, pa, lda, pb, ldb, beta, pc, ldc);
    return unmap_all(q, maps, nm, DC_STATUS_OK);
}

dc_status dc_gemm_mem(dc_ctx *ctx, dc_trans ta, dc_trans tb, int m, int n, int k, float alpha,
                      cl_mem a, size_t a_off, int lda, cl_mem b, size_t b_off, int ldb, float beta,
                      cl_mem c, size_t c_off, int ldc)
{
    if (m < 0 || n < 0 || k < 0)
        return DC_FAIL(DC_STATUS_INVALID_ARG, "gemm: sizes m=%d n=%d k=%d must not be negative", m, n, k);
    if (m == 0 || n == 0) return DC_STATUS_OK;
    if (k == 0)
        return DC_FAIL(DC_STATUS_INVALID_ARG, "gemm: inner size k is 0 for a %d x %d product", m, n);
    const int a_cols = ta ? m : k, b_cols = tb ? k : n;
    if (lda < a_cols || ldb < b_cols || ldc < n)
        return DC_FAIL(DC_STATUS_INVALID_ARG,
                       "gemm: leading dimensions lda=%d ldb=%d ldc=%d are smaller than the rows they "
                       "hold (%d, %d, %d values)", lda, ldb, ldc, a_cols, b_cols, n);
    dc_gemm_route route;
    DC_TRY(dc_gemm_route_get(ctx, &route));
    if (route == DC_GEMM_HOST)
        return gemm_host(ctx, ta, tb, m, n, k, alpha, a, a_off, lda, b, b_off, ldb, beta, c, c_off, ldc);
    /* Issued as the column-major product C^T = op(B)^T op(A)^T: the same memory, but CLBlast's
     * kernel wants C column-major, so this form never transposes C through a temporary buffer (the
     * row-major form always does). */
    cl_command_queue q = dc_ctx_queue(ctx);
    DC_BLAS_CHECK(CLBlastSgemm(CLBlastLayoutColMajor, tb ? CLBlastTransposeYes : CLBlastTransposeNo,
                               ta ? CLBlastTransposeYes : CLBlastTransposeNo, (size_t)n, (size_t)m,
                               (size_t)k, alpha, b, b_off, (size_t)ldb, a, a_off, (size_t)lda, beta, c,
                               c_off, (size_t)ldc, &q, NULL));
    return DC_STATUS_OK;
}

/* ------------------------------------------------------------------ tile-padded GEMM */

#define GEMM_PAD_CL "gemm_pad.cl"

/* Inner blocks of the padded GEMM (dc_gemm_padded): 288-384 rows were best on the development
 * machine (K = 1152 and 1728 at 3969 pixels); K up to GEMM_K_SPLIT stays whole (the extra calls
 * cost more than they save there). */
#define GEMM_K_BLOCK 384
#define GEMM_K_SPLIT 768
/* Products whose large operand the plain call would use in place pad only from this many
 * columns (dc_gemm_pad_plan). */
#define GEMM_PAD_MIN_N_IN_PLACE 32768

static int round_up(int x, int m) { return (x + m - 1) / m * m; }

dc_status dc_gemm_pad_plan(dc_ctx *ctx, int m, int n, int k, int in_place, dc_gemm_pad *pad,
                           int *use)
{
    const char *mode = getenv("DEEPCEE_GEMM_PAD");
    if (mode && *mode && strcmp(mode, "auto") != 0 && strcmp(mode, "on") != 0 && strcmp(mode, "off") != 0)
        return DC_FAIL(DC_STATUS_INVALID_ARG, "DEEPCEE_GEMM_PAD is '%s'; use auto, on, off or leave it "
                       "unset", mode);
    const int forced = mode && strcmp(mode, "on") == 0;
    *use = 0;
    *pad = (dc_gemm_pad){m, n, k, k};
    if (m <= 0 || n <= 0 || k <= 0 || (mode && strcmp(mode, "off") == 0)) return DC_STATUS_OK;
    dc_gemm_route route;
    DC_TRY(dc_gemm_route_get(ctx, &route));
    if (route == DC_GEMM_HOST && !forced) return DC_STATUS_OK; /* the host BLAS needs no padding */
    dc_gemm_tiles t = dc_ctx_gemm_tiles(ctx);
    if (t.mwg <= 0) {
        if (!forced) return DC_STATUS_OK;
        t.mwg = t.nwg = 32;
        t.kwg = 16;
    }
    const double mi = t.min_indirect;
    if (!forced && ((double)m * n * k < mi * mi * mi || (in_place && n < GEMM_PAD_MIN_N_IN_PLACE)))
        return DC_STATUS_OK;
    /* CLBlast's column-major C^T[n, m] = B^T A^T: its M is our n, its N our m. m and k are padded
     * to both NWG and KWG (powers of two, so the larger), so that one padded weight or column
     * matrix serves the forward product (where it is the inner size) and the backward one (where
     * it is the outer size). */
    const int mk = t.nwg > t.kwg ? t.nwg : t.kwg;
    const double pn = round_up(n, t.mwg), pm = round_up(m, mk), pk = round_up(k, mk);
    if (pn * pk > INT_MAX || pn * pm > INT_MAX || pm * pk > INT_MAX) return DC_STATUS_OK;
    *pad = (dc_gemm_pad){(int)pm, (int)pn, (int)pk, (int)pk};
    /* inner blocks of at most GEMM_K_BLOCK rows, in tile multiples, where the sub-buffer origins
     * (multiples of kb rows of A and of S) meet the device's alignment */
    const int blocks = (pad->k + GEMM_K_BLOCK - 1) / GEMM_K_BLOCK;
    const int kb = round_up((pad->k + blocks - 1) / blocks, mk);
    const size_t align = dc_ctx_info(ctx)->base_align_bits / 8;
    if (pad->k > GEMM_K_SPLIT && align > 0 && (size_t)kb * pad->n * sizeof(float) % align == 0 &&
        (size_t)kb * pad->m * sizeof(float) % align == 0)
        pad->kb = kb;
    *use = 1;
    return DC_STATUS_OK;
}

static dc_status gemm_block(dc_ctx *ctx, const dc_gemm_pad *pad, int kc, cl_mem s, cl_mem a,
                            float beta, cl_mem c)
{
    dc_gemm_route route;
    DC_TRY(dc_gemm_route_get(ctx, &route));
    if (route == DC_GEMM_HOST)
        return gemm_host(ctx, DC_TRANS_YES, DC_TRANS_NO, pad->m, pad->n, kc, 1.0f, s, 0, pad->m, a, 0,
                         pad->n, beta, c, 0, pad->n);
    cl_command_queue q = dc_ctx_queue(ctx);
    DC_BLAS_CHECK(CLBlastSgemm(CLBlastLayoutColMajor, CLBlastTransposeNo, CLBlastTransposeYes,
                               (size_t)pad->n, (size_t)pad->m, (size_t)kc, 1.0f, a, 0, (size_t)pad->n,
                               s, 0, (size_t)pad->m, beta, c, 0, (size_t)pad->n, &q, NULL));
    return DC_STATUS_OK;
}

/* Rows [r0, r0 + rows) of a row-major matrix of `cols` floats per row, as a buffer of its own. */
static dc_status row_block(cl_mem m, int r0, int rows, int cols, cl_mem *out)
{
    const cl_buffer_region reg = {(size_t)r0 * cols * sizeof(float), (size_t)rows * cols * sizeof(float)};
    cl_int err;
    *out = clCreateSubBuffer(m, 0, CL_BUFFER_CREATE_TYPE_REGION, &reg, &err);
    if (err != CL_SUCCESS) return dc_cl_fail(err, "clCreateSubBuffer", __FILE__, __LINE__);
    return DC_STATUS_OK;
}

dc_status dc_gemm_padded(dc_ctx *ctx, const dc_gemm_pad *pad, cl_mem s, cl_mem a, cl_mem c)
{
    if (pad->kb <= 0 || pad->kb >= pad->k) return gemm_block(ctx, pad, pad->k, s, a, 0.0f, c);
    for (int k0 = 0; k0 < pad->k; k0 += pad->kb) {
        const int kc = pad->k - k0 < pad->kb ? pad->k - k0 : pad->kb;
        cl_mem sb, ab;
        DC_TRY(row_block(s, k0, kc, pad->m, &sb));
        dc_status st = row_block(a, k0, kc, pad->n, &ab);
        if (st == DC_STATUS_OK) {
            st = gemm_block(ctx, pad, kc, sb, ab, k0 ? 1.0f : 0.0f, c);
            clReleaseMemObject(ab); /* OpenCL keeps it until the queued GEMM is done */
        }
        clReleaseMemObject(sb);
        DC_TRY(st);
    }
    return DC_STATUS_OK;
}

dc_status dc_gemm_pad_copy(dc_ctx *ctx, cl_mem src, size_t src_off, int ld, int rows, int cols,
                           int trans, cl_mem dst, int dr, int dc)
{
    if (dr <= 0 || dc <= 0) return DC_STATUS_OK;
    if (src_off > INT_MAX)
        return DC_FAIL(DC_STATUS_INVALID_ARG, "gemm_pad_copy: offset %zu is too large", src_off);
    const char *name = "gemm_pad_copy";
    cl_kernel k;
    DC_TRY(dc_kernel_get(ctx, GEMM_PAD_CL, name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, src));
    DC_TRY(dc_arg_int(k, name, 1, (int)src_off));
    DC_TRY(dc_arg_int(k, name, 2, ld));
    DC_TRY(dc_arg_int(k, name, 3, rows));
    DC_TRY(dc_arg_int(k, name, 4, cols));
    DC_TRY(dc_arg_int(k, name, 5, trans != 0));
    DC_TRY(dc_arg_mem(k, name, 6, dst));
    DC_TRY(dc_arg_int(k, name, 7, dr));
    DC_TRY(dc_arg_int(k, name, 8, dc));
    const size_t global[2] = {(size_t)dc, (size_t)dr};
    return dc_kernel_launch(ctx, k, name, 2, global, NULL);
}

dc_status dc_gemm_pad_zero(dc_ctx *ctx, cl_mem m, int ld, int x0, int y0, int nx, int ny)
{
    if (nx <= 0 || ny <= 0) return DC_STATUS_OK;
    const char *name = "gemm_pad_zero";
    cl_kernel k;
    DC_TRY(dc_kernel_get(ctx, GEMM_PAD_CL, name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, m));
    DC_TRY(dc_arg_int(k, name, 1, ld));
    DC_TRY(dc_arg_int(k, name, 2, x0));
    DC_TRY(dc_arg_int(k, name, 3, y0));
    DC_TRY(dc_arg_int(k, name, 4, nx));
    DC_TRY(dc_arg_int(k, name, 5, ny));
    const size_t global[2] = {(size_t)nx, (size_t)ny};
    return dc_kernel_launch(ctx, k, name, 2, global, NULL);
}

/* The last element a rows x cols block with leading dimension ld touches lies inside t. */
static dc_status block_check(const dc_tensor *t, const char *arg, size_t off, int rows, int cols,
                             int ld)
{
    if (!t) return DC_FAIL(DC_STATUS_INVALID_ARG, "gemm: argument %s is missing", arg);
    if (rows == 0 || cols == 0) return DC_STATUS_OK;
    size_t end = off + (size_t)(rows - 1) * (size_t)ld + (size_t)cols;
    if (end > t->numel) {
        char s[96];
        return DC_FAIL(DC_STATUS_SHAPE,
                       "gemm: argument %s (shape %s, %zu values) is too small for a %d x %d block "
                       "at offset %zu with leading dimension %d (needs %zu values)",
                       arg, dc_tensor_shape_str(t, s, sizeof s), t->numel, rows, cols, off, ld, end);
    }
    return DC_STATUS_OK;
}

dc_status dc_gemm(dc_ctx *ctx, dc_trans ta, dc_trans tb, int m, int n, int k, float alpha,
                  const dc_tensor *a, size_t a_off, int lda, const dc_tensor *b, size_t b_off,
                  int ldb, float beta, dc_tensor *c, size_t c_off, int ldc)
{
    if (m < 0 || n < 0 || k < 0)
        return DC_FAIL(DC_STATUS_INVALID_ARG, "gemm: sizes m=%d n=%d k=%d must not be negative", m, n, k);
    DC_TRY(block_check(a, "A", a_off, ta ? k : m, ta ? m : k, lda));
    DC_TRY(block_check(b, "B", b_off, tb ? n : k, tb ? k : n, ldb));
    DC_TRY(block_check(c, "C", c_off, m, n, ldc));
    return dc_gemm_mem(ctx, ta, tb, m, n, k, alpha, a->buf, a_off, lda, b->buf, b_off, ldb, beta,
                       c->buf, c_off, ldc);
}

dc_status dc_matmul(dc_ctx *ctx, dc_trans ta, dc_trans tb, float alpha, const dc_tensor *a,
                    const dc_tensor *b, float beta, dc_tensor *c)
{
    DC_TRY(dc_tensor_expect(a, "matmul", "A", 2, -1, -1, -1, -1));
    DC_TRY(dc_tensor_expect(b, "matmul", "B", 2, -1, -1, -1, -1));
    const int m = ta ? a->shape[1] : a->shape[0], k = ta ? a->shape[0] : a->shape[1];
    const int kb = tb ? b->shape[1] : b->shape[0], n = tb ? b->shape[0] : b->shape[1];
    if (k != kb) {
        char sa[96], sb[96];
        return DC_FAIL(DC_STATUS_SHAPE,
                       "matmul: inner dimensions differ: op(A) of A %s%s has %d columns, op(B) of "
                       "B %s%s has %d rows",
                       dc_tensor_shape_str(a, sa, sizeof sa), ta ? " transposed" : "", k,
                       dc_tensor_shape_str(b, sb, sizeof sb), tb ? " transposed" : "", kb);
    }
    DC_TRY(dc_tensor_expect(c, "matmul", "C", 2, m, n, -1, -1));
    return dc_gemm_mem(ctx, ta, tb, m, n, k, alpha, a->buf, 0, a->shape[1], b->buf, 0, b->shape[1],
                       beta, c->buf, 0, n);
}
