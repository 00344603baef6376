/* Pictures: the sqrt stretch against hand-computed values, Lupton asinh against the formula,
 * channel order and display orientation, area-averaging resampling against a brute-force
 * reference (integer and non-integer factors, flux conserved), crops, flips, drawing, PNG. */
#include <unistd.h>

#include "astro/astro.h"
#include "dc_test.h"

static dc_image *filled(int nx, int ny, uint64_t seed, double scale)
{
    dc_image *img;
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    if (dc_image_new(&img, nx, ny)) return NULL;
    for (int i = 0; i < nx * ny; i++) img->data[i] = (float)(scale * dc_rng_uniform(&rng));
    return img;
}

static void sqrt_stretch(void)
{
    dc_image *g, *r, *i;
    CHECK_OK(dc_image_new(&g, 4, 2));
    CHECK_OK(dc_image_new(&r, 4, 2));
    CHECK_OK(dc_image_new(&i, 4, 2));
    /* bottom row (y = 0): i gets 0.25, 0.0625, -1, 7; r and g other values; top row NaN/edge cases */
    float iv[8] = {0.25f, 0.0625f, -1, 7, NAN, 1, 0.5f, 0.0f};
    float rv[8] = {0.3f, 0.3f, 0.3f, 0.3f, 0, 0, 0, 0};
    float gv[8] = {1.5f, 1.5f, 1.5f, 1.5f, 0, 0, 0, 0};
    memcpy(i->data, iv, sizeof iv);
    memcpy(r->data, rv, sizeof rv);
    memcpy(g->data, gv, sizeof gv);
    /* R (i): lo 0 hi 1; G (r): lo 0.1 hi 0.9; B (g): lo 1 hi 3 */
    dc_composite_params p = {.stretch = DC_STRETCH_SQRT, .lo = {0, 0.1f, 1}, .hi = {1, 0.9f, 3}};
    dc_rgb *o = NULL;
    CHECK_OK(dc_composite_make(g, r, i, &p, &o));
    if (o) {
        /* hand-computed: R 255*sqrt(0.25) = 127.5 -> 128; 255*sqrt(0.0625) = 63.75 -> 64; clip 0, 255;
         * G 255*sqrt(0.2/0.8) = 127.5 -> 128; B 255*sqrt(0.5/2) = 127.5 -> 128. Bottom row is
         * displayed last (row 1), top row first (row 0). */
        const uint8_t *bottom = o->data + 1 * 4 * 3, *top = o->data;
        const int R[4] = {128, 64, 0, 255};
        for (int x = 0; x < 4; x++) {
            CHECK(bottom[3 * x] == R[x], "R at x=%d: %d, expected %d", x, bottom[3 * x], R[x]);
            CHECK(bottom[3 * x + 1] == 128 && bottom[3 * x + 2] == 128, "G, B at x=%d: %d %d", x, bottom[3 * x + 1], bottom[3 * x + 2]);
        }
        /* top row: NaN -> 0, 1 -> 255, 0.5 -> 255*sqrt(.5) = 180.31 -> 180, 0 -> 0; G, B below lo -> 0 */
        const int T[4] = {0, 255, 180, 0};
        for (int x = 0; x < 4; x++) CHECK(top[3 * x] == T[x] && top[3 * x + 1] == 0 && top[3 * x + 2] == 0, "top x=%d: %d %d %d", x, top[3 * x], top[3 * x + 1], top[3 * x + 2]);
    }
    dc_rgb_free(o);
    dc_composite_params bad = {.stretch = DC_STRETCH_SQRT, .lo = {1, 0, 0}, .hi = {1, 1, 1}};
    CHECK_FAILS(dc_composite_make(g, r, i, &bad, &o), DC_STATUS_INVALID_ARG, "channel 0 (R) needs hi > lo");
    dc_image *small;
    CHECK_OK(dc_image_new(&small, 3, 2));
    CHECK_FAILS(dc_composite_make(g, r, small, &p, &o), DC_STATUS_INVALID_ARG, "shapes differ");
    dc_image_free(small);
    dc_image_free(g);
    dc_image_free(r);
    dc_image_free(i);
}

