/* Simulated fields end to end: same seed => bit-identical images and files; blank-sky noise per
 * band matches the header's SKYSIG (the SDSS formula) within 2%; isolated stars in a field
 * have their catalogue magnitudes; galaxy and star counts follow docs/facts.md; the truth catalogue, FITS keywords and WCS agree with the
 * field; bad configurations are clear errors. */
#include <stdint.h>
#include <unistd.h>

#include "astro/astro.h"
#include "dc_test.h"
#include "sim/sim.h"

static int files_equal(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) same = 0;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

static void small_config(dc_sim_field_config *c, uint64_t seed)
{
    dc_sim_field_config_default(c);
    c->width = 600;
    c->height = 500;
    c->seed = seed;
    c->n_clusters = 1;
    c->groups = 100;
    c->bright_stars = 60;
}

static void test_deterministic(const char *tmp)
{
    dc_sim_field_config c;
    small_config(&c, 11);
    dc_sim_field *a, *b, *d;
    CHECK_OK(dc_sim_field_new(&c, &a));
    CHECK_OK(dc_sim_field_new(&c, &b));
    c.seed = 12;
    CHECK_OK(dc_sim_field_new(&c, &d));
    size_t n = (size_t)a->width * a->height;
    for (int k = 0; k < 3; k++) {
        CHECK(memcmp(a->image[k]->data, b->image[k]->data, n * sizeof(float)) == 0, "band %d differs for one seed", k);
        CHECK(memcmp(a->image[k]->data, d->image[k]->data, n * sizeof(float)) != 0, "band %d same for two seeds", k);
    }
    CHECK(a->n_objects == b->n_objects && memcmp(a->objects, b->objects, a->n_objects * sizeof *a->objects) == 0, "objects differ");
    CHECK(a->n_clusters == b->n_clusters && memcmp(a->clusters, b->clusters, a->n_clusters * sizeof *a->clusters) == 0, "clusters differ");
    /* written files are identical byte for byte */
    char d1[512], d2[512], p1[600], p2[600];
    snprintf(d1, sizeof d1, "%s/one", tmp);
    snprintf(d2, sizeof d2, "%s/two", tmp);
    CHECK_OK(dc_sim_field_write(a, d1, "f", NULL));
    CHECK_OK(dc_sim_field_write(b, d2, "f", NULL));
    const char *files[] = {"f-g.fits", "f-r.fits", "f-i.fits", "f-truth.fits", "f-truth.csv", "f.png"};
    for (int k = 0; k < 6; k++) {
        snprintf(p1, sizeof p1, "%s/%s", d1, files[k]);
        snprintf(p2, sizeof p2, "%s/%s", d2, files[k]);
        CHECK(access(p1, R_OK) == 0, "%s missing", p1);
        CHECK(files_equal(p1, p2), "%s differs between two runs of one seed", files[k]);
    }
    dc_sim_field_free(a);
    dc_sim_field_free(b);
    dc_sim_field_free(d);
}

static void test_blank_noise(void)
{
    dc_sim_field_config c;
    dc_sim_field_config_default(&c);
    c.width = c.height = 600;
    c.n_clusters = 0;
    c.galaxy_density = c.star_density = c.groups = c.nearby_galaxies = c.bright_stars = 0;
    for (int camcol = 1; camcol <= 6; camcol += 5) {
        c.camcol = camcol;
        c.seed = 100 + camcol;
        dc_sim_field *f;
        CHECK_OK(dc_sim_field_new(&c, &f));
        CHECK(f->n_objects == 0, "%zu objects in a blank field", f->n_objects);
        for (int b = 0; b < 3; b++) {
            /* sigma from docs/facts.md 4 written out: sky counts from the sky brightness, then
             * sqrt(dn/gain + darkvar) in DN, times nanomaggies per DN */
            const dc_sim_band *p = &f->band[b];
            double sky_dn = pow(10, -0.4 * (p->sky_mag - 22.5)) * 0.396 * 0.396 / p->nmgy_per_dn;
            double expect = p->nmgy_per_dn * sqrt(sky_dn / p->gain + p->darkvar);
            double s1 = 0, s2 = 0;
            size_t n = (size_t)f->width * f->height;
            for (size_t k = 0; k < n; k++) s1 += f->image[b]->data[k];
            for (size_t k = 0; k < n; k++) s2 += pow(f->image[b]->data[k] - s1 / n, 2);
            double sd = sqrt(s2 / (n - 1));
            CHECK(fabs(sd / expect - 1) < 0.02, "camcol %d band %d: sigma %.5f vs %.5f", camcol, b, sd, expect);
            CHECK(fabs(s1 / n) < 5 * expect / sqrt((double)n), "band %d mean %.3g", b, s1 / n);
        }
        dc_sim_field_free(f);
    }
}

