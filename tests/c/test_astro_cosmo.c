/* Cosmology: every entry of the docs/facts.md section 3 table (H0 71, Om 0.27) to 1e-4 relative, the
 * Einstein-de Sitter closed form, 1/H0 scaling and invalid redshifts. */
#include "astro/astro.h"
#include "dc_test.h"

int main(void)
{
    /* z, D_C, D_A (Mpc), kpc/arcsec, distance modulus: docs/facts.md section 3 */
    static const double table[3][5] = {{0.10, 413.49, 375.90, 1.8224, 38.2893},
                                       {0.15, 613.47, 533.46, 2.5863, 39.2425},
                                       {0.20, 808.82, 674.02, 3.2677, 39.9352}};
    dc_cosmo c = dc_cosmo_paper();
    CHECK(c.h0 == 71 && c.om == 0.27, "paper cosmology %g %g", c.h0, c.om);
    for (int i = 0; i < 3; i++) {
        double z = table[i][0];
        CHECK_CLOSE(dc_cosmo_comoving_mpc(&c, z), table[i][1], 0, 1e-4);
        CHECK_CLOSE(dc_cosmo_angular_mpc(&c, z), table[i][2], 0, 1e-4);
        CHECK_CLOSE(dc_cosmo_kpc_per_arcsec(&c, z), table[i][3], 0, 1e-4);
        CHECK_CLOSE(dc_cosmo_distmod(&c, z), table[i][4], 0, 1e-4);
        CHECK_CLOSE(dc_cosmo_luminosity_mpc(&c, z), table[i][1] * (1 + z), 0, 1e-4);
    }
    /* Om = 1: D_C = 2 c/H0 (1 - 1/sqrt(1+z)) exactly */
    dc_cosmo eds = {.h0 = 70, .om = 1};
    for (double z = 0.05; z < 5; z *= 2.3)
        CHECK_CLOSE(dc_cosmo_comoving_mpc(&eds, z), 2 * 299792.458 / 70 * (1 - 1 / sqrt(1 + z)), 0, 1e-9);
    /* distances scale as 1/H0 */
    dc_cosmo h100 = {.h0 = 100, .om = 0.27};
    CHECK_CLOSE(dc_cosmo_comoving_mpc(&h100, 0.3), dc_cosmo_comoving_mpc(&c, 0.3) * 0.71, 0, 1e-12);
    CHECK(dc_cosmo_comoving_mpc(&c, 0) == 0, "D_C(0) = %g", dc_cosmo_comoving_mpc(&c, 0));
    CHECK(isnan(dc_cosmo_comoving_mpc(&c, -0.1)) && isnan(dc_cosmo_angular_mpc(&c, NAN)), "invalid z must give NaN");
    return dc_test_finish("test_astro_cosmo");
}
