/* Lua binding of the simulator: deepcee.sim_defaults(), deepcee.sim_field(cfg) and
 * deepcee.sim_survey(cfg). Fields and surveys are userdata (liolib style) with :free() and
 * <close>; config tables with unknown keys are errors. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "lua/lua_bind.h"
#include "sim/sim.h"

#define FIELD_KEY "deepcee.sim_field"
#define SURVEY_KEY "deepcee.sim_survey"

typedef struct { dc_sim_field *f; } lfield;
typedef struct { dc_sim_survey *s; } lsurvey;

static const char *const model_keys[] = {"mstar", "alpha", "bcg_mean", "bcg_sigma", "blue_fraction",
                                         "rs_scatter", "rs_offset", "h0", "om", NULL};
static const char *const field_keys[] = {
    "width", "height", "ra", "dec", "seed", "seeing", "camcol", "r_limit", "galaxy_density",
    "star_density", "clusters", "n_clusters", "z_min", "z_max", "n200_min", "n200_max", "groups",
    "nearby_galaxies", "bright_stars", "saturation", "noise", "model", "vary",
    /* confounders and artefacts (docs/sky-confounders.md) */
    "confounders", "lrgs", "pairs", "compact_groups", "foreground_groups", "background_clusters",
    "failed_cut_clusters", "artefacts", "star_spikes", "satellite_trails", "masked_stripes", "edge_mask",
    "gradients", NULL};
static const char *const survey_keys[] = {"seed", "ra_min", "ra_max", "dec_min", "dec_max", "z_min", "z_max",
                                          "n200_min", "n200_max", "n200_slope", "density", "model", "vary", NULL};
static const char *const cluster_keys[] = {"id", "ra", "dec", "z", "n200", "kind", NULL};

static void read_model(lua_State *L, int idx, dc_sim_cluster_model *m)
{
    if (lua_getfield(L, idx, "model") != LUA_TNIL) {
        int t = lua_gettop(L);
        dc_lua_check_keys(L, t, "model", model_keys);
        m->mstar = dc_lua_opt_number(L, t, "mstar", m->mstar);
        m->alpha = dc_lua_opt_number(L, t, "alpha", m->alpha);
        m->bcg_mean = dc_lua_opt_number(L, t, "bcg_mean", m->bcg_mean);
        m->bcg_sigma = dc_lua_opt_number(L, t, "bcg_sigma", m->bcg_sigma);
        m->blue_fraction = dc_lua_opt_number(L, t, "blue_fraction", m->blue_fraction);
        m->rs_scatter = dc_lua_opt_number(L, t, "rs_scatter", m->rs_scatter);
        m->rs_offset = dc_lua_opt_number(L, t, "rs_offset", m->rs_offset);
        m->h0 = dc_lua_opt_number(L, t, "h0", m->h0);
        m->om = dc_lua_opt_number(L, t, "om", m->om);
    }
    lua_pop(L, 1);
}

static void push_model(lua_State *L, const dc_sim_cluster_model *m)
{
    lua_createtable(L, 0, 8);
    const struct { const char *k; double v; } f[] = {{"mstar", m->mstar}, {"alpha", m->alpha}, {"bcg_mean", m->bcg_mean},
                                                      {"bcg_sigma", m->bcg_sigma}, {"blue_fraction", m->blue_fraction},
                                                      {"rs_scatter", m->rs_scatter}, {"rs_offset", m->rs_offset},
                                                      {"h0", m->h0}, {"om", m->om}};
    for (size_t k = 0; k < sizeof f / sizeof f[0]; k++) {
        lua_pushnumber(L, f[k].v);
        lua_setfield(L, -2, f[k].k);
    }
}


/* The keys of vary = {...}: {lo, hi} pairs and single numbers, in dc_sim_vary's order. */
typedef struct { const char *k; size_t off; int pair; } vary_key;
#define VP(name) {#name, offsetof(dc_sim_vary, name), 1}
#define VS(name) {#name, offsetof(dc_sim_vary, name), 0}
static const vary_key vary_tab[] = {
    VP(seeing), VP(beta), VP(psf_e), VP(wing_frac), VP(wing_scale), VP(sky), VS(sky_colour), VS(sky_offset),
    VP(depth), VS(depth_offset), VS(zp), VS(gain), VS(darkvar), VP(lf_mstar), VP(lf_alpha), VP(size_scale),
    VP(red_fraction), VP(colour), VP(rs_offset), VP(rs_slope), VP(rs_scatter), VS(c_scatter), VP(cluster_q),
    VS(gap_small), VP(gap_small_mag), VS(gap_fossil), VP(gap_fossil_mag), VS(miscentre), VP(miscentre_kpc),
    VS(bimodal), VP(bimodal_frac), VP(bimodal_kpc)};
#undef VP
#undef VS
#define NVARY (sizeof vary_tab / sizeof vary_tab[0])

/* vary = true (documented ranges), false (off) or a table of ranges (enabled unless
 * enabled = false); unknown keys are errors. */
