/* Rendering core of the simulator: the Gaussian-mixture tables against their analytic profiles,
 * flux conservation of rendered stars and galaxies (aperture magnitude vs catalogue magnitude),
 * the PSF width, blank-sky noise against the SDSS noise formula, and saturation bleed trails. */
#include "dc_test.h"
#include "sim/sim.h"

/* Normalised 2D profile value of the analytic profile at r (unit total flux), by integrating
 * 2 pi r I(r) dr with the midpoint rule on a fine log grid. */
static double analytic_normalised(dc_sim_profile p, double r, double rmax)
{
    double tot = 0, lo = log(1e-6), hi = log(rmax);
    int n = 200000;
    for (int i = 0; i < n; i++) {
        double lr = lo + (hi - lo) * (i + 0.5) / n, rr = exp(lr);
        tot += dc_sim_profile_value(p, rr) * 2 * M_PI * rr * rr * (hi - lo) / n;
    }
    return dc_sim_profile_value(p, r) / tot;
}

static double mixture_value(dc_sim_profile p, double r)
{
    const double *m;
    int n = dc_sim_profile_mixture(p, &m);
    double s = 0;
    for (int k = 0; k < n; k++) s += m[2 * k] * exp(-r * r / (2 * m[2 * k + 1])) / (2 * M_PI * m[2 * k + 1]);
    return s;
}

static void test_mixtures(void)
{
    struct { dc_sim_profile p; double rmax, r_lo, r_hi, tol; } cases[] = {
        {DC_SIM_PROFILE_DEV, 8, 0.05, 5.0, 0.05},   /* de Vaucouleurs: 5% from 0.05 to 5 Re */
        {DC_SIM_PROFILE_EXP, 4, 0.05, 2.5, 0.05},   /* exponential: 5% to 2.5 Re */
        {DC_SIM_PROFILE_MOFFAT, 60, 0.0, 3.0, 0.05} /* Moffat: 5% to 3 FWHM (0.1% of peak) */
    };
    for (int c = 0; c < 3; c++) {
        const double *m;
        int n = dc_sim_profile_mixture(cases[c].p, &m);
        double wsum = 0;
        for (int k = 0; k < n; k++) wsum += m[2 * k];
        CHECK_CLOSE(wsum, 1.0, 1e-6, 0);
        for (double r = cases[c].r_lo; r <= cases[c].r_hi; r += 0.05) {
            double a = analytic_normalised(cases[c].p, r, cases[c].rmax), b = mixture_value(cases[c].p, r);
            CHECK(fabs(b / a - 1) < cases[c].tol, "profile %d at r=%.2f: mixture %.5g analytic %.5g", c, r, b, a);
        }
    }
    /* the half-maximum of the Moffat mixture is at r = FWHM/2 */
    double peak = mixture_value(DC_SIM_PROFILE_MOFFAT, 0), half = mixture_value(DC_SIM_PROFILE_MOFFAT, 0.5);
    CHECK_CLOSE(half / peak, 0.5, 0.01, 0);
}

static double aperture_sum(const float *img, int w, int h, double xc, double yc, double rad)
{
    double s = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if ((x - xc) * (x - xc) + (y - yc) * (y - yc) <= rad * rad) s += img[(size_t)y * w + x];
    return s;
}

static dc_sim_object make_galaxy(double x, double y, double mag, double fb, double re_b,
                                 double re_d, double q, double pa)
{
    dc_sim_object o;
    memset(&o, 0, sizeof o);
    o.kind = DC_SIM_OBJECT_KIND_GALAXY;
    o.x = x;
    o.y = y;
    for (int b = 0; b < DC_SIM_NBANDS; b++) { o.mag[b] = (float)(mag + 0.5 * (1 - b)); o.bulge_frac[b] = (float)fb; }
    o.re_bulge = (float)re_b;
    o.re_disc = (float)re_d;
    o.q_bulge = o.q_disc = (float)q;
    o.pa = (float)pa;
    o.cluster = -1;
    return o;
}

