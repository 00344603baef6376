/* Lua binding of MPI (Open MPI or any MPI-3): deepcee.mpi, for commands that share work over
 * ranks (`mpirun -np N deepcee survey ...`, lua/survey.lua). Messages are Lua strings (callers
 * serialise tables with util.serialize and read them back as data with util.parse_data).
 *
 *   deepcee.mpi.built              true when the binary was built with MPI (DC_HAVE_MPI)
 *   deepcee.mpi.init() -> rank, size, local_rank
 *       MPI_Init once, when the process was started by an MPI launcher (mpirun, srun, mpiexec:
 *       their environment variables say so); otherwise, or without MPI in the build, rank 0 of 1.
 *       With several ranks it also picks each rank's OpenCL device when none was chosen
 *       (--device, DEEPCEE_DEVICE): the node-local rank's turn among the node's GPUs (among all
 *       devices when there is no GPU), so that ranks sharing a node use different devices.
 *   deepcee.mpi.send(dest, tag, text)
 *   deepcee.mpi.isend(dest, tag, text) -> request   (returns at once; request:wait())
 *   deepcee.mpi.recv([source [, tag]]) -> text, source, tag     (absent or -1: any)
 *   deepcee.mpi.iprobe([source [, tag]]) -> source, tag | nil   (a message waiting? does not block)
 *   deepcee.mpi.allreduce(floats)  sums a deepcee.floats over the ranks, in place
 *   deepcee.mpi.allreduce({x, ...}) -> {sum over the ranks, ...}
 *
 * The process ends MPI through dc_lua_mpi_end (main.c, after the Lua state is closed): a normal
 * end finalises; a failed one aborts the whole job, so that the other ranks do not wait forever
 * for a rank that is gone. */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua/lua_bind.h"

#ifdef DC_HAVE_MPI
#include <mpi.h>
#endif

/* Environment variables MPI launchers set in every rank (Open MPI, PMIx, MPICH/Hydra, Slurm). */
static const char *const LAUNCHER_SIZE_VARS[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE",
                                                 "MPI_LOCALNRANKS", NULL};

static int g_started; /* MPI_Init was called by init() */
static int g_rank, g_size = 1, g_local_rank;

/* The world size a launcher announced, 0 when none did. */
static long launcher_size(void)
{
    for (int i = 0; LAUNCHER_SIZE_VARS[i]; i++) {
        const char *v = getenv(LAUNCHER_SIZE_VARS[i]);
        if (v && *v) {
            long n = strtol(v, NULL, 10);
            if (n > 0) return n;
        }
    }
    return 0;
}

#ifdef DC_HAVE_MPI
static int mpi_fail(lua_State *L, int err, const char *call)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(err, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "error %d", err);
    return luaL_error(L, "mpi: %s failed: %s", call, text);
}
#define MPI_TRY(L, call, what)                                                              \
    do {                                                                                    \
        int mpi_err_ = (call);                                                              \
        if (mpi_err_ != MPI_SUCCESS) mpi_fail((L), mpi_err_, (what));                       \
    } while (0)

/* Each rank's device when the user chose none: the node-local rank's turn among the GPUs. */
static void pick_device(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, "deepcee.device_choice");
    int chosen = !lua_isnil(L, -1);
    lua_pop(L, 1);
    const char *env = getenv("DEEPCEE_DEVICE");
    if (chosen || (env && *env)) return;
    dc_device_info *list;
    int n;
    if (dc_devices_list(&list, &n) != DC_STATUS_OK) return; /* the context's own opening reports it */
    int gpus = 0;
    for (int i = 0; i < n; i++) gpus += (list[i].type & CL_DEVICE_TYPE_GPU) != 0;
    int turn = g_local_rank % (gpus ? gpus : n), pick = 0;
    for (int i = 0, k = 0; i < n; i++) {
        if (gpus && !(list[i].type & CL_DEVICE_TYPE_GPU)) continue;
        if (k++ == turn) {
            pick = list[i].index;
            break;
        }
    }
    free(list);
    lua_pushfstring(L, "%d", pick);
    lua_setfield(L, LUA_REGISTRYINDEX, "deepcee.device_choice");
}
#endif

static int l_init(lua_State *L)
{
    long announced = launcher_size();
#ifdef DC_HAVE_MPI
    if (!g_started && announced > 0) {
        int done = 0;
        MPI_Initialized(&done);
        if (!done) MPI_TRY(L, MPI_Init(NULL, NULL), "MPI_Init");
        g_started = 1;
        /* errors come back as codes (raised as Lua errors), not as MPI's default abort */
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        MPI_TRY(L, MPI_Comm_rank(MPI_COMM_WORLD, &g_rank), "MPI_Comm_rank");
        MPI_TRY(L, MPI_Comm_size(MPI_COMM_WORLD, &g_size), "MPI_Comm_size");
        MPI_Comm node;
        MPI_TRY(L, MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &node),
                "MPI_Comm_split_type");
        MPI_Comm_rank(node, &g_local_rank);
        MPI_Comm_free(&node);
        if (g_size > 1) pick_device(L);
    }
