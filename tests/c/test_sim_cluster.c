/* Simulated clusters: the BCG is the brightest member, the realised N200 (members with M_r <= -21
 * within R200, recounted here from positions with docs/facts.md's kpc/arcsec) matches the requested
 * N200 on average, R200 follows from M200 and the critical density, the red sequence has
 * docs/facts.md's g-r and r-i, the blue fraction and BCG magnitudes are as configured, and the same
 * seed gives identical members. */
#include "dc_test.h"
#include "sim/sim.h"

/* docs/facts.md 3: kpc per arcsec */
static double kpc_per_arcsec(double z)
{
    return z < 0.125 ? 1.8224 : z < 0.175 ? 2.5863 : 3.2677;
}

static void test_counts_and_bcg(void)
{
    dc_sim_cluster_model m;
    dc_sim_cluster_model_default(&m);
    const double zs[3] = {0.10, 0.15, 0.20};
    const double n_req[3] = {12, 25, 60};
    for (int iz = 0; iz < 3; iz++) {
        for (int in = 0; in < 3; in++) {
            const int trials = 150;
            double sum = 0, sum_bcg = 0, sum_bcg2 = 0;
            int bcg_ok = 0, recount_ok = 0, r200_ok = 0;
            for (int t = 0; t < trials; t++) {
                dc_sim_cluster c = {.id = t + 1000 * in, .ra = 180, .dec = 30, .z = zs[iz], .n200_mean = n_req[in]};
                dc_sim_object *mem;
                size_t n;
                CHECK_OK(dc_sim_cluster_generate(&c, &m, 99 + iz, &mem, &n));
                if (!n) continue;
                /* BCG first, flagged, brighter than every other member in r and in M_r */
                int ok = (mem[0].flags & DC_SIM_FLAG_BCG) && mem[0].mag[1] == (float)c.bcg_rmag;
                for (size_t k = 1; k < n; k++) ok &= mem[k].mag[1] > mem[0].mag[1] && mem[k].abs_r > mem[0].abs_r && !(mem[k].flags & DC_SIM_FLAG_BCG);
                bcg_ok += ok;
                /* recount N200 from positions */
                double r200_as = c.r200 * 1000 / kpc_per_arcsec(c.z), cosd = cos(c.dec * M_PI / 180);
                int lo = 0, hi = 0; /* counts within R200 (1 -+ 1e-3): facts' kpc/arcsec is rounded */
                for (size_t k = 0; k < n; k++) {
                    double dx = (mem[k].ra - c.ra) * 3600 * cosd, dy = (mem[k].dec - c.dec) * 3600;
                    double d = sqrt(dx * dx + dy * dy);
                    lo += mem[k].abs_r <= -21 && d <= r200_as * (1 - 1e-3);
                    hi += mem[k].abs_r <= -21 && d <= r200_as * (1 + 1e-3);
                }
                recount_ok += lo <= c.n200 && c.n200 <= hi;
                /* R200 from M200: M = 4/3 pi R^3 200 rho_c(z), rho_c = 3 H(z)^2 / (8 pi G) */
                double G = 4.30091e-9, H = 71 * sqrt(0.27 * pow(1 + c.z, 3) + 0.73);
                double rho = 3 * H * H / (8 * M_PI * G);
                double r200 = cbrt(3 * c.m200 / (4 * M_PI * 200 * rho));
                r200_ok += fabs(r200 / c.r200 - 1) < 1e-3;
                sum += c.n200;
                if (in == 1) {
                    sum_bcg += c.bcg_abs_r;
                    sum_bcg2 += c.bcg_abs_r * c.bcg_abs_r;
                }
                free(mem);
            }
            CHECK(bcg_ok == trials, "z %.2f n %.0f: BCG brightest in %d of %d", zs[iz], n_req[in], bcg_ok, trials);
            CHECK(recount_ok == trials, "z %.2f n %.0f: recount matches in %d of %d", zs[iz], n_req[in], recount_ok, trials);
            CHECK(r200_ok == trials, "R200 from M200 in %d of %d", r200_ok, trials);
            /* realised N200 = 1 + Poisson(N - 1): the mean within 3.5 standard errors */
            double mean = sum / trials, se = sqrt((n_req[in] - 1) / trials);
            CHECK(fabs(mean - n_req[in]) < 3.5 * se, "z %.2f: mean N200 %.2f vs requested %.0f (se %.2f)", zs[iz], mean, n_req[in], se);
            if (in == 1) { /* BCG M_r ~ N(-23.0 - 0.6 log10(25/20), 0.3) */
                double mu = sum_bcg / trials, sd = sqrt(sum_bcg2 / trials - mu * mu);
                CHECK(fabs(mu - (-23.0 - 0.6 * log10(25.0 / 20))) < 0.08, "BCG mean M_r %.3f", mu);
                CHECK(fabs(sd - 0.3) < 0.06, "BCG M_r dispersion %.3f", sd);
            }
        }
    }
}

