/* deepcee sim: a synthetic SDSS-like sky in g, r, i with galaxy clusters.
 *
 * Numbers come from docs/facts.md (sections 3-5). Images are in nanomaggies
 * (m = 22.5 - 2.5 log10 f), sky-subtracted like SDSS frames, at 0.396"/px, with Poisson + read noise
 * per band, a Moffat PSF whose width varies from field to field, and saturation with bleed trails.
 * Galaxies are de Vaucouleurs bulges plus exponential discs; each profile and the PSF are mixtures
 * of Gaussians, so the convolution is analytic and the rendered flux is the catalogue flux.
 *
 * Every random choice comes from dc_rng seeded from the caller's seed: the same seed gives
 * bit-identical images and catalogues. In a survey, each cluster's members are drawn from
 * (survey seed, cluster id) and the field population from (survey seed, sky cell), so any cut-out
 * can be rendered on demand and overlapping cut-outs show the same sky. */
#ifndef DC_SIM_H
#define DC_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "astro/astro.h"
#include "core.h"

#define DC_SIM_NBANDS 3           /* g, r, i in this order everywhere */
#define DC_SIM_PIXEL_SCALE 0.396  /* arcsec per pixel (SDSS) */
#define DC_SIM_MOFFAT_BETA 3.0    /* PSF Moffat index */

/* ---- rendering core ------------------------------------------------------------------------ */

/* Instrument and conditions of one band of one field (docs/facts.md 4). */
typedef struct dc_sim_band {
    double sky_mag;     /* sky brightness, AB mag per arcsec^2 */
    double gain;        /* electrons per DN */
    double darkvar;     /* dark + read variance, DN^2 */
    double nmgy_per_dn; /* calibration, nanomaggies per DN */
    double fwhm;        /* PSF FWHM, arcsec */
} dc_sim_band;

typedef enum dc_sim_profile {
    DC_SIM_PROFILE_DEV,   /* Sersic n = 4, truncated between 7 and 8 Re as SDSS does */
    DC_SIM_PROFILE_EXP,   /* Sersic n = 1, truncated between 3 and 4 Re */
    DC_SIM_PROFILE_MOFFAT /* the PSF, radius in units of FWHM */
} dc_sim_profile;

/* The unit-flux Gaussian mixture of a profile as flat {weight, variance} pairs (variance in Re^2
 * or FWHM^2); returns the number of components. */
int dc_sim_profile_mixture(dc_sim_profile p, const double **weights_variances);
/* The analytic radial profile the mixture approximates (un-normalised; r in Re or FWHM). */
double dc_sim_profile_value(dc_sim_profile p, double r);

typedef enum dc_sim_object_kind {
    DC_SIM_OBJECT_KIND_STAR,
    DC_SIM_OBJECT_KIND_GALAXY
} dc_sim_object_kind;

enum {
    DC_SIM_FLAG_BCG = 1,     /* the brightest cluster galaxy of its cluster */
    DC_SIM_FLAG_RED = 2,     /* red-sequence (early-type) galaxy */
    DC_SIM_FLAG_NEARBY = 4,  /* a bright nearby galaxy (contaminant) */
    DC_SIM_FLAG_BRIGHT = 8,  /* a bright star added as a contaminant */
    /* confounders (confound.c): never targets. CONFOUNDER marks every confounder object,
     * members of the foreground / background / poor clusters included; the other three name the
     * small systems that have no entry in the cluster list */
    DC_SIM_FLAG_CONFOUNDER = 16,
    DC_SIM_FLAG_LRG = 32,     /* an isolated luminous red galaxy */
    DC_SIM_FLAG_PAIR = 64,    /* a member of a bright galaxy pair */
    DC_SIM_FLAG_COMPACT = 128 /* a member of a Hickson-like compact group */
};

/* One star or galaxy. Positions: pixel (x, y) with pixel centres at integers, north = +y,
 * east = -x; pa is the major axis angle, degrees east of north. */
