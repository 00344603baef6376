/* The detector's property heads (dc_frcnn_config.props, issue 10) on the tiny network of
 * test_frcnn.c:
 * - with the heads set to a constant output (weights 0, known biases) the two Gaussian NLLs equal
 *   the value worked out by hand, so the targets (the ground truth's z and log10 N200 on every
 *   sampled positive) and the normalisation (by the sampled positives) are right; an unknown (NaN)
 *   property or no properties at all give no loss for it;
 * - every parameter's gradient of the full loss, the heads' included, against finite differences;
 * - props on with both loss weights 0 trains the detector bit-identically to props off (same
 *   losses, same parameters, same detections);
 * - training on one image brings the predicted z and N200 to the truth;
 * - weights without the heads load into a model with heads (which then reports no properties
 *   until initialised), weights with heads load into a model without them;
 * - bad settings are refused naming the key. */
#include <stdlib.h>
#include <string.h>

#include "dc_test.h"
#include "nn/frcnn.h"
#include "nn/weights.h"
#include "test_nn_util.h"

#define S 32
static dc_ctx *ctx;
static dc_layer_spec fn[2], dn[2];
static const float gt[4] = {6, 9, 22, 25};
static float gt_props[2] = {0.15f, 1.4771213f}; /* z, log10 30 */

static void tiny_config(dc_frcnn_config *cfg)
{
    dc_frcnn_config_paper(cfg);
    cfg->rpn_channels = 8;
    cfg->crop_size = 4;
    cfg->anchors = (dc_anchor_params){.n_scales = 2, .scales = {0.5f, 1.0f}, .n_ratios = 2,
                                      .ratios = {0.5f, 1.0f}, .base_size = 16, .stride = 4, .offset = 2};
    cfg->rpn_targets.batch = 32;
    cfg->rpn_targets.max_pos = 16;
    cfg->dn_targets.batch = 8;
    cfg->dn_targets.max_pos = 4;
    cfg->proposals.max_proposals = 20;
    cfg->proposals.pre_nms_top_k = 100;
    cfg->rpn_init_std = 0.3f;
    cfg->dn_add_gt = 1; /* the ground truth among the DN candidates: positives from the first step */
}

/* A model from seed: init, then small random biases (off the ReLU kinks, as test_frcnn.c). */
static dc_frcnn *model(const dc_frcnn_config *cfg, uint64_t seed)
{
    dc_frcnn *m = NULL;
    CHECK_OK(dc_frcnn_new(ctx, cfg, fn, 2, dn, 2, &m));
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    CHECK_OK(dc_frcnn_init(m, &rng));
    dc_rng br;
    dc_rng_seed(&br, seed + 1000);
    for (int i = 0; i < dc_frcnn_param_count(m); i++) {
        dc_param *p = dc_frcnn_param(m, i);
        if (p->value->ndim != 1) continue;
        float b[64];
        for (size_t k = 0; k < p->value->numel; k++) b[k] = (float)(0.1 * dc_rng_normal(&br));
        CHECK_OK(dc_tensor_upload(p->value, b, p->value->numel));
    }
    return m;
}

static int is_head(const dc_param *p) { return strncmp(p->name, "dn/props/", 9) == 0; }

static float *download(const dc_tensor *t)
{
    float *h = malloc(t->numel * sizeof *h);
    CHECK_OK(dc_tensor_download(t, h, t->numel));
    return h;
}

typedef struct fd_case {
    dc_frcnn *m;
    const dc_tensor *img;
    const dc_rng *rng;
} fd_case;

static double fd_loss(void *ud)
{
    fd_case *c = ud;
    dc_rng rng = *c->rng;
    dc_frcnn_losses L;
    if (dc_frcnn_loss(c->m, c->img, gt, gt_props, 1, &rng, &L) != DC_STATUS_OK) return NAN;
    return L.total;
}

