/* One simulated field: observing conditions, the objects in it (clusters first), rendering,
 * exposure, and the files a user gets (three FITS images, truth catalogue, PNG preview). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sim/sim_impl.h"

/* Stream tags: each random choice of a field draws from its own stream. */
enum { TAG_COND = 1, TAG_CLUSTERS, TAG_GROUPS, TAG_GALAXIES, TAG_STARS, TAG_NEARBY, TAG_BRIGHT, TAG_NOISE,
       TAG_VARY, TAG_POPVARY };

/* The ranges of docs/simulated-sky.md (sources there); written here once. */
void dc_sim_vary_default(dc_sim_vary *v)
{
    memset(v, 0, sizeof *v);
    const struct { double *p; double lo, hi; } pairs[] = {
        {v->seeing, 0.8, 2.0}, {v->beta, 2.5, 5.0}, {v->psf_e, 0, 0.1}, {v->wing_frac, 0.01, 0.05},
        {v->wing_scale, 3, 5}, {v->sky, -0.5, 0.5}, {v->depth, -0.5, 0.5}, {v->lf_mstar, -0.2, 0.2},
        {v->lf_alpha, -0.15, 0.15}, {v->size_scale, 0.85, 1.15}, {v->red_fraction, 0.75, 1.25},
        {v->colour, -0.04, 0.04}, {v->rs_offset, -0.04, 0.04}, {v->rs_slope, -0.04, -0.02},
        {v->rs_scatter, 0.02, 0.08}, {v->cluster_q, 0.5, 1.0}, {v->gap_small_mag, 0.02, 0.3},
        {v->gap_fossil_mag, 1.5, 2.2}, {v->miscentre_kpc, 50, 300}, {v->bimodal_frac, 0.2, 0.5},
        {v->bimodal_kpc, 200, 600}};
    for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
        pairs[k].p[0] = pairs[k].lo;
        pairs[k].p[1] = pairs[k].hi;
    }
    v->sky_colour = 0.05;
    v->zp = 0.02;
    v->gain = 0.05;
    v->darkvar = 0.2;
    v->c_scatter = 0.13;
    v->gap_small = 0.2;
    v->gap_fossil = 0.1;
    v->miscentre = 0.25;
    v->bimodal = 0.15;
}

dc_status dc_sim_vary_check(const dc_sim_vary *v)
{
    const struct { const char *name; const double *p; double lo, hi; } pairs[] = {
        {"seeing", v->seeing, 0.3, 5}, {"beta", v->beta, 2.5, 5}, {"psf_e", v->psf_e, 0, 0.5},
        {"wing_frac", v->wing_frac, 0, 0.2}, {"wing_scale", v->wing_scale, 1.5, 10}, {"sky", v->sky, -3, 3},
        {"depth", v->depth, -3, 3}, {"lf_mstar", v->lf_mstar, -2, 2}, {"lf_alpha", v->lf_alpha, -1, 1},
        {"size_scale", v->size_scale, 0.2, 5}, {"red_fraction", v->red_fraction, 0, 2.5},
        {"colour", v->colour, -0.5, 0.5}, {"rs_offset", v->rs_offset, -0.5, 0.5},
        {"rs_slope", v->rs_slope, -0.2, 0.1}, {"rs_scatter", v->rs_scatter, 0, 0.3},
        {"cluster_q", v->cluster_q, 0.1, 1}, {"gap_small_mag", v->gap_small_mag, 0, 0.3},
        {"gap_fossil_mag", v->gap_fossil_mag, 1, 4}, {"miscentre_kpc", v->miscentre_kpc, 0, 2000},
        {"bimodal_frac", v->bimodal_frac, 0, 0.9}, {"bimodal_kpc", v->bimodal_kpc, 0, 3000}};
    for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++)
        DC_CHECK_ARG(pairs[k].p[0] <= pairs[k].p[1] && pairs[k].p[0] >= pairs[k].lo && pairs[k].p[1] <= pairs[k].hi,
                     "sim vary: %s = {%g, %g} must be {lo, hi} with %g <= lo <= hi <= %g", pairs[k].name,
                     pairs[k].p[0], pairs[k].p[1], pairs[k].lo, pairs[k].hi);
    const struct { const char *name; double v, lo, hi; } one[] = {
        {"sky_colour", v->sky_colour, 0, 0.5}, {"sky_offset", v->sky_offset, -3, 3},
        {"depth_offset", v->depth_offset, -3, 3}, {"zp", v->zp, 0, 0.2}, {"gain", v->gain, 0, 0.5},
        {"darkvar", v->darkvar, 0, 0.9}, {"c_scatter", v->c_scatter, 0, 0.5}, {"gap_small", v->gap_small, 0, 1},
        {"gap_fossil", v->gap_fossil, 0, 1}, {"miscentre", v->miscentre, 0, 1}, {"bimodal", v->bimodal, 0, 1}};
    for (size_t k = 0; k < sizeof one / sizeof one[0]; k++)
        DC_CHECK_ARG(one[k].v >= one[k].lo && one[k].v <= one[k].hi, "sim vary: %s = %g outside %g..%g",
                     one[k].name, one[k].v, one[k].lo, one[k].hi);
    DC_CHECK_ARG(v->gap_small + v->gap_fossil <= 1, "sim vary: gap_small %g + gap_fossil %g exceed 1",
                 v->gap_small, v->gap_fossil);
    return DC_STATUS_OK;
}

