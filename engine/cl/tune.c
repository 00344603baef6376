/* CLBlast tuning per device: parameter sets, their files, the compiled-in table, start-up
 * application and the checked timing of candidates (see tune.h). */
#define _POSIX_C_SOURCE 200809L
#include "cl/tune.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <clblast_c.h>

#include "ops/ops_conv.h"

#define FILE_HEADER "# deepcee CLBlast tuning 1"
#define RETUNE_HINT "delete the file or re-run `deepcee tune` to measure the device again"

const char *dc_tune_origin_name(dc_tune_origin o)
{
    switch (o) {
    case DC_TUNE_ORIGIN_NONE: return "none";
    case DC_TUNE_ORIGIN_STORED: return "stored";
    case DC_TUNE_ORIGIN_BUILTIN: return "builtin";
    }
    return "unknown";
}

/* ------------------------------------------------------------------ parameter sets */

/* Copy the next whitespace-delimited word of *p into buf; 0 at the end of the text. */
static int next_word(const char **p, char *buf, size_t size, int *too_long)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t') s++;
    size_t n = 0;
    while (s[n] && s[n] != ' ' && s[n] != '\t' && s[n] != '\n' && s[n] != '\r') n++;
    *too_long = n >= size;
    if (n == 0) return 0;
    size_t c = n < size ? n : size - 1;
    memcpy(buf, s, c);
    buf[c] = '\0';
    *p = s + n;
    return 1;
}

static int is_name(const char *s, int upper)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (!(upper ? (isupper((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_')
                    : isalpha((unsigned char)*s)))
            return 0;
    return 1;
}

/* Parse a set; every message ends with `hint` (may be ""). */
static dc_status parse_set(const char *text, const char *where, const char *hint, dc_tune_set *out)
{
    memset(out, 0, sizeof *out);
    const char *p = text;
    char word[96];
    int too_long;
    if (!next_word(&p, word, sizeof word, &too_long))
        return DC_FAIL(DC_STATUS_FORMAT, "%s: empty parameter set (expected \"Kernel NAME=VALUE ...\")%s",
                       where, hint);
    if (too_long || strlen(word) >= DC_TUNE_NAME_LEN || !is_name(word, 0))
        return DC_FAIL(DC_STATUS_FORMAT, "%s: '%s' is not a CLBlast kernel name (letters only, e.g. "
                       "Xgemm)%s", where, word, hint);
    strcpy(out->kernel, word);
    while (next_word(&p, word, sizeof word, &too_long)) {
        char *eq = strchr(word, '=');
        if (too_long || !eq)
            return DC_FAIL(DC_STATUS_FORMAT, "%s: '%s' is not NAME=VALUE%s", where, word, hint);
        *eq = '\0';
        const char *val = eq + 1;
        if (strlen(word) >= DC_TUNE_NAME_LEN || !is_name(word, 1))
            return DC_FAIL(DC_STATUS_FORMAT, "%s: '%s' is not a parameter name (A-Z, 0-9, _)%s", where,
                           word, hint);
        char *end;
        errno = 0;
        unsigned long long v = strtoull(val, &end, 10);
        if (!isdigit((unsigned char)*val) || *end || errno)
            return DC_FAIL(DC_STATUS_FORMAT, "%s: value '%s' of %s is not a non-negative integer%s",
                           where, val, word, hint);
        for (int i = 0; i < out->n; i++)
            if (strcmp(out->names[i], word) == 0)
                return DC_FAIL(DC_STATUS_FORMAT, "%s: parameter %s given twice%s", where, word, hint);
        if (out->n == DC_TUNE_MAX_PARAMS)
            return DC_FAIL(DC_STATUS_FORMAT, "%s: more than %d parameters for %s%s", where,
                           DC_TUNE_MAX_PARAMS, out->kernel, hint);
        strcpy(out->names[out->n], word);
        out->values[out->n++] = (size_t)v;
    }
    if (out->n == 0)
        return DC_FAIL(DC_STATUS_FORMAT, "%s: kernel %s has no NAME=VALUE parameters%s", where,
                       out->kernel, hint);
    return DC_STATUS_OK;
}

dc_status dc_tune_set_parse(const char *text, const char *where, dc_tune_set *out)
{
    return parse_set(text, where, "", out);
}

const char *dc_tune_set_format(const dc_tune_set *s, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "%s", s->kernel);
    for (int i = 0; i < s->n && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, " %s=%zu", s->names[i], s->values[i]);
    return buf;
}

size_t dc_tune_set_get(const dc_tune_set *s, const char *name, size_t def)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0) return s->values[i];
    return def;
}

