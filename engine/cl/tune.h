/* CLBlast tuning per device: measured kernel parameters, stored per device and applied at start-up.
 *
 * CLBlast ships tuned parameters for many GPUs but none for CPUs under PoCL (nor for many newer
 * GPUs); without them it uses GPU-shaped defaults (about 12 % of OpenBLAS's SGEMM rate at the
 * network's shapes on the 2-core AMD EPYC development machine; bench/README.md). A tuning entry
 * is a short list of parameter sets, one per CLBlast kernel that GEMM uses ("Xgemm",
 * "XgemmDirect", "GemmRoutine", "Copy", "Pad", "Transpose", "Padtranspose"), each applied with
 * CLBlastOverrideParameters. An entry must name every parameter of its kernel (CLBlast rejects
 * partial sets).
 *
 * Stored entries are text files in the cache folder ($DEEPCEE_CACHE, else $XDG_CACHE_HOME/deepcee,
 * else ~/.cache/deepcee), one per device, named clblast-tune-<hash of device name and driver
 * version>.txt:
 *
 *     # deepcee CLBlast tuning 1
 *     device pthread-skylake-avx512-AMD EPYC
 *     driver 3.1+debian
 *     note deepcee tune 2026-11-24: 49.9 GFLOPS (CLBlast defaults 16.5) by cpu time over 8 ...
 *     Xgemm GEMMK=0 KREG=1 KWG=32 ...
 *     GemmRoutine XGEMM_MIN_INDIRECT_SIZE=128
 *
 * dc_ctx_new calls dc_tune_apply: the stored entry for the device when there is one, else a
 * compiled-in entry for a known device (dc_tune_builtin), else nothing (CLBlast's defaults).
 * DEEPCEE_TUNE=off skips this (benchmarks use it to measure the defaults). `deepcee tune`
 * (scripts/tune.lua) measures candidates with dc_tune_measure (engine/ops/ops_tune.h: it runs the
 * GEMM ops, so it sits above them) and stores the best. */
#ifndef DC_TUNE_H
#define DC_TUNE_H

#include <clblast_c.h>

#include "cl/cl.h"

#define DC_TUNE_MAX_PARAMS 16   /* Xgemm has 16 */
#define DC_TUNE_MAX_SETS 8
#define DC_TUNE_NAME_LEN 32

/* The parameters of one CLBlast kernel, names and values in the same order. */
typedef struct dc_tune_set {
    char kernel[DC_TUNE_NAME_LEN];
    int n;
    char names[DC_TUNE_MAX_PARAMS][DC_TUNE_NAME_LEN];
    size_t values[DC_TUNE_MAX_PARAMS];
} dc_tune_set;

typedef struct dc_tune_entry {
    int n;
    dc_tune_set sets[DC_TUNE_MAX_SETS];
    char note[256];   /* one line: where and how the entry was measured ("" if unknown) */
} dc_tune_entry;

typedef enum dc_tune_origin {
    DC_TUNE_ORIGIN_NONE = 0,   /* CLBlast's own database/defaults */
    DC_TUNE_ORIGIN_STORED,     /* the file in the cache folder */
    DC_TUNE_ORIGIN_BUILTIN     /* the compiled-in table */
} dc_tune_origin;

const char *dc_tune_origin_name(dc_tune_origin o);   /* "none", "stored", "builtin" */

/* Parse "Kernel NAME=VALUE NAME=VALUE ..." (spaces or tabs between items). `where` names the
 * source in messages (e.g. "file.txt line 5"). Malformed text is DC_STATUS_FORMAT. */
dc_status dc_tune_set_parse(const char *text, const char *where, dc_tune_set *out);
/* "Kernel NAME=VALUE ..." into buf (truncated to size). Returns buf. */
const char *dc_tune_set_format(const dc_tune_set *s, char *buf, size_t size);
/* Value of parameter `name` in s, or `def` when absent. */
size_t dc_tune_set_get(const dc_tune_set *s, const char *name, size_t def);
/* Add or replace the set for s->kernel in e. Fails when e is full. */
dc_status dc_tune_entry_put(dc_tune_entry *e, const dc_tune_set *s);
/* The set for `kernel` in e, or NULL. */
const dc_tune_set *dc_tune_entry_find(const dc_tune_entry *e, const char *kernel);

/* Path of the stored entry for a device (the file need not exist). Fails when no cache folder
 * can be determined (no DEEPCEE_CACHE, XDG_CACHE_HOME or HOME). */
dc_status dc_tune_path(const dc_device_info *dev, char *path, size_t size);
/* Read the entry at path. *found = 0 (and OK) when the file does not exist. A malformed file, or
 * one written for another device or driver, fails with DC_STATUS_FORMAT naming the file and line
 * and what to do (delete it or re-run `deepcee tune`). */
dc_status dc_tune_load(const char *path, const dc_device_info *dev, dc_tune_entry *out, int *found);
/* Write the entry atomically (temporary file + rename), creating the folder if needed. */
dc_status dc_tune_save(const char *path, const dc_device_info *dev, const dc_tune_entry *e);
/* The compiled-in entry for a device name (exact match), or NULL. */
const dc_tune_entry *dc_tune_builtin(const char *device_name);
/* The Xgemm tiles e sets (what dc_tune_override records for dc_ctx_gemm_tiles). Only the GEMMK=0
 * kernel has the operand layout engine/ops/gemm.c pads for; anything else leaves them unknown
 * (mwg = 0). */
dc_gemm_tiles dc_tune_entry_tiles(const dc_tune_entry *e);
/* The entry dc_tune_apply would use: stored, else built-in, else origin NONE (out->n = 0). */
dc_status dc_tune_lookup(const dc_device_info *dev, dc_tune_entry *out, dc_tune_origin *origin);

/* Apply every set of e to ctx's device with CLBlastOverrideParameters (process-wide for that
 * device: the next CLBlast call recompiles its kernels) and record its Xgemm tiles in ctx
 * (dc_ctx_gemm_tiles). A set CLBlast rejects (unknown kernel, missing or extra parameters) fails
 * with DC_STATUS_BLAS naming the kernel. */
dc_status dc_tune_override(dc_ctx *ctx, const dc_tune_entry *e);
/* Start-up hook of dc_ctx_new: lookup + override, unless DEEPCEE_TUNE is "off" or "0". Silently
 * nothing when there is no entry; a corrupt stored file is an error naming the file. */
dc_status dc_tune_apply(dc_ctx *ctx);

/* Constant name of a CLBlast status, e.g. "CLBlastInvalidLeadDimA". */
const char *dc_blas_status_name(CLBlastStatusCode code);

#endif
