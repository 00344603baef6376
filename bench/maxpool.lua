-- Max-pool forward and backward time on the device (SAME 3x3 stride 2, the demo network's pool1
-- shape by default), best of 10 batches of 10 calls each, with the backward / forward ratio (the
-- forward, in the same run, is the reference: the backward reads the same windows once more).
--   deepcee run bench/maxpool.lua [channels=16 size=128]
-- Inputs are ReLU-like (half zeros, so windows hold ties, as in training).
local dc = require("deepcee")
local util = require("deepcee_util")
local opt = util.args({channels = 16, size = 128}, {...}, "maxpool bench",
  {channels = {1, 4096, "integer"}, size = {3, 8192, "integer"}})
local C, H = opt.channels, opt.size
math.randomseed(1)
local v = {}
for i = 1, C * H * H do local r = math.random() - 0.5; v[i] = r > 0 and r or 0 end
local x <close> = dc.tensor({1, C, H, H}, v)
local cfg = {kernel = 3, stride = 2, padding = "SAME"}
local y <close> = dc.maxpool(x, cfg)
local g = {}
for i = 1, y:numel() do g[i] = math.random() end
local dy <close> = dc.tensor(y:shape(), g)
local function best(fn)
  local b = math.huge
  for _ = 1, 10 do
    local t0 = dc.now()
    for _ = 1, 10 do local z = fn() z:free() end
    dc.finish()
    b = math.min(b, (dc.now() - t0) / 10)
  end
  return b
end
best(function() return dc.maxpool_backward(x, y, dy, cfg) end) -- warm-up: kernels built
local tf = best(function() return dc.maxpool(x, cfg) end)
local tb = best(function() return dc.maxpool_backward(x, y, dy, cfg) end)
print(string.format("deepcee %s (commit %s) on %s: maxpool 1x%dx%dx%d 3x3 s2 SAME: forward %.3f ms, backward %.3f ms, "
  .. "backward / forward %.2f", dc.version, dc.commit, dc.device().name, C, H, H, tf * 1e3, tb * 1e3, tb / tf))
