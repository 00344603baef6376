/* World coordinates through WCSLIB, and cut-out planning on top of them.
 * A dc_wcs owns one wcsprm. WCSLIB's transforms update the struct's work space, so one dc_wcs must
 * not be used by two threads at once. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wcslib/wcs.h>
#include <wcslib/wcshdr.h>
#include <wcslib/wcsmath.h>
#include <wcslib/wcsutil.h>

#include "astro/astro_impl.h"

struct dc_wcs {
    struct wcsprm p;
};

static dc_wcs *wcs_alloc(void)
{
    dc_wcs *w = calloc(1, sizeof *w);
    if (w) w->p.flag = -1; /* tells WCSLIB the struct holds no allocations yet */
    return w;
}

void dc_wcs_free(dc_wcs *w)
{
    if (!w) return;
    wcsfree(&w->p);
    free(w);
}

/* wcsset, and a check that the WCS maps pixels to RA/Dec. */
static dc_status wcs_ready(dc_wcs *w, const char *origin)
{
    int st = wcsset(&w->p);
    if (st) return DC_FAIL(DC_STATUS_FORMAT, "%s: invalid WCS: %s", origin, wcs_errmsg[st]);
    if (w->p.naxis != 2 || w->p.lng < 0 || w->p.lat < 0)
        return DC_FAIL(DC_STATUS_NOT_FOUND, "%s: the WCS is not a 2-D celestial one (CTYPE1 = '%s', CTYPE2 = '%s')", origin, w->p.ctype[0], w->p.naxis > 1 ? w->p.ctype[1] : "");
    /* positions are written as ICRS/J2000 RA, Dec: other frames are rejected, never relabelled */
    const char *lng = w->p.ctype[w->p.lng], *lat = w->p.ctype[w->p.lat];
    if (strncmp(lng, "RA--", 4) != 0 || strncmp(lat, "DEC-", 4) != 0)
        return DC_FAIL(DC_STATUS_FORMAT, "%s: the WCS axes are '%s' and '%s', not equatorial RA/Dec; deepcee writes "
                       "positions as RA/Dec, so reproject the image to an equatorial (RA---TAN/DEC--TAN) grid first",
                       origin, lng, lat);
    const char *frame = w->p.radesys;
    if (frame[0] && strcmp(frame, "ICRS") != 0 && strcmp(frame, "FK5") != 0)
        return DC_FAIL(DC_STATUS_FORMAT, "%s: RADESYS = '%s'; only ICRS or FK5 (J2000) coordinates are supported: "
                       "reproject the image to ICRS first", origin, frame);
    if (strcmp(frame, "FK5") == 0 && w->p.equinox != 0 && w->p.equinox != UNDEFINED && fabs(w->p.equinox - 2000) > 1e-6)
        return DC_FAIL(DC_STATUS_FORMAT, "%s: RADESYS = 'FK5' with EQUINOX = %g; only J2000 is supported", origin, w->p.equinox);
    /* a singular linear transform maps the whole image to a line: reject it rather than compute
     * positions from it */
    /* CDELT_i x PC_ij (WCSLIB keeps a CD matrix as PC with unit CDELT); lin.piximg is not set
     * for a unit matrix (found by fuzz/fuzz_fits) */
    const double *pc = w->p.pc, *cdelt = w->p.cdelt;
    const double m[4] = {cdelt[0] * pc[0], cdelt[0] * pc[1], cdelt[1] * pc[2], cdelt[1] * pc[3]};
    double det = m[0] * m[3] - m[1] * m[2], size = 0.5 * (m[0] * m[0] + m[1] * m[1] + m[2] * m[2] + m[3] * m[3]);
    if (!(fabs(det) > 1e-10 * size) || !isfinite(det))
        return DC_FAIL(DC_STATUS_FORMAT, "%s: the WCS pixel-to-sky matrix (CD or PC x CDELT) is singular "
                       "(determinant %g deg^2/px^2): the header's WCS is broken; fix CD1_1..CD2_2", origin, det);
    return DC_STATUS_OK;
}

