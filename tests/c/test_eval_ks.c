/* Two-sample KS test: the reference values of docs/facts.md section 7 (which are scipy's), an
 * independent brute force over every labelling for tiny samples, the one-sample Kolmogorov
 * distribution against Monte Carlo and across the boundaries of its regimes, and bad input. */
#include "dc_test.h"
#include "eval/eval.h"

/* sup |F_x - F_y| by evaluating both ECDFs at every pooled value: O((n+m)^2), no sorting, so it
 * shares no code with the engine's block walk. */
static double brute_d(const double *v, const int *is_x, int total)
{
    int n = 0, m = 0;
    for (int k = 0; k < total; k++) is_x[k] ? n++ : m++;
    double d = 0;
    for (int k = 0; k < total; k++) {
        int cx = 0, cy = 0;
        for (int l = 0; l < total; l++)
            if (v[l] <= v[k]) is_x[l] ? cx++ : cy++;
        d = fmax(d, fabs((double)cx / n - (double)cy / m));
    }
    return d;
}

/* Exact permutation p-value: the share of all C(n+m, n) labellings of the pooled values (ties
 * kept) whose D reaches the observed one. */
static double brute_p(const double *x, int n, const double *y, int m)
{
    int total = n + m, lab[32];
    double v[32];
    for (int k = 0; k < n; k++) { v[k] = x[k]; lab[k] = 1; }
    for (int k = 0; k < m; k++) { v[n + k] = y[k]; lab[n + k] = 0; }
    double d_obs = brute_d(v, lab, total);
    long hit = 0, all = 0;
    for (unsigned mask = 0; mask < (1u << total); mask++) {
        if (__builtin_popcount(mask) != n) continue;
        for (int k = 0; k < total; k++) lab[k] = (mask >> k) & 1;
        all++;
        if (brute_d(v, lab, total) >= d_obs - 1e-12) hit++;
    }
    return (double)hit / (double)all;
}

/* Kolmogorov's limiting distribution, P(sqrt(n) D_n >= z) as n -> infinity. */
static double kolmogorov_limit_sf(double z)
{
    double s = 0;
    for (int k = 1; k < 100; k++) s += (k % 2 ? 2 : -2) * exp(-2.0 * k * k * z * z);
    return s;
}

static void test_facts(void)
{
    double x[20], y[30];
    dc_eval_ks r;
    /* docs/facts.md 7: x = 0..9, y = 5..14: D = 0.5, exact p 0.1678213, asymptotic 0.112 */
    for (int i = 0; i < 10; i++) { x[i] = i; y[i] = i + 5; }
    CHECK_OK(dc_eval_ks_2samp(x, 10, y, 10, 0.05, DC_EVAL_KS_METHOD_AUTO, &r));
    CHECK(r.method == DC_EVAL_KS_METHOD_EXACT, "auto chose %d for n = m = 10", (int)r.method);
    CHECK_CLOSE(r.d, 0.5, 1e-15, 0);
    CHECK_CLOSE(r.p, 0.1678213, 1e-7, 0);
    CHECK(r.ties == 1, "5..9 occur in both samples");
    CHECK_OK(dc_eval_ks_2samp(x, 10, y, 10, 0.05, DC_EVAL_KS_METHOD_ASYMP, &r));
    /* 2 * smirnov(5, 0.5) = 2 * 0.5 * (0.0625 + 0.0405 + 0.009) = 0.112 exactly */
    CHECK_CLOSE(r.p, 0.112, 1e-12, 0);

    /* x = 0..19, y = 10..39: D = 2/3, exact 1.6223e-05, asymptotic 8.8386e-06 */
    for (int i = 0; i < 20; i++) x[i] = i;
    for (int i = 0; i < 30; i++) y[i] = i + 10;
    CHECK_OK(dc_eval_ks_2samp(x, 20, y, 30, 0.05, DC_EVAL_KS_METHOD_EXACT, &r));
    CHECK_CLOSE(r.d, 2.0 / 3.0, 1e-15, 0);
    CHECK_CLOSE(r.p, 1.6223e-05, 0, 1e-4);
    CHECK(r.reject, "D = 0.667 exceeds D_crit = %g", r.d_crit);
    CHECK_OK(dc_eval_ks_2samp(x, 20, y, 30, 0.05, DC_EVAL_KS_METHOD_ASYMP, &r));
    CHECK_CLOSE(r.p, 8.8386e-06, 0, 1e-4);
    /* the samples in the other order give the same test */
    dc_eval_ks r2;
    CHECK_OK(dc_eval_ks_2samp(y, 30, x, 20, 0.05, DC_EVAL_KS_METHOD_ASYMP, &r2));
    CHECK(r2.p == r.p && r2.d == r.d, "asymmetric: %g vs %g", r2.p, r.p);
    CHECK_OK(dc_eval_ks_2samp(y, 30, x, 20, 0.05, DC_EVAL_KS_METHOD_EXACT, &r2));
    CHECK_CLOSE(r2.p, 1.6223e-05, 0, 1e-4);

    /* critical values: c(0.05) = 1.35810, c(0.01) = 1.62762 (n = m = 2 makes the root 1);
     * n = m = 100, alpha 0.05: 0.19205 */
    double c;
    CHECK_OK(dc_eval_ks_critical(0.05, 2, 2, &c));
    CHECK_CLOSE(c, 1.35810, 1e-5, 0);
    CHECK_OK(dc_eval_ks_critical(0.01, 2, 2, &c));
    CHECK_CLOSE(c, 1.62762, 1e-5, 0);
    CHECK_OK(dc_eval_ks_critical(0.05, 100, 100, &c));
    CHECK_CLOSE(c, 0.19205, 2e-5, 0);
}