static void read_vary(lua_State *L, int idx, const char *where, dc_sim_vary *v)
{
    int t = lua_getfield(L, idx, "vary");
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    if (t == LUA_TBOOLEAN) {
        v->enabled = lua_toboolean(L, -1);
        lua_pop(L, 1);
        return;
    }
    if (t != LUA_TTABLE) luaL_error(L, "%s: vary must be true, false or a table of ranges", where);
    int ti = lua_gettop(L);
    const char *keys[NVARY + 2];
    for (size_t k = 0; k < NVARY; k++) keys[k] = vary_tab[k].k;
    keys[NVARY] = "enabled";
    keys[NVARY + 1] = NULL;
    dc_lua_check_keys(L, ti, "vary", keys);
    v->enabled = dc_lua_opt_boolean(L, ti, "enabled", 1);
    for (size_t k = 0; k < NVARY; k++) {
        double *p = (double *)((char *)v + vary_tab[k].off);
        if (!vary_tab[k].pair) {
            p[0] = dc_lua_opt_number(L, ti, vary_tab[k].k, p[0]);
            continue;
        }
        int e = lua_getfield(L, ti, vary_tab[k].k);
        if (e != LUA_TNIL) {
            if (e == LUA_TNUMBER) { /* one number: fixed at that value */
                p[0] = p[1] = lua_tonumber(L, -1);
            } else {
                if (e != LUA_TTABLE || luaL_len(L, -1) != 2)
                    luaL_error(L, "%s: vary.%s must be {lo, hi} or a number", where, vary_tab[k].k);
                for (int j = 0; j < 2; j++) {
                    lua_rawgeti(L, -1, j + 1);
                    if (!lua_isnumber(L, -1)) luaL_error(L, "%s: vary.%s[%d] must be a number", where, vary_tab[k].k, j + 1);
                    p[j] = lua_tonumber(L, -1);
                    lua_pop(L, 1);
                }
            }
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static void push_vary(lua_State *L, const dc_sim_vary *v)
{
    lua_createtable(L, 0, (int)NVARY + 1);
    lua_pushboolean(L, v->enabled);
    lua_setfield(L, -2, "enabled");
    for (size_t k = 0; k < NVARY; k++) {
        const double *p = (const double *)((const char *)v + vary_tab[k].off);
        if (vary_tab[k].pair) {
            lua_createtable(L, 2, 0);
            lua_pushnumber(L, p[0]);
            lua_rawseti(L, -2, 1);
            lua_pushnumber(L, p[1]);
            lua_rawseti(L, -2, 2);
        } else {
            lua_pushnumber(L, p[0]);
        }
        lua_setfield(L, -2, vary_tab[k].k);
    }
}

/* The confounder and artefact keys: the shorthands confounders = true and artefacts = true set
 * the documented realistic rates (dc_sim_confound_realistic, dc_sim_artefacts_realistic), and
 * the numeric keys, read after them, override single rates. star_spikes also takes a boolean. */
static void read_confound(lua_State *L, int idx, dc_sim_confound_config *q)
{
    if (dc_lua_opt_boolean(L, idx, "confounders", 0)) dc_sim_confound_realistic(q);
    if (dc_lua_opt_boolean(L, idx, "artefacts", 0)) dc_sim_artefacts_realistic(q);
    q->lrgs = dc_lua_opt_number(L, idx, "lrgs", q->lrgs);
    q->pairs = dc_lua_opt_number(L, idx, "pairs", q->pairs);
    q->compact_groups = dc_lua_opt_number(L, idx, "compact_groups", q->compact_groups);
    q->foreground_groups = dc_lua_opt_number(L, idx, "foreground_groups", q->foreground_groups);
    q->background_clusters = dc_lua_opt_number(L, idx, "background_clusters", q->background_clusters);
    q->failed_cut_clusters = dc_lua_opt_number(L, idx, "failed_cut_clusters", q->failed_cut_clusters);
    if (lua_getfield(L, idx, "star_spikes") == LUA_TBOOLEAN) {
        dc_sim_confound_config r = {0};
        dc_sim_artefacts_realistic(&r);
        q->star_spikes = lua_toboolean(L, -1) ? r.star_spikes : 0;
    } else {
        q->star_spikes = dc_lua_opt_number(L, idx, "star_spikes", q->star_spikes);
    }
    lua_pop(L, 1);
    q->satellite_trails = dc_lua_opt_number(L, idx, "satellite_trails", q->satellite_trails);
    q->masked_stripes = dc_lua_opt_number(L, idx, "masked_stripes", q->masked_stripes);
    q->edge_mask = dc_lua_opt_number(L, idx, "edge_mask", q->edge_mask);
    q->gradients = dc_lua_opt_number(L, idx, "gradients", q->gradients);
}

/* Fill c from the table at idx (defaults first). Explicit clusters go to a userdata-backed
 * array left on the stack so it lives as long as the call. */
static void read_field_config(lua_State *L, int idx, dc_sim_field_config *c, int allow_clusters)
{
    dc_sim_field_config_default(c);
    if (lua_isnoneornil(L, idx)) return;
    luaL_checktype(L, idx, LUA_TTABLE);
    dc_lua_check_keys(L, idx, allow_clusters ? "sim_field" : "survey:field", field_keys);
    c->width = (int)dc_lua_opt_integer(L, idx, "width", c->width);
    c->height = (int)dc_lua_opt_integer(L, idx, "height", c->height);
    c->ra = dc_lua_opt_number(L, idx, "ra", c->ra);
    c->dec = dc_lua_opt_number(L, idx, "dec", c->dec);
    c->seed = (uint64_t)dc_lua_opt_integer(L, idx, "seed", (lua_Integer)c->seed);
    c->seeing = dc_lua_opt_number(L, idx, "seeing", c->seeing);
    c->camcol = (int)dc_lua_opt_integer(L, idx, "camcol", c->camcol);
    c->r_limit = dc_lua_opt_number(L, idx, "r_limit", c->r_limit);
    c->galaxy_density = dc_lua_opt_number(L, idx, "galaxy_density", c->galaxy_density);
    c->star_density = dc_lua_opt_number(L, idx, "star_density", c->star_density);
    c->n_clusters = (int)dc_lua_opt_integer(L, idx, "n_clusters", c->n_clusters);
    c->z_min = dc_lua_opt_number(L, idx, "z_min", c->z_min);
    c->z_max = dc_lua_opt_number(L, idx, "z_max", c->z_max);
    c->n200_min = dc_lua_opt_number(L, idx, "n200_min", c->n200_min);
    c->n200_max = dc_lua_opt_number(L, idx, "n200_max", c->n200_max);
    c->groups = dc_lua_opt_number(L, idx, "groups", c->groups);
    c->nearby_galaxies = dc_lua_opt_number(L, idx, "nearby_galaxies", c->nearby_galaxies);
    c->bright_stars = dc_lua_opt_number(L, idx, "bright_stars", c->bright_stars);
    c->saturation_dn = dc_lua_opt_number(L, idx, "saturation", c->saturation_dn);
    c->noise = dc_lua_opt_boolean(L, idx, "noise", c->noise);
    read_model(L, idx, &c->model);
    c->model.r_limit = c->r_limit;
    read_vary(L, idx, allow_clusters ? "sim_field" : "survey:field", &c->vary);
    read_confound(L, idx, &c->confound);
    if (lua_getfield(L, idx, "clusters") != LUA_TNIL) {
        if (!allow_clusters) luaL_error(L, "survey:field: clusters come from the survey, not the config");
        if (!lua_istable(L, -1)) luaL_error(L, "sim_field: clusters must be an array of tables");
        int t = lua_gettop(L), n = (int)luaL_len(L, t);
        dc_sim_cluster *v = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *v, 0);
        lua_insert(L, t); /* the array stays below the table, on the stack for the call */
        t++;
        for (int k = 0; k < n; k++) {
            lua_rawgeti(L, t, k + 1);
            int e = lua_gettop(L);
            if (!lua_istable(L, e)) luaL_error(L, "sim_field: clusters[%d] must be a table", k + 1);
            dc_lua_check_keys(L, e, "sim_field clusters[]", cluster_keys);
            memset(&v[k], 0, sizeof v[k]);
            v[k].id = dc_lua_opt_integer(L, e, "id", k + 1);
            v[k].ra = dc_lua_opt_number(L, e, "ra", NAN);
            v[k].dec = dc_lua_opt_number(L, e, "dec", NAN);
            v[k].z = dc_lua_opt_number(L, e, "z", 0.15);
            v[k].n200_mean = dc_lua_opt_number(L, e, "n200", 30);
            const char *kind = dc_lua_opt_string(L, e, "kind", "cluster");
            v[k].kind = -1;
            for (int j = DC_SIM_CLUSTER_KIND_CLUSTER; j <= DC_SIM_CLUSTER_KIND_POOR; j++)
                if (strcmp(kind, dc_sim_cluster_kind_name(j)) == 0) v[k].kind = j;
            if (v[k].kind < 0)
                luaL_error(L, "sim_field: clusters[%d].kind must be 'cluster', 'group', 'foreground', 'background' or "
                              "'poor', got '%s'", k + 1, kind);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        c->clusters = v;
        c->n_given = n;
        return;
    }
    lua_pop(L, 1);
}

/* deepcee.sim_field(cfg) -> field */
static int l_sim_field(lua_State *L)
{
    dc_sim_field_config c;
    read_field_config(L, 1, &c, 1);
    lfield *u = lua_newuserdatauv(L, sizeof *u, 0); /* safe empty state before allocating */
    u->f = NULL;
    luaL_setmetatable(L, FIELD_KEY);
    DC_LUA_TRY(L, dc_sim_field_new(&c, &u->f));
    return 1;
}

static dc_sim_field *check_field(lua_State *L, int idx)
{
    lfield *u = luaL_checkudata(L, idx, FIELD_KEY);
    if (!u->f) luaL_error(L, "bad argument #%d: field was freed", idx);
    return u->f;
}

static void push_cluster(lua_State *L, const dc_sim_cluster *c)
{
    lua_createtable(L, 0, 32);
    lua_pushinteger(L, c->id);
    lua_setfield(L, -2, "id");
    lua_pushinteger(L, c->n200);
    lua_setfield(L, -2, "n200");
    lua_pushinteger(L, c->n_members);
    lua_setfield(L, -2, "n_members");
    lua_pushstring(L, dc_sim_cluster_kind_name(c->kind));
    lua_setfield(L, -2, "kind");
    static const char *const gaps[] = {"usual", "small", "fossil"};
    lua_pushstring(L, gaps[c->look.gap_kind >= 0 && c->look.gap_kind <= 2 ? c->look.gap_kind : 0]);
    lua_setfield(L, -2, "gap_kind");
    lua_pushboolean(L, c->look.bimodal);
    lua_setfield(L, -2, "bimodal");
    const struct { const char *k; double v; } f[] = {
        {"ra", c->ra}, {"dec", c->dec}, {"z", c->z}, {"n200_mean", c->n200_mean},
        {"richness", c->lambda}, {"rl", c->rl}, {"r200", c->r200}, {"m200", c->m200}, {"c200", c->c200},
        {"bcg_rmag", c->bcg_rmag}, {"bcg_abs_r", c->bcg_abs_r}, {"bcg_ra", c->ra}, {"bcg_dec", c->dec},
        {"gr", c->gr}, {"ri", c->ri}, {"x", c->x}, {"y", c->y}, {"rs_offset", c->look.rs_offset},
        {"rs_slope", c->look.rs_slope}, {"rs_scatter", c->look.rs_scatter}, {"c_factor", c->look.c_factor},
        {"q", c->look.q}, {"theta", c->look.theta}, {"gap", c->look.gap}, {"miscentre_kpc", c->look.offset_kpc},
        {"sub_frac", c->look.sub_frac}, {"sub_kpc", c->look.sub_kpc}};
    for (size_t k = 0; k < sizeof f / sizeof f[0]; k++) {
        lua_pushnumber(L, f[k].v);
        lua_setfield(L, -2, f[k].k);
    }
}

/* An array of the clusters c[0..n) as cluster tables, pushed. */
static void push_clusters(lua_State *L, const dc_sim_cluster *c, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t k = 0; k < n; k++) {
        push_cluster(L, &c[k]);
        lua_rawseti(L, -2, (lua_Integer)k + 1);
    }
}

/* field:clusters() -> array of cluster tables (truth) */
static int l_field_clusters(lua_State *L)
{
    dc_sim_field *f = check_field(L, 1);
    push_clusters(L, f->clusters, f->n_clusters);
    return 1;
}

/* field:artefacts() -> array of {kind = "trail"|"stripe"|"edge"|"gradient", bands = "gri" (the
 * bands it is in), x0, y0, x1, y1, width, value} as dc_sim_artefact documents them */
static int l_field_artefacts(lua_State *L)
{
    dc_sim_field *f = check_field(L, 1);
    static const char *const kinds[] = {"trail", "stripe", "edge", "gradient"};
    lua_createtable(L, (int)f->n_artefacts, 0);
    for (size_t k = 0; k < f->n_artefacts; k++) {
        const dc_sim_artefact *a = &f->artefacts[k];
        lua_createtable(L, 0, 8);
        lua_pushstring(L, kinds[a->kind]);
        lua_setfield(L, -2, "kind");
        char bands[4] = {0};
        int nb = 0;
        for (int b = 0; b < 3; b++)
            if (a->bands & (1 << b)) bands[nb++] = "gri"[b];
        lua_pushstring(L, bands);
        lua_setfield(L, -2, "bands");
        const struct { const char *k; double v; } fv[] = {{"x0", a->x0}, {"y0", a->y0}, {"x1", a->x1}, {"y1", a->y1},
                                                          {"width", a->width}, {"value", a->value}};
        for (size_t j = 0; j < sizeof fv / sizeof fv[0]; j++) {
            lua_pushnumber(L, fv[j].v);
            lua_setfield(L, -2, fv[j].k);
        }
        lua_rawseti(L, -2, (lua_Integer)k + 1);
    }
    return 1;
}

/* field:info() -> {width, height, ra, dec, camcol, n_objects, seeing = {g, r, i},
 * sky_sigma = {g, r, i}, sky_mag = {g, r, i}, zp_scale, gain, darkvar = {g, r, i}, vary, and the
 * drawn psf_beta, psf_e, psf_pa, wing_frac, wing_scale, depth, exposure_scale, lf_mstar,
 * lf_alpha, size_scale, red_fraction, colour} */
static int l_field_info(lua_State *L)
{
    dc_sim_field *f = check_field(L, 1);
    lua_createtable(L, 0, 24);
    lua_pushinteger(L, f->width);
    lua_setfield(L, -2, "width");
    lua_pushinteger(L, f->height);
    lua_setfield(L, -2, "height");
    lua_pushnumber(L, f->ra);
    lua_setfield(L, -2, "ra");
    lua_pushnumber(L, f->dec);
    lua_setfield(L, -2, "dec");
    lua_pushinteger(L, f->camcol);
    lua_setfield(L, -2, "camcol");
    lua_pushinteger(L, (lua_Integer)f->n_objects);
    lua_setfield(L, -2, "n_objects");
    const char *names[6] = {"seeing", "sky_sigma", "sky_mag", "zp_scale", "gain", "darkvar"};
    for (int j = 0; j < 6; j++) {
        lua_createtable(L, 3, 0);
        for (int b = 0; b < 3; b++) {
            const dc_sim_band *p = &f->band[b];
            double v = j == 0 ? p->fwhm : j == 1 ? dc_sim_sky_sigma(p, DC_SIM_PIXEL_SCALE) : j == 2 ? p->sky_mag
                     : j == 3 ? f->cond.zp_scale[b] : j == 4 ? p->gain : p->darkvar;
            lua_pushnumber(L, v);
            lua_rawseti(L, -2, b + 1);
        }
        lua_setfield(L, -2, names[j]);
    }
    const dc_sim_conditions *q = &f->cond;
    const struct { const char *k; double v; } cv[] = {
        {"psf_beta", q->psf[1].beta}, {"psf_e", q->psf[1].e}, {"psf_pa", q->psf[1].pa},
        {"wing_frac", q->psf[1].wing_frac}, {"wing_scale", q->psf[1].wing_scale}, {"depth", q->depth},
        {"exposure_scale", q->exposure_scale}, {"lf_mstar", q->lf_mstar}, {"lf_alpha", q->lf_alpha},
        {"size_scale", q->size_scale}, {"red_fraction", q->red_fraction}, {"colour", q->colour}};
    for (size_t k = 0; k < sizeof cv / sizeof cv[0]; k++) {
        lua_pushnumber(L, cv[k].v);
        lua_setfield(L, -2, cv[k].k);
    }
    lua_pushboolean(L, f->vary.enabled);
    lua_setfield(L, -2, "vary");
    return 1;
}

/* field:write(dir, stem [, {preview_size = 1000, objects = false}]) */
static int l_field_write(lua_State *L)
{
    dc_sim_field *f = check_field(L, 1);
    const char *dir = luaL_checkstring(L, 2), *stem = luaL_checkstring(L, 3);
    dc_sim_write_opts o = {.preview_size = 1000};
    if (!lua_isnoneornil(L, 4)) {
        static const char *const keys[] = {"preview_size", "objects", NULL};
        dc_lua_check_keys(L, 4, "field:write", keys);
        o.preview_size = (int)dc_lua_opt_integer(L, 4, "preview_size", o.preview_size);
        o.write_objects = dc_lua_opt_boolean(L, 4, "objects", 0);
    }
    DC_LUA_TRY(L, dc_sim_field_write(f, dir, stem, &o));
    return 0;
}

/* field:composite(path, {size = 1000, stretch = "sqrt"|"lupton", lo = {i, r, g}, hi = {i, r, g},
 * flip = false}): the g, r, i composite resampled to size x size, as a PNG (the dataset
 * builder's picture). Masked (NaN) pixels are taken as 0, blank sky, as detect takes them;
 * returns the masked fraction of the worst band. */
static int l_field_composite(lua_State *L)
{
    dc_sim_field *f = check_field(L, 1);
    const char *path = luaL_checkstring(L, 2);
    static const char *const keys[] = {"size", "stretch", "lo", "hi", "flip", "q", "lupton_stretch", NULL};
    int size = f->width, flip = 0;
    dc_composite_params p = {.stretch = DC_STRETCH_SQRT, .lo = {0, 0, 0}, .hi = {1, 1, 1}, .lupton_stretch = 5, .q = 8};
    if (!lua_isnoneornil(L, 3)) {
        dc_lua_check_keys(L, 3, "field:composite", keys);
        size = (int)dc_lua_opt_integer(L, 3, "size", size);
        const char *st = dc_lua_opt_string(L, 3, "stretch", "sqrt");
        if (strcmp(st, "sqrt") && strcmp(st, "lupton")) luaL_error(L, "field:composite: stretch must be 'sqrt' or 'lupton', got '%s'", st);
        p.stretch = strcmp(st, "lupton") == 0 ? DC_STRETCH_LUPTON : DC_STRETCH_SQRT;
        flip = dc_lua_opt_boolean(L, 3, "flip", 0);
        p.q = (float)dc_lua_opt_number(L, 3, "q", p.q);
        p.lupton_stretch = (float)dc_lua_opt_number(L, 3, "lupton_stretch", p.lupton_stretch);
        const char *lim[2] = {"lo", "hi"};
        for (int j = 0; j < 2; j++) {
            if (lua_getfield(L, 3, lim[j]) != LUA_TNIL) {
                if (!lua_istable(L, -1) || luaL_len(L, -1) != 3) luaL_error(L, "field:composite: %s must be {i, r, g}", lim[j]);
                for (int k = 0; k < 3; k++) {
                    lua_rawgeti(L, -1, k + 1);
                    (j ? p.hi : p.lo)[k] = (float)luaL_checknumber(L, -1);
                    lua_pop(L, 1);
                }
            }
            lua_pop(L, 1);
        }
    }
    luaL_argcheck(L, size >= 1 && size <= 20000, 3, "size must be 1..20000");
    int nx = size, ny = (int)lround((double)size * f->height / f->width);
    dc_image *im[3] = {0};
    dc_rgb *rgb = NULL;
    dc_status st = DC_STATUS_OK;
    /* masked (NaN) pixels become 0, blank sky, as detect fills them; the field keeps its NaN */
    size_t masked = 0;
    for (int b = 0; b < 3 && st == DC_STATUS_OK; b++) {
        size_t nb = dc_image_count_nonfinite(f->image[b]);
        if (nb == 0) {
            st = dc_image_resample(f->image[b], nx, ny > 0 ? ny : 1, &im[b]);
            continue;
        }
        dc_image *filled = NULL;
        st = dc_image_crop(f->image[b], 0, 0, f->width, f->height, 0, &filled);
        if (st == DC_STATUS_OK) {
            dc_image_fill_nonfinite(filled, 0);
            st = dc_image_resample(filled, nx, ny > 0 ? ny : 1, &im[b]);
        }
        dc_image_free(filled);
        if (nb > masked) masked = nb;
    }
    if (st == DC_STATUS_OK) st = dc_composite_make(im[0], im[1], im[2], &p, &rgb);
    if (st == DC_STATUS_OK && flip) dc_rgb_flip_x(rgb);
    if (st == DC_STATUS_OK) st = dc_rgb_write_png(rgb, path);
    for (int b = 0; b < 3; b++) dc_image_free(im[b]);
    dc_rgb_free(rgb);
    DC_LUA_TRY(L, st);
    lua_pushnumber(L, (double)masked / ((double)f->width * f->height)); /* the masked fraction (worst band) */
    return 1;
}

static int l_field_free(lua_State *L)
{
    lfield *u = luaL_checkudata(L, 1, FIELD_KEY);
    dc_sim_field_free(u->f);
    u->f = NULL;
    return 0;
}

static int l_field_tostring(lua_State *L)
{
    lfield *u = luaL_checkudata(L, 1, FIELD_KEY);
    if (!u->f) lua_pushliteral(L, "sim field (freed)");
    else lua_pushfstring(L, "sim field %dx%d at (%f, %f), %d clusters", u->f->width, u->f->height, u->f->ra, u->f->dec, (int)u->f->n_clusters);
    return 1;
}

/* ---- surveys ---- */

static dc_sim_survey *check_survey(lua_State *L, int idx)
{
    lsurvey *u = luaL_checkudata(L, idx, SURVEY_KEY);
    if (!u->s) luaL_error(L, "bad argument #%d: survey was freed", idx);
    return u->s;
}

/* deepcee.sim_survey(cfg) -> survey */
static int l_sim_survey(lua_State *L)
{
    dc_sim_survey_config c;
    dc_sim_survey_config_default(&c);
    if (!lua_isnoneornil(L, 1)) {
        dc_lua_check_keys(L, 1, "sim_survey", survey_keys);
        c.seed = (uint64_t)dc_lua_opt_integer(L, 1, "seed", (lua_Integer)c.seed);
        c.ra_min = dc_lua_opt_number(L, 1, "ra_min", c.ra_min);
        c.ra_max = dc_lua_opt_number(L, 1, "ra_max", c.ra_max);
        c.dec_min = dc_lua_opt_number(L, 1, "dec_min", c.dec_min);
        c.dec_max = dc_lua_opt_number(L, 1, "dec_max", c.dec_max);
        c.z_min = dc_lua_opt_number(L, 1, "z_min", c.z_min);
        c.z_max = dc_lua_opt_number(L, 1, "z_max", c.z_max);
        c.n200_min = dc_lua_opt_number(L, 1, "n200_min", c.n200_min);
        c.n200_max = dc_lua_opt_number(L, 1, "n200_max", c.n200_max);
        c.n200_slope = dc_lua_opt_number(L, 1, "n200_slope", c.n200_slope);
        c.density = dc_lua_opt_number(L, 1, "density", c.density);
        read_model(L, 1, &c.model);
        read_vary(L, 1, "sim_survey", &c.vary);
    }
    lsurvey *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->s = NULL;
    luaL_setmetatable(L, SURVEY_KEY);
    DC_LUA_TRY(L, dc_sim_survey_new(&c, &u->s));
    return 1;
}

static int l_survey_count(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)check_survey(L, 1)->n_clusters);
    return 1;
}

