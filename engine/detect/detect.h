/* The detector's box machinery on the device: anchors, box coding, IoU, target assignment and
 * sampling, proposals with non-maximum suppression, crop_and_resize and post-processing.
 *
 * The settings follow the TensorFlow Object Detection API's faster_rcnn_inception_v2 that Deep-CEE
 * used (docs/facts.md section 1); the *_paper() functions fill them in.
 *
 * Conventions shared by every function here:
 * - A box is [ymin, xmin, ymax, xmax] (TF's order), in pixels of the network's input image unless
 *   said otherwise; a box list is a tensor [N, 4].
 * - Anchors are ordered as TF's grid_anchor_generator orders them: by grid row y, then grid column
 *   x, then anchor a = ratio_index * n_scales + scale_index, so anchor (y, x, a) is row
 *   (y * grid_w + x) * A + a. dc_head_to_anchors_forward brings a head's NCHW output into that
 *   order.
 * - IoU is TF's: intersection / union with areas (ymax - ymin) * (xmax - xmin) (no +1), and 0
 *   where the intersection is 0.
 * - Integer labels and class numbers are stored in float tensors (exact below 2^24).
 * - Random choices (sampling) come only from the dc_rng passed in: a seed fixes them bit for bit.
 * - Nothing uses float atomics, so every result is bit-identical from run to run on a device. */
#ifndef DC_DETECT_H
#define DC_DETECT_H

#include "tensor.h"

/* ------------------------------------------------------------------ anchors */

#define DC_ANCHOR_MAX_SIZES 8

typedef struct dc_anchor_params {
    int n_scales;
    float scales[DC_ANCHOR_MAX_SIZES];  /* paper: 0.25, 0.5, 1, 2 */
    int n_ratios;
    float ratios[DC_ANCHOR_MAX_SIZES];  /* width / height; paper: 0.5, 1, 2 */
    float base_size;                    /* paper: 256 px */
    float stride;                       /* paper: 16 px (the feature network's output stride) */
    float offset;                       /* centre of grid cell 0; TF's default (and the paper): 0 */
} dc_anchor_params;

/* The paper's anchors (12 per position). */
void dc_anchor_params_paper(dc_anchor_params *p);
/* Anchors per grid position (n_scales * n_ratios). */
int dc_anchor_per_position(const dc_anchor_params *p);

/* Anchor grid of a grid_h x grid_w feature map into out [grid_h * grid_w * A, 4]. Anchor (y, x,
 * s, r): centre (offset + stride*y, offset + stride*x), height scale*base/sqrt(ratio), width
 * scale*base*sqrt(ratio) (TF's grid_anchor_generator). */
dc_status dc_anchors_generate(dc_ctx *ctx, const dc_anchor_params *p, int grid_h, int grid_w,
                              dc_tensor *out);

/* A head's output [B, A*k, H, W] (channel a*k + t, TF's layout) -> out [B*H*W*A, k] in anchor
 * order; k is 2 for objectness logits, 4 for box deltas. The backward is the inverse permutation
 * (grad_out [B*H*W*A, k] -> grad_head [B, A*k, H, W]). */
dc_status dc_head_to_anchors_forward(dc_ctx *ctx, const dc_tensor *head, int k, dc_tensor *out);
dc_status dc_head_to_anchors_backward(dc_ctx *ctx, const dc_tensor *grad_out, int k,
                                      dc_tensor *grad_head);

/* ------------------------------------------------------------------ boxes */

/* Faster R-CNN box coder scale factors (ty, tx, th, tw); the paper's are 10, 10, 5, 5. */
typedef struct dc_box_coder { float scale[4]; } dc_box_coder;
void dc_box_coder_paper(dc_box_coder *c);

/* Encode boxes [N, 4] against anchors [N, 4] into deltas out [N, 4]:
 * ty = sy (yc - yca) / ha, tx = sx (xc - xca) / wa, th = sh log(h / ha), tw = sw log(w / wa),
 * with 1e-8 added to every height and width first (TF's guard against log 0). coder NULL: paper. */
dc_status dc_box_encode(dc_ctx *ctx, const dc_box_coder *coder, const dc_tensor *boxes,
                        const dc_tensor *anchors, dc_tensor *out);
/* The inverse: deltas [N, 4] applied to anchors [N, 4] -> boxes out [N, 4]. th/sh and tw/sw are
 * clamped at log(1000/16) before exp (as Detectron and torchvision do) so that an untrained head
 * cannot produce infinite boxes; TF does not clamp. */