/* The heads' output made constant: weights 0, bias (mu_z, s_z, mu_r, s_r). */
static void constant_heads(dc_frcnn *m, const float bias[4])
{
    int found = 0;
    for (int i = 0; i < dc_frcnn_param_count(m); i++) {
        dc_param *p = dc_frcnn_param(m, i);
        if (!is_head(p)) continue;
        found++;
        if (p->value->ndim == 1) {
            CHECK(p->value->numel == 4, "head bias has %zu values", p->value->numel);
            CHECK_OK(dc_tensor_upload(p->value, bias, 4));
        } else {
            CHECK_OK(dc_tensor_fill(p->value, 0.0f));
        }
    }
    CHECK(found == 2, "%d head tensors (want weights and bias)", found);
}

static void test_hand_loss(const dc_tensor *img)
{
    dc_frcnn_config cfg;
    tiny_config(&cfg);
    cfg.props = 1;
    cfg.w_z = 2.0f;
    cfg.w_rich = 0.5f;
    dc_frcnn *m = model(&cfg, 11);
    CHECK(dc_frcnn_has_props(m), "initialised model with heads has no props");
    const float bias[4] = {0.1f, 0.2f, 1.2f, -0.3f};
    constant_heads(m, bias);
    dc_rng rng;
    dc_rng_seed(&rng, 5);
    dc_frcnn_losses L;
    CHECK_OK(dc_frcnn_train_step(m, img, gt, gt_props, 1, &rng, 0, &L));
    /* every sampled positive matches the one box and knows both: the mean over them of
     * 0.5 (t - mu)^2 exp(-2 s) + s is that of one row */
    double want_z = 0.5 * pow(gt_props[0] - bias[0], 2) * exp(-2.0 * bias[1]) + bias[1];
    double want_r = 0.5 * pow(gt_props[1] - bias[2], 2) * exp(-2.0 * bias[3]) + bias[3];
    CHECK(L.n_dn_pos > 0 && L.n_z == L.n_dn_pos && L.n_rich == L.n_dn_pos, "positives %d, with z %d, with N200 %d",
          L.n_dn_pos, L.n_z, L.n_rich);
    CHECK_CLOSE(L.dn_z, want_z, 1e-6, 1e-5);
    CHECK_CLOSE(L.dn_rich, want_r, 1e-6, 1e-5);
    double det = L.rpn_cls + 2.0 * L.rpn_box + L.dn_cls + 2.0 * L.dn_box;
    CHECK_CLOSE(L.total, det + 2.0 * L.dn_z + 0.5 * L.dn_rich, 1e-6, 1e-5);
    /* the heads' bias gradient, summed over rows: mean of d/dmu = (mu - t) e^{-2s} (times w) */
    for (int i = 0; i < dc_frcnn_param_count(m); i++) {
        dc_param *p = dc_frcnn_param(m, i);
        if (!is_head(p) || p->value->ndim != 1) continue;
        float *g = download(p->grad);
        CHECK_CLOSE(g[0], 2.0 * (bias[0] - gt_props[0]) * exp(-2.0 * bias[1]), 1e-6, 1e-4);
        CHECK_CLOSE(g[1], 2.0 * (1 - pow(gt_props[0] - bias[0], 2) * exp(-2.0 * bias[1])), 1e-6, 1e-4);
        CHECK_CLOSE(g[2], 0.5 * (bias[2] - gt_props[1]) * exp(-2.0 * bias[3]), 1e-6, 1e-4);
        CHECK_CLOSE(g[3], 0.5 * (1 - pow(gt_props[1] - bias[2], 2) * exp(-2.0 * bias[3])), 1e-6, 1e-4);
        free(g);
    }
    /* an unknown z trains only N200; no properties at all train nothing */
    float half[2] = {NAN, gt_props[1]};
    dc_rng_seed(&rng, 5);
    CHECK_OK(dc_frcnn_train_step(m, img, gt, half, 1, &rng, 0, &L));
    CHECK(L.n_z == 0 && L.dn_z == 0 && L.n_rich > 0, "NaN z: n_z %d dn_z %g n_rich %d", L.n_z, L.dn_z, L.n_rich);
    CHECK_CLOSE(L.dn_rich, want_r, 1e-6, 1e-5);
    dc_rng_seed(&rng, 5);
    CHECK_OK(dc_frcnn_train_step(m, img, gt, NULL, 1, &rng, 0, &L));
    CHECK(L.n_z == 0 && L.n_rich == 0 && L.dn_z == 0 && L.dn_rich == 0, "no properties: %d %d %g %g", L.n_z,
          L.n_rich, L.dn_z, L.dn_rich);
    for (int i = 0; i < dc_frcnn_param_count(m); i++) {
        dc_param *p = dc_frcnn_param(m, i);
        if (!is_head(p)) continue;
        float *g = download(p->grad);
        for (size_t k = 0; k < p->grad->numel; k++) CHECK(g[k] == 0.0f, "%s[%zu] gradient %g without targets", p->name, k, g[k]);
        free(g);
    }
    dc_frcnn_free(m);
}

