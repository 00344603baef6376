/* WCS: the TAN/CD constructor against the gnomonic formulas, round trips better than 1e-3 px on
 * random pixels (rotated CD, PC/CDELT SIN, TAN-SIP from header text, through a FITS file),
 * sub-image WCS, pixel scale, cut-out planning, and the header-without-WCS error. */
#include <unistd.h>

#include "astro/astro.h"
#include "dc_test.h"

#define D2R (M_PI / 180)

/* Round trip n random pixels over an nx x ny image; returns the worst error in px. */
static double roundtrip(const dc_wcs *w, int nx, int ny, uint64_t seed)
{
    enum { N = 500 };
    double x[N], y[N], ra[N], dec[N], x2[N], y2[N], worst = 0;
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    for (int i = 0; i < N; i++) {
        x[i] = dc_rng_uniform(&rng) * nx - 0.5;
        y[i] = dc_rng_uniform(&rng) * ny - 0.5;
    }
    CHECK_OK(dc_wcs_pix2world(w, N, x, y, ra, dec));
    CHECK_OK(dc_wcs_world2pix(w, N, ra, dec, x2, y2));
    for (int i = 0; i < N; i++) worst = fmax(worst, hypot(x2[i] - x[i], y2[i] - y[i]));
    return worst;
}

/* Inverse gnomonic projection (standard formulas) for the CROTA2-convention CD matrix. */
static void tan_reference(double x, double y, double cx, double cy, double ra0, double dec0,
                          double scale, double rot, double *ra, double *dec)
{
    double s = scale / 3600 * D2R, c = cos(rot * D2R), sn = sin(rot * D2R), dx = x - cx, dy = y - cy;
    double xi = -s * c * dx - s * sn * dy, eta = -s * sn * dx + s * c * dy, d0 = dec0 * D2R;
    double den = cos(d0) - eta * sin(d0);
    *ra = fmod(ra0 + atan2(xi, den) / D2R + 360, 360);
    *dec = atan2(sin(d0) + eta * cos(d0), sqrt(xi * xi + den * den)) / D2R;
}

