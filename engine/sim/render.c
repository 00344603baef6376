/* Rendering core of the simulator: galaxies and stars as mixtures of Gaussians convolved
 * analytically with a Moffat PSF (also a mixture), per-band noise as SDSS frames have it, and
 * saturation with bleed trails.
 *
 * Why mixtures of Gaussians: the convolution of two Gaussians is a Gaussian, so a Sersic profile
 * times a PSF is a sum of Gaussians whose total flux is exactly the catalogue flux (Hogg & Lang
 * 2013 use the same idea). Each Gaussian is evaluated only where it exceeds a small fraction of the
 * noise, row by row with a multiplicative recurrence (no exp() per pixel). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

/* Unit-flux mixtures {weight, variance}. Profiles: variance in units of Re^2 (Re the half-light
 * semi-major axis); PSF: in units of FWHM^2. Fitted once by non-negative least squares (area
 * weighted, candidate widths log-spaced) to:
 *   de Vaucouleurs (n = 4), SDSS-style truncation: softened to zero between 7 and 8 Re;
 *   exponential (n = 1), truncation between 3 and 4 Re;
 *   Moffat, beta = 3.
 * test_sim_render checks each table against its analytic profile. */
typedef struct { double w, v; } mog;

static const mog mog_dev[] = {
    {1.548143429e-03, 2.500000000e-05}, {1.352004334e-03, 1.050837490e-04},
    {8.721518748e-03, 4.417037722e-04}, {1.929495731e-02, 1.856635533e-03},
    {5.048558710e-02, 7.804088896e-03}, {9.993921737e-02, 3.280331675e-02},
    {1.712214415e-01, 1.378838202e-01}, {2.293263248e-01, 5.795739500e-01},
    {2.162249513e-01, 2.436152140e+00}, {2.018858541e-01, 1.024000000e+01},
};
static const mog mog_exp[] = {
    {4.248531061e-04, 2.500000000e-03}, {1.357093010e-03, 7.768081265e-03},
    {7.324411199e-03, 2.413723462e-02}, {4.171058444e-02, 7.500000000e-02},
    {1.668719262e-01, 2.330424379e-01}, {4.900299661e-01, 7.241170385e-01},
    {2.922811659e-01, 2.250000000e+00},
};
static const mog mog_moffat[] = {
    {1.725759532e-01, 1.005946744e-01}, {5.155666471e-01, 2.529822128e-01},
    {2.245386534e-01, 6.362165830e-01}, {8.134975461e-02, 1.600000000e+00},
    {5.903634195e-03, 1.011928851e+01}, {6.535742988e-05, 2.544866332e+01},
};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Moffat mixtures for beta = 2.5, 2.6, ..., 5.0 (randomised PSFs, docs/simulated-sky.md). Fitted
 * once offline by NNLS to the normalised Moffat (flux within 60 FWHM) on 400 radii to 6 FWHM,
 * weighted by 1/profile^2 (relative error; 0.3 beyond 3.5 FWHM) with the weights' sum held at 1,
 * from candidate variances 0.04 x 2.5^k FWHM^2 (k = 0..8). Largest relative error to 3 FWHM:
 * 0.4 % (beta 2.5) rising to 3.7 % (beta 5); test_sim_vary checks every row. */
