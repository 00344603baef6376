/* Lua binding of the astro layer (engine/astro/astro.h). Pixel coordinates are 0-based, as in C.
 *
 *   deepcee.image(nx, ny [, fill])                  float image   :size() :get(x,y) :set(x,y,v)
 *       :resample(nx,ny) :crop(x0,y0,nx,ny[,fill]) :flip_x() :to_tensor() :free()
 *   deepcee.fits_read(path [, {hdu=, extname=}])    -> image, header
 *   deepcee.fits_write(path, image [, header [, {quantize=}]])
 *   deepcee.fits_header()                           :set(k,v[,comment]) :get(k) :comment(kind,text)
 *       :cards() :wcs()
 *   deepcee.wcs_tan{x=, y=, ra=, dec=, scale=, rot=} wcs :pix2world(x,y) :world2pix(ra,dec)
 *       (numbers or arrays) :pixel_scale(x,y) :subimage(x0,y0,scale) :to_header(header)
 *   deepcee.cutout_plan(wcs, nx, ny, ra, dec, size [, {max_offset=, seed=}]) -> table
 *   deepcee.catalog_read(path [, {map=, extname=}]) / catalog_map(cat, format) /
 *   deepcee.catalog_write(path, cat [, {format=, extname=, radius=, radius_col=, text_col=, color=,
 *       ra_col=, dec_col=}])   catalogue = {nrows=n, names={...}, units={...}, cols={name={...}}}
 *   deepcee.cosmo(z [, {h0=, om=}]) -> {comoving_mpc, angular_mpc, luminosity_mpc, kpc_per_arcsec, distmod}
 *   deepcee.composite(g, r, i [, {method="sqrt"|"lupton", lo=, hi=, minimum=, stretch=, q=}]) -> rgb
 *   deepcee.rgb(nx, ny), deepcee.png_read(path)     rgb :size() :get(x,y) :set(x,y,r,g,b)
 *       :flip_x() :dihedral(t) :photometric{lo=, hi=, scale=, sigma=, seed=}
 *       :circle(cx,cy,r,color[,thick]) :rect(x0,y0,x1,y1,color[,thick]) :write_png(path)
 *       :to_tensor([{scale=, offset=}]) :free() */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "astro/astro.h"
#include "lua/lua_bind.h"
#include "tensor.h"

#define IMAGE_KEY "deepcee.image"
#define HEADER_KEY "deepcee.fits_header"
#define WCS_KEY "deepcee.wcs"
#define RGB_KEY "deepcee.rgb"

typedef struct { void *p; } box; /* every astro userdata: the object, NULL once freed */

static void *check(lua_State *L, int idx, const char *key)
{
    box *b = luaL_checkudata(L, idx, key);
    if (!b->p) luaL_error(L, "bad argument #%d: %s was freed", idx, key + 8);
    return b->p;
}

/* Push an empty box (safe state before allocating); fill ->p afterwards. */
static box *push_box(lua_State *L, const char *key)
{
    box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->p = NULL;
    luaL_setmetatable(L, key);
    return b;
}

#define BOX_FREE(name, key, fn)                                                            \
    static int name(lua_State *L)                                                          \
    {                                                                                      \
        box *b = luaL_checkudata(L, 1, key);                                               \
        fn(b->p);                                                                          \
        b->p = NULL;                                                                       \
        return 0;                                                                          \
    }
BOX_FREE(image_free, IMAGE_KEY, dc_image_free)
BOX_FREE(header_free, HEADER_KEY, dc_fits_header_free)
BOX_FREE(wcs_free, WCS_KEY, dc_wcs_free)
BOX_FREE(rgb_free, RGB_KEY, dc_rgb_free)

static void check_opts(lua_State *L, int idx, const char *where, const char *const *known)
{
    if (!lua_isnoneornil(L, idx)) dc_lua_check_keys(L, idx, where, known);
}

/* An options table at idx, or an empty one pushed in its place, so dc_lua_opt_* can read it. */
static int opts_at(lua_State *L, int idx)
{
    lua_settop(L, idx); /* options are always the last argument */
    if (lua_isnil(L, idx)) {
        lua_newtable(L);
        lua_replace(L, idx);
    }
    return idx;
}

/* ---------------------------------------------------------------- images */

static int l_image(lua_State *L)
{
    int nx = (int)luaL_checkinteger(L, 1), ny = (int)luaL_checkinteger(L, 2);
    float fill = (float)luaL_optnumber(L, 3, 0);
    box *b = push_box(L, IMAGE_KEY);
    DC_LUA_TRY(L, dc_image_new((dc_image **)&b->p, nx, ny));
    dc_image *img = b->p;
    for (size_t i = 0; fill != 0 && i < (size_t)nx * ny; i++) img->data[i] = fill;
    return 1;
}

static int image_size(lua_State *L)
{
    dc_image *img = check(L, 1, IMAGE_KEY);
    lua_pushinteger(L, img->nx);
    lua_pushinteger(L, img->ny);
    return 2;
}