dc_status dc_wcs_from_header(const dc_fits_header *h, dc_wcs **out)
{
    const char *origin = dc_fits_header_origin(h)[0] ? dc_fits_header_origin(h) : "header (in memory)";
    int n = dc_fits_header_count(h), nreject = 0, nwcs = 0;
    struct wcsprm *all = NULL;
    char *text = malloc((size_t)n * 80 + 1);
    if (!text) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "%s: out of memory", origin);
    /* only cards FITS allows reach WCSLIB: printable ASCII with a keyword of A-Z, 0-9, '-', '_'
     * (WCSLIB 7.12's parser crashes on some others: found by fuzz/fuzz_fits); others, which
     * cannot be WCS keywords, are left out */
    int kept = 0;
    for (int i = 0; i < n; i++) {
        const char *card = dc_fits_header_card(h, i);
        int good = 1;
        for (int k = 0; k < 80 && good; k++) good = card[k] >= 0x20 && card[k] <= 0x7e;
        for (int k = 0; k < 8 && good; k++)
            good = (card[k] >= 'A' && card[k] <= 'Z') || (card[k] >= '0' && card[k] <= '9') || card[k] == '-' ||
                   card[k] == '_' || card[k] == ' ';
        if (good) memcpy(text + 80 * (size_t)kept++, card, 80);
    }
    n = kept;
    text[80 * (size_t)n] = 0;
    /* WCSLIB 7.12's header parser overruns a buffer on a string value without its closing quote
     * (found by fuzz/fuzz_fits): such a card is an error here, before WCSLIB sees it */
    for (int i = 0; i < n; i++) {
        const char *card = text + 80 * (size_t)i;
        if (card[8] != '=' || card[9] != ' ') continue;
        int k = 10;
        while (k < 80 && card[k] == ' ') k++;
        if (k >= 80 || card[k] != '\'') continue;
        int closed = 0;
        for (k++; k < 80; k++)
            if (card[k] == '\'') {
                if (k + 1 < 80 && card[k + 1] == '\'') k++; /* '' is a quote inside the string */
                else {
                    closed = 1;
                    break;
                }
            }
        if (!closed) {
            char key[9];
            memcpy(key, card, 8);
            key[8] = 0;
            for (int j = 7; j >= 0 && key[j] == ' '; j--) key[j] = 0;
            free(text);
            return DC_FAIL(DC_STATUS_FORMAT, "%s: header card %s has a string value without its closing quote; "
                           "the header is damaged: fix or remove that card", origin, key);
        }
    }
    int st = wcspih(text, n, WCSHDR_all, 0, &nreject, &nwcs, &all);
    free(text);
    if (st) return DC_FAIL(DC_STATUS_FORMAT, "%s: WCSLIB cannot parse the header: %s", origin, wcs_errmsg[st]);
    if (nwcs == 0 || (!dc_fits_header_has(h, "CTYPE1") && !dc_fits_header_has(h, "CTYPE2"))) {
        wcsvfree(&nwcs, &all);
        return DC_FAIL(DC_STATUS_NOT_FOUND, "%s: header has no WCS (no CTYPE1/CTYPE2 keys); a WCS is needed to map pixels to RA/Dec", origin);
    }
    dc_wcs *w = wcs_alloc();
    dc_status s = w ? DC_STATUS_OK : DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "%s: out of memory", origin);
    if (!s && (st = wcssub(1, &all[0], NULL, NULL, &w->p))) s = DC_FAIL(DC_STATUS_FORMAT, "%s: WCS copy failed: %s", origin, wcs_errmsg[st]);
    wcsvfree(&nwcs, &all);
    if (!s) s = wcs_ready(w, origin);
    if (s) {
        dc_wcs_free(w);
        return s;
    }
    *out = w;
    return DC_STATUS_OK;
}

