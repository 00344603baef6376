/* Survey mode: a sky region with a cluster population, its mock catalogues (WHL12 or redMaPPer
 * columns), and fields rendered on demand anywhere in it. Every cluster's members come from
 * (seed, id) and the field population from (seed, sky cell), so any cut-out is reproducible and
 * neighbouring cut-outs agree. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_impl.h"

enum { TAG_SURVEY = 101, TAG_CATALOG, TAG_FIELD };
#define CELL_DEG 0.2 /* sky cells of the field population */

void dc_sim_survey_config_default(dc_sim_survey_config *c)
{
    memset(c, 0, sizeof *c);
    c->seed = 1;
    c->ra_min = 140;
    c->ra_max = 240;
    c->dec_min = -5;
    c->dec_max = 25;
    c->z_min = 0.05;
    c->z_max = 0.45;
    c->n200_min = 5;
    c->n200_max = 300;
    c->n200_slope = 2.6;
    /* 4e-5 Mpc^-3 above N200 = 5 gives ~1.9e-5 above N200 = 8 (WHL12's ~9 clusters per deg^2 at
     * z < 0.42) and ~0.2 per deg^2 with N200 >= 20 at 0.1 < z < 0.2 */
    c->density = 4e-5;
    dc_sim_cluster_model_default(&c->model);
    dc_sim_vary_default(&c->vary);
}

static dc_status survey_check(const dc_sim_survey_config *c)
{
    DC_CHECK_ARG(c->ra_min >= 0 && c->ra_max <= 360 && c->ra_max > c->ra_min,
                 "sim survey: RA range [%g, %g] must satisfy 0 <= min < max <= 360", c->ra_min, c->ra_max);
    DC_CHECK_ARG(c->dec_min >= -85 && c->dec_max <= 85 && c->dec_max > c->dec_min,
                 "sim survey: Dec range [%g, %g] must satisfy -85 <= min < max <= 85", c->dec_min, c->dec_max);
    DC_CHECK_ARG(c->z_min > 0.005 && c->z_max > c->z_min && c->z_max < 1.5,
                 "sim survey: z range [%g, %g] must satisfy 0.005 < min < max < 1.5", c->z_min, c->z_max);
    DC_CHECK_ARG(c->n200_min >= 1 && c->n200_max > c->n200_min && c->n200_slope > 1,
                 "sim survey: N200 range [%g, %g] and slope %g need 1 <= min < max, slope > 1",
                 c->n200_min, c->n200_max, c->n200_slope);
    DC_CHECK_ARG(c->density >= 0 && c->density < 1e-2, "sim survey: density %g Mpc^-3 outside [0, 0.01)", c->density);
    DC_CHECK_ARG(c->model.h0 > 0 && c->model.om > 0 && c->model.om <= 1,
                 "sim survey: cosmology h0 %g, om %g out of range", c->model.h0, c->model.om);
    DC_CHECK_ARG(fabs(c->model.rs_offset) <= 0.5, "sim survey: model.rs_offset %g outside -0.5..0.5", c->model.rs_offset);
    if (c->vary.enabled) DC_TRY(dc_sim_vary_check(&c->vary));
    return DC_STATUS_OK;
}

/* dV/dz per steradian, Mpc^3: D_C^2 c / H(z) */
static double dvdz(const sim_cosmo *cz, double z)
{
    double da = sim_cosmo_kpc(cz, z) * 206264.806 / 1000, dc = da * (1 + z);
    return dc * dc * 299792.458 / (cz->h0 * sqrt(cz->om * pow(1 + z, 3) + 1 - cz->om));
}

