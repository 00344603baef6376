-- deepcee train dataset=FOLDER [preset=paper|wide network=demo steps=2000 lr=0.0002 out=runs/train seed=1 batch=1 ...]
-- preset=wide: the property heads (props=true) on data/wide (deepcee dataset preset=wide), into runs/wide.
-- Trains the detector on a dataset folder (lua/dataset.lua builds them); see lua/train.lua.
-- `mpirun -np N deepcee train ... batch=B` shares each step's B images over N ranks.
local util = require("deepcee_util")
local train = require("train")
local cfg = util.preset_args(train.defaults, train.presets, {...}, "train", train.ranges, "paper")
local result = train.run(cfg)
if require("deepcee").mpi.init() == 0 then -- under mpirun, rank 0 speaks for all
  print(string.format("trained %d steps; weights in %s/weights.dcw", result.steps, result.run))
end