#define MOFFAT_BETA0 2.5
#define MOFFAT_DBETA 0.1
#define MOFFAT_NBETA 26
static const struct { int n; mog c[9]; } mog_moffat_beta[MOFFAT_NBETA] = {
    {9, {{2.752365218e-04, 4.000000000e-02}, {1.619060184e-01, 1.000000000e-01}, {4.227007225e-01, 2.500000000e-01}, {2.737300777e-01, 6.250000000e-01}, {1.010437109e-01, 1.562500000e+00}, {2.933856851e-02, 3.906250000e+00}, {8.553213920e-03, 9.765625000e+00}, {1.074594807e-03, 2.441406250e+01}, {1.377856846e-03, 6.103515625e+01}}},
    {8, {{1.652694761e-01, 1.000000000e-01}, {4.385376390e-01, 2.500000000e-01}, {2.703840242e-01, 6.250000000e-01}, {9.272380934e-02, 1.562500000e+00}, {2.463252714e-02, 3.906250000e+00}, {6.827189800e-03, 9.765625000e+00}, {2.632216087e-04, 2.441406250e+01}, {1.362112853e-03, 6.103515625e+01}}},
    {7, {{1.677891501e-01, 1.000000000e-01}, {4.540450672e-01, 2.500000000e-01}, {2.662982407e-01, 6.250000000e-01}, {8.481778731e-02, 1.562500000e+00}, {2.066849451e-02, 3.906250000e+00}, {5.337830995e-03, 9.765625000e+00}, {1.043429173e-03, 6.103515625e+01}}},
    {7, {{1.700954436e-01, 1.000000000e-01}, {4.688338642e-01, 2.500000000e-01}, {2.616382498e-01, 6.250000000e-01}, {7.738395518e-02, 1.562500000e+00}, {1.731155394e-02, 3.906250000e+00}, {4.119274001e-03, 9.765625000e+00}, {6.176592103e-04, 6.103515625e+01}}},
    {7, {{1.722014777e-01, 1.000000000e-01}, {4.828873244e-01, 2.500000000e-01}, {2.564894465e-01, 6.250000000e-01}, {7.045699301e-02, 1.562500000e+00}, {1.445408563e-02, 3.906250000e+00}, {3.191299888e-03, 9.765625000e+00}, {3.193728097e-04, 6.103515625e+01}}},
    {7, {{1.741308104e-01, 1.000000000e-01}, {4.962555433e-01, 2.500000000e-01}, {2.509492733e-01, 6.250000000e-01}, {6.403166133e-02, 1.562500000e+00}, {1.203512458e-02, 3.906250000e+00}, {2.482881926e-03, 9.765625000e+00}, {1.147051661e-04, 6.103515625e+01}}},
    {6, {{1.759179612e-01, 1.000000000e-01}, {5.089337261e-01, 2.500000000e-01}, {2.451380953e-01, 6.250000000e-01}, {5.807109120e-02, 1.562500000e+00}, {1.001675785e-02, 3.906250000e+00}, {1.922368301e-03, 9.765625000e+00}}},
    {6, {{1.776222345e-01, 1.000000000e-01}, {5.208330504e-01, 2.500000000e-01}, {2.392223239e-01, 6.250000000e-01}, {5.250176794e-02, 1.562500000e+00}, {8.388187236e-03, 3.906250000e+00}, {1.432436043e-03, 9.765625000e+00}}},
    {6, {{1.791940074e-01, 1.000000000e-01}, {5.322260623e-01, 2.500000000e-01}, {2.330911149e-01, 6.250000000e-01}, {4.741301187e-02, 1.562500000e+00}, {7.009373655e-03, 3.906250000e+00}, {1.066429883e-03, 9.765625000e+00}}},
    {6, {{1.806463948e-01, 1.000000000e-01}, {5.431386844e-01, 2.500000000e-01}, {2.268022033e-01, 6.250000000e-01}, {4.277344663e-02, 1.562500000e+00}, {5.846011373e-03, 3.906250000e+00}, {7.932594273e-04, 9.765625000e+00}}},
    {6, {{1.819908586e-01, 1.000000000e-01}, {5.535952986e-01, 2.500000000e-01}, {2.204053178e-01, 6.250000000e-01}, {3.855162640e-02, 1.562500000e+00}, {4.867322353e-03, 3.906250000e+00}, {5.895761537e-04, 9.765625000e+00}}},
    {6, {{1.832375052e-01, 1.000000000e-01}, {5.636186419e-01, 2.500000000e-01}, {2.139432850e-01, 6.250000000e-01}, {3.471661482e-02, 1.562500000e+00}, {4.046092470e-03, 3.906250000e+00}, {4.378606279e-04, 9.765625000e+00}}},
    {6, {{1.843953194e-01, 1.000000000e-01}, {5.732298085e-01, 2.500000000e-01}, {2.074529571e-01, 6.250000000e-01}, {3.123840989e-02, 1.562500000e+00}, {3.358528077e-03, 3.906250000e+00}, {3.249771383e-04, 9.765625000e+00}}},
    {6, {{1.854723522e-01, 1.000000000e-01}, {5.824483114e-01, 2.500000000e-01}, {2.009659968e-01, 6.250000000e-01}, {2.808824554e-02, 1.562500000e+00}, {2.784010368e-03, 3.906250000e+00}, {2.410836999e-04, 9.765625000e+00}}},
    {6, {{1.864758711e-01, 1.000000000e-01}, {5.912921798e-01, 2.500000000e-01}, {1.945095428e-01, 6.250000000e-01}, {2.523879565e-02, 1.562500000e+00}, {2.304799279e-03, 3.906250000e+00}, {1.788112619e-04, 9.765625000e+00}}},
    {6, {{1.874124798e-01, 1.000000000e-01}, {5.997780751e-01, 2.500000000e-01}, {1.881067772e-01, 6.250000000e-01}, {2.266430094e-02, 1.562500000e+00}, {1.905720604e-03, 3.906250000e+00}, {1.326463091e-04, 9.765625000e+00}}},
    {6, {{1.882882152e-01, 1.000000000e-01}, {6.079214117e-01, 2.500000000e-01}, {1.817774129e-01, 6.250000000e-01}, {2.034063582e-02, 1.562500000e+00}, {1.573857538e-03, 3.906250000e+00}, {9.846682947e-05, 9.765625000e+00}}},
    {6, {{1.891086217e-01, 1.000000000e-01}, {6.157364832e-01, 2.500000000e-01}, {1.755381132e-01, 6.250000000e-01}, {1.824532889e-02, 1.562500000e+00}, {1.298259241e-03, 3.906250000e+00}, {7.319377135e-05, 9.765625000e+00}}},
    {6, {{1.898788140e-01, 1.000000000e-01}, {6.232365782e-01, 2.500000000e-01}, {1.694028570e-01, 6.250000000e-01}, {1.635754821e-02, 1.562500000e+00}, {1.069673271e-03, 3.906250000e+00}, {5.452937156e-05, 9.765625000e+00}}},
    {6, {{1.906035227e-01, 1.000000000e-01}, {6.304340954e-01, 2.500000000e-01}, {1.633832558e-01, 6.250000000e-01}, {1.465806043e-02, 1.562500000e+00}, {8.803048750e-04, 3.906250000e+00}, {4.076078697e-05, 9.765625000e+00}}},
    {6, {{1.912871327e-01, 1.000000000e-01}, {6.373406464e-01, 2.500000000e-01}, {1.574888331e-01, 6.250000000e-01}, {1.312917121e-02, 1.562500000e+00}, {7.236037344e-04, 3.906250000e+00}, {3.061278571e-05, 9.765625000e+00}}},
    {6, {{1.919337125e-01, 1.000000000e-01}, {6.439671509e-01, 2.500000000e-01}, {1.517272697e-01, 6.250000000e-01}, {1.175465241e-02, 1.562500000e+00}, {5.940772003e-04, 3.906250000e+00}, {2.313728407e-05, 9.765625000e+00}}},
    {6, {{1.925470351e-01, 1.000000000e-01}, {6.503239241e-01, 2.500000000e-01}, {1.461046210e-01, 6.250000000e-01}, {1.051966110e-02, 1.562500000e+00}, {4.871282308e-04, 3.906250000e+00}, {1.763054742e-05, 9.765625000e+00}}},
    {6, {{1.931305966e-01, 1.000000000e-01}, {6.564207527e-01, 2.500000000e-01}, {1.406255102e-01, 6.250000000e-01}, {9.410653652e-03, 1.562500000e+00}, {3.989157876e-04, 3.906250000e+00}, {1.357115546e-05, 9.765625000e+00}}},
    {6, {{1.936876296e-01, 1.000000000e-01}, {6.622669628e-01, 2.500000000e-01}, {1.352933009e-01, 6.250000000e-01}, {8.415297907e-03, 1.562500000e+00}, {3.262352890e-04, 3.906250000e+00}, {1.057355143e-05, 9.765625000e+00}}},
    {6, {{1.942211139e-01, 1.000000000e-01}, {6.678714791e-01, 2.500000000e-01}, {1.301102515e-01, 6.250000000e-01}, {7.522385529e-03, 1.562500000e+00}, {2.664167417e-04, 3.906250000e+00}, {8.353282877e-06, 9.765625000e+00}}},
};

