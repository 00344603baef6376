/* Host float32 images: allocation, area-averaging resampling, crops and flips. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astro/astro.h"

dc_status dc_image_new(dc_image **out, int nx, int ny)
{
    DC_CHECK_ARG(nx > 0 && ny > 0, "image size must be positive, got %d x %d", nx, ny);
    dc_image *img = calloc(1, sizeof *img);
    if (img) img->data = calloc((size_t)nx * ny, sizeof *img->data);
    if (!img || !img->data) {
        free(img);
        return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "image %d x %d: out of memory", nx, ny);
    }
    img->nx = nx;
    img->ny = ny;
    *out = img;
    return DC_STATUS_OK;
}

void dc_image_free(dc_image *img)
{
    if (!img) return;
    free(img->data);
    free(img);
}

/* Overlap weights of source pixels with each output pixel along one axis: output pixel j covers
 * source [j*f, (j+1)*f) with f = n_src/n_out; first[j] is its first source pixel and w holds
 * `span` weights per output pixel (zero-padded), each overlap/f so they sum to 1. */
typedef struct axis_weights { int span; int *first; double *w; } axis_weights;

static dc_status axis_weights_make(int n_src, int n_out, axis_weights *a)
{
    double f = (double)n_src / n_out;
    a->span = (int)ceil(f) + 1;
    a->first = malloc((size_t)n_out * sizeof *a->first);
    a->w = calloc((size_t)n_out * a->span, sizeof *a->w);
    if (!a->first || !a->w) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "resample: out of memory");
    for (int j = 0; j < n_out; j++) {
        double lo = j * f, hi = (j + 1) * f;
        int i0 = (int)floor(lo);
        a->first[j] = i0;
        for (int k = 0; k < a->span && i0 + k < n_src; k++) {
            double ov = fmin(hi, i0 + k + 1.0) - fmax(lo, i0 + k);
            if (ov > 0) a->w[(size_t)j * a->span + k] = ov / f;
        }
    }
    return DC_STATUS_OK;
}

dc_status dc_image_resample(const dc_image *src, int nx, int ny, dc_image **out)
{
    DC_CHECK_ARG(nx > 0 && ny > 0, "resample: target size must be positive, got %d x %d", nx, ny);
    axis_weights ax = {0}, ay = {0};
    dc_image *res = NULL;
    double *tmp = malloc((size_t)src->ny * nx * sizeof *tmp);
    dc_status s = tmp ? DC_STATUS_OK : DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "resample: out of memory");
    if (!s) s = axis_weights_make(src->nx, nx, &ax);
    if (!s) s = axis_weights_make(src->ny, ny, &ay);
    if (!s) s = dc_image_new(&res, nx, ny);
    if (!s) {
        for (int y = 0; y < src->ny; y++) { /* along x: src rows -> tmp (src->ny x nx) */
            const float *row = src->data + (size_t)y * src->nx;
            for (int u = 0; u < nx; u++) {
                const double *w = ax.w + (size_t)u * ax.span;
                double acc = 0;
                for (int k = 0; k < ax.span && ax.first[u] + k < src->nx; k++) acc += w[k] * row[ax.first[u] + k];
                tmp[(size_t)y * nx + u] = acc;
            }
        }
        for (int v = 0; v < ny; v++) { /* along y */
            const double *w = ay.w + (size_t)v * ay.span;
            for (int u = 0; u < nx; u++) {
                double acc = 0;
                for (int k = 0; k < ay.span && ay.first[v] + k < src->ny; k++) acc += w[k] * tmp[(size_t)(ay.first[v] + k) * nx + u];
                res->data[(size_t)v * nx + u] = (float)acc;
            }
        }
        *out = res;
    }
    free(tmp);
    free(ax.first);
    free(ax.w);
    free(ay.first);
    free(ay.w);
    return s;
}

dc_status dc_image_crop(const dc_image *src, int x0, int y0, int nx, int ny, float fill, dc_image **out)
{
    dc_image *c;
    DC_TRY(dc_image_new(&c, nx, ny));
    /* the columns of the window that lie inside the source: [u0, u1) */
    int u0 = x0 < 0 ? -x0 : 0, u1 = src->nx - x0 < nx ? src->nx - x0 : nx;
    for (int v = 0; v < ny; v++) {
        int y = y0 + v;
        float *dst = c->data + (size_t)v * nx;
        int inside = y >= 0 && y < src->ny && u0 < u1;
        for (int u = 0; u < nx; u++)
            if (!inside || u < u0 || u >= u1) dst[u] = fill;
        if (inside) memcpy(dst + u0, src->data + (size_t)y * src->nx + x0 + u0, (size_t)(u1 - u0) * sizeof *dst);
    }
    *out = c;
    return DC_STATUS_OK;
}

void dc_image_flip_x(dc_image *img)
{
    for (int y = 0; y < img->ny; y++) {
        float *row = img->data + (size_t)y * img->nx;
        for (int a = 0, b = img->nx - 1; a < b; a++, b--) {
            float t = row[a];
            row[a] = row[b];
            row[b] = t;
        }
    }
}

size_t dc_image_fill_nonfinite(dc_image *img, float v)
{
    size_t n = 0;
    for (size_t i = 0; i < (size_t)img->nx * img->ny; i++)
        if (!isfinite(img->data[i])) {
            img->data[i] = v;
            n++;
        }
    return n;
}

size_t dc_image_count_nonfinite(const dc_image *img)
{
    size_t n = 0;
    for (size_t i = 0; i < (size_t)img->nx * img->ny; i++) n += !isfinite(img->data[i]);
    return n;
}