static void test_flux(void)
{
    const int w = 401, h = 401;
    float *img = calloc((size_t)w * h, sizeof *img);
    dc_sim_object objs[4];
    objs[0] = make_galaxy(200.3, 199.6, 18.0, 0, 0, 0, 1, 0);
    objs[0].kind = DC_SIM_OBJECT_KIND_STAR;
    objs[1] = make_galaxy(200.5, 200.25, 17.0, 1.0, 2.5, 0, 0.7, 30);   /* elliptical, Re 2.5" */
    objs[2] = make_galaxy(199.8, 200.1, 17.5, 0.0, 0, 3.0, 0.35, 110);  /* edge-on-ish disc */
    objs[3] = make_galaxy(200.0, 200.0, 16.0, 0.3, 1.5, 5.0, 0.6, -40); /* bulge + disc */
    double fwhm[3] = {1.37, 1.3, 1.25};
    for (int i = 0; i < 4; i++) {
        for (int b = 0; b < DC_SIM_NBANDS; b++) {
            memset(img, 0, (size_t)w * h * sizeof *img);
            dc_sim_render_object(img, w, h, &objs[i], b, DC_SIM_PIXEL_SCALE, fwhm[b], 1e-6);
            double m = dc_sim_flux_to_mag(aperture_sum(img, w, h, objs[i].x, objs[i].y, 195));
            CHECK(fabs(m - objs[i].mag[b]) < 0.02, "object %d band %d: aperture %.4f vs catalogue %.4f",
                  i, b, m, objs[i].mag[b]);
        }
    }
    /* the same with noise (r band, SDSS sky): a bright galaxy still within 0.02 mag */
    dc_sim_band rb = {20.86, 4.71, 1.82, 0.0051, 1.3};
    dc_rng rng;
    dc_rng_seed(&rng, 7);
    memset(img, 0, (size_t)w * h * sizeof *img);
    objs[1].mag[1] = 15.0f;
    dc_sim_render_object(img, w, h, &objs[1], 1, DC_SIM_PIXEL_SCALE, 1.3, 1e-6);
    CHECK_OK(dc_sim_expose(img, w, h, &rb, DC_SIM_PIXEL_SCALE, 0, 1, &rng));
    double m = dc_sim_flux_to_mag(aperture_sum(img, w, h, objs[1].x, objs[1].y, 100));
    CHECK(fabs(m - 15.0) < 0.02, "noisy galaxy: aperture %.4f vs 15.0", m);

    /* the PSF: half maximum of a centred star at FWHM/2 (pixel box adds a little) */
    memset(img, 0, (size_t)w * h * sizeof *img);
    objs[0].x = objs[0].y = 200;
    dc_sim_render_object(img, w, h, &objs[0], 1, DC_SIM_PIXEL_SCALE, 2.0, 1e-6);
    const float *row = img + 200 * w;
    double peak = row[200], hw = 0;
    for (int x = 200; x < w - 1; x++)
        if (row[x + 1] < peak / 2) { hw = x - 200 + (row[x] - peak / 2) / (row[x] - row[x + 1]); break; }
    double expect = 2.0 / DC_SIM_PIXEL_SCALE;
    CHECK(fabs(2 * hw / expect - 1) < 0.05, "star FWHM %.3f px vs %.3f px", 2 * hw, expect);
    free(img);
}

