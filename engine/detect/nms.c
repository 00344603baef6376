/* Sorting, non-maximum suppression, region proposals and post-processing (opencl/nms.cl and the
 * NMS masks and preparation kernels of opencl/boxes.cl).
 *
 * NMS follows the bitmask design (as torchvision's CUDA kernel): boxes sorted by score, one
 * work-group per 64 x 64 block computes for each box the 64-bit word of later boxes it
 * suppresses, and a single work item walks the sorted boxes once, ORing the rows of kept boxes
 * (K * K/64 word operations, no IoU). Nothing but counts and kept indices comes back to the
 * host. */
#include <math.h>
#include <stdlib.h>

#include "detect/detect_impl.h"

#define LOCAL 64
#define NMS_BLOCK 64 /* as in opencl/boxes.cl and opencl/nms.cl */

/* ------------------------------------------------------------------ launch wrappers */

static dc_status launch_sort_init(dc_ctx *ctx, cl_mem scores, int n, int p2, cl_mem keys,
                                  cl_mem order)
{
    static const char *name = "sort_init";
    cl_kernel k;
    DC_TRY(dc_kernel_get(ctx, "nms.cl", name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, scores));
    DC_TRY(dc_arg_int(k, name, 1, n));
    DC_TRY(dc_arg_int(k, name, 2, p2));
    DC_TRY(dc_arg_mem(k, name, 3, keys));
    DC_TRY(dc_arg_mem(k, name, 4, order));
    size_t g = (size_t)p2, l = LOCAL;
    return dc_kernel_launch(ctx, k, name, 1, &g, &l);
}

static dc_status launch_sort_step(dc_ctx *ctx, cl_mem keys, cl_mem order, int p2, int kb, int j)
{
    static const char *name = "sort_step";
    cl_kernel k;
    DC_TRY(dc_kernel_get(ctx, "nms.cl", name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, keys));
    DC_TRY(dc_arg_mem(k, name, 1, order));
    DC_TRY(dc_arg_int(k, name, 2, p2));
    DC_TRY(dc_arg_int(k, name, 3, kb));
    DC_TRY(dc_arg_int(k, name, 4, j));
    size_t g = (size_t)p2 / 2, l = LOCAL;
    return dc_kernel_launch(ctx, k, name, 1, &g, &l);
}

static dc_status launch_gather_sorted(dc_ctx *ctx, cl_mem src, cl_mem order, int count, cl_mem dst)
{
    static const char *name = "gather_sorted";
    cl_kernel k;
    DC_TRY(dc_kernel_get(ctx, "nms.cl", name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, src));
    DC_TRY(dc_arg_mem(k, name, 1, order));
    DC_TRY(dc_arg_int(k, name, 2, count));
    DC_TRY(dc_arg_mem(k, name, 3, dst));
    size_t g = (size_t)count, l = LOCAL;
    return dc_kernel_launch(ctx, k, name, 1, &g, &l);
}

static dc_status launch_nms_mask(dc_ctx *ctx, cl_mem boxes, int count, float iou, int words,
                                 cl_mem mask)
{
    static const char *name = "nms_mask";
    cl_kernel k;
    DC_TRY(dc_kernel_get(ctx, "boxes.cl", name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, boxes));
    DC_TRY(dc_arg_int(k, name, 1, count));
    DC_TRY(dc_arg_float(k, name, 2, iou));
    DC_TRY(dc_arg_int(k, name, 3, words));
    DC_TRY(dc_arg_mem(k, name, 4, mask));
    size_t g[2] = {(size_t)count, (size_t)words}, l[2] = {LOCAL, 1};
    return dc_kernel_launch(ctx, k, name, 2, g, l);
}

