/* deepcee core: status codes and the last-error record shared by every layer of the engine.
 *
 * Library code never prints or exits. A fallible function returns a dc_status; on failure it
 * records a message (with the failing call, file and line) through DC_FAIL, and the caller either
 * propagates the status (DC_TRY) or, at the edge (main.c, the Lua binding), shows
 * dc_error_message(). The record is thread-local, so it needs no context and works for the
 * host-only layers (astro, sim) as well as the OpenCL ones. */
#ifndef DC_CORE_H
#define DC_CORE_H

#include <stddef.h>
#include <stdint.h>

typedef enum dc_status {
    DC_STATUS_OK = 0,
    DC_STATUS_INVALID_ARG,   /* a caller-supplied value is out of range or inconsistent */
    DC_STATUS_SHAPE,         /* tensor shapes do not fit the op */
    DC_STATUS_IO,            /* a file could not be opened, read or written */
    DC_STATUS_FORMAT,        /* a file or table exists but its content is malformed */
    DC_STATUS_NOT_FOUND,     /* a named thing (device, key, column, HDU, kernel) is absent */
    DC_STATUS_OUT_OF_MEMORY, /* host or device allocation failed */
    DC_STATUS_CL,            /* an OpenCL call failed */
    DC_STATUS_BUILD,         /* an OpenCL program failed to compile */
    DC_STATUS_BLAS,          /* a CLBlast call failed */
    DC_STATUS_INTERRUPTED,   /* the user asked to stop (Ctrl-C) */
    DC_STATUS_INTERNAL       /* a bug: an invariant did not hold */
} dc_status;

/* Record an error and return st. fmt is printf-style. Use through DC_FAIL. */
dc_status dc_error_set(dc_status st, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The last recorded message ("" when none), valid until the next dc_error_set on this thread. */
const char *dc_error_message(void);
/* Short constant name of a status, e.g. "DC_STATUS_IO". */
const char *dc_status_name(dc_status st);
void dc_error_clear(void);

/* The source commit of this build (generated at build time; "-dirty" with local changes). */
extern const char dc_git_commit[];

#define DC_FAIL(st, ...) dc_error_set((st), __FILE__, __LINE__, __VA_ARGS__)
#define DC_TRY(expr)                                                                       \
    do {                                                                                   \
        dc_status dc_try_st_ = (expr);                                                     \
        if (dc_try_st_ != DC_STATUS_OK) return dc_try_st_;                                 \
    } while (0)
/* Check an argument condition; on failure record "what" and return DC_STATUS_INVALID_ARG. */
#define DC_CHECK_ARG(cond, ...)                                                            \
    do {                                                                                   \
        if (!(cond)) return DC_FAIL(DC_STATUS_INVALID_ARG, __VA_ARGS__);                   \
    } while (0)

/* Check that path can be read as a file before a reader opens it: DC_STATUS_IO with a message
 * naming what (e.g. "FITS file") and path when it is missing or unreadable, or when it is a
 * directory (which fopen accepts, so readers then failed with misleading "corrupt" or
 * "out of memory" messages). */
dc_status dc_file_check(const char *path, const char *what);
/* Writers write "<path>.tmp<pid>" and rename it over path when complete (the weights, the Lua
 * writers). This removes such temporaries of path left by writes that were killed: those whose
 * process no longer exists (a live process may be writing the same file right now). */
void dc_file_remove_stale_temps(const char *path);

/* Interrupt flag set by the CLI's SIGINT handler; long loops poll it at safe points. */
void dc_interrupt_request(void);
int dc_interrupt_pending(void);
void dc_interrupt_clear(void);
/* A script that polls dc_interrupt_pending itself at safe points (the training loop, to write a
 * checkpoint first) sets this; the CLI then only raises the flag instead of stopping Lua code. */
void dc_interrupt_set_cooperative(int on);
int dc_interrupt_cooperative(void);

/* Deterministic random numbers (xoshiro128+-style, seeded through splitmix64); the only RNG the
 * engine uses, so a seed fixes every random choice bit for bit on every platform. */
typedef struct dc_rng { uint64_t s[2]; } dc_rng;
void dc_rng_seed(dc_rng *r, uint64_t seed);
uint64_t dc_rng_next(dc_rng *r);
double dc_rng_uniform(dc_rng *r);               /* [0, 1) */
double dc_rng_normal(dc_rng *r);                /* N(0, 1), Box-Muller */
uint32_t dc_rng_below(dc_rng *r, uint32_t n);   /* uniform integer in [0, n) */
double dc_rng_poisson(dc_rng *r, double mean);  /* Poisson deviate (normal approx above 1e4) */

#endif
