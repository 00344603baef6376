/* Lua binding of engine/eval: KS tests, matching with the threshold sweep, cross-matching and
 * k-fold splits. Data arguments (predictions, truths, catalogues) are either arrays of row
 * tables ({ {ra=, dec=, ...}, ... }, other keys ignored) or tables of columns
 * ({ra = {...}, dec = {...}, ...}); indices in and out are 1-based. Option tables reject
 * unknown keys. Scratch memory is Lua userdata, so a Lua error never leaks it. */
#include <math.h>
#include <string.h>

#include "eval/eval.h"
#include "lua/lua_bind.h"

#define MATCH_BOX "deepcee.eval_match"

static void *scratch(lua_State *L, size_t bytes)
{
    return lua_newuserdatauv(L, bytes ? bytes : 1, 0);
}

/* Read numeric fields names[0..nf) of the data table at idx into out[f][i] (allocated as
 * scratch userdata left on the stack). Fields not marked required become NaN when absent.
 * Returns the row count. */
static size_t read_table(lua_State *L, int idx, const char *what, const char *const *names,
                         const int *required, int nf, double **out)
{
    idx = lua_absindex(L, idx);
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_getfield(L, idx, names[0]);
    int columns = lua_type(L, -1) == LUA_TTABLE;
    size_t n = columns ? (size_t)luaL_len(L, -1) : (size_t)luaL_len(L, idx);
    lua_pop(L, 1);
    for (int f = 0; f < nf; f++) out[f] = scratch(L, n * sizeof(double));
    for (int f = 0; f < nf; f++) {
        if (columns) {
            int t = lua_getfield(L, idx, names[f]);
            if (t == LUA_TNIL && !required[f]) {
                for (size_t i = 0; i < n; i++) out[f][i] = NAN;
                lua_pop(L, 1);
                continue;
            }
            if (t != LUA_TTABLE)
                luaL_error(L, "%s: column '%s' must be a table of %I numbers, got %s", what,
                           names[f], (lua_Integer)n, luaL_typename(L, -1));
            if ((size_t)luaL_len(L, -1) != n)
                luaL_error(L, "%s: column '%s' has %I values, column '%s' has %I", what, names[f],
                           luaL_len(L, -1), names[0], (lua_Integer)n);
        }
        for (size_t i = 0; i < n; i++) {
            int t;
            if (columns) {
                t = lua_rawgeti(L, -1, (lua_Integer)i + 1);
            } else {
                if (lua_rawgeti(L, idx, (lua_Integer)i + 1) != LUA_TTABLE)
                    luaL_error(L, "%s[%I] must be a table with %s, got %s", what, (lua_Integer)i + 1,
                               names[0], luaL_typename(L, -1));
                t = lua_getfield(L, -1, names[f]);
            }
            int ok = 0;
            double v = lua_tonumberx(L, -1, &ok);
            if (t == LUA_TNIL && !required[f]) {
                v = NAN;
                ok = 1;
            }
            if (!ok)
                luaL_error(L, "%s[%I].%s must be a number, got %s", what, (lua_Integer)i + 1, names[f],
                           luaL_typename(L, -1));
            out[f][i] = v;
            lua_pop(L, columns ? 1 : 2);
        }
        if (columns) lua_pop(L, 1);
    }
    return n;
}

/* ---------------------------------------------------------------- KS */

