/* Faster R-CNN: composition of the networks and the detector ops into one training step and one
 * detection (see frcnn.h). */
#include "nn/frcnn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

struct rows;
static void rows_free(struct rows *r);

/* NET_DN_PROPS (the property heads) is last and exists only with cfg.props, so the other nets'
 * parameters, their order and their initialisation are the same with and without it. */
enum { NET_FN, NET_RPN, NET_RPN_CLS, NET_RPN_BOX, NET_DN, NET_DN_CLS, NET_DN_BOX, NET_DN_PROPS, NET_COUNT };

/* Columns of the property head: a (mean, log sigma) pair per property (dc_gauss_nll_forward). */
#define PROPS_OUT 4

struct dc_frcnn {
    dc_ctx *ctx;
    dc_frcnn_config cfg;
    dc_net *nets[NET_COUNT];
    dc_pool *acts;
    int n_params;
    dc_param **params;
    dc_tensor **grads, **values, **accums; /* views for clipping and SGD */
    struct rows *sample;                   /* the DN batch of the last training step */
    int props_ready;                       /* the property heads were initialised or imported */
};

/* The nets the model has: all, or all but the property heads. */
static int n_nets(const dc_frcnn *m) { return m->cfg.props ? NET_COUNT : NET_DN_PROPS; }

void dc_frcnn_config_paper(dc_frcnn_config *c)
{
    memset(c, 0, sizeof *c);
    c->num_classes = 1;
    c->rpn_channels = 512;
    c->rpn_init_std = 0.01f;
    c->crop_size = 14;
    dc_anchor_params_paper(&c->anchors);
    dc_target_params_rpn(&c->rpn_targets);
    dc_target_params_dn(&c->dn_targets);
    dc_proposal_params_paper(&c->proposals);
    dc_postprocess_params_paper(&c->post);
    c->w_rpn_cls = 1.0f;
    c->w_rpn_box = 2.0f;
    c->w_dn_cls = 1.0f;
    c->w_dn_box = 2.0f;
    c->lr = 0.0002f;
    c->momentum = 0.9f;
    c->clip_norm = 10.0f;
    c->props = 0;
    c->w_z = 1.0f;
    c->w_rich = 1.0f;
}

static dc_layer_spec head_spec(dc_layer_kind kind, const char *name, int out, int k, int relu,
                               dc_init_kind init, float std)
{
    dc_layer_spec s = {.kind = kind, .inputs = {-1}, .n_inputs = 1, .out = out, .kh = k, .kw = k,
                       .sh = 1, .sw = 1, .same = 1, .relu = relu, .init = init, .init_std = std};
    snprintf(s.name, sizeof s.name, "%s", name);
    return s;
}