static dc_status launch_nms_reduce(dc_ctx *ctx, cl_mem mask, cl_mem keys, cl_mem order, int count,
                                   int words, int max_keep, cl_mem keep, cl_mem kept)
{
    static const char *name = "nms_reduce";
    cl_kernel k;
    DC_TRY(dc_kernel_get(ctx, "nms.cl", name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, mask));
    DC_TRY(dc_arg_mem(k, name, 1, keys));
    DC_TRY(dc_arg_mem(k, name, 2, order));
    DC_TRY(dc_arg_int(k, name, 3, count));
    DC_TRY(dc_arg_int(k, name, 4, words));
    DC_TRY(dc_arg_int(k, name, 5, max_keep));
    DC_TRY(dc_arg_mem(k, name, 6, keep));
    DC_TRY(dc_arg_mem(k, name, 7, kept));
    size_t g = 1, l = 1;
    return dc_kernel_launch(ctx, k, name, 1, &g, &l);
}

static dc_status launch_gather_kept(dc_ctx *ctx, cl_mem keep, cl_mem kept, cl_mem boxes,
                                    cl_mem keys, int rows, cl_mem boxes_out, cl_mem scores_out)
{
    static const char *name = "gather_kept";
    cl_kernel k;
    DC_TRY(dc_kernel_get(ctx, "nms.cl", name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, keep));
    DC_TRY(dc_arg_mem(k, name, 1, kept));
    DC_TRY(dc_arg_mem(k, name, 2, boxes));
    DC_TRY(dc_arg_mem(k, name, 3, keys));
    DC_TRY(dc_arg_int(k, name, 4, rows));
    DC_TRY(dc_arg_mem(k, name, 5, boxes_out));
    DC_TRY(dc_arg_mem(k, name, 6, scores_out));
    size_t g = (size_t)rows, l = LOCAL;
    return dc_kernel_launch(ctx, k, name, 1, &g, &l);
}

static dc_status launch_proposal_prepare(dc_ctx *ctx, cl_mem anchors, cl_mem deltas,
                                         cl_mem scores, int score_cols, int n,
                                         const dc_box_coder *c, float height, float width,
                                         float min_size, cl_mem boxes, cl_mem keys)
{
    static const char *name = "proposal_prepare";
    cl_kernel k;
    DC_TRY(dc_kernel_get(ctx, "boxes.cl", name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, anchors));
    DC_TRY(dc_arg_mem(k, name, 1, deltas));
    DC_TRY(dc_arg_mem(k, name, 2, scores));
    DC_TRY(dc_arg_int(k, name, 3, score_cols));
    DC_TRY(dc_arg_int(k, name, 4, n));
    for (int i = 0; i < 4; i++) DC_TRY(dc_arg_float(k, name, 5 + (cl_uint)i, c->scale[i]));
    DC_TRY(dc_arg_float(k, name, 9, height));
    DC_TRY(dc_arg_float(k, name, 10, width));
    DC_TRY(dc_arg_float(k, name, 11, min_size));
    DC_TRY(dc_arg_mem(k, name, 12, boxes));
    DC_TRY(dc_arg_mem(k, name, 13, keys));
    size_t g = (size_t)n, l = LOCAL;
    return dc_kernel_launch(ctx, k, name, 1, &g, &l);
}

static dc_status launch_class_prepare(dc_ctx *ctx, cl_mem proposals, cl_mem logits, cl_mem deltas,
                                      int n, int n_cls, int cls, const dc_box_coder *c,
                                      float height, float width, cl_mem boxes, cl_mem keys)
{
    static const char *name = "class_prepare";
    cl_kernel k;
    DC_TRY(dc_kernel_get(ctx, "boxes.cl", name, NULL, &k));
    DC_TRY(dc_arg_mem(k, name, 0, proposals));
    DC_TRY(dc_arg_mem(k, name, 1, logits));
    DC_TRY(dc_arg_mem(k, name, 2, deltas));
    DC_TRY(dc_arg_int(k, name, 3, n));
    DC_TRY(dc_arg_int(k, name, 4, n_cls));
    DC_TRY(dc_arg_int(k, name, 5, cls));
    for (int i = 0; i < 4; i++) DC_TRY(dc_arg_float(k, name, 6 + (cl_uint)i, c->scale[i]));
    DC_TRY(dc_arg_float(k, name, 10, height));
    DC_TRY(dc_arg_float(k, name, 11, width));
    DC_TRY(dc_arg_mem(k, name, 12, boxes));
    DC_TRY(dc_arg_mem(k, name, 13, keys));
    size_t g = (size_t)n, l = LOCAL;
    return dc_kernel_launch(ctx, k, name, 1, &g, &l);
}