dc_status dc_wcs_new_tan(dc_wcs **out, double crpix_x, double crpix_y, double ra0, double dec0,
                         double scale_arcsec, double rot_deg)
{
    DC_CHECK_ARG(scale_arcsec > 0 && fabs(dec0) <= 90, "TAN WCS: need scale > 0 and |dec| <= 90, got %g arcsec/px at dec %g", scale_arcsec, dec0);
    dc_wcs *w = wcs_alloc();
    if (!w || wcsini(1, 2, &w->p)) {
        dc_wcs_free(w);
        return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "TAN WCS: out of memory");
    }
    struct wcsprm *p = &w->p;
    double s = scale_arcsec / 3600.0, c = cos(rot_deg * M_PI / 180), sn = sin(rot_deg * M_PI / 180);
    strcpy(p->ctype[0], "RA---TAN");
    strcpy(p->ctype[1], "DEC--TAN");
    strcpy(p->cunit[0], "deg");
    strcpy(p->cunit[1], "deg");
    strcpy(p->radesys, "ICRS");
    p->equinox = 2000.0;
    p->crpix[0] = crpix_x + 1; /* FITS pixels are 1-based */
    p->crpix[1] = crpix_y + 1;
    p->crval[0] = ra0;
    p->crval[1] = dec0;
    /* CROTA2 convention with CDELT1 = -s, CDELT2 = s (Calabretta & Greisen 2002, eq. 189) */
    p->cd[0] = -s * c;
    p->cd[1] = -s * sn;
    p->cd[2] = -s * sn;
    p->cd[3] = s * c;
    p->altlin |= 2;
    dc_status st = wcs_ready(w, "TAN WCS");
    if (st) {
        dc_wcs_free(w);
        return st;
    }
    *out = w;
    return DC_STATUS_OK;
}

dc_status dc_wcs_subimage(const dc_wcs *w, double x0, double y0, double scale, dc_wcs **out)
{
    DC_CHECK_ARG(scale > 0, "WCS subimage: scale must be positive, got %g", scale);
    DC_CHECK_ARG(!w->p.lin.dispre && !w->p.lin.disseq, "WCS subimage: the WCS has distortion terms; only linear WCS can be shifted and scaled");
    dc_wcs *c = wcs_alloc();
    if (!c || wcssub(1, &w->p, NULL, NULL, &c->p)) {
        dc_wcs_free(c);
        return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "WCS subimage: out of memory");
    }
    /* source FITS pixel P = x0 + (U - 0.5) scale + 0.5 for new FITS pixel U */
    double off[2] = {x0, y0};
    for (int k = 0; k < 2; k++) c->p.crpix[k] = (c->p.crpix[k] - off[k] - 0.5) / scale + 0.5;
    if (c->p.altlin & 2)
        for (int k = 0; k < 4; k++) c->p.cd[k] *= scale;
    else
        for (int k = 0; k < 2; k++) c->p.cdelt[k] *= scale;
    c->p.flag = 0;
    dc_status st = wcs_ready(c, "WCS subimage");
    if (st) {
        dc_wcs_free(c);
        return st;
    }
    *out = c;
    return DC_STATUS_OK;
}

dc_status dc_wcs_to_header(const dc_wcs *w, dc_fits_header *h)
{
    int nkey = 0, cd = w->p.altlin & 2;
    char *text = NULL, card[81], key[16];
    dc_fits_header *keys;
    int st = wcshdo(WCSHDO_P17, (struct wcsprm *)&w->p, &nkey, &text);
    if (st) return DC_FAIL(DC_STATUS_FORMAT, "WCS to header: %s", wcs_errmsg[st]);
    dc_status s = dc_fits_header_new(&keys);
    for (int i = 0; !s && i < nkey; i++) {
        snprintf(card, sizeof card, "%.80s", text + 80 * (size_t)i);
        snprintf(key, sizeof key, "%.8s", card);
        for (int j = 7; j >= 0 && key[j] == ' '; j--) key[j] = 0;
        if (!strcmp(key, "COMMENT") || !key[0]) continue; /* WCSLIB's own commentary */
        if (cd && (!strncmp(key, "PC", 2) || !strncmp(key, "CDELT", 5))) continue; /* written as CD */
        s = dc_fits_header_append_card(keys, card);
    }
    wcsdealloc(text);
    for (int k = 0; !s && cd && k < 4; k++) {
        snprintf(key, sizeof key, "CD%d_%d", k / 2 + 1, k % 2 + 1);
        s = dc_fits_header_set_double(keys, key, w->p.cd[k], "linear transform, deg/px");
    }
    if (!s) s = dc_fits_header_merge(h, keys);
    dc_fits_header_free(keys);
    return s;
}