static size_t pixel_index(lua_State *L, int nx, int ny)
{
    lua_Integer x = luaL_checkinteger(L, 2), y = luaL_checkinteger(L, 3);
    if (x < 0 || y < 0 || x >= nx || y >= ny) luaL_error(L, "pixel (%d, %d) outside the %d x %d image", (int)x, (int)y, nx, ny);
    return (size_t)y * nx + (size_t)x;
}

static int image_get(lua_State *L)
{
    dc_image *img = check(L, 1, IMAGE_KEY);
    lua_pushnumber(L, img->data[pixel_index(L, img->nx, img->ny)]);
    return 1;
}

static int image_set(lua_State *L)
{
    dc_image *img = check(L, 1, IMAGE_KEY);
    img->data[pixel_index(L, img->nx, img->ny)] = (float)luaL_checknumber(L, 4);
    return 0;
}

/* img:nonfinite([x0, y0, nx, ny]) -> the count of NaN/infinite pixels in the rectangle (clipped to
 * the image; default the whole image), and the count of pixels it covers. */
static int image_nonfinite(lua_State *L)
{
    dc_image *img = check(L, 1, IMAGE_KEY);
    lua_Integer x0 = luaL_optinteger(L, 2, 0), y0 = luaL_optinteger(L, 3, 0);
    lua_Integer x1 = x0 + luaL_optinteger(L, 4, img->nx), y1 = y0 + luaL_optinteger(L, 5, img->ny);
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > img->nx) x1 = img->nx;
    if (y1 > img->ny) y1 = img->ny;
    lua_Integer bad = 0, all = 0;
    for (lua_Integer y = y0; y < y1; y++)
        for (lua_Integer x = x0; x < x1; x++) {
            all++;
            bad += !isfinite(img->data[(size_t)y * img->nx + (size_t)x]);
        }
    lua_pushinteger(L, bad);
    lua_pushinteger(L, all);
    return 2;
}

/* img:fill_nonfinite(value) -> how many NaN/infinite pixels were set to value. */
static int image_fill_nonfinite(lua_State *L)
{
    dc_image *img = check(L, 1, IMAGE_KEY);
    lua_pushinteger(L, (lua_Integer)dc_image_fill_nonfinite(img, (float)luaL_checknumber(L, 2)));
    return 1;
}

static int image_resample(lua_State *L)
{
    dc_image *img = check(L, 1, IMAGE_KEY);
    int nx = (int)luaL_checkinteger(L, 2), ny = (int)luaL_checkinteger(L, 3);
    box *b = push_box(L, IMAGE_KEY);
    DC_LUA_TRY(L, dc_image_resample(img, nx, ny, (dc_image **)&b->p));
    return 1;
}

static int image_crop(lua_State *L)
{
    dc_image *img = check(L, 1, IMAGE_KEY);
    int x0 = (int)luaL_checkinteger(L, 2), y0 = (int)luaL_checkinteger(L, 3);
    int nx = (int)luaL_checkinteger(L, 4), ny = (int)luaL_checkinteger(L, 5);
    float fill = (float)luaL_optnumber(L, 6, 0);
    box *b = push_box(L, IMAGE_KEY);
    DC_LUA_TRY(L, dc_image_crop(img, x0, y0, nx, ny, fill, (dc_image **)&b->p));
    return 1;
}

static int image_flip_x(lua_State *L)
{
    dc_image_flip_x(check(L, 1, IMAGE_KEY));
    lua_settop(L, 1);
    return 1;
}

/* Upload host floats as a new tensor of the given shape. */
static void push_tensor_from(lua_State *L, const float *host, int ndim, const int *shape, size_t n)
{
    DC_LUA_TRY(L, dc_tensor_upload(dc_lua_new_tensor(L, ndim, shape), host, n));
}

/* image:to_tensor() -> tensor {1, 1, ny, nx}, rows in image order (row 0 = FITS row 1). */
static int image_to_tensor(lua_State *L)
{
    dc_image *img = check(L, 1, IMAGE_KEY);
    int shape[4] = {1, 1, img->ny, img->nx};
    push_tensor_from(L, img->data, 4, shape, (size_t)img->nx * img->ny);
    return 1;
}

static int image_tostring(lua_State *L)
{
    box *b = luaL_checkudata(L, 1, IMAGE_KEY);
    dc_image *img = b->p;
    if (img) lua_pushfstring(L, "image %d x %d", img->nx, img->ny);
    else lua_pushliteral(L, "image (freed)");
    return 1;
}

/* ---------------------------------------------------------------- FITS */

static int l_fits_header(lua_State *L)
{
    box *b = push_box(L, HEADER_KEY);
    DC_LUA_TRY(L, dc_fits_header_new((dc_fits_header **)&b->p));
    return 1;
}

static int l_fits_read(lua_State *L)
{
    static const char *const known[] = {"hdu", "extname", NULL};
    const char *path = luaL_checkstring(L, 1);
    check_opts(L, 2, "fits_read", known);
    int o = opts_at(L, 2);
    int hdu = (int)dc_lua_opt_integer(L, o, "hdu", -1);
    const char *extname = dc_lua_opt_string(L, o, "extname", NULL);
    box *bi = push_box(L, IMAGE_KEY), *bh = push_box(L, HEADER_KEY);
    DC_LUA_TRY(L, dc_fits_image_read(path, hdu, extname, (dc_image **)&bi->p, (dc_fits_header **)&bh->p));
    return 2;
}

