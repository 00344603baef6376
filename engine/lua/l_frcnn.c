/* Lua binding of the detector: deepcee.frcnn(config) builds a model from Lua network tables
 * (lua/nets.lua).
 *
 * A layer is a table {kind, name = ..., input = name | {names}, out = n, k = n | {kh, kw},
 * stride = n | {sh, sw}, pad = "SAME" | "VALID", relu = bool, init = "he" | "normal" | "glorot",
 * std = x}; kind is conv, maxpool, avgpool, concat, global_avgpool, fc or relu. The input
 * defaults to the previous layer (or the network input for the first); "input" names the
 * network input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua/lua_bind.h"
#include "nn/frcnn.h"

#define MODEL_KEY "deepcee.frcnn"

typedef struct {
    dc_frcnn *m;
    dc_rng rng; /* the samplers' generator: part of a checkpoint */
} lmodel;

static const char *const k_kinds[] = {"conv", "maxpool", "avgpool", "concat", "global_avgpool", "fc", "relu", NULL};
static const dc_layer_kind k_kind_values[] = {DC_LAYER_KIND_CONV, DC_LAYER_KIND_MAXPOOL, DC_LAYER_KIND_AVGPOOL,
                                              DC_LAYER_KIND_CONCAT, DC_LAYER_KIND_GLOBAL_AVGPOOL, DC_LAYER_KIND_FC,
                                              DC_LAYER_KIND_RELU};

/* Read the pair (k or stride) field: a number or {a, b}. */
static void pair_field(lua_State *L, int idx, const char *key, int def, int *a, int *b)
{
    int t = lua_getfield(L, idx, key);
    if (t == LUA_TNIL) {
        *a = *b = def;
    } else if (t == LUA_TNUMBER) {
        *a = *b = (int)luaL_checkinteger(L, -1);
    } else if (t == LUA_TTABLE) {
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        *a = (int)luaL_checkinteger(L, -2);
        *b = (int)luaL_checkinteger(L, -1);
        lua_pop(L, 2);
    } else {
        luaL_error(L, "key '%s' must be a number or {h, w}", key);
    }
    lua_pop(L, 1);
}

static int layer_index(lua_State *L, int names, const char *where, const char *name)
{
    if (strcmp(name, "input") == 0) return -1;
    if (lua_getfield(L, names, name) != LUA_TNUMBER)
        luaL_error(L, "%s: input '%s' is not an earlier layer of this network", where, name);
    int i = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    return i;
}

