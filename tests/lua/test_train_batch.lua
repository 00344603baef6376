-- Training with batch > 1 on one process (lua/train.lua `batch`: the step's gradients averaged over
-- its images, then clipped and applied): runs, resumes from a checkpoint to the same weights,
-- differs from batch = 1, and a run folder of another batch is refused. The same over 2 MPI ranks:
-- tests/lua/train_mpi.lua.
local util = require("deepcee_util")
local train = require("train")
local h = dofile(os.getenv("DEEPCEE_SOURCE_DIR") .. "/tests/lua/helpers.lua")
h.register_tiny_net()

local dir = os.tmpname()
os.remove(dir)
h.blob_dataset(dir .. "/data", 6, 11)
local function run(out, steps, batch)
  return train.run({network = "tiny", dataset = dir .. "/data", out = dir .. "/" .. out, steps = steps, batch = batch,
    lr = 0.01, checkpoint_every = 2, photometric = false, quiet = true, seed = 5})
end
local full = run("full", 4, 3)
assert(full.steps == 4 and full.last.total == full.last.total, "4 steps with 3 images each")
local part = run("part", 2, 3)
part.model:free()
local resumed = run("part", 4, 3)
assert(resumed.trained == 2 and resumed.model:checksum() == full.model:checksum(), "resumed to the same weights")
local one = run("one", 4, 1)
assert(one.model:checksum() ~= full.model:checksum(), "batch 3 is another training than batch 1")
h.expect_error(function() run("full", 6, 2) end, "another configuration")
h.expect_error(function() run("x", 2, 0) end, "batch=0", "out of range")
os.execute("rm -rf '" .. dir .. "'")
print("train batch tests passed")