static int l_fits_write(lua_State *L)
{
    static const char *const known[] = {"quantize", NULL};
    const char *path = luaL_checkstring(L, 1);
    dc_image *img = check(L, 2, IMAGE_KEY);
    dc_fits_header *h = lua_isnoneornil(L, 3) ? NULL : check(L, 3, HEADER_KEY);
    check_opts(L, 4, "fits_write", known);
    dc_fits_write_opts opts = {.quantize_level = (float)dc_lua_opt_number(L, opts_at(L, 4), "quantize", 0)};
    DC_LUA_TRY(L, dc_fits_image_write(path, img, h, &opts));
    return 0;
}

/* header:set(key, value [, comment]): integers, floats, strings and booleans (as T/F strings are
 * not FITS logicals: booleans are written as integers 1/0). */
static int header_set(lua_State *L)
{
    dc_fits_header *h = check(L, 1, HEADER_KEY);
    const char *key = luaL_checkstring(L, 2), *comment = luaL_optstring(L, 4, NULL);
    dc_status st;
    if (lua_isinteger(L, 3)) st = dc_fits_header_set_int(h, key, lua_tointeger(L, 3), comment);
    else if (lua_type(L, 3) == LUA_TNUMBER) st = dc_fits_header_set_double(h, key, lua_tonumber(L, 3), comment);
    else if (lua_type(L, 3) == LUA_TBOOLEAN) st = dc_fits_header_set_int(h, key, lua_toboolean(L, 3), comment);
    else st = dc_fits_header_set_string(h, key, luaL_checkstring(L, 3), comment);
    DC_LUA_TRY(L, st);
    lua_settop(L, 1);
    return 1;
}

/* header:get(key) -> number (integer when integral), string, or nil when absent. */
static int header_get(lua_State *L)
{
    dc_fits_header *h = check(L, 1, HEADER_KEY);
    const char *key = luaL_checkstring(L, 2);
    if (!dc_fits_header_has(h, key)) return 0;
    long long i;
    double d;
    char s[80];
    if (dc_fits_header_get_int(h, key, &i) == DC_STATUS_OK) lua_pushinteger(L, i);
    else if (dc_fits_header_get_double(h, key, &d) == DC_STATUS_OK) lua_pushnumber(L, d);
    else {
        DC_LUA_TRY(L, dc_fits_header_get_string(h, key, s, sizeof s));
        lua_pushstring(L, s);
    }
    dc_error_clear();
    return 1;
}

static int header_comment(lua_State *L)
{
    dc_fits_header *h = check(L, 1, HEADER_KEY);
    DC_LUA_TRY(L, dc_fits_header_add_text(h, luaL_checkstring(L, 2), luaL_checkstring(L, 3)));
    lua_settop(L, 1);
    return 1;
}

static int header_cards(lua_State *L)
{
    dc_fits_header *h = check(L, 1, HEADER_KEY);
    int n = dc_fits_header_count(h);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, dc_fits_header_card(h, i));
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int header_wcs(lua_State *L)
{
    dc_fits_header *h = check(L, 1, HEADER_KEY);
    box *b = push_box(L, WCS_KEY);
    DC_LUA_TRY(L, dc_wcs_from_header(h, (dc_wcs **)&b->p));
    return 1;
}

/* ---------------------------------------------------------------- WCS */

static int l_wcs_tan(lua_State *L)
{
    static const char *const known[] = {"x", "y", "ra", "dec", "scale", "rot", NULL};
    luaL_checktype(L, 1, LUA_TTABLE);
    dc_lua_check_keys(L, 1, "wcs_tan", known);
    box *b = push_box(L, WCS_KEY);
    DC_LUA_TRY(L, dc_wcs_new_tan((dc_wcs **)&b->p, dc_lua_opt_number(L, 1, "x", 0), dc_lua_opt_number(L, 1, "y", 0),
                                 dc_lua_opt_number(L, 1, "ra", 0), dc_lua_opt_number(L, 1, "dec", 0),
                                 dc_lua_opt_number(L, 1, "scale", 0.396), dc_lua_opt_number(L, 1, "rot", 0)));
    return 1;
}

/* Numbers in, numbers out; or two equal-length arrays in, two arrays out. */
static int wcs_transform(lua_State *L, int to_world)
{
    dc_wcs *w = check(L, 1, WCS_KEY);
    if (lua_type(L, 2) == LUA_TNUMBER) {
        double a = luaL_checknumber(L, 2), b = luaL_checknumber(L, 3), oa, ob;
        DC_LUA_TRY(L, to_world ? dc_wcs_pix2world(w, 1, &a, &b, &oa, &ob) : dc_wcs_world2pix(w, 1, &a, &b, &oa, &ob));
        lua_pushnumber(L, oa);
        lua_pushnumber(L, ob);
        return 2;
    }
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    int n = (int)luaL_len(L, 2);
    if (luaL_len(L, 3) != n) return luaL_error(L, "coordinate arrays differ in length (%d and %d)", n, (int)luaL_len(L, 3));
    double *v = lua_newuserdatauv(L, sizeof(double) * 4 * (size_t)(n ? n : 1), 0); /* collected with the stack */
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, 2, i + 1);
        lua_rawgeti(L, 3, i + 1);
        v[i] = luaL_checknumber(L, -2);
        v[n + i] = luaL_checknumber(L, -1);
        lua_pop(L, 2);
    }
    DC_LUA_TRY(L, to_world ? dc_wcs_pix2world(w, n, v, v + n, v + 2 * n, v + 3 * n) : dc_wcs_world2pix(w, n, v, v + n, v + 2 * n, v + 3 * n));
    for (int k = 2; k < 4; k++) {
        lua_createtable(L, n, 0);
        for (int i = 0; i < n; i++) {
            lua_pushnumber(L, v[k * n + i]);
            lua_rawseti(L, -2, i + 1);
        }
    }
    return 2;
}

