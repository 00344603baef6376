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
 * weighted by 1/profile^2 (relative error; x10 inside 0.8 FWHM so that the FWHM is right, x0.3
 * beyond 3.5 FWHM) with the weights' sum held at 1, from candidate variances 0.04 x 2.2^k FWHM^2
 * (k = 0..9). Largest relative error to 3 FWHM: 0.1 % (beta 2.5) rising to 1.3 % (beta 5); half
 * maximum within 0.3 % of FWHM/2; test_sim_vary checks every row. */
#define MOFFAT_BETA0 2.5
#define MOFFAT_DBETA 0.1
#define MOFFAT_NBETA 26
static const struct { int n; mog c[10]; } mog_moffat_beta[MOFFAT_NBETA] = {
    {10, {{1.183136061e-03, 4.000000000e-02}, {9.815459666e-02, 8.800000000e-02}, {3.389556822e-01, 1.936000000e-01}, {3.125758927e-01, 4.259200000e-01}, {1.579561251e-01, 9.370240000e-01}, {6.103342212e-02, 2.061452800e+00}, {2.036708248e-02, 4.535196160e+00}, {7.186491574e-03, 9.977431552e+00}, {1.359351231e-03, 2.195034941e+01}, {1.228219908e-03, 4.829076871e+01}}},
    {10, {{8.319573465e-04, 4.000000000e-02}, {9.940386669e-02, 8.800000000e-02}, {3.529498707e-01, 1.936000000e-01}, {3.167597767e-01, 4.259200000e-01}, {1.512519888e-01, 9.370240000e-01}, {5.463977339e-02, 2.061452800e+00}, {1.687475556e-02, 4.535196160e+00}, {5.567412470e-03, 9.977431552e+00}, {9.958960876e-04, 2.195034941e+01}, {7.247022916e-04, 4.829076871e+01}}},
    {10, {{5.045229085e-04, 4.000000000e-02}, {1.004176295e-01, 8.800000000e-02}, {3.664297837e-01, 1.936000000e-01}, {3.200819436e-01, 4.259200000e-01}, {1.444134484e-01, 9.370240000e-01}, {4.878045697e-02, 2.061452800e+00}, {1.393004147e-02, 4.535196160e+00}, {4.321450599e-03, 9.977431552e+00}, {7.117955063e-04, 2.195034941e+01}, {4.089273805e-04, 4.829076871e+01}}},
    {10, {{2.009169012e-04, 4.000000000e-02}, {1.012222019e-01, 8.800000000e-02}, {3.794375276e-01, 1.936000000e-01}, {3.226278079e-01, 4.259200000e-01}, {1.375365113e-01, 9.370240000e-01}, {4.344319974e-02, 2.061452800e+00}, {1.146210939e-02, 4.535196160e+00}, {3.361249546e-03, 9.977431552e+00}, {4.977124574e-04, 2.195034941e+01}, {2.107632749e-04, 4.829076871e+01}}},
    {9, {{1.016130742e-01, 8.800000000e-02}, {3.922361449e-01, 1.936000000e-01}, {3.243664812e-01, 4.259200000e-01}, {1.307300969e-01, 9.370240000e-01}, {3.859163776e-02, 2.061452800e+00}, {9.415244367e-03, 4.535196160e+00}, {2.612102197e-03, 9.977431552e+00}, {3.382612597e-04, 2.195034941e+01}, {9.695714391e-05, 4.829076871e+01}}},
    {9, {{1.013345476e-01, 8.800000000e-02}, {4.051114576e-01, 1.936000000e-01}, {3.252684218e-01, 4.259200000e-01}, {1.240759053e-01, 9.370240000e-01}, {3.419091463e-02, 2.061452800e+00}, {7.732217600e-03, 4.535196160e+00}, {2.023086605e-03, 9.977431552e+00}, {2.133272960e-04, 2.195034941e+01}, {5.012155248e-05, 4.829076871e+01}}},
    {9, {{1.009806224e-01, 8.800000000e-02}, {4.175133611e-01, 1.936000000e-01}, {3.256726956e-01, 4.259200000e-01}, {1.175336055e-01, 9.370240000e-01}, {3.024679676e-02, 2.061452800e+00}, {6.331166973e-03, 4.535196160e+00}, {1.575727666e-03, 9.977431552e+00}, {1.188882001e-04, 2.195034941e+01}, {2.713577188e-05, 4.829076871e+01}}},
    {9, {{1.005612929e-01, 8.800000000e-02}, {4.294795946e-01, 1.936000000e-01}, {3.256202235e-01, 4.259200000e-01}, {1.111465665e-01, 9.370240000e-01}, {2.672066520e-02, 2.061452800e+00}, {5.170252023e-03, 4.535196160e+00}, {1.234262731e-03, 9.977431552e+00}, {4.989919451e-05, 2.195034941e+01}, {1.724327247e-05, 4.829076871e+01}}},
    {9, {{1.000849032e-01, 8.800000000e-02}, {4.410438146e-01, 1.936000000e-01}, {3.251490641e-01, 4.259200000e-01}, {1.049471743e-01, 9.370240000e-01}, {2.357524591e-02, 2.061452800e+00}, {4.212293322e-03, 4.535196160e+00}, {9.719678128e-04, 9.977431552e+00}, {1.781930882e-06, 2.195034941e+01}, {1.375478674e-05, 4.829076871e+01}}},
    {7, {{9.955089683e-02, 8.800000000e-02}, {4.522636625e-01, 1.936000000e-01}, {3.242583228e-01, 4.259200000e-01}, {9.898622118e-02, 9.370240000e-01}, {2.075411745e-02, 2.061452800e+00}, {3.448054359e-03, 4.535196160e+00}, {7.387248929e-04, 9.977431552e+00}}},
    {7, {{9.896887218e-02, 8.800000000e-02}, {4.631534097e-01, 1.936000000e-01}, {3.229941550e-01, 4.259200000e-01}, {9.326311014e-02, 9.370240000e-01}, {1.823996032e-02, 2.061452800e+00}, {2.828856228e-03, 4.535196160e+00}, {5.516364160e-04, 9.977431552e+00}}},
    {7, {{9.834984051e-02, 8.800000000e-02}, {4.737135782e-01, 1.936000000e-01}, {3.214252961e-01, 4.259200000e-01}, {8.776550069e-02, 9.370240000e-01}, {1.601762717e-02, 2.061452800e+00}, {2.315669823e-03, 4.535196160e+00}, {4.124875126e-04, 9.977431552e+00}}},
    {7, {{9.769795825e-02, 8.800000000e-02}, {4.839670665e-01, 1.936000000e-01}, {3.195766102e-01, 4.259200000e-01}, {8.250225779e-02, 9.370240000e-01}, {1.405544401e-02, 2.061452800e+00}, {1.891730288e-03, 4.535196160e+00}, {3.089330033e-04, 9.977431552e+00}}},
    {7, {{9.701686709e-02, 8.800000000e-02}, {4.939341854e-01, 1.936000000e-01}, {3.174718754e-01, 4.259200000e-01}, {7.747791951e-02, 9.370240000e-01}, {1.232482658e-02, 2.061452800e+00}, {1.542513177e-03, 4.535196160e+00}, {2.318128654e-04, 9.977431552e+00}}},
    {7, {{9.630976588e-02, 8.800000000e-02}, {5.036330529e-01, 1.936000000e-01}, {3.151336296e-01, 4.259200000e-01}, {7.269362496e-02, 9.370240000e-01}, {1.080002694e-02, 2.061452800e+00}, {1.255569393e-03, 4.535196160e+00}, {1.743303564e-04, 9.977431552e+00}}},
    {7, {{9.557947271e-02, 8.800000000e-02}, {5.130799104e-01, 1.936000000e-01}, {3.125830985e-01, 4.259200000e-01}, {6.814785970e-02, 9.370240000e-01}, {9.457896947e-03, 2.061452800e+00}, {1.020319951e-03, 4.535196160e+00}, {1.314418665e-04, 9.977431552e+00}}},
    {7, {{9.482847672e-02, 8.800000000e-02}, {5.222893817e-01, 1.936000000e-01}, {3.098401775e-01, 4.259200000e-01}, {6.383705576e-02, 9.370240000e-01}, {8.277666289e-03, 2.061452800e+00}, {8.278378640e-04, 4.535196160e+00}, {9.940417238e-05, 9.977431552e+00}}},
    {7, {{9.405898252e-02, 8.800000000e-02}, {5.312746890e-01, 1.936000000e-01}, {3.069234465e-01, 4.259200000e-01}, {5.975607556e-02, 9.370240000e-01}, {7.240734026e-03, 2.061452800e+00}, {6.706338232e-04, 4.535196160e+00}, {7.543858750e-05, 9.977431552e+00}}},
    {7, {{9.327294482e-02, 8.800000000e-02}, {5.400478389e-01, 1.936000000e-01}, {3.038502035e-01, 4.259200000e-01}, {5.589860255e-02, 9.370240000e-01}, {6.330473072e-03, 2.061452800e+00}, {5.424552715e-04, 4.535196160e+00}, {5.748187740e-05, 9.977431552e+00}}},
    {7, {{9.247209777e-02, 8.800000000e-02}, {5.486197817e-01, 1.936000000e-01}, {3.006365116e-01, 4.259200000e-01}, {5.225745615e-02, 9.370240000e-01}, {5.532047488e-03, 2.061452800e+00}, {4.381037916e-04, 4.535196160e+00}, {4.400154587e-05, 9.977431552e+00}}},
    {7, {{9.165797956e-02, 8.800000000e-02}, {5.570005466e-01, 1.936000000e-01}, {2.972972546e-01, 4.259200000e-01}, {4.882484515e-02, 9.370240000e-01}, {4.832242445e-03, 2.061452800e+00}, {3.532727437e-04, 4.535196160e+00}, {3.385886603e-05, 9.977431552e+00}}},
    {7, {{9.083195190e-02, 8.800000000e-02}, {5.651993615e-01, 1.936000000e-01}, {2.938461962e-01, 4.259200000e-01}, {4.559257122e-02, 9.370240000e-01}, {4.219306610e-03, 2.061452800e+00}, {2.844052573e-04, 4.535196160e+00}, {2.620731312e-05, 9.977431552e+00}}},
    {7, {{8.999521764e-02, 8.800000000e-02}, {5.732247519e-01, 1.936000000e-01}, {2.902960436e-01, 4.259200000e-01}, {4.255219134e-02, 9.370240000e-01}, {3.682806725e-03, 2.061452800e+00}, {2.285715626e-04, 4.535196160e+00}, {2.041724933e-05, 9.977431552e+00}}},
    {7, {{8.914883610e-02, 8.800000000e-02}, {5.810846262e-01, 1.936000000e-01}, {2.866585128e-01, 4.259200000e-01}, {3.969514686e-02, 9.370240000e-01}, {3.213493946e-03, 2.061452800e+00}, {1.833640811e-04, 4.535196160e+00}, {1.602007008e-05, 9.977431552e+00}}},
    {7, {{8.829373785e-02, 8.800000000e-02}, {5.887863444e-01, 1.936000000e-01}, {2.829443957e-01, 4.259200000e-01}, {3.701286541e-02, 9.370240000e-01}, {2.803181461e-03, 2.061452800e+00}, {1.468084225e-04, 4.535196160e+00}, {1.266677811e-05, 9.977431552e+00}}},
    {8, {{8.742790877e-02, 8.800000000e-02}, {5.963457515e-01, 1.936000000e-01}, {2.791550101e-01, 4.259200000e-01}, {3.449996048e-02, 9.370240000e-01}, {2.443444642e-03, 2.061452800e+00}, {1.181410989e-04, 4.535196160e+00}, {9.258037371e-06, 9.977431552e+00}, {5.253723300e-07, 2.195034941e+01}}},
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

/* The PSF as Gaussians {w, xx, xy, yy} in pixels^2 (pixel box not included) and the mixture's
 * covariance cxx, cxy, cyy. */
#define PSF_MAXC 12
typedef struct {
    int n;
    double w[PSF_MAXC], xx[PSF_MAXC], xy[PSF_MAXC], yy[PSF_MAXC];
    double cxx, cxy, cyy;
} psf_mix;

/* The fixed simulator's PSF: the circular Moffat (beta DC_SIM_MOFFAT_BETA) of FWHM fwhm_px. Its
 * variance is summed as weight x variance x FWHM^2, the rounding the fixed images were made with. */
static void psf_mix_circular(double fwhm_px, psf_mix *m)
{
    const double *pm;
    int np = dc_sim_profile_mixture(DC_SIM_PROFILE_MOFFAT, &pm);
    double f2 = fwhm_px * fwhm_px, var = 0;
    for (int k = 0; k < np; k++) {
        var += pm[2 * k] * pm[2 * k + 1] * f2;
        m->w[k] = pm[2 * k];
        m->xx[k] = m->yy[k] = pm[2 * k + 1] * f2;
        m->xy[k] = 0;
    }
    m->n = np;
    m->cxx = m->cyy = var;
    m->cxy = 0;
}

/* A general PSF (randomised conditions): Moffat of any beta, elliptical, with a Gaussian wing. */
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
    m->cxx = m->cxy = m->cyy = 0;
    for (int k = 0; k < m->n; k++) {
        m->cxx += m->w[k] * m->xx[k];
        m->cxy += m->w[k] * m->xy[k];
        m->cyy += m->w[k] * m->yy[k];
    }
}

