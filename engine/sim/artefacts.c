/* Image artefacts of real survey frames: diffraction spikes of stars, satellite trails, masked
 * (NaN) column and row bands, a NaN or zero border at the edge of a footprint, and scattered-light
 * gradients. Light (spikes, trails) is added before exposure so that it gets photon noise and
 * saturates like real light; gradients and masks are applied to the exposed image. Each artefact
 * draws from its own stream of the field's seed, and every one but the spikes is recorded in
 * f->artefacts. Rates, shapes and their sources: docs/sky-confounders.md. */
#include <math.h>
#include <stdlib.h>

#include "sim/sim_impl.h"

/* Stream tags of the field's seed (field.c uses 1-8). */
enum { TAG_TRAILS = 0x61727400, TAG_STRIPES, TAG_EDGE, TAG_GRADIENT };

/* Solar colours for trails seen in every band (sunlight reflected by a satellite):
 * g - r = 0.44, r - i = 0.11 (Holmberg, Flynn & Portinari 2006). */
static const double sun_gr = 0.44, sun_ri = 0.11;

void dc_sim_artefacts_realistic(dc_sim_confound_config *c)
{
    c->star_spikes = 0.01;      /* 1% of a star's light in its four spikes (assumption) */
    c->satellite_trails = 0.05; /* per 2000^2 px field (assumption) */
    c->masked_stripes = 0.05;   /* per field (assumption) */
    c->edge_mask = 0.05;        /* probability per field (assumption) */
    c->gradients = 1.0;         /* up to 1 sky sigma peak to peak (assumption) */
}

static dc_status push(dc_sim_field *f, const dc_sim_artefact *a)
{
    dc_sim_artefact *v = realloc(f->artefacts, (f->n_artefacts + 1) * sizeof *v);
    if (!v) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "sim artefacts: %zu entries", f->n_artefacts + 1);
    f->artefacts = v;
    v[f->n_artefacts++] = *a;
    return DC_STATUS_OK;
}

/* Add a straight line through (x0, y0) with unit direction (ux, uy): across it a Gaussian of
 * sigma s (pixels), along it `lambda(t) = a / t^2` for spikes (t from tmin to tmax, a > 0) or
 * the constant -a for trails (a <= 0, every t), in flux per pixel of length. Marches along the
 * axis the line is closer to, so each step covers one column (or row). */
static void add_line(float *img, int w, int h, double x0, double y0, double ux, double uy, double tmin, double tmax,
                     double s, double a)
{
    int along_x = fabs(ux) >= fabs(uy);
    double ua = along_x ? ux : uy, ub = along_x ? uy : ux; /* along the marching axis, across */
    double c0 = along_x ? x0 : y0, r0 = along_x ? y0 : x0;
    int na = along_x ? w : h, nb = along_x ? h : w;
    double norm = 1 / (sqrt(2 * M_PI) * s), half = 4 * s / fabs(ua);
    int i0 = 0, i1 = na - 1;
    if (a > 0) { /* only the columns the segment [tmin, tmax] crosses */
        double e0 = c0 + ua * tmin, e1 = c0 + ua * tmax, pad = half * fabs(ub) + 1;
        i0 = (int)fmax(0, floor(fmin(e0, e1) - pad));
        i1 = (int)fmin(na - 1, ceil(fmax(e0, e1) + pad));
    }
    for (int i = i0; i <= i1; i++) {
        double ti = (i - c0) / ua; /* where the line crosses this column */
        double rl = r0 + ti * ub;
        int j0 = (int)ceil(rl - half), j1 = (int)floor(rl + half);
        if (j0 < 0) j0 = 0;
        if (j1 > nb - 1) j1 = nb - 1;
        for (int j = j0; j <= j1; j++) {
            double dr = j - rl, d = dr * fabs(ua), t = ti + dr * ub; /* across, along */
            double lam;
            if (a > 0) {
                if (t < tmin || t > tmax) continue;
                lam = a / (t * t);
            } else {
                lam = -a;
            }
            float *p = along_x ? &img[(size_t)j * w + i] : &img[(size_t)i * w + j];
            *p += (float)(lam * norm * exp(-0.5 * d * d / (s * s)));
        }
    }
}

