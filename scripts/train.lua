-- deepcee train dataset=FOLDER [preset=paper|wide network=demo steps=2000 lr=0.0002 out=runs/train seed=1 batch=1 ...]
-- preset=wide: the property heads (props=true) on data/wide (deepcee dataset preset=wide), into runs/wide.
-- Trains the detector on a dataset folder (lua/dataset.lua builds them); see lua/train.lua.
-- `mpirun -np N deepcee train ... batch=B` shares each step's B images over N ranks.
local util = require("deepcee_util")
local train = require("train")
local preset, rest = "paper", {}
for _, a in ipairs({...}) do
  local v = a:match("^preset=(.*)$")
  if v then preset = v else rest[#rest + 1] = a end
end
local base = train.presets[preset]
if not base then error(string.format("train: unknown preset '%s' (paper, wide)", preset), 0) end
-- the preset first, the command line on top; both checked against the defaults
local defaults = util.config(train.defaults, base, "train preset " .. preset, train.ranges)
local cfg = util.args(defaults, rest, "train", train.ranges)
local result = train.run(cfg)
if require("deepcee").mpi.init() == 0 then -- under mpirun, rank 0 speaks for all
  print(string.format("trained %d steps; weights in %s/weights.dcw", result.steps, result.run))
end
