-- Training loop, checkpoints and evaluation on a tiny synthetic dataset (bright blobs on noise,
-- not a sky simulation): the loop runs, writes losses.csv in Table A1 form, checkpoints, resumes
-- bit-identically (same parameters as an uninterrupted run), refuses a changed configuration, and
-- the evaluation produces the paper's table rows with consistent counts.
local dc = require("deepcee")
local util = require("deepcee_util")
local manifest = require("manifest")
local train = require("train")
local evaluate = require("evaluate")
local nets = require("nets")

local h = dofile(assert(os.getenv("DEEPCEE_SOURCE_DIR"), "DEEPCEE_SOURCE_DIR is not set (ctest sets it)")
  .. "/tests/lua/helpers.lua")
local expect_error = h.expect_error

-- the optimiser's defaults come from the detector's settings in C: the paper's (docs/facts.md
-- section 1), exactly, and every key of deepcee.frcnn_defaults() is one deepcee.frcnn takes
assert(train.defaults.lr == 0.0002 and train.defaults.momentum == 0.9 and train.defaults.clip_norm == 10,
  "train defaults: the paper's optimiser settings")
do
  local fd = dc.frcnn_defaults()
  assert(fd.lr == train.defaults.lr and fd.momentum == train.defaults.momentum and fd.clip_norm == train.defaults.clip_norm)
  assert(fd.rpn_pos_iou == 0.7 and fd.rpn_neg_iou == 0.3 and fd.dn_pos_iou == 0.5 and fd.rpn_batch == 256
    and fd.dn_batch == 64 and fd.anchor_base == 256 and #fd.anchor_scales == 4 and fd.anchor_scales[1] == 0.25,
    "frcnn defaults: the paper's settings")
  h.register_tiny_net()
  local t = nets.configs.tiny.model()
  for k, v in pairs(t) do fd[k] = v end
  local m <close> = dc.frcnn(fd)
  assert(m:param_count() > 0)
end
-- the FP cross-match takes the C defaults' keys only
expect_error(function() evaluate.crossmatch({}, {}, {radius = 1}) end, "evaluate.crossmatch: unknown key 'radius'",
  "radius_arcmin")

local dir = os.tmpname()
os.remove(dir)
util.mkdir(dir .. "/data")

-- eight 64x64 images, one blob each, 6 train + 2 test
math.randomseed(5)
local rows = {}
for k = 1, 8 do
  local S = 64
  local rgb <close> = dc.rgb(S, S)
  local cx, cy = math.random(20, 44), math.random(20, 44)
  for y = 0, S - 1 do
    for x = 0, S - 1 do
      local d2 = (x - cx) ^ 2 + (y - cy) ^ 2
      local v = math.floor(math.min(255, 40 + 200 * math.exp(-d2 / 40) + math.random(0, 30)))
      rgb:set(x, y, v, v, math.floor(v * 0.8))
    end
  end
  local file = string.format("img%02d.png", k)
  rgb:write_png(dir .. "/data/" .. file)
  rows[k] = {file = file, split = k <= 6 and "train" or "test", id = "C" .. k, ra = 150, dec = 2,
    z = 0.15, richness = 30 + k, n200 = 20 + k, bcg_rmag = 16 + 0.1 * k, ymin = cy - 12, xmin = cx - 12,
    ymax = cy + 12, xmax = cx + 12, cx = cx, cy = cy, img_ra = 150, img_dec = 2, scale = 0.396 * 8,
    offset_x = 0, offset_y = 0, simulated = 0}
end
-- two background tiles (noise only, no box), one per split: trained with no ground truth, and
-- every detection on the test one is a false positive
local nan = 0 / 0
for k = 9, 10 do
  local S = 64
  local rgb <close> = dc.rgb(S, S)
  for y = 0, S - 1 do
    for x = 0, S - 1 do
      local v = 40 + math.random(0, 30)
      rgb:set(x, y, v, v, math.floor(v * 0.8))
    end
  end
  local file = string.format("bg%02d.png", k)
  rgb:write_png(dir .. "/data/" .. file)
  rows[k] = {file = file, split = k == 9 and "train" or "test", id = "background-" .. k, ra = 150, dec = 2,
    z = nan, richness = nan, n200 = nan, bcg_rmag = nan, ymin = nan, xmin = nan, ymax = nan, xmax = nan,
    cx = nan, cy = nan, img_ra = 150, img_dec = 2, scale = 0.396 * 8, offset_x = 0, offset_y = 0, simulated = 0,
    kind = "background"}
end
manifest.write(dir .. "/data", rows)
-- the stretch the photometric augmentation inverts (lua/dataset.lua writes this file)
util.write_file(dir .. "/data/dataset.lua", "return {cutout_px = 256, image_px = 64, lo_g = 0, lo_r = 0, lo_i = 0, " ..
  "hi_g = 1, hi_r = 1, hi_i = 1}\n")
local back = manifest.read(dir .. "/data")
assert(#back == 10 and back[3].cx == rows[3].cx and back[8].split == "test" and back[3].kind == "target"
  and back[10].kind == "background" and back[10].xmin ~= back[10].xmin, "manifest round trip")

-- a tiny network (tests/lua/helpers.lua)
h.register_tiny_net()

local base = {network = "tiny", dataset = dir .. "/data", steps = 6, lr = 0.01, seed = 3,
              checkpoint_every = 3, quiet = true}
local function with(t) return h.with(base, t) end