static void test_gradients(const dc_tensor *img)
{
    dc_frcnn_config cfg;
    tiny_config(&cfg);
    cfg.props = 1;
    cfg.w_z = 1.5f;
    cfg.w_rich = 0.7f;
    dc_frcnn *m = model(&cfg, 11);
    dc_rng rng, r0;
    dc_rng_seed(&rng, 7);
    r0 = rng;
    dc_frcnn_losses L;
    CHECK_OK(dc_frcnn_train_step(m, img, gt, gt_props, 1, &rng, 0, &L));
    CHECK(L.dn_z != 0 && L.dn_rich != 0, "property losses %g %g", L.dn_z, L.dn_rich);
    fd_case fc = {m, img, &r0};
    CHECK_CLOSE(L.total, fd_loss(&fc), 1e-6, 1e-5);
    dc_rng pick;
    dc_rng_seed(&pick, 99);
    int checked = 0, ok_all = 1, heads = 0;
    for (int i = 0; i < dc_frcnn_param_count(m); i++) {
        dc_param *p = dc_frcnn_param(m, i);
        float *g = download(p->grad);
        int want = is_head(p) ? 4 : 2;
        for (int done = 0, tries = 0; done < want && tries < 12; tries++) {
            size_t k = dc_rng_below(&pick, (uint32_t)p->value->numel);
            int res = test_fd_probe(fd_loss, &fc, p->value, k, g[k], 3e-2, p->name);
            if (res < 0) continue;
            ok_all &= res;
            done++;
            checked++;
            heads += is_head(p);
        }
        free(g);
    }
    CHECK(ok_all, "gradients with property heads differ from finite differences");
    CHECK(heads == 8, "%d probes of the heads", heads);
    CHECK(checked >= 2 * dc_frcnn_param_count(m), "only %d probes usable", checked);
    dc_frcnn_free(m);
}

/* props on with both weights 0 against props off: the detector's training is bit-identical. */
static void test_identical(const dc_tensor *img)
{
    dc_frcnn_config off, on;
    tiny_config(&off);
    on = off;
    on.props = 1;
    on.w_z = on.w_rich = 0.0f;
    dc_frcnn *a = model(&off, 21), *b = model(&on, 21);
    dc_frcnn_set_lr(a, 0.01f);
    dc_frcnn_set_lr(b, 0.01f);
    CHECK(dc_frcnn_param_count(b) == dc_frcnn_param_count(a) + 2, "param counts %d %d", dc_frcnn_param_count(a),
          dc_frcnn_param_count(b));
    dc_rng ra, rb;
    dc_rng_seed(&ra, 3);
    dc_rng_seed(&rb, 3);
    int same = 1;
    for (int s = 0; s < 30; s++) {
        dc_frcnn_losses la, lb;
        CHECK_OK(dc_frcnn_train_step(a, img, gt, NULL, 1, &ra, 1, &la));
        CHECK_OK(dc_frcnn_train_step(b, img, gt, gt_props, 1, &rb, 1, &lb));
        same &= la.total == lb.total && la.rpn_cls == lb.rpn_cls && la.dn_box == lb.dn_box &&
                la.grad_norm == lb.grad_norm;
        CHECK(lb.dn_z != 0, "step %d: the heads' loss is measured (%g) though not trained", s, lb.dn_z);
    }
    CHECK(same, "losses differ between props off and props on with weights 0");
    for (int i = 0; i < dc_frcnn_param_count(a); i++) {
        dc_param *pa = dc_frcnn_param(a, i), *pb = dc_frcnn_param(b, i);
        CHECK(strcmp(pa->name, pb->name) == 0, "parameter %d: %s vs %s", i, pa->name, pb->name);
        float *va = download(pa->value), *vb = download(pb->value);
        CHECK(memcmp(va, vb, pa->value->numel * sizeof *va) == 0, "%s differs after training", pa->name);
        free(va), free(vb);
    }
    dc_detection da[10], db[10];
    float props[40];
    int na, nb;
    CHECK_OK(dc_frcnn_detect(a, img, da, 10, &na));
    CHECK_OK(dc_frcnn_detect_props(b, img, db, props, 10, &nb));
    CHECK(na == nb && na > 0 && memcmp(da, db, (size_t)na * sizeof *da) == 0, "detections differ (%d vs %d)", na, nb);
    dc_frcnn_free(a);
    dc_frcnn_free(b);
}

