/* Confounders: things in real survey images that look like clusters to a detector but are not
 * catalogued targets -- isolated luminous red galaxies (as bright as BCGs), bright pairs,
 * Hickson-like compact groups, large foreground groups, rich background clusters and clusters that
 * fail the paper's N200 >= 20 cut. Rates, shapes and their sources: docs/sky-confounders.md.
 *
 * Every population has its own stream (seed, tag, key), so a knob at 0 draws nothing and leaves
 * every other stream, and so the rest of the sky, untouched. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_impl.h"

/* Stream tags: far from the field's (1-8), the survey's (101-103) and from any cluster id used
 * with SIM_TAG_MEMBERS. */
enum {
    TAG_LRG = 0x636f6e00,
    TAG_PAIR,
    TAG_COMPACT,
    TAG_FOREGROUND,
    TAG_BACKGROUND,
    TAG_POOR
};
#define MARGIN_PX 64 /* what the field keeps around the image, as field.c and survey.c */

void dc_sim_confound_realistic(dc_sim_confound_config *c)
{
    c->lrgs = 6;                   /* half of Eisenstein et al. 2001's Cut I 12 deg^-2 */
    c->pairs = 3;                  /* ~3% of the ~90 deg^-2 main-sample galaxies in close pairs */
    c->compact_groups = 0.35;      /* McConnachie et al. 2009 catalogue A: 2297 in 6670 deg^2 */
    c->foreground_groups = 0.25;   /* the survey's richness function over 0.04 < z < 0.08, N200 3-10 */
    c->background_clusters = 3.5;  /* the same over 0.25 < z < 0.6, N200 20-60 */
    c->failed_cut_clusters = 0.7;  /* the same over 0.1 < z < 0.2, N200 8-19 */
}

dc_status sim_confound_check(const dc_sim_confound_config *c)
{
    const double d[6] = {c->lrgs, c->pairs, c->compact_groups, c->foreground_groups, c->background_clusters,
                         c->failed_cut_clusters};
    static const char *names[6] = {"lrgs", "pairs", "compact_groups", "foreground_groups",
                                   "background_clusters", "failed_cut_clusters"};
    for (int k = 0; k < 6; k++)
        DC_CHECK_ARG(d[k] >= 0 && d[k] <= 1000, "sim field: %s = %g per deg^2 outside 0..1000", names[k], d[k]);
    DC_CHECK_ARG(c->star_spikes >= 0 && c->star_spikes <= 0.1,
                 "sim field: star_spikes = %g outside 0..0.1 (the fraction of a star's flux in its spikes)", c->star_spikes);
    DC_CHECK_ARG(c->satellite_trails >= 0 && c->satellite_trails <= 100,
                 "sim field: satellite_trails = %g outside 0..100 per field", c->satellite_trails);
    DC_CHECK_ARG(c->masked_stripes >= 0 && c->masked_stripes <= 100,
                 "sim field: masked_stripes = %g outside 0..100 per field", c->masked_stripes);
    DC_CHECK_ARG(c->edge_mask >= 0 && c->edge_mask <= 1, "sim field: edge_mask = %g is a probability (0..1)", c->edge_mask);
    DC_CHECK_ARG(c->gradients >= 0 && c->gradients <= 100,
                 "sim field: gradients = %g outside 0..100 sky sigma", c->gradients);
    return DC_STATUS_OK;
}

int sim_confound_any(const dc_sim_confound_config *c)
{
    return c->lrgs > 0 || c->pairs > 0 || c->compact_groups > 0 || c->foreground_groups > 0 ||
           c->background_clusters > 0 || c->failed_cut_clusters > 0;
}

/* Place a galaxy at offset (de, dn) arcsec (east, north) from centre ctr, in the region's
 * coordinates (pixels for a pixel box: east = -x; ra/dec for a cell). */
static void offset_from(const sim_region *g, const dc_sim_object *ctr, double de, double dn, dc_sim_object *o)
{
    if (g->pixel) {
        o->x = ctr->x - de / DC_SIM_PIXEL_SCALE;
        o->y = ctr->y + dn / DC_SIM_PIXEL_SCALE;
    } else {
        o->ra = ctr->ra + de / 3600 / cos(ctr->dec * M_PI / 180);
        o->dec = ctr->dec + dn / 3600;
    }
}