#else
    if (announced > 1)
        return luaL_error(L, "mpi: started as one of %d MPI ranks, but this deepcee was built without MPI: "
                          "every rank would do the whole job; install Open MPI (libopenmpi-dev, "
                          "scripts/setup.sh does) and rebuild",
                          (int)announced);
#endif
    lua_pushinteger(L, g_rank);
    lua_pushinteger(L, g_size);
    lua_pushinteger(L, g_local_rank);
    return 3;
}

/* A rank argument: 0..size-1, or -1 (any) where any is allowed. */
static int check_rank(lua_State *L, int idx, int any_ok, const char *fn)
{
    lua_Integer r = any_ok ? luaL_optinteger(L, idx, -1) : luaL_checkinteger(L, idx);
    if (!(r >= 0 && r < g_size) && !(any_ok && r == -1))
        luaL_error(L, "mpi.%s: rank %d is not one of 0..%d%s", fn, (int)r, g_size - 1, any_ok ? " (or -1: any)" : "");
    return (int)r;
}

static int check_tag(lua_State *L, int idx, int any_ok, const char *fn)
{
    lua_Integer t = any_ok ? luaL_optinteger(L, idx, -1) : luaL_checkinteger(L, idx);
    if (!(t >= 0 && t <= 32767) && !(any_ok && t == -1))
        luaL_error(L, "mpi.%s: tag %d is not one of 0..32767%s", fn, (int)t, any_ok ? " (or -1: any)" : "");
    return (int)t;
}

static void need_started(lua_State *L, const char *fn)
{
    if (!g_started) luaL_error(L, "mpi.%s: no other rank (not started by mpirun, or mpi.init() not called)", fn);
}

static int l_send(lua_State *L)
{
    need_started(L, "send");
    int dest = check_rank(L, 1, 0, "send"), tag = check_tag(L, 2, 0, "send");
    size_t len;
    const char *text = luaL_checklstring(L, 3, &len);
    if (len > INT_MAX) return luaL_error(L, "mpi.send: a message of %zu bytes is over MPI's 2 GiB limit", len);
#ifdef DC_HAVE_MPI
    MPI_TRY(L, MPI_Send(text, (int)len, MPI_CHAR, dest, tag, MPI_COMM_WORLD), "MPI_Send");
#else
    (void)dest, (void)tag, (void)text;
#endif
    return 0;
}

/* isend(dest, tag, text) -> request: a send that does not wait for the receiver (a message over
 * the eager limit would otherwise block until the receiver posts its receive). The request keeps
 * its copy of the text until request:wait() (also run when it is collected). */
#define REQUEST_KEY "deepcee.mpi_request"
typedef struct {
    int active;
#ifdef DC_HAVE_MPI
    MPI_Request req;
#endif
    size_t len;
    char text[];
} lrequest;

static int request_wait(lua_State *L)
{
    lrequest *r = luaL_checkudata(L, 1, REQUEST_KEY);
#ifdef DC_HAVE_MPI
    if (r->active && g_started) {
        r->active = 0;
        MPI_TRY(L, MPI_Wait(&r->req, MPI_STATUS_IGNORE), "MPI_Wait");
    }
#endif
    r->active = 0;
    return 0;
}

static int l_isend(lua_State *L)
{
    need_started(L, "isend");
    int dest = check_rank(L, 1, 0, "isend"), tag = check_tag(L, 2, 0, "isend");
    size_t len;
    const char *text = luaL_checklstring(L, 3, &len);
    if (len > INT_MAX) return luaL_error(L, "mpi.isend: a message of %zu bytes is over MPI's 2 GiB limit", len);
    lrequest *r = lua_newuserdatauv(L, sizeof *r + len + 1, 0);
    r->active = 0;
    r->len = len;
    memcpy(r->text, text, len);
    luaL_setmetatable(L, REQUEST_KEY);
#ifdef DC_HAVE_MPI
    MPI_TRY(L, MPI_Isend(r->text, (int)len, MPI_CHAR, dest, tag, MPI_COMM_WORLD, &r->req), "MPI_Isend");
    r->active = 1;
#else
    (void)dest, (void)tag;
#endif
    return 1;
}

