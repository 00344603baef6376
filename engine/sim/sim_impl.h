/* Internals shared by the simulator's files (not part of the public API). */
#ifndef DC_SIM_IMPL_H
#define DC_SIM_IMPL_H

#include "astro/astro.h"
#include "sim/sim.h"

/* Distance modulus and kpc per arcsec tabulated in z from the astro cosmology, because a field
 * needs them for thousands of galaxies. */
#define SIM_COSMO_NZ 801
#define SIM_COSMO_ZMAX 2.0
typedef struct sim_cosmo {
    double h0, om;
    double dm[SIM_COSMO_NZ], kpc[SIM_COSMO_NZ];
} sim_cosmo;

const sim_cosmo *sim_cosmo_get(double h0, double om); /* valid until the next call with other values */
double sim_cosmo_dm(const sim_cosmo *c, double z);      /* distance modulus */
double sim_cosmo_kpc(const sim_cosmo *c, double z);     /* proper kpc per arcsec */
double sim_cosmo_rho_crit(const sim_cosmo *c, double z); /* Msun / Mpc^3 */

/* A growable list of objects. */
typedef struct sim_objects {
    dc_sim_object *v;
    size_t n, cap;
} sim_objects;
dc_sim_object *sim_objects_push(sim_objects *l); /* zeroed slot, NULL when out of memory */
void sim_objects_free(sim_objects *l);

/* Independent stream for (seed, a, b): mixes the three through splitmix so that neighbouring
 * keys give unrelated streams. */
void sim_rng_for(dc_rng *r, uint64_t seed, uint64_t a, uint64_t b);
/* Stream tag of a cluster's members: sim_rng_for(r, seed, id, SIM_TAG_MEMBERS) everywhere, so a
 * cluster looks the same in dc_sim_cluster_generate, a field and a survey. */
#define SIM_TAG_MEMBERS 0x636c7573ULL

/* Galaxy types of the colour model. */
enum { SIM_TYPE_EARLY, SIM_TYPE_SBC, SIM_TYPE_IRR };

/* Observed colours (g-r, r-i) of a pure type at redshift z, and the r-band K correction. */
void sim_type_colours(int type, double z, double *gr, double *ri);
double sim_kcorr_r(int type, double z);

/* Fill a galaxy of the given type, absolute r magnitude and redshift: magnitudes from the
 * bulge and disc colours (bulge colours gr_b, ri_b given by the caller so that cluster members
 * can sit on the red sequence), sizes from Shen et al. 2003, shapes and angle drawn. */
void sim_galaxy_fill(dc_sim_object *o, int type, double abs_r, double z, double gr_b, double ri_b,
                     const sim_cosmo *cz, dc_rng *rng);

/* Members of cluster c (BCG first) appended to out; fills c's derived fields. */
dc_status sim_cluster_members(dc_sim_cluster *c, const dc_sim_cluster_model *m, const sim_cosmo *cz,
                              dc_rng *rng, sim_objects *out);
/* The same with the per-cluster ranges of vary when vary && vary->enabled (the look is drawn from
 * a stream derived from rng's state, so rng itself is consumed as without vary until members). */
dc_status sim_cluster_members_vary(dc_sim_cluster *c, const dc_sim_cluster_model *m, const dc_sim_vary *vary,
                                   const sim_cosmo *cz, dc_rng *rng, sim_objects *out);

/* The default M* and alpha of the cluster model; model values away from them shift the field
 * galaxies' luminosity function too. */
extern const double sim_mstar_ref, sim_alpha_ref;

/* Field-galaxy population changes: luminosities brighter by -dmstar, faint-end slope changed by
 * dalpha (relative to M*), sizes x size_scale, red fraction x red_fraction, g-r + colour. */
typedef struct sim_popvary {
    double dmstar, dalpha, size_scale, red_fraction, colour;
} sim_popvary;

/* Where a population is placed: a pixel box of a field (positions drawn in pixels, converted
 * through the field's WCS afterwards) or an RA/Dec cell of a survey (drawn uniformly on the
 * sphere). */
typedef struct sim_region {
    int pixel;                      /* 1: pixel box, 0: RA/Dec cell */
    double x0, y0, x1, y1;          /* pixel box */
    double ra0, ra1, dec0, dec1;    /* cell, degrees */
    double area;                    /* deg^2 */
} sim_region;
/* Set o->x, o->y (pixel box) or o->ra, o->dec (cell) uniformly at random. */
void sim_region_place(const sim_region *g, dc_rng *rng, dc_sim_object *o);