/* ks_2samp(x, y [, {alpha = 0.05, method = "auto" | "exact" | "asymp"}]) -> result table */
static int l_ks_2samp(lua_State *L)
{
    static const char *const keys[] = {"alpha", "method", NULL};
    double alpha = 0.05;
    dc_eval_ks_method method = DC_EVAL_KS_METHOD_AUTO;
    if (!lua_isnoneornil(L, 3)) {
        dc_lua_check_keys(L, 3, "ks_2samp", keys);
        alpha = dc_lua_opt_number(L, 3, "alpha", alpha);
        const char *ms = dc_lua_opt_string(L, 3, "method", "auto");
        if (strcmp(ms, "auto") == 0) method = DC_EVAL_KS_METHOD_AUTO;
        else if (strcmp(ms, "exact") == 0) method = DC_EVAL_KS_METHOD_EXACT;
        else if (strcmp(ms, "asymp") == 0) method = DC_EVAL_KS_METHOD_ASYMP;
        else luaL_error(L, "ks_2samp: method '%s' is not one of auto, exact, asymp", ms);
    }
    double *s[2];
    size_t len[2];
    for (int a = 0; a < 2; a++) {
        luaL_checktype(L, a + 1, LUA_TTABLE);
        len[a] = (size_t)luaL_len(L, a + 1);
        s[a] = scratch(L, len[a] * sizeof(double));
        for (size_t i = 0; i < len[a]; i++) {
            lua_rawgeti(L, a + 1, (lua_Integer)i + 1);
            int ok;
            s[a][i] = lua_tonumberx(L, -1, &ok);
            if (!ok) luaL_error(L, "ks_2samp: sample %s value %I must be a number, got %s",
                                a ? "y" : "x", (lua_Integer)i + 1, luaL_typename(L, -1));
            lua_pop(L, 1);
        }
    }
    dc_eval_ks r;
    DC_LUA_TRY(L, dc_eval_ks_2samp(s[0], len[0], s[1], len[1], alpha, method, &r));
    lua_createtable(L, 0, 10);
    dc_lua_set_number(L, "d", r.d);
    dc_lua_set_number(L, "p", r.p);
    dc_lua_set_number(L, "d_crit", r.d_crit);
    dc_lua_set_number(L, "alpha", r.alpha);
    lua_pushboolean(L, r.reject);
    lua_setfield(L, -2, "reject");
    dc_lua_set_integer(L, "n", (lua_Integer)r.n);
    dc_lua_set_integer(L, "m", (lua_Integer)r.m);
    lua_pushstring(L, r.method == DC_EVAL_KS_METHOD_EXACT ? "exact" : "asymp");
    lua_setfield(L, -2, "method");
    lua_pushboolean(L, r.ties);
    lua_setfield(L, -2, "ties");
    if (!isnan(r.p_ties)) dc_lua_set_number(L, "p_ties", r.p_ties);
    return 1;
}

/* ks_critical(alpha, n, m) -> D_crit */
static int l_ks_critical(lua_State *L)
{
    double alpha = luaL_checknumber(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2), m = luaL_checkinteger(L, 3);
    luaL_argcheck(L, n >= 1, 2, "sample size must be >= 1");
    luaL_argcheck(L, m >= 1, 3, "sample size must be >= 1");
    double c;
    DC_LUA_TRY(L, dc_eval_ks_critical(alpha, (size_t)n, (size_t)m, &c));
    lua_pushnumber(L, c);
    return 1;
}

/* kolmogorov_sf(n, d) -> P(D_n >= d), one-sample two-sided */
static int l_kolmogorov_sf(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 1, 1, "n must be >= 1");
    lua_pushnumber(L, dc_eval_kolmogorov_sf((int64_t)n, luaL_checknumber(L, 2)));
    return 1;
}

/* ---------------------------------------------------------------- matching */

static int match_box_gc(lua_State *L)
{
    dc_eval_match **box = luaL_checkudata(L, 1, MATCH_BOX);
    dc_eval_match_free(*box);
    *box = NULL;
    return 0;
}

/* match(preds, truths [, opts]) -> {rows, best, preds, truths, max_kpc}
 *   preds  rows or columns of ra, dec (deg), score in [0, 1]
 *   truths rows or columns of ra, dec, z, and optionally kpc_per_arcsec (all rows or none)
 *   opts   thresholds (default 0, 0.1, ..., 1), max_kpc (100), h0 (71), om (0.27)
 * See dc_eval_match for the one-to-one policy. */