static int wcs_pix2world(lua_State *L) { return wcs_transform(L, 1); }
static int wcs_world2pix(lua_State *L) { return wcs_transform(L, 0); }

static int wcs_pixel_scale(lua_State *L)
{
    double s;
    DC_LUA_TRY(L, dc_wcs_pixel_scale(check(L, 1, WCS_KEY), luaL_optnumber(L, 2, 0), luaL_optnumber(L, 3, 0), &s));
    lua_pushnumber(L, s);
    return 1;
}

static int wcs_subimage(lua_State *L)
{
    dc_wcs *w = check(L, 1, WCS_KEY);
    double x0 = luaL_checknumber(L, 2), y0 = luaL_checknumber(L, 3), scale = luaL_optnumber(L, 4, 1);
    box *b = push_box(L, WCS_KEY);
    DC_LUA_TRY(L, dc_wcs_subimage(w, x0, y0, scale, (dc_wcs **)&b->p));
    return 1;
}

static int wcs_to_header(lua_State *L)
{
    DC_LUA_TRY(L, dc_wcs_to_header(check(L, 1, WCS_KEY), check(L, 2, HEADER_KEY)));
    lua_settop(L, 2);
    return 1;
}

static int l_cutout_plan(lua_State *L)
{
    static const char *const known[] = {"max_offset", "seed", NULL};
    dc_wcs *w = check(L, 1, WCS_KEY);
    int nx = (int)luaL_checkinteger(L, 2), ny = (int)luaL_checkinteger(L, 3);
    double ra = luaL_checknumber(L, 4), dec = luaL_checknumber(L, 5);
    int size = (int)luaL_checkinteger(L, 6);
    check_opts(L, 7, "cutout_plan", known);
    int o = opts_at(L, 7);
    double max_offset = dc_lua_opt_number(L, o, "max_offset", 0);
    dc_rng rng;
    dc_rng_seed(&rng, (uint64_t)dc_lua_opt_integer(L, o, "seed", 0));
    dc_cutout c;
    DC_LUA_TRY(L, dc_cutout_plan(w, nx, ny, ra, dec, size, max_offset, &rng, &c));
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, c.x0), lua_setfield(L, -2, "x0");
    lua_pushinteger(L, c.y0), lua_setfield(L, -2, "y0");
    lua_pushinteger(L, c.size), lua_setfield(L, -2, "size");
    lua_pushnumber(L, c.dx_arcsec), lua_setfield(L, -2, "dx_arcsec");
    lua_pushnumber(L, c.dy_arcsec), lua_setfield(L, -2, "dy_arcsec");
    lua_pushnumber(L, c.tx), lua_setfield(L, -2, "tx");
    lua_pushnumber(L, c.ty), lua_setfield(L, -2, "ty");
    lua_pushboolean(L, c.inside), lua_setfield(L, -2, "inside");
    return 1;
}

/* ---------------------------------------------------------------- catalogues */

/* {nrows=, names={...}, units={...}, cols={name={...}}}; NaN stays NaN. */
static void push_catalog(lua_State *L, const dc_catalog *c)
{
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, c->nrows);
    lua_setfield(L, -2, "nrows");
    lua_pushstring(L, c->source);
    lua_setfield(L, -2, "source");
    lua_createtable(L, c->ncols, 0); /* names */
    lua_createtable(L, 0, c->ncols); /* units */
    lua_createtable(L, 0, c->ncols); /* cols */
    for (int k = 0; k < c->ncols; k++) {
        const dc_catalog_column *col = &c->cols[k];
        lua_pushstring(L, col->name);
        lua_rawseti(L, -4, k + 1);
        lua_pushstring(L, col->unit);
        lua_setfield(L, -3, col->name);
        lua_createtable(L, (int)c->nrows, 0);
        for (long r = 0; r < c->nrows; r++) {
            if (col->num) lua_pushnumber(L, col->num[r]);
            else lua_pushstring(L, col->str[r]);
            lua_rawseti(L, -2, r + 1);
        }
        lua_setfield(L, -2, col->name);
    }
    lua_setfield(L, -4, "cols");
    lua_setfield(L, -3, "units");
    lua_setfield(L, -2, "names");
}

/* Fill *slot (held by a catalog_guard, so a Lua error cannot leak it) from the Lua catalogue at
 * idx: columns in `names` order, else every key of cols. */
