-- Shared by the Lua tests (not a test itself: CMake runs tests/lua/test_*.lua). Load with
--   local h = dofile(os.getenv("DEEPCEE_SOURCE_DIR") .. "/tests/lua/helpers.lua")
local nets = require("nets")

local H = {}

-- fn() must raise an error whose text contains every one of the strings given.
function H.expect_error(fn, ...)
  local ok, err = pcall(fn)
  assert(not ok, "expected an error mentioning '" .. table.concat({...}, "', '") .. "'")
  for _, s in ipairs({...}) do
    assert(tostring(err):find(s, 1, true), string.format("error '%s' does not mention '%s'", tostring(err), s))
  end
  return err
end

-- |a - b| <= tol, else an error naming what was compared.
function H.close(a, b, tol, what)
  assert(math.abs(a - b) <= tol, string.format("%s: %.7g vs %.7g (tolerance %g)", what, a, b, tol))
end

-- The whole content of a file that must exist.
-- A copy of base with the keys of t on top (a test's base config and one case's changes).
function H.with(base, t)
  local c = {}
  for k, v in pairs(base) do c[k] = v end
  for k, v in pairs(t or {}) do c[k] = v end
  return c
end

function H.read(path)
  local f = assert(io.open(path, "rb"), "missing " .. path)
  local s = f:read("a")
  f:close()
  return s
end

-- Register nets.configs.tiny: the demo's layout at 1/4 width for 64 px images, anchors for 24 px
-- objects on the stride-16 grid (fast enough for tests that train).
function H.register_tiny_net()
  nets.configs.tiny = {
    image_size = 64,
    model = function()
      local fn = nets.demo_fn()
      for _, l in ipairs(fn) do if l.out then l.out = math.max(4, l.out // 4) end end
      return {fn = fn, dn = {{"conv", name = "c", out = 8, k = 3, relu = true, input = "input"},
                             {"global_avgpool", name = "mean"}},
              rpn_channels = 8, anchor_base = 24, anchor_scales = {1.0}, anchor_ratios = {1.0},
              crop_size = 4, rpn_batch = 32, dn_batch = 16, pre_nms_top_k = 50, max_proposals = 20}
    end,
  }
end

-- A tiny synthetic training set in dir (made): n 64x64 PNGs, each one bright blob with its box on
-- noise (not a sky simulation), all split "train"; for tests that train the tiny network.
function H.blob_dataset(dir, n, seed)
  local dc = require("deepcee")
  require("deepcee_util").mkdir(dir)
  math.randomseed(seed)
  local rows = {}
  for k = 1, n do
    local S = 64
    local rgb <close> = dc.rgb(S, S)
    local cx, cy = math.random(20, 44), math.random(20, 44)
    for y = 0, S - 1 do
      for x = 0, S - 1 do
        local v = math.floor(math.min(255, 40 + 200 * math.exp(-((x - cx) ^ 2 + (y - cy) ^ 2) / 40) + math.random(0, 30)))
        rgb:set(x, y, v, v, math.floor(v * 0.8))
      end
    end
    local file = string.format("img%02d.png", k)
    rgb:write_png(dir .. "/" .. file)
    rows[k] = {file = file, split = "train", id = "C" .. k, ra = 150, dec = 2, z = 0.15, richness = 30, n200 = 20,
      bcg_rmag = 16, ymin = cy - 12, xmin = cx - 12, ymax = cy + 12, xmax = cx + 12, cx = cx, cy = cy, img_ra = 150,
      img_dec = 2, scale = 3.168, offset_x = 0, offset_y = 0, simulated = 0}
  end
  require("manifest").write(dir, rows)
end

-- The output of a shell command.
function H.sh(cmd)
  local p = io.popen(cmd)
  local s = p:read("a")
  p:close()
  return s
end

-- "mpirun --oversubscribe [--allow-run-as-root] -np N " from DEEPCEE_MPIRUN (Open MPI refuses root
-- without --allow-run-as-root: it is given only when running as root).
function H.mpirun(n)
  local mpirun = assert(os.getenv("DEEPCEE_MPIRUN"), "DEEPCEE_MPIRUN must name mpirun")
  local root = H.sh("id -u"):match("^%s*0%s*$") ~= nil
  return string.format("%s --oversubscribe%s -np %d ", mpirun, root and " --allow-run-as-root" or "", n)
end

return H