const dc_tune_set *dc_tune_entry_find(const dc_tune_entry *e, const char *kernel)
{
    for (int i = 0; i < e->n; i++)
        if (strcmp(e->sets[i].kernel, kernel) == 0) return &e->sets[i];
    return NULL;
}

dc_status dc_tune_entry_put(dc_tune_entry *e, const dc_tune_set *s)
{
    for (int i = 0; i < e->n; i++)
        if (strcmp(e->sets[i].kernel, s->kernel) == 0) {
            e->sets[i] = *s;
            return DC_STATUS_OK;
        }
    if (e->n == DC_TUNE_MAX_SETS)
        return DC_FAIL(DC_STATUS_INVALID_ARG, "tuning entry is full (%d kernels); cannot add %s",
                       DC_TUNE_MAX_SETS, s->kernel);
    e->sets[e->n++] = *s;
    return DC_STATUS_OK;
}

/* ------------------------------------------------------------------ files */

/* The cache folder as cl.c defines it (DEEPCEE_CACHE, XDG_CACHE_HOME/deepcee, ~/.cache/deepcee). */
dc_status dc_tune_path(const dc_device_info *dev, char *path, size_t size)
{
    char dir[900];
    DC_TRY(dc_cache_dir(dir, sizeof dir));
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a of "name\ndriver" */
    for (const char *s = dev->name; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    h = (h ^ '\n') * 0x100000001b3ULL;
    for (const char *s = dev->driver; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    if ((size_t)snprintf(path, size, "%s/clblast-tune-%016llx.txt", dir, (unsigned long long)h) >= size)
        return DC_FAIL(DC_STATUS_INVALID_ARG, "cache folder path %s is too long", dir);
    return DC_STATUS_OK;
}

static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
}

dc_status dc_tune_load(const char *path, const dc_device_info *dev, dc_tune_entry *out, int *found)
{
    memset(out, 0, sizeof *out);
    *found = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) return DC_STATUS_OK;
        return DC_FAIL(DC_STATUS_IO, "cannot read the CLBlast tuning file %s: %s", path, strerror(errno));
    }
    char line[1024], where[1100];
    int lineno = 0, have_device = 0, have_driver = 0;
    dc_status st = DC_STATUS_OK;
    while (st == DC_STATUS_OK && fgets(line, sizeof line, f)) {
        lineno++;
        snprintf(where, sizeof where, "CLBlast tuning file %s line %d", path, lineno);
        if (!strchr(line, '\n') && !feof(f)) {
            st = DC_FAIL(DC_STATUS_FORMAT, "%s: line too long; %s", where, RETUNE_HINT);
            break;
        }
        chomp(line);
        if (lineno == 1) {
            if (strcmp(line, FILE_HEADER) != 0)
                st = DC_FAIL(DC_STATUS_FORMAT, "%s: expected the header '%s'; %s", where, FILE_HEADER,
                             RETUNE_HINT);
            continue;
        }
        const char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (*s == '\0' || *s == '#') continue;
        if (strncmp(s, "device ", 7) == 0) {
            have_device = 1;
            if (strcmp(s + 7, dev->name) != 0)
                st = DC_FAIL(DC_STATUS_FORMAT, "%s: written for device '%s', not '%s'; %s", where, s + 7,
                             dev->name, RETUNE_HINT);
        } else if (strncmp(s, "driver ", 7) == 0) {
            have_driver = 1;
            if (strcmp(s + 7, dev->driver) != 0)
                st = DC_FAIL(DC_STATUS_FORMAT, "%s: written for driver '%s', not '%s'; %s", where, s + 7,
                             dev->driver, RETUNE_HINT);
        } else if (strncmp(s, "note ", 5) == 0) {
            snprintf(out->note, sizeof out->note, "%s", s + 5);
        } else {
            dc_tune_set set;
            st = parse_set(s, where, "; " RETUNE_HINT, &set);
            if (st != DC_STATUS_OK) {
                break;
            } else if (dc_tune_entry_find(out, set.kernel)) {
                st = DC_FAIL(DC_STATUS_FORMAT, "%s: kernel %s appears twice; %s", where, set.kernel,
                             RETUNE_HINT);
            } else if (out->n == DC_TUNE_MAX_SETS) {
                st = DC_FAIL(DC_STATUS_FORMAT, "%s: more than %d kernels; %s", where, DC_TUNE_MAX_SETS,
                             RETUNE_HINT);
            } else {
                out->sets[out->n++] = set;
            }
        }
    }
    int read_error = ferror(f);
    fclose(f);
    if (st != DC_STATUS_OK) return st;
    if (read_error) return DC_FAIL(DC_STATUS_IO, "error reading the CLBlast tuning file %s", path);
    if (lineno == 0)
        return DC_FAIL(DC_STATUS_FORMAT, "CLBlast tuning file %s is empty; %s", path, RETUNE_HINT);
    if (!have_device || !have_driver || out->n == 0)
        return DC_FAIL(DC_STATUS_FORMAT, "CLBlast tuning file %s lacks %s; %s", path,
                       !have_device ? "the 'device' line" : !have_driver ? "the 'driver' line"
                                                                         : "any parameter set",
                       RETUNE_HINT);
    *found = 1;
    return DC_STATUS_OK;
}