dc_status dc_frcnn_new(dc_ctx *ctx, const dc_frcnn_config *cfg, const dc_layer_spec *fn, int n_fn,
                       const dc_layer_spec *dn, int n_dn, dc_frcnn **out)
{
    *out = NULL;
    DC_CHECK_ARG(cfg->num_classes == 1, "frcnn: num_classes is %d; the engine detects one class "
                 "(clusters)", cfg->num_classes);
    DC_CHECK_ARG(cfg->rpn_channels > 0 && cfg->crop_size >= 2 && cfg->crop_size % 2 == 0,
                 "frcnn: rpn_channels (%d) must be positive and crop_size (%d) even and >= 2",
                 cfg->rpn_channels, cfg->crop_size);
    DC_CHECK_ARG(cfg->anchors.n_scales > 0 && cfg->anchors.n_ratios > 0, "frcnn: no anchors configured");
    DC_CHECK_ARG(cfg->props == 0 || cfg->props == 1, "frcnn: props is %d; it must be 0 (no property heads) "
                 "or 1", cfg->props);
    DC_CHECK_ARG(isfinite(cfg->w_z) && cfg->w_z >= 0 && isfinite(cfg->w_rich) && cfg->w_rich >= 0,
                 "frcnn: the property loss weights w_z (%g) and w_rich (%g) must be finite and >= 0",
                 cfg->w_z, cfg->w_rich);
    dc_frcnn *m = calloc(1, sizeof *m);
    if (!m) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory for the model");
    m->ctx = ctx;
    m->cfg = *cfg;
    int A = dc_anchor_per_position(&cfg->anchors);
    dc_status st = dc_pool_new(ctx, &m->acts);
    if (st == DC_STATUS_OK) st = dc_net_new(ctx, "fn", 3, fn, n_fn, &m->nets[NET_FN]);
    if (st == DC_STATUS_OK) {
        int c = dc_net_out_channels(m->nets[NET_FN]);
        dc_layer_spec s = head_spec(DC_LAYER_KIND_CONV, "conv", cfg->rpn_channels, 3, 1,
                                    DC_INIT_KIND_TRUNCATED_NORMAL, cfg->rpn_init_std);
        st = dc_net_new(ctx, "rpn", c, &s, 1, &m->nets[NET_RPN]);
    }
    if (st == DC_STATUS_OK) {
        dc_layer_spec s = head_spec(DC_LAYER_KIND_CONV, "cls", A * 2, 1, 0,
                                    DC_INIT_KIND_TRUNCATED_NORMAL, cfg->rpn_init_std);
        st = dc_net_new(ctx, "rpn", cfg->rpn_channels, &s, 1, &m->nets[NET_RPN_CLS]);
    }
    if (st == DC_STATUS_OK) {
        dc_layer_spec s = head_spec(DC_LAYER_KIND_CONV, "box", A * 4, 1, 0,
                                    DC_INIT_KIND_TRUNCATED_NORMAL, cfg->rpn_init_std);
        st = dc_net_new(ctx, "rpn", cfg->rpn_channels, &s, 1, &m->nets[NET_RPN_BOX]);
    }
    if (st == DC_STATUS_OK) st = dc_net_new(ctx, "dn", dc_net_out_channels(m->nets[NET_FN]), dn, n_dn, &m->nets[NET_DN]);
    if (st == DC_STATUS_OK) {
        int c = dc_net_out_channels(m->nets[NET_DN]);
        dc_layer_spec s = head_spec(DC_LAYER_KIND_FC, "cls", cfg->num_classes + 1, 1, 0,
                                    DC_INIT_KIND_GLOROT_UNIFORM, 0);
        st = dc_net_new(ctx, "dn", c, &s, 1, &m->nets[NET_DN_CLS]);
        if (st == DC_STATUS_OK) {
            s = head_spec(DC_LAYER_KIND_FC, "box", 4 * cfg->num_classes, 1, 0, DC_INIT_KIND_GLOROT_UNIFORM, 0);
            st = dc_net_new(ctx, "dn", c, &s, 1, &m->nets[NET_DN_BOX]);
        }
        if (st == DC_STATUS_OK && cfg->props) {
            s = head_spec(DC_LAYER_KIND_FC, "props", PROPS_OUT, 1, 0, DC_INIT_KIND_GLOROT_UNIFORM, 0);
            st = dc_net_new(ctx, "dn", c, &s, 1, &m->nets[NET_DN_PROPS]);
        }
    }
    if (st == DC_STATUS_OK) {
        for (int i = 0; i < n_nets(m); i++) m->n_params += dc_net_param_count(m->nets[i]);
        m->params = calloc((size_t)m->n_params, sizeof *m->params);
        m->grads = calloc((size_t)m->n_params, sizeof *m->grads);
        m->values = calloc((size_t)m->n_params, sizeof *m->values);
        m->accums = calloc((size_t)m->n_params, sizeof *m->accums);
        if (!m->params || !m->grads || !m->values || !m->accums)
            st = DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory for the model");
    }
    if (st != DC_STATUS_OK) {
        dc_frcnn_free(m);
        return st;
    }
    int k = 0;
    for (int i = 0; i < n_nets(m); i++)
        for (int j = 0; j < dc_net_param_count(m->nets[i]); j++) {
            dc_param *p = dc_net_param(m->nets[i], j);
            m->params[k] = p;
            m->grads[k] = p->grad;
            m->values[k] = p->value;
            m->accums[k] = p->accum;
            k++;
        }
    *out = m;
    return DC_STATUS_OK;
}

void dc_frcnn_free(dc_frcnn *m)
{
    if (!m) return;
    for (int i = 0; i < NET_COUNT; i++) dc_net_free(m->nets[i]);
    if (m->sample) rows_free(m->sample);
    free(m->sample);
    if (m->acts) dc_pool_free(m->acts);
    free(m->params);
    free(m->grads);
    free(m->values);
    free(m->accums);
    free(m);
}

const dc_frcnn_config *dc_frcnn_get_config(const dc_frcnn *m) { return &m->cfg; }
void dc_frcnn_set_lr(dc_frcnn *m, float lr) { m->cfg.lr = lr; }
int dc_frcnn_param_count(const dc_frcnn *m) { return m->n_params; }
dc_param *dc_frcnn_param(dc_frcnn *m, int i) { return m->params[i]; }

size_t dc_frcnn_param_numel(const dc_frcnn *m)
{
    size_t n = 0;
    for (int i = 0; i < n_nets(m); i++) n += dc_net_param_numel(m->nets[i]);
    return n;
}

dc_status dc_frcnn_init(dc_frcnn *m, dc_rng *rng)
{
    for (int i = 0; i < n_nets(m); i++) DC_TRY(dc_net_init(m->nets[i], rng));
    m->props_ready = m->cfg.props;
    return DC_STATUS_OK;
}

int dc_frcnn_has_props(const dc_frcnn *m) { return m->cfg.props && m->props_ready; }