/* Trains the heads on one image; returns the model (the caller frees it). STEPS: enough for the
 * tiny network's z to come within 0.03 of the truth from its start near 0 (about 6 s on 2 CPU cores). */
#define STEPS 1000
static dc_frcnn *test_learns(const dc_tensor *img)
{
    dc_frcnn_config cfg;
    tiny_config(&cfg);
    cfg.props = 1;
    dc_frcnn *m = model(&cfg, 31);
    dc_frcnn_set_lr(m, 0.01f);
    dc_rng rng;
    dc_rng_seed(&rng, 4);
    dc_frcnn_losses L;
    for (int s = 0; s < STEPS; s++) CHECK_OK(dc_frcnn_train_step(m, img, gt, gt_props, 1, &rng, 1, &L));
    dc_detection d[10];
    float p[40];
    int n;
    CHECK_OK(dc_frcnn_detect_props(m, img, d, p, 10, &n));
    CHECK(n > 0, "no detections after training");
    if (n > 0) {
        printf("after %d steps: best detection %.3f, z %.4f (sigma %.4f), log10 N200 %.4f (sigma %.4f); truth %.4f, %.4f\n",
               STEPS, d[0].score, p[0], exp(p[1]), p[2], exp(p[3]), gt_props[0], gt_props[1]);
        CHECK(fabs(p[0] - gt_props[0]) < 0.03, "z %g, truth %g", p[0], gt_props[0]);
        CHECK(fabs(p[2] - gt_props[1]) < 0.1, "log10 N200 %g, truth %g", p[2], gt_props[1]);
        CHECK(exp(p[1]) < 0.5, "z sigma %g did not shrink from its start near 1", exp(p[1]));
    }
    return m;
}

