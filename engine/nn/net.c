/* Network graph: layers behind a vtable, forward through a pool, backward with gradient
 * accumulation at branch points, initialisation and weights import/export. */
#include "nn/net.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

typedef struct dc_layer dc_layer;

typedef struct dc_layer_vtable {
    const char *name;
    dc_status (*forward)(dc_net *net, dc_layer *l);
    dc_status (*backward)(dc_net *net, dc_layer *l);
} dc_layer_vtable;

struct dc_layer {
    const dc_layer_vtable *vt;
    dc_layer_spec spec;
    int index;
    int in_channels; /* of the first input; concat: the sum */
    int out_channels;
    dc_param *w, *b; /* conv and fc */
};

struct dc_net {
    dc_ctx *ctx;
    int in_channels;
    int n;
    dc_layer *layers;
    dc_param *params;
    int n_params;
    dc_pool *scratch; /* op workspaces (im2col columns) */
    /* per pass */
    dc_pool *acts;
    const dc_tensor *x;
    dc_tensor **out;  /* [n] */
    dc_tensor **grad; /* [n] */
    dc_tensor *dx;
    int want_dx;
};

/* ------------------------------------------------------------------ helpers */

static const dc_tensor *layer_input(dc_net *net, const dc_layer *l, int j)
{
    int src = l->spec.inputs[j];
    return src < 0 ? net->x : net->out[src];
}

static dc_status new_act(dc_net *net, int ndim, const int *shape, dc_tensor **out)
{
    return dc_pool_tensor(net->acts, ndim, shape, out);
}

/* The gradient slot of source src (-1: the network input) for a tensor shaped like `like`.
 * *t is NULL when no gradient is wanted there; *acc says whether it already holds a gradient. */
static dc_status grad_slot(dc_net *net, int src, const dc_tensor *like, dc_tensor **t, int *acc)
{
    dc_tensor **slot = src < 0 ? &net->dx : &net->grad[src];
    *t = NULL;
    *acc = 0;
    if (src < 0 && !net->want_dx) return DC_STATUS_OK;
    if (*slot) {
        *acc = 1;
    } else {
        DC_TRY(new_act(net, like->ndim, like->shape, slot));
    }
    *t = *slot;
    return DC_STATUS_OK;
}

/* For ops that overwrite their output: write into a temporary when the slot already holds a
 * gradient, then add. begin_grad gives the tensor to write; end_grad adds it when needed. */
static dc_status begin_grad(dc_net *net, int src, const dc_tensor *like, dc_tensor **write,
                            dc_tensor **slot, int *acc)
{
    DC_TRY(grad_slot(net, src, like, slot, acc));
    *write = *slot;
    if (*slot && *acc) DC_TRY(new_act(net, like->ndim, like->shape, write));
    return DC_STATUS_OK;
}

static dc_status end_grad(dc_net *net, dc_tensor *write, dc_tensor *slot, int acc)
{
    if (slot && acc) DC_TRY(dc_add_forward(net->ctx, slot, write, slot));
    return DC_STATUS_OK;
}

static dc_pool2d_params pool_params(const dc_layer_spec *s)
{
    dc_pool2d_params p = {s->kh, s->kw, s->sh, s->sw, 0, 0, s->same};
    return p;
}

static dc_conv_params conv_params(const dc_layer_spec *s, int h, int w)
{
    return s->same ? dc_conv_params_same(h, w, s->kh, s->kw, s->sh, s->sw)
                   : dc_conv_params_valid(s->kh, s->kw, s->sh, s->sw);
}

/* ------------------------------------------------------------------ conv */

static dc_status conv_forward(dc_net *net, dc_layer *l)
{
    const dc_tensor *x = layer_input(net, l, 0);
    dc_conv_params p = conv_params(&l->spec, x->shape[2], x->shape[3]);
    int oh, ow;
    DC_TRY(dc_conv2d_out_size(&p, x->shape[2], x->shape[3], &oh, &ow));
    dc_tensor *y;
    DC_TRY(new_act(net, 4, (int[]){x->shape[0], l->out_channels, oh, ow}, &y));
    DC_TRY(dc_conv2d_forward(net->ctx, x, l->w->value, l->b->value, y, &p, net->scratch));
    if (l->spec.relu) DC_TRY(dc_relu_forward(net->ctx, y, y));
    net->out[l->index] = y;
    return DC_STATUS_OK;
}

