/* Matching, the threshold sweep, cross-matching and k-fold on hand-made sets whose answers are
 * worked out below, plus a brute-force cross-check of the indexed searches and bad input. */
#include "dc_test.h"
#include "eval/eval.h"

#define AS (1.0 / 3600.0) /* one arcsec in degrees */

/* Independent great-circle distance (haversine), arcsec. */
static double haversine_arcsec(double ra1, double dec1, double ra2, double dec2)
{
    double r = M_PI / 180, a = sin((dec2 - dec1) * r / 2), b = sin((ra2 - ra1) * r / 2);
    double h = a * a + cos(dec1 * r) * cos(dec2 * r) * b * b;
    return 2 * asin(sqrt(fmin(1, h))) / r * 3600;
}

static void test_sep(void)
{
    CHECK_CLOSE(dc_eval_sep_arcsec(0, 0, 90, 0), 90 * 3600.0, 1e-6, 0);
    CHECK_CLOSE(dc_eval_sep_arcsec(0, 0, 180, 0), 180 * 3600.0, 1e-6, 0);
    CHECK_CLOSE(dc_eval_sep_arcsec(0, 89.9, 180, 89.9), 0.2 * 3600, 1e-6, 0);
    CHECK_CLOSE(dc_eval_sep_arcsec(359.999, 0, 0.001, 0), 7.2, 1e-9, 0);
    dc_rng rng;
    dc_rng_seed(&rng, 5);
    for (int i = 0; i < 1000; i++) {
        double ra1 = 360 * dc_rng_uniform(&rng), dec1 = 180 * dc_rng_uniform(&rng) - 90;
        double ra2 = ra1 + (dc_rng_uniform(&rng) - 0.5) * (i % 2 ? 1e-3 : 100);
        double dec2 = fmax(-90, fmin(90, dec1 + (dc_rng_uniform(&rng) - 0.5) * (i % 2 ? 1e-3 : 50)));
        CHECK_CLOSE(dc_eval_sep_arcsec(ra1, dec1, ra2, dec2), haversine_arcsec(ra1, dec1, ra2, dec2),
                    1e-6, 1e-9);
    }
}

/* The hand-made set. Truths on the equator, where an offset of s arcsec along Dec is exactly
 * s arcsec; scales are given per truth (kpc/arcsec) so distances are easy:
 *   T0 (10, 0) 1 kpc/"   T1 (20, 0) 2 kpc/"   T2 (30, 0) 0.5 kpc/"
 *   T3 (40, 0) 1 kpc/"   T4 (40, 72") 1 kpc/"
 * Predictions, in the order the greedy matching takes them (by score):
 *   P0 .95  T0 + 30"    30 kpc from T0          -> TP T0 (30 kpc)
 *   P1 .85  T0 + 60"    60 kpc, T0 taken        -> FP, duplicate
 *   P2 .75  T1 + 40"    80 kpc (2 kpc/")        -> TP T1 (80 kpc)
 *   P3 .65  T2 + 150"   75 kpc (0.5 kpc/")      -> TP T2 (75 kpc)
 *   P4 .55  T1 + 60"    120 kpc > 100           -> FP (not a duplicate); nearest T1, 120 kpc
 *   P5 .45  (55, 0)     T3 is nearer in angle (15 deg = 54000 kpc) but T2 is nearer in kpc
 *                       (25 deg * 0.5 = 45000 kpc)  -> FP; nearest T2 at 45000 kpc
 *   P8 .38  (40, 40")   T3 40 kpc, T4 32 kpc    -> TP T4 (32 kpc), the nearer
 *   P7 .35  (40, 30")   T3 30 kpc, T4 42 kpc    -> TP T3 (30 kpc)
 *   P6 .05  T2 + 10"    5 kpc, T2 taken         -> FP, duplicate
 * A prediction counts at threshold t when score > t. Per threshold (5 truths):
 *   t     above TP FP dup FN  P      R    F1      std err (kpc)
 *   0.0   9     5  4  2   0   5/9    1    10/14   sqrt((900+6400+5625+1024+900)/5) = 54.4959
 *   0.1   8     5  3  1   0   5/8    1    10/13   54.4959    (0.2, 0.3 the same)
 *   0.4   6     3  3  1   2   1/2    3/5  6/11    sqrt((900+6400+5625)/3) = 65.6379
 *   0.5   5     3  2  1   2   3/5    3/5  3/5     65.6379
 *   0.6   4     3  1  1   2   3/4    3/5  2/3     65.6379
 *   0.7   3     2  1  1   3   2/3    2/5  1/2     sqrt((900+6400)/2) = 60.4152
 *   0.8   2     1  1  1   4   1/2    1/5  2/7     30
 *   0.9   1     1  0  0   4   1      1/5  1/3     30
 *   1.0   0     0  0  0   5   0 (0/0) 0   0       NaN (no TP)
 * Best F1: 10/13 first reached at t = 0.1 (index 1). */