void dc_sim_field_config_default(dc_sim_field_config *c)
{
    memset(c, 0, sizeof *c);
    c->width = c->height = 2000;
    c->ra = 180;
    c->dec = 30;
    c->seed = 1;
    c->r_limit = 23.5;
    c->galaxy_density = c->star_density = 1;
    c->n_clusters = 2;
    c->z_min = 0.1;
    c->z_max = 0.2;
    c->n200_min = 20;
    c->n200_max = 80;
    c->groups = 30;
    c->nearby_galaxies = 6;
    c->bright_stars = 10;
    c->saturation_dn = 55000;
    c->noise = 1;
    dc_sim_cluster_model_default(&c->model);
    dc_sim_vary_default(&c->vary);
}

/* docs/facts.md 4: gains (e-/DN) and dark variances (DN^2) by camcol 1-6, nanomaggies per DN */
static const double gain_tab[3][6] = {{3.32, 3.855, 3.845, 3.995, 4.05, 4.035},
                                      {4.71, 4.6, 4.72, 4.76, 4.725, 4.895},
                                      {5.165, 6.565, 4.86, 4.885, 4.64, 4.76}};
static const double dark_tab[3][6] = {{15.6, 1.44, 1.32, 1.96, 1.10, 1.82},
                                      {1.82, 1.00, 1.32, 1.32, 0.81, 0.90},
                                      {7.84, 6.25, 4.62, 7.56, 7.84, 5.06}};
static const double nmgy_tab[3] = {0.0038, 0.0051, 0.0066};
/* median sky, mag/arcsec^2 (docs/facts.md 4): the fixed simulator's r median and g, i colours */
static const double sim_sky_median[3] = {20.86 + 0.94, 20.86, 20.86 - 0.66};

dc_status sim_field_check(const dc_sim_field_config *c)
{
    DC_CHECK_ARG(c->width >= 16 && c->height >= 16 && c->width <= 20000 && c->height <= 20000,
                 "sim field: size %dx%d outside 16..20000 pixels", c->width, c->height);
    DC_CHECK_ARG(c->dec > -89 && c->dec < 89 && c->ra >= 0 && c->ra < 360,
                 "sim field: centre (%g, %g) needs 0 <= ra < 360 and |dec| < 89", c->ra, c->dec);
    DC_CHECK_ARG(c->seeing == 0 || (c->seeing >= 0.3 && c->seeing <= 5),
                 "sim field: seeing %g arcsec outside 0.3..5 (0 draws it)", c->seeing);
    DC_CHECK_ARG(c->camcol >= 0 && c->camcol <= 6, "sim field: camcol %d outside 1..6 (0 draws it)", c->camcol);
    DC_CHECK_ARG(c->r_limit >= 15 && c->r_limit <= 26, "sim field: r_limit %g outside 15..26", c->r_limit);
    DC_CHECK_ARG(c->galaxy_density >= 0 && c->star_density >= 0 && c->groups >= 0 &&
                     c->nearby_galaxies >= 0 && c->bright_stars >= 0,
                 "sim field: densities must be >= 0");
    DC_CHECK_ARG(c->n_given >= 0 && (c->n_given == 0 || c->clusters), "sim field: %d clusters given without a list", c->n_given);
    DC_CHECK_ARG(c->n_clusters >= 0 && c->n_clusters <= 10000, "sim field: n_clusters %d outside 0..10000", c->n_clusters);
    DC_CHECK_ARG(c->z_min > 0.005 && c->z_max >= c->z_min && c->z_max < 2,
                 "sim field: cluster redshifts [%g, %g] must satisfy 0.005 < z_min <= z_max < 2", c->z_min, c->z_max);
    DC_CHECK_ARG(c->n200_min >= 1 && c->n200_max >= c->n200_min,
                 "sim field: cluster N200 range [%g, %g] must satisfy 1 <= min <= max", c->n200_min, c->n200_max);
    DC_CHECK_ARG(c->model.h0 > 0 && c->model.om > 0 && c->model.om <= 1 && c->model.blue_fraction >= 0 &&
                     c->model.blue_fraction <= 1 && c->model.bcg_sigma >= 0,
                 "sim field: cluster model out of range (h0 %g, om %g, blue_fraction %g, bcg_sigma %g)",
                 c->model.h0, c->model.om, c->model.blue_fraction, c->model.bcg_sigma);
    DC_CHECK_ARG(fabs(c->model.rs_offset) <= 0.5, "sim field: model.rs_offset %g outside -0.5..0.5", c->model.rs_offset);
    if (c->vary.enabled) DC_TRY(dc_sim_vary_check(&c->vary));
    return sim_confound_check(&c->confound);
}

