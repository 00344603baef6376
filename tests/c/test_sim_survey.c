/* Survey mode: the number of clusters follows density x comoving volume (volume from astro's
 * cosmology), the WHL12 and redMaPPer mock catalogues map through dc_catalog_map with the
 * survey's values, the paper's cuts select from them, and fields rendered around a cluster hold
 * it with the catalogue's N200, are reproducible from (seed, key), and show the same sky where
 * they overlap. */
#include "astro/astro.h"
#include "dc_test.h"
#include "sim/sim.h"
#include "test_sim_util.h"

static void test_population(dc_sim_survey *s)
{
    const dc_sim_survey_config *c = &s->cfg;
    dc_cosmo cc = {.h0 = c->model.h0, .om = c->model.om};
    double d2r = M_PI / 180;
    double sr = (c->ra_max - c->ra_min) * d2r * (sin(c->dec_max * d2r) - sin(c->dec_min * d2r));
    double vol = sr / 3 * (pow(dc_cosmo_comoving_mpc(&cc, c->z_max), 3) - pow(dc_cosmo_comoving_mpc(&cc, c->z_min), 3));
    double mean = c->density * vol;
    CHECK(fabs(s->n_clusters - mean) < 4 * sqrt(mean), "%zu clusters vs expected %.1f", s->n_clusters, mean);
    size_t lowz = 0, inside = 0;
    for (size_t k = 0; k < s->n_clusters; k++) {
        const dc_sim_cluster *q = &s->clusters[k];
        inside += q->ra >= c->ra_min && q->ra <= c->ra_max && q->dec >= c->dec_min && q->dec <= c->dec_max &&
                  q->z >= c->z_min && q->z <= c->z_max && q->n200_mean >= c->n200_min && q->id == (int64_t)k + 1;
        lowz += q->z < 0.5 * (c->z_min + c->z_max);
    }
    CHECK(inside == s->n_clusters, "%zu of %zu clusters inside the configured ranges", inside, s->n_clusters);
    /* volume-weighted redshifts: fewer below the middle of the range than above */
    double dl = pow(dc_cosmo_comoving_mpc(&cc, 0.5 * (c->z_min + c->z_max)), 3) - pow(dc_cosmo_comoving_mpc(&cc, c->z_min), 3);
    double frac = dl / (pow(dc_cosmo_comoving_mpc(&cc, c->z_max), 3) - pow(dc_cosmo_comoving_mpc(&cc, c->z_min), 3));
    double f = lowz / (double)s->n_clusters;
    CHECK(fabs(f - frac) < 4 * sqrt(frac * (1 - frac) / s->n_clusters), "low-z fraction %.3f vs %.3f", f, frac);
}

static void test_catalogues(dc_sim_survey *s, const char *tmp)
{
    dc_catalog *whl = NULL, *rm = NULL, *canon = NULL;
    CHECK_OK(dc_sim_survey_catalog(s, DC_SIM_CATALOG_STYLE_WHL12, &whl));
    CHECK_OK(dc_sim_survey_catalog(s, DC_SIM_CATALOG_STYLE_REDMAPPER, &rm));
    if (!whl || !rm) return;
    /* through a FITS file and the WHL12 column mapping */
    char path[600];
    snprintf(path, sizeof path, "%s/whl.fits", tmp);
    CHECK_OK(dc_catalog_write_fits(whl, path, NULL));
    dc_catalog *back = NULL;
    CHECK_OK(dc_catalog_read(path, &back));
    dc_catalog_format fmt = DC_CATALOG_FORMAT_AUTO;
    if (back) CHECK_OK(dc_catalog_map(back, DC_CATALOG_FORMAT_AUTO, &canon, &fmt));
    CHECK(fmt == DC_CATALOG_FORMAT_WHL12, "detected format %d", (int)fmt);
    if (canon) {
        const double *n200, *ra, *id, *z;
        CHECK_OK(dc_catalog_get_double(canon, "n200", &n200));
        CHECK_OK(dc_catalog_get_double(canon, "ra", &ra));
        CHECK_OK(dc_catalog_get_double(canon, "z", &z));
        CHECK_OK(dc_catalog_get_double(canon, "sim_id", &id));
        long ok = 0, cut = 0, expect_cut = 0;
        for (long r = 0; r < canon->nrows; r++) {
            const dc_sim_cluster *q = &s->clusters[(size_t)id[r] - 1];
            ok += n200[r] == q->n200 && ra[r] == q->ra && n200[r] >= 8 && fabs(z[r] - q->z) < 0.1;
            cut += z[r] > 0.1 && z[r] < 0.2 && n200[r] >= 20 && q->dec > 0;
        }
        for (size_t k = 0; k < s->n_clusters; k++) expect_cut += s->clusters[k].z > 0.1 && s->clusters[k].z < 0.2 && s->clusters[k].n200 >= 20 && s->clusters[k].dec > 0;
        CHECK(ok == canon->nrows, "%ld of %ld WHL rows agree with the survey", ok, canon->nrows);
        long n8 = 0;
        for (size_t k = 0; k < s->n_clusters; k++) n8 += s->clusters[k].n200 >= 8;
        CHECK(canon->nrows == n8, "WHL rows %ld vs %ld clusters with N200 >= 8", canon->nrows, n8);
        /* photometric redshifts move a few clusters across the cut edges, not many */
        CHECK(labs(cut - expect_cut) <= 2 + expect_cut / 5, "paper cuts select %ld vs %ld by true z", cut, expect_cut);
        CHECK(expect_cut > 0, "no cluster passes the paper's cuts");
    }
    dc_catalog_free(canon);
    canon = NULL;
    CHECK_OK(dc_catalog_map(rm, DC_CATALOG_FORMAT_AUTO, &canon, &fmt));
    CHECK(fmt == DC_CATALOG_FORMAT_REDMAPPER, "detected format %d", (int)fmt);
    if (canon) {
        const double *lam, *bra;
        CHECK_OK(dc_catalog_get_double(canon, "richness", &lam));
        CHECK_OK(dc_catalog_get_double(canon, "bcg_ra", &bra));
        CHECK(canon->nrows > 0, "empty redMaPPer catalogue");
    }
    dc_catalog_free(canon);
    dc_catalog_free(back);
    dc_catalog_free(whl);
    dc_catalog_free(rm);
}