static int l_match(lua_State *L)
{
    static const char *const keys[] = {"thresholds", "max_kpc", "h0", "om", NULL};
    dc_eval_match_opts o = dc_eval_match_defaults();
    dc_cosmo cosmo = dc_cosmo_paper();
    double *thr;
    size_t n_thr = DC_EVAL_N_PAPER_THRESHOLDS;
    int has_opts = !lua_isnoneornil(L, 3);
    if (has_opts) {
        dc_lua_check_keys(L, 3, "match", keys);
        o.max_kpc = dc_lua_opt_number(L, 3, "max_kpc", o.max_kpc);
        cosmo.h0 = dc_lua_opt_number(L, 3, "h0", cosmo.h0);
        cosmo.om = dc_lua_opt_number(L, 3, "om", cosmo.om);
    }
    if (has_opts && lua_getfield(L, 3, "thresholds") != LUA_TNIL) {
        if (!lua_istable(L, -1))
            luaL_error(L, "match: thresholds must be a table of numbers in [0, 1], got %s",
                       luaL_typename(L, -1));
        n_thr = (size_t)luaL_len(L, -1);
        thr = scratch(L, n_thr * sizeof *thr);
        for (size_t t = 0; t < n_thr; t++) {
            lua_rawgeti(L, -2, (lua_Integer)t + 1);
            int ok;
            thr[t] = lua_tonumberx(L, -1, &ok);
            if (!ok) luaL_error(L, "match: thresholds[%I] must be a number, got %s", (lua_Integer)t + 1,
                                luaL_typename(L, -1));
            lua_pop(L, 1);
        }
    } else {
        thr = scratch(L, n_thr * sizeof *thr);
        dc_eval_paper_thresholds(thr);
    }
    static const char *const pnames[] = {"ra", "dec", "score"};
    static const int preq[] = {1, 1, 1};
    double *pc[3];
    size_t np = read_table(L, 1, "predictions", pnames, preq, 3, pc);
    static const char *const tnames[] = {"ra", "dec", "z", "kpc_per_arcsec"};
    static const int treq[] = {1, 1, 1, 0};
    double *tc[4];
    size_t nt = read_table(L, 2, "truths", tnames, treq, 4, tc);
    dc_eval_pred *pred = scratch(L, np * sizeof *pred);
    dc_eval_truth *truth = scratch(L, nt * sizeof *truth);
    for (size_t i = 0; i < np; i++) pred[i] = (dc_eval_pred){pc[0][i], pc[1][i], pc[2][i]};
    size_t given = 0;
    for (size_t j = 0; j < nt; j++) {
        truth[j] = (dc_eval_truth){tc[0][j], tc[1][j], tc[2][j]};
        given += !isnan(tc[3][j]);
    }
    if (given && given != nt)
        luaL_error(L, "match: kpc_per_arcsec is given for %I of %I truths; give it for all or none",
                   (lua_Integer)given, (lua_Integer)nt);
    o.kpc_per_arcsec = given ? tc[3] : NULL;
    o.cosmo = &cosmo;

    dc_eval_match **box = lua_newuserdatauv(L, sizeof *box, 0); /* safe empty state first */
    *box = NULL;
    luaL_setmetatable(L, MATCH_BOX);
    DC_LUA_TRY(L, dc_eval_match_new(pred, np, truth, nt, &o, box));
    dc_eval_match *m = *box;
    dc_eval_row *rows = scratch(L, n_thr * sizeof *rows);
    DC_LUA_TRY(L, dc_eval_sweep(m, thr, n_thr, rows));

    lua_createtable(L, 0, 5);
    lua_createtable(L, (int)n_thr, 0);
    for (size_t t = 0; t < n_thr; t++) {
        const dc_eval_row *r = &rows[t];
        lua_createtable(L, 0, 10);
        dc_lua_set_number(L, "threshold", r->threshold);
        dc_lua_set_integer(L, "n_above", (lua_Integer)r->n_above);
        dc_lua_set_integer(L, "tp", (lua_Integer)r->tp);
        dc_lua_set_integer(L, "fp", (lua_Integer)r->fp);
        dc_lua_set_integer(L, "fn", (lua_Integer)r->fn);
        dc_lua_set_integer(L, "dup", (lua_Integer)r->dup);
        dc_lua_set_number(L, "precision", r->precision);
        dc_lua_set_number(L, "recall", r->recall);
        dc_lua_set_number(L, "f1", r->f1);
        if (r->tp) dc_lua_set_number(L, "std_err_kpc", r->std_err_kpc); /* absent: no TP */
        lua_rawseti(L, -2, (lua_Integer)t + 1);
    }
    lua_setfield(L, -2, "rows");
    dc_lua_set_integer(L, "best", (lua_Integer)dc_eval_best_row(rows, n_thr) + 1);
    dc_lua_set_number(L, "max_kpc", m->max_kpc);
    lua_createtable(L, (int)np, 0);
    for (size_t i = 0; i < np; i++) {
        lua_createtable(L, 0, 6);
        dc_lua_set_number(L, "score", m->pred_score[i]);
        if (m->pred_truth[i] >= 0) {
            dc_lua_set_integer(L, "truth", m->pred_truth[i] + 1);
            dc_lua_set_number(L, "dist_kpc", m->pred_match_kpc[i]);
        }
        lua_pushboolean(L, m->pred_dup[i]);
        lua_setfield(L, -2, "dup");
        dc_lua_set_integer(L, "nearest", m->pred_nearest[i] + 1);
        dc_lua_set_number(L, "nearest_kpc", m->pred_nearest_kpc[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "preds");
    lua_createtable(L, (int)nt, 0);
    for (size_t j = 0; j < nt; j++) {
        lua_createtable(L, 0, 4);
        if (m->truth_pred[j] >= 0) {
            dc_lua_set_integer(L, "pred", m->truth_pred[j] + 1);
            dc_lua_set_number(L, "score", m->truth_score[j]);
            dc_lua_set_number(L, "dist_kpc", m->pred_match_kpc[m->truth_pred[j]]);
        }
        dc_lua_set_number(L, "kpc_per_arcsec", m->truth_kpc_per_arcsec[j]);
        lua_rawseti(L, -2, (lua_Integer)j + 1);
    }
    lua_setfield(L, -2, "truths");
    dc_eval_match_free(m);
    *box = NULL;
    return 1;
}

/* ---------------------------------------------------------------- cross-matching */

/* sep_arcsec(ra1, dec1, ra2, dec2) -> great-circle separation in arcsec (degrees in) */
static int l_sep_arcsec(lua_State *L)
{
    double ra1 = luaL_checknumber(L, 1), dec1 = luaL_checknumber(L, 2);
    double ra2 = luaL_checknumber(L, 3), dec2 = luaL_checknumber(L, 4);
    lua_pushnumber(L, dc_eval_sep_arcsec(ra1, dec1, ra2, dec2));
    return 1;
}

/* crossmatch(positions, catalogue [, {radius_arcmin =, z_min =, z_max =}]) (defaults: crossmatch_defaults())
 *   -> per position {index = <catalogue row> or absent, sep_arcsec = ...}, and the number of
 *      positions that matched */
static int l_crossmatch(lua_State *L)
{
    static const char *const keys[] = {"radius_arcmin", "z_min", "z_max", NULL};
    dc_eval_xmatch_opts o = dc_eval_xmatch_defaults();
    if (!lua_isnoneornil(L, 3)) {
        dc_lua_check_keys(L, 3, "crossmatch", keys);
        o.radius_arcmin = dc_lua_opt_number(L, 3, "radius_arcmin", o.radius_arcmin);
        o.z_min = dc_lua_opt_number(L, 3, "z_min", o.z_min);
        o.z_max = dc_lua_opt_number(L, 3, "z_max", o.z_max);
    }
    static const char *const pnames[] = {"ra", "dec"};
    static const char *const cnames[] = {"ra", "dec", "z"};
    static const int req[] = {1, 1, 1};
    double *pc[2], *cc[3];
    size_t np = read_table(L, 1, "positions", pnames, req, 2, pc);
    size_t nc = read_table(L, 2, "catalogue", cnames, req, 3, cc);
    int64_t *match = scratch(L, np * sizeof *match);
    double *sep = scratch(L, np * sizeof *sep);
    DC_LUA_TRY(L, dc_eval_crossmatch(pc[0], pc[1], np, cc[0], cc[1], cc[2], nc, &o, match, sep));
    lua_createtable(L, (int)np, 0);
    lua_Integer found = 0;
    for (size_t i = 0; i < np; i++) {
        lua_createtable(L, 0, 2);
        if (match[i] >= 0) {
            dc_lua_set_integer(L, "index", match[i] + 1);
            dc_lua_set_number(L, "sep_arcsec", sep[i]);
            found++;
        }
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_pushinteger(L, found);
    return 2;
}

/* crossmatch_defaults() -> {radius_arcmin =, z_min =, z_max =}: the paper's cross-match settings
 * (dc_eval_xmatch_defaults), their one home */
static int l_crossmatch_defaults(lua_State *L)
{
    const dc_eval_xmatch_opts o = dc_eval_xmatch_defaults();
    lua_createtable(L, 0, 3);
    dc_lua_set_number(L, "radius_arcmin", o.radius_arcmin);
    dc_lua_set_number(L, "z_min", o.z_min);
    dc_lua_set_number(L, "z_max", o.z_max);
    return 1;
}

/* ---------------------------------------------------------------- k-fold */

/* kfold(n, k, seed) -> folds, fold_of: folds[f] = {train = {...}, test = {...}} (1-based item
 * indices, increasing), fold_of[i] = the fold holding item i as test. */
static int l_kfold(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1), k = luaL_checkinteger(L, 2);
    lua_Integer seed = luaL_checkinteger(L, 3);
    luaL_argcheck(L, n >= 0, 1, "number of items must be >= 0");
    luaL_argcheck(L, k >= 0 && k <= 1 << 30, 2, "k out of range");
    int32_t *fold = scratch(L, (size_t)n * sizeof *fold);
    DC_LUA_TRY(L, dc_eval_kfold((size_t)n, (int)k, (uint64_t)seed, fold));
    lua_createtable(L, (int)k, 0);
    for (lua_Integer f = 0; f < k; f++) {
        lua_createtable(L, 0, 2);
        lua_newtable(L); /* train */
        lua_newtable(L); /* test */
        lua_Integer ntr = 0, nte = 0;
        for (lua_Integer i = 0; i < n; i++) {
            lua_pushinteger(L, i + 1);
            if (fold[i] == f) lua_rawseti(L, -2, ++nte);
            else lua_rawseti(L, -3, ++ntr);
        }
        lua_setfield(L, -3, "test");
        lua_setfield(L, -2, "train");
        lua_rawseti(L, -2, f + 1);
    }
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 0; i < n; i++) {
        lua_pushinteger(L, fold[i] + 1);
        lua_rawseti(L, -2, i + 1);
    }
    return 2;
}

void dc_lua_open_eval(lua_State *L)
{
    luaL_newmetatable(L, MATCH_BOX);
    lua_pushcfunction(L, match_box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, match_box_gc);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
    static const luaL_Reg fns[] = {
        {"ks_2samp", l_ks_2samp}, {"ks_critical", l_ks_critical},
        {"kolmogorov_sf", l_kolmogorov_sf}, {"match", l_match}, {"crossmatch", l_crossmatch},
        {"crossmatch_defaults", l_crossmatch_defaults},
        {"sep_arcsec", l_sep_arcsec},
        {"kfold", l_kfold}, {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