static void test_brute_force(void)
{
    dc_rng rng;
    dc_rng_seed(&rng, 7);
    const int sizes[][2] = {{1, 1}, {1, 4}, {3, 4}, {5, 5}, {4, 7}, {6, 6}, {2, 9}, {7, 8}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int n = sizes[s][0], m = sizes[s][1];
        double x[16], y[16];
        for (int rep = 0; rep < 4; rep++) {
            /* rep 0, 1: continuous values (shifted apart in rep 1); rep 2, 3: small integers,
             * so ties within and across samples */
            for (int i = 0; i < n; i++)
                x[i] = rep < 2 ? dc_rng_normal(&rng) + rep : (double)dc_rng_below(&rng, 4);
            for (int i = 0; i < m; i++)
                y[i] = rep < 2 ? dc_rng_normal(&rng) : (double)dc_rng_below(&rng, 4 + rep);
            dc_eval_ks r;
            CHECK_OK(dc_eval_ks_2samp(x, n, y, m, 0.05, DC_EVAL_KS_METHOD_EXACT, &r));
            double lab_x[32];
            int is_x[32];
            for (int i = 0; i < n; i++) { lab_x[i] = x[i]; is_x[i] = 1; }
            for (int i = 0; i < m; i++) { lab_x[n + i] = y[i]; is_x[n + i] = 0; }
            CHECK_CLOSE(r.d, brute_d(lab_x, is_x, n + m), 1e-12, 0);
            if (!r.ties) {
                /* sorting the pooled values and enumerating rank labellings = permuting values */
                double p = brute_p(x, n, y, m);
                CHECK_CLOSE(r.p, p, 1e-12, 1e-10);
                CHECK_CLOSE(r.p_ties, p, 1e-12, 1e-10);
            } else {
                CHECK_CLOSE(r.p_ties, brute_p(x, n, y, m), 1e-12, 1e-10);
                /* continuous null: D's distribution over labellings of n+m distinct ranks */
                int total = n + m, lab[32];
                double pos[32];
                for (int k = 0; k < total; k++) pos[k] = k;
                long hit = 0, all = 0;
                for (unsigned mask = 0; mask < (1u << total); mask++) {
                    if (__builtin_popcount(mask) != n) continue;
                    for (int k = 0; k < total; k++) lab[k] = (mask >> k) & 1;
                    all++;
                    if (brute_d(pos, lab, total) >= r.d - 1e-12) hit++;
                }
                CHECK_CLOSE(r.p, (double)hit / all, 1e-12, 1e-10);
                CHECK(r.p_ties <= r.p + 1e-12, "ties can only lower p: %g > %g", r.p_ties, r.p);
            }
        }
    }
}