int dc_sim_profile_mixture(dc_sim_profile p, const double **weights_variances)
{
    /* mog is two packed doubles, so the tables read as flat {w, v} pairs */
    switch (p) {
    case DC_SIM_PROFILE_DEV: *weights_variances = &mog_dev[0].w; return (int)NELEM(mog_dev);
    case DC_SIM_PROFILE_EXP: *weights_variances = &mog_exp[0].w; return (int)NELEM(mog_exp);
    case DC_SIM_PROFILE_MOFFAT: *weights_variances = &mog_moffat[0].w; return (int)NELEM(mog_moffat);
    }
    return 0;
}

double dc_sim_profile_value(dc_sim_profile p, double r)
{
    /* un-normalised radial profiles the tables were fitted to (r in Re or FWHM units) */
    double v, t;
    switch (p) {
    case DC_SIM_PROFILE_DEV:
        if (r >= 8) return 0;
        v = exp(-7.669 * (pow(r, 0.25) - 1));
        if (r > 7) { t = r - 7; v *= (1 - t * t) * (1 - t * t); }
        return v;
    case DC_SIM_PROFILE_EXP:
        if (r >= 4) return 0;
        v = exp(-1.67835 * (r - 1));
        if (r > 3) { t = r - 3; v *= (1 - t * t) * (1 - t * t); }
        return v;
    case DC_SIM_PROFILE_MOFFAT: {
        double alpha = 1.0 / (2 * sqrt(pow(2, 1 / DC_SIM_MOFFAT_BETA) - 1));
        return pow(1 + r * r / (alpha * alpha), -DC_SIM_MOFFAT_BETA);
    }
    }
    return 0;
}

