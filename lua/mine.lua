-- Hard-negative mining with the detector itself (bootstrapping): a trained detector runs, as
-- `deepcee detect` does, over whole SIMULATED fields rendered at random places of its training
-- region (the dataset's own survey and sky), and every candidate scoring min_score or more that
-- lies farther than max_kpc from every cluster passing the cuts is one of its false positives.
-- Their positions go to out/mined.csv (ra, dec, score, field), which lua/dataset.lua's
-- `mined = FILE` turns into hard-negative training tiles; scripts/mine.lua fine-tunes on them.
--
--   local mine = require("mine")
--   local r = mine.run({dataset = "run/data", weights = "run/train/weights.dcw", out = "run/mine", fields = 100})
--   -- r.mined: {{ra, dec, score, field}}, r.path: the CSV, r.n_fields, r.n_candidates
--
-- The fields never touch the held-out regions (the unseen region and lua/fieldeval.lua's RA
-- 260-300): they come from the dataset's training region, whose images training already sees.
local dc = require("deepcee")
local util = require("deepcee_util")
local dataset = require("dataset")
local detect = require("detect")

local M = {}

local SDSS_PIXEL = 0.396 -- arcsec per pixel, the simulator's scale (docs/facts.md 4)

M.defaults = {
  dataset = "",               -- a dataset folder built by lua/dataset.lua from a simulated survey
  weights = "",               -- the trained detector
  out = "mine-out",           -- mined.csv is written here (fields are rendered in a temporary subfolder)
  fields = 100,               -- fields rendered at random places of the dataset's region
  field_px = 2000,            -- their side in pixels (0.396"/px)
  min_score = 0.5,            -- candidates at or above this score ...
  max_kpc = 200,              -- ... farther than this (proper, at the cluster's z) from every
                              -- cluster passing the dataset's cuts are false positives
  seed = 0,                   -- the draw of the field centres (0: the dataset's seed)
  detect = {},                -- detect's keys for every field (tta, core, overlap, ...)
  quiet = false,
}

M.ranges = {
  fields = {1, 1e6, "integer"},
  field_px = {64, 20000, "integer"},
  min_score = {0, 1},
  max_kpc = {1, 1e5},
  seed = {0, 2 ^ 53, "integer"},
}

-- The dataset's build config (its dataset.lua, read as data), with the sky keys its writer leaves
-- out when false put back. An error names the folder when it is not a simulated dataset.
function M.dataset_config(folder)
  local path = folder .. "/dataset.lua"
  if not util.exists(path) then
    error(string.format("mine: %s has no dataset.lua: give dataset= a folder built by deepcee dataset", folder), 0)
  end
  local d = util.read_data(path, true)
  if type(d) ~= "table" or d.source ~= "sim" then
    error(string.format("mine: %s is not a simulated dataset (source = \"sim\"): mining renders fields of its survey",
      path), 0)
  end
  for _, k in ipairs({"vary", "confounders", "artefacts"}) do
    if d[k] == nil then d[k] = false end
  end
  return d
end

function M.run(user)
  local cfg = util.config(M.defaults, user, "mine", M.ranges)
  if cfg.dataset == "" or cfg.weights == "" then error("mine: give dataset=FOLDER and weights=FILE", 0) end
  if not util.exists(cfg.weights) then error("mine: no weights file " .. cfg.weights, 0) end
  detect.check_overrides(cfg.detect, "mine")
  local d = M.dataset_config(cfg.dataset)
  local t0 = dc.now()
  local seed = cfg.seed ~= 0 and cfg.seed or d.seed
  local survey <close> = dc.sim_survey({seed = d.seed, ra_min = d.ra_min, ra_max = d.ra_max, dec_min = d.dec_min,
    dec_max = d.dec_max, z_min = d.survey_z_min, z_max = d.survey_z_max, vary = d.vary})
  util.mkdir(cfg.out)
  local tmp = cfg.out .. "/.fields"
  util.mkdir(tmp)
  -- the clusters passing the dataset's cuts (the targets: no false positive near them)
  local catfile = tmp .. "/catalog-whl12.fits"
  local targets = dataset.survey_targets(survey, d, catfile)
  os.remove(catfile)
  -- field centres uniform on the sphere in the region, half a field from its edges
  local half = cfg.field_px / 2 * SDSS_PIXEL / 3600
  local s0, s1 = math.sin(math.rad(d.dec_min + half)), math.sin(math.rad(d.dec_max - half))
  if not (s1 > s0) then
    error(string.format("mine: the dataset's region (Dec %g..%g) is narrower than a %d px field", d.dec_min,
      d.dec_max, cfg.field_px), 0)
  end
  local sky = dataset.sky(d, cfg.field_px)
  local mined, n_cand = {}, 0
  for k = 1, cfg.fields do
    math.randomseed(seed, 1000 + k)
    local dec = math.deg(math.asin(s0 + (s1 - s0) * math.random()))
    local m = half / math.cos(math.rad(dec))
    local ra = d.ra_min + m + (d.ra_max - d.ra_min - 2 * m) * math.random()
    local f <close> = survey:field(sky, ra, dec, (1 << 41) + k)
    f:write(tmp, "field", {preview_size = 64})
    local dcfg = {g = tmp .. "/field-g.fits", r = tmp .. "/field-r.fits", i = tmp .. "/field-i.fits",
      threshold = cfg.min_score, quiet = true, out = tmp .. "/detect", weights = cfg.weights}
    for key, v in pairs(cfg.detect) do dcfg[key] = v end
    local cands = detect.run(dcfg)
    n_cand = n_cand + #cands
    local near = {}
    if #cands > 0 and #targets > 0 then
      local mm = dc.match(cands, targets, {max_kpc = cfg.max_kpc, h0 = d.h0, om = d.om})
      for i, p in ipairs(mm.preds) do near[i] = p.nearest_kpc and p.nearest_kpc <= cfg.max_kpc end
    end
    for i, cd in ipairs(cands) do
      if not near[i] then mined[#mined + 1] = {ra = cd.ra, dec = cd.dec, score = cd.score, field = k} end
    end
    if not cfg.quiet and (k % 10 == 0 or k == cfg.fields) then
      print(string.format("  mining: field %d/%d, %d candidates >= %.2f, %d false positives so far [%s]", k,
        cfg.fields, n_cand, cfg.min_score, #mined, util.duration(dc.now() - t0)))
      io.stdout:flush()
    end
    if dc.interrupted() then error(string.format("mine: interrupted after %d of %d fields", k, cfg.fields), 0) end
  end
  os.execute(string.format("rm -rf '%s'", tmp))
  local cols = {ra = {}, dec = {}, score = {}, field = {}}
  for k, m in ipairs(mined) do
    cols.ra[k], cols.dec[k], cols.score[k], cols.field[k] = m.ra, m.dec, m.score, m.field
  end
  local path = cfg.out .. "/mined.csv"
  dc.catalog_write(path, {nrows = #mined, names = {"ra", "dec", "score", "field"}, units = {ra = "deg", dec = "deg"},
    cols = cols})
  if not cfg.quiet then
    print(string.format("mined %d false positives (score >= %.2f, > %g kpc from every target) in %d SIMULATED fields "
      .. "of the training region: %s [%s]", #mined, cfg.min_score, cfg.max_kpc, cfg.fields, path,
      util.duration(dc.now() - t0)))
  end
  return {mined = mined, path = path, n_fields = cfg.fields, n_candidates = n_cand, seconds = dc.now() - t0}
end

-- The training tiles of one mining round, written to out_csv (columns ra, dec, score, field, round):
-- with prev_csv (the previous round's tiles file, "" for none) its rows first, unchanged, so that
-- their tile ids, offsets and images stay what they were; then each position of mined_csv `offsets`
-- times (the tiles differ in their offsets, drawn per tile id). A previous file without a round
-- column counts as round 1; the new rows get `round`. Returns {n_prev, n_new, n}.
function M.tiles(prev_csv, mined_csv, offsets, out_csv, round)
  local names = {"ra", "dec", "score", "field", "round"}
  local cols, n = {ra = {}, dec = {}, score = {}, field = {}, round = {}}, 0
  if prev_csv ~= "" then
    if not util.exists(prev_csv) then
      error(string.format("mine: the previous round's tiles %s are missing (the run's dataset.lua names them as "
        .. "mined): rebuild that run, or give accumulate=false", prev_csv), 0)
    end
    local p = dc.catalog_read(prev_csv)
    for _, c in ipairs({"ra", "dec"}) do
      if not p.cols[c] then error(string.format("mine: %s has no column %s", prev_csv, c), 0) end
    end
    for k = 1, p.nrows do
      n = n + 1
      cols.ra[n], cols.dec[n], cols.round[n] = p.cols.ra[k], p.cols.dec[k], p.cols.round and p.cols.round[k] or 1
      cols.score[n] = p.cols.score and p.cols.score[k] or 0 / 0
      cols.field[n] = p.cols.field and p.cols.field[k] or 0
    end
  end
  local n_prev = n
  local m = dc.catalog_read(mined_csv)
  for k = 1, m.nrows do
    for _ = 1, offsets do
      n = n + 1
      cols.ra[n], cols.dec[n], cols.score[n], cols.field[n] = m.cols.ra[k], m.cols.dec[k], m.cols.score[k],
        m.cols.field[k]
      cols.round[n] = round
    end
  end
  dc.catalog_write(out_csv, {nrows = n, names = names, units = {ra = "deg", dec = "deg"}, cols = cols})
  return {n_prev = n_prev, n_new = n - n_prev, n = n}
end

-- The number of the mining round that follows a run whose dataset config is d: 1 + the highest
-- round in its mined tiles (a tiles file without a round column counts as one round), 1 without.
function M.next_round(d)
  if (d.mined or "") == "" or not util.exists(d.mined) then return 1 end
  local p = dc.catalog_read(d.mined)
  local r = 1
  if p.cols.round then
    for k = 1, p.nrows do if p.cols.round[k] > r then r = p.cols.round[k] end end
  end
  return r + 1
end

return M
