/* Matching predictions to true clusters, the threshold sweep, cross-matching and k-fold splits.
 * Searches on the sky go through an index sorted by Dec: the angular separation is never
 * smaller than the difference in Dec, so only a Dec window needs exact distances. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"

#define DEG (M_PI / 180.0)

double dc_eval_sep_arcsec(double ra1, double dec1, double ra2, double dec2)
{
    /* Vincenty's special case of the great-circle distance: well conditioned at 0 and at 180. */
    double dra = (ra2 - ra1) * DEG, d1 = dec1 * DEG, d2 = dec2 * DEG;
    double c1 = cos(d1), s1 = sin(d1), c2 = cos(d2), s2 = sin(d2), cdra = cos(dra);
    double a = c2 * sin(dra), b = c1 * s2 - s1 * c2 * cdra;
    return atan2(sqrt(a * a + b * b), s1 * s2 + c1 * c2 * cdra) / DEG * 3600.0;
}

/* ---------------------------------------------------------------- Dec-sorted index */

typedef struct dec_index {
    size_t n;
    size_t *order; /* rows by increasing Dec */
    double *dec;   /* dec[k] = Dec of row order[k] */
} dec_index;

static void dec_index_free(dec_index *ix)
{
    free(ix->order);
    free(ix->dec);
}

static const double *sort_key;
static int cmp_by_key(const void *a, const void *b)
{
    double x = sort_key[*(const size_t *)a], y = sort_key[*(const size_t *)b];
    if (x != y) return (x > y) - (x < y);
    return (*(const size_t *)a > *(const size_t *)b) - (*(const size_t *)a < *(const size_t *)b);
}

/* Index the n values key[i * stride] (stride in doubles, so a field of an array of structs). */
static dc_status dec_index_build(dec_index *ix, const double *key, size_t stride, size_t n)
{
    ix->n = n;
    ix->order = malloc((n ? n : 1) * sizeof *ix->order);
    ix->dec = malloc((n ? n : 1) * sizeof *ix->dec);
    if (!ix->order || !ix->dec) {
        free(ix->order);
        free(ix->dec);
        return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "eval: no memory to index %zu positions", n);
    }
    for (size_t i = 0; i < n; i++) {
        ix->order[i] = i;
        ix->dec[i] = key[i * stride];
    }
    sort_key = ix->dec; /* qsort has no context argument; eval is not called concurrently */
    qsort(ix->order, n, sizeof *ix->order, cmp_by_key);
    double *sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted) {
        dec_index_free(ix);
        return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "eval: no memory to index %zu positions", n);
    }
    for (size_t k = 0; k < n; k++) sorted[k] = ix->dec[ix->order[k]];
    free(ix->dec);
    ix->dec = sorted;
    return DC_STATUS_OK;
}

/* First position k with dec[k] >= v. */
static size_t dec_lower(const dec_index *ix, double v)
{
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix->dec[mid] < v) lo = mid + 1; else hi = mid;
    }
    return lo;
}

/* ---------------------------------------------------------------- matching */

dc_eval_match_opts dc_eval_match_defaults(void)
{
    dc_eval_match_opts o = {.max_kpc = 100.0, .kpc_per_arcsec = NULL, .cosmo = NULL};
    return o;
}

void dc_eval_match_free(dc_eval_match *m)
{
    if (!m) return;
    free(m->pred_score);
    free(m->pred_truth);
    free(m->pred_dup);
    free(m->pred_match_kpc);
    free(m->pred_nearest);
    free(m->pred_nearest_kpc);
    free(m->truth_pred);
    free(m->truth_score);
    free(m->truth_kpc_per_arcsec);
    free(m);
}

static const dc_eval_pred *rank_pred;
static int cmp_rank(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    double si = rank_pred[i].score, sj = rank_pred[j].score;
    if (si != sj) return si > sj ? -1 : 1; /* higher score first */
    return (i > j) - (i < j);
}

