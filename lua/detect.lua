-- Cluster detection on whole fields: g, r, i FITS images with a WCS are preprocessed as the
-- training images were (the weights carry the preprocessing: resample factor, stretch and flux
-- limits), tiled with overlap at the network's input size, run through the detector, and the
-- candidates merged across tiles (device NMS on the union). Outputs: a candidate catalogue (RA,
-- Dec, pixel x/y, score, box) as FITS table, CSV and DS9 regions, and a PNG with the candidates.
local dc = require("deepcee")
local util = require("deepcee_util")
local nets = require("nets")
local triplets = require("triplets")
local train_dihedral_point = require("train").dihedral_point

local M = {}

M.defaults = {
  g = "", r = "", i = "",     -- the three band files (or use dir=)
  dir = "",                   -- a folder holding one field as *-g.fits, *-r.fits, *-i.fits
  weights = "",               -- default: the shipped weights/demo.dcw
  out = "detect-out",
  threshold = 0.5,            -- minimum score written to the catalogue
  overlap = 0.25,             -- tile overlap, as a fraction of the tile
  merge_iou = 0.3,            -- candidates of overlapping tiles merged above this IoU
  max_per_tile = 20,
  tta = 1,                    -- grid symmetries each tile is seen under (1, 2, 4 or 8), scores averaged
  core = true,                -- a tile keeps only candidates centred in its own part of the field
  recentre = 1,               -- second looks: each candidate is seen again in a tile centred on it and
                              -- replaced by what that tile finds near its centre (repeated this many
                              -- times; 0: off)
  recentre_tta = 0,           -- grid symmetries of the second looks (1, 2, 4 or 8; 0: as tta)
  suppress = 3,               -- one candidate per cluster: a candidate centred within suppress x the box
                              -- side of a higher-scoring one is dropped (boxes are 2 box_kpc = 500 kpc
                              -- across at the cluster's z: 3 is about 1.5 Mpc); 0: off
  quiet = false,
}

-- Allowed values of the numeric keys (util.config checks them; messages name key, value, range).
M.ranges = {
  threshold = {0, 1},
  overlap = {0, 0.9},         -- 0.9: a tile advances by a tenth of itself; more is no gain
  merge_iou = {0, 1},
  max_per_tile = {1, 10000, "integer"},
  tta = {1, 8, "integer"},
  suppress = {0, 10},
  recentre = {0, 5, "integer"},
  recentre_tta = {0, 8, "integer"},
}

-- The grid symmetries (engine/astro/astro.h numbering) of tta = 1, 2, 4, 8: the identity, the
-- mirror, the half turn and its mirror, then the quarter turns and theirs.
M.tta_order = {0, 4, 2, 6, 1, 5, 3, 7}

-- Boxes of the passes of one tile that overlap by more than this IoU are one candidate.
M.tta_iou = 0.5

-- A second look (recentre) keeps the detections centred within this fraction of the tile side of
-- the candidate it looks at, along each axis: where the training cut-outs put their clusters
-- (max_offset 135" of a 1000 px cut-out is 0.34 of the tile).
M.recentre_window = 0.34

-- A tile whose masked (NaN or infinite) fraction, in any band, is above this is skipped.
M.max_tile_masked = 0.5

-- The one g, r, i triplet of a folder, in any form `deepcee dataset` accepts (lua/triplets.lua).
local function find_bands(dir)
  local list = triplets.list(dir, "detect")
  if #list > 1 then
    local names = {}
    for k = 1, math.min(#list, 5) do names[k] = list[k].name end
    error(string.format("detect: %s holds %d g, r, i triplets (%s%s): give g=, r=, i= or a folder with one field",
      dir, #list, table.concat(names, ", "), #list > 5 and ", ..." or ""), 0)
  end
  return list[1].g, list[1].r, list[1].i
end

-- Read the three bands; they must share size and WCS.
local function read_bands(paths)
  local imgs, wcs = {}, {}
  for k, b in ipairs({"g", "r", "i"}) do
    local img, hdr = dc.fits_read(paths[b])
    local ok, w = pcall(hdr.wcs, hdr)
    if not ok then error(string.format("detect: %s: %s", paths[b], tostring(w)), 0) end
    imgs[k], wcs[k] = img, w
  end
  local nx, ny = imgs[1]:size()
  for k = 2, 3 do
    local x, y = imgs[k]:size()
    if x ~= nx or y ~= ny then
      error(string.format("detect: the bands differ in size: g is %dx%d, %s is %dx%d", nx, ny,
        k == 2 and "r" or "i", x, y), 0)
    end
    for _, p in ipairs({{0, 0}, {nx - 1, ny - 1}}) do
      local ra1, dec1 = wcs[1]:pix2world(p[1], p[2])
      local ra2, dec2 = wcs[k]:pix2world(p[1], p[2])
      local sep = math.sqrt(((ra1 - ra2) * math.cos(math.rad(dec1))) ^ 2 + (dec1 - dec2) ^ 2) * 3600
      if sep > 0.5 then
        error(string.format("detect: the %s band's WCS differs from g's by %.1f arcsec at pixel (%d, %d): "
          .. "the bands must be registered on the same pixel grid", k == 2 and "r" or "i", sep, p[1], p[2]), 0)
      end
    end
  end
  return imgs, wcs[1], nx, ny
end

-- The weights' preprocessing (parsed as data): every field present and sensible, else an error
-- naming the weights file.
local function check_preprocess(pre, weights)
  local function bad(what)
    error(string.format("detect: %s: metadata 'preprocess' %s; re-create the weights with deepcee train", weights, what), 0)
  end
  if type(pre) ~= "table" then bad("is not a table") end
  if type(pre.factor) ~= "number" or not (pre.factor > 0 and pre.factor <= 64) then bad("has no factor in (0, 64]") end
  if math.type(pre.tile) ~= "integer" or pre.tile < 16 or pre.tile > 8192 then bad("has no integer tile in 16..8192") end
  if pre.method ~= nil and type(pre.method) ~= "string" then bad("has a method that is not a string") end
  for _, key in ipairs({"lo", "hi"}) do
    local v = pre[key]
    if type(v) ~= "table" or #v ~= 3 then bad("needs " .. key .. " = three numbers") end
    for j = 1, 3 do
      if type(v[j]) ~= "number" or v[j] ~= v[j] or math.abs(v[j]) == math.huge then bad("needs " .. key .. " = three finite numbers") end
    end
  end
  return pre
end

-- out/notes.txt: what was masked and what was done about it.
local function notes_text(notes, paths, ntiles)
  local t = {"# deepcee detect: masked pixels (NaN or infinite) of this field"}
  for _, b in ipairs({"g", "r", "i"}) do
    t[#t + 1] = string.format("masked_fraction_%s = %.6f  # %s", b, notes.masked[b], paths[b])
  end
  t[#t + 1] = string.format("masked_pixels_set_to_0 = %d  # on purpose: 0 is blank sky in sky-subtracted images", notes.filled)
  t[#t + 1] = string.format("tiles = %d, tiles_with_masked_pixels = %d, tiles_skipped = %d (more than %.0f %% masked)",
    ntiles, #notes.tiles, #notes.skipped, 100 * M.max_tile_masked)
  for _, x in ipairs(notes.tiles) do
    t[#t + 1] = string.format("tile x0=%d y0=%d (picture px from the top left): masked %.4f%s", x.x0, x.y0, x.masked,
      x.masked > M.max_tile_masked and " skipped" or "")
  end
  return table.concat(t, "\n") .. "\n"
end

-- Detect's keys given for every field of a run (lua/fieldeval.lua, lua/mine.lua: tta, core,
-- suppress, overlap, merge_iou, max_per_tile): an error naming `where` and the key for an unknown key or one
-- the caller sets per field itself.
M.per_field_keys = {"g", "r", "i", "dir", "weights", "out", "threshold", "quiet"}
function M.check_overrides(t, where)
  for _, k in ipairs(M.per_field_keys) do
    if t[k] ~= nil then
      error(string.format("%s: detect may not set %s (%s sets it for every field)", where, k, where), 0)
    end
  end
  for k in pairs(t) do
    if M.defaults[k] == nil then
      error(string.format("%s: detect has no key '%s' (known: tta, core, suppress, recentre, recentre_tta, overlap, merge_iou, max_per_tile)", where,
        tostring(k)), 0)
    end
  end
end

-- A box {ymin, xmin, ymax, xmax} found in a size x size tile seen under grid symmetry t, in the
-- untransformed tile's coordinates: the mirrors (t >= 4) are their own inverses, a turn by k
-- quarters is undone by 4 - k.
function M.undo_box(t, box, size)
  local inv = t >= 4 and t or (4 - t) % 4
  local x1, y1 = train_dihedral_point(inv, box[2], box[1], size, size)
  local x2, y2 = train_dihedral_point(inv, box[4], box[3], size, size)
  return {math.min(y1, y2), math.min(x1, x2), math.max(y1, y2), math.max(x1, x2)}
end

-- Of tiles of side `tile` starting at the coordinates `starts` along one axis, the start of the
-- one whose centre is nearest to the coordinate v (ties go to the earlier tile). With core = true
-- each part of the field is judged by the tile that sees it most centrally, which is where the
-- training images put their clusters (within max_offset of the centre).
function M.tile_owner(starts, tile, v)
  local best, bd = nil, math.huge
  for _, s in ipairs(starts) do
    local dist = math.abs(v - (s + 0.5 * tile))
    if dist < bd then best, bd = s, dist end
  end
  return best
end

local function iou(a, b)
  local h = math.min(a[3], b[3]) - math.max(a[1], b[1])
  local w = math.min(a[4], b[4]) - math.max(a[2], b[2])
  if h <= 0 or w <= 0 then return 0 end
  local inter = h * w
  return inter / ((a[3] - a[1]) * (a[4] - a[2]) + (b[3] - b[1]) * (b[4] - b[2]) - inter)
end

-- Fuse the detections of the passes of one tile (passes[p]: {{score, box}, ...}, one list per
-- symmetry, boxes in the same coordinates): greedily by score, a candidate takes from every pass
-- its best not yet taken box overlapping it by more than iou_min; its score is the mean over the
-- passes of the scores taken (a pass that has no such box adds 0), its box the score-weighted
-- mean. With one pass this returns the pass's list. Returns {{score, box, n (passes found)}}, best first.
-- The candidate catalogue's property columns (models with property heads) and their units.
M.prop_columns = {"z", "z_err", "richness", "richness_err"}
M.prop_units = {z = "", z_err = "", richness = "", richness_err = "dex"}

-- t with the property fields of d copied onto it (none when d has none).
local function with_props(t, d)
  for _, k in ipairs(M.prop_columns) do t[k] = d[k] end
  return t
end

-- Detections with properties (z, z_err, richness, richness_err: a model with property heads) give
-- the fused candidate their score-weighted means (richness as the mean of log10 richness).
local function fuse_props(out, got)
  local sum, z, ze, lr, re = 0, 0, 0, 0, 0
  for _, d in pairs(got) do
    if d.z == nil then return end
    sum = sum + d.score
    z, ze = z + d.score * d.z, ze + d.score * d.z_err
    lr, re = lr + d.score * math.log(d.richness, 10), re + d.score * d.richness_err
  end
  out.z, out.z_err, out.richness, out.richness_err = z / sum, ze / sum, 10 ^ (lr / sum), re / sum
end

function M.fuse(passes, iou_min)
  local np = #passes
  if np == 1 then
    local out = {}
    for k, d in ipairs(passes[1]) do
      out[k] = with_props({score = d.score, box = d.box, n = 1}, d)
    end
    return out
  end
  local all = {}
  for p, list in ipairs(passes) do
    for _, d in ipairs(list) do
      all[#all + 1] = with_props({score = d.score, box = d.box, pass = p}, d)
    end
  end
  table.sort(all, function(a, b) if a.score ~= b.score then return a.score > b.score end return a.pass < b.pass end)
  local out = {}
  for _, seed in ipairs(all) do
    if not seed.taken then
      seed.taken = true
      local got = {[seed.pass] = seed}
      for _, d in ipairs(all) do -- best first, so the first fit of each pass is its best
        if not d.taken and not got[d.pass] and iou(seed.box, d.box) > iou_min then
          got[d.pass], d.taken = d, true
        end
      end
      local sum, n, b = 0, 0, {0, 0, 0, 0}
      for _, d in pairs(got) do
        sum, n = sum + d.score, n + 1
        for j = 1, 4 do b[j] = b[j] + d.score * d.box[j] end
      end
      for j = 1, 4 do b[j] = b[j] / sum end
      out[#out + 1] = {score = sum / np, box = b, n = n}
      fuse_props(out[#out], got)
    end
  end
  table.sort(out, function(a, b) return a.score > b.score end)
  return out
end

-- One candidate per cluster: of candidates {score, b = {ymin, xmin, ymax, xmax}} sorted best first,
-- greedily keep each one whose centre is farther than f x the larger side of every kept box from
-- that box's centre (IoU-based merging keeps a second box on a cluster's outskirts, 200-700 kpc
-- from its centre: the commonest false positive on whole fields). f <= 0 keeps all. Returns the
-- kept indices, best first.
function M.suppress(cands, f)
  local keep = {}
  for k, c in ipairs(cands) do
    local ok = true
    if f > 0 then
      local cy, cx = 0.5 * (c.b[1] + c.b[3]), 0.5 * (c.b[2] + c.b[4])
      for _, j in ipairs(keep) do
        local b = cands[j].b
        local r = f * math.max(b[3] - b[1], b[4] - b[2])
        local dy, dx = cy - 0.5 * (b[1] + b[3]), cx - 0.5 * (b[2] + b[4])
        if dx * dx + dy * dy <= r * r then ok = false break end
      end
    end
    if ok then keep[#keep + 1] = k end
  end
  return keep
end

-- A candidate catalogue (dc.catalog_write's table: nrows, names, units, cols with an id column)
-- as stem.fits (with units), stem.csv and stem.reg (DS9 circles named by id, and with a z column
-- (property heads) also by z and N200: "C001 z=0.153 N200=27"); lua/survey.lua writes its merged
-- catalogue through this too.
function M.catalog_write(stem, cat)
  dc.catalog_write(stem .. ".fits", cat)
  dc.catalog_write(stem .. ".csv", cat)
  local reg = cat
  if cat.cols.z then
    local text = {}
    for k = 1, cat.nrows do
      text[k] = string.format("%s z=%.3f N200=%.0f", cat.cols.id[k], cat.cols.z[k], cat.cols.richness[k])
    end
    reg = {nrows = cat.nrows, names = {"id", "ra", "dec", "text"},
      cols = {id = cat.cols.id, ra = cat.cols.ra, dec = cat.cols.dec, text = text}}
  end
  dc.catalog_write(stem .. ".reg", reg, {format = "ds9", text_col = reg == cat and "id" or "text", radius = 60,
    color = "red"})
end

-- Run the detector over a field; returns candidates {ra, dec, x, y, score, box = {x0, y0, x1, y1}}
-- in full-resolution 0-based FITS pixels (y up), best first; and, as fields of that list, masked
-- (fraction per band), masked_tiles, skipped_tiles, filled, warnings, second_looks ({x0, y0, cx,
-- cy}: each second-look tile's top left and the candidate it looked at, in full-resolution
-- picture pixels from the top left).
function M.run(user)
  local cfg = util.config(M.defaults, user, "detect", M.ranges)
  local function symmetries(n) return n == 1 or n == 2 or n == 4 or n == 8 end
  if not (cfg.recentre_tta == 0 or symmetries(cfg.recentre_tta)) then
    error(string.format("detect: recentre_tta=%d: give 0 (as tta), 1, 2, 4 or 8", cfg.recentre_tta), 0)
  end
  if not symmetries(cfg.tta) then
    error(string.format("detect: tta=%d: give 1, 2, 4 or 8 (the grid symmetries each tile is seen under)", cfg.tta), 0)
  end
  local paths = {g = cfg.g, r = cfg.r, i = cfg.i}
  if cfg.dir ~= "" then paths.g, paths.r, paths.i = find_bands(cfg.dir)
  elseif cfg.g == "" or cfg.r == "" or cfg.i == "" then
    error("detect: give the three bands (g=FILE r=FILE i=FILE) or dir=FOLDER", 0)
  end
  local weights = cfg.weights ~= "" and cfg.weights or dc.weights_dir .. "/demo.dcw"
  if not util.exists(weights) then error("detect: no weights file " .. weights .. " (give weights=FILE)", 0) end
  local meta = dc.weights_meta(weights)
  -- weights trained with property heads say so (lua/train.lua); others build the plain detector
  local model = nets.build(meta.network or "demo", meta.props == "1" and {props = true} or nil)
  model:load(weights)
  local props = model:has_props()
  if not meta.preprocess then
    error("detect: " .. weights .. " does not say how its training images were made (no 'preprocess' metadata)", 0)
  end
  local pre = check_preprocess(util.parse_data(meta.preprocess, weights .. " (metadata 'preprocess')"), weights)
  local imgs, wcs, nx, ny = read_bands(paths)
  local f = pre.factor
  local sx, sy = math.floor(nx / f), math.floor(ny / f)
  local tile = pre.tile
  if sx < tile or sy < tile then
    error(string.format("detect: the field is %dx%d px, smaller than the network's minimum of %dx%d px "
      .. "(%d px tiles at %g input px per network px)", nx, ny, tile * f, tile * f, tile, f), 0)
  end
  -- masked (NaN or infinite) pixels: measured per band, then set to 0 (blank sky: the images are
  -- sky-subtracted) so that they neither poison the stretch nor look like sources
  local notes = {masked = {}, tiles = {}, skipped = {}, filled = 0}
  local function warn(fmt, ...)
    local msg = string.format(fmt, ...)
    notes[#notes + 1] = msg
    if not cfg.quiet then io.stderr:write("detect: warning: ", msg, "\n") end
  end
  for k, b in ipairs({"g", "r", "i"}) do
    local bad, all = imgs[k]:nonfinite()
    if bad == all then
      error(string.format("detect: the %s band (%s) has no finite pixel: nothing to detect on", b, paths[b]), 0)
    end
    notes.masked[b] = bad / all
    if bad > 0 then warn("%.2f %% of the %s band (%s) is masked (NaN or infinite)", 100 * bad / all, b, paths[b]) end
  end
  local function tile_masked(x0, y0)
    local worst = 0
    for k = 1, 3 do
      local bad, all = imgs[k]:nonfinite(math.floor(x0 * f), math.floor((sy - tile - y0) * f), math.floor(tile * f),
        math.floor(tile * f))
      worst = math.max(worst, bad / math.max(all, 1))
    end
    return worst
  end
  local step = math.max(1, math.floor(tile * (1 - cfg.overlap)))
  local function starts(n)
    local s = {}
    for v = 0, n - tile, step do s[#s + 1] = v end
    if s[#s] ~= n - tile then s[#s + 1] = n - tile end
    return s
  end
  -- core: a candidate counts only from the tile that sees its centre most centrally
  local function owns(list, s0, v) return M.tile_owner(list, tile, v) == s0 end
  local cand = {}
  local xs, ys = starts(sx), starts(sy)
  local any_masked = notes.masked.g + notes.masked.r + notes.masked.i > 0
  local tile_mask = {}  -- [y0][x0]: the tile's masked fraction, measured before the filling
  for _, y0 in ipairs(ys) do
    tile_mask[y0] = {}
    for _, x0 in ipairs(xs) do tile_mask[y0][x0] = any_masked and tile_masked(x0, y0) or 0 end
  end
  -- second looks land anywhere: their masked fraction comes from the downsampled bands before the
  -- filling (a network pixel counts as masked when any of its input pixels is)
  local coarse = {}
  if any_masked and cfg.recentre > 0 then
    for k = 1, 3 do coarse[k] = imgs[k]:resample(sx, sy) end
  end
  local function coarse_masked(x0, y0)
    local worst = 0
    for k = 1, #coarse do
      local bad, all = coarse[k]:nonfinite(x0, sy - tile - y0, tile, tile)
      worst = math.max(worst, bad / math.max(all, 1))
    end
    return worst
  end
  if any_masked then
    for k = 1, 3 do notes.filled = notes.filled + imgs[k]:fill_nonfinite(0) end
    warn("%d masked pixels were set to 0 (blank sky) on purpose before detection", notes.filled)
  end
  -- downsample as the training cut-outs were (area averaging), then composite
  local small = {}
  for k = 1, 3 do small[k] = imgs[k]:resample(sx, sy) end
  local rgb = dc.composite(small[1], small[2], small[3], {method = pre.method or "sqrt", lo = pre.lo, hi = pre.hi})
  -- The fused detections of the tile at network-pixel (x0, y0) from the top left under npass
  -- symmetries, boxes in picture network pixels; nil when the tile is too masked to judge (noted).
  -- A tile is detected once: a second look that lands on a grid tile (at the field's edges, where
  -- it is clamped) takes that tile's detections (the model is deterministic).
  local detected = {}
  local function look(x0, y0, masked, npass)
    local px, py = math.floor(x0 * f), math.floor(y0 * f) -- full-resolution picture pixels
    if masked > 0 then notes.tiles[#notes.tiles + 1] = {x0 = px, y0 = py, masked = masked} end
    if masked > M.max_tile_masked then
      notes.skipped[#notes.skipped + 1] = {x0 = px, y0 = py, masked = masked}
      warn("tile at picture pixel (%d, %d) from the top left is %.0f %% masked: skipped", px, py, 100 * masked)
      return nil
    end
    local key = x0 .. "," .. y0 .. "," .. npass
    if detected[key] then return detected[key] end
    local tiles = {}
    for k = 1, 3 do tiles[k] = small[k]:crop(x0, sy - tile - y0, tile, tile) end
    local passes = {}
    for p = 1, npass do
      local t = M.tta_order[p]
      local t_rgb <close> = dc.composite(tiles[1], tiles[2], tiles[3], {method = pre.method or "sqrt", lo = pre.lo, hi = pre.hi})
      if t ~= 0 then t_rgb:dihedral(t) end
      local tensor <close> = t_rgb:to_tensor()
      local list = model:detect(tensor, cfg.max_per_tile)
      for _, d in ipairs(list) do d.box = M.undo_box(t, d.box, tile) end
      passes[p] = list
    end
    for k = 1, 3 do tiles[k]:free() end
    local found = {}
    for _, d in ipairs(M.fuse(passes, M.tta_iou)) do
      found[#found + 1] = with_props({score = d.score, b = {d.box[1] + y0, d.box[2] + x0, d.box[3] + y0,
        d.box[4] + x0}}, d)
    end
    detected[key] = found
    return found
  end
  local function centre(c) return 0.5 * (c.b[1] + c.b[3]), 0.5 * (c.b[2] + c.b[4]) end
  -- with second looks, their scores are the ones the threshold applies to
  local floor = cfg.recentre > 0 and 0 or cfg.threshold
  local t0, done, total = dc.now(), 0, #xs * #ys
  local function progress(what)
    done = done + 1
    if not cfg.quiet and (done % 10 == 0 or done == total) then
      local rate = done / math.max(dc.now() - t0, 1e-9)
      print(string.format("  %s %d/%d  %.2f tiles/s  ETA %s", what, done, total, rate, util.duration((total - done) / rate)))
    end
  end
  for _, y0 in ipairs(ys) do       -- y0 counts rows from the top of the picture
    for _, x0 in ipairs(xs) do
      for _, c in ipairs(look(x0, y0, tile_mask[y0][x0], cfg.tta) or {}) do
        local cy, cx = centre(c)
        if c.score >= floor and (not cfg.core or (owns(xs, x0, cx) and owns(ys, y0, cy))) then
          cand[#cand + 1] = c
        end
      end
      progress("tile")
    end
  end
  -- merge duplicates of overlapping tiles on the device; returns the kept candidates, best first
  local function merge(list)
    if #list == 0 then return {} end
    local bt, st = {}, {}
    for k, c in ipairs(list) do
      for j = 1, 4 do bt[4 * (k - 1) + j] = c.b[j] end
      st[k] = c.score
    end
    local boxes <close> = dc.tensor({#list, 4}, bt)
    local scores <close> = dc.tensor({#list}, st)
    local kept = {}
    for k, j in ipairs(dc.nms(boxes, scores, {iou = cfg.merge_iou, max_keep = #list})) do kept[k] = list[j] end
    return kept
  end
  cand = merge(cand)
  -- second looks: each candidate seen again in a tile centred on it (clamped to the field), which
  -- puts it where the training images put their clusters; what that tile finds within the window
  -- around the candidate replaces it (an outskirt or a cluster cut by a tile edge moves to the
  -- centre the whole cluster shows, or goes)
  local win = M.recentre_window * tile
  local recentre_passes = cfg.recentre_tta > 0 and cfg.recentre_tta or cfg.tta
  local looks = {} -- the second-look tiles: top left and the candidate looked at, picture px
  for _ = 1, cfg.recentre do
    local seen, again = {}, {}
    done, total, t0 = 0, #cand, dc.now()
    for _, c in ipairs(cand) do
      local cy, cx = centre(c)
      local x0 = math.max(0, math.min(sx - tile, math.floor(cx - 0.5 * tile + 0.5)))
      local y0 = math.max(0, math.min(sy - tile, math.floor(cy - 0.5 * tile + 0.5)))
      local key = x0 .. "," .. y0
      if not seen[key] then
        seen[key] = true
        looks[#looks + 1] = {x0 = x0 * f, y0 = y0 * f, cx = cx * f, cy = cy * f}
        local masked = any_masked and coarse_masked(x0, y0) or 0
        for _, d in ipairs(look(x0, y0, masked, recentre_passes) or {}) do
          local dy, dx = centre(d)
          if math.abs(dx - cx) <= win and math.abs(dy - cy) <= win then again[#again + 1] = d end
        end
      end
      progress("second look")
    end
    cand = merge(again)
  end
  -- then one candidate per cluster, above the threshold (cand is best first)
  local keep = {}
  for _, j in ipairs(M.suppress(cand, cfg.suppress)) do
    if cand[j].score >= cfg.threshold then keep[#keep + 1] = j end
  end
  local out = {}
  for _, k in ipairs(keep) do
    local c = cand[k]
    -- picture coordinates (rows from the top, pixel edges at integers) -> 0-based FITS pixels
    local x = 0.5 * (c.b[2] + c.b[4]) * f - 0.5
    local y = (sy - 0.5 * (c.b[1] + c.b[3])) * f - 0.5
    local ra, dec = wcs:pix2world(x, y)
    out[#out + 1] = with_props({ra = ra, dec = dec, x = x, y = y, score = c.score,
      box = {c.b[2] * f, (sy - c.b[3]) * f, c.b[4] * f, (sy - c.b[1]) * f}, pic = c.b}, c)
  end
  util.mkdir(cfg.out)
  local cols = {id = {}, ra = {}, dec = {}, x = {}, y = {}, score = {}, x0 = {}, y0 = {}, x1 = {}, y1 = {}}
  for k, c in ipairs(out) do
    cols.id[k] = string.format("C%03d", k)
    cols.ra[k], cols.dec[k], cols.x[k], cols.y[k], cols.score[k] = c.ra, c.dec, c.x, c.y, c.score
    cols.x0[k], cols.y0[k], cols.x1[k], cols.y1[k] = c.box[1], c.box[2], c.box[3], c.box[4]
  end
  local cat = {nrows = #out, names = {"id", "ra", "dec", "x", "y", "score", "x0", "y0", "x1", "y1"},
    units = {ra = "deg", dec = "deg", x = "pix", y = "pix", x0 = "pix", y0 = "pix", x1 = "pix", y1 = "pix"}, cols = cols}
  if props then -- z (redshift), z_err (its predicted sigma), richness (N200), richness_err (sigma of log10 N200)
    for _, name in ipairs(M.prop_columns) do
      cols[name] = {}
      for k, c in ipairs(out) do cols[name][k] = c[name] end
      cat.names[#cat.names + 1] = name
      if M.prop_units[name] ~= "" then cat.units[name] = M.prop_units[name] end
    end
  end
  M.catalog_write(cfg.out .. "/candidates", cat)
  for _, c in ipairs(out) do
    local b = c.pic
    rgb:rect(math.floor(b[2]), math.floor(b[1]), math.floor(b[4]), math.floor(b[3]), 0xff3030, 2)
  end
  rgb:write_png(cfg.out .. "/candidates.png")
  util.write_file(cfg.out .. "/notes.txt", notes_text(notes, paths, #xs * #ys))
  if not cfg.quiet then
    print(string.format("%d candidates above %.2f in %dx%d px; written to %s/candidates.{fits,csv,reg,png}",
      #out, cfg.threshold, nx, ny, cfg.out))
  end
  for k = 1, 3 do small[k]:free() imgs[k]:free() end
  for k = 1, #coarse do coarse[k]:free() end
  out.masked, out.masked_tiles, out.skipped_tiles, out.filled, out.warnings =
    notes.masked, notes.tiles, notes.skipped, notes.filled, {table.unpack(notes)}
  out.second_looks = looks
  return out
end

return M
