-- A survey: the detector over many fields, one merged candidate catalogue (issue 11).
--
--   deepcee survey images=FOLDER|LIST.csv [out=survey-out threshold=0.5 ...]
--   deepcee survey ra_min= ra_max= dec_min= dec_max= [field_px=2000 field_overlap=0.1 seed=1 ...]
--   mpirun -np N deepcee survey ...            the fields shared over N ranks
--
-- The fields: g, r, i triplets in any form `deepcee dataset source=files` takes (lua/triplets.lua:
-- a folder of <stem>-g.fits ..., SDSS frame-<band>-... names, or a CSV listing with columns g, r,
-- i), or a sky region (RA/Dec box) of the simulator, cut into a grid of field_px x field_px fields
-- overlapping by field_overlap of a side and rendered one by one (SIMULATED; as lua/fieldeval.lua
-- renders whole fields). Each field goes through detect.run (lua/detect.lua) with the survey's
-- threshold and detect keys.
--
-- Ranks (lua side of engine/lua/l_mpi.c): rank 0 hands the fields out one by one as ranks finish
-- (each other rank holds up to M.prefetch fields, so that it seldom waits for rank 0), works on fields
-- itself in between, gathers every result, writes every file and prints the progress. Each rank
-- uses its own OpenCL device (the node-local rank's turn; --device / DEEPCEE_DEVICE override).
-- Without mpirun (or without MPI in the build) it is the same with one rank.
--
-- Output in `out`:
--   survey.lua                       the effective config (another config in the same out is an error)
--   fields/<id>.lua                  one field's result, written atomically as it finishes (data:
--                                    status, failure reason, footprint, candidates); a survey
--                                    started again with the same command skips these fields
--   candidates.{fits,csv,reg}        the merged catalogue (detect.catalog_write): candidates of all
--                                    fields, a candidate within merge_arcsec of a higher-scoring one
--                                    of another field dropped (the duplicates of field overlaps),
--                                    with the field it came from, its pixel position there and the
--                                    number of fields it was seen in
--   skymap.png                       the footprint (fields, failed ones marked) with the candidates,
--                                    and the candidate density per field
--   summary.txt, summary.json        fields, deg^2, candidates, candidates per deg^2, failed fields
--                                    and why, timing
-- A bad field (unreadable file, no WCS, too small, ...) is recorded as failed with its reason and
-- does not stop the survey; retry_failed=true tries such fields again.
local dc = require("deepcee")
local util = require("deepcee_util")
local detect = require("detect")
local triplets = require("triplets")

local M = {}

local SDSS_PIXEL = 0.396 -- arcsec per pixel, the simulator's scale (docs/facts.md 4)

