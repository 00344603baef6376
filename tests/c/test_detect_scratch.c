/* The detector ops take their scratch from a pool the context keeps (engine/detect/boxes.c):
 * after a first round of crop_and_resize forward and backward, NMS and target assignment, a second
 * identical round allocates no more device memory, and gives bit-identical results (so no buffer
 * was reused while still holding data the op needed), and after every op no scratch is still taken
 * (a missing dc_detect_release shows there even where a larger free buffer hides it from the
 * pool's size). */
#include "dc_test.h"
#include "detect/detect_impl.h"

static dc_ctx *ctx;
static dc_rng rng;

static dc_tensor *random_tensor(int ndim, const int *shape, float lo, float hi)
{
    dc_tensor *t = NULL;
    CHECK_OK(dc_tensor_new(ctx, ndim, shape, &t));
    if (!t) return NULL;
    float *h = malloc(t->numel * sizeof *h);
    for (size_t i = 0; i < t->numel; i++) h[i] = lo + (hi - lo) * (float)dc_rng_uniform(&rng);
    CHECK_OK(dc_tensor_upload(t, h, t->numel));
    free(h);
    return t;
}

typedef struct {
    dc_tensor *deltas, *logits, *cls_deltas, *boxes_out, *scores_out;
    int n_prop, n_det;
    dc_detection det[50];
} stage2;

/* One round: writes the crops, the feature gradient, the NMS indices, the targets' labels, the
 * proposals and the detections. */
static void round_run(const dc_tensor *feat, const dc_tensor *nboxes, const dc_tensor *pboxes,
                      const dc_tensor *scores, dc_tensor *crops, dc_tensor *gfeat, int *keep,
                      int *n_keep, const dc_targets *tg, float *labels, stage2 *s)
{
    CHECK_OK(dc_crop_resize_forward(ctx, feat, nboxes, NULL, 0.0f, crops));
    CHECK(dc_detect_scratch_in_use(ctx) == 0, "crop_resize forward gave its scratch back (%d taken)",
          dc_detect_scratch_in_use(ctx));
    CHECK_OK(dc_crop_resize_backward(ctx, crops, nboxes, NULL, gfeat));
    CHECK(dc_detect_scratch_in_use(ctx) == 0, "crop_resize backward gave its scratch back (%d taken)",
          dc_detect_scratch_in_use(ctx));
    CHECK_OK(dc_nms_run(ctx, pboxes, scores, pboxes->shape[0], 0.7f, 50, keep, n_keep));
    CHECK(dc_detect_scratch_in_use(ctx) == 0, "NMS gave its scratch back (%d taken)",
          dc_detect_scratch_in_use(ctx));
    dc_target_params p;
    dc_target_params_rpn(&p);
    const float gt[8] = {10, 12, 40, 50, 60, 20, 90, 70};
    dc_rng r;
    dc_rng_seed(&r, 9);
    CHECK_OK(dc_targets_assign(ctx, &p, pboxes, pboxes->shape[0], gt, NULL, 2, 100, 100, &r, tg, NULL));
    CHECK(dc_detect_scratch_in_use(ctx) == 0, "target assignment gave its scratch back (%d taken)",
          dc_detect_scratch_in_use(ctx));
    CHECK_OK(dc_tensor_download(tg->labels, labels, tg->labels->numel));
    dc_proposal_params pp;
    dc_proposal_params_paper(&pp);
    pp.pre_nms_top_k = 200, pp.max_proposals = 50;
    CHECK_OK(dc_proposals_run(ctx, &pp, pboxes, scores, s->deltas, 100, 100, s->boxes_out,
                              s->scores_out, &s->n_prop));
    CHECK(dc_detect_scratch_in_use(ctx) == 0, "proposals gave their scratch back (%d taken)",
          dc_detect_scratch_in_use(ctx));
    dc_postprocess_params qp;
    dc_postprocess_params_paper(&qp);
    qp.max_per_class = 50, qp.max_total = 50;
    CHECK_OK(dc_postprocess_run(ctx, &qp, s->boxes_out, s->n_prop, s->logits, s->cls_deltas, 100,
                                100, s->det, 50, &s->n_det));
    CHECK(dc_detect_scratch_in_use(ctx) == 0, "post-processing gave its scratch back (%d taken)",
          dc_detect_scratch_in_use(ctx));
}