/* survey:clusters() -> array of cluster tables (truth, all of them) */
static int l_survey_clusters(lua_State *L)
{
    dc_sim_survey *s = check_survey(L, 1);
    push_clusters(L, s->clusters, s->n_clusters);
    return 1;
}

/* survey:write_catalog(path, style): style "whl12", "redmapper" or "truth"; the path's ending
 * picks the format (.csv, .reg, else FITS) */
static int l_survey_write_catalog(lua_State *L)
{
    dc_sim_survey *s = check_survey(L, 1);
    const char *path = luaL_checkstring(L, 2);
    static const char *const styles[] = {"whl12", "redmapper", "truth", NULL};
    int style = luaL_checkoption(L, 3, "whl12", styles);
    dc_catalog *c = NULL;
    DC_LUA_TRY(L, dc_sim_survey_catalog(s, (dc_sim_catalog_style)style, &c));
    size_t n = strlen(path);
    dc_status st;
    if (n >= 4 && strcmp(path + n - 4, ".csv") == 0) st = dc_catalog_write_csv(c, path);
    else if (n >= 4 && strcmp(path + n - 4, ".reg") == 0) {
        dc_ds9_style ds = {.ra_col = style == 0 ? "RAJ2000" : style == 1 ? "RA" : "ra",
                           .dec_col = style == 0 ? "DEJ2000" : style == 1 ? "DEC" : "dec",
                           .radius_arcsec = 60, .text_col = style == 0 ? "WHL" : style == 1 ? "NAME" : "id"};
        st = dc_catalog_write_ds9(c, path, &ds);
    } else st = dc_catalog_write_fits(c, path, NULL);
    long rows = c->nrows;
    dc_catalog_free(c);
    DC_LUA_TRY(L, st);
    lua_pushinteger(L, rows);
    return 1;
}