typedef struct dc_sim_object {
    double ra, dec;                   /* degrees */
    double x, y;                      /* pixel position in the field being rendered */
    float mag[DC_SIM_NBANDS];         /* total AB magnitudes g, r, i */
    float bulge_frac[DC_SIM_NBANDS];  /* fraction of the flux in the de Vaucouleurs part */
    float re_bulge, re_disc;          /* half-light semi-major axes, arcsec */
    float q_bulge, q_disc;            /* axis ratios b/a */
    float pa;                         /* degrees */
    float z;                          /* redshift (0 for stars) */
    float abs_r;                      /* absolute magnitude M_r (galaxies) */
    int32_t cluster;                  /* index of its cluster in the field's list, -1 if none */
    uint8_t kind;                     /* dc_sim_object_kind */
    uint8_t flags;                    /* DC_SIM_FLAG_* */
} dc_sim_object;

double dc_sim_mag_to_flux(double mag);  /* nanomaggies */
double dc_sim_flux_to_mag(double flux);

/* Add the noiseless, PSF-convolved object to img (w x h, nanomaggies) for one band. Pixels where
 * the object is below eps (nanomaggies) are skipped; the flux lost that way is below
 * eps / peak of each Gaussian component. */
void dc_sim_render_object(float *img, int w, int h, const dc_sim_object *o, int band,
                          double pixel_scale, double fwhm_arcsec, double eps);

/* Sky level in DN per pixel, and the blank-sky noise sigma in nanomaggies. */
double dc_sim_sky_dn(const dc_sim_band *b, double pixel_scale);
double dc_sim_sky_sigma(const dc_sim_band *b, double pixel_scale);

/* Turn a noiseless sky-subtracted image (nanomaggies) into an exposure: charge above
 * saturation_dn (sky included; <= 0 disables) bleeds along columns, then, when add_noise,
 * each pixel gets Gaussian noise of sigma_dn = sqrt(dn/gain + darkvar), dn = img/nmgy + sky
 * (docs/facts.md 4); saturated pixels stay at full well. */
dc_status dc_sim_expose(float *img, int w, int h, const dc_sim_band *b, double pixel_scale,
                        double saturation_dn, int add_noise, dc_rng *rng);

/* ---- clusters ------------------------------------------------------------------------------ */

typedef enum dc_sim_cluster_kind {
    DC_SIM_CLUSTER_KIND_CLUSTER, /* a target cluster */
    DC_SIM_CLUSTER_KIND_GROUP,   /* a poor line-of-sight group at another redshift (contaminant) */
    /* confounders (confound.c), never targets */
    DC_SIM_CLUSTER_KIND_FOREGROUND, /* a large, sparse group at z < 0.08 */
    DC_SIM_CLUSTER_KIND_BACKGROUND, /* a rich cluster at 0.25 < z < 0.6 */
    DC_SIM_CLUSTER_KIND_POOR        /* at the target redshifts but N200 < 20 (fails the paper's cut) */
} dc_sim_cluster_kind;
/* "cluster", "group", "foreground", "background", "poor": the truth catalogue's kind column */
const char *dc_sim_cluster_kind_name(int kind);

/* How one cluster looks (docs/simulated-sky.md): drawn from its member stream when the
 * cluster variety of dc_sim_vary is enabled, else the fixed model (q = 1, no offsets). */
typedef struct dc_sim_cluster_look {
    double rs_offset;         /* g-r zero-point shift of its red sequence, model.rs_offset included */
    double rs_slope;          /* d(g-r)/dM_r of the red sequence (r-i: 0.4 x this) */
    double rs_scatter;        /* g-r scatter (r-i: 0.6 x this) */
    double c_factor;          /* NFW concentration multiplier */
    double q, theta;          /* projected axis ratio of the members, major axis deg east of north */
    int gap_kind;             /* 0 usual, 1 no dominant BCG (M2 - M1 < 0.3), 2 fossil-like (gap > 1.5) */
    int bimodal;              /* 1: a second sub-clump (sub_*) */
    double gap;               /* kinds 1, 2: the requested M2 - M1 (abs. r mag) */
    double offset_kpc, offset_pa; /* member centre offset from the BCG (proper kpc), its angle */
    double sub_frac, sub_kpc, sub_pa; /* second sub-clump: fraction of satellites, separation, angle */
} dc_sim_cluster_look;

/* A cluster: the caller sets id, ra, dec, z, n200_mean (and kind); generation fills the rest.
 * The centre is the BCG, as in the Wen, Han & Liu (2012) catalogue. N200 counts members with
 * M_r <= -21 within R200 (projected), BCG included, as WHL12 defines it. */