dc_status dc_frcnn_export(const dc_frcnn *m, dc_weights *w, int with_momentum)
{
    for (int i = 0; i < n_nets(m); i++) DC_TRY(dc_net_export(m->nets[i], w, with_momentum));
    return DC_STATUS_OK;
}

dc_status dc_frcnn_import(dc_frcnn *m, const dc_weights *w, const char *label, int with_momentum)
{
    for (int i = 0; i < NET_DN_PROPS; i++) DC_TRY(dc_net_import(m->nets[i], w, label, with_momentum));
    if (!m->cfg.props) return DC_STATUS_OK;
    /* the heads are optional in the file: absent (weights from before them) -> left as they are;
     * present -> imported whole (a missing part is an error naming it) */
    dc_net *heads = m->nets[NET_DN_PROPS];
    int present = 0;
    for (int j = 0; j < dc_net_param_count(heads); j++) present |= dc_weights_find(w, dc_net_param(heads, j)->name) != NULL;
    if (!present) return DC_STATUS_OK;
    DC_TRY(dc_net_import(heads, w, label, with_momentum));
    m->props_ready = 1;
    return DC_STATUS_OK;
}

/* ------------------------------------------------------------------ the shared forward */

static dc_status pool_t(dc_frcnn *m, int ndim, const int *shape, dc_tensor **t)
{
    return dc_pool_tensor(m->acts, ndim, shape, t);
}

static float read_scalar(dc_status *st, const dc_tensor *t)
{
    float v = 0;
    if (*st == DC_STATUS_OK) *st = dc_tensor_download(t, &v, 1);
    return v;
}

/* Everything a step or a detection computes up to the proposals. */
typedef struct stage1 {
    int H, W, h, w, A, n_anchors;
    dc_tensor *feat, *rpn, *cls_head, *box_head, *anchors, *cls_rows, *box_rows;
    dc_tensor *proposals, *proposal_scores;
    int n_prop;
} stage1;

static dc_status run_stage1(dc_frcnn *m, const dc_tensor *image, stage1 *s)
{
    DC_TRY(dc_tensor_expect(image, "frcnn", "image", 4, 1, 3, -1, -1));
    memset(s, 0, sizeof *s);
    s->H = image->shape[2];
    s->W = image->shape[3];
    DC_TRY(dc_net_forward(m->nets[NET_FN], m->acts, image, &s->feat));
    s->h = s->feat->shape[2];
    s->w = s->feat->shape[3];
    int stride = (int)m->cfg.anchors.stride;
    if ((s->H + stride - 1) / stride != s->h || (s->W + stride - 1) / stride != s->w)
        return DC_FAIL(DC_STATUS_INVALID_ARG, "frcnn: the feature network maps a %dx%d image to %dx%d, "
                       "which is not the anchor stride %d: set anchors.stride to the network's stride",
                       s->H, s->W, s->h, s->w, stride);
    DC_TRY(dc_net_forward(m->nets[NET_RPN], m->acts, s->feat, &s->rpn));
    DC_TRY(dc_net_forward(m->nets[NET_RPN_CLS], m->acts, s->rpn, &s->cls_head));
    DC_TRY(dc_net_forward(m->nets[NET_RPN_BOX], m->acts, s->rpn, &s->box_head));
    s->A = dc_anchor_per_position(&m->cfg.anchors);
    s->n_anchors = s->h * s->w * s->A;
    DC_TRY(pool_t(m, 2, (int[]){s->n_anchors, 4}, &s->anchors));
    DC_TRY(dc_anchors_generate(m->ctx, &m->cfg.anchors, s->h, s->w, s->anchors));
    DC_TRY(pool_t(m, 2, (int[]){s->n_anchors, 2}, &s->cls_rows));
    DC_TRY(pool_t(m, 2, (int[]){s->n_anchors, 4}, &s->box_rows));
    DC_TRY(dc_head_to_anchors_forward(m->ctx, s->cls_head, 2, s->cls_rows));
    DC_TRY(dc_head_to_anchors_forward(m->ctx, s->box_head, 4, s->box_rows));
    int P = m->cfg.proposals.max_proposals;
    DC_TRY(pool_t(m, 2, (int[]){P, 4}, &s->proposals));
    DC_TRY(pool_t(m, 1, (int[]){P}, &s->proposal_scores));
    return dc_proposals_run(m->ctx, &m->cfg.proposals, s->anchors, s->cls_rows, s->box_rows,
                            (float)s->H, (float)s->W, s->proposals, s->proposal_scores, &s->n_prop);
}

/* crop_and_resize of the feature map at boxes (pixels, [n, 4] host), then the 2x2 max-pool, then
 * the DN and its heads. crops/pooled are kept for the backward. */
