/* What the simulated sky holds: galaxy colours, sizes and shapes, cluster members (BCG,
 * Schechter luminosity function, projected NFW), field galaxies and stars with realistic number
 * counts, and the contaminants (bright nearby galaxies, bright stars). Numbers: docs/facts.md 3-5. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astro/astro.h"
#include "sim/sim_impl.h"

/* ---- small helpers -------------------------------------------------------------------------- */

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void sim_rng_for(dc_rng *r, uint64_t seed, uint64_t a, uint64_t b)
{
    uint64_t k = mix64(seed + 0x9e3779b97f4a7c15ULL);
    k = mix64(k ^ (a + 0x632be59bd9b4e019ULL));
    k = mix64(k ^ (b + 0x85157af5ULL));
    dc_rng_seed(r, k);
}

dc_sim_object *sim_objects_push(sim_objects *l)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        dc_sim_object *v = realloc(l->v, cap * sizeof *v);
        if (!v) return NULL;
        l->v = v;
        l->cap = cap;
    }
    dc_sim_object *o = &l->v[l->n++];
    memset(o, 0, sizeof *o);
    o->cluster = -1;
    return o;
}

void sim_objects_free(sim_objects *l)
{
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Linear interpolation in a table on nodes zs (increasing), constant beyond the ends. */
static double interp(const double *zs, const double *v, int n, double z)
{
    if (z <= zs[0]) return v[0];
    for (int i = 1; i < n; i++)
        if (z <= zs[i]) return v[i - 1] + (v[i] - v[i - 1]) * (z - zs[i - 1]) / (zs[i] - zs[i - 1]);
    return v[n - 1];
}

/* ---- cosmology table ------------------------------------------------------------------------ */

/* Tables from astro's cosmology, kept per thread for the last (H0, Om): a pure function of the
 * two, so caching cannot change any result. */
const sim_cosmo *sim_cosmo_get(double h0, double om)
{
    static _Thread_local sim_cosmo cache;
    static _Thread_local int valid;
    if (valid && cache.h0 == h0 && cache.om == om) return &cache;
    dc_cosmo cc = {.h0 = h0, .om = om};
    cache.h0 = h0;
    cache.om = om;
    cache.dm[0] = -INFINITY;
    cache.kpc[0] = 0;
    for (int i = 1; i < SIM_COSMO_NZ; i++) {
        double z = i * SIM_COSMO_ZMAX / (SIM_COSMO_NZ - 1);
        cache.dm[i] = dc_cosmo_distmod(&cc, z);
        cache.kpc[i] = dc_cosmo_kpc_per_arcsec(&cc, z);
    }
    valid = 1;
    return &cache;
}

double sim_cosmo_dm(const sim_cosmo *c, double z)
{
    double t = clampd(z, 0, SIM_COSMO_ZMAX) / SIM_COSMO_ZMAX * (SIM_COSMO_NZ - 1);
    int i = (int)t;
    if (i >= SIM_COSMO_NZ - 1) return c->dm[SIM_COSMO_NZ - 1];
    if (i == 0) { /* dm diverges at z = 0: interpolate in log z below the first node */
        double z1 = SIM_COSMO_ZMAX / (SIM_COSMO_NZ - 1);
        return c->dm[1] + 5 * log10(fmax(z, 1e-6) / z1);
    }
    return c->dm[i] + (c->dm[i + 1] - c->dm[i]) * (t - i);
}

double sim_cosmo_kpc(const sim_cosmo *c, double z)
{
    double t = clampd(z, 0, SIM_COSMO_ZMAX) / SIM_COSMO_ZMAX * (SIM_COSMO_NZ - 1);
    int i = (int)t;
    if (i >= SIM_COSMO_NZ - 1) return c->kpc[SIM_COSMO_NZ - 1];
    return c->kpc[i] + (c->kpc[i + 1] - c->kpc[i]) * (t - i);
}

double sim_cosmo_rho_crit(const sim_cosmo *c, double z)
{
    /* 3 H^2 / (8 pi G) = 2.775e11 h^2 Msun/Mpc^3 at z = 0 */
    double h = c->h0 / 100, e2 = c->om * pow(1 + z, 3) + (1 - c->om);
    return 2.77536627e11 * h * h * e2;
}

/* ---- colours, K corrections, sizes ---------------------------------------------------------- */

/* Observed g-r and r-i by type. Early types: docs/facts.md 5 (no-evolution LRG template) at z = 0.10,
 * 0.15, 0.20, continued with the shape of an LRG track (the 4000 A break leaves g-r near z 0.4 and
 * enters r-i); spirals and irregulars redden more slowly. Approximate, for a realistic mix. */
static const double col_z[] = {0.0, 0.10, 0.15, 0.20, 0.30, 0.40, 0.50, 0.70, 1.00, 3.0};
static const double col_gr[3][10] = {
    {0.77, 0.98, 1.12, 1.30, 1.55, 1.75, 1.85, 1.90, 1.80, 1.60},
    {0.60, 0.70, 0.77, 0.85, 1.00, 1.15, 1.30, 1.40, 1.30, 1.00},
    {0.35, 0.40, 0.43, 0.46, 0.55, 0.65, 0.75, 0.85, 0.85, 0.60},
};
static const double col_ri[3][10] = {
    {0.37, 0.40, 0.43, 0.47, 0.55, 0.75, 0.95, 1.20, 1.30, 1.20},
    {0.30, 0.32, 0.33, 0.35, 0.40, 0.50, 0.60, 0.80, 0.95, 0.90},
    {0.15, 0.17, 0.18, 0.20, 0.25, 0.30, 0.35, 0.45, 0.55, 0.50},
};

void sim_type_colours(int type, double z, double *gr, double *ri)
{
    *gr = interp(col_z, col_gr[type], 10, z);
    *ri = interp(col_z, col_ri[type], 10, z);
}

void dc_sim_red_sequence(double z, double *gr, double *ri) { sim_type_colours(SIM_TYPE_EARLY, z, gr, ri); }

double sim_kcorr_r(int type, double z)
{
    /* r-band K corrections, roughly linear below z ~ 0.5 (early ~0.17 at z = 0.15) */
    static const double slope[3] = {1.1, 0.55, 0.25};
    return slope[type] * fmin(z, 1.0);
}

/* Shen et al. 2003, r band, half-light radius in kpc. Early: log R = -0.24 M - 4.63 (docs/facts.md 5);
 * late: log R = -0.4 a M + (b - a) log(1 + 10^(-0.4 (M - M0))) + g, a 0.21, b 0.53, g -1.31,
 * M0 -20.52 (3 kpc at -20.5). Scatter in ln R from Shen's dispersion relation. */
static double shen_radius(int early, double abs_r, dc_rng *rng)
{
    double lr, sig;
    if (early) {
        lr = -0.24 * abs_r - 4.63;
        sig = 0.27 + (0.45 - 0.27) / (1 + pow(10, -0.8 * (abs_r + 20.52)));
    } else {
        lr = -0.4 * 0.21 * abs_r + (0.53 - 0.21) * log10(1 + pow(10, -0.4 * (abs_r + 20.52))) - 1.31;
        sig = 0.25 + (0.48 - 0.25) / (1 + pow(10, -0.8 * (abs_r + 20.52)));
    }
    double r = pow(10, lr) * exp(sig * dc_rng_normal(rng));
    return clampd(r, 0.3, 60);
}

void sim_galaxy_fill(dc_sim_object *o, int type, double abs_r, double z, double gr_b, double ri_b,
                     const sim_cosmo *cz, dc_rng *rng)
{
    o->kind = DC_SIM_OBJECT_KIND_GALAXY;
    o->z = (float)z;
    o->abs_r = (float)abs_r;
    double kpc = sim_cosmo_kpc(cz, z);
    double r = abs_r + sim_cosmo_dm(cz, z) + sim_kcorr_r(type, z);
    /* bulge-to-total in r and the disc colours */
    double bt, gr_d, ri_d;
    if (type == SIM_TYPE_EARLY) {
        bt = 0.6 + 0.4 * dc_rng_uniform(rng); /* ellipticals and S0s */
        gr_d = gr_b - 0.05;
        ri_d = ri_b - 0.02;
        o->flags |= DC_SIM_FLAG_RED;
    } else {
        bt = type == SIM_TYPE_SBC ? 0.1 + 0.3 * dc_rng_uniform(rng) : 0.0;
        sim_type_colours(type, z, &gr_d, &ri_d);
        gr_d += 0.08 * dc_rng_normal(rng);
        ri_d += 0.05 * dc_rng_normal(rng);
    }
    double fr = dc_sim_mag_to_flux(r);
    double fb[3] = {bt * fr * pow(10, -0.4 * gr_b), bt * fr, bt * fr * pow(10, 0.4 * ri_b)};
    double fd[3] = {(1 - bt) * fr * pow(10, -0.4 * gr_d), (1 - bt) * fr, (1 - bt) * fr * pow(10, 0.4 * ri_d)};
    for (int b = 0; b < DC_SIM_NBANDS; b++) {
        o->mag[b] = (float)dc_sim_flux_to_mag(fb[b] + fd[b]);
        o->bulge_frac[b] = (float)(fb[b] / (fb[b] + fd[b]));
    }
    /* sizes: the bulge follows the early-type relation, the disc the late-type one */
    double re_b = shen_radius(1, abs_r, rng), re_d = shen_radius(0, abs_r, rng);
    if (type != SIM_TYPE_EARLY) re_b = fmin(re_b, 0.5 * re_d);
    o->re_bulge = (float)(re_b / kpc);
    o->re_disc = (float)(re_d / kpc);
    o->q_bulge = (float)clampd(0.75 + 0.15 * dc_rng_normal(rng), 0.4, 1.0);
    /* discs: random inclination of a disc of intrinsic thickness 0.2 */
    double ci = dc_rng_uniform(rng);
    o->q_disc = (float)sqrt(ci * ci * (1 - 0.04) + 0.04);
    if (type == SIM_TYPE_EARLY) o->q_disc = (float)fmax(o->q_disc, o->q_bulge * 0.8);
    o->pa = (float)(180 * dc_rng_uniform(rng));
}

/* ---- clusters ------------------------------------------------------------------------------- */

const double sim_mstar_ref = -22.21, sim_alpha_ref = -0.85;

void dc_sim_cluster_model_default(dc_sim_cluster_model *m)
{
    m->mstar = sim_mstar_ref;
    m->alpha = sim_alpha_ref;
    m->bcg_mean = -23.0;
    m->bcg_sigma = 0.3;
    m->blue_fraction = 0.2;
    m->rs_scatter = 0.04;
    m->rs_offset = 0;
    m->r_limit = 23.5;
    m->h0 = 71;
    m->om = 0.27;
}

/* Mass from richness: M200 = 0.6e14 Msun (N200 / 8)^1.15, after WHL12's statement that N200 >= 8
 * corresponds to M200 ~ 0.6e14 and a mass-richness slope near 1.1-1.2. */
static double mass_from_n200(double n200) { return 0.6e14 * pow(fmax(n200, 1) / 8, 1.15); }

/* Projected NFW: the mass in a cylinder of radius x r_s is proportional to g(x). */
static double nfw_g(double x)
{
    if (x < 1e-8) return 0;
    if (fabs(x - 1) < 1e-6) return 1 + log(0.5);
    if (x < 1) return log(x / 2) + acosh(1 / x) / sqrt(1 - x * x);
    return log(x / 2) + acos(1 / x) / sqrt(x * x - 1);
}

/* Radius (in units of r_s) with g(x) = u g(xmax), by bisection (g is increasing). */
static double nfw_sample(double xmax, double u)
{
    double target = u * nfw_g(xmax), lo = 0, hi = xmax;
    for (int i = 0; i < 50; i++) {
        double mid = 0.5 * (lo + hi);
        if (nfw_g(mid) < target) lo = mid; else hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* Schechter in magnitudes between mb (bright) and mf (faint), as a cumulative table for sampling. */
#define LF_N 512
typedef struct { double m0, dm, cum[LF_N + 1]; } lf_table;

static void lf_init(lf_table *t, double mstar, double alpha, double mb, double mf)
{
    t->m0 = mb;
    t->dm = (mf - mb) / LF_N;
    t->cum[0] = 0;
    for (int i = 0; i < LF_N; i++) {
        double m = mb + (i + 0.5) * t->dm, x = pow(10, -0.4 * (m - mstar));
        t->cum[i + 1] = t->cum[i] + pow(x, alpha + 1) * exp(-x) * t->dm;
    }
}

static double lf_cum_at(const lf_table *t, double m)
{
    double f = (m - t->m0) / t->dm;
    if (f <= 0) return 0;
    if (f >= LF_N) return t->cum[LF_N];
    int i = (int)f;
    return t->cum[i] + (t->cum[i + 1] - t->cum[i]) * (f - i);
}

static double lf_sample(const lf_table *t, dc_rng *rng)
{
    double u = dc_rng_uniform(rng) * t->cum[LF_N];
    int lo = 0, hi = LF_N;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (t->cum[mid] <= u) lo = mid; else hi = mid;
    }
    double seg = t->cum[lo + 1] - t->cum[lo];
    return t->m0 + t->dm * (lo + (seg > 0 ? (u - t->cum[lo]) / seg : 0.5));
}

dc_status sim_cluster_members(dc_sim_cluster *c, const dc_sim_cluster_model *m, const sim_cosmo *cz,
                              dc_rng *rng, sim_objects *out)
{
    return sim_cluster_members_vary(c, m, NULL, cz, rng, out);
}

static double uni(dc_rng *r, const double *lohi) { return lohi[0] + (lohi[1] - lohi[0]) * dc_rng_uniform(r); }

/* The look of one cluster: fixed without vary, else drawn from a stream seeded by the member
 * stream's next value (which is not consumed from the member stream itself). */
static void cluster_look(dc_sim_cluster_look *k, const dc_sim_cluster_model *m, const dc_sim_vary *v,
                         const dc_rng *member_rng)
{
    memset(k, 0, sizeof *k);
    k->rs_offset = m->rs_offset;
    k->rs_slope = -0.02;
    k->rs_scatter = m->rs_scatter;
    k->c_factor = 1;
    k->q = 1;
    if (!v || !v->enabled) return;
    dc_rng cp = *member_rng, r;
    sim_rng_for(&r, dc_rng_next(&cp), 0x6c6f6f6bULL /* "look" */, 0);
    k->rs_offset += uni(&r, v->rs_offset);
    k->rs_slope = uni(&r, v->rs_slope);
    k->rs_scatter = uni(&r, v->rs_scatter);
    k->c_factor = pow(10, v->c_scatter * dc_rng_normal(&r));
    k->q = uni(&r, v->cluster_q);
    k->theta = 180 * dc_rng_uniform(&r);
    double u = dc_rng_uniform(&r);
    if (u < v->gap_small) {
        k->gap_kind = 1;
        k->gap = uni(&r, v->gap_small_mag);
    } else if (u < v->gap_small + v->gap_fossil) {
        k->gap_kind = 2;
        k->gap = uni(&r, v->gap_fossil_mag);
    } else {
        (void)dc_rng_uniform(&r); /* keep the later draws aligned across kinds */
    }
    if (dc_rng_uniform(&r) < v->miscentre) {
        k->offset_kpc = uni(&r, v->miscentre_kpc);
        k->offset_pa = 360 * dc_rng_uniform(&r);
    }
    if (dc_rng_uniform(&r) < v->bimodal) {
        k->bimodal = 1;
        k->sub_frac = uni(&r, v->bimodal_frac);
        k->sub_kpc = uni(&r, v->bimodal_kpc);
        k->sub_pa = 360 * dc_rng_uniform(&r);
    }
}

dc_status sim_cluster_members_vary(dc_sim_cluster *c, const dc_sim_cluster_model *m, const dc_sim_vary *vary,
                                   const sim_cosmo *cz, dc_rng *rng, sim_objects *out)
{
    int varied = vary && vary->enabled;
    DC_CHECK_ARG(c->z > 0.005 && c->z < SIM_COSMO_ZMAX, "cluster %lld: redshift %g outside (0.005, 2)",
                 (long long)c->id, c->z);
    DC_CHECK_ARG(c->n200_mean >= 1 && c->n200_mean < 1e4, "cluster %lld: n200 %g outside [1, 1e4)",
                 (long long)c->id, c->n200_mean);
    double h = cz->h0 / 100, z = c->z;
    c->m200 = mass_from_n200(c->n200_mean);
    c->r200 = cbrt(3 * c->m200 / (4 * M_PI * 200 * sim_cosmo_rho_crit(cz, z)));
    c->c200 = 5.71 * pow(c->m200 * h / 2e12, -0.084) * pow(1 + z, -0.47);
    dc_sim_red_sequence(z, &c->gr, &c->ri);
    dc_sim_cluster_look *lk = &c->look;
    cluster_look(lk, m, vary, rng);
    if (varied) c->c200 *= lk->c_factor;
    if (lk->rs_offset != 0) { /* r-i moves by half the g-r shift; model.rs_offset moves both */
        c->gr += lk->rs_offset;
        c->ri += varied ? m->rs_offset + 0.5 * (lk->rs_offset - m->rs_offset) : m->rs_offset;
    }
    double kpc = sim_cosmo_kpc(cz, z), dmod = sim_cosmo_dm(cz, z), kr = sim_kcorr_r(SIM_TYPE_EARLY, z);
    double r200_as = c->r200 * 1000 / kpc, cosd = cos(c->dec * M_PI / 180);
    size_t first = out->n;

    /* the BCG: brighter in richer clusters (WHL12), on the red sequence, at the centre */
    double mb = m->bcg_mean - 0.6 * log10(c->n200_mean / 20) + m->bcg_sigma * dc_rng_normal(rng);
    mb = clampd(mb, m->bcg_mean - 1.5, -21.0);
    double kdiff = sim_kcorr_r(SIM_TYPE_EARLY, z) - sim_kcorr_r(SIM_TYPE_IRR, z);
    /* fossil-like: satellites start gap below the BCG; the BCG is made bright enough that members
     * brighter than -21 (N200) still exist */
    if (varied && lk->gap_kind == 2) mb = fmax(fmin(mb, -21.5 - lk->gap - kdiff), -25.5);
    dc_sim_object *o = sim_objects_push(out);
    if (!o) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "cluster %lld: members", (long long)c->id);
    double gr_bcg = c->gr + 0.02 * dc_rng_normal(rng), ri_bcg = c->ri + 0.01 * dc_rng_normal(rng);
    sim_galaxy_fill(o, SIM_TYPE_EARLY, mb, z, gr_bcg, ri_bcg, cz, rng);
    double rb = mb + dmod + kr;
    o->mag[0] = (float)(rb + gr_bcg);
    o->mag[1] = (float)rb;
    o->mag[2] = (float)(rb - ri_bcg);
    o->bulge_frac[0] = o->bulge_frac[1] = o->bulge_frac[2] = 1; /* a pure spheroid */
    o->ra = c->ra;
    o->dec = c->dec;
    o->flags |= DC_SIM_FLAG_BCG;
    c->bcg_abs_r = mb;
    c->bcg_rmag = o->mag[1];

    /* satellites: Schechter below the BCG; projected NFW out to 2 R200; the mean number with
     * M_r <= -21 inside R200 is n200_mean - 1 (the BCG is the first) */
    double mfaint = fmax(m->r_limit - dmod - kr, -21.0 + 1e-3);
    /* members start a little below the BCG: a magnitude gap, and room for the smaller K
     * corrections of blue members so that the BCG stays the brightest in apparent r too */
    double gap = 0.1 + (sim_kcorr_r(SIM_TYPE_EARLY, z) - sim_kcorr_r(SIM_TYPE_IRR, z));
    if (varied && lk->gap_kind == 2) gap = lk->gap + kdiff;
    lf_table lf;
    lf_init(&lf, m->mstar, m->alpha, fmin(mb + gap, mfaint - 0.5), mfaint);
    double frac_bright = lf_cum_at(&lf, -21.0) / lf.cum[LF_N];
    double cc = c->c200, frac_in = nfw_g(cc) / nfw_g(2 * cc);
    double nsat_mean = frac_bright > 0 ? fmax(c->n200_mean - 1, 0) / (frac_bright * frac_in) : 0;
    int nsat = (int)dc_rng_poisson(rng, nsat_mean);
    int n200 = mb <= -21 ? 1 : 0;
    double rl = pow(10, -0.4 * (mb - m->mstar));
    /* varied looks: member centre offset from the BCG, projected ellipticity, a sub-clump */
    double ox = 0, oy = 0, sx = 0, sy = 0, qs = 1, ut = 0, vt = 1, sub_scale = 1;
    if (varied) {
        double d = lk->offset_kpc / kpc, pa = lk->offset_pa * M_PI / 180;
        ox = d * sin(pa);
        oy = d * cos(pa);
        d = lk->sub_kpc / kpc;
        pa = lk->sub_pa * M_PI / 180;
        sx = ox + d * sin(pa);
        sy = oy + d * cos(pa);
        qs = sqrt(lk->q);
        ut = sin(lk->theta * M_PI / 180); /* major axis (east, north) */
        vt = cos(lk->theta * M_PI / 180);
        sub_scale = cbrt(fmax(lk->sub_frac, 1e-3)); /* R200 ~ M^(1/3) */
    }
    double ri_slope = varied ? 0.4 * lk->rs_slope : -0.008;
    /* no dominant BCG: a second red member within lk->gap of it */
    int start = varied && lk->gap_kind == 1 ? -1 : 0;
    for (int i = start; i < nsat; i++) {
        double mr = i < 0 ? mb + lk->gap : lf_sample(&lf, rng);
        int blue = dc_rng_uniform(rng) < m->blue_fraction;
        if (i < 0) blue = 0;
        /* blue members are less concentrated (infalling) */
        double x = nfw_sample(2 * cc, dc_rng_uniform(rng)), rproj = x / cc; /* in R200 */
        if (blue) rproj = fmin(2.0, rproj * (0.7 + 0.6 * dc_rng_uniform(rng)));
        double phi = 2 * M_PI * dc_rng_uniform(rng);
        o = sim_objects_push(out);
        if (!o) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "cluster %lld: members", (long long)c->id);
        int type = blue ? (dc_rng_uniform(rng) < 0.6 ? SIM_TYPE_SBC : SIM_TYPE_IRR) : SIM_TYPE_EARLY;
        /* red sequence with a tilt (fainter is bluer) and scatter */
        double gr = c->gr + lk->rs_slope * (mr - m->mstar) + lk->rs_scatter * dc_rng_normal(rng);
        double ri = c->ri + ri_slope * (mr - m->mstar) + 0.6 * lk->rs_scatter * dc_rng_normal(rng);
        sim_galaxy_fill(o, type, mr, z, gr, ri, cz, rng);
        if (!blue) { /* keep the red-sequence colours exact (the disc part is red too) */
            double r = mr + dmod + kr;
            o->mag[0] = (float)(r + gr);
            o->mag[1] = (float)r;
            o->mag[2] = (float)(r - ri);
        }
        double dx = rproj * r200_as * cos(phi), dy = rproj * r200_as * sin(phi); /* arcsec E, N */
        double rbcg = rproj;
        if (varied) {
            if (lk->bimodal && dc_rng_uniform(rng) < lk->sub_frac) { /* the round sub-clump */
                dx = sx + sub_scale * dx;
                dy = sy + sub_scale * dy;
            } else { /* stretched along the major axis, area kept, about the (offset) centre */
                double a = dx / qs, b = dy * qs;
                dx = ox + a * ut + b * vt;
                dy = oy + a * vt - b * ut;
            }
            rbcg = hypot(dx, dy) / r200_as; /* N200 counts around the BCG (WHL12) */
        }
        o->ra = c->ra + dx / 3600 / cosd;
        o->dec = c->dec + dy / 3600;
        if (mr <= -21 && rbcg <= 1) {
            n200++;
            rl += pow(10, -0.4 * (mr - m->mstar));
        }
    }
    c->n200 = n200;
    c->rl = rl;
    c->n_members = (int)(out->n - first);
    /* redMaPPer-like lambda: red members brighter than 0.2 L* within R_lambda = (lambda/100)^0.2
     * h^-1 Mpc, iterated to its fixed point */
    double lam = n200, mcut = m->mstar + 2.5 * log10(5.0);
    for (int it = 0; it < 8; it++) {
        double rl_as = pow(fmax(lam, 1) / 100, 0.2) / h * 1000 / kpc;
        int cnt = 0;
        for (size_t k = first; k < out->n; k++) {
            const dc_sim_object *g = &out->v[k];
            if (!(g->flags & DC_SIM_FLAG_RED) || g->abs_r > mcut) continue;
            double dx = (g->ra - c->ra) * 3600 * cosd, dy = (g->dec - c->dec) * 3600;
            cnt += dx * dx + dy * dy <= rl_as * rl_as;
        }
        lam = cnt;
    }
    c->lambda = lam;
    return DC_STATUS_OK;
}

