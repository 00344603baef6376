/* NMS, proposals and post-processing against plain C references (greedy NMS over boxes sorted by
 * score, ties by index): kept indices must agree exactly; boxes within 1e-3 px + 1e-5 relative and
 * scores within 1e-5 (float32 decode and softmax against double). Sizes include 1, 63, 64, 65,
 * 129 and 3001 boxes (not multiples of the 64-box mask words), empty inputs, everything
 * suppressed, ties, NaN scores, and determinism (bit-identical repeats). */
#include "test_detect_util.h"

typedef struct ranked_ref { double score; int index; } ranked_ref;

static int ranked_ref_cmp(const void *pa, const void *pb)
{
    const ranked_ref *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return a->index - b->index;
}

/* Greedy NMS: indices sorted by score, -inf and NaN never kept. Returns the count. */
static int ref_nms(const float *boxes, const double *scores, int n, double iou, int max_keep,
                   int *keep)
{
    ranked_ref *r = malloc((size_t)(n ? n : 1) * sizeof *r);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (scores[i] > -INFINITY) r[m++] = (ranked_ref){scores[i], i};
    qsort(r, (size_t)m, sizeof *r, ranked_ref_cmp);
    int k = 0;
    for (int q = 0; q < m && k < max_keep; q++) {
        int ok = 1;
        for (int j = 0; j < k && ok; j++) ok = ref_iou(boxes + 4 * r[q].index, boxes + 4 * keep[j]) <= iou;
        if (ok) keep[k++] = r[q].index;
    }
    free(r);
    return k;
}

/* One NMS case: n random boxes (clustered so that many overlap), scores quantised to force ties. */
static void nms_case(int n, double iou, int max_keep, int with_nan)
{
    const int rows = n + 3; /* rows beyond n must be ignored */
    float *boxes = random_boxes(rows, 0, 300, 10, 120);
    float *scores = malloc(sizeof(float) * rows);
    double *ds = malloc(sizeof(double) * rows);
    for (int i = 0; i < rows; i++) {
        scores[i] = (float)(floor(urand(0, 50)) / 50.0);
        if (with_nan && i % 7 == 3) scores[i] = NAN;
        if (with_nan && i % 11 == 5) scores[i] = -INFINITY;
        ds[i] = isnan(scores[i]) ? -INFINITY : scores[i];
    }
    dc_tensor *tb = tensor_from2(boxes, rows, 4), *ts = tensor_from2(scores, rows, 0);
    int *keep = malloc(sizeof(int) * (max_keep + 1)), *ref = malloc(sizeof(int) * (max_keep + 1));
    int n_keep = -1;
    CHECK_OK(dc_nms_run(ctx, tb, ts, n, (float)iou, max_keep, keep, &n_keep));
    const int n_ref = ref_nms(boxes, ds, n, iou, max_keep, ref);
    int same = n_keep == n_ref;
    for (int i = 0; same && i < n_ref; i++) same = keep[i] == ref[i];
    CHECK(same, "nms n=%d iou=%g max=%d nan=%d: kept %d, reference %d", n, iou, max_keep,
          with_nan, n_keep, n_ref);
    free(boxes); free(scores); free(ds); free(keep); free(ref);
    dc_tensor_free(tb); dc_tensor_free(ts);
}