static dc_catalog *to_catalog(lua_State *L, int idx, dc_catalog **slot)
{
    idx = lua_absindex(L, idx);
    luaL_checktype(L, idx, LUA_TTABLE);
    if (lua_getfield(L, idx, "cols") != LUA_TTABLE) luaL_error(L, "a catalogue needs a 'cols' table of columns");
    int cols = lua_gettop(L);
    if (lua_getfield(L, idx, "names") != LUA_TTABLE) { /* no order given: every column of cols */
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushnil(L);
        for (int k = 1; lua_next(L, cols); k++) {
            lua_pop(L, 1);
            lua_pushvalue(L, -1);
            lua_rawseti(L, -3, k);
        }
    }
    int names = lua_gettop(L), ncols = (int)luaL_len(L, names);
    long nrows = -1;
    lua_getfield(L, idx, "nrows");
    if (lua_isinteger(L, -1)) nrows = (long)lua_tointeger(L, -1);
    lua_pop(L, 1);
    for (int k = 1; k <= ncols && nrows < 0; k++) { /* rows from the first column */
        lua_rawgeti(L, names, k);
        lua_gettable(L, cols);
        if (lua_istable(L, -1)) nrows = (long)luaL_len(L, -1);
        lua_pop(L, 1);
    }
    DC_LUA_TRY(L, dc_catalog_new(slot, nrows < 0 ? 0 : nrows));
    dc_catalog *c = *slot;
    lua_getfield(L, idx, "units");
    int units = lua_gettop(L);
    for (int k = 1; k <= ncols; k++) {
        lua_rawgeti(L, names, k);
        const char *name = lua_tostring(L, -1);
        if (!name) luaL_error(L, "catalogue column name %d is not a string", k);
        if (lua_getfield(L, cols, name) != LUA_TTABLE) luaL_error(L, "catalogue column '%s' is not a table", name);
        int is_str = 0;
        for (long r = 1; r <= c->nrows && !is_str; r++) {
            is_str = lua_rawgeti(L, -1, r) == LUA_TSTRING;
            lua_pop(L, 1);
        }
        const char *unit = NULL;
        if (lua_istable(L, units)) {
            lua_getfield(L, units, name);
            unit = lua_tostring(L, -1);
            lua_pop(L, 1);
        }
        double *num = NULL;
        DC_LUA_TRY(L, is_str ? dc_catalog_add_string(c, name, NULL) : dc_catalog_add_double(c, name, unit, NULL, &num));
        for (long r = 0; r < c->nrows; r++) {
            int t = lua_rawgeti(L, -1, r + 1);
            if (is_str) DC_LUA_TRY(L, dc_catalog_set_string(c, k - 1, r, t == LUA_TNIL ? "" : luaL_tolstring(L, -1, NULL)));
            else if (t == LUA_TNUMBER) num[r] = lua_tonumber(L, -1);
            else if (t != LUA_TNIL) luaL_error(L, "catalogue column '%s' row %d: %s is not a number", name, (int)r + 1, luaL_typename(L, -1));
            lua_settop(L, units + 2);
        }
        lua_pop(L, 2);
    }
    lua_settop(L, cols - 1);
    return c;
}

static dc_catalog_format parse_format(lua_State *L, const char *s)
{
    static const char *const names[] = {"auto", "canonical", "whl12", "redmapper", NULL};
    static const dc_catalog_format fmts[] = {DC_CATALOG_FORMAT_AUTO, DC_CATALOG_FORMAT_CANONICAL, DC_CATALOG_FORMAT_WHL12, DC_CATALOG_FORMAT_REDMAPPER};
    for (int i = 0; names[i]; i++)
        if (!strcmp(s, names[i])) return fmts[i];
    luaL_error(L, "unknown catalogue format '%s' (auto, canonical, whl12, redmapper)", s);
    return DC_CATALOG_FORMAT_AUTO;
}

/* A userdata that frees the dc_catalog it holds when collected, so Lua errors cannot leak it. */
static dc_catalog **catalog_guard(lua_State *L)
{
    dc_catalog **slot = lua_newuserdatauv(L, sizeof *slot, 0);
    *slot = NULL;
    luaL_setmetatable(L, "deepcee.catalog_guard");
    return slot;
}

static int catalog_guard_gc(lua_State *L)
{
    dc_catalog **slot = lua_touserdata(L, 1);
    dc_catalog_free(*slot);
    *slot = NULL;
    return 0;
}

static int l_catalog_read(lua_State *L)
{
    static const char *const known[] = {"map", "extname", NULL};
    const char *path = luaL_checkstring(L, 1);
    check_opts(L, 2, "catalog_read", known);
    int o = opts_at(L, 2);
    const char *map = dc_lua_opt_string(L, o, "map", NULL), *extname = dc_lua_opt_string(L, o, "extname", NULL);
    dc_catalog_format fmt = map ? parse_format(L, map) : DC_CATALOG_FORMAT_AUTO;
    dc_catalog **raw = catalog_guard(L), **mapped = catalog_guard(L);
    DC_LUA_TRY(L, extname ? dc_catalog_read_fits(path, extname, raw) : dc_catalog_read(path, raw));
    if (map) DC_LUA_TRY(L, dc_catalog_map(*raw, fmt, mapped, NULL));
    push_catalog(L, map ? *mapped : *raw);
    return 1;
}

