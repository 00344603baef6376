/* Lua tensors: a full userdata holding a dc_tensor pointer (NULL once freed). GPU memory is not
 * seen by Lua's collector, so tensors have an explicit :free() and work with <close>. */
#include <stdlib.h>

#include <string.h>

#include "lua/lua_bind.h"
#include "tensor.h"

#define TENSOR_KEY "deepcee.tensor"

typedef struct { dc_tensor *t; } ltensor;

dc_tensor *dc_lua_check_tensor(lua_State *L, int idx)
{
    ltensor *u = luaL_checkudata(L, idx, TENSOR_KEY);
    if (!u->t) luaL_error(L, "bad argument #%d: tensor was freed", idx);
    return u->t;
}

/* A Lua tensor holding nothing yet (safe to collect), pushed. */
static ltensor *push_empty(lua_State *L)
{
    ltensor *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->t = NULL;
    luaL_setmetatable(L, TENSOR_KEY);
    return u;
}

void dc_lua_push_tensor(lua_State *L, dc_tensor *t)
{
    push_empty(L)->t = t;
}

dc_tensor *dc_lua_new_tensor(lua_State *L, int ndim, const int *shape)
{
    dc_ctx *ctx = dc_lua_ctx(L);
    ltensor *u = push_empty(L); /* before allocating: a Lua memory error then leaks nothing */
    DC_LUA_TRY(L, dc_tensor_new(ctx, ndim, shape, &u->t));
    return u->t;
}

/* A shape from a table of positive integers at idx. Returns ndim. */
static int check_shape(lua_State *L, int idx, int shape[DC_TENSOR_MAX_DIMS])
{
    luaL_checktype(L, idx, LUA_TTABLE);
    int n = (int)luaL_len(L, idx);
    luaL_argcheck(L, n >= 1 && n <= DC_TENSOR_MAX_DIMS, idx, "a shape has 1 to 4 dimensions");
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, idx, i + 1);
        int ok;
        lua_Integer v = lua_tointegerx(L, -1, &ok);
        if (!ok || v <= 0 || v > 1 << 30) luaL_error(L, "bad shape: dimension %d must be a positive integer", i + 1);
        shape[i] = (int)v;
        lua_pop(L, 1);
    }
    return n;
}

/* Values 1..n of the table at idx as floats into host. Returns 0, or the 1-based index of the
 * first value that is not a number (host is then partly written). */
static size_t table_floats(lua_State *L, int idx, float *host, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i + 1);
        int ok;
        host[i] = (float)lua_tonumberx(L, -1, &ok);
        lua_pop(L, 1);
        if (!ok) return i + 1;
    }
    return 0;
}

/* deepcee.tensor(shape [, fill | values]) */
static int l_tensor_new(lua_State *L)
{
    int shape[DC_TENSOR_MAX_DIMS];
    int ndim = check_shape(L, 1, shape);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    float *host = NULL;
    if (lua_type(L, 2) == LUA_TTABLE) {
        if ((size_t)luaL_len(L, 2) != n)
            luaL_error(L, "bad argument #2: %d values given for %d elements", (int)luaL_len(L, 2), (int)n);
        host = malloc(n * sizeof *host);
        if (!host) luaL_error(L, "out of host memory");
        size_t bad = table_floats(L, 2, host, n);
        if (bad) {
            free(host);
            luaL_error(L, "bad argument #2: value %d is not a number", (int)bad);
        }
    } else if (!lua_isnoneornil(L, 2)) {
        luaL_checknumber(L, 2);
    }
    dc_ctx *ctx = dc_lua_ctx(L);
    ltensor *u = push_empty(L); /* safe empty state before allocating */
    dc_status st = dc_tensor_new(ctx, ndim, shape, &u->t);
    if (st == DC_STATUS_OK && host) st = dc_tensor_upload(u->t, host, n);
    else if (st == DC_STATUS_OK && lua_isnumber(L, 2)) st = dc_tensor_fill(u->t, (float)lua_tonumber(L, 2));
    free(host);
    DC_LUA_TRY(L, st);
    return 1;
}

