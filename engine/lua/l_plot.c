/* Lua binding of engine/plot: deepcee.plot{...} writes one PNG figure.
 *
 *   deepcee.plot{file = "pr.png", width = 900, height = 650,       -- pixels (defaults shown)
 *                title =, xlabel =, ylabel =, xlog =, ylog =, xmin =, xmax =, ymin =, ymax =,
 *                square =, grid = true, legend = "top-right" | "top-left" | "bottom-right" |
 *                          "bottom-left" | "none",
 *                series = {{x = {...}, y = {...}, label =, style = "line" | "points" | "linepoints",
 *                           color =, width =, labels = {per-point text}}, ...},
 *                hist = {{values = {...}, label =, color =}, ...}, bins = 20, density = false,
 *                notes = {{x =, y =, text =}, ...},
 *                lines = {{x = <vertical at> | y = <horizontal at>, label =}, ...}}
 *     -> file
 *   or, for a grid of panels: deepcee.plot{file =, width =, height =, cols =, panels = {{<the
 *   panel keys above>}, ...}}.
 * Colours are palette names ("blue", "vermillion", "green", "orange", "purple", "sky", "black",
 * "grey") or 1-based palette indices; absent: the next palette colour. Unknown keys are errors.
 * Arrays are Lua userdata, so an error anywhere leaks nothing. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lua/lua_bind.h"
#include "plot/plot.h"

static const char *const COLOR_NAMES[DC_PLOT_N_COLORS] = {"blue", "vermillion", "green", "orange",
                                                          "purple", "sky", "black", "grey"};
static const char *const PANEL_KEYS[] = {"title", "xlabel", "ylabel", "xlog", "ylog", "xmin", "xmax",
                                         "ymin", "ymax", "square", "grid", "legend", "series", "hist",
                                         "bins", "density", "notes", "lines", NULL};

/* Allocations live in a table at stack index `keep` until the call returns. */
typedef struct reader {
    lua_State *L;
    int keep;
    lua_Integer n;
} reader;

static void *keep_alloc(reader *r, size_t bytes)
{
    void *p = lua_newuserdatauv(r->L, bytes ? bytes : 1, 0);
    lua_rawseti(r->L, r->keep, ++r->n);
    return p;
}

/* Field key of the table at idx pushed; returns its type. */
static int field(lua_State *L, int idx, const char *key)
{
    return lua_getfield(L, idx, key);
}

/* The text of the value on top of the stack (a string, or a number turned into one), kept alive
 * until the call returns: a string lives in its table, a converted number in the keep table. */
static const char *keep_text(reader *r)
{
    lua_State *L = r->L;
    int number = lua_type(L, -1) == LUA_TNUMBER;
    const char *s = lua_tostring(L, -1);
    if (number) {
        lua_pushvalue(L, -1);
        lua_rawseti(L, r->keep, ++r->n);
    }
    return s;
}

static const char *opt_text(reader *r, int idx, const char *key, const char *where)
{
    lua_State *L = r->L;
    int t = field(L, idx, key);
    const char *s = NULL;
    if (t == LUA_TSTRING || t == LUA_TNUMBER) s = keep_text(r);
    else if (t != LUA_TNIL) luaL_error(L, "%s.%s must be a string, got %s", where, key, luaL_typename(L, -1));
    lua_pop(L, 1);
    return s;
}