/* Four spikes along the rows and columns, as SDSS frames show them ("compass points"). Each arm
 * holds strength/4 of the star's flux beyond one FWHM with the r^-2 fall-off of the diffraction
 * pattern of a straight vane, rendered out to where it drops below eps per pixel, so brighter
 * stars have longer spikes (length ~ sqrt(flux)). */
static void spikes(dc_sim_field *f, const sim_objects *objs, double strength)
{
    for (int b = 0; b < DC_SIM_NBANDS; b++) {
        double eps = 2e-3 * dc_sim_sky_sigma(&f->band[b], DC_SIM_PIXEL_SCALE); /* as the objects */
        double fwhm = f->band[b].fwhm / DC_SIM_PIXEL_SCALE, s = sqrt(pow(fwhm / 2.3548, 2) + 1.0 / 12);
        double lmax = 1.5 * (f->width > f->height ? f->width : f->height);
        for (size_t k = 0; k < objs->n; k++) {
            const dc_sim_object *o = &objs->v[k];
            if (o->kind != DC_SIM_OBJECT_KIND_STAR) continue;
            /* per arm: lambda(t) = a / t^2 for t >= fwhm integrates to strength * flux / 4 */
            double a = 0.25 * strength * dc_sim_mag_to_flux(o->mag[b]) * fwhm;
            double len = fmin(sqrt(a / (sqrt(2 * M_PI) * s * eps)), lmax);
            if (len <= fwhm) continue;
            static const int dir[4][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}};
            for (int d = 0; d < 4; d++)
                add_line(f->image[b]->data, f->width, f->height, o->x, o->y, dir[d][0], dir[d][1], fwhm, len, s, a);
        }
    }
}

/* Satellite trails: straight lines across the field through a uniform point at a uniform angle,
 * FWHM 2-5 px, peak surface brightness r 19-23 mag/arcsec^2; half are seen in one band only
 * (SDSS exposes the bands of a field at different times, so a fast satellite crosses one), the
 * others in all three with the Sun's colours. */
static dc_status trails(dc_sim_field *f, double mean)
{
    dc_rng rng;
    sim_rng_for(&rng, f->seed, TAG_TRAILS, 0);
    int n = (int)dc_rng_poisson(&rng, mean);
    for (int k = 0; k < n; k++) {
        double x0 = f->width * dc_rng_uniform(&rng), y0 = f->height * dc_rng_uniform(&rng);
        double th = M_PI * dc_rng_uniform(&rng), ux = cos(th), uy = sin(th);
        double fwhm = 2 + 3 * dc_rng_uniform(&rng), s = fwhm / 2.3548;
        double mu = 19 + 4 * dc_rng_uniform(&rng);
        int one = dc_rng_uniform(&rng) < 0.5, band = (int)dc_rng_below(&rng, 3);
        double peak = dc_sim_mag_to_flux(mu) * DC_SIM_PIXEL_SCALE * DC_SIM_PIXEL_SCALE; /* nMgy per pixel */
        double lam = peak * sqrt(2 * M_PI) * s; /* flux per pixel of length */
        const double colour[3] = {pow(10, -0.4 * sun_gr), 1, pow(10, 0.4 * sun_ri)};
        dc_sim_artefact a = {.kind = DC_SIM_ARTEFACT_TRAIL, .bands = one ? 1 << band : 7, .x0 = x0, .y0 = y0,
                             .x1 = x0 + ux, .y1 = y0 + uy, .width = fwhm, .value = lam};
        for (int b = 0; b < DC_SIM_NBANDS; b++)
            if (a.bands & (1 << b))
                add_line(f->image[b]->data, f->width, f->height, x0, y0, ux, uy, 0, 0, s, -(one ? lam : lam * colour[b]));
        DC_TRY(push(f, &a));
    }
    return DC_STATUS_OK;
}

dc_status sim_artefacts_light(dc_sim_field *f, const dc_sim_field_config *cfg, const sim_objects *objs)
{
    if (cfg->confound.star_spikes > 0) spikes(f, objs, cfg->confound.star_spikes);
    if (cfg->confound.satellite_trails > 0) DC_TRY(trails(f, cfg->confound.satellite_trails));
    return DC_STATUS_OK;
}

static void fill_box(dc_sim_field *f, int bands, int x0, int y0, int x1, int y1, float v)
{
    for (int b = 0; b < DC_SIM_NBANDS; b++) {
        if (!(bands & (1 << b))) continue;
        for (int y = y0; y <= y1; y++)
            for (int x = x0; x <= x1; x++) f->image[b]->data[(size_t)y * f->width + x] = v;
    }
}

