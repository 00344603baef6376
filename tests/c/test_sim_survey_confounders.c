/* dc_sim_survey_confounders: the confounders of a sky region listed without rendering agree with
 * what dc_sim_survey_field renders there (a listed cluster is in the field's cluster list with the
 * same id and position; a listed LRG is a flagged object at that position whose light, the
 * difference to the same field with lrgs = 0, peaks on it; a listed pair's two members sit
 * symmetrically about it; a compact group's members lie within 50 kpc of it); the numbers per
 * kind follow the rates times the region's area (Poisson, 4 sigma); every listed position lies in
 * the region; rates at 0 list nothing; a bad region is an error naming it. */
#include <stdint.h>

#include "astro/astro.h"
#include "dc_test.h"
#include "sim/sim.h"
#include "test_sim_util.h"

/* A field with nothing but the survey's clusters and the confounders: no noise, no saturation. */
static void quiet_config(dc_sim_field_config *c, int n)
{
    dc_sim_field_config_default(c);
    c->width = c->height = n;
    c->galaxy_density = c->star_density = c->groups = c->nearby_galaxies = c->bright_stars = 0;
    c->noise = 0;
    c->saturation_dn = 0;
    dc_sim_confound_realistic(&c->confound);
}

static double sep_arcsec(double ra1, double dec1, double ra2, double dec2)
{
    double d2r = M_PI / 180;
    double s = sin(dec1 * d2r) * sin(dec2 * d2r) + cos(dec1 * d2r) * cos(dec2 * d2r) * cos((ra1 - ra2) * d2r);
    return acos(fmin(1, fmax(-1, s))) / d2r * 3600;
}

static void test_counts(const dc_sim_survey *sv)
{
    dc_sim_field_config c;
    quiet_config(&c, 100);
    dc_sim_confounder *v;
    size_t n;
    double r0 = 140, r1 = 160, d0 = 0, d1 = 10;
    CHECK_OK(dc_sim_survey_confounders(sv, &c, r0, r1, d0, d1, &v, &n));
    double area = (r1 - r0) * (sin(d1 * M_PI / 180) - sin(d0 * M_PI / 180)) * 180 / M_PI;
    const double rate[6] = {c.confound.lrgs, c.confound.pairs, c.confound.compact_groups, c.confound.foreground_groups,
                            c.confound.background_clusters, c.confound.failed_cut_clusters};
    size_t count[6] = {0};
    int outside = 0;
    for (size_t k = 0; k < n; k++) {
        count[v[k].kind]++;
        outside += !(v[k].ra >= r0 && v[k].ra < r1 && v[k].dec >= d0 && v[k].dec < d1);
    }
    CHECK(outside == 0, "%d listed confounders outside the region", outside);
    for (int j = 0; j < 6; j++) {
        double want = rate[j] * area;
        CHECK(fabs((double)count[j] - want) < 4 * sqrt(want) + 1, "%s: %zu listed, %.1f expected over %.1f deg^2",
              dc_sim_confounder_kind_name(j), count[j], want, area);
    }
    free(v);
    /* nothing requested, nothing listed */
    memset(&c.confound, 0, sizeof c.confound);
    CHECK_OK(dc_sim_survey_confounders(sv, &c, r0, r1, d0, d1, &v, &n));
    CHECK(n == 0 && v == NULL, "%zu confounders listed with every rate at 0", n);
    quiet_config(&c, 100);
    CHECK_FAILS(dc_sim_survey_confounders(sv, &c, 150, 140, 0, 10, &v, &n), DC_STATUS_INVALID_ARG, "RA [150, 140)");
}