static int moffat_row(double beta)
{
    long i = lround((beta - MOFFAT_BETA0) / MOFFAT_DBETA);
    return i < 0 ? 0 : i >= MOFFAT_NBETA ? MOFFAT_NBETA - 1 : (int)i;
}

double dc_sim_moffat_beta_nearest(double beta)
{
    if (beta == DC_SIM_MOFFAT_BETA) return beta;
    return MOFFAT_BETA0 + MOFFAT_DBETA * moffat_row(beta);
}

int dc_sim_moffat_mixture(double beta, const double **weights_variances)
{
    if (beta == DC_SIM_MOFFAT_BETA) return dc_sim_profile_mixture(DC_SIM_PROFILE_MOFFAT, weights_variances);
    int i = moffat_row(beta);
    *weights_variances = &mog_moffat_beta[i].c[0].w;
    return mog_moffat_beta[i].n;
}

double dc_sim_moffat_value(double beta, double r)
{
    double alpha = 1.0 / (2 * sqrt(pow(2, 1 / beta) - 1));
    return pow(1 + r * r / (alpha * alpha), -beta);
}

void dc_sim_psf_default(dc_sim_psf *p, double fwhm)
{
    memset(p, 0, sizeof *p);
    p->fwhm = fwhm;
    p->beta = DC_SIM_MOFFAT_BETA;
    p->wing_scale = 4;
}

/* Add flux * N(centre, [sxx sxy; sxy syy]) sampled at pixel centres wherever it exceeds eps.
 * Pixel (x, y) has its centre at integer coordinates. The lost flux is flux * eps / peak. */
