-- Training augmentation (lua/train.lua, rgb:dihedral and rgb:photometric in engine/astro/rgb.c):
--  * each of the 8 grid symmetries moves every pixel where the continuous point map says (a
--    brute-force check of the C transform against train.dihedral_point on a non-square picture
--    of random pixels), and a rendered box's pixels land exactly inside train.row_box's box;
--  * the photometric change is the identity (every byte) with scale 1 and no noise, and on a flat
--    picture the measured flux scale and added noise variance match the requested ones;
--  * the per-step draws: ln(scale) has the sigma flux_jitter, the noise stays within the depth
--    range, the 8 symmetries come up about equally often, all a fixed function of (seed, step);
--  * a training step on an image with no ground truth (a background tile) has no positives, zero
--    box losses and finite class losses, and repeated steps lower its objectness loss.
local dc = require("deepcee")
local util = require("deepcee_util")
local train = require("train")
local nets = require("nets")
local h = dofile(assert(os.getenv("DEEPCEE_SOURCE_DIR"), "DEEPCEE_SOURCE_DIR is not set (ctest sets it)")
  .. "/tests/lua/helpers.lua")

local dir = os.tmpname()
os.remove(dir)
util.mkdir(dir)

-- tensor [1, 3, H, W] in [-1, 1] -> the byte of channel c at (x, y)
local function byte_at(t, shape, c, x, y)
  return math.floor((t[(c * shape[3] + y) * shape[4] + x + 1] + 1) * 255 / 2 + 0.5)
end

-- ---------------------------------------------------------------- dihedral symmetries
local W, H = 13, 8
math.randomseed(11)
local src <close> = dc.rgb(W, H)
local pix = {}
for y = 0, H - 1 do
  for x = 0, W - 1 do
    local v = {math.random(0, 255), math.random(0, 255), math.random(0, 255)}
    pix[y * W + x] = v
    src:set(x, y, v[1], v[2], v[3])
  end
end
src:write_png(dir .. "/random.png")
-- a rendered box: pixels [3, 7) x [2, 5) white on black (continuous box xmin 3, xmax 7, ymin 2, ymax 5)
local boxed <close> = dc.rgb(W, H)
for y = 2, 4 do for x = 3, 6 do boxed:set(x, y, 255, 255, 255) end end
boxed:write_png(dir .. "/box.png")
local row = {kind = "target", xmin = 3, xmax = 7, ymin = 2, ymax = 5}

local seen = {}
for t = 0, 7 do
  -- every source pixel's centre, mapped by the continuous rule, holds that pixel in the output
  local img <close> = util.load_image(dir .. "/random.png", {dihedral = t})
  local shape = img:shape()
  local _, _, w2, h2 = train.dihedral_point(t, 0, 0, W, H)
  assert(shape[4] == w2 and shape[3] == h2, string.format("t=%d: %dx%d, expected %dx%d", t, shape[4], shape[3], w2, h2))
  local v = img:to_table()
  for y = 0, H - 1 do
    for x = 0, W - 1 do
      local px, py = train.dihedral_point(t, x + 0.5, y + 0.5, W, H)
      local ox, oy = math.floor(px), math.floor(py)
      for c = 0, 2 do
        assert(byte_at(v, shape, c, ox, oy) == pix[y * W + x][c + 1],
          string.format("t=%d: source (%d, %d) channel %d not at (%d, %d)", t, x, y, c, ox, oy))
      end
    end
  end
  local key = table.concat(v, ",")
  assert(not seen[key], "t=" .. t .. " repeats another symmetry")
  seen[key] = true
  -- the rendered box's pixels are exactly those whose centre lies inside the transformed box
  local b = train.row_box(row, W, H, t)
  local bi <close> = util.load_image(dir .. "/box.png", {dihedral = t})
  local bv, bs = bi:to_table(), bi:shape()
  local lit = 0
  for y = 0, bs[3] - 1 do
    for x = 0, bs[4] - 1 do
      local on = byte_at(bv, bs, 0, x, y) == 255
      local inside = x + 0.5 > b[2] and x + 0.5 < b[4] and y + 0.5 > b[1] and y + 0.5 < b[3]
      assert(on == inside, string.format("t=%d: pixel (%d, %d) lit=%s but inside the box=%s (box %g %g %g %g)",
        t, x, y, tostring(on), tostring(inside), b[1], b[2], b[3], b[4]))
      if on then lit = lit + 1 end
    end
  end
  assert(lit == 12 and (b[3] - b[1]) * (b[4] - b[2]) == 12, "t=" .. t .. ": box area")