dc_status dc_sim_cluster_generate(dc_sim_cluster *c, const dc_sim_cluster_model *m, uint64_t seed,
                                  dc_sim_object **members, size_t *n_members)
{
    return dc_sim_cluster_generate_vary(c, m, NULL, seed, members, n_members);
}

dc_status dc_sim_cluster_generate_vary(dc_sim_cluster *c, const dc_sim_cluster_model *m,
                                       const struct dc_sim_vary *vary, uint64_t seed,
                                       dc_sim_object **members, size_t *n_members)
{
    *members = NULL;
    *n_members = 0;
    DC_CHECK_ARG(m->h0 > 0 && m->om > 0 && m->om <= 1,
                 "cluster model: need h0 > 0 and 0 < om <= 1 (got %g, %g)", m->h0, m->om);
    sim_objects l = {0};
    dc_rng rng;
    sim_rng_for(&rng, seed, (uint64_t)c->id, SIM_TAG_MEMBERS);
    if (vary && vary->enabled) DC_TRY(dc_sim_vary_check(vary));
    dc_status st = sim_cluster_members_vary(c, m, vary, sim_cosmo_get(m->h0, m->om), &rng, &l);
    if (st != DC_STATUS_OK) {
        sim_objects_free(&l);
        return st;
    }
    *members = l.v;
    *n_members = l.n;
    return DC_STATUS_OK;
}