/* The network table at idx -> specs (malloc'd). */
static dc_layer_spec *check_network(lua_State *L, int idx, const char *which, int *n_out)
{
    static const char *const keys[] = {"name", "input", "out", "k", "stride", "pad", "relu", "init", "std", NULL};
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE) luaL_error(L, "frcnn: '%s' must be a list of layers", which);
    int n = (int)luaL_len(L, idx);
    if (n < 1) luaL_error(L, "frcnn: network '%s' has no layers", which);
    dc_layer_spec *specs = lua_newuserdatauv(L, (size_t)n * sizeof *specs, 0); /* freed by the GC */
    memset(specs, 0, (size_t)n * sizeof *specs);
    lua_newtable(L); /* name -> index */
    int names = lua_gettop(L);
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, idx, i + 1);
        int l = lua_gettop(L);
        char where[160];
        snprintf(where, sizeof where, "frcnn: %s layer %d", which, i + 1);
        if (lua_type(L, l) != LUA_TTABLE) luaL_error(L, "%s must be a table", where);
        lua_rawgeti(L, l, 1);
        const char *kind = lua_tostring(L, -1);
        int k = -1;
        for (int j = 0; kind && k_kinds[j]; j++)
            if (strcmp(kind, k_kinds[j]) == 0) k = j;
        if (k < 0) luaL_error(L, "%s: unknown kind '%s' (conv, maxpool, avgpool, concat, global_avgpool, fc, relu)",
                              where, kind ? kind : "?");
        lua_pop(L, 1);
        lua_pushnil(L); /* check keys, skipping the positional kind */
        while (lua_next(L, l)) {
            lua_pop(L, 1);
            if (lua_type(L, -1) == LUA_TNUMBER) continue;
            const char *key = lua_tostring(L, -1);
            int ok = 0;
            for (int j = 0; keys[j] && !ok; j++) ok = strcmp(keys[j], key) == 0;
            if (!ok) luaL_error(L, "%s: unknown key '%s' (known keys: name, input, out, k, stride, pad, relu, init, std)",
                                where, key);
        }
        dc_layer_spec *s = &specs[i];
        s->kind = k_kind_values[k];
        const char *name = dc_lua_opt_string(L, l, "name", NULL);
        if (!name) luaL_error(L, "%s: every layer needs a name", where);
        snprintf(s->name, sizeof s->name, "%s", name);
        snprintf(where, sizeof where, "frcnn: %s layer %s", which, name);
        int t = lua_getfield(L, l, "input");
        if (t == LUA_TNIL) {
            s->inputs[0] = i - 1;
            s->n_inputs = 1;
        } else if (t == LUA_TSTRING) {
            s->inputs[0] = layer_index(L, names, where, lua_tostring(L, -1));
            s->n_inputs = 1;
        } else if (t == LUA_TTABLE) {
            s->n_inputs = (int)luaL_len(L, -1);
            if (s->n_inputs < 1 || s->n_inputs > DC_NET_MAX_INPUTS) luaL_error(L, "%s: 1 to 8 inputs", where);
            for (int j = 0; j < s->n_inputs; j++) {
                lua_rawgeti(L, -1, j + 1);
                const char *in = lua_tostring(L, -1);
                if (!in) luaL_error(L, "%s: inputs are layer names", where);
                s->inputs[j] = layer_index(L, names, where, in);
                lua_pop(L, 1);
            }
        } else {
            luaL_error(L, "%s: 'input' must be a layer name or a list of names", where);
        }
        lua_pop(L, 1);
        s->out = (int)dc_lua_opt_integer(L, l, "out", 0);
        pair_field(L, l, "k", 1, &s->kh, &s->kw);
        pair_field(L, l, "stride", 1, &s->sh, &s->sw);
        const char *pad = dc_lua_opt_string(L, l, "pad", "SAME");
        if (strcmp(pad, "SAME") != 0 && strcmp(pad, "VALID") != 0)
            luaL_error(L, "%s: pad must be \"SAME\" or \"VALID\", got \"%s\"", where, pad);
        s->same = strcmp(pad, "SAME") == 0;
        s->relu = dc_lua_opt_boolean(L, l, "relu", 0);
        const char *init = dc_lua_opt_string(L, l, "init", s->kind == DC_LAYER_KIND_FC ? "glorot" : "he");
        if (strcmp(init, "he") == 0) s->init = DC_INIT_KIND_HE_NORMAL;
        else if (strcmp(init, "normal") == 0) s->init = DC_INIT_KIND_TRUNCATED_NORMAL;
        else if (strcmp(init, "glorot") == 0) s->init = DC_INIT_KIND_GLOROT_UNIFORM;
        else luaL_error(L, "%s: init must be \"he\", \"normal\" or \"glorot\"", where);
        s->init_std = (float)dc_lua_opt_number(L, l, "std", 0.01);
        lua_pushinteger(L, i);
        lua_setfield(L, names, s->name);
        lua_pop(L, 1);
    }
    lua_pop(L, 1); /* names */
    *n_out = n;
    return specs; /* stays on the stack */
}

static void float_list(lua_State *L, int idx, const char *key, float *out, int *n, int max)
{
    if (lua_getfield(L, idx, key) == LUA_TTABLE) {
        *n = (int)luaL_len(L, -1);
        if (*n < 1 || *n > max) luaL_error(L, "frcnn: '%s' needs 1 to %d values", key, max);
        for (int i = 0; i < *n; i++) {
            lua_rawgeti(L, -1, i + 1);
            out[i] = (float)luaL_checknumber(L, -1);
            lua_pop(L, 1);
        }
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "frcnn: '%s' must be a list of numbers", key);
    }
    lua_pop(L, 1);
}

/* Push the shortest decimal that reads back as the float v, so that a float setting of 0.0002f
 * reaches Lua as 0.0002 (not 0.000199999995). */