typedef struct dc_sim_cluster {
    int64_t id;
    double ra, dec;      /* degrees: the BCG position */
    double z;
    double n200_mean;    /* requested (expected) N200 */
    int kind;            /* dc_sim_cluster_kind */
    /* filled by generation */
    double m200;         /* Msun, from N200 (see population.c) */
    double r200;         /* proper Mpc, 200 x critical density */
    double c200;         /* NFW concentration (Duffy et al. 2008, docs/facts.md 5) */
    int n200;            /* realised N200 */
    double lambda;       /* redMaPPer-like richness: red members above 0.2 L* within R_lambda */
    double rl;           /* RL*: luminosity of the N200 members in units of L* (WHL12) */
    double bcg_rmag;     /* apparent r magnitude of the BCG */
    double bcg_abs_r;    /* its M_r */
    double gr, ri;       /* red-sequence colours at z (at M*) */
    int n_members;       /* galaxies generated, BCG included */
    double x, y;         /* pixel position of the BCG in the field that holds it */
    dc_sim_cluster_look look;
} dc_sim_cluster;

/* Parameters of the member population; dc_sim_cluster_model_default gives docs/facts.md 5 values. */
typedef struct dc_sim_cluster_model {
    double mstar, alpha;       /* Schechter luminosity function (r): -22.21, -0.85 */
    double bcg_mean, bcg_sigma;/* BCG M_r at N200 = 20 and its dispersion: -23.0, 0.3 */
    double blue_fraction;      /* fraction of members off the red sequence: 0.2 */
    double rs_scatter;         /* red-sequence scatter in g-r: 0.04 */
    double rs_offset;          /* mag added to the red-sequence g-r and r-i (shifted test skies): 0 */
    double r_limit;            /* faintest apparent r generated: 23.5 */
    double h0, om;             /* cosmology: 71, 0.27 */
} dc_sim_cluster_model;
void dc_sim_cluster_model_default(dc_sim_cluster_model *m);

/* Things real survey images hold that are not catalogued targets (docs/sky-confounders.md).
 * All 0 in dc_sim_field_config_default: then nothing here draws a random number and images are
 * bit for bit those of a sky without them. Each population and artefact has its own stream from
 * the field's seed (survey: the survey seed and the sky cell), so one knob never moves another. */
typedef struct dc_sim_confound_config {
    /* confounders, mean numbers per deg^2 */
    double lrgs;                /* isolated LRGs, M_r -23.5..-22.5 at 0.1 < z < 0.4 */
    double pairs;               /* bright pairs, 10-50 kpc apart, 0.05 < z < 0.3 */
    double compact_groups;      /* Hickson-like, 4-8 bright galaxies within 50 kpc, 0.05 < z < 0.2 */
    double foreground_groups;   /* 0.04 < z < 0.08, N200 3-10 */
    double background_clusters; /* 0.25 < z < 0.6, N200 20-60 */
    double failed_cut_clusters; /* z in the field config's [z_min, z_max], N200 8-19 */
    /* artefacts */
    double star_spikes;         /* fraction of each star's flux in its 4 diffraction spikes (0..0.1) */
    double satellite_trails;    /* mean number per field */
    double masked_stripes;      /* mean number per field of NaN column / row bands */
    double edge_mask;           /* probability that a field has a NaN or zero border */
    double gradients;           /* largest peak-to-peak scattered-light gradient, in sky sigma */
} dc_sim_confound_config;
/* The documented realistic rates (docs/sky-confounders.md): confounders only, artefacts only. */
void dc_sim_confound_realistic(dc_sim_confound_config *c);
void dc_sim_artefacts_realistic(dc_sim_confound_config *c);

/* Red-sequence colours at redshift z (docs/facts.md 5 between 0.1 and 0.2, an LRG-like track outside). */
void dc_sim_red_sequence(double z, double *gr, double *ri);

/* Generate the members of c (BCG first, flagged DC_SIM_FLAG_BCG) from seed alone, and fill c's
 * derived fields. *members is malloc'ed (caller frees); objects carry ra/dec, cluster = -1. */
dc_status dc_sim_cluster_generate(dc_sim_cluster *c, const dc_sim_cluster_model *m, uint64_t seed,
                                  dc_sim_object **members, size_t *n_members);