/* One-sample D_n of n uniforms. */
static double sample_dn(dc_rng *rng, int n, double *u)
{
    for (int i = 0; i < n; i++) u[i] = dc_rng_uniform(rng);
    for (int i = 1; i < n; i++) /* insertion sort: n is small */
        for (int j = i; j > 0 && u[j - 1] > u[j]; j--) { double t = u[j]; u[j] = u[j - 1]; u[j - 1] = t; }
    double d = 0;
    for (int i = 0; i < n; i++) d = fmax(d, fmax((i + 1.0) / n - u[i], u[i] - (double)i / n));
    return d;
}

static void test_kolmogorov(void)
{
    /* Monte Carlo: 40000 samples of D_30; each tail within 4.5 binomial sigmas */
    dc_rng rng;
    dc_rng_seed(&rng, 11);
    enum { N = 30, REPS = 40000 };
    const double xs[] = {0.1, 0.15, 0.2, 0.25, 0.3};
    long cnt[5] = {0};
    double u[N];
    for (int r = 0; r < REPS; r++) {
        double d = sample_dn(&rng, N, u);
        for (int k = 0; k < 5; k++) cnt[k] += d >= xs[k];
    }
    for (int k = 0; k < 5; k++) {
        double p = dc_eval_kolmogorov_sf(N, xs[k]), f = (double)cnt[k] / REPS;
        double sig = sqrt(p * (1 - p) / REPS) + 1e-4;
        CHECK(fabs(f - p) < 4.5 * sig, "n = 30, x = %g: sf %g vs Monte Carlo %g", xs[k], p, f);
    }

    /* Marsaglia, Tsang & Wang (2003, J. Stat. Softw. 8(18)) quote K(10, 0.274) = 0.6284796154565043 */
    CHECK_CLOSE(1 - dc_eval_kolmogorov_sf(10, 0.274), 0.6284796154565043, 1e-14, 0);

    /* closed forms: n = 1: P(D_1 >= x) = 2(1 - x) for x >= 1/2; t <= 1: 1 - n!/n^n (2nx - 1)^n */
    CHECK_CLOSE(dc_eval_kolmogorov_sf(1, 0.7), 0.6, 1e-14, 0);
    CHECK_CLOSE(dc_eval_kolmogorov_sf(3, 0.3), 1 - 6.0 / 27 * pow(2 * 0.9 - 1, 3), 1e-14, 0);
    CHECK(dc_eval_kolmogorov_sf(5, 0.05) == 1, "below 1/(2n) D_n >= x surely");
    CHECK(dc_eval_kolmogorov_sf(5, 1.0) == 0, "D_n < 1 surely");

    /* continuity across the regime boundaries (the distribution is continuous in x):
     * n = 10 at x = 0.5 (Durbin | exact Smirnov), n = 100 at nx^2 = 4 (Durbin | Smirnov),
     * n = 1000 at n x^1.5 = 1.4 (Durbin | Pelz-Good) and at nx^2 = 2.2 (Pelz-Good | Smirnov) */
    struct { int64_t n; double x, tol; } b[] = {
        {10, 0.5, 1e-10}, {100, 0.2, 1e-8}, {1000, pow(1.4 / 1000, 2.0 / 3.0), 1e-6},
        {1000, sqrt(2.2 / 1000), 2e-5}, {50000, pow(1.4 / 50000, 2.0 / 3.0), 1e-6}};
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) {
        double lo = dc_eval_kolmogorov_sf(b[i].n, b[i].x * (1 - 1e-12));
        double hi = dc_eval_kolmogorov_sf(b[i].n, b[i].x * (1 + 1e-12));
        CHECK(fabs(lo - hi) <= b[i].tol, "n = %lld, x = %.9g: %.12g | %.12g", (long long)b[i].n,
              b[i].x, lo, hi);
    }
    /* large n approaches Kolmogorov's limit, with an O(1/sqrt(n)) correction */
    for (double z = 0.6; z < 2.01; z += 0.35) {
        double n = 1e6;
        CHECK_CLOSE(dc_eval_kolmogorov_sf((int64_t)n, z / sqrt(n)), kolmogorov_limit_sf(z), 2e-3, 0);
    }
    /* monotone decreasing in x */
    double prev = 1.0;
    for (double x = 0.001; x < 1; x += 0.001) {
        double p = dc_eval_kolmogorov_sf(200, x);
        CHECK(p <= prev + 1e-12, "sf not monotone at x = %g: %g > %g", x, p, prev);
        prev = p;
    }
}

