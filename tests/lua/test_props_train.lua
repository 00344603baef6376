-- The property heads from Lua (issue 10) on the tiny network and a blob dataset (not a sky
-- simulation): lua/train.lua with props=true passes each row's z and log10 n200 (NaN when unknown),
-- logs the two NLLs in losses.csv and marks the weights; props=true with both weights 0 trains the
-- detector bit-identically to props=false (the same losses.csv columns); detections of a model
-- with heads carry z, z_err, richness, richness_err; `deepcee detect` (lua/detect.lua) writes them
-- as catalogue columns (FITS with units, CSV, DS9 text) only for weights with heads; bad keys.
local dc = require("deepcee")
local util = require("deepcee_util")
local manifest = require("manifest")
local train = require("train")
local detect = require("detect")
local nets = require("nets")

local h = dofile(assert(os.getenv("DEEPCEE_SOURCE_DIR"), "DEEPCEE_SOURCE_DIR is not set (ctest sets it)")
  .. "/tests/lua/helpers.lua")
local expect_error = h.expect_error

local function isnan(v) return v ~= v end

-- the defaults come from C, written once: heads off
local fd = dc.frcnn_defaults()
assert(fd.props == false and fd.w_z == 1 and fd.w_rich == 1, "frcnn defaults: heads off, weights 1")
assert(train.defaults.props == fd.props and train.defaults.w_z == fd.w_z and train.defaults.w_rich == fd.w_rich)

