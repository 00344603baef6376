/* Target assignment and balanced sampling (TF's target assigner with the ArgMaxMatcher and the
 * BalancedPositiveNegativeSampler): IoU matrix and both argmaxes on the device
 * (opencl/boxes.cl, opencl/targets.cl), labelling and seeded sampling on the host, regression
 * targets encoded on the device. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "detect/detect_impl.h"

/* Groups of up to 64 items, and match_cols's group (opencl/targets.cl's MATCH_GROUP, passed as a
 * build option): 64 or the largest power of two below it that the device allows (a float and an
 * int of local memory per item). */
#define LOCAL dc_ctx_group_size(ctx, 64, 0)
#define MATCH_GROUP dc_ctx_group_size(ctx, 64, sizeof(float) + sizeof(int))

void dc_target_params_rpn(dc_target_params *p)
{
    /* docs/facts.md section 1, RPN targets: 0.7 / 0.3, 256 per image, at most half positive; the
     * best anchor of each ground truth is positive and border-crossing anchors are dropped. */
    *p = (dc_target_params){.pos_iou = 0.7f, .neg_iou = 0.3f, .force_best = 1, .drop_border = 1,
                            .batch = 256, .max_pos = 128};
    dc_box_coder_paper(&p->coder);
}

void dc_target_params_dn(dc_target_params *p)
{
    /* docs/facts.md section 1, DN targets: IoU >= 0.5 positive (below it negative, TF's
     * negatives_lower_than_unmatched), 64 per image, at most 16 positive. */
    *p = (dc_target_params){.pos_iou = 0.5f, .neg_iou = 0.5f, .force_best = 0, .drop_border = 0,
                            .batch = 64, .max_pos = 16};
    dc_box_coder_paper(&p->coder);
}

/* ------------------------------------------------------------------ launch wrappers */

static dc_status launch_match(dc_ctx *ctx, const char *name, cl_mem iou, cl_mem cand, int n,
                              int m, int drop_border, float height, float width, cl_mem best,
                              cl_mem arg, size_t global, size_t local)
{
    cl_kernel k;
    char options[40];
    snprintf(options, sizeof options, "-DMATCH_GROUP=%zu", MATCH_GROUP);
    DC_TRY(dc_kernel_get(ctx, "targets.cl", name, options, &k));
    DC_TRY(dc_arg_mem(k, name, 0, iou));
    DC_TRY(dc_arg_mem(k, name, 1, cand));
    DC_TRY(dc_arg_int(k, name, 2, n));
    DC_TRY(dc_arg_int(k, name, 3, m));
    DC_TRY(dc_arg_int(k, name, 4, drop_border));
    DC_TRY(dc_arg_float(k, name, 5, height));
    DC_TRY(dc_arg_float(k, name, 6, width));
    DC_TRY(dc_arg_mem(k, name, 7, best));
    DC_TRY(dc_arg_mem(k, name, 8, arg));
    return dc_kernel_launch(ctx, k, name, 1, &global, &local);
}

/* match_rows: one work item per candidate. */
static dc_status launch_match_rows(dc_ctx *ctx, cl_mem iou, cl_mem cand, int n, int m,
                                   int drop_border, float height, float width, cl_mem best_iou,
                                   cl_mem best_gt)
{
    return launch_match(ctx, "match_rows", iou, cand, n, m, drop_border, height, width, best_iou,
                        best_gt, (size_t)n, LOCAL);
}

/* match_cols: one work-group per ground truth. */
static dc_status launch_match_cols(dc_ctx *ctx, cl_mem iou, cl_mem cand, int n, int m,
                                   int drop_border, float height, float width, cl_mem col_iou,
                                   cl_mem col_idx)
{
    return launch_match(ctx, "match_cols", iou, cand, n, m, drop_border, height, width, col_iou,
                        col_idx, (size_t)m * MATCH_GROUP, MATCH_GROUP);
}