static void test_large(void)
{
    /* Exact and asymptotic agree on large samples; auto switches above 10000 like scipy. */
    dc_rng rng;
    dc_rng_seed(&rng, 3);
    size_t n = 2000, m = 3000;
    double *x = malloc(20001 * sizeof *x), *y = malloc(20001 * sizeof *y);
    for (size_t i = 0; i < 20001; i++) { x[i] = dc_rng_normal(&rng) + 0.05; y[i] = dc_rng_normal(&rng); }
    dc_eval_ks e, a;
    CHECK_OK(dc_eval_ks_2samp(x, n, y, m, 0.05, DC_EVAL_KS_METHOD_EXACT, &e));
    CHECK_OK(dc_eval_ks_2samp(x, n, y, m, 0.05, DC_EVAL_KS_METHOD_ASYMP, &a));
    CHECK(e.d == a.d, "D differs between methods");
    CHECK_CLOSE(e.p, a.p, 0.01, 0.05);
    CHECK(isnan(a.p_ties), "p_ties is exact-only");
    CHECK_OK(dc_eval_ks_2samp(x, 20001, y, 500, 0.05, DC_EVAL_KS_METHOD_AUTO, &a));
    CHECK(a.method == DC_EVAL_KS_METHOD_ASYMP, "auto above 10000 should be asymptotic");
    CHECK(a.d > 0 && a.p >= 0 && a.p <= 1, "D %g p %g", a.d, a.p);
    CHECK_OK(dc_eval_ks_2samp(x, 10000, y, 10000, 0.05, DC_EVAL_KS_METHOD_AUTO, &e));
    CHECK(e.method == DC_EVAL_KS_METHOD_EXACT, "auto at 10000 should be exact");
    CHECK(e.p >= 0 && e.p <= 1, "p %g", e.p);
    /* identical samples: D = 0, p = 1 */
    CHECK_OK(dc_eval_ks_2samp(x, 50, x, 50, 0.05, DC_EVAL_KS_METHOD_EXACT, &e));
    CHECK(e.d == 0 && e.p == 1 && !e.reject, "D %g p %g", e.d, e.p);
    free(x);
    free(y);
}

static void test_errors(void)
{
    double x[4] = {1, 2, 3, 4}, y[4] = {1, 2, NAN, 4};
    dc_eval_ks r;
    CHECK_FAILS(dc_eval_ks_2samp(x, 4, y, 4, 0.05, DC_EVAL_KS_METHOD_AUTO, &r),
                DC_STATUS_INVALID_ARG, "sample y value 2");
    CHECK_FAILS(dc_eval_ks_2samp(x, 0, x, 4, 0.05, DC_EVAL_KS_METHOD_AUTO, &r),
                DC_STATUS_INVALID_ARG, "sample x is empty");
    CHECK_FAILS(dc_eval_ks_2samp(x, 4, x, 4, 1.5, DC_EVAL_KS_METHOD_AUTO, &r),
                DC_STATUS_INVALID_ARG, "alpha = 1.5");
    double c;
    CHECK_FAILS(dc_eval_ks_critical(0, 4, 4, &c), DC_STATUS_INVALID_ARG, "alpha");
}

int main(void)
{
    test_facts();
    test_brute_force();
    test_kolmogorov();
    test_large();
    test_errors();
    return dc_test_finish("test_eval_ks");
}