struct dc_sim_vary;
/* The same with the per-cluster ranges of vary (used when vary->enabled; NULL: none). */
dc_status dc_sim_cluster_generate_vary(dc_sim_cluster *c, const dc_sim_cluster_model *m,
                                       const struct dc_sim_vary *vary, uint64_t seed,
                                       dc_sim_object **members, size_t *n_members);

/* ---- randomised conditions, populations and cluster looks (docs/simulated-sky.md) --------- */

/* The PSF of one band: a Moffat core of index beta and FWHM fwhm, made elliptical with
 * distortion e = (a^2 - b^2) / (a^2 + b^2) at position angle pa (area kept), plus a Gaussian
 * wing holding wing_frac of the flux with FWHM wing_scale x fwhm. */
typedef struct dc_sim_psf {
    double fwhm;                  /* arcsec (of the Moffat core) */
    double beta;                  /* Moffat index, 2.5..5 (tabulated every 0.1, nearest used) */
    double e, pa;                 /* distortion 0..0.5; pa degrees east of north */
    double wing_frac, wing_scale; /* 0..0.2; FWHM ratio 1.5..10 */
} dc_sim_psf;
void dc_sim_psf_default(dc_sim_psf *p, double fwhm); /* round Moffat of DC_SIM_MOFFAT_BETA */

/* Unit-flux mixture {weight, variance in FWHM^2} of the Moffat of index beta (the nearest table
 * on the 2.5..5 grid of step 0.1; DC_SIM_MOFFAT_BETA gives DC_SIM_PROFILE_MOFFAT's table), and
 * the analytic profile it approximates (un-normalised, r in FWHM). */
int dc_sim_moffat_mixture(double beta, const double **weights_variances);
double dc_sim_moffat_value(double beta, double r);
double dc_sim_moffat_beta_nearest(double beta); /* the tabulated beta actually used */

/* dc_sim_render_object with a general PSF; a default PSF (dc_sim_psf_default) renders exactly as
 * dc_sim_render_object does. */
void dc_sim_render_object_psf(float *img, int w, int h, const dc_sim_object *o, int band,
                              double pixel_scale, const dc_sim_psf *psf, double eps);

/* The ranges a field (conditions, field galaxies) and each cluster draw from. Pairs are
 * {lo, hi}; magnitudes in mag. enabled = 0 (the default) keeps the fixed simulator bit for bit;
 * dc_sim_vary_default writes the documented ranges with enabled = 0. */
typedef struct dc_sim_vary {
    int enabled;
    /* per field: observing conditions (field seed, own stream) */
    double seeing[2];       /* r FWHM arcsec: log-normal, median sqrt(lo hi), sigma ln(hi/lo)/4, clipped */
    double beta[2];         /* Moffat index, uniform (rounded to 0.1) */
    double psf_e[2];        /* PSF distortion, uniform; angle uniform */
    double wing_frac[2];    /* PSF wing flux fraction, uniform */
    double wing_scale[2];   /* wing FWHM / core FWHM, uniform */
    double sky[2];          /* sky offset from the medians (mag, + = darker), uniform, common to the bands */
    double sky_colour;      /* per-band Gaussian sigma added to that (mag), result clipped to sky[] */
    double sky_offset;      /* mag added to every band's sky (negative = brighter) */
    double depth[2];        /* 5-sigma depth change (mag, + = deeper) through the exposure, uniform */
    double depth_offset;    /* mag added to the depth (negative = shallower) */
    double zp;              /* flux calibration error: image flux x (1 + U(-zp, zp)) per band */
    double gain, darkvar;   /* fractional jitter of the camcol gains and dark variances, uniform +- */
    /* per field (survey: per 0.2 deg sky cell): field galaxies */
    double lf_mstar[2];     /* shift of the field galaxies' luminosities (mag, - = brighter), uniform */
    double lf_alpha[2];     /* change of the faint-end slope alpha, uniform */
    double size_scale[2];   /* multiplier of the Shen et al. 2003 sizes, uniform */
    double red_fraction[2]; /* multiplier of the red (early-type) fraction, uniform */
    double colour[2];       /* g-r shift of every field galaxy (mag), uniform */
    /* per cluster (member stream of (seed, id)) */
    double rs_offset[2];    /* red-sequence g-r zero-point shift (r-i: half), uniform */
    double rs_slope[2];     /* red-sequence d(g-r)/dM_r, uniform */
    double rs_scatter[2];   /* red-sequence g-r scatter, uniform */
    double c_scatter;       /* log10 scatter of the NFW concentration */
    double cluster_q[2];    /* projected axis ratio of the members, uniform; angle uniform */
    double gap_small;       /* fraction with no dominant BCG: a second red member M2 - M1 in gap_small_mag */
    double gap_small_mag[2];
    double gap_fossil;      /* fraction fossil-like: no satellite within gap_fossil_mag of the BCG */
    double gap_fossil_mag[2];
    double miscentre;       /* fraction whose members centre away from the BCG */
    double miscentre_kpc[2];/* that offset (proper kpc), uniform; angle uniform */
    double bimodal;         /* fraction with a second sub-clump */
    double bimodal_frac[2]; /* its share of the satellites, uniform */
    double bimodal_kpc[2];  /* its distance from the main centre (proper kpc), uniform */
} dc_sim_vary;
void dc_sim_vary_default(dc_sim_vary *v);
/* DC_STATUS_INVALID_ARG naming the key when a range is reversed or outside what the model supports. */
dc_status dc_sim_vary_check(const dc_sim_vary *v);

