/* The basic ops (engine/ops/ops_basic.h) on Lua tensors. Forward and backward functions return
 * new tensors (owned by Lua) shaped by the op; losses return numbers. Pooling takes a table
 * {kernel = k | {kh, kw}, stride = s | {sh, sw}, padding = "SAME" | "VALID" | p | {ph, pw}},
 * losses an optional {weights = tensor, norm = number[, dloss = number]}; unknown keys are errors.
 *
 *   y = dc.relu(x)                      dx = dc.relu_backward(x_or_y, dy)
 *   y = dc.add(a, b [, out])            y = dc.scale(x, alpha [, out])   (out may be an input)
 *   y = dc.maxpool(x, cfg)              dx = dc.maxpool_backward(x, y, dy, cfg)
 *   y = dc.avgpool(x, cfg)              dx = dc.avgpool_backward(x, dy, cfg)  (x: for its shape)
 *   y = dc.global_avgpool(x)  -- [N, C] dx = dc.global_avgpool_backward(x, dy)
 *   y = dc.concat({a, b, ...})          {da, db, ...} = dc.concat_backward(dy, {a, b, ...})
 *   loss = dc.softmax_xent(logits, targets [, opts])   d = dc.softmax_xent_backward(...same...)
 *   loss = dc.smooth_l1(pred, target [, opts])         d = dc.smooth_l1_backward(...same...)
 *   norm = dc.clip_by_global_norm({grads}, clip)
 *   dc.sgd_momentum_step({params}, {grads}, {accums}, {lr = ..., momentum = ...}) */
#include <string.h>

#include "lua/lua_bind.h"
#include "ops/ops_basic.h"

/* A new Lua tensor of t's shape, pushed. */
static dc_tensor *push_like(lua_State *L, const dc_tensor *t)
{
    return dc_lua_new_tensor(L, t->ndim, t->shape);
}

/* The array of tensors at idx as a C array living in a userdata pushed on the stack (collected
 * with it, so a Lua error while reading leaks nothing). */
static dc_tensor **check_tensor_list(lua_State *L, int idx, int *n)
{
    idx = lua_absindex(L, idx);
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_Integer len = luaL_len(L, idx);
    luaL_argcheck(L, len >= 1 && len <= 1 << 20, idx, "expected a list of at least one tensor");
    dc_tensor **ts = lua_newuserdatauv(L, (size_t)len * sizeof *ts, 0);
    for (lua_Integer i = 1; i <= len; i++) {
        lua_rawgeti(L, idx, i);
        ts[i - 1] = dc_lua_check_tensor(L, lua_gettop(L));
        lua_pop(L, 1);
    }
    *n = (int)len;
    return ts;
}

/* ------------------------------------------------------------------ elementwise */

static int l_relu(lua_State *L)
{
    dc_tensor *x = dc_lua_check_tensor(L, 1);
    dc_tensor *y = push_like(L, x);
    DC_LUA_TRY(L, dc_relu_forward(dc_lua_ctx(L), x, y));
    return 1;
}

static int l_relu_backward(lua_State *L)
{
    dc_tensor *ref = dc_lua_check_tensor(L, 1), *dy = dc_lua_check_tensor(L, 2);
    dc_tensor *dx = push_like(L, dy);
    DC_LUA_TRY(L, dc_relu_backward(dc_lua_ctx(L), ref, dy, dx));
    return 1;
}

/* The output argument at idx if given (returned as is), else a new tensor like t. */
static dc_tensor *out_or_new(lua_State *L, int idx, const dc_tensor *t)
{
    if (lua_isnoneornil(L, idx)) return push_like(L, t);
    dc_tensor *out = dc_lua_check_tensor(L, idx);
    lua_pushvalue(L, idx);
    return out;
}

static int l_add(lua_State *L)
{
    dc_tensor *a = dc_lua_check_tensor(L, 1), *b = dc_lua_check_tensor(L, 2);
    dc_tensor *y = out_or_new(L, 3, a);
    DC_LUA_TRY(L, dc_add_forward(dc_lua_ctx(L), a, b, y));
    return 1;
}

