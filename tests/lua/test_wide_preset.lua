-- The wide preset (issue 10): lua/dataset.lua's `wide` selects 0.05 < z < 0.5 and N200 >= 10 from a
-- survey drawn over 0.05 < z < 0.5 (the paper preset keeps 0.1 < z < 0.2, N200 >= 20 and the
-- simulator's default range), its boxes stay inside the cut-outs down to z = 0.05, and
-- lua/train.lua's `wide` turns the property heads on. A small build (a few clusters of a small
-- region, one cut-out each) checks the selection on real output.
local dc = require("deepcee")
local util = require("deepcee_util")
local manifest = require("manifest")
local datasets = require("dataset")
local train = require("train")

local h = dofile(assert(os.getenv("DEEPCEE_SOURCE_DIR"), "DEEPCEE_SOURCE_DIR is not set (ctest sets it)")
  .. "/tests/lua/helpers.lua")
local expect_error = h.expect_error

local wide = util.config(datasets.defaults, datasets.presets.wide, "wide", datasets.ranges)
assert(wide.cut_z_min == 0.05 and wide.cut_z_max == 0.5 and wide.cut_n200_min == 10 and wide.survey_z_max == 0.5,
  "wide cuts")
local paper = util.config(datasets.defaults, datasets.presets.paper, "paper", datasets.ranges)
local sd = dc.sim_defaults().survey
assert(paper.cut_z_min == 0.1 and paper.cut_z_max == 0.2 and paper.cut_n200_min == 20, "the paper's cuts stay")
assert(paper.survey_z_min == sd.z_min and paper.survey_z_max == sd.z_max, "paper: the simulator's z range")
-- the lowest-z box fits the cut-out with the largest offset: half-box + offset < half the cut-out
local half = wide.box_kpc / dc.cosmo(wide.cut_z_min, {h0 = wide.h0, om = wide.om}).kpc_per_arcsec
assert(half + wide.max_offset < wide.cutout_px * 0.396 / 2,
  string.format("wide: a %.0f\" half-box at z = %g with %g\" offsets leaves a %.0f\" half cut-out", half, wide.cut_z_min,
    wide.max_offset, wide.cutout_px * 0.396 / 2))
local tw = util.config(train.defaults, train.presets.wide, "train wide", train.ranges)
assert(tw.props == true and tw.dataset == wide.out, "train preset wide: heads on, the wide dataset")

-- a small build: the wide cuts and survey range, 12 clusters of a 36 deg^2 region (about 3 in 4 with a
-- spectroscopic z in the simulated catalogue), 500 px at 128 px
local dir = os.tmpname()
os.remove(dir)
local small = {}
for k, v in pairs(datasets.presets.wide) do small[k] = v end
small.out, small.ra_min, small.ra_max, small.dec_min, small.dec_max = dir .. "/wide", 140, 146, 0, 6
small.max_clusters, small.offsets, small.background, small.hard_negatives, small.unseen = 12, 1, 0, 0, false
small.cutout_px, small.image_px, small.max_offset, small.box_kpc = 500, 128, 30, 60
small.quiet, small.seed = true, 4
datasets.build(small)
local cat = dc.catalog_read(small.out .. "/catalog-whl12.fits")
-- the spectroscopic redshifts (zsp, where the simulated catalogue has one) are the true ones;
-- the photometric zph carry the catalogue's scatter
local zmax, zmin, nspec = 0, 1, 0
for k = 1, cat.nrows do
  local z = cat.cols.zsp[k]
  if z == z then zmax, zmin, nspec = math.max(zmax, z), math.min(zmin, z), nspec + 1 end
end
assert(nspec > 20, nspec .. " spectroscopic redshifts")
assert(zmax > 0.45 and zmax <= 0.5, string.format("the survey reaches z = %.3f (the default stops at %g)", zmax, sd.z_max))
assert(zmin >= 0.05, "survey z from 0.05, got " .. zmin)
local rows = manifest.read(small.out)
assert(#rows == 12, #rows .. " rows")
-- every target carries the simulator's true z (catalog-truth.fits, by sim_id through the WHL12-style
-- catalogue's name): the catalogue's z equals it where spectroscopic, scatters about it elsewhere
local truth = dc.catalog_read(small.out .. "/catalog-truth.fits")
local true_z, sim_of, spec = {}, {}, {}
for k = 1, truth.nrows do true_z[math.tointeger(truth.cols.sim_id[k])] = truth.cols.z[k] end
for k = 1, cat.nrows do
  local sid = math.tointeger(cat.cols.sim_id[k])
  sim_of[cat.cols.WHL[k]], spec[sid] = sid, cat.cols.zsp[k]
end
local n_phot = 0
for _, r in ipairs(rows) do
  local sid = assert(sim_of[r.id], "manifest id " .. r.id .. " is not in the catalogue")
  h.close(r.z_true, true_z[sid], 1e-9, r.id .. ": z_true against the truth (manifest: 10 digits)")
  if spec[sid] == spec[sid] then h.close(r.z, r.z_true, 1e-9, r.id .. ": spectroscopic z against the truth") end
  assert(math.abs(r.z - r.z_true) < 5 * 0.018 * (1 + r.z_true), r.id .. ": catalogue z far from the truth")
  if math.abs(r.z - r.z_true) > 1e-6 then n_phot = n_phot + 1 end
end
assert(n_phot > 0, "no photometric redshift among the rows: z_true is not tested against z")
local beyond = 0
for _, r in ipairs(rows) do
  assert(r.z > 0.05 and r.z < 0.5 and r.n200 >= 10, string.format("row %s: z %g N200 %g outside the cuts", r.id, r.z, r.n200))
  if r.z > 0.2 or r.n200 < 20 then beyond = beyond + 1 end
end
assert(beyond > 0, "none of the selected clusters lies outside the paper's window")
local text = h.read(small.out .. "/dataset.lua")
-- a key at its default is left out of dataset.lua (survey_z_min here), so folders built before the
-- keys existed still resume
assert(text:find("survey_z_max = 0.5", 1, true) and not text:find("survey_z_min", 1, true),
  "dataset.lua records a changed survey range only:\n" .. text)
expect_error(function()
  local bad = {}
  for k, v in pairs(small) do bad[k] = v end
  bad.out, bad.survey_z_min, bad.survey_z_max = dir .. "/bad", 0.3, 0.2
  datasets.build(bad)
end, "survey_z_max (0.2) must exceed survey_z_min (0.3)")
os.execute("rm -rf '" .. dir .. "'")
print("wide preset: ok")
