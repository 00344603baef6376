-- deepcee paper: the paper's experiment in full form (Chan & Stott 2019; docs/facts.md sections 1-2):
-- the WHL12 selection (0.1 < z < 0.2, N200 >= 20, Dec > 0) on the simulated survey, 497 clusters x 4
-- offset cut-outs of 2000 px written at 1000 px, 90/10 split by cluster, the Inception-v2 `paper`
-- network at 1000x1000, SGD momentum 0.9 at lr 0.0002 with clipping at 10 for 7,458 steps, then
-- Tables 2 and 3, KS tests and every figure (lua/experiment.lua), then 60 whole held-out simulated
-- fields of 2000 px through `deepcee detect` (lua/fieldeval.lua; fields=0 disables). Real data: source=files
-- catalog=FILE images=DIR unseen_catalog=FILE (see lua/dataset.lua) and simulated=false.
-- On a GPU it runs end to end; on a CPU it shows its ETA, checkpoints every 100 steps and resumes
-- when run again with the same settings.
--   deepcee paper [out=paper-run steps=7458 seed=1 clusters=497 unseen=true source=sim catalog= images=
--                  unseen_catalog= folds=0 fold_seed=0 fields=60 field_px=2000 vary=true confounders=true
--                  artefacts=true]   (clusters=2 steps=2 unseen=false fields=0: a few-minute trial
--                  of the mechanics; folds=k >= 2: k-fold cross-validation by cluster, lua/kfold.lua)
local util = require("deepcee_util")
local dataset = require("dataset")
local experiment = require("experiment")
local train = require("train")

local cfg = util.args({out = "paper-run", steps = 7458, lr = 0.0002, seed = 1, source = "sim", catalog = "",
  images = "", unseen_catalog = "", unseen = true, clusters = 497, checkpoint_every = 100, folds = 0, fold_seed = 0,
  fields = 60, field_px = 2000,
  props = train.defaults.props, -- the property heads (redshift, richness; lua/train.lua), reported per set
  -- the simulated training sky (lua/dataset.lua; false: that part as before it existed)
  vary = dataset.defaults.vary, confounders = dataset.defaults.confounders, artefacts = dataset.defaults.artefacts},  -- whole fields: the network's 1000 px input at 2 px per px needs >= 2000 px
  {...}, "paper", {steps = {1, 1e9, "integer"}, lr = {1e-9, 1}, seed = {0, 2 ^ 53, "integer"},
  clusters = {1, 1e7, "integer"}, checkpoint_every = {1, 1e9, "integer"}, folds = {0, 1000, "integer"},
  fold_seed = {0, 2 ^ 53, "integer"}, fields = {0, 10000, "integer"}, field_px = {64, 20000, "integer"}})
local data = {}
for k, v in pairs(dataset.presets.paper) do data[k] = v end
data.seed, data.source, data.catalog, data.images, data.unseen_catalog, data.unseen, data.max_clusters =
  cfg.seed, cfg.source, cfg.catalog, cfg.images, cfg.unseen_catalog, cfg.unseen, cfg.clusters
data.vary, data.confounders, data.artefacts = cfg.vary, cfg.confounders, cfg.artefacts
experiment.run({title = "Deep-CEE, the paper's configuration", out = cfg.out, simulated = cfg.source == "sim",
  config = cfg, data = data, name = "paper", folds = cfg.folds, fold_seed = cfg.fold_seed,
  fields = cfg.fields, field_px = cfg.field_px,
  train = {network = "paper", steps = cfg.steps, lr = cfg.lr, seed = cfg.seed, flip = true,
           checkpoint_every = cfg.checkpoint_every, log_every = 1, props = cfg.props}})