static dc_status conv_backward(dc_net *net, dc_layer *l)
{
    const dc_tensor *x = layer_input(net, l, 0);
    dc_tensor *dy = net->grad[l->index];
    if (l->spec.relu) DC_TRY(dc_relu_backward(net->ctx, net->out[l->index], dy, dy));
    dc_conv_params p = conv_params(&l->spec, x->shape[2], x->shape[3]);
    DC_TRY(dc_conv2d_backward_params(net->ctx, x, dy, l->w->grad, l->b->grad, &p, 1, net->scratch));
    dc_tensor *dx;
    int acc;
    DC_TRY(grad_slot(net, l->spec.inputs[0], x, &dx, &acc));
    if (dx) DC_TRY(dc_conv2d_backward_input(net->ctx, dy, l->w->value, dx, &p, acc, net->scratch));
    return DC_STATUS_OK;
}

/* ------------------------------------------------------------------ fully connected */

static dc_status fc_forward(dc_net *net, dc_layer *l)
{
    const dc_tensor *x = layer_input(net, l, 0);
    dc_tensor *y;
    DC_TRY(new_act(net, 2, (int[]){x->shape[0], l->out_channels}, &y));
    DC_TRY(dc_fc_forward(net->ctx, x, l->w->value, l->b->value, y));
    if (l->spec.relu) DC_TRY(dc_relu_forward(net->ctx, y, y));
    net->out[l->index] = y;
    return DC_STATUS_OK;
}

static dc_status fc_backward(dc_net *net, dc_layer *l)
{
    const dc_tensor *x = layer_input(net, l, 0);
    dc_tensor *dy = net->grad[l->index];
    if (l->spec.relu) DC_TRY(dc_relu_backward(net->ctx, net->out[l->index], dy, dy));
    DC_TRY(dc_fc_backward_params(net->ctx, x, dy, l->w->grad, l->b->grad, 1));
    dc_tensor *dx;
    int acc;
    DC_TRY(grad_slot(net, l->spec.inputs[0], x, &dx, &acc));
    if (dx) DC_TRY(dc_fc_backward_input(net->ctx, dy, l->w->value, dx, acc));
    return DC_STATUS_OK;
}

/* ------------------------------------------------------------------ pools, relu, concat */

static dc_status pool_forward(dc_net *net, dc_layer *l)
{
    const dc_tensor *x = layer_input(net, l, 0);
    dc_pool2d_params p = pool_params(&l->spec);
    int oh, ow;
    DC_TRY(dc_pool2d_out_size(&p, x->shape[2], x->shape[3], &oh, &ow));
    dc_tensor *y;
    DC_TRY(new_act(net, 4, (int[]){x->shape[0], x->shape[1], oh, ow}, &y));
    if (l->spec.kind == DC_LAYER_KIND_MAXPOOL)
        DC_TRY(dc_maxpool_forward(net->ctx, x, y, &p));
    else
        DC_TRY(dc_avgpool_forward(net->ctx, x, y, &p));
    net->out[l->index] = y;
    return DC_STATUS_OK;
}

static dc_status pool_backward(dc_net *net, dc_layer *l)
{
    const dc_tensor *x = layer_input(net, l, 0);
    dc_pool2d_params p = pool_params(&l->spec);
    dc_tensor *write = NULL, *slot = NULL;
    int acc;
    DC_TRY(begin_grad(net, l->spec.inputs[0], x, &write, &slot, &acc));
    if (!slot) return DC_STATUS_OK;
    if (l->spec.kind == DC_LAYER_KIND_MAXPOOL)
        DC_TRY(dc_maxpool_backward_given_y(net->ctx, x, net->out[l->index], net->grad[l->index], write, &p));
    else
        DC_TRY(dc_avgpool_backward(net->ctx, net->grad[l->index], write, &p));
    return end_grad(net, write, slot, acc);
}

static dc_status gap_forward(dc_net *net, dc_layer *l)
{
    const dc_tensor *x = layer_input(net, l, 0);
    dc_tensor *y;
    DC_TRY(new_act(net, 4, (int[]){x->shape[0], x->shape[1], 1, 1}, &y));
    DC_TRY(dc_global_avgpool_forward(net->ctx, x, y));
    net->out[l->index] = y;
    return DC_STATUS_OK;
}