/* What one field drew (the fixed values when vary is off). */
typedef struct dc_sim_conditions {
    dc_sim_psf psf[DC_SIM_NBANDS];
    double zp_scale[DC_SIM_NBANDS];  /* image flux / catalogue flux */
    double depth;                    /* mag, + = deeper than the fixed simulator */
    double exposure_scale;           /* 10^(0.8 depth): exposure time and counts per nanomaggy */
    /* field galaxies of a single field (survey cut-outs draw these per sky cell) */
    double lf_mstar, lf_alpha, size_scale, red_fraction, colour;
} dc_sim_conditions;

/* ---- fields -------------------------------------------------------------------------------- */

/* What one field holds and how it is observed. dc_sim_field_config_default gives a 2000 x 2000
 * SDSS-like field with two clusters at 0.1 < z < 0.2 and the usual contaminants. */
typedef struct dc_sim_field_config {
    int width, height;            /* pixels */
    double ra, dec;               /* field centre, degrees (TAN, north up, east left) */
    uint64_t seed;
    double seeing;                /* r-band PSF FWHM, arcsec; 0: drawn (median 1.3", docs/facts.md 4) */
    int camcol;                   /* 1-6 picks gains and dark variances; 0: drawn */
    double r_limit;               /* faintest r magnitude rendered */
    double galaxy_density;        /* multiplier of the field galaxy counts (1: docs/facts.md 5) */
    double star_density;          /* multiplier of the star counts (1: high latitude) */
    /* clusters: the given list (id, ra, dec, z, n200_mean read; ra/dec NaN: placed at random
     * inside the field), else n_clusters drawn with z in [z_min, z_max] and N200 in
     * [n200_min, n200_max] (dN/dN200 ~ N200^-2.6) */
    const dc_sim_cluster *clusters;
    int n_given;
    int n_clusters;
    double z_min, z_max, n200_min, n200_max;
    /* contaminants, mean numbers per deg^2 (a 2000^2 field is 0.0484 deg^2) */
    double groups;                /* poor line-of-sight groups at z 0.22-0.5 (N200 3-10) */
    double nearby_galaxies;       /* bright galaxies at z 0.01-0.04 */
    double bright_stars;          /* saturating stars, g 8-12 */
    double saturation_dn;         /* full well incl. sky, DN (<= 0: none) */
    int noise;                    /* 0: noiseless images (tests) */
    dc_sim_cluster_model model;
    dc_sim_vary vary;             /* randomised conditions, field galaxies and clusters (off) */
    dc_sim_confound_config confound; /* confounders and artefacts, all 0 by default */
} dc_sim_field_config;
void dc_sim_field_config_default(dc_sim_field_config *c);

