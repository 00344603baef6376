/* Lua binding of the CLBlast tuning (engine/cl/tune.h): deepcee.tune_measure, tune_shapes,
 * tune_save, tune_info and tune_executable; scripts/tune.lua runs the search with them. Entries
 * cross to Lua as {note = "...", sets = {"Xgemm MWG=64 ...", ...}}. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "ops/ops_tune.h"
#include "lua/lua_bind.h"

static void push_entry(lua_State *L, const dc_tune_entry *e)
{
    lua_createtable(L, 0, 2);
    lua_pushstring(L, e->note);
    lua_setfield(L, -2, "note");
    lua_createtable(L, e->n, 0);
    for (int i = 0; i < e->n; i++) {
        char text[1024];
        lua_pushstring(L, dc_tune_set_format(&e->sets[i], text, sizeof text));
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "sets");
}

/* Read a list of "Kernel NAME=VALUE ..." strings at idx into sets (at most max). */
static int check_sets(lua_State *L, int idx, const char *what, dc_tune_set *sets, int max)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    int n = (int)luaL_len(L, idx);
    if (n > max) luaL_error(L, "%s: at most %d parameter sets, got %d", what, max, n);
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, idx, i + 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s[%d] must be a string \"Kernel NAME=VALUE ...\", got %s", what, i + 1,
                       luaL_typename(L, -1));
        char where[64];
        snprintf(where, sizeof where, "%s[%d]", what, i + 1);
        DC_LUA_TRY(L, dc_tune_set_parse(lua_tostring(L, -1), where, &sets[i]));
        lua_pop(L, 1);
    }
    return n;
}

static void check_entry(lua_State *L, int idx, dc_tune_entry *e)
{
    static const char *const keys[] = {"note", "sets", NULL};
    dc_lua_check_keys(L, idx, "tune entry", keys);
    memset(e, 0, sizeof *e);
    snprintf(e->note, sizeof e->note, "%s", dc_lua_opt_string(L, idx, "note", ""));
    if (strchr(e->note, '\n')) luaL_error(L, "tune entry: the note must be one line");
    if (lua_getfield(L, idx, "sets") != LUA_TTABLE)
        luaL_error(L, "tune entry: sets must be a list of \"Kernel NAME=VALUE ...\" strings");
    e->n = check_sets(L, lua_gettop(L), "tune entry sets", e->sets, DC_TUNE_MAX_SETS);
    lua_pop(L, 1);
    for (int i = 0; i < e->n; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(e->sets[i].kernel, e->sets[j].kernel) == 0)
                luaL_error(L, "tune entry: kernel %s appears twice", e->sets[i].kernel);
}

static void push_shape(lua_State *L, const dc_tune_shape *sh)
{
    lua_createtable(L, 0, 7);
    lua_pushinteger(L, sh->m);
    lua_setfield(L, -2, "m");
    lua_pushinteger(L, sh->n);
    lua_setfield(L, -2, "n");
    lua_pushinteger(L, sh->k);
    lua_setfield(L, -2, "k");
    lua_pushboolean(L, sh->trans_a);
    lua_setfield(L, -2, "ta");
    lua_pushboolean(L, sh->trans_b);
    lua_setfield(L, -2, "tb");
    lua_pushstring(L, sh->label ? sh->label : "");
    lua_setfield(L, -2, "label");
    lua_pushboolean(L, sh->in_place);
    lua_setfield(L, -2, "in_place");
}

