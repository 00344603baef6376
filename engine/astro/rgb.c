/* 8-bit RGB pictures: colour composites (the paper's sqrt stretch, Lupton asinh), outlines for
 * previews, PNG through libpng's simplified API. */
#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "astro/astro_impl.h"

dc_status dc_rgb_new(dc_rgb **out, int nx, int ny)
{
    DC_CHECK_ARG(nx > 0 && ny > 0, "picture size must be positive, got %d x %d", nx, ny);
    dc_rgb *img = calloc(1, sizeof *img);
    if (img) img->data = calloc((size_t)nx * ny * 3, 1);
    if (!img || !img->data) {
        free(img);
        return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "picture %d x %d: out of memory", nx, ny);
    }
    img->nx = nx;
    img->ny = ny;
    *out = img;
    return DC_STATUS_OK;
}

void dc_rgb_free(dc_rgb *img)
{
    if (!img) return;
    free(img->data);
    free(img);
}

void dc_rgb_flip_x(dc_rgb *img)
{
    for (int y = 0; y < img->ny; y++) {
        uint8_t *row = img->data + (size_t)y * img->nx * 3;
        for (int a = 0, b = img->nx - 1; a < b; a++, b--)
            for (int k = 0; k < 3; k++) {
                uint8_t t = row[3 * a + k];
                row[3 * a + k] = row[3 * b + k];
                row[3 * b + k] = t;
            }
    }
}

/* Source pixel (x, y) of an nx x ny picture -> its place under transform t (see astro.h): a
 * left-right mirror when t >= 4, then t % 4 quarter turns anticlockwise as displayed, each
 * (x, y) -> (y, w - 1 - x) with the width and height swapped. */
static void dihedral_pixel(int t, int nx, int ny, int *x, int *y)
{
    int w = nx, h = ny, a = *x, b = *y;
    if (t >= 4) a = w - 1 - a;
    for (int k = 0; k < t % 4; k++) {
        int na = b, nb = w - 1 - a;
        a = na;
        b = nb;
        int tmp = w;
        w = h;
        h = tmp;
    }
    *x = a;
    *y = b;
}

dc_status dc_rgb_dihedral(dc_rgb *img, int t)
{
    DC_CHECK_ARG(t >= 0 && t <= 7, "dihedral transform %d: there are 8, numbered 0 to 7", t);
    if (t == 0) return DC_STATUS_OK;
    const int nx = img->nx, ny = img->ny, odd = t % 2; /* odd quarter turns swap the sides */
    const int ox = odd ? ny : nx, oy = odd ? nx : ny;
    uint8_t *out = malloc((size_t)nx * ny * 3);
    if (!out) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "dihedral transform of a %d x %d picture: out of memory", nx, ny);
    for (int y = 0; y < ny; y++)
        for (int x = 0; x < nx; x++) {
            int a = x, b = y;
            dihedral_pixel(t, nx, ny, &a, &b);
            memcpy(out + 3 * ((size_t)b * ox + a), img->data + 3 * ((size_t)y * nx + x), 3);
        }
    free(img->data);
    img->data = out;
    img->nx = ox;
    img->ny = oy;
    return DC_STATUS_OK;
}