/* One artefact applied to a field, as the truth of where it is. */
typedef enum dc_sim_artefact_kind {
    DC_SIM_ARTEFACT_TRAIL,    /* a straight streak: (x0, y0) + t (x1 - x0, y1 - y0); width = FWHM px,
                                 value = flux per pixel of length (nanomaggies) in band r or the band */
    DC_SIM_ARTEFACT_STRIPE,   /* NaN pixels x0 <= x <= x1, y0 <= y <= y1 (integer bounds, inclusive) */
    DC_SIM_ARTEFACT_EDGE,     /* a border x0..x1, y0..y1 (inclusive) set to value (NaN or 0) */
    DC_SIM_ARTEFACT_GRADIENT  /* added v = x0 X + y0 Y + x1 (X^2 + Y^2), X = (x - (w-1)/2) / ((w-1)/2),
                                 Y likewise (nanomaggies), in one band */
} dc_sim_artefact_kind;
typedef struct dc_sim_artefact {
    int kind;                 /* dc_sim_artefact_kind */
    int bands;                /* bit b set: band b (g = 1, r = 2, i = 4) */
    double x0, y0, x1, y1;
    double width, value;
} dc_sim_artefact;

typedef struct dc_sim_field {
    int width, height;
    double ra, dec;
    uint64_t seed;
    double h0, om;                    /* cosmology of the cluster model */
    int camcol;
    double saturation_dn;
    dc_sim_band band[DC_SIM_NBANDS];
    dc_wcs *wcs;
    dc_image *image[DC_SIM_NBANDS];   /* g, r, i in nanomaggies, sky subtracted */
    dc_sim_object *objects;           /* everything rendered (in or near the field) */
    size_t n_objects;
    dc_sim_cluster *clusters;         /* clusters and groups whose BCG lies in the field */
    size_t n_clusters;
    dc_sim_vary vary;                 /* the field's ranges (conditions, field galaxies) */
    dc_sim_vary cluster_vary;         /* the clusters' ranges (a survey's own in cut-outs) */
    dc_sim_conditions cond;           /* what the field drew */
    dc_sim_artefact *artefacts;       /* trails, masks and gradients applied (spikes: on every star) */
    size_t n_artefacts;
} dc_sim_field;

/* Simulate a field. Same config (seed included) => bit-identical images. */
dc_status dc_sim_field_new(const dc_sim_field_config *cfg, dc_sim_field **out);
void dc_sim_field_free(dc_sim_field *f);

/* The truth catalogue: one row per cluster/group with the canonical columns of dc_catalog_map
 * (id, ra, dec, z, richness, n200, r200, bcg_rmag, bcg_ra, bcg_dec) plus x, y (0-based pixels),
 * m200, c200, rl, n_members and kind (dc_sim_cluster_kind_name: "cluster", "group", or a
 * confounder's "foreground", "background", "poor"). */
dc_status dc_sim_field_truth(const dc_sim_field *f, dc_catalog **out);

typedef struct dc_sim_write_opts {
    int preview_size;      /* longest side of the PNG preview in pixels (0: full size) */
    int write_objects;     /* also <stem>-objects.csv with every star and galaxy */
} dc_sim_write_opts;

/* Write <dir>/<stem>-g.fits, -r.fits, -i.fits (TAN WCS with CD matrix; BUNIT, FILTER, NMGY,
 * GAIN, DARKVAR, SKY, SKYMAG, SKYSIG, PSF_FWHM, PSFBETA, SATURATE, EXPTIME, CAMCOL keywords, and with
 * vary on PSF_E, PSF_PA, PSFWFRAC, PSFWSCAL, ZPSCALE, DEPTH), <stem>-truth.fits and .csv,
 * and <stem>.png (Lupton asinh colour preview, clusters circled in green at 250 kpc radius,
 * groups in orange, confounder clusters in magenta). opts may be NULL. */
dc_status dc_sim_field_write(const dc_sim_field *f, const char *dir, const char *stem,
                             const dc_sim_write_opts *opts);

/* ---- surveys ------------------------------------------------------------------------------- */

/* A sky region with a cluster population: positions uniform on the sphere, z following the
 * comoving volume, N200 from dN/dN200 ~ N200^-slope. The realised N200, lambda, BCG magnitude
 * etc. come from generating each cluster's members (from seed and id), so catalogues and images
 * agree. dc_sim_survey_config_default: RA 140-240, Dec -5..25 (about 2,900 deg^2, holding
 * ~500 clusters that pass the paper's cuts), 0.05 < z < 0.45, N200 >= 5. */
typedef struct dc_sim_survey_config {
    uint64_t seed;
    double ra_min, ra_max, dec_min, dec_max; /* degrees */
    double z_min, z_max;
    double n200_min, n200_max;
    double n200_slope;
    double density;              /* comoving Mpc^-3 of clusters with N200 >= n200_min */
    dc_sim_cluster_model model;
    dc_sim_vary vary;            /* only its per-cluster part is used: the survey's clusters */
} dc_sim_survey_config;
void dc_sim_survey_config_default(dc_sim_survey_config *c);