dc_status dc_sim_survey_new(const dc_sim_survey_config *cfg, dc_sim_survey **out)
{
    *out = NULL;
    DC_TRY(survey_check(cfg));
    const sim_cosmo *cz = sim_cosmo_get(cfg->model.h0, cfg->model.om);
    double d2r = M_PI / 180;
    double sr = (cfg->ra_max - cfg->ra_min) * d2r * (sin(cfg->dec_max * d2r) - sin(cfg->dec_min * d2r));
    /* volume and the largest dV/dz on the range (for rejection sampling) */
    int steps = 400;
    double vol = 0, wmax = 0, dz = (cfg->z_max - cfg->z_min) / steps;
    for (int k = 0; k < steps; k++) {
        double w = dvdz(cz, cfg->z_min + (k + 0.5) * dz);
        vol += w * dz;
        wmax = fmax(wmax, w);
    }
    wmax = fmax(wmax, dvdz(cz, cfg->z_max)) * 1.01;
    dc_rng rng;
    sim_rng_for(&rng, cfg->seed, TAG_SURVEY, 0);
    double mean = cfg->density * vol * sr;
    DC_CHECK_ARG(mean < 2e6, "sim survey: %.0f clusters expected; shrink the region or the density", mean);
    size_t n = (size_t)dc_rng_poisson(&rng, mean);
    dc_sim_survey *s = calloc(1, sizeof *s);
    if (!s) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "sim survey");
    s->cfg = *cfg;
    s->clusters = calloc(n ? n : 1, sizeof *s->clusters);
    if (!s->clusters) {
        free(s);
        return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "sim survey: %zu clusters", n);
    }
    s->n_clusters = n;
    double s0 = sin(cfg->dec_min * d2r), s1 = sin(cfg->dec_max * d2r);
    double a = pow(cfg->n200_min, 1 - cfg->n200_slope), b = pow(cfg->n200_max, 1 - cfg->n200_slope);
    sim_objects scratch = {0};
    dc_status st = DC_STATUS_OK;
    for (size_t k = 0; k < n && st == DC_STATUS_OK; k++) {
        dc_sim_cluster *c = &s->clusters[k];
        c->id = (int64_t)k + 1;
        c->ra = cfg->ra_min + (cfg->ra_max - cfg->ra_min) * dc_rng_uniform(&rng);
        c->dec = asin(s0 + (s1 - s0) * dc_rng_uniform(&rng)) / d2r;
        do c->z = cfg->z_min + (cfg->z_max - cfg->z_min) * dc_rng_uniform(&rng);
        while (dc_rng_uniform(&rng) * wmax > dvdz(cz, c->z));
        c->n200_mean = pow(a + (b - a) * dc_rng_uniform(&rng), 1 / (1 - cfg->n200_slope));
        /* members only to fill the realised quantities; fields regenerate them identically */
        dc_rng mr;
        sim_rng_for(&mr, cfg->seed, (uint64_t)c->id, SIM_TAG_MEMBERS);
        scratch.n = 0;
        st = sim_cluster_members_vary(c, &cfg->model, &cfg->vary, cz, &mr, &scratch);
    }
    sim_objects_free(&scratch);
    if (st != DC_STATUS_OK) {
        dc_sim_survey_free(s);
        return st;
    }
    *out = s;
    return DC_STATUS_OK;
}

void dc_sim_survey_free(dc_sim_survey *s)
{
    if (!s) return;
    free(s->clusters);
    free(s);
}

/* "J123456.7+123456" from a position */
static void iau_name(double ra, double dec, char *buf, size_t size)
{
    double h = ra / 15;
    int hh = (int)h, mm = (int)((h - hh) * 60);
    double ss = ((h - hh) * 60 - mm) * 60;
    if (ss >= 59.95) ss = 59.9;
    double ad = fabs(dec);
    int dd = (int)ad, dm = (int)((ad - dd) * 60), ds = (int)(((ad - dd) * 60 - dm) * 60);
    snprintf(buf, size, "J%02d%02d%04.1f%c%02d%02d%02d", hh, mm, ss, dec < 0 ? '-' : '+', dd, dm, ds);
}

typedef struct { const char *name, *unit; } colspec;

