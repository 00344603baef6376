-- deepcee demo: the README's main job, a complete experiment on a SIMULATED sky (lua/experiment.lua):
--   1. simulate a survey; build the training/test set from its WHL12-style catalogue with the
--      paper's cuts (0.1 < z < 0.2, N200 >= 20, Dec > 0), 4 offset cut-outs per cluster, split 90/10
--      by cluster; and the unseen set from a disjoint region's redMaPPer-style catalogue;
--   2. train the small `demo` network (lua/nets.lua);
--   3. evaluate the test set (the paper's Table 2) and the unseen set (Table 3), with KS tests;
--   4. evaluate whole held-out fields through `deepcee detect` (lua/fieldeval.lua: fields= fields of
--      field_px px from a third survey region; 0 disables);
--   5. write the run folder with the settings, losses, metrics, plots and report.md.
--   with folds=k (k >= 2) steps 2-3 become k-fold cross-validation by cluster (lua/kfold.lua).
--   deepcee demo [preset=demo|robust out=demo-run seed=1 clusters=300 background=300 hard_negatives=300 steps=13000
--                 lr=0.005 lr_decay_at=0.75 quick=false folds=0 fold_seed=0 fields=40 field_px=2000 props=false
--                 vary=true confounders=true artefacts=true]
--   training augments every step (lua/train.lua defaults: the 8 grid symmetries, flux jitter and
--   noise of a shallower survey)
local util = require("deepcee_util")
local dataset = require("dataset")
local experiment = require("experiment")
local train = require("train")

-- Presets: settings that change together (keys given on the command line win). `robust` is the
-- longer training of the shipped weights (weights/README.md): every cluster of the demo region
-- passing the cuts (375 of at most 800), 1000 background and 1000 hard-negative tiles, 24000 steps;
-- the shipped weights are then fine-tuned on their own false positives by `deepcee mine run=OUT`.
-- `wide` (issue 10) trains the property heads on lua/dataset.lua's wide preset (0.05 < z < 0.5,
-- N200 >= 10; its geometry instead of the demo's) and reports their metrics; no whole fields (their
-- survey keeps the simulator's z range).
local PRESETS = {
  demo = {},
  robust = {clusters = 800, background = 1000, hard_negatives = 1000, steps = 24000},
  wide = {props = true, fields = 0},
}

local cfg = util.args({
  preset = "demo",         -- demo (the README's main job), robust (the shipped weights' training) or wide
  out = "demo-run", seed = 1,
  clusters = 300,          -- training + test clusters (x4 offset images); the unseen region adds its own
  background = 300,        -- tiles with no target (lua/dataset.lua), split 90/10 like the clusters
  hard_negatives = 300,    -- tiles centred on non-targets: catalogue clusters failing the cuts and the
                           -- sky's confounders (LRGs, pairs, compact/foreground groups, background
                           -- and poor clusters), drawn stratified by kind (lua/dataset.lua)
  -- the training sky (lua/dataset.lua; false: that part as before it existed)
  vary = dataset.defaults.vary, confounders = dataset.defaults.confounders, artefacts = dataset.defaults.artefacts,
  steps = 13000, lr = 0.005,
  lr_decay_at = 0.75,      -- lr x 0.1 for the last quarter of the steps (lua/train.lua)
  quick = false,           -- a small, fast variant (the end-to-end test)
  folds = 0,               -- k >= 2: k-fold cross-validation by cluster instead of the 90/10 split
  fold_seed = 0,           -- the folds' seed (0: seed)
  fields = 40,             -- whole held-out fields through deepcee detect after the cut-out tables (0: none)
  field_px = 2000,         -- their size in pixels (>= 1000, the demo network's 256 px tile at 3.9 px per px)
  props = train.defaults.props, -- the property heads (redshift, richness; lua/train.lua), reported per set
}, {...}, "demo", {seed = {0, 2 ^ 53, "integer"}, clusters = {2, 1e6, "integer"}, steps = {1, 1e9, "integer"},
  lr = {1e-9, 1}, lr_decay_at = {0, 0.99}, folds = {0, 1000, "integer"}, fold_seed = {0, 2 ^ 53, "integer"},
  background = {0, 1e6, "integer"}, hard_negatives = {0, 1e6, "integer"}, fields = {0, 10000, "integer"},
  field_px = {64, 20000, "integer"}})
local preset = PRESETS[cfg.preset]
if not preset then
  error(string.format("demo: preset=%s: give demo, robust or wide", cfg.preset), 0)
end
do
  local given = {}
  for _, a in ipairs({...}) do given[a:match("^([%w_]+)=") or ""] = true end
  for k, v in pairs(preset) do if not given[k] then cfg[k] = v end end
end
if cfg.quick then
  cfg.clusters, cfg.background, cfg.hard_negatives, cfg.steps, cfg.fields = 30, 10, 10, 300, math.min(cfg.fields, 3)
end

-- the demo preset: 1000 px cut-outs written at 256 px (lua/dataset.lua); wide: its own
local data = {}
for k, v in pairs(dataset.presets[cfg.preset == "wide" and "wide" or "demo"]) do data[k] = v end
data.seed, data.max_clusters = cfg.seed, cfg.clusters
data.background, data.hard_negatives = cfg.background, cfg.hard_negatives
data.vary, data.confounders, data.artefacts = cfg.vary, cfg.confounders, cfg.artefacts
experiment.run({title = "deepcee demo: Deep-CEE on a simulated SDSS-like survey", out = cfg.out, simulated = true,
  config = cfg, data = data, name = "demo", folds = cfg.folds, fold_seed = cfg.fold_seed,
  fields = cfg.fields, field_px = cfg.field_px,
  train = {network = "demo", steps = cfg.steps, lr = cfg.lr, lr_decay_at = cfg.lr_decay_at, seed = cfg.seed,
           log_every = math.max(10, cfg.steps // 20), props = cfg.props}})