/* Inverse of the standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9). */
static double normal_quantile(double q)
{
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                               1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                               6.680131188771972e+01, -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                               -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    if (q < 0.02425 || q > 1 - 0.02425) {
        const double t = sqrt(-2 * log(q < 0.5 ? q : 1 - q));
        const double v = (((((c[0] * t + c[1]) * t + c[2]) * t + c[3]) * t + c[4]) * t + c[5]) /
                         ((((d[0] * t + d[1]) * t + d[2]) * t + d[3]) * t + 1);
        return q < 0.5 ? v : -v;
    }
    const double u = q - 0.5, r = u * u;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * u /
           (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/* Noise deviates: NOISE_LEVELS equiprobable quantiles of N(0, 1), rescaled to unit variance, picked
 * with 12 random bits each (five per generator call). A discrete stand-in for the Gaussian, ten
 * times cheaper than Box-Muller per pixel; its tails stop at 3.7 sigma, below what an 8-bit
 * picture resolves, and the variance is exact. */
#define NOISE_BITS 12
#define NOISE_LEVELS (1 << NOISE_BITS)
static void noise_table(float *t)
{
    double ss = 0;
    for (int i = 0; i < NOISE_LEVELS; i++) {
        const double v = normal_quantile((i + 0.5) / NOISE_LEVELS);
        t[i] = (float)v;
        ss += v * v;
    }
    const double norm = 1 / sqrt(ss / NOISE_LEVELS);
    for (int i = 0; i < NOISE_LEVELS; i++) t[i] = (float)(t[i] * norm);
}

dc_status dc_rgb_photometric(dc_rgb *img, const dc_photometric_params *p)
{
    for (int k = 0; k < 3; k++)
        DC_CHECK_ARG(p->hi[k] > p->lo[k] && p->scale[k] > 0 && isfinite(p->scale[k]) && p->sigma[k] >= 0 &&
                         isfinite(p->sigma[k]),
                     "photometric channel %d: need hi > lo, a positive finite scale and sigma >= 0 (got lo %g, "
                     "hi %g, scale %g, sigma %g)", k, p->lo[k], p->hi[k], p->scale[k], p->sigma[k]);
    /* the inverted stretch times the scale, per channel and byte, in units of hi - lo above lo */
    double flux[3][256], noise[3];
    int any_noise = 0;
    for (int k = 0; k < 3; k++) {
        const double range = (double)p->hi[k] - p->lo[k];
        for (int v = 0; v < 256; v++) {
            const double y = v / 255.0, x = p->lo[k] + range * y * y;
            flux[k][v] = (x * p->scale[k] - p->lo[k]) / range;
        }
        noise[k] = p->sigma[k] / range;
        any_noise |= p->sigma[k] > 0;
    }
    float *table = NULL;
    if (any_noise) {
        table = malloc(NOISE_LEVELS * sizeof *table);
        if (!table) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "photometric: out of memory");
        noise_table(table);
    }
    dc_rng rng;
    dc_rng_seed(&rng, p->seed);
    const size_t n = (size_t)img->nx * img->ny * 3;
    uint64_t bits = 0;
    int left = 0;
    for (size_t i = 0; i < n; i++) {
        const int k = (int)(i % 3);
        double s = flux[k][img->data[i]];
        if (table) {
            if (left == 0) {
                bits = dc_rng_next(&rng);
                left = 64 / NOISE_BITS;
            }
            s += noise[k] * table[bits & (NOISE_LEVELS - 1)];
            bits >>= NOISE_BITS;
            left--;
        }
        s = s > 0 ? (s < 1 ? s : 1) : 0;
        img->data[i] = (uint8_t)(255 * sqrt(s) + 0.5); /* s >= 0: truncation is floor */
    }
    free(table);
    return DC_STATUS_OK;
}

/* ---------------------------------------------------------------- composites */

static void sqrt_pixel(const dc_composite_params *p, const double v[3], uint8_t *o)
{
    for (int k = 0; k < 3; k++) {
        double t = (v[k] - p->lo[k]) / (p->hi[k] - p->lo[k]);
        t = t > 0 ? (t < 1 ? t : 1) : 0; /* NaN -> 0 */
        o[k] = (uint8_t)floor(255 * sqrt(t) + 0.5);
    }
}

/* astropy's AsinhMapping: scale the bands by asinh(soften I) slope / I on the mean intensity I,
 * clip at 0, bring pixels whose brightest channel exceeds 255 back to 255, truncate. */
static void lupton_pixel(const dc_composite_params *p, double slope, const double v[3], uint8_t *o)
{
    double c[3], soften = p->q / p->lupton_stretch;
    for (int k = 0; k < 3; k++) c[k] = isnan(v[k]) ? 0 : v[k] - p->minimum[k];
    double I = (c[0] + c[1] + c[2]) / 3, fac = I <= 0 ? 0 : asinh(I * soften) * slope / I, m = 0;
    for (int k = 0; k < 3; k++) {
        c[k] = fmax(c[k] * fac, 0);
        m = fmax(m, c[k]);
    }
    for (int k = 0; k < 3; k++) o[k] = (uint8_t)(m >= 255 ? c[k] * 255 / m : c[k]);
}

dc_status dc_composite_make(const dc_image *g, const dc_image *r, const dc_image *i,
                            const dc_composite_params *p, dc_rgb **out)
{
    DC_CHECK_ARG(g->nx == r->nx && g->nx == i->nx && g->ny == r->ny && g->ny == i->ny,
                 "composite: g, r, i shapes differ (%dx%d, %dx%d, %dx%d)", g->nx, g->ny, r->nx, r->ny, i->nx, i->ny);
    if (p->stretch == DC_STRETCH_SQRT) {
        for (int k = 0; k < 3; k++)
            DC_CHECK_ARG(p->hi[k] > p->lo[k], "composite: channel %d (%c) needs hi > lo, got lo %g hi %g", k, "RGB"[k], p->lo[k], p->hi[k]);
    } else {
        DC_CHECK_ARG(p->stretch == DC_STRETCH_LUPTON, "composite: unknown stretch %d", (int)p->stretch);
        DC_CHECK_ARG(p->lupton_stretch > 0 && p->q > 0, "composite: Lupton needs stretch > 0 and Q > 0, got %g, %g", p->lupton_stretch, p->q);
    }
    double slope = 0.1 * 255 / asinh(0.1 * p->q);
    dc_rgb *o;
    DC_TRY(dc_rgb_new(&o, g->nx, g->ny));
    for (int y = 0; y < g->ny; y++) {
        uint8_t *row = o->data + (size_t)(g->ny - 1 - y) * g->nx * 3; /* display order: top row first */
        for (int x = 0; x < g->nx; x++) {
            size_t at = (size_t)y * g->nx + x;
            double v[3] = {i->data[at], r->data[at], g->data[at]};
            if (p->stretch == DC_STRETCH_SQRT) sqrt_pixel(p, v, row + 3 * x);
            else lupton_pixel(p, slope, v, row + 3 * x);
        }
    }
    *out = o;
    return DC_STATUS_OK;
}

/* ---------------------------------------------------------------- drawing */

static void put(dc_rgb *img, int x, int y, uint32_t color)
{
    if (x < 0 || y < 0 || x >= img->nx || y >= img->ny) return;
    uint8_t *px = img->data + ((size_t)y * img->nx + x) * 3;
    px[0] = (uint8_t)(color >> 16);
    px[1] = (uint8_t)(color >> 8);
    px[2] = (uint8_t)color;
}

/* A ring of pixels whose centres lie within thickness/2 of the circle. */
void dc_rgb_draw_circle(dc_rgb *img, double cx, double cy, double radius, uint32_t color, int thickness)
{
    double half = fmax(thickness, 1) / 2.0, outer = radius + half, inner = fmax(radius - half, 0);
    int x0 = (int)floor(cx - outer), x1 = (int)ceil(cx + outer), y0 = (int)floor(cy - outer), y1 = (int)ceil(cy + outer);
    x0 = x0 > 0 ? x0 : 0;
    y0 = y0 > 0 ? y0 : 0;
    x1 = x1 < img->nx - 1 ? x1 : img->nx - 1;
    y1 = y1 < img->ny - 1 ? y1 : img->ny - 1;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            double d = hypot(x - cx, y - cy);
            if (d >= inner && d <= outer) put(img, x, y, color);
        }
}