static int l_shape(lua_State *L)
{
    dc_tensor *t = dc_lua_check_tensor(L, 1);
    lua_createtable(L, t->ndim, 0);
    for (int i = 0; i < t->ndim; i++) {
        lua_pushinteger(L, t->shape[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int l_numel(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)dc_lua_check_tensor(L, 1)->numel);
    return 1;
}

static int l_fill(lua_State *L)
{
    dc_tensor *t = dc_lua_check_tensor(L, 1);
    DC_LUA_TRY(L, dc_tensor_fill(t, (float)luaL_checknumber(L, 2)));
    lua_settop(L, 1);
    return 1;
}

/* t:to_table() -> flat array of the values (row-major). */
static int l_to_table(lua_State *L)
{
    dc_tensor *t = dc_lua_check_tensor(L, 1);
    float *host = malloc(t->numel * sizeof *host);
    if (!host) return luaL_error(L, "out of host memory reading a tensor of %d values", (int)t->numel);
    dc_status st = dc_tensor_download(t, host, t->numel);
    if (st != DC_STATUS_OK) {
        free(host);
        return dc_lua_fail(L, st);
    }
    lua_createtable(L, (int)t->numel, 0);
    for (size_t i = 0; i < t->numel; i++) {
        lua_pushnumber(L, host[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    free(host);
    return 1;
}

/* t:from_table(values) */
static int l_from_table(lua_State *L)
{
    dc_tensor *t = dc_lua_check_tensor(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    if ((size_t)luaL_len(L, 2) != t->numel)
        return luaL_error(L, "bad argument #1: %d values given for a tensor of %d", (int)luaL_len(L, 2),
                          (int)t->numel);
    float *host = malloc(t->numel * sizeof *host);
    if (!host) return luaL_error(L, "out of host memory");
    size_t bad = table_floats(L, 2, host, t->numel);
    if (bad) {
        free(host);
        return luaL_error(L, "bad argument #1: value %d is not a number", (int)bad);
    }
    dc_status st = dc_tensor_upload(t, host, t->numel);
    free(host);
    DC_LUA_TRY(L, st);
    lua_settop(L, 1);
    return 1;
}

static int l_free(lua_State *L)
{
    ltensor *u = luaL_checkudata(L, 1, TENSOR_KEY);
    dc_tensor_free(u->t);
    u->t = NULL;
    return 0;
}

static int l_tostring(lua_State *L)
{
    ltensor *u = luaL_checkudata(L, 1, TENSOR_KEY);
    if (!u->t) {
        lua_pushliteral(L, "tensor (freed)");
    } else {
        char s[96];
        lua_pushfstring(L, "tensor %s", dc_tensor_shape_str(u->t, s, sizeof s));
    }
    return 1;
}

/* ------------------------------------------------------------------ host float arrays */

#define FLOATS_KEY "deepcee.floats"

dc_lua_floats *dc_lua_new_floats(lua_State *L, size_t n)
{
    if (n > ((size_t)1 << 40)) luaL_error(L, "floats: %zu values is too many", n);
    dc_lua_floats *f = lua_newuserdatauv(L, sizeof *f + n * sizeof(float), 0);
    f->n = n;
    memset(f->v, 0, n * sizeof(float));
    luaL_setmetatable(L, FLOATS_KEY);
    return f;
}

dc_lua_floats *dc_lua_check_floats(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, FLOATS_KEY);
}

/* deepcee.floats(n) -> n zeros */
static int l_floats_new(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 0, 1, "a count >= 0");
    dc_lua_new_floats(L, (size_t)n);
    return 1;
}

static int l_floats_len(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)dc_lua_check_floats(L, 1)->n);
    return 1;
}

static int l_floats_zero(lua_State *L)
{
    dc_lua_floats *f = dc_lua_check_floats(L, 1);
    memset(f->v, 0, f->n * sizeof(float));
    return 0;
}

/* floats:get(i) / floats:set(i, v), 1-based */
static size_t floats_index(lua_State *L, dc_lua_floats *f)
{
    lua_Integer i = luaL_checkinteger(L, 2);
    if (i < 1 || (size_t)i > f->n) luaL_error(L, "floats: index %d is not in 1..%d", (int)i, (int)f->n);
    return (size_t)i - 1;
}

static int l_floats_get(lua_State *L)
{
    dc_lua_floats *f = dc_lua_check_floats(L, 1);
    lua_pushnumber(L, f->v[floats_index(L, f)]);
    return 1;
}

static int l_floats_set(lua_State *L)
{
    dc_lua_floats *f = dc_lua_check_floats(L, 1);
    f->v[floats_index(L, f)] = (float)luaL_checknumber(L, 3);
    return 0;
}

void dc_lua_open_tensor(lua_State *L)
{
    static const luaL_Reg floats_m[] = {{"zero", l_floats_zero}, {"get", l_floats_get}, {"set", l_floats_set},
                                        {NULL, NULL}};
    luaL_newmetatable(L, FLOATS_KEY);
    lua_pushcfunction(L, l_floats_len);
    lua_setfield(L, -2, "__len");
    luaL_newlib(L, floats_m);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    lua_pushcfunction(L, l_floats_new);
    lua_setfield(L, -2, "floats");

    static const luaL_Reg meta[] = {
        {"__gc", l_free}, {"__close", l_free}, {"__tostring", l_tostring}, {"__len", l_numel},
        {"__index", NULL}, {NULL, NULL}};
    static const luaL_Reg methods[] = {
        {"shape", l_shape}, {"numel", l_numel}, {"fill", l_fill}, {"to_table", l_to_table},
        {"from_table", l_from_table}, {"free", l_free}, {NULL, NULL}};
    luaL_newmetatable(L, TENSOR_KEY);
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    lua_pushcfunction(L, l_tensor_new);
    lua_setfield(L, -2, "tensor");
}