typedef struct dc_sim_survey {
    dc_sim_survey_config cfg;
    dc_sim_cluster *clusters;    /* ids 1..n in order */
    size_t n_clusters;
} dc_sim_survey;

dc_status dc_sim_survey_new(const dc_sim_survey_config *cfg, dc_sim_survey **out);
void dc_sim_survey_free(dc_sim_survey *s);

typedef enum dc_sim_catalog_style {
    DC_SIM_CATALOG_STYLE_WHL12,     /* WHL, RAJ2000, DEJ2000, zph, zsp, r200, RL*, N200, rmag,
                                       Other; rows with N200 >= 8 like the real table */
    DC_SIM_CATALOG_STYLE_REDMAPPER, /* ID, NAME, RA, DEC, Z_LAMBDA, Z_LAMBDA_ERR, LAMBDA,
                                       LAMBDA_ERR, IMAG, MODEL_MAG_G/R/I, P_CEN, RA_CEN, DEC_CEN;
                                       rows with LAMBDA >= 20 and 0.08 < z < 0.6 */
    DC_SIM_CATALOG_STYLE_TRUTH      /* every cluster with the canonical truth columns */
} dc_sim_catalog_style;

/* The survey's cluster catalogue in one of the styles (photometric redshifts and richness
 * errors drawn from the seed; a WHL12 row's id column WHL is "J" + sexagesimal position, and
 * the added column sim_id gives the survey cluster id in every style). */
dc_status dc_sim_survey_catalog(const dc_sim_survey *s, dc_sim_catalog_style style, dc_catalog **out);

/* Render the field of cfg's size centred on (ra, dec) with every survey cluster near it and the
 * field population of the sky cells it touches. cfg's seed, ra, dec and cluster fields are
 * ignored: the sky comes from the survey seed, conditions and noise from (survey seed, key), so
 * the same (survey, position, key) gives the same file bit for bit and overlapping fields show
 * the same galaxies. */
dc_status dc_sim_survey_field(const dc_sim_survey *s, const dc_sim_field_config *cfg, double ra,
                              double dec, uint64_t key, dc_sim_field **out);

/* The confounders of a sky region, listed without rendering a pixel (the dataset builder's hard
 * negatives). Kinds: the three small systems (no cluster entry in a field) and the three
 * confounder cluster kinds. */
typedef enum dc_sim_confounder_kind {
    DC_SIM_CONFOUNDER_LRG,        /* an isolated luminous red galaxy: its position */
    DC_SIM_CONFOUNDER_PAIR,       /* a bright pair: its midpoint */
    DC_SIM_CONFOUNDER_COMPACT,    /* a compact group: the centre its members are placed around */
    DC_SIM_CONFOUNDER_FOREGROUND, /* the cluster kinds: the cluster's centre (its BCG) and its id */
    DC_SIM_CONFOUNDER_BACKGROUND,
    DC_SIM_CONFOUNDER_POOR
} dc_sim_confounder_kind;
const char *dc_sim_confounder_kind_name(int kind); /* "lrg", "pair", "compact_group", "foreground", ... */

typedef struct dc_sim_confounder {
    int kind;           /* dc_sim_confounder_kind */
    int64_t id;         /* clusters: the id dc_sim_field's cluster list gives it; systems: unique */
    double ra, dec, z;  /* degrees; redshift */
    double n200;        /* clusters: the mean N200 drawn (members realise it); systems: 0 */
    int n_members;      /* small systems: galaxies (LRG 1, pair 2, compact 4-8); clusters: 0 */
} dc_sim_confounder;

/* Every confounder of cfg's rates (cfg->confound, as survey:field would render it: the same
 * streams of (survey seed, sky cell)) whose position lies in ra_min <= ra < ra_max, dec_min <=
 * dec < dec_max, in sky-cell order. Only the positions are drawn: cost ~ the number of
 * confounders. *out is malloc'ed (free()), NULL when *n is 0. */
dc_status dc_sim_survey_confounders(const dc_sim_survey *s, const dc_sim_field_config *cfg, double ra_min,
                                    double ra_max, double dec_min, double dec_max, dc_sim_confounder **out,
                                    size_t *n);

#endif