end
-- t = 4 is the old left-right flip, with the old box rule
do
  local a <close> = util.load_image(dir .. "/random.png", {dihedral = 4})
  local b <close> = util.load_image(dir .. "/random.png", true)
  assert(table.concat(a:to_table(), ",") == table.concat(b:to_table(), ","), "t=4 is not flip_x")
  local bx = train.row_box(row, W, H, true)
  assert(bx[1] == 2 and bx[2] == W - 7 and bx[3] == 5 and bx[4] == W - 3, "flip box")
end
assert(train.row_box({kind = "background", xmin = 0 / 0}, W, H, 0) == nil, "a background row has no box")
h.expect_error(function() src:dihedral(8) end, "0 to 7")

-- ---------------------------------------------------------------- photometric
-- identity: every byte value in each channel, several limits
do
  local id <close> = dc.rgb(256, 3)
  for x = 0, 255 do
    for y = 0, 2 do id:set(x, y, x, (x + 85 * y) % 256, 255 - x) end
  end
  id:write_png(dir .. "/ramp.png")
  local before = util.load_image(dir .. "/ramp.png"):to_table()
  local after <close> = util.load_image(dir .. "/ramp.png",
    {photometric = {lo = {0, 0.1, -0.05}, hi = {1, 2.5, 0.5}, scale = 1, sigma = 0, seed = 3}})
  assert(table.concat(before, ",") == table.concat(after:to_table(), ","), "scale 1, sigma 0 must be the identity")
