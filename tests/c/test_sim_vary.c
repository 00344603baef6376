/* Randomised conditions, populations and cluster looks (dc_sim_vary), each measured on rendered
 * output: vary off is bit-identical to the simulator before vary existed; the Moffat tables for
 * beta 2.5-5 against the analytic profile; a star's FWHM (from its half-light radius), beta (from
 * its profile), ellipticity and angle (from its moments), wing flux and zero-point scale measured
 * on the image; blank-sky sigma against the noise formula and its change with sky_offset and
 * depth_offset; the drawn values over many seeds fill their ranges; red-sequence offset, slope
 * and scatter measured on members; miscentring, ellipticity, magnitude gaps and bimodal clusters
 * measured on member positions and magnitudes; field-galaxy counts and sizes move with lf_mstar
 * and size_scale; same seed => same images with vary on. Images are simulated. */
#include "astro/astro.h"
#include "dc_test.h"
#include "sim/sim.h"
#include "test_sim_util.h"

/* The images, then every object's magnitudes and position. */
static uint64_t field_hash(const dc_sim_field *f)
{
    uint64_t h = test_sim_image_hash(f);
    for (size_t k = 0; k < f->n_objects; k++) {
        const dc_sim_object *o = &f->objects[k];
        h = test_fnv(h, o->mag, sizeof o->mag);
        h = test_fnv(h, &o->x, sizeof o->x);
        h = test_fnv(h, &o->y, sizeof o->y);
    }
    return h;
}

/* vary off: the checksums below were recorded from the unmodified build (commit 33f7336, before
 * dc_sim_vary existed; RelWithDebInfo, gcc, x86-64) with this same hash and these configs. */
static void test_off_unchanged(void)
{
    dc_sim_field_config c;
    dc_sim_field_config_default(&c);
    c.width = 320;
    c.height = 256;
    c.seed = 3;
    c.n_clusters = 1;
    c.groups = 200;
    c.bright_stars = 100;
    dc_sim_field *f;
    CHECK_OK(dc_sim_field_new(&c, &f));
    if (f) {
        CHECK(field_hash(f) == 0x27e9f0a20e01914bULL && f->n_objects == 241, "field hash %016llx n %zu",
              (unsigned long long)field_hash(f), f->n_objects);
        dc_sim_field_free(f);
    }
    dc_sim_survey_config s;
    test_sim_survey_config(&s, 4, 150, 152, 0, 2);
    dc_sim_survey *sv;
    CHECK_OK(dc_sim_survey_new(&s, &sv));
    dc_sim_field_config fc;
    dc_sim_field_config_default(&fc);
    fc.width = fc.height = 256;
    CHECK_OK(dc_sim_survey_field(sv, &fc, sv->clusters[0].ra, sv->clusters[0].dec, 9, &f));
    CHECK(field_hash(f) == 0xa1f7cb2ca883b61aULL && f->n_objects == 287 && sv->n_clusters == 79,
          "survey hash %016llx n %zu clusters %zu", (unsigned long long)field_hash(f), f->n_objects, sv->n_clusters);
    dc_sim_field_free(f);
    dc_sim_survey_free(sv);
}

/* Moffat tables: each row against the normalised analytic Moffat (flux to 60 FWHM). */
static void test_moffat_tables(void)
{
    for (int i = 0; i <= 25; i++) {
        double beta = 2.5 + 0.1 * i, alpha = 1 / (2 * sqrt(pow(2, 1 / beta) - 1));
        double norm = M_PI * alpha * alpha / (beta - 1) * (1 - pow(1 + 3600 / (alpha * alpha), 1 - beta));
        CHECK_CLOSE(dc_sim_moffat_beta_nearest(beta), beta, 1e-9, 0);
        const double *m;
        int n = dc_sim_moffat_mixture(beta, &m);
        double wsum = 0, worst = 0;
        for (int k = 0; k < n; k++) wsum += m[2 * k];
        CHECK_CLOSE(wsum, 1.0, 1e-6, 0);
        double peak = 0, half = 0;
        for (double r = 0; r <= 3.0001; r += 0.05) {
            double mix = 0;
            for (int k = 0; k < n; k++) mix += m[2 * k] * exp(-r * r / (2 * m[2 * k + 1])) / (2 * M_PI * m[2 * k + 1]);
            double a = dc_sim_moffat_value(beta, r) / norm;
            CHECK(fabs(dc_sim_moffat_value(beta, r) - pow(1 + r * r / (alpha * alpha), -beta)) < 1e-12, "value");
            worst = fmax(worst, fabs(mix / a - 1));
            if (r == 0) peak = mix;
            if (fabs(r - 0.5) < 1e-9) half = mix;
        }
        /* beta 3 is the fixed simulator's table (5 %, test_sim_render); the new rows fit to 1.5 % */
        CHECK(worst < (beta == DC_SIM_MOFFAT_BETA ? 0.05 : 0.015), "beta %.1f: mixture off the Moffat by %.3f within 3 FWHM", beta, worst);
        CHECK(fabs(half / peak - 0.5) < 0.004, "beta %.1f: half maximum %.4f at FWHM/2", beta, half / peak);
    }
}