dc_status dc_sim_survey_catalog(const dc_sim_survey *s, dc_sim_catalog_style style, dc_catalog **out)
{
    *out = NULL;
    DC_CHECK_ARG(style >= DC_SIM_CATALOG_STYLE_WHL12 && style <= DC_SIM_CATALOG_STYLE_TRUTH,
                 "sim survey catalogue: unknown style %d", (int)style);
    /* rows the real catalogue would list */
    size_t *rows = malloc((s->n_clusters ? s->n_clusters : 1) * sizeof *rows), nr = 0;
    if (!rows) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "sim survey catalogue");
    for (size_t k = 0; k < s->n_clusters; k++) {
        const dc_sim_cluster *c = &s->clusters[k];
        int keep = style == DC_SIM_CATALOG_STYLE_TRUTH ||
                   (style == DC_SIM_CATALOG_STYLE_WHL12 && c->n200 >= 8) ||
                   (style == DC_SIM_CATALOG_STYLE_REDMAPPER && c->lambda >= 20 && c->z > 0.08 && c->z < 0.6);
        if (keep) rows[nr++] = k;
    }
    static const colspec whl[] = {{"RAJ2000", "deg"}, {"DEJ2000", "deg"}, {"zph", ""}, {"zsp", ""}, {"r200", "Mpc"},
                                  {"RL*", ""}, {"N200", ""}, {"rmag", "mag"}, {"sim_id", ""}};
    static const colspec rm[] = {{"RA", "deg"}, {"DEC", "deg"}, {"Z_LAMBDA", ""}, {"Z_LAMBDA_ERR", ""},
                                 {"LAMBDA", ""}, {"LAMBDA_ERR", ""}, {"IMAG", "mag"}, {"MODEL_MAG_G", "mag"},
                                 {"MODEL_MAG_R", "mag"}, {"MODEL_MAG_I", "mag"}, {"P_CEN", ""}, {"RA_CEN", "deg"},
                                 {"DEC_CEN", "deg"}, {"sim_id", ""}};
    static const colspec tr[] = {{"ra", "deg"}, {"dec", "deg"}, {"z", ""}, {"richness", ""}, {"n200", ""},
                                 {"r200", "Mpc"}, {"bcg_rmag", "mag"}, {"bcg_ra", "deg"}, {"bcg_dec", "deg"},
                                 {"m200", "solMass"}, {"c200", ""}, {"rl", ""}, {"sim_id", ""}};
    const colspec *cols = style == DC_SIM_CATALOG_STYLE_WHL12 ? whl : style == DC_SIM_CATALOG_STYLE_REDMAPPER ? rm : tr;
    int ncols = style == DC_SIM_CATALOG_STYLE_WHL12 ? 9 : style == DC_SIM_CATALOG_STYLE_REDMAPPER ? 14 : 13;
    dc_catalog *cat = NULL;
    dc_status st = dc_catalog_new(&cat, (long)nr);
    char **names = calloc(nr ? nr : 1, sizeof *names), **other = calloc(nr ? nr : 1, sizeof *other);
    char *buf = malloc((nr ? nr : 1) * 64);
    if (st == DC_STATUS_OK && !(names && other && buf)) st = DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "sim survey catalogue");
    double *v[16] = {0};
    for (int j = 0; j < ncols && st == DC_STATUS_OK; j++) st = dc_catalog_add_double(cat, cols[j].name, cols[j].unit, NULL, &v[j]);
    for (size_t r = 0; r < nr && st == DC_STATUS_OK; r++) {
        const dc_sim_cluster *c = &s->clusters[rows[r]];
        dc_rng rng; /* per cluster, so a row does not depend on which others are listed */
        sim_rng_for(&rng, s->cfg.seed, TAG_CATALOG, (uint64_t)c->id);
        names[r] = buf + 64 * r;
        other[r] = buf + 64 * r + 40;
        other[r][0] = 0;
        double gr, ri;
        dc_sim_red_sequence(c->z, &gr, &ri);
        if (style == DC_SIM_CATALOG_STYLE_WHL12) {
            iau_name(c->ra, c->dec, names[r], 40);
            double zph = c->z + 0.018 * (1 + c->z) * dc_rng_normal(&rng);
            int spec = dc_rng_uniform(&rng) < 0.75; /* BCG spectroscopy for most */
            /* rich low-z clusters are mostly Abell clusters */
            double pa = c->z < 0.25 ? 1 - exp(-pow(c->n200 / 35.0, 2)) : 0;
            if (dc_rng_uniform(&rng) < pa) snprintf(other[r], 24, "A%04d", 1 + (int)((c->id * 7919) % 4076));
            const double vals[] = {c->ra, c->dec, round(zph * 1e4) / 1e4, spec ? c->z : NAN, c->r200, c->rl,
                                   c->n200, c->bcg_rmag, (double)c->id};
            for (int j = 0; j < ncols; j++) v[j][r] = vals[j];
        } else if (style == DC_SIM_CATALOG_STYLE_REDMAPPER) {
            names[r][0] = 'R';
            names[r][1] = 'M';
            iau_name(c->ra, c->dec, names[r] + 2, 38);
            double zl = c->z + 0.01 * (1 + c->z) * dc_rng_normal(&rng);
            double lam = fmax(c->lambda + sqrt(c->lambda) * 0.3 * dc_rng_normal(&rng), 1);
            const double vals[] = {c->ra, c->dec, zl, 0.01 * (1 + c->z), lam, sqrt(lam), c->bcg_rmag - ri,
                                   c->bcg_rmag + gr, c->bcg_rmag, c->bcg_rmag - ri, 1.0, c->ra, c->dec,
                                   (double)c->id};
            for (int j = 0; j < ncols; j++) v[j][r] = vals[j];
        } else {
            snprintf(names[r], 40, "%lld", (long long)c->id);
            const double vals[] = {c->ra, c->dec, c->z, c->lambda, c->n200, c->r200, c->bcg_rmag, c->ra,
                                   c->dec, c->m200, c->c200, c->rl, (double)c->id};
            for (int j = 0; j < ncols; j++) v[j][r] = vals[j];
        }
    }
    if (st == DC_STATUS_OK) {
        const char *idname = style == DC_SIM_CATALOG_STYLE_WHL12 ? "WHL" : style == DC_SIM_CATALOG_STYLE_REDMAPPER ? "NAME" : "id";
        st = dc_catalog_add_string(cat, idname, (const char *const *)names);
    }
    if (st == DC_STATUS_OK && style == DC_SIM_CATALOG_STYLE_WHL12)
        st = dc_catalog_add_string(cat, "Other", (const char *const *)other);
    if (st == DC_STATUS_OK && style == DC_SIM_CATALOG_STYLE_REDMAPPER) {
        double *idv;
        st = dc_catalog_add_double(cat, "ID", "", NULL, &idv);
        for (size_t r = 0; r < nr && st == DC_STATUS_OK; r++) idv[r] = (double)(r + 1);
    }
    free(rows);
    free(names);
    free(other);
    free(buf);
    if (st != DC_STATUS_OK) {
        dc_catalog_free(cat);
        return st;
    }
    *out = cat;
    return DC_STATUS_OK;
}

