/* The helpers every binding file uses: raising the engine's error, reading option tables and
 * rejecting their unknown keys, filling result tables, and the state's device context. */
#include <string.h>

#include "cl/cl.h"
#include "lua/lua_bind.h"

int dc_lua_fail(lua_State *L, dc_status st)
{
    (void)st;
    return luaL_error(L, "%s", dc_error_message());
}

static int field_type(lua_State *L, int idx, const char *key)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    return lua_getfield(L, idx, key);
}

lua_Number dc_lua_opt_number(lua_State *L, int idx, const char *key, lua_Number def)
{
    idx = lua_absindex(L, idx);
    int t = field_type(L, idx, key);
    lua_Number v = def;
    if (t != LUA_TNIL) {
        int ok;
        v = lua_tonumberx(L, -1, &ok);
        if (!ok) luaL_error(L, "key '%s' must be a number, got %s", key, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return v;
}

lua_Integer dc_lua_opt_integer(lua_State *L, int idx, const char *key, lua_Integer def)
{
    idx = lua_absindex(L, idx);
    int t = field_type(L, idx, key);
    lua_Integer v = def;
    if (t != LUA_TNIL) {
        int ok;
        v = lua_tointegerx(L, -1, &ok);
        if (!ok) luaL_error(L, "key '%s' must be an integer, got %s", key, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return v;
}

/* The returned string stays valid while the table holds it. */
const char *dc_lua_opt_string(lua_State *L, int idx, const char *key, const char *def)
{
    idx = lua_absindex(L, idx);
    int t = field_type(L, idx, key);
    const char *v = def;
    if (t != LUA_TNIL) {
        if (t != LUA_TSTRING) luaL_error(L, "key '%s' must be a string, got %s", key, luaL_typename(L, -1));
        v = lua_tostring(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

int dc_lua_opt_boolean(lua_State *L, int idx, const char *key, int def)
{
    idx = lua_absindex(L, idx);
    int t = field_type(L, idx, key);
    int v = def;
    if (t != LUA_TNIL) {
        if (t != LUA_TBOOLEAN) luaL_error(L, "key '%s' must be a boolean, got %s", key, luaL_typename(L, -1));
        v = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

void dc_lua_set_number(lua_State *L, const char *key, lua_Number v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, key);
}

void dc_lua_set_integer(lua_State *L, const char *key, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, key);
}

void dc_lua_check_keys(lua_State *L, int idx, const char *where, const char *const *known)
{
    idx = lua_absindex(L, idx);
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        int ok = 0;
        if (lua_type(L, -1) == LUA_TSTRING)
            for (int i = 0; known[i] && !ok; i++) ok = strcmp(known[i], lua_tostring(L, -1)) == 0;
        if (!ok) {
            luaL_Buffer b;
            luaL_buffinit(L, &b);
            for (int i = 0; known[i]; i++) {
                if (i) luaL_addstring(&b, ", ");
                luaL_addstring(&b, known[i]);
            }
            luaL_pushresult(&b);
            luaL_error(L, "%s: unknown key '%s' (known keys: %s)", where,
                       luaL_tolstring(L, -2, NULL), lua_tostring(L, -1));
        }
    }
}

/* ------------------------------------------------------------------ the device context */

#define CTX_KEY "deepcee.ctx"               /* the metatable */
#define CTX_INSTANCE "deepcee.ctx.instance" /* the state's context, in the registry */

static int ctx_gc(lua_State *L)
{
    dc_ctx **p = luaL_checkudata(L, 1, CTX_KEY);
    dc_ctx_free(*p);
    *p = NULL;
    return 0;
}

/* The state's context, opened on first use with the choice in deepcee.device_choice (set by the
 * CLI's --device) or $DEEPCEE_DEVICE. */
dc_ctx *dc_lua_ctx(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, CTX_INSTANCE) == LUA_TUSERDATA) {
        dc_ctx *ctx = *(dc_ctx **)lua_touserdata(L, -1);
        lua_pop(L, 1);
        if (ctx) return ctx;
    } else {
        lua_pop(L, 1);
    }
    lua_getfield(L, LUA_REGISTRYINDEX, "deepcee.device_choice");
    const char *choice = lua_tostring(L, -1);
    dc_ctx **p = lua_newuserdatauv(L, sizeof *p, 0); /* safe empty state before opening */
    *p = NULL;
    if (luaL_newmetatable(L, CTX_KEY)) {
        lua_pushcfunction(L, ctx_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    DC_LUA_TRY(L, dc_ctx_new(p, choice));
    lua_setfield(L, LUA_REGISTRYINDEX, CTX_INSTANCE);
    lua_pop(L, 1);
    return *p;
}
