-- k-fold cross-validation of the train/test split (issue 5; the improvement the paper suggests in
-- its section 5, after Yadav & Shukla 2016). The clusters of a built dataset -- every row of its
-- manifest: the 90/10 split column is ignored -- are dealt into k folds with deepcee.kfold on the
-- sorted cluster ids, so all offset cut-outs of a cluster share a fold. For each fold a fresh
-- model (the run's seed) trains on the other folds' images and is evaluated on the fold's images
-- with the test set's matching (lua/evaluate.lua). Every cluster is tested exactly once, and
-- evaluate.score gives each image its own patch of pseudo-sky, so scoring all folds' detections
-- together gives the pooled table whose counts are the sums of the folds' counts.
--
-- Layout under out: fold-<f>/train is train.lua's run folder (config, losses, checkpoint,
-- weights); fold-<f>/fold.lua holds the fold's clusters and detections (written when the fold is
-- finished); fold-<f>/fold_table.{txt,csv,json} its Table 2. Re-running: train.lua resumes a fold
-- from its checkpoint and loads a finished one without a step (its identity check refuses other
-- settings, the fold's cluster list included); the detections in fold.lua are reused when they were
-- made by the same weights (checksum), so only unfinished folds cost time.
--
-- The unseen region is not dealt into the folds: it comes from another region and catalogue, and
-- no fold trains on it. Each fold's model is evaluated on it once (one more independent test of
-- how much the model depends on its training subset: a column of the per-fold table); it is not
-- pooled, as pooling would count the same clusters k times.
local dc = require("deepcee")
local util = require("deepcee_util")
local manifest = require("manifest")
local train = require("train")
local evaluate = require("evaluate")
local report = require("report")

local M = {}