int main(void)
{
    dc_rng_seed(&rng, 4);
    CHECK_OK(dc_ctx_new(&ctx, NULL));
    if (!ctx) return dc_test_finish("test_detect_scratch");
    CHECK(dc_detect_scratch_bytes(ctx) == 0 && dc_detect_scratch_in_use(ctx) == 0,
          "no scratch before the first op");
    const int nb = 40, np = 300;
    dc_tensor *feat = random_tensor(4, (int[]){1, 8, 20, 24}, -1, 1);
    float *hb = malloc((size_t)nb * 4 * sizeof *hb);
    for (int i = 0; i < nb; i++) {
        const float y = (float)dc_rng_uniform(&rng) * 0.6f, x = (float)dc_rng_uniform(&rng) * 0.6f;
        hb[4 * i] = y, hb[4 * i + 1] = x, hb[4 * i + 2] = y + 0.3f, hb[4 * i + 3] = x + 0.35f;
    }
    dc_tensor *nboxes = NULL;
    CHECK_OK(dc_tensor_new(ctx, 2, (int[]){nb, 4}, &nboxes));
    CHECK_OK(dc_tensor_upload(nboxes, hb, (size_t)nb * 4));
    float *hp = malloc((size_t)np * 4 * sizeof *hp);
    for (int i = 0; i < np; i++) {
        const float y = (float)dc_rng_uniform(&rng) * 70, x = (float)dc_rng_uniform(&rng) * 70;
        hp[4 * i] = y, hp[4 * i + 1] = x, hp[4 * i + 2] = y + 10 + 20 * (float)dc_rng_uniform(&rng),
        hp[4 * i + 3] = x + 10 + 20 * (float)dc_rng_uniform(&rng);
    }
    dc_tensor *pboxes = NULL;
    CHECK_OK(dc_tensor_new(ctx, 2, (int[]){np, 4}, &pboxes));
    CHECK_OK(dc_tensor_upload(pboxes, hp, (size_t)np * 4));
    dc_tensor *scores = random_tensor(1, (int[]){np}, 0, 1);
    dc_tensor *crops = NULL, *gfeat = NULL;
    CHECK_OK(dc_tensor_new(ctx, 4, (int[]){nb, 8, 7, 7}, &crops));
    CHECK_OK(dc_tensor_new(ctx, 4, (int[]){1, 8, 20, 24}, &gfeat));
    dc_targets tg = {0};
    CHECK_OK(dc_tensor_new(ctx, 1, (int[]){np}, &tg.labels));
    CHECK_OK(dc_tensor_new(ctx, 1, (int[]){np}, &tg.cls_weights));
    CHECK_OK(dc_tensor_new(ctx, 2, (int[]){np, 4}, &tg.reg_targets));
    CHECK_OK(dc_tensor_new(ctx, 1, (int[]){np}, &tg.reg_weights));
    const size_t nc = (size_t)nb * 8 * 49, ng = 8 * 20 * 24;
    float *c1 = malloc(nc * sizeof *c1), *c2 = malloc(nc * sizeof *c2);
    float *g1 = malloc(ng * sizeof *g1), *g2 = malloc(ng * sizeof *g2);
    float *l1 = malloc(np * sizeof *l1), *l2 = malloc(np * sizeof *l2);
    int k1[50], k2[50], n1 = 0, n2 = 0;
    stage2 s1 = {0}, s2 = {0};
    s1.deltas = random_tensor(2, (int[]){np, 4}, -0.2f, 0.2f);
    s1.logits = random_tensor(2, (int[]){50, 2}, -2, 2);
    s1.cls_deltas = random_tensor(2, (int[]){50, 4}, -0.2f, 0.2f);
    CHECK_OK(dc_tensor_new(ctx, 2, (int[]){50, 4}, &s1.boxes_out));
    CHECK_OK(dc_tensor_new(ctx, 1, (int[]){50}, &s1.scores_out));
    s2 = s1;

    round_run(feat, nboxes, pboxes, scores, crops, gfeat, k1, &n1, &tg, l1, &s1);
    CHECK(s1.n_prop > 0 && s1.n_det > 0, "the round made proposals (%d) and detections (%d)",
          s1.n_prop, s1.n_det);
    CHECK_OK(dc_tensor_download(crops, c1, nc));
    CHECK_OK(dc_tensor_download(gfeat, g1, ng));
    const size_t bytes1 = dc_detect_scratch_bytes(ctx);
    CHECK(bytes1 > 0, "the ops took their scratch from the context's pool");
    for (int r = 0; r < 3; r++) {
        round_run(feat, nboxes, pboxes, scores, crops, gfeat, k2, &n2, &tg, l2, &s2);
        CHECK(dc_detect_scratch_bytes(ctx) == bytes1, "round %d: scratch grew from %zu to %zu bytes",
              r + 2, bytes1, dc_detect_scratch_bytes(ctx));
    }
    CHECK_OK(dc_tensor_download(crops, c2, nc));
    CHECK_OK(dc_tensor_download(gfeat, g2, ng));
    CHECK(memcmp(c1, c2, nc * sizeof *c1) == 0, "crops identical between rounds");
    CHECK(memcmp(g1, g2, ng * sizeof *g1) == 0, "feature gradient identical between rounds");
    CHECK(n1 == n2 && n1 > 0 && memcmp(k1, k2, (size_t)n1 * sizeof *k1) == 0, "NMS identical (%d, %d kept)", n1, n2);
    CHECK(memcmp(l1, l2, np * sizeof *l1) == 0, "target labels identical between rounds");
    CHECK(s1.n_prop == s2.n_prop && s1.n_det == s2.n_det &&
              memcmp(s1.det, s2.det, (size_t)s1.n_det * sizeof s1.det[0]) == 0,
          "proposals and detections identical between rounds");
    dc_tensor *all[] = {feat, nboxes, pboxes, scores, crops, gfeat, tg.labels, tg.cls_weights,
                        tg.reg_targets, tg.reg_weights, s1.deltas, s1.logits, s1.cls_deltas,
                        s1.boxes_out, s1.scores_out};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) dc_tensor_free(all[i]);
    free(hb), free(hp), free(c1), free(c2), free(g1), free(g2), free(l1), free(l2);
    dc_ctx_free(ctx);
    return dc_test_finish("test_detect_scratch");
}