M.defaults = {
  images = "",                -- folder of g, r, i triplets or a CSV listing them (lua/triplets.lua); "":
  ra_min = 0, ra_max = 0,     -- a simulated sky region instead: RA range (deg) ...
  dec_min = 0, dec_max = 0,   -- ... and Dec range (deg)
  seed = 1,                   -- simulated region: the survey's seed (sky, clusters, noise)
  field_px = 2000,            -- simulated region: field width and height (px, 0.396"/px)
  field_overlap = 0.1,        -- simulated region: neighbouring fields overlap by this fraction of a side
  vary = true,                -- simulated region: the sky's keys as in lua/dataset.lua (dataset.sky)
  confounders = true,
  artefacts = true,
  weights = "",               -- the detector (default: detect's, the shipped weights/demo.dcw)
  threshold = detect.defaults.threshold, -- minimum score of a candidate
  tta = detect.defaults.tta,  -- grid symmetries per tile (1, 2, 4, 8: detect's key)
  detect = {},                -- more of detect's keys for every field (core, suppress, overlap, ...)
  merge_arcsec = 96.6,        -- candidates of different fields closer than this are one (1.61':
                              -- 250 kpc at z = 0.15, the paper's cross-match radius, docs/facts.md 3)
  out = "survey-out",
  field_outputs = false,      -- keep detect's per-field output (candidates.png, ...) in out/fields/<id>/
  retry_failed = false,       -- started again: run the fields that failed before once more
  progress_s = 10,            -- seconds between progress lines (0: after every field)
  quiet = false,
}

M.ranges = {
  ra_min = {0, 360}, ra_max = {0, 360}, dec_min = {-90, 90}, dec_max = {-90, 90},
  seed = {0, 2 ^ 53, "integer"},
  field_px = {64, 20000, "integer"},
  field_overlap = {0, 0.9},
  threshold = detect.ranges.threshold,
  tta = detect.ranges.tta,
  merge_arcsec = {0, 3600},
  progress_s = {0, 86400},
}

-- Keys that do not change a survey's results: a survey started again may change them.
M.free_keys = {out = true, field_outputs = true, retry_failed = true, progress_s = true, quiet = true}

-- Fields a rank other than 0 holds at once (the one it works on and the next two): rank 0 answers
-- a result only between its own fields, so with two a rank waited about a quarter of the time in
-- the 676-field benchmark (bench/README.md, "Survey").
M.prefetch = 3

-- Message tags between ranks.
local TAG_FIELD, TAG_RESULT, TAG_STOP = 1, 2, 3

local function check_config(cfg)
  if cfg.images == "" then
    if not (cfg.ra_min < cfg.ra_max and cfg.dec_min < cfg.dec_max) then
      error("survey: give images=FOLDER or images=LIST.csv (g, r, i triplets), or a simulated sky region "
        .. "ra_min= ra_max= dec_min= dec_max= (degrees, min < max)", 0)
    end
  elseif cfg.ra_min ~= 0 or cfg.ra_max ~= 0 or cfg.dec_min ~= 0 or cfg.dec_max ~= 0 then
    error("survey: give images= or a sky region (ra_min, ra_max, dec_min, dec_max), not both", 0)
  end
  detect.check_overrides(cfg.detect, "survey")
  if cfg.detect.tta then error("survey: give tta as the survey's own key (tta=), not in detect", 0) end
end

-- ---------------------------------------------------------------- the fields

-- A name usable as a file name.
local function safe_id(s)
  return (s:gsub("[^%w%.%-_]", "_"))
end

-- The fields of a folder or CSV listing: {index, id, g, r, i}, ids unique.
local function file_fields(images)
  local list, out, seen = triplets.list(images, "survey"), {}, {}
  for k, t in ipairs(list) do
    local stem = triplets.parse_name(t.g:match("[^/]*$"))
    local id = safe_id(stem or string.format("row-%05d", k))
    if seen[id] then id = string.format("%s-%d", id, k) end
    seen[id] = true
    out[k] = {index = k, id = id, g = t.g, r = t.r, i = t.i}
  end
  return out
end

-- Centres of n fields `step` apart covering [lo, hi] (a side of `side`), symmetric about the middle.
local function centres(lo, hi, side, step)
  local n = math.max(1, math.ceil((hi - lo - side) / step - 1e-9) + 1)
  local mid, out = 0.5 * (lo + hi), {}
  for k = 1, n do out[k] = mid + (k - 1 - 0.5 * (n - 1)) * step end
  return out
end

-- The grid of a simulated region: rows of constant Dec `step` apart, and along each row field
-- centres spaced by step / cos(Dec) at the row's edge nearest the equator (where a field covers
-- the least RA), so that the fields overlap at least by field_overlap everywhere. Fields {index, id,
-- ra, dec, key (the render key)}.
function M.region_fields(cfg)
  local side = cfg.field_px * SDSS_PIXEL / 3600
  local step = side * (1 - cfg.field_overlap)
  local out = {}
  for row, dec in ipairs(centres(cfg.dec_min, cfg.dec_max, side, step)) do
    local c = math.cos(math.rad(math.min(math.max(math.abs(dec) - 0.5 * side, 0), 89.9)))
    for col, u in ipairs(centres(cfg.ra_min * c, cfg.ra_max * c, side, step)) do
      local k = #out + 1
      out[k] = {index = k, id = string.format("sim-r%03d-c%03d", row, col), ra = (u / c) % 360, dec = dec, key = k}
    end
  end
  return out
end

-- The simulated survey that renders a region's fields: its clusters over the region and a field
-- beyond it (so that the border fields hold clusters too), the box widened to whole degrees, so
-- that every region inside the same degree box sees the same sky (the simulator draws its
-- clusters for the box it is given).
function M.region_survey(cfg)
  local side = cfg.field_px * SDSS_PIXEL / 3600
  local c = math.max(math.cos(math.rad(math.min(math.max(math.abs(cfg.dec_min), math.abs(cfg.dec_max)) + side, 89))), 1e-3)
  return dc.sim_survey({seed = cfg.seed, ra_min = math.floor(cfg.ra_min - side / c), ra_max = math.ceil(cfg.ra_max + side / c),
    dec_min = math.max(math.floor(cfg.dec_min - side), -90), dec_max = math.min(math.ceil(cfg.dec_max + side), 90),
    vary = cfg.vary})
end

-- The footprint of an nx x ny field through its WCS: centre, corners (pixel edges, RA/Dec
-- alternating) and area (deg^2, from the pixel scale at the centre).
local function footprint(w, nx, ny)
  local ra, dec = w:pix2world((nx - 1) / 2, (ny - 1) / 2)
  local corners = {}
  for _, p in ipairs({{-0.5, -0.5}, {nx - 0.5, -0.5}, {nx - 0.5, ny - 0.5}, {-0.5, ny - 0.5}}) do
    local r, d = w:pix2world(p[1], p[2])
    corners[#corners + 1], corners[#corners + 2] = r, d
  end
  local s = w:pixel_scale((nx - 1) / 2, (ny - 1) / 2) / 3600
  return {ra = ra, dec = dec, corners = corners, area_deg2 = nx * ny * s * s, nx = nx, ny = ny}
end

-- ---------------------------------------------------------------- one field (any rank)

local function detect_config(cfg, g, r, i, out)
  local d = {g = g, r = r, i = i, weights = cfg.weights, threshold = cfg.threshold, tta = cfg.tta, out = out, quiet = true}
  for k, v in pairs(cfg.detect) do d[k] = v end
  return d
end

-- The work of one field; errors propagate (field_result turns them into a failed field).
local function run_field(cfg, spec, ctx, res)
  local out = cfg.field_outputs and string.format("%s/fields/%s", cfg.out, spec.id) or ctx.scratch
  if not ctx.made then
    util.mkdir(ctx.scratch)
    ctx.made = true
  end
  util.mkdir(out)
  local g, r, i = spec.g, spec.r, spec.i
  if spec.key then
    ctx.survey = ctx.survey or M.region_survey(cfg)
    ctx.sky = ctx.sky or require("dataset").sky(cfg, cfg.field_px)
    local n = cfg.field_px
    local w <close> = dc.wcs_tan({x = (n - 1) / 2, y = (n - 1) / 2, ra = spec.ra, dec = spec.dec, scale = SDSS_PIXEL})
    for k, v in pairs(footprint(w, n, n)) do res[k] = v end
    local f <close> = ctx.survey:field(ctx.sky, spec.ra, spec.dec, spec.key)
    f:write(ctx.scratch, "field", {preview_size = 64})
    g, r, i = ctx.scratch .. "/field-g.fits", ctx.scratch .. "/field-r.fits", ctx.scratch .. "/field-i.fits"
  else
    -- the footprint from the g band's WCS (detect checks that the three bands agree)
    local img, hdr = dc.fits_read(g)
    local nx, ny = img:size()
    img:free()
    local w = hdr:wcs() -- its error names the file
    for k, v in pairs(footprint(w, nx, ny)) do res[k] = v end
  end
  local t0 = dc.now()
  local cands = detect.run(detect_config(cfg, g, r, i, out))
  res.seconds_detect = dc.now() - t0
  res.candidates = {}
  for k, c in ipairs(cands) do res.candidates[k] = {ra = c.ra, dec = c.dec, x = c.x, y = c.y, score = c.score} end
  res.warnings = #cands.warnings
end

-- One field's result record: {index, id, status = "ok" | "failed", reason, footprint keys,
-- candidates, warnings, seconds, rank}. A Ctrl-C is not a failed field: it stops the survey.
local function field_result(cfg, spec, ctx)
  local t0 = dc.now()
  local res = {index = spec.index, id = spec.id, rank = ctx.rank}
  local ok, err = pcall(run_field, cfg, spec, ctx, res)
  if spec.key then
    for _, b in ipairs({"g", "r", "i"}) do os.remove(ctx.scratch .. "/field-" .. b .. ".fits") end
  end
  if dc.interrupted() then error("survey: interrupted (Ctrl-C); start it again with the same command to resume", 0) end
  if ok then
    res.status = "ok"
  else
    -- the message's first line without the Lua source position
    local why = tostring(err):match("^[^\n]*"):gsub('^%[string "[^"]*"%]:%d+: ', ""):gsub("^[%w_/%.%-]+%.lua:%d+: ", "")
    res.status, res.reason, res.candidates = "failed", why, {}
  end
  res.seconds = dc.now() - t0
  return res
end

-- ---------------------------------------------------------------- gathering (rank 0)

local function result_path(cfg, id) return string.format("%s/fields/%s.lua", cfg.out, id) end

-- The result recorded for a field, or nil; a file that is not a result of this field is an error
-- saying what to do.
local function read_result(cfg, spec)
  local path = result_path(cfg, spec.id)
  if not util.exists(path) then return nil end
  local r = util.read_data(path, true)
  if type(r) ~= "table" or r.id ~= spec.id or (r.status ~= "ok" and r.status ~= "failed") or type(r.candidates) ~= "table" then
    error(string.format("survey: %s is not the result of field %s; remove it to run the field again", path, spec.id), 0)
  end
  return r
end

-- The effective config in out/survey.lua: written on the first start; a later start must give the
-- same settings (bar M.free_keys), else an error naming the key.
local function check_out(cfg)
  util.mkdir(cfg.out .. "/fields")
  local path = cfg.out .. "/survey.lua"
  local old = util.read_data(path)
  local function show(v) return type(v) == "table" and util.serialize(v) or string.format(type(v) == "string" and "%q" or "%s", v) end
  if old then
    for k, v in pairs(cfg) do
      if not M.free_keys[k] and util.serialize(v) ~= util.serialize(old[k]) then
        error(string.format("survey: %s holds a survey with %s = %s, not %s: give the same settings to resume it, "
          .. "or another out=", path, k, show(old[k]), show(v)), 0)
      end
    end
  end
  util.write_file(path, "return " .. util.serialize(cfg) .. "\n")
end

-- One candidate per object across fields. fields: results (status "ok") in field order. Candidates
-- are taken by decreasing score (ties: field order, then the field's own order); one within
-- radius_arcsec of a kept candidate of another field is a duplicate (it raises that one's count of
-- fields). Returns the kept candidates {ra, dec, x, y, score, field (id), n_fields}, best first,
-- and the number of candidates before merging.
function M.merge(fields, radius_arcsec)
  local all = {}
  for f, r in ipairs(fields) do
    for k, c in ipairs(r.candidates) do all[#all + 1] = {c = c, f = f, k = k} end
  end
  table.sort(all, function(a, b)
    if a.c.score ~= b.c.score then return a.c.score > b.c.score end
    if a.f ~= b.f then return a.f < b.f end
    return a.k < b.k
  end)
  -- kept candidates hashed on cells of the unit sphere (cube cells of the radius's chord)
  local cell = math.max(2 * math.sin(math.rad(radius_arcsec / 3600) / 2), 1e-9)
  local grid, kept = {}, {}
  local function key(i, j, l) return string.format("%d:%d:%d", i, j, l) end
  for _, a in ipairs(all) do
    local ra, dec = math.rad(a.c.ra), math.rad(a.c.dec)
    local x, y, z = math.cos(dec) * math.cos(ra), math.cos(dec) * math.sin(ra), math.sin(dec)
    local i, j, l = math.floor(x / cell), math.floor(y / cell), math.floor(z / cell)
    local dup
    for di = -1, 1 do for dj = -1, 1 do for dl = -1, 1 do
      for _, o in ipairs(grid[key(i + di, j + dj, l + dl)] or {}) do
        if not dup and o.f ~= a.f and dc.sep_arcsec(o.ra, o.dec, a.c.ra, a.c.dec) <= radius_arcsec then dup = o end
      end
    end end end
    if dup then
      if not dup.seen[a.f] then dup.seen[a.f], dup.n_fields = true, dup.n_fields + 1 end
    else
      local o = {ra = a.c.ra, dec = a.c.dec, x = a.c.x, y = a.c.y, score = a.c.score, f = a.f, field = fields[a.f].id,
        n_fields = 1, seen = {[a.f] = true}}
      kept[#kept + 1] = o
      local kk = key(i, j, l)
      grid[kk] = grid[kk] or {}
      table.insert(grid[kk], o)
    end
  end
  return kept, #all
end

-- The footprint's area counted once where fields overlap: cells of about a tenth of the smallest
-- field's side on rows of constant Dec, a cell counted when its centre is inside a field (the
-- fields' corners in their local tangent plane). on_cell(ra, dec, deg2), when given, is called once
-- per cell counted, with its centre and area. Returns deg^2 and the cell side (deg).
function M.union_area(fields, on_cell)
  local side = math.huge
  for _, r in ipairs(fields) do side = math.min(side, math.sqrt(r.area_deg2)) end
  if side == math.huge then return 0, 0 end
  local c = side / 10
  local cells, n = {}, 0
  for _, r in ipairs(fields) do
    local cosd = math.max(math.cos(math.rad(r.dec)), 1e-6)
    local px, py, dlo, dhi = {}, {}, math.huge, -math.huge
    for k = 1, 4 do
      local ra, dec = r.corners[2 * k - 1], r.corners[2 * k]
      px[k], py[k] = ((ra - r.ra + 180) % 360 - 180) * cosd, dec - r.dec
      dlo, dhi = math.min(dlo, dec), math.max(dhi, dec)
    end
    local function inside(x, y) -- convex quadrilateral, either orientation
      local sgn = 0
      for k = 1, 4 do
        local m = k % 4 + 1
        local cr = (px[m] - px[k]) * (y - py[k]) - (py[m] - py[k]) * (x - px[k])
        if cr ~= 0 then
          local s = cr > 0 and 1 or -1
          if sgn == 0 then sgn = s elseif s ~= sgn then return false end
        end
      end
      return true
    end
    local half = 0
    for k = 1, 4 do half = math.max(half, math.abs(px[k])) end
    for j = math.floor(math.max(dlo, -90) / c), math.floor(math.min(dhi, 90 - 1e-9) / c) do
      local dj = (j + 0.5) * c
      local ncol = math.max(1, math.floor(360 * math.cos(math.rad(dj)) / c))
      local cw = 360 / ncol
      local span = half / math.max(math.cos(math.rad(dj)), 1e-6)
      for i = math.floor((r.ra - span) / cw), math.floor((r.ra + span) / cw) do
        local ri = (i + 0.5) * cw
        if inside(((ri - r.ra + 180) % 360 - 180) * cosd, dj - r.dec) then
          local k = j * 100000000 + i % ncol
          if not cells[k] then
            cells[k], n = true, n + 1
            if on_cell then on_cell(ri % 360, dj, c * c) end
          end
        end
      end
    end
  end
  return n * c * c, c
end

-- The merged catalogue as detect's catalogue table.
local function catalogue(kept)
  local names = {"id", "ra", "dec", "score", "field", "x", "y", "n_fields"}
  local cols = {}
  for _, k in ipairs(names) do cols[k] = {} end
  for k, o in ipairs(kept) do
    cols.id[k] = string.format("S%05d", k)
    cols.ra[k], cols.dec[k], cols.score[k], cols.field[k] = o.ra, o.dec, o.score, o.field
    cols.x[k], cols.y[k], cols.n_fields[k] = o.x, o.y, o.n_fields
  end
  return {nrows = #kept, names = names, units = {ra = "deg", dec = "deg", x = "pix", y = "pix"}, cols = cols}
end

-- skymap.png: the footprint (fields, failed ones marked) with the candidates, and the candidate
-- density on sky bins of about a tenth of the footprint's extent (at least a field's side): each
-- bin's candidates over its area inside the footprint (bins.area, from M.union_area's cells),
-- drawn at the bin's centre of area in classes relative to the survey's mean.
local function skymap(path, ok_fields, failed, kept, per_deg2, bins)
  local foot, dens = {}, {}
  local function outline(r, color, label)
    local x, y = {}, {}
    for k = 0, 4 do
      local j = k % 4 + 1
      x[k + 1], y[k + 1] = r.corners[2 * j - 1], r.corners[2 * j]
    end
    foot[#foot + 1] = {x = x, y = y, style = "line", color = color, label = label}
  end
  for k, r in ipairs(ok_fields) do outline(r, "grey", k == 1 and "fields" or nil) end
  for k, r in ipairs(failed) do if r.corners then outline(r, "vermillion", k == 1 and "failed fields" or nil) end end
  if #kept > 0 then
    local x, y = {}, {}
    for k, o in ipairs(kept) do x[k], y[k] = o.ra, o.dec end
    foot[#foot + 1] = {x = x, y = y, style = "points", color = "blue", label = "candidates"}
  end
  for _, o in ipairs(kept) do
    local b = bins.of(o.ra, o.dec)
    if b then b.n = b.n + 1 end
  end
  local classes = {{"none", "grey"}, {"below 0.5 x the mean", "sky"}, {"0.5-1.5 x the mean", "green"},
    {"above 1.5 x the mean", "vermillion"}}
  local pts = {}
  for _, b in ipairs(bins.list) do
    local d = b.n / b.area
    local c = b.n == 0 and 1 or d < 0.5 * per_deg2 and 2 or d <= 1.5 * per_deg2 and 3 or 4
    pts[c] = pts[c] or {x = {}, y = {}}
    table.insert(pts[c].x, b.ra / b.cells)
    table.insert(pts[c].y, b.dec / b.cells)
  end
  for c, cl in ipairs(classes) do
    if pts[c] then dens[#dens + 1] = {x = pts[c].x, y = pts[c].y, style = "points", color = cl[2], width = 2, label = cl[1]} end
  end
  if #foot == 0 then foot[1] = {x = {0}, y = {0}, style = "points", color = "grey"} end
  if #dens == 0 then dens[1] = {x = {0}, y = {0}, style = "points", color = "grey"} end
  dc.plot{file = path, width = 1400, height = 650, cols = 2, panels = {
    {title = "footprint and candidates", xlabel = "RA (deg)", ylabel = "Dec (deg)", series = foot},
    {title = string.format("candidates per deg^2 on %.2f deg bins (mean %.2f)", bins.side, per_deg2),
      xlabel = "RA (deg)", ylabel = "Dec (deg)", series = dens}}}
end

-- Sky bins of side `side` (deg) on rows of constant Dec: bins.of(ra, dec) -> the bin (made on first
-- use: {n (candidates), area (deg^2), cells, ra, dec (sums of its cells' centres)}), bins.list.
local function sky_bins(side)
  local bins = {side = side, list = {}, map = {}}
  function bins.key(ra, dec)
    local j = math.floor(dec / side)
    local ncol = math.max(1, math.floor(360 * math.cos(math.rad((j + 0.5) * side)) / side))
    return j * 100000000 + math.floor((ra % 360) / (360 / ncol))
  end
  function bins.of(ra, dec) return bins.map[bins.key(ra, dec)] end
  function bins.add(ra, dec, area)
    local k = bins.key(ra, dec)
    local b = bins.map[k]
    if not b then
      b = {n = 0, area = 0, cells = 0, ra = 0, dec = 0}
      bins.map[k] = b
      bins.list[#bins.list + 1] = b
    end
    b.area, b.cells, b.ra, b.dec = b.area + area, b.cells + 1, b.ra + ra, b.dec + dec
  end
  return bins
end

-- The catalogue, sky map and summary from every field's result (fields: the specs, results[index]).
local function finish(cfg, fields, results, run)
  local ok_fields, failed, summed = {}, {}, 0
  for _, spec in ipairs(fields) do
    local r = results[spec.index]
    if r.status == "ok" then
      ok_fields[#ok_fields + 1] = r
      summed = summed + r.area_deg2
    else
      failed[#failed + 1] = r
    end
  end
  local kept, n_before = M.merge(ok_fields, cfg.merge_arcsec)
  -- density bins: about a tenth of the footprint's larger extent, at least the largest field's side
  local dlo, dhi, rlo, rhi, fside = math.huge, -math.huge, math.huge, -math.huge, 0
  for _, r in ipairs(ok_fields) do
    dlo, dhi = math.min(dlo, r.dec), math.max(dhi, r.dec)
    rlo, rhi = math.min(rlo, r.ra), math.max(rhi, r.ra)
    fside = math.max(fside, math.sqrt(r.area_deg2))
  end
  local bins = sky_bins(math.max(fside, math.max(dhi - dlo, (rhi - rlo) * math.cos(math.rad(0.5 * (dlo + dhi)))) / 10))
  local area, cell = M.union_area(ok_fields, bins.add)
  local per_deg2 = area > 0 and #kept / area or 0
  detect.catalog_write(cfg.out .. "/candidates", catalogue(kept))
  skymap(cfg.out .. "/skymap.png", ok_fields, failed, kept, per_deg2, bins)
  local sim = cfg.images == ""
  local s = {simulated = sim, fields = #fields, fields_ok = #ok_fields, fields_failed = #failed,
    area_deg2 = area, area_cell_deg = cell, area_summed_deg2 = summed, candidates = #kept,
    candidates_before_merge = n_before, candidates_per_deg2 = per_deg2, threshold = cfg.threshold,
    merge_arcsec = cfg.merge_arcsec, ranks = run.size, session = {fields = run.done, seconds = run.seconds,
    fields_per_s = run.done / math.max(run.seconds, 1e-9), deg2_per_hour = 3600 * run.area / math.max(run.seconds, 1e-9),
    skipped = run.skipped}, failed = {}, config = cfg, deepcee = {version = dc.version, commit = dc.commit}}
  local t = {sim and string.format("deepcee survey of a SIMULATED sky (RA %g..%g, Dec %g..%g, seed %d, %d px fields "
      .. "overlapping by %g)", cfg.ra_min, cfg.ra_max, cfg.dec_min, cfg.dec_max, cfg.seed, cfg.field_px, cfg.field_overlap)
    or string.format("deepcee survey of %s", cfg.images),
    string.format("fields: %d (%d ok, %d failed)", #fields, #ok_fields, #failed),
    string.format("footprint: %.4f deg^2 (overlaps counted once, on cells of %.2f'); %.4f deg^2 summed over the fields",
      area, cell * 60, summed),
    string.format("candidates: %d with score >= %g (%d before merging candidates of different fields within %g\")",
      #kept, cfg.threshold, n_before, cfg.merge_arcsec),
    string.format("candidates per deg^2: %.3f", per_deg2),
    string.format("this start: %d fields in %s on %d rank%s (%.3f fields/s, %.3f deg^2/hour)%s", run.done,
      util.duration(run.seconds), run.size, run.size == 1 and "" or "s", s.session.fields_per_s, s.session.deg2_per_hour,
      run.skipped > 0 and string.format("; %d fields done before were skipped", run.skipped) or "")}
  if #failed > 0 then
    t[#t + 1] = "failed fields:"
    for _, r in ipairs(failed) do
      t[#t + 1] = string.format("  %s: %s", r.id, r.reason)
      s.failed[#s.failed + 1] = {id = r.id, reason = r.reason}
    end
  end
  local text = table.concat(t, "\n") .. "\n"
  util.write_file(cfg.out .. "/summary.txt", text)
  util.write_file(cfg.out .. "/summary.json", require("report").json(s) .. "\n")
  if not cfg.quiet then
    io.stdout:write(text, string.format("written: %s/candidates.{fits,csv,reg}, skymap.png, summary.{txt,json}\n", cfg.out))
    io.stdout:flush()
  end
  s.catalogue = kept
  return s
end

-- ---------------------------------------------------------------- the survey

-- A rank other than 0: fields from rank 0 until it says stop. Results go out with isend: a large
-- one would otherwise wait for rank 0 to finish the field it works on before this rank could go on.
local function worker(cfg, ctx)
  local sent
  while true do
    local msg, _, tag = dc.mpi.recv(0)
    if tag == TAG_STOP then break end
    local spec = util.parse_data(msg, "survey: a field from rank 0")
    local text = util.serialize(field_result(cfg, spec, ctx))
    if sent then sent:wait() end
    sent = dc.mpi.isend(0, TAG_RESULT, text)
  end
  if sent then sent:wait() end
end

-- Run a survey (keys of M.defaults). Every rank calls it with the same settings; rank 0 returns the
-- summary ({simulated, fields, fields_ok, fields_failed, area_deg2, candidates, candidates_per_deg2,
-- failed, session, catalogue = merged candidates, ...}), the other ranks nil.
function M.run(user)
  local cfg = util.config(M.defaults, user, "survey", M.ranges)
  check_config(cfg)
  local rank, size = dc.mpi.init()
  local ctx = {rank = rank, scratch = string.format("%s/work/rank%d", cfg.out, rank)}
  dc.handle_interrupts(true)
  if rank ~= 0 then
    worker(cfg, ctx)
    if ctx.survey then ctx.survey:free() end
    return nil
  end
  local t0 = dc.now()
  check_out(cfg)
  local fields = cfg.images ~= "" and file_fields(cfg.images) or M.region_fields(cfg)
  local results, todo = {}, {}
  for _, spec in ipairs(fields) do
    local r = read_result(cfg, spec)
    if r and not (cfg.retry_failed and r.status == "failed") then results[spec.index] = r else todo[#todo + 1] = spec end
  end
  local run = {size = size, done = 0, area = 0, skipped = #fields - #todo, failed = 0}
  for _, r in pairs(results) do if r.status == "failed" then run.failed = run.failed + 1 end end
  local function say(...)
    if not cfg.quiet then
      print(string.format(...))
      io.stdout:flush()
    end
  end
  say("survey: %d fields%s%s; %d to do on %d rank%s (rank 0: %s)", #fields, cfg.images == "" and " (SIMULATED)" or "",
    run.skipped > 0 and string.format(", %d done before (kept)", run.skipped) or "", #todo, size, size == 1 and "" or "s",
    dc.device().name)
  local t1, last = dc.now(), -math.huge
  local function record(r)
    util.write_file(result_path(cfg, r.id), "return " .. util.serialize(r) .. "\n")
    results[r.index] = r
    run.done = run.done + 1
    if r.status == "ok" then run.area = run.area + r.area_deg2 else run.failed = run.failed + 1 end
    if r.status ~= "ok" and not cfg.quiet then io.stderr:write(string.format("survey: field %s failed: %s\n", r.id, r.reason)) end
    local now = dc.now()
    if now - last >= cfg.progress_s or run.done == #todo then
      last = now
      local dt = math.max(now - t1, 1e-9)
      local rate = run.done / dt
      say("survey: %d/%d fields done (%d failed), %.3f fields/s, %.3f deg^2/hour, ETA %s", run.skipped + run.done,
        #fields, run.failed, rate, 3600 * run.area / dt, util.duration((#todo - run.done) / rate))
    end
  end
  -- hand out: every other rank holds up to M.prefetch fields; rank 0 works on the rest itself and
  -- takes in results between its fields
  local next_k, stopped = 1, {}
  local function give(w)
    if next_k <= #todo then
      dc.mpi.send(w, TAG_FIELD, util.serialize(todo[next_k]))
      next_k = next_k + 1
    elseif not stopped[w] then
      dc.mpi.send(w, TAG_STOP, "")
      stopped[w] = true
    end
  end
  for w = 1, size - 1 do
    for _ = 1, M.prefetch do give(w) end
  end
  local function take(blocking)
    while blocking or dc.mpi.iprobe(-1, TAG_RESULT) do
      blocking = false
      local msg, w = dc.mpi.recv(-1, TAG_RESULT)
      record(util.parse_data(msg, string.format("survey: a result from rank %d", w)))
      give(w)
    end
  end
  while true do
    if size > 1 then take(false) end
    if next_k <= #todo then
      local spec = todo[next_k]
      next_k = next_k + 1
      record(field_result(cfg, spec, ctx))
    elseif run.done < #todo then
      take(true)
    else
      break
    end
  end
  for w = 1, size - 1 do give(w) end -- the stop of any rank that has not had it
  run.seconds = dc.now() - t1
  if ctx.survey then ctx.survey:free() end
  os.execute(string.format("rm -rf '%s'", (cfg.out .. "/work"):gsub("'", "'\\''")))
  local s = finish(cfg, fields, results, run)
  s.seconds = dc.now() - t0
  return s
end

return M