static void test_hand_made(void)
{
    dc_eval_truth truth[5] = {{10, 0, 0.1}, {20, 0, 0.2}, {30, 0, 0.3}, {40, 0, 0.1}, {40, 72 * AS, 0.1}};
    double scale[5] = {1, 2, 0.5, 1, 1};
    /* stored out of score order on purpose */
    dc_eval_pred pred[9] = {
        {10, 30 * AS, 0.95},  /* P0 */
        {10, 60 * AS, 0.85},  /* P1 */
        {20, 40 * AS, 0.75},  /* P2 */
        {30, 150 * AS, 0.65}, /* P3 */
        {20, 60 * AS, 0.55},  /* P4 */
        {55, 0, 0.45},        /* P5 */
        {30, 10 * AS, 0.05},  /* P6 */
        {40, 30 * AS, 0.35},  /* P7 */
        {40, 40 * AS, 0.38},  /* P8 */
    };
    dc_eval_match_opts o = dc_eval_match_defaults();
    CHECK(o.max_kpc == 100, "paper default 100 kpc");
    o.kpc_per_arcsec = scale;
    dc_eval_match *m;
    CHECK_OK(dc_eval_match_new(pred, 9, truth, 5, &o, &m));
    if (!m) return;
    const int64_t want_truth[9] = {0, -1, 1, 2, -1, -1, -1, 3, 4};
    const int want_dup[9] = {0, 1, 0, 0, 0, 0, 1, 0, 0};
    const double want_kpc[9] = {30, NAN, 80, 75, NAN, NAN, NAN, 30, 32};
    for (int i = 0; i < 9; i++) {
        CHECK(m->pred_truth[i] == want_truth[i], "P%d matched %lld, want %lld", i,
              (long long)m->pred_truth[i], (long long)want_truth[i]);
        CHECK(m->pred_dup[i] == want_dup[i], "P%d dup %d", i, m->pred_dup[i]);
        if (want_truth[i] >= 0) CHECK_CLOSE(m->pred_match_kpc[i], want_kpc[i], 1e-6, 0);
        else CHECK(isnan(m->pred_match_kpc[i]), "P%d has a match distance", i);
    }
    CHECK(m->pred_nearest[4] == 1, "P4 nearest %lld", (long long)m->pred_nearest[4]);
    CHECK_CLOSE(m->pred_nearest_kpc[4], 120, 1e-6, 0);
    CHECK(m->pred_nearest[5] == 2, "P5 nearest in kpc is T2, got %lld", (long long)m->pred_nearest[5]);
    CHECK_CLOSE(m->pred_nearest_kpc[5], 25 * 3600 * 0.5, 1e-4, 0);
    CHECK(m->pred_nearest[1] == 0 && m->pred_nearest[6] == 2, "nearest of duplicates");
    const int64_t want_pred[5] = {0, 2, 3, 7, 8};
    for (int j = 0; j < 5; j++) {
        CHECK(m->truth_pred[j] == want_pred[j], "T%d found by %lld", j, (long long)m->truth_pred[j]);
        CHECK(m->truth_score[j] == pred[want_pred[j]].score, "T%d score", j);
    }

    double thr[DC_EVAL_N_PAPER_THRESHOLDS];
    dc_eval_paper_thresholds(thr);
    dc_eval_row rows[DC_EVAL_N_PAPER_THRESHOLDS];
    CHECK_OK(dc_eval_sweep(m, thr, DC_EVAL_N_PAPER_THRESHOLDS, rows));
    const struct { size_t above, tp, fp, dup, fn; double p, r, f1, se; } w[11] = {
        {9, 5, 4, 2, 0, 5.0 / 9, 1, 10.0 / 14, sqrt(14849.0 / 5)},
        {8, 5, 3, 1, 0, 5.0 / 8, 1, 10.0 / 13, sqrt(14849.0 / 5)},
        {8, 5, 3, 1, 0, 5.0 / 8, 1, 10.0 / 13, sqrt(14849.0 / 5)},
        {8, 5, 3, 1, 0, 5.0 / 8, 1, 10.0 / 13, sqrt(14849.0 / 5)},
        {6, 3, 3, 1, 2, 0.5, 0.6, 6.0 / 11, sqrt(12925.0 / 3)},
        {5, 3, 2, 1, 2, 0.6, 0.6, 0.6, sqrt(12925.0 / 3)},
        {4, 3, 1, 1, 2, 0.75, 0.6, 2.0 / 3, sqrt(12925.0 / 3)},
        {3, 2, 1, 1, 3, 2.0 / 3, 0.4, 0.5, sqrt(7300.0 / 2)},
        {2, 1, 1, 1, 4, 0.5, 0.2, 2.0 / 7, 30},
        {1, 1, 0, 0, 4, 1, 0.2, 1.0 / 3, 30},
        {0, 0, 0, 0, 5, 0, 0, 0, NAN},
    };
    for (int t = 0; t < 11; t++) {
        const dc_eval_row *r = &rows[t];
        CHECK(r->n_above == w[t].above && r->tp == w[t].tp && r->fp == w[t].fp &&
                  r->dup == w[t].dup && r->fn == w[t].fn,
              "t = %g: above %zu TP %zu FP %zu dup %zu FN %zu", r->threshold, r->n_above, r->tp,
              r->fp, r->dup, r->fn);
        CHECK_CLOSE(r->precision, w[t].p, 1e-12, 0);
        CHECK_CLOSE(r->recall, w[t].r, 1e-12, 0);
        CHECK_CLOSE(r->f1, w[t].f1, 1e-12, 0);
        if (isnan(w[t].se)) CHECK(isnan(r->std_err_kpc), "t = %g: std err of no TP", r->threshold);
        else CHECK_CLOSE(r->std_err_kpc, w[t].se, 1e-6, 0);
    }
    CHECK(dc_eval_best_row(rows, 11) == 1, "best row %zu", dc_eval_best_row(rows, 11));

    /* a tighter radius: 50 kpc turns P2 (80) and P3 (75) into FPs; P6 (5 kpc from T2) then
     * finds T2 instead of duplicating it */
    o.max_kpc = 50;
    dc_eval_match *m2;
    CHECK_OK(dc_eval_match_new(pred, 9, truth, 5, &o, &m2));
    if (m2) {
        CHECK(m2->pred_truth[2] == -1 && m2->pred_truth[3] == -1 && m2->pred_truth[6] == 2,
              "50 kpc: P2 %lld P3 %lld P6 %lld", (long long)m2->pred_truth[2],
              (long long)m2->pred_truth[3], (long long)m2->pred_truth[6]);
        CHECK(m2->truth_pred[1] == -1, "T1 found at 50 kpc");
        dc_eval_match_free(m2);
    }
    dc_eval_match_free(m);
}