static int l_catalog_map(lua_State *L)
{
    dc_catalog_format fmt = parse_format(L, luaL_optstring(L, 2, "auto")), used;
    dc_catalog **src = catalog_guard(L), **out = catalog_guard(L);
    to_catalog(L, 1, src);
    DC_LUA_TRY(L, dc_catalog_map(*src, fmt, out, &used));
    push_catalog(L, *out);
    lua_pushstring(L, used == DC_CATALOG_FORMAT_WHL12 ? "whl12" : used == DC_CATALOG_FORMAT_REDMAPPER ? "redmapper" : "canonical");
    return 2;
}

static int l_catalog_write(lua_State *L)
{
    static const char *const known[] = {"format", "extname", "radius", "radius_col", "text_col", "color", "ra_col", "dec_col", NULL};
    const char *path = luaL_checkstring(L, 1);
    check_opts(L, 3, "catalog_write", known);
    int o = opts_at(L, 3);
    const char *format = dc_lua_opt_string(L, o, "format", NULL);
    if (!format) {
        const char *dot = strrchr(path, '.');
        format = dot && !strcmp(dot, ".csv") ? "csv" : dot && !strcmp(dot, ".reg") ? "ds9" : "fits";
    }
    dc_ds9_style style = {.ra_col = dc_lua_opt_string(L, o, "ra_col", NULL), .dec_col = dc_lua_opt_string(L, o, "dec_col", NULL),
                          .radius_arcsec = dc_lua_opt_number(L, o, "radius", 30), .radius_col = dc_lua_opt_string(L, o, "radius_col", NULL),
                          .text_col = dc_lua_opt_string(L, o, "text_col", NULL), .color = dc_lua_opt_string(L, o, "color", NULL)};
    const char *extname = dc_lua_opt_string(L, o, "extname", NULL);
    dc_catalog **c = catalog_guard(L);
    to_catalog(L, 2, c);
    if (!strcmp(format, "csv")) DC_LUA_TRY(L, dc_catalog_write_csv(*c, path));
    else if (!strcmp(format, "ds9")) DC_LUA_TRY(L, dc_catalog_write_ds9(*c, path, &style));
    else if (!strcmp(format, "fits")) DC_LUA_TRY(L, dc_catalog_write_fits(*c, path, extname));
    else return luaL_error(L, "catalog_write: unknown format '%s' (fits, csv, ds9)", format);
    return 0;
}

/* ---------------------------------------------------------------- cosmology */

static int l_cosmo(lua_State *L)
{
    static const char *const known[] = {"h0", "om", NULL};
    double z = luaL_checknumber(L, 1);
    check_opts(L, 2, "cosmo", known);
    int o = opts_at(L, 2);
    dc_cosmo c = dc_cosmo_paper();
    c.h0 = dc_lua_opt_number(L, o, "h0", c.h0);
    c.om = dc_lua_opt_number(L, o, "om", c.om);
    if (!(c.h0 > 0) || !(c.om >= 0 && c.om <= 1)) return luaL_error(L, "cosmo: need h0 > 0 and 0 <= om <= 1, got %f, %f", c.h0, c.om);
    if (!(z >= 0)) return luaL_error(L, "cosmo: redshift must be >= 0, got %f", z);
    lua_createtable(L, 0, 5);
    lua_pushnumber(L, dc_cosmo_comoving_mpc(&c, z)), lua_setfield(L, -2, "comoving_mpc");
    lua_pushnumber(L, dc_cosmo_angular_mpc(&c, z)), lua_setfield(L, -2, "angular_mpc");
    lua_pushnumber(L, dc_cosmo_luminosity_mpc(&c, z)), lua_setfield(L, -2, "luminosity_mpc");
    lua_pushnumber(L, dc_cosmo_kpc_per_arcsec(&c, z)), lua_setfield(L, -2, "kpc_per_arcsec");
    lua_pushnumber(L, dc_cosmo_distmod(&c, z)), lua_setfield(L, -2, "distmod");
    return 1;
}

/* ---------------------------------------------------------------- pictures */

static void opt_triple(lua_State *L, int o, const char *where, const char *key, float out[3], float def)
{
    out[0] = out[1] = out[2] = def;
    int t = lua_getfield(L, o, key);
    if (t == LUA_TNUMBER) out[0] = out[1] = out[2] = (float)lua_tonumber(L, -1);
    else if (t == LUA_TTABLE)
        for (int k = 0; k < 3; k++) {
            lua_rawgeti(L, -1, k + 1);
            if (!lua_isnumber(L, -1)) luaL_error(L, "%s: %s[%d] must be a number", where, key, k + 1);
            out[k] = (float)lua_tonumber(L, -1);
            lua_pop(L, 1);
        }
    else if (t != LUA_TNIL) luaL_error(L, "%s: %s must be a number or {R, G, B}", where, key);
    lua_pop(L, 1);
}

