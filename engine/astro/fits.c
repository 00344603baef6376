/* FITS headers and images through CFITSIO, and the helpers every astro writer shares. */
#include <ctype.h>
#include <errno.h>
#include <fitsio.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "astro/astro_impl.h"

/* ---------------------------------------------------------------- shared helpers */

void dc_astro_temp_path(const char *path, char *buf, size_t size)
{
    static atomic_uint counter;
    const char *slash = strrchr(path, '/');
    int dirlen = slash ? (int)(slash - path + 1) : 0;
    snprintf(buf, size, "%.*s.dc-tmp-%ld-%u-%s", dirlen, path, (long)getpid(),
             atomic_fetch_add(&counter, 1), slash ? slash + 1 : path);
}

dc_status dc_astro_commit(const char *tmp, const char *path)
{
    if (rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return DC_FAIL(DC_STATUS_IO, "cannot write '%s': rename from temporary file failed: %s", path,
                       strerror(e));
    }
    return DC_STATUS_OK;
}

dc_status dc_astro_fits_fail(dc_status st, int fstatus, const char *file, int line, const char *fmt,
                             ...)
{
    char msg[1024], text[FLEN_STATUS], detail[FLEN_ERRMSG] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fits_get_errstatus(fstatus, text);
    fits_read_errmsg(detail);
    fits_clear_errmsg();
    return dc_error_set(st, file, line, "%s (CFITSIO %d: %s%s%s)", msg, fstatus, text,
                        detail[0] ? "; " : "", detail);
}

int dc_astro_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* ---------------------------------------------------------------- headers */

struct dc_fits_header {
    int n, cap;
    char (*cards)[81];
    char origin[600];
};

dc_status dc_fits_header_new(dc_fits_header **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "FITS header: out of memory");
    return DC_STATUS_OK;
}

void dc_fits_header_free(dc_fits_header *h)
{
    if (!h) return;
    free(h->cards);
    free(h);
}

void dc_fits_header_set_origin(dc_fits_header *h, const char *origin)
{
    snprintf(h->origin, sizeof h->origin, "%s", origin);
}

const char *dc_fits_header_origin(const dc_fits_header *h) { return h->origin; }
int dc_fits_header_count(const dc_fits_header *h) { return h->n; }
const char *dc_fits_header_card(const dc_fits_header *h, int i)
{
    return i >= 0 && i < h->n ? h->cards[i] : NULL;
}

/* The keyword of a card: HIERARCH keys are the words after HIERARCH up to '='. */
static void card_key(const char *card, char *key, size_t size)
{
    const char *s = card, *e;
    if (strncmp(card, "HIERARCH ", 9) == 0) {
        s = card + 9;
        while (*s == ' ') s++;
        e = strchr(s, '=');
        if (!e) e = s + strlen(s);
    } else {
        e = s + strnlen(s, 8);
    }
    while (e > s && e[-1] == ' ') e--;
    snprintf(key, size, "%.*s", (int)(e - s), s);
}

static int find_key(const dc_fits_header *h, const char *key)
{
    char k[81];
    for (int i = 0; i < h->n; i++) {
        card_key(h->cards[i], k, sizeof k);
        if (strcasecmp(k, key) == 0) return i;
    }
    return -1;
}

int dc_fits_header_has(const dc_fits_header *h, const char *key) { return find_key(h, key) >= 0; }

dc_status dc_fits_header_append_card(dc_fits_header *h, const char *card)
{
    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 64;
        void *p = realloc(h->cards, (size_t)cap * sizeof *h->cards);
        if (!p) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "FITS header: out of memory");
        h->cards = p;
        h->cap = cap;
    }
    snprintf(h->cards[h->n++], 81, "%-80.80s", card);
    return DC_STATUS_OK;
}

/* Replace the card of key, or append it. */
static dc_status put_card(dc_fits_header *h, const char *key, const char *card)
{
    int i = find_key(h, key);
    if (i < 0) return dc_fits_header_append_card(h, card);
    snprintf(h->cards[i], 81, "%-80.80s", card);
    return DC_STATUS_OK;
}

static dc_status set_value(dc_fits_header *h, const char *key, const char *value, const char *comment)
{
    char card[FLEN_CARD];
    int st = 0;
    DC_CHECK_ARG(key && *key, "FITS header: empty key");
    fits_make_key(key, (char *)value, comment ? comment : "", card, &st);
    fits_clear_errmsg(); /* CFITSIO stacks a warning for every HIERARCH key it makes */
    if (st) return DC_FITS_FAIL(DC_STATUS_INVALID_ARG, st, "FITS header: cannot make card %s = %s", key, value);
    return put_card(h, key, card);
}

