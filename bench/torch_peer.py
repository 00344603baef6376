#!/usr/bin/python3
"""PyTorch peer of deepcee's training step and detection (issue 12). Benchmark only: PyTorch is
never a dependency of the build, the tests or scripts/setup.sh.

    apt-get install -y python3-torch python3-torchvision     # Debian 12: torch 1.13, torchvision 0.14
    build/bench_train --net demo --route auto --json demo.json ...   # deepcee's side (bench/peer.sh does both)
    /usr/bin/python3 bench/torch_peer.py --deepcee demo.json --threads 2 [--steps N] [--detect D] [--out F]
    /usr/bin/python3 bench/torch_peer.py --table F1 F2 ...          # the side-by-side table

The network is not written out here: it is built from the layer tables that bench_train --json
copies from lua/nets.lua (`demo` or `paper`: conv, maxpool, avgpool, concat, global_avgpool, fc,
relu; the same inputs, widths, windows, strides) and from the detector configuration deepcee built
(model:config(): anchors, RPN width, crop size, proposal counts, sampler sizes, loss weights, SGD
settings), so the two cannot drift apart. The script fails (exit 3) when its parameter count differs
from deepcee's.

What is the same as deepcee (engine/nn/frcnn.c):
  * every convolution has a bias and no batch norm: deepcee folds the paper's frozen batch norm into
    the convolution bias, so the peer has no BN layers either (torchvision's FrozenBatchNorm2d would
    be an extra per-channel scale and shift per layer); Conv2d_1a_7x7 is a full 7x7 convolution;
  * RPN: 3x3 conv + ReLU, 1x1 objectness with 2 logits per anchor (softmax, as TF; not torchvision's
    1 sigmoid logit), 1x1 box deltas; TF grid anchors; TF box coder (10, 10, 5, 5);
  * RPN targets: IoU 0.7 / 0.3, the best anchor of each box positive, border-crossing anchors
    dropped, 256 sampled with at most half positive; losses normalised by the sampled count;
  * proposals: top pre_nms_top_k by score, decoded, clipped, NMS at proposal_nms_iou, at most
    max_proposals (also in training); constants for the gradient;
  * DN batch: IoU >= 0.5 positive, dn_batch sampled with at most dn_max_pos positive (the ground
    truth joins the candidates when dn_add_gt);
  * crops of the FN map at crop_size x crop_size, 2x2 max-pool, the DN, fully connected class (2)
    and box (4) heads; softmax cross-entropy and smooth L1 (weights w_rpn_cls ... w_dn_box);
  * global-norm clipping at clip_norm, SGD with momentum (torch's form v = m v + g, p -= lr v, the
    same as TF's MomentumOptimizer); detection: the DN on every proposal, class NMS at
    post_nms_iou, at most max_detections.

Approximate (the nearest torch op, the same work, not the same numbers):
  * crop_and_resize (TF: crop_size samples per axis including the box's end points) is
    torchvision.ops.roi_align(output crop_size, sampling_ratio=1, aligned=False) on boxes scaled to
    feature-map coordinates as y * (h - 1) (bin centres instead of end points), as
    bench/torchvision_detect.py does;
  * TF 'SAME' padding: where the total padding of a window is odd (stride-2 layers on even sizes:
    Conv2d_1a_7x7, the stride-2 max-pools) TF pads one more at the bottom/right; the peer uses
    torch's symmetric padding of ceil(total / 2), which gives the same output size and the same
    FLOPs with the window grid shifted by one pixel (the output shapes are checked against TF's
    ceil(n / stride)); --tf-same pads exactly (F.pad, one extra copy) instead;
  * the weights are initialised by torch's generator with the same kinds (He normal, truncated
    normal std rpn_init_std for the RPN, Glorot uniform), not deepcee's values, so the proposal
    and detection counts can differ: both are printed;
  * the samplers draw with torch.randperm, not deepcee's generator (the same counts).

Timing: torch.set_num_threads(--threads), which bench/peer.sh sets to deepcee's thread count (the
OpenCL device's compute units: PoCL runs that many threads, and the engine's host GEMM route gives
OpenBLAS as many); one interop thread. The training step is forward, targets, losses, backward,
clipping and the SGD update on batch 1 at the network's input size (the image and box of
bench_train: the same seeded random image, one box); the first step is not timed. Detection: one
untimed, then --detect timed. Medians. libgomp's wait policy is read from the environment
(OMP_WAIT_POLICY, recorded in --out); bench/peer.sh runs the peer with the default and with PASSIVE,
since on cores shared with other jobs the default's spinning made torch up to 15x slower.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torchvision
    from torchvision.ops import nms, roi_align, box_iou
except ImportError as e:  # bench/peer.sh checks first; this is for a direct call
    sys.exit("torch_peer.py: PyTorch is not installed for %s (%s): "
             "apt-get install -y python3-torch python3-torchvision" % (sys.executable, e))


# ---------------------------------------------------------------- the network from deepcee's tables

def pair(v, default):
    if v is None:
        return (default, default)
    if isinstance(v, list):
        return (int(v[0]), int(v[1]))
    return (int(v), int(v))


def same_pads(n, k, s):
    """TF 'SAME': output ceil(n / s); (before, after) padding."""
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return out, total // 2, total - total // 2


class SpecNet(nn.Module):
    """A network of lua/nets.lua layer tables (engine/lua/l_frcnn.c's fields)."""

    def __init__(self, layers, in_channels, tf_same=False):
        super().__init__()
        self.tf_same = tf_same
        self.layers = []
        self.mods = nn.ModuleDict()
        channels = {}
        prev = "input"
        for i, l in enumerate(layers):
            kind, name = l["kind"], l["name"]
            inp = l.get("input", "input" if i == 0 else prev)
            inputs = inp if isinstance(inp, list) else [inp]
            cin = sum(in_channels if n == "input" else channels[n] for n in inputs)
            kh, kw = pair(l.get("k"), 1)
            sh, sw = pair(l.get("stride"), 1)
            spec = dict(kind=kind, name=name, inputs=inputs, k=(kh, kw), s=(sh, sw),
                        same=l.get("pad", "SAME") == "SAME", relu=bool(l.get("relu", False)),
                        init=l.get("init", "glorot" if kind == "fc" else "he"), std=l.get("std", 0.01))
            key = name.replace("/", "__")
            spec["key"] = key
            if kind == "conv":
                self.mods[key] = nn.Conv2d(cin, l["out"], (kh, kw), (sh, sw), bias=True)
                channels[name] = l["out"]
            elif kind == "fc":
                self.mods[key] = nn.Linear(cin * kh * kw, l["out"], bias=True)
                channels[name] = l["out"]
            elif kind in ("maxpool", "avgpool", "concat", "global_avgpool", "relu"):
                channels[name] = cin
            else:
                raise SystemExit("torch_peer.py: layer %s has kind %r, which the peer does not know" % (name, kind))
            self.layers.append(spec)
            prev = name
        self.out_channels = channels[prev]
        self.checked = False

    def init_weights(self):
        for spec in self.layers:
            m = self.mods[spec["key"]] if spec["key"] in self.mods else None
            if m is None:
                continue
            init_param(m, spec["init"], spec["std"])

    def _window(self, x, spec, op):
        (kh, kw), (sh, sw) = spec["k"], spec["s"]
        H, W = x.shape[2], x.shape[3]
        if not spec["same"]:
            return op(x, (0, 0)), (H - kh) // sh + 1, (W - kw) // sw + 1
        oh, pt, pb = same_pads(H, kh, sh)
        ow, pl, pr = same_pads(W, kw, sw)
        if self.tf_same and (pt != pb or pl != pr):
            if spec["kind"] == "avgpool":
                raise SystemExit("torch_peer.py: --tf-same has no exact average pool for asymmetric padding (%s)" % spec["name"])
            fill = -math.inf if spec["kind"] == "maxpool" else 0.0
            x = F.pad(x, (pl, pr, pt, pb), value=fill)
            return op(x, (0, 0)), oh, ow
        return op(x, (pb, pr)), oh, ow  # symmetric ceil(total / 2): the same output size

    def forward(self, x):
        outs = {}
        y = x
        for spec in self.layers:
            ins = [x if n == "input" else outs[n] for n in spec["inputs"]]
            kind = spec["kind"]
            if kind == "concat":
                y = torch.cat(ins, 1)
            elif kind == "global_avgpool":
                y = ins[0].mean((2, 3), keepdim=True)
            elif kind == "relu":
                y = F.relu(ins[0])
            elif kind == "fc":
                m = self.mods[spec["key"]]
                y = m(ins[0].flatten(1))
                if spec["relu"]:
                    y = F.relu(y, inplace=True)
            else:
                xin = ins[0]
                if kind == "conv":
                    m = self.mods[spec["key"]]
                    op = lambda t, p: F.conv2d(t, m.weight, m.bias, spec["s"], p)
                elif kind == "maxpool":
                    op = lambda t, p: F.max_pool2d(t, spec["k"], spec["s"], p)
                else:
                    op = lambda t, p: F.avg_pool2d(t, spec["k"], spec["s"], p, count_include_pad=False)
                y, oh, ow = self._window(xin, spec, op)
                if not self.checked and (y.shape[2], y.shape[3]) != (oh, ow):
                    raise SystemExit("torch_peer.py: layer %s gives %dx%d, TF 'SAME' gives %dx%d" %
                                     (spec["name"], y.shape[2], y.shape[3], oh, ow))
                if kind == "conv" and spec["relu"]:
                    y = F.relu(y, inplace=True)
            outs[spec["name"]] = y
        self.checked = True
        return y


def init_param(m, kind, std):
    with torch.no_grad():
        if kind == "he":
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        elif kind == "normal":
            nn.init.normal_(m.weight, 0.0, std)
        elif kind == "truncated_normal":
            nn.init.trunc_normal_(m.weight, 0.0, std, -2 * std, 2 * std)
        else:
            nn.init.xavier_uniform_(m.weight)
        nn.init.zeros_(m.bias)


# ---------------------------------------------------------------- boxes ([ymin, xmin, ymax, xmax] pixels)

def encode(boxes, anchors, scale):
    ha, wa = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    ya, xa = anchors[:, 0] + 0.5 * ha, anchors[:, 1] + 0.5 * wa
    h, w = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    y, x = boxes[:, 0] + 0.5 * h, boxes[:, 1] + 0.5 * w
    return torch.stack([(y - ya) / ha * scale[0], (x - xa) / wa * scale[1],
                        torch.log(h / ha) * scale[2], torch.log(w / wa) * scale[3]], 1)


def decode(deltas, anchors, scale):
    ha, wa = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    ya, xa = anchors[:, 0] + 0.5 * ha, anchors[:, 1] + 0.5 * wa
    y = deltas[:, 0] / scale[0] * ha + ya
    x = deltas[:, 1] / scale[1] * wa + xa
    h = torch.exp(deltas[:, 2] / scale[2]) * ha
    w = torch.exp(deltas[:, 3] / scale[3]) * wa
    return torch.stack([y - 0.5 * h, x - 0.5 * w, y + 0.5 * h, x + 0.5 * w], 1)


def clip(b, H, W):
    return torch.stack([b[:, 0].clamp(0, H), b[:, 1].clamp(0, W), b[:, 2].clamp(0, H), b[:, 3].clamp(0, W)], 1)


def xyxy(b):
    return b[:, [1, 0, 3, 2]]


def sample(labels, batch, max_pos):
    """Indices of the sampled rows (labels 1 positive, 0 negative, -1 ignored)."""
    pos = torch.nonzero(labels == 1).flatten()
    neg = torch.nonzero(labels == 0).flatten()
    pos = pos[torch.randperm(pos.numel())[:max_pos]]
    neg = neg[torch.randperm(neg.numel())[:batch - pos.numel()]]
    return pos, neg


class Peer(nn.Module):
    def __init__(self, doc, tf_same=False):
        super().__init__()
        c = self.cfg = doc["config"]
        self.fn = SpecNet(doc["fn"], 3, tf_same)
        C = self.fn.out_channels
        self.A = len(c["anchor_scales"]) * len(c["anchor_ratios"])
        rc = c["rpn_channels"]
        self.rpn = nn.Conv2d(C, rc, 3, padding=1)
        self.rpn_cls = nn.Conv2d(rc, 2 * self.A, 1)
        self.rpn_box = nn.Conv2d(rc, 4 * self.A, 1)
        self.dn = SpecNet(doc["dn"], C, tf_same)
        D = self.dn.out_channels
        self.dn_cls = nn.Linear(D, 2)
        self.dn_box = nn.Linear(D, 4)
        self.scale = (10.0, 10.0, 5.0, 5.0)  # dc_box_coder_paper
        self.anchor_cache = {}

    def init_weights(self):
        self.fn.init_weights()
        self.dn.init_weights()
        for m in (self.rpn, self.rpn_cls, self.rpn_box):
            init_param(m, "truncated_normal", self.cfg["rpn_init_std"])
        for m in (self.dn_cls, self.dn_box):
            init_param(m, "glorot", 0)

    def anchors(self, h, w):
        key = (h, w)
        if key not in self.anchor_cache:
            c = self.cfg
            sizes = []
            for r in c["anchor_ratios"]:  # a = ratio_index * n_scales + scale_index (TF's order)
                for s in c["anchor_scales"]:
                    sizes.append((s / math.sqrt(r) * c["anchor_base"], s * math.sqrt(r) * c["anchor_base"]))
            sz = torch.tensor(sizes)
            ys = torch.arange(h, dtype=torch.float32) * c["anchor_stride"] + c["anchor_offset"]
            xs = torch.arange(w, dtype=torch.float32) * c["anchor_stride"] + c["anchor_offset"]
            yc = ys.view(h, 1, 1).expand(h, w, self.A)
            xc = xs.view(1, w, 1).expand(h, w, self.A)
            hh, ww = sz[:, 0].view(1, 1, -1), sz[:, 1].view(1, 1, -1)
            a = torch.stack([yc - 0.5 * hh, xc - 0.5 * ww, yc + 0.5 * hh, xc + 0.5 * ww], -1)
            self.anchor_cache[key] = a.reshape(-1, 4)
        return self.anchor_cache[key]

    def stage1(self, img):
        feat = self.fn(img)
        r = F.relu(self.rpn(feat), inplace=True)
        cls = self.rpn_cls(r).permute(0, 2, 3, 1).reshape(-1, 2)   # row (y * w + x) * A + a
        box = self.rpn_box(r).permute(0, 2, 3, 1).reshape(-1, 4)
        anchors = self.anchors(feat.shape[2], feat.shape[3])
        H, W = img.shape[2], img.shape[3]
        with torch.no_grad():
            scores = F.softmax(cls.detach(), 1)[:, 1]
            k = min(self.cfg["pre_nms_top_k"], scores.numel())
            top_s, top_i = scores.topk(k)
            props = clip(decode(box.detach()[top_i], anchors[top_i], self.scale), H, W)
            ok = (props[:, 2] > props[:, 0]) & (props[:, 3] > props[:, 1])
            props, top_s = props[ok], top_s[ok]
            keep = nms(xyxy(props), top_s, self.cfg["proposal_nms_iou"])[:self.cfg["max_proposals"]]
            props = props[keep]
        return feat, cls, box, anchors, props

    def stage2(self, feat, boxes, H, W):
        h, w = feat.shape[2], feat.shape[3]
        cs = self.cfg["crop_size"]
        # TF's normalised box, then crop_and_resize's map coordinate y * (h - 1); roi_align wants x1, y1, x2, y2
        sy, sx = (h - 1) / H, (w - 1) / W
        rois = torch.cat([torch.zeros(boxes.shape[0], 1), boxes[:, 1:2] * sx, boxes[:, 0:1] * sy,
                          boxes[:, 3:4] * sx, boxes[:, 2:3] * sy], 1)
        crops = roi_align(feat, rois, (cs, cs), spatial_scale=1.0, sampling_ratio=1, aligned=False)
        pooled = F.max_pool2d(crops, 2, 2)
        d = self.dn(pooled).flatten(1)
        return self.dn_cls(d), self.dn_box(d)

    def train_step(self, img, gt, opt):
        c = self.cfg
        H, W = img.shape[2], img.shape[3]
        feat, cls, box, anchors, props = self.stage1(img)
        with torch.no_grad():
            # RPN targets
            iou = box_iou(anchors, gt)                       # coordinate order does not matter
            inside = (anchors[:, 0] >= 0) & (anchors[:, 1] >= 0) & (anchors[:, 2] <= H) & (anchors[:, 3] <= W)
            best, arg = iou.max(1)
            labels = torch.full((anchors.shape[0],), -1, dtype=torch.long)
            labels[best < c["rpn_neg_iou"]] = 0
            labels[best >= c["rpn_pos_iou"]] = 1
            iv = iou.masked_fill(~inside.view(-1, 1), -1)
            gbest = iv.max(0).values
            force = ((iv == gbest.view(1, -1)) & (gbest.view(1, -1) > 0)).any(1)
            labels[force] = 1
            labels[~inside] = -1
            pos, neg = sample(labels, c["rpn_batch"], c["rpn_max_pos"])
            rpn_norm = float(max(pos.numel() + neg.numel(), 1))
            rows = torch.cat([pos, neg])
            rpn_t = encode(gt[arg[pos]], anchors[pos], self.scale)
            # DN batch
            cand = torch.cat([props, gt]) if c["dn_add_gt"] else props
            diou = box_iou(cand, gt)
            dbest, darg = diou.max(1)
            dlab = (dbest >= c["dn_pos_iou"]).long()
            dpos, dneg = sample(dlab, c["dn_batch"], c["dn_max_pos"])
            drows = torch.cat([dpos, dneg])
            dboxes = cand[drows]
            dlabels = dlab[drows]
            dn_t = encode(gt[darg[dpos]], cand[dpos], self.scale)
            dn_norm = float(max(drows.numel(), 1))
        rpn_cls = F.cross_entropy(cls[rows], labels[rows], reduction="sum") / rpn_norm
        rpn_box = F.smooth_l1_loss(box[pos], rpn_t, reduction="sum", beta=1.0) / rpn_norm
        logits, deltas = self.stage2(feat, dboxes, H, W)
        dn_cls = F.cross_entropy(logits, dlabels, reduction="sum") / dn_norm
        dn_box = F.smooth_l1_loss(deltas[:dpos.numel()], dn_t, reduction="sum", beta=1.0) / dn_norm
        total = (c["w_rpn_cls"] * rpn_cls + c["w_rpn_box"] * rpn_box + c["w_dn_cls"] * dn_cls +
                 c["w_dn_box"] * dn_box)
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(self.parameters(), c["clip_norm"])
        opt.step()
        return float(total), int(props.shape[0])

    @torch.inference_mode()
    def detect(self, img):
        c = self.cfg
        H, W = img.shape[2], img.shape[3]
        feat, _, _, _, props = self.stage1(img)
        if props.shape[0] == 0:
            return 0, 0
        logits, deltas = self.stage2(feat, props, H, W)
        scores = F.softmax(logits, 1)[:, 1]
        boxes = clip(decode(deltas, props, self.scale), H, W)
        ok = scores > 0
        boxes, scores = boxes[ok], scores[ok]
        keep = nms(xyxy(boxes), scores, c["post_nms_iou"])[:c["max_detections"]]
        return int(keep.numel()), int(props.shape[0])


def lcg_image(S):
    """bench_train's image: x = (x * 1103515245 + 12345) % 2^31 from 12345, value x / 2^31."""
    n = 3 * S * S
    v = [0.0] * n
    x = 12345
    for i in range(n):
        x = (x * 1103515245 + 12345) % 2147483648
        v[i] = x / 2147483648
    return torch.tensor(v, dtype=torch.float32).view(1, 3, S, S)


def median(v):
    return statistics.median(v) if v else float("nan")


def run(args):
    with open(args.deepcee) as f:
        doc = json.load(f)
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(1)
    model = Peer(doc, args.tf_same)
    model.init_weights()
    n_torch = sum(p.numel() for p in model.parameters())
    n_dc = int(doc["params"])
    print("network %s (%dx%d): parameters deepcee %d, torch %d" % (doc["net"], doc["image_size"], doc["image_size"], n_dc, n_torch))
    if n_torch != n_dc:
        print("torch_peer.py: FAIL: the parameter counts differ (deepcee %d, torch %d): the peer is not the "
              "same network" % (n_dc, n_torch), file=sys.stderr)
        for name, p in model.named_parameters():
            print("  %-40s %s" % (name, tuple(p.shape)), file=sys.stderr)
        return 3
    S = doc["image_size"]
    img = lcg_image(S)
    gt = torch.tensor([doc["box"]], dtype=torch.float32)
    opt = torch.optim.SGD(model.parameters(), lr=model.cfg["lr"], momentum=model.cfg["momentum"])
    steps = args.steps or doc["steps"]
    ndet = args.detect if args.detect is not None else doc["detections"]
    t_step, losses, props = [], [], []
    model.train()
    for s in range(steps):
        t0 = time.perf_counter()
        loss, n_prop = model.train_step(img, gt, opt)
        dt = time.perf_counter() - t0
        if s > 0:
            t_step.append(dt)
        losses.append(loss)
        props.append(n_prop)
    model.eval()
    t_det = []
    found = 0
    if ndet > 0:
        found, det_props = model.detect(img)  # warm-up, not timed
        for _ in range(ndet):
            t0 = time.perf_counter()
            model.detect(img)
            t_det.append(time.perf_counter() - t0)
    res = dict(net=doc["net"], image_size=S, params=n_torch, threads=torch.get_num_threads(),
               torch=torch.__version__, torchvision=torchvision.__version__, steps=steps, detections=ndet,
               step_s=t_step, detect_s=t_det, step_median_s=median(t_step), detect_median_s=median(t_det),
               losses=losses, proposals=props, detections_found=found, tf_same=args.tf_same,
               deepcee_step_median_s=doc["step_median_s"], deepcee_detect_median_s=doc["detect_median_s"],
               deepcee_proposals=doc.get("proposals"), deepcee_detections_found=doc.get("detections_found"),
               deepcee_json=os.path.abspath(args.deepcee), omp_wait_policy=os.environ.get("OMP_WAIT_POLICY", "default"))
    print("torch %s, %d threads, OMP_WAIT_POLICY %s: %.4f s/step (median of %d after 1 untimed), %.4f s/detection (median of %d after 1 untimed)"
          % (torch.__version__, torch.get_num_threads(), res["omp_wait_policy"], res["step_median_s"], len(t_step), res["detect_median_s"], len(t_det)))
    print("proposals per step: deepcee %s, torch %s; detections found: deepcee %s, torch %d"
          % (doc.get("proposals"), props, doc.get("detections_found"), found))
    print("losses: torch %s" % ", ".join("%.5g" % l for l in losses))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)
    return 0