static dc_status gap_backward(dc_net *net, dc_layer *l)
{
    const dc_tensor *x = layer_input(net, l, 0);
    dc_tensor *write = NULL, *slot = NULL;
    int acc;
    DC_TRY(begin_grad(net, l->spec.inputs[0], x, &write, &slot, &acc));
    if (!slot) return DC_STATUS_OK;
    DC_TRY(dc_global_avgpool_backward(net->ctx, net->grad[l->index], write));
    return end_grad(net, write, slot, acc);
}

static dc_status relu_forward(dc_net *net, dc_layer *l)
{
    const dc_tensor *x = layer_input(net, l, 0);
    dc_tensor *y;
    DC_TRY(new_act(net, x->ndim, x->shape, &y));
    DC_TRY(dc_relu_forward(net->ctx, x, y));
    net->out[l->index] = y;
    return DC_STATUS_OK;
}

static dc_status relu_backward(dc_net *net, dc_layer *l)
{
    const dc_tensor *x = layer_input(net, l, 0);
    dc_tensor *write = NULL, *slot = NULL;
    int acc;
    DC_TRY(begin_grad(net, l->spec.inputs[0], x, &write, &slot, &acc));
    if (!slot) return DC_STATUS_OK;
    DC_TRY(dc_relu_backward(net->ctx, net->out[l->index], net->grad[l->index], write));
    return end_grad(net, write, slot, acc);
}

static dc_status concat_forward(dc_net *net, dc_layer *l)
{
    const dc_tensor *xs[DC_NET_MAX_INPUTS];
    for (int j = 0; j < l->spec.n_inputs; j++) xs[j] = layer_input(net, l, j);
    const dc_tensor *x0 = xs[0];
    dc_tensor *y;
    DC_TRY(new_act(net, 4, (int[]){x0->shape[0], l->out_channels, x0->shape[2], x0->shape[3]}, &y));
    DC_TRY(dc_concat_forward(net->ctx, xs, l->spec.n_inputs, y));
    net->out[l->index] = y;
    return DC_STATUS_OK;
}

static dc_status concat_backward(dc_net *net, dc_layer *l)
{
    int n = l->spec.n_inputs;
    dc_tensor *write[DC_NET_MAX_INPUTS] = {0}, *slot[DC_NET_MAX_INPUTS] = {0};
    int acc[DC_NET_MAX_INPUTS];
    for (int j = 0; j < n; j++) {
        const dc_tensor *x = layer_input(net, l, j);
        DC_TRY(begin_grad(net, l->spec.inputs[j], x, &write[j], &slot[j], &acc[j]));
        /* an input that needs no gradient still needs a place to receive its slice */
        if (!write[j]) DC_TRY(new_act(net, x->ndim, x->shape, &write[j]));
    }
    DC_TRY(dc_concat_backward(net->ctx, net->grad[l->index], write, n));
    for (int j = 0; j < n; j++) DC_TRY(end_grad(net, write[j], slot[j], acc[j]));
    return DC_STATUS_OK;
}

static const dc_layer_vtable k_vtables[] = {
    [DC_LAYER_KIND_CONV] = {"conv", conv_forward, conv_backward},
    [DC_LAYER_KIND_MAXPOOL] = {"maxpool", pool_forward, pool_backward},
    [DC_LAYER_KIND_AVGPOOL] = {"avgpool", pool_forward, pool_backward},
    [DC_LAYER_KIND_CONCAT] = {"concat", concat_forward, concat_backward},
    [DC_LAYER_KIND_GLOBAL_AVGPOOL] = {"global_avgpool", gap_forward, gap_backward},
    [DC_LAYER_KIND_FC] = {"fc", fc_forward, fc_backward},
    [DC_LAYER_KIND_RELU] = {"relu", relu_forward, relu_backward},
};

/* ------------------------------------------------------------------ construction */

static dc_status param_add(dc_net *net, const char *prefix, const char *layer, const char *what,
                           int ndim, const int *shape, dc_param **out)
{
    dc_param *p = &net->params[net->n_params];
    snprintf(p->name, sizeof p->name, "%s/%s/%s", prefix, layer, what);
    DC_TRY(dc_tensor_new(net->ctx, ndim, shape, &p->value));
    DC_TRY(dc_tensor_new(net->ctx, ndim, shape, &p->grad));
    DC_TRY(dc_tensor_new(net->ctx, ndim, shape, &p->accum));
    net->n_params++;
    *out = p;
    return DC_STATUS_OK;
}

