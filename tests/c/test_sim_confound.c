/* Confounders and artefacts (engine/sim/confound.c, artefacts.c), measured on the output:
 * with every knob at 0 the images are those of the code before them (hashes recorded from it);
 * confounders only add objects (the rest of the sky is unchanged and the image difference is
 * their own rendering); their numbers follow the requested densities over many seeds (Poisson
 * tolerance), they are flagged and never of the target kind; a satellite trail adds its reported
 * flux per unit length along its line and nothing elsewhere; masked pixels are NaN exactly where
 * reported, also in the written FITS; a gradient's least-squares fit matches what is reported;
 * spikes add the r^-2 line flux along rows and columns of stars only; the same seed gives the same
 * bits with everything on; survey cut-outs that overlap show the same confounders. */
#include <stdint.h>
#include <unistd.h>

#include "astro/astro.h"
#include "dc_test.h"
#include "sim/sim.h"
#include "test_sim_util.h"

/* The images, then the number of objects. */
static uint64_t field_hash(const dc_sim_field *f)
{
    return test_fnv(test_sim_image_hash(f), &f->n_objects, sizeof f->n_objects);
}

/* A field with nothing in it but what a test adds: no noise, no saturation. */
static void blank_config(dc_sim_field_config *c, int w, int h, uint64_t seed)
{
    dc_sim_field_config_default(c);
    c->width = w;
    c->height = h;
    c->seed = seed;
    c->n_clusters = 0;
    c->galaxy_density = c->star_density = c->groups = c->nearby_galaxies = c->bright_stars = 0;
    c->noise = 0;
    c->saturation_dn = 0;
}

static double field_area(const dc_sim_field *f, double margin)
{
    return (f->width + 2 * margin) * (f->height + 2 * margin) * pow(DC_SIM_PIXEL_SCALE / 3600, 2);
}

/* Knobs at 0: the hashes below were recorded with this same program's configs from the build
 * of commit 33f7336, before confound.c and artefacts.c existed (RelWithDebInfo, gcc, x86-64). A
 * deliberate change of the base sky (PSF, population) changes them too: re-record them then from
 * a build of that change without the confounder hooks, never from this code. */
static void test_off_identical(void)
{
    dc_sim_field_config c;
    dc_sim_field_config_default(&c);
    c.width = 320;
    c.height = 256;
    c.seed = 7;
    c.n_clusters = 1;
    c.groups = 100;
    c.bright_stars = 60;
    dc_sim_field *f;
    CHECK_OK(dc_sim_field_new(&c, &f));
    CHECK(field_hash(f) == 0x80c259b964ca0051ULL && f->n_objects == 181, "field hash %016llx (%zu objects)",
          (unsigned long long)field_hash(f), f->n_objects);
    CHECK(f->n_artefacts == 0, "%zu artefacts with every knob at 0", f->n_artefacts);
    dc_sim_field_free(f);
    dc_sim_survey_config s;
    test_sim_survey_config(&s, 3, 150, 152, 0, 2);
    dc_sim_survey *sv;
    CHECK_OK(dc_sim_survey_new(&s, &sv));
    dc_sim_field_config_default(&c);
    c.width = 300;
    c.height = 280;
    c.bright_stars = 60;
    CHECK_OK(dc_sim_survey_field(sv, &c, 151.0, 1.0, 5, &f));
    CHECK(field_hash(f) == 0x5721cec487263105ULL && f->n_objects == 1531, "survey hash %016llx (%zu objects)",
          (unsigned long long)field_hash(f), f->n_objects);
    dc_sim_field_free(f);
    dc_sim_survey_free(sv);
}

/* Confounders only add: the objects and clusters of the sky without them come first, unchanged,
 * and the (noiseless) image difference is the rendering of the added objects alone. */