dc_status dc_box_decode(dc_ctx *ctx, const dc_box_coder *coder, const dc_tensor *deltas,
                        const dc_tensor *anchors, dc_tensor *out);
/* Clip boxes [N, 4] in place to the window [0, 0, height, width] (TF's clip_to_window). */
dc_status dc_box_clip(dc_ctx *ctx, dc_tensor *boxes, float height, float width);
/* out = boxes * (sy, sx, sy, sx); with 1/H, 1/W it gives the normalised boxes crop_and_resize
 * takes (TF's to_normalized_coordinates). out may be boxes. */
dc_status dc_box_scale(dc_ctx *ctx, const dc_tensor *boxes, float sy, float sx, dc_tensor *out);
/* IoU matrix out [N, M] of boxes a [N, 4] against b [M, 4]. */
dc_status dc_box_iou(dc_ctx *ctx, const dc_tensor *a, const dc_tensor *b, dc_tensor *out);

/* ------------------------------------------------------------------ targets and sampling */

typedef struct dc_target_params {
    float pos_iou;     /* IoU >= pos_iou: positive (RPN 0.7, detection network 0.5) */
    float neg_iou;     /* IoU < neg_iou: negative; between: ignored (RPN 0.3, DN 0.5) */
    int force_best;    /* each ground truth's best anchor is positive (RPN 1, DN 0) */
    int drop_border;   /* anchors not inside the image are ignored (RPN 1, DN 0) */
    int batch;         /* sampled per image (RPN 256, DN 64) */
    int max_pos;       /* at most this many positives (RPN 128, DN 16); negatives fill the rest */
    dc_box_coder coder;
} dc_target_params;
void dc_target_params_rpn(dc_target_params *p);
void dc_target_params_dn(dc_target_params *p);

/* Outputs of dc_targets_assign, tensors the caller provides, N rows each. */
typedef struct dc_targets {
    dc_tensor *labels;       /* [N]: class of a sampled positive (1 for the RPN), 0 for a sampled
                                negative, -1 not sampled (ignored, border, or left out) */
    dc_tensor *cls_weights;  /* [N]: 1 where sampled, else 0 */
    dc_tensor *reg_targets;  /* [N, 4]: encoded matched ground truth for positives, else 0 */
    dc_tensor *reg_weights;  /* [N]: 1 for sampled positives, else 0 */
} dc_targets;

typedef struct dc_target_stats {
    int n_valid;       /* candidates considered (not beyond n, not dropped at the border) */
    int n_pos, n_neg;  /* positives and negatives before sampling */
    int n_pos_sampled, n_neg_sampled;
} dc_target_stats;

/* Match candidate boxes (anchors for the RPN, proposals for the detection network) to ground
 * truth and sample a training batch, as TF's target assigner with the ArgMaxMatcher and the
 * balanced positive/negative sampler:
 * - candidates [N, 4]; only the first n rows are used (1 <= n <= N); rows beyond get label -1;
 * - gt [n_gt * 4] host boxes in pixels, gt_class [n_gt] host class numbers >= 1 (NULL: all 1);
 *   n_gt may be 0 (every valid candidate is then a negative);
 * - the IoU matrix and both argmaxes run on the device; labelling and sampling (rng) on the host;
 * - a forced best match needs an IoU above 0 (TF would force a match even with no overlap);
 * - positives sampled: min(#pos, max_pos); negatives: min(#neg, batch - positives sampled).
 * stats may be NULL. */
dc_status dc_targets_assign(dc_ctx *ctx, const dc_target_params *p, const dc_tensor *candidates,
                            int n, const float *gt, const int *gt_class, int n_gt, float img_h,
                            float img_w, dc_rng *rng, const dc_targets *out,
                            dc_target_stats *stats);

/* ------------------------------------------------------------------ NMS and proposals */

/* Most boxes one NMS takes (its masks need n * n / 8 bytes: 128 MiB here). */
#define DC_NMS_MAX_BOXES 32768

/* Non-maximum suppression on the device over the first n rows of boxes [N, 4] with scores [N]:
 * boxes are sorted by score (descending, ties by index; -inf and NaN scores are never kept), then
 * a box is dropped when its IoU with a kept box of higher rank exceeds iou (strictly, as TF and
 * torchvision). Keeps at most max_keep; keep (host, capacity max_keep) receives indices into boxes
 * in descending score order, *n_keep their count. 0 <= n <= DC_NMS_MAX_BOXES. */