dc_status dc_tune_save(const char *path, const dc_device_info *dev, const dc_tune_entry *e)
{
    DC_CHECK_ARG(e->n > 0, "tuning entry for %s has no parameter sets; nothing to store", dev->name);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) { /* create the folder and its parent (~/.cache) when missing */
        *slash = '\0';
        char *up = strrchr(dir, '/');
        if (up && up != dir) {
            *up = '\0';
            mkdir(dir, 0755);
            *up = '/';
        }
        if (mkdir(dir, 0755) != 0 && errno != EEXIST)
            return DC_FAIL(DC_STATUS_IO, "cannot create the cache folder %s: %s", dir, strerror(errno));
    }
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return DC_FAIL(DC_STATUS_IO, "cannot write %s: %s", tmp, strerror(errno));
    fprintf(f, "%s\ndevice %s\ndriver %s\n", FILE_HEADER, dev->name, dev->driver);
    if (e->note[0]) fprintf(f, "note %s\n", e->note);
    for (int i = 0; i < e->n; i++) {
        char line[1024];
        fprintf(f, "%s\n", dc_tune_set_format(&e->sets[i], line, sizeof line));
    }
    int ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        int err = errno;
        remove(tmp);
        return DC_FAIL(DC_STATUS_IO, "cannot write the CLBlast tuning file %s: %s", path, strerror(err));
    }
    return DC_STATUS_OK;
}

/* ------------------------------------------------------------------ the compiled-in table */

/* Known-good entries, each measured with `deepcee tune` on the device named (see bench/README.md)
 * and checked by tests/c/test_tune.c whenever that device is the one under test. */
static const struct {
    const char *device;
    const char *note;
    const char *sets[4];
} builtin_table[] = {
    {"pthread-skylake-avx512-AMD EPYC",
     "built in: deepcee tune on a 2-core AMD EPYC (AVX-512), PoCL 3.1, CLBlast 1.5.3 (bench/README.md)",
     {"Xgemm GEMMK=0 KREG=1 KWG=16 KWI=2 MDIMA=8 MDIMC=8 MWG=128 NDIMB=4 NDIMC=4 NWG=32 SA=0 SB=0 "
      "STRM=0 STRN=0 VWM=8 VWN=8",
      "XgemmDirect KWID=2 MDIMAD=4 MDIMCD=4 NDIMBD=4 NDIMCD=4 PADA=1 PADB=1 VWMD=4 VWND=4 WGD=32",
      "GemmRoutine XGEMM_MIN_INDIRECT_SIZE=128", NULL}},
};

const dc_tune_entry *dc_tune_builtin(const char *device_name)
{
    /* Parsed once per process; the table is constant text, so a parse failure is a bug. */
    static dc_tune_entry parsed[sizeof builtin_table / sizeof builtin_table[0]];
    static int ready[sizeof builtin_table / sizeof builtin_table[0]];
    for (size_t i = 0; i < sizeof builtin_table / sizeof builtin_table[0]; i++) {
        if (strcmp(builtin_table[i].device, device_name) != 0) continue;
        if (!ready[i]) {
            dc_tune_entry *e = &parsed[i];
            memset(e, 0, sizeof *e);
            snprintf(e->note, sizeof e->note, "%s", builtin_table[i].note);
            for (int j = 0; j < 4 && builtin_table[i].sets[j]; j++) {
                dc_tune_set s;
                if (dc_tune_set_parse(builtin_table[i].sets[j], "built-in tuning table", &s) != DC_STATUS_OK ||
                    dc_tune_entry_put(e, &s) != DC_STATUS_OK)
                    return NULL;
            }
            ready[i] = 1;
        }
        return &parsed[i];
    }
    return NULL;
}