static int l_scale(lua_State *L)
{
    dc_tensor *x = dc_lua_check_tensor(L, 1);
    float alpha = (float)luaL_checknumber(L, 2);
    dc_tensor *y = out_or_new(L, 3, x);
    DC_LUA_TRY(L, dc_scale_forward(dc_lua_ctx(L), x, alpha, y));
    return 1;
}

/* ------------------------------------------------------------------ pooling */

/* Field key of the table at idx as a pair of integers: a number n means {n, n}. */
static void check_pair(lua_State *L, int idx, const char *where, const char *key, int *a, int *b)
{
    int t = lua_getfield(L, idx, key), ok = 1, ok2 = 1;
    lua_Integer va = 0, vb = 0;
    if (t == LUA_TNUMBER) {
        va = vb = lua_tointegerx(L, -1, &ok);
    } else if (t == LUA_TTABLE && luaL_len(L, -1) == 2) {
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        va = lua_tointegerx(L, -2, &ok);
        vb = lua_tointegerx(L, -1, &ok2);
        lua_pop(L, 2);
    } else {
        ok = 0;
    }
    const lua_Integer lim = 1 << 30; /* the op checks the real range */
    if (!ok || !ok2 || va < -lim || va > lim || vb < -lim || vb > lim)
        luaL_error(L, "%s: key '%s' must be an integer or a pair {h, w}, got %s", where, key,
                   luaL_typename(L, -1));
    *a = (int)va;
    *b = (int)vb;
    lua_pop(L, 1);
}

static dc_pool2d_params check_pool_params(lua_State *L, int idx, const char *where)
{
    static const char *const keys[] = {"kernel", "stride", "padding", NULL};
    luaL_checktype(L, idx, LUA_TTABLE);
    dc_lua_check_keys(L, idx, where, keys);
    dc_pool2d_params p = {0};
    check_pair(L, idx, where, "kernel", &p.kernel_h, &p.kernel_w);
    check_pair(L, idx, where, "stride", &p.stride_h, &p.stride_w);
    if (lua_getfield(L, idx, "padding") == LUA_TSTRING) {
        const char *s = lua_tostring(L, -1);
        if (strcmp(s, "SAME") == 0) p.same = 1;
        else if (strcmp(s, "VALID") != 0)
            luaL_error(L, "%s: padding '%s' is not \"SAME\", \"VALID\" or a number", where, s);
    } else {
        check_pair(L, idx, where, "padding", &p.pad_h, &p.pad_w);
    }
    lua_pop(L, 1);
    return p;
}

/* A new tensor [N, C, OH, OW] for input x. */
static dc_tensor *push_pooled(lua_State *L, const dc_tensor *x, const dc_pool2d_params *p,
                              const char *where)
{
    if (x->ndim != 4)
        luaL_error(L, "%s: x must be [N, C, H, W], got %d dimension(s)", where, x->ndim);
    int oh, ow;
    DC_LUA_TRY(L, dc_pool2d_out_size(p, x->shape[2], x->shape[3], &oh, &ow));
    return dc_lua_new_tensor(L, 4, (int[]){x->shape[0], x->shape[1], oh, ow});
}

static int pool_forward(lua_State *L, int is_max)
{
    const char *where = is_max ? "maxpool" : "avgpool";
    dc_tensor *x = dc_lua_check_tensor(L, 1);
    dc_pool2d_params p = check_pool_params(L, 2, where);
    dc_tensor *y = push_pooled(L, x, &p, where);
    DC_LUA_TRY(L, (is_max ? dc_maxpool_forward : dc_avgpool_forward)(dc_lua_ctx(L), x, y, &p));
    return 1;
}

static int l_maxpool(lua_State *L) { return pool_forward(L, 1); }
static int l_avgpool(lua_State *L) { return pool_forward(L, 0); }

static int l_maxpool_backward(lua_State *L)
{
    dc_tensor *x = dc_lua_check_tensor(L, 1), *y = dc_lua_check_tensor(L, 2);
    dc_tensor *dy = dc_lua_check_tensor(L, 3);
    dc_pool2d_params p = check_pool_params(L, 4, "maxpool_backward");
    dc_tensor *dx = push_like(L, x);
    DC_LUA_TRY(L, dc_maxpool_backward_given_y(dc_lua_ctx(L), x, y, dy, dx, &p));
    return 1;
}