static void push_float(lua_State *L, float v)
{
    char text[32];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, (double)v);
        if (strtof(text, NULL) == v) break;
    }
    lua_pushnumber(L, strtod(text, NULL));
}

static void set_float(lua_State *L, const char *key, float v)
{
    push_float(L, v);
    lua_setfield(L, -2, key);
}

static void set_float_list(lua_State *L, const char *key, const float *v, int n)
{
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        push_float(L, v[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, key);
}

/* A detector configuration as a table with the keys deepcee.frcnn takes (less fn and dn), so that
 * deepcee.frcnn(t) with the networks added rebuilds the same configuration. */
static void push_config(lua_State *L, const dc_frcnn_config *c)
{
    lua_createtable(L, 0, 28);
    dc_lua_set_integer(L, "rpn_channels", c->rpn_channels);
    set_float(L, "rpn_init_std", c->rpn_init_std);
    dc_lua_set_integer(L, "crop_size", c->crop_size);
    set_float_list(L, "anchor_scales", c->anchors.scales, c->anchors.n_scales);
    set_float_list(L, "anchor_ratios", c->anchors.ratios, c->anchors.n_ratios);
    set_float(L, "anchor_base", c->anchors.base_size);
    set_float(L, "anchor_stride", c->anchors.stride);
    set_float(L, "anchor_offset", c->anchors.offset);
    dc_lua_set_integer(L, "rpn_batch", c->rpn_targets.batch);
    dc_lua_set_integer(L, "rpn_max_pos", c->rpn_targets.max_pos);
    set_float(L, "rpn_pos_iou", c->rpn_targets.pos_iou);
    set_float(L, "rpn_neg_iou", c->rpn_targets.neg_iou);
    dc_lua_set_integer(L, "dn_batch", c->dn_targets.batch);
    dc_lua_set_integer(L, "dn_max_pos", c->dn_targets.max_pos);
    set_float(L, "dn_pos_iou", c->dn_targets.pos_iou);
    dc_lua_set_integer(L, "pre_nms_top_k", c->proposals.pre_nms_top_k);
    set_float(L, "proposal_nms_iou", c->proposals.nms_iou);
    dc_lua_set_integer(L, "max_proposals", c->proposals.max_proposals);
    set_float(L, "post_nms_iou", c->post.nms_iou);
    dc_lua_set_integer(L, "max_detections", c->post.max_total);
    set_float(L, "w_rpn_cls", c->w_rpn_cls);
    set_float(L, "w_rpn_box", c->w_rpn_box);
    set_float(L, "w_dn_cls", c->w_dn_cls);
    set_float(L, "w_dn_box", c->w_dn_box);
    set_float(L, "lr", c->lr);
    set_float(L, "momentum", c->momentum);
    set_float(L, "clip_norm", c->clip_norm);
    lua_pushboolean(L, c->dn_add_gt);
    lua_setfield(L, -2, "dn_add_gt");
    lua_pushboolean(L, c->props);
    lua_setfield(L, -2, "props");
    set_float(L, "w_z", c->w_z);
    set_float(L, "w_rich", c->w_rich);
}

/* deepcee.frcnn_defaults() -> the paper's detector settings (dc_frcnn_config_paper), with the keys
 * deepcee.frcnn takes: the one home of these defaults, read by lua/train.lua. */
static int l_frcnn_defaults(lua_State *L)
{
    dc_frcnn_config c;
    dc_frcnn_config_paper(&c);
    push_config(L, &c);
    return 1;
}

/* deepcee.frcnn{fn = {...}, dn = {...}, ...}: the keys are those of the paper's settings. */
static int l_frcnn_new(lua_State *L)
{
    static const char *const keys[] = {
        "fn", "dn", "rpn_channels", "rpn_init_std", "crop_size", "anchor_scales", "anchor_ratios",
        "anchor_base", "anchor_stride", "anchor_offset", "rpn_batch", "rpn_max_pos", "rpn_pos_iou",
        "rpn_neg_iou", "dn_batch", "dn_max_pos", "dn_pos_iou", "pre_nms_top_k", "proposal_nms_iou",
        "max_proposals", "post_nms_iou", "max_detections", "w_rpn_cls", "w_rpn_box", "w_dn_cls",
        "w_dn_box", "lr", "momentum", "clip_norm", "dn_add_gt", "props", "w_z", "w_rich", NULL};
    luaL_checktype(L, 1, LUA_TTABLE);
    dc_lua_check_keys(L, 1, "deepcee.frcnn", keys);
    dc_frcnn_config c;
    dc_frcnn_config_paper(&c);
    c.rpn_channels = (int)dc_lua_opt_integer(L, 1, "rpn_channels", c.rpn_channels);
    c.rpn_init_std = (float)dc_lua_opt_number(L, 1, "rpn_init_std", c.rpn_init_std);
    c.crop_size = (int)dc_lua_opt_integer(L, 1, "crop_size", c.crop_size);
    float_list(L, 1, "anchor_scales", c.anchors.scales, &c.anchors.n_scales, DC_ANCHOR_MAX_SIZES);
    float_list(L, 1, "anchor_ratios", c.anchors.ratios, &c.anchors.n_ratios, DC_ANCHOR_MAX_SIZES);
    c.anchors.base_size = (float)dc_lua_opt_number(L, 1, "anchor_base", c.anchors.base_size);
    c.anchors.stride = (float)dc_lua_opt_number(L, 1, "anchor_stride", c.anchors.stride);
    c.anchors.offset = (float)dc_lua_opt_number(L, 1, "anchor_offset", c.anchors.offset);
    c.rpn_targets.batch = (int)dc_lua_opt_integer(L, 1, "rpn_batch", c.rpn_targets.batch);
    /* a batch given without its positive cap keeps the paper's fraction (1/2 RPN, 1/4 DN) */
    c.rpn_targets.max_pos = (int)dc_lua_opt_integer(L, 1, "rpn_max_pos", c.rpn_targets.batch / 2);
    c.rpn_targets.pos_iou = (float)dc_lua_opt_number(L, 1, "rpn_pos_iou", c.rpn_targets.pos_iou);
    c.rpn_targets.neg_iou = (float)dc_lua_opt_number(L, 1, "rpn_neg_iou", c.rpn_targets.neg_iou);
    c.dn_targets.batch = (int)dc_lua_opt_integer(L, 1, "dn_batch", c.dn_targets.batch);
    c.dn_targets.max_pos = (int)dc_lua_opt_integer(L, 1, "dn_max_pos", c.dn_targets.batch / 4);
    c.dn_targets.pos_iou = c.dn_targets.neg_iou = (float)dc_lua_opt_number(L, 1, "dn_pos_iou", c.dn_targets.pos_iou);
    c.proposals.pre_nms_top_k = (int)dc_lua_opt_integer(L, 1, "pre_nms_top_k", c.proposals.pre_nms_top_k);
    c.proposals.nms_iou = (float)dc_lua_opt_number(L, 1, "proposal_nms_iou", c.proposals.nms_iou);
    c.proposals.max_proposals = (int)dc_lua_opt_integer(L, 1, "max_proposals", c.proposals.max_proposals);
    c.post.nms_iou = (float)dc_lua_opt_number(L, 1, "post_nms_iou", c.post.nms_iou);
    c.post.max_total = c.post.max_per_class =
        (int)dc_lua_opt_integer(L, 1, "max_detections", c.post.max_total);
    c.w_rpn_cls = (float)dc_lua_opt_number(L, 1, "w_rpn_cls", c.w_rpn_cls);
    c.w_rpn_box = (float)dc_lua_opt_number(L, 1, "w_rpn_box", c.w_rpn_box);
    c.w_dn_cls = (float)dc_lua_opt_number(L, 1, "w_dn_cls", c.w_dn_cls);
    c.w_dn_box = (float)dc_lua_opt_number(L, 1, "w_dn_box", c.w_dn_box);
    c.lr = (float)dc_lua_opt_number(L, 1, "lr", c.lr);
    c.momentum = (float)dc_lua_opt_number(L, 1, "momentum", c.momentum);
    c.clip_norm = (float)dc_lua_opt_number(L, 1, "clip_norm", c.clip_norm);
    c.dn_add_gt = dc_lua_opt_boolean(L, 1, "dn_add_gt", c.dn_add_gt);
    c.props = dc_lua_opt_boolean(L, 1, "props", c.props);
    c.w_z = (float)dc_lua_opt_number(L, 1, "w_z", c.w_z);
    c.w_rich = (float)dc_lua_opt_number(L, 1, "w_rich", c.w_rich);
    int n_fn, n_dn;
    lua_getfield(L, 1, "fn");
    dc_layer_spec *fn = check_network(L, -1, "fn", &n_fn);
    lua_getfield(L, 1, "dn");
    dc_layer_spec *dn = check_network(L, -1, "dn", &n_dn);
    dc_ctx *ctx = dc_lua_ctx(L);
    lmodel *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->m = NULL;
    dc_rng_seed(&u->rng, 0);
    luaL_setmetatable(L, MODEL_KEY);
    DC_LUA_TRY(L, dc_frcnn_new(ctx, &c, fn, n_fn, dn, n_dn, &u->m));
    return 1;
}

static lmodel *check_model(lua_State *L)
{
    lmodel *u = luaL_checkudata(L, 1, MODEL_KEY);
    if (!u->m) luaL_error(L, "the model was freed");
    return u;
}

static int l_init(lua_State *L)
{
    lmodel *u = check_model(L);
    dc_rng_seed(&u->rng, (uint64_t)luaL_checkinteger(L, 2));
    DC_LUA_TRY(L, dc_frcnn_init(u->m, &u->rng));
    return 0;
}

/* Ground truth {{ymin, xmin, ymax, xmax [, z [, log10_n200]]}, ...} at idx -> malloc'd floats:
 * the boxes (4 per row) followed by the properties (2 per row, at b + 4 n; NaN where absent or
 * NaN: unknown, so the property heads learn nothing from it). */
static float *check_boxes(lua_State *L, int idx, int *n)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    *n = (int)luaL_len(L, idx);
    float *b = malloc((size_t)(*n ? *n : 1) * 6 * sizeof *b);
    if (!b) luaL_error(L, "out of host memory");
    float *props = b + 4 * *n;
    for (int i = 0; i < *n; i++) {
        lua_rawgeti(L, idx, i + 1);
        int bad = lua_type(L, -1) != LUA_TTABLE;
        for (int j = 0; j < 6 && !bad; j++) {
            lua_rawgeti(L, -1, j + 1);
            int ok;
            float v = (float)lua_tonumberx(L, -1, &ok);
            if (j < 4) {
                b[4 * i + j] = v;
                bad = !ok;
            } else {
                bad = !ok && !lua_isnil(L, -1);
                props[2 * i + j - 4] = ok ? v : NAN;
            }
            lua_pop(L, 1);
        }
        if (bad) {
            free(b);
            luaL_error(L, "box %d must be {ymin, xmin, ymax, xmax} in pixels, optionally followed by "
                       "z and log10 N200 (numbers; NaN or absent: unknown)", i + 1);
        }
        lua_pop(L, 1);
    }
    return b;
}