static void add_gaussian(float *img, int w, int h, double xc, double yc, double sxx, double sxy,
                         double syy, double flux, double eps)
{
    double det = sxx * syy - sxy * sxy;
    double amp = flux / (2 * M_PI * sqrt(det));
    if (!(amp > eps)) return;
    double qmax = 2 * log(amp / eps);
    double a = syy / det, b = -sxy / det, c = sxx / det; /* inverse covariance */
    double ry = sqrt(qmax * syy);
    int y0 = (int)ceil(yc - ry), y1 = (int)floor(yc + ry);
    if (y0 < 0) y0 = 0;
    if (y1 > h - 1) y1 = h - 1;
    double decay = exp(-a);
    for (int y = y0; y <= y1; y++) {
        double dy = y - yc;
        double rem = qmax - dy * dy / syy; /* c - b^2/a = 1/syy */
        if (rem < 0) continue;
        double xm = xc - b * dy / a, rx = sqrt(rem / a);
        int x0 = (int)ceil(xm - rx), x1 = (int)floor(xm + rx);
        if (x0 < 0) x0 = 0;
        if (x1 > w - 1) x1 = w - 1;
        if (x0 > x1) continue;
        double dx = x0 - xc;
        /* exp(-Q/2) along the row: g(x+1) = g(x) r(x), r(x+1) = r(x) exp(-a) */
        double g = amp * exp(-0.5 * (a * dx * dx + 2 * b * dx * dy + c * dy * dy));
        double r = exp(-0.5 * (a * (2 * dx + 1) + 2 * b * dy));
        float *row = img + (size_t)y * w;
        for (int x = x0; x <= x1; x++) {
            row[x] += (float)g;
            g *= r;
            r *= decay;
        }
    }
}

/* One elliptical profile component of total flux `flux` convolved with the band's PSF. */
static void add_component(float *img, int w, int h, double xc, double yc, dc_sim_profile prof,
                          double re_px, double q, double pa_deg, double flux, double fwhm_px,
                          double eps)
{
    const double *gm, *pm;
    int ng = dc_sim_profile_mixture(prof, &gm), np = dc_sim_profile_mixture(DC_SIM_PROFILE_MOFFAT, &pm);
    double f2 = fwhm_px * fwhm_px;
    /* second moment of the PSF mixture: where a galaxy Gaussian is much wider than the PSF, one
     * Gaussian with the PSF's variance convolves it to well below the noise */
    double psf_var = 0;
    for (int k = 0; k < np; k++) psf_var += pm[2 * k] * pm[2 * k + 1] * f2;
    const double pix = 1.0 / 12; /* the pixel's own box, as a variance */
    /* major axis along (-sin pa, cos pa): north = +y, east = -x */
    double th = pa_deg * M_PI / 180, ux = -sin(th), uy = cos(th);
    double sxx[16], sxy[16], syy[16];
    int wide[16];
    for (int j = 0; j < ng; j++) {
        double va = gm[2 * j + 1] * re_px * re_px, vb = va * q * q;
        sxx[j] = va * ux * ux + vb * uy * uy;
        syy[j] = va * uy * uy + vb * ux * ux;
        sxy[j] = (va - vb) * ux * uy;
        wide[j] = vb > 16 * psf_var;
        if (wide[j])
            add_gaussian(img, w, h, xc, yc, sxx[j] + psf_var + pix, sxy[j], syy[j] + psf_var + pix,
                         flux * gm[2 * j], eps);
    }
    for (int k = 0; k < np; k++) {
        double v = pm[2 * k + 1] * f2 + pix, fk = flux * pm[2 * k];
        /* galaxy Gaussians much narrower than this PSF Gaussian all give nearly the same
         * convolved Gaussian: merge them, keeping their flux and mean covariance */
        double mw = 0, mxx = 0, mxy = 0, myy = 0;
        for (int j = 0; j < ng; j++) {
            if (wide[j]) continue;
            double wj = gm[2 * j];
            if (sxx[j] + syy[j] < 0.1 * v) {
                mw += wj;
                mxx += wj * sxx[j];
                mxy += wj * sxy[j];
                myy += wj * syy[j];
            } else {
                add_gaussian(img, w, h, xc, yc, sxx[j] + v, sxy[j], syy[j] + v, fk * wj, eps);
            }
        }
        if (mw > 0) add_gaussian(img, w, h, xc, yc, mxx / mw + v, mxy / mw, myy / mw + v, fk * mw, eps);
    }
}

double dc_sim_mag_to_flux(double mag) { return pow(10.0, -0.4 * (mag - 22.5)); }
double dc_sim_flux_to_mag(double flux) { return 22.5 - 2.5 * log10(flux); }

