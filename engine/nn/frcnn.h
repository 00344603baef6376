/* The Faster R-CNN detector of Deep-CEE: a feature network (FN), the region proposal network
 * (RPN: a 3x3 conv with ReLU, then 1x1 objectness and box convs), proposals with NMS,
 * crop_and_resize of the FN map at the proposals followed by a 2x2 max-pool, the detection network
 * (DN, ending in a global average pool) and two fully connected heads (class logits, box deltas).
 * One call runs one whole training step (forward, targets, the four losses, backward, gradient
 * clipping and the SGD update) or one detection. Settings: docs/facts.md section 1. */
#ifndef DC_FRCNN_H
#define DC_FRCNN_H

#include "detect/detect.h"
#include "nn/net.h"

typedef struct dc_frcnn_config {
    int num_classes;        /* object classes besides background; the engine supports 1 (clusters) */
    int rpn_channels;       /* RPN 3x3 conv width (paper 512) */
    float rpn_init_std;     /* truncated-normal std of the RPN convs (paper 0.01) */
    int crop_size;          /* crop_and_resize size before the 2x2 max-pool (paper 14) */
    dc_anchor_params anchors;
    dc_target_params rpn_targets, dn_targets;
    dc_proposal_params proposals;
    dc_postprocess_params post;
    float w_rpn_cls, w_rpn_box, w_dn_cls, w_dn_box; /* loss weights (paper 1, 2, 1, 2) */
    float lr, momentum, clip_norm;                  /* paper 0.0002, 0.9, 10 */
    int dn_add_gt;          /* training: the ground truth joins the DN's candidate boxes (as
                               Detectron and torchvision do; TF's Faster R-CNN does not: 0) */
    int props;              /* property heads (issue 10): 1 adds a fully connected head on the DN's
                               output, "dn/props", giving per ROI a Gaussian (mean, log sigma) of
                               the redshift and of log10 N200; 0 (default): no head, training and
                               weights exactly as without the feature */
    float w_z, w_rich;      /* weights of the heads' Gaussian NLL losses in the total (default 1, 1);
                               both 0 train the detector bit-identically to props = 0 */
} dc_frcnn_config;

/* The paper's configuration (docs/facts.md section 1). */
void dc_frcnn_config_paper(dc_frcnn_config *c);

typedef struct dc_frcnn dc_frcnn;

/* Build the model from the FN and DN layer specs; FN takes 3-channel images, DN takes the
 * FN's channels. The FN's output stride must equal the anchor stride (checked at the first
 * step, when the image size is known). */
dc_status dc_frcnn_new(dc_ctx *ctx, const dc_frcnn_config *cfg, const dc_layer_spec *fn, int n_fn,
                       const dc_layer_spec *dn, int n_dn, dc_frcnn **out);
void dc_frcnn_free(dc_frcnn *m);
const dc_frcnn_config *dc_frcnn_get_config(const dc_frcnn *m);
/* Set the optimiser's learning rate (a schedule in the training script). */
void dc_frcnn_set_lr(dc_frcnn *m, float lr);
/* Initialise every parameter from rng (the RPN with a truncated normal of rpn_init_std, FC heads
 * Glorot uniform, the rest as their specs say) and zero the momenta. */
dc_status dc_frcnn_init(dc_frcnn *m, dc_rng *rng);
size_t dc_frcnn_param_numel(const dc_frcnn *m);

typedef struct dc_frcnn_losses {
    float rpn_cls, rpn_box, dn_cls, dn_box; /* unweighted */
    float dn_z, dn_rich;                    /* unweighted property NLLs (0 without heads) */
    float total;                            /* weighted sum (paper eq. 3) */
    float grad_norm;                        /* global norm before clipping */
    int n_proposals, n_rpn_pos, n_dn_pos;   /* proposals made; sampled positives */
    int n_z, n_rich;                        /* sampled positives with a known z / N200 */
} dc_frcnn_losses;

/* One training step on image [1, 3, H, W] (values in [-1, 1]) with ground-truth boxes gt
 * [n_gt * 4] ([ymin, xmin, ymax, xmax] in pixels; n_gt may be 0) and their properties gt_props
 * [n_gt * 2] (redshift, log10 N200; NaN where unknown; NULL: all unknown), used by the property
 * heads only. A sampled positive ROI takes the properties of the ground-truth box it overlaps most
 * (IoU, ties to the first); its property losses are normalised by the number of sampled
 * positives. rng drives the samplers. With update 0 the gradients are left in the parameters'
 * grad tensors and nothing is updated (for gradient checks). */
dc_status dc_frcnn_train_step(dc_frcnn *m, const dc_tensor *image, const float *gt,
                              const float *gt_props, int n_gt, dc_rng *rng, int update,
                              dc_frcnn_losses *losses);
/* The end of a training step: clip the gradients held in the parameters' grad tensors by their
 * global norm (before clipping: *grad_norm) and take the SGD momentum step. For a step whose
 * gradients were gathered from several images or ranks (train_step with update 0, then summed). */
dc_status dc_frcnn_apply_grads(dc_frcnn *m, float *grad_norm);
/* Loss of the current parameters without backward or update (for finite-difference checks): the
 * RPN sampling follows rng (pass a copy of the state the training step had) and the DN batch is
 * the last training step's, since proposals are constants for the gradient. */
dc_status dc_frcnn_loss(dc_frcnn *m, const dc_tensor *image, const float *gt,
                        const float *gt_props, int n_gt, dc_rng *rng, dc_frcnn_losses *losses);
/* Detections of image [1, 3, H, W]: out (capacity cap) receives *n_out, best first. */
dc_status dc_frcnn_detect(dc_frcnn *m, const dc_tensor *image, dc_detection *out, int cap,
                          int *n_out);
/* The same, and with dc_frcnn_has_props the property heads' output at each detection's final box
 * (crop_and_resize and the DN again on those boxes) in props [cap * 4]: redshift mean, its log
 * sigma, log10 N200 mean, its log sigma. props may be NULL; without heads it is left untouched. */
dc_status dc_frcnn_detect_props(dc_frcnn *m, const dc_tensor *image, dc_detection *out,
                                float *props, int cap, int *n_out);
/* 1 when the model has property heads holding initialised or trained values: props is on and
 * the heads were initialised (dc_frcnn_init) or imported. A model only loaded from a weights file
 * without the heads' tensors gives 0, so that its detections report no properties. */
int dc_frcnn_has_props(const dc_frcnn *m);

/* All parameters (in a fixed order) for checks and I/O. */
int dc_frcnn_param_count(const dc_frcnn *m);
dc_param *dc_frcnn_param(dc_frcnn *m, int i);
dc_status dc_frcnn_export(const dc_frcnn *m, dc_weights *w, int with_momentum);
/* Import every tensor; the property heads' tensors are optional: weights from before the heads
 * load into a model with props on, the heads then left as they were (initialised or not). */
dc_status dc_frcnn_import(dc_frcnn *m, const dc_weights *w, const char *label, int with_momentum);

#endif