dc_status dc_sim_survey_field(const dc_sim_survey *s, const dc_sim_field_config *cfg, double ra,
                              double dec, uint64_t key, dc_sim_field **out)
{
    *out = NULL;
    dc_sim_field_config c = *cfg;
    c.ra = ra;
    c.dec = dec;
    c.model = s->cfg.model;
    c.clusters = NULL;
    c.n_given = 0;
    dc_rng krng;
    sim_rng_for(&krng, s->cfg.seed, TAG_FIELD, key);
    dc_sim_field *f;
    DC_TRY(sim_field_alloc(&c, dc_rng_next(&krng), &f));
    f->cluster_vary = s->cfg.vary; /* the survey's clusters look as its catalogue says */
    sim_objects objs = {0};
    sim_clusters cl = {0};
    dc_status st = DC_STATUS_OK;
    const double margin = 64, d2r = M_PI / 180;
    /* clusters whose members (out to 2 R200) can reach the field */
    double half = 0.5 * hypot(f->width, f->height) * DC_SIM_PIXEL_SCALE / 3600;
    const sim_cosmo *cz = sim_cosmo_get(s->cfg.model.h0, s->cfg.model.om);
    for (size_t k = 0; k < s->n_clusters && st == DC_STATUS_OK; k++) {
        const dc_sim_cluster *q = &s->clusters[k];
        if (fabs(q->dec - dec) > 3) continue;
        double cosd = sin(q->dec * d2r) * sin(dec * d2r) + cos(q->dec * d2r) * cos(dec * d2r) * cos((q->ra - ra) * d2r);
        double sep = acos(fmin(1, fmax(-1, cosd))) / d2r;
        double reach = 2 * q->r200 * 1000 / sim_cosmo_kpc(cz, q->z) / 3600;
        if (sep > half + reach) continue;
        dc_sim_cluster seedc = {.id = q->id, .ra = q->ra, .dec = q->dec, .z = q->z, .n200_mean = q->n200_mean, .kind = q->kind};
        st = sim_field_add_cluster(f, &seedc, &s->cfg.model, s->cfg.seed, &objs, &cl);
    }
    /* the field population of every sky cell the field (with margin) touches */
    double xs[8] = {-margin, f->width + margin, -margin, f->width + margin, 0.5 * f->width, 0.5 * f->width, -margin, f->width + margin};
    double ys[8] = {-margin, -margin, f->height + margin, f->height + margin, -margin, f->height + margin, 0.5 * f->height, 0.5 * f->height};
    double ras[8], decs[8];
    if (st == DC_STATUS_OK) st = dc_wcs_pix2world(f->wcs, 8, xs, ys, ras, decs);
    if (st == DC_STATUS_OK) {
        double rlo = 1e9, rhi = -1e9, dlo = 90, dhi = -90;
        for (int k = 0; k < 8; k++) {
            double r = ras[k] - ra > 180 ? ras[k] - 360 : ras[k] - ra < -180 ? ras[k] + 360 : ras[k];
            rlo = fmin(rlo, r);
            rhi = fmax(rhi, r);
            dlo = fmin(dlo, decs[k]);
            dhi = fmax(dhi, decs[k]);
        }
        for (long j = (long)floor((dlo + 90) / CELL_DEG); j <= (long)floor((dhi + 90) / CELL_DEG) && st == DC_STATUS_OK; j++)
            for (long i = (long)floor(rlo / CELL_DEG); i <= (long)floor(rhi / CELL_DEG) && st == DC_STATUS_OK; i++) {
                long iw = ((i % 1800) + 1800) % 1800; /* wrap RA */
                sim_region g = {.pixel = 0, .ra0 = iw * CELL_DEG, .ra1 = (iw + 1) * CELL_DEG,
                                .dec0 = j * CELL_DEG - 90, .dec1 = (j + 1) * CELL_DEG - 90};
                g.area = CELL_DEG * (sin(g.dec1 * d2r) - sin(g.dec0 * d2r)) / d2r;
                size_t before = objs.n;
                st = sim_field_populate(f, &g, &c, s->cfg.seed, (uint64_t)(iw * 1000 + j), &objs);
                /* keep only what can touch the image */
                size_t w = before;
                for (size_t k = before; k < objs.n && st == DC_STATUS_OK; k++) {
                    const dc_sim_object *o = &objs.v[k];
                    if (o->x >= -margin && o->y >= -margin && o->x <= f->width + margin && o->y <= f->height + margin)
                        objs.v[w++] = *o;
                }
                objs.n = w;
            }
        /* confounders from the cells within their reach, each from (survey seed, cell) like the
         * population, so overlapping cut-outs agree */
        if (sim_confound_any(&c.confound)) {
            double rr = SIM_CONFOUND_REACH_DEG, cosd = cos(fmin(89, fmax(fabs(dlo), fabs(dhi)) + rr) * d2r);
            long j0 = (long)floor((fmax(dlo - rr, -90) + 90) / CELL_DEG), j1 = (long)floor((fmin(dhi + rr, 89.999) + 90) / CELL_DEG);
            long i0 = (long)floor((rlo - rr / cosd) / CELL_DEG), i1 = (long)floor((rhi + rr / cosd) / CELL_DEG);
            if (i1 - i0 >= 1800) i1 = i0 + 1799; /* near a pole: every RA cell once */
            for (long j = j0; j <= j1 && st == DC_STATUS_OK; j++)
                for (long i = i0; i <= i1 && st == DC_STATUS_OK; i++) {
                    long iw = ((i % 1800) + 1800) % 1800;
                    sim_region g = {.pixel = 0, .ra0 = iw * CELL_DEG, .ra1 = (iw + 1) * CELL_DEG,
                                    .dec0 = j * CELL_DEG - 90, .dec1 = (j + 1) * CELL_DEG - 90};
                    g.area = CELL_DEG * (sin(g.dec1 * d2r) - sin(g.dec0 * d2r)) / d2r;
                    st = sim_confound_populate(f, &g, &c, s->cfg.seed, (uint64_t)(iw * 1000 + j), &objs, &cl);
                }
        }
    }
    if (st == DC_STATUS_OK) st = sim_field_finish(f, &c, &objs, &cl);
    sim_objects_free(&objs);
    free(cl.v);
    if (st != DC_STATUS_OK) {
        dc_sim_field_free(f);
        return st;
    }
    *out = f;
    return DC_STATUS_OK;
}