void dc_sim_render_object(float *img, int w, int h, const dc_sim_object *o, int band,
                          double pixel_scale, double fwhm_arcsec, double eps)
{
    double flux = dc_sim_mag_to_flux(o->mag[band]), fwhm_px = fwhm_arcsec / pixel_scale;
    if (o->kind == DC_SIM_OBJECT_KIND_STAR) {
        const double *pm;
        int np = dc_sim_profile_mixture(DC_SIM_PROFILE_MOFFAT, &pm);
        for (int k = 0; k < np; k++) {
            double v = pm[2 * k + 1] * fwhm_px * fwhm_px + 1.0 / 12;
            add_gaussian(img, w, h, o->x, o->y, v, 0, v, flux * pm[2 * k], eps);
        }
        return;
    }
    double fb = o->bulge_frac[band];
    if (fb > 0)
        add_component(img, w, h, o->x, o->y, DC_SIM_PROFILE_DEV, o->re_bulge / pixel_scale,
                      o->q_bulge, o->pa, flux * fb, fwhm_px, eps);
    if (fb < 1)
        add_component(img, w, h, o->x, o->y, DC_SIM_PROFILE_EXP, o->re_disc / pixel_scale,
                      o->q_disc, o->pa, flux * (1 - fb), fwhm_px, eps);
}

/* ---- general PSFs (randomised conditions) --------------------------------------------------- */

/* The PSF as Gaussians {w, cxx, cxy, cyy} in pixels^2 (pixel box not included). */
#define PSF_MAXC 12
typedef struct { int n; double w[PSF_MAXC], xx[PSF_MAXC], xy[PSF_MAXC], yy[PSF_MAXC]; } psf_mix;

static void psf_mix_make(const dc_sim_psf *p, double pixel_scale, psf_mix *m)
{
    const double *pm;
    int np = dc_sim_moffat_mixture(p->beta, &pm);
    double f = p->fwhm / pixel_scale, f2 = f * f;
    /* area-preserving elliptical stretch: a^2 / b^2 = (1 + e) / (1 - e) */
    double e = p->e, a2 = sqrt((1 + e) / (1 - e)), b2 = 1 / a2;
    double th = p->pa * M_PI / 180, ux = -sin(th), uy = cos(th);
    double kxx = a2 * ux * ux + b2 * uy * uy, kyy = a2 * uy * uy + b2 * ux * ux, kxy = (a2 - b2) * ux * uy;
    double core = 1 - p->wing_frac;
    m->n = 0;
    for (int k = 0; k < np; k++) {
        double v = pm[2 * k + 1] * f2;
        m->w[m->n] = core * pm[2 * k];
        m->xx[m->n] = v * kxx;
        m->xy[m->n] = v * kxy;
        m->yy[m->n] = v * kyy;
        m->n++;
    }
    if (p->wing_frac > 0) { /* Gaussian wing: sigma = FWHM / 2.3548 */
        double v = pow(p->wing_scale * f / 2.354820045, 2);
        m->w[m->n] = p->wing_frac;
        m->xx[m->n] = v * kxx;
        m->xy[m->n] = v * kxy;
        m->yy[m->n] = v * kyy;
        m->n++;
    }
}

static void add_component_psf(float *img, int w, int h, double xc, double yc, dc_sim_profile prof,
                              double re_px, double q, double pa_deg, double flux, const psf_mix *pm,
                              double eps)
{
    const double *gm;
    int ng = dc_sim_profile_mixture(prof, &gm);
    double pxx = 0, pxy = 0, pyy = 0; /* the PSF's covariance */
    for (int k = 0; k < pm->n; k++) {
        pxx += pm->w[k] * pm->xx[k];
        pxy += pm->w[k] * pm->xy[k];
        pyy += pm->w[k] * pm->yy[k];
    }
    double psf_var = 0.5 * (pxx + pyy);
    const double pix = 1.0 / 12;
    double th = pa_deg * M_PI / 180, ux = -sin(th), uy = cos(th);
    double sxx[16], sxy[16], syy[16];
    int wide[16];
    for (int j = 0; j < ng; j++) {
        double va = gm[2 * j + 1] * re_px * re_px, vb = va * q * q;
        sxx[j] = va * ux * ux + vb * uy * uy;
        syy[j] = va * uy * uy + vb * ux * ux;
        sxy[j] = (va - vb) * ux * uy;
        wide[j] = vb > 16 * psf_var;
        if (wide[j])
            add_gaussian(img, w, h, xc, yc, sxx[j] + pxx + pix, sxy[j] + pxy, syy[j] + pyy + pix, flux * gm[2 * j], eps);
    }
    for (int k = 0; k < pm->n; k++) {
        double vxx = pm->xx[k] + pix, vyy = pm->yy[k] + pix, vxy = pm->xy[k], fk = flux * pm->w[k];
        double v = 0.5 * (vxx + vyy);
        double mw = 0, mxx = 0, mxy = 0, myy = 0;
        for (int j = 0; j < ng; j++) {
            if (wide[j]) continue;
            double wj = gm[2 * j];
            if (sxx[j] + syy[j] < 0.1 * v) {
                mw += wj;
                mxx += wj * sxx[j];
                mxy += wj * sxy[j];
                myy += wj * syy[j];
            } else {
                add_gaussian(img, w, h, xc, yc, sxx[j] + vxx, sxy[j] + vxy, syy[j] + vyy, fk * wj, eps);
            }
        }
        if (mw > 0) add_gaussian(img, w, h, xc, yc, mxx / mw + vxx, mxy / mw + vxy, myy / mw + vyy, fk * mw, eps);
    }
}