static void tan_constructor(void)
{
    const double cx = 1023.5, cy = 744, ra0 = 150.1, dec0 = 45.3, scale = 0.396, rot = 30;
    dc_wcs *w = NULL;
    CHECK_OK(dc_wcs_new_tan(&w, cx, cy, ra0, dec0, scale, rot));
    if (!w) return;
    double x[4] = {cx, 0, 2047, 100.25}, y[4] = {cy, 0, 1488, 1300.5}, ra[4], dec[4];
    CHECK_OK(dc_wcs_pix2world(w, 4, x, y, ra, dec));
    CHECK_CLOSE(ra[0], ra0, 1e-12, 0);
    CHECK_CLOSE(dec[0], dec0, 1e-12, 0);
    for (int i = 1; i < 4; i++) {
        double rr, dd;
        tan_reference(x[i], y[i], cx, cy, ra0, dec0, scale, rot, &rr, &dd);
        CHECK_CLOSE(ra[i], rr, 1e-9, 0);
        CHECK_CLOSE(dec[i], dd, 1e-9, 0);
    }
    /* at rotation 0, +y is north and +x is west (RA decreases) */
    dc_wcs *w0 = NULL;
    CHECK_OK(dc_wcs_new_tan(&w0, 10, 10, 20, 0, 1, 0));
    double px[2] = {11, 10}, py[2] = {10, 11}, pr[2], pd[2];
    if (w0) CHECK_OK(dc_wcs_pix2world(w0, 2, px, py, pr, pd));
    CHECK(w0 && pr[0] < 20 && fabs(pd[0]) < 1e-9 && pd[1] > 0 && fabs(pr[1] - 20) < 1e-9, "orientation: +x -> ra %g dec %g, +y -> ra %g dec %g", pr[0], pd[0], pr[1], pd[1]);
    dc_wcs_free(w0);

    double worst = roundtrip(w, 2048, 1489, 11);
    CHECK(worst < 1e-3, "TAN rotated round trip %g px", worst);
    double sc;
    CHECK_OK(dc_wcs_pixel_scale(w, 1000, 700, &sc));
    CHECK_CLOSE(sc, scale, 0, 1e-4);

    /* header keywords: SDSS-style CD matrix, and the same transform when parsed back */
    dc_fits_header *h;
    CHECK_OK(dc_fits_header_new(&h));
    CHECK_OK(dc_wcs_to_header(w, h));
    double cd11, crpix1;
    char ctype[20];
    CHECK_OK(dc_fits_header_get_double(h, "CD1_1", &cd11));
    CHECK_CLOSE(cd11, -scale / 3600 * cos(rot * D2R), 1e-15, 1e-12);
    CHECK_OK(dc_fits_header_get_double(h, "CRPIX1", &crpix1));
    CHECK_CLOSE(crpix1, cx + 1, 1e-12, 0);
    CHECK_OK(dc_fits_header_get_string(h, "CTYPE1", ctype, sizeof ctype));
    CHECK(!strcmp(ctype, "RA---TAN"), "CTYPE1 %s", ctype);
    CHECK(!dc_fits_header_has(h, "PC1_1"), "PC written beside CD");

    /* through a FITS file */
    char dir[] = "/tmp/dc-astro-wcs-XXXXXX", path[64];
    if (mkdtemp(dir)) {
        snprintf(path, sizeof path, "%s/wcs.fits", dir);
        dc_image *img, *back = NULL;
        dc_fits_header *hb = NULL;
        dc_wcs *wb = NULL;
        CHECK_OK(dc_image_new(&img, 64, 48));
        CHECK_OK(dc_fits_image_write(path, img, h, NULL));
        CHECK_OK(dc_fits_image_read(path, 0, NULL, &back, &hb));
        if (hb) CHECK_OK(dc_wcs_from_header(hb, &wb));
        if (wb) {
            double r1[4], d1[4];
            CHECK_OK(dc_wcs_pix2world(wb, 4, x, y, r1, d1));
            for (int i = 0; i < 4; i++) CHECK(fabs(r1[i] - ra[i]) < 1e-10 && fabs(d1[i] - dec[i]) < 1e-10, "file WCS point %d: %.12f %.12f vs %.12f %.12f", i, r1[i], d1[i], ra[i], dec[i]);
        }
        /* a header with no WCS */
        dc_image *plain = NULL;
        dc_fits_header *hp = NULL;
        dc_wcs *wp = NULL;
        snprintf(path, sizeof path, "%s/nowcs.fits", dir);
        CHECK_OK(dc_fits_image_write(path, img, NULL, NULL));
        CHECK_OK(dc_fits_image_read(path, -1, NULL, &plain, &hp));
        if (hp) CHECK_FAILS(dc_wcs_from_header(hp, &wp), DC_STATUS_NOT_FOUND, "nowcs.fits[HDU 0]: header has no WCS");
        dc_image_free(plain);
        dc_fits_header_free(hp);
        dc_image_free(img);
        dc_image_free(back);
        dc_fits_header_free(hb);
        dc_wcs_free(wb);
        char cmd[96];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
    dc_fits_header_free(h);
    dc_wcs_free(w);
}

static dc_wcs *from_cards(const char *const *cards)
{
    dc_fits_header *h;
    dc_wcs *w = NULL;
    CHECK_OK(dc_fits_header_new(&h));
    for (int i = 0; cards[i]; i++) {
        char key[16], val[40];
        if (sscanf(cards[i], "%15s %39s", key, val) != 2) continue;
        if (val[0] == '\'') CHECK_OK(dc_fits_header_set_string(h, key, strtok(val, "'"), NULL));
        else CHECK_OK(dc_fits_header_set_double(h, key, atof(val), NULL));
    }
    CHECK_OK(dc_wcs_from_header(h, &w));
    dc_fits_header_free(h);
    return w;
}

static void other_projections(void)
{
    /* PC + CDELT with a skewed, rotated matrix and a SIN projection near the pole */
    static const char *const sin_cards[] = {"CTYPE1 'RA---SIN'", "CTYPE2 'DEC--SIN'", "CRPIX1 512.5", "CRPIX2 300.0",
                                            "CRVAL1 10.0", "CRVAL2 80.0", "CDELT1 -0.0003", "CDELT2 0.00025",
                                            "PC1_1 0.9", "PC1_2 0.3", "PC2_1 -0.2", "PC2_2 1.1", NULL};
    /* SDSS-like TAN with SIP distortion */
    static const char *const sip_cards[] = {"CTYPE1 'RA---TAN-SIP'", "CTYPE2 'DEC--TAN-SIP'", "CRPIX1 1024.0", "CRPIX2 744.0",
                                            "CRVAL1 200.5", "CRVAL2 -5.2", "CD1_1 -1.1e-4", "CD1_2 2e-6", "CD2_1 1e-6", "CD2_2 1.1e-4",
                                            "A_ORDER 2", "A_2_0 2e-6", "A_1_1 -1e-6", "A_0_2 3e-7",
                                            "B_ORDER 2", "B_2_0 -1e-6", "B_1_1 1.5e-6", "B_0_2 4e-7", NULL};
    dc_wcs *w = from_cards(sin_cards);
    if (w) {
        double worst = roundtrip(w, 1024, 600, 5);
        CHECK(worst < 1e-3, "SIN/PC round trip %g px", worst);
    }
    dc_wcs_free(w);
    w = from_cards(sip_cards);
    if (w) {
        double worst = roundtrip(w, 2048, 1489, 6);
        CHECK(worst < 1e-3, "TAN-SIP round trip %g px", worst);
        /* SIP by hand: pixel (x, y) maps as the plain TAN pixel (x + A(u,v), y + B(u,v)), with
         * u, v the offsets from CRPIX in FITS pixels */
        double x = 2047, y = 1488, ra, dec, rt, dt, u = x + 1 - 1024, v = y + 1 - 744;
        double xa = x + 2e-6 * u * u - 1e-6 * u * v + 3e-7 * v * v, ya = y - 1e-6 * u * u + 1.5e-6 * u * v + 4e-7 * v * v;
        CHECK_OK(dc_wcs_pix2world(w, 1, &x, &y, &ra, &dec));
        static const char *const plain_cards[] = {"CTYPE1 'RA---TAN'", "CTYPE2 'DEC--TAN'", "CRPIX1 1024.0", "CRPIX2 744.0", "CRVAL1 200.5", "CRVAL2 -5.2",
                                                  "CD1_1 -1.1e-4", "CD1_2 2e-6", "CD2_1 1e-6", "CD2_2 1.1e-4", NULL};
        dc_wcs *wt = from_cards(plain_cards);
        if (wt) CHECK_OK(dc_wcs_pix2world(wt, 1, &xa, &ya, &rt, &dt));
        CHECK(wt && hypot(ra - rt, dec - dt) * 3600 < 1e-6, "SIP off by %g arcsec", hypot(ra - rt, dec - dt) * 3600);
        dc_wcs *sub;
        CHECK_FAILS(dc_wcs_subimage(w, 0, 0, 2, &sub), DC_STATUS_INVALID_ARG, "distortion");
        dc_wcs_free(wt);
    }
    dc_wcs_free(w);
}

static void subimage_and_cutout(void)
{
    dc_wcs *w = NULL, *sub = NULL;
    CHECK_OK(dc_wcs_new_tan(&w, 999.5, 999.5, 180, 30, 0.396, 12));
    if (!w) return;
    /* crop at (300, 200) then resample by 2: new pixel (u, v) = source (300 + 2u + 0.5, 200 + 2v + 0.5) */
    CHECK_OK(dc_wcs_subimage(w, 300, 200, 2, &sub));
    if (sub) {
        double u[3] = {0, 10, 499.5}, v[3] = {0, 7, 100}, ra[3], dec[3], sx[3], sy[3], rs[3], ds[3];
        CHECK_OK(dc_wcs_pix2world(sub, 3, u, v, ra, dec));
        for (int i = 0; i < 3; i++) {
            sx[i] = 300 + 2 * u[i] + 0.5;
            sy[i] = 200 + 2 * v[i] + 0.5;
        }
        CHECK_OK(dc_wcs_pix2world(w, 3, sx, sy, rs, ds));
        for (int i = 0; i < 3; i++) CHECK(hypot(ra[i] - rs[i], dec[i] - ds[i]) * 3600 < 1e-6, "subimage point %d off by %g arcsec", i, hypot(ra[i] - rs[i], dec[i] - ds[i]) * 3600);
    }
    dc_wcs_free(sub);

    /* cut-outs: offsets uniform within +-270 arcsec, the target where the plan says, reproducible */
    dc_rng rng, rng2;
    dc_rng_seed(&rng, 42);
    dc_rng_seed(&rng2, 42);
    double maxdx = 0, ra = 180.01, dec = 30.02, tx, ty;
    CHECK_OK(dc_wcs_world2pix(w, 1, &ra, &dec, &tx, &ty));
    for (int k = 0; k < 200; k++) {
        dc_cutout c, c2;
        CHECK_OK(dc_cutout_plan(w, 2000, 2000, ra, dec, 500, 270, &rng, &c));
        CHECK_OK(dc_cutout_plan(w, 2000, 2000, ra, dec, 500, 270, &rng2, &c2));
        CHECK(c.x0 == c2.x0 && c.y0 == c2.y0 && c.dx_arcsec == c2.dx_arcsec && c.dy_arcsec == c2.dy_arcsec, "same seed, different plan");
        CHECK(fabs(c.dx_arcsec) <= 270 && fabs(c.dy_arcsec) <= 270, "offset %g %g", c.dx_arcsec, c.dy_arcsec);
        maxdx = fmax(maxdx, fabs(c.dx_arcsec));
        CHECK_CLOSE(c.tx, tx - c.x0, 1e-9, 0);
        CHECK_CLOSE(c.ty, ty - c.y0, 1e-9, 0);
        /* the window centre sits at the offset position to within half a pixel */
        double ccx = c.x0 + 249.5, ccy = c.y0 + 249.5;
        CHECK(fabs(ccx - (tx + c.dx_arcsec / 0.396)) <= 0.5 + 1e-6 && fabs(ccy - (ty + c.dy_arcsec / 0.396)) <= 0.5 + 1e-6, "centre %g %g", ccx, ccy);
        CHECK(c.inside == (c.x0 >= 0 && c.y0 >= 0 && c.x0 + 500 <= 2000 && c.y0 + 500 <= 2000), "inside flag");
    }
    CHECK(maxdx > 200, "offsets do not spread over the range: max %g", maxdx);
    dc_cutout c;
    CHECK_OK(dc_cutout_plan(w, 2000, 2000, ra, dec, 501, 0, NULL, &c));
    CHECK(fabs(c.tx - 250) <= 0.5 && fabs(c.ty - 250) <= 0.5, "no offset: target at %g %g", c.tx, c.ty);
    CHECK_FAILS(dc_cutout_plan(w, 2000, 2000, ra, dec, 500, 270, NULL, &c), DC_STATUS_INVALID_ARG, "needs an rng");
    dc_wcs_free(w);
}

/* Frames and matrices deepcee must not turn into RA/Dec: galactic axes, FK4, a singular CD
 * matrix; the same header with a good matrix parses. */
static dc_fits_header *frame_header(const char *c1, const char *c2, const char *radesys, double cd21)
{
    dc_fits_header *h = NULL;
    CHECK_OK(dc_fits_header_new(&h));
    if (!h) return NULL;
    CHECK_OK(dc_fits_header_set_string(h, "CTYPE1", c1, NULL));
    CHECK_OK(dc_fits_header_set_string(h, "CTYPE2", c2, NULL));
    if (radesys) CHECK_OK(dc_fits_header_set_string(h, "RADESYS", radesys, NULL));
    const struct { const char *k; double v; } kv[] = {{"CRPIX1", 50}, {"CRPIX2", 50}, {"CRVAL1", 150}, {"CRVAL2", 20},
                                                      {"CD1_1", -1.1e-4}, {"CD1_2", 0}, {"CD2_1", cd21}, {"CD2_2", 1.1e-4}};
    for (size_t k = 0; k < sizeof kv / sizeof kv[0]; k++) CHECK_OK(dc_fits_header_set_double(h, kv[k].k, kv[k].v, NULL));
    return h;
}

static void rejected_frames(void)
{
    const struct { const char *c1, *c2, *radesys; double cd21; const char *needle; } cases[] = {
        {"GLON-TAN", "GLAT-TAN", NULL, 0, "not equatorial RA/Dec"},
        {"ELON-TAN", "ELAT-TAN", NULL, 0, "not equatorial RA/Dec"},
        {"RA---TAN", "DEC--TAN", "FK4", 0, "RADESYS = 'FK4'"},
        {"RA---TAN", "DEC--TAN", "ICRS", 0, NULL},
        {"RA---TAN", "DEC--TAN", NULL, 0, NULL},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        dc_fits_header *h = frame_header(cases[k].c1, cases[k].c2, cases[k].radesys, cases[k].cd21);
        dc_wcs *w = NULL;
        if (!h) continue;
        if (cases[k].needle) CHECK_FAILS(dc_wcs_from_header(h, &w), DC_STATUS_FORMAT, cases[k].needle);
        else CHECK_OK(dc_wcs_from_header(h, &w));
        dc_wcs_free(w);
        dc_fits_header_free(h);
    }
    /* CDELT alone (a unit PC matrix: WCSLIB leaves lin.piximg unset; found by fuzz_fits) parses */
    dc_fits_header *hd = NULL;
    CHECK_OK(dc_fits_header_new(&hd));
    if (hd) {
        CHECK_OK(dc_fits_header_set_string(hd, "CTYPE1", "RA---TAN", NULL));
        CHECK_OK(dc_fits_header_set_string(hd, "CTYPE2", "DEC--TAN", NULL));
        const struct { const char *k; double v; } kv[] = {{"CRPIX1", 50}, {"CRPIX2", 50}, {"CRVAL1", 150},
                                                          {"CRVAL2", 20}, {"CDELT1", -1.1e-4}, {"CDELT2", 1.1e-4}};
        for (size_t k = 0; k < sizeof kv / sizeof kv[0]; k++) CHECK_OK(dc_fits_header_set_double(hd, kv[k].k, kv[k].v, NULL));
        dc_wcs *w = NULL;
        CHECK_OK(dc_wcs_from_header(hd, &w));
        dc_wcs_free(w);
        dc_fits_header_free(hd);
    }
    /* CD2_1 making the rows proportional: [[-a, 0], [-a, 0]] has determinant 0 */
    dc_fits_header *h = frame_header("RA---TAN", "DEC--TAN", NULL, 0);
    if (h) {
        CHECK_OK(dc_fits_header_set_double(h, "CD2_2", 0, NULL));
        CHECK_OK(dc_fits_header_set_double(h, "CD2_1", -1.1e-4, NULL));
        dc_wcs *w = NULL;
        dc_status st = dc_wcs_from_header(h, &w);
        CHECK(st != DC_STATUS_OK, "a singular CD matrix was accepted");
        CHECK(strstr(dc_error_message(), "singular") != NULL, "singular CD: message '%s'", dc_error_message());
        dc_wcs_free(w);
        dc_fits_header_free(h);
    }
}

/* A header whose CUNIT1 string lacks its closing quote crashed WCSLIB 7.12's parser (found by
 * fuzz/fuzz_fits; the input is kept in the fuzz corpus): now an error naming the card. */
static void unterminated_string(void)
{
    const char *src = getenv("DEEPCEE_SOURCE_DIR");
    if (!src) {
        CHECK(0, "DEEPCEE_SOURCE_DIR is not set (ctest sets it)");
        return;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/fuzz/corpus/fits/regress-unterminated-cunit.fits", src);
    dc_image *img = NULL;
    dc_fits_header *h = NULL;
    CHECK_OK(dc_fits_image_read(path, 0, NULL, &img, &h));
    if (h) {
        dc_wcs *w = NULL;
        CHECK_FAILS(dc_wcs_from_header(h, &w), DC_STATUS_FORMAT, "card CUNIT1 has a string value without its closing quote");
        dc_wcs_free(w);
    }
    dc_image_free(img);
    dc_fits_header_free(h);
    /* a header claiming 2.2e9 pixels in a small file: an error before the image is allocated */
    snprintf(path, sizeof path, "%s/fuzz/corpus/fits/regress-huge-naxis.fits", src);
    img = NULL;
    CHECK_FAILS(dc_fits_image_read(path, 0, NULL, &img, NULL), DC_STATUS_FORMAT, "but the file ends before them");
    dc_image_free(img);
    /* cards with NUL and other bytes FITS forbids crashed WCSLIB's parser: they are left out, and
     * what remains (here CD1_1 etc. of a readable block) still parses or fails with a message */
    snprintf(path, sizeof path, "%s/fuzz/corpus/fits/regress-binary-cards.fits", src);
    img = NULL;
    h = NULL;
    CHECK_OK(dc_fits_image_read(path, 0, NULL, &img, &h));
    if (h) {
        dc_wcs *w = NULL;
        dc_status st = dc_wcs_from_header(h, &w);
        CHECK(st == DC_STATUS_OK || dc_error_message()[0], "binary cards: a failure without a message");
        dc_wcs_free(w);
    }
    dc_image_free(img);
    dc_fits_header_free(h);
}

int main(void)
{
    tan_constructor();
    other_projections();
    subimage_and_cutout();
    rejected_frames();
    unterminated_string();
    return dc_test_finish("test_astro_wcs");
}