static double uni(dc_rng *r, const double *lohi) { return lohi[0] + (lohi[1] - lohi[0]) * dc_rng_uniform(r); }
static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Conditions drawn from the vary ranges (own stream, so the fixed draws above are untouched). */
static void sim_field_vary(dc_sim_field *f, const dc_sim_field_config *cfg, uint64_t seed)
{
    const dc_sim_vary *v = &cfg->vary;
    dc_rng rng;
    sim_rng_for(&rng, seed, TAG_VARY, 0);
    /* seeing: log-normal about the range's geometric middle, clipped to the range */
    double lo = v->seeing[0], hi = v->seeing[1], see = sqrt(lo * hi) * exp(log(hi / lo) / 4 * dc_rng_normal(&rng));
    see = clampd(see, lo, hi);
    if (cfg->seeing > 0) see = cfg->seeing;
    double beta = dc_sim_moffat_beta_nearest(uni(&rng, v->beta));
    double e = uni(&rng, v->psf_e), pa = 180 * dc_rng_uniform(&rng);
    double wf = uni(&rng, v->wing_frac), ws = uni(&rng, v->wing_scale);
    /* sky: a common offset plus a little colour, clipped to the range about each median */
    double common = uni(&rng, v->sky);
    /* depth: 5-sigma limits move by d (sky-limited) when the exposure scales by 10^(0.8 d) */
    f->cond.depth = uni(&rng, v->depth) + v->depth_offset;
    f->cond.exposure_scale = pow(10, 0.8 * f->cond.depth);
    const double lambda_ratio[3] = {1.0564, 1.0, 0.9620};
    for (int b = 0; b < DC_SIM_NBANDS; b++) {
        dc_sim_band *p = &f->band[b];
        double off = clampd(common + v->sky_colour * dc_rng_normal(&rng), v->sky[0], v->sky[1]);
        p->sky_mag = sim_sky_median[b] + off + v->sky_offset;
        p->gain *= 1 + v->gain * (2 * dc_rng_uniform(&rng) - 1);
        p->darkvar *= 1 + v->darkvar * (2 * dc_rng_uniform(&rng) - 1);
        p->nmgy_per_dn /= f->cond.exposure_scale;
        f->cond.zp_scale[b] = 1 + v->zp * (2 * dc_rng_uniform(&rng) - 1);
        p->fwhm = see * lambda_ratio[b];
        dc_sim_psf *q = &f->cond.psf[b];
        q->fwhm = p->fwhm;
        q->beta = beta;
        q->e = e;
        q->pa = pa;
        q->wing_frac = wf;
        q->wing_scale = ws;
    }
}

dc_status sim_field_alloc(const dc_sim_field_config *cfg, uint64_t seed, dc_sim_field **out)
{
    *out = NULL;
    DC_TRY(sim_field_check(cfg));
    dc_sim_field *f = calloc(1, sizeof *f);
    if (!f) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "sim field: %zu bytes", sizeof *f);
    f->width = cfg->width;
    f->height = cfg->height;
    f->ra = cfg->ra;
    f->dec = cfg->dec;
    f->seed = seed;
    f->h0 = cfg->model.h0;
    f->om = cfg->model.om;
    f->saturation_dn = cfg->saturation_dn;
    /* conditions: seeing log-normal about 1.3" in r, scaled to g and i as lambda^-0.2;
     * sky varying about docs/facts.md's medians */
    dc_rng rng;
    sim_rng_for(&rng, seed, TAG_COND, 0);
    f->camcol = cfg->camcol ? cfg->camcol : 1 + (int)dc_rng_below(&rng, 6);
    double see = fmin(fmax(1.3 * exp(0.18 * dc_rng_normal(&rng)), 0.8), 2.4);
    if (cfg->seeing > 0) see = cfg->seeing;
    double sky_r = 20.86 + 0.15 * dc_rng_normal(&rng);
    double sky[3] = {sky_r + 0.94 + 0.05 * dc_rng_normal(&rng), sky_r, sky_r - 0.66 + 0.05 * dc_rng_normal(&rng)};
    const double lambda_ratio[3] = {1.0564, 1.0, 0.9620}; /* (lambda / 6165 A)^-0.2 for g, r, i */
    for (int b = 0; b < DC_SIM_NBANDS; b++) {
        f->band[b].sky_mag = sky[b];
        f->band[b].gain = gain_tab[b][f->camcol - 1];
        f->band[b].darkvar = dark_tab[b][f->camcol - 1];
        f->band[b].nmgy_per_dn = nmgy_tab[b];
        f->band[b].fwhm = see * lambda_ratio[b];
    }
    f->vary = f->cluster_vary = cfg->vary;
    f->cond.depth = 0;
    f->cond.exposure_scale = 1;
    f->cond.size_scale = f->cond.red_fraction = 1;
    for (int b = 0; b < DC_SIM_NBANDS; b++) f->cond.zp_scale[b] = 1;
    if (cfg->vary.enabled) sim_field_vary(f, cfg, seed);
    for (int b = 0; b < DC_SIM_NBANDS; b++) {
        if (!cfg->vary.enabled) dc_sim_psf_default(&f->cond.psf[b], f->band[b].fwhm);
        f->cond.psf[b].fwhm = f->band[b].fwhm;
    }
    dc_status st = dc_wcs_new_tan(&f->wcs, 0.5 * f->width - 0.5, 0.5 * f->height - 0.5, f->ra, f->dec,
                                  DC_SIM_PIXEL_SCALE, 0);
    for (int b = 0; b < DC_SIM_NBANDS && st == DC_STATUS_OK; b++)
        st = dc_image_new(&f->image[b], f->width, f->height);
    if (st != DC_STATUS_OK) {
        dc_sim_field_free(f);
        return st;
    }
    *out = f;
    return DC_STATUS_OK;
}