static dc_status layer_setup(dc_net *net, const char *prefix, dc_layer *l, int i)
{
    const dc_layer_spec *s = &l->spec;
    if (s->kind < DC_LAYER_KIND_CONV || s->kind > DC_LAYER_KIND_RELU)
        return DC_FAIL(DC_STATUS_INVALID_ARG, "layer %d (%s): unknown kind %d", i, s->name, (int)s->kind);
    l->vt = &k_vtables[s->kind];
    l->index = i;
    int max_inputs = s->kind == DC_LAYER_KIND_CONCAT ? DC_NET_MAX_INPUTS : 1;
    if (s->n_inputs < 1 || s->n_inputs > max_inputs)
        return DC_FAIL(DC_STATUS_INVALID_ARG, "layer %s (%s): %d inputs (takes 1%s)", s->name, l->vt->name,
                       s->n_inputs, max_inputs > 1 ? " to 8" : "");
    int channels = 0;
    for (int j = 0; j < s->n_inputs; j++) {
        int src = s->inputs[j];
        if (src < -1 || src >= i)
            return DC_FAIL(DC_STATUS_INVALID_ARG, "layer %s: input %d refers to layer %d, which is not an "
                           "earlier layer", s->name, j + 1, src);
        channels += src < 0 ? net->in_channels : net->layers[src].out_channels;
    }
    l->in_channels = channels;
    int window = s->kind == DC_LAYER_KIND_CONV || s->kind == DC_LAYER_KIND_MAXPOOL ||
                 s->kind == DC_LAYER_KIND_AVGPOOL;
    if (window && (s->kh < 1 || s->kw < 1 || s->sh < 1 || s->sw < 1))
        return DC_FAIL(DC_STATUS_INVALID_ARG, "layer %s: window %dx%d stride %dx%d must be positive", s->name,
                       s->kh, s->kw, s->sh, s->sw);
    switch (s->kind) {
    case DC_LAYER_KIND_CONV:
    case DC_LAYER_KIND_FC:
        if (s->out < 1) return DC_FAIL(DC_STATUS_INVALID_ARG, "layer %s: %d outputs", s->name, s->out);
        l->out_channels = s->out;
        if (s->kind == DC_LAYER_KIND_CONV)
            DC_TRY(param_add(net, prefix, s->name, "w", 4, (int[]){s->out, channels, s->kh, s->kw}, &l->w));
        else
            /* a fully connected layer on a spatial map reads channels x kh x kw features */
            DC_TRY(param_add(net, prefix, s->name, "w", 2,
                             (int[]){s->out, channels * (s->kh > 0 ? s->kh : 1) * (s->kw > 0 ? s->kw : 1)}, &l->w));
        DC_TRY(param_add(net, prefix, s->name, "b", 1, (int[]){s->out}, &l->b));
        break;
    default:
        l->out_channels = channels;
    }
    return DC_STATUS_OK;
}

dc_status dc_net_new(dc_ctx *ctx, const char *prefix, int in_channels, const dc_layer_spec *specs,
                     int n, dc_net **out)
{
    *out = NULL;
    DC_CHECK_ARG(n >= 1, "a network needs at least one layer");
    DC_CHECK_ARG(in_channels >= 1, "a network needs at least one input channel");
    dc_net *net = calloc(1, sizeof *net);
    if (!net) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory for a network");
    net->ctx = ctx;
    net->in_channels = in_channels;
    net->n = n;
    net->layers = calloc((size_t)n, sizeof *net->layers);
    net->params = calloc((size_t)n * 2, sizeof *net->params);
    net->out = calloc((size_t)n, sizeof *net->out);
    net->grad = calloc((size_t)n, sizeof *net->grad);
    dc_status st = DC_STATUS_OK;
    if (!net->layers || !net->params || !net->out || !net->grad)
        st = DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory for a network");
    if (st == DC_STATUS_OK) st = dc_pool_new(ctx, &net->scratch);
    for (int i = 0; st == DC_STATUS_OK && i < n; i++) {
        net->layers[i].spec = specs[i];
        st = layer_setup(net, prefix, &net->layers[i], i);
    }
    if (st != DC_STATUS_OK) {
        dc_net_free(net);
        return st;
    }
    *out = net;
    return DC_STATUS_OK;
}

void dc_net_free(dc_net *net)
{
    if (!net) return;
    for (int i = 0; i < net->n_params; i++) {
        dc_tensor_free(net->params[i].value);
        dc_tensor_free(net->params[i].grad);
        dc_tensor_free(net->params[i].accum);
    }
    if (net->scratch) dc_pool_free(net->scratch);
    free(net->params);
    free(net->layers);
    free(net->out);
    free(net->grad);
    free(net);
}