static double opt_limit(lua_State *L, int idx, const char *key, const char *where)
{
    int t = field(L, idx, key);
    double v = NAN;
    if (t != LUA_TNIL) {
        int ok;
        v = lua_tonumberx(L, -1, &ok);
        if (!ok) luaL_error(L, "%s.%s must be a number, got %s", where, key, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return v;
}

static int opt_flag(lua_State *L, int idx, const char *key, int def, const char *where)
{
    int t = field(L, idx, key);
    int v = def;
    if (t == LUA_TBOOLEAN) v = lua_toboolean(L, -1);
    else if (t != LUA_TNIL) luaL_error(L, "%s.%s must be true or false, got %s", where, key, luaL_typename(L, -1));
    lua_pop(L, 1);
    return v;
}

static int opt_color(lua_State *L, int idx, const char *where)
{
    int t = field(L, idx, "color");
    int c = DC_PLOT_COLOR_AUTO;
    if (t == LUA_TSTRING) {
        const char *s = lua_tostring(L, -1);
        c = -2;
        for (int i = 0; i < DC_PLOT_N_COLORS; i++)
            if (strcmp(s, COLOR_NAMES[i]) == 0) c = i;
        if (c == -2)
            luaL_error(L, "%s.color '%s' is not a palette colour (blue, vermillion, green, orange, "
                       "purple, sky, black, grey)", where, s);
    } else if (t == LUA_TNUMBER) {
        lua_Integer i = lua_tointeger(L, -1);
        if (!lua_isinteger(L, -1) || i < 1 || i > DC_PLOT_N_COLORS)
            luaL_error(L, "%s.color must be a palette index 1..%d or a name", where, DC_PLOT_N_COLORS);
        c = (int)i - 1;
    } else if (t != LUA_TNIL) {
        luaL_error(L, "%s.color must be a name or an index, got %s", where, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return c;
}

/* The numbers of the array field `key` of the table at idx; *n receives the count. A missing
 * field is an error when required, else gives NULL and 0. */
static double *numbers(reader *r, int idx, const char *key, int required, const char *where, size_t *n)
{
    lua_State *L = r->L;
    int t = field(L, idx, key);
    *n = 0;
    if (t == LUA_TNIL && !required) {
        lua_pop(L, 1);
        return NULL;
    }
    if (t != LUA_TTABLE)
        luaL_error(L, "%s.%s must be a table of numbers, got %s", where, key, luaL_typename(L, -1));
    size_t len = (size_t)luaL_len(L, -1);
    double *v = keep_alloc(r, len * sizeof *v);
    for (size_t i = 0; i < len; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i + 1);
        int ok;
        v[i] = lua_tonumberx(L, -1, &ok);
        if (!ok) luaL_error(L, "%s.%s[%I] must be a number, got %s", where, key, (lua_Integer)i + 1,
                            luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    *n = len;
    return v;
}

/* The array field `key` (a list of tables) of the table at idx: pushes it (or nil) and returns
 * its length. */
static size_t list(lua_State *L, int idx, const char *key, const char *where)
{
    int t = field(L, idx, key);
    if (t == LUA_TNIL) return 0;
    if (t != LUA_TTABLE) luaL_error(L, "%s.%s must be a list of tables, got %s", where, key, luaL_typename(L, -1));
    return (size_t)luaL_len(L, -1);
}

/* Push item i of the list on top; it must be a table with only the known keys. */
static void item(lua_State *L, size_t i, const char *where, const char *const *keys)
{
    if (lua_rawgeti(L, -1, (lua_Integer)i + 1) != LUA_TTABLE)
        luaL_error(L, "%s must be a table, got %s", where, luaL_typename(L, -1));
    dc_lua_check_keys(L, -1, where, keys);
}

/* Reads one item of a list (the table at stack index it) into *elem; where names it. */
typedef void (*item_reader)(reader *r, int it, void *elem, const char *where);

/* The list field `key` of the panel at idx: each item a table with only `keys`, read by read_one
 * into an array of *n elements of `size` bytes (kept until the call returns). */
static void *read_list(reader *r, int idx, const char *key, const char *pwhere, const char *const *keys,
                       size_t size, item_reader read_one, size_t *n)
{
    lua_State *L = r->L;
    char where[96];
    *n = list(L, idx, key, pwhere);
    char *v = keep_alloc(r, *n * size);
    for (size_t k = 0; k < *n; k++) {
        snprintf(where, sizeof where, "%s.%s[%zu]", pwhere, key, k + 1);
        item(L, k, where, keys);
        read_one(r, lua_gettop(L), v + k * size, where);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return v;
}

static const char *const SERIES_KEYS[] = {"x", "y", "label", "style", "color", "width", "labels", NULL};
static void read_series(reader *r, int it, void *elem, const char *where)
{
    lua_State *L = r->L;
    dc_plot_series *s = elem;
    size_t nx, ny;
    *s = (dc_plot_series){.color = opt_color(L, it, where)};
    s->x = numbers(r, it, "x", 1, where, &nx);
    s->y = numbers(r, it, "y", 1, where, &ny);
    if (nx != ny) luaL_error(L, "%s has %I x values and %I y values", where, (lua_Integer)nx, (lua_Integer)ny);
    s->n = nx;
    s->label = opt_text(r, it, "label", where);
    const char *style = opt_text(r, it, "style", where);
    if (!style || strcmp(style, "line") == 0) s->style = DC_PLOT_STYLE_LINE;
    else if (strcmp(style, "points") == 0) s->style = DC_PLOT_STYLE_POINTS;
    else if (strcmp(style, "linepoints") == 0) s->style = DC_PLOT_STYLE_LINE_POINTS;
    else luaL_error(L, "%s.style '%s' is not one of line, points, linepoints", where, style);
    s->width = dc_lua_opt_number(L, it, "width", 1.0);
    if (field(L, it, "labels") != LUA_TNIL) {
        if (!lua_istable(L, -1)) luaL_error(L, "%s.labels must be a table of strings", where);
        const char **pl = keep_alloc(r, nx * sizeof *pl);
        for (size_t i = 0; i < nx; i++) {
            int t = lua_rawgeti(L, -1, (lua_Integer)i + 1);
            if (t == LUA_TSTRING || t == LUA_TNUMBER) pl[i] = keep_text(r);
            else if (t == LUA_TNIL || t == LUA_TBOOLEAN) pl[i] = NULL; /* false or a hole: no text */
            else luaL_error(L, "%s.labels[%I] must be a string, got %s", where, (lua_Integer)i + 1,
                            luaL_typename(L, -1));
            lua_pop(L, 1);
        }
        s->point_labels = pl;
    }
    lua_pop(L, 1); /* labels */
}

static const char *const HIST_KEYS[] = {"values", "label", "color", NULL};
static void read_hist(reader *r, int it, void *elem, const char *where)
{
    dc_plot_hist *h = elem;
    *h = (dc_plot_hist){.color = opt_color(r->L, it, where), .label = opt_text(r, it, "label", where)};
    h->values = numbers(r, it, "values", 1, where, &h->n);
}

static const char *const NOTE_KEYS[] = {"x", "y", "text", NULL};
static void read_note(reader *r, int it, void *elem, const char *where)
{
    lua_State *L = r->L;
    dc_plot_note *nt = elem;
    nt->x = opt_limit(L, it, "x", where);
    nt->y = opt_limit(L, it, "y", where);
    nt->text = opt_text(r, it, "text", where);
    if (isnan(nt->x) || isnan(nt->y) || !nt->text) luaL_error(L, "%s needs x, y and text", where);
}

static const char *const LINE_KEYS[] = {"x", "y", "label", NULL};
static void read_line(reader *r, int it, void *elem, const char *where)
{
    lua_State *L = r->L;
    double x = opt_limit(L, it, "x", where), y = opt_limit(L, it, "y", where);
    if (isnan(x) == isnan(y)) luaL_error(L, "%s needs exactly one of x (a vertical line) or y", where);
    *(dc_plot_refline *)elem = (dc_plot_refline){.at = isnan(x) ? y : x, .vertical = !isnan(x),
                                                 .label = opt_text(r, it, "label", where)};
}

static void read_panel(reader *r, int idx, dc_plot_panel *pn, const char *where)
{
    lua_State *L = r->L;
    *pn = dc_plot_panel_defaults();
    pn->title = opt_text(r, idx, "title", where);
    pn->xlabel = opt_text(r, idx, "xlabel", where);
    pn->ylabel = opt_text(r, idx, "ylabel", where);
    pn->xlog = opt_flag(L, idx, "xlog", 0, where);
    pn->ylog = opt_flag(L, idx, "ylog", 0, where);
    pn->square = opt_flag(L, idx, "square", 0, where);
    pn->grid = opt_flag(L, idx, "grid", 1, where);
    pn->density = opt_flag(L, idx, "density", 0, where);
    pn->xmin = opt_limit(L, idx, "xmin", where);
    pn->xmax = opt_limit(L, idx, "xmax", where);
    pn->ymin = opt_limit(L, idx, "ymin", where);
    pn->ymax = opt_limit(L, idx, "ymax", where);
    lua_Integer bins = dc_lua_opt_integer(L, idx, "bins", 20);
    if (bins < 1 || bins > 10000) luaL_error(L, "%s.bins = %I must be in [1, 10000]", where, bins);
    pn->bins = (int)bins;
    const char *legend = opt_text(r, idx, "legend", where);
    static const char *const names[] = {"top-right", "top-left", "bottom-right", "bottom-left", "none"};
    if (legend) {
        int found = -1;
        for (int i = 0; i < 5; i++)
            if (strcmp(legend, names[i]) == 0) found = i;
        if (found < 0)
            luaL_error(L, "%s.legend '%s' is not one of top-right, top-left, bottom-right, bottom-left, none",
                       where, legend);
        pn->legend = (dc_plot_legend)found;
    }
    pn->series = read_list(r, idx, "series", where, SERIES_KEYS, sizeof *pn->series, read_series, &pn->n_series);
    pn->hists = read_list(r, idx, "hist", where, HIST_KEYS, sizeof *pn->hists, read_hist, &pn->n_hists);
    pn->notes = read_list(r, idx, "notes", where, NOTE_KEYS, sizeof *pn->notes, read_note, &pn->n_notes);
    pn->lines = read_list(r, idx, "lines", where, LINE_KEYS, sizeof *pn->lines, read_line, &pn->n_lines);
}

/* plot{...} -> file */
static int l_plot(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_newtable(L); /* 2: keeps every allocation alive */
    reader r = {L, 2, 0};
    int has_panels = field(L, 1, "panels") != LUA_TNIL;
    lua_pop(L, 1);
    enum { N_FIG = 5 };
    const char *keys[N_FIG + sizeof PANEL_KEYS / sizeof *PANEL_KEYS] = {"file", "width", "height", "cols", "panels"};
    if (!has_panels) memcpy(keys + N_FIG, PANEL_KEYS, sizeof PANEL_KEYS);
    else keys[N_FIG] = NULL;
    dc_lua_check_keys(L, 1, has_panels ? "plot (with panels: the panel keys go inside panels[i])" : "plot", keys);

    const char *file = opt_text(&r, 1, "file", "plot");
    if (!file) luaL_error(L, "plot: give file = \"name.png\"");
    dc_plot_figure fig = {.width = (int)dc_lua_opt_integer(L, 1, "width", 900),
                          .height = (int)dc_lua_opt_integer(L, 1, "height", 650),
                          .cols = (int)dc_lua_opt_integer(L, 1, "cols", 1)};
    if (has_panels) {
        size_t n = list(L, 1, "panels", "plot");
        int lst = lua_gettop(L);
        dc_plot_panel *pn = keep_alloc(&r, n * sizeof *pn);
        char where[40];
        for (size_t p = 0; p < n; p++) {
            snprintf(where, sizeof where, "plot.panels[%zu]", p + 1);
            lua_settop(L, lst);
            item(L, p, where, PANEL_KEYS);
            read_panel(&r, lua_gettop(L), &pn[p], where);
        }
        lua_settop(L, lst - 1);
        fig.panels = pn;
        fig.n_panels = n;
    } else {
        dc_plot_panel *pn = keep_alloc(&r, sizeof *pn);
        read_panel(&r, 1, pn, "plot");
        fig.panels = pn;
        fig.n_panels = 1;
    }
    DC_LUA_TRY(L, dc_plot_write(file, &fig));
    lua_pushstring(L, file);
    return 1;
}

void dc_lua_open_plot(lua_State *L)
{
    static const luaL_Reg fns[] = {{"plot", l_plot}, {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