dc_status dc_nms_run(dc_ctx *ctx, const dc_tensor *boxes, const dc_tensor *scores, int n,
                     float iou, int max_keep, int *keep, int *n_keep);

typedef struct dc_proposal_params {
    int pre_nms_top_k;   /* best-scored boxes entering NMS; TF's default 6000 */
    float nms_iou;       /* 0.7 */
    int max_proposals;   /* 300 */
    float min_size;      /* boxes with height or width <= min_size after clipping are dropped
                            (TF's clip_to_window filter_nonoverlapping); 0 */
    dc_box_coder coder;
} dc_proposal_params;
void dc_proposal_params_paper(dc_proposal_params *p);

/* Region proposals: decode deltas [N, 4] against anchors [N, 4], clip to the image, take the
 * pre_nms_top_k best by score, NMS, keep max_proposals. scores is [N] (any score, used as is) or
 * [N, 2] (background and object logits: the score is the object softmax probability).
 * boxes_out [P, 4] and scores_out [P] with P >= max_proposals receive the kept boxes (pixels) in
 * descending score order, zeros after the *n_out kept ones. Everything runs on the device; only
 * the count is read back. */
dc_status dc_proposals_run(dc_ctx *ctx, const dc_proposal_params *p, const dc_tensor *anchors,
                           const dc_tensor *scores, const dc_tensor *deltas, float img_h,
                           float img_w, dc_tensor *boxes_out, dc_tensor *scores_out, int *n_out);

/* ------------------------------------------------------------------ crop_and_resize */

/* TF's tf.image.crop_and_resize (bilinear): feat [B, C, H, W], boxes [N, 4] normalised
 * [y1, x1, y2, x2] (0..1 spans the map; y2 < y1 crops upside down, as TF), box_index [N] host
 * image numbers (NULL: all 0), out [N, C, crop_h, crop_w]. Sample (i, j) of box n reads the map
 * at y = y1 (H-1) + i (y2-y1)(H-1)/(crop_h-1) (the box centre when crop_h is 1), likewise x;
 * samples outside [0, H-1] x [0, W-1] take extrapolation. The coordinates are computed in float
 * in TF's order (no fused multiply-add), so results match TF's, including its quirk that a box
 * reaching the far edge (y2 = 1) may have its last sample rounded just outside (e.g. H = 8, 15,
 * 29 or 57 with 14 samples) and take the extrapolation value. */
dc_status dc_crop_resize_forward(dc_ctx *ctx, const dc_tensor *feat, const dc_tensor *boxes,
                                 const int *box_index, float extrapolation, dc_tensor *out);
/* Gradient with respect to the feature map: grad_feat [B, C, H, W] is overwritten with the sum of
 * grad_out [N, C, crop_h, crop_w] through the bilinear weights. Deterministic: each feature pixel
 * gathers its own contributions in a fixed order (no atomics). Boxes get no gradient (TF neither
 * passes one through the proposals). */
dc_status dc_crop_resize_backward(dc_ctx *ctx, const dc_tensor *grad_out, const dc_tensor *boxes,
                                  const int *box_index, dc_tensor *grad_feat);

/* ------------------------------------------------------------------ post-processing */

typedef struct dc_postprocess_params {
    float nms_iou;          /* per-class NMS; 0.6 */
    int max_per_class;      /* 100 */
    int max_total;          /* 100 */
    dc_box_coder coder;
} dc_postprocess_params;
void dc_postprocess_params_paper(dc_postprocess_params *p);

typedef struct dc_detection {
    float box[4];   /* [ymin, xmin, ymax, xmax] in pixels */
    float score;    /* softmax probability of the class */
    int label;      /* class number, 1 .. C-1 */
} dc_detection;

/* The detection network's output to detections: softmax over logits [P, C] (class 0 background),
 * decode each class c >= 1 from deltas [P, (C-1)*4] (columns 4(c-1) .. 4(c-1)+3, TF's layout)
 * against the proposals [P, 4], clip to the image, per-class NMS on the device, then the
 * max_total best over all classes, sorted by score (ties: lower class first). Only the first
 * n rows are used (n may be 0). out (host, capacity cap) receives *n_out detections. */
dc_status dc_postprocess_run(dc_ctx *ctx, const dc_postprocess_params *p,
                             const dc_tensor *proposals, int n, const dc_tensor *logits,
                             const dc_tensor *deltas, float img_h, float img_w,
                             dc_detection *out, int cap, int *n_out);

#endif