/* deepcee.tune_shapes() -> the default tuning shapes {{m, n, k, ta, tb, label, in_place}, ...} */
static int l_tune_shapes(lua_State *L)
{
    int n;
    const dc_tune_shape *shapes = dc_tune_default_shapes(&n);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        push_shape(L, &shapes[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* deepcee.tune_measure{sets = {...}, shapes = {...}, reps = 3}: apply the sets (if any), then check
 * and time the active parameters -> {gflops, seconds, times = {...}, and on CPU devices
 * cpu_gflops, cpu_times = {...}} or {error = "why rejected"}.
 * A rejected set is a result, not an error; so is a set CLBlast refuses to take. */
static int l_tune_measure(lua_State *L)
{
    static const char *const keys[] = {"sets", "shapes", "reps", NULL};
    if (lua_isnoneornil(L, 1)) lua_newtable(L);
    dc_lua_check_keys(L, 1, "tune_measure", keys);
    const int reps = (int)dc_lua_opt_integer(L, 1, "reps", 3);
    if (reps < 1 || reps > 16) luaL_error(L, "tune_measure: reps must be 1..16, got %d", reps);
    dc_tune_entry e;
    memset(&e, 0, sizeof e);
    if (lua_getfield(L, 1, "sets") != LUA_TNIL)
        e.n = check_sets(L, lua_gettop(L), "tune_measure sets", e.sets, DC_TUNE_MAX_SETS);
    lua_pop(L, 1);

    const dc_tune_shape *shapes = NULL;
    int n = 0;
    if (lua_getfield(L, 1, "shapes") != LUA_TNIL) {
        luaL_checktype(L, -1, LUA_TTABLE);
        n = (int)luaL_len(L, -1);
        if (n < 1) luaL_error(L, "tune_measure: shapes is empty");
        /* userdata so that an error below frees it with the call */
        dc_tune_shape *sh = lua_newuserdatauv(L, (size_t)n * sizeof *sh, 0);
        static const char *const skeys[] = {"m", "n", "k", "ta", "tb", "label", "in_place", NULL};
        for (int i = 0; i < n; i++) {
            lua_rawgeti(L, -2, i + 1);
            dc_lua_check_keys(L, -1, "tune_measure shape", skeys);
            sh[i].m = (int)dc_lua_opt_integer(L, -1, "m", 0);
            sh[i].n = (int)dc_lua_opt_integer(L, -1, "n", 0);
            sh[i].k = (int)dc_lua_opt_integer(L, -1, "k", 0);
            sh[i].trans_a = dc_lua_opt_boolean(L, -1, "ta", 0);
            sh[i].trans_b = dc_lua_opt_boolean(L, -1, "tb", 0);
            sh[i].label = NULL;
            sh[i].in_place = dc_lua_opt_boolean(L, -1, "in_place", 0);
            if (sh[i].m < 1 || sh[i].n < 1 || sh[i].k < 1)
                luaL_error(L, "tune_measure: shape %d needs positive m, n and k", i + 1);
            lua_pop(L, 1);
        }
        shapes = sh;
    } else {
        shapes = dc_tune_default_shapes(&n);
    }
    double *times = lua_newuserdatauv(L, (size_t)n * 2 * sizeof *times, 0), *cpu = times + n;

    dc_ctx *ctx = dc_lua_ctx(L);
    lua_createtable(L, 0, 3);
    if (e.n > 0 && dc_tune_override(ctx, &e) != DC_STATUS_OK) {
        lua_pushstring(L, dc_error_message());
        lua_setfield(L, -2, "error");
        return 1;
    }
    dc_tune_measurement m;
    DC_LUA_TRY(L, dc_tune_measure(ctx, shapes, n, reps, times, cpu, &m));
    lua_pushnumber(L, m.seconds);
    lua_setfield(L, -2, "seconds");
    if (m.bad[0]) {
        lua_pushstring(L, m.bad);
        lua_setfield(L, -2, "error");
        return 1;
    }
    lua_pushnumber(L, m.gflops);
    lua_setfield(L, -2, "gflops");
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushnumber(L, times[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "times");
    if (m.cpu_gflops > 0) {
        lua_pushnumber(L, m.cpu_gflops);
        lua_setfield(L, -2, "cpu_gflops");
        lua_createtable(L, n, 0);
        for (int i = 0; i < n; i++) {
            lua_pushnumber(L, cpu[i]);
            lua_rawseti(L, -2, i + 1);
        }
        lua_setfield(L, -2, "cpu_times");
    }
    return 1;
}

/* deepcee.tune_executable() -> path of the running deepcee (the tuning runs candidates in child
 * processes of it). */
static int l_tune_executable(lua_State *L)
{
    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0) return luaL_error(L, "tune_executable: cannot read /proc/self/exe: %s", strerror(errno));
    path[n] = '\0';
    lua_pushstring(L, path);
    return 1;
}

/* deepcee.tune_save(entry) -> path: store the entry for the current device. */
static int l_tune_save(lua_State *L)
{
    dc_tune_entry e;
    check_entry(L, 1, &e);
    if (e.n == 0) luaL_error(L, "tune_save: the entry has no parameter sets");
    const dc_device_info *dev = dc_ctx_info(dc_lua_ctx(L));
    char path[1200];
    DC_LUA_TRY(L, dc_tune_path(dev, path, sizeof path));
    DC_LUA_TRY(L, dc_tune_save(path, dev, &e));
    lua_pushstring(L, path);
    return 1;
}

/* deepcee.tune_info() -> {path, origin = "stored"|"builtin"|"none", entry} for the current device. */
static int l_tune_info(lua_State *L)
{
    const dc_device_info *dev = dc_ctx_info(dc_lua_ctx(L));
    dc_tune_entry e;
    dc_tune_origin origin;
    DC_LUA_TRY(L, dc_tune_lookup(dev, &e, &origin));
    lua_createtable(L, 0, 3);
    char path[1200];
    if (dc_tune_path(dev, path, sizeof path) == DC_STATUS_OK) {
        lua_pushstring(L, path);
        lua_setfield(L, -2, "path");
    }
    lua_pushstring(L, dc_tune_origin_name(origin));
    lua_setfield(L, -2, "origin");
    push_entry(L, &e);
    lua_setfield(L, -2, "entry");
    return 1;
}

void dc_lua_open_tune(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"tune_measure", l_tune_measure}, {"tune_shapes", l_tune_shapes}, {"tune_save", l_tune_save},
        {"tune_info", l_tune_info}, {"tune_executable", l_tune_executable}, {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