typedef struct stage2 {
    int n;
    dc_tensor *boxes_norm, *crops, *pooled, *dn_out, *logits, *deltas;
    dc_tensor *props; /* [n, PROPS_OUT] with the property heads, else NULL */
} stage2;

static dc_pool2d_params roi_pool(void) { return (dc_pool2d_params){2, 2, 2, 2, 0, 0, 0}; }

static dc_status run_stage2(dc_frcnn *m, const stage1 *s1, const float *boxes, int n, stage2 *s)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    int C = s1->feat->shape[1], cs = m->cfg.crop_size;
    float *norm = malloc((size_t)n * 4 * sizeof *norm);
    if (!norm) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory");
    for (int i = 0; i < n; i++) { /* TF's to_normalized_coordinates */
        norm[4 * i + 0] = boxes[4 * i + 0] / (float)s1->H;
        norm[4 * i + 1] = boxes[4 * i + 1] / (float)s1->W;
        norm[4 * i + 2] = boxes[4 * i + 2] / (float)s1->H;
        norm[4 * i + 3] = boxes[4 * i + 3] / (float)s1->W;
    }
    dc_status st = pool_t(m, 2, (int[]){n, 4}, &s->boxes_norm);
    if (st == DC_STATUS_OK) st = dc_tensor_upload(s->boxes_norm, norm, (size_t)n * 4);
    free(norm);
    DC_TRY(st);
    DC_TRY(pool_t(m, 4, (int[]){n, C, cs, cs}, &s->crops));
    DC_TRY(dc_crop_resize_forward(m->ctx, s1->feat, s->boxes_norm, NULL, 0.0f, s->crops));
    dc_pool2d_params pp = roi_pool();
    DC_TRY(pool_t(m, 4, (int[]){n, C, cs / 2, cs / 2}, &s->pooled));
    DC_TRY(dc_maxpool_forward(m->ctx, s->crops, s->pooled, &pp));
    DC_TRY(dc_net_forward(m->nets[NET_DN], m->acts, s->pooled, &s->dn_out));
    if (!(s->dn_out->ndim == 2 && s->dn_out->shape[0] == n))
        DC_TRY(dc_tensor_expect(s->dn_out, "frcnn", "detection network output (end the DN with a global "
                                "average pool or a fully connected layer)", 4, n, -1, 1, 1));
    DC_TRY(dc_net_forward(m->nets[NET_DN_CLS], m->acts, s->dn_out, &s->logits));
    DC_TRY(dc_net_forward(m->nets[NET_DN_BOX], m->acts, s->dn_out, &s->deltas));
    if (m->cfg.props) DC_TRY(dc_net_forward(m->nets[NET_DN_PROPS], m->acts, s->dn_out, &s->props));
    return DC_STATUS_OK;
}

/* ------------------------------------------------------------------ training */

typedef struct rows {
    int n;
    float *boxes, *labels, *targets, *reg_w;
    float *prop_t, *prop_w; /* [n, 2]: property targets (z, log10 N200) and 1 where known, with heads */
} rows;

static void rows_free(rows *r)
{
    free(r->boxes);
    free(r->labels);
    free(r->targets);
    free(r->reg_w);
    free(r->prop_t);
    free(r->prop_w);
    memset(r, 0, sizeof *r);
}

static float box_iou(const float *a, const float *b)
{
    float ih = fminf(a[2], b[2]) - fmaxf(a[0], b[0]), iw = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
    if (ih <= 0 || iw <= 0) return 0;
    float inter = ih * iw, ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    return ua > 0 ? inter / ua : 0;
}

/* Property targets of the sampled rows: a positive takes those of the ground truth it overlaps
 * most (ties: the first); negatives and unknown (non-finite) values get weight 0. */
static dc_status property_targets(rows *r, const float *gt, const float *gt_props, int n_gt)
{
    size_t n = (size_t)(r->n ? r->n : 1) * 2;
    r->prop_t = calloc(n, sizeof *r->prop_t);
    r->prop_w = calloc(n, sizeof *r->prop_w);
    if (!r->prop_t || !r->prop_w) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory");
    if (!gt_props) return DC_STATUS_OK;
    for (int i = 0; i < r->n; i++) {
        if (!(r->labels[i] > 0) || n_gt == 0) continue;
        int best = 0;
        float best_iou = -1;
        for (int g = 0; g < n_gt; g++) {
            float v = box_iou(r->boxes + 4 * i, gt + 4 * g);
            if (v > best_iou) best_iou = v, best = g;
        }
        for (int j = 0; j < 2; j++) {
            float v = gt_props[2 * best + j];
            if (isfinite(v)) r->prop_t[2 * i + j] = v, r->prop_w[2 * i + j] = 1;
        }
    }
    return DC_STATUS_OK;
}

static dc_status upload_new(dc_frcnn *m, int ndim, const int *shape, const float *data, dc_tensor **t)
{
    DC_TRY(pool_t(m, ndim, shape, t));
    return dc_tensor_upload(*t, data, (*t)->numel);
}

