/* Box arithmetic on rows [ymin, xmin, ymax, xmax] (TF's order) and every kernel built on it: the
 * Faster R-CNN coder, clipping, IoU matrix, NMS suppression masks, and the preparation steps of
 * proposals, post-processing and targets. Kept in one file so that each formula exists once. */

#define NMS_BLOCK 64 /* boxes per suppression-mask word: the bits of a ulong */

#define CODER_GUARD 1e-8f               /* TF faster_rcnn_box_coder EPSILON, against log(0) */
#define DECODE_CLAMP 4.135166556742356f /* log(1000/16), as Detectron and torchvision */

/* scale = (sy, sx, sh, sw) */
inline float4 box_encode(float4 box, float4 anc, float4 scale)
{
    const float yca = 0.5f * (anc.s0 + anc.s2), xca = 0.5f * (anc.s1 + anc.s3);
    const float ha = anc.s2 - anc.s0 + CODER_GUARD, wa = anc.s3 - anc.s1 + CODER_GUARD;
    const float yc = 0.5f * (box.s0 + box.s2), xc = 0.5f * (box.s1 + box.s3);
    const float h = box.s2 - box.s0 + CODER_GUARD, w = box.s3 - box.s1 + CODER_GUARD;
    return (float4)((yc - yca) / ha * scale.s0, (xc - xca) / wa * scale.s1,
                    log(h / ha) * scale.s2, log(w / wa) * scale.s3);
}

inline float4 box_decode(float4 d, float4 anc, float4 scale)
{
    const float yca = 0.5f * (anc.s0 + anc.s2), xca = 0.5f * (anc.s1 + anc.s3);
    const float ha = anc.s2 - anc.s0, wa = anc.s3 - anc.s1;
    const float yc = d.s0 / scale.s0 * ha + yca, xc = d.s1 / scale.s1 * wa + xca;
    const float h = exp(fmin(d.s2 / scale.s2, DECODE_CLAMP)) * ha;
    const float w = exp(fmin(d.s3 / scale.s3, DECODE_CLAMP)) * wa;
    return (float4)(yc - 0.5f * h, xc - 0.5f * w, yc + 0.5f * h, xc + 0.5f * w);
}

inline float4 box_clip(float4 b, float height, float width)
{
    return (float4)(clamp(b.s0, 0.0f, height), clamp(b.s1, 0.0f, width),
                    clamp(b.s2, 0.0f, height), clamp(b.s3, 0.0f, width));
}

inline float box_iou(float4 a, float4 b)
{
    const float ih = fmax(0.0f, fmin(a.s2, b.s2) - fmax(a.s0, b.s0));
    const float iw = fmax(0.0f, fmin(a.s3, b.s3) - fmax(a.s1, b.s1));
    const float inter = ih * iw;
    if (inter == 0.0f) return 0.0f;
    const float area_a = (a.s2 - a.s0) * (a.s3 - a.s1), area_b = (b.s2 - b.s0) * (b.s3 - b.s1);
    return inter / (area_a + area_b - inter);
}

/* A score that sorts last and is never kept when the box is degenerate or the score is NaN. */
inline float box_key(float4 b, float score, float min_size)
{
    if (isnan(score) || !(b.s2 - b.s0 > min_size) || !(b.s3 - b.s1 > min_size)) return -INFINITY;
    return score;
}

__kernel void box_encode_rows(__global const float *boxes, __global const float *anchors,
                              __global float *out, const int n, const float sy, const float sx,
                              const float sh, const float sw)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float4 scale = (float4)(sy, sx, sh, sw);
    vstore4(box_encode(vload4(i, boxes), vload4(i, anchors), scale), i, out);
}

__kernel void box_decode_rows(__global const float *deltas, __global const float *anchors,
                              __global float *out, const int n, const float sy, const float sx,
                              const float sh, const float sw)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float4 scale = (float4)(sy, sx, sh, sw);
    vstore4(box_decode(vload4(i, deltas), vload4(i, anchors), scale), i, out);
}

__kernel void box_clip_rows(__global float *boxes, const int n, const float height,
                            const float width)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    vstore4(box_clip(vload4(i, boxes), height, width), i, boxes);
}

__kernel void box_scale_rows(__global const float *boxes, __global float *out, const int n,
                             const float sy, const float sx)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    vstore4(vload4(i, boxes) * (float4)(sy, sx, sy, sx), i, out);
}