static void test_additive(void)
{
    dc_sim_field_config c;
    dc_sim_field_config_default(&c);
    c.width = c.height = 500;
    c.seed = 21;
    c.n_clusters = 1;
    c.noise = 0;
    c.saturation_dn = 0;
    dc_sim_field *a, *b;
    CHECK_OK(dc_sim_field_new(&c, &a));
    dc_sim_confound_realistic(&c.confound);
    c.confound.lrgs = c.confound.pairs = c.confound.compact_groups = 300;
    c.confound.background_clusters = c.confound.foreground_groups = c.confound.failed_cut_clusters = 200;
    CHECK_OK(dc_sim_field_new(&c, &b));
    CHECK(b->n_objects > a->n_objects + 10, "%zu objects with confounders, %zu without", b->n_objects, a->n_objects);
    CHECK(memcmp(a->objects, b->objects, a->n_objects * sizeof *a->objects) == 0, "the sky without confounders changed");
    CHECK(b->n_clusters >= a->n_clusters && memcmp(a->clusters, b->clusters, a->n_clusters * sizeof *a->clusters) == 0,
          "the clusters without confounders changed");
    for (size_t k = a->n_objects; k < b->n_objects; k++)
        CHECK(b->objects[k].flags & DC_SIM_FLAG_CONFOUNDER, "added object %zu not flagged", k);
    size_t n = (size_t)a->width * a->height;
    float *ref = calloc(n, sizeof *ref);
    for (int band = 0; band < 3; band++) {
        double eps = 2e-3 * dc_sim_sky_sigma(&b->band[band], DC_SIM_PIXEL_SCALE), worst = 0, peak = 0;
        memset(ref, 0, n * sizeof *ref);
        for (size_t k = a->n_objects; k < b->n_objects; k++)
            dc_sim_render_object(ref, b->width, b->height, &b->objects[k], band, DC_SIM_PIXEL_SCALE, b->band[band].fwhm, eps);
        for (size_t i = 0; i < n; i++) {
            double d = (double)b->image[band]->data[i] - a->image[band]->data[i];
            worst = fmax(worst, fabs(d - ref[i]));
            peak = fmax(peak, ref[i]);
        }
        /* float sums in another order: a few ulp of the brightest pixel */
        CHECK(peak > 0 && worst <= 1e-5 * peak, "band %d: difference off its own rendering by %g (peak %g)", band, worst, peak);
    }
    free(ref);
    dc_sim_field_free(a);
    dc_sim_field_free(b);
}

static int truth_kind_count(const dc_sim_field *f, const char *kind)
{
    dc_catalog *t = NULL;
    if (dc_sim_field_truth(f, &t) != DC_STATUS_OK) return -1;
    int col = -1;
    for (int j = 0; j < t->ncols; j++)
        if (strcmp(t->cols[j].name, "kind") == 0) col = j;
    int n = 0;
    for (long r = 0; r < t->nrows && col >= 0; r++) n += strcmp(t->cols[col].str[r], kind) == 0;
    dc_catalog_free(t);
    return col < 0 ? -1 : n;
}