/* The DN's sampled proposals, with their labels and regression targets, on the host. */
static dc_status sample_dn(dc_frcnn *m, const stage1 *s1, const float *gt, int n_gt, dc_rng *rng,
                           rows *r)
{
    memset(r, 0, sizeof *r);
    if (s1->n_prop == 0 && !(m->cfg.dn_add_gt && n_gt > 0)) return DC_STATUS_OK;
    /* candidates: the proposals, and with dn_add_gt the ground truth boxes too */
    const dc_tensor *cand = s1->proposals;
    int P = s1->proposals->shape[0], n_cand = s1->n_prop;
    if (m->cfg.dn_add_gt && n_gt > 0) {
        n_cand = s1->n_prop + n_gt;
        P = n_cand;
        float *hc = malloc((size_t)P * 4 * sizeof *hc);
        if (!hc) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory");
        dc_status st = DC_STATUS_OK;
        if (s1->n_prop > 0) {
            float *all = malloc((size_t)s1->proposals->numel * sizeof *all);
            st = all ? dc_tensor_download(s1->proposals, all, s1->proposals->numel)
                     : DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory");
            if (all) memcpy(hc, all, (size_t)s1->n_prop * 4 * sizeof *hc);
            free(all);
        }
        memcpy(hc + 4 * s1->n_prop, gt, (size_t)n_gt * 4 * sizeof *hc);
        dc_tensor *t = NULL;
        if (st == DC_STATUS_OK) st = upload_new(m, 2, (int[]){P, 4}, hc, &t);
        free(hc);
        DC_TRY(st);
        cand = t;
    }
    dc_tensor *labels, *cls_w, *reg_t, *reg_w;
    DC_TRY(pool_t(m, 1, (int[]){P}, &labels));
    DC_TRY(pool_t(m, 1, (int[]){P}, &cls_w));
    DC_TRY(pool_t(m, 2, (int[]){P, 4}, &reg_t));
    DC_TRY(pool_t(m, 1, (int[]){P}, &reg_w));
    dc_targets t = {labels, cls_w, reg_t, reg_w};
    DC_TRY(dc_targets_assign(m->ctx, &m->cfg.dn_targets, cand, n_cand, gt, NULL, n_gt,
                             (float)s1->H, (float)s1->W, rng, &t, NULL));
    float *hb = malloc((size_t)P * 11 * sizeof *hb);
    if (!hb) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory");
    float *hl = hb + 4 * P, *hw = hl + P, *ht = hw + P, *hr = ht + 4 * P;
    dc_status st = dc_tensor_download(cand, hb, (size_t)P * 4);
    if (st == DC_STATUS_OK) st = dc_tensor_download(labels, hl, (size_t)P);
    if (st == DC_STATUS_OK) st = dc_tensor_download(cls_w, hw, (size_t)P);
    if (st == DC_STATUS_OK) st = dc_tensor_download(reg_t, ht, (size_t)P * 4);
    if (st == DC_STATUS_OK) st = dc_tensor_download(reg_w, hr, (size_t)P);
    int n = 0;
    for (int i = 0; i < P; i++) n += hw[i] > 0;
    r->boxes = malloc((size_t)(n ? n : 1) * 4 * sizeof(float));
    r->targets = malloc((size_t)(n ? n : 1) * 4 * sizeof(float));
    r->labels = malloc((size_t)(n ? n : 1) * sizeof(float));
    r->reg_w = malloc((size_t)(n ? n : 1) * sizeof(float));
    if (st == DC_STATUS_OK && (!r->boxes || !r->targets || !r->labels || !r->reg_w))
        st = DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory");
    for (int i = 0, k = 0; st == DC_STATUS_OK && i < P; i++) {
        if (hw[i] <= 0) continue;
        memcpy(r->boxes + 4 * k, hb + 4 * i, 4 * sizeof(float));
        memcpy(r->targets + 4 * k, ht + 4 * i, 4 * sizeof(float));
        r->labels[k] = hl[i];
        r->reg_w[k] = hr[i];
        k++;
    }
    r->n = n;
    free(hb);
    if (st != DC_STATUS_OK) rows_free(r);
    return st;
}


/* Forward of everything and the four losses; with backward, also every gradient. A backward step
 * keeps its DN batch in m->sample; a loss-only step reuses it when there is one (proposals are
 * constants for Faster R-CNN's gradient, so a finite-difference check must hold them fixed). */