dc_status dc_fits_header_set_string(dc_fits_header *h, const char *key, const char *value,
                                    const char *comment)
{
    char q[FLEN_VALUE + 8];
    size_t j = 0;
    q[j++] = '\'';
    for (const char *s = value; *s; s++) {
        if (j + 4 >= 70) return DC_FAIL(DC_STATUS_INVALID_ARG, "FITS header: value of %s is too long (at most 68 characters): '%s'", key, value);
        if (*s == '\'') q[j++] = '\'';
        q[j++] = *s;
    }
    while (j < 9) q[j++] = ' '; /* FITS strings are at least 8 characters */
    q[j++] = '\'';
    q[j] = 0;
    return set_value(h, key, q, comment);
}

dc_status dc_fits_header_set_double(dc_fits_header *h, const char *key, double value,
                                    const char *comment)
{
    char v[40];
    if (!isfinite(value)) return DC_FAIL(DC_STATUS_INVALID_ARG, "FITS header: value of %s is not finite (%g); FITS has no NaN or Inf keywords", key, value);
    snprintf(v, sizeof v, "%.17G", value);
    if (!strpbrk(v, ".E")) strcat(v, ".0"); /* keep it a FITS real */
    return set_value(h, key, v, comment);
}

dc_status dc_fits_header_set_int(dc_fits_header *h, const char *key, long long value,
                                 const char *comment)
{
    char v[32];
    snprintf(v, sizeof v, "%lld", value);
    return set_value(h, key, v, comment);
}

dc_status dc_fits_header_add_text(dc_fits_header *h, const char *kind, const char *text)
{
    char card[81];
    DC_CHECK_ARG(!strcmp(kind, "COMMENT") || !strcmp(kind, "HISTORY"), "FITS header: kind must be COMMENT or HISTORY, got '%s'", kind);
    do { /* long text continues on further cards */
        snprintf(card, sizeof card, "%-8s%.72s", kind, text);
        DC_TRY(dc_fits_header_append_card(h, card));
        text += strnlen(text, 72);
    } while (*text);
    return DC_STATUS_OK;
}

dc_status dc_fits_header_merge(dc_fits_header *dst, const dc_fits_header *src)
{
    char key[81];
    for (int i = 0; i < src->n; i++) {
        card_key(src->cards[i], key, sizeof key);
        if (!strcmp(key, "COMMENT") || !strcmp(key, "HISTORY") || !key[0])
            DC_TRY(dc_fits_header_append_card(dst, src->cards[i]));
        else
            DC_TRY(put_card(dst, key, src->cards[i]));
    }
    return DC_STATUS_OK;
}

/* The value text of key's card (quotes kept). */
static dc_status get_value(const dc_fits_header *h, const char *key, char *value)
{
    char card[81], comment[FLEN_COMMENT];
    int st = 0, i = find_key(h, key);
    if (i < 0) return DC_FAIL(DC_STATUS_NOT_FOUND, "header %s: no key %s", h->origin[0] ? h->origin : "(in memory)", key);
    memcpy(card, h->cards[i], 81);
    fits_parse_value(card, value, comment, &st);
    if (st || !value[0]) return DC_FAIL(DC_STATUS_FORMAT, "header %s: key %s has no value", h->origin, key);
    return DC_STATUS_OK;
}

dc_status dc_fits_header_get_double(const dc_fits_header *h, const char *key, double *out)
{
    char v[FLEN_VALUE], *end;
    DC_TRY(get_value(h, key, v));
    for (char *p = v; *p; p++)
        if (*p == 'D' || *p == 'd') *p = 'E'; /* Fortran exponents */
    *out = strtod(v, &end);
    while (*end == ' ') end++;
    if (end == v || *end) return DC_FAIL(DC_STATUS_FORMAT, "header %s: key %s is not a number: %s", h->origin, key, v);
    return DC_STATUS_OK;
}

dc_status dc_fits_header_get_int(const dc_fits_header *h, const char *key, long long *out)
{
    double d;
    DC_TRY(dc_fits_header_get_double(h, key, &d));
    if (d != floor(d) || fabs(d) > 9.007199254740992e15) return DC_FAIL(DC_STATUS_FORMAT, "header %s: key %s is not an integer: %.17g", h->origin, key, d);
    *out = (long long)d;
    return DC_STATUS_OK;
}

dc_status dc_fits_header_get_string(const dc_fits_header *h, const char *key, char *buf, size_t size)
{
    char v[FLEN_VALUE];
    DC_TRY(get_value(h, key, v));
    if (v[0] != '\'') { /* a number or logical: its text */
        snprintf(buf, size, "%s", v);
        return DC_STATUS_OK;
    }
    size_t j = 0;
    for (const char *s = v + 1; *s && j + 1 < size; s++) {
        if (*s == '\'') {
            if (s[1] != '\'') break;
            s++;
        }
        buf[j++] = *s;
    }
    while (j > 0 && buf[j - 1] == ' ') j--; /* trailing blanks are not significant */
    buf[j] = 0;
    return DC_STATUS_OK;
}