dc_status dc_sim_survey_confounders(const dc_sim_survey *s, const dc_sim_field_config *cfg, double ra_min,
                                    double ra_max, double dec_min, double dec_max, dc_sim_confounder **out,
                                    size_t *n)
{
    *out = NULL;
    *n = 0;
    DC_CHECK_ARG(ra_min >= 0 && ra_max <= 360 && ra_min < ra_max && dec_min >= -90 && dec_max <= 90 && dec_min < dec_max,
                 "sim survey confounders: region RA [%g, %g), Dec [%g, %g) must satisfy 0 <= RA min < max <= 360, "
                 "-90 <= Dec min < max <= 90", ra_min, ra_max, dec_min, dec_max);
    DC_TRY(sim_confound_check(&cfg->confound));
    dc_sim_field_config c = *cfg;
    c.model = s->cfg.model; /* as dc_sim_survey_field */
    const double d2r = M_PI / 180;
    sim_confounders list = {0};
    dc_status st = DC_STATUS_OK;
    long j0 = (long)floor((dec_min + 90) / CELL_DEG), j1 = (long)floor((fmin(dec_max, 89.999) + 90) / CELL_DEG);
    long i0 = (long)floor(ra_min / CELL_DEG), i1 = (long)floor(fmin(ra_max, 359.999) / CELL_DEG);
    for (long j = j0; j <= j1 && st == DC_STATUS_OK; j++)
        for (long i = i0; i <= i1 && st == DC_STATUS_OK; i++) {
            /* the cell, its key and its area exactly as dc_sim_survey_field builds them */
            sim_region g = {.pixel = 0, .ra0 = i * CELL_DEG, .ra1 = (i + 1) * CELL_DEG,
                            .dec0 = j * CELL_DEG - 90, .dec1 = (j + 1) * CELL_DEG - 90};
            g.area = CELL_DEG * (sin(g.dec1 * d2r) - sin(g.dec0 * d2r)) / d2r;
            size_t before = list.n;
            st = sim_confound_list(&g, &c, s->cfg.seed, (uint64_t)(i * 1000 + j), &list);
            size_t w = before; /* keep the region's */
            for (size_t k = before; k < list.n; k++) {
                const dc_sim_confounder *q = &list.v[k];
                if (q->ra >= ra_min && q->ra < ra_max && q->dec >= dec_min && q->dec < dec_max) list.v[w++] = *q;
            }
            list.n = w;
        }
    if (st != DC_STATUS_OK || list.n == 0) {
        free(list.v);
        return st;
    }
    *out = list.v;
    *n = list.n;
    return DC_STATUS_OK;
}