def table(files):
    """One row per network and phase: the medians over the rounds (each round's value a median of
    its repeats; with more than one round the range of the rounds in brackets), a torch column per
    OpenMP wait policy run, and the ratio of the faster torch column to deepcee."""
    nets, policies = {}, []
    for fn in files:
        with open(fn) as f:
            r = json.load(f)
        pol = r.get("omp_wait_policy", "default")
        if pol not in policies:
            policies.append(pol)
        nets.setdefault((r["net"], r["image_size"]), []).append(r)

    def cell(v):
        if not v:
            return "-"
        s = "%.1f" % (1e3 * median(v))
        return s + (" (%.1f-%.1f)" % (1e3 * min(v), 1e3 * max(v)) if len(v) > 1 else "")

    policies.sort(key=lambda p: (p != "default", p))  # libgomp's default first
    cols = " | ".join("torch ms (OMP_WAIT_POLICY %s)" % p for p in policies)
    print("| network | phase | deepcee ms | %s | ratio torch/deepcee (>1: deepcee faster) |" % cols)
    print("|---|---|---:|" + "---:|" * len(policies) + "---:|")
    rounds = 0
    for (net, S), rs in nets.items():
        for phase, kd, kt in (("training step", "deepcee_step_median_s", "step_median_s"),
                              ("detection", "deepcee_detect_median_s", "detect_median_s")):
            seen, a = set(), []
            for r in rs:  # deepcee's run of each round once, whatever the torch runs beside it
                key = r.get("deepcee_json", id(r))
                if key not in seen:
                    seen.add(key)
                    a.append(r[kd])
            rounds = max(rounds, len(a))
            per = [[r[kt] for r in rs if r.get("omp_wait_policy", "default") == p] for p in policies]
            best = min(median(v) for v in per if v)
            ratio = best / median(a) if median(a) > 0 else float("nan")
            print("| %s %dx%d | %s | %s | %s | %.2f |" % (net, S, S, phase, cell(a),
                                                       " | ".join(cell(v) for v in per), ratio))
    print("(%d round%s; each value the median of its run's repeats, warm-up excluded; the ratio takes "
          "the faster torch column)" % (rounds, "" if rounds == 1 else "s"))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--deepcee", help="bench_train --json output (the network, its config and deepcee's times)")
    ap.add_argument("--threads", type=int, help="torch intra-op threads (deepcee's thread count)")
    ap.add_argument("--steps", type=int, help="training steps, the first not timed (default: deepcee's)")
    ap.add_argument("--detect", type=int, help="timed detections after one untimed (default: deepcee's)")
    ap.add_argument("--out", help="write the results as JSON")
    ap.add_argument("--tf-same", action="store_true", help="exact TF 'SAME' padding (F.pad where asymmetric)")
    ap.add_argument("--table", nargs="+", metavar="RESULT", help="print the table of --out files")
    args = ap.parse_args()
    if args.table:
        return table(args.table)
    if not args.deepcee or not args.threads:
        ap.error("--deepcee FILE and --threads N are needed (or --table FILES)")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
