/* libFuzzer: the Lua data reader util.parse_data (lua/deepcee_util.lua), which reads weights
 * metadata and the files of run and dataset folders (dataset.lua, fold.lua, config.lua) as data,
 * in the Lua state the deepcee binary runs scripts in (dc_lua_state_new). A bad text must give
 * parse_data's own error ("fuzz: not a data file ..."); any other error (a bug in the parser), a
 * crash, a sanitizer report or a hang is a finding. A text it accepts must survive
 * util.serialize -> parse_data unchanged, since that is how deepcee writes what it reads back.
 *
 * The system's Lua is not instrumented, so libFuzzer would see no coverage of a parser written in
 * Lua: a line hook feeds the parser's line-to-line steps into libFuzzer's extra counters. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "lua/lua_bind.h"

#ifdef __ELF__
__attribute__((section("__libfuzzer_extra_counters")))
#endif
static uint8_t line_steps[1 << 14];
static int prev_line;

/* Only deepcee_util and the check below run under the hook, so a line number is enough. */
static void line_hook(lua_State *L, lua_Debug *ar)
{
    (void)L;
    unsigned k = ((unsigned)prev_line * 40503u ^ (unsigned)ar->currentline) & (sizeof line_steps - 1);
    if (line_steps[k] < 255) line_steps[k]++;
    prev_line = ar->currentline;
}

/* check(text): nil when parse_data behaved, else what went wrong. */
static const char check_lua[] =
    "local util = require('deepcee_util')\n"
    "return function(text)\n"
    "  local ok, v = pcall(util.parse_data, text, 'fuzz')\n"
    "  if not ok then\n"
    "    if type(v) == 'string' and v:find('^fuzz: not a data file %(line %d+, near ') then return nil end\n"
    "    return 'not parse_data\\'s own error: ' .. tostring(v)\n"
    "  end\n"
    "  if v == nil then return nil end\n"
    "  local s = util.serialize(v)\n"
    "  local ok2, back = pcall(util.parse_data, 'return ' .. s, 'serialized')\n"
    "  if not ok2 then return 'its serialized form does not parse: ' .. tostring(back) .. '\\n' .. s end\n"
    "  if util.serialize(back) ~= s then return 'serialize -> parse_data changed it:\\n' .. s end\n"
    "end\n";

static lua_State *g_L;

static void state_open(void)
{
    g_L = dc_lua_state_new(NULL);
    if (!g_L) abort();
    if (luaL_loadbuffer(g_L, check_lua, sizeof check_lua - 1, "fuzz_data") != LUA_OK ||
        lua_pcall(g_L, 0, 1, 0) != LUA_OK) {
        fprintf(stderr, "fuzz_data: %s\n", lua_tostring(g_L, -1));
        abort();
    }
    lua_setfield(g_L, LUA_REGISTRYINDEX, "fuzz_data.check");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_L) state_open();
    lua_getfield(g_L, LUA_REGISTRYINDEX, "fuzz_data.check");
    lua_pushlstring(g_L, (const char *)data, size);
    prev_line = 0;
    lua_sethook(g_L, line_hook, LUA_MASKLINE, 0);
    int st = lua_pcall(g_L, 1, 1, 0);
    lua_sethook(g_L, NULL, 0, 0);
    if (st != LUA_OK || !lua_isnil(g_L, -1)) {
        fprintf(stderr, "fuzz_data: %s\n", lua_tostring(g_L, -1));
        abort();
    }
    lua_settop(g_L, 0);
    return 0;
}