static int l_avgpool_backward(lua_State *L)
{
    dc_tensor *x = dc_lua_check_tensor(L, 1), *dy = dc_lua_check_tensor(L, 2);
    dc_pool2d_params p = check_pool_params(L, 3, "avgpool_backward");
    dc_tensor *dx = push_like(L, x);
    DC_LUA_TRY(L, dc_avgpool_backward(dc_lua_ctx(L), dy, dx, &p));
    return 1;
}

static int l_global_avgpool(lua_State *L)
{
    dc_tensor *x = dc_lua_check_tensor(L, 1);
    if (x->ndim != 4)
        luaL_error(L, "global_avgpool: x must be [N, C, H, W], got %d dimension(s)", x->ndim);
    dc_tensor *y = dc_lua_new_tensor(L, 2, x->shape);
    DC_LUA_TRY(L, dc_global_avgpool_forward(dc_lua_ctx(L), x, y));
    return 1;
}

static int l_global_avgpool_backward(lua_State *L)
{
    dc_tensor *x = dc_lua_check_tensor(L, 1), *dy = dc_lua_check_tensor(L, 2);
    dc_tensor *dx = push_like(L, x);
    DC_LUA_TRY(L, dc_global_avgpool_backward(dc_lua_ctx(L), dy, dx));
    return 1;
}

/* ------------------------------------------------------------------ concat */

static int l_concat(lua_State *L)
{
    int n;
    dc_tensor **xs = check_tensor_list(L, 1, &n);
    int shape[DC_TENSOR_MAX_DIMS];
    memcpy(shape, xs[0]->shape, sizeof shape);
    if (xs[0]->ndim < 2) luaL_error(L, "concat: tensors need at least 2 dimensions");
    shape[1] = 0;
    for (int i = 0; i < n; i++) shape[1] += xs[i]->shape[1];
    dc_tensor *y = dc_lua_new_tensor(L, xs[0]->ndim, shape);
    DC_LUA_TRY(L, dc_concat_forward(dc_lua_ctx(L), (const dc_tensor *const *)xs, n, y));
    return 1;
}

static int l_concat_backward(lua_State *L)
{
    dc_tensor *dy = dc_lua_check_tensor(L, 1);
    int n;
    dc_tensor **xs = check_tensor_list(L, 2, &n);
    dc_tensor **dxs = lua_newuserdatauv(L, (size_t)n * sizeof *dxs, 0);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        dxs[i] = push_like(L, xs[i]);
        lua_rawseti(L, -2, i + 1);
    }
    DC_LUA_TRY(L, dc_concat_backward(dc_lua_ctx(L), dy, dxs, n));
    return 1;
}

/* ------------------------------------------------------------------ losses */

typedef struct loss_opts {
    dc_tensor *weights;
    float norm, dloss;
} loss_opts;

static loss_opts check_loss_opts(lua_State *L, int idx, const char *where, int backward)
{
    static const char *const fwd_keys[] = {"weights", "norm", NULL};
    static const char *const bwd_keys[] = {"weights", "norm", "dloss", NULL};
    loss_opts o = {NULL, 1.0f, 1.0f};
    if (lua_isnoneornil(L, idx)) return o;
    dc_lua_check_keys(L, idx, where, backward ? bwd_keys : fwd_keys);
    o.norm = (float)dc_lua_opt_number(L, idx, "norm", 1.0);
    o.dloss = (float)dc_lua_opt_number(L, idx, "dloss", 1.0);
    if (lua_getfield(L, idx, "weights") != LUA_TNIL)
        o.weights = dc_lua_check_tensor(L, lua_gettop(L));
    lua_pop(L, 1); /* the options table keeps the tensor alive */
    return o;
}

/* Run a loss forward into a temporary one-value tensor and return the value. */
typedef dc_status (*loss_forward_fn)(dc_ctx *, const dc_tensor *, const dc_tensor *,
                                     const dc_tensor *, float, dc_tensor *);
static int loss_forward(lua_State *L, loss_forward_fn fn, const char *where)
{
    dc_tensor *a = dc_lua_check_tensor(L, 1), *b = dc_lua_check_tensor(L, 2);
    loss_opts o = check_loss_opts(L, 3, where, 0);
    dc_ctx *ctx = dc_lua_ctx(L);
    dc_tensor *loss;
    DC_LUA_TRY(L, dc_tensor_new(ctx, 1, (int[]){1}, &loss));
    float value = 0.0f;
    dc_status st = fn(ctx, a, b, o.weights, o.norm, loss);
    if (st == DC_STATUS_OK) st = dc_tensor_download(loss, &value, 1);
    dc_tensor_free(loss);
    DC_LUA_TRY(L, st);
    lua_pushnumber(L, value);
    return 1;
}