/* Counts over many seeds against the Poisson means of the requested densities. */
static void test_counts(void)
{
    const int seeds = 30; /* 900 px fields: 4 sigma is ~20% of the mean LRG count */
    const double dens = 1000; /* per deg^2, so a small field holds a few of each */
    long lrg = 0, pair = 0, compact = 0, ncl[3] = {0}, wrong = 0, truth_targets = 0, truth_conf = 0;
    double area_region = 0, area_image = 0;
    for (int s = 0; s < seeds; s++) {
        dc_sim_field_config c;
        blank_config(&c, 900, 900, 1000 + s);
        c.confound.lrgs = c.confound.pairs = c.confound.compact_groups = dens;
        c.confound.foreground_groups = c.confound.background_clusters = c.confound.failed_cut_clusters = dens;
        dc_sim_field *f;
        CHECK_OK(dc_sim_field_new(&c, &f));
        if (!f) return;
        area_region += field_area(f, 64);
        area_image += field_area(f, 0);
        for (size_t k = 0; k < f->n_objects; k++) {
            const dc_sim_object *o = &f->objects[k];
            if (!(o->flags & DC_SIM_FLAG_CONFOUNDER)) wrong++;
            if (o->flags & DC_SIM_FLAG_LRG) {
                lrg++;
                double gr, ri;
                dc_sim_red_sequence(o->z, &gr, &ri);
                CHECK(o->z >= 0.1 && o->z <= 0.4 && o->abs_r >= -23.5 && o->abs_r <= -22.5 && o->cluster == -1 &&
                          fabs(o->mag[0] - o->mag[1] - gr) < 1e-4 && fabs(o->mag[1] - o->mag[2] - ri) < 1e-4 &&
                          o->bulge_frac[1] == 1,
                      "LRG %zu: z %g M_r %g g-r %g (red sequence %g)", k, o->z, o->abs_r, o->mag[0] - o->mag[1], gr);
            }
            if (o->flags & DC_SIM_FLAG_PAIR) pair++;
            if (o->flags & DC_SIM_FLAG_COMPACT) compact++;
            /* the two of a pair: consecutive, one z, 10-50 kpc apart */
            if ((o->flags & DC_SIM_FLAG_PAIR) && k + 1 < f->n_objects && (f->objects[k + 1].flags & DC_SIM_FLAG_PAIR) &&
                f->objects[k + 1].z == o->z) {
                dc_cosmo cz = {.h0 = c.model.h0, .om = c.model.om};
                double sep = hypot(f->objects[k + 1].x - o->x, f->objects[k + 1].y - o->y) * DC_SIM_PIXEL_SCALE *
                             dc_cosmo_kpc_per_arcsec(&cz, o->z);
                CHECK(sep > 9.9 && sep < 50.1, "pair at z %g: %g kpc apart", o->z, sep);
                k++;
                pair++;
            }
        }
        for (size_t k = 0; k < f->n_clusters; k++) {
            const dc_sim_cluster *q = &f->clusters[k];
            int i = q->kind - DC_SIM_CLUSTER_KIND_FOREGROUND;
            CHECK(i >= 0 && i < 3, "cluster kind %d in a field with no targets", q->kind);
            if (i < 0 || i >= 3) continue;
            ncl[i]++;
            const double z0[3] = {0.04, 0.25, c.z_min}, z1[3] = {0.08, 0.6, c.z_max}, n0[3] = {3, 20, 8}, n1[3] = {10, 60, 19.5};
            CHECK(q->z >= z0[i] && q->z <= z1[i] && q->n200_mean >= n0[i] - 1e-9 && q->n200_mean <= n1[i] + 1e-9,
                  "kind %d: z %g, N200 %g", q->kind, q->z, q->n200_mean);
        }
        truth_targets += truth_kind_count(f, "cluster");
        truth_conf += truth_kind_count(f, "foreground") + truth_kind_count(f, "background") + truth_kind_count(f, "poor");
        dc_sim_field_free(f);
    }
    CHECK(wrong == 0, "%ld objects without the confounder flag in a sky of confounders", wrong);
    /* galaxies are placed over the field and its 64 px margin; a cluster is listed when its
     * BCG is on the image */
    double m = dens * area_region;
    CHECK(fabs(lrg - m) < 4 * sqrt(m), "LRGs: %ld for a mean of %.1f", lrg, m);
    /* pairs may lose a member beyond the margin: count members, 2 per pair */
    CHECK(fabs(pair - 2 * m) < 4 * 2 * sqrt(m), "pair members: %ld for a mean of %.1f", pair, 2 * m);
    /* 4-8 members (mean 6, mean square 38): compound Poisson */
    CHECK(fabs(compact - 6 * m) < 4 * sqrt(38 * m), "compact group members: %ld for a mean of %.1f", compact, 6 * m);
    double mc = dens * area_image;
    for (int i = 0; i < 3; i++)
        CHECK(fabs(ncl[i] - mc) < 4 * sqrt(mc), "cluster kind %d: %ld for a mean of %.1f", i, ncl[i], mc);
    CHECK(truth_targets == 0 && truth_conf == ncl[0] + ncl[1] + ncl[2], "truth: %ld target rows, %ld confounder rows",
          truth_targets, truth_conf);
}

/* A trail adds its flux per unit length along its line, the Gaussian cross-section it reports,
 * and nothing farther than 5 sigma from it. */
