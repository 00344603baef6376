/* CLBlast tuning per device: parameter sets, their files, the compiled-in table and start-up
 * application (see tune.h). The checked timing of candidates uses the GEMM ops and lives above
 * them, in engine/ops/gemm_tune.c. */
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

/* The constant name of a CLBlast status (declared in tune.h; the GEMM ops use it too). */
const char *dc_blas_status_name(CLBlastStatusCode code)
{
    switch (code) {
#define E(x) case x: return #x;
    E(CLBlastSuccess) E(CLBlastOpenCLCompilerNotAvailable) E(CLBlastTempBufferAllocFailure)
    E(CLBlastOpenCLOutOfResources) E(CLBlastOpenCLOutOfHostMemory)
    E(CLBlastOpenCLBuildProgramFailure) E(CLBlastInvalidValue) E(CLBlastInvalidCommandQueue)
    E(CLBlastInvalidMemObject) E(CLBlastInvalidBinary) E(CLBlastInvalidBuildOptions)
    E(CLBlastInvalidProgram) E(CLBlastInvalidProgramExecutable) E(CLBlastInvalidKernelName)
    E(CLBlastInvalidKernelDefinition) E(CLBlastInvalidKernel) E(CLBlastInvalidArgIndex)
    E(CLBlastInvalidArgValue) E(CLBlastInvalidArgSize) E(CLBlastInvalidKernelArgs)
    E(CLBlastInvalidLocalNumDimensions) E(CLBlastInvalidLocalThreadsTotal)
    E(CLBlastInvalidLocalThreadsDim) E(CLBlastInvalidGlobalOffset) E(CLBlastInvalidEventWaitList)
    E(CLBlastInvalidEvent) E(CLBlastInvalidOperation) E(CLBlastInvalidBufferSize)
    E(CLBlastInvalidGlobalWorkSize) E(CLBlastNotImplemented) E(CLBlastInvalidMatrixA)
    E(CLBlastInvalidMatrixB) E(CLBlastInvalidMatrixC) E(CLBlastInvalidVectorX)
    E(CLBlastInvalidVectorY) E(CLBlastInvalidDimension) E(CLBlastInvalidLeadDimA)
    E(CLBlastInvalidLeadDimB) E(CLBlastInvalidLeadDimC) E(CLBlastInvalidIncrementX)
    E(CLBlastInvalidIncrementY) E(CLBlastInsufficientMemoryA) E(CLBlastInsufficientMemoryB)
    E(CLBlastInsufficientMemoryC) E(CLBlastInsufficientMemoryX) E(CLBlastInsufficientMemoryY)
    E(CLBlastInsufficientMemoryTemp) E(CLBlastInvalidBatchCount) E(CLBlastInvalidOverrideKernel)
    E(CLBlastMissingOverrideParameter) E(CLBlastInvalidLocalMemUsage) E(CLBlastNoHalfPrecision)
    E(CLBlastNoDoublePrecision) E(CLBlastInvalidVectorScalar) E(CLBlastInsufficientMemoryScalar)
    E(CLBlastDatabaseError) E(CLBlastUnknownError) E(CLBlastUnexpectedError)
#undef E
    }
    return "CLBlastUnknownStatus";
}

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
