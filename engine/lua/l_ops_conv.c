/* The convolution-family ops (engine/ops/ops_conv.h) on Lua tensors. Each call returns new
 * tensors (owned by Lua) shaped by the op; gradients overwrite (no accumulation at this level).
 * Convolutions take a table {stride = s | {sh, sw}, padding = "SAME" | "VALID" | p | {ph, pw} |
 * {top, left, bottom, right}}; the kernel size comes from w. Batch norm takes {mean = t, var = t
 * [, gamma = t][, beta = t][, eps = number]} (eps defaults to 0.001, the paper's model's value).
 * Unknown keys are errors. Workspaces are allocated per call (the training path in engine/nn
 * keeps a scratch pool instead).
 *
 *   y = dc.conv2d(x, w, b_or_nil, cfg)          oh, ow = dc.conv2d_out_size(h, w, kh, kw, cfg)
 *   dx = dc.conv2d_backward_input(x, w, dy, cfg)     (x: for its shape)
 *   dw, db = dc.conv2d_backward_params(x, w, dy, cfg)  (w: for its shape)
 *   y = dc.fc(x, w [, b])      dx = dc.fc_backward_input(x, w, dy)   dw, db = dc.fc_backward_params(x, w, dy)
 *   y = dc.batchnorm(x, bn)    dx = dc.batchnorm_backward(dy, bn)    dc.bn_fold(w, b, bn)  (in place)
 *   c = dc.gemm(a, b [, {trans_a = bool, trans_b = bool, alpha = n, beta = n, c = tensor}]) */
#include <string.h>

#include "lua/lua_bind.h"
#include "ops/ops_conv.h"

static dc_tensor *opt_tensor(lua_State *L, int idx)
{
    return lua_isnoneornil(L, idx) ? NULL : dc_lua_check_tensor(L, idx);
}

/* ------------------------------------------------------------------ convolution */

/* The integers of the list at the top of the stack (1 to 4 of them); returns how many. */
static int int_list(lua_State *L, const char *where, const char *key, int out[4])
{
    int n = 0;
    if (lua_type(L, -1) == LUA_TNUMBER) {
        n = 1;
        lua_pushvalue(L, -1);
    } else if (lua_type(L, -1) == LUA_TTABLE) {
        n = (int)luaL_len(L, -1);
        if (n < 1 || n > 4) n = 0;
        for (int i = 0; i < n; i++) lua_rawgeti(L, -1 - i, i + 1);
    }
    for (int i = 0; i < n; i++) {
        int ok;
        lua_Integer v = lua_tointegerx(L, -n + i, &ok);
        if (!ok || v < 0 || v > 1 << 30) n = 0;
        else out[i] = (int)v;
    }
    if (n == 0) luaL_error(L, "%s: key '%s' must be a non-negative integer or a list of them", where, key);
    lua_pop(L, n);
    return n;
}

/* The parameters of a convolution of an in_h x in_w input with a kh x kw kernel. */
static dc_conv_params check_conv_params(lua_State *L, int idx, const char *where, int in_h, int in_w,
                                        int kh, int kw)
{
    static const char *const keys[] = {"stride", "padding", NULL};
    luaL_checktype(L, idx, LUA_TTABLE);
    dc_lua_check_keys(L, idx, where, keys);
    int v[4], s[2];
    lua_getfield(L, idx, "stride");
    int n = int_list(L, where, "stride", v);
    if (n > 2) luaL_error(L, "%s: key 'stride' must be s or {sh, sw}", where);
    s[0] = v[0];
    s[1] = n == 2 ? v[1] : v[0];
    lua_pop(L, 1);
    dc_conv_params p = dc_conv_params_valid(kh, kw, s[0], s[1]);
    if (lua_getfield(L, idx, "padding") == LUA_TSTRING) {
        const char *m = lua_tostring(L, -1);
        if (strcmp(m, "SAME") == 0) p = dc_conv_params_same(in_h, in_w, kh, kw, s[0], s[1]);
        else if (strcmp(m, "VALID") != 0)
            luaL_error(L, "%s: padding '%s' is not \"SAME\", \"VALID\", p, {ph, pw} or {top, left, "
                       "bottom, right}", where, m);
    } else {
        n = int_list(L, where, "padding", v);
        if (n == 3) luaL_error(L, "%s: padding has 1, 2 or 4 values, not 3", where);
        p.pad_t = v[0];
        p.pad_l = n >= 2 ? v[1] : v[0];
        p.pad_b = n == 4 ? v[2] : p.pad_t;
        p.pad_r = n == 4 ? v[3] : p.pad_l;
    }
    lua_pop(L, 1);
    return p;
}

static const dc_tensor *check_4d(lua_State *L, int idx, const char *where, const char *arg)
{
    dc_tensor *t = dc_lua_check_tensor(L, idx);
    if (t->ndim != 4) luaL_error(L, "%s: %s must have 4 dimensions, got %d", where, arg, t->ndim);
    return t;
}

