-- A whole experiment as the paper's: build the datasets (train/test and the unseen region), train,
-- evaluate both sets (Tables 2 and 3, KS tests), and write the run folder with report.md. The demo
-- (scripts/demo.lua) and the paper configuration (scripts/paper.lua) are two settings of this.
-- With folds = k >= 2 the single 90/10 split is replaced by k-fold cross-validation by cluster
-- (lua/kfold.lua): k models, each tested on one fold, and a pooled table over every cluster.
local dc = require("deepcee")
local util = require("deepcee_util")
local dataset = require("dataset")
local train = require("train")
local evaluate = require("evaluate")
local report = require("report")
local kfold = require("kfold")
local fieldeval = require("fieldeval")
local props = require("props")

local M = {}

-- False positives that are known clusters of the survey's catalogues (the paper's radius and
-- redshift range, deepcee.crossmatch_defaults()).
local function within(x, arcmin)
  return string.format("within %g%s, %g < z < %g", x.opts.radius_arcmin, arcmin, x.opts.z_min, x.opts.z_max)
end

local function known(result, folder)
  local cats = {}
  for _, name in ipairs({"catalog-whl12.fits", "catalog-redmapper.fits"}) do
    if util.exists(folder .. "/" .. name) then cats[#cats + 1] = folder .. "/" .. name end
  end
  if #cats == 0 then return nil end
  local x = evaluate.crossmatch(result, cats)
  print(string.format("  %d of %d false positives at the %d %% threshold are catalogued clusters (%s)",
    x.n_known, x.n_fp, math.floor(x.threshold * 100 + 0.5), within(x, "'")))
  return x
end

local function note(section, x)
  if not x then return end
  section.text = section.text or {}
  section.text[#section.text + 1] = string.format("False positives cross-matched against the survey's catalogues "
    .. "(%s): %d of %d at the %d %% threshold are catalogued clusters.",
    within(x, " arcmin"), x.n_known, x.n_fp, math.floor(x.threshold * 100 + 0.5))
end

-- The whole-field evaluation of a trained model (lua/fieldeval.lua) after the cut-out tables:
-- spec.fields held-out simulated fields of spec.field_px px (0 fields: none; real-data runs:
-- none, the fields are simulated). Returns the report section and fieldeval's result, or nil.
local function whole_fields(spec, weights, compare)
  local n = spec.fields or 0
  if n <= 0 then return nil end
  if not spec.simulated then
    print("  whole fields: skipped (the fields are simulated; this run's data are real)")
    return nil
  end
  -- the held-out fields are drawn like the training sky (the dataset's sky keys)
  local d = spec.data or {}
  local function key(k) if d[k] == nil then return fieldeval.defaults[k] end return d[k] end
  local r = fieldeval.run({weights = weights, out = spec.out .. "/fields", seed = spec.train.seed, fields = n,
    field_px = spec.field_px or fieldeval.defaults.field_px, vary = key("vary"), confounders = key("confounders"),
    artefacts = key("artefacts")})
  local section = report.write_fields(spec.out, r, {simulated = true, compare = compare,
    fp_text = fieldeval.fp_kinds_text(r)})
  return section, r
end

local function field_metrics(metrics, section)
  if not section then return end
  local m = section.metrics
  metrics.fields_n, metrics.fields_targets, metrics.fields_best_threshold = m.fields, m.targets, m.best_threshold
  metrics.fields_precision, metrics.fields_recall, metrics.fields_f1 = m.precision, m.recall, m.f1
  metrics.fields_fp_per_field, metrics.fields_fp_per_deg2, metrics.fields_std_err_kpc =
    m.fp_per_field, m.fp_per_deg2, m.std_err_kpc
  metrics.fields_seconds_per_field = m.seconds_per_field
end

-- Stages 2 and 3 with folds = k: the folds (training and evaluation), then the report.
local function run_kfold(spec, data_dir, stage, t0, device)
  stage("2/3 k-fold cross-validation")
  local unseen = util.exists(data_dir .. "/unseen/manifest.csv") and data_dir .. "/unseen" or nil
  local kf = kfold.run({where = spec.name or "experiment", out = spec.out, dataset = data_dir, unseen = unseen,
    folds = spec.folds, seed = (spec.fold_seed or 0) ~= 0 and spec.fold_seed or spec.train.seed, train = spec.train,
    simulated = spec.simulated})

  stage("3/3 report")
  local training = {name = "training", title = "Training (one model per fold)", plots = {}}
  local files = {{file = "settings.lua", caption = "the run's settings"},
    {file = "kfold.json", caption = "every fold's clusters and threshold sweep, and the pooled sweep"}}
  for f, fr in ipairs(kf.folds) do
    local fd = "fold-" .. f
    local plot = report.loss_section(spec.out .. "/" .. fd, fr.run .. "/losses.csv", {simulated = spec.simulated}).plots[1]
    training.plots[f] = {file = fd .. "/" .. plot.file, caption = string.format("Fold %d: %s", f, plot.caption)}
    files[#files + 1] = {file = fd .. "/fold_table.csv", caption = string.format("fold %d: its test clusters' table", f)}
    files[#files + 1] = {file = fd .. "/train/losses.csv", caption = string.format("fold %d: training losses", f)}
    files[#files + 1] = {file = fd .. "/train/weights.dcw", caption = string.format("fold %d: trained weights", f)}
  end
  local section = report.write_kfold(spec.out, kf, {simulated = spec.simulated})
  local x = known(kf.pooled, data_dir)
  note(section, x)
  local pb = kf.pooled.rows[kf.pooled.best]
  local sections = {training, section}
  -- whole fields with the best fold's model
  local bf = section.metrics.best_fold
  local fsec = whole_fields(spec, string.format("%s/fold-%d/train/weights.dcw", spec.out, bf),
    {{what = string.format("%d-fold test cut-outs, pooled", #kf.folds), result = kf.pooled}})
  if fsec then
    table.insert(fsec.text, 1, string.format("Model: the best fold's (fold %d).", bf))
    sections[#sections + 1] = fsec
  end
  local metrics = {kfold_folds = #kf.folds, kfold_mean_f1 = kf.mean_f1, kfold_std_f1 = kf.std_f1,
      kfold_best_fold = section.metrics.best_fold, pooled_best_threshold = pb.threshold,
      pooled_precision = pb.precision, pooled_recall = pb.recall, pooled_f1 = pb.f1,
      pooled_std_err_kpc = pb.std_err_kpc, pooled_fp_known = x and x.n_known, pooled_fp = x and x.n_fp}
  field_metrics(metrics, fsec)
  report.write_run(spec.out, {
    title = spec.title .. string.format(" (%d-fold cross-validation)", #kf.folds), simulated = spec.simulated,
    seed = spec.train.seed, device = device, config = spec.config, seconds = dc.now() - t0,
    sections = sections, metrics = metrics, files = files,
  })
  local what = spec.simulated and "simulated " or ""
  print(string.format("\n%s%d-fold cross-validation: best F1 per fold mean %.3f, standard deviation %.3f", what,
    #kf.folds, kf.mean_f1, kf.std_f1))
  print(string.format("%sall folds pooled (%d images of %d clusters): best F1 %.3f at %d%% (precision %.3f, recall %.3f)",
    what, pb.tp + pb.fn, #kf.ids, pb.f1, math.floor(pb.threshold * 100 + 0.5), pb.precision, pb.recall))
  print(string.format("finished in %s; report: %s/report.md", util.duration(dc.now() - t0), spec.out))
  return {kfold = kf}
end

-- spec = {title, out, simulated, data = dataset.build config, train = train.run config (dataset and
-- out are filled in), config = the script's settings for the record, name = the script's name for
-- errors, folds = 0 or 1 (the 90/10 split) or k >= 2 (k-fold), fold_seed = the folds' seed (0: the
-- training seed), fields = whole held-out fields evaluated after the cut-out tables (0: none;
-- lua/fieldeval.lua), field_px = their size (default fieldeval's 2000)}. Returns {test =, unseen
-- =, run =, fields =}, or {kfold = lua/kfold.lua's result}.
function M.run(spec)
  local t0 = dc.now()
  local by_folds = kfold.check(spec.name or "experiment", spec.folds or 0, spec.fold_seed or 0, spec.data.max_clusters)
  local n = by_folds and 3 or 4
  local function stage(s) print(string.format("\n== %s [%s]", s, util.duration(dc.now() - t0))) io.stdout:flush() end
  local d = dc.device()
  print(string.format("deepcee %s (commit %s): %s on %s (%s)", dc.version, dc.commit, spec.title, d.name, d.platform))
  if spec.simulated then print("All data in this run are SIMULATED (deepcee's SDSS-like sky), not real SDSS images.") end
  util.mkdir(spec.out)
  util.write_file(spec.out .. "/settings.lua", "return " .. util.serialize(spec.config) .. "\n")

  stage(string.format("1/%d building the datasets", n))
  local data = {}
  for k, v in pairs(spec.data) do data[k] = v end
  data.out = spec.out .. "/data"
  dataset.build(data)
  if by_folds then return run_kfold(spec, data.out, stage, t0, d) end

  stage("2/4 training")
  local tc = {}
  for k, v in pairs(spec.train) do tc[k] = v end
  tc.dataset, tc.out = data.out, spec.out .. "/train"
  local run = train.run(tc)

  stage("3/4 evaluating")
  local test = evaluate.run(run.model, data.out, {split = "test"})
  local unseen -- real data without an unseen catalogue have no unseen set
  if util.exists(data.out .. "/unseen/manifest.csv") then
    unseen = evaluate.run(run.model, data.out .. "/unseen", {split = "test"})
  end

  local xtest = known(test, data.out)
  local xunseen = unseen and known(unseen, data.out .. "/unseen")

  stage("4/4 report")
  local what = spec.simulated and "simulated " or ""
  local compare = {{what = what .. "test cut-outs", result = test}}
  if unseen then compare[2] = {what = what .. "unseen cut-outs", result = unseen} end
  local sections = {
    report.loss_section(spec.out, tc.out .. "/losses.csv", {simulated = spec.simulated}),
    report.write_evaluation(spec.out, test, {name = "test", what = what .. "test set",
      title = "Table 2 (" .. what .. "test set)", simulated = spec.simulated}),
  }
  note(sections[2], xtest)
  if unseen then
    sections[#sections + 1] = report.write_evaluation(spec.out, unseen, {name = "unseen", what = what .. "unseen region",
      title = "Table 3 (" .. what .. "unseen region, redMaPPer-style catalogue)", simulated = spec.simulated})
  end
  note(sections[3], xunseen)
  -- a model with property heads (issue 10): metrics, the selection function and figures per set
  for _, set in ipairs(run.model:has_props() and {{"test", test, "test set"}, {"unseen", unseen, "unseen region"}} or {}) do
    local p = set[2] and props.write_evaluation(spec.out, set[2].detected, set[2], {name = set[1],
      what = what .. set[3], simulated = spec.simulated})
    if p then
      sections[#sections + 1] = p.section
      print(p.section.text[1])
    end
  end
  local best = test.rows[test.best]
  local ubest = unseen and unseen.rows[unseen.best] or {}
  -- whole held-out fields through deepcee detect, after the cut-out tables
  local fsec, fields = whole_fields(spec, tc.out .. "/weights.dcw", compare)
  if fsec then sections[#sections + 1] = fsec end
  local metrics = {test_best_threshold = best.threshold, test_precision = best.precision, test_recall = best.recall,
      test_f1 = best.f1, test_std_err_kpc = best.std_err_kpc, unseen_best_threshold = ubest.threshold,
      unseen_precision = ubest.precision, unseen_recall = ubest.recall, unseen_f1 = ubest.f1,
      train_steps = run.steps, train_seconds = run.seconds,
      test_fp_known = xtest and xtest.n_known, test_fp = xtest and xtest.n_fp,
      unseen_fp_known = xunseen and xunseen.n_known, unseen_fp = xunseen and xunseen.n_fp}
  field_metrics(metrics, fsec)
  report.write_run(spec.out, {
    title = spec.title, simulated = spec.simulated, seed = spec.train.seed, device = d, config = spec.config,
    seconds = dc.now() - t0, sections = sections,
    metrics = metrics,
    files = {{file = "settings.lua", caption = "the run's settings"}, {file = "train/config.lua", caption = "training configuration"},
      {file = "train/losses.csv", caption = "training losses (Table A1 form)"},
      {file = "train/weights.dcw", caption = "trained weights"}},
  })
  print(string.format("\n%stest set: best F1 %.3f at %d%% (precision %.3f, recall %.3f)", what,
    best.f1, math.floor(best.threshold * 100 + 0.5), best.precision, best.recall))
  if unseen then
    print(string.format("%sunseen region: best F1 %.3f at %d%% (precision %.3f, recall %.3f)", what,
      ubest.f1, math.floor(ubest.threshold * 100 + 0.5), ubest.precision, ubest.recall))
  end
  if fields then
    local fb = fields.rows[fields.best]
    print(string.format("%swhole fields (%d, through detect): best F1 %.3f at %d%% (precision %.3f, recall %.3f), "
      .. "%.2f FP per field", what, fields.n_fields, fb.f1, math.floor(fb.threshold * 100 + 0.5), fb.precision,
      fb.recall, fb.fp_per_field))
  end
  print(string.format("finished in %s; report: %s/report.md", util.duration(dc.now() - t0), spec.out))
  return {test = test, unseen = unseen, run = run, fields = fields}
end

return M
