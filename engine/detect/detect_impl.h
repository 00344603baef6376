/* Helpers shared by the files of engine/detect (not part of the public API). */
#ifndef DC_DETECT_IMPL_H
#define DC_DETECT_IMPL_H

#include "detect/detect.h"

/* Scratch device memory of n 32-bit words (int or float; at least one word), as a tensor so that
 * allocation failures carry the tensor layer's message. Give it back with dc_detect_release. */
dc_status dc_detect_scratch(dc_ctx *ctx, size_t words, dc_tensor **out);
/* The same with a shape (up to 4 dimensions). Scratch comes from a pool the context keeps for the
 * detector ops (dc_ctx_scratch), so repeated calls allocate no device buffers; give each one back
 * with dc_detect_release before the op returns (the in-order queue makes the reuse by the next op
 * safe). */
dc_status dc_detect_scratch_shape(dc_ctx *ctx, int ndim, const int *shape, dc_tensor **out);
void dc_detect_release(dc_tensor *t);
/* Bytes of device memory the detector ops' scratch pool holds (0 before the first use). */
size_t dc_detect_scratch_bytes(const dc_ctx *ctx);
/* Scratch tensors taken and not given back (0 between ops; 0 before the first use). */
int dc_detect_scratch_in_use(const dc_ctx *ctx);
/* Blocking raw transfers of bytes (for int and ulong scratch data). */
dc_status dc_detect_read(dc_ctx *ctx, cl_mem buf, size_t bytes, void *host);
dc_status dc_detect_write(dc_ctx *ctx, cl_mem buf, size_t bytes, const void *host);

/* Check a box list: a 2-D tensor [rows, 4], rows >= min_rows. */
dc_status dc_detect_expect_boxes(const dc_tensor *t, const char *op, const char *arg, int min_rows);

/* Check host boxes (n rows of 4): finite and ymax >= ymin, xmax >= xmin; the message names
 * the op, the argument and the first bad row. */
dc_status dc_detect_check_host_boxes(const float *boxes, int n, const char *op, const char *arg);

/* Sorting and NMS on the device, shared by dc_nms_run, dc_proposals_run and
 * dc_postprocess_run (nms.c): sorts the first n keys (descending; -inf and NaN last and never
 * kept), runs NMS over the best min(n, top_k) of the boxes [>= n, 4] and writes at most max_keep
 * original indices (int words) to keep in descending key order and their number to count (one
 * int word). Nothing is read back. */
dc_status dc_detect_nms_device(dc_ctx *ctx, cl_mem boxes, cl_mem keys, int n, int top_k,
                               float iou, int max_keep, cl_mem keep, cl_mem count);

#endif