static void test_trail(void)
{
    int found = 0;
    for (uint64_t seed = 1; seed < 40 && found < 3; seed++) {
        dc_sim_field_config c;
        blank_config(&c, 300, 240, seed);
        c.confound.satellite_trails = 1;
        dc_sim_field *f;
        CHECK_OK(dc_sim_field_new(&c, &f));
        if (!f) return;
        if (f->n_artefacts != 1) {
            dc_sim_field_free(f);
            continue;
        }
        found++;
        const dc_sim_artefact *a = &f->artefacts[0];
        CHECK(a->kind == DC_SIM_ARTEFACT_TRAIL && a->width >= 2 && a->width <= 5, "trail width %g", a->width);
        double ux = a->x1 - a->x0, uy = a->y1 - a->y0, s = a->width / 2.3548;
        CHECK(fabs(hypot(ux, uy) - 1) < 1e-9, "direction not a unit vector");
        double peak = a->value / (sqrt(2 * M_PI) * s), mu = 22.5 - 2.5 * log10(peak / pow(DC_SIM_PIXEL_SCALE, 2));
        CHECK(mu >= 19 - 1e-6 && mu <= 23 + 1e-6, "peak surface brightness %g mag/arcsec^2", mu);
        for (int b = 0; b < 3; b++) {
            const float *img = f->image[b]->data;
            const double colour[3] = {pow(10, -0.4 * 0.44), 1, pow(10, 0.4 * 0.11)};
            double lam = !(a->bands & (1 << b)) ? 0 : a->bands == 7 ? a->value * colour[b] : a->value;
            /* cross-sections along the axis the line is closer to, away from the image edges */
            int along_x = fabs(ux) >= fabs(uy), tested = 0;
            int na = along_x ? f->width : f->height, nb = along_x ? f->height : f->width;
            double ua = along_x ? ux : uy, ub = along_x ? uy : ux, c0 = along_x ? a->x0 : a->y0, r0 = along_x ? a->y0 : a->x0;
            for (int i = 0; i < na; i += 7) {
                double rl = r0 + (i - c0) / ua * ub, half = 6 * s / fabs(ua);
                if (rl - half < 0 || rl + half > nb - 1) continue;
                double sum = 0;
                for (int j = (int)floor(rl - half); j <= (int)ceil(rl + half); j++)
                    sum += along_x ? img[(size_t)j * f->width + i] : img[(size_t)i * f->width + j];
                /* flux per column = flux per unit length / |cos| of the angle to the column axis */
                CHECK(fabs(sum - lam / fabs(ua)) <= 2e-3 * lam / fabs(ua) + 1e-7, "band %d trail column %d: %g vs %g", b, i,
                      sum, lam / fabs(ua));
                tested++;
            }
            CHECK(tested >= 5, "only %d cross-sections", tested);
            double far = 0;
            for (int y = 0; y < f->height; y++)
                for (int x = 0; x < f->width; x++) {
                    double d = fabs(-(x - a->x0) * uy + (y - a->y0) * ux);
                    if (d > 5 * s) far = fmax(far, fabs(img[(size_t)y * f->width + x]));
                }
            CHECK(far <= 1e-6 * (peak + 1e-30), "band %d: %g added far from the trail", b, far);
        }
        dc_sim_field_free(f);
    }
    CHECK(found == 3, "only %d fields with one trail", found);
}

/* NaN pixels are exactly the union of the reported stripes (and edge, when NaN); an edge of
 * zeros is exactly zero; the written FITS holds the NaNs; resampling and the composite run. */