/* survey:field(cfg, ra, dec [, key]) -> field centred on (ra, dec) */
static int l_survey_field(lua_State *L)
{
    dc_sim_survey *s = check_survey(L, 1);
    dc_sim_field_config c;
    read_field_config(L, 2, &c, 0);
    double ra = luaL_checknumber(L, 3), dec = luaL_checknumber(L, 4);
    uint64_t key = (uint64_t)luaL_optinteger(L, 5, 0);
    lfield *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->f = NULL;
    luaL_setmetatable(L, FIELD_KEY);
    DC_LUA_TRY(L, dc_sim_survey_field(s, &c, ra, dec, key, &u->f));
    return 1;
}

/* survey:confounders(cfg, ra_min, ra_max, dec_min, dec_max) -> array of {kind = "lrg"|"pair"|
 * "compact_group"|"foreground"|"background"|"poor", id, ra, dec, z, n200, n_members}: the
 * confounders survey:field(cfg, ...) renders in that region (cfg: the same keys; only the
 * confounder rates matter), without rendering */
static int l_survey_confounders(lua_State *L)
{
    dc_sim_survey *s = check_survey(L, 1);
    dc_sim_field_config c;
    read_field_config(L, 2, &c, 0);
    double r0 = luaL_checknumber(L, 3), r1 = luaL_checknumber(L, 4), d0 = luaL_checknumber(L, 5),
           d1 = luaL_checknumber(L, 6);
    dc_sim_confounder *v = NULL;
    size_t n = 0;
    DC_LUA_TRY(L, dc_sim_survey_confounders(s, &c, r0, r1, d0, d1, &v, &n));
    lua_createtable(L, (int)n, 0);
    for (size_t k = 0; k < n; k++) {
        lua_createtable(L, 0, 7);
        lua_pushstring(L, dc_sim_confounder_kind_name(v[k].kind));
        lua_setfield(L, -2, "kind");
        lua_pushinteger(L, v[k].id);
        lua_setfield(L, -2, "id");
        lua_pushinteger(L, v[k].n_members);
        lua_setfield(L, -2, "n_members");
        const struct { const char *k; double x; } fv[] = {{"ra", v[k].ra}, {"dec", v[k].dec}, {"z", v[k].z},
                                                          {"n200", v[k].n200}};
        for (size_t j = 0; j < sizeof fv / sizeof fv[0]; j++) {
            lua_pushnumber(L, fv[j].x);
            lua_setfield(L, -2, fv[j].k);
        }
        lua_rawseti(L, -2, (lua_Integer)k + 1);
    }
    free(v);
    return 1;
}