end
-- a flat picture: y = 0.6 in every channel, lo 0, hi 1 -> x0 = 0.36 (unclipped by 6 sigma)
do
  local N = 128
  local flat <close> = dc.rgb(N, N)
  local v0 = 153 -- 0.6 * 255
  for y = 0, N - 1 do for x = 0, N - 1 do flat:set(x, y, v0, v0, v0) end end
  local x0 = (v0 / 255) ^ 2
  local scale, sigma = {1.1, 0.9, 1.0}, {0.02, 0.05, 0}
  flat:photometric({lo = 0, hi = 1, scale = scale, sigma = sigma, seed = 12345})
  for c = 1, 3 do
    local s1, s2 = 0, 0
    for y = 0, N - 1 do
      for x = 0, N - 1 do
        local v = select(c, flat:get(x, y))
        local xv = (v / 255) ^ 2
        s1, s2 = s1 + xv, s2 + xv * xv
      end
    end
    local n = N * N
    local mean = s1 / n
    local var = s2 / n - mean * mean
    -- quantisation of the re-stretched byte adds (dx)^2 / 12, dx = 2 y / 255 (hi - lo) per step
    local q = (2 * math.sqrt(scale[c] * x0) / 255) ^ 2 / 12
    local want = sigma[c] ^ 2 + q
    assert(math.abs(mean / x0 - scale[c]) < 0.003, string.format("channel %d: measured scale %.4f, asked %.4f", c,
      mean / x0, scale[c]))
    if sigma[c] > 0 then
      assert(math.abs(var / want - 1) < 0.05, string.format("channel %d: noise variance %.3g, asked %.3g", c, var, want))
    else
      assert(var < 3 * q, string.format("channel %d: variance %.3g with no noise", c, var))
    end
  end
  -- the noise is a function of the seed
  local function noisy(seed)
    local p <close> = dc.rgb(16, 16)
    for y = 0, 15 do for x = 0, 15 do p:set(x, y, 100, 100, 100) end end
    p:photometric({sigma = 0.05, seed = seed})
    local t = {}
    for y = 0, 15 do for x = 0, 15 do t[#t + 1] = select(2, p:get(x, y)) end end
    return table.concat(t, ",")
  end
  assert(noisy(7) == noisy(7) and noisy(7) ~= noisy(8), "noise must follow the seed")
  h.expect_error(function() flat:photometric({lo = 1, hi = 1}) end, "hi > lo")
  h.expect_error(function() flat:photometric({sigma = 0.1, sed = 1}) end, "sed")
end

-- ---------------------------------------------------------------- the per-step draws
do
  local cfg = {}
  for k, v in pairs(train.defaults) do cfg[k] = v end
  local stretch = {lo = {0, 0, 0}, hi = {1, 1, 1}, factor = 4}
  local n, s1, s2, counts, maxs = 4000, 0, 0, {}, 0
  local top = cfg.sky_sigma_r * math.sqrt(10 ^ (0.8 * cfg.extra_depth) - 1) / stretch.factor
  for step = 1, n do
    local idx, draw = train.schedule(5, step, 7)
    assert(idx >= 1 and idx <= 7)
    local a = train.step_augmentation(cfg, draw, stretch)
    counts[a.dihedral] = (counts[a.dihedral] or 0) + 1
    for c = 1, 3 do
      local l = math.log(a.photometric.scale[c])
      s1, s2 = s1 + l, s2 + l * l
    end
    local g = a.photometric.sigma[2]
    assert(g >= 0 and g <= top + 1e-12, "noise sigma beyond the depth range")
    maxs = math.max(maxs, g)
  end
  local m = s1 / (3 * n)
  local sd = math.sqrt(s2 / (3 * n) - m * m)
  assert(math.abs(m) < 0.006 and math.abs(sd / cfg.flux_jitter - 1) < 0.04,
    string.format("ln(scale): mean %.4f, sigma %.4f (asked 0, %.3f)", m, sd, cfg.flux_jitter))
  assert(maxs > 0.97 * top, "the largest noise never drawn")
  for t = 0, 7 do
    local c = counts[t] or 0
    assert(math.abs(c - n / 8) < 5 * math.sqrt(n / 8), "symmetry " .. t .. " drawn " .. c .. " times in " .. n)
  end
  local _, d1 = train.schedule(5, 17, 7)
  local _, d2 = train.schedule(5, 17, 7)
  assert(util.serialize(d1) == util.serialize(d2), "the draws of a step must repeat")
  -- dihedral = false keeps the old flips; both off, nothing
  cfg.dihedral = false
  local a = train.step_augmentation(cfg, d1, stretch)
  assert(a.dihedral == (d1.flip and 4 or 0))
  cfg.flip, cfg.photometric = false, false
  a = train.step_augmentation(cfg, d1, stretch)
  assert(a.dihedral == 0 and a.photometric == nil)
end

-- ---------------------------------------------------------------- no ground truth
do
  h.register_tiny_net()
  local model = nets.build("tiny", {lr = 0.01})
  model:init(1)
  local S = 64
  local bg <close> = dc.rgb(S, S)
  math.randomseed(2)
  for y = 0, S - 1 do for x = 0, S - 1 do
    local v = math.random(20, 60)
    bg:set(x, y, v, v, v)
  end end
  local first, last
  for k = 1, 15 do
    local img <close> = bg:to_tensor()
    local l = model:train_step(img, {})
    for _, key in ipairs({"total", "rpn_cls", "dn_cls"}) do
      assert(l[key] == l[key] and l[key] < math.huge, key .. " is not finite with no ground truth")
    end
    assert(l.rpn_box == 0 and l.dn_box == 0, string.format("box losses %g %g with no ground truth", l.rpn_box, l.dn_box))
    assert(l.rpn_positives == 0 and l.dn_positives == 0, "positives with no ground truth")
    assert(l.rpn_cls > 0, "an all-negative RPN batch still has a class loss")
    first = first or l.rpn_cls
    last = l.rpn_cls
  end
  assert(last < first, string.format("objectness loss on an empty image did not fall: %.4f -> %.4f", first, last))
end

os.execute("rm -rf '" .. dir .. "'")
print("test_augment: 1 passed, 0 failed")