void dc_sim_field_free(dc_sim_field *f)
{
    if (!f) return;
    dc_wcs_free(f->wcs);
    for (int b = 0; b < DC_SIM_NBANDS; b++) dc_image_free(f->image[b]);
    free(f->objects);
    free(f->clusters);
    free(f->artefacts);
    free(f);
}

/* Pixel positions of objects [from, n) from their ra/dec, or the reverse. */
static dc_status project(const dc_sim_field *f, dc_sim_object *o, size_t n, int to_pixels)
{
    if (!n) return DC_STATUS_OK;
    double *buf = malloc(4 * n * sizeof *buf);
    if (!buf) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "sim field: projecting %zu objects", n);
    double *ra = buf, *dec = buf + n, *x = buf + 2 * n, *y = buf + 3 * n;
    for (size_t k = 0; k < n; k++) {
        ra[k] = o[k].ra;
        dec[k] = o[k].dec;
        x[k] = o[k].x;
        y[k] = o[k].y;
    }
    dc_status st = to_pixels ? dc_wcs_world2pix(f->wcs, (int)n, ra, dec, x, y)
                             : dc_wcs_pix2world(f->wcs, (int)n, x, y, ra, dec);
    if (st == DC_STATUS_OK)
        for (size_t k = 0; k < n; k++) {
            o[k].ra = ra[k];
            o[k].dec = dec[k];
            o[k].x = x[k];
            o[k].y = y[k];
        }
    free(buf);
    return st;
}

dc_status sim_field_project(const dc_sim_field *f, dc_sim_object *o, size_t n, int to_pixels)
{
    return project(f, o, n, to_pixels);
}

dc_status sim_field_add_cluster(dc_sim_field *f, const dc_sim_cluster *c, const dc_sim_cluster_model *m,
                                uint64_t member_seed, sim_objects *objs, sim_clusters *cl)
{
    if (cl->n == cl->cap) {
        size_t cap = cl->cap ? 2 * cl->cap : 16;
        dc_sim_cluster *v = realloc(cl->v, cap * sizeof *v);
        if (!v) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "sim field: %zu clusters", cap);
        cl->v = v;
        cl->cap = cap;
    }
    dc_sim_cluster *dst = &cl->v[cl->n];
    *dst = *c;
    dc_rng rng;
    sim_rng_for(&rng, member_seed, (uint64_t)c->id, SIM_TAG_MEMBERS);
    size_t first = objs->n;
    DC_TRY(sim_cluster_members_vary(dst, m, &f->cluster_vary, sim_cosmo_get(m->h0, m->om), &rng, objs));
    for (size_t k = first; k < objs->n; k++) objs->v[k].cluster = (int32_t)cl->n;
    DC_TRY(project(f, &objs->v[first], objs->n - first, 1));
    double x = 0, y = 0;
    DC_TRY(dc_wcs_world2pix(f->wcs, 1, &dst->ra, &dst->dec, &x, &y));
    dst->x = x;
    dst->y = y;
    cl->n++;
    return DC_STATUS_OK;
}

dc_status sim_field_populate(dc_sim_field *f, const sim_region *g, const dc_sim_field_config *cfg,
                             uint64_t seed, uint64_t key, sim_objects *objs)
{
    const sim_cosmo *cz = sim_cosmo_get(cfg->model.h0, cfg->model.om);
    size_t first = objs->n;
    dc_rng rng;
    /* field galaxies: the model's M* and alpha, and per region draws when vary is on */
    sim_popvary pv = {.dmstar = cfg->model.mstar - sim_mstar_ref, .dalpha = cfg->model.alpha - sim_alpha_ref,
                      .size_scale = 1, .red_fraction = 1};
    if (cfg->vary.enabled) {
        const dc_sim_vary *v = &cfg->vary;
        sim_rng_for(&rng, seed, TAG_POPVARY, key);
        pv.dmstar += uni(&rng, v->lf_mstar);
        pv.dalpha += uni(&rng, v->lf_alpha);
        pv.size_scale = uni(&rng, v->size_scale);
        pv.red_fraction = uni(&rng, v->red_fraction);
        pv.colour = uni(&rng, v->colour);
    }
    if (g->pixel) {
        f->cond.lf_mstar = pv.dmstar;
        f->cond.lf_alpha = pv.dalpha;
        f->cond.size_scale = pv.size_scale;
        f->cond.red_fraction = pv.red_fraction;
        f->cond.colour = pv.colour;
    }
    sim_rng_for(&rng, seed, TAG_GALAXIES, key);
    DC_TRY(sim_field_galaxies(g, cfg->galaxy_density, cfg->r_limit, cz, &pv, &rng, objs));
    sim_rng_for(&rng, seed, TAG_STARS, key);
    DC_TRY(sim_stars(g, cfg->star_density, cfg->r_limit, &rng, objs));
    sim_rng_for(&rng, seed, TAG_NEARBY, key);
    DC_TRY(sim_nearby_galaxies(g, cfg->nearby_galaxies, cz, &rng, objs));
    sim_rng_for(&rng, seed, TAG_BRIGHT, key);
    DC_TRY(sim_bright_stars(g, cfg->bright_stars, &rng, objs));
    return project(f, &objs->v[first], objs->n - first, !g->pixel);
}