void dc_sim_render_object_psf(float *img, int w, int h, const dc_sim_object *o, int band,
                              double pixel_scale, const dc_sim_psf *psf, double eps)
{
    /* the fixed simulator's PSF takes the original path, so its images stay bit for bit */
    if (psf->beta == DC_SIM_MOFFAT_BETA && psf->e == 0 && psf->wing_frac == 0) {
        dc_sim_render_object(img, w, h, o, band, pixel_scale, psf->fwhm, eps);
        return;
    }
    psf_mix pm;
    psf_mix_make(psf, pixel_scale, &pm);
    double flux = dc_sim_mag_to_flux(o->mag[band]);
    if (o->kind == DC_SIM_OBJECT_KIND_STAR) {
        for (int k = 0; k < pm.n; k++)
            add_gaussian(img, w, h, o->x, o->y, pm.xx[k] + 1.0 / 12, pm.xy[k], pm.yy[k] + 1.0 / 12, flux * pm.w[k], eps);
        return;
    }
    double fb = o->bulge_frac[band];
    if (fb > 0)
        add_component_psf(img, w, h, o->x, o->y, DC_SIM_PROFILE_DEV, o->re_bulge / pixel_scale, o->q_bulge, o->pa,
                          flux * fb, &pm, eps);
    if (fb < 1)
        add_component_psf(img, w, h, o->x, o->y, DC_SIM_PROFILE_EXP, o->re_disc / pixel_scale, o->q_disc, o->pa,
                          flux * (1 - fb), &pm, eps);
}

/* ---- noise ---------------------------------------------------------------------------------- */

/* Normal deviates by the ziggurat method (Marsaglia & Tsang 2000, 128 layers), fed by dc_rng:
 * several times faster than Box-Muller, which matters at 12 M deviates per field. The layer
 * index and the value use separate bits of one 64-bit draw. */
typedef struct { double k[128], w[128], f[128]; } ziggurat;

static void ziggurat_init(ziggurat *z)
{
    const double m1 = 2147483648.0, vn = 9.91256303526217e-3;
    double dn = 3.442619855899, tn = dn, q = vn / exp(-0.5 * dn * dn);
    z->k[0] = (dn / q) * m1;
    z->k[1] = 0;
    z->w[0] = q / m1;
    z->w[127] = dn / m1;
    z->f[0] = 1.0;
    z->f[127] = exp(-0.5 * dn * dn);
    for (int i = 126; i >= 1; i--) {
        dn = sqrt(-2 * log(vn / dn + exp(-0.5 * dn * dn)));
        z->k[i + 1] = (dn / tn) * m1;
        tn = dn;
        z->f[i] = exp(-0.5 * dn * dn);
        z->w[i] = dn / m1;
    }
}