/* ---- field populations ---------------------------------------------------------------------- */

void sim_region_place(const sim_region *g, dc_rng *rng, dc_sim_object *o)
{
    if (g->pixel) {
        o->x = g->x0 + (g->x1 - g->x0) * dc_rng_uniform(rng);
        o->y = g->y0 + (g->y1 - g->y0) * dc_rng_uniform(rng);
        return;
    }
    double s0 = sin(g->dec0 * M_PI / 180), s1 = sin(g->dec1 * M_PI / 180);
    o->ra = g->ra0 + (g->ra1 - g->ra0) * dc_rng_uniform(rng);
    o->dec = asin(s0 + (s1 - s0) * dc_rng_uniform(rng)) * 180 / M_PI;
}

/* Galaxy counts per deg^2 brighter than r (docs/facts.md 5: ~2,000 to r = 21, ~5,600 to r = 22; the
 * slope flattens fainter). */
static double galaxy_counts(double r)
{
    return r <= 22 ? 2000 * pow(10, 0.447 * (r - 21)) : 5600 * pow(10, 0.32 * (r - 22));
}
static double galaxy_counts_inverse(double n)
{
    return n <= 5600 ? 21 + log10(n / 2000) / 0.447 : 22 + log10(n / 5600) / 0.32;
}

