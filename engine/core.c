/* Status names, the thread-local last-error record, the input file check, the interrupt flag
 * and the RNG. */
#define _POSIX_C_SOURCE 200809L
#include "core.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static _Thread_local char g_message[2048];

dc_status dc_error_set(dc_status st, const char *file, int line, const char *fmt, ...)
{
    char body[1792];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    const char *base = strrchr(file, '/');
    snprintf(g_message, sizeof g_message, "%s (%s, %s:%d)", body, dc_status_name(st),
             base ? base + 1 : file, line);
    return st;
}

const char *dc_error_message(void) { return g_message; }
void dc_error_clear(void) { g_message[0] = '\0'; }

const char *dc_status_name(dc_status st)
{
    switch (st) {
    case DC_STATUS_OK: return "DC_STATUS_OK";
    case DC_STATUS_INVALID_ARG: return "DC_STATUS_INVALID_ARG";
    case DC_STATUS_SHAPE: return "DC_STATUS_SHAPE";
    case DC_STATUS_IO: return "DC_STATUS_IO";
    case DC_STATUS_FORMAT: return "DC_STATUS_FORMAT";
    case DC_STATUS_NOT_FOUND: return "DC_STATUS_NOT_FOUND";
    case DC_STATUS_OUT_OF_MEMORY: return "DC_STATUS_OUT_OF_MEMORY";
    case DC_STATUS_CL: return "DC_STATUS_CL";
    case DC_STATUS_BUILD: return "DC_STATUS_BUILD";
    case DC_STATUS_BLAS: return "DC_STATUS_BLAS";
    case DC_STATUS_INTERRUPTED: return "DC_STATUS_INTERRUPTED";
    case DC_STATUS_INTERNAL: return "DC_STATUS_INTERNAL";
    }
    return "DC_STATUS_UNKNOWN";
}

dc_status dc_file_check(const char *path, const char *what)
{
    struct stat st;
    if (stat(path, &st) != 0 || access(path, R_OK) != 0)
        return DC_FAIL(DC_STATUS_IO, "cannot open %s '%s': %s", what, path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return DC_FAIL(DC_STATUS_IO, "cannot read %s '%s': it is a directory, not a file; give the path of "
                       "the file itself", what, path);
    return DC_STATUS_OK;
}

void dc_file_remove_stale_temps(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    const char *base = slash ? slash + 1 : path;
    if (slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else snprintf(dir, sizeof dir, ".");
    if (!*dir) snprintf(dir, sizeof dir, "/");
    size_t bl = strlen(base);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        if (strncmp(n, base, bl) != 0 || strncmp(n + bl, ".tmp", 4) != 0) continue;
        const char *digits = n + bl + 4;
        char *end;
        if (*digits < '0' || *digits > '9') continue;
        long pid = strtol(digits, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char full[8192];
        snprintf(full, sizeof full, "%s/%s", dir, n);
        remove(full);
    }
    closedir(d);
}

static volatile sig_atomic_t g_interrupt;
void dc_interrupt_request(void) { g_interrupt = 1; }
int dc_interrupt_pending(void) { return g_interrupt != 0; }
void dc_interrupt_clear(void) { g_interrupt = 0; }
static volatile sig_atomic_t g_cooperative;
void dc_interrupt_set_cooperative(int on) { g_cooperative = on != 0; }
int dc_interrupt_cooperative(void) { return g_cooperative != 0; }

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void dc_rng_seed(dc_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    r->s[0] = splitmix64(&x);
    r->s[1] = splitmix64(&x);
    if ((r->s[0] | r->s[1]) == 0) r->s[1] = 1;
}

/* xoroshiro128+ */
uint64_t dc_rng_next(dc_rng *r)
{
    uint64_t s0 = r->s[0], s1 = r->s[1];
    uint64_t out = s0 + s1;
    s1 ^= s0;
    r->s[0] = ((s0 << 24) | (s0 >> 40)) ^ s1 ^ (s1 << 16);
    r->s[1] = (s1 << 37) | (s1 >> 27);
    return out;
}

double dc_rng_uniform(dc_rng *r) { return (double)(dc_rng_next(r) >> 11) * 0x1.0p-53; }

double dc_rng_normal(dc_rng *r)
{
    double u1 = dc_rng_uniform(r), u2 = dc_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint32_t dc_rng_below(dc_rng *r, uint32_t n)
{
    return n ? (uint32_t)(((dc_rng_next(r) >> 32) * (uint64_t)n) >> 32) : 0;
}

double dc_rng_poisson(dc_rng *r, double mean)
{
    if (mean <= 0) return 0;
    if (mean > 1e4) {
        double v = floor(mean + sqrt(mean) * dc_rng_normal(r) + 0.5);
        return v < 0 ? 0 : v;
    }
    if (mean < 30) { /* Knuth multiplication */
        double L = exp(-mean), p = 1.0;
        int k = 0;
        do { k++; p *= dc_rng_uniform(r); } while (p > L);
        return k - 1;
    }
    /* PTRS (Hormann 1993), rejection from a transformed uniform */
    double slam = sqrt(mean), loglam = log(mean);
    double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
    double invalpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
        double U = dc_rng_uniform(r) - 0.5, V = dc_rng_uniform(r);
        double us = 0.5 - fabs(U);
        double k = floor((2 * a / us + b) * U + mean + 0.43);
        if (us >= 0.07 && V <= vr) return k;
        if (k < 0 || (us < 0.013 && V > us)) continue;
        if (log(V) + log(invalpha) - log(a / (us * us) + b) <= -mean + k * loglam - lgamma(k + 1))
            return k;
    }
}