static void test_nms(void)
{
    const int sizes[] = {1, 2, 63, 64, 65, 129, 1000, 3001};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        nms_case(sizes[s], 0.7, 10000, 0);
        nms_case(sizes[s], 0.3, 50, 1);
    }
    nms_case(500, 0.0, 10000, 0); /* any overlap suppresses */
    nms_case(500, 1.0, 10000, 1); /* nothing is suppressed */

    /* empty input and max_keep 0 */
    float one[4] = {0, 0, 1, 1}, s1 = 1;
    dc_tensor *tb = tensor_from2(one, 1, 4), *ts = tensor_from2(&s1, 1, 0);
    int keep[4], n_keep = -1;
    CHECK_OK(dc_nms_run(ctx, tb, ts, 0, 0.5f, 4, keep, &n_keep));
    CHECK(n_keep == 0, "empty: kept %d", n_keep);
    CHECK_OK(dc_nms_run(ctx, tb, ts, 1, 0.5f, 0, keep, &n_keep));
    CHECK(n_keep == 0, "max_keep 0: kept %d", n_keep);
    /* bad arguments */
    CHECK_FAILS(dc_nms_run(ctx, tb, ts, 2, 0.5f, 4, keep, &n_keep), DC_STATUS_INVALID_ARG, "n is 2");
    CHECK_FAILS(dc_nms_run(ctx, tb, ts, 1, 1.5f, 4, keep, &n_keep), DC_STATUS_INVALID_ARG, "IoU threshold 1.5");
    CHECK_FAILS(dc_nms_run(ctx, tb, tb, 1, 0.5f, 4, keep, &n_keep), DC_STATUS_SHAPE, "nms: argument scores");
    dc_tensor_free(tb);
    dc_tensor_free(ts);

    /* all suppressed: 130 copies of one box keep only the best (the highest score, lowest index) */
    const int n = 130;
    float *boxes = malloc(sizeof(float) * 4 * n), *scores = malloc(sizeof(float) * n);
    for (int i = 0; i < n; i++) {
        memcpy(boxes + 4 * i, (float[]){5, 6, 50, 70}, 4 * sizeof(float));
        scores[i] = i == 77 || i == 99 ? 0.9f : 0.5f;
    }
    tb = tensor_from2(boxes, n, 4);
    ts = tensor_from2(scores, n, 0);
    int k2[130];
    CHECK_OK(dc_nms_run(ctx, tb, ts, n, 0.7f, n, k2, &n_keep));
    CHECK(n_keep == 1 && k2[0] == 77, "all suppressed: kept %d, first %d", n_keep, k2[0]);
    free(boxes); free(scores);
    dc_tensor_free(tb); dc_tensor_free(ts);
}