/* A galaxy of the given type on the red sequence (early: colours exact, a pure spheroid, as
 * population.c does for BCGs) or with the field galaxies' colours (late types). */
static void confound_galaxy(dc_sim_object *o, int type, double abs_r, double z, const sim_cosmo *cz, dc_rng *rng,
                            uint8_t flags)
{
    double gr, ri;
    dc_sim_red_sequence(z, &gr, &ri);
    sim_galaxy_fill(o, type, abs_r, z, gr, ri, cz, rng);
    if (type == SIM_TYPE_EARLY) {
        double r = abs_r + sim_cosmo_dm(cz, z) + sim_kcorr_r(SIM_TYPE_EARLY, z);
        o->mag[0] = (float)(r + gr);
        o->mag[1] = (float)r;
        o->mag[2] = (float)(r - ri);
        o->bulge_frac[0] = o->bulge_frac[1] = o->bulge_frac[2] = 1;
    }
    o->flags |= (uint8_t)(DC_SIM_FLAG_CONFOUNDER | flags);
}

static dc_status lrgs(const sim_region *g, double mean, const sim_cosmo *cz, dc_rng *rng, sim_objects *out)
{
    int n = (int)dc_rng_poisson(rng, mean * g->area);
    for (int k = 0; k < n; k++) {
        dc_sim_object *o = sim_objects_push(out);
        if (!o) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "confounders: %d LRGs", n);
        sim_region_place(g, rng, o);
        double z = 0.1 + 0.3 * dc_rng_uniform(rng), absr = -23.5 + dc_rng_uniform(rng);
        confound_galaxy(o, SIM_TYPE_EARLY, absr, z, cz, rng, DC_SIM_FLAG_LRG);
    }
    return DC_STATUS_OK;
}

/* Small systems: n galaxies around a centre at z, brightest abs_b, the others up to dmag fainter,
 * inside a projected radius rmax kpc (pairs: two at a separation drawn in [rmin, rmax] kpc). */
static dc_status small_system(const sim_region *g, int n, int pair, const sim_cosmo *cz, dc_rng *rng,
                              sim_objects *out, uint8_t flag, double z, double abs_b, double dmag, double p_early,
                              dc_sim_object *centre)
{
    dc_sim_object ctr = {0};
    sim_region_place(g, rng, &ctr);
    if (centre) *centre = ctr;
    double kpc = sim_cosmo_kpc(cz, z), phi0 = 2 * M_PI * dc_rng_uniform(rng), sep = 10 + 40 * dc_rng_uniform(rng);
    for (int k = 0; k < n; k++) {
        dc_sim_object *o = sim_objects_push(out);
        if (!o) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "confounders: a system of %d galaxies", n);
        double r, phi;
        if (pair) { /* the two about their midpoint */
            r = 0.5 * sep;
            phi = phi0 + M_PI * k;
        } else { /* uniform in a 50 kpc disc */
            r = 50 * sqrt(dc_rng_uniform(rng));
            phi = 2 * M_PI * dc_rng_uniform(rng);
        }
        offset_from(g, &ctr, r * cos(phi) / kpc, r * sin(phi) / kpc, o);
        double absr = k == 0 ? abs_b : abs_b + dmag * dc_rng_uniform(rng);
        int type = dc_rng_uniform(rng) < p_early ? SIM_TYPE_EARLY : SIM_TYPE_SBC;
        confound_galaxy(o, type, absr, z, cz, rng, flag);
    }
    return DC_STATUS_OK;
}

/* list: NULL when rendering; else each system's centre is appended to it (same draws). */
static dc_status list_push(sim_confounders *list, int kind, int64_t id, double ra, double dec, double z,
                           double n200, int members)
{
    if (list->n == list->cap) {
        size_t cap = list->cap ? 2 * list->cap : 64;
        dc_sim_confounder *v = realloc(list->v, cap * sizeof *v);
        if (!v) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "confounders: a list of %zu", cap);
        list->v = v;
        list->cap = cap;
    }
    list->v[list->n++] = (dc_sim_confounder){.kind = kind, .id = id, .ra = ra, .dec = dec, .z = z, .n200 = n200,
                                             .n_members = members};
    return DC_STATUS_OK;
}

