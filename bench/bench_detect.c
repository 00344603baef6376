/* Detector ops at the paper's sizes: device NMS of 6,000 proposals (IoU 0.7, keep 300) and
 * crop_and_resize of a [1, 576, 63, 63] feature map at 300 boxes to 14x14, forward and backward.
 * Prints the median of --reps runs in ms (the device finishes inside each timed interval).
 * --dump FILE writes the exact inputs (float32) and deepcee's full NMS result (every kept index,
 * no cap) for bench/torchvision_detect.py, which times the same operations in torchvision on the
 * same data and checks its NMS against deepcee's: the ratio is taken from the two printouts
 * (bench/README.md). --check N fails (exit 1) unless deepcee keeps N boxes without the cap. */
#define _POSIX_C_SOURCE 200809L
#include "bench_util.h"

#include "detect/detect.h"

enum { N_BOXES = 6000, KEEP = 300, C = 576, H = 63, W = 63, CROPS = 300, CROP = 14 };

int main(int argc, char **argv)
{
    int reps = 10;
    const char *dump = NULL;
    int check = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dump") && i + 1 < argc) dump = argv[++i];
        else if (!strcmp(argv[i], "--check") && i + 1 < argc) check = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_detect [--reps N] [--dump FILE] [--check N_KEPT]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > 1000) reps = 10;
    dc_rng rng;
    dc_rng_seed(&rng, 2019);
    /* proposals: boxes of 16-300 px in a 1000x1000 image, random scores */
    float *boxes = malloc(N_BOXES * 4 * sizeof *boxes), *scores = malloc(N_BOXES * sizeof *scores);
    for (int i = 0; i < N_BOXES; i++) {
        float h = 16 + 284 * (float)dc_rng_uniform(&rng), w = 16 + 284 * (float)dc_rng_uniform(&rng);
        float y = (1000 - h) * (float)dc_rng_uniform(&rng), x = (1000 - w) * (float)dc_rng_uniform(&rng);
        boxes[4 * i + 0] = y;
        boxes[4 * i + 1] = x;
        boxes[4 * i + 2] = y + h;
        boxes[4 * i + 3] = x + w;
        scores[i] = (float)dc_rng_uniform(&rng);
    }
    float *feat = malloc((size_t)C * H * W * sizeof *feat), *crops = malloc(CROPS * 4 * sizeof *crops);
    for (size_t i = 0; i < (size_t)C * H * W; i++) feat[i] = (float)dc_rng_normal(&rng);
    for (int i = 0; i < CROPS; i++) { /* normalised [y1, x1, y2, x2] inside the map */
        float h = 0.05f + 0.3f * (float)dc_rng_uniform(&rng), w = 0.05f + 0.3f * (float)dc_rng_uniform(&rng);
        float y = (1 - h) * (float)dc_rng_uniform(&rng), x = (1 - w) * (float)dc_rng_uniform(&rng);
        crops[4 * i + 0] = y;
        crops[4 * i + 1] = x;
        crops[4 * i + 2] = y + h;
        crops[4 * i + 3] = x + w;
    }
    dc_ctx *ctx;
    if (dc_ctx_new(&ctx, NULL) != DC_STATUS_OK) return bench_fail("bench_detect", "device");
    dc_tensor *tb, *ts, *tf, *tc, *out, *gfeat;
    if (dc_tensor_new(ctx, 2, (int[]){N_BOXES, 4}, &tb) || dc_tensor_new(ctx, 1, (int[]){N_BOXES}, &ts) ||
        dc_tensor_new(ctx, 4, (int[]){1, C, H, W}, &tf) || dc_tensor_new(ctx, 2, (int[]){CROPS, 4}, &tc) ||
        dc_tensor_new(ctx, 4, (int[]){CROPS, C, CROP, CROP}, &out) ||
        dc_tensor_new(ctx, 4, (int[]){1, C, H, W}, &gfeat))
        return bench_fail("bench_detect", "tensors");
    if (dc_tensor_upload(tb, boxes, N_BOXES * 4) || dc_tensor_upload(ts, scores, N_BOXES) ||
        dc_tensor_upload(tf, feat, (size_t)C * H * W) || dc_tensor_upload(tc, crops, CROPS * 4))
        return bench_fail("bench_detect", "upload");
    int keep[KEEP], n_keep = 0;
    double *t = malloc((size_t)(reps + 1) * sizeof *t), ms[3];
    for (int op = 0; op < 3; op++) {
        for (int r = 0; r <= reps; r++) { /* run 0 is the warm-up (kernel builds) */
            double t0 = bench_now();
            dc_status st = op == 0 ? dc_nms_run(ctx, tb, ts, N_BOXES, 0.7f, KEEP, keep, &n_keep)
                         : op == 1 ? dc_crop_resize_forward(ctx, tf, tc, NULL, 0.0f, out)
                                   : dc_crop_resize_backward(ctx, out, tc, NULL, gfeat);
            if (st != DC_STATUS_OK || dc_ctx_finish(ctx) != DC_STATUS_OK) return bench_fail("bench_detect", "run");
            if (r > 0) t[r - 1] = 1e3 * (bench_now() - t0);
        }
        ms[op] = bench_median(t, reps);
    }
    /* untimed: the whole NMS result without the cap, so the count and every index can be compared
     * with torchvision's (the first 300 alone would agree in count whatever happened) */
    static int all[N_BOXES];
    int n_all = 0;
    if (dc_nms_run(ctx, tb, ts, N_BOXES, 0.7f, N_BOXES, all, &n_all) != DC_STATUS_OK) return bench_fail("bench_detect", "nms");
    if (dump) {
        FILE *f = fopen(dump, "wb");
        if (!f) {
            perror(dump);
            return 1;
        }
        int head[7] = {N_BOXES, KEEP, C, H, W, CROPS, CROP};
        fwrite(head, sizeof head, 1, f);
        fwrite(boxes, sizeof *boxes, N_BOXES * 4, f);
        fwrite(scores, sizeof *scores, N_BOXES, f);
        fwrite(feat, sizeof *feat, (size_t)C * H * W, f);
        fwrite(crops, sizeof *crops, CROPS * 4, f);
        fwrite(&n_all, sizeof n_all, 1, f);
        fwrite(all, sizeof *all, (size_t)n_all, f);
        if (fclose(f)) {
            perror(dump);
            return 1;
        }
    }
    const dc_device_info *d = dc_ctx_info(ctx);
    printf("deepcee on %s (%s), median of %d runs\n", d->name, d->platform, reps);
    printf("nms 6000 boxes, IoU 0.7, keep 300:        %8.2f ms  (kept %d)\n", ms[0], n_keep);
    printf("crop_and_resize fwd 300 x 576ch -> 14x14: %8.2f ms\n", ms[1]);
    printf("crop_and_resize bwd (same):               %8.2f ms\n", ms[2]);
    printf("nms without the cap keeps %d of %d\n", n_all, N_BOXES);
    int bad = check >= 0 && check != n_all;
    if (bad) fprintf(stderr, "bench_detect: --check: deepcee kept %d boxes, expected %d\n", n_all, check);
    dc_tensor_free(tb);
    dc_tensor_free(ts);
    dc_tensor_free(tf);
    dc_tensor_free(tc);
    dc_tensor_free(out);
    dc_tensor_free(gfeat);
    dc_ctx_free(ctx);
    free(boxes);
    free(scores);
    free(feat);
    free(crops);
    free(t);
    return bad;
}