static int l_composite(lua_State *L)
{
    static const char *const known[] = {"method", "lo", "hi", "minimum", "stretch", "q", NULL};
    dc_image *g = check(L, 1, IMAGE_KEY), *r = check(L, 2, IMAGE_KEY), *i = check(L, 3, IMAGE_KEY);
    check_opts(L, 4, "composite", known);
    int o = opts_at(L, 4);
    const char *method = dc_lua_opt_string(L, o, "method", "sqrt");
    dc_composite_params p = {.stretch = DC_STRETCH_SQRT};
    if (!strcmp(method, "lupton")) p.stretch = DC_STRETCH_LUPTON;
    else if (strcmp(method, "sqrt")) return luaL_error(L, "composite: unknown method '%s' (sqrt, lupton)", method);
    opt_triple(L, o, "composite", "lo", p.lo, 0);
    opt_triple(L, o, "composite", "hi", p.hi, 1);
    opt_triple(L, o, "composite", "minimum", p.minimum, 0);
    p.lupton_stretch = (float)dc_lua_opt_number(L, o, "stretch", 5); /* astropy's defaults */
    p.q = (float)dc_lua_opt_number(L, o, "q", 8);
    box *b = push_box(L, RGB_KEY);
    DC_LUA_TRY(L, dc_composite_make(g, r, i, &p, (dc_rgb **)&b->p));
    return 1;
}

static int l_rgb(lua_State *L)
{
    int nx = (int)luaL_checkinteger(L, 1), ny = (int)luaL_checkinteger(L, 2);
    box *b = push_box(L, RGB_KEY);
    DC_LUA_TRY(L, dc_rgb_new((dc_rgb **)&b->p, nx, ny));
    return 1;
}

static int l_png_read(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    box *b = push_box(L, RGB_KEY);
    DC_LUA_TRY(L, dc_rgb_read_png(path, (dc_rgb **)&b->p));
    return 1;
}

static int rgb_size(lua_State *L)
{
    dc_rgb *img = check(L, 1, RGB_KEY);
    lua_pushinteger(L, img->nx);
    lua_pushinteger(L, img->ny);
    return 2;
}

static int rgb_get(lua_State *L)
{
    dc_rgb *img = check(L, 1, RGB_KEY);
    const uint8_t *px = img->data + 3 * pixel_index(L, img->nx, img->ny);
    for (int k = 0; k < 3; k++) lua_pushinteger(L, px[k]);
    return 3;
}

static int rgb_set(lua_State *L)
{
    dc_rgb *img = check(L, 1, RGB_KEY);
    uint8_t *px = img->data + 3 * pixel_index(L, img->nx, img->ny);
    for (int k = 0; k < 3; k++) {
        lua_Integer v = luaL_checkinteger(L, 4 + k);
        luaL_argcheck(L, v >= 0 && v <= 255, 4 + k, "a channel value is 0..255");
        px[k] = (uint8_t)v;
    }
    return 0;
}

static int rgb_flip_x(lua_State *L)
{
    dc_rgb_flip_x(check(L, 1, RGB_KEY));
    lua_settop(L, 1);
    return 1;
}

/* rgb:dihedral(t): one of the 8 grid symmetries in place (astro.h: mirror when t >= 4, then t % 4
 * quarter turns anticlockwise); returns the picture */
static int rgb_dihedral(lua_State *L)
{
    dc_rgb *img = check(L, 1, RGB_KEY);
    lua_Integer t = luaL_checkinteger(L, 2);
    luaL_argcheck(L, t >= 0 && t <= 7, 2, "a dihedral transform is numbered 0 to 7");
    DC_LUA_TRY(L, dc_rgb_dihedral(img, (int)t));
    lua_settop(L, 1);
    return 1;
}

/* rgb:photometric{lo=, hi=, scale=, sigma=, seed=} (numbers or {R, G, B}; defaults 0, 1, 1, 0, 0):
 * invert the sqrt stretch, scale the flux, add noise, re-stretch, in place; returns the picture */
static int rgb_photometric(lua_State *L)
{
    static const char *const known[] = {"lo", "hi", "scale", "sigma", "seed", NULL};
    dc_rgb *img = check(L, 1, RGB_KEY);
    luaL_checktype(L, 2, LUA_TTABLE);
    check_opts(L, 2, "photometric", known);
    int o = opts_at(L, 2);
    dc_photometric_params p;
    opt_triple(L, o, "photometric", "lo", p.lo, 0);
    opt_triple(L, o, "photometric", "hi", p.hi, 1);
    opt_triple(L, o, "photometric", "scale", p.scale, 1);
    opt_triple(L, o, "photometric", "sigma", p.sigma, 0);
    lua_getfield(L, o, "seed");
    int ok = 1;
    p.seed = lua_isnil(L, -1) ? 0 : (uint64_t)lua_tointegerx(L, -1, &ok);
    if (!ok) return luaL_error(L, "photometric: seed must be an integer");
    lua_pop(L, 1);
    DC_LUA_TRY(L, dc_rgb_photometric(img, &p));
    lua_settop(L, 1);
    return 1;
}

