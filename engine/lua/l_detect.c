/* The detector kernels (engine/detect/detect.h) on Lua tensors. Boxes are [N, 4] tensors
 * [ymin, xmin, ymax, xmax]; indices seen from Lua are 1-based. Options are tables whose unknown
 * keys are errors; every default is the paper's (detect.h's *_paper/_rpn/_dn functions).
 *
 *   a = dc.anchors(grid_h, grid_w [, {scales, ratios, base_size, stride, offset}])
 *   rows = dc.head_to_anchors(head, k)      dhead = dc.head_to_anchors_backward(head, drows, k)
 *   d = dc.box_encode(boxes, anchors [, coder])    b = dc.box_decode(deltas, anchors [, coder])
 *       (coder: {sy, sx, sh, sw}, default {10, 10, 5, 5})
 *   dc.box_clip(boxes, height, width)  -- in place     s = dc.box_scale(boxes, sy, sx [, out])
 *   m = dc.box_iou(a, b)
 *   keep = dc.nms(boxes, scores, {iou = 0.7, max_keep = n, n = rows})   -- 1-based indices
 *   boxes, scores, n = dc.proposals(anchors, scores, deltas, {height, width, pre_nms_top_k,
 *       nms_iou, max_proposals, min_size, coder})
 *   t = dc.targets(candidates, gt, {height, width, seed, kind = "rpn" | "dn", n, classes,
 *       pos_iou, neg_iou, force_best, drop_border, batch, max_pos, coder})
 *       gt: list of {ymin, xmin, ymax, xmax}; t: {labels, cls_weights, reg_targets, reg_weights,
 *       n_valid, n_pos, n_neg, n_pos_sampled, n_neg_sampled}; seed fixes the sampling
 *   crops = dc.crop_resize(feat, boxes [, {crop = 14 | {h, w}, box_index, extrapolation = 0}])
 *   dfeat = dc.crop_resize_backward(feat, boxes, dcrops [, {box_index}])
 *   dets = dc.postprocess(proposals, logits, deltas, {height, width, n, nms_iou, max_per_class,
 *       max_total, coder})   -- list of {box = {..}, score, label} */
#include <string.h>

#include "detect/detect.h"
#include "lua/lua_bind.h"

/* The options table at idx (an empty one when absent), checked against known keys. */
static int check_opts(lua_State *L, int idx, const char *where, const char *const *known)
{
    if (lua_isnoneornil(L, idx)) {
        lua_settop(L, idx); /* the options are the last argument */
        lua_newtable(L);
        lua_replace(L, idx);
    }
    dc_lua_check_keys(L, idx, where, known);
    return lua_absindex(L, idx);
}

/* Field key of the options at idx as a list of at most max numbers; returns the count, or -1
 * when absent. */
static int opt_numbers(lua_State *L, int idx, const char *where, const char *key, double *v,
                       int max)
{
    int t = lua_getfield(L, idx, key);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return -1;
    }
    if (t != LUA_TTABLE) luaL_error(L, "%s: key '%s' must be a list of numbers", where, key);
    int n = (int)luaL_len(L, -1);
    if (n > max) luaL_error(L, "%s: key '%s' has %d values; at most %d", where, key, n, max);
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, -1, i + 1);
        int ok;
        v[i] = lua_tonumberx(L, -1, &ok);
        if (!ok) luaL_error(L, "%s: key '%s' value %d is not a number", where, key, i + 1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return n;
}

/* A box coder from a list of four scale factors (absent: the paper's). */
static void opt_coder(lua_State *L, int idx, const char *where, const char *key, dc_box_coder *c)
{
    double v[4];
    dc_box_coder_paper(c);
    int n = opt_numbers(L, idx, where, key, v, 4);
    if (n < 0) return;
    if (n != 4) luaL_error(L, "%s: key '%s' needs four scale factors {sy, sx, sh, sw}", where, key);
    for (int i = 0; i < 4; i++) c->scale[i] = (float)v[i];
}