static void push_losses(lua_State *L, const dc_frcnn_losses *l)
{
    lua_createtable(L, 0, 9);
    lua_pushnumber(L, l->rpn_cls); lua_setfield(L, -2, "rpn_cls");
    lua_pushnumber(L, l->rpn_box); lua_setfield(L, -2, "rpn_box");
    lua_pushnumber(L, l->dn_cls); lua_setfield(L, -2, "dn_cls");
    lua_pushnumber(L, l->dn_box); lua_setfield(L, -2, "dn_box");
    lua_pushnumber(L, l->total); lua_setfield(L, -2, "total");
    lua_pushnumber(L, l->grad_norm); lua_setfield(L, -2, "grad_norm");
    lua_pushinteger(L, l->n_proposals); lua_setfield(L, -2, "proposals");
    lua_pushinteger(L, l->n_rpn_pos); lua_setfield(L, -2, "rpn_positives");
    lua_pushinteger(L, l->n_dn_pos); lua_setfield(L, -2, "dn_positives");
    lua_pushnumber(L, l->dn_z); lua_setfield(L, -2, "dn_z");
    lua_pushnumber(L, l->dn_rich); lua_setfield(L, -2, "dn_rich");
}

/* model:train_step(image, boxes) -> losses */
static int l_train_step(lua_State *L)
{
    lmodel *u = check_model(L);
    dc_tensor *img = dc_lua_check_tensor(L, 2);
    int n;
    float *gt = check_boxes(L, 3, &n);
    dc_frcnn_losses losses;
    dc_status st = dc_frcnn_train_step(u->m, img, gt, gt + 4 * n, n, &u->rng, 1, &losses);
    free(gt);
    DC_LUA_TRY(L, st);
    push_losses(L, &losses);
    return 1;
}