static void test_masks(const char *tmp)
{
    int fields_with_nan = 0, edges = 0;
    for (uint64_t seed = 1; seed <= 12; seed++) {
        dc_sim_field_config c;
        dc_sim_field_config_default(&c);
        c.width = 240;
        c.height = 200;
        c.seed = seed;
        c.n_clusters = 0;
        c.confound.masked_stripes = 2;
        c.confound.edge_mask = 0.5;
        dc_sim_field *f;
        CHECK_OK(dc_sim_field_new(&c, &f));
        if (!f) return;
        size_t n = (size_t)f->width * f->height;
        unsigned char *nanmask = calloc(3 * n, 1), *zeromask = calloc(3 * n, 1);
        for (size_t k = 0; k < f->n_artefacts; k++) {
            const dc_sim_artefact *a = &f->artefacts[k];
            if (a->kind != DC_SIM_ARTEFACT_STRIPE && a->kind != DC_SIM_ARTEFACT_EDGE) continue;
            edges += a->kind == DC_SIM_ARTEFACT_EDGE;
            int isnan_ = isnan(a->value);
            CHECK(isnan_ || a->value == 0, "mask value %g", a->value);
            for (int b = 0; b < 3; b++)
                if (a->bands & (1 << b))
                    for (int y = (int)a->y0; y <= (int)a->y1; y++)
                        for (int x = (int)a->x0; x <= (int)a->x1; x++) {
                            size_t i = (size_t)b * n + (size_t)y * f->width + x;
                            if (isnan_) nanmask[i] = 1; /* NaN wins where a stripe crosses a zero edge */
                            else zeromask[i] = 1;
                        }
        }
        /* stripes come after the edge, so a stripe over a zero border is NaN */
        long bad = 0, nans = 0;
        for (int b = 0; b < 3; b++)
            for (size_t i = 0; i < n; i++) {
                float v = f->image[b]->data[i];
                size_t j = (size_t)b * n + i;
                if (nanmask[j]) bad += !isnan(v), nans++;
                else if (zeromask[j]) bad += v != 0;
                else bad += !isfinite(v);
            }
        CHECK(bad == 0, "seed %llu: %ld pixels disagree with the reported masks", (unsigned long long)seed, bad);
        if (nans) {
            fields_with_nan++;
            char dir[512], path[600];
            snprintf(dir, sizeof dir, "%s/mask%llu", tmp, (unsigned long long)seed);
            dc_sim_write_opts o = {.preview_size = 100};
            CHECK_OK(dc_sim_field_write(f, dir, "m", &o)); /* the preview resamples and composes */
            for (int b = 0; b < 3; b++) {
                snprintf(path, sizeof path, "%s/m-%c.fits", dir, "gri"[b]);
                dc_image *im = NULL;
                CHECK_OK(dc_fits_image_read(path, 0, NULL, &im, NULL));
                if (!im) continue;
                long diff = 0;
                for (size_t i = 0; i < n; i++)
                    diff += isnan(im->data[i]) != (nanmask[(size_t)b * n + i] != 0) ||
                            (!isnan(im->data[i]) && im->data[i] != f->image[b]->data[i]);
                CHECK(diff == 0, "%s: %ld pixels differ from the field (NaN included)", path, diff);
                dc_image_free(im);
            }
            dc_image *sm[3] = {0};
            dc_rgb *rgb = NULL;
            for (int b = 0; b < 3; b++) CHECK_OK(dc_image_resample(f->image[b], 57, 50, &sm[b]));
            dc_composite_params p = {.stretch = DC_STRETCH_SQRT, .lo = {0, 0, 0}, .hi = {1, 1, 1}};
            if (sm[0] && sm[1] && sm[2]) CHECK_OK(dc_composite_make(sm[0], sm[1], sm[2], &p, &rgb));
            dc_rgb_free(rgb);
            for (int b = 0; b < 3; b++) dc_image_free(sm[b]);
        }
        free(nanmask);
        free(zeromask);
        dc_sim_field_free(f);
    }
    CHECK(fields_with_nan >= 6 && edges >= 2, "%d fields with NaN, %d edges in 12", fields_with_nan, edges);
}

/* Solve the 4x4 normal equations a x = r (Gaussian elimination, partial pivoting). */
static void solve4(double a[4][4], double r[4], double x[4])
{
    for (int i = 0; i < 4; i++) {
        int p = i;
        for (int k = i + 1; k < 4; k++)
            if (fabs(a[k][i]) > fabs(a[p][i])) p = k;
        for (int k = 0; k < 4; k++) {
            double t = a[i][k];
            a[i][k] = a[p][k];
            a[p][k] = t;
        }
        double t = r[i];
        r[i] = r[p];
        r[p] = t;
        for (int k = i + 1; k < 4; k++) {
            double m = a[k][i] / a[i][i];
            for (int j = i; j < 4; j++) a[k][j] -= m * a[i][j];
            r[k] -= m * r[i];
        }
    }
    for (int i = 3; i >= 0; i--) {
        double s = r[i];
        for (int j = i + 1; j < 4; j++) s -= a[i][j] * x[j];
        x[i] = s / a[i][i];
    }
}