/* The cosmology path: scales from engine/astro's flat LambdaCDM (docs/facts.md 3: 2.5863 kpc/" at
 * z = 0.15), so 100 kpc = 38.665". Predictions 38.5" (99.6 kpc) and 38.8" (100.3 kpc) away.
 * Also across RA = 0. */
static void test_cosmology_and_wrap(void)
{
    dc_eval_truth truth[2] = {{359.995, 10, 0.15}, {100, -30, 0.15}};
    dc_eval_pred pred[2] = {{359.995, 10 + 38.5 * AS, 0.9}, {100, -30 - 38.8 * AS, 0.9}};
    dc_eval_match *m;
    CHECK_OK(dc_eval_match_new(pred, 2, truth, 2, NULL, &m));
    if (m) {
        CHECK_CLOSE(m->truth_kpc_per_arcsec[0], 2.5863, 2e-4, 0);
        CHECK(m->pred_truth[0] == 0 && m->pred_truth[1] == -1, "38.5\" in, 38.8\" out");
        CHECK_CLOSE(m->pred_match_kpc[0], 38.5 * 2.5863, 0.01, 0);
        dc_eval_match_free(m);
    }
    /* a prediction on the other side of RA = 0: 0.005 deg east of 0 vs truth at 359.995 ->
     * 0.01 deg * cos(10 deg) = 35.45" = 91.7 kpc */
    dc_eval_pred wrap = {0.005, 10, 0.5};
    CHECK_OK(dc_eval_match_new(&wrap, 1, truth, 1, NULL, &m));
    if (m) {
        CHECK(m->pred_truth[0] == 0, "match across RA = 0");
        dc_eval_match_free(m);
    }
}