/* Stars per deg^2 brighter than g at high latitude (docs/facts.md 5: ~2,000 to g = 21), with a
 * shallower faint end and a steeper bright end. */
static double star_counts(double g)
{
    if (g <= 15) return 63.2 * pow(10, 0.4 * (g - 15));
    return g <= 21 ? 2000 * pow(10, 0.25 * (g - 21)) : 2000 * pow(10, 0.1 * (g - 21));
}
static double star_counts_inverse(double n)
{
    if (n <= 63.2) return 15 + log10(n / 63.2) / 0.4;
    return n <= 2000 ? 21 + log10(n / 2000) / 0.25 : 21 + log10(n / 2000) / 0.1;
}

dc_status sim_field_galaxies(const sim_region *g, double density, double r_limit, const sim_cosmo *cz,
                             const sim_popvary *pv, dc_rng *rng, sim_objects *out)
{
    /* the fixed population is the identity change: every step below then draws and computes
     * exactly as before the changes existed (x 1, + 0, no acceptance draw), so it stays bit for bit */
    static const sim_popvary none = {.size_scale = 1, .red_fraction = 1};
    if (!pv) pv = &none;
    /* luminosities shifted by dmstar (counts shift with them), the faint-end slope tilted by
     * dalpha through acceptance weights (L/L*)^dalpha clipped to 0.5..2 (over-drawn by 2), sizes,
     * red fraction and colours scaled or shifted */
    const double r_bright = 14; /* brighter ones are the nearby-galaxy contaminants */
    const double wmax = pv->dalpha != 0 ? 2 : 1, mstar = sim_mstar_ref + pv->dmstar;
    double n0 = galaxy_counts(r_bright - pv->dmstar), n1 = galaxy_counts(r_limit - pv->dmstar);
    int n = (int)dc_rng_poisson(rng, wmax * density * g->area * (n1 - n0));
    for (int k = 0; k < n; k++) {
        dc_sim_object tmp;
        memset(&tmp, 0, sizeof tmp);
        tmp.cluster = -1;
        sim_region_place(g, rng, &tmp);
        double r = galaxy_counts_inverse(n0 + (n1 - n0) * dc_rng_uniform(rng));
        /* redshift: p(z) ~ z^2 exp(-(z/z0)^1.5), median 0.1 at r = 17.7 (SDSS main sample)
         * rising to ~0.6 at r = 24; t = (z/z0)^1.5 is Gamma(2) */
        double zmed = r < 17.7 ? 0.1 * pow(10, 0.2 * (r - 17.7)) : 0.1 + 0.08 * (r - 17.7);
        double fred = clampd(pv->red_fraction * clampd(0.35 - 0.04 * (r - 18), 0.12, 0.4), 0, 0.9);
        int type = dc_rng_uniform(rng) < fred ? SIM_TYPE_EARLY : dc_rng_uniform(rng) < 0.55 ? SIM_TYPE_SBC : SIM_TYPE_IRR;
        double z = 0, absr = 0;
        for (int tries = 0; tries < 8; tries++) {
            double t = -log((1 - dc_rng_uniform(rng)) * (1 - dc_rng_uniform(rng)));
            z = clampd(zmed / 1.412 * pow(t, 2.0 / 3), 0.005, 1.9);
            absr = r - sim_cosmo_dm(cz, z) - sim_kcorr_r(type, z);
            if (absr > -23.3) break;
        }
        absr += pv->dmstar;
        if (pv->dalpha != 0) {
            double w = clampd(pow(10, -0.4 * pv->dalpha * (absr - mstar)), 0.5, 2);
            if (dc_rng_uniform(rng) * wmax >= w) continue;
        }
        double gr, ri;
        sim_type_colours(SIM_TYPE_EARLY, z, &gr, &ri);
        sim_galaxy_fill(&tmp, type, absr, z, gr + 0.05 * dc_rng_normal(rng), ri + 0.03 * dc_rng_normal(rng), cz, rng);
        tmp.re_bulge *= (float)pv->size_scale;
        tmp.re_disc *= (float)pv->size_scale;
        tmp.mag[0] += (float)pv->colour;
        dc_sim_object *o = sim_objects_push(out);
        if (!o) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "field galaxies: %d objects", n);
        *o = tmp;
    }
    return DC_STATUS_OK;
}

