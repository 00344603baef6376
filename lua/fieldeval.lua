-- Whole-field evaluation, as users run the detector: held-out simulated fields of field_px x
-- field_px pixels, each centred near one target cluster, written as g, r, i FITS files and run
-- through `deepcee detect` (lua/detect.lua's M.run with threshold=0, exactly as the command line
-- does), then scored with the paper's criterion (Chan & Stott 2019, section 3.3): a candidate
-- matches a true cluster when its centre lies within max_kpc (100) proper kpc of the cluster's
-- BCG at the cluster's redshift.
--
--   local fieldeval = require("fieldeval")
--   local r = fieldeval.run({weights = "weights/demo.dcw", out = "fe", fields = 10, seed = 1})
--   -- r.rows[r.best]: threshold, tp, fp, fn, precision, recall, f1, fp_per_field, fp_per_deg2,
--   -- std_err_kpc; r.fp_kinds: what the false positives at the best threshold lie on
--
-- The fields (SIMULATED):
--  * a survey (deepcee.sim_survey, seed `seed` + 2) over `region`, by default RA 260-300, Dec
--    0-30: disjoint from the training region (the simulator's default RA 140-240, Dec -5..25,
--    lua/dataset.lua) and from the unseen region (RA 245-257, Dec 30-40.5, seed + 1);
--  * its WHL12-style catalogue with the paper's cuts (lua/dataset.lua's cut_* defaults: 0.1 < z
--    < 0.2, N200 >= 20, Dec > 0); `fields` of the passing clusters are drawn with the seed (a
--    seeded shuffle, so field k has the same target whatever `fields` is);
--  * field k is centred on its target moved by a uniform random offset in [-max_offset,
--    +max_offset] arcsec along each axis (deepcee.cutout_plan, seeded by seed and k, as the
--    dataset's cut-outs) and rendered by survey:field with the `sky` overrides (keys of the
--    simulator's field config) and render key k: same seed => the same fields, bit for bit;
--  * the targets of a field: every catalogue cluster passing the cuts whose BCG lies in it (the
--    drawn one and any other); the other truth objects (the survey's truth: clusters failing the
--    cuts, uncatalogued poor clusters, any other kind the simulator lists in field:clusters()) are
--    kept to say what the false positives sit on.
--
-- Counting (as lua/evaluate.lua and engine/eval's deepcee.match, per field): candidates are taken
-- by decreasing score; each takes the nearest not yet taken target within max_kpc; one that finds
-- none is a false positive (a second candidate on an already found target is a duplicate, counted
-- as FP as the paper counts per image). At a threshold t the candidates with score > t count, so
-- TP + FN = targets at every threshold and FP never grows with t. Fields are matched one by one
-- (a candidate may only match a target of its own field) and the counts added.
--
-- Output in `out`: fields_table.csv (one row per threshold), fields.json (config, sweep, best row,
-- per-field summary, false-positive kinds), field-<NNN>/candidates.{csv,fits,reg,png} (detect's
-- output) and field-<NNN>/field-truth.csv; the rendered FITS and preview only with keep=true (60
-- fields would take 3 GB).
local dc = require("deepcee")
local util = require("deepcee_util")
local dataset = require("dataset")
local detect = require("detect")

local M = {}

local SDSS_PIXEL = 0.396 -- arcsec per pixel, the simulator's scale (docs/facts.md 4)

-- The held-out survey region (degrees).
M.region_defaults = {ra_min = 260, ra_max = 300, dec_min = 0, dec_max = 30}

M.defaults = {
  weights = "",               -- the detector (default: detect's, the shipped weights/demo.dcw)
  out = "fieldeval-out",
  seed = 1,                   -- survey seed + 2, the draw of targets, offsets, render keys
  fields = 10,                -- number of fields (each one target cluster drawn)
  field_px = 2000,            -- field width and height in pixels (0.396"/px; the paper's cut-outs)
  max_offset = 270,           -- arcsec, uniform along each axis (paper: +-270")
  region = M.region_defaults, -- ra_min, ra_max, dec_min, dec_max
  -- the held-out sky is drawn like the training sky (lua/dataset.lua's keys of the same names):
  vary = true,                -- randomised conditions and cluster looks (docs/simulated-sky.md)
  confounders = true,         -- LRGs, pairs, compact groups, fore/background clusters (docs/sky-confounders.md)
  artefacts = true,           -- spikes, trails, masked stripes and edges, gradients
  sky = {},                   -- overrides of survey:field's config on top (seeing, lrgs, vary = {...}, ...)
  survey = {},                -- overrides of sim_survey's config on top (model = {...}, density, ...)
  detect = {},                -- detect's keys for every field (tta, core, overlap, merge_iou, max_per_tile)
  -- the paper's cuts, as the training set (lua/dataset.lua)
  cut_z_min = dataset.defaults.cut_z_min, cut_z_max = dataset.defaults.cut_z_max,
  cut_n200_min = dataset.defaults.cut_n200_min, cut_dec_min = dataset.defaults.cut_dec_min,
  max_kpc = 100.0,            -- match radius, proper kpc at the target's redshift (paper)
  h0 = dataset.defaults.h0, om = dataset.defaults.om,
  step = 0.05,                -- threshold step of the sweep 0..1
  keep = false,               -- keep the rendered g, r, i FITS files and the preview PNG
  quiet = false,              -- no progress output
}

local function say(quiet, ...)
  if not quiet then
    print(string.format(...))
    io.stdout:flush()
  end
end

local hash = util.hash

-- The sweep's thresholds 0, step, ..., 1 (exact multiples, 1 included).
function M.thresholds(step)
  if not (type(step) == "number" and step > 0 and step <= 1) then
    error(string.format("fieldeval: step must be in (0, 1], got %s", tostring(step)), 2)
  end
  local n = math.floor(1 / step + 0.5)
  if math.abs(n * step - 1) > 1e-9 then
    error(string.format("fieldeval: step %g does not divide 1 (use 0.01, 0.05, 0.1, ...)", step), 2)
  end
  local t = {}
  for k = 0, n do t[k + 1] = k / n end
  return t
end

-- ---------------------------------------------------------------- scoring

-- Score fields against their targets. fields: list of {candidates = {{ra, dec, score}, ...},
-- targets = {{ra, dec, z}, ...}, others = {{ra, dec, z, what =}, ...} (optional: the non-target
-- truth objects), area_deg2 = (field area)}. opts: max_kpc, h0, om, step (or thresholds).
-- Returns {rows = {{threshold, n_above, tp, fp, fn, dup, precision, recall, f1, std_err_kpc,
-- fp_per_field, fp_per_deg2}}, best (index, highest F1, lowest threshold on ties), n_fields,
-- n_targets, n_candidates, area_deg2, max_kpc, distances (kpc, TPs at the best threshold),
-- fp_kinds = {duplicate, near_target, other_object = {[what] = n}, nothing, total} at the best
-- threshold, per_field = {{n_targets, n_candidates, tp, fp, fn (at the best threshold)}}, by_look =
-- {[look] = {targets, found, recall}} at the best threshold (a target's `look`, default "unknown")}.
function M.score(fields, opts)
  opts = opts or {}
  local max_kpc = opts.max_kpc or M.defaults.max_kpc
  local mopts = {max_kpc = max_kpc, h0 = opts.h0 or M.defaults.h0, om = opts.om or M.defaults.om}
  local thr = opts.thresholds or M.thresholds(opts.step or M.defaults.step)
  if type(fields) ~= "table" or #fields == 0 then error("fieldeval.score: no fields to score", 2) end
  -- every candidate of every field with its match: {score, dist_kpc (nil: unmatched), dup, field,
  -- near_kpc (nearest target), other_kpc / other_what (nearest non-target object)}
  local all, n_targets, area = {}, 0, 0
  for f, fd in ipairs(fields) do
    local cands, targets = fd.candidates or {}, fd.targets or {}
    if not (type(fd.area_deg2) == "number" and fd.area_deg2 > 0) then
      error(string.format("fieldeval.score: field %d has no area_deg2 (> 0)", f), 2)
    end
    area = area + fd.area_deg2
    n_targets = n_targets + #targets
    local list = {}
    for i, c in ipairs(cands) do list[i] = {score = c.score, field = f, ra = c.ra, dec = c.dec} end
    if #targets > 0 and #cands > 0 then
      local m = dc.match(cands, targets, mopts)
      for i, p in ipairs(m.preds) do
        list[i].dist_kpc = p.truth and p.dist_kpc or nil
        list[i].target = p.truth
        list[i].dup = p.dup
        list[i].near_kpc = p.nearest_kpc
      end
    end
    local others = fd.others or {}
    if #others > 0 and #cands > 0 then
      local m = dc.match(cands, others, mopts)
      for i, p in ipairs(m.preds) do
        list[i].other_kpc = p.nearest_kpc
        list[i].other_what = others[p.nearest].what or "object"
      end
    end
    for _, c in ipairs(list) do all[#all + 1] = c end
  end
  local rows = {}
  for t, v in ipairs(thr) do
    local r = {threshold = v, n_above = 0, tp = 0, fp = 0, dup = 0}
    local sum2 = 0
    for _, c in ipairs(all) do
      if c.score > v then
        r.n_above = r.n_above + 1
        if c.dist_kpc then
          r.tp = r.tp + 1
          sum2 = sum2 + c.dist_kpc * c.dist_kpc
        else
          r.fp = r.fp + 1
          if c.dup then r.dup = r.dup + 1 end
        end
      end
    end
    r.fn = n_targets - r.tp
    r.precision = r.n_above > 0 and r.tp / r.n_above or 0
    r.recall = n_targets > 0 and r.tp / n_targets or 0
    local pr = r.precision + r.recall
    r.f1 = pr > 0 and 2 * r.precision * r.recall / pr or 0
    r.std_err_kpc = r.tp > 0 and math.sqrt(sum2 / r.tp) or nil -- paper eq. 8, as deepcee.match
    r.fp_per_field = r.fp / #fields
    r.fp_per_deg2 = r.fp / area
    rows[t] = r
  end
  local best = 1
  for t, r in ipairs(rows) do if r.f1 > rows[best].f1 then best = t end end
  local b = rows[best]
  local kinds = {duplicate = 0, near_target = 0, other_object = {}, nothing = 0, total = 0}
  local distances, per_field = {}, {}
  for f, fd in ipairs(fields) do
    per_field[f] = {n_targets = #(fd.targets or {}), n_candidates = #(fd.candidates or {}), tp = 0, fp = 0}
  end
  for _, c in ipairs(all) do
    if c.score > b.threshold then
      local pf = per_field[c.field]
      if c.dist_kpc then
        distances[#distances + 1] = c.dist_kpc
        pf.tp = pf.tp + 1
      else
        pf.fp = pf.fp + 1
        kinds.total = kinds.total + 1
        if c.dup then kinds.duplicate = kinds.duplicate + 1
        elseif c.other_kpc and c.other_kpc <= max_kpc then
          kinds.other_object[c.other_what] = (kinds.other_object[c.other_what] or 0) + 1
        elseif c.near_kpc and c.near_kpc <= 2 * max_kpc then kinds.near_target = kinds.near_target + 1
        else kinds.nothing = kinds.nothing + 1 end
      end
    end
  end
  for _, pf in ipairs(per_field) do pf.fn = pf.n_targets - pf.tp end
  -- recall at the best threshold by the targets' look (fieldeval.look; targets without one: "unknown")
  local by_look, found = {}, {}
  for _, c in ipairs(all) do
    if c.score > b.threshold and c.dist_kpc then found[c.field .. ":" .. c.target] = true end
  end
  for f, fd in ipairs(fields) do
    for t, tg in ipairs(fd.targets or {}) do
      local l = tg.look or "unknown"
      local e = by_look[l] or {targets = 0, found = 0}
      by_look[l] = e
      e.targets = e.targets + 1
      if found[f .. ":" .. t] then e.found = e.found + 1 end
    end
  end
  for _, e in pairs(by_look) do e.recall = e.found / e.targets end
  return {rows = rows, best = best, n_fields = #fields, n_targets = n_targets, n_candidates = #all,
          area_deg2 = area, max_kpc = max_kpc, distances = distances, fp_kinds = kinds, per_field = per_field,
          by_look = by_look}
end

-- One line on what the false positives at the best threshold lie on.
function M.fp_kinds_text(result)
  local k = result.fp_kinds
  local parts = {}
  local whats = {}
  for w in pairs(k.other_object) do whats[#whats + 1] = w end
  table.sort(whats)
  local n_other = 0
  for _, w in ipairs(whats) do
    n_other = n_other + k.other_object[w]
    parts[#parts + 1] = string.format("%d on %s", k.other_object[w], w)
  end
  local thr = result.rows[result.best].threshold
  return string.format("False positives at the %g %% threshold: %d in all; %d duplicates of a found target, "
    .. "%d within %g kpc of a non-target truth object%s, %d off-centre on a target (%g-%g kpc), %d on none of these",
    thr * 100, k.total, k.duplicate, n_other, result.max_kpc,
    #parts > 0 and " (" .. table.concat(parts, ", ") .. ")" or "", k.near_target, result.max_kpc,
    2 * result.max_kpc, k.nothing)
end

-- ---------------------------------------------------------------- the fields

local function check(cfg)
  local function need(ok, msg, ...)
    if not ok then error("fieldeval: " .. string.format(msg, ...), 0) end
  end
  for _, k in ipairs({"seed", "fields", "field_px"}) do
    need(math.tointeger(cfg[k]) ~= nil, "%s must be an integer, got %s", k, tostring(cfg[k]))
    cfg[k] = math.tointeger(cfg[k])
  end
  need(cfg.fields >= 1, "fields must be >= 1, got %d", cfg.fields)
  need(cfg.field_px >= 64 and cfg.field_px <= 20000, "field_px must be 64..20000, got %d", cfg.field_px)
  need(cfg.max_offset >= 0 and cfg.max_offset < cfg.field_px * SDSS_PIXEL / 2,
    "max_offset=%g\" would put targets outside a %d px field (%.1f\" half-width)", cfg.max_offset, cfg.field_px,
    cfg.field_px * SDSS_PIXEL / 2)
  need(cfg.max_kpc > 0, "max_kpc must be > 0")
  cfg.region = util.config(M.region_defaults, cfg.region, "fieldeval region")
  local g = cfg.region
  need(g.ra_min < g.ra_max and g.dec_min < g.dec_max, "region must have ra_min < ra_max and dec_min < dec_max")
  need(cfg.sky.width == nil and cfg.sky.height == nil and cfg.sky.ra == nil and cfg.sky.dec == nil,
    "sky may not set width, height, ra or dec (field_px and the targets set them)")
  need(cfg.sky.model == nil, "sky.model has no effect: survey:field takes the survey's cluster model; give "
    .. "survey = {model = {...}}")
  for _, k in ipairs({"seed", "ra_min", "ra_max", "dec_min", "dec_max"}) do
    need(cfg.survey[k] == nil, "survey may not set %s (seed and region are fieldeval's own keys)", k)
  end
  detect.check_overrides(cfg.detect, "fieldeval")
  M.thresholds(cfg.step)
end

-- The survey config of a run.
local function survey_config(cfg)
  local s = {seed = cfg.seed + 2, ra_min = cfg.region.ra_min, ra_max = cfg.region.ra_max,
             dec_min = cfg.region.dec_min, dec_max = cfg.region.dec_max, vary = cfg.vary}
  for k, v in pairs(cfg.survey) do s[k] = v end
  return s
end

-- The field config of a run.
local function field_config(cfg)
  local f = dataset.sky(cfg, cfg.field_px) -- the training sky's keys
  for k, v in pairs(cfg.sky) do f[k] = v end
  return f
end

-- Whether the simulator accepts the sky and survey overrides: nil, or the error's text (with the
-- unknown key's name when that is the reason). Cheap: a tiny survey and a 32 px field.
function M.check_keys(sky, survey)
  local s = {seed = 1, ra_min = 0, ra_max = 0.2, dec_min = 0, dec_max = 0.2}
  for k, v in pairs(survey or {}) do s[k] = v end
  local ok, err = pcall(function()
    local sv <close> = dc.sim_survey(s)
    local f = {width = 32, height = 32}
    for k, v in pairs(sky or {}) do f[k] = v end
    local fld <close> = sv:field(f, 0.1, 0.1, 1)
  end)
  if ok then return nil end
  return tostring(err), tostring(err):match("unknown key '([^']+)'")
end

local function rm(path) os.remove(path) end

-- How the false-positive summary names the simulator's confounder kinds.
M.confounder_names = {lrg = "isolated LRGs", pair = "galaxy pairs", compact_group = "compact groups",
  foreground = "foreground groups (z < 0.08)", background = "background clusters (0.25 < z < 0.6)",
  poor = "poor clusters failing the N200 cut"}

-- What a target looks like, for the recall by look (score's by_look): "miscentred" (its members
-- centre more than max_kpc from the BCG, the catalogue position), "bimodal" (a second sub-clump),
-- "centred" (neither), or "unknown" (no simulator look: vary off, or not in the field's truth).
function M.look(c, max_kpc)
  if not c or c.miscentre_kpc == nil then return "unknown" end
  if c.miscentre_kpc > max_kpc then return "miscentred" end
  if c.bimodal then return "bimodal" end
  return "centred"
end

-- "centred 104/124 (0.84), miscentred 20/33 (0.61), ..." (score's by_look, fixed order).
function M.by_look_text(result)
  local t = {}
  for _, l in ipairs({"centred", "bimodal", "miscentred", "unknown"}) do
    local e = result.by_look[l]
    if e then t[#t + 1] = string.format("%s %d/%d (%.2f)", l, e.found, e.targets, e.recall) end
  end
  return table.concat(t, ", ")
end

-- Render, detect and collect one field. Returns the field's record for score() and fields.json.
local function one_field(cfg, k, survey, target, catalogued, in_whl, fcfg, weights)
  local n = cfg.field_px
  local grid <close> = dc.wcs_tan({x = 0, y = 0, ra = target.ra, dec = target.dec, scale = 1})
  local plan = dc.cutout_plan(grid, 1, 1, target.ra, target.dec, 1,
    {max_offset = cfg.max_offset, seed = hash(string.format("field:%d:%d", cfg.seed, k))})
  local ra_c, dec_c = grid:pix2world(plan.dx_arcsec, plan.dy_arcsec)
  local w <close> = dc.wcs_tan({x = (n - 1) / 2, y = (n - 1) / 2, ra = ra_c, dec = dec_c, scale = SDSS_PIXEL})
  local dir = string.format("%s/field-%03d", cfg.out, k)
  util.mkdir(dir)
  local t0 = dc.now()
  local f <close> = survey:field(fcfg, ra_c, dec_c, k)
  -- the drawn target must be where the TAN projection puts it (as the dataset checks its cut-outs)
  local tx, ty = w:world2pix(target.ra, target.dec)
  local clusters, truth = f:clusters(), {} -- the field's truth objects, and by survey id
  for _, c in ipairs(clusters) do truth[c.id] = c end
  local found = truth[target.sim_id]
  if not found or math.abs(found.x - tx) > 1e-3 or math.abs(found.y - ty) > 1e-3 then
    error(string.format("fieldeval: field %d: target %s (survey id %d) is not at (%.3f, %.3f) in its field",
      k, target.id, target.sim_id, tx, ty), 0)
  end
  f:write(dir, "field", {preview_size = 256})
  local t_render = dc.now() - t0
  t0 = dc.now()
  local dcfg = {g = dir .. "/field-g.fits", r = dir .. "/field-r.fits", i = dir .. "/field-i.fits",
    threshold = 0, quiet = true, out = dir, weights = weights}
  for key, v in pairs(cfg.detect) do dcfg[key] = v end
  local cands = detect.run(dcfg)
  local t_detect = dc.now() - t0
  if not cfg.keep then
    for _, b in ipairs({"g", "r", "i"}) do rm(dir .. "/field-" .. b .. ".fits") end
    rm(dir .. "/field.png")
    rm(dir .. "/field-truth.fits")
  end
  -- targets: catalogued clusters passing the cuts with the BCG in the field; others: the rest of
  -- the truth there (clusters failing the cuts, uncatalogued groups)
  local function inside(ra, dec)
    if math.abs(dec - dec_c) > n * SDSS_PIXEL / 3600 then return false end
    local ok, x, y = pcall(w.world2pix, w, ra, dec)
    return ok and x >= -0.5 and y >= -0.5 and x <= n - 0.5 and y <= n - 0.5, x, y
  end
  local targets, ids = {}, {}
  for _, r in ipairs(catalogued) do
    local ok, x, y = inside(r.ra, r.dec)
    if ok then
      targets[#targets + 1] = {ra = r.ra, dec = r.dec, z = r.z, id = r.id, n200 = r.n200, x = x, y = y,
        drawn = r == target, look = M.look(truth[r.sim_id], cfg.max_kpc)}
      ids[r.sim_id] = true
    end
  end
  local others = {}
  for _, c in ipairs(clusters) do
    if not (c.kind == "cluster" and ids[c.id]) then
      local what = c.kind .. "s (not catalogued)"
      if c.kind == "cluster" then
        what = in_whl[c.id] and "catalogued clusters failing the cuts" or "uncatalogued clusters (N200 < 8)"
      end
      others[#others + 1] = {ra = c.bcg_ra, dec = c.bcg_dec, z = c.z, n200 = c.n200, kind = c.kind, what = what}
    end
  end
  -- and the confounders the field renders (docs/sky-confounders.md), not truth clusters but what a
  -- false positive may sit on
  local half = n * SDSS_PIXEL / 3600 / 2
  local hra = half / math.max(math.cos(math.rad(dec_c)), 1e-6)
  for _, c in ipairs(survey:confounders(fcfg, ra_c - hra, ra_c + hra, dec_c - half, dec_c + half)) do
    if inside(c.ra, c.dec) then
      others[#others + 1] = {ra = c.ra, dec = c.dec, z = c.z, n200 = c.n200, kind = c.kind,
        what = M.confounder_names[c.kind] or c.kind}
    end
  end
  local area = n * n * (w:pixel_scale((n - 1) / 2, (n - 1) / 2) / 3600) ^ 2
  local list = {}
  for i, c in ipairs(cands) do list[i] = {ra = c.ra, dec = c.dec, score = c.score, x = c.x, y = c.y} end
  return {field = k, ra = ra_c, dec = dec_c, offset_x = plan.dx_arcsec, offset_y = plan.dy_arcsec,
    target = target.id, candidates = list, targets = targets, others = others, area_deg2 = area,
    seconds_render = t_render, seconds_detect = t_detect, dir = dir}
end

-- Run the whole-field evaluation (keys of M.defaults; unknown keys are errors). Returns score()'s
-- result plus fields (the per-field records), config, seconds, seconds_per_field, simulated = true.
function M.run(user)
  local cfg = util.config(M.defaults, user, "fieldeval")
  check(cfg)
  local t0 = dc.now()
  util.mkdir(cfg.out)
  local scfg = survey_config(cfg)
  local survey <close> = dc.sim_survey(scfg)
  local catalogued, in_whl = dataset.survey_targets(survey, cfg, cfg.out .. "/catalog-whl12.fits")
  if #catalogued < cfg.fields then
    error(string.format("fieldeval: the survey region RA %g..%g, Dec %g..%g holds %d clusters passing the cuts, "
      .. "fewer than fields=%d: widen region or ask for fewer fields", cfg.region.ra_min, cfg.region.ra_max,
      cfg.region.dec_min, cfg.region.dec_max, #catalogued, cfg.fields), 0)
  end
  table.sort(catalogued, function(a, b) return a.sim_id < b.sim_id end)
  local order = {}
  for k = 1, #catalogued do order[k] = catalogued[k] end
  math.randomseed(cfg.seed, 3)
  for i = #order, 2, -1 do
    local j = math.random(i)
    order[i], order[j] = order[j], order[i]
  end
  say(cfg.quiet, "whole fields (SIMULATED): survey seed %d, RA %g..%g, Dec %g..%g: %d clusters pass the cuts "
    .. "(%g < z < %g, N200 >= %g); %d fields of %d px, offsets within +-%g\" [%s]", scfg.seed, cfg.region.ra_min,
    cfg.region.ra_max, cfg.region.dec_min, cfg.region.dec_max, #catalogued, cfg.cut_z_min, cfg.cut_z_max,
    cfg.cut_n200_min, cfg.fields, cfg.field_px, cfg.max_offset, util.duration(dc.now() - t0))
  local fcfg = field_config(cfg)
  local fields, t1 = {}, dc.now()
  for k = 1, cfg.fields do
    local fd = one_field(cfg, k, survey, order[k], catalogued, in_whl, fcfg, cfg.weights)
    fields[k] = fd
    if dc.interrupted() then error(string.format("fieldeval: interrupted after %d of %d fields", k, cfg.fields), 0) end
    local rate = (dc.now() - t1) / k
    say(cfg.quiet, "  field %d/%d: %d target%s, %d candidates (best score %.2f); %.1f s/field (render %.1f, detect "
      .. "%.1f), ETA %s", k, cfg.fields, #fd.targets, #fd.targets == 1 and "" or "s", #fd.candidates,
      fd.candidates[1] and fd.candidates[1].score or 0, rate, fd.seconds_render, fd.seconds_detect,
      util.duration(rate * (cfg.fields - k)))
  end
  local result = M.score(fields, {max_kpc = cfg.max_kpc, h0 = cfg.h0, om = cfg.om, step = cfg.step})
  result.fields, result.config, result.simulated = fields, cfg, true
  result.seconds = dc.now() - t0
  result.seconds_per_field = (dc.now() - t1) / cfg.fields
  M.write(cfg.out, result)
  local b = result.rows[result.best]
  say(cfg.quiet, "whole fields (SIMULATED, %d fields, %d targets): best F1 %.3f at %g %% (precision %.3f, recall "
    .. "%.3f), %.2f FP per field (%.1f per deg^2), centre std. error %s kpc; %s [%s]", cfg.fields, result.n_targets,
    b.f1, b.threshold * 100, b.precision, b.recall, b.fp_per_field, b.fp_per_deg2,
    b.std_err_kpc and string.format("%.1f", b.std_err_kpc) or "n/a", cfg.out .. "/fields.json",
    util.duration(result.seconds))
  say(cfg.quiet, "  recall by look at the best threshold: %s", M.by_look_text(result))
  return result
end

-- ---------------------------------------------------------------- files

local COLUMNS = {"threshold", "n_above", "tp", "fp", "fn", "dup", "precision", "recall", "f1", "fp_per_field",
                 "fp_per_deg2", "std_err_kpc"}

local function num(v)
  if v == nil then return "" end
  if math.type(v) == "integer" then return tostring(v) end
  if v ~= v then return "" end
  return string.format("%.10g", v)
end

-- Write fields_table.csv and fields.json of a run's result into dir.
function M.write(dir, result)
  local lines = {table.concat(COLUMNS, ",") .. ",best,simulated"}
  for t, r in ipairs(result.rows) do
    local v = {}
    for c, k in ipairs(COLUMNS) do v[c] = num(r[k]) end
    lines[#lines + 1] = table.concat(v, ",") .. "," .. (t == result.best and "1" or "0") .. ",1"
  end
  util.write_file(dir .. "/fields_table.csv", table.concat(lines, "\n") .. "\n")
  local report = require("report")
  local per_field = {}
  for k, fd in ipairs(result.fields or {}) do
    local pf = result.per_field[k]
    per_field[k] = {field = fd.field, ra = fd.ra, dec = fd.dec, offset_x = fd.offset_x, offset_y = fd.offset_y,
      drawn_target = fd.target, targets = fd.targets, n_others = #fd.others, n_candidates = #fd.candidates,
      area_deg2 = fd.area_deg2, tp = pf.tp, fp = pf.fp, fn = pf.fn, seconds_render = fd.seconds_render,
      seconds_detect = fd.seconds_detect, candidates = fd.dir:match("[^/]+$") .. "/candidates.csv"}
  end
  local cfg = result.config or {}
  util.write_file(dir .. "/fields.json", report.json({simulated = true, config = cfg, rows = result.rows,
    best = result.best, n_fields = result.n_fields, n_targets = result.n_targets, n_candidates = result.n_candidates,
    area_deg2 = result.area_deg2, max_kpc = result.max_kpc, fp_kinds = result.fp_kinds, by_look = result.by_look,
    seconds = result.seconds, seconds_per_field = result.seconds_per_field, per_field = per_field,
    deepcee = {version = dc.version, commit = dc.commit}}) .. "\n")
end

return M