/* Greedy one-to-one matching written plainly over all pairs, no index. */
static void naive_match(const dc_eval_pred *p, size_t np, const dc_eval_truth *t, size_t nt,
                        const double *scale, double max_kpc, int64_t *pt, int64_t *nearest)
{
    size_t order[512];
    int64_t taken[512];
    for (size_t i = 0; i < np; i++) order[i] = i;
    for (size_t i = 1; i < np; i++) /* insertion sort by score desc, index asc */
        for (size_t k = i; k > 0 && (p[order[k - 1]].score < p[order[k]].score ||
                                     (p[order[k - 1]].score == p[order[k]].score && order[k - 1] > order[k])); k--) {
            size_t tmp = order[k]; order[k] = order[k - 1]; order[k - 1] = tmp;
        }
    for (size_t j = 0; j < nt; j++) taken[j] = -1;
    for (size_t r = 0; r < np; r++) {
        size_t i = order[r];
        int64_t best = -1, near = -1;
        double bd = INFINITY, nd = INFINITY;
        for (size_t j = 0; j < nt; j++) {
            double d = haversine_arcsec(p[i].ra, p[i].dec, t[j].ra, t[j].dec) * scale[j];
            if (d < nd) { nd = d; near = (int64_t)j; }
            if (d <= max_kpc && taken[j] < 0 && d < bd) { bd = d; best = (int64_t)j; }
        }
        pt[i] = best;
        nearest[i] = near;
        if (best >= 0) taken[best] = (int64_t)i;
    }
}