static dc_status step(dc_frcnn *m, const dc_tensor *image, const float *gt, const float *gt_props,
                      int n_gt, dc_rng *rng, int backward, dc_frcnn_losses *L)
{
    memset(L, 0, sizeof *L);
    for (int i = 0; i < n_gt; i++)
        if (!(gt[4 * i + 2] > gt[4 * i] && gt[4 * i + 3] > gt[4 * i + 1]))
            return DC_FAIL(DC_STATUS_INVALID_ARG, "frcnn: ground-truth box %d [%g, %g, %g, %g] is empty or "
                           "inverted ([ymin, xmin, ymax, xmax] in pixels)", i, gt[4 * i], gt[4 * i + 1],
                           gt[4 * i + 2], gt[4 * i + 3]);
    dc_pool_reset(m->acts);
    stage1 s1;
    DC_TRY(run_stage1(m, image, &s1));
    L->n_proposals = s1.n_prop;

    /* RPN targets and losses */
    int N = s1.n_anchors;
    dc_tensor *labels, *cls_w, *reg_t, *reg_w, *loss;
    DC_TRY(pool_t(m, 1, (int[]){N}, &labels));
    DC_TRY(pool_t(m, 1, (int[]){N}, &cls_w));
    DC_TRY(pool_t(m, 2, (int[]){N, 4}, &reg_t));
    DC_TRY(pool_t(m, 1, (int[]){N}, &reg_w));
    DC_TRY(pool_t(m, 1, (int[]){1}, &loss));
    dc_targets t = {labels, cls_w, reg_t, reg_w};
    dc_target_stats ts;
    DC_TRY(dc_targets_assign(m->ctx, &m->cfg.rpn_targets, s1.anchors, N, gt, NULL, n_gt, (float)s1.H,
                             (float)s1.W, rng, &t, &ts));
    L->n_rpn_pos = ts.n_pos_sampled;
    /* TF normalises both first-stage losses by the number of sampled anchors */
    float rpn_norm = (float)(ts.n_pos_sampled + ts.n_neg_sampled);
    if (rpn_norm < 1) rpn_norm = 1;
    dc_status st = DC_STATUS_OK;
    DC_TRY(dc_softmax_xent_forward(m->ctx, s1.cls_rows, labels, cls_w, rpn_norm, loss));
    L->rpn_cls = read_scalar(&st, loss);
    DC_TRY(dc_smooth_l1_forward(m->ctx, s1.box_rows, reg_t, reg_w, rpn_norm, loss));
    L->rpn_box = read_scalar(&st, loss);
    DC_TRY(st);

    /* DN on the sampled proposals */
    if (!m->sample && !(m->sample = calloc(1, sizeof *m->sample)))
        return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory");
    rows *sampled = m->sample;
    if (backward || sampled->n == 0) {
        rows_free(sampled);
        DC_TRY(sample_dn(m, &s1, gt, n_gt, rng, sampled));
        if (m->cfg.props) DC_TRY(property_targets(sampled, gt, gt_props, n_gt));
    }
    const rows r = *sampled;
    stage2 s2 = {0};
    dc_tensor *dn_labels = NULL, *dn_targets = NULL, *dn_regw = NULL;
    float dn_norm = (float)(r.n > 0 ? r.n : 1);
    if (r.n > 0) {
        for (int i = 0; i < r.n; i++) L->n_dn_pos += r.labels[i] > 0;
        st = run_stage2(m, &s1, r.boxes, r.n, &s2);
        if (st == DC_STATUS_OK) st = upload_new(m, 1, (int[]){r.n}, r.labels, &dn_labels);
        if (st == DC_STATUS_OK) st = upload_new(m, 2, (int[]){r.n, 4}, r.targets, &dn_targets);
        if (st == DC_STATUS_OK) st = upload_new(m, 1, (int[]){r.n}, r.reg_w, &dn_regw);
        if (st == DC_STATUS_OK) st = dc_softmax_xent_forward(m->ctx, s2.logits, dn_labels, NULL, dn_norm, loss);
        L->dn_cls = read_scalar(&st, loss);
        if (st == DC_STATUS_OK) st = dc_smooth_l1_forward(m->ctx, s2.deltas, dn_targets, dn_regw, dn_norm, loss);
        L->dn_box = read_scalar(&st, loss);
    }
    DC_TRY(st);
    const dc_frcnn_config *c = &m->cfg;
    /* property heads: each NLL on its own (weights masking the other property) for the report; the
     * backward's weights carry w_z and w_rich */
    dc_tensor *prop_t = NULL, *prop_wsum = NULL;
    float prop_norm = (float)(L->n_dn_pos > 0 ? L->n_dn_pos : 1);
    int prop_grad = 0;
    if (c->props && r.n > 0) {
        float *hw = malloc((size_t)r.n * 6 * sizeof *hw);
        if (!hw) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory");
        float *wz = hw, *wr = hw + 2 * r.n, *ws = hw + 4 * r.n;
        for (int i = 0; i < r.n; i++) {
            L->n_z += r.prop_w[2 * i] > 0;
            L->n_rich += r.prop_w[2 * i + 1] > 0;
            wz[2 * i] = r.prop_w[2 * i], wz[2 * i + 1] = 0;
            wr[2 * i] = 0, wr[2 * i + 1] = r.prop_w[2 * i + 1];
            ws[2 * i] = c->w_z * r.prop_w[2 * i], ws[2 * i + 1] = c->w_rich * r.prop_w[2 * i + 1];
            prop_grad |= ws[2 * i] > 0 || ws[2 * i + 1] > 0;
        }
        dc_tensor *twz = NULL, *twr = NULL;
        st = upload_new(m, 2, (int[]){r.n, 2}, r.prop_t, &prop_t);
        if (st == DC_STATUS_OK) st = upload_new(m, 2, (int[]){r.n, 2}, wz, &twz);
        if (st == DC_STATUS_OK) st = upload_new(m, 2, (int[]){r.n, 2}, wr, &twr);
        if (st == DC_STATUS_OK) st = upload_new(m, 2, (int[]){r.n, 2}, ws, &prop_wsum);
        free(hw);
        if (st == DC_STATUS_OK) st = dc_gauss_nll_forward(m->ctx, s2.props, prop_t, twz, prop_norm, loss);
        L->dn_z = read_scalar(&st, loss);
        if (st == DC_STATUS_OK) st = dc_gauss_nll_forward(m->ctx, s2.props, prop_t, twr, prop_norm, loss);
        L->dn_rich = read_scalar(&st, loss);
        DC_TRY(st);
    }
    L->total = c->w_rpn_cls * L->rpn_cls + c->w_rpn_box * L->rpn_box + c->w_dn_cls * L->dn_cls +
               c->w_dn_box * L->dn_box;
    if (c->props) L->total += c->w_z * L->dn_z + c->w_rich * L->dn_rich;
    if (!backward) return DC_STATUS_OK;

    /* backward: DN heads -> DN -> max-pool -> crop_and_resize -> feature map gradient */
    for (int i = 0; i < n_nets(m); i++) DC_TRY(dc_net_zero_grad(m->nets[i]));
    const int *fs = s1.feat->shape;
    dc_tensor *dfeat;
    DC_TRY(pool_t(m, 4, fs, &dfeat));
    if (s2.n > 0) {
        dc_tensor *dlogits, *ddeltas, *ddn, *ddn2, *dpooled, *dcrops;
        DC_TRY(pool_t(m, 2, s2.logits->shape, &dlogits));
        DC_TRY(pool_t(m, 2, s2.deltas->shape, &ddeltas));
        DC_TRY(dc_softmax_xent_backward(m->ctx, s2.logits, dn_labels, NULL, dn_norm, c->w_dn_cls, dlogits));
        DC_TRY(dc_smooth_l1_backward(m->ctx, s2.deltas, dn_targets, dn_regw, dn_norm, c->w_dn_box, ddeltas));
        DC_TRY(dc_net_backward(m->nets[NET_DN_CLS], m->acts, dlogits, &ddn));
        DC_TRY(dc_net_backward(m->nets[NET_DN_BOX], m->acts, ddeltas, &ddn2));
        DC_TRY(dc_add_forward(m->ctx, ddn, ddn2, ddn));
        if (prop_grad) { /* no known property or both weights 0: no term, so nothing changes */
            dc_tensor *dprops, *ddn3;
            DC_TRY(pool_t(m, 2, s2.props->shape, &dprops));
            DC_TRY(dc_gauss_nll_backward(m->ctx, s2.props, prop_t, prop_wsum, prop_norm, 1.0f, dprops));
            DC_TRY(dc_net_backward(m->nets[NET_DN_PROPS], m->acts, dprops, &ddn3));
            DC_TRY(dc_add_forward(m->ctx, ddn, ddn3, ddn));
        }
        DC_TRY(dc_net_backward(m->nets[NET_DN], m->acts, ddn, &dpooled));
        dc_pool2d_params pp = roi_pool();
        DC_TRY(pool_t(m, 4, s2.crops->shape, &dcrops));
        DC_TRY(dc_maxpool_backward_given_y(m->ctx, s2.crops, s2.pooled, dpooled, dcrops, &pp));
        DC_TRY(dc_crop_resize_backward(m->ctx, dcrops, s2.boxes_norm, NULL, dfeat));
    } else {
        DC_TRY(dc_tensor_fill(dfeat, 0.0f));
    }
    /* RPN heads -> RPN conv -> feature map gradient */
    dc_tensor *dcls_rows, *dbox_rows, *dcls_head, *dbox_head, *drpn, *drpn2, *dfeat_rpn;
    DC_TRY(pool_t(m, 2, s1.cls_rows->shape, &dcls_rows));
    DC_TRY(pool_t(m, 2, s1.box_rows->shape, &dbox_rows));
    DC_TRY(dc_softmax_xent_backward(m->ctx, s1.cls_rows, labels, cls_w, rpn_norm, c->w_rpn_cls, dcls_rows));
    DC_TRY(dc_smooth_l1_backward(m->ctx, s1.box_rows, reg_t, reg_w, rpn_norm, c->w_rpn_box, dbox_rows));
    DC_TRY(pool_t(m, 4, s1.cls_head->shape, &dcls_head));
    DC_TRY(pool_t(m, 4, s1.box_head->shape, &dbox_head));
    DC_TRY(dc_head_to_anchors_backward(m->ctx, dcls_rows, 2, dcls_head));
    DC_TRY(dc_head_to_anchors_backward(m->ctx, dbox_rows, 4, dbox_head));
    DC_TRY(dc_net_backward(m->nets[NET_RPN_CLS], m->acts, dcls_head, &drpn));
    DC_TRY(dc_net_backward(m->nets[NET_RPN_BOX], m->acts, dbox_head, &drpn2));
    DC_TRY(dc_add_forward(m->ctx, drpn, drpn2, drpn));
    DC_TRY(dc_net_backward(m->nets[NET_RPN], m->acts, drpn, &dfeat_rpn));
    DC_TRY(dc_add_forward(m->ctx, dfeat, dfeat_rpn, dfeat));
    /* the image needs no gradient */
    return dc_net_backward(m->nets[NET_FN], m->acts, dfeat, NULL);
}