/* The least-squares plane + radial quadratic of a noisy blank field matches the reported
 * coefficients within the noise's own error, and the amplitude stays within the requested one. */
static void test_gradient(void)
{
    dc_sim_field_config c;
    blank_config(&c, 400, 300, 8);
    c.noise = 1;
    c.confound.gradients = 2;
    dc_sim_field *f;
    CHECK_OK(dc_sim_field_new(&c, &f));
    if (!f) return;
    CHECK(f->n_artefacts == 3, "%zu gradients for 3 bands", f->n_artefacts);
    double cx = 0.5 * (f->width - 1), cy = 0.5 * (f->height - 1);
    for (size_t k = 0; k < f->n_artefacts; k++) {
        const dc_sim_artefact *a = &f->artefacts[k];
        int b = a->bands == 1 ? 0 : a->bands == 2 ? 1 : 2;
        double sig = dc_sim_sky_sigma(&f->band[b], DC_SIM_PIXEL_SCALE);
        CHECK(a->kind == DC_SIM_ARTEFACT_GRADIENT && 2 * hypot(a->x0, a->y0) <= 2 * sig + 1e-12 && fabs(a->x1) <= 0.5 * sig,
              "band %d gradient (%g, %g, %g) for sigma %g", b, a->x0, a->y0, a->x1, sig);
        double m[4][4] = {{0}}, r[4] = {0}, x[4];
        for (int y = 0; y < f->height; y++)
            for (int xx = 0; xx < f->width; xx++) {
                double X = (xx - cx) / cx, Y = (y - cy) / cy, v[4] = {1, X, Y, X * X + Y * Y};
                double d = f->image[b]->data[(size_t)y * f->width + xx];
                for (int i = 0; i < 4; i++) {
                    r[i] += v[i] * d;
                    for (int j = 0; j < 4; j++) m[i][j] += v[i] * v[j];
                }
            }
        solve4(m, r, x);
        /* a slope's error: sigma / sqrt(sum X^2) = sigma sqrt(3 / N); 5 of those */
        double tol = 5 * sig * sqrt(3.0 / ((double)f->width * f->height)) * 3; /* x3: the quadratic's correlation */
        CHECK(fabs(x[1] - a->x0) < tol && fabs(x[2] - a->y0) < tol && fabs(x[3] - a->x1) < 2 * tol,
              "band %d: fit (%g, %g, %g) vs reported (%g, %g, %g), tol %g", b, x[1], x[2], x[3], a->x0, a->y0, a->x1, tol);
    }
    dc_sim_field_free(f);
}

/* Spikes: the difference a spike makes is >= 0, lies along the rows and columns of stars, and an
 * arm's cross-section at distance t holds strength/4 * flux * FWHM / t^2. */