static void test_against_naive(void)
{
    dc_rng rng;
    dc_rng_seed(&rng, 21);
    for (int rep = 0; rep < 5; rep++) {
        enum { NP = 400, NT = 60 };
        dc_eval_pred p[NP];
        dc_eval_truth t[NT];
        double scale[NT];
        double dec0 = rep == 4 ? 89.9 : 40 * dc_rng_uniform(&rng) - 20; /* rep 4 near the pole */
        for (int j = 0; j < NT; j++) {
            t[j].ra = fmod(359.8 + 0.4 * dc_rng_uniform(&rng), 360); /* straddles RA = 0 */
            t[j].dec = fmin(90, dec0 + 0.3 * dc_rng_uniform(&rng));
            t[j].z = 0.1;
            scale[j] = 1 + 3 * dc_rng_uniform(&rng);
        }
        for (int i = 0; i < NP; i++) {
            const dc_eval_truth *near = &t[dc_rng_below(&rng, NT)];
            p[i].ra = fmod(near->ra + 360 + 0.02 * dc_rng_normal(&rng), 360);
            p[i].dec = fmax(-90, fmin(90, near->dec + 0.02 * dc_rng_normal(&rng)));
            p[i].score = dc_rng_below(&rng, 20) / 19.0; /* repeated scores: ties by index */
        }
        dc_eval_match_opts o = dc_eval_match_defaults();
        o.kpc_per_arcsec = scale;
        o.max_kpc = 60;
        dc_eval_match *m;
        CHECK_OK(dc_eval_match_new(p, NP, t, NT, &o, &m));
        if (!m) continue;
        int64_t pt[NP], nn[NP];
        naive_match(p, NP, t, NT, scale, o.max_kpc, pt, nn);
        int bad = 0, bad_near = 0;
        for (int i = 0; i < NP; i++) {
            bad += m->pred_truth[i] != pt[i];
            bad_near += m->pred_nearest[i] != nn[i];
        }
        CHECK(bad == 0, "rep %d: %d predictions matched differently from the naive search", rep, bad);
        CHECK(bad_near == 0, "rep %d: %d nearest truths differ", rep, bad_near);
        /* invariants at every threshold */
        double thr[] = {0, 0.25, 0.5, 0.75, 0.99};
        dc_eval_row rows[5];
        CHECK_OK(dc_eval_sweep(m, thr, 5, rows));
        for (int k = 0; k < 5; k++) {
            CHECK(rows[k].tp + rows[k].fn == NT && rows[k].tp + rows[k].fp == rows[k].n_above,
                  "rep %d t %g: counts do not add up", rep, thr[k]);
            /* a matching of the predictions above t alone gives the same TP count */
            dc_eval_pred sub[NP];
            size_t ns = 0;
            for (int i = 0; i < NP; i++) if (p[i].score > thr[k]) sub[ns++] = p[i];
            dc_eval_match *ms;
            CHECK_OK(dc_eval_match_new(sub, ns, t, NT, &o, &ms));
            if (!ms) continue;
            dc_eval_row one;
            CHECK_OK(dc_eval_sweep(ms, &thr[k], 1, &one));
            CHECK(one.tp == rows[k].tp && one.dup == rows[k].dup,
                  "rep %d t %g: prefix property broken (%zu vs %zu)", rep, thr[k], one.tp, rows[k].tp);
            dc_eval_match_free(ms);
        }
        dc_eval_match_free(m);
    }
}

static void test_empty_predictions(void)
{
    /* no detections is a valid (bad) result: every truth a false negative */
    dc_eval_truth truth[3] = {{1, 1, 0.1}, {2, 2, 0.2}, {3, 3, 0.3}};
    dc_eval_match *m;
    CHECK_OK(dc_eval_match_new(NULL, 0, truth, 3, NULL, &m));
    if (!m) return;
    double thr[DC_EVAL_N_PAPER_THRESHOLDS];
    dc_eval_paper_thresholds(thr);
    dc_eval_row rows[DC_EVAL_N_PAPER_THRESHOLDS];
    CHECK_OK(dc_eval_sweep(m, thr, DC_EVAL_N_PAPER_THRESHOLDS, rows));
    for (int t = 0; t < DC_EVAL_N_PAPER_THRESHOLDS; t++)
        CHECK(rows[t].tp == 0 && rows[t].fp == 0 && rows[t].fn == 3 && rows[t].precision == 0 &&
                  rows[t].recall == 0 && rows[t].f1 == 0 && isnan(rows[t].std_err_kpc),
              "t = %g", thr[t]);
    dc_eval_match_free(m);
}

