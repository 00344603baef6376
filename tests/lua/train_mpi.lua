-- Data-parallel training (ctest lua_train_mpi, only in builds with MPI): on a tiny synthetic
-- dataset (blobs on noise) with the tiny test network, `batch=4` trained on 2 MPI ranks gives the
-- losses of one process with the same batch (float tolerance: the gradient sums are added in
-- another order), is deterministic (a second 2-rank run writes the same losses.csv), resumes from
-- its checkpoint to the same losses, writes its run folder from rank 0 alone, and refuses fewer
-- images per step than ranks. Run by `deepcee run` in the build folder, DEEPCEE_MPIRUN = mpirun;
-- `deepcee run train_mpi.lua child DATASET OUT STEPS [BATCH]` is one training (what mpirun starts).
local dc = require("deepcee")
local util = require("deepcee_util")
local h = dofile(os.getenv("DEEPCEE_SOURCE_DIR") .. "/tests/lua/helpers.lua")

local argv = {...}
if argv[1] == "child" then
  h.register_tiny_net()
  require("train").run({network = "tiny", dataset = argv[2], out = argv[3], steps = tonumber(argv[4]),
    batch = tonumber(argv[5] or 4), lr = 0.01, checkpoint_every = 3, photometric = false, quiet = true, seed = 3})
  return
end

local sh = h.sh
local mpi2 = h.mpirun(2)
local script = os.getenv("DEEPCEE_SOURCE_DIR") .. "/tests/lua/train_mpi.lua"

local dir = os.tmpname()
os.remove(dir)
h.blob_dataset(dir .. "/data", 8, 7)

local function train(prefix, out, steps, batch)
  local cmd = string.format("%s./deepcee run %s child %s/data %s %d %d 2>&1", prefix, script, dir, out, steps, batch or 4)
  local text = sh(cmd .. "; echo \"rc=$?\"")
  return text:find("rc=0\n$") ~= nil, text, cmd
end
local function must(ok, text, cmd) assert(ok, cmd .. " failed:\n" .. text) end
local function losses(out)
  local t = {}
  for line in h.read(out .. "/losses.csv"):gmatch("[^\n]+") do
    if line:match("^%d") then
      local v = {}
      for x in line:gmatch("[^,]+") do v[#v + 1] = tonumber(x) end
      t[#t + 1] = v
    end
  end
  return t
end

must(train("", dir .. "/one", 6))
must(train(mpi2, dir .. "/two", 6))
local a, b = losses(dir .. "/one"), losses(dir .. "/two")
assert(#a == 6 and #b == 6, "6 steps each")
for s = 1, 6 do
  for c = 2, 7 do -- total, rpn_cls, rpn_box, dn_cls, dn_box, grad_norm
    h.close(b[s][c], a[s][c], 1e-4 * math.max(1, math.abs(a[s][c])), string.format("step %d column %d, 2 ranks vs 1", s, c))
  end
end
assert(a[6][2] ~= a[1][2], "the losses change as it trains")
-- deterministic: another 2-rank run writes the same file
must(train(mpi2, dir .. "/two-again", 6))
assert(h.read(dir .. "/two-again/losses.csv") == h.read(dir .. "/two/losses.csv"), "2-rank training is deterministic")
-- resumed from its checkpoint at step 3: the same losses and the same weights
must(train(mpi2, dir .. "/resumed", 3))
must(train(mpi2, dir .. "/resumed", 6))
assert(h.read(dir .. "/resumed/losses.csv") == h.read(dir .. "/two/losses.csv"), "resumed, the same losses")
h.register_tiny_net()
local function checksum(path)
  local m <close> = require("nets").build("tiny")
  m:load(path)
  return m:checksum()
end
assert(checksum(dir .. "/resumed/weights.dcw") == checksum(dir .. "/two/weights.dcw"), "resumed, the same weights")
-- rank 0 alone wrote: no temporaries of another process left, one config
assert(not sh("ls " .. dir .. "/two"):find("tmp"), "no temporaries left")
-- fewer images per step than ranks
local ok, text = train(mpi2, dir .. "/bad", 2, 1)
assert(not ok and text:find("batch=1 on 2 ranks", 1, true), "batch < ranks is refused:\n" .. text)

os.execute("rm -rf '" .. dir .. "'")
print("train MPI tests passed")
