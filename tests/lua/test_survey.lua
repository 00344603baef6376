-- deepcee survey on one rank (lua/survey.lua): the merge across fields, the union footprint, the
-- region grid, config errors, and a survey of a folder holding two good fields, a corrupt one and
-- one without WCS, started again (resumed). The MPI runs are tests/lua/survey_mpi.lua.
local dc = require("deepcee")
local util = require("deepcee_util")
local survey = require("survey")
local h = dofile(os.getenv("DEEPCEE_SOURCE_DIR") .. "/tests/lua/helpers.lua")

local dir = os.tmpname()
os.remove(dir)
util.mkdir(dir)

-- ---- merge: a candidate of another field within the radius is a duplicate (the higher score is
-- kept and counts both fields); two close candidates of one field both stay (detect's own rules
-- decided on them)
do
  local d = 50 / 3600 -- 50" in Dec
  local fields = {
    {id = "A", candidates = {{ra = 10, dec = 20, x = 1, y = 2, score = 0.6}, {ra = 10, dec = 20 + d, x = 3, y = 4, score = 0.5}}},
    {id = "B", candidates = {{ra = 10, dec = 20 + 0.5 * d, x = 5, y = 6, score = 0.9}, {ra = 11, dec = 20, x = 7, y = 8, score = 0.4}}},
  }
  local kept, before = survey.merge(fields, 60)
  assert(before == 4, "4 candidates before merging")
  -- B's 0.9 (25" from both of A's) absorbs both of A's; B's 0.4 is alone
  assert(#kept == 2, "kept " .. #kept .. ", expected 2")
  assert(kept[1].field == "B" and kept[1].score == 0.9 and kept[1].n_fields == 2 and kept[1].x == 5, "the best is kept with its field")
  assert(kept[2].field == "B" and kept[2].score == 0.4 and kept[2].n_fields == 1)
  -- within one field nothing merges, at any radius
  local one = survey.merge({fields[1]}, 3600)
  assert(#one == 2, "two candidates of one field both stay")
  -- a pair 61" apart across fields: both stay at 60"
  local far = survey.merge({{id = "A", candidates = {{ra = 0.01, dec = 0, score = 0.5, x = 0, y = 0}}},
    {id = "B", candidates = {{ra = 0.01 + 61 / 3600, dec = 0, score = 0.7, x = 0, y = 0}}}}, 60)
  assert(#far == 2, "61\" apart is not a duplicate at 60\"")
  -- across RA 0 / 360
  local wrap = survey.merge({{id = "A", candidates = {{ra = 359.999, dec = 0, score = 0.5, x = 0, y = 0}}},
    {id = "B", candidates = {{ra = 0.001, dec = 0, score = 0.7, x = 0, y = 0}}}}, 60)
  assert(#wrap == 1 and wrap[1].field == "B", "a duplicate across RA 0 is found")
end

-- ---- union footprint: two 0.1 deg squares overlapping by half, at the equator: 0.015 deg^2
do
  local function square(ra, dec, s)
    return {ra = ra, dec = dec, area_deg2 = s * s,
      corners = {ra + s / 2, dec - s / 2, ra - s / 2, dec - s / 2, ra - s / 2, dec + s / 2, ra + s / 2, dec + s / 2}}
  end
  local area, cell = survey.union_area({square(100, 0.05, 0.1), square(100.05, 0.05, 0.1)})
  h.close(area, 0.015, 0.5 * 0.5 * cell, "union of two half-overlapping squares (deg^2)")
  local a1 = survey.union_area({square(100, 0.05, 0.1)})
  h.close(a1, 0.01, 0.5 * 0.4 * cell, "one square")
end

-- ---- the region grid: every point of the box inside a field, neighbours overlapping
do
  local cfg = util.config(survey.defaults, {ra_min = 200, ra_max = 201, dec_min = 40, dec_max = 40.6, field_px = 2000})
  local f = survey.region_fields(cfg)
  local side = 2000 * 0.396 / 3600
  assert(#f >= 2, "fields of the grid")
  for y = 0, 10 do
    for x = 0, 10 do
      local ra, dec = 200 + x / 10, 40 + 0.06 * y
      local inside = false
      for _, s in ipairs(f) do
        local w <close> = dc.wcs_tan({x = 999.5, y = 999.5, ra = s.ra, dec = s.dec, scale = 0.396})
        local px, py = w:world2pix(ra, dec)
        if px >= -0.5 and py >= -0.5 and px <= 1999.5 and py <= 1999.5 then inside = true end
      end
      assert(inside, string.format("(%g, %g) is in no field of the grid", ra, dec))
    end
  end
  assert(f[1].id == "sim-r001-c001" and f[1].key == 1 and math.abs(f[2].ra - f[1].ra) < side / math.cos(math.rad(40)),
    "neighbours overlap")
end

-- ---- config errors name the key and what to do
h.expect_error(function() survey.run({out = dir .. "/x"}) end, "give images=", "ra_min=")
h.expect_error(function() survey.run({images = dir, ra_min = 1, ra_max = 2, out = dir .. "/x"}) end, "not both")
h.expect_error(function() survey.run({images = dir, bogus = 1}) end, "unknown key 'bogus'")
h.expect_error(function() survey.run({images = dir, detect = {tta = 2}}) end, "tta=")
h.expect_error(function() survey.run({images = dir, detect = {threshold = 0.1}}) end, "detect may not set threshold")
h.expect_error(function() survey.run({images = dir, field_overlap = 0.95}) end, "field_overlap", "out of range")

-- ---- a folder: two simulated fields, a corrupt triplet and one without a WCS
local img = dir .. "/images"
util.mkdir(img)
do
  local s <close> = dc.sim_survey({seed = 1, ra_min = 150, ra_max = 152, dec_min = 10, dec_max = 11})
  local sky = {width = 1000, height = 1000}
  -- two fields overlapping by half, both over the survey's richest cluster (id 18: z 0.09, N200 50)
  for k, ra in ipairs({151.10, 151.155}) do
    local f <close> = s:field(sky, ra, 10.30, k)
    f:write(img, string.format("f%d", k), {preview_size = 64})
  end
end
for _, b in ipairs({"g", "r", "i"}) do
  util.write_file(img .. "/bad-" .. b .. ".fits", "SIMPLE  =                    T / not really\n")
  local im <close> = dc.image(1000, 1000, 0.1)
  dc.fits_write(img .. "/nowcs-" .. b .. ".fits", im)
end
local out = dir .. "/out"
local s = survey.run({images = img, out = out, threshold = 0.3, quiet = true})
assert(s.fields == 4 and s.fields_ok == 2 and s.fields_failed == 2, string.format("4 fields, 2 ok, 2 failed: got %d, %d, %d",
  s.fields, s.fields_ok, s.fields_failed))
local reasons = {}
for _, f in ipairs(s.failed) do reasons[f.id] = f.reason end
assert(reasons.bad and reasons.bad:find("bad%-g%.fits"), "the corrupt field's reason names its file: " .. tostring(reasons.bad))
assert(reasons.nowcs and reasons.nowcs:lower():find("wcs"), "the field without WCS says so: " .. tostring(reasons.nowcs))
local summary = h.read(out .. "/summary.txt")
assert(summary:find("fields: 4 %(2 ok, 2 failed%)") and summary:find("  bad: ") and summary:find("  nowcs: "),
  "the summary lists the failed fields:\n" .. summary)
-- footprint: two 1000 px fields (0.11 deg sides) overlapping by about half
h.close(s.area_summed_deg2, 2 * (1000 * 0.396 / 3600) ^ 2, 1e-6, "summed area")
assert(s.area_deg2 < 0.8 * s.area_summed_deg2 and s.area_deg2 > 0.65 * s.area_summed_deg2, "the overlap counted once")
-- the catalogue: each of the two fields sees the cluster; the merged catalogue has it once
local function near(list, ra, dec)
  local n, best = 0, nil
  for _, c in ipairs(list) do
    if dc.sep_arcsec(c.ra, c.dec, ra, dec) < 96.6 then
      n = n + 1
      best = (best and best.score >= c.score) and best or c
    end
  end
  return n, best
end
local per_field = {}
for _, id in ipairs({"f1", "f2"}) do
  local r = util.read_data(out .. "/fields/" .. id .. ".lua", true)
  assert(r.status == "ok")
  local n, best = near(r.candidates, 151.1270908143, 10.300955094164)
  assert(n >= 1, id .. " sees the cluster")
  per_field[#per_field + 1] = best
end
local n, c = near(s.catalogue, 151.1270908143, 10.300955094164)
assert(n == 1, "the cluster is once in the merged catalogue, got " .. n)
assert(c.score == math.max(per_field[1].score, per_field[2].score) and c.n_fields == 2, "with the higher score, seen in 2 fields")
local cat = dc.catalog_read(out .. "/candidates.fits")
assert(cat.nrows == s.candidates and cat.cols.field and cat.cols.x and cat.cols.n_fields, "FITS catalogue with the field columns")
assert(h.read(out .. "/candidates.reg"):find("S00001"), "DS9 regions named by id")
assert(h.read(out .. "/skymap.png"):sub(2, 4) == "PNG", "sky map")
local csv = h.read(out .. "/candidates.csv")

-- ---- started again: every field is skipped, the same catalogue; failed ones retried on request
local s2 = survey.run({images = img, out = out, threshold = 0.3, quiet = true})
assert(s2.session.skipped == 4 and s2.session.fields == 0, "a finished survey started again does nothing")
assert(h.read(out .. "/candidates.csv") == csv, "the same catalogue")
local s3 = survey.run({images = img, out = out, threshold = 0.3, quiet = true, retry_failed = true})
assert(s3.session.fields == 2 and s3.fields_failed == 2, "retry_failed runs the 2 failed fields again")
-- another setting in the same out is an error naming the key
h.expect_error(function() survey.run({images = img, out = out, threshold = 0.4, quiet = true}) end,
  "threshold = 0.3", "another out=")
-- a result file of another field is an error naming it
util.write_file(out .. "/fields/f1.lua", "return {id = \"f2\", status = \"ok\", candidates = {}}\n")
h.expect_error(function() survey.run({images = img, out = out, threshold = 0.3, quiet = true}) end,
  "f1.lua is not the result of field f1", "remove it")

os.execute("rm -rf '" .. dir .. "'")
print("survey tests passed")