static void test_crossmatch(void)
{
    /* FP0 (150, 20): C0 60" north, z 0.2 -> match; C1 30" north but z 0.45 (outside) -> skipped.
     * FP1 (150, 25): C2 100" (1.667' > 1.61') z 0.1 -> out; C3 96" z 0.05 (not > 0.05) -> out.
     * FP2 (151, 30): C4 90" z 0.3, C5 50" z 0.39 -> C5, the nearer. */
    double ra[3] = {150, 150, 151}, dec[3] = {20, 25, 30};
    double cra[6] = {150, 150, 150, 150, 151, 151};
    double cdec[6] = {20 + 60 * AS, 20 + 30 * AS, 25 + 100 * AS, 25 - 96 * AS, 30 + 90 * AS, 30 - 50 * AS};
    double cz[6] = {0.2, 0.45, 0.1, 0.05, 0.3, 0.39};
    int64_t match[3];
    double sep[3];
    CHECK_OK(dc_eval_crossmatch(ra, dec, 3, cra, cdec, cz, 6, NULL, match, sep));
    CHECK(match[0] == 0 && match[1] == -1 && match[2] == 5, "matches %lld %lld %lld",
          (long long)match[0], (long long)match[1], (long long)match[2]);
    CHECK_CLOSE(sep[0], 60, 1e-6, 0);
    CHECK(isnan(sep[1]), "no separation without a match");
    CHECK_CLOSE(sep[2], 50, 1e-6, 0);
    /* a wider z range and radius admit C1 (nearer than C0) and C2 */
    dc_eval_xmatch_opts o = {.radius_arcmin = 2, .z_min = 0.0, .z_max = 0.5};
    CHECK_OK(dc_eval_crossmatch(ra, dec, 3, cra, cdec, cz, 6, &o, match, NULL));
    CHECK(match[0] == 1 && match[1] == 3 && match[2] == 5, "wide: %lld %lld %lld",
          (long long)match[0], (long long)match[1], (long long)match[2]);

    /* brute force on random positions */
    dc_rng rng;
    dc_rng_seed(&rng, 9);
    enum { NPOS = 300, NCAT = 2000 };
    static double pra[NPOS], pdec[NPOS], kra[NCAT], kdec[NCAT], kz[NCAT];
    for (int i = 0; i < NCAT; i++) {
        kra[i] = 10 * dc_rng_uniform(&rng);
        kdec[i] = 5 * dc_rng_uniform(&rng);
        kz[i] = 0.5 * dc_rng_uniform(&rng);
    }
    for (int i = 0; i < NPOS; i++) {
        pra[i] = 10 * dc_rng_uniform(&rng);
        pdec[i] = 5 * dc_rng_uniform(&rng);
    }
    int64_t mm[NPOS];
    o = dc_eval_xmatch_defaults();
    o.radius_arcmin = 5;
    CHECK_OK(dc_eval_crossmatch(pra, pdec, NPOS, kra, kdec, kz, NCAT, &o, mm, NULL));
    int bad = 0, found = 0;
    for (int i = 0; i < NPOS; i++) {
        int64_t best = -1;
        double bd = INFINITY;
        for (int j = 0; j < NCAT; j++) {
            double d = haversine_arcsec(pra[i], pdec[i], kra[j], kdec[j]);
            if (kz[j] > 0.05 && kz[j] < 0.4 && d <= 300 && d < bd) { bd = d; best = j; }
        }
        bad += best != mm[i];
        found += best >= 0;
    }
    CHECK(bad == 0, "%d cross-matches differ from brute force", bad);
    CHECK(found > 20 && found < NPOS, "test set degenerate: %d found", found);
}

static void test_kfold(void)
{
    int32_t a[10], b[10], c[10];
    CHECK_OK(dc_eval_kfold(10, 3, 42, a));
    CHECK_OK(dc_eval_kfold(10, 3, 42, b));
    CHECK_OK(dc_eval_kfold(10, 3, 43, c));
    int size[3] = {0}, same = 1, diff = 0;
    for (int i = 0; i < 10; i++) {
        CHECK(a[i] >= 0 && a[i] < 3, "fold %d", a[i]);
        if (a[i] >= 0 && a[i] < 3) size[a[i]]++;
        same &= a[i] == b[i];
        diff |= a[i] != c[i];
    }
    CHECK(size[0] == 4 && size[1] == 3 && size[2] == 3, "fold sizes %d %d %d", size[0], size[1], size[2]);
    CHECK(same, "same seed, different folds");
    CHECK(diff, "seed 43 gave the folds of seed 42");
    CHECK_FAILS(dc_eval_kfold(10, 1, 1, a), DC_STATUS_INVALID_ARG, "k = 1");
    CHECK_FAILS(dc_eval_kfold(2, 3, 1, a), DC_STATUS_INVALID_ARG, "2 <= k <= number of items");
}