static void test_stars_and_truth(const char *tmp)
{
    dc_sim_field_config c;
    dc_sim_field_config_default(&c);
    c.width = c.height = 1000;
    c.seed = 5;
    c.n_clusters = 1;
    c.noise = 0;
    c.saturation_dn = 0;
    c.star_density = 3;
    dc_sim_field *f;
    CHECK_OK(dc_sim_field_new(&c, &f));
    /* isolated stars: no other object within 40 px, 40 px from the edges */
    int tested = 0;
    for (size_t k = 0; k < f->n_objects; k++) {
        const dc_sim_object *s = &f->objects[k];
        if (s->kind != DC_SIM_OBJECT_KIND_STAR || s->mag[1] > 21 || s->x < 40 || s->y < 40 ||
            s->x > f->width - 41 || s->y > f->height - 41)
            continue;
        int alone = 1;
        for (size_t j = 0; j < f->n_objects && alone; j++)
            if (j != k && hypot(f->objects[j].x - s->x, f->objects[j].y - s->y) < 40 && f->objects[j].mag[1] < 26) alone = 0;
        if (!alone) continue;
        for (int b = 0; b < 3; b++) {
            double sum = 0;
            for (int y = (int)s->y - 30; y <= (int)s->y + 30; y++)
                for (int x = (int)s->x - 30; x <= (int)s->x + 30; x++)
                    if (hypot(x - s->x, y - s->y) <= 25) sum += f->image[b]->data[(size_t)y * f->width + x];
            double m = 22.5 - 2.5 * log10(sum);
            /* faint wings of neighbours beyond 40 px may add a little light */
            CHECK(fabs(m - s->mag[b]) < 0.02, "star %zu band %d: aperture %.4f vs %.4f", k, b, m, s->mag[b]);
        }
        tested++;
    }
    CHECK(tested >= 5, "only %d isolated stars", tested);

    /* truth catalogue vs the field, written and read back */
    CHECK(f->n_clusters >= 1, "no cluster");
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/truth", tmp);
    dc_sim_write_opts o = {.preview_size = 300, .write_objects = 1};
    CHECK_OK(dc_sim_field_write(f, dir, "t", &o));
    const char *names[2] = {"t-truth.fits", "t-truth.csv"};
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        dc_catalog *cat = NULL, *canon = NULL;
        CHECK_OK(dc_catalog_read(path, &cat));
        if (!cat) continue;
        CHECK(cat->nrows == (long)f->n_clusters, "%s: %ld rows for %zu clusters", names[k], cat->nrows, f->n_clusters);
        CHECK_OK(dc_catalog_map(cat, DC_CATALOG_FORMAT_CANONICAL, &canon, NULL));
        const double *ra, *dec, *z, *n200, *bx, *by, *rmag;
        CHECK_OK(dc_catalog_get_double(cat, "ra", &ra));
        CHECK_OK(dc_catalog_get_double(cat, "dec", &dec));
        CHECK_OK(dc_catalog_get_double(cat, "z", &z));
        CHECK_OK(dc_catalog_get_double(cat, "n200", &n200));
        CHECK_OK(dc_catalog_get_double(cat, "x", &bx));
        CHECK_OK(dc_catalog_get_double(cat, "y", &by));
        CHECK_OK(dc_catalog_get_double(cat, "bcg_rmag", &rmag));
        for (long r = 0; r < cat->nrows; r++) {
            const dc_sim_cluster *q = &f->clusters[r];
            CHECK_CLOSE(ra[r], q->ra, 1e-12, 0);
            CHECK_CLOSE(dec[r], q->dec, 1e-12, 0);
            CHECK_CLOSE(z[r], q->z, 1e-12, 0);
            CHECK_CLOSE(n200[r], q->n200, 0, 0);
            CHECK_CLOSE(rmag[r], q->bcg_rmag, 1e-9, 0);
            /* the BCG is where the truth says: a local maximum of the r image */
            int x = (int)lround(bx[r]), y = (int)lround(by[r]);
            float v = f->image[1]->data[(size_t)y * f->width + x];
            int peak = 1;
            for (int dy = -2; dy <= 2; dy++)
                for (int dx = -2; dx <= 2; dx++)
                    if (f->image[1]->data[(size_t)(y + dy) * f->width + x + dx] > v) peak = 0;
            CHECK(peak || q->kind == DC_SIM_CLUSTER_KIND_GROUP, "cluster %ld: no peak at its BCG (%d, %d)", r, x, y);
        }
        dc_catalog_free(cat);
        dc_catalog_free(canon);
    }
    /* FITS: WCS and photometric keywords */
    snprintf(path, sizeof path, "%s/t-r.fits", dir);
    dc_image *img = NULL;
    dc_fits_header *h = NULL;
    CHECK_OK(dc_fits_image_read(path, 0, NULL, &img, &h));
    if (img && h) {
        CHECK(memcmp(img->data, f->image[1]->data, (size_t)f->width * f->height * sizeof(float)) == 0, "r image changed on disk");
        double nmgy, sig;
        char filt[16];
        CHECK_OK(dc_fits_header_get_double(h, "NMGY", &nmgy));
        CHECK_CLOSE(nmgy, 0.0051, 1e-12, 0);
        CHECK_OK(dc_fits_header_get_double(h, "SKYSIG", &sig));
        CHECK_CLOSE(sig, dc_sim_sky_sigma(&f->band[1], DC_SIM_PIXEL_SCALE), 1e-9, 1e-9);
        CHECK_OK(dc_fits_header_get_string(h, "FILTER", filt, sizeof filt));
        CHECK(strcmp(filt, "r") == 0, "FILTER %s", filt);
        CHECK(dc_fits_header_has(h, "CD1_1") && dc_fits_header_has(h, "CD2_2"), "no CD matrix");
        dc_wcs *w = NULL;
        CHECK_OK(dc_wcs_from_header(h, &w));
        if (w) {
            double x, y;
            CHECK_OK(dc_wcs_world2pix(w, 1, &f->clusters[0].ra, &f->clusters[0].dec, &x, &y));
            CHECK_CLOSE(x, f->clusters[0].x, 1e-3, 0);
            CHECK_CLOSE(y, f->clusters[0].y, 1e-3, 0);
            double scale;
            CHECK_OK(dc_wcs_pixel_scale(w, 500, 500, &scale));
            CHECK_CLOSE(scale, 0.396, 1e-4, 0);
        }
        dc_wcs_free(w);
    }
    dc_image_free(img);
    dc_fits_header_free(h);
    dc_sim_field_free(f);
}