/* ------------------------------------------------------------------ sort + NMS */

static dc_status fill_int(dc_ctx *ctx, cl_mem buf, int value)
{
    DC_CL_CHECK(clEnqueueFillBuffer(dc_ctx_queue(ctx), buf, &value, sizeof value, 0, sizeof value,
                                    0, NULL, NULL));
    return DC_STATUS_OK;
}

/* Bitonic sort of the first n keys into keys/order [p2]. */
static dc_status sort_keys(dc_ctx *ctx, cl_mem scores, int n, int p2, cl_mem keys, cl_mem order)
{
    DC_TRY(launch_sort_init(ctx, scores, n, p2, keys, order));
    for (int kb = 2; kb <= p2; kb *= 2)
        for (int j = kb / 2; j > 0; j /= 2) DC_TRY(launch_sort_step(ctx, keys, order, p2, kb, j));
    return DC_STATUS_OK;
}

dc_status dc_detect_nms_device(dc_ctx *ctx, cl_mem boxes, cl_mem keys, int n, int top_k,
                               float iou, int max_keep, cl_mem keep, cl_mem count)
{
    const int k = n < top_k ? n : top_k;
    if (k <= 0 || max_keep <= 0) return fill_int(ctx, count, 0);
    if (k > DC_NMS_MAX_BOXES)
        return DC_FAIL(DC_STATUS_INVALID_ARG,
                       "nms: %d boxes enter suppression; at most %d can (take the best-scored "
                       "top-k first)", k, DC_NMS_MAX_BOXES);
    int p2 = 2;
    while (p2 < n) p2 *= 2;
    const int words = (k + NMS_BLOCK - 1) / NMS_BLOCK;
    dc_tensor *skeys = NULL, *order = NULL, *sorted = NULL, *mask = NULL;
    dc_status st = dc_detect_scratch(ctx, (size_t)p2, &skeys);
    if (!st) st = dc_detect_scratch(ctx, (size_t)p2, &order);
    if (!st) st = dc_detect_scratch(ctx, (size_t)k * 4, &sorted);
    if (!st) st = dc_detect_scratch(ctx, (size_t)k * words * 2, &mask); /* ulong words */
    if (!st) st = sort_keys(ctx, keys, n, p2, skeys->buf, order->buf);
    if (!st) st = launch_gather_sorted(ctx, boxes, order->buf, k, sorted->buf);
    if (!st) st = launch_nms_mask(ctx, sorted->buf, k, iou, words, mask->buf);
    if (!st)
        st = launch_nms_reduce(ctx, mask->buf, skeys->buf, order->buf, k, words, max_keep, keep,
                               count);
    /* Given back to the pool: the next op may reuse them at once, as the context's queue is in
     * order (its kernels run after the ones queued here). */
    dc_detect_release(skeys);
    dc_detect_release(order);
    dc_detect_release(sorted);
    dc_detect_release(mask);
    return st;
}

static dc_status check_iou(const char *op, float iou)
{
    DC_CHECK_ARG(iou >= 0.0f && iou <= 1.0f, "%s: IoU threshold %g must lie in [0, 1]", op, iou);
    return DC_STATUS_OK;
}