/* One elliptical profile component of total flux `flux` convolved with the PSF mixture pm. */
static void add_component(float *img, int w, int h, double xc, double yc, dc_sim_profile prof,
                          double re_px, double q, double pa_deg, double flux, const psf_mix *pm,
                          double eps)
{
    const double *gm;
    int ng = dc_sim_profile_mixture(prof, &gm);
    /* where a galaxy Gaussian is much wider than the PSF, one Gaussian with the PSF's covariance
     * convolves it to well below the noise */
    double pxx = pm->cxx, pxy = pm->cxy, pyy = pm->cyy, psf_var = 0.5 * (pxx + pyy);
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
            add_gaussian(img, w, h, xc, yc, sxx[j] + pxx + pix, sxy[j] + pxy, syy[j] + pyy + pix, flux * gm[2 * j], eps);
    }
    for (int k = 0; k < pm->n; k++) {
        double vxx = pm->xx[k] + pix, vyy = pm->yy[k] + pix, vxy = pm->xy[k], fk = flux * pm->w[k];
        double v = 0.5 * (vxx + vyy);
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
                add_gaussian(img, w, h, xc, yc, sxx[j] + vxx, sxy[j] + vxy, syy[j] + vyy, fk * wj, eps);
            }
        }
        if (mw > 0) add_gaussian(img, w, h, xc, yc, mxx / mw + vxx, mxy / mw + vxy, myy / mw + vyy, fk * mw, eps);
    }
}

/* A galaxy's bulge and disc, each convolved with the PSF mixture pm. */
static void add_galaxy(float *img, int w, int h, const dc_sim_object *o, int band, double pixel_scale,
                       double flux, const psf_mix *pm, double eps)
{
    double fb = o->bulge_frac[band];
    if (fb > 0)
        add_component(img, w, h, o->x, o->y, DC_SIM_PROFILE_DEV, o->re_bulge / pixel_scale, o->q_bulge, o->pa,
                      flux * fb, pm, eps);
    if (fb < 1)
        add_component(img, w, h, o->x, o->y, DC_SIM_PROFILE_EXP, o->re_disc / pixel_scale, o->q_disc, o->pa,
                      flux * (1 - fb), pm, eps);
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
    psf_mix pm;
    psf_mix_circular(fwhm_px, &pm);
    add_galaxy(img, w, h, o, band, pixel_scale, flux, &pm, eps);
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
    add_galaxy(img, w, h, o, band, pixel_scale, flux, &pm, eps);
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
    /* docs/facts.md 4: sigma_dn = sqrt(dn/gain + darkvar) at the sky level */
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
