-- Hard-negative mining (lua/mine.lua), the dataset's mined key and training's init key:
--  * mining with the shipped weights on two 1000 px fields of a toy dataset's region at score 0
--    lists candidates, none within max_kpc of a cluster passing the cuts, written as mined.csv;
--    the same seed mines the same positions;
--  * a dataset built with mined = that CSV adds one hard-negative tile per usable position, all in
--    the training split, no target inside; a bad CSV is refused naming file and row;
--  * init = weights starts training from them (a step at lr 1e-9 leaves the detections as they
--    were; a random start does not); init of another network is refused.
local dc = require("deepcee")
local util = require("deepcee_util")
local datasets = require("dataset")
local manifest = require("manifest")
local mine = require("mine")
local train = require("train")
local nets = require("nets")
local h = dofile(os.getenv("DEEPCEE_SOURCE_DIR") .. "/tests/lua/helpers.lua")

local tmp = os.tmpname()
os.remove(tmp)
util.mkdir(tmp)

local sim = {out = tmp .. "/data", seed = 3, ra_min = 140, ra_max = 146, dec_min = 0, dec_max = 8,
  cutout_px = 300, image_px = 64, max_offset = 40, box_kpc = 60, test_fraction = 0.2, unseen = false,
  max_clusters = 3, offsets = 1, quiet = true}
datasets.build(sim)

-- mining
local r = mine.run({dataset = sim.out, weights = dc.weights_dir .. "/demo.dcw", out = tmp .. "/mine", fields = 2,
  field_px = 1000, min_score = 0, quiet = true})
assert(r.n_candidates > 0 and #r.mined > 0, "score 0 mines something")
assert(#r.mined <= r.n_candidates)
local cat = dc.catalog_read(r.path)
assert(cat.nrows == #r.mined, "mined.csv rows")
-- none near a target: every cluster of the survey passing the cuts
local s <close> = dc.sim_survey({seed = sim.seed, ra_min = sim.ra_min, ra_max = sim.ra_max, dec_min = sim.dec_min,
  dec_max = sim.dec_max, vary = true})
local cf = tmp .. "/cat.fits"
s:write_catalog(cf, "whl12")
local whl = dc.catalog_read(cf, {map = "whl12"})
local d = datasets.defaults
for k = 1, whl.nrows do
  local z = whl.cols.z[k]
  if z > d.cut_z_min and z < d.cut_z_max and whl.cols.n200[k] >= d.cut_n200_min and whl.cols.dec[k] > d.cut_dec_min then
    local ra, dec = whl.cols.bcg_ra[k], whl.cols.bcg_dec[k]
    local limit = mine.defaults.max_kpc / dc.cosmo(z).kpc_per_arcsec
    for _, m in ipairs(r.mined) do
      local sep = dc.sep_arcsec(m.ra, m.dec, ra, dec)
      assert(sep > limit * 0.999, string.format("mined position %.1f\" from a target (limit %.1f\")", sep, limit))
    end
  end
end
local r2 = mine.run({dataset = sim.out, weights = dc.weights_dir .. "/demo.dcw", out = tmp .. "/mine2", fields = 2,
  field_px = 1000, min_score = 0, quiet = true})
assert(#r2.mined == #r.mined and r2.mined[1].ra == r.mined[1].ra, "the same seed mines the same positions")
h.expect_error(function() mine.run({dataset = tmp .. "/none", weights = dc.weights_dir .. "/demo.dcw"}) end,
  "has no dataset.lua")
h.expect_error(function() mine.run({dataset = sim.out, weights = tmp .. "/no.dcw"}) end, "no weights file")
h.expect_error(function() mine.run({dataset = sim.out, weights = dc.weights_dir .. "/demo.dcw", fields = 0}) end,
  "fields=0")

-- the dataset with the mined tiles
local withm = {}
for k, v in pairs(sim) do withm[k] = v end
withm.out, withm.mined = tmp .. "/data-mined", r.path
datasets.build(withm)
local rows = manifest.read(withm.out)
local base = manifest.read(sim.out)
local n_mined = 0
for _, row in ipairs(rows) do
  if row.id:match("^mined%-") then
    n_mined = n_mined + 1
    assert(row.kind == "hard_negative" and row.split == "train", "a mined tile is a training hard negative")
    assert(row.xmin ~= row.xmin, "a mined tile has no box")
  end
end
assert(n_mined > 0 and n_mined <= #r.mined, string.format("%d mined tiles of %d positions", n_mined, #r.mined))
assert(#rows == #base + n_mined, "the other rows are unchanged")
util.write_file(tmp .. "/bad.csv", "ra,dec\n150,12\n400,3\n")
withm.out, withm.mined = tmp .. "/data-bad", tmp .. "/bad.csv"
h.expect_error(function() datasets.build(withm) end, "bad.csv", "row 2", "ra=400")

-- init
h.register_tiny_net()
local tc = {network = "tiny", dataset = sim.out, steps = 3, lr = 0.01, seed = 2, quiet = true, photometric = false,
  out = tmp .. "/t1"}
local a = train.run(tc)
local img = dc.tensor({1, 3, 64, 64}, (function() local t = {} for i = 1, 3 * 64 * 64 do t[i] = (i % 17) / 17 end return t end)())
local function scores(model)
  local out = {}
  for k, det in ipairs(model:detect(img, 5)) do out[k] = det.score end
  return out
end
local want = scores(a.model)
local function near_all(got, what)
  assert(#got == #want, what .. ": number of detections")
  for k = 1, #want do assert(math.abs(got[k] - want[k]) < 1e-4, string.format("%s: %g vs %g", what, got[k], want[k])) end
end
local b = train.run({network = "tiny", dataset = sim.out, steps = 1, lr = 1e-9, seed = 5, quiet = true,
  photometric = false, out = tmp .. "/t2", init = tmp .. "/t1/weights.dcw"})
near_all(scores(b.model), "init")
local c = train.run({network = "tiny", dataset = sim.out, steps = 1, lr = 1e-9, seed = 5, quiet = true,
  photometric = false, out = tmp .. "/t3"})
local differs = #scores(c.model) ~= #want
for k, v in ipairs(scores(c.model)) do differs = differs or math.abs(v - (want[k] or -1)) > 1e-4 end
assert(differs, "a random start gives other detections (the init test would not fail otherwise)")
h.expect_error(function() train.run({network = "tiny", dataset = sim.out, steps = 1, quiet = true,
  photometric = false, out = tmp .. "/t4", init = dc.weights_dir .. "/demo.dcw"}) end, "holds a 'demo' network")
h.expect_error(function() train.run({network = "tiny", dataset = sim.out, steps = 1, quiet = true,
  photometric = false, out = tmp .. "/t5", init = tmp .. "/none.dcw"}) end, "no such weights file")

os.execute("rm -rf '" .. tmp .. "'")
print("test_mine: 1 passed, 0 failed")