static void test_spikes(void)
{
    dc_sim_field_config c;
    blank_config(&c, 400, 400, 4);
    c.bright_stars = 3000; /* g 8-12: ~10 stars */
    dc_sim_field *a, *b;
    CHECK_OK(dc_sim_field_new(&c, &a));
    c.confound.star_spikes = 0.01;
    CHECK_OK(dc_sim_field_new(&c, &b));
    if (!a || !b) return;
    CHECK(a->n_objects == b->n_objects && memcmp(a->objects, b->objects, a->n_objects * sizeof *a->objects) == 0,
          "spikes changed the objects");
    int w = a->width, h = a->height, arms = 0;
    for (int band = 0; band < 3; band++) {
        double fwhm = a->band[band].fwhm / DC_SIM_PIXEL_SCALE, s = sqrt(pow(fwhm / 2.3548, 2) + 1.0 / 12);
        double total = 0, along = 0, neg = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double d = (double)b->image[band]->data[(size_t)y * w + x] - a->image[band]->data[(size_t)y * w + x];
                total += fabs(d);
                neg = fmin(neg, d);
                int on = 0;
                for (size_t k = 0; k < a->n_objects && !on; k++)
                    on = fabs(x - a->objects[k].x) <= 4.5 * s || fabs(y - a->objects[k].y) <= 4.5 * s;
                if (on) along += fabs(d);
            }
        CHECK(total > 0 && along >= (1 - 1e-6) * total && neg > -1e-6, "band %d: %g of %g along the rows and columns (min %g)",
              band, along, total, neg);
        /* the +x arm of stars with nothing else on their row, at t = 12..40 px */
        for (size_t k = 0; k < a->n_objects; k++) {
            const dc_sim_object *o = &a->objects[k];
            if (o->x < 0 || o->x + 45 > w - 1 || o->y < 10 || o->y > h - 11) continue;
            int alone = 1;
            for (size_t j = 0; j < a->n_objects; j++)
                if (j != k && (fabs(a->objects[j].y - o->y) < 12 || fabs(a->objects[j].x - o->x - 25) < 25)) alone = 0;
            if (!alone) continue;
            double amp = 0.25 * 0.01 * dc_sim_mag_to_flux(o->mag[band]) * fwhm;
            for (int t = 12; t <= 40; t += 7) {
                int x = (int)ceil(o->x) + t;
                double sum = 0;
                for (int y = (int)o->y - 9; y <= (int)o->y + 9; y++)
                    sum += (double)b->image[band]->data[(size_t)y * w + x] - a->image[band]->data[(size_t)y * w + x];
                double tt = x - o->x;
                CHECK(fabs(sum / (amp / (tt * tt)) - 1) < 2e-3, "band %d star %zu t %.1f: arm %g vs %g", band, k, tt, sum,
                      amp / (tt * tt));
                /* and nothing on the diagonal at the same distance */
                int xd = (int)lround(o->x + tt / sqrt(2)), yd = (int)lround(o->y + (o->y < h / 2 ? 1 : -1) * tt / sqrt(2));
                double dd = (double)b->image[band]->data[(size_t)yd * w + xd] - a->image[band]->data[(size_t)yd * w + xd];
                CHECK(fabs(dd) < 1e-6 * amp / (tt * tt), "band %d star %zu: %g on the diagonal", band, k, dd);
            }
            arms++;
        }
    }
    CHECK(arms >= 3, "only %d arms measured", arms);
    dc_sim_field_free(a);
    dc_sim_field_free(b);
}

/* Everything on: one seed, one set of bits (NaN patterns included); another seed differs. */
static void test_deterministic(void)
{
    dc_sim_field_config c;
    dc_sim_field_config_default(&c);
    c.width = 400;
    c.height = 300;
    c.seed = 31;
    dc_sim_confound_realistic(&c.confound);
    dc_sim_artefacts_realistic(&c.confound);
    c.confound.lrgs = c.confound.pairs = c.confound.compact_groups = c.confound.background_clusters = 300;
    c.confound.satellite_trails = c.confound.masked_stripes = 2;
    c.confound.edge_mask = 1;
    dc_sim_field *a, *b, *d;
    CHECK_OK(dc_sim_field_new(&c, &a));
    CHECK_OK(dc_sim_field_new(&c, &b));
    c.seed = 32;
    CHECK_OK(dc_sim_field_new(&c, &d));
    if (!a || !b || !d) return;
    CHECK(field_hash(a) == field_hash(b), "one seed, two images");
    CHECK(field_hash(a) != field_hash(d), "two seeds, one image");
    CHECK(a->n_artefacts == b->n_artefacts && memcmp(a->artefacts, b->artefacts, a->n_artefacts * sizeof *a->artefacts) == 0,
          "artefacts differ for one seed");
    CHECK(a->n_clusters == b->n_clusters && memcmp(a->clusters, b->clusters, a->n_clusters * sizeof *a->clusters) == 0,
          "clusters differ for one seed");
    dc_sim_field_free(a);
    dc_sim_field_free(b);
    dc_sim_field_free(d);
}

/* Two overlapping survey cut-outs show the same confounder galaxies where they overlap, and the
 * confounder clusters near them in both. */