/* model:grad_step(image, boxes [, sampler_seed]) -> losses: the step's gradients, left in the
 * model (not applied; grad_norm 0). sampler_seed reseeds the target samplers first, so that an
 * image's sampling depends on its seed alone, not on which images a rank saw before. */
static int l_grad_step(lua_State *L)
{
    lmodel *u = check_model(L);
    dc_tensor *img = dc_lua_check_tensor(L, 2);
    int has_seed = !lua_isnoneornil(L, 4);
    lua_Integer seed = has_seed ? luaL_checkinteger(L, 4) : 0;
    int n;
    float *gt = check_boxes(L, 3, &n);
    if (has_seed) dc_rng_seed(&u->rng, (uint64_t)seed);
    dc_frcnn_losses losses;
    dc_status st = dc_frcnn_train_step(u->m, img, gt, gt + 4 * n, n, &u->rng, 0, &losses);
    free(gt);
    DC_LUA_TRY(L, st);
    push_losses(L, &losses);
    return 1;
}

/* The gradient buffer's size must be the model's. */
static dc_lua_floats *check_grad_buffer(lua_State *L, lmodel *u, int idx)
{
    dc_lua_floats *f = dc_lua_check_floats(L, idx);
    size_t n = dc_frcnn_param_numel(u->m);
    if (f->n != n) luaL_error(L, "gradient buffer of %d values, the model has %d parameters (model:grad_buffer())", (int)f->n, (int)n);
    return f;
}