dc_status sim_artefacts_exposed(dc_sim_field *f, const dc_sim_field_config *cfg)
{
    const dc_sim_confound_config *q = &cfg->confound;
    dc_rng rng;
    int w = f->width, h = f->height;
    /* scattered light: per band a plane plus a radial quadratic; the plane's peak-to-peak along its
     * direction is u * gradients sky sigma, the quadratic up to a quarter of that */
    if (q->gradients > 0) {
        sim_rng_for(&rng, f->seed, TAG_GRADIENT, 0);
        for (int b = 0; b < DC_SIM_NBANDS; b++) {
            double amp = q->gradients * dc_sim_sky_sigma(&f->band[b], DC_SIM_PIXEL_SCALE) * dc_rng_uniform(&rng);
            double th = 2 * M_PI * dc_rng_uniform(&rng);
            dc_sim_artefact a = {.kind = DC_SIM_ARTEFACT_GRADIENT, .bands = 1 << b, .x0 = 0.5 * amp * cos(th),
                                 .y0 = 0.5 * amp * sin(th), .x1 = 0.25 * amp * (2 * dc_rng_uniform(&rng) - 1)};
            double cx = 0.5 * (w - 1), cy = 0.5 * (h - 1);
            float *img = f->image[b]->data;
            for (int y = 0; y < h; y++) {
                double Y = (y - cy) / cy;
                for (int x = 0; x < w; x++) {
                    double X = (x - cx) / cx;
                    img[(size_t)y * w + x] += (float)(a.x0 * X + a.y0 * Y + a.x1 * (X * X + Y * Y));
                }
            }
            DC_TRY(push(f, &a));
        }
    }
    /* masked bands of columns or rows, 1-32 px wide, in one band (a bad CCD column) or all */
    if (q->masked_stripes > 0) {
        sim_rng_for(&rng, f->seed, TAG_STRIPES, 0);
        int n = (int)dc_rng_poisson(&rng, q->masked_stripes);
        for (int k = 0; k < n; k++) {
            int cols = dc_rng_uniform(&rng) < 0.5, width = 1 + (int)dc_rng_below(&rng, 32);
            int len = cols ? w : h, at = (int)dc_rng_below(&rng, (uint64_t)len);
            int hi = at + width - 1 < len - 1 ? at + width - 1 : len - 1;
            int one = dc_rng_uniform(&rng) < 0.5, band = (int)dc_rng_below(&rng, 3);
            dc_sim_artefact a = {.kind = DC_SIM_ARTEFACT_STRIPE, .bands = one ? 1 << band : 7, .value = NAN};
            a.x0 = cols ? at : 0;
            a.x1 = cols ? hi : w - 1;
            a.y0 = cols ? 0 : at;
            a.y1 = cols ? h - 1 : hi;
            fill_box(f, a.bands, (int)a.x0, (int)a.y0, (int)a.x1, (int)a.y1, NAN);
            DC_TRY(push(f, &a));
        }
    }
    /* the edge of a footprint or mosaic: one side, 5-30% of the field, NaN or 0 in every band */
    if (q->edge_mask > 0) {
        sim_rng_for(&rng, f->seed, TAG_EDGE, 0);
        if (dc_rng_uniform(&rng) < q->edge_mask) {
            int side = (int)dc_rng_below(&rng, 4);
            double frac = 0.05 + 0.25 * dc_rng_uniform(&rng);
            float v = dc_rng_uniform(&rng) < 0.5 ? NAN : 0.0f;
            int bw = (int)lround(frac * (side < 2 ? w : h));
            if (bw < 1) bw = 1;
            dc_sim_artefact a = {.kind = DC_SIM_ARTEFACT_EDGE, .bands = 7, .x0 = 0, .y0 = 0, .x1 = w - 1, .y1 = h - 1, .value = v};
            if (side == 0) a.x1 = bw - 1;       /* left */
            else if (side == 1) a.x0 = w - bw;  /* right */
            else if (side == 2) a.y1 = bw - 1;  /* bottom */
            else a.y0 = h - bw;                 /* top */
            fill_box(f, 7, (int)a.x0, (int)a.y0, (int)a.x1, (int)a.y1, v);
            DC_TRY(push(f, &a));
        }
    }
    return DC_STATUS_OK;
}