/* ids of the small systems, unique per (kind, region, k) and apart from the clusters' */
static int64_t system_id(int kind, uint64_t key, int k) { return ((int64_t)(8 + kind) << 44) + ((int64_t)key << 20) + k; }

static dc_status pairs(const sim_region *g, double mean, const sim_cosmo *cz, dc_rng *rng, sim_objects *out,
                       sim_confounders *list, uint64_t key)
{
    int n = (int)dc_rng_poisson(rng, mean * g->area);
    for (int k = 0; k < n; k++) {
        double z = 0.05 + 0.25 * dc_rng_uniform(rng), absb = -22.5 + 1.5 * dc_rng_uniform(rng);
        dc_sim_object ctr;
        DC_TRY(small_system(g, 2, 1, cz, rng, out, DC_SIM_FLAG_PAIR, z, absb, 1.5, 0.5, &ctr));
        if (list) DC_TRY(list_push(list, DC_SIM_CONFOUNDER_PAIR, system_id(DC_SIM_CONFOUNDER_PAIR, key, k), ctr.ra,
                                   ctr.dec, z, 0, 2));
    }
    return DC_STATUS_OK;
}

static dc_status compact_groups(const sim_region *g, double mean, const sim_cosmo *cz, dc_rng *rng, sim_objects *out,
                                sim_confounders *list, uint64_t key)
{
    int n = (int)dc_rng_poisson(rng, mean * g->area);
    for (int k = 0; k < n; k++) {
        int m = 4 + (int)dc_rng_below(rng, 5); /* 4-8 members within 3 mag of the brightest (Hickson 1982) */
        double z = 0.05 + 0.15 * dc_rng_uniform(rng), absb = -22.5 + dc_rng_uniform(rng);
        dc_sim_object ctr;
        DC_TRY(small_system(g, m, 0, cz, rng, out, DC_SIM_FLAG_COMPACT, z, absb, 3.0, 0.6, &ctr));
        if (list) DC_TRY(list_push(list, DC_SIM_CONFOUNDER_COMPACT, system_id(DC_SIM_CONFOUNDER_COMPACT, key, k),
                                   ctr.ra, ctr.dec, z, 0, m));
    }
    return DC_STATUS_OK;
}

/* A cluster population: Poisson number, z uniform in [z0, z1], N200 from dN/dN200 ~ N200^-2.6 in
 * [n0, n1] (as field.c draws target clusters). Clusters whose members cannot reach the image are
 * dropped again. */
/* The three confounder cluster populations (docs/sky-confounders.md): j = 0 foreground groups,
 * 1 background clusters, 2 clusters failing the N200 cut; 0 when its rate is 0. */
typedef struct cluster_pop {
    double mean, z0, z1, n0, n1;
    int kind, lkind;
    uint64_t tag;
} cluster_pop;
static int cluster_pop_get(const dc_sim_field_config *cfg, int j, cluster_pop *p)
{
    const dc_sim_confound_config *q = &cfg->confound;
    if (j == 0)
        *p = (cluster_pop){q->foreground_groups, 0.04, 0.08, 3, 10, DC_SIM_CLUSTER_KIND_FOREGROUND,
                           DC_SIM_CONFOUNDER_FOREGROUND, TAG_FOREGROUND};
    else if (j == 1)
        *p = (cluster_pop){q->background_clusters, 0.25, 0.6, 20, 60, DC_SIM_CLUSTER_KIND_BACKGROUND,
                           DC_SIM_CONFOUNDER_BACKGROUND, TAG_BACKGROUND};
    else
        *p = (cluster_pop){q->failed_cut_clusters, cfg->z_min, cfg->z_max, 8, 19.5, DC_SIM_CLUSTER_KIND_POOR,
                           DC_SIM_CONFOUNDER_POOR, TAG_POOR};
    return p->mean > 0;
}