/* model:grad_buffer() -> deepcee.floats of the model's parameter count (zeros) */
static int l_grad_buffer(lua_State *L)
{
    lmodel *u = check_model(L);
    dc_lua_new_floats(L, dc_frcnn_param_numel(u->m));
    return 1;
}

/* model:add_grads(buffer): buffer += the gradients left by grad_step (parameter order) */
static int l_add_grads(lua_State *L)
{
    lmodel *u = check_model(L);
    dc_lua_floats *f = check_grad_buffer(L, u, 2);
    size_t off = 0;
    for (int i = 0; i < dc_frcnn_param_count(u->m); i++) {
        const dc_tensor *g = dc_frcnn_param(u->m, i)->grad;
        float *tmp = malloc(g->numel * sizeof *tmp);
        if (!tmp) return luaL_error(L, "out of host memory");
        dc_status st = dc_tensor_download(g, tmp, g->numel);
        if (st != DC_STATUS_OK) {
            free(tmp);
            return dc_lua_fail(L, st);
        }
        for (size_t k = 0; k < g->numel; k++) f->v[off + k] += tmp[k];
        free(tmp);
        off += g->numel;
    }
    return 0;
}

/* model:apply_grads(buffer, scale) -> grad_norm: the gradients become buffer x scale, are clipped
 * by their global norm (returned, before clipping) and the SGD step is taken. */
static int l_apply_grads(lua_State *L)
{
    lmodel *u = check_model(L);
    dc_lua_floats *f = check_grad_buffer(L, u, 2);
    float scale = (float)luaL_checknumber(L, 3);
    size_t off = 0;
    for (int i = 0; i < dc_frcnn_param_count(u->m); i++) {
        dc_tensor *g = dc_frcnn_param(u->m, i)->grad;
        float *tmp = malloc(g->numel * sizeof *tmp);
        if (!tmp) return luaL_error(L, "out of host memory");
        for (size_t k = 0; k < g->numel; k++) tmp[k] = f->v[off + k] * scale;
        dc_status st = dc_tensor_upload(g, tmp, g->numel);
        free(tmp);
        DC_LUA_TRY(L, st);
        off += g->numel;
    }
    float norm = 0;
    DC_LUA_TRY(L, dc_frcnn_apply_grads(u->m, &norm));
    lua_pushnumber(L, norm);
    return 1;
}