static int l_conv2d(lua_State *L)
{
    const dc_tensor *x = check_4d(L, 1, "conv2d", "x"), *w = check_4d(L, 2, "conv2d", "w");
    const dc_tensor *b = opt_tensor(L, 3);
    dc_conv_params p = check_conv_params(L, 4, "conv2d", x->shape[2], x->shape[3], w->shape[2], w->shape[3]);
    int oh, ow;
    DC_LUA_TRY(L, dc_conv2d_out_size(&p, x->shape[2], x->shape[3], &oh, &ow));
    dc_tensor *y = dc_lua_new_tensor(L, 4, (int[]){x->shape[0], w->shape[0], oh, ow});
    DC_LUA_TRY(L, dc_conv2d_forward(dc_lua_ctx(L), x, w, b, y, &p, NULL));
    return 1;
}

static int l_conv2d_out_size(lua_State *L)
{
    const int h = (int)luaL_checkinteger(L, 1), w = (int)luaL_checkinteger(L, 2);
    const int kh = (int)luaL_checkinteger(L, 3), kw = (int)luaL_checkinteger(L, 4);
    dc_conv_params p = check_conv_params(L, 5, "conv2d_out_size", h, w, kh, kw);
    int oh, ow;
    DC_LUA_TRY(L, dc_conv2d_out_size(&p, h, w, &oh, &ow));
    lua_pushinteger(L, oh);
    lua_pushinteger(L, ow);
    return 2;
}

static int l_conv2d_backward_input(lua_State *L)
{
    const char *where = "conv2d_backward_input";
    const dc_tensor *x = check_4d(L, 1, where, "x"), *w = check_4d(L, 2, where, "w");
    const dc_tensor *dy = dc_lua_check_tensor(L, 3);
    dc_conv_params p = check_conv_params(L, 4, where, x->shape[2], x->shape[3], w->shape[2], w->shape[3]);
    dc_tensor *dx = dc_lua_new_tensor(L, 4, x->shape);
    DC_LUA_TRY(L, dc_conv2d_backward_input(dc_lua_ctx(L), dy, w, dx, &p, 0, NULL));
    return 1;
}

static int l_conv2d_backward_params(lua_State *L)
{
    const char *where = "conv2d_backward_params";
    const dc_tensor *x = check_4d(L, 1, where, "x"), *w = check_4d(L, 2, where, "w");
    const dc_tensor *dy = dc_lua_check_tensor(L, 3);
    dc_conv_params p = check_conv_params(L, 4, where, x->shape[2], x->shape[3], w->shape[2], w->shape[3]);
    dc_tensor *dw = dc_lua_new_tensor(L, 4, w->shape);
    dc_tensor *db = dc_lua_new_tensor(L, 1, w->shape);
    DC_LUA_TRY(L, dc_conv2d_backward_params(dc_lua_ctx(L), x, dy, dw, db, &p, 0, NULL));
    return 2;
}

/* ------------------------------------------------------------------ fully connected */

static int l_fc(lua_State *L)
{
    const dc_tensor *x = dc_lua_check_tensor(L, 1), *w = dc_lua_check_tensor(L, 2);
    const dc_tensor *b = opt_tensor(L, 3);
    dc_tensor *y = dc_lua_new_tensor(L, 2, (int[]){x->shape[0], w->shape[0]});
    DC_LUA_TRY(L, dc_fc_forward(dc_lua_ctx(L), x, w, b, y));
    return 1;
}

static int l_fc_backward_input(lua_State *L)
{
    const dc_tensor *x = dc_lua_check_tensor(L, 1), *w = dc_lua_check_tensor(L, 2);
    const dc_tensor *dy = dc_lua_check_tensor(L, 3);
    dc_tensor *dx = dc_lua_new_tensor(L, x->ndim, x->shape);
    DC_LUA_TRY(L, dc_fc_backward_input(dc_lua_ctx(L), dy, w, dx, 0));
    return 1;
}

static int l_fc_backward_params(lua_State *L)
{
    const dc_tensor *x = dc_lua_check_tensor(L, 1), *w = dc_lua_check_tensor(L, 2);
    const dc_tensor *dy = dc_lua_check_tensor(L, 3);
    dc_tensor *dw = dc_lua_new_tensor(L, w->ndim, w->shape);
    dc_tensor *db = dc_lua_new_tensor(L, 1, w->shape);
    DC_LUA_TRY(L, dc_fc_backward_params(dc_lua_ctx(L), x, dy, dw, db, 0));
    return 2;
}

/* ------------------------------------------------------------------ frozen batch norm */

typedef struct bn_args {
    const dc_tensor *mean, *var, *gamma, *beta;
    float eps;
} bn_args;

