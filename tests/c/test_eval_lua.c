/* The Lua binding of engine/eval (deepcee.ks_2samp, match, crossmatch, sep_arcsec, kfold), driven from a Lua
 * chunk inside a fresh state: results in the documented layout, both data layouts (rows and
 * columns), and clear errors for bad input. No OpenCL device is needed. */
#include <lauxlib.h>
#include <lualib.h>

#include "dc_test.h"
#include "lua/lua_bind.h"

static const char *chunk =
    "local dc = require('deepcee')\n"
    "local function close(a, b, tol, what) assert(math.abs(a - b) <= tol, what .. ': ' .. a .. ' vs ' .. b) end\n"
    "local function expect_error(fn, needle)\n"
    "  local ok, err = pcall(fn)\n"
    "  assert(not ok, 'expected an error containing ' .. needle)\n"
    "  assert(tostring(err):find(needle, 1, true), 'error \"' .. tostring(err) .. '\" lacks \"' .. needle .. '\"')\n"
    "end\n"
    /* KS: docs/facts.md section 7 */
    "local x, y = {}, {}\n"
    "for i = 0, 9 do x[#x + 1] = i; y[#y + 1] = i + 5 end\n"
    "local r = dc.ks_2samp(x, y)\n"
    "close(r.d, 0.5, 1e-12, 'D'); close(r.p, 0.1678213, 1e-7, 'exact p')\n"
    "assert(r.method == 'exact' and r.n == 10 and r.m == 10 and r.ties == true and r.p_ties)\n"
    "r = dc.ks_2samp(x, y, {method = 'asymp', alpha = 0.01})\n"
    "close(r.p, 0.112, 1e-9, 'asymp p'); assert(r.method == 'asymp' and r.p_ties == nil)\n"
    "close(r.d_crit, 1.62762 * math.sqrt(20 / 100), 1e-5, 'D_crit at 0.01'); assert(r.reject == false)\n"
    "close(dc.ks_critical(0.05, 100, 100), 0.19205, 2e-5, 'D_crit n = m = 100')\n"
    "close(dc.kolmogorov_sf(10, 0.274), 1 - 0.6284796154565043, 1e-13, 'kstwo')\n"
    "expect_error(function() dc.ks_2samp(x, y, {method = 'magic'}) end, \"method 'magic'\")\n"
    "expect_error(function() dc.ks_2samp(x, y, {alhpa = 0.05}) end, \"unknown key 'alhpa'\")\n"
    "expect_error(function() dc.ks_2samp(x, {1, 'a'}) end, 'sample y value 2')\n"
    "expect_error(function() dc.ks_2samp({}, y) end, 'sample x is empty')\n"
    /* matching: truths on the equator, 1 kpc/arcsec, so kpc = arcsec.
     *   T1 (10, 0), T2 (20, 0). P1 .9 at T1 + 20" -> TP (20 kpc); P2 .6 at T1 + 50" -> duplicate FP;
     *   P3 .3 at T2 + 200" -> FP (200 kpc). Rows (thresholds 0, .5, .95):
     *   t=0: TP 1 FP 2 FN 1 P 1/3 R 1/2 F1 0.4; t=.5: TP 1 FP 1 FN 1 P 1/2 R 1/2 F1 0.5;
     *   t=.95: nothing above, FN 2, all zero. Best: row 2. */
    "local a = 1 / 3600\n"
    "local preds = {{ra = 10, dec = 20 * a, score = 0.9}, {ra = 10, dec = 50 * a, score = 0.6},\n"
    "               {ra = 20, dec = 200 * a, score = 0.3}}\n"
    "local truths = {{ra = 10, dec = 0, z = 0.1, kpc_per_arcsec = 1}, {ra = 20, dec = 0, z = 0.2, kpc_per_arcsec = 1, id = 'x'}}\n"
    "local m = dc.match(preds, truths, {thresholds = {0, 0.5, 0.95}})\n"
    "assert(#m.rows == 3 and m.best == 2 and m.max_kpc == 100)\n"
    "local r1, r2, r3 = m.rows[1], m.rows[2], m.rows[3]\n"
    "assert(r1.tp == 1 and r1.fp == 2 and r1.fn == 1 and r1.dup == 1 and r1.n_above == 3)\n"
    "close(r1.precision, 1 / 3, 1e-12, 'P'); close(r1.recall, 0.5, 1e-12, 'R'); close(r1.f1, 0.4, 1e-12, 'F1')\n"
    "close(r1.std_err_kpc, 20, 1e-6, 'std err')\n"
    "assert(r2.tp == 1 and r2.fp == 1 and r2.fn == 1); close(r2.f1, 0.5, 1e-12, 'F1 t=.5')\n"
    "assert(r3.tp == 0 and r3.fp == 0 and r3.fn == 2 and r3.precision == 0 and r3.f1 == 0 and r3.std_err_kpc == nil)\n"
    "assert(m.preds[1].truth == 1 and m.preds[2].truth == nil and m.preds[2].dup == true)\n"
    "assert(m.preds[3].truth == nil and m.preds[3].dup == false and m.preds[3].nearest == 2)\n"
    "close(m.preds[3].nearest_kpc, 200, 1e-6, 'nearest'); close(m.preds[1].dist_kpc, 20, 1e-6, 'dist')\n"
    "assert(m.truths[1].pred == 1 and m.truths[1].score == 0.9 and m.truths[2].pred == nil)\n"
    /* columns give the same; default thresholds are the paper's 11; the cosmology path */
    "local mc = dc.match({ra = {10, 10, 20}, dec = {20 * a, 50 * a, 200 * a}, score = {0.9, 0.6, 0.3}},\n"
    "                    {ra = {10, 20}, dec = {0, 0}, z = {0.1, 0.2}, kpc_per_arcsec = {1, 1}})\n"
    "assert(#mc.rows == 11 and mc.rows[1].tp == 1 and mc.rows[1].fp == 2 and mc.rows[11].threshold == 1)\n"
    "local mz = dc.match(preds, {{ra = 10, dec = 0, z = 0.15}})\n"
    "close(mz.truths[1].kpc_per_arcsec, 2.5863, 2e-4, 'kpc/arcsec at z = 0.15')\n"
    "assert(mz.preds[1].truth == 1)  -- 20\" = 52 kpc\n"
    "local mh = dc.match(preds, {{ra = 10, dec = 0, z = 0.15}}, {h0 = 35.5})\n"
    "close(mh.truths[1].kpc_per_arcsec, 2 * 2.5863, 5e-4, 'scale with H0 halved')\n"
    /* empty predictions: valid, everything a false negative */
    "local me = dc.match({}, truths)\n"
    "assert(me.rows[1].tp == 0 and me.rows[1].fn == 2 and me.rows[1].precision == 0)\n"
    /* bad input */
    "expect_error(function() dc.match(preds, {}) end, 'truth catalogue is empty')\n"
    "expect_error(function() dc.match(preds, {{ra = 1, dec = 1, z = 0.1}, {ra = 2, dec = 2}}) end, 'truths[2].z must be a number')\n"
    "expect_error(function() dc.match(preds, {{ra = 1, dec = 1, z = 0 / 0}}) end, 'has no redshift')\n"
    "expect_error(function() dc.match(preds, truths, {thresholds = {0.5, 0.1}}) end, 'strictly increasing')\n"
    "expect_error(function() dc.match(preds, truths, {thresholds = {0, 50}}) end, 'in [0, 1]')\n"
    "expect_error(function() dc.match(preds, truths, {thresholds = {}}) end, 'threshold list is empty')\n"
    "expect_error(function() dc.match(preds, truths, {max_kcp = 100}) end, \"unknown key 'max_kcp'\")\n"
    "expect_error(function() dc.match({{ra = 1, dec = 1, score = 2}}, truths) end, 'score 2 outside [0, 1]')\n"
    "expect_error(function() dc.match(preds, {{ra = 1, dec = 1, z = 0.1, kpc_per_arcsec = 1}, {ra = 2, dec = 2, z = 0.1}}) end, 'for 1 of 2 truths')\n"
    "expect_error(function() dc.match({ra = {1, 2}, dec = {1}, score = {0.5, 0.5}}, truths) end, \"column 'dec' has 1 values\")\n"
    /* cross-matching: FP1 60\" from C1 (z .2) -> C1; FP2 60\" from C2 but z .45 -> none */
    "local fps = {{ra = 150, dec = 20}, {ra = 150, dec = 25}}\n"
    "local cat = {{ra = 150, dec = 20 + 60 * a, z = 0.2}, {ra = 150, dec = 25 + 60 * a, z = 0.45}}\n"
    "local xm, nfound = dc.crossmatch(fps, cat)\n"
    "assert(nfound == 1 and xm[1].index == 1 and xm[2].index == nil); close(xm[1].sep_arcsec, 60, 1e-6, 'sep')\n"
    "xm, nfound = dc.crossmatch(fps, cat, {z_max = 0.5})\n"
    "assert(nfound == 2 and xm[2].index == 2)\n"
    "xm, nfound = dc.crossmatch(fps, cat, {radius_arcmin = 0.5})\n"
    "assert(nfound == 0)\n"
    "expect_error(function() dc.crossmatch(fps, {{ra = 1, dec = 1, z = 0 / 0}}) end, 'has no redshift')\n"
    "expect_error(function() dc.crossmatch(fps, cat, {radius = 1}) end, \"unknown key 'radius'\")\n"
    /* the defaults: the paper's (docs/facts.md section 2), exactly, and the ones crossmatch uses */
    "local xd = dc.crossmatch_defaults()\n"
    "assert(xd.radius_arcmin == 1.61 and xd.z_min == 0.05 and xd.z_max == 0.4, 'crossmatch defaults')\n"
    "local near = {{ra = 150, dec = 20 + 1.6 * 60 * a, z = 0.0501}, {ra = 150, dec = 20 + 1.62 * 60 * a, z = 0.2}}\n"
    "xm, nfound = dc.crossmatch({fps[1]}, near)\n"
    "assert(nfound == 1 and xm[1].index == 1, 'the default radius and z range')\n"
    /* separation: 1 deg along the equator and along a meridian; across the pole; antipodes */
    "close(dc.sep_arcsec(10, 0, 11, 0), 3600, 1e-9, 'sep on the equator')\n"
    "close(dc.sep_arcsec(10, 40, 10, 41), 3600, 1e-9, 'sep on a meridian')\n"
    "close(dc.sep_arcsec(0, 89, 180, 89), 7200, 1e-8, 'sep across the pole')\n"
    "close(dc.sep_arcsec(0, 0, 180, 0), 180 * 3600, 1e-6, 'antipodes')\n"
    "close(dc.sep_arcsec(150, 60, 150.5, 60), 2 * math.deg(math.asin(math.cos(math.rad(60)) * math.sin(math.rad(0.25)))) * 3600, 1e-8, 'haversine')\n"
    "expect_error(function() dc.sep_arcsec(1, 2, 3) end, 'number expected')\n"
    /* k-fold */
    "local folds, of = dc.kfold(10, 3, 42)\n"
    "assert(#folds == 3 and #of == 10)\n"
    "local seen = {}\n"
    "for f, fold in ipairs(folds) do\n"
    "  assert(#fold.train + #fold.test == 10)\n"
    "  for _, i in ipairs(fold.test) do assert(not seen[i] and of[i] == f); seen[i] = true end\n"
    "end\n"
    "for i = 1, 10 do assert(seen[i]) end\n"
    "local again = dc.kfold(10, 3, 42)\n"
    "for f = 1, 3 do for k, i in ipairs(folds[f].test) do assert(again[f].test[k] == i) end end\n"
    "expect_error(function() dc.kfold(3, 5, 1) end, '2 <= k <= number of items')\n"
    "return 'ok'\n";

int main(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "deepcee", luaopen_deepcee, 0);
    lua_pop(L, 1);
    int rc = luaL_dostring(L, chunk);
    CHECK(rc == LUA_OK, "%s", lua_tostring(L, -1));
    if (rc == LUA_OK) CHECK(strcmp(lua_tostring(L, -1), "ok") == 0, "chunk did not finish");
    lua_close(L);
    return dc_test_finish("test_eval_lua");
}