/* model:detect(image [, max]) -> {{score=, box={ymin, xmin, ymax, xmax}}, ...} best first; with
 * property heads (model:has_props()) each also has z, z_err (the predicted sigma), richness
 * (N200 = 10^mean of log10 N200) and richness_err (the predicted sigma of log10 N200, in dex). */
static int l_detect(lua_State *L)
{
    lmodel *u = check_model(L);
    dc_tensor *img = dc_lua_check_tensor(L, 2);
    int cap = (int)luaL_optinteger(L, 3, 100);
    luaL_argcheck(L, cap >= 1 && cap <= 100000, 3, "between 1 and 100000 detections");
    int with_props = dc_frcnn_has_props(u->m);
    dc_detection *d = malloc((size_t)cap * sizeof *d);
    float *pr = with_props ? malloc((size_t)cap * 4 * sizeof *pr) : NULL;
    if (!d || (with_props && !pr)) {
        free(d);
        free(pr);
        return luaL_error(L, "out of host memory");
    }
    int n;
    dc_status st = dc_frcnn_detect_props(u->m, img, d, pr, cap, &n);
    if (st != DC_STATUS_OK) {
        free(d);
        free(pr);
        return dc_lua_fail(L, st);
    }
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_createtable(L, 0, 3);
        lua_pushnumber(L, d[i].score);
        lua_setfield(L, -2, "score");
        lua_pushinteger(L, d[i].label);
        lua_setfield(L, -2, "label");
        lua_createtable(L, 4, 0);
        for (int j = 0; j < 4; j++) {
            lua_pushnumber(L, d[i].box[j]);
            lua_rawseti(L, -2, j + 1);
        }
        lua_setfield(L, -2, "box");
        if (pr) {
            const float *p = pr + 4 * i;
            dc_lua_set_number(L, "z", p[0]);
            dc_lua_set_number(L, "z_err", exp((double)p[1]));
            dc_lua_set_number(L, "richness", pow(10.0, (double)p[2]));
            dc_lua_set_number(L, "richness_err", exp((double)p[3]));
        }
        lua_rawseti(L, -2, i + 1);
    }
    free(d);
    free(pr);
    return 1;
}

/* model:has_props() -> whether detections carry z and richness (dc_frcnn_has_props) */
static int l_has_props(lua_State *L)
{
    lua_pushboolean(L, dc_frcnn_has_props(check_model(L)->m));
    return 1;
}

/* model:save(path, meta [, with_optimiser]): meta is a table of strings/numbers; the samplers'
 * RNG state is stored with the optimiser state so a resumed run continues bit-identically. */
static int l_save(lua_State *L)
{
    lmodel *u = check_model(L);
    const char *path = luaL_checkstring(L, 2);
    int with_opt = lua_toboolean(L, 4);
    dc_weights *w;
    DC_LUA_TRY(L, dc_weights_new(&w));
    dc_status st = dc_frcnn_export(u->m, w, with_opt);
    if (st == DC_STATUS_OK && with_opt) {
        char rng[64];
        snprintf(rng, sizeof rng, "%016llx %016llx", (unsigned long long)u->rng.s[0],
                 (unsigned long long)u->rng.s[1]);
        st = dc_weights_meta_set(w, "rng", rng);
    }
    if (st == DC_STATUS_OK && lua_istable(L, 3)) {
        lua_pushnil(L);
        while (st == DC_STATUS_OK && lua_next(L, 3)) {
            if (lua_type(L, -2) == LUA_TSTRING && (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER))
                st = dc_weights_meta_set(w, lua_tostring(L, -2), lua_tostring(L, -1));
            lua_pop(L, 1);
        }
    }
    if (st == DC_STATUS_OK) st = dc_weights_save(w, path);
    dc_weights_free(w);
    DC_LUA_TRY(L, st);
    return 0;
}

static void push_meta(lua_State *L, const dc_weights *w)
{
    lua_createtable(L, 0, dc_weights_meta_count(w));
    for (int i = 0; i < dc_weights_meta_count(w); i++) {
        const char *k, *v;
        dc_weights_meta_at(w, i, &k, &v);
        lua_pushstring(L, v);
        lua_setfield(L, -2, k);
    }
}