/* Proposals from the paper's anchors on a small image, against decode + clip + top-k + NMS in C. */
static void proposals_case(int logits)
{
    dc_anchor_params ap;
    dc_anchor_params_paper(&ap);
    const int gh = 9, gw = 11, n = gh * gw * 12;
    const float img_h = 144, img_w = 176;
    dc_tensor *ta = tensor_new2(n, 4);
    CHECK_OK(dc_anchors_generate(ctx, &ap, gh, gw, ta));
    float *anchors = download(ta);
    float *deltas = malloc(sizeof(float) * 4 * n), *scores = malloc(sizeof(float) * 2 * n);
    double *ds = malloc(sizeof(double) * n);
    for (int i = 0; i < 4 * n; i++) deltas[i] = (float)urand(-2, 2);
    for (int i = 0; i < n; i++) {
        if (logits) {
            scores[2 * i] = (float)urand(-3, 3);
            scores[2 * i + 1] = (float)urand(-3, 3);
            ds[i] = 1.0 / (1.0 + exp((double)scores[2 * i] - scores[2 * i + 1]));
        } else {
            scores[i] = (float)urand(0, 1);
            ds[i] = scores[i];
        }
    }
    dc_tensor *td = tensor_from2(deltas, n, 4), *tsc = tensor_from2(scores, n, logits ? 2 : 0);
    dc_proposal_params p;
    dc_proposal_params_paper(&p);
    p.pre_nms_top_k = 500;
    p.max_proposals = 60;
    p.min_size = 1.0f;
    const int rows = 64;
    dc_tensor *tbo = tensor_new2(rows, 4), *tso = tensor_new2(rows, 0);
    int n_out = -1;
    CHECK_OK(dc_proposals_run(ctx, &p, ta, tsc, td, img_h, img_w, tbo, tso, &n_out));
    float *gb = download(tbo), *gs = download(tso);

    /* reference: decode, clip, drop boxes not above min_size, top-k, NMS */
    float *rb = malloc(sizeof(float) * 4 * n);
    for (int i = 0; i < n; i++) {
        double b[4];
        ref_decode(deltas + 4 * i, anchors + 4 * i, b);
        ref_clip(b, img_h, img_w);
        for (int c = 0; c < 4; c++) rb[4 * i + c] = (float)b[c];
        if (!(b[2] - b[0] > p.min_size && b[3] - b[1] > p.min_size)) ds[i] = -INFINITY;
    }
    ranked_ref *r = malloc(sizeof *r * n);
    for (int i = 0; i < n; i++) r[i] = (ranked_ref){ds[i], i};
    qsort(r, (size_t)n, sizeof *r, ranked_ref_cmp);
    for (int i = p.pre_nms_top_k; i < n; i++) ds[r[i].index] = -INFINITY;
    int keep[60];
    const int n_ref = ref_nms(rb, ds, n, p.nms_iou, p.max_proposals, keep);
    CHECK(n_out == n_ref, "proposals (logits %d): %d kept, reference %d", logits, n_out, n_ref);
    int bad = 0;
    for (int i = 0; i < n_out && i < n_ref; i++) {
        for (int c = 0; c < 4; c++)
            bad += fabs(gb[4 * i + c] - rb[4 * keep[i] + c]) > 1e-3 + 1e-5 * fabs(rb[4 * keep[i] + c]);
        bad += fabs(gs[i] - ds[keep[i]]) > 1e-5;
    }
    for (int i = n_out; i < rows; i++) bad += gs[i] != 0 || gb[4 * i] != 0 || gb[4 * i + 3] != 0;
    CHECK(bad == 0, "proposals (logits %d): %d values differ", logits, bad);

    /* determinism: a second run is bit-identical */
    int n2 = -1;
    CHECK_OK(dc_proposals_run(ctx, &p, ta, tsc, td, img_h, img_w, tbo, tso, &n2));
    float *gb2 = download(tbo), *gs2 = download(tso);
    CHECK(n2 == n_out && !memcmp(gb, gb2, sizeof(float) * 4 * rows) &&
              !memcmp(gs, gs2, sizeof(float) * rows), "proposals differ between runs");

    /* bad arguments */
    if (!logits) {
        dc_tensor *small = tensor_new2(10, 4);
        CHECK_FAILS(dc_proposals_run(ctx, &p, ta, tsc, small, img_h, img_w, tbo, tso, &n2),
                    DC_STATUS_SHAPE, "proposals: argument deltas");
        CHECK_FAILS(dc_proposals_run(ctx, &p, ta, tsc, td, img_h, img_w, small, tso, &n2),
                    DC_STATUS_SHAPE, "boxes_out has 10 rows; at least 60");
        CHECK_FAILS(dc_proposals_run(ctx, &p, ta, tsc, td, 0, img_w, tbo, tso, &n2),
                    DC_STATUS_INVALID_ARG, "image is 0 x 176");
        p.pre_nms_top_k = 0;
        CHECK_FAILS(dc_proposals_run(ctx, &p, ta, tsc, td, img_h, img_w, tbo, tso, &n2),
                    DC_STATUS_INVALID_ARG, "pre_nms_top_k is 0");
        dc_tensor_free(small);
    }
    free(anchors); free(deltas); free(scores); free(ds); free(gb); free(gs); free(rb); free(r);
    free(gb2); free(gs2);
    dc_tensor_free(ta); dc_tensor_free(td); dc_tensor_free(tsc); dc_tensor_free(tbo); dc_tensor_free(tso);
}

typedef struct ref_det { double score; int label, seq; float box[4]; } ref_det;

static int ref_det_cmp(const void *pa, const void *pb)
{
    const ref_det *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return a->seq - b->seq;
}

