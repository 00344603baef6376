-- k-fold cross-validation (lua/kfold.lua through experiment.run) on a toy simulated dataset
-- (6 clusters x 2 offsets at 64 px, a tiny network, 3 folds of 60 steps):
--  * every cluster is tested exactly once, and each fold's training clusters (from its saved
--    train config) and test clusters are disjoint and together all clusters;
--  * the pooled table's counts are the sums of the folds' counts at every threshold (read back from
--    the CSV files), TP + FN = the number of images everywhere, and the mean and standard deviation
--    of the folds' best F1 are recomputed from the fold tables;
--  * the run folder holds the k-fold section (labelled simulated), its CSV/JSON files and figures;
--  * a second run of the same settings trains nothing and reuses every fold (same weights);
--  * bad settings (folds = 1 with fold_seed, a fractional or negative folds, more folds than
--    clusters, unknown keys, an unknown training cluster) are errors naming the key.
local dc = require("deepcee")
local util = require("deepcee_util")
local manifest = require("manifest")
local nets = require("nets")
local kfold = require("kfold")
local experiment = require("experiment")

local src = assert(os.getenv("DEEPCEE_SOURCE_DIR"), "DEEPCEE_SOURCE_DIR is not set (ctest sets it)")
local dir = os.tmpname()
os.remove(dir)
util.mkdir(dir)

local h = dofile(src .. "/tests/lua/helpers.lua")
local expect_error, read = h.expect_error, h.read