static dc_sim_object star_at(double x, double y, double mag)
{
    dc_sim_object o;
    memset(&o, 0, sizeof o);
    o.kind = DC_SIM_OBJECT_KIND_STAR;
    o.x = x;
    o.y = y;
    o.cluster = -1;
    for (int b = 0; b < 3; b++) o.mag[b] = (float)mag;
    return o;
}

/* Flux within radius rad of (xc, yc), pixels split 8 x 8 for the aperture edge. */
static double aperture(const float *img, int w, int h, double xc, double yc, double rad)
{
    double s = 0;
    for (int y = (int)floor(yc - rad - 1); y <= (int)ceil(yc + rad + 1); y++)
        for (int x = (int)floor(xc - rad - 1); x <= (int)ceil(xc + rad + 1); x++) {
            if (x < 0 || y < 0 || x >= w || y >= h) continue;
            int in = 0;
            for (int j = 0; j < 8; j++)
                for (int i = 0; i < 8; i++) {
                    double dx = x - 0.5 + (i + 0.5) / 8 - xc, dy = y - 0.5 + (j + 0.5) / 8 - yc;
                    in += dx * dx + dy * dy <= rad * rad;
                }
            s += img[(size_t)y * w + x] * in / 64.0;
        }
    return s;
}

/* Radius holding half of `total`, by bisection on the aperture flux. */
static double half_light(const float *img, int w, int h, double xc, double yc, double total)
{
    double lo = 0.1, hi = 60;
    for (int i = 0; i < 40; i++) {
        double mid = 0.5 * (lo + hi);
        if (aperture(img, w, h, xc, yc, mid) < 0.5 * total) lo = mid; else hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* Half-light radius in FWHM units of a Moffat core (1 - wf) plus a Gaussian wing wf of FWHM ws:
 * analytic enclosed fractions, solved by bisection. */
static double half_light_expected(double beta, double wf, double ws)
{
    double alpha = 1 / (2 * sqrt(pow(2, 1 / beta) - 1)), sg = ws / 2.354820045, lo = 0.05, hi = 10;
    for (int i = 0; i < 60; i++) {
        double r = 0.5 * (lo + hi);
        double f = (1 - wf) * (1 - pow(1 + r * r / (alpha * alpha), 1 - beta)) + wf * (1 - exp(-r * r / (2 * sg * sg)));
        if (f < 0.5) lo = r; else hi = r;
    }
    return 0.5 * (lo + hi);
}

/* A star rendered with a general PSF: FWHM, beta, ellipticity, angle and wing flux measured. */
static void test_psf_measured(void)
{
    const int w = 241, h = 241;
    float *img = malloc((size_t)w * h * sizeof *img);
    const double betas[3] = {2.5, 3.5, 4.5};
    for (int k = 0; k < 3; k++) {
        dc_sim_psf p;
        dc_sim_psf_default(&p, 10 * DC_SIM_PIXEL_SCALE); /* FWHM 10 px: pixel box negligible */
        p.beta = betas[k];
        memset(img, 0, (size_t)w * h * sizeof *img);
        dc_sim_object s = star_at(120, 120, 15);
        dc_sim_render_object_psf(img, w, h, &s, 1, DC_SIM_PIXEL_SCALE, &p, 1e-9);
        /* FWHM: the half maximum along the row */
        const float *row = img + 120 * w;
        double peak = row[120], hw = 0;
        for (int x = 120; x < w - 1; x++)
            if (row[x + 1] < peak / 2) { hw = x - 120 + (row[x] - peak / 2) / (row[x] - row[x + 1]); break; }
        CHECK(fabs(2 * hw / 10 - 1) < 0.02, "beta %.1f: FWHM %.3f px vs 10", betas[k], 2 * hw);
        /* beta from I(2 FWHM) / I(0) = (1 + 16 (2^(1/beta) - 1))^-beta, solved by bisection */
        double ratio = row[140] / peak, lo = 1.5, hi = 8;
        for (int i = 0; i < 60; i++) {
            double b = 0.5 * (lo + hi), r = pow(1 + 16 * (pow(2, 1 / b) - 1), -b);
            if (r > ratio) lo = b; else hi = b; /* the ratio falls as beta grows */
        }
        CHECK(fabs(0.5 * (lo + hi) - betas[k]) < 0.15, "beta measured %.3f vs %.1f", 0.5 * (lo + hi), betas[k]);
        /* the flux is the catalogue flux */
        CHECK(fabs(aperture(img, w, h, 120, 120, 115) / dc_sim_mag_to_flux(15) - 1) < 0.01, "beta %.1f flux", betas[k]);
    }
    /* ellipticity and angle from the second moments of an elliptical PSF star */
    dc_sim_psf p;
    dc_sim_psf_default(&p, 4 * DC_SIM_PIXEL_SCALE);
    p.beta = 4.0;
    p.e = 0.08;
    p.pa = 30;
    memset(img, 0, (size_t)w * h * sizeof *img);
    dc_sim_object s = star_at(120.3, 119.8, 15);
    dc_sim_render_object_psf(img, w, h, &s, 1, DC_SIM_PIXEL_SCALE, &p, 1e-9);
    double sxx = 0, sxy = 0, syy = 0, sum = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double v = img[(size_t)y * w + x], dx = x - s.x, dy = y - s.y;
            if (dx * dx + dy * dy > 100 * 100) continue;
            sum += v;
            sxx += v * dx * dx;
            syy += v * dy * dy;
            sxy += v * dx * dy;
        }
    sxx = sxx / sum - 1.0 / 12; /* the pixel box, as rendered */
    syy = syy / sum - 1.0 / 12;
    sxy /= sum;
    double e = sqrt(pow(sxx - syy, 2) + 4 * sxy * sxy) / (sxx + syy);
    double ang = 0.5 * atan2(2 * sxy, sxx - syy) * 180 / M_PI; /* from +x towards +y */
    double expect = 90 + 30;                                  /* major axis (-sin pa, cos pa) */
    double dang = fmod(ang - expect + 360 + 90, 180) - 90;
    CHECK(fabs(e - 0.08) < 0.005, "PSF distortion measured %.4f vs 0.08", e);
    CHECK(fabs(dang) < 2, "PSF angle measured %.2f vs %.2f", ang, expect);
    /* wing: the flux beyond 2.5 FWHM grows by wf (G_out - M_out) */
    double out[2];
    for (int k = 0; k < 2; k++) {
        dc_sim_psf q;
        dc_sim_psf_default(&q, 6 * DC_SIM_PIXEL_SCALE);
        q.beta = 3.5;
        q.wing_frac = k ? 0.04 : 0;
        q.wing_scale = 4;
        memset(img, 0, (size_t)w * h * sizeof *img);
        s = star_at(120, 120, 15);
        dc_sim_render_object_psf(img, w, h, &s, 1, DC_SIM_PIXEL_SCALE, &q, 1e-9);
        double tot = aperture(img, w, h, 120, 120, 118);
        out[k] = 1 - aperture(img, w, h, 120, 120, 15) / tot;
    }
    double sg = 4 / 2.354820045, g_out = exp(-2.5 * 2.5 / (2 * sg * sg));
    double expect_out = (1 - 0.04) * out[0] + 0.04 * g_out;
    CHECK(fabs(out[1] / expect_out - 1) < 0.05, "wing: flux beyond 2.5 FWHM %.4f vs %.4f (no wing %.4f)", out[1],
          expect_out, out[0]);
    free(img);
}

static void blank_config(dc_sim_field_config *c, uint64_t seed)
{
    dc_sim_field_config_default(c);
    c->width = c->height = 16;
    c->seed = seed;
    c->n_clusters = 0;
    c->galaxy_density = c->star_density = c->groups = c->nearby_galaxies = c->bright_stars = 0;
    c->vary.enabled = 1;
}

/* Drawn values over many seeds stay inside and fill their ranges. */
static void test_ranges(void)
{
    const double med[3] = {21.80, 20.86, 20.20};
    double lo[12], hi[12];
    for (int k = 0; k < 12; k++) lo[k] = INFINITY, hi[k] = -INFINITY;
    dc_sim_vary d;
    dc_sim_vary_default(&d);
    for (int seed = 1; seed <= 400; seed++) {
        dc_sim_field_config c;
        blank_config(&c, (uint64_t)seed);
        c.noise = 0;
        dc_sim_field *f;
        CHECK_OK(dc_sim_field_new(&c, &f));
        if (!f) continue;
        const dc_sim_conditions *q = &f->cond;
        double sky_off[3], gainr = 0, zp[3];
        for (int b = 0; b < 3; b++) {
            sky_off[b] = f->band[b].sky_mag - med[b];
            zp[b] = q->zp_scale[b];
        }
        gainr = f->band[1].gain / (const double[]){4.71, 4.6, 4.72, 4.76, 4.725, 4.895}[f->camcol - 1];
        const double v[12] = {f->band[1].fwhm, q->psf[1].beta, q->psf[1].e, q->psf[1].wing_frac, q->psf[1].wing_scale,
                              sky_off[1], q->depth, zp[0], gainr, q->lf_mstar, q->size_scale, q->red_fraction};
        for (int k = 0; k < 12; k++) {
            lo[k] = fmin(lo[k], v[k]);
            hi[k] = fmax(hi[k], v[k]);
        }
        /* the g and i PSFs scale as lambda^-0.2; all bands share the shape */
        CHECK_CLOSE(f->band[0].fwhm / f->band[1].fwhm, 1.0564, 1e-9, 0);
        CHECK(q->psf[0].beta == q->psf[1].beta && q->psf[2].e == q->psf[1].e, "bands share the PSF shape");
        for (int b = 0; b < 3; b++) CHECK(sky_off[b] >= -0.5 - 1e-9 && sky_off[b] <= 0.5 + 1e-9, "sky band %d %.3f", b, sky_off[b]);
        CHECK_CLOSE(q->exposure_scale, pow(10, 0.8 * q->depth), 0, 1e-12);
        dc_sim_field_free(f);
    }
    const char *names[12] = {"seeing", "beta", "psf_e", "wing_frac", "wing_scale", "sky r", "depth", "zp g", "gain r",
                             "lf_mstar", "size_scale", "red_fraction"};
    const double rlo[12] = {0.8, 2.5, 0, 0.01, 3, -0.5, -0.5, 0.98, 0.95, -0.2, 0.85, 0.75};
    const double rhi[12] = {2.0, 5.0, 0.1, 0.05, 5, 0.5, 0.5, 1.02, 1.05, 0.2, 1.15, 1.25};
    for (int k = 0; k < 12; k++) {
        double span = rhi[k] - rlo[k];
        CHECK(lo[k] >= rlo[k] - 1e-9 && hi[k] <= rhi[k] + 1e-9, "%s: drawn %.4f..%.4f outside %.4f..%.4f", names[k],
              lo[k], hi[k], rlo[k], rhi[k]);
        CHECK(lo[k] < rlo[k] + 0.05 * span && hi[k] > rhi[k] - 0.05 * span, "%s: drawn %.4f..%.4f do not fill %.4f..%.4f",
              names[k], lo[k], hi[k], rlo[k], rhi[k]);
    }
    /* a fixed seeing key still fixes it */
    dc_sim_field_config c;
    blank_config(&c, 9);
    c.seeing = 1.1;
    dc_sim_field *f;
    CHECK_OK(dc_sim_field_new(&c, &f));
    if (f) CHECK_CLOSE(f->band[1].fwhm, 1.1, 1e-12, 0);
    dc_sim_field_free(f);
    /* bad ranges are errors naming the key */
    blank_config(&c, 9);
    c.vary.beta[0] = 2.0;
    CHECK_FAILS(dc_sim_field_new(&c, &f), DC_STATUS_INVALID_ARG, "beta");
    blank_config(&c, 9);
    c.vary.seeing[0] = 2.5;
    CHECK_FAILS(dc_sim_field_new(&c, &f), DC_STATUS_INVALID_ARG, "seeing");
}

/* Blank-sky sigma against the noise formula, and its shifts with sky_offset and depth_offset. */
static void test_sky_depth(void)
{
    double sig[3], skym[3], nm[3];
    const double sky_off[3] = {0, -0.5, 0}, depth_off[3] = {0, 0, -0.5};
    for (int k = 0; k < 3; k++) {
        dc_sim_field_config c;
        blank_config(&c, 77);
        c.width = c.height = 500;
        c.vary.sky_offset = sky_off[k];
        c.vary.depth_offset = depth_off[k];
        dc_sim_field *f;
        CHECK_OK(dc_sim_field_new(&c, &f));
        if (!f) return;
        const dc_sim_band *p = &f->band[1];
        size_t n = (size_t)f->width * f->height;
        double s1 = 0, s2 = 0;
        for (size_t i = 0; i < n; i++) s1 += f->image[1]->data[i];
        for (size_t i = 0; i < n; i++) s2 += pow(f->image[1]->data[i] - s1 / n, 2);
        sig[k] = sqrt(s2 / (n - 1));
        skym[k] = p->sky_mag;
        nm[k] = p->nmgy_per_dn;
        double sky_dn = pow(10, -0.4 * (p->sky_mag - 22.5)) * 0.396 * 0.396 / p->nmgy_per_dn;
        double expect = p->nmgy_per_dn * sqrt(sky_dn / p->gain + p->darkvar);
        CHECK(fabs(sig[k] / expect - 1) < 0.02, "case %d: sigma %.5f vs formula %.5f", k, sig[k], expect);
        CHECK_CLOSE(dc_sim_sky_sigma(p, DC_SIM_PIXEL_SCALE), expect, 0, 1e-9);
        dc_sim_field_free(f);
    }
    /* the offsets move what they should, and nothing else */
    CHECK_CLOSE(skym[1] - skym[0], -0.5, 1e-9, 0);
    CHECK_CLOSE(nm[1], nm[0], 0, 1e-12);
    CHECK_CLOSE(nm[2] / nm[0], pow(10, 0.4), 0, 1e-9); /* exposure x 10^-0.4: fewer DN per nanomaggy */
    CHECK_CLOSE(skym[2], skym[0], 1e-12, 0);
    /* brighter sky: sigma up by ~10^(0.2 * 0.5) (sky-limited); shallower: the 5-sigma limit
     * -2.5 log10(sigma ratio) moves by ~ -0.5 mag */
    CHECK(fabs(sig[1] / sig[0] / pow(10, 0.1) - 1) < 0.03, "sky_offset -0.5: sigma ratio %.4f", sig[1] / sig[0]);
    double dm = -2.5 * log10(sig[2] / sig[0]);
    CHECK(fabs(dm + 0.5) < 0.05, "depth_offset -0.5: 5-sigma limit moved %.3f mag", dm);
}

/* In a varied field: an isolated star's FWHM (from its half-light radius) and flux (the
 * zero-point scale) measured on the image. */
static void test_field_star(void)
{
    int tested = 0;
    for (uint64_t seed = 21; seed <= 80 && tested < 4; seed++) {
        dc_sim_field_config c;
        blank_config(&c, seed);
        c.width = c.height = 200;
        c.noise = 0;
        c.saturation_dn = 0;
        c.vary.zp = 0.03;
        c.r_limit = 17; /* bright stars only, a few per field */
        c.vary.seeing[0] = 1.2; /* >= 3 px, so that pixelisation stays a small correction */
        c.star_density = 5;
        dc_sim_field *f;
        CHECK_OK(dc_sim_field_new(&c, &f));
        if (!f) continue;
        for (size_t k = 0; k < f->n_objects; k++) {
            const dc_sim_object *s = &f->objects[k];
            if (s->kind != DC_SIM_OBJECT_KIND_STAR || s->x < 60 || s->y < 60 || s->x > 140 || s->y > 140) continue;
            int alone = 1;
            for (size_t j = 0; j < f->n_objects; j++)
                if (j != k && hypot(f->objects[j].x - s->x, f->objects[j].y - s->y) < 80) alone = 0;
            if (!alone) continue;
            for (int b = 0; b < 3; b++) {
                const dc_sim_psf *p = &f->cond.psf[b];
                double truth = dc_sim_mag_to_flux(s->mag[b]);
                double tot = aperture(f->image[b]->data, f->width, f->height, s->x, s->y, 55);
                double rh = half_light(f->image[b]->data, f->width, f->height, s->x, s->y, tot);
                /* pixel values are the profile convolved with the pixel box, and the aperture
                 * spreads each over its pixel again: 2/12 px^2 of variance, which adds
                 * 2 ln 2 x 2/12 to r_half^2 (exact for a Gaussian) */
                rh = sqrt(rh * rh - 2 * log(2) * 2 / 12.0);
                double fwhm = rh / half_light_expected(p->beta, p->wing_frac, p->wing_scale) * DC_SIM_PIXEL_SCALE;
                CHECK(fabs(fwhm / f->band[b].fwhm - 1) < 0.03, "seed %llu band %d: FWHM measured %.3f\" vs %.3f\"",
                      (unsigned long long)seed, b, fwhm, f->band[b].fwhm);
                /* aperture to 55 px misses the far wing: compare against the same fraction of the
                 * analytic profile */
                double a = 55 * DC_SIM_PIXEL_SCALE / p->fwhm, alpha = 1 / (2 * sqrt(pow(2, 1 / p->beta) - 1));
                double sg = p->wing_scale / 2.354820045;
                double inside = (1 - p->wing_frac) * (1 - pow(1 + a * a / (alpha * alpha), 1 - p->beta)) +
                                p->wing_frac * (1 - exp(-a * a / (2 * sg * sg)));
                CHECK(fabs(tot / (truth * inside) / f->cond.zp_scale[b] - 1) < 0.005,
                      "band %d: flux ratio %.4f vs zero-point scale %.4f", b, tot / (truth * inside), f->cond.zp_scale[b]);
            }
            tested++;
        }
        dc_sim_field_free(f);
    }
    CHECK(tested >= 4, "only %d isolated stars", tested);
}

/* Same seed, same images with vary on; another seed differs. */
static void test_deterministic(void)
{
    dc_sim_field_config c;
    dc_sim_field_config_default(&c);
    c.width = 300;
    c.height = 240;
    c.seed = 8;
    c.n_clusters = 1;
    c.vary.enabled = 1;
    dc_sim_field *a, *b, *d;
    CHECK_OK(dc_sim_field_new(&c, &a));
    CHECK_OK(dc_sim_field_new(&c, &b));
    c.seed = 9;
    CHECK_OK(dc_sim_field_new(&c, &d));
    if (a && b && d) {
        CHECK(field_hash(a) == field_hash(b), "one seed, two images");
        CHECK(field_hash(a) != field_hash(d), "two seeds, one image");
        c.seed = 8;
        c.vary.enabled = 0;
        dc_sim_field *o;
        CHECK_OK(dc_sim_field_new(&c, &o));
        if (o) CHECK(field_hash(o) != field_hash(a), "vary on and off give one image");
        dc_sim_field_free(o);
    }
    dc_sim_field_free(a);
    dc_sim_field_free(b);
    dc_sim_field_free(d);
}

/* Members of one cluster generated with the given vary. */
static dc_sim_object *members(dc_sim_cluster *c, const dc_sim_cluster_model *m, const dc_sim_vary *v, uint64_t seed,
                              size_t *n)
{
    dc_sim_object *o = NULL;
    CHECK_OK(dc_sim_cluster_generate_vary(c, m, v, seed, &o, n));
    return o;
}

static void test_red_sequence(void)
{
    dc_sim_cluster_model m;
    dc_sim_cluster_model_default(&m);
    dc_sim_vary v;
    dc_sim_vary_default(&v);
    v.enabled = 1;
    v.rs_offset[0] = v.rs_offset[1] = 0.05;
    v.rs_slope[0] = v.rs_slope[1] = -0.035;
    v.rs_scatter[0] = v.rs_scatter[1] = 0.06;
    double meas[3][3]; /* offset, slope, scatter for: vary, model.rs_offset, fixed */
    for (int k = 0; k < 3; k++) {
        dc_sim_cluster c = {.id = 5, .ra = 150, .dec = 2, .z = 0.15, .n200_mean = 120};
        dc_sim_cluster_model mm = m;
        if (k == 1) mm.rs_offset = 0.1;
        size_t n;
        dc_sim_object *o = members(&c, &mm, k == 0 ? &v : NULL, 3, &n);
        double gr0, ri0;
        dc_sim_red_sequence(0.15, &gr0, &ri0);
        /* least squares of g-r on M_r - M* over red satellites */
        double sx = 0, sy = 0, sxx = 0, sxy = 0;
        int nr = 0;
        for (size_t j = 1; j < n; j++) {
            if (!(o[j].flags & DC_SIM_FLAG_RED)) continue;
            double x = o[j].abs_r - m.mstar, y = o[j].mag[0] - o[j].mag[1] - gr0;
            sx += x;
            sy += y;
            sxx += x * x;
            sxy += x * y;
            nr++;
        }
        double slope = (nr * sxy - sx * sy) / (nr * sxx - sx * sx), icpt = (sy - slope * sx) / nr, ss = 0;
        for (size_t j = 1; j < n; j++) {
            if (!(o[j].flags & DC_SIM_FLAG_RED)) continue;
            double x = o[j].abs_r - m.mstar, y = o[j].mag[0] - o[j].mag[1] - gr0;
            ss += pow(y - icpt - slope * x, 2);
        }
        meas[k][0] = icpt;
        meas[k][1] = slope;
        meas[k][2] = sqrt(ss / (nr - 2));
        CHECK(nr > 100, "only %d red members", nr);
        free(o);
    }
    CHECK(fabs(meas[0][0] - 0.05) < 0.01, "vary rs_offset: measured %.4f vs 0.05", meas[0][0]);
    CHECK(fabs(meas[0][1] + 0.035) < 0.004, "vary rs_slope: measured %.4f vs -0.035", meas[0][1]);
    CHECK(fabs(meas[0][2] / 0.06 - 1) < 0.12, "vary rs_scatter: measured %.4f vs 0.06", meas[0][2]);
    CHECK(fabs(meas[1][0] - 0.1) < 0.01, "model.rs_offset: measured %.4f vs 0.1", meas[1][0]);
    CHECK(fabs(meas[2][0]) < 0.01 && fabs(meas[2][1] + 0.02) < 0.004 && fabs(meas[2][2] / 0.04 - 1) < 0.12,
          "fixed red sequence: %.4f %.4f %.4f", meas[2][0], meas[2][1], meas[2][2]);
}

/* Member positions in proper kpc east and north of the BCG. */
static void positions_kpc(const dc_sim_cluster *c, const dc_sim_object *o, size_t n, double *x, double *y)
{
    dc_cosmo cc = {.h0 = 71, .om = 0.27};
    double kpc = dc_cosmo_kpc_per_arcsec(&cc, c->z), cosd = cos(c->dec * M_PI / 180);
    for (size_t j = 0; j < n; j++) {
        x[j] = (o[j].ra - c->ra) * cosd * 3600 * kpc;
        y[j] = (o[j].dec - c->dec) * 3600 * kpc;
    }
}

static void test_cluster_shapes(void)
{
    dc_sim_cluster_model m;
    dc_sim_cluster_model_default(&m);
    dc_sim_vary base;
    dc_sim_vary_default(&base);
    base.enabled = 1;
    base.miscentre = base.bimodal = base.gap_small = base.gap_fossil = 0;
    base.cluster_q[0] = base.cluster_q[1] = 1;
    base.c_scatter = 0;
    /* bimodal: a sub-clump with half the satellites 1.2 Mpc away: a second density peak (a dip
     * between the two), and far more members there than at the mirror point across the BCG */
    dc_sim_vary v = base;
    v.bimodal = 1;
    v.bimodal_frac[0] = v.bimodal_frac[1] = 0.5;
    v.bimodal_kpc[0] = v.bimodal_kpc[1] = 1200;
    dc_sim_cluster c = {.id = 11, .ra = 150, .dec = 2, .z = 0.12, .n200_mean = 150};
    size_t n;
    dc_sim_object *o = members(&c, &m, &v, 5, &n);
    double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    positions_kpc(&c, o, n, x, y);
    CHECK(c.look.bimodal == 1 && c.look.sub_kpc == 1200, "look not bimodal");
    double pa = c.look.sub_pa * M_PI / 180, sx = 1200 * sin(pa), sy = 1200 * cos(pa);
    int at_main = 0, at_sub = 0, at_mid = 0, at_mirror = 0;
    for (size_t j = 1; j < n; j++) {
        at_main += hypot(x[j], y[j]) < 200;
        at_sub += hypot(x[j] - sx, y[j] - sy) < 200;
        at_mid += hypot(x[j] - sx / 2, y[j] - sy / 2) < 200;
        at_mirror += hypot(x[j] + sx, y[j] + sy) < 200;
    }
    if (getenv("DC_TEST_VERBOSE")) fprintf(stderr, "bimodal counts %d %d %d %d\n", at_main, at_sub, at_mid, at_mirror);
    CHECK(at_main > 1.5 * at_mid && at_sub > 1.5 * at_mid && at_sub > 3 * at_mirror,
          "bimodal: %d members near the main centre, %d near the sub-clump, %d between, %d at the mirror point",
          at_main, at_sub, at_mid, at_mirror);
    free(o), free(x), free(y);

    /* miscentred: the members' median position sits ~200 kpc from the BCG */
    v = base;
    v.miscentre = 1;
    v.miscentre_kpc[0] = v.miscentre_kpc[1] = 200;
    c = (dc_sim_cluster){.id = 12, .ra = 150, .dec = 2, .z = 0.12, .n200_mean = 80};
    o = members(&c, &m, &v, 5, &n);
    x = malloc(n * sizeof *x), y = malloc(n * sizeof *y);
    positions_kpc(&c, o, n, x, y);
    double mx = 0, my = 0;
    for (size_t j = 1; j < n; j++) mx += x[j], my += y[j];
    mx /= (double)(n - 1);
    my /= (double)(n - 1);
    CHECK(fabs(hypot(mx, my) / 200 - 1) < 0.25, "miscentre: members centred %.0f kpc from the BCG vs 200", hypot(mx, my));
    CHECK(fabs(o[0].ra - c.ra) < 1e-12 && fabs(o[0].dec - c.dec) < 1e-12, "the BCG stays at the catalogue position");
    free(o), free(x), free(y);

    /* elongated: q = 0.5 measured from the members' second moments */
    v = base;
    v.cluster_q[0] = v.cluster_q[1] = 0.5;
    c = (dc_sim_cluster){.id = 13, .ra = 150, .dec = 2, .z = 0.12, .n200_mean = 100};
    o = members(&c, &m, &v, 5, &n);
    x = malloc(n * sizeof *x), y = malloc(n * sizeof *y);
    positions_kpc(&c, o, n, x, y);
    double ixx = 0, iyy = 0, ixy = 0;
    for (size_t j = 1; j < n; j++) ixx += x[j] * x[j], iyy += y[j] * y[j], ixy += x[j] * y[j];
    double tr = ixx + iyy, det = ixx * iyy - ixy * ixy, l1 = tr / 2 + sqrt(tr * tr / 4 - det), l2 = tr / 2 - sqrt(tr * tr / 4 - det);
    CHECK(fabs(sqrt(l2 / l1) - 0.5) < 0.08, "cluster axis ratio measured %.3f vs 0.5", sqrt(l2 / l1));
    double ang = 0.5 * atan2(2 * ixy, ixx - iyy) * 180 / M_PI; /* from east towards north */
    double expect = 90 - c.look.theta, dang = fmod(ang - expect + 360 + 90, 180) - 90;
    CHECK(fabs(dang) < 8, "cluster major axis %.1f vs %.1f", ang, expect);
    free(o), free(x), free(y);

    /* magnitude gaps: brightest satellite vs BCG in apparent r */
    for (int kind = 1; kind <= 2; kind++) {
        for (int id = 20; id < 26; id++) {
            v = base;
            if (kind == 1) v.gap_small = 1; else v.gap_fossil = 1;
            c = (dc_sim_cluster){.id = id, .ra = 150, .dec = 2, .z = 0.1 + 0.02 * (id - 20), .n200_mean = 15 + 5 * (id - 20)};
            o = members(&c, &m, &v, 7, &n);
            double m2 = INFINITY;
            for (size_t j = 1; j < n; j++) m2 = fmin(m2, o[j].mag[1]);
            double gap = m2 - o[0].mag[1];
            CHECK(c.look.gap_kind == kind, "gap kind %d", c.look.gap_kind);
            if (kind == 1) CHECK(gap >= 0 && gap < 0.3, "no dominant BCG: gap %.3f", gap);
            else CHECK(gap > 1.5, "fossil-like: gap %.3f", gap);
            CHECK(c.n200 >= 1, "cluster %d: n200 %d", id, c.n200);
            free(o);
        }
    }
}

/* Over many clusters the drawn looks fill their ranges and fractions. */
static void test_cluster_fractions(void)
{
    dc_sim_cluster_model m;
    dc_sim_cluster_model_default(&m);
    dc_sim_vary v;
    dc_sim_vary_default(&v);
    v.enabled = 1;
    int nmis = 0, nbi = 0, nsmall = 0, nfossil = 0, N = 300;
    double lo = 1, hi = -1, qlo = 2;
    for (int id = 1; id <= N; id++) {
        dc_sim_cluster c = {.id = id, .ra = 150, .dec = 2, .z = 0.15, .n200_mean = 5};
        size_t n;
        dc_sim_object *o = members(&c, &m, &v, 9, &n);
        free(o);
        nmis += c.look.offset_kpc > 0;
        nbi += c.look.bimodal;
        nsmall += c.look.gap_kind == 1;
        nfossil += c.look.gap_kind == 2;
        lo = fmin(lo, c.look.rs_offset);
        hi = fmax(hi, c.look.rs_offset);
        qlo = fmin(qlo, c.look.q);
        CHECK(c.look.offset_kpc == 0 || (c.look.offset_kpc >= 50 && c.look.offset_kpc <= 300), "offset %.1f", c.look.offset_kpc);
        CHECK(!c.look.bimodal || (c.look.sub_frac >= 0.2 && c.look.sub_frac <= 0.5 && c.look.sub_kpc >= 200 && c.look.sub_kpc <= 600),
              "sub-clump %.2f %.0f", c.look.sub_frac, c.look.sub_kpc);
    }
    /* binomial 3-sigma bands around the documented fractions */
    const struct { const char *name; int k; double p; } fr[] = {
        {"miscentre", nmis, 0.25}, {"bimodal", nbi, 0.15}, {"gap_small", nsmall, 0.2}, {"gap_fossil", nfossil, 0.1}};
    for (int k = 0; k < 4; k++) {
        double sd = sqrt(N * fr[k].p * (1 - fr[k].p));
        CHECK(fabs(fr[k].k - N * fr[k].p) < 3 * sd, "%s: %d of %d", fr[k].name, fr[k].k, N);
    }
    CHECK(lo >= -0.04 - 1e-12 && lo < -0.036 && hi <= 0.04 + 1e-12 && hi > 0.036, "rs_offset %.4f..%.4f", lo, hi);
    CHECK(qlo >= 0.5 && qlo < 0.53, "cluster q min %.3f", qlo);
    /* the same cluster looks the same wherever it is generated */
    dc_sim_cluster a = {.id = 7, .ra = 150, .dec = 2, .z = 0.15, .n200_mean = 30}, b = a;
    size_t na, nb;
    dc_sim_object *oa = members(&a, &m, &v, 9, &na), *ob = members(&b, &m, &v, 9, &nb);
    CHECK(na == nb && memcmp(oa, ob, na * sizeof *oa) == 0 && a.n200 == b.n200, "one cluster, two looks");
    free(oa);
    free(ob);
}

/* Survey with varied clusters: a cut-out shows the catalogue's cluster (same N200, BCG). */
static void test_survey_consistent(void)
{
    dc_sim_survey_config s;
    test_sim_survey_config(&s, 4, 150, 152, 0, 2);
    s.vary.enabled = 1;
    dc_sim_survey *sv;
    CHECK_OK(dc_sim_survey_new(&s, &sv));
    if (!sv) return;
    dc_sim_field_config fc;
    dc_sim_field_config_default(&fc);
    fc.width = fc.height = 200;
    fc.vary.enabled = 1;
    for (int k = 0; k < 3; k++) {
        const dc_sim_cluster *q = &sv->clusters[k];
        dc_sim_field *f;
        CHECK_OK(dc_sim_survey_field(sv, &fc, q->ra, q->dec, (uint64_t)k, &f));
        if (!f) continue;
        int found = 0;
        for (size_t j = 0; j < f->n_clusters; j++)
            if (f->clusters[j].id == q->id)
                found = f->clusters[j].n200 == q->n200 && f->clusters[j].bcg_rmag == q->bcg_rmag &&
                        f->clusters[j].look.rs_offset == q->look.rs_offset;
        CHECK(found, "survey cluster %lld differs in its cut-out", (long long)q->id);
        dc_sim_field_free(f);
    }
    dc_sim_survey_free(sv);
}

/* Field galaxies: lf_mstar brightens them (more above r_limit, as the counts law says) and
 * size_scale scales their sizes. */
static void test_field_population(void)
{
    double ngal[2], med_re[2];
    for (int k = 0; k < 2; k++) {
        dc_sim_field_config c;
        dc_sim_field_config_default(&c);
        c.width = c.height = 1200;
        c.seed = 31;
        c.n_clusters = 0;
        c.groups = c.nearby_galaxies = c.bright_stars = c.star_density = 0;
        c.noise = 0;
        c.r_limit = 21.5; /* counts slope 0.447 up to r = 22 */
        c.vary.enabled = 1;
        c.vary.lf_alpha[0] = c.vary.lf_alpha[1] = 0;
        c.vary.red_fraction[0] = c.vary.red_fraction[1] = 1;
        c.vary.colour[0] = c.vary.colour[1] = 0;
        c.vary.lf_mstar[0] = c.vary.lf_mstar[1] = k ? -0.3 : 0;
        c.vary.size_scale[0] = c.vary.size_scale[1] = k ? 1.2 : 1.0;
        dc_sim_field *f;
        CHECK_OK(dc_sim_field_new(&c, &f));
        if (!f) return;
        CHECK_CLOSE(f->cond.lf_mstar, k ? -0.3 : 0, 1e-12, 0);
        int n = 0;
        double *re = malloc(f->n_objects * sizeof *re);
        for (size_t j = 0; j < f->n_objects; j++)
            if (f->objects[j].kind == DC_SIM_OBJECT_KIND_GALAXY && f->objects[j].mag[1] < 21.0) re[n++] = f->objects[j].re_disc;
        ngal[k] = n;
        /* median by partial selection sort (small n) */
        for (int i = 0; i <= n / 2; i++)
            for (int j = i + 1; j < n; j++)
                if (re[j] < re[i]) { double t = re[i]; re[i] = re[j]; re[j] = t; }
        med_re[k] = re[n / 2];
        free(re);
        dc_sim_field_free(f);
    }
    /* to r = 21 the counts rise as 10^(0.447 r): 0.3 mag brighter => x 10^(0.134) */
    double expect = pow(10, 0.447 * 0.3), ratio = ngal[1] / ngal[0], sd = expect * sqrt(1 / ngal[0] + 1 / ngal[1]);
    CHECK(fabs(ratio - expect) < 3 * sd, "lf_mstar -0.3: galaxies to r = 21 x %.3f vs %.3f (+- %.3f)", ratio, expect, sd);
    /* brighter galaxies are also a little larger (Shen: ~0.1 dex per mag): allow for 0.3 mag */
    double sr = med_re[1] / med_re[0] / 1.2;
    CHECK(sr > 0.9 && sr < 1.25, "size_scale 1.2: median disc size ratio / 1.2 = %.3f", sr);
}

int main(void)
{
    test_off_unchanged();
    test_moffat_tables();
    test_psf_measured();
    test_ranges();
    test_sky_depth();
    test_field_star();
    test_deterministic();
    test_red_sequence();
    test_cluster_shapes();
    test_cluster_fractions();
    test_survey_consistent();
    test_field_population();
    return dc_test_finish("test_sim_vary");
}