/* Coder as the optional positional argument idx (a list of four numbers). */
static int arg_coder(lua_State *L, int idx, const char *where, dc_box_coder *c)
{
    if (lua_isnoneornil(L, idx)) return 0;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_createtable(L, 0, 1);
    lua_pushvalue(L, idx);
    lua_setfield(L, -2, "coder");
    opt_coder(L, lua_gettop(L), where, "coder", c);
    lua_pop(L, 1);
    return 1;
}

/* An integer option that must fit an int and lie in [lo, hi]. */
static int opt_int(lua_State *L, int idx, const char *where, const char *key, lua_Integer def,
                   lua_Integer lo, lua_Integer hi)
{
    lua_Integer v = dc_lua_opt_integer(L, idx, key, def);
    if (v < lo || v > hi)
        luaL_error(L, "%s: key '%s' is %I; it must lie in [%I, %I]", where, key, v, lo, hi);
    return (int)v;
}

/* Required positive number option. */
static float opt_size(lua_State *L, int idx, const char *where, const char *key)
{
    if (lua_getfield(L, idx, key) == LUA_TNIL)
        luaL_error(L, "%s: key '%s' (the image size in pixels) is required", where, key);
    lua_pop(L, 1);
    return (float)dc_lua_opt_number(L, idx, key, 0);
}

/* Host int array of box indices (0-based, from Lua's 0-based image numbers) in a userdata on
 * the stack, or NULL when the key is absent. */
static int *opt_box_index(lua_State *L, int idx, const char *where, int n)
{
    if (lua_getfield(L, idx, "box_index") == LUA_TNIL) {
        lua_pop(L, 1);
        return NULL;
    }
    if (!lua_istable(L, -1) || luaL_len(L, -1) != n)
        luaL_error(L, "%s: box_index must list one image number (0-based) per box (%d)", where, n);
    int tbl = lua_gettop(L);
    int *v = lua_newuserdatauv(L, (size_t)n * sizeof *v + 1, 0);
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, tbl, i + 1);
        int ok;
        lua_Integer x = lua_tointegerx(L, -1, &ok);
        if (!ok || x < 0 || x > 1 << 30)
            luaL_error(L, "%s: box_index[%d] must be a non-negative integer", where, i + 1);
        v[i] = (int)x;
        lua_pop(L, 1);
    }
    lua_remove(L, tbl); /* keep the userdata on the stack */
    return v;
}

/* ------------------------------------------------------------------ anchors and boxes */

static int l_anchors(lua_State *L)
{
    static const char *const keys[] = {"scales", "ratios", "base_size", "stride", "offset", NULL};
    const int gh = (int)luaL_checkinteger(L, 1), gw = (int)luaL_checkinteger(L, 2);
    int o = check_opts(L, 3, "anchors", keys);
    dc_anchor_params p;
    dc_anchor_params_paper(&p);
    double v[DC_ANCHOR_MAX_SIZES];
    int n = opt_numbers(L, o, "anchors", "scales", v, DC_ANCHOR_MAX_SIZES);
    if (n >= 0) {
        p.n_scales = n;
        for (int i = 0; i < n; i++) p.scales[i] = (float)v[i];
    }
    n = opt_numbers(L, o, "anchors", "ratios", v, DC_ANCHOR_MAX_SIZES);
    if (n >= 0) {
        p.n_ratios = n;
        for (int i = 0; i < n; i++) p.ratios[i] = (float)v[i];
    }
    p.base_size = (float)dc_lua_opt_number(L, o, "base_size", p.base_size);
    p.stride = (float)dc_lua_opt_number(L, o, "stride", p.stride);
    p.offset = (float)dc_lua_opt_number(L, o, "offset", p.offset);
    const lua_Integer rows = (lua_Integer)gh * gw * dc_anchor_per_position(&p);
    if (gh < 1 || gw < 1 || rows < 1 || rows > 1 << 28)
        luaL_error(L, "anchors: the feature grid is %d x %d with %d anchors per position; it "
                   "needs at least one cell and anchor", gh, gw, dc_anchor_per_position(&p));
    dc_tensor *out = dc_lua_new_tensor(L, 2, (int[]){(int)rows, 4});
    DC_LUA_TRY(L, dc_anchors_generate(dc_lua_ctx(L), &p, gh, gw, out));
    return 1;
}