/* ---------------------------------------------------------------- image read */

static dc_status read_header(fitsfile *f, const char *origin, dc_fits_header **out)
{
    char *str = NULL;
    int st = 0, nkeys = 0, comp = fits_is_compressed_image(f, &st);
    if (comp) fits_convert_hdr2str(f, 0, NULL, 0, &str, &nkeys, &st);
    else fits_hdr2str(f, 0, NULL, 0, &str, &nkeys, &st);
    if (st) return DC_FITS_FAIL(DC_STATUS_FORMAT, st, "%s: cannot read header", origin);
    dc_fits_header *h;
    dc_status s = dc_fits_header_new(&h);
    for (int i = 0; s == DC_STATUS_OK && i < nkeys; i++) {
        char card[81];
        snprintf(card, sizeof card, "%.80s", str + 80 * (size_t)i);
        if (strncmp(card, "END     ", 8) != 0) s = dc_fits_header_append_card(h, card);
    }
    fits_free_memory(str, &st);
    if (s) {
        dc_fits_header_free(h);
        return s;
    }
    dc_fits_header_set_origin(h, origin);
    *out = h;
    return DC_STATUS_OK;
}

/* Move to the requested HDU; *index receives its 0-based number. */
static dc_status select_hdu(fitsfile *f, const char *path, int hdu, const char *extname, int *index)
{
    int st = 0, nhdus = 0, type;
    fits_get_num_hdus(f, &nhdus, &st);
    if (st) return DC_FITS_FAIL(DC_STATUS_FORMAT, st, "%s: cannot count HDUs (truncated or corrupt file?)", path);
    if (extname) {
        if (fits_movnam_hdu(f, ANY_HDU, (char *)extname, 0, &st)) {
            fits_clear_errmsg();
            return DC_FAIL(DC_STATUS_NOT_FOUND, "%s: no HDU with EXTNAME '%s' (file has %d HDUs)", path, extname, nhdus);
        }
        fits_get_hdu_num(f, index);
        (*index)--;
        return DC_STATUS_OK;
    }
    if (hdu >= 0) {
        if (hdu >= nhdus) return DC_FAIL(DC_STATUS_NOT_FOUND, "%s: HDU %d out of range: the file has %d HDUs (0..%d)", path, hdu, nhdus, nhdus - 1);
        if (fits_movabs_hdu(f, hdu + 1, &type, &st)) return DC_FITS_FAIL(DC_STATUS_FORMAT, st, "%s[HDU %d]: cannot read (truncated or corrupt file?)", path, hdu);
        *index = hdu;
        return DC_STATUS_OK;
    }
    for (int i = 0; i < nhdus; i++) { /* the first HDU holding image data */
        int naxis = 0;
        if (fits_movabs_hdu(f, i + 1, &type, &st)) return DC_FITS_FAIL(DC_STATUS_FORMAT, st, "%s[HDU %d]: cannot read (truncated or corrupt file?)", path, i);
        if (type == IMAGE_HDU && !fits_get_img_dim(f, &naxis, &st) && naxis > 0) {
            *index = i;
            return DC_STATUS_OK;
        }
    }
    return DC_FAIL(DC_STATUS_NOT_FOUND, "%s: none of its %d HDUs holds an image", path, nhdus);
}

