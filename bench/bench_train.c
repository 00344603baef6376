/* Training-step and detection time of a network of lua/nets.lua (demo: 256x256, paper: 1000x1000),
 * under each GEMM route (engine/ops/gemm.c: DEEPCEE_GEMM=clblast, the CLBlast kernels on the
 * device, and host, OpenBLAS on mapped buffers), timed one after the other in this process, so the
 * ratio compares runs under the same load.
 *
 *   bench_train [--net demo|paper] [--steps N] [--reps R] [--detect D] [--route host|clblast|auto]
 *               [--json FILE]
 *
 * For each of R rounds and each route in turn: a fresh model (nets.build, init(1): the same weights
 * for both routes), N training steps on the same seeded random image with one box in its middle
 * (the first step of each round is the warm-up and is not timed: it builds kernels and fills the
 * pools), then D detections of the same image. Per route: the median step and detection time over
 * all rounds. The losses of every step of the first round are compared between the routes: the same
 * weights and input, so they agree up to float rounding (the largest relative difference is
 * printed; exit status 1 when it is over 1e-3, which would mean a route computes something else).
 * Defaults: demo, 6 steps, 3 rounds, 3 detections.
 *
 * The PyTorch peer (bench/peer.sh, bench/torch_peer.py) runs one route only: --route host|clblast|auto
 * (auto: the engine's own choice, DEEPCEE_GEMM=auto) times that route alone, with one untimed
 * detection before the timed ones, and compares no losses; --json FILE writes the network's layer
 * tables (lua/nets.lua), the detector configuration as built (model:config()), the parameter count,
 * the image recipe and box, and the measured times, for torch_peer.py to build the same network
 * and to print the ratios. */
#define _POSIX_C_SOURCE 200809L
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua/lua_bind.h"

/* bench_route(name): the GEMM route of the following calls (engine/ops/gemm.c reads DEEPCEE_GEMM at
 * every GEMM when the context has no route of its own). */
static int l_route(lua_State *L)
{
    setenv("DEEPCEE_GEMM", luaL_checkstring(L, 1), 1);
    return 0;
}

static const char *script =
    "local dc = require('deepcee')\n"
    "local nets = require('nets')\n"
    "local name, steps, reps, ndet, route, json_path = ...\n"
    "local single = route ~= 'both'\n"
    "local routes = single and {route} or {'clblast', 'host'}\n"
    "local _, cfg = nets.build(name)\n"
    "local S = cfg.image_size\n"
    "local v, x = {}, 12345\n"
    "for i = 1, 3 * S * S do x = (x * 1103515245 + 12345) % 2147483648; v[i] = x / 2147483648 end\n"
    "local img = dc.tensor({1, 3, S, S}, v)\n"
    "v = nil\n"
    "local box = {{0.4 * S, 0.45 * S, 0.6 * S, 0.62 * S}}\n"
    "local t_step, t_det, losses = {}, {}, {}\n"
    "for _, r in ipairs(routes) do t_step[r], t_det[r], losses[r] = {}, {}, {} end\n"
    "local function median(t) table.sort(t); return t[math.floor(#t / 2) + 1] end\n"
    "local params, proposals, n_det = 0, {}, 0\n"
    "for rep = 1, reps do\n"
    "  for _, r in ipairs(routes) do\n"
    "    bench_route(r)\n"
    "    local model = nets.build(name)\n"
    "    model:init(1)\n"
    "    params = model:param_count()\n"
    "    for s = 1, steps do\n"
    "      local t0 = dc.now()\n"
    "      local l = model:train_step(img, box)\n"
    "      local dt = dc.now() - t0\n"
    "      if s > 1 then t_step[r][#t_step[r] + 1] = dt end\n"
    "      if rep == 1 then losses[r][s] = l.total end\n"
    "      proposals[#proposals + 1] = l.proposals\n"
    "    end\n"
    "    if single and ndet > 0 then n_det = #model:detect(img) end\n"
    "    for d = 1, ndet do\n"
    "      local t0 = dc.now()\n"
    "      model:detect(img)\n"
    "      t_det[r][#t_det[r] + 1] = dc.now() - t0\n"
    "    end\n"
    "    model:free()\n"
    "    collectgarbage()\n"
    "  end\n"
    "end\n"
    "print(string.format('network %s (%dx%d), %d steps x %d rounds (first step of each round not timed), %d detections per round', name, S, S, steps, reps, ndet))\n"
    "print(string.format('%-8s %12s %10s %14s', 'route', 's/step', 'steps/s', 's/detection'))\n"
    "local ms, md = {}, {}\n"
    "for _, r in ipairs(routes) do\n"
    "  ms[r], md[r] = median(t_step[r]), ndet > 0 and median(t_det[r]) or 0\n"
    "  print(string.format('%-8s %12.4f %10.2f %14.4f', r, ms[r], 1 / ms[r], md[r]))\n"
    "end\n"
    "print(string.format('parameters: %d', params))\n"
    "if single then\n"
    "  if json_path ~= '' then\n"
    "    local function plain(layers)\n"
    "      local out = {}\n"
    "      for i, l in ipairs(layers) do\n"
    "        local t = {}\n"
    "        for k, v in pairs(l) do if type(k) == 'string' then t[k] = v end end\n"
    "        t.kind = l[1]\n"
    "        out[i] = t\n"
    "      end\n"
    "      return out\n"
    "    end\n"
    "    local m = cfg.model()\n"
    "    local probe = nets.build(name)\n"
    "    local doc = {net = name, image_size = S, route = route, params = params,\n"
    "      fn = plain(m.fn), dn = plain(m.dn), config = probe:config(), box = box[1],\n"
    "      image = 'LCG x = (x * 1103515245 + 12345) % 2^31 from x = 12345, value x / 2^31, NCHW order',\n"
    "      steps = steps, reps = reps, detections = ndet, step_s = t_step[route], detect_s = t_det[route],\n"
    "      step_median_s = ms[route], detect_median_s = md[route], losses = losses[route],\n"
    "      proposals = proposals, detections_found = n_det}\n"
    "    probe:free()\n"
    "    local f = assert(io.open(json_path, 'w'))\n"
    "    f:write(require('report').json(doc), '\\n')\n"
    "    f:close()\n"
    "  end\n"
    "  print(string.format('RESULT net=%s route=%s params=%d step_s=%.6f detect_s=%.6f', name, route, params, ms[route], md[route]))\n"
    "  return 0\n"
    "end\n"
    "print(string.format('speed-up host / clblast: training step %.2fx, detection %.2fx', ms.clblast / ms.host, ndet > 0 and md.clblast / md.host or 0))\n"
    "local worst = 0\n"
    "for s = 1, steps do\n"
    "  local a, b = losses.clblast[s], losses.host[s]\n"
    "  worst = math.max(worst, math.abs(a - b) / math.max(math.abs(a), 1e-12))\n"
    "  print(string.format('step %d loss: clblast %.7g host %.7g', s, a, b))\n"
    "end\n"
    "print(string.format('largest relative loss difference between the routes: %.3g', worst))\n"
    "return worst\n";