static dc_status check_inputs(const dc_eval_pred *pred, size_t n_pred, const dc_eval_truth *truth,
                              size_t n_truth, const dc_eval_match_opts *o)
{
    DC_CHECK_ARG(truth != NULL && n_truth >= 1,
                 "match: the truth catalogue is empty; give at least one true cluster");
    DC_CHECK_ARG(n_pred == 0 || pred != NULL, "match: %zu predictions but no array", n_pred);
    DC_CHECK_ARG(isfinite(o->max_kpc) && o->max_kpc > 0,
                 "match: max_kpc = %g must be a positive distance in kpc (paper: 100)", o->max_kpc);
    for (size_t i = 0; i < n_pred; i++) {
        const dc_eval_pred *p = &pred[i];
        DC_CHECK_ARG(isfinite(p->ra) && isfinite(p->dec) && fabs(p->dec) <= 90,
                     "match: prediction row %zu (0-based) has ra = %g, dec = %g; need finite "
                     "degrees with |dec| <= 90", i, p->ra, p->dec);
        DC_CHECK_ARG(p->score >= 0 && p->score <= 1,
                     "match: prediction row %zu (0-based) has score %g outside [0, 1]", i,
                     p->score);
    }
    for (size_t j = 0; j < n_truth; j++) {
        const dc_eval_truth *t = &truth[j];
        DC_CHECK_ARG(isfinite(t->ra) && isfinite(t->dec) && fabs(t->dec) <= 90,
                     "match: truth row %zu (0-based) has ra = %g, dec = %g; need finite degrees "
                     "with |dec| <= 90", j, t->ra, t->dec);
        DC_CHECK_ARG(isfinite(t->z) && t->z >= 0,
                     "match: truth row %zu (0-based) at ra = %g, dec = %g has no redshift (z = %g); "
                     "the kpc distance needs the true cluster's z: fill it or drop the row",
                     j, t->ra, t->dec, t->z);
    }
    return DC_STATUS_OK;
}

/* Fill m->truth_kpc_per_arcsec from the given scales or the cosmology. */
static dc_status truth_scales(dc_eval_match *m, const dc_eval_truth *truth,
                              const dc_eval_match_opts *o)
{
    dc_cosmo paper = dc_cosmo_paper();
    const dc_cosmo *c = o->cosmo ? o->cosmo : &paper;
    for (size_t j = 0; j < m->n_truth; j++) {
        double s = o->kpc_per_arcsec ? o->kpc_per_arcsec[j] : dc_cosmo_kpc_per_arcsec(c, truth[j].z);
        DC_CHECK_ARG(isfinite(s) && s > 0,
                     "match: truth row %zu (0-based) has a scale of %g kpc/arcsec at z = %g; it "
                     "must be positive (z > 0)", j, s, truth[j].z);
        m->truth_kpc_per_arcsec[j] = s;
    }
    return DC_STATUS_OK;
}

/* The nearest truth (in kpc) to prediction p. With free_within, only truths within max_kpc that
 * are not yet taken count (-1 when none), and *within says whether any truth, taken or not, lay
 * within max_kpc. */
static int64_t search_truth(const dec_index *ix, const dc_eval_truth *truth, const double *scale,
                            double s_min, const dc_eval_pred *p, const int64_t *taken,
                            double max_kpc, int free_within, int *within, double *best_kpc)
{
    int64_t best = -1;
    double best_d = INFINITY;
    if (free_within) *within = 0;
    size_t start = dec_lower(ix, p->dec);
    /* Walk outwards in Dec both ways; a truth dDec away is at least dDec * s_min kpc from p, so
     * each direction stops once that bound exceeds the best so far (or max_kpc). */
    for (int up = 0; up < 2; up++) {
        for (size_t steps = 0;; steps++) {
            size_t pos;
            if (up) {
                if (start + steps >= ix->n) break;
                pos = start + steps;
            } else {
                if (steps >= start) break;
                pos = start - 1 - steps;
            }
            double bound = fabs(ix->dec[pos] - p->dec) * 3600.0 * s_min;
            if (bound > best_d || (free_within && bound > max_kpc)) break;
            size_t j = ix->order[pos];
            double d = dc_eval_sep_arcsec(p->ra, p->dec, truth[j].ra, truth[j].dec) * scale[j];
            if (free_within) {
                if (d > max_kpc) continue;
                *within = 1;
                if (taken[j] >= 0) continue;
            }
            if (d < best_d || (d == best_d && (int64_t)j < best)) {
                best_d = d;
                best = (int64_t)j;
            }
        }
    }
    *best_kpc = best >= 0 ? best_d : NAN;
    return best;
}