static double ziggurat_normal(const ziggurat *z, dc_rng *rng)
{
    for (;;) {
        uint64_t u = dc_rng_next(rng);
        int32_t hz = (int32_t)(u >> 32);
        int iz = (int)(u & 127);
        double x = hz * z->w[iz];
        if (fabs((double)hz) < z->k[iz]) return x;
        if (iz == 0) { /* the tail beyond r */
            const double r = 3.442619855899;
            double xt, yt;
            do {
                xt = -log(1 - dc_rng_uniform(rng)) / r;
                yt = -log(1 - dc_rng_uniform(rng));
            } while (yt + yt < xt * xt);
            return hz > 0 ? r + xt : -r - xt;
        }
        if (z->f[iz] + dc_rng_uniform(rng) * (z->f[iz - 1] - z->f[iz]) < exp(-0.5 * x * x)) return x;
    }
}

double dc_sim_sky_dn(const dc_sim_band *b, double pixel_scale)
{
    return dc_sim_mag_to_flux(b->sky_mag) * pixel_scale * pixel_scale / b->nmgy_per_dn;
}

double dc_sim_sky_sigma(const dc_sim_band *b, double pixel_scale)
{
    /* facts.md 4: sigma_dn = sqrt(dn/gain + darkvar) at the sky level */
    return b->nmgy_per_dn * sqrt(dc_sim_sky_dn(b, pixel_scale) / b->gain + b->darkvar);
}

/* Saturation: charge above full well flows along the column, half each way, filling neighbours
 * up to full well (charge reaching the chip edge is lost). Works on the noiseless image. */
static void bleed_column(float *img, int w, int h, int x, float sat)
{
    for (int y = 0; y < h; y++) {
        if (img[(size_t)y * w + x] <= sat) continue;
        int y1 = y;
        double excess = 0;
        while (y1 < h && img[(size_t)y1 * w + x] > sat) {
            excess += img[(size_t)y1 * w + x] - sat;
            img[(size_t)y1 * w + x] = sat;
            y1++;
        }
        double up = excess / 2, down = excess / 2;
        for (int yy = y - 1; yy >= 0 && down > 0; yy--) {
            float *p = &img[(size_t)yy * w + x];
            double take = fmin(sat - *p, down);
            if (take > 0) { *p += (float)take; down -= take; }
        }
        int yy = y1;
        for (; yy < h && up > 0; yy++) {
            float *p = &img[(size_t)yy * w + x];
            double take = fmin(sat - *p, up);
            if (take > 0) { *p += (float)take; up -= take; }
        }
        y = yy - 1; /* continue the scan below the trail just written */
    }
}

dc_status dc_sim_expose(float *img, int w, int h, const dc_sim_band *b, double pixel_scale,
                        double saturation_dn, int add_noise, dc_rng *rng)
{
    DC_CHECK_ARG(img && w > 0 && h > 0, "dc_sim_expose: empty image (%dx%d)", w, h);
    DC_CHECK_ARG(b->gain > 0 && b->nmgy_per_dn > 0 && b->darkvar >= 0,
                 "dc_sim_expose: band needs gain > 0, nmgy_per_dn > 0, darkvar >= 0 (got %g, %g, %g)",
                 b->gain, b->nmgy_per_dn, b->darkvar);
    double c = b->nmgy_per_dn, sky = dc_sim_sky_dn(b, pixel_scale);
    size_t n = (size_t)w * h;
    float sat = (float)((saturation_dn - sky) * c); /* full well, sky subtracted, nanomaggies */
    if (saturation_dn > 0) {
        unsigned char *hit = calloc((size_t)w, 1);
        if (!hit) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "dc_sim_expose: %d bytes", w);
        int any = 0;
        for (size_t i = 0; i < n; i++)
            if (img[i] > sat) { hit[i % (size_t)w] = 1; any = 1; }
        if (any)
            for (int x = 0; x < w; x++)
                if (hit[x]) bleed_column(img, w, h, x, sat);
        free(hit);
    } else {
        sat = INFINITY;
    }
    if (!add_noise) return DC_STATUS_OK;
    ziggurat z;
    ziggurat_init(&z);
    double inv_gain = 1.0 / b->gain;
    for (size_t i = 0; i < n; i++) {
        if (img[i] >= sat) continue; /* saturated pixels read full well */
        double dn = img[i] / c + sky;
        double var = (dn > 0 ? dn : 0) * inv_gain + b->darkvar;
        img[i] += (float)(c * sqrt(var) * ziggurat_normal(&z, rng));
    }
    return DC_STATUS_OK;
}