/* model:load(path [, with_optimiser]) -> meta table */
static int l_load(lua_State *L)
{
    lmodel *u = check_model(L);
    const char *path = luaL_checkstring(L, 2);
    int with_opt = lua_toboolean(L, 3);
    dc_weights *w;
    DC_LUA_TRY(L, dc_weights_load(path, &w));
    dc_status st = dc_frcnn_import(u->m, w, path, with_opt);
    if (st == DC_STATUS_OK && with_opt) {
        const char *rng = dc_weights_meta_get(w, "rng");
        unsigned long long a, b;
        if (!rng || sscanf(rng, "%llx %llx", &a, &b) != 2)
            st = DC_FAIL(DC_STATUS_FORMAT, "%s has no sampler state: it is a weights file, not a checkpoint", path);
        else {
            u->rng.s[0] = a;
            u->rng.s[1] = b;
        }
    }
    if (st != DC_STATUS_OK) {
        dc_weights_free(w);
        return dc_lua_fail(L, st);
    }
    push_meta(L, w);
    dc_weights_free(w);
    return 1;
}

/* deepcee.weights_meta(path) -> the metadata table of a weights file (which network, how its
 * images were made), without building a model. */
static int l_weights_meta(lua_State *L)
{
    dc_weights *w;
    DC_LUA_TRY(L, dc_weights_load(luaL_checkstring(L, 1), &w));
    push_meta(L, w);
    dc_weights_free(w);
    return 1;
}

static int l_param_count(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)dc_frcnn_param_numel(check_model(L)->m));
    return 1;
}

/* model:checksum() -> hex FNV-1a hash of every parameter's bytes (bit-identity checks). */
static int l_checksum(lua_State *L)
{
    lmodel *u = check_model(L);
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < dc_frcnn_param_count(u->m); i++) {
        const dc_tensor *t = dc_frcnn_param(u->m, i)->value;
        float *buf = malloc(t->numel * sizeof *buf);
        if (!buf) return luaL_error(L, "out of host memory");
        dc_status st = dc_tensor_download(t, buf, t->numel);
        if (st != DC_STATUS_OK) {
            free(buf);
            return dc_lua_fail(L, st);
        }
        const unsigned char *b = (const unsigned char *)buf;
        for (size_t k = 0; k < t->numel * sizeof *buf; k++) h = (h ^ b[k]) * 0x100000001b3ULL;
        free(buf);
    }
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
    lua_pushstring(L, hex);
    return 1;
}

/* model:config() -> the detector's settings as built (the keys of deepcee.frcnn less fn and dn;
 * lr as last set), saved with a training run's weights. */
static int l_config(lua_State *L)
{
    push_config(L, dc_frcnn_get_config(check_model(L)->m));
    return 1;
}

static int l_set_lr(lua_State *L)
{
    dc_frcnn_set_lr(check_model(L)->m, (float)luaL_checknumber(L, 2));
    return 0;
}

static int l_free(lua_State *L)
{
    lmodel *u = luaL_checkudata(L, 1, MODEL_KEY);
    dc_frcnn_free(u->m);
    u->m = NULL;
    return 0;
}

void dc_lua_open_frcnn(lua_State *L)
{
    static const luaL_Reg meta[] = {{"__gc", l_free}, {"__close", l_free}, {"__index", NULL}, {NULL, NULL}};
    static const luaL_Reg methods[] = {
        {"init", l_init}, {"train_step", l_train_step}, {"grad_step", l_grad_step},
        {"grad_buffer", l_grad_buffer}, {"add_grads", l_add_grads}, {"apply_grads", l_apply_grads}, {"detect", l_detect}, {"save", l_save},
        {"load", l_load}, {"param_count", l_param_count}, {"set_lr", l_set_lr}, {"config", l_config}, {"checksum", l_checksum}, {"has_props", l_has_props}, {"free", l_free},
        {NULL, NULL}};
    luaL_newmetatable(L, MODEL_KEY);
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    lua_pushcfunction(L, l_frcnn_new);
    lua_setfield(L, -2, "frcnn");
    lua_pushcfunction(L, l_weights_meta);
    lua_setfield(L, -2, "weights_meta");
    lua_pushcfunction(L, l_frcnn_defaults);
    lua_setfield(L, -2, "frcnn_defaults");
}