dc_status sim_field_finish(dc_sim_field *f, const dc_sim_field_config *cfg, sim_objects *objs,
                           sim_clusters *cl)
{
    /* render: eps is 0.2% of the sky noise, so skipped wings are far below the noise */
    for (int b = 0; b < DC_SIM_NBANDS; b++) {
        double eps = 2e-3 * dc_sim_sky_sigma(&f->band[b], DC_SIM_PIXEL_SCALE);
        float *img = f->image[b]->data;
        for (size_t k = 0; k < objs->n; k++)
            dc_sim_render_object_psf(img, f->width, f->height, &objs->v[k], b, DC_SIM_PIXEL_SCALE, &f->cond.psf[b], eps);
        /* flux calibration error: the image is brighter or fainter than the catalogue says */
        float zs = (float)f->cond.zp_scale[b];
        if (zs != 1.0f)
            for (size_t k = 0; k < (size_t)f->width * f->height; k++) img[k] *= zs;
    }
    DC_TRY(sim_artefacts_light(f, cfg, objs)); /* spikes, trails: light, exposed with the rest */
    for (int b = 0; b < DC_SIM_NBANDS; b++) {
        dc_rng rng;
        sim_rng_for(&rng, f->seed, TAG_NOISE, (uint64_t)b);
        DC_TRY(dc_sim_expose(f->image[b]->data, f->width, f->height, &f->band[b], DC_SIM_PIXEL_SCALE,
                             cfg->saturation_dn, cfg->noise, &rng));
    }
    DC_TRY(sim_artefacts_exposed(f, cfg)); /* gradients, masks */
    /* hand over the lists; keep the clusters whose BCG falls on the image */
    size_t kept = 0;
    for (size_t k = 0; k < cl->n; k++) {
        dc_sim_cluster *c = &cl->v[k];
        if (c->x < -0.5 || c->y < -0.5 || c->x >= f->width - 0.5 || c->y >= f->height - 0.5) {
            for (size_t j = 0; j < objs->n; j++) /* members of a dropped cluster belong to none */
                if (objs->v[j].cluster == (int32_t)k) objs->v[j].cluster = -1;
            continue;
        }
        for (size_t j = 0; j < objs->n; j++) /* renumber the members' cluster index */
            if (objs->v[j].cluster == (int32_t)k) objs->v[j].cluster = (int32_t)kept;
        cl->v[kept++] = *c;
    }
    for (size_t j = 0; j < objs->n; j++)
        if (objs->v[j].cluster >= (int32_t)kept) objs->v[j].cluster = -1;
    f->objects = objs->v;
    f->n_objects = objs->n;
    f->clusters = cl->v;
    f->n_clusters = kept;
    objs->v = NULL;
    cl->v = NULL;
    objs->n = objs->cap = cl->n = cl->cap = 0;
    return DC_STATUS_OK;
}

