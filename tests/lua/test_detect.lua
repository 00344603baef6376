-- The detector kernels from Lua (engine/lua/l_detect.c): known values, a full small
-- anchors -> proposals -> targets -> crop -> post-processing pass, and the binding's errors.
local dc = require("deepcee")

local helpers = dofile(assert(os.getenv("DEEPCEE_SOURCE_DIR"), "DEEPCEE_SOURCE_DIR is not set (ctest sets it)")
  .. "/tests/lua/helpers.lua")
local expect_error, close = helpers.expect_error, helpers.close

-- anchors: paper grid, anchor 1 is ratio 0.5 x scale 0.25 around (0, 0)
local anchors <close> = dc.anchors(4, 5)
assert(anchors:shape()[1] == 4 * 5 * 12 and anchors:shape()[2] == 4)
local a = anchors:to_table()
close(a[3] - a[1], 64 / math.sqrt(0.5), 1e-3, "anchor height")
close(a[4] - a[2], 64 * math.sqrt(0.5), 1e-3, "anchor width")
local small <close> = dc.anchors(2, 3, {scales = {1}, ratios = {1}, base_size = 32, stride = 8, offset = 4})
local s = small:to_table()
assert(#s == 2 * 3 * 4)
close(s[1], 4 - 16, 1e-5, "offset anchor ymin")
close(s[4 * 5 + 2], 4 + 8 * 2 - 16, 1e-5, "anchor (1, 2) xmin")

-- IoU, coding round trip, clip, scale
local b1 <close> = dc.tensor({2, 4}, {0, 0, 10, 10, 5, 5, 15, 15})
local b2 <close> = dc.tensor({1, 4}, {0, 0, 10, 20})
local iou = dc.box_iou(b1, b2):to_table()
close(iou[1], 0.5, 1e-6, "iou 1")
close(iou[2], 50 / 250, 1e-6, "iou 2")
local anc <close> = dc.tensor({2, 4}, {1, 2, 12, 9, 3, 3, 20, 30})
local d <close> = dc.box_encode(b1, anc)
local back = dc.box_decode(d, anc):to_table()
for i, v in ipairs(b1:to_table()) do close(back[i], v, 1e-3, "round trip " .. i) end
local d1 = dc.box_encode(b1, anc, {1, 1, 1, 1}):to_table()
close(d1[1] * 10, d:to_table()[1], 1e-4, "custom coder")
local clipped = dc.box_clip(dc.tensor({1, 4}, {-5, 3, 50, 8}), 40, 6):to_table()
assert(clipped[1] == 0 and clipped[2] == 3 and clipped[3] == 40 and clipped[4] == 6, "clip")
local scaled = dc.box_scale(b1, 0.5, 0.1):to_table()
close(scaled[3], 5, 1e-6, "scale y")
close(scaled[4], 1, 1e-6, "scale x")

-- NMS: boxes 1 and 2 overlap by IoU 90/110 = 0.82, box 3 apart; 1-based indices in score order
local nb <close> = dc.tensor({3, 4}, {0, 0, 10, 10, 0, 1, 10, 11, 50, 50, 60, 60})
local ns <close> = dc.tensor({3}, {0.5, 0.9, 0.7})
local keep = dc.nms(nb, ns, {iou = 0.5})
assert(#keep == 2 and keep[1] == 2 and keep[2] == 3, "nms keep " .. table.concat(keep, ","))
assert(#dc.nms(nb, ns, {iou = 0.9}) == 3)
assert(#dc.nms(nb, ns, {n = 0}) == 0)

-- a small pass: proposals on a 64 x 80 image with an 4 x 5 grid
local n = 4 * 5 * 12
local vals = {}
for i = 1, 4 * n do vals[i] = ((i * 37) % 17 - 8) / 40 end
local deltas <close> = dc.tensor({n, 4}, vals)
local lg = {}
for i = 1, 2 * n do lg[i] = ((i * 13) % 11 - 5) / 3 end
local logits <close> = dc.tensor({n, 2}, lg)
local pb, ps, np = dc.proposals(anchors, logits, deltas, {height = 64, width = 80, max_proposals = 20})
assert(np >= 1 and np <= 20, "proposals kept " .. np)
local pst = ps:to_table()
for i = 2, np do assert(pst[i] <= pst[i - 1], "proposal scores not sorted") end

-- targets: RPN with the paper settings, then DN on the proposals
local gt = {{10, 12, 40, 50}}
local t = dc.targets(anchors, gt, {height = 64, width = 80, seed = 3})
assert(t.n_pos >= 1, "the forced best anchor is positive")
assert(t.n_pos_sampled == t.n_pos and t.n_neg_sampled == math.min(t.n_neg, 256 - t.n_pos))
local labels = t.labels:to_table()
local npos, nneg = 0, 0
for _, v in ipairs(labels) do
  if v == 1 then npos = npos + 1 elseif v == 0 then nneg = nneg + 1 else assert(v == -1) end
end
assert(npos == t.n_pos_sampled and nneg == t.n_neg_sampled)
local t2 = dc.targets(anchors, gt, {height = 64, width = 80, seed = 3})
local l2 = t2.labels:to_table()
for i = 1, #labels do assert(labels[i] == l2[i], "same seed, different labels") end
local dn = dc.targets(pb, {{10, 12, 40, 50}}, {kind = "dn", n = np, height = 64, width = 80, seed = 1,
                                              classes = {1}})
assert(dn.n_pos_sampled <= 16 and dn.n_pos_sampled + dn.n_neg_sampled <= 64)

-- crop_and_resize of a linear ramp is exact: value = 10 y + x at the sample point
local ramp = {}
for y = 0, 4 do for x = 0, 4 do ramp[#ramp + 1] = 10 * y + x end end
local feat <close> = dc.tensor({1, 1, 5, 5}, ramp)
local cb <close> = dc.tensor({1, 4}, {0, 0, 1, 0.5})
local crop <close> = dc.crop_resize(feat, cb, {crop = {3, 2}})
local c = crop:to_table()
local want = {0, 2, 20, 22, 40, 42}
for i = 1, 6 do close(c[i], want[i], 1e-5, "crop " .. i) end
local outside = dc.crop_resize(feat, dc.tensor({1, 4}, {2, 2, 3, 3}), {crop = 1, extrapolation = -1})
assert(outside:to_table()[1] == -1, "extrapolation value")
local g = dc.crop_resize_backward(feat, cb, dc.tensor({1, 1, 3, 2}, 1)):to_table()
local total = 0
for _, v in ipairs(g) do total = total + v end
close(total, 6, 1e-5, "backward passes each unit gradient through weights summing to 1")

-- post-processing of the proposals with 2 classes
local pl <close> = dc.tensor({20, 2}, 0.5)
local pd <close> = dc.tensor({20, 4}, 0)
local dets = dc.postprocess(pb, pl, pd, {n = np, height = 64, width = 80})
assert(#dets >= 1 and dets[1].label == 1)
close(dets[1].score, 1 / (1 + math.exp(0)), 1e-6, "softmax score")

-- errors
expect_error(function() dc.anchors(0, 3) end, "feature grid is 0 x 3")
expect_error(function() dc.anchors(2, 2, {scale = {1}}) end, "unknown key 'scale'")
expect_error(function() dc.nms(nb, ns, {iou = 2}) end, "IoU threshold 2")
expect_error(function() dc.proposals(anchors, logits, deltas, {height = 64}) end, "key 'width'")
expect_error(function() dc.targets(anchors, {{40, 12, 10, 50}}, {height = 64, width = 80, seed = 1}) end,
             "ground-truth box 0 is [ymin 40")
expect_error(function() dc.targets(anchors, gt, {height = 64, width = 80}) end, "key 'seed' is required")
expect_error(function() dc.targets(anchors, gt, {kind = "fast", height = 64, width = 80, seed = 1}) end,
             "kind 'fast'")
expect_error(function() dc.crop_resize(feat, cb, {box_index = {3}}) end, "box_index[0] is 3")
expect_error(function() dc.box_encode(b1, b2) end, "box_encode: argument anchors")