static dc_status launch_encode_matched(dc_ctx *ctx, cl_mem cand, cl_mem gt, cl_mem match, int n,
                                       const dc_box_coder *c, cl_mem out)
{
    static const char *name = "encode_matched";
    cl_kernel k;
    DC_TRY(dc_kernel_get(ctx, "boxes.cl", name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, cand));
    DC_TRY(dc_arg_mem(k, name, 1, gt));
    DC_TRY(dc_arg_mem(k, name, 2, match));
    DC_TRY(dc_arg_int(k, name, 3, n));
    for (int i = 0; i < 4; i++) DC_TRY(dc_arg_float(k, name, 4 + (cl_uint)i, c->scale[i]));
    DC_TRY(dc_arg_mem(k, name, 8, out));
    size_t g = (size_t)n, l = LOCAL;
    return dc_kernel_launch(ctx, k, name, 1, &g, &l);
}

/* ------------------------------------------------------------------ host side */

/* Move a uniformly random k-subset of idx[0..n) to idx[0..k) (partial Fisher-Yates). */
static void sample_subset(dc_rng *rng, int *idx, int n, int k)
{
    for (int i = 0; i < k; i++) {
        const int j = i + (int)dc_rng_below(rng, (uint32_t)(n - i));
        const int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

static dc_status check_params(const dc_target_params *p)
{
    DC_CHECK_ARG(p->neg_iou >= 0 && p->pos_iou <= 1 && p->neg_iou <= p->pos_iou,
                 "targets: thresholds positive %g, negative %g must satisfy 0 <= negative <= "
                 "positive <= 1", p->pos_iou, p->neg_iou);
    DC_CHECK_ARG(p->batch >= 1 && p->max_pos >= 0 && p->max_pos <= p->batch,
                 "targets: batch %d and max_pos %d must satisfy 0 <= max_pos <= batch, batch >= 1",
                 p->batch, p->max_pos);
    for (int i = 0; i < 4; i++)
        DC_CHECK_ARG(p->coder.scale[i] > 0 && isfinite(p->coder.scale[i]),
                     "targets: box coder scale factor %d is %g; scale factors must be positive",
                     i, p->coder.scale[i]);
    return DC_STATUS_OK;
}

static dc_status check_outputs(const dc_targets *out, int rows)
{
    static const char *op = "targets";
    DC_TRY(dc_tensor_expect(out->labels, op, "labels", 1, rows, 0, 0, 0));
    DC_TRY(dc_tensor_expect(out->cls_weights, op, "cls_weights", 1, rows, 0, 0, 0));
    DC_TRY(dc_tensor_expect(out->reg_targets, op, "reg_targets", 2, rows, 4, 0, 0));
    return dc_tensor_expect(out->reg_weights, op, "reg_weights", 1, rows, 0, 0, 0);
}

/* Host working memory of one call. */
typedef struct assign_host {
    float *best_iou, *col_iou, *labels, *cls_w, *reg_w;
    int *best_gt, *col_idx, *match, *pos, *neg;
} assign_host;

static void host_free(assign_host *h)
{
    free(h->best_iou);
    free(h->col_iou);
    free(h->labels);
    free(h->cls_w);
    free(h->reg_w);
    free(h->best_gt);
    free(h->col_idx);
    free(h->match);
    free(h->pos);
    free(h->neg);
}

static dc_status host_alloc(assign_host *h, int rows, int n_gt)
{
    const size_t r = (size_t)rows, g = (size_t)(n_gt ? n_gt : 1);
    h->best_iou = malloc(r * sizeof(float));
    h->labels = malloc(r * sizeof(float));
    h->cls_w = malloc(r * sizeof(float));
    h->reg_w = malloc(r * sizeof(float));
    h->col_iou = malloc(g * sizeof(float));
    h->best_gt = malloc(r * sizeof(int));
    h->match = malloc(r * sizeof(int));
    h->pos = malloc(r * sizeof(int));
    h->neg = malloc(r * sizeof(int));
    h->col_idx = malloc(g * sizeof(int));
    if (!h->best_iou || !h->labels || !h->cls_w || !h->reg_w || !h->col_iou || !h->best_gt ||
        !h->match || !h->pos || !h->neg || !h->col_idx)
        return DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "targets: out of host memory for %d rows", rows);
    return DC_STATUS_OK;
}

/* Labels from the argmaxes, then sampling; fills labels/weights/match for all rows. */
static void assign_and_sample(const dc_target_params *p, assign_host *h, int rows, int n,
                              const int *gt_class, int n_gt, dc_rng *rng, dc_target_stats *s)
{
    /* match[i]: matched ground truth of a positive, -1 negative, -2 ignored */
    for (int i = 0; i < rows; i++) h->match[i] = -2;
    s->n_valid = 0;
    for (int i = 0; i < n; i++) {
        const float v = h->best_iou[i];
        if (v < 0) continue; /* dropped at the border */
        s->n_valid++;
        if (n_gt > 0 && v >= p->pos_iou) h->match[i] = h->best_gt[i];
        else if (v < p->neg_iou) h->match[i] = -1;
    }
    if (p->force_best) /* the first ground truth forcing an anchor wins, as TF's argmax */
        for (int j = n_gt - 1; j >= 0; j--)
            if (h->col_idx[j] >= 0 && h->col_iou[j] > 0) h->match[h->col_idx[j]] = j;
    int np = 0, nn = 0;
    for (int i = 0; i < n; i++) {
        if (h->match[i] >= 0) h->pos[np++] = i;
        else if (h->match[i] == -1) h->neg[nn++] = i;
    }
    const int sp = np < p->max_pos ? np : p->max_pos;
    const int sn = nn < p->batch - sp ? nn : p->batch - sp;
    sample_subset(rng, h->pos, np, sp);
    sample_subset(rng, h->neg, nn, sn);
    *s = (dc_target_stats){s->n_valid, np, nn, sp, sn};

    for (int i = 0; i < rows; i++) {
        h->labels[i] = -1.0f;
        h->cls_w[i] = h->reg_w[i] = 0.0f;
    }
    for (int r = 0; r < sp; r++) {
        const int i = h->pos[r];
        h->labels[i] = gt_class ? (float)gt_class[h->match[i]] : 1.0f;
        h->cls_w[i] = h->reg_w[i] = 1.0f;
    }
    for (int r = 0; r < sn; r++) {
        h->labels[h->neg[r]] = 0.0f;
        h->cls_w[h->neg[r]] = 1.0f;
    }
    /* Regression only for sampled positives; the rest encode to 0. */
    for (int i = 0; i < rows; i++)
        if (h->reg_w[i] == 0.0f) h->match[i] = -1;
}

dc_status dc_targets_assign(dc_ctx *ctx, const dc_target_params *p, const dc_tensor *candidates,
                            int n, const float *gt, const int *gt_class, int n_gt, float img_h,
                            float img_w, dc_rng *rng, const dc_targets *out,
                            dc_target_stats *stats)
{
    static const char *op = "targets";
    DC_TRY(check_params(p));
    DC_TRY(dc_detect_expect_boxes(candidates, op, "candidates", 1));
    const int rows = candidates->shape[0];
    DC_CHECK_ARG(n >= 1 && n <= rows,
                 "%s: %d candidates given; there must be 1 to %d (the rows of the candidate "
                 "tensor): are there no anchors or no proposals?", op, n, rows);
    DC_CHECK_ARG(n_gt >= 0 && (n_gt == 0 || gt), "%s: %d ground-truth boxes but no array", op,
                 n_gt);
    DC_CHECK_ARG(img_h > 0 && img_w > 0 && isfinite(img_h) && isfinite(img_w),
                 "%s: the image is %g x %g; height and width must be positive", op, img_h, img_w);
    DC_CHECK_ARG(rng, "%s: a random generator is needed for sampling", op);
    DC_TRY(dc_detect_check_host_boxes(gt, n_gt, op, "ground-truth"));
    for (int j = 0; gt_class && j < n_gt; j++)
        DC_CHECK_ARG(gt_class[j] >= 1, "%s: ground truth %d has class %d; classes start at 1 "
                     "(0 is the background)", op, j, gt_class[j]);
    DC_TRY(check_outputs(out, rows));

    dc_target_stats local_stats;
    dc_target_stats *s = stats ? stats : &local_stats;
    assign_host h = {0};
    dc_tensor *dgt = NULL, *iou = NULL, *best_iou = NULL, *best_gt = NULL, *col_iou = NULL,
              *col_idx = NULL, *match = NULL;
    const size_t g = (size_t)(n_gt ? n_gt : 1);
    dc_status st = host_alloc(&h, rows, n_gt);
    if (!st) st = dc_detect_scratch(ctx, (size_t)n, &best_iou);
    if (!st) st = dc_detect_scratch(ctx, (size_t)n, &best_gt);
    if (!st) st = dc_detect_scratch(ctx, g, &col_iou);
    if (!st) st = dc_detect_scratch(ctx, g, &col_idx);
    if (!st) st = dc_detect_scratch(ctx, (size_t)rows, &match);
    if (!st && n_gt > 0) {
        st = dc_detect_scratch_shape(ctx, 2, (int[]){n_gt, 4}, &dgt);
        if (!st) st = dc_tensor_upload(dgt, gt, (size_t)n_gt * 4);
        if (!st) st = dc_detect_scratch_shape(ctx, 2, (int[]){rows, n_gt}, &iou);
        if (!st) st = dc_box_iou(ctx, candidates, dgt, iou);
    }
    /* With no ground truth the IoU argument is never read: any buffer will do. */
    cl_mem iou_buf = iou ? iou->buf : candidates->buf;
    if (!st)
        st = launch_match_rows(ctx, iou_buf, candidates->buf, n, n_gt, p->drop_border, img_h,
                               img_w, best_iou->buf, best_gt->buf);
    if (!st && n_gt > 0)
        st = launch_match_cols(ctx, iou_buf, candidates->buf, n, n_gt, p->drop_border, img_h,
                               img_w, col_iou->buf, col_idx->buf);
    if (!st) st = dc_detect_read(ctx, best_iou->buf, (size_t)n * sizeof(float), h.best_iou);
    if (!st) st = dc_detect_read(ctx, best_gt->buf, (size_t)n * sizeof(int), h.best_gt);
    if (!st) st = dc_detect_read(ctx, col_iou->buf, (size_t)n_gt * sizeof(float), h.col_iou);
    if (!st) st = dc_detect_read(ctx, col_idx->buf, (size_t)n_gt * sizeof(int), h.col_idx);
    if (!st) {
        assign_and_sample(p, &h, rows, n, gt_class, n_gt, rng, s);
        st = dc_tensor_upload(out->labels, h.labels, (size_t)rows);
    }
    if (!st) st = dc_tensor_upload(out->cls_weights, h.cls_w, (size_t)rows);
    if (!st) st = dc_tensor_upload(out->reg_weights, h.reg_w, (size_t)rows);
    if (!st) st = dc_detect_write(ctx, match->buf, (size_t)rows * sizeof(int), h.match);
    if (!st)
        st = launch_encode_matched(ctx, candidates->buf, dgt ? dgt->buf : candidates->buf,
                                   match->buf, rows, &p->coder, out->reg_targets->buf);
    dc_detect_release(dgt);
    dc_detect_release(iou);
    dc_detect_release(best_iou);
    dc_detect_release(best_gt);
    dc_detect_release(col_iou);
    dc_detect_release(col_idx);
    dc_detect_release(match);
    host_free(&h);
    return st;
}
