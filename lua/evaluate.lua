-- Evaluation of a trained detector on a dataset split, as the paper's section 4: detections per
-- image, matching within max_kpc (proper, at the true cluster's redshift) at each confidence
-- threshold, precision/recall/F1, the best threshold, the standard error of centre regression,
-- and KS tests of the returned clusters' properties against all.
--
-- Each image holds one labelled cluster; a prediction may only match the truth of its own image.
-- To use the one-to-one matcher (deepcee.match) on a whole split at once, every image is given a
-- private patch of pseudo-sky (its own centre, far from all others) and pixel offsets become
-- angles there through the image's pixel scale; distances are unchanged by this.
local dc = require("deepcee")
local util = require("deepcee_util")
local manifest = require("manifest")

local M = {}

M.defaults = {
  split = "test",
  max_kpc = 100.0,
  max_detections = 100,
  alpha = 0.05,
  quiet = false,
}

local function frame_centre(k)
  return ((k - 1) % 300) + 0.5, -60.0 + (k - 1) // 300
end

local function to_sky(k, x, y, width, height, scale)
  local ra0, dec0 = frame_centre(k)
  local ra = ra0 - (x - width / 2) * scale / 3600 / math.cos(math.rad(dec0))
  local dec = dec0 - (y - height / 2) * scale / 3600
  return ra % 360, dec
end

-- One detection as detect_rows lists it: its score, box {ymin, xmin, ymax, xmax} and box centre.
function M.detection(score, box)
  return {score = score, box = box, cx = 0.5 * (box[2] + box[4]), cy = 0.5 * (box[1] + box[3])}
end

-- Detections of every row: list of {row=, dets={{score, cx, cy, box}}, width, height}.
function M.detect_rows(model, rows, opts)
  local out = {}
  local t0 = dc.now()
  for k, r in ipairs(rows) do
    local img <close> = util.load_image(r.path)
    local s = img:shape()
    local dets = model:detect(img, opts.max_detections)
    local list = {}
    for _, d in ipairs(dets) do
      local e = M.detection(d.score, d.box)
      -- a model with property heads: the estimates go along (lua/props.lua scores them)
      e.z, e.z_err, e.richness, e.richness_err = d.z, d.z_err, d.richness, d.richness_err
      list[#list + 1] = e
    end
    out[k] = {row = r, dets = list, width = s[4], height = s[3]}
    if not opts.quiet and (k % 20 == 0 or k == #rows) then
      local rate = k / math.max(dc.now() - t0, 1e-9)
      print(string.format("  detect %d/%d images  %.2f images/s  ETA %s", k, #rows, rate,
        util.duration((#rows - k) / rate)))
      io.stdout:flush()
    end
  end
  return out
end

-- Match detections (from detect_rows) against their rows' truths and compute the paper's tables.
function M.score(detected, opts)
  opts = util.config(M.defaults, opts, "evaluate")
  if #detected == 0 then error("evaluate: no images to evaluate", 2) end
  local preds, truths, truth_image = {}, {}, {}
  for k, d in ipairs(detected) do
    local r = d.row
    -- background and hard-negative tiles hold no truth: every detection on them is a false positive
    if (r.kind or "target") == "target" then
      if not (r.z > 0) then error(string.format("evaluate: %s has no redshift (z=%s)", r.file, tostring(r.z)), 2) end
      local ra, dec = to_sky(k, r.cx, r.cy, d.width, d.height, r.scale)
      truths[#truths + 1] = {ra = ra, dec = dec, z = r.z}
      truth_image[#truths] = k
    end
    for _, p in ipairs(d.dets) do
      local pra, pdec = to_sky(k, p.cx, p.cy, d.width, d.height, r.scale)
      preds[#preds + 1] = {ra = pra, dec = pdec, score = p.score, image = k, cx = p.cx, cy = p.cy}
    end
  end
  local m = dc.match(preds, truths, {max_kpc = opts.max_kpc})
  local best = m.rows[m.best]
  -- properties of all truths and of those returned at the best threshold
  local props = {"z", "bcg_rmag", "richness"}
  local all, found = {}, {}
  for _, p in ipairs(props) do all[p], found[p] = {}, {} end
  local distances, offsets = {}, {}
  for k, t in ipairs(m.truths) do
    local r = detected[truth_image[k]].row
    local returned = t.score ~= nil and t.score > best.threshold
    for _, p in ipairs(props) do
      if r[p] == r[p] then
        all[p][#all[p] + 1] = r[p]
        if returned then found[p][#found[p] + 1] = r[p] end
      end
    end
    offsets[#offsets + 1] = {x = r.offset_x, y = r.offset_y, returned = returned}
    if returned then distances[#distances + 1] = t.dist_kpc end
  end
  local ks = {}
  for _, p in ipairs(props) do
    if #found[p] > 0 and #all[p] > 0 then
      local r = dc.ks_2samp(found[p], all[p], {alpha = opts.alpha})
      r.property = p
      ks[#ks + 1] = r
    end
  end
  for i, p in ipairs(m.preds) do p.image, p.cx, p.cy = preds[i].image, preds[i].cx, preds[i].cy end
  return {rows = m.rows, best = m.best, preds = m.preds, ks = ks, distances = distances, offsets = offsets,
          n_images = #detected, n_predictions = #preds, max_kpc = opts.max_kpc, all = all, found = found}
end

-- The false positives at the best threshold, placed on the real sky (each image's centre and pixel
-- scale; north up), cross-matched against catalogues (files readable by deepcee.catalog_read) within
-- radius_arcmin and z_min < z < z_max (defaults: the paper's, deepcee.crossmatch_defaults()):
-- which FPs are known clusters. Returns {n_fp =, n_known =, fps = {{ra, dec, score, image,
-- catalogue, sep_arcsec}}, threshold =, opts = (the settings used)}.
function M.crossmatch(result, catalogues, opts)
  opts = util.config(dc.crossmatch_defaults(), opts, "evaluate.crossmatch")
  local thr = result.rows[result.best].threshold
  local fps = {}
  for _, p in ipairs(result.preds) do
    if p.score > thr and p.truth == nil then
      local d = result.detected[p.image]
      local r = d.row
      local dec = r.img_dec - (p.cy - d.height / 2) * r.scale / 3600
      local ra = (r.img_ra - (p.cx - d.width / 2) * r.scale / 3600 / math.cos(math.rad(r.img_dec))) % 360
      fps[#fps + 1] = {ra = ra, dec = dec, score = p.score, image = r.file}
    end
  end
  local n_known = 0
  if #fps > 0 then
    for _, path in ipairs(catalogues) do
      local cat = dc.catalog_read(path, {map = "auto"})
      local matches = dc.crossmatch(fps, {ra = cat.cols.ra, dec = cat.cols.dec, z = cat.cols.z}, opts)
      for i, mt in ipairs(matches) do
        if mt.index and not fps[i].catalogue then
          fps[i].catalogue, fps[i].sep_arcsec = path:match("([^/]+)$"), mt.sep_arcsec
          n_known = n_known + 1
        end
      end
    end
  end
  return {n_fp = #fps, n_known = n_known, fps = fps, threshold = thr, opts = opts}
end

-- Detect and score a split of a dataset folder.
function M.run(model, dataset, user)
  local opts = util.config(M.defaults, user, "evaluate")
  local rows = manifest.split(manifest.read(dataset), opts.split)
  if #rows == 0 then error(string.format("evaluate: %s has no %s rows", dataset, opts.split), 2) end
  local detected = M.detect_rows(model, rows, opts)
  local result = M.score(detected, opts)
  result.simulated = rows[1].simulated == 1
  result.detected = detected
  return result
end

return M