dc_status dc_eval_match_new(const dc_eval_pred *pred, size_t n_pred, const dc_eval_truth *truth,
                            size_t n_truth, const dc_eval_match_opts *opts, dc_eval_match **out)
{
    *out = NULL;
    dc_eval_match_opts o = opts ? *opts : dc_eval_match_defaults();
    DC_TRY(check_inputs(pred, n_pred, truth, n_truth, &o));

    dc_eval_match *m = calloc(1, sizeof *m);
    if (!m) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "match: no memory");
    size_t np = n_pred ? n_pred : 1;
    m->n_pred = n_pred;
    m->n_truth = n_truth;
    m->max_kpc = o.max_kpc;
    m->pred_score = malloc(np * sizeof *m->pred_score);
    m->pred_truth = malloc(np * sizeof *m->pred_truth);
    m->pred_dup = calloc(np, 1);
    m->pred_match_kpc = malloc(np * sizeof *m->pred_match_kpc);
    m->pred_nearest = malloc(np * sizeof *m->pred_nearest);
    m->pred_nearest_kpc = malloc(np * sizeof *m->pred_nearest_kpc);
    m->truth_pred = malloc(n_truth * sizeof *m->truth_pred);
    m->truth_score = malloc(n_truth * sizeof *m->truth_score);
    m->truth_kpc_per_arcsec = malloc(n_truth * sizeof *m->truth_kpc_per_arcsec);
    size_t *rank = malloc(np * sizeof *rank);
    if (!m->pred_score || !m->pred_truth || !m->pred_dup || !m->pred_match_kpc || !m->pred_nearest ||
        !m->pred_nearest_kpc || !m->truth_pred || !m->truth_score || !m->truth_kpc_per_arcsec ||
        !rank) {
        free(rank);
        dc_eval_match_free(m);
        return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "match: no memory for %zu predictions, %zu truths",
                       n_pred, n_truth);
    }
    dc_status st = truth_scales(m, truth, &o);
    if (st != DC_STATUS_OK) {
        free(rank);
        dc_eval_match_free(m);
        return st;
    }
    double s_min = INFINITY;
    for (size_t j = 0; j < n_truth; j++) {
        m->truth_pred[j] = -1;
        m->truth_score[j] = -1;
        s_min = fmin(s_min, m->truth_kpc_per_arcsec[j]);
    }
    dec_index ix;
    _Static_assert(sizeof(dc_eval_truth) == 3 * sizeof(double), "dc_eval_truth is three doubles");
    st = dec_index_build(&ix, &truth[0].dec, 3, n_truth);
    if (st != DC_STATUS_OK) {
        free(rank);
        dc_eval_match_free(m);
        return st;
    }

    for (size_t i = 0; i < n_pred; i++) {
        rank[i] = i;
        m->pred_score[i] = pred[i].score;
    }
    rank_pred = pred;
    qsort(rank, n_pred, sizeof *rank, cmp_rank);
    for (size_t r = 0; r < n_pred; r++) {
        size_t i = rank[r];
        int within;
        double d;
        int64_t j = search_truth(&ix, truth, m->truth_kpc_per_arcsec, s_min, &pred[i],
                                 m->truth_pred, o.max_kpc, 1, &within, &d);
        m->pred_truth[i] = j;
        m->pred_match_kpc[i] = d;
        m->pred_dup[i] = j < 0 && within;
        if (j >= 0) {
            m->truth_pred[j] = (int64_t)i;
            m->truth_score[j] = pred[i].score;
        }
        m->pred_nearest[i] = search_truth(&ix, truth, m->truth_kpc_per_arcsec, s_min, &pred[i],
                                          NULL, o.max_kpc, 0, NULL, &m->pred_nearest_kpc[i]);
    }
    dec_index_free(&ix);
    free(rank);
    *out = m;
    return DC_STATUS_OK;
}

void dc_eval_paper_thresholds(double out[DC_EVAL_N_PAPER_THRESHOLDS])
{
    for (int i = 0; i < DC_EVAL_N_PAPER_THRESHOLDS; i++) out[i] = i / 10.0;
}

dc_status dc_eval_sweep(const dc_eval_match *m, const double *thresholds, size_t n_thr,
                        dc_eval_row *rows)
{
    DC_CHECK_ARG(thresholds != NULL && n_thr >= 1, "sweep: the threshold list is empty");
    for (size_t t = 0; t < n_thr; t++) {
        double v = thresholds[t];
        DC_CHECK_ARG(v >= 0 && v <= 1,
                     "sweep: threshold %zu (0-based) is %g; thresholds are confidences in [0, 1] "
                     "(the paper's 0, 0.1, ..., 1)", t, v);
        DC_CHECK_ARG(t == 0 || v > thresholds[t - 1],
                     "sweep: thresholds must be strictly increasing; index %zu (%g) follows %g", t,
                     v, thresholds[t - 1]);
    }
    for (size_t t = 0; t < n_thr; t++) {
        dc_eval_row *r = &rows[t];
        memset(r, 0, sizeof *r);
        r->threshold = thresholds[t];
        double sum2 = 0;
        for (size_t i = 0; i < m->n_pred; i++) {
            if (!(m->pred_score[i] > r->threshold)) continue;
            r->n_above++;
            if (m->pred_truth[i] >= 0) {
                r->tp++;
                sum2 += m->pred_match_kpc[i] * m->pred_match_kpc[i];
            } else {
                r->fp++;
                r->dup += m->pred_dup[i];
            }
        }
        r->fn = m->n_truth - r->tp;
        r->precision = r->n_above ? (double)r->tp / (double)r->n_above : 0;
        r->recall = (double)r->tp / (double)m->n_truth;
        double pr = r->precision + r->recall;
        r->f1 = pr > 0 ? 2 * r->precision * r->recall / pr : 0;
        r->std_err_kpc = r->tp ? sqrt(sum2 / (double)r->tp) : NAN;
    }
    return DC_STATUS_OK;
}