/* g-r and r-i of a star on the stellar locus: halo turn-off stars (g-r ~ 0.35) dominate bright,
 * disc M dwarfs (g-r ~ 1.4, r-i up to ~2) become common faint. */
static void star_colours(double g, dc_rng *rng, double *gr, double *ri)
{
    double fm = clampd(0.1 + 0.04 * (g - 16), 0.1, 0.4);
    if (dc_rng_uniform(rng) < fm) {
        *ri = 0.6 + 1.2 * dc_rng_uniform(rng);
        *gr = 1.35 + 0.1 * (*ri - 0.6) + 0.05 * dc_rng_normal(rng);
    } else {
        *gr = clampd(0.4 + 0.2 * dc_rng_normal(rng), 0.05, 1.3);
        *ri = 0.36 * *gr - 0.02 + 0.04 * dc_rng_normal(rng);
    }
}

static dc_status add_stars(const sim_region *g, int n, double g0, double g1, double r_limit,
                           uint8_t flags, dc_rng *rng, sim_objects *out)
{
    double n0 = star_counts(g0), n1 = star_counts(g1);
    for (int k = 0; k < n; k++) {
        double gm = star_counts_inverse(n0 + (n1 - n0) * dc_rng_uniform(rng)), gr, ri;
        star_colours(gm, rng, &gr, &ri);
        dc_sim_object pos = {0};
        sim_region_place(g, rng, &pos);
        if (gm - gr > r_limit) continue;
        dc_sim_object *o = sim_objects_push(out);
        if (!o) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "stars: %d objects", n);
        o->kind = DC_SIM_OBJECT_KIND_STAR;
        o->flags = flags;
        o->x = pos.x;
        o->y = pos.y;
        o->ra = pos.ra;
        o->dec = pos.dec;
        o->mag[0] = (float)gm;
        o->mag[1] = (float)(gm - gr);
        o->mag[2] = (float)(gm - gr - ri);
    }
    return DC_STATUS_OK;
}