/* The tensor in field key of the table at idx (NULL when absent and not required). */
static dc_tensor *field_tensor(lua_State *L, int idx, const char *where, const char *key,
                               int required)
{
    dc_tensor *t = NULL;
    if (lua_getfield(L, idx, key) == LUA_TNIL) {
        if (required) luaL_error(L, "%s: key '%s' (a tensor) is required", where, key);
    } else {
        t = dc_lua_check_tensor(L, lua_gettop(L));
    }
    lua_pop(L, 1);
    return t;
}

static bn_args check_bn(lua_State *L, int idx, const char *where, int need_mean)
{
    static const char *const keys[] = {"mean", "var", "gamma", "beta", "eps", NULL};
    luaL_checktype(L, idx, LUA_TTABLE);
    dc_lua_check_keys(L, idx, where, keys);
    bn_args a;
    a.mean = field_tensor(L, idx, where, "mean", need_mean);
    a.var = field_tensor(L, idx, where, "var", 1);
    a.gamma = field_tensor(L, idx, where, "gamma", 0);
    a.beta = field_tensor(L, idx, where, "beta", 0);
    a.eps = (float)dc_lua_opt_number(L, idx, "eps", 0.001);
    return a;
}

static int l_batchnorm(lua_State *L)
{
    const dc_tensor *x = dc_lua_check_tensor(L, 1);
    bn_args a = check_bn(L, 2, "batchnorm", 1);
    dc_tensor *y = dc_lua_new_tensor(L, x->ndim, x->shape);
    DC_LUA_TRY(L, dc_bn_forward(dc_lua_ctx(L), x, a.gamma, a.beta, a.mean, a.var, a.eps, y));
    return 1;
}

static int l_batchnorm_backward(lua_State *L)
{
    const dc_tensor *dy = dc_lua_check_tensor(L, 1);
    bn_args a = check_bn(L, 2, "batchnorm_backward", 0);
    dc_tensor *dx = dc_lua_new_tensor(L, dy->ndim, dy->shape);
    DC_LUA_TRY(L, dc_bn_backward_input(dc_lua_ctx(L), dy, a.gamma, a.var, a.eps, dx, 0));
    return 1;
}

static int l_bn_fold(lua_State *L)
{
    dc_tensor *w = dc_lua_check_tensor(L, 1), *b = dc_lua_check_tensor(L, 2);
    bn_args a = check_bn(L, 3, "bn_fold", 1);
    DC_LUA_TRY(L, dc_bn_fold(dc_lua_ctx(L), w, b, a.gamma, a.beta, a.mean, a.var, a.eps));
    return 0;
}

/* ------------------------------------------------------------------ GEMM */

static int l_gemm(lua_State *L)
{
    static const char *const keys[] = {"trans_a", "trans_b", "alpha", "beta", "c", NULL};
    const dc_tensor *a = dc_lua_check_tensor(L, 1), *b = dc_lua_check_tensor(L, 2);
    int ta = 0, tb = 0;
    double alpha = 1.0, beta = 0.0;
    dc_tensor *c = NULL;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        dc_lua_check_keys(L, 3, "gemm", keys);
        ta = dc_lua_opt_boolean(L, 3, "trans_a", 0);
        tb = dc_lua_opt_boolean(L, 3, "trans_b", 0);
        alpha = dc_lua_opt_number(L, 3, "alpha", 1.0);
        beta = dc_lua_opt_number(L, 3, "beta", 0.0);
        c = field_tensor(L, 3, "gemm", "c", 0);
    }
    if (a->ndim != 2 || b->ndim != 2) luaL_error(L, "gemm: a and b must be matrices (2 dimensions)");
    if (c) {
        lua_getfield(L, 3, "c");
    } else {
        if (beta != 0.0) luaL_error(L, "gemm: beta needs an output tensor c to scale");
        c = dc_lua_new_tensor(L, 2, (int[]){ta ? a->shape[1] : a->shape[0], tb ? b->shape[0] : b->shape[1]});
    }
    DC_LUA_TRY(L, dc_matmul(dc_lua_ctx(L), ta ? DC_TRANS_YES : DC_TRANS_NO, tb ? DC_TRANS_YES : DC_TRANS_NO,
                            (float)alpha, a, b, (float)beta, c));
    return 1;
}

void dc_lua_open_ops_conv(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"conv2d", l_conv2d},
        {"conv2d_out_size", l_conv2d_out_size},
        {"conv2d_backward_input", l_conv2d_backward_input},
        {"conv2d_backward_params", l_conv2d_backward_params},
        {"fc", l_fc},
        {"fc_backward_input", l_fc_backward_input},
        {"fc_backward_params", l_fc_backward_params},
        {"batchnorm", l_batchnorm},
        {"batchnorm_backward", l_batchnorm_backward},
        {"bn_fold", l_bn_fold},
        {"gemm", l_gemm},
        {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