int main(int argc, char **argv)
{
    const char *net = "demo";
    const char *route = "both", *json = "";
    int steps = 6, reps = 3, ndet = 3;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--net") == 0 && i + 1 < argc) net = argv[++i];
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) steps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--detect") == 0 && i + 1 < argc) ndet = atoi(argv[++i]);
        else if (strcmp(argv[i], "--route") == 0 && i + 1 < argc) route = argv[++i];
        else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) json = argv[++i];
        else {
            fprintf(stderr, "usage: bench_train [--net demo|paper] [--steps N] [--reps R] [--detect D] "
                            "[--route host|clblast|auto] [--json FILE]\n");
            return 2;
        }
    }
    if (steps < 2 || reps < 1 || ndet < 0) {
        fprintf(stderr, "bench_train: needs --steps >= 2, --reps >= 1, --detect >= 0\n");
        return 2;
    }
    if (strcmp(route, "both") != 0 && strcmp(route, "host") != 0 && strcmp(route, "clblast") != 0 &&
        strcmp(route, "auto") != 0) {
        fprintf(stderr, "bench_train: --route is host, clblast or auto (not '%s')\n", route);
        return 2;
    }
    if (*json && strcmp(route, "both") == 0) {
        fprintf(stderr, "bench_train: --json needs --route (one route)\n");
        return 2;
    }
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "deepcee", luaopen_deepcee, 1);
    lua_pop(L, 1);
    lua_register(L, "bench_route", l_route);
    if (luaL_loadbuffer(L, script, strlen(script), "=bench_train") != LUA_OK) {
        fprintf(stderr, "bench_train: %s\n", lua_tostring(L, -1));
        return 1;
    }
    lua_pushstring(L, net);
    lua_pushinteger(L, steps);
    lua_pushinteger(L, reps);
    lua_pushinteger(L, ndet);
    lua_pushstring(L, route);
    lua_pushstring(L, json);
    if (lua_pcall(L, 6, 1, 0) != LUA_OK) {
        fprintf(stderr, "bench_train: %s\n", lua_tostring(L, -1));
        lua_close(L);
        return 1;
    }
    const double worst = lua_tonumber(L, -1);
    lua_close(L);
    return worst > 1e-3 ? 1 : 0;
}