-- CSV rows as tables keyed by the header
local function csv(path)
  local lines = {}
  for line in read(path):gmatch("[^\n]+") do lines[#lines + 1] = line end
  local keys, rows = {}, {}
  for k in (lines[1] .. ","):gmatch("([^,]*),") do keys[#keys + 1] = k end
  for i = 2, #lines do
    local r, c = {}, 0
    for v in (lines[i] .. ","):gmatch("([^,]*),") do
      c = c + 1
      r[keys[c]] = tonumber(v) or v
    end
    rows[#rows + 1] = r
  end
  return rows
end

h.register_tiny_net() -- the demo's layout at 1/4 width for 64 px images

local function spec(over)
  local s = {name = "kfoldtest", title = "k-fold test", out = dir .. "/run", simulated = true, config = {k = 3},
    folds = 3, fold_seed = 0,
    data = {seed = 3, ra_min = 140, ra_max = 146, dec_min = 0, dec_max = 8, cutout_px = 300, image_px = 64,
      max_offset = 40, box_kpc = 60, offsets = 2, max_clusters = 6, unseen_ra_min = 245, unseen_ra_max = 248,
      unseen_dec_min = 30, unseen_dec_max = 33, quiet = true},
    train = {network = "tiny", steps = 60, lr = 0.01, seed = 3, checkpoint_every = 30, quiet = true}}
  for k, v in pairs(over or {}) do s[k] = v end
  return s
end

-- ---------------------------------------------------------------- bad settings first (cheap)

expect_error(function() experiment.run(spec({folds = 1, fold_seed = 5})) end, "fold_seed=5", "folds")
expect_error(function() experiment.run(spec({folds = 2.5})) end, "folds=2.5")
expect_error(function() experiment.run(spec({folds = -1})) end, "folds=-1")
expect_error(function() experiment.run(spec({folds = 7})) end, "folds=7", "6 clusters")
local demo = assert(loadfile(src .. "/scripts/demo.lua"))
expect_error(function() demo("out=" .. dir .. "/bad", "folds=1", "fold_seed=2") end, "demo: fold_seed=2")
expect_error(function() demo("out=" .. dir .. "/bad", "folds=3", "fold_sed=2") end, "unknown key 'fold_sed'")
expect_error(function() demo("out=" .. dir .. "/bad", "folds=three") end, "folds=three")
local paper = assert(loadfile(src .. "/scripts/paper.lua"))
expect_error(function() paper("out=" .. dir .. "/bad", "folds=1.5") end, "paper: folds=1.5")
assert(not util.exists(dir .. "/bad"), "a refused setting must not start a run folder")

-- ---------------------------------------------------------------- a 3-fold run

local t0 = dc.now()
local res = experiment.run(spec())
local t_first = dc.now() - t0
local kf = assert(res.kfold, "experiment.run returns the k-fold result")
local run = dir .. "/run"
local rows = manifest.read(run .. "/data")
local ids, n_ids = {}, 0
for _, r in ipairs(rows) do
  if not ids[r.id] then ids[r.id], n_ids = true, n_ids + 1 end
end
assert(n_ids == 6 and #rows == 12, string.format("toy dataset: %d clusters, %d images", n_ids, #rows))
assert(#kf.folds == 3, "3 folds")
expect_error(function() kfold.assign(rows, 7, 1, "kfoldtest") end, "folds=7", "6 clusters")

-- every cluster tested once; train and test disjoint by cluster and complete
local tested = {}
for f, fr in ipairs(kf.folds) do
  assert(#fr.test_clusters == 2, "fold " .. f .. " tests " .. #fr.test_clusters .. " clusters")
  local test = {}
  for _, id in ipairs(fr.test_clusters) do
    assert(ids[id], "fold " .. f .. " tests unknown cluster " .. id)
    tested[id] = (tested[id] or 0) + 1
    test[id] = true
  end
  -- the clusters the fold's model really trained on (its saved configuration)
  local cfg = assert(loadfile(run .. "/fold-" .. f .. "/train/config.lua", "t", {}))()
  assert(#cfg.clusters == 4, "fold " .. f .. " trains on " .. #cfg.clusters .. " clusters")
  for _, id in ipairs(cfg.clusters) do
    assert(ids[id] and not test[id], "fold " .. f .. ": cluster " .. id .. " both trained and tested")
  end
  -- every test image belongs to a test cluster, and every image of a test cluster is tested
  local n = 0
  for _, d in ipairs(fr.test.detected) do
    assert(test[d.row.id], "fold " .. f .. " tested an image of cluster " .. d.row.id)
    n = n + 1
  end
  assert(n == 4 and fr.test_images == 4 and fr.train_images == 8, "fold " .. f .. " images")
  assert(fr.trained == 60 and not fr.reused, "fold " .. f .. " trains in the first run")
  assert(fr.unseen and fr.unseen.n_images > 0, "fold " .. f .. " evaluates the unseen region")
end
for id in pairs(ids) do assert(tested[id] == 1, "cluster " .. id .. " tested " .. tostring(tested[id]) .. " times") end

-- pooled counts = the sum of the folds' counts, from the files
local pooled = csv(run .. "/kfold_pooled_table.csv")
assert(#pooled == 11, "pooled table rows")
local fold_tables = {}
for f = 1, 3 do fold_tables[f] = csv(run .. "/fold-" .. f .. "/fold_table.csv") end
for t, p in ipairs(pooled) do
  assert(p.simulated == 1, "pooled table labelled simulated")
  assert(p.tp + p.fn == #rows, string.format("pooled TP + FN = %d at threshold %g", p.tp + p.fn, p.threshold))
  local tp, fp, fn = 0, 0, 0
  for f = 1, 3 do
    local r = fold_tables[f][t]
    assert(r.threshold == p.threshold, "fold and pooled thresholds")
    tp, fp, fn = tp + r.tp, fp + r.fp, fn + r.fn
  end
  assert(p.tp == tp and p.fp == fp and p.fn == fn, string.format("pooled counts at %g: %d/%d/%d vs sum %d/%d/%d",
    p.threshold, p.tp, p.fp, p.fn, tp, fp, fn))
  local prec = (tp + fp) > 0 and tp / (tp + fp) or 0
  assert(math.abs(p.precision - prec) < 1e-12 and math.abs(p.recall - tp / (tp + fn)) < 1e-12, "pooled P/R")
end

-- mean and sample standard deviation of the folds' best F1 (each fold table's best row)
local f1s, sum = {}, 0
for f = 1, 3 do
  for _, r in ipairs(fold_tables[f]) do if r.best == 1 then f1s[f] = r.f1 end end
  sum = sum + f1s[f]
end
local mean, ss = sum / 3, 0
for f = 1, 3 do ss = ss + (f1s[f] - mean) ^ 2 end
assert(math.abs(kf.mean_f1 - mean) < 1e-12 and math.abs(kf.std_f1 - math.sqrt(ss / 2)) < 1e-12, "mean/std of F1")
local folds_csv = csv(run .. "/kfold_folds.csv")
assert(#folds_csv == 3, "per-fold table rows")
for f = 1, 3 do assert(math.abs(folds_csv[f].f1 - f1s[f]) < 1e-12, "per-fold table F1 of fold " .. f) end

-- the report
local md = read(run .. "/report.md")
for _, needle in ipairs({"Simulated data", "3-fold cross-validation by cluster",
    "Table 2 (simulated 3-fold cross-validation", "kfold_folds.csv", "kfold_pooled_table.csv", "pr_kfold_pooled.png",
    "fold-1/losses_total.png", "fold-3/train/weights.dcw", "kfold.json", "(simulated data)", "standard deviation"}) do
  assert(md:find(needle, 1, true), "report.md lacks '" .. needle .. "'")
end
assert(not md:find("(missing)", 1, true), "report.md lists a missing file")
for png in md:gmatch("%(([%w_/%-]+%.png)%)") do
  local f = io.open(run .. "/" .. png, "rb")
  assert(f and f:read(8) == "\137PNG\r\n\26\n", png .. " is not a PNG")
  f:close()
end
local metrics = read(run .. "/metrics.json")
assert(metrics:find('"kfold_mean_f1"') and metrics:find('"pooled_f1"') and metrics:find('"simulated": *true'),
  "metrics.json")
local kjson = read(run .. "/kfold.json")
assert(kjson:find('"per_fold"') and kjson:find('"pooled"') and kjson:find('"simulated": *true'), "kfold.json")

-- ---------------------------------------------------------------- a re-run reuses every fold

local sums = {}
for f = 1, 3 do
  local m = nets.build("tiny")
  local meta = m:load(run .. "/fold-" .. f .. "/train/weights.dcw")
  assert(meta.step == "60", "fold " .. f .. " weights at step " .. tostring(meta.step))
  sums[f] = m:checksum()
  m:free()
end
local losses1 = read(run .. "/fold-2/train/losses.csv")
t0 = dc.now()
local again = experiment.run(spec()).kfold
local t_second = dc.now() - t0
for f, fr in ipairs(again.folds) do
  assert(fr.trained == 0 and fr.reused and fr.steps == 60, "fold " .. f .. " was not reused")
  local m = nets.build("tiny")
  m:load(run .. "/fold-" .. f .. "/train/weights.dcw")
  assert(m:checksum() == sums[f], "fold " .. f .. " weights changed in the re-run")
  m:free()
end
assert(read(run .. "/fold-2/train/losses.csv") == losses1, "losses.csv changed in the re-run")
local pooled2 = csv(run .. "/kfold_pooled_table.csv")
for t, p in ipairs(pooled2) do
  assert(p.tp == pooled[t].tp and p.fp == pooled[t].fp and p.f1 == pooled[t].f1, "re-run pooled table differs")
end

-- a different assignment in the same folder is refused by the training identity, naming the way out
expect_error(function() experiment.run(spec({fold_seed = 9})) end, "another configuration")
-- training on a cluster the manifest lacks
expect_error(function() require("train").run({network = "tiny", dataset = run .. "/data", out = dir .. "/x",
  clusters = {"no-such-cluster"}, quiet = true}) end, "no-such-cluster")

print(string.format("test_kfold: 1 passed, 0 failed (first run %.1f s, re-run %.1f s)", t_first, t_second))
os.execute("rm -rf '" .. dir .. "'")