static int same_object(const dc_sim_object *a, const dc_sim_object *b)
{
    return a->ra == b->ra && a->dec == b->dec && memcmp(a->mag, b->mag, sizeof a->mag) == 0;
}

static void test_fields(dc_sim_survey *s)
{
    /* the richest cluster at 0.1 < z < 0.2 */
    const dc_sim_cluster *q = NULL;
    for (size_t k = 0; k < s->n_clusters; k++)
        if (s->clusters[k].z > 0.1 && s->clusters[k].z < 0.2 && (!q || s->clusters[k].n200 > q->n200)) q = &s->clusters[k];
    if (!q) { CHECK(0, "no cluster at 0.1 < z < 0.2"); return; }
    dc_sim_field_config c;
    dc_sim_field_config_default(&c);
    c.width = c.height = 700;
    dc_sim_field *a = NULL, *b = NULL, *d = NULL, *e = NULL;
    CHECK_OK(dc_sim_survey_field(s, &c, q->ra, q->dec, 7, &a));
    CHECK_OK(dc_sim_survey_field(s, &c, q->ra, q->dec, 7, &b));
    CHECK_OK(dc_sim_survey_field(s, &c, q->ra, q->dec, 8, &d));
    /* shifted by 200 px east */
    double dra = 200 * DC_SIM_PIXEL_SCALE / 3600 / cos(q->dec * M_PI / 180);
    CHECK_OK(dc_sim_survey_field(s, &c, q->ra + dra, q->dec, 9, &e));
    if (!(a && b && d && e)) goto done;
    size_t n = (size_t)a->width * a->height;
    CHECK(memcmp(a->image[1]->data, b->image[1]->data, n * sizeof(float)) == 0, "same key differs");
    CHECK(memcmp(a->image[1]->data, d->image[1]->data, n * sizeof(float)) != 0, "other key identical");
    /* the cluster is in the field with the survey's values, its BCG at the centre */
    const dc_sim_cluster *fc = NULL;
    for (size_t k = 0; k < a->n_clusters; k++)
        if (a->clusters[k].id == q->id) fc = &a->clusters[k];
    CHECK(fc != NULL, "cluster %lld missing from its field", (long long)q->id);
    if (fc) {
        CHECK(fc->n200 == q->n200 && fc->bcg_rmag == q->bcg_rmag && fc->lambda == q->lambda, "field cluster differs from survey");
        CHECK_CLOSE(fc->x, 0.5 * a->width - 0.5, 1e-6, 0);
        CHECK_CLOSE(fc->y, 0.5 * a->height - 0.5, 1e-6, 0);
    }
    /* the sky is the same in every field: same objects for another key, and objects in the
     * overlap of the shifted field appear there 200 px further west (+x) */
    CHECK(a->n_objects == d->n_objects, "%zu vs %zu objects for two keys", a->n_objects, d->n_objects);
    int checked = 0, found = 0;
    for (size_t k = 0; k < a->n_objects; k++) {
        const dc_sim_object *o = &a->objects[k];
        if (o->x < 50 || o->x > 450 || o->y < 50 || o->y > 650) continue;
        checked++;
        for (size_t j = 0; j < e->n_objects; j++)
            if (same_object(o, &e->objects[j])) {
                found += fabs(e->objects[j].x - (o->x + 200)) < 0.1 && fabs(e->objects[j].y - o->y) < 0.1;
                break;
            }
    }
    CHECK(checked > 20 && found == checked, "%d of %d overlapping objects found in the shifted field", found, checked);
done:
    dc_sim_field_free(a);
    dc_sim_field_free(b);
    dc_sim_field_free(d);
    dc_sim_field_free(e);
}

int main(void)
{
    char tmp[] = "/tmp/dc_test_simsurvey_XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    dc_sim_survey_config c;
    test_sim_survey_config(&c, 3, 150, 170, -2, 8);
    dc_sim_survey *s = NULL;
    CHECK_OK(dc_sim_survey_new(&c, &s));
    if (s) {
        test_population(s);
        test_catalogues(s, tmp);
        test_fields(s);
    }
    dc_sim_survey *s2 = NULL;
    CHECK_OK(dc_sim_survey_new(&c, &s2));
    CHECK(s && s2 && s->n_clusters == s2->n_clusters &&
              memcmp(s->clusters, s2->clusters, s->n_clusters * sizeof *s->clusters) == 0,
          "same seed gave another survey");
    dc_sim_survey_free(s);
    dc_sim_survey_free(s2);
    c.dec_max = -3;
    CHECK_FAILS(dc_sim_survey_new(&c, &s), DC_STATUS_INVALID_ARG, "Dec range");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return dc_test_finish("test_sim_survey");
}