dc_status dc_tune_lookup(const dc_device_info *dev, dc_tune_entry *out, dc_tune_origin *origin)
{
    char path[1200];
    int found = 0;
    *origin = DC_TUNE_ORIGIN_NONE;
    memset(out, 0, sizeof *out);
    if (dc_tune_path(dev, path, sizeof path) == DC_STATUS_OK) {
        DC_TRY(dc_tune_load(path, dev, out, &found));
        if (found) {
            *origin = DC_TUNE_ORIGIN_STORED;
            return DC_STATUS_OK;
        }
    }
    const dc_tune_entry *b = dc_tune_builtin(dev->name);
    if (b) {
        *out = *b;
        *origin = DC_TUNE_ORIGIN_BUILTIN;
    }
    return DC_STATUS_OK;
}

/* ------------------------------------------------------------------ applying */

dc_gemm_tiles dc_tune_entry_tiles(const dc_tune_entry *e)
{
    dc_gemm_tiles t = {0, 0, 0, 0};
    const dc_tune_set *x = dc_tune_entry_find(e, "Xgemm");
    if (x && dc_tune_set_get(x, "GEMMK", 0) == 0) {
        t.mwg = (int)dc_tune_set_get(x, "MWG", 0);
        t.nwg = (int)dc_tune_set_get(x, "NWG", 0);
        t.kwg = (int)dc_tune_set_get(x, "KWG", 0);
        if (t.mwg <= 0 || t.nwg <= 0 || t.kwg <= 0) t.mwg = t.nwg = t.kwg = 0;
    }
    const dc_tune_set *r = dc_tune_entry_find(e, "GemmRoutine");
    if (r) t.min_indirect = (int)dc_tune_set_get(r, "XGEMM_MIN_INDIRECT_SIZE", 0);
    return t;
}

dc_status dc_tune_override(dc_ctx *ctx, const dc_tune_entry *e)
{
    cl_device_id device = dc_ctx_device(ctx);
    for (int i = 0; i < e->n; i++) {
        const dc_tune_set *s = &e->sets[i];
        const char *names[DC_TUNE_MAX_PARAMS];
        for (int j = 0; j < s->n; j++) names[j] = s->names[j];
        CLBlastStatusCode code = CLBlastOverrideParameters(device, s->kernel, CLBlastPrecisionSingle,
                                                           (size_t)s->n, names, s->values);
        if (code != CLBlastSuccess) {
            char text[1024];
            return DC_FAIL(DC_STATUS_BLAS,
                           "CLBlastOverrideParameters rejected the tuned parameters '%s' with %s (%d): "
                           "%s",
                           dc_tune_set_format(s, text, sizeof text), dc_blas_status_name(code), (int)code,
                           code == CLBlastMissingOverrideParameter
                               ? "every parameter of the kernel must be given, no more, no fewer"
                           : code == CLBlastInvalidOverrideKernel ? "unknown kernel name"
                                                                  : "see the CLBlast documentation");
        }
    }
    dc_ctx_set_gemm_tiles(ctx, dc_tune_entry_tiles(e));
    return DC_STATUS_OK;
}

dc_status dc_tune_apply(dc_ctx *ctx)
{
    const char *env = getenv("DEEPCEE_TUNE");
    if (env && (strcmp(env, "off") == 0 || strcmp(env, "0") == 0)) return DC_STATUS_OK;
    dc_tune_entry e;
    dc_tune_origin origin;
    DC_TRY(dc_tune_lookup(dc_ctx_info(ctx), &e, &origin));
    if (origin == DC_TUNE_ORIGIN_NONE) return DC_STATUS_OK;
    return dc_tune_override(ctx, &e);
}

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

dc_status dc_tune_measure(dc_ctx *ctx, const dc_tune_shape *shapes, int n_shapes, int reps,
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