/* The draws of a cluster population's k-th cluster (shared by rendering and listing): id, place
 * (pos), z and the mean N200. */
static void cluster_draw(const sim_region *g, int kind, double z0, double z1, double a, double b, uint64_t key, int k,
                         dc_rng *rng, dc_sim_cluster *c, dc_sim_object *pos)
{
    /* ids unique per (kind, region, k) and far above survey and field ids */
    *c = (dc_sim_cluster){.id = ((int64_t)kind << 44) + ((int64_t)key << 20) + k, .kind = kind};
    memset(pos, 0, sizeof *pos);
    sim_region_place(g, rng, pos);
    c->z = z0 + (z1 - z0) * dc_rng_uniform(rng);
    c->n200_mean = pow(a + (b - a) * dc_rng_uniform(rng), -1 / 1.6);
}

static dc_status cluster_population(dc_sim_field *f, const sim_region *g, const dc_sim_field_config *cfg, double mean,
                                    int kind, double z0, double z1, double n0, double n1, uint64_t seed, uint64_t key,
                                    dc_rng *rng, sim_objects *objs, sim_clusters *cl)
{
    int n = (int)dc_rng_poisson(rng, mean * g->area);
    DC_CHECK_ARG(n < (1 << 20), "confounders: %d clusters in one region; lower the density", n);
    const sim_cosmo *cz = sim_cosmo_get(cfg->model.h0, cfg->model.om);
    double a = pow(n0, -1.6), b = pow(n1, -1.6);
    for (int k = 0; k < n; k++) {
        dc_sim_cluster c;
        dc_sim_object pos;
        cluster_draw(g, kind, z0, z1, a, b, key, k, rng, &c, &pos);
        if (g->pixel) DC_TRY(dc_wcs_pix2world(f->wcs, 1, &pos.x, &pos.y, &c.ra, &c.dec));
        else {
            c.ra = pos.ra;
            c.dec = pos.dec;
        }
        size_t first = objs->n;
        DC_TRY(sim_field_add_cluster(f, &c, &cfg->model, seed, objs, cl));
        const dc_sim_cluster *d = &cl->v[cl->n - 1];
        double reach = 2 * d->r200 * 1000 / sim_cosmo_kpc(cz, d->z) / DC_SIM_PIXEL_SCALE + MARGIN_PX;
        double dx = fmax(fmax(-d->x, d->x - (f->width - 1)), 0), dy = fmax(fmax(-d->y, d->y - (f->height - 1)), 0);
        if (hypot(dx, dy) > reach) { /* no member can touch the image */
            objs->n = first;
            cl->n--;
            continue;
        }
        for (size_t j = first; j < objs->n; j++) objs->v[j].flags |= DC_SIM_FLAG_CONFOUNDER;
    }
    return DC_STATUS_OK;
}

dc_status sim_confound_populate(dc_sim_field *f, const sim_region *g, const dc_sim_field_config *cfg,
                                uint64_t seed, uint64_t key, sim_objects *objs, sim_clusters *cl)
{
    const dc_sim_confound_config *q = &cfg->confound;
    const sim_cosmo *cz = sim_cosmo_get(cfg->model.h0, cfg->model.om);
    dc_rng rng;
    /* the galaxies: placed in region coordinates, projected, then kept where they can touch
     * the image (a survey visits cells far around the field for the clusters' sake) */
    size_t first = objs->n;
    if (q->lrgs > 0) {
        sim_rng_for(&rng, seed, TAG_LRG, key);
        DC_TRY(lrgs(g, q->lrgs, cz, &rng, objs));
    }
    if (q->pairs > 0) {
        sim_rng_for(&rng, seed, TAG_PAIR, key);
        DC_TRY(pairs(g, q->pairs, cz, &rng, objs, NULL, key));
    }
    if (q->compact_groups > 0) {
        sim_rng_for(&rng, seed, TAG_COMPACT, key);
        DC_TRY(compact_groups(g, q->compact_groups, cz, &rng, objs, NULL, key));
    }
    DC_TRY(sim_field_project(f, &objs->v[first], objs->n - first, !g->pixel));
    size_t w = first;
    for (size_t k = first; k < objs->n; k++) {
        const dc_sim_object *o = &objs->v[k];
        if (o->x >= -MARGIN_PX && o->y >= -MARGIN_PX && o->x <= f->width + MARGIN_PX && o->y <= f->height + MARGIN_PX)
            objs->v[w++] = *o;
    }
    objs->n = w;
    /* the clusters */
    for (int j = 0; j < 3; j++) {
        cluster_pop p;
        if (!cluster_pop_get(cfg, j, &p)) continue;
        sim_rng_for(&rng, seed, p.tag, key);
        DC_TRY(cluster_population(f, g, cfg, p.mean, p.kind, p.z0, p.z1, p.n0, p.n1, seed, key, &rng, objs, cl));
    }
    return DC_STATUS_OK;
}