-- row_box: the box, then z and log10 n200 with props; NaN where unknown
local row = {kind = "target", xmin = 10, ymin = 20, xmax = 30, ymax = 44, z = 0.2, n200 = 100}
local b = train.row_box(row, 64, 64, 0, true)
assert(#b == 6 and b[1] == 20 and b[2] == 10 and b[3] == 44 and b[4] == 30 and b[5] == 0.2, "row_box with props")
h.close(b[6], 2, 1e-12, "log10 n200")
assert(#train.row_box(row, 64, 64, 0) == 4, "row_box without props: the box only")
row.z_true = 0.21 -- the simulator's truth wins over the catalogue's z
assert(train.row_box(row, 64, 64, 0, true)[5] == 0.21, "row_box takes z_true")
local unknown = train.row_box({kind = "target", xmin = 1, ymin = 1, xmax = 9, ymax = 9, z = 0 / 0, n200 = 0}, 64, 64,
  3, true)
assert(isnan(unknown[5]) and isnan(unknown[6]), "unknown z and n200 are NaN")

local dir = os.tmpname()
os.remove(dir)
h.blob_dataset(dir .. "/data", 8, 5)
-- properties per row: z and n200 vary, one row without n200 (NaN: no richness loss for it)
local rows = manifest.read(dir .. "/data")
for k, r in ipairs(rows) do
  r.z, r.n200 = 0.05 + 0.05 * k, k == 3 and 0 / 0 or 10 + 5 * k
  r.path = nil
end
manifest.write(dir .. "/data", rows)
util.write_file(dir .. "/data/dataset.lua", "return {cutout_px = 256, image_px = 64, lo_g = 0, lo_r = 0, lo_i = 0, "
  .. "hi_g = 1, hi_r = 1, hi_i = 1}\n")
h.register_tiny_net()

local base = {network = "tiny", dataset = dir .. "/data", steps = 12, lr = 0.01, seed = 3, checkpoint_every = 6,
              quiet = true, photometric = false}
local function with(t) return h.with(base, t) end

local function losses(path)
  local lines = {}
  for l in h.read(path):gmatch("[^\n]+") do lines[#lines + 1] = l end
  return lines
end

-- heads off (the default) and heads on with both weights 0: the detector's losses are the same text
train.run(with({out = dir .. "/off"}))
train.run(with({out = dir .. "/zero", props = true, w_z = 0, w_rich = 0}))
local off, zero = losses(dir .. "/off/losses.csv"), losses(dir .. "/zero/losses.csv")
assert(off[1] == "step,total,rpn_cls,rpn_box,dn_cls,dn_box,grad_norm,proposals", "header without heads: " .. off[1])
assert(zero[1] == off[1] .. ",dn_z,dn_rich", "header with heads: " .. zero[1])
assert(#off == 13 and #zero == 13, "12 steps each")
for k = 2, #off do
  assert(zero[k]:sub(1, #off[k]) == off[k] and zero[k]:sub(#off[k] + 1, #off[k] + 1) == ",",
    string.format("step %d: heads with weights 0 changed the detector's losses:\n%s\n%s", k - 1, off[k], zero[k]))
end
assert(dc.weights_meta(dir .. "/off/weights.dcw").props == nil, "weights without heads are not marked")

-- heads on: the NLLs are logged, finite and non-zero on some step; the weights say props = 1
local run = train.run(with({out = dir .. "/on", props = true}))
local on = losses(dir .. "/on/losses.csv")
local nonzero = 0
for k = 2, #on do
  local f = {}
  for v in (on[k] .. ","):gmatch("([^,]*),") do f[#f + 1] = tonumber(v) end
  assert(#f == 10 and f[9] == f[9] and f[10] == f[10], "step line with two finite NLLs: " .. on[k])
  if f[9] ~= 0 and f[10] ~= 0 then nonzero = nonzero + 1 end
end
assert(nonzero > 0, "the property losses were never measured")
assert(dc.weights_meta(dir .. "/on/weights.dcw").props == "1", "weights with heads are marked props = 1")
-- batch > 1 (gradients gathered per image) logs the batch's mean NLLs
train.run(with({out = dir .. "/batch", props = true, batch = 2, steps = 4}))
local bl = losses(dir .. "/batch/losses.csv")
assert(bl[1] == zero[1] and #bl == 5, "batch run: header and 4 steps")
for k = 2, #bl do
  local z, r = bl[k]:match(",([^,]*),([^,]*)$")
  assert(tonumber(z) and tonumber(z) == tonumber(z) and tonumber(r) == tonumber(r), "batch NLLs: " .. bl[k])
end
-- a changed property weight is another configuration (no silent resume)
expect_error(function() train.run(with({out = dir .. "/on", props = true, w_z = 2, steps = 14})) end,
  "another configuration")

-- detections of the trained model carry the properties; a model without heads carries none
assert(run.model:has_props(), "trained model with heads")
local img <close> = util.load_image(dir .. "/data/" .. rows[1].file)
local dets = run.model:detect(img, 5)
assert(#dets > 0, "no detections")
for _, d in ipairs(dets) do
  assert(d.z == d.z and d.z_err > 0 and d.richness > 0 and d.richness_err > 0, "detection properties")
end
local plain = nets.build("tiny")
plain:load(dir .. "/off/weights.dcw")
assert(not plain:has_props() and plain:detect(img, 5)[1].z == nil, "no properties without heads")
-- old weights (no heads) into a model with heads: they load, and it reports nothing
local withheads = nets.build("tiny", {props = true})
withheads:load(dir .. "/off/weights.dcw")
assert(not withheads:has_props(), "weights without heads gave a model properties")
-- a box row with a non-number property is refused
expect_error(function() run.model:train_step(img, {{1, 1, 20, 20, "z"}}) end, "optionally followed by z and log10 N200")

-- deepcee detect on a small simulated field: property columns only with the heads
local f <close> = dc.sim_field({width = 400, height = 400, seed = 3, n_clusters = 1})
f:write(dir .. "/sky", "field")
local cands = detect.run({dir = dir .. "/sky", weights = dir .. "/on/weights.dcw", out = dir .. "/det",
  threshold = 0, quiet = true})
local cat = dc.catalog_read(dir .. "/det/candidates.fits")
local names = table.concat(cat.names, ",")
assert(names:find("z,z_err,richness,richness_err", 1, true), "FITS columns: " .. names)
assert(cat.units.richness_err == "dex", "richness_err in dex, got " .. tostring(cat.units.richness_err))
assert(cat.nrows == #cands and #cands > 0, "candidates at threshold 0: " .. #cands)
for k, c in ipairs(cands) do
  assert(c.z == c.z and c.richness > 0, "candidate properties")
  h.close(cat.cols.z[k], c.z, 1e-6 * math.max(1, math.abs(c.z)), "FITS z")
  h.close(cat.cols.richness[k], c.richness, 1e-4 * c.richness, "FITS richness")
end
local csv = h.read(dir .. "/det/candidates.csv")
assert(csv:match("^[^\n]*z,z_err,richness,richness_err"), "CSV header: " .. csv:match("^[^\n]*"))
local reg = h.read(dir .. "/det/candidates.reg")
assert(reg:find(string.format("text={C001 z=%.3f N200=%.0f}", cands[1].z, cands[1].richness), 1, true),
  "DS9 text with z and N200:\n" .. reg)
local old = detect.run({dir = dir .. "/sky", weights = dir .. "/off/weights.dcw", out = dir .. "/det-old",
  threshold = 0, quiet = true})
local oldcat = dc.catalog_read(dir .. "/det-old/candidates.fits")
assert(not table.concat(oldcat.names, ","):find("z", 1, true) and old[1].z == nil, "property columns without heads")
assert(h.read(dir .. "/det-old/candidates.reg"):find("text={C001}", 1, true), "DS9 text of a plain catalogue")

-- TTA fusion (detect.fuse) carries the properties as score-weighted means, richness through its log:
-- scores 0.8 and 0.4 -> weights 2/3, 1/3: z = (2 * 0.1 + 0.4) / 3 = 0.2, log10 N200 = (2 * 1 + 2) / 3
local fused = detect.fuse({
  {{score = 0.8, box = {0, 0, 10, 10}, z = 0.1, z_err = 0.03, richness = 10, richness_err = 0.3}},
  {{score = 0.4, box = {0, 0, 10, 10}, z = 0.4, z_err = 0.06, richness = 100, richness_err = 0.6}},
}, 0.5)
assert(#fused == 1, "one fused candidate")
h.close(fused[1].z, 0.2, 1e-12, "fused z")
h.close(fused[1].z_err, 0.04, 1e-12, "fused z_err")
h.close(fused[1].richness, 10 ^ (4 / 3), 1e-9, "fused richness (geometric)")
h.close(fused[1].richness_err, 0.4, 1e-12, "fused richness_err")
local single = detect.fuse({{{score = 0.8, box = {0, 0, 10, 10}, z = 0.1, z_err = 0.03, richness = 10,
  richness_err = 0.3}}}, 0.5)
assert(single[1].z == 0.1 and single[1].richness == 10, "one pass keeps its properties")
assert(detect.fuse({{{score = 0.8, box = {0, 0, 10, 10}}}, {{score = 0.4, box = {0, 0, 10, 10}}}}, 0.5)[1].z == nil,
  "no properties without heads")

-- bad keys
expect_error(function() train.run(with({out = dir .. "/bad", props = true, w_zz = 1})) end, "unknown key 'w_zz'")
expect_error(function() train.run(with({out = dir .. "/bad", props = true, w_z = -1})) end, "w_z=-1 is out of range")
do
  local t = nets.configs.tiny.model()
  t.w_rich = -1
  expect_error(function() dc.frcnn(t) end, "w_rich (-1)", "finite and >= 0")
end

os.execute("rm -rf '" .. dir .. "'")
print("props train/detect: ok")