int dc_net_out_channels(const dc_net *net) { return net->layers[net->n - 1].out_channels; }
int dc_net_param_count(const dc_net *net) { return net->n_params; }
dc_param *dc_net_param(dc_net *net, int i) { return &net->params[i]; }

size_t dc_net_param_numel(const dc_net *net)
{
    size_t n = 0;
    for (int i = 0; i < net->n_params; i++) n += net->params[i].value->numel;
    return n;
}

/* ------------------------------------------------------------------ initialisation */

static double truncated_normal(dc_rng *rng, double std)
{
    double v; /* TF's truncated_normal: redraw beyond two standard deviations */
    do v = dc_rng_normal(rng);
    while (fabs(v) > 2.0);
    return v * std;
}

dc_status dc_net_zero_grad(dc_net *net)
{
    for (int i = 0; i < net->n_params; i++) DC_TRY(dc_tensor_fill(net->params[i].grad, 0.0f));
    return DC_STATUS_OK;
}

dc_status dc_net_init(dc_net *net, dc_rng *rng)
{
    for (int i = 0; i < net->n; i++) {
        dc_layer *l = &net->layers[i];
        if (!l->w) continue;
        const dc_tensor *w = l->w->value;
        size_t fan_in = w->numel / (size_t)w->shape[0];
        size_t fan_out = (size_t)w->shape[0] * (w->ndim == 4 ? (size_t)(w->shape[2] * w->shape[3]) : 1);
        float *h = malloc(w->numel * sizeof *h);
        if (!h) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory initialising %s", l->w->name);
        for (size_t k = 0; k < w->numel; k++) {
            switch (l->spec.init) {
            case DC_INIT_KIND_TRUNCATED_NORMAL: h[k] = (float)truncated_normal(rng, l->spec.init_std); break;
            case DC_INIT_KIND_GLOROT_UNIFORM: {
                double lim = sqrt(6.0 / (double)(fan_in + fan_out));
                h[k] = (float)((2.0 * dc_rng_uniform(rng) - 1.0) * lim);
                break;
            }
            default:
                /* TF's variance_scaling(2, fan_in, truncated) corrects the std for the truncation */
                h[k] = (float)truncated_normal(rng, sqrt(2.0 / (double)fan_in) / 0.87962566103423978);
            }
        }
        dc_status st = dc_tensor_upload(l->w->value, h, w->numel);
        free(h);
        DC_TRY(st);
        DC_TRY(dc_tensor_fill(l->b->value, 0.0f));
    }
    for (int i = 0; i < net->n_params; i++) DC_TRY(dc_tensor_fill(net->params[i].accum, 0.0f));
    return dc_net_zero_grad(net);
}

/* ------------------------------------------------------------------ passes */

dc_status dc_net_forward(dc_net *net, dc_pool *acts, const dc_tensor *x, dc_tensor **y)
{
    /* a network that starts with a fully connected layer also takes rows [N, C] */
    if (!(x->ndim == 2 && net->layers[0].spec.kind == DC_LAYER_KIND_FC && x->shape[1] == net->in_channels))
        DC_TRY(dc_tensor_expect(x, "network forward", "input", 4, -1, net->in_channels, -1, -1));
    net->acts = acts;
    net->x = x;
    for (int i = 0; i < net->n; i++) {
        net->out[i] = net->grad[i] = NULL;
    }
    for (int i = 0; i < net->n; i++) {
        dc_layer *l = &net->layers[i];
        dc_status st = l->vt->forward(net, l);
        if (st != DC_STATUS_OK) {
            char msg[1800];
            snprintf(msg, sizeof msg, "%s", dc_error_message());
            return DC_FAIL(st, "layer %s (%s): %s", l->spec.name, l->vt->name, msg);
        }
    }
    *y = net->out[net->n - 1];
    return DC_STATUS_OK;
}

