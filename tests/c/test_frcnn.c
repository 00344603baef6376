/* The whole Faster R-CNN step on a tiny network and image: every parameter tensor's gradient
 * against finite differences of the full multi-task loss (same sampling: the rng is copied), the
 * loss falls when training on one image, detection output is sane, and bad input is refused. */
#include <stdlib.h>
#include <string.h>

#include "dc_test.h"
#include "nn/frcnn.h"
#include "test_nn_util.h"

static double loss_at(dc_frcnn *m, const dc_tensor *img, const float *gt, const dc_rng *rng0)
{
    dc_rng rng = *rng0;
    dc_frcnn_losses L;
    if (dc_frcnn_loss(m, img, gt, NULL, 1, &rng, &L) != DC_STATUS_OK) return NAN;
    return L.total;
}

/* The loss for the finite-difference probes: the same RPN sampling (a copy of the rng state) and
 * the DN batch of the last training step. */
typedef struct frcnn_case {
    dc_frcnn *m;
    const dc_tensor *img;
    const float *gt;
    const dc_rng *rng;
} frcnn_case;

static double frcnn_case_loss(void *ud)
{
    frcnn_case *c = ud;
    return loss_at(c->m, c->img, c->gt, c->rng);
}

int main(void)
{
    dc_ctx *ctx;
    CHECK_OK(dc_ctx_new(&ctx, NULL));
    dc_layer_spec fn[] = {test_conv("c1", -1, 6, 3, 2, 1), test_conv("c2", 0, 8, 3, 2, 1)};
    dc_layer_spec dn[] = {test_conv("d1", -1, 6, 3, 1, 1),
                          {.kind = DC_LAYER_KIND_GLOBAL_AVGPOOL, .name = "gap", .inputs = {0}, .n_inputs = 1}};
    dc_frcnn_config cfg;
    dc_frcnn_config_paper(&cfg);
    cfg.rpn_channels = 8;
    cfg.crop_size = 4;
    cfg.anchors = (dc_anchor_params){.n_scales = 2, .scales = {0.5f, 1.0f}, .n_ratios = 2,
                                     .ratios = {0.5f, 1.0f}, .base_size = 16, .stride = 4, .offset = 2};
    cfg.rpn_targets.batch = 32;
    cfg.rpn_targets.max_pos = 16;
    cfg.dn_targets.batch = 8;
    cfg.dn_targets.max_pos = 4;
    cfg.proposals.max_proposals = 20;
    cfg.proposals.pre_nms_top_k = 100;
    cfg.rpn_init_std = 0.3f; /* larger than the paper's so every head carries a visible gradient */
    dc_frcnn *m;
    CHECK_OK(dc_frcnn_new(ctx, &cfg, fn, 2, dn, 2, &m));
    dc_rng rng;
    dc_rng_seed(&rng, 11);
    CHECK_OK(dc_frcnn_init(m, &rng));
    /* non-zero biases keep units off the ReLU kink (see test_net.c) */
    for (int i = 0; i < dc_frcnn_param_count(m); i++) {
        dc_param *p = dc_frcnn_param(m, i);
        if (p->value->ndim != 1) continue;
        float b[64];
        for (size_t k = 0; k < p->value->numel; k++) b[k] = (float)(0.1 * dc_rng_normal(&rng));
        CHECK_OK(dc_tensor_upload(p->value, b, p->value->numel));
    }

    /* a 32x32 image with a bright blob where the ground truth is */
    const int S = 32;
    float img_h[3 * 32 * 32];
    float gt[4] = {6, 9, 22, 25};
    test_blob_image(img_h, S, &rng);
    dc_tensor *img;
    CHECK_OK(dc_tensor_new(ctx, 4, (int[]){1, 3, S, S}, &img));
    CHECK_OK(dc_tensor_upload(img, img_h, sizeof img_h / sizeof *img_h));

    /* analytic gradients of the step (no update) with a saved sampler state */
    dc_rng r0 = rng, r1 = rng;
    dc_frcnn_losses L;
    CHECK_OK(dc_frcnn_train_step(m, img, gt, NULL, 1, &r1, 0, &L));
    CHECK(L.n_proposals > 0 && L.n_rpn_pos > 0, "proposals %d, rpn positives %d", L.n_proposals, L.n_rpn_pos);
    CHECK(L.rpn_cls > 0 && L.rpn_box > 0 && L.dn_cls > 0, "losses %g %g %g %g", L.rpn_cls, L.rpn_box,
          L.dn_cls, L.dn_box);
    CHECK_CLOSE(L.total, loss_at(m, img, gt, &r0), 1e-6, 1e-5);

    /* finite differences on every parameter tensor (test_fd_probe, bound 2e-3 + 3e-2 |g|); probes
     * that straddle a kink (ReLU, max, or a change of the proposal set) are redrawn. */
    frcnn_case fc = {m, img, gt, &r0};
    int checked = 0, kinks = 0, ok_all = 1;
    for (int i = 0; i < dc_frcnn_param_count(m); i++) {
        dc_param *p = dc_frcnn_param(m, i);
        float *g = malloc(p->grad->numel * sizeof *g);
        CHECK_OK(dc_tensor_download(p->grad, g, p->grad->numel));
        for (int done = 0, tries = 0; done < 2 && tries < 10; tries++) {
            size_t k = dc_rng_below(&rng, (uint32_t)p->value->numel);
            int res = test_fd_probe(frcnn_case_loss, &fc, p->value, k, g[k], 3e-2, p->name);
            if (res < 0) {
                kinks++;
                continue;
            }
            ok_all &= res;
            done++;
            checked++;
        }
        free(g);
    }
    CHECK(ok_all, "step gradients differ from finite differences");
    CHECK(checked >= 2 * dc_frcnn_param_count(m) - 2, "only %d probes usable (%d at kinks)", checked, kinks);

    /* training on this one image lowers the loss */
    dc_frcnn_set_lr(m, 0.01f);
    float first = 0, last = 0;
    for (int s = 0; s < 400; s++) {
        CHECK_OK(dc_frcnn_train_step(m, img, gt, NULL, 1, &rng, 1, &L));
        if (s < 5) first += L.total / 5;
        if (s >= 395) last += L.total / 5;
    }
    CHECK(last < 0.7f * first, "loss did not fall: %g -> %g", first, last);
    printf("training on one image: loss %.4f -> %.4f (last: rpn %.4f %.4f, dn %.4f %.4f)\n", first, last,
           L.rpn_cls, L.rpn_box, L.dn_cls, L.dn_box);

    dc_detection det[10];
    int n_det = -1;
    CHECK_OK(dc_frcnn_detect(m, img, det, 10, &n_det));
    CHECK(n_det >= 1 && n_det <= 10, "%d detections", n_det);
    for (int i = 1; i < n_det; i++) CHECK(det[i - 1].score >= det[i].score, "detections not sorted");
    if (n_det > 0) {
        CHECK(det[0].label == 1 && det[0].score > 0.5f, "best detection %d %g", det[0].label, det[0].score);
        float cy = 0.5f * (det[0].box[0] + det[0].box[2]), cx = 0.5f * (det[0].box[1] + det[0].box[3]);
        CHECK(fabsf(cy - 14) < 5 && fabsf(cx - 17) < 5, "best box centre (%g, %g) far from (14, 17)", cy, cx);
    }

    /* bad input */
    float inverted[4] = {20, 9, 6, 25};
    CHECK_FAILS(dc_frcnn_train_step(m, img, inverted, NULL, 1, &rng, 1, &L), DC_STATUS_INVALID_ARG, "box 0");
    dc_tensor *gray;
    CHECK_OK(dc_tensor_new(ctx, 4, (int[]){1, 1, S, S}, &gray));
    CHECK_FAILS(dc_frcnn_detect(m, gray, det, 10, &n_det), DC_STATUS_SHAPE, "image");
    cfg.anchors.stride = 8;
    dc_frcnn *wrong;
    CHECK_OK(dc_frcnn_new(ctx, &cfg, fn, 2, dn, 2, &wrong));
    CHECK_OK(dc_frcnn_init(wrong, &rng));
    CHECK_FAILS(dc_frcnn_detect(wrong, img, det, 10, &n_det), DC_STATUS_INVALID_ARG, "anchor stride 8");
    dc_frcnn_free(wrong);
    dc_tensor_free(gray);
    dc_tensor_free(img);
    dc_frcnn_free(m);
    dc_ctx_free(ctx);
    return dc_test_finish("test_frcnn");
}