const char *dc_sim_confounder_kind_name(int kind)
{
    static const char *const names[] = {"lrg", "pair", "compact_group", "foreground", "background", "poor"};
    return kind >= 0 && kind <= DC_SIM_CONFOUNDER_POOR ? names[kind] : "unknown";
}

/* The cluster populations of sim_confound_populate, listed: the same streams and draws. */
static dc_status cluster_list(const sim_region *g, double mean, int kind, int lkind, double z0, double z1, double n0,
                              double n1, uint64_t key, dc_rng *rng, sim_confounders *list)
{
    int n = (int)dc_rng_poisson(rng, mean * g->area);
    DC_CHECK_ARG(n < (1 << 20), "confounders: %d clusters in one region; lower the density", n);
    double a = pow(n0, -1.6), b = pow(n1, -1.6);
    for (int k = 0; k < n; k++) {
        dc_sim_cluster c;
        dc_sim_object pos;
        cluster_draw(g, kind, z0, z1, a, b, key, k, rng, &c, &pos);
        DC_TRY(list_push(list, lkind, c.id, pos.ra, pos.dec, c.z, c.n200_mean, 0));
    }
    return DC_STATUS_OK;
}

dc_status sim_confound_list(const sim_region *g, const dc_sim_field_config *cfg, uint64_t seed, uint64_t key,
                            sim_confounders *out)
{
    DC_CHECK_ARG(!g->pixel, "confounders: listing needs a sky cell");
    const dc_sim_confound_config *q = &cfg->confound;
    const sim_cosmo *cz = sim_cosmo_get(cfg->model.h0, cfg->model.om);
    dc_rng rng;
    sim_objects scratch = {0}; /* the galaxies drawn, only for the draws' sake */
    dc_status st = DC_STATUS_OK;
    if (q->lrgs > 0) {
        sim_rng_for(&rng, seed, TAG_LRG, key);
        st = lrgs(g, q->lrgs, cz, &rng, &scratch);
        for (size_t k = 0; k < scratch.n && st == DC_STATUS_OK; k++)
            st = list_push(out, DC_SIM_CONFOUNDER_LRG, system_id(DC_SIM_CONFOUNDER_LRG, key, (int)k), scratch.v[k].ra,
                           scratch.v[k].dec, scratch.v[k].z, 0, 1);
    }
    if (q->pairs > 0 && st == DC_STATUS_OK) {
        sim_rng_for(&rng, seed, TAG_PAIR, key);
        scratch.n = 0;
        st = pairs(g, q->pairs, cz, &rng, &scratch, out, key);
    }
    if (q->compact_groups > 0 && st == DC_STATUS_OK) {
        sim_rng_for(&rng, seed, TAG_COMPACT, key);
        scratch.n = 0;
        st = compact_groups(g, q->compact_groups, cz, &rng, &scratch, out, key);
    }
    sim_objects_free(&scratch);
    DC_TRY(st);
    for (int j = 0; j < 3; j++) {
        cluster_pop p;
        if (!cluster_pop_get(cfg, j, &p)) continue;
        sim_rng_for(&rng, seed, p.tag, key);
        DC_TRY(cluster_list(g, p.mean, p.kind, p.lkind, p.z0, p.z1, p.n0, p.n1, key, &rng, out));
    }
    return DC_STATUS_OK;
}