dc_status dc_net_backward(dc_net *net, dc_pool *acts, const dc_tensor *dy, dc_tensor **dx)
{
    dc_tensor *y = net->out[net->n - 1];
    if (!y || acts != net->acts)
        return DC_FAIL(DC_STATUS_INVALID_ARG, "network backward needs a forward with the same pool first");
    if (!dc_tensor_same_shape(dy, y)) {
        char a[96], b[96];
        return DC_FAIL(DC_STATUS_SHAPE, "network backward: gradient %s does not match the output %s",
                       dc_tensor_shape_str(dy, a, sizeof a), dc_tensor_shape_str(y, b, sizeof b));
    }
    net->want_dx = dx != NULL;
    net->dx = NULL;
    dc_tensor *g;
    DC_TRY(new_act(net, dy->ndim, dy->shape, &g));
    DC_TRY(dc_tensor_copy(dy, g));
    net->grad[net->n - 1] = g;
    for (int i = net->n - 1; i >= 0; i--) {
        dc_layer *l = &net->layers[i];
        if (!net->grad[i]) continue; /* no path from the output */
        dc_status st = l->vt->backward(net, l);
        if (st != DC_STATUS_OK) {
            char msg[1800];
            snprintf(msg, sizeof msg, "%s", dc_error_message());
            return DC_FAIL(st, "layer %s (%s) backward: %s", l->spec.name, l->vt->name, msg);
        }
    }
    if (dx) *dx = net->dx;
    return DC_STATUS_OK;
}

dc_status dc_net_out_size(const dc_net *net, int h, int w, int *out_h, int *out_w)
{
    int *hs = malloc((size_t)net->n * 2 * sizeof *hs);
    if (!hs) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory");
    dc_status st = DC_STATUS_OK;
    for (int i = 0; i < net->n && st == DC_STATUS_OK; i++) {
        const dc_layer *l = &net->layers[i];
        int src = l->spec.inputs[0];
        int ih = src < 0 ? h : hs[2 * src], iw = src < 0 ? w : hs[2 * src + 1];
        int oh = ih, ow = iw;
        if (l->spec.kind == DC_LAYER_KIND_CONV) {
            dc_conv_params p = conv_params(&l->spec, ih, iw);
            st = dc_conv2d_out_size(&p, ih, iw, &oh, &ow);
        } else if (l->spec.kind == DC_LAYER_KIND_MAXPOOL || l->spec.kind == DC_LAYER_KIND_AVGPOOL) {
            dc_pool2d_params p = pool_params(&l->spec);
            st = dc_pool2d_out_size(&p, ih, iw, &oh, &ow);
        } else if (l->spec.kind == DC_LAYER_KIND_GLOBAL_AVGPOOL || l->spec.kind == DC_LAYER_KIND_FC) {
            oh = ow = 1;
        }
        hs[2 * i] = oh;
        hs[2 * i + 1] = ow;
    }
    if (st == DC_STATUS_OK) {
        *out_h = hs[2 * (net->n - 1)];
        *out_w = hs[2 * (net->n - 1) + 1];
    }
    free(hs);
    return st;
}

/* ------------------------------------------------------------------ weights */

static dc_status export_tensor(dc_weights *w, const char *name, const dc_tensor *t)
{
    float *h = malloc(t->numel * sizeof *h);
    if (!h) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory exporting %s", name);
    dc_status st = dc_tensor_download(t, h, t->numel);
    if (st == DC_STATUS_OK) st = dc_weights_add(w, name, t->ndim, t->shape, h);
    free(h);
    return st;
}

dc_status dc_net_export(const dc_net *net, dc_weights *w, int with_momentum)
{
    for (int i = 0; i < net->n_params; i++) {
        const dc_param *p = &net->params[i];
        DC_TRY(export_tensor(w, p->name, p->value));
        if (with_momentum) {
            char name[200];
            snprintf(name, sizeof name, "opt/%s", p->name);
            DC_TRY(export_tensor(w, name, p->accum));
        }
    }
    return DC_STATUS_OK;
}

dc_status dc_net_import(dc_net *net, const dc_weights *w, const char *label, int with_momentum)
{
    for (int i = 0; i < net->n_params; i++) {
        dc_param *p = &net->params[i];
        const dc_weight_entry *e;
        DC_TRY(dc_weights_expect(w, label, p->name, p->value->ndim, p->value->shape, &e));
        DC_TRY(dc_tensor_upload(p->value, e->data, e->numel));
        if (with_momentum) {
            char name[200];
            snprintf(name, sizeof name, "opt/%s", p->name);
            DC_TRY(dc_weights_expect(w, label, name, p->value->ndim, p->value->shape, &e));
            DC_TRY(dc_tensor_upload(p->accum, e->data, e->numel));
        } else {
            DC_TRY(dc_tensor_fill(p->accum, 0.0f));
        }
    }
    return dc_net_zero_grad(net);
}