/* Each kind's first listed confounder in a small region, rendered in a field centred on it. */
static void test_agreement(const dc_sim_survey *sv)
{
    const int N = 401;
    dc_sim_field_config c;
    quiet_config(&c, N);
    dc_sim_confounder *v;
    size_t n;
    CHECK_OK(dc_sim_survey_confounders(sv, &c, 150, 156, 2, 8, &v, &n));
    int seen[6] = {0};
    const double mid = (N - 1) / 2.0;
    for (size_t k = 0; k < n; k++) {
        const dc_sim_confounder *q = &v[k];
        if (seen[q->kind]) continue;
        seen[q->kind] = 1;
        const char *name = dc_sim_confounder_kind_name(q->kind);
        dc_sim_field *f = NULL;
        CHECK_OK(dc_sim_survey_field(sv, &c, q->ra, q->dec, 7, &f));
        if (!f) continue;
        if (q->kind >= DC_SIM_CONFOUNDER_FOREGROUND) {
            int found = 0;
            for (size_t j = 0; j < f->n_clusters; j++) {
                const dc_sim_cluster *cl = &f->clusters[j];
                if (cl->id != q->id) continue;
                found = 1;
                CHECK(sep_arcsec(cl->ra, cl->dec, q->ra, q->dec) < 1e-6, "%s %lld: rendered %.3g\" away", name,
                      (long long)q->id, sep_arcsec(cl->ra, cl->dec, q->ra, q->dec));
                CHECK_CLOSE(cl->z, q->z, 1e-12, 0);
                CHECK(strcmp(dc_sim_cluster_kind_name(cl->kind), name) == 0, "%s listed, %s rendered", name,
                      dc_sim_cluster_kind_name(cl->kind));
            }
            CHECK(found, "%s %lld not in its own field's cluster list", name, (long long)q->id);
        } else {
            uint8_t flag = q->kind == DC_SIM_CONFOUNDER_LRG ? DC_SIM_FLAG_LRG
                         : q->kind == DC_SIM_CONFOUNDER_PAIR ? DC_SIM_FLAG_PAIR : DC_SIM_FLAG_COMPACT;
            /* members of this system: flagged objects near the centre (the nearest systems of the
             * rates are ~arcminutes apart) */
            int members = 0;
            double sra = 0, sdec = 0, far = 0, rmag = 99;
            for (size_t j = 0; j < f->n_objects; j++) {
                const dc_sim_object *o = &f->objects[j];
                double d = sep_arcsec(o->ra, o->dec, q->ra, q->dec);
                if (!(o->flags & flag) || d > 60 || fabs(o->z - q->z) > 1e-6) continue;
                members++;
                sra += o->ra;
                sdec += o->dec;
                far = fmax(far, d);
                rmag = o->mag[1];
            }
            CHECK(members == q->n_members, "%s at (%.5f, %.5f): %d members rendered, %d listed", name, q->ra, q->dec,
                  members, q->n_members);
            if (q->kind == DC_SIM_CONFOUNDER_COMPACT) {
                /* 50 kpc at z, in arcsec (D_A from the cosmology) */
                dc_cosmo cp = dc_cosmo_paper(); /* h0 71, om 0.27: the survey model's */
                double kpc = dc_cosmo_kpc_per_arcsec(&cp, q->z);
                CHECK(far <= 50 / kpc + 1e-6, "compact group member %.2f\" from the centre, limit %.2f\"", far, 50 / kpc);
            } else if (members > 0) {
                CHECK(sep_arcsec(sra / members, sdec / members, q->ra, q->dec) < 1e-3,
                      "%s: members centred %.4f\" from the listed position", name,
                      sep_arcsec(sra / members, sdec / members, q->ra, q->dec));
            }
            if (q->kind == DC_SIM_CONFOUNDER_LRG) {
                /* its light: the same field without LRGs differs by a source peaking at the centre */
                dc_sim_field_config c0 = c;
                c0.confound.lrgs = 0;
                dc_sim_field *f0 = NULL;
                CHECK_OK(dc_sim_survey_field(sv, &c0, q->ra, q->dec, 7, &f0));
                if (f0) {
                    const float *a = f->image[1]->data, *b = f0->image[1]->data;
                    double best = -1, sum = 0;
                    int bx = -1, by = -1;
                    for (int y = (int)mid - 15; y <= (int)mid + 15; y++)
                        for (int x = (int)mid - 15; x <= (int)mid + 15; x++) {
                            double d = a[(size_t)y * N + x] - b[(size_t)y * N + x];
                            sum += d;
                            if (d > best) best = d, bx = x, by = y;
                        }
                    CHECK(abs(bx - (int)mid) <= 1 && abs(by - (int)mid) <= 1 && best > 0.1,
                          "LRG light peaks at (%d, %d) (%.3g nMgy), listed at the centre %.0f", bx, by, best, mid);
                    /* most of its r flux (an extended galaxy: some falls outside 12" x 12") */
                    double flux = dc_sim_mag_to_flux(rmag);
                    CHECK(sum > 0.5 * flux && sum < 1.01 * flux, "LRG light %.3g nMgy near it, r = %.2f is %.3g nMgy",
                          sum, rmag, flux);
                    dc_sim_field_free(f0);
                }
            }
        }
        dc_sim_field_free(f);
    }
    for (int j = 0; j < 6; j++) CHECK(seen[j], "no %s listed in a 6x6 deg region", dc_sim_confounder_kind_name(j));
    free(v);
}

int main(void)
{
    dc_sim_survey_config s;
    test_sim_survey_config(&s, 11, 140, 160, 0, 10);
    dc_sim_survey *sv = NULL;
    CHECK_OK(dc_sim_survey_new(&s, &sv));
    if (sv) {
        test_counts(sv);
        test_agreement(sv);
    }
    dc_sim_survey_free(sv);
    return dc_test_finish("test_sim_survey_confounders");
}