static int l_survey_free(lua_State *L)
{
    lsurvey *u = luaL_checkudata(L, 1, SURVEY_KEY);
    dc_sim_survey_free(u->s);
    u->s = NULL;
    return 0;
}

static int l_survey_tostring(lua_State *L)
{
    lsurvey *u = luaL_checkudata(L, 1, SURVEY_KEY);
    if (!u->s) lua_pushliteral(L, "sim survey (freed)");
    else lua_pushfstring(L, "sim survey of %d clusters", (int)u->s->n_clusters);
    return 1;
}

/* deepcee.sim_defaults() -> {field = {...}, survey = {...}, confound_realistic = {...}}: the C
 * defaults, so scripts write none of their own, and the rates confounders = true and
 * artefacts = true set */
static int l_sim_defaults(lua_State *L)
{
    dc_sim_field_config f;
    dc_sim_field_config_default(&f);
    dc_sim_survey_config s;
    dc_sim_survey_config_default(&s);
    lua_createtable(L, 0, 2);
    lua_createtable(L, 0, 24);
    const struct { const char *k; double v; int integer; } ff[] = {
        {"width", f.width, 1}, {"height", f.height, 1}, {"ra", f.ra, 0}, {"dec", f.dec, 0},
        {"seed", (double)f.seed, 1}, {"seeing", f.seeing, 0}, {"camcol", f.camcol, 1}, {"r_limit", f.r_limit, 0},
        {"galaxy_density", f.galaxy_density, 0}, {"star_density", f.star_density, 0},
        {"n_clusters", f.n_clusters, 1}, {"z_min", f.z_min, 0}, {"z_max", f.z_max, 0}, {"n200_min", f.n200_min, 0},
        {"n200_max", f.n200_max, 0}, {"groups", f.groups, 0}, {"nearby_galaxies", f.nearby_galaxies, 0},
        {"bright_stars", f.bright_stars, 0}, {"saturation", f.saturation_dn, 0}};
    for (size_t k = 0; k < sizeof ff / sizeof ff[0]; k++) {
        if (ff[k].integer) lua_pushinteger(L, (lua_Integer)ff[k].v);
        else lua_pushnumber(L, ff[k].v);
        lua_setfield(L, -2, ff[k].k);
    }
    lua_pushboolean(L, f.noise);
    lua_setfield(L, -2, "noise");
    /* confounders and artefacts: off (0) by default; confound_realistic: what the shorthands set */
    dc_sim_confound_config real = {0};
    dc_sim_confound_realistic(&real);
    dc_sim_artefacts_realistic(&real);
    const struct { const char *k; double v, r; } cf[] = {
        {"lrgs", f.confound.lrgs, real.lrgs}, {"pairs", f.confound.pairs, real.pairs},
        {"compact_groups", f.confound.compact_groups, real.compact_groups},
        {"foreground_groups", f.confound.foreground_groups, real.foreground_groups},
        {"background_clusters", f.confound.background_clusters, real.background_clusters},
        {"failed_cut_clusters", f.confound.failed_cut_clusters, real.failed_cut_clusters},
        {"star_spikes", f.confound.star_spikes, real.star_spikes},
        {"satellite_trails", f.confound.satellite_trails, real.satellite_trails},
        {"masked_stripes", f.confound.masked_stripes, real.masked_stripes},
        {"edge_mask", f.confound.edge_mask, real.edge_mask}, {"gradients", f.confound.gradients, real.gradients}};
    for (size_t k = 0; k < sizeof cf / sizeof cf[0]; k++) {
        lua_pushnumber(L, cf[k].v);
        lua_setfield(L, -2, cf[k].k);
    }
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "confounders");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "artefacts");
    push_model(L, &f.model);
    lua_setfield(L, -2, "model");
    push_vary(L, &f.vary);
    lua_setfield(L, -2, "vary");
    lua_setfield(L, -2, "field");
    lua_createtable(L, 0, 11);
    for (size_t k = 0; k < sizeof cf / sizeof cf[0]; k++) {
        lua_pushnumber(L, cf[k].r);
        lua_setfield(L, -2, cf[k].k);
    }
    lua_setfield(L, -2, "confound_realistic");
    lua_createtable(L, 0, 12);
    const struct { const char *k; double v; } sf[] = {
        {"ra_min", s.ra_min}, {"ra_max", s.ra_max}, {"dec_min", s.dec_min}, {"dec_max", s.dec_max}, {"z_min", s.z_min},
        {"z_max", s.z_max}, {"n200_min", s.n200_min}, {"n200_max", s.n200_max}, {"n200_slope", s.n200_slope},
        {"density", s.density}};
    for (size_t k = 0; k < sizeof sf / sizeof sf[0]; k++) {
        lua_pushnumber(L, sf[k].v);
        lua_setfield(L, -2, sf[k].k);
    }
    lua_pushinteger(L, (lua_Integer)s.seed);
    lua_setfield(L, -2, "seed");
    push_model(L, &s.model);
    lua_setfield(L, -2, "model");
    push_vary(L, &s.vary);
    lua_setfield(L, -2, "vary");
    lua_setfield(L, -2, "survey");
    return 1;
}