dc_status dc_nms_run(dc_ctx *ctx, const dc_tensor *boxes, const dc_tensor *scores, int n,
                     float iou, int max_keep, int *keep, int *n_keep)
{
    *n_keep = 0;
    DC_TRY(dc_detect_expect_boxes(boxes, "nms", "boxes", 1));
    DC_TRY(dc_tensor_expect(scores, "nms", "scores", 1, boxes->shape[0], 0, 0, 0));
    DC_CHECK_ARG(n >= 0 && n <= boxes->shape[0],
                 "nms: n is %d; it must lie in [0, %d] (the rows of boxes)", n, boxes->shape[0]);
    DC_CHECK_ARG(n <= DC_NMS_MAX_BOXES, "nms: %d boxes given; at most %d (take the best-scored "
                 "top-k first)", n, DC_NMS_MAX_BOXES);
    DC_CHECK_ARG(max_keep >= 0, "nms: max_keep is %d; it must not be negative", max_keep);
    DC_TRY(check_iou("nms", iou));
    if (n == 0 || max_keep == 0) return DC_STATUS_OK;
    dc_tensor *dkeep = NULL, *dcount = NULL;
    int count = 0;
    dc_status st = dc_detect_scratch(ctx, (size_t)max_keep, &dkeep);
    if (!st) st = dc_detect_scratch(ctx, 1, &dcount);
    if (!st)
        st = dc_detect_nms_device(ctx, boxes->buf, scores->buf, n, n, iou, max_keep, dkeep->buf,
                                  dcount->buf);
    if (!st) st = dc_detect_read(ctx, dcount->buf, sizeof count, &count);
    if (!st) st = dc_detect_read(ctx, dkeep->buf, (size_t)count * sizeof(int), keep);
    if (!st) *n_keep = count;
    dc_detect_release(dkeep);
    dc_detect_release(dcount);
    return st;
}

/* ------------------------------------------------------------------ proposals */

void dc_proposal_params_paper(dc_proposal_params *p)
{
    /* docs/facts.md section 1 (NMS 0.7, keep 300); 6000 is TF's first_stage pre-NMS default. */
    *p = (dc_proposal_params){.pre_nms_top_k = 6000, .nms_iou = 0.7f, .max_proposals = 300,
                              .min_size = 0.0f};
    dc_box_coder_paper(&p->coder);
}

static dc_status check_image(const char *op, float img_h, float img_w)
{
    DC_CHECK_ARG(img_h > 0 && img_w > 0 && isfinite(img_h) && isfinite(img_w),
                 "%s: the image is %g x %g; height and width must be positive", op, img_h, img_w);
    return DC_STATUS_OK;
}

static dc_status check_coder(const char *op, const dc_box_coder *c)
{
    for (int i = 0; i < 4; i++)
        DC_CHECK_ARG(c->scale[i] > 0 && isfinite(c->scale[i]),
                     "%s: box coder scale factor %d is %g; scale factors must be positive", op, i,
                     c->scale[i]);
    return DC_STATUS_OK;
}