/* out [n, m]; work item (j, i). */
__kernel void box_iou_matrix(__global const float *a, __global const float *b,
                             __global float *out, const int n, const int m)
{
    const int j = get_global_id(0), i = get_global_id(1);
    if (i >= n || j >= m) return;
    out[(size_t)i * m + j] = box_iou(vload4(i, a), vload4(j, b));
}

/* Proposals, step 1: decode, clip and score every anchor. score_cols 1: scores[i] as is;
 * 2: (background, object) logits -> object softmax probability. */
__kernel void proposal_prepare(__global const float *anchors, __global const float *deltas,
                               __global const float *scores, const int score_cols, const int n,
                               const float sy, const float sx, const float sh, const float sw,
                               const float height, const float width,
                               const float min_size, __global float *boxes, __global float *keys)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float4 scale = (float4)(sy, sx, sh, sw);
    const float4 b = box_clip(box_decode(vload4(i, deltas), vload4(i, anchors), scale), height,
                              width);
    float s;
    if (score_cols == 2) s = 1.0f / (1.0f + exp(scores[2 * i] - scores[2 * i + 1]));
    else s = scores[i];
    vstore4(b, i, boxes);
    keys[i] = box_key(b, s, min_size);
}

/* Post-processing, per class c >= 1: softmax probability of c over the row's n_cls logits, box
 * decoded from columns 4(c-1).. of deltas, clipped; scores not above 0 (TF's score threshold)
 * never kept. */
__kernel void class_prepare(__global const float *proposals, __global const float *logits,
                            __global const float *deltas, const int n, const int n_cls,
                            const int cls, const float sy, const float sx, const float sh,
                            const float sw, const float height,
                            const float width, __global float *boxes, __global float *keys)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float4 scale = (float4)(sy, sx, sh, sw);
    __global const float *l = logits + (size_t)i * n_cls;
    float mx = l[0];
    for (int c = 1; c < n_cls; c++) mx = fmax(mx, l[c]);
    float sum = 0.0f;
    for (int c = 0; c < n_cls; c++) sum += exp(l[c] - mx);
    const float p = exp(l[cls] - mx) / sum;
    const float4 d = vload4((size_t)i * (n_cls - 1) + (cls - 1), deltas);
    const float4 b = box_clip(box_decode(d, vload4(i, proposals), scale), height, width);
    vstore4(b, i, boxes);
    keys[i] = p > 0.0f ? box_key(b, p, 0.0f) : -INFINITY;
}

/* Targets: regression target of each candidate against its matched ground truth (match < 0: 0). */
__kernel void encode_matched(__global const float *candidates, __global const float *gt,
                             __global const int *match, const int n, const float sy,
                             const float sx, const float sh, const float sw,
                             __global float *out)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float4 scale = (float4)(sy, sx, sh, sw);
    const int m = match[i];
    vstore4(m >= 0 ? box_encode(vload4(m, gt), vload4(i, candidates), scale) : (float4)(0.0f),
            i, out);
}

/* NMS suppression masks over k boxes sorted by descending score: work item (i, w) sets bit j of
 * mask[i * words + w] when box i overlaps the later box w*NMS_BLOCK + j by IoU > iou. Words left
 * of box i's own are never read, so never computed. The test is inter > iou * union (box_iou's
 * quotient without the division). */
__kernel void nms_mask(__global const float *boxes, const int k, const float iou, const int words,
                       __global ulong *mask)
{
    const int i = get_global_id(0), w = get_global_id(1);
    if (i >= k || w >= words || w < i / NMS_BLOCK) return;
    const float4 b = vload4(i, boxes);
    const float area = (b.s2 - b.s0) * (b.s3 - b.s1);
    const int base = w * NMS_BLOCK, n = min(k - base, NMS_BLOCK);
    ulong bits = 0;
    for (int j = max(i + 1 - base, 0); j < n; j++) {
        const float4 c = vload4(base + j, boxes);
        const float ih = fmax(0.0f, fmin(b.s2, c.s2) - fmax(b.s0, c.s0));
        const float iw = fmax(0.0f, fmin(b.s3, c.s3) - fmax(b.s1, c.s1));
        const float inter = ih * iw;
        if (inter > iou * (area + (c.s2 - c.s0) * (c.s3 - c.s1) - inter)) bits |= (ulong)1 << j;
    }
    mask[(size_t)i * words + w] = bits;
}