static void test_errors(void)
{
    dc_eval_truth truth[3] = {{1, 1, 0.1}, {2, 2, 0.2}, {3, 3, NAN}};
    dc_eval_pred pred[2] = {{1, 1, 0.5}, {2, 2, 1.2}};
    dc_eval_match *m = (dc_eval_match *)1;
    CHECK_FAILS(dc_eval_match_new(pred, 1, truth, 0, NULL, &m), DC_STATUS_INVALID_ARG,
                "truth catalogue is empty");
    CHECK(m == NULL, "out set on failure");
    CHECK_FAILS(dc_eval_match_new(pred, 1, truth, 3, NULL, &m), DC_STATUS_INVALID_ARG,
                "truth row 2 (0-based)");
    CHECK_FAILS(dc_eval_match_new(pred, 2, truth, 2, NULL, &m), DC_STATUS_INVALID_ARG,
                "prediction row 1 (0-based) has score 1.2");
    dc_eval_truth z0 = {1, 1, 0};
    CHECK_FAILS(dc_eval_match_new(pred, 1, &z0, 1, NULL, &m), DC_STATUS_INVALID_ARG,
                "must be positive");
    dc_eval_match_opts o = dc_eval_match_defaults();
    o.max_kpc = -5;
    CHECK_FAILS(dc_eval_match_new(pred, 1, truth, 2, &o, &m), DC_STATUS_INVALID_ARG, "max_kpc");

    CHECK_OK(dc_eval_match_new(pred, 1, truth, 2, NULL, &m));
    if (m) {
        dc_eval_row rows[4];
        double unsorted[3] = {0.1, 0.5, 0.3}, out_of_range[4] = {0, 0.5, 0.9, 1.5}, dupl[2] = {0.2, 0.2};
        CHECK_FAILS(dc_eval_sweep(m, unsorted, 3, rows), DC_STATUS_INVALID_ARG, "strictly increasing");
        CHECK_FAILS(dc_eval_sweep(m, out_of_range, 4, rows), DC_STATUS_INVALID_ARG,
                    "threshold 3 (0-based) is 1.5");
        CHECK_FAILS(dc_eval_sweep(m, dupl, 2, rows), DC_STATUS_INVALID_ARG, "strictly increasing");
        CHECK_FAILS(dc_eval_sweep(m, unsorted, 0, rows), DC_STATUS_INVALID_ARG, "empty");
        double pct[2] = {0, 50}; /* percent instead of fractions */
        CHECK_FAILS(dc_eval_sweep(m, pct, 2, rows), DC_STATUS_INVALID_ARG, "in [0, 1]");
        dc_eval_match_free(m);
    }
    double ra[1] = {1}, dec[1] = {1}, cz[2] = {0.1, NAN}, cra[2] = {1, 2}, cdec[2] = {1, 2};
    int64_t mt[1];
    CHECK_FAILS(dc_eval_crossmatch(ra, dec, 1, cra, cdec, cz, 2, NULL, mt, NULL),
                DC_STATUS_INVALID_ARG, "catalogue row 1 (0-based)");
    dc_eval_xmatch_opts xo = {.radius_arcmin = 1, .z_min = 0.4, .z_max = 0.05};
    CHECK_FAILS(dc_eval_crossmatch(ra, dec, 1, cra, cdec, cz, 1, &xo, mt, NULL),
                DC_STATUS_INVALID_ARG, "redshift range");
}

int main(void)
{
    test_sep();
    test_hand_made();
    test_cosmology_and_wrap();
    test_against_naive();
    test_empty_predictions();
    test_crossmatch();
    test_kfold();
    test_errors();
    return dc_test_finish("test_eval_match");
}
