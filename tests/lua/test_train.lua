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
manifest.write(dir .. "/data", rows)
local back = manifest.read(dir .. "/data")
assert(#back == 8 and back[3].cx == rows[3].cx and back[8].split == "test", "manifest round trip")

-- a tiny network (tests/lua/helpers.lua)
h.register_tiny_net()

local base = {network = "tiny", dataset = dir .. "/data", steps = 6, lr = 0.01, seed = 3,
              checkpoint_every = 3, quiet = true}
local function with(t)
  local c = {}
  for k, v in pairs(base) do c[k] = v end
  for k, v in pairs(t) do c[k] = v end
  return c
end

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
assert(m2:checksum() == a.model:checksum(), "weights file round trip")
expect_error(function() nets.build("demo"):load(dir .. "/a/weights.dcw") end, "another network configuration")

-- evaluation: counts are consistent at every threshold
local r = evaluate.run(a.model, dir .. "/data", {quiet = true})
assert(r.n_images == 2 and #r.rows == 11, "evaluation rows")
for _, row in ipairs(r.rows) do
  assert(row.tp + row.fn == 2, "tp + fn must be the number of test images")
  assert(row.tp + row.fp == row.n_above, "tp + fp must be the detections above the threshold")
end
assert(r.rows[1].threshold == 0 and r.rows[11].threshold == 1)
print("test_train: 1 passed, 0 failed")
os.execute("rm -rf '" .. dir .. "'")