static void test_postprocess(void)
{
    const int rows = 300, n = 251, n_cls = 3;
    const float img_h = 400, img_w = 500;
    float *props = random_boxes(rows, 0, 400, 20, 150);
    float *logits = malloc(sizeof(float) * rows * n_cls), *deltas = malloc(sizeof(float) * rows * 8);
    for (int i = 0; i < rows * n_cls; i++) logits[i] = (float)urand(-4, 4);
    for (int i = 0; i < rows * 8; i++) deltas[i] = (float)urand(-1, 1);
    dc_tensor *tp = tensor_from2(props, rows, 4), *tl = tensor_from2(logits, rows, n_cls);
    dc_tensor *td = tensor_from2(deltas, rows, 8);
    dc_postprocess_params p;
    dc_postprocess_params_paper(&p);
    p.max_per_class = 40;
    p.max_total = 70;
    dc_detection det[100];
    int n_det = -1;
    CHECK_OK(dc_postprocess_run(ctx, &p, tp, n, tl, td, img_h, img_w, det, 100, &n_det));

    /* reference */
    ref_det *all = malloc(sizeof *all * n * n_cls);
    int n_all = 0;
    float *cb = malloc(sizeof(float) * 4 * n);
    double *cs = malloc(sizeof(double) * n);
    int *keep = malloc(sizeof(int) * n);
    for (int c = 1; c < n_cls; c++) {
        for (int i = 0; i < n; i++) {
            double mx = -INFINITY, sum = 0, b[4];
            for (int k = 0; k < n_cls; k++) mx = fmax(mx, logits[i * n_cls + k]);
            for (int k = 0; k < n_cls; k++) sum += exp(logits[i * n_cls + k] - mx);
            const double prob = exp(logits[i * n_cls + c] - mx) / sum;
            ref_decode(deltas + i * 8 + 4 * (c - 1), props + 4 * i, b);
            ref_clip(b, img_h, img_w);
            for (int k = 0; k < 4; k++) cb[4 * i + k] = (float)b[k];
            cs[i] = prob > 0 && b[2] > b[0] && b[3] > b[1] ? prob : -INFINITY;
        }
        const int kept = ref_nms(cb, cs, n, p.nms_iou, p.max_per_class, keep);
        for (int r = 0; r < kept; r++) {
            ref_det *e = &all[n_all];
            *e = (ref_det){cs[keep[r]], c, n_all, {0}};
            memcpy(e->box, cb + 4 * keep[r], sizeof e->box);
            n_all++;
        }
    }
    qsort(all, (size_t)n_all, sizeof *all, ref_det_cmp);
    const int n_ref = n_all < p.max_total ? n_all : p.max_total;
    CHECK(n_det == n_ref, "postprocess: %d detections, reference %d", n_det, n_ref);
    int bad = 0;
    for (int i = 0; i < n_det && i < n_ref; i++) {
        bad += det[i].label != all[i].label || fabs(det[i].score - all[i].score) > 1e-5;
        for (int k = 0; k < 4; k++) bad += fabs(det[i].box[k] - all[i].box[k]) > 1e-3 + 1e-5 * fabs(all[i].box[k]);
    }
    CHECK(bad == 0, "postprocess: %d values differ", bad);
    CHECK(n_ref > 10 && n_all > n_ref, "the case should exercise the total limit (%d of %d)", n_ref, n_all);

    /* capacity below max_total, empty input, bad shapes */
    CHECK_OK(dc_postprocess_run(ctx, &p, tp, n, tl, td, img_h, img_w, det, 5, &n_det));
    CHECK(n_det == 5 && det[0].label == all[0].label, "cap 5: %d", n_det);
    CHECK_OK(dc_postprocess_run(ctx, &p, tp, 0, tl, td, img_h, img_w, det, 100, &n_det));
    CHECK(n_det == 0, "empty: %d detections", n_det);
    CHECK_FAILS(dc_postprocess_run(ctx, &p, tp, n, tl, tp, img_h, img_w, det, 100, &n_det),
                DC_STATUS_SHAPE, "postprocess: argument deltas");
    CHECK_FAILS(dc_postprocess_run(ctx, &p, tp, rows + 1, tl, td, img_h, img_w, det, 100, &n_det),
                DC_STATUS_INVALID_ARG, "n is 301");
    free(props); free(logits); free(deltas); free(all); free(cb); free(cs); free(keep);
    dc_tensor_free(tp); dc_tensor_free(tl); dc_tensor_free(td);
}

int main(void)
{
    test_open(44);
    test_nms();
    proposals_case(0);
    proposals_case(1);
    test_postprocess();
    dc_ctx_free(ctx);
    return dc_test_finish("test_detect_nms");
}