typedef dc_status (*loss_backward_fn)(dc_ctx *, const dc_tensor *, const dc_tensor *,
                                      const dc_tensor *, float, float, dc_tensor *);
static int loss_backward(lua_State *L, loss_backward_fn fn, const char *where)
{
    dc_tensor *a = dc_lua_check_tensor(L, 1), *b = dc_lua_check_tensor(L, 2);
    loss_opts o = check_loss_opts(L, 3, where, 1);
    dc_tensor *d = push_like(L, a);
    DC_LUA_TRY(L, fn(dc_lua_ctx(L), a, b, o.weights, o.norm, o.dloss, d));
    return 1;
}

static int l_softmax_xent(lua_State *L)
{
    return loss_forward(L, dc_softmax_xent_forward, "softmax_xent");
}

static int l_softmax_xent_backward(lua_State *L)
{
    return loss_backward(L, dc_softmax_xent_backward, "softmax_xent_backward");
}

static int l_smooth_l1(lua_State *L) { return loss_forward(L, dc_smooth_l1_forward, "smooth_l1"); }

static int l_smooth_l1_backward(lua_State *L)
{
    return loss_backward(L, dc_smooth_l1_backward, "smooth_l1_backward");
}

/* ------------------------------------------------------------------ optimisation */

static int l_clip_by_global_norm(lua_State *L)
{
    int n;
    dc_tensor **grads = check_tensor_list(L, 1, &n);
    float clip = (float)luaL_checknumber(L, 2), norm = 0.0f;
    DC_LUA_TRY(L, dc_clip_by_global_norm(dc_lua_ctx(L), grads, n, clip, &norm));
    lua_pushnumber(L, norm);
    return 1;
}

static int l_sgd_momentum_step(lua_State *L)
{
    static const char *const keys[] = {"lr", "momentum", NULL};
    int np, ng, na;
    dc_tensor **params = check_tensor_list(L, 1, &np);
    dc_tensor **grads = check_tensor_list(L, 2, &ng);
    dc_tensor **accums = check_tensor_list(L, 3, &na);
    luaL_checktype(L, 4, LUA_TTABLE);
    dc_lua_check_keys(L, 4, "sgd_momentum_step", keys);
    if (lua_getfield(L, 4, "lr") != LUA_TNUMBER || lua_getfield(L, 4, "momentum") != LUA_TNUMBER)
        luaL_error(L, "sgd_momentum_step: keys 'lr' and 'momentum' are required numbers");
    float lr = (float)lua_tonumber(L, -2), momentum = (float)lua_tonumber(L, -1);
    lua_pop(L, 2);
    if (np != ng || np != na)
        luaL_error(L, "sgd_momentum_step: %d params, %d grads and %d accums; the lists must match",
                   np, ng, na);
    DC_LUA_TRY(L, dc_sgd_momentum_step(dc_lua_ctx(L), params, (const dc_tensor *const *)grads,
                                       accums, np, lr, momentum));
    return 0;
}

void dc_lua_open_ops_basic(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"relu", l_relu},
        {"relu_backward", l_relu_backward},
        {"add", l_add},
        {"scale", l_scale},
        {"maxpool", l_maxpool},
        {"maxpool_backward", l_maxpool_backward},
        {"avgpool", l_avgpool},
        {"avgpool_backward", l_avgpool_backward},
        {"global_avgpool", l_global_avgpool},
        {"global_avgpool_backward", l_global_avgpool_backward},
        {"concat", l_concat},
        {"concat_backward", l_concat_backward},
        {"softmax_xent", l_softmax_xent},
        {"softmax_xent_backward", l_softmax_xent_backward},
        {"smooth_l1", l_smooth_l1},
        {"smooth_l1_backward", l_smooth_l1_backward},
        {"clip_by_global_norm", l_clip_by_global_norm},
        {"sgd_momentum_step", l_sgd_momentum_step},
        {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