dc_status dc_sim_field_new(const dc_sim_field_config *cfg, dc_sim_field **out)
{
    dc_sim_field *f;
    DC_TRY(sim_field_alloc(cfg, cfg->seed, &f));
    sim_objects objs = {0};
    sim_clusters cl = {0};
    dc_status st = DC_STATUS_OK;
    dc_rng rng;
    sim_rng_for(&rng, cfg->seed, TAG_CLUSTERS, 0);
    /* target clusters: given, or drawn inside the central 80% of the field */
    int n = cfg->n_given ? cfg->n_given : cfg->n_clusters;
    for (int k = 0; k < n && st == DC_STATUS_OK; k++) {
        dc_sim_cluster c = {0};
        if (cfg->n_given) {
            c.id = cfg->clusters[k].id;
            c.ra = cfg->clusters[k].ra;
            c.dec = cfg->clusters[k].dec;
            c.z = cfg->clusters[k].z;
            c.n200_mean = cfg->clusters[k].n200_mean;
            c.kind = cfg->clusters[k].kind;
        } else {
            c.id = k + 1;
            c.ra = c.dec = NAN;
            c.z = cfg->z_min + (cfg->z_max - cfg->z_min) * dc_rng_uniform(&rng);
            /* dN/dN200 ~ N200^-2.6 between the limits, by inversion */
            double a = pow(cfg->n200_min, -1.6), b = pow(cfg->n200_max, -1.6);
            c.n200_mean = pow(a + (b - a) * dc_rng_uniform(&rng), -1 / 1.6);
        }
        if (!isfinite(c.ra) || !isfinite(c.dec)) {
            double x = f->width * (0.1 + 0.8 * dc_rng_uniform(&rng)), y = f->height * (0.1 + 0.8 * dc_rng_uniform(&rng));
            st = dc_wcs_pix2world(f->wcs, 1, &x, &y, &c.ra, &c.dec);
        }
        if (st == DC_STATUS_OK) st = sim_field_add_cluster(f, &c, &cfg->model, cfg->seed, &objs, &cl);
    }
    /* line-of-sight groups anywhere on the field */
    const double margin = 64;
    sim_region g = {.pixel = 1, .x0 = -margin, .y0 = -margin, .x1 = f->width + margin, .y1 = f->height + margin};
    g.area = (g.x1 - g.x0) * (g.y1 - g.y0) * pow(DC_SIM_PIXEL_SCALE / 3600, 2);
    sim_rng_for(&rng, cfg->seed, TAG_GROUPS, 0);
    int ng = (int)dc_rng_poisson(&rng, cfg->groups * g.area);
    for (int k = 0; k < ng && st == DC_STATUS_OK; k++) {
        dc_sim_cluster c = {.id = 100000 + k, .kind = DC_SIM_CLUSTER_KIND_GROUP};
        c.z = 0.22 + 0.28 * dc_rng_uniform(&rng);
        c.n200_mean = 3 + 7 * dc_rng_uniform(&rng);
        double x = g.x0 + (g.x1 - g.x0) * dc_rng_uniform(&rng), y = g.y0 + (g.y1 - g.y0) * dc_rng_uniform(&rng);
        st = dc_wcs_pix2world(f->wcs, 1, &x, &y, &c.ra, &c.dec);
        if (st == DC_STATUS_OK) st = sim_field_add_cluster(f, &c, &cfg->model, cfg->seed, &objs, &cl);
    }
    if (st == DC_STATUS_OK) st = sim_field_populate(f, &g, cfg, cfg->seed, 0, &objs);
    if (st == DC_STATUS_OK && sim_confound_any(&cfg->confound))
        st = sim_confound_populate(f, &g, cfg, cfg->seed, 0, &objs, &cl);
    if (st == DC_STATUS_OK) st = sim_field_finish(f, cfg, &objs, &cl);
    sim_objects_free(&objs);
    free(cl.v);
    if (st != DC_STATUS_OK) {
        dc_sim_field_free(f);
        return st;
    }
    *out = f;
    return DC_STATUS_OK;
}

/* ---- output --------------------------------------------------------------------------------- */

const char *dc_sim_cluster_kind_name(int kind)
{
    switch (kind) {
    case DC_SIM_CLUSTER_KIND_GROUP: return "group";
    case DC_SIM_CLUSTER_KIND_FOREGROUND: return "foreground";
    case DC_SIM_CLUSTER_KIND_BACKGROUND: return "background";
    case DC_SIM_CLUSTER_KIND_POOR: return "poor";
    default: return "cluster";
    }
}

dc_status dc_sim_field_truth(const dc_sim_field *f, dc_catalog **out)
{
    long n = (long)f->n_clusters;
    dc_catalog *c;
    DC_TRY(dc_catalog_new(&c, n));
    char **ids = malloc((size_t)(n ? n : 1) * sizeof *ids), *idbuf = malloc((size_t)(n ? n : 1) * 24);
    const char **kinds = malloc((size_t)(n ? n : 1) * sizeof *kinds);
    dc_status st = ids && idbuf && kinds ? DC_STATUS_OK : DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "truth catalogue: %ld rows", n);
    for (long k = 0; k < n && st == DC_STATUS_OK; k++) {
        ids[k] = idbuf + 24 * k;
        snprintf(ids[k], 24, "%lld", (long long)f->clusters[k].id);
        kinds[k] = dc_sim_cluster_kind_name(f->clusters[k].kind);
    }
    if (st == DC_STATUS_OK) st = dc_catalog_add_string(c, "id", (const char *const *)ids);
    static const struct { const char *name, *unit; } cols[] = {
        {"ra", "deg"}, {"dec", "deg"}, {"z", ""}, {"richness", ""}, {"n200", ""}, {"r200", "Mpc"},
        {"bcg_rmag", "mag"}, {"bcg_ra", "deg"}, {"bcg_dec", "deg"}, {"x", "pix"}, {"y", "pix"},
        {"m200", "solMass"}, {"c200", ""}, {"rl", ""}, {"n_members", ""}};
    for (size_t j = 0; j < sizeof cols / sizeof cols[0] && st == DC_STATUS_OK; j++) {
        double *v;
        st = dc_catalog_add_double(c, cols[j].name, cols[j].unit, NULL, &v);
        for (long k = 0; k < n && st == DC_STATUS_OK; k++) {
            const dc_sim_cluster *q = &f->clusters[k];
            const double vals[] = {q->ra, q->dec, q->z, q->lambda, q->n200, q->r200, q->bcg_rmag, q->ra,
                                   q->dec, q->x, q->y, q->m200, q->c200, q->rl, q->n_members};
            v[k] = vals[j];
        }
    }
    if (st == DC_STATUS_OK) st = dc_catalog_add_string(c, "kind", kinds);
    free(ids);
    free(idbuf);
    free(kinds);
    if (st != DC_STATUS_OK) {
        dc_catalog_free(c);
        return st;
    }
    *out = c;
    return DC_STATUS_OK;
}