static dc_status read_image(fitsfile *f, const char *origin, dc_image **out)
{
    int st = 0, type, bitpix, naxis, anynul;
    LONGLONG naxes[9] = {0};
    fits_get_hdu_type(f, &type, &st);
    if (type != IMAGE_HDU)
        return DC_FAIL(DC_STATUS_FORMAT, "%s is %s, not an image; pick an image HDU (index or EXTNAME)", origin,
                       type == BINARY_TBL ? "a binary table" : "an ASCII table");
    if (fits_get_img_paramll(f, 9, &bitpix, &naxis, naxes, &st)) return DC_FITS_FAIL(DC_STATUS_FORMAT, st, "%s: cannot read image size", origin);
    if (naxis < 2) return DC_FAIL(DC_STATUS_FORMAT, "%s holds no 2-D image (NAXIS = %d)", origin, naxis);
    for (int k = 2; k < naxis; k++)
        if (naxes[k] != 1) return DC_FAIL(DC_STATUS_FORMAT, "%s is a %d-D cube (NAXIS%d = %lld); only 2-D images are read", origin, naxis, k + 1, (long long)naxes[k]);
    if (naxes[0] > INT32_MAX / 2 || naxes[1] > INT32_MAX / 2) return DC_FAIL(DC_STATUS_FORMAT, "%s: image too large (%lld x %lld)", origin, (long long)naxes[0], (long long)naxes[1]);
    /* the last pixel first: a damaged header claiming more pixels than the file holds fails here,
     * before the image is allocated (found by fuzz/fuzz_fits) */
    float last;
    if (fits_read_img(f, TFLOAT, naxes[0] * naxes[1], 1, NULL, &last, &anynul, &st))
        return DC_FITS_FAIL(DC_STATUS_FORMAT, st, "%s: the header says %lld x %lld pixels but the file ends before "
                            "them (truncated or corrupt file?)", origin, (long long)naxes[0], (long long)naxes[1]);
    dc_image *img;
    DC_TRY(dc_image_new(&img, (int)naxes[0], (int)naxes[1]));
    if (fits_read_img(f, TFLOAT, 1, naxes[0] * naxes[1], NULL, img->data, &anynul, &st)) {
        dc_image_free(img);
        return DC_FITS_FAIL(DC_STATUS_FORMAT, st, "%s: cannot read pixels (truncated or corrupt file?)", origin);
    }
    *out = img;
    return DC_STATUS_OK;
}

dc_status dc_fits_image_read(const char *path, int hdu, const char *extname, dc_image **img,
                             dc_fits_header **hdr)
{
    fitsfile *f;
    int st = 0, index = 0;
    char origin[600];
    DC_TRY(dc_file_check(path, "FITS file"));
    if (fits_open_diskfile(&f, path, READONLY, &st)) return DC_FITS_FAIL(DC_STATUS_FORMAT, st, "'%s' is not a readable FITS file (truncated or corrupt?)", path);
    dc_status s = select_hdu(f, path, hdu, extname, &index);
    snprintf(origin, sizeof origin, "%s[HDU %d]", path, index);
    dc_image *im = NULL;
    dc_fits_header *h = NULL;
    if (!s) s = read_image(f, origin, &im);
    if (!s && hdr) s = read_header(f, origin, &h);
    st = 0;
    fits_close_file(f, &st);
    fits_clear_errmsg();
    if (s) {
        dc_image_free(im);
        return s;
    }
    *img = im;
    if (hdr) *hdr = h;
    return DC_STATUS_OK;
}

/* ---------------------------------------------------------------- image write */

/* Keys CFITSIO writes itself from the image's shape and type. */
static int structural(const char *key)
{
    static const char *const keys[] = {"SIMPLE", "BITPIX", "EXTEND", "XTENSION", "PCOUNT", "GCOUNT",
                                       "BSCALE", "BZERO", "BLANK", "END", "CHECKSUM", "DATASUM", NULL};
    for (int i = 0; keys[i]; i++)
        if (!strcasecmp(key, keys[i])) return 1;
    return !strncasecmp(key, "NAXIS", 5);
}

dc_status dc_fits_image_write(const char *path, const dc_image *img, const dc_fits_header *hdr,
                              const dc_fits_write_opts *opts)
{
    char tmp[1100], name[1110], key[81];
    fitsfile *f;
    int st = 0;
    long naxes[2] = {img->nx, img->ny};
    dc_astro_temp_path(path, tmp, sizeof tmp);
    snprintf(name, sizeof name, "!%s", tmp);
    if (fits_create_file(&f, name, &st)) return DC_FITS_FAIL(DC_STATUS_IO, st, "cannot create FITS file '%s' (directory missing or not writable?)", path);
    if (dc_astro_ends_with(path, ".fz")) {
        /* Rice needs quantised floats; lossless float tiles take GZIP_2 (fpack -g2). 9999 is
         * CFITSIO's NO_QUANTIZE, which its public header lacks. */
        int lossy = opts && opts->quantize_level > 0;
        fits_set_compression_type(f, lossy ? RICE_1 : GZIP_2, &st);
        fits_set_quantize_level(f, lossy ? opts->quantize_level : 9999.0f, &st);
    }
    fits_create_img(f, FLOAT_IMG, 2, naxes, &st);
    for (int i = 0; hdr && !st && i < hdr->n; i++) {
        card_key(hdr->cards[i], key, sizeof key);
        if (!structural(key)) fits_write_record(f, hdr->cards[i], &st);
    }
    fits_write_img(f, TFLOAT, 1, (LONGLONG)img->nx * img->ny, img->data, &st);
    int wst = st;
    st = 0;
    fits_close_file(f, &st);
    if (wst || st) {
        remove(tmp);
        return DC_FITS_FAIL(DC_STATUS_IO, wst ? wst : st, "cannot write FITS file '%s' (disk full or not writable?)", path);
    }
    return dc_astro_commit(tmp, path);
}