dc_status sim_stars(const sim_region *g, double density, double r_limit, dc_rng *rng, sim_objects *out)
{
    const double g0 = 12, g1 = r_limit + 1.5;
    int n = (int)dc_rng_poisson(rng, density * g->area * (star_counts(g1) - star_counts(g0)));
    return add_stars(g, n, g0, g1, r_limit, 0, rng, out);
}

dc_status sim_bright_stars(const sim_region *g, double mean, dc_rng *rng, sim_objects *out)
{
    /* g = 8-12 with the bright-end slope: they saturate and bleed */
    int n = (int)dc_rng_poisson(rng, mean * g->area);
    return add_stars(g, n, 8, 12, 99, DC_SIM_FLAG_BRIGHT, rng, out);
}

dc_status sim_nearby_galaxies(const sim_region *g, double mean, const sim_cosmo *cz, dc_rng *rng,
                              sim_objects *out)
{
    int n = (int)dc_rng_poisson(rng, mean * g->area);
    for (int k = 0; k < n; k++) {
        dc_sim_object *o = sim_objects_push(out);
        if (!o) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "nearby galaxies: %d objects", n);
        sim_region_place(g, rng, o);
        double z = 0.01 + 0.03 * dc_rng_uniform(rng), absr = -19.5 - 2.5 * dc_rng_uniform(rng);
        int type = dc_rng_uniform(rng) < 0.35 ? SIM_TYPE_EARLY : SIM_TYPE_SBC;
        double gr, ri;
        sim_type_colours(SIM_TYPE_EARLY, z, &gr, &ri);
        sim_galaxy_fill(o, type, absr, z, gr, ri, cz, rng);
        o->flags |= DC_SIM_FLAG_NEARBY;
    }
    return DC_STATUS_OK;
}