static int l_head_to_anchors(lua_State *L)
{
    dc_tensor *head = dc_lua_check_tensor(L, 1);
    const int k = (int)luaL_checkinteger(L, 2);
    if (head->ndim != 4 || k < 1 || head->shape[1] % k)
        luaL_error(L, "head_to_anchors: head must be [B, A*k, H, W] with k = %d", k);
    const int rows = head->shape[0] * head->shape[2] * head->shape[3] * (head->shape[1] / k);
    dc_tensor *out = dc_lua_new_tensor(L, 2, (int[]){rows, k});
    DC_LUA_TRY(L, dc_head_to_anchors_forward(dc_lua_ctx(L), head, k, out));
    return 1;
}

static int l_head_to_anchors_backward(lua_State *L)
{
    dc_tensor *head = dc_lua_check_tensor(L, 1), *grad = dc_lua_check_tensor(L, 2);
    const int k = (int)luaL_checkinteger(L, 3);
    dc_tensor *out = dc_lua_new_tensor(L, head->ndim, head->shape);
    DC_LUA_TRY(L, dc_head_to_anchors_backward(dc_lua_ctx(L), grad, k, out));
    return 1;
}

static int coder_op(lua_State *L, int decode)
{
    const char *where = decode ? "box_decode" : "box_encode";
    dc_tensor *a = dc_lua_check_tensor(L, 1), *anchors = dc_lua_check_tensor(L, 2);
    dc_box_coder c;
    const int given = arg_coder(L, 3, where, &c);
    dc_tensor *out = dc_lua_new_tensor(L, a->ndim, a->shape);
    if (decode) DC_LUA_TRY(L, dc_box_decode(dc_lua_ctx(L), given ? &c : NULL, a, anchors, out));
    else DC_LUA_TRY(L, dc_box_encode(dc_lua_ctx(L), given ? &c : NULL, a, anchors, out));
    return 1;
}

static int l_box_encode(lua_State *L) { return coder_op(L, 0); }
static int l_box_decode(lua_State *L) { return coder_op(L, 1); }

static int l_box_clip(lua_State *L)
{
    dc_tensor *b = dc_lua_check_tensor(L, 1);
    DC_LUA_TRY(L, dc_box_clip(dc_lua_ctx(L), b, (float)luaL_checknumber(L, 2),
                              (float)luaL_checknumber(L, 3)));
    lua_settop(L, 1);
    return 1;
}

static int l_box_scale(lua_State *L)
{
    dc_tensor *b = dc_lua_check_tensor(L, 1);
    const float sy = (float)luaL_checknumber(L, 2), sx = (float)luaL_checknumber(L, 3);
    dc_tensor *out;
    if (lua_isnoneornil(L, 4)) {
        out = dc_lua_new_tensor(L, b->ndim, b->shape);
    } else {
        out = dc_lua_check_tensor(L, 4);
        lua_pushvalue(L, 4);
    }
    DC_LUA_TRY(L, dc_box_scale(dc_lua_ctx(L), b, sy, sx, out));
    return 1;
}

static int l_box_iou(lua_State *L)
{
    dc_tensor *a = dc_lua_check_tensor(L, 1), *b = dc_lua_check_tensor(L, 2);
    dc_tensor *out = dc_lua_new_tensor(L, 2, (int[]){a->shape[0], b->shape[0]});
    DC_LUA_TRY(L, dc_box_iou(dc_lua_ctx(L), a, b, out));
    return 1;
}

/* ------------------------------------------------------------------ NMS, proposals */