/* Outline of the pixels x0..x1, y0..y1 (inclusive), drawn inwards. */
void dc_rgb_draw_rect(dc_rgb *img, int x0, int y0, int x1, int y1, uint32_t color, int thickness)
{
    for (int k = 0; k < (thickness > 0 ? thickness : 1); k++) {
        for (int x = x0; x <= x1; x++) {
            put(img, x, y0 + k, color);
            put(img, x, y1 - k, color);
        }
        for (int y = y0; y <= y1; y++) {
            put(img, x0 + k, y, color);
            put(img, x1 - k, y, color);
        }
    }
}

/* ---------------------------------------------------------------- PNG */

dc_status dc_rgb_write_png(const dc_rgb *img, const char *path)
{
    char tmp[1100];
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = (png_uint_32)img->nx;
    pi.height = (png_uint_32)img->ny;
    pi.format = PNG_FORMAT_RGB;
    pi.flags = PNG_IMAGE_FLAG_FAST; /* noisy sky barely compresses: spend little time trying */
    dc_astro_temp_path(path, tmp, sizeof tmp);
    if (!png_image_write_to_file(&pi, tmp, 0, img->data, 0, NULL)) {
        remove(tmp);
        return DC_FAIL(DC_STATUS_IO, "cannot write PNG '%s': %s", path, pi.message);
    }
    return dc_astro_commit(tmp, path);
}

dc_status dc_rgb_read_png(const char *path, dc_rgb **out)
{
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&pi, path))
        return DC_FAIL(DC_STATUS_IO, "cannot read PNG '%s': %s", path, pi.message);
    pi.format = PNG_FORMAT_RGB;
    dc_rgb *img;
    dc_status s = dc_rgb_new(&img, (int)pi.width, (int)pi.height);
    if (s) {
        png_image_free(&pi);
        return s;
    }
    if (!png_image_finish_read(&pi, NULL, img->data, 0, NULL)) {
        dc_rgb_free(img);
        return DC_FAIL(DC_STATUS_FORMAT, "PNG '%s' is corrupt: %s", path, pi.message);
    }
    *out = img;
    return DC_STATUS_OK;
}