dc_status dc_proposals_run(dc_ctx *ctx, const dc_proposal_params *p, const dc_tensor *anchors,
                           const dc_tensor *scores, const dc_tensor *deltas, float img_h,
                           float img_w, dc_tensor *boxes_out, dc_tensor *scores_out, int *n_out)
{
    static const char *op = "proposals";
    *n_out = 0;
    DC_CHECK_ARG(p->pre_nms_top_k >= 1 && p->pre_nms_top_k <= DC_NMS_MAX_BOXES,
                 "%s: pre_nms_top_k is %d; it must lie in [1, %d]", op, p->pre_nms_top_k,
                 DC_NMS_MAX_BOXES);
    DC_CHECK_ARG(p->max_proposals >= 1, "%s: max_proposals is %d; it must be at least 1", op,
                 p->max_proposals);
    DC_CHECK_ARG(p->min_size >= 0 && isfinite(p->min_size),
                 "%s: min_size is %g; it must be >= 0", op, p->min_size);
    DC_TRY(check_iou(op, p->nms_iou));
    DC_TRY(check_coder(op, &p->coder));
    DC_TRY(check_image(op, img_h, img_w));
    DC_TRY(dc_detect_expect_boxes(anchors, op, "anchors", 1));
    const int n = anchors->shape[0];
    int cols = 1;
    if (scores && scores->ndim == 2) {
        DC_TRY(dc_tensor_expect(scores, op, "scores", 2, n, 2, 0, 0));
        cols = 2;
    } else {
        DC_TRY(dc_tensor_expect(scores, op, "scores", 1, n, 0, 0, 0));
    }
    DC_TRY(dc_tensor_expect(deltas, op, "deltas", 2, n, 4, 0, 0));
    DC_TRY(dc_detect_expect_boxes(boxes_out, op, "boxes_out", p->max_proposals));
    const int rows = boxes_out->shape[0];
    DC_TRY(dc_tensor_expect(scores_out, op, "scores_out", 1, rows, 0, 0, 0));

    dc_tensor *boxes = NULL, *keys = NULL, *keep = NULL, *count = NULL;
    dc_status st = dc_detect_scratch(ctx, (size_t)n * 4, &boxes);
    if (!st) st = dc_detect_scratch(ctx, (size_t)n, &keys);
    if (!st) st = dc_detect_scratch(ctx, (size_t)p->max_proposals, &keep);
    if (!st) st = dc_detect_scratch(ctx, 1, &count);
    if (!st)
        st = launch_proposal_prepare(ctx, anchors->buf, deltas->buf, scores->buf, cols, n,
                                     &p->coder, img_h, img_w, p->min_size, boxes->buf, keys->buf);
    if (!st)
        st = dc_detect_nms_device(ctx, boxes->buf, keys->buf, n, p->pre_nms_top_k, p->nms_iou,
                                  p->max_proposals, keep->buf, count->buf);
    if (!st)
        st = launch_gather_kept(ctx, keep->buf, count->buf, boxes->buf, keys->buf, rows,
                                boxes_out->buf, scores_out->buf);
    if (!st) st = dc_detect_read(ctx, count->buf, sizeof *n_out, n_out);
    dc_detect_release(boxes);
    dc_detect_release(keys);
    dc_detect_release(keep);
    dc_detect_release(count);
    return st;
}

/* ------------------------------------------------------------------ post-processing */

void dc_postprocess_params_paper(dc_postprocess_params *p)
{
    /* docs/facts.md section 1: per-class NMS 0.6, at most 100 detections; TF's score threshold 0
     * (class_prepare in boxes.cl keeps positive scores only). */
    *p = (dc_postprocess_params){.nms_iou = 0.6f, .max_per_class = 100, .max_total = 100};
    dc_box_coder_paper(&p->coder);
}

typedef struct ranked {
    dc_detection d;
    int seq; /* position in class-then-rank order: the last tie-breaker */
} ranked;