static int rgb_circle(lua_State *L)
{
    dc_rgb *img = check(L, 1, RGB_KEY);
    dc_rgb_draw_circle(img, luaL_checknumber(L, 2), luaL_checknumber(L, 3), luaL_checknumber(L, 4),
                       (uint32_t)luaL_checkinteger(L, 5), (int)luaL_optinteger(L, 6, 1));
    lua_settop(L, 1);
    return 1;
}

static int rgb_rect(lua_State *L)
{
    dc_rgb *img = check(L, 1, RGB_KEY);
    dc_rgb_draw_rect(img, (int)luaL_checkinteger(L, 2), (int)luaL_checkinteger(L, 3), (int)luaL_checkinteger(L, 4),
                     (int)luaL_checkinteger(L, 5), (uint32_t)luaL_checkinteger(L, 6), (int)luaL_optinteger(L, 7, 1));
    lua_settop(L, 1);
    return 1;
}

static int rgb_write_png(lua_State *L)
{
    DC_LUA_TRY(L, dc_rgb_write_png(check(L, 1, RGB_KEY), luaL_checkstring(L, 2)));
    return 0;
}

/* rgb:to_tensor([{scale=, offset=}]) -> tensor {1, 3, ny, nx} of value*scale + offset; the default
 * maps 0..255 to [-1, 1] as the paper's detector input (docs/facts.md section 1). */
static int rgb_to_tensor(lua_State *L)
{
    static const char *const known[] = {"scale", "offset", NULL};
    dc_rgb *img = check(L, 1, RGB_KEY);
    check_opts(L, 2, "to_tensor", known);
    int o = opts_at(L, 2);
    float scale = (float)dc_lua_opt_number(L, o, "scale", 2.0 / 255), offset = (float)dc_lua_opt_number(L, o, "offset", -1);
    size_t plane = (size_t)img->nx * img->ny;
    float *host = lua_newuserdatauv(L, 3 * plane * sizeof *host, 0);
    for (size_t i = 0; i < plane; i++)
        for (int k = 0; k < 3; k++) host[k * plane + i] = img->data[3 * i + k] * scale + offset;
    int shape[4] = {1, 3, img->ny, img->nx};
    push_tensor_from(L, host, 4, shape, 3 * plane);
    return 1;
}

static int rgb_tostring(lua_State *L)
{
    box *b = luaL_checkudata(L, 1, RGB_KEY);
    dc_rgb *img = b->p;
    if (img) lua_pushfstring(L, "rgb %d x %d", img->nx, img->ny);
    else lua_pushliteral(L, "rgb (freed)");
    return 1;
}

/* ---------------------------------------------------------------- registration */

static void new_type(lua_State *L, const char *key, lua_CFunction gc, lua_CFunction tostring, const luaL_Reg *methods)
{
    luaL_newmetatable(L, key);
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__close");
    if (tostring) {
        lua_pushcfunction(L, tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "free");
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

void dc_lua_open_astro(lua_State *L)
{
    static const luaL_Reg image_m[] = {{"size", image_size}, {"get", image_get}, {"set", image_set},
                                       {"resample", image_resample}, {"crop", image_crop}, {"flip_x", image_flip_x},
                                       {"to_tensor", image_to_tensor}, {"nonfinite", image_nonfinite},
                                       {"fill_nonfinite", image_fill_nonfinite}, {NULL, NULL}};
    static const luaL_Reg header_m[] = {{"set", header_set}, {"get", header_get}, {"comment", header_comment},
                                        {"cards", header_cards}, {"wcs", header_wcs}, {NULL, NULL}};
    static const luaL_Reg wcs_m[] = {{"pix2world", wcs_pix2world}, {"world2pix", wcs_world2pix},
                                     {"pixel_scale", wcs_pixel_scale}, {"subimage", wcs_subimage},
                                     {"to_header", wcs_to_header}, {NULL, NULL}};
    static const luaL_Reg rgb_m[] = {{"size", rgb_size}, {"get", rgb_get}, {"set", rgb_set}, {"flip_x", rgb_flip_x},
                                     {"dihedral", rgb_dihedral}, {"photometric", rgb_photometric},
                                     {"circle", rgb_circle}, {"rect", rgb_rect}, {"write_png", rgb_write_png},
                                     {"to_tensor", rgb_to_tensor}, {NULL, NULL}};
    new_type(L, IMAGE_KEY, image_free, image_tostring, image_m);
    new_type(L, HEADER_KEY, header_free, NULL, header_m);
    new_type(L, WCS_KEY, wcs_free, NULL, wcs_m);
    new_type(L, RGB_KEY, rgb_free, rgb_tostring, rgb_m);
    luaL_newmetatable(L, "deepcee.catalog_guard");
    lua_pushcfunction(L, catalog_guard_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    static const luaL_Reg fns[] = {{"image", l_image}, {"fits_read", l_fits_read}, {"fits_write", l_fits_write},
                                   {"fits_header", l_fits_header}, {"wcs_tan", l_wcs_tan}, {"cutout_plan", l_cutout_plan},
                                   {"catalog_read", l_catalog_read}, {"catalog_map", l_catalog_map},
                                   {"catalog_write", l_catalog_write}, {"cosmo", l_cosmo}, {"composite", l_composite},
                                   {"rgb", l_rgb}, {"png_read", l_png_read}, {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