dc_status dc_frcnn_train_step(dc_frcnn *m, const dc_tensor *image, const float *gt,
                              const float *gt_props, int n_gt, dc_rng *rng, int update,
                              dc_frcnn_losses *losses)
{
    DC_TRY(step(m, image, gt, gt_props, n_gt, rng, 1, losses));
    if (!update) return DC_STATUS_OK;
    return dc_frcnn_apply_grads(m, &losses->grad_norm);
}

dc_status dc_frcnn_apply_grads(dc_frcnn *m, float *grad_norm)
{
    DC_TRY(dc_clip_by_global_norm(m->ctx, m->grads, m->n_params, m->cfg.clip_norm, grad_norm));
    return dc_sgd_momentum_step(m->ctx, m->values, (const dc_tensor *const *)m->grads, m->accums,
                                m->n_params, m->cfg.lr, m->cfg.momentum);
}

dc_status dc_frcnn_loss(dc_frcnn *m, const dc_tensor *image, const float *gt,
                        const float *gt_props, int n_gt, dc_rng *rng, dc_frcnn_losses *losses)
{
    return step(m, image, gt, gt_props, n_gt, rng, 0, losses);
}

/* ------------------------------------------------------------------ detection */

dc_status dc_frcnn_detect(dc_frcnn *m, const dc_tensor *image, dc_detection *out, int cap, int *n_out)
{
    return dc_frcnn_detect_props(m, image, out, NULL, cap, n_out);
}