/* docs/facts.md 5: M200 = 1e14 Msun has R200 0.92 Mpc and c ~ 4, 3e14 has 1.31 Mpc (rounded, for z 0.1-0.15:
 * 2% tolerance at z = 0.1). The
 * model's mass-richness relation is M200 = 0.6e14 (N200/8)^1.15, so invert it for the request. */
static void test_nfw_facts(void)
{
    dc_sim_cluster_model m;
    dc_sim_cluster_model_default(&m);
    const double mass[2] = {1e14, 3e14}, r200[2] = {0.92, 1.31};
    for (int k = 0; k < 2; k++) {
        dc_sim_cluster c = {.id = 1, .ra = 10, .dec = 10, .z = 0.1, .n200_mean = 8 * pow(mass[k] / 0.6e14, 1 / 1.15)};
        dc_sim_object *mem;
        size_t n;
        CHECK_OK(dc_sim_cluster_generate(&c, &m, 1, &mem, &n));
        free(mem);
        CHECK_CLOSE(c.m200, mass[k], 0, 1e-9);
        CHECK_CLOSE(c.r200, r200[k], 0, 0.02);
        if (k == 0) CHECK(fabs(c.c200 - 4) < 0.2, "c200 %.3f for 1e14 Msun", c.c200);
    }
}

static void test_red_sequence(void)
{
    dc_sim_cluster_model m;
    dc_sim_cluster_model_default(&m);
    const double zs[3] = {0.10, 0.15, 0.20}, gr_f[3] = {0.98, 1.12, 1.30}, ri_f[3] = {0.40, 0.43, 0.47};
    for (int iz = 0; iz < 3; iz++) {
        /* least-squares line of colour against M_r for red non-BCG members, read at M* */
        double sx = 0, sxx = 0, sg = 0, sxg = 0, si = 0, sxi = 0;
        int n = 0, nblue = 0, nall = 0;
        for (int t = 0; t < 40; t++) {
            dc_sim_cluster c = {.id = t, .ra = 150, .dec = 10, .z = zs[iz], .n200_mean = 40};
            dc_sim_object *mem;
            size_t nm;
            CHECK_OK(dc_sim_cluster_generate(&c, &m, 5, &mem, &nm));
            CHECK_CLOSE(c.gr, gr_f[iz], 1e-9, 0);
            CHECK_CLOSE(c.ri, ri_f[iz], 1e-9, 0);
            for (size_t k = 1; k < nm; k++) {
                nall++;
                if (!(mem[k].flags & DC_SIM_FLAG_RED)) { nblue++; continue; }
                double x = mem[k].abs_r - m.mstar, g = mem[k].mag[0] - mem[k].mag[1], i = mem[k].mag[1] - mem[k].mag[2];
                sx += x; sxx += x * x; sg += g; sxg += x * g; si += i; sxi += x * i;
                n++;
            }
            free(mem);
        }
        double det = n * sxx - sx * sx;
        double gr0 = (sxx * sg - sx * sxg) / det, ri0 = (sxx * si - sx * sxi) / det;
        CHECK(fabs(gr0 - gr_f[iz]) < 0.02, "z %.2f: red sequence g-r %.3f vs %.2f", zs[iz], gr0, gr_f[iz]);
        CHECK(fabs(ri0 - ri_f[iz]) < 0.02, "z %.2f: red sequence r-i %.3f vs %.2f", zs[iz], ri0, ri_f[iz]);
        double fb = nblue / (double)nall;
        CHECK(fabs(fb - m.blue_fraction) < 4 * sqrt(0.2 * 0.8 / nall), "blue fraction %.3f of %d", fb, nall);
    }
}

static void test_deterministic(void)
{
    dc_sim_cluster_model m;
    dc_sim_cluster_model_default(&m);
    dc_sim_cluster a = {.id = 7, .ra = 200, .dec = 5, .z = 0.13, .n200_mean = 30}, b = a, c = a;
    c.id = 8;
    dc_sim_object *ma, *mb, *mc;
    size_t na, nb, nc;
    CHECK_OK(dc_sim_cluster_generate(&a, &m, 1234, &ma, &na));
    CHECK_OK(dc_sim_cluster_generate(&b, &m, 1234, &mb, &nb));
    CHECK_OK(dc_sim_cluster_generate(&c, &m, 1234, &mc, &nc));
    CHECK(na == nb && memcmp(ma, mb, na * sizeof *ma) == 0, "same seed and id differ");
    CHECK(memcmp(&a, &b, sizeof a) == 0, "cluster records differ");
    CHECK(na != nc || memcmp(ma, mc, na * sizeof *ma) != 0, "another id gave the same members");
    free(ma); free(mb); free(mc);
    /* bad input is an error naming the cluster */
    dc_sim_cluster bad = {.id = 3, .z = -1, .n200_mean = 10};
    CHECK_FAILS(dc_sim_cluster_generate(&bad, &m, 1, &ma, &na), DC_STATUS_INVALID_ARG, "cluster 3");
}

int main(void)
{
    test_counts_and_bcg();
    test_nfw_facts();
    test_red_sequence();
    test_deterministic();
    return dc_test_finish("test_sim_cluster");
}