-- Check the options before anything is built. folds: 0 or 1 = off (the normal 90/10 split), k >= 2
-- = k folds; fold_seed: the seed of the assignment (0: the run's seed), only with folds >= 2;
-- max_clusters: the dataset's cap (0: none), which folds may not exceed. Errors name the key.
function M.check(where, folds, fold_seed, max_clusters)
  if math.tointeger(folds) == nil or folds < 0 then
    error(string.format("%s: folds=%s must be a whole number: 0 or 1 for the normal 90/10 split, k >= 2 for " ..
      "k-fold cross-validation", where, tostring(folds)), 0)
  end
  if math.tointeger(fold_seed) == nil or fold_seed < 0 then
    error(string.format("%s: fold_seed=%s must be a whole number >= 0 (0: the run's seed)", where, tostring(fold_seed)), 0)
  end
  if folds <= 1 and fold_seed ~= 0 then
    error(string.format("%s: fold_seed=%s needs folds=k with k >= 2 (folds=%s is the normal 90/10 split)", where,
      tostring(fold_seed), tostring(folds)), 0)
  end
  if folds >= 2 and max_clusters and max_clusters > 0 and folds > max_clusters then
    error(string.format("%s: folds=%d is more than the %d clusters of the dataset (clusters=%d); use folds <= %d",
      where, folds, max_clusters, max_clusters, max_clusters), 0)
  end
  return math.tointeger(folds) >= 2
end

-- The folds of a manifest's rows: {ids = sorted cluster ids, fold_of = {id -> f}, folds = {{train =
-- {ids}, test = {ids}}, ...}}.
function M.assign(rows, k, seed, where)
  local seen, ids = {}, {}
  for _, r in ipairs(rows) do
    if not seen[r.id] then seen[r.id], ids[#ids + 1] = true, r.id end
  end
  table.sort(ids)
  if k > #ids then
    error(string.format("%s: folds=%d is more than the %d clusters of the dataset; use folds <= %d", where, k, #ids,
      #ids), 0)
  end
  local idx, fold_index = dc.kfold(#ids, k, seed)
  local folds, fold_of = {}, {}
  for f, fi in ipairs(idx) do
    local train_ids, test_ids = {}, {}
    for _, i in ipairs(fi.train) do train_ids[#train_ids + 1] = ids[i] end
    for _, i in ipairs(fi.test) do test_ids[#test_ids + 1] = ids[i] end
    folds[f] = {train = train_ids, test = test_ids}
  end
  for i, id in ipairs(ids) do fold_of[id] = fold_index[i] end
  return {ids = ids, fold_of = fold_of, folds = folds}
end

-- Detections as a compact Lua constructor at full precision ({score, ymin, xmin, ymax, xmax} per
-- detection), and back onto manifest rows by file name (nil unless every row has its entry).
local function detections_text(detected)
  local lines = {}
  for k, d in ipairs(detected) do
    local dl = {}
    for i, p in ipairs(d.dets) do
      dl[i] = string.format("{%.17g, %.17g, %.17g, %.17g, %.17g}", p.score, p.box[1], p.box[2], p.box[3], p.box[4])
    end
    lines[k] = string.format("    {file = %q, width = %d, height = %d, dets = {%s}},", d.row.file, d.width, d.height,
      table.concat(dl, ", "))
  end
  return "{\n" .. table.concat(lines, "\n") .. "\n  }"
end

local function restore(saved, rows)
  if type(saved) ~= "table" or #saved ~= #rows then return nil end
  local by_file = {}
  for _, s in ipairs(saved) do by_file[s.file] = s end
  local out = {}
  for k, r in ipairs(rows) do
    local s = by_file[r.file]
    if not s then return nil end
    local dets = {}
    for i, p in ipairs(s.dets) do dets[i] = evaluate.detection(p[1], {p[2], p[3], p[4], p[5]}) end
    out[k] = {row = r, dets = dets, width = s.width, height = s.height}
  end
  return out
end

local function load_fold(path)
  if not util.exists(path) then return nil end
  local v = util.read_data(path, true)
  return type(v) == "table" and v or nil
end

local function scored(detected, simulated, quiet)
  local r = evaluate.score(detected, {quiet = quiet})
  r.simulated, r.detected = simulated, detected
  return r
end

-- Run the k folds. opts = {where, out, dataset (folder), unseen (folder or nil), folds, seed (the
-- assignment's), train (train.run config without dataset, out and clusters), simulated, quiet}.
-- Returns {k, seed, ids, fold_of, folds = {{fold, train_clusters, test_clusters = {ids}, train_images,
-- test_images, steps, trained, reused, seconds, run (folder), test = result, unseen = result}},
-- pooled = result over every fold's test images, mean_f1, std_f1 (sample, k - 1), best (fold index)}.
function M.run(opts)
  local all = manifest.read(opts.dataset)
  local a = M.assign(all, opts.folds, opts.seed, opts.where)
  local k = #a.folds
  local urows = opts.unseen and manifest.read(opts.unseen) or nil
  local function say(...)
    if not opts.quiet then print(string.format(...)) io.stdout:flush() end
  end
  say("%d clusters (%d images) in %d folds by cluster (seed %d); the unseen region is evaluated by every fold's model",
    #a.ids, #all, k, opts.seed)
  local t0 = dc.now()
  local out = {k = k, seed = opts.seed, ids = a.ids, fold_of = a.fold_of, folds = {}}
  local pooled_detected = {}
  for f, fold in ipairs(a.folds) do
    local t1 = dc.now()
    local test_rows, train_images = {}, 0
    for _, r in ipairs(all) do
      if a.fold_of[r.id] == f then test_rows[#test_rows + 1] = r else train_images = train_images + 1 end
    end
    say("\n-- fold %d of %d: training on %d clusters (%d images), testing on %d clusters (%d images) [%s]", f, k,
      #fold.train, train_images, #fold.test, #test_rows, util.duration(dc.now() - t0))
    local dir = string.format("%s/fold-%d", opts.out, f)
    util.mkdir(dir)
    local tc = {}
    for key, v in pairs(opts.train) do tc[key] = v end
    tc.dataset, tc.out, tc.clusters = opts.dataset, dir .. "/train", fold.train
    local run = train.run(tc)
    local checksum = run.model:checksum()
    local saved = load_fold(dir .. "/fold.lua")
    local test_det, unseen_det
    if saved and type(saved.fold) == "table" and saved.fold.checksum == checksum then
      test_det = restore(saved.test, test_rows)
      unseen_det = urows and restore(saved.unseen, urows)
    end
    local reused = test_det ~= nil and (urows == nil or unseen_det ~= nil)
    if reused then
      say("fold %d was finished earlier (%d steps): its weights and detections are reused", f, run.steps)
    else
      say("fold %d: detecting its %d test images%s", f, #test_rows, urows and
        string.format(" and the %d unseen-region images", #urows) or "")
      test_det = evaluate.detect_rows(run.model, test_rows, {max_detections = evaluate.defaults.max_detections,
        quiet = opts.quiet})
      unseen_det = urows and evaluate.detect_rows(run.model, urows, {max_detections =
        evaluate.defaults.max_detections, quiet = opts.quiet})
      util.write_file(dir .. "/fold.lua", "-- fold " .. f .. " of " .. k .. " (lua/kfold.lua): its clusters and the " ..
        "detections of its weights (checksum), reused by a re-run\nreturn {\n  fold = " .. util.serialize({fold = f,
        folds = k, seed = opts.seed, checksum = checksum, steps = run.steps, train_clusters = fold.train,
        test_clusters = fold.test}, "  ") .. ",\n  test = " .. detections_text(test_det) .. ",\n  unseen = " ..
        (unseen_det and detections_text(unseen_det) or "nil") .. "\n}\n")
    end
    run.model:free()
    local test = scored(test_det, opts.simulated, true)
    local unseen = unseen_det and scored(unseen_det, opts.simulated, true)
    local what = string.format("%sfold %d of %d", opts.simulated and "simulated " or "", f, k)
    report.write_table(report.pr_table(test, {name = "fold_table", what = what .. " (test clusters)",
      simulated = opts.simulated}), dir)
    for _, d in ipairs(test_det) do pooled_detected[#pooled_detected + 1] = d end
    out.folds[f] = {fold = f, train_clusters = #fold.train, test_clusters = fold.test, train_images = train_images,
      test_images = #test_rows, steps = run.steps, trained = run.trained, reused = reused,
      seconds = dc.now() - t1, run = tc.out, test = test, unseen = unseen}
    say("%s", report.best_text(test, what))
    if unseen then say("%s", report.best_text(unseen, what .. ", unseen region")) end
  end

  local pooled = scored(pooled_detected, opts.simulated, true)
  -- the folds' images are disjoint and matched image by image, so the counts must add up
  for t, row in ipairs(pooled.rows) do
    local tp, fp, fn = 0, 0, 0
    for _, fr in ipairs(out.folds) do
      tp, fp, fn = tp + fr.test.rows[t].tp, fp + fr.test.rows[t].fp, fn + fr.test.rows[t].fn
    end
    assert(row.tp == tp and row.fp == fp and row.fn == fn and tp + fn == #all, "k-fold: pooled counts")
  end
  out.pooled = pooled
  local sum, best = 0, 1
  for f, fr in ipairs(out.folds) do
    local f1 = fr.test.rows[fr.test.best].f1
    sum = sum + f1
    if f1 > out.folds[best].test.rows[out.folds[best].test.best].f1 then best = f end
  end
  out.mean_f1, out.best = sum / k, best
  local ss = 0
  for _, fr in ipairs(out.folds) do ss = ss + (fr.test.rows[fr.test.best].f1 - out.mean_f1) ^ 2 end
  out.std_f1 = math.sqrt(ss / (k - 1))
  return out
end

return M