static dc_status transform(const dc_wcs *w, int n, const double *a, const double *b, double *oa,
                           double *ob, int to_world)
{
    struct wcsprm *p = (struct wcsprm *)&w->p;
    double in[2], img[2], out[2], phi, theta;
    int stat, st;
    for (int i = 0; i < n; i++) {
        if (to_world) {
            in[0] = a[i] + 1;
            in[1] = b[i] + 1;
            st = wcsp2s(p, 1, 2, in, img, &phi, &theta, out, &stat);
        } else {
            in[0] = a[i];
            in[1] = b[i];
            st = wcss2p(p, 1, 2, in, &phi, &theta, img, out, &stat);
            out[0] -= 1;
            out[1] -= 1;
        }
        if (st) return DC_FAIL(DC_STATUS_INVALID_ARG, "WCS %s: point %d (%.8g, %.8g) has no valid transform: %s", to_world ? "pix2world" : "world2pix", i, a[i], b[i], wcs_errmsg[st]);
        oa[i] = out[0];
        ob[i] = out[1];
    }
    return DC_STATUS_OK;
}

dc_status dc_wcs_pix2world(const dc_wcs *w, int n, const double *x, const double *y, double *ra, double *dec)
{
    return transform(w, n, x, y, ra, dec, 1);
}

dc_status dc_wcs_world2pix(const dc_wcs *w, int n, const double *ra, const double *dec, double *x, double *y)
{
    return transform(w, n, ra, dec, x, y, 0);
}

/* Angle between two sky positions in degrees (haversine: accurate at small separations). */
static double separation_deg(double ra1, double dec1, double ra2, double dec2)
{
    double d = M_PI / 180, sd = sin((dec2 - dec1) * d / 2), sr = sin((ra2 - ra1) * d / 2);
    return 2 * asin(sqrt(sd * sd + cos(dec1 * d) * cos(dec2 * d) * sr * sr)) / d;
}

dc_status dc_wcs_pixel_scale(const dc_wcs *w, double x, double y, double *arcsec)
{
    double px[3] = {x, x + 1, x}, py[3] = {y, y, y + 1}, ra[3], dec[3];
    DC_TRY(dc_wcs_pix2world(w, 3, px, py, ra, dec));
    *arcsec = 3600 * sqrt(separation_deg(ra[0], dec[0], ra[1], dec[1]) * separation_deg(ra[0], dec[0], ra[2], dec[2]));
    return DC_STATUS_OK;
}

dc_status dc_cutout_plan(const dc_wcs *w, int nx, int ny, double ra, double dec, int size,
                         double max_offset_arcsec, dc_rng *rng, dc_cutout *out)
{
    DC_CHECK_ARG(size > 0 && max_offset_arcsec >= 0, "cut-out: need size > 0 and offset >= 0, got %d px, %g arcsec", size, max_offset_arcsec);
    DC_CHECK_ARG(rng || max_offset_arcsec == 0, "cut-out: a random offset of %g arcsec needs an rng", max_offset_arcsec);
    double px, py, scale;
    DC_TRY(dc_wcs_world2pix(w, 1, &ra, &dec, &px, &py));
    DC_TRY(dc_wcs_pixel_scale(w, px, py, &scale));
    dc_cutout c = {.size = size};
    if (max_offset_arcsec > 0) {
        c.dx_arcsec = (2 * dc_rng_uniform(rng) - 1) * max_offset_arcsec;
        c.dy_arcsec = (2 * dc_rng_uniform(rng) - 1) * max_offset_arcsec;
    }
    /* the window's centre (x0 + (size-1)/2) sits on the offset position, to the nearest pixel */
    c.x0 = (int)lround(px + c.dx_arcsec / scale - (size - 1) / 2.0);
    c.y0 = (int)lround(py + c.dy_arcsec / scale - (size - 1) / 2.0);
    c.tx = px - c.x0;
    c.ty = py - c.y0;
    c.inside = c.x0 >= 0 && c.y0 >= 0 && c.x0 + size <= nx && c.y0 + size <= ny;
    *out = c;
    return DC_STATUS_OK;
}