local a = train.run(with({out = dir .. "/a"}))
assert(a.steps == 6, "steps run")
local csv = io.open(dir .. "/a/losses.csv"):read("a")
assert(csv:find("^step,total,rpn_cls,rpn_box,dn_cls,dn_box"), "losses.csv header")
local _, lines = csv:gsub("\n", "")
assert(lines == 7, "losses.csv has " .. lines .. " lines")
assert(util.exists(dir .. "/a/weights.dcw") and util.exists(dir .. "/a/checkpoint.dcw"), "weights written")

-- the same run in two parts: stop after 3 steps, resume to 6
train.run(with({out = dir .. "/b", steps = 3}))
local b = train.run(with({out = dir .. "/b", steps = 6}))
assert(b.steps == 6)
assert(a.model:checksum() == b.model:checksum(), "resumed run differs from the uninterrupted one")
local csv_b = io.open(dir .. "/b/losses.csv"):read("a")
assert(csv_b == csv, "resumed losses.csv differs")

-- lr_decay_at = 0.5: steps 4-6 update with lr x lr_decay. The loss of a step is computed before its
-- update, so losses.csv equals the constant-rate run's up to step 4 and differs from step 5 on.
train.run(with({out = dir .. "/d", lr_decay_at = 0.5, lr_decay = 0.1}))
local function lines_of(text)
  local t = {}
  for line in text:gmatch("[^\n]+") do t[#t + 1] = line end
  return t
end
local la, ld = lines_of(csv), lines_of(io.open(dir .. "/d/losses.csv"):read("a"))
for i = 1, 5 do assert(la[i] == ld[i], "lr decay changed line " .. i .. " of losses.csv") end
for i = 6, 7 do assert(la[i] ~= ld[i], "lr decay did not change step " .. (i - 1)) end
expect_error(function() train.run(with({out = dir .. "/e", lr_decay_at = 1.5})) end, "lr_decay_at=1.5 is out of range")

-- a changed configuration is refused, an unknown key is an error
expect_error(function() train.run(with({out = dir .. "/b", steps = 8, lr = 0.02})) end, "another configuration")
expect_error(function() train.run(with({out = dir .. "/c", stpes = 2})) end, "unknown key 'stpes'")
expect_error(function() train.run(with({out = dir .. "/c", dataset = dir .. "/nothing"})) end, "manifest")

-- weights load into a fresh model and give the same detections
local m2 = nets.build("tiny")
local meta = m2:load(dir .. "/a/weights.dcw")
assert(meta.step == "6" and meta.network == "tiny", "weights metadata")
-- the detector's settings as built are saved with the weights, as data: the tiny network's own, the
-- paper's for the rest, and the positive caps derived from the batches (1/2 RPN, 1/4 DN)
local det = util.parse_data(meta.detector, "detector")
assert(det.anchor_base == 24 and #det.anchor_scales == 1 and det.anchor_scales[1] == 1 and det.rpn_batch == 32
  and det.rpn_max_pos == 16 and det.dn_batch == 16 and det.dn_max_pos == 4 and det.crop_size == 4, "detector: tiny's")
assert(det.rpn_pos_iou == 0.7 and det.rpn_neg_iou == 0.3 and det.dn_pos_iou == 0.5 and det.post_nms_iou == 0.6
  and det.proposal_nms_iou == 0.7 and det.momentum == 0.9 and det.lr == 0.01, "detector: the paper's and the run's")
do -- and rebuild the same model
  local t = nets.configs.tiny.model()
  det.fn, det.dn = t.fn, t.dn
  local m3 <close> = dc.frcnn(det)
  m3:load(dir .. "/a/weights.dcw")
  assert(m3:checksum() == a.model:checksum(), "the saved detector settings rebuild the model")
end
assert(m2:checksum() == a.model:checksum(), "weights file round trip")
expect_error(function() nets.build("demo"):load(dir .. "/a/weights.dcw") end, "another network configuration")

-- evaluation: counts are consistent at every threshold; the background tile adds images and false
-- positives, never truths
local r = evaluate.run(a.model, dir .. "/data", {quiet = true})
assert(r.n_images == 3 and #r.rows == 11, "evaluation rows")
local bg_scores = {}
for _, d in ipairs(r.detected) do
  if d.row.kind == "background" then for _, p in ipairs(d.dets) do bg_scores[#bg_scores + 1] = p.score end end
end
for _, row in ipairs(r.rows) do
  assert(row.tp + row.fn == 2, "tp + fn must be the number of target test images")
  assert(row.tp + row.fp == row.n_above, "tp + fp must be the detections above the threshold")
  local on_bg = 0
  for _, sc in ipairs(bg_scores) do if sc > row.threshold then on_bg = on_bg + 1 end end
  assert(row.fp >= on_bg, string.format("threshold %g: %d detections on the empty tile but %d false positives",
    row.threshold, on_bg, row.fp))
end
assert(#bg_scores > 0, "the untrained-for empty tile should draw some detections at threshold 0")
-- a legacy run (no dihedral, no photometric) still trains and resumes; photometric needs dataset.lua
local l1 = train.run(with({out = dir .. "/legacy", dihedral = false, photometric = false}))
train.run(with({out = dir .. "/legacy2", dihedral = false, photometric = false, steps = 3}))
local l2 = train.run(with({out = dir .. "/legacy2", dihedral = false, photometric = false}))
assert(l1.model:checksum() == l2.model:checksum() and l1.model:checksum() ~= a.model:checksum(),
  "legacy resume, and augmentation changes training")
os.remove(dir .. "/data/dataset.lua")
expect_error(function() train.run(with({out = dir .. "/f"})) end, "dataset.lua", "photometric=false")
assert(r.rows[1].threshold == 0 and r.rows[11].threshold == 1)
print("test_train: 1 passed, 0 failed")
os.execute("rm -rf '" .. dir .. "'")