dc_status dc_frcnn_detect_props(dc_frcnn *m, const dc_tensor *image, dc_detection *out,
                                float *props, int cap, int *n_out)
{
    *n_out = 0;
    dc_pool_reset(m->acts);
    stage1 s1;
    DC_TRY(run_stage1(m, image, &s1));
    if (s1.n_prop == 0) return DC_STATUS_OK;
    int P = s1.proposals->shape[0];
    float *boxes = malloc((size_t)P * 4 * sizeof *boxes);
    if (!boxes) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory");
    dc_status st = dc_tensor_download(s1.proposals, boxes, (size_t)P * 4);
    stage2 s2;
    dc_tensor *kept = NULL; /* the n_prop proposals, as postprocessing wants one row per logit row */
    if (st == DC_STATUS_OK) st = upload_new(m, 2, (int[]){s1.n_prop, 4}, boxes, &kept);
    if (st == DC_STATUS_OK) st = run_stage2(m, &s1, boxes, s1.n_prop, &s2);
    free(boxes);
    DC_TRY(st);
    DC_TRY(dc_postprocess_run(m->ctx, &m->cfg.post, kept, s1.n_prop, s2.logits, s2.deltas,
                              (float)s1.H, (float)s1.W, out, cap, n_out));
    if (!props || !dc_frcnn_has_props(m) || *n_out == 0) return DC_STATUS_OK;
    /* the heads at the final boxes: one more crop_and_resize and DN pass on those boxes */
    float *fb = malloc((size_t)*n_out * 4 * sizeof *fb);
    if (!fb) return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "out of host memory");
    for (int i = 0; i < *n_out; i++) memcpy(fb + 4 * i, out[i].box, 4 * sizeof *fb);
    stage2 sp;
    st = run_stage2(m, &s1, fb, *n_out, &sp);
    free(fb);
    DC_TRY(st);
    return dc_tensor_download(sp.props, props, (size_t)*n_out * PROPS_OUT);
}