/* docs/facts.md 5: ~2,000 galaxies per deg^2 to r = 21, ~5,600 to r = 22, ~2,000 stars to g = 21 */
static void test_counts(void)
{
    dc_sim_field_config c;
    dc_sim_field_config_default(&c);
    c.n_clusters = 0;
    c.groups = c.nearby_galaxies = c.bright_stars = 0;
    c.noise = 0;
    double area = 0;
    int g21 = 0, g22 = 0, s21 = 0;
    for (int k = 0; k < 3; k++) {
        c.seed = 300 + k;
        dc_sim_field *f;
        CHECK_OK(dc_sim_field_new(&c, &f));
        if (!f) return;
        area += f->width * f->height * pow(DC_SIM_PIXEL_SCALE / 3600, 2);
        for (size_t j = 0; j < f->n_objects; j++) {
            const dc_sim_object *o = &f->objects[j];
            if (o->x < -0.5 || o->y < -0.5 || o->x >= f->width - 0.5 || o->y >= f->height - 0.5) continue;
            if (o->kind == DC_SIM_OBJECT_KIND_GALAXY) {
                g21 += o->mag[1] < 21;
                g22 += o->mag[1] < 22;
            } else {
                s21 += o->mag[0] < 21;
            }
        }
        dc_sim_field_free(f);
    }
    const double want[3] = {2000 * area, 5600 * area, 2000 * area};
    const int got[3] = {g21, g22, s21};
    for (int k = 0; k < 3; k++)
        CHECK(fabs(got[k] - want[k]) < 4 * sqrt(want[k]), "count %d: %d vs %.1f expected", k, got[k], want[k]);
}

static void test_bad_config(const char *tmp)
{
    dc_sim_field_config c;
    dc_sim_field *f;
    dc_sim_field_config_default(&c);
    c.width = 3;
    CHECK_FAILS(dc_sim_field_new(&c, &f), DC_STATUS_INVALID_ARG, "3x2000");
    dc_sim_field_config_default(&c);
    c.seeing = 9;
    CHECK_FAILS(dc_sim_field_new(&c, &f), DC_STATUS_INVALID_ARG, "seeing 9");
    dc_sim_field_config_default(&c);
    c.z_min = 0.3;
    c.z_max = 0.2;
    CHECK_FAILS(dc_sim_field_new(&c, &f), DC_STATUS_INVALID_ARG, "z_min");
    /* writing into a path whose parent does not exist names the folder */
    small_config(&c, 1);
    c.width = c.height = 64;
    CHECK_OK(dc_sim_field_new(&c, &f));
    char dir[600];
    snprintf(dir, sizeof dir, "%s/no/such", tmp);
    CHECK_FAILS(dc_sim_field_write(f, dir, "x", NULL), DC_STATUS_IO, "no/such");
    dc_sim_field_free(f);
}

int main(void)
{
    char tmp[] = "/tmp/dc_test_sim_XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    test_deterministic(tmp);
    test_blank_noise();
    test_stars_and_truth(tmp);
    test_counts();
    test_bad_config(tmp);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return dc_test_finish("test_sim_field");
}
