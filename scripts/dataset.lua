-- deepcee dataset: build the training/test images, their manifest and the unseen-region set
-- (lua/dataset.lua describes every step and key).
--   deepcee run scripts/dataset.lua [preset=paper|demo] [key=value ...]
-- preset=paper (the default) is the paper's set from a simulated survey: WHL12-style cuts
-- 0.1 < z < 0.2, N200 >= 20, Dec > 0, 4 cut-outs of 2000 px per cluster offset within +-270",
-- written at 1000 px, 90/10 split by cluster, into data/paper. preset=demo: ~110 clusters at
-- 256 px from 800 px cut-outs into data/demo (well under two minutes on 2 CPU cores). preset=wide:
-- 0.05 < z < 0.5, N200 >= 10 (issue 10: redshift and richness estimates), 300 clusters into data/wide.
-- Real images: source=files catalog=WHL12.fits images=FOLDER (g, r, i FITS triplets with WCS).
-- Re-running the same command after an interruption resumes: images on disk are kept.
local util = require("deepcee_util")
local datasets = require("dataset")
local dc = require("deepcee")

local cfg = util.preset_args(datasets.defaults, datasets.presets, {...}, "datasets", datasets.ranges, "paper")
dc.handle_interrupts(true)
datasets.build(cfg)