/* Populations, appended to out. r_limit: faintest r magnitude kept. Field galaxies with the
 * population changes pv (NULL: none, the fixed population). */
dc_status sim_field_galaxies(const sim_region *g, double density, double r_limit, const sim_cosmo *cz,
                             const sim_popvary *pv, dc_rng *rng, sim_objects *out);
dc_status sim_stars(const sim_region *g, double density, double r_limit, dc_rng *rng, sim_objects *out);
/* Bright nearby galaxies (z 0.01-0.04) and bright saturating stars: Poisson with the given means. */
dc_status sim_nearby_galaxies(const sim_region *g, double mean, const sim_cosmo *cz, dc_rng *rng,
                              sim_objects *out);
dc_status sim_bright_stars(const sim_region *g, double mean, dc_rng *rng, sim_objects *out);

/* Field assembly, shared by single fields and survey cut-outs. */
typedef struct sim_clusters {
    dc_sim_cluster *v;
    size_t n, cap;
} sim_clusters;
dc_status sim_field_check(const dc_sim_field_config *c);
/* Conditions drawn from seed, WCS, empty images. */
dc_status sim_field_alloc(const dc_sim_field_config *cfg, uint64_t seed, dc_sim_field **out);
/* Add cluster c (members from member_seed and c->id) with its members projected on f. */
dc_status sim_field_add_cluster(dc_sim_field *f, const dc_sim_cluster *c, const dc_sim_cluster_model *m,
                                uint64_t member_seed, sim_objects *objs, sim_clusters *cl);
/* Field galaxies, stars and contaminants of region g from streams (seed, key), projected on f. */
dc_status sim_field_populate(dc_sim_field *f, const sim_region *g, const dc_sim_field_config *cfg,
                             uint64_t seed, uint64_t key, sim_objects *objs);
/* Render, expose, and hand the lists to f (keeping the clusters whose BCG is on the image). */
dc_status sim_field_finish(dc_sim_field *f, const dc_sim_field_config *cfg, sim_objects *objs,
                           sim_clusters *cl);
dc_status sim_field_preview(const dc_sim_field *f, int size, const char *path);
/* Pixel positions of objects o[0..n) from their ra/dec (to_pixels), or the reverse. */
dc_status sim_field_project(const dc_sim_field *f, dc_sim_object *o, size_t n, int to_pixels);

/* ---- confounders (confound.c) and artefacts (artefacts.c) ---------------------------------- */

dc_status sim_confound_check(const dc_sim_confound_config *c);
/* Nonzero when any confounder population is requested. */
int sim_confound_any(const dc_sim_confound_config *c);
/* Farthest a confounder cluster's members reach from its centre, degrees: survey fields visit
 * the sky cells this far around them. */
#define SIM_CONFOUND_REACH_DEG 0.65
/* The confounders of region g from streams (seed, tag, key): LRGs, pairs and compact groups as
 * objects, foreground / background / poor clusters through sim_field_add_cluster (members from
 * (seed, id)); what cannot reach f (with a 64 px margin) is dropped. */
dc_status sim_confound_populate(dc_sim_field *f, const sim_region *g, const dc_sim_field_config *cfg,
                                uint64_t seed, uint64_t key, sim_objects *objs, sim_clusters *cl);
/* A growable list of confounders (dc_sim_survey_confounders). */
typedef struct sim_confounders {
    dc_sim_confounder *v;
    size_t n, cap;
} sim_confounders;
/* The confounders of cell g from the same streams as sim_confound_populate, positions only,
 * appended to out (whatever their position: the caller keeps its region). */
dc_status sim_confound_list(const sim_region *g, const dc_sim_field_config *cfg, uint64_t seed, uint64_t key,
                            sim_confounders *out);
/* Light added to the noiseless images before exposure (diffraction spikes of every star in
 * objs, satellite trails), so it gets photon noise and saturates like real light. */
dc_status sim_artefacts_light(dc_sim_field *f, const dc_sim_field_config *cfg, const sim_objects *objs);
/* After exposure: scattered-light gradients, then masked stripes and the edge mask. */
dc_status sim_artefacts_exposed(dc_sim_field *f, const dc_sim_field_config *cfg);

#endif