void dc_lua_open_sim(lua_State *L)
{
    static const luaL_Reg fmeta[] = {{"__gc", l_field_free}, {"__close", l_field_free},
                                     {"__tostring", l_field_tostring}, {"__index", NULL}, {NULL, NULL}};
    static const luaL_Reg fmethods[] = {{"clusters", l_field_clusters}, {"info", l_field_info},
                                        {"artefacts", l_field_artefacts},
                                        {"write", l_field_write}, {"composite", l_field_composite},
                                        {"free", l_field_free}, {NULL, NULL}};
    static const luaL_Reg smeta[] = {{"__gc", l_survey_free}, {"__close", l_survey_free},
                                     {"__tostring", l_survey_tostring}, {"__index", NULL}, {NULL, NULL}};
    static const luaL_Reg smethods[] = {{"count", l_survey_count}, {"clusters", l_survey_clusters},
                                        {"write_catalog", l_survey_write_catalog}, {"field", l_survey_field},
                                        {"confounders", l_survey_confounders},
                                        {"free", l_survey_free}, {NULL, NULL}};
    luaL_newmetatable(L, FIELD_KEY);
    luaL_setfuncs(L, fmeta, 0);
    luaL_newlib(L, fmethods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newmetatable(L, SURVEY_KEY);
    luaL_setfuncs(L, smeta, 0);
    luaL_newlib(L, smethods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    lua_pushcfunction(L, l_sim_field);
    lua_setfield(L, -2, "sim_field");
    lua_pushcfunction(L, l_sim_survey);
    lua_setfield(L, -2, "sim_survey");
    lua_pushcfunction(L, l_sim_defaults);
    lua_setfield(L, -2, "sim_defaults");
}