static int l_recv(lua_State *L)
{
    need_started(L, "recv");
    int source = check_rank(L, 1, 1, "recv"), tag = check_tag(L, 2, 1, "recv");
#ifdef DC_HAVE_MPI
    MPI_Status st;
    MPI_TRY(L, MPI_Probe(source < 0 ? MPI_ANY_SOURCE : source, tag < 0 ? MPI_ANY_TAG : tag, MPI_COMM_WORLD, &st),
            "MPI_Probe");
    int len;
    MPI_Get_count(&st, MPI_CHAR, &len);
    /* the buffer is Lua's (a failed receive leaks nothing) */
    char *buf = lua_newuserdatauv(L, len > 0 ? (size_t)len : 1, 0);
    MPI_TRY(L, MPI_Recv(buf, len, MPI_CHAR, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv");
    lua_pushlstring(L, buf, (size_t)len);
    lua_pushinteger(L, st.MPI_SOURCE);
    lua_pushinteger(L, st.MPI_TAG);
    return 3;
#else
    (void)source, (void)tag;
    return 0;
#endif
}

static int l_iprobe(lua_State *L)
{
    need_started(L, "iprobe");
    int source = check_rank(L, 1, 1, "iprobe"), tag = check_tag(L, 2, 1, "iprobe");
#ifdef DC_HAVE_MPI
    int flag = 0;
    MPI_Status st;
    MPI_TRY(L, MPI_Iprobe(source < 0 ? MPI_ANY_SOURCE : source, tag < 0 ? MPI_ANY_TAG : tag, MPI_COMM_WORLD, &flag, &st),
            "MPI_Iprobe");
    if (!flag) return 0;
    lua_pushinteger(L, st.MPI_SOURCE);
    lua_pushinteger(L, st.MPI_TAG);
    return 2;
#else
    (void)source, (void)tag;
    return 0;
#endif
}

/* allreduce(floats): summed over the ranks in place; allreduce({numbers}) -> {sums} (as doubles).
 * Every rank must call it, with the same count; on one rank it changes nothing. */
static int l_allreduce(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TTABLE) {
        lua_Integer n = luaL_len(L, 1);
        double *v = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof *v, 0);
        for (lua_Integer i = 0; i < n; i++) {
            lua_rawgeti(L, 1, i + 1);
            int ok;
            v[i] = lua_tonumberx(L, -1, &ok);
            if (!ok) luaL_error(L, "mpi.allreduce: element %d is not a number", (int)i + 1);
            lua_pop(L, 1);
        }
#ifdef DC_HAVE_MPI
        if (g_started && n > 0 && n <= INT_MAX)
            MPI_TRY(L, MPI_Allreduce(MPI_IN_PLACE, v, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
#endif
        lua_createtable(L, (int)n, 0);
        for (lua_Integer i = 0; i < n; i++) {
            lua_pushnumber(L, v[i]);
            lua_rawseti(L, -2, i + 1);
        }
        return 1;
    }
    dc_lua_floats *f = dc_lua_check_floats(L, 1);
#ifdef DC_HAVE_MPI
    /* in chunks that fit MPI's int counts */
    for (size_t off = 0; g_started && off < f->n; off += (size_t)1 << 30) {
        size_t len = f->n - off < ((size_t)1 << 30) ? f->n - off : (size_t)1 << 30;
        MPI_TRY(L, MPI_Allreduce(MPI_IN_PLACE, f->v + off, (int)len, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
    }
#else
    (void)f;
#endif
    return 0;
}

void dc_lua_mpi_end(int failed)
{
#ifdef DC_HAVE_MPI
    if (!g_started) return;
    g_started = 0;
    if (failed && g_size > 1) MPI_Abort(MPI_COMM_WORLD, failed);
    MPI_Finalize();
#else
    (void)failed;
#endif
}

void dc_lua_open_mpi(lua_State *L)
{
    static const luaL_Reg fns[] = {{"init", l_init}, {"send", l_send}, {"isend", l_isend}, {"recv", l_recv}, {"iprobe", l_iprobe},
                                   {"allreduce", l_allreduce},
                                   {NULL, NULL}};
    luaL_newmetatable(L, REQUEST_KEY);
    lua_pushcfunction(L, request_wait);
    lua_setfield(L, -2, "__gc");
    lua_newtable(L);
    lua_pushcfunction(L, request_wait);
    lua_setfield(L, -2, "wait");
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, fns);
#ifdef DC_HAVE_MPI
    lua_pushboolean(L, 1);
#else
    lua_pushboolean(L, 0);
#endif
    lua_setfield(L, -2, "built");
    lua_setfield(L, -2, "mpi");
}