static void test_noise(void)
{
    /* SDSS r and g and i, camcol 2 (docs/facts.md 4); sigma from the formula written out here */
    dc_sim_band bands[3] = {{21.8, 3.855, 1.44, 0.0038, 1.37},
                            {20.86, 4.6, 1.00, 0.0051, 1.3},
                            {20.2, 6.565, 6.25, 0.0066, 1.25}};
    double facts_sigma[3] = {0.018, 0.028, 0.045};
    const int w = 700, h = 700;
    float *img = malloc((size_t)w * h * sizeof *img);
    dc_rng rng;
    dc_rng_seed(&rng, 42);
    for (int b = 0; b < 3; b++) {
        memset(img, 0, (size_t)w * h * sizeof *img);
        CHECK_OK(dc_sim_expose(img, w, h, &bands[b], DC_SIM_PIXEL_SCALE, 0, 1, &rng));
        double sky_nmgy = pow(10, -0.4 * (bands[b].sky_mag - 22.5)) * 0.396 * 0.396;
        double sky_dn = sky_nmgy / bands[b].nmgy_per_dn;
        double expect = bands[b].nmgy_per_dn * sqrt(sky_dn / bands[b].gain + bands[b].darkvar);
        double s1 = 0, s2 = 0, s4 = 0;
        size_t n = (size_t)w * h, out3 = 0;
        for (size_t i = 0; i < n; i++) s1 += img[i];
        double mean = s1 / n;
        for (size_t i = 0; i < n; i++) {
            double d = img[i] - mean;
            s2 += d * d;
            s4 += d * d * d * d;
        }
        double sd = sqrt(s2 / (n - 1)), kurt = (s4 / n) / ((s2 / n) * (s2 / n));
        for (size_t i = 0; i < n; i++) out3 += fabs(img[i] - mean) > 3 * sd;
        CHECK(fabs(sd / expect - 1) < 0.02, "band %d: sigma %.5f vs formula %.5f", b, sd, expect);
        CHECK(fabs(sd / facts_sigma[b] - 1) < 0.12, "band %d: sigma %.5f vs facts %.3f", b, sd, facts_sigma[b]);
        CHECK(fabs(dc_sim_sky_sigma(&bands[b], DC_SIM_PIXEL_SCALE) / expect - 1) < 1e-9, "band %d sky_sigma", b);
        CHECK(fabs(mean) < 5 * sd / sqrt((double)n), "band %d: mean %.3g", b, mean);
        CHECK(fabs(kurt - 3) < 0.05, "band %d: kurtosis %.4f", b, kurt);
        CHECK(fabs(out3 / (double)n - 0.0027) < 0.0005, "band %d: %.5f beyond 3 sigma", b, out3 / (double)n);
    }
    free(img);
}

static void test_saturation(void)
{
    const int w = 201, h = 401;
    float *img = calloc((size_t)w * h, sizeof *img);
    dc_sim_band rb = {20.86, 4.71, 1.82, 0.0051, 1.3};
    dc_sim_object star = make_galaxy(100, 200, 10.0, 0, 0, 0, 1, 0);
    star.kind = DC_SIM_OBJECT_KIND_STAR;
    dc_sim_render_object(img, w, h, &star, 1, DC_SIM_PIXEL_SCALE, 1.3, 1e-6);
    double before = 0, after = 0;
    for (size_t i = 0; i < (size_t)w * h; i++) before += img[i];
    double sat_dn = 55000, sat = (sat_dn - dc_sim_sky_dn(&rb, DC_SIM_PIXEL_SCALE)) * rb.nmgy_per_dn;
    dc_rng rng;
    dc_rng_seed(&rng, 1);
    CHECK_OK(dc_sim_expose(img, w, h, &rb, DC_SIM_PIXEL_SCALE, sat_dn, 0, &rng));
    float mx = 0;
    int ylo = h, yhi = -1, xlo = w, xhi = -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float v = img[(size_t)y * w + x];
            after += v;
            if (v > mx) mx = v;
            if (v >= (float)sat * 0.999f) {
                if (y < ylo) ylo = y;
                if (y > yhi) yhi = y;
                if (x < xlo) xlo = x;
                if (x > xhi) xhi = x;
            }
        }
    CHECK(mx <= (float)sat * 1.0001f, "max %.1f above full well %.1f", mx, sat);
    CHECK_CLOSE(after, before, 0, 1e-4); /* bleeding moves charge, it does not lose it */
    CHECK(yhi - ylo > 4 * (xhi - xlo + 1), "trail %d rows x %d cols is not along the column", yhi - ylo + 1, xhi - xlo + 1);
    /* with noise, saturated pixels read exactly full well */
    CHECK_OK(dc_sim_expose(img, w, h, &rb, DC_SIM_PIXEL_SCALE, sat_dn, 1, &rng));
    CHECK(img[200 * w + 100] == (float)sat, "centre %.2f vs full well %.2f", img[200 * w + 100], sat);
    free(img);
}

int main(void)
{
    test_mixtures();
    test_flux();
    test_noise();
    test_saturation();
    return dc_test_finish("test_sim_render");
}