/* Lupton et al. 2004 as written in docs/facts.md section 6, computed independently per pixel. */
static void lupton_reference(double r, double g, double b, double Q, double stretch, uint8_t out[3])
{
    double I = (r + g + b) / 3, slope = 0.1 * 255 / asinh(0.1 * Q);
    double F = I > 0 ? asinh(Q * I / stretch) * slope / I : 0;
    double v[3] = {r * F, g * F, b * F}, mx = 0;
    for (int k = 0; k < 3; k++) {
        if (v[k] < 0) v[k] = 0;
        if (v[k] > mx) mx = v[k];
    }
    for (int k = 0; k < 3; k++) out[k] = (uint8_t)(mx > 255 ? v[k] * 255 / mx : v[k]);
}

static void lupton(void)
{
    dc_image *g = filled(40, 30, 1, 3), *r = filled(40, 30, 2, 3), *i = filled(40, 30, 3, 3);
    for (int k = 0; k < 40 * 30; k += 7) g->data[k] -= 2; /* some negative pixels */
    dc_composite_params p = {.stretch = DC_STRETCH_LUPTON, .lupton_stretch = 0.5f, .q = 8};
    dc_rgb *o = NULL;
    CHECK_OK(dc_composite_make(g, r, i, &p, &o));
    int bad = 0, saturated = 0;
    for (int y = 0; o && y < 30; y++)
        for (int x = 0; x < 40; x++) {
            int at = y * 40 + x;
            uint8_t ref[3];
            lupton_reference(i->data[at], r->data[at], g->data[at], 8, 0.5, ref);
            const uint8_t *px = o->data + ((29 - y) * 40 + x) * 3;
            for (int k = 0; k < 3; k++) bad += abs(px[k] - ref[k]) > 1; /* float inputs vs double: a rounding step at most */
            saturated += ref[0] == 255 || ref[1] == 255 || ref[2] == 255;
        }
    CHECK(bad == 0, "%d Lupton channels differ from the formula", bad);
    CHECK(saturated > 0 && saturated < 40 * 30, "the test should cover both regimes: %d saturated", saturated);
    dc_rgb_free(o);
    dc_image_free(g);
    dc_image_free(r);
    dc_image_free(i);
}

/* Brute force: output pixel (u, v) is the area-weighted mean over its footprint. */
static double resample_reference(const dc_image *s, int nx, int ny, int u, int v)
{
    double fx = (double)s->nx / nx, fy = (double)s->ny / ny, acc = 0;
    for (int y = 0; y < s->ny; y++)
        for (int x = 0; x < s->nx; x++) {
            double ox = fmin((u + 1) * fx, x + 1.0) - fmax(u * fx, x), oy = fmin((v + 1) * fy, y + 1.0) - fmax(v * fy, y);
            if (ox > 0 && oy > 0) acc += ox * oy * s->data[y * s->nx + x];
        }
    return acc / (fx * fy);
}

static void resample(void)
{
    const int shapes[3][4] = {{200, 100, 100, 50}, {173, 91, 64, 40}, {50, 30, 80, 45}}; /* 2x, non-integer, upsample */
    for (int k = 0; k < 3; k++) {
        dc_image *s = filled(shapes[k][0], shapes[k][1], 10 + k, 100), *o = NULL;
        int nx = shapes[k][2], ny = shapes[k][3];
        CHECK_OK(dc_image_resample(s, nx, ny, &o));
        if (!o) continue;
        double ms = 0, mo = 0, worst = 0;
        for (int j = 0; j < s->nx * s->ny; j++) ms += s->data[j];
        for (int j = 0; j < nx * ny; j++) mo += o->data[j];
        CHECK_CLOSE(mo / (nx * ny), ms / (s->nx * s->ny), 0, 1e-6);
        for (int v = 0; v < ny; v += 3)
            for (int u = 0; u < nx; u += 3) worst = fmax(worst, fabs(o->data[v * nx + u] - resample_reference(s, nx, ny, u, v)));
        CHECK(worst < 1e-4, "case %d: resample differs from brute force by %g", k, worst);
        if (k == 0) { /* factor 2 is the 2x2 block mean */
            double d = fabs(o->data[5 * 100 + 7] - 0.25 * (s->data[10 * 200 + 14] + s->data[10 * 200 + 15] + s->data[11 * 200 + 14] + s->data[11 * 200 + 15]));
            CHECK(d < 1e-4, "2x2 block mean off by %g", d);
        }
        dc_image_free(s);
        dc_image_free(o);
    }
}

