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

local preset, rest = "paper", {}
for _, a in ipairs({...}) do
  local v = a:match("^preset=(.*)$")
  if v then preset = v else rest[#rest + 1] = a end
end
local base = datasets.presets[preset]
if not base then error(string.format("datasets: unknown preset '%s' (paper, demo, wide)", preset), 0) end
-- the preset first, the command line on top; both checked against the defaults
local defaults = util.config(datasets.defaults, base, "datasets preset " .. preset, datasets.ranges)
local cfg = util.args(defaults, rest, "datasets", datasets.ranges)
dc.handle_interrupts(true)
datasets.build(cfg)