static void test_weights_compat(dc_frcnn *trained, const dc_tensor *img)
{
    dc_frcnn_config off, on;
    tiny_config(&off);
    on = off;
    on.props = 1;
    /* weights without the heads into a model with them: loads, no properties until initialised */
    dc_frcnn *a = model(&off, 41);
    dc_weights *w;
    CHECK_OK(dc_weights_new(&w));
    CHECK_OK(dc_frcnn_export(a, w, 0));
    dc_frcnn *b;
    CHECK_OK(dc_frcnn_new(ctx, &on, fn, 2, dn, 2, &b));
    CHECK(!dc_frcnn_has_props(b), "a model neither initialised nor loaded has props");
    CHECK_OK(dc_frcnn_import(b, w, "old.dcw", 0));
    CHECK(!dc_frcnn_has_props(b), "weights without heads gave props");
    dc_detection da[10], db[10];
    float props[40];
    for (int i = 0; i < 40; i++) props[i] = -7.0f;
    int na, nb;
    CHECK_OK(dc_frcnn_detect(a, img, da, 10, &na));
    CHECK_OK(dc_frcnn_detect_props(b, img, db, props, 10, &nb));
    CHECK(na == nb && memcmp(da, db, (size_t)na * sizeof *da) == 0, "detections differ after loading old weights");
    CHECK(props[0] == -7.0f, "props written without heads");
    dc_weights_free(w);
    /* weights with heads: into a model without them (ignored) and into one with them (loaded) */
    CHECK_OK(dc_weights_new(&w));
    CHECK_OK(dc_frcnn_export(trained, w, 0));
    int head_tensors = 0;
    for (int i = 0; i < dc_weights_count(w); i++) head_tensors += strncmp(dc_weights_at(w, i)->name, "dn/props/", 9) == 0;
    CHECK(head_tensors == 2, "the export holds %d head tensors", head_tensors);
    dc_frcnn *c, *d;
    CHECK_OK(dc_frcnn_new(ctx, &off, fn, 2, dn, 2, &c));
    CHECK_OK(dc_frcnn_import(c, w, "new.dcw", 0));
    CHECK_OK(dc_frcnn_new(ctx, &on, fn, 2, dn, 2, &d));
    CHECK_OK(dc_frcnn_import(d, w, "new.dcw", 0));
    CHECK(dc_frcnn_has_props(d), "weights with heads did not give props");
    float p1[40], p2[40];
    CHECK_OK(dc_frcnn_detect_props(trained, img, da, p1, 10, &na));
    CHECK_OK(dc_frcnn_detect_props(d, img, db, p2, 10, &nb));
    CHECK(na == nb && na > 0 && memcmp(p1, p2, (size_t)na * 4 * sizeof *p1) == 0, "loaded heads predict otherwise");
    /* a file with only part of the heads is an error naming the missing tensor */
    dc_weights *part;
    CHECK_OK(dc_weights_new(&part));
    for (int i = 0; i < dc_weights_count(w); i++) {
        const dc_weight_entry *e = dc_weights_at(w, i);
        if (strncmp(e->name, "dn/props/", 9) == 0 && e->ndim == 1) continue;
        CHECK_OK(dc_weights_add(part, e->name, e->ndim, e->shape, e->data));
    }
    dc_frcnn *f;
    CHECK_OK(dc_frcnn_new(ctx, &on, fn, 2, dn, 2, &f));
    CHECK_FAILS(dc_frcnn_import(f, part, "part.dcw", 0), DC_STATUS_NOT_FOUND, "dn/props/");
    dc_weights_free(part);
    dc_weights_free(w);
    dc_frcnn_free(a), dc_frcnn_free(b), dc_frcnn_free(c), dc_frcnn_free(d), dc_frcnn_free(f);
}

static void test_bad_config(void)
{
    dc_frcnn_config cfg;
    tiny_config(&cfg);
    dc_frcnn *m = NULL;
    cfg.props = 2;
    CHECK_FAILS(dc_frcnn_new(ctx, &cfg, fn, 2, dn, 2, &m), DC_STATUS_INVALID_ARG, "props is 2");
    cfg.props = 1;
    cfg.w_z = -1.0f;
    CHECK_FAILS(dc_frcnn_new(ctx, &cfg, fn, 2, dn, 2, &m), DC_STATUS_INVALID_ARG, "w_z (-1)");
    cfg.w_z = 1.0f;
    cfg.w_rich = NAN;
    CHECK_FAILS(dc_frcnn_new(ctx, &cfg, fn, 2, dn, 2, &m), DC_STATUS_INVALID_ARG, "w_rich (nan)");
    CHECK(m == NULL, "a model was made from bad settings");
}

int main(void)
{
    CHECK_OK(dc_ctx_new(&ctx, NULL));
    fn[0] = test_conv("c1", -1, 6, 3, 2, 1);
    fn[1] = test_conv("c2", 0, 8, 3, 2, 1);
    dn[0] = test_conv("d1", -1, 6, 3, 1, 1);
    dn[1] = (dc_layer_spec){.kind = DC_LAYER_KIND_GLOBAL_AVGPOOL, .name = "gap", .inputs = {0}, .n_inputs = 1};
    /* a 32x32 image with a bright blob where the ground truth is (as test_frcnn.c) */
    dc_rng rng;
    dc_rng_seed(&rng, 11);
    static float img_h[3 * S * S];
    test_blob_image(img_h, S, &rng);
    dc_tensor *img;
    CHECK_OK(dc_tensor_new(ctx, 4, (int[]){1, 3, S, S}, &img));
    CHECK_OK(dc_tensor_upload(img, img_h, 3 * S * S));

    test_hand_loss(img);
    test_gradients(img);
    test_identical(img);
    dc_frcnn *trained = test_learns(img);
    test_weights_compat(trained, img);
    dc_frcnn_free(trained);
    test_bad_config();
    dc_tensor_free(img);
    dc_ctx_free(ctx);
    return dc_test_finish("test_frcnn_props");
}