static void crop_flip(void)
{
    dc_image *s = filled(10, 8, 5, 1), *c = NULL;
    CHECK_OK(dc_image_crop(s, -2, 3, 6, 7, -9, &c));
    if (c) {
        CHECK(c->data[0] == -9 && c->data[2] == s->data[3 * 10 + 0] && c->data[4 * 6 + 5] == s->data[7 * 10 + 3] && c->data[6 * 6 + 3] == -9, "crop values");
        dc_image_flip_x(c);
        CHECK(c->data[5] == -9 && c->data[3] == s->data[30], "flip values");
    }
    dc_image *away = NULL;
    CHECK_OK(dc_image_crop(s, 20, -1, 3, 2, 7, &away));
    if (away) CHECK(away->data[0] == 7 && away->data[5] == 7, "window outside the source is all fill");
    dc_image_free(away);
    dc_rgb *o;
    CHECK_OK(dc_rgb_new(&o, 3, 1));
    for (int k = 0; k < 9; k++) o->data[k] = (uint8_t)k;
    dc_rgb_flip_x(o);
    CHECK(o->data[0] == 6 && o->data[1] == 7 && o->data[2] == 8 && o->data[3] == 3 && o->data[8] == 2, "rgb flip");
    dc_rgb_free(o);
    dc_image_free(s);
    dc_image_free(c);
}

static void draw_png(void)
{
    char dir[] = "/tmp/dc-astro-img-XXXXXX", path[80];
    if (!mkdtemp(dir)) return;
    dc_rgb *o, *back = NULL;
    CHECK_OK(dc_rgb_new(&o, 61, 41));
    dc_rgb_draw_circle(o, 30, 20, 10, 0xFF0000, 2);
    dc_rgb_draw_rect(o, -5, 2, 20, 30, 0x00FF80, 1);
    const uint8_t *on = o->data + (20 * 61 + 40) * 3, *centre = o->data + (20 * 61 + 30) * 3, *edge = o->data + (30 * 61 + 10) * 3;
    CHECK(on[0] == 255 && on[1] == 0 && centre[0] == 0, "circle: on-ring %d, centre %d", on[0], centre[0]);
    CHECK(edge[0] == 0 && edge[1] == 255 && edge[2] == 128, "rect bottom edge colour %d %d %d", edge[0], edge[1], edge[2]);
    CHECK(o->data[(15 * 61 + 10) * 3 + 1] == 0, "rect interior stays empty");
    snprintf(path, sizeof path, "%s/p.png", dir);
    CHECK_OK(dc_rgb_write_png(o, path));
    CHECK_OK(dc_rgb_read_png(path, &back));
    if (back) CHECK(back->nx == 61 && back->ny == 41 && !memcmp(back->data, o->data, 61 * 41 * 3), "PNG round trip differs");
    CHECK_FAILS(dc_rgb_read_png("/nonexistent/x.png", &back), DC_STATUS_IO, "/nonexistent/x.png");
    snprintf(path, sizeof path, "%s/not.png", dir);
    FILE *fp = fopen(path, "w");
    fputs("GIF89a", fp);
    fclose(fp);
    dc_rgb *junk = NULL;
    CHECK(dc_rgb_read_png(path, &junk) != DC_STATUS_OK && strstr(dc_error_message(), "not.png"), "bad PNG: %s", dc_error_message());
    CHECK_FAILS(dc_rgb_write_png(o, "/nonexistent/y.png"), DC_STATUS_IO, "/nonexistent/y.png");
    dc_rgb_free(o);
    dc_rgb_free(back);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
    sqrt_stretch();
    lupton();
    resample();
    crop_flip();
    draw_png();
    return dc_test_finish("test_astro_image");
}
