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

-- a mined tile's id carries a tag of its position: a folder holding another position's image under
-- the same row number (hard-linked from an earlier round) does not lend it to the new position
util.write_file(tmp .. "/one-a.csv", string.format("ra,dec\n%.7f,%.7f\n", r.mined[1].ra, r.mined[1].dec))
util.write_file(tmp .. "/one-b.csv", string.format("ra,dec\n%.7f,%.7f\n", r.mined[1].ra + 0.01, r.mined[1].dec))
local ids = {}
for _, which in ipairs({"a", "b"}) do
  withm.out, withm.mined = tmp .. "/data-one-" .. which, tmp .. "/one-" .. which .. ".csv"
  datasets.build(withm)
  for _, row in ipairs(manifest.read(withm.out)) do
    if row.id:match("^mined%-") then ids[which] = row.id end
  end
end
assert(ids.a and ids.b and ids.a:match("^mined%-00001%-%x%x%x%x%x%x$"), tostring(ids.a))
assert(ids.a ~= ids.b, "another position, another id: " .. ids.a)

-- the tiles of successive rounds: the earlier rounds' rows first and unchanged, each new position
-- `offsets` times with the new round's number; next_round counts the rounds of a dataset's tiles
local t1 = mine.tiles("", r.path, 3, tmp .. "/tiles1.csv", 1)
assert(t1.n_prev == 0 and t1.n_new == 3 * #r.mined and t1.n == t1.n_new, "round 1 tiles")
local c1 = dc.catalog_read(tmp .. "/tiles1.csv")
assert(c1.nrows == t1.n and c1.cols.ra[3] == r.mined[1].ra and c1.cols.ra[4] == (r.mined[2] or {}).ra)
assert(mine.next_round({mined = tmp .. "/tiles1.csv"}) == 2 and mine.next_round({mined = ""}) == 1)
local t2 = mine.tiles(tmp .. "/tiles1.csv", r2.path, 2, tmp .. "/tiles2.csv", 2)
assert(t2.n_prev == t1.n and t2.n == t1.n + 2 * #r2.mined, "round 2 keeps round 1's tiles")
local c2 = dc.catalog_read(tmp .. "/tiles2.csv")
for k = 1, c1.nrows do
  assert(c2.cols.ra[k] == c1.cols.ra[k] and c2.cols.dec[k] == c1.cols.dec[k] and c2.cols.round[k] == 1, "row " .. k)
end
assert(c2.cols.round[c2.nrows] == 2 and mine.next_round({mined = tmp .. "/tiles2.csv"}) == 3)
-- a tiles file of before the round column counts as one round
util.write_file(tmp .. "/old.csv", "ra,dec,score,field\n150,3,0.5,1\n")
assert(mine.next_round({mined = tmp .. "/old.csv"}) == 2)
local t3 = mine.tiles(tmp .. "/old.csv", r2.path, 1, tmp .. "/tiles3.csv", 2)
assert(dc.catalog_read(tmp .. "/tiles3.csv").cols.round[1] == 1 and t3.n_prev == 1)
h.expect_error(function() mine.tiles(tmp .. "/gone.csv", r2.path, 1, tmp .. "/t.csv", 2) end, "gone.csv",
  "accumulate=false")

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