static int ranked_cmp(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    if (a->d.score != b->d.score) return a->d.score > b->d.score ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Per-class NMS for class cls; appends the kept detections to list. */
static dc_status postprocess_class(dc_ctx *ctx, const dc_postprocess_params *p,
                                   const dc_tensor *proposals, int n, const dc_tensor *logits,
                                   const dc_tensor *deltas, int cls, float img_h, float img_w,
                                   dc_tensor *boxes, dc_tensor *keys, dc_tensor *keep,
                                   dc_tensor *count, float *hb, float *hk, int *hkeep,
                                   ranked *list, int *n_list)
{
    int kept = 0;
    DC_TRY(launch_class_prepare(ctx, proposals->buf, logits->buf, deltas->buf, n,
                                logits->shape[1], cls, &p->coder, img_h, img_w, boxes->buf,
                                keys->buf));
    DC_TRY(dc_detect_nms_device(ctx, boxes->buf, keys->buf, n, n, p->nms_iou, p->max_per_class,
                                keep->buf, count->buf));
    DC_TRY(dc_detect_read(ctx, count->buf, sizeof kept, &kept));
    if (!kept) return DC_STATUS_OK;
    DC_TRY(dc_detect_read(ctx, keep->buf, (size_t)kept * sizeof(int), hkeep));
    DC_TRY(dc_detect_read(ctx, boxes->buf, (size_t)n * 4 * sizeof(float), hb));
    DC_TRY(dc_detect_read(ctx, keys->buf, (size_t)n * sizeof(float), hk));
    for (int r = 0; r < kept; r++) {
        ranked *e = &list[*n_list];
        const int i = hkeep[r];
        for (int c = 0; c < 4; c++) e->d.box[c] = hb[4 * i + c];
        e->d.score = hk[i];
        e->d.label = cls;
        e->seq = *n_list;
        (*n_list)++;
    }
    return DC_STATUS_OK;
}

dc_status dc_postprocess_run(dc_ctx *ctx, const dc_postprocess_params *p,
                             const dc_tensor *proposals, int n, const dc_tensor *logits,
                             const dc_tensor *deltas, float img_h, float img_w,
                             dc_detection *out, int cap, int *n_out)
{
    static const char *op = "postprocess";
    *n_out = 0;
    DC_CHECK_ARG(p->max_per_class >= 1 && p->max_total >= 1,
                 "%s: max_per_class %d and max_total %d must be at least 1", op,
                 p->max_per_class, p->max_total);
    DC_TRY(check_iou(op, p->nms_iou));
    DC_TRY(check_coder(op, &p->coder));
    DC_TRY(check_image(op, img_h, img_w));
    DC_CHECK_ARG(cap >= 0, "%s: capacity %d must not be negative", op, cap);
    DC_TRY(dc_detect_expect_boxes(proposals, op, "proposals", 1));
    const int rows = proposals->shape[0];
    DC_CHECK_ARG(n >= 0 && n <= rows && n <= DC_NMS_MAX_BOXES,
                 "%s: n is %d; it must lie in [0, %d] (the rows of proposals, at most %d)", op, n,
                 rows, DC_NMS_MAX_BOXES);
    DC_TRY(dc_tensor_expect(logits, op, "logits", 2, rows, -1, 0, 0));
    const int n_cls = logits->shape[1];
    if (n_cls < 2)
        return DC_FAIL(DC_STATUS_SHAPE, "%s: logits has %d class column; it needs background "
                       "and at least one class", op, n_cls);
    DC_TRY(dc_tensor_expect(deltas, op, "deltas", 2, rows, (n_cls - 1) * 4, 0, 0));
    if (n == 0 || cap == 0) return DC_STATUS_OK;

    dc_tensor *boxes = NULL, *keys = NULL, *keep = NULL, *count = NULL;
    float *hb = malloc((size_t)n * 4 * sizeof *hb), *hk = malloc((size_t)n * sizeof *hk);
    int *hkeep = malloc((size_t)p->max_per_class * sizeof *hkeep);
    ranked *list = malloc((size_t)(n_cls - 1) * p->max_per_class * sizeof *list);
    int n_list = 0;
    dc_status st = DC_STATUS_OK;
    if (!hb || !hk || !hkeep || !list)
        st = DC_FAIL(DC_STATUS_OUT_OF_MEMORY, "%s: out of host memory", op);
    if (!st) st = dc_detect_scratch(ctx, (size_t)n * 4, &boxes);
    if (!st) st = dc_detect_scratch(ctx, (size_t)n, &keys);
    if (!st) st = dc_detect_scratch(ctx, (size_t)p->max_per_class, &keep);
    if (!st) st = dc_detect_scratch(ctx, 1, &count);
    for (int c = 1; c < n_cls && !st; c++)
        st = postprocess_class(ctx, p, proposals, n, logits, deltas, c, img_h, img_w, boxes, keys,
                               keep, count, hb, hk, hkeep, list, &n_list);
    if (!st) {
        qsort(list, (size_t)n_list, sizeof *list, ranked_cmp);
        int m = n_list < p->max_total ? n_list : p->max_total;
        if (m > cap) m = cap;
        for (int i = 0; i < m; i++) out[i] = list[i].d;
        *n_out = m;
    }
    dc_detect_release(boxes);
    dc_detect_release(keys);
    dc_detect_release(keep);
    dc_detect_release(count);
    free(hb);
    free(hk);
    free(hkeep);
    free(list);
    return st;
}