static dc_status ensure_dir(const char *dir)
{
    struct stat sb;
    if (stat(dir, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) return DC_STATUS_OK;
        return DC_FAIL(DC_STATUS_IO, "output folder '%s' exists but is not a folder", dir);
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return DC_FAIL(DC_STATUS_IO, "cannot create output folder '%s': %s (create its parent first)", dir, strerror(errno));
    return DC_STATUS_OK;
}

static dc_status write_band(const dc_sim_field *f, int b, const char *path)
{
    static const char *names[3] = {"g", "r", "i"};
    const dc_sim_band *p = &f->band[b];
    dc_fits_header *h;
    DC_TRY(dc_fits_header_new(&h));
    dc_status st = dc_wcs_to_header(f->wcs, h);
    double sat = f->saturation_dn > 0 ? (f->saturation_dn - dc_sim_sky_dn(p, DC_SIM_PIXEL_SCALE)) * p->nmgy_per_dn : 0;
    if (st == DC_STATUS_OK) st = dc_fits_header_set_string(h, "FILTER", names[b], "filter");
    if (st == DC_STATUS_OK) st = dc_fits_header_set_string(h, "BUNIT", "nanomaggy", "m = 22.5 - 2.5 log10(value)");
    if (st == DC_STATUS_OK) st = dc_fits_header_set_double(h, "EXPTIME", 53.907456 * f->cond.exposure_scale, "exposure (s)");
    if (st == DC_STATUS_OK) st = dc_fits_header_set_double(h, "NMGY", p->nmgy_per_dn, "nanomaggies per DN");
    if (st == DC_STATUS_OK) st = dc_fits_header_set_double(h, "GAIN", p->gain, "electrons per DN");
    if (st == DC_STATUS_OK) st = dc_fits_header_set_double(h, "DARKVAR", p->darkvar, "dark + read variance (DN^2)");
    if (st == DC_STATUS_OK) st = dc_fits_header_set_double(h, "SKY", dc_sim_mag_to_flux(p->sky_mag), "sky (nanomaggies/arcsec^2), subtracted");
    if (st == DC_STATUS_OK) st = dc_fits_header_set_double(h, "SKYMAG", p->sky_mag, "sky (mag/arcsec^2)");
    if (st == DC_STATUS_OK) st = dc_fits_header_set_double(h, "SKYSIG", dc_sim_sky_sigma(p, DC_SIM_PIXEL_SCALE), "blank-sky noise (nanomaggies)");
    if (st == DC_STATUS_OK) st = dc_fits_header_set_double(h, "PSF_FWHM", p->fwhm, "Moffat PSF FWHM (arcsec)");
    const dc_sim_psf *q = &f->cond.psf[b];
    if (st == DC_STATUS_OK) st = dc_fits_header_set_double(h, "PSFBETA", q->beta, "Moffat index");
    if (f->vary.enabled) { /* the randomised conditions (simulation truth) */
        if (st == DC_STATUS_OK) st = dc_fits_header_set_double(h, "PSF_E", q->e, "PSF distortion (a2-b2)/(a2+b2)");
        if (st == DC_STATUS_OK) st = dc_fits_header_set_double(h, "PSF_PA", q->pa, "PSF major axis (deg E of N)");
        if (st == DC_STATUS_OK) st = dc_fits_header_set_double(h, "PSFWFRAC", q->wing_frac, "PSF wing flux fraction");
        if (st == DC_STATUS_OK) st = dc_fits_header_set_double(h, "PSFWSCAL", q->wing_scale, "PSF wing FWHM / core FWHM");
        if (st == DC_STATUS_OK) st = dc_fits_header_set_double(h, "ZPSCALE", f->cond.zp_scale[b], "image flux / true flux (calib. error)");
        if (st == DC_STATUS_OK) st = dc_fits_header_set_double(h, "DEPTH", f->cond.depth, "depth vs fixed simulator (mag, + deeper)");
    }
    if (st == DC_STATUS_OK) st = dc_fits_header_set_double(h, "SATURATE", sat, "full well (nanomaggies)");
    if (st == DC_STATUS_OK) st = dc_fits_header_set_int(h, "CAMCOL", f->camcol, "camera column (gains, dark variance)");
    if (st == DC_STATUS_OK) st = dc_fits_header_set_double(h, "MAGZP", 22.5, "AB zero point for nanomaggies");
    if (st == DC_STATUS_OK) st = dc_fits_header_set_string(h, "ORIGIN", "deepcee sim", "simulated SDSS-like field");
    if (st == DC_STATUS_OK) st = dc_fits_header_set_int(h, "SIMSEED", (long long)f->seed, "simulation seed");
    if (st == DC_STATUS_OK) st = dc_fits_image_write(path, f->image[b], h, NULL);
    dc_fits_header_free(h);
    return st;
}

dc_status sim_field_preview(const dc_sim_field *f, int size, const char *path)
{
    double s = size > 0 ? fmin(1.0, (double)size / (f->width > f->height ? f->width : f->height)) : 1.0;
    int nx = (int)lround(f->width * s), ny = (int)lround(f->height * s);
    if (nx < 1) nx = 1;
    if (ny < 1) ny = 1;
    /* SDSS-like colour balance: g and r scaled up against i before the asinh stretch */
    const float scale[3] = {1.6f, 1.15f, 1.0f};
    dc_image *small[3] = {0};
    dc_rgb *rgb = NULL;
    dc_status st = DC_STATUS_OK;
    for (int b = 0; b < 3 && st == DC_STATUS_OK; b++) {
        st = dc_image_resample(f->image[b], nx, ny, &small[b]);
        if (st != DC_STATUS_OK) break;
        for (size_t k = 0; k < (size_t)nx * ny; k++) small[b]->data[k] *= scale[b];
    }
    dc_composite_params p = {.stretch = DC_STRETCH_LUPTON, .lupton_stretch = 0.4f, .q = 8};
    if (st == DC_STATUS_OK) st = dc_composite_make(small[0], small[1], small[2], &p, &rgb);
    if (st == DC_STATUS_OK) {
        const sim_cosmo *cz = sim_cosmo_get(f->h0, f->om);
        for (size_t k = 0; k < f->n_clusters; k++) {
            const dc_sim_cluster *c = &f->clusters[k];
            double rad = 250 / sim_cosmo_kpc(cz, c->z) / DC_SIM_PIXEL_SCALE * s;
            double cx = (c->x + 0.5) * s - 0.5, cy = ny - 1 - ((c->y + 0.5) * s - 0.5);
            /* targets green, groups orange, confounder clusters magenta */
            int target = c->kind == DC_SIM_CLUSTER_KIND_CLUSTER, group = c->kind == DC_SIM_CLUSTER_KIND_GROUP;
            dc_rgb_draw_circle(rgb, cx, cy, target ? rad : rad * 0.6, target ? 0x33ff33 : group ? 0xff9900 : 0xff33ff,
                               target ? (nx >= 1000 ? 3 : 2) : 1);
        }
        st = dc_rgb_write_png(rgb, path);
    }
    for (int b = 0; b < 3; b++) dc_image_free(small[b]);
    dc_rgb_free(rgb);
    return st;
}

static dc_status write_objects(const dc_sim_field *f, const char *path)
{
    long n = (long)f->n_objects;
    dc_catalog *c;
    DC_TRY(dc_catalog_new(&c, n));
    static const char *names[] = {"ra", "dec", "x", "y", "g", "r", "i", "z", "abs_r", "re_bulge", "re_disc",
                                  "bulge_frac_r", "q_bulge", "q_disc", "pa", "kind", "cluster", "flags"};
    dc_status st = DC_STATUS_OK;
    for (size_t j = 0; j < sizeof names / sizeof names[0] && st == DC_STATUS_OK; j++) {
        double *v;
        st = dc_catalog_add_double(c, names[j], "", NULL, &v);
        for (long k = 0; k < n && st == DC_STATUS_OK; k++) {
            const dc_sim_object *o = &f->objects[k];
            const double vals[] = {o->ra, o->dec, o->x, o->y, o->mag[0], o->mag[1], o->mag[2], o->z, o->abs_r,
                                   o->re_bulge, o->re_disc, o->bulge_frac[1], o->q_bulge, o->q_disc, o->pa,
                                   o->kind, o->cluster, o->flags};
            v[k] = vals[j];
        }
    }
    if (st == DC_STATUS_OK) st = dc_catalog_write_csv(c, path);
    dc_catalog_free(c);
    return st;
}

dc_status dc_sim_field_write(const dc_sim_field *f, const char *dir, const char *stem,
                             const dc_sim_write_opts *opts)
{
    DC_CHECK_ARG(dir && stem && *stem, "dc_sim_field_write: need a folder and a file stem");
    dc_sim_write_opts o = {.preview_size = 1000};
    if (opts) o = *opts;
    DC_TRY(ensure_dir(dir));
    size_t len = strlen(dir) + strlen(stem) + 32;
    char *path = malloc(len);
    if (!path) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "dc_sim_field_write: path");
    static const char *names[3] = {"g", "r", "i"};
    dc_status st = DC_STATUS_OK;
    for (int b = 0; b < 3 && st == DC_STATUS_OK; b++) {
        snprintf(path, len, "%s/%s-%s.fits", dir, stem, names[b]);
        st = write_band(f, b, path);
    }
    dc_catalog *truth = NULL;
    if (st == DC_STATUS_OK) st = dc_sim_field_truth(f, &truth);
    if (st == DC_STATUS_OK) {
        snprintf(path, len, "%s/%s-truth.fits", dir, stem);
        st = dc_catalog_write_fits(truth, path, "TRUTH");
    }
    if (st == DC_STATUS_OK) {
        snprintf(path, len, "%s/%s-truth.csv", dir, stem);
        st = dc_catalog_write_csv(truth, path);
    }
    dc_catalog_free(truth);
    if (st == DC_STATUS_OK && o.write_objects) {
        snprintf(path, len, "%s/%s-objects.csv", dir, stem);
        st = write_objects(f, path);
    }
    if (st == DC_STATUS_OK) {
        snprintf(path, len, "%s/%s.png", dir, stem);
        st = sim_field_preview(f, o.preview_size, path);
    }
    free(path);
    return st;
}