size_t dc_eval_best_row(const dc_eval_row *rows, size_t n)
{
    size_t best = 0;
    for (size_t t = 1; t < n; t++)
        if (rows[t].f1 > rows[best].f1) best = t;
    return best;
}

/* ---------------------------------------------------------------- cross-matching */

dc_eval_xmatch_opts dc_eval_xmatch_defaults(void)
{
    dc_eval_xmatch_opts o = {.radius_arcmin = 1.61, .z_min = 0.05, .z_max = 0.4};
    return o;
}

dc_status dc_eval_crossmatch(const double *ra, const double *dec, size_t n_pos,
                             const double *cat_ra, const double *cat_dec, const double *cat_z,
                             size_t n_cat, const dc_eval_xmatch_opts *opts, int64_t *match,
                             double *sep_arcsec)
{
    const dc_eval_xmatch_opts paper = dc_eval_xmatch_defaults();
    const dc_eval_xmatch_opts o = opts ? *opts : paper;
    DC_CHECK_ARG(isfinite(o.radius_arcmin) && o.radius_arcmin > 0,
                 "crossmatch: radius %g arcmin must be positive (paper: %g)", o.radius_arcmin,
                 paper.radius_arcmin);
    DC_CHECK_ARG(!isnan(o.z_min) && !isnan(o.z_max) && o.z_min < o.z_max,
                 "crossmatch: the redshift range (%g, %g) is empty (paper: %g < z < %g)",
                 o.z_min, o.z_max, paper.z_min, paper.z_max);
    for (size_t i = 0; i < n_pos; i++)
        DC_CHECK_ARG(isfinite(ra[i]) && isfinite(dec[i]) && fabs(dec[i]) <= 90,
                     "crossmatch: position %zu (0-based) has ra = %g, dec = %g", i, ra[i], dec[i]);
    for (size_t j = 0; j < n_cat; j++) {
        DC_CHECK_ARG(isfinite(cat_ra[j]) && isfinite(cat_dec[j]) && fabs(cat_dec[j]) <= 90,
                     "crossmatch: catalogue row %zu (0-based) has ra = %g, dec = %g", j, cat_ra[j],
                     cat_dec[j]);
        DC_CHECK_ARG(isfinite(cat_z[j]),
                     "crossmatch: catalogue row %zu (0-based) at ra = %g, dec = %g has no redshift "
                     "(z = %g); the z range needs one for every row: fill it or drop the row", j,
                     cat_ra[j], cat_dec[j], cat_z[j]);
    }
    dec_index ix;
    DC_TRY(dec_index_build(&ix, cat_dec, 1, n_cat));
    double r_arcsec = o.radius_arcmin * 60.0, r_deg = o.radius_arcmin / 60.0;
    for (size_t i = 0; i < n_pos; i++) {
        int64_t best = -1;
        double best_d = INFINITY;
        for (size_t k = dec_lower(&ix, dec[i] - r_deg); k < ix.n && ix.dec[k] <= dec[i] + r_deg; k++) {
            size_t j = ix.order[k];
            if (!(cat_z[j] > o.z_min && cat_z[j] < o.z_max)) continue;
            double d = dc_eval_sep_arcsec(ra[i], dec[i], cat_ra[j], cat_dec[j]);
            if (d <= r_arcsec && (d < best_d || (d == best_d && (int64_t)j < best))) {
                best_d = d;
                best = (int64_t)j;
            }
        }
        match[i] = best;
        if (sep_arcsec) sep_arcsec[i] = best >= 0 ? best_d : NAN;
    }
    dec_index_free(&ix);
    return DC_STATUS_OK;
}

/* ---------------------------------------------------------------- k-fold */

dc_status dc_eval_kfold(size_t n, int k, uint64_t seed, int32_t *fold)
{
    DC_CHECK_ARG(k >= 2 && (size_t)k <= n,
                 "kfold: k = %d folds for %zu items; need 2 <= k <= number of items", k, n);
    DC_CHECK_ARG(n <= UINT32_MAX, "kfold: %zu items is more than 2^32 - 1", n);
    size_t *perm = malloc(n * sizeof *perm);
    if (!perm) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "kfold: no memory for %zu items", n);
    for (size_t i = 0; i < n; i++) perm[i] = i;
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    for (size_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
        size_t j = dc_rng_below(&rng, (uint32_t)(i + 1));
        size_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
    for (size_t i = 0; i < n; i++) fold[perm[i]] = (int32_t)(i % (size_t)k);
    free(perm);
    return DC_STATUS_OK;
}