static int l_nms(lua_State *L)
{
    static const char *const keys[] = {"iou", "max_keep", "n", NULL};
    dc_tensor *boxes = dc_lua_check_tensor(L, 1), *scores = dc_lua_check_tensor(L, 2);
    int o = check_opts(L, 3, "nms", keys);
    const int rows = boxes->shape[0];
    const int n = opt_int(L, o, "nms", "n", rows, 0, rows);
    const int max_keep = opt_int(L, o, "nms", "max_keep", n, 0, 1 << 30);
    const float iou = (float)dc_lua_opt_number(L, o, "iou", 0.7);
    const int cap = max_keep < n ? max_keep : n;
    int *keep = lua_newuserdatauv(L, (size_t)cap * sizeof *keep + 1, 0);
    int n_keep = 0;
    DC_LUA_TRY(L, dc_nms_run(dc_lua_ctx(L), boxes, scores, n, iou, cap, keep, &n_keep));
    lua_createtable(L, n_keep, 0);
    for (int i = 0; i < n_keep; i++) {
        lua_pushinteger(L, keep[i] + 1);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int l_proposals(lua_State *L)
{
    static const char *const keys[] = {"height", "width", "pre_nms_top_k", "nms_iou",
                                       "max_proposals", "min_size", "coder", NULL};
    dc_tensor *anchors = dc_lua_check_tensor(L, 1), *scores = dc_lua_check_tensor(L, 2);
    dc_tensor *deltas = dc_lua_check_tensor(L, 3);
    int o = check_opts(L, 4, "proposals", keys);
    dc_proposal_params p;
    dc_proposal_params_paper(&p);
    const float h = opt_size(L, o, "proposals", "height"), w = opt_size(L, o, "proposals", "width");
    p.pre_nms_top_k =
        opt_int(L, o, "proposals", "pre_nms_top_k", p.pre_nms_top_k, 1, DC_NMS_MAX_BOXES);
    p.max_proposals = opt_int(L, o, "proposals", "max_proposals", p.max_proposals, 1, 1 << 20);
    p.nms_iou = (float)dc_lua_opt_number(L, o, "nms_iou", p.nms_iou);
    p.min_size = (float)dc_lua_opt_number(L, o, "min_size", p.min_size);
    opt_coder(L, o, "proposals", "coder", &p.coder);
    dc_tensor *bo = dc_lua_new_tensor(L, 2, (int[]){p.max_proposals, 4});
    dc_tensor *so = dc_lua_new_tensor(L, 1, (int[]){p.max_proposals});
    int n = 0;
    DC_LUA_TRY(L, dc_proposals_run(dc_lua_ctx(L), &p, anchors, scores, deltas, h, w, bo, so, &n));
    lua_pushinteger(L, n);
    return 3;
}

/* ------------------------------------------------------------------ targets */

static int l_targets(lua_State *L)
{
    static const char *const keys[] = {"height", "width", "seed", "kind", "n", "classes",
                                       "pos_iou", "neg_iou", "force_best", "drop_border",
                                       "batch", "max_pos", "coder", NULL};
    static const char *where = "targets";
    dc_tensor *cand = dc_lua_check_tensor(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    int o = check_opts(L, 3, where, keys);
    const char *kind = dc_lua_opt_string(L, o, "kind", "rpn");
    dc_target_params p;
    if (strcmp(kind, "rpn") == 0) dc_target_params_rpn(&p);
    else if (strcmp(kind, "dn") == 0) dc_target_params_dn(&p);
    else return luaL_error(L, "%s: kind '%s' is not \"rpn\" or \"dn\"", where, kind);
    const float h = opt_size(L, o, where, "height"), w = opt_size(L, o, where, "width");
    if (lua_getfield(L, o, "seed") == LUA_TNIL)
        luaL_error(L, "%s: key 'seed' is required (it fixes the sampling)", where);
    lua_pop(L, 1);
    const uint64_t seed = (uint64_t)dc_lua_opt_integer(L, o, "seed", 0);
    const int rows = cand->ndim == 2 ? cand->shape[0] : 0;
    const int n = opt_int(L, o, where, "n", rows, 0, rows);
    p.pos_iou = (float)dc_lua_opt_number(L, o, "pos_iou", p.pos_iou);
    p.neg_iou = (float)dc_lua_opt_number(L, o, "neg_iou", p.neg_iou);
    p.force_best = dc_lua_opt_boolean(L, o, "force_best", p.force_best);
    p.drop_border = dc_lua_opt_boolean(L, o, "drop_border", p.drop_border);
    p.batch = opt_int(L, o, where, "batch", p.batch, 1, 1 << 24);
    p.max_pos = opt_int(L, o, where, "max_pos", p.max_pos, 0, 1 << 24);
    opt_coder(L, o, where, "coder", &p.coder);

    /* ground truth and classes into userdata on the stack (collected on any error) */
    const int n_gt = (int)luaL_len(L, 2);
    float *gt = lua_newuserdatauv(L, (size_t)n_gt * 4 * sizeof *gt + 1, 0);
    for (int j = 0; j < n_gt; j++) {
        if (lua_rawgeti(L, 2, j + 1) != LUA_TTABLE || luaL_len(L, -1) != 4)
            luaL_error(L, "%s: ground-truth box %d must be {ymin, xmin, ymax, xmax}", where, j + 1);
        for (int c = 0; c < 4; c++) {
            lua_rawgeti(L, -1, c + 1);
            int ok;
            gt[4 * j + c] = (float)lua_tonumberx(L, -1, &ok);
            if (!ok) luaL_error(L, "%s: ground-truth box %d has a non-number", where, j + 1);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    int *cls = NULL;
    if (lua_getfield(L, o, "classes") != LUA_TNIL) {
        if (!lua_istable(L, -1) || luaL_len(L, -1) != n_gt)
            luaL_error(L, "%s: classes must list one class (>= 1) per ground-truth box", where);
        int tbl = lua_gettop(L);
        cls = lua_newuserdatauv(L, (size_t)n_gt * sizeof *cls + 1, 0);
        for (int j = 0; j < n_gt; j++) {
            lua_rawgeti(L, tbl, j + 1);
            cls[j] = (int)lua_tointeger(L, -1);
            lua_pop(L, 1);
        }
    }

    lua_createtable(L, 0, 9);
    dc_tensor *lab = dc_lua_new_tensor(L, 1, (int[]){rows > 0 ? rows : 1});
    lua_setfield(L, -2, "labels");
    dc_tensor *cw = dc_lua_new_tensor(L, 1, (int[]){rows > 0 ? rows : 1});
    lua_setfield(L, -2, "cls_weights");
    dc_tensor *rt = dc_lua_new_tensor(L, 2, (int[]){rows > 0 ? rows : 1, 4});
    lua_setfield(L, -2, "reg_targets");
    dc_tensor *rw = dc_lua_new_tensor(L, 1, (int[]){rows > 0 ? rows : 1});
    lua_setfield(L, -2, "reg_weights");
    dc_targets out = {lab, cw, rt, rw};
    dc_target_stats st;
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    DC_LUA_TRY(L, dc_targets_assign(dc_lua_ctx(L), &p, cand, n, gt, cls, n_gt, h, w, &rng, &out,
                                    &st));
    dc_lua_set_integer(L, "n_valid", st.n_valid);
    dc_lua_set_integer(L, "n_pos", st.n_pos);
    dc_lua_set_integer(L, "n_neg", st.n_neg);
    dc_lua_set_integer(L, "n_pos_sampled", st.n_pos_sampled);
    dc_lua_set_integer(L, "n_neg_sampled", st.n_neg_sampled);
    return 1;
}

/* ------------------------------------------------------------------ crop_and_resize */

static int l_crop_resize(lua_State *L)
{
    static const char *const keys[] = {"crop", "box_index", "extrapolation", NULL};
    dc_tensor *feat = dc_lua_check_tensor(L, 1), *boxes = dc_lua_check_tensor(L, 2);
    int o = check_opts(L, 3, "crop_resize", keys);
    double v[2] = {14, 14};
    int t = lua_getfield(L, o, "crop");
    if (t == LUA_TNUMBER) v[0] = v[1] = lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (t == LUA_TTABLE && opt_numbers(L, o, "crop_resize", "crop", v, 2) != 2)
        luaL_error(L, "crop_resize: crop must be a size or a pair {h, w}");
    if (t != LUA_TNIL && t != LUA_TNUMBER && t != LUA_TTABLE)
        luaL_error(L, "crop_resize: crop must be a size or a pair {h, w}");
    if (!(v[0] >= 1 && v[1] >= 1 && v[0] <= 4096 && v[1] <= 4096))
        luaL_error(L, "crop_resize: crop sizes %g x %g must lie in [1, 4096]", v[0], v[1]);
    const float extrap = (float)dc_lua_opt_number(L, o, "extrapolation", 0);
    if (feat->ndim != 4 || boxes->ndim != 2)
        luaL_error(L, "crop_resize: feat must be [B, C, H, W] and boxes [N, 4]");
    const int *idx = opt_box_index(L, o, "crop_resize", boxes->shape[0]);
    dc_tensor *out = dc_lua_new_tensor(L, 4, (int[]){boxes->shape[0], feat->shape[1], (int)v[0], (int)v[1]});
    DC_LUA_TRY(L, dc_crop_resize_forward(dc_lua_ctx(L), feat, boxes, idx, extrap, out));
    return 1;
}

static int l_crop_resize_backward(lua_State *L)
{
    static const char *const keys[] = {"box_index", NULL};
    dc_tensor *feat = dc_lua_check_tensor(L, 1), *boxes = dc_lua_check_tensor(L, 2);
    dc_tensor *grad = dc_lua_check_tensor(L, 3);
    int o = check_opts(L, 4, "crop_resize_backward", keys);
    if (boxes->ndim != 2) luaL_error(L, "crop_resize_backward: boxes must be [N, 4]");
    const int *idx = opt_box_index(L, o, "crop_resize_backward", boxes->shape[0]);
    dc_tensor *out = dc_lua_new_tensor(L, feat->ndim, feat->shape);
    DC_LUA_TRY(L, dc_crop_resize_backward(dc_lua_ctx(L), grad, boxes, idx, out));
    return 1;
}

/* ------------------------------------------------------------------ post-processing */

static int l_postprocess(lua_State *L)
{
    static const char *const keys[] = {"height", "width", "n", "nms_iou", "max_per_class",
                                       "max_total", "coder", NULL};
    static const char *where = "postprocess";
    dc_tensor *props = dc_lua_check_tensor(L, 1), *logits = dc_lua_check_tensor(L, 2);
    dc_tensor *deltas = dc_lua_check_tensor(L, 3);
    int o = check_opts(L, 4, where, keys);
    dc_postprocess_params p;
    dc_postprocess_params_paper(&p);
    const float h = opt_size(L, o, where, "height"), w = opt_size(L, o, where, "width");
    const int rows = props->shape[0];
    const int n = opt_int(L, o, where, "n", rows, 0, rows);
    p.nms_iou = (float)dc_lua_opt_number(L, o, "nms_iou", p.nms_iou);
    p.max_per_class = opt_int(L, o, where, "max_per_class", p.max_per_class, 1, 1 << 20);
    p.max_total = opt_int(L, o, where, "max_total", p.max_total, 1, 1 << 20);
    opt_coder(L, o, where, "coder", &p.coder);
    dc_detection *det = lua_newuserdatauv(L, (size_t)p.max_total * sizeof *det, 0);
    int nd = 0;
    DC_LUA_TRY(L, dc_postprocess_run(dc_lua_ctx(L), &p, props, n, logits, deltas, h, w, det,
                                     p.max_total, &nd));
    lua_createtable(L, nd, 0);
    for (int i = 0; i < nd; i++) {
        lua_createtable(L, 0, 3);
        lua_createtable(L, 4, 0);
        for (int c = 0; c < 4; c++) {
            lua_pushnumber(L, det[i].box[c]);
            lua_rawseti(L, -2, c + 1);
        }
        lua_setfield(L, -2, "box");
        lua_pushnumber(L, det[i].score);
        lua_setfield(L, -2, "score");
        lua_pushinteger(L, det[i].label);
        lua_setfield(L, -2, "label");
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

void dc_lua_open_detect(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"anchors", l_anchors},
        {"head_to_anchors", l_head_to_anchors},
        {"head_to_anchors_backward", l_head_to_anchors_backward},
        {"box_encode", l_box_encode},
        {"box_decode", l_box_decode},
        {"box_clip", l_box_clip},
        {"box_scale", l_box_scale},
        {"box_iou", l_box_iou},
        {"nms", l_nms},
        {"proposals", l_proposals},
        {"targets", l_targets},
        {"crop_resize", l_crop_resize},
        {"crop_resize_backward", l_crop_resize_backward},
        {"postprocess", l_postprocess},
        {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