static void test_survey(void)
{
    dc_sim_survey_config s;
    test_sim_survey_config(&s, 9, 150, 153, 0, 3);
    dc_sim_survey *sv;
    CHECK_OK(dc_sim_survey_new(&s, &sv));
    if (!sv) return;
    dc_sim_field_config c;
    dc_sim_field_config_default(&c);
    c.width = c.height = 400;
    c.galaxy_density = c.star_density = 0.05;
    c.confound.lrgs = c.confound.pairs = c.confound.compact_groups = 1000;
    c.confound.background_clusters = 100;
    dc_sim_field *a, *b;
    double shift = 200 * DC_SIM_PIXEL_SCALE / 3600; /* half a field east */
    CHECK_OK(dc_sim_survey_field(sv, &c, 151.0, 1.5, 1, &a));
    CHECK_OK(dc_sim_survey_field(sv, &c, 151.0 + shift, 1.5, 2, &b));
    if (!a || !b) return;
    int both = 0, missing = 0;
    for (size_t k = 0; k < a->n_objects; k++) {
        const dc_sim_object *o = &a->objects[k];
        if (!(o->flags & (DC_SIM_FLAG_LRG | DC_SIM_FLAG_PAIR | DC_SIM_FLAG_COMPACT))) continue;
        /* in b's image too, with room for sub-pixel projection differences */
        double xb, yb;
        CHECK_OK(dc_wcs_world2pix(b->wcs, 1, &o->ra, &o->dec, &xb, &yb));
        if (xb < 5 || yb < 5 || xb > b->width - 6 || yb > b->height - 6) continue;
        int found = 0;
        for (size_t j = 0; j < b->n_objects && !found; j++)
            found = b->objects[j].flags == o->flags && b->objects[j].ra == o->ra && b->objects[j].dec == o->dec &&
                    memcmp(b->objects[j].mag, o->mag, sizeof o->mag) == 0;
        both += found;
        missing += !found;
    }
    CHECK(both >= 5 && missing == 0, "overlap: %d confounder galaxies in both cut-outs, %d missing", both, missing);
    int bg = 0;
    for (size_t k = 0; k < a->n_clusters; k++) bg += a->clusters[k].kind == DC_SIM_CLUSTER_KIND_BACKGROUND;
    for (size_t k = 0; k < b->n_clusters; k++) bg += b->clusters[k].kind == DC_SIM_CLUSTER_KIND_BACKGROUND;
    /* 100 per deg^2 on 2 x 0.0121 deg^2: ~2.4; also members of ones beyond the edges */
    long members = 0;
    for (size_t k = 0; k < a->n_objects; k++) members += (a->objects[k].flags & DC_SIM_FLAG_CONFOUNDER) && a->objects[k].z >= 0.25 &&
                                                         !(a->objects[k].flags & (DC_SIM_FLAG_LRG | DC_SIM_FLAG_PAIR | DC_SIM_FLAG_COMPACT));
    CHECK(members > 0, "no background cluster members in the cut-out (%d background clusters listed)", bg);
    dc_sim_field_free(a);
    dc_sim_field_free(b);
    dc_sim_survey_free(sv);
}

static void test_bad_config(void)
{
    dc_sim_field_config c;
    blank_config(&c, 100, 100, 1);
    dc_sim_field *f = NULL;
    c.confound.lrgs = -1;
    CHECK_FAILS(dc_sim_field_new(&c, &f), DC_STATUS_INVALID_ARG, "lrgs");
    c.confound.lrgs = 0;
    c.confound.edge_mask = 1.5;
    CHECK_FAILS(dc_sim_field_new(&c, &f), DC_STATUS_INVALID_ARG, "edge_mask");
    c.confound.edge_mask = 0;
    c.confound.star_spikes = 0.5;
    CHECK_FAILS(dc_sim_field_new(&c, &f), DC_STATUS_INVALID_ARG, "star_spikes");
    CHECK(f == NULL, "a field from a bad config");
}

int main(void)
{
    char tmp[] = "/tmp/dc_test_confound_XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    test_off_identical();
    test_additive();
    test_counts();
    test_trail();
    test_masks(tmp);
    test_gradient();
    test_spikes();
    test_deterministic();
    test_survey();
    test_bad_config();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return dc_test_finish("test_sim_confound");
}
