-- deepcee detect on a simulated field with the shipped weights: candidates are written as FITS,
-- CSV, DS9 and PNG with sky positions that agree with the WCS; bad input (bands of different
-- sizes, a field smaller than the network's minimum, missing weights, a missing band) is refused.
local dc = require("deepcee")
local util = require("deepcee_util")
local detect = require("detect")

local function expect_error(fn, needle)
  local ok, err = pcall(fn)
  assert(not ok, "expected an error containing '" .. needle .. "'")
  assert(tostring(err):find(needle, 1, true), "error '" .. tostring(err) .. "' lacks '" .. needle .. "'")
end

local dir = os.tmpname()
os.remove(dir)
util.mkdir(dir)
local f <close> = dc.sim_field({width = 1400, height = 1200, seed = 3, n_clusters = 2})
f:write(dir .. "/sky", "field")
local cands = detect.run({dir = dir .. "/sky", out = dir .. "/out", threshold = 0.3, quiet = true})
for _, ext in ipairs({"fits", "csv", "reg", "png"}) do
  assert(util.exists(dir .. "/out/candidates." .. ext), "missing candidates." .. ext)
end
local cat = dc.catalog_read(dir .. "/out/candidates.fits")
assert(cat.nrows == #cands, "catalogue rows")
local _, hdr = dc.fits_read(dir .. "/sky/field-r.fits")
local wcs = hdr:wcs()
for k, c in ipairs(cands) do
  assert(c.score >= 0.3 and c.score <= 1, "score")
  assert(c.x >= 0 and c.x < 1400 and c.y >= 0 and c.y < 1200, "pixel position inside the field")
  local ra, dec = wcs:pix2world(c.x, c.y)
  assert(math.abs(ra - cat.cols.ra[k]) < 1e-9 and math.abs(dec - cat.cols.dec[k]) < 1e-9, "RA/Dec from the WCS")
  if k > 1 then assert(cands[k - 1].score >= c.score, "best first") end
end

-- bad input
local g, gh = dc.fits_read(dir .. "/sky/field-g.fits")
local small = g:crop(0, 0, 600, 500)
dc.fits_write(dir .. "/small-g.fits", small, gh)
expect_error(function() detect.run({g = dir .. "/small-g.fits", r = dir .. "/sky/field-r.fits",
  i = dir .. "/sky/field-i.fits", out = dir .. "/o2", quiet = true}) end, "differ in size")
local r, rh = dc.fits_read(dir .. "/sky/field-r.fits")
local i, ih = dc.fits_read(dir .. "/sky/field-i.fits")
dc.fits_write(dir .. "/small-r.fits", r:crop(0, 0, 600, 500), rh)
dc.fits_write(dir .. "/small-i.fits", i:crop(0, 0, 600, 500), ih)
expect_error(function() detect.run({g = dir .. "/small-g.fits", r = dir .. "/small-r.fits",
  i = dir .. "/small-i.fits", out = dir .. "/o3", quiet = true}) end, "smaller than the network's minimum")
expect_error(function() detect.run({dir = dir .. "/sky", weights = dir .. "/none.dcw", quiet = true}) end, "none.dcw")
-- dir= takes every triplet form the dataset builder takes (lua/triplets.lua): SDSS frame names
util.mkdir(dir .. "/frames")
for _, b in ipairs({"g", "r", "i"}) do
  os.execute(string.format("cp '%s/sky/field-%s.fits' '%s/frames/frame-%s-003900-4-0123.fits'", dir, b, dir, b))
end
local fc = detect.run({dir = dir .. "/frames", out = dir .. "/out-frames", threshold = 0.3, quiet = true})
assert(#fc == #cands, string.format("SDSS frame names: %d candidates, the same field as <stem>-g.fits: %d", #fc, #cands))
for k = 1, #fc do assert(fc[k].score == cands[k].score and fc[k].x == cands[k].x, "frame-named field differs") end
os.execute(string.format("cp '%s/sky/field-g.fits' '%s/frames/other-g.fits'", dir, dir))
os.execute(string.format("cp '%s/sky/field-r.fits' '%s/frames/other-r.fits'", dir, dir))
os.execute(string.format("cp '%s/sky/field-i.fits' '%s/frames/other-i.fits'", dir, dir))
expect_error(function() detect.run({dir = dir .. "/frames", quiet = true}) end, "holds 2 g, r, i triplets")
expect_error(function() detect.run({dir = dir .. "/nowhere", quiet = true}) end, "no g, r, i FITS images in")

-- test-time augmentation: a box found in a tile seen under symmetry t maps back exactly (the
-- forward map is training's, train.dihedral_point, tested against rgb:dihedral pixel by pixel)
local train = require("train")
math.randomseed(7)
for t = 0, 7 do
  for _ = 1, 20 do
    local y1, x1 = math.random() * 200, math.random() * 200
    local box = {y1, x1, y1 + 1 + math.random() * 50, x1 + 1 + math.random() * 50}
    local a, b = train.dihedral_point(t, box[2], box[1], 256, 256)
    local c, d = train.dihedral_point(t, box[4], box[3], 256, 256)
    local seen = {math.min(b, d), math.min(a, c), math.max(b, d), math.max(a, c)}
    local back = detect.undo_box(t, seen, 256)
    for j = 1, 4 do
      assert(math.abs(back[j] - box[j]) < 1e-9, string.format("undo_box t=%d: %g vs %g", t, back[j], box[j]))
    end
  end
end
-- fusion: the same box in both passes keeps its mean score and the score-weighted mean box; a box
-- found in one pass of two scores half; the order is by fused score
local fused = detect.fuse({
  {{score = 0.9, box = {0, 0, 100, 100}}, {score = 0.8, box = {300, 300, 340, 340}}},
  {{score = 0.6, box = {10, 0, 110, 100}}},
}, 0.5)
assert(#fused == 2, "fuse: two candidates, got " .. #fused)
assert(math.abs(fused[1].score - 0.75) < 1e-12 and fused[1].n == 2, "fuse: mean of 0.9 and 0.6")
assert(math.abs(fused[1].box[1] - 0.6 * 10 / 1.5) < 1e-9 and math.abs(fused[1].box[3] - (0.9 * 100 + 0.6 * 110) / 1.5) < 1e-9,
  "fuse: score-weighted box")
assert(math.abs(fused[2].score - 0.4) < 1e-12 and fused[2].n == 1, "fuse: found in one pass of two")
-- a pass gives each candidate one box at most; boxes under the IoU stay apart
local apart = detect.fuse({{{score = 0.5, box = {0, 0, 10, 10}}}, {{score = 0.5, box = {0, 0, 10, 10}},
  {score = 0.4, box = {1, 1, 11, 11}}}, {{score = 0.3, box = {0, 5, 10, 15}}}}, 0.5)
assert(#apart == 3 and math.abs(apart[1].score - 1 / 3) < 1e-12 and apart[1].n == 2, "fuse: one box per pass")
local one = detect.fuse({{{score = 0.7, box = {1, 2, 3, 4}}}}, 0.5)
assert(#one == 1 and one[1].score == 0.7 and one[1].box[2] == 2, "fuse: one pass is the identity")
-- core: the tile whose centre is nearest owns a coordinate (ties: the earlier tile)
local starts = {0, 192, 256}
assert(detect.tile_owner(starts, 256, 200) == 0 and detect.tile_owner(starts, 256, 230) == 192, "tile_owner")
assert(detect.tile_owner(starts, 256, 352) == 192 and detect.tile_owner(starts, 256, 353) == 256, "tile_owner tie")
-- one candidate per cluster: a box centred within f x the larger side of a better one's box is
-- dropped, one farther off is kept, each against the kept boxes only; f = 0 keeps all
local function box(cy, cx, side) return {b = {cy - side / 2, cx - side / 2, cy + side / 2, cx + side / 2}} end
local near = {box(500, 500, 100), box(500, 690, 60), box(500, 710, 60), box(500, 880, 100), box(500, 1000, 10)}
local kept = detect.suppress(near, 2)
assert(table.concat(kept, " ") == "1 3 4", "suppress: 190 px from a 100 px box goes, 210 px stays, 170 px from a "
  .. "kept 60 px box stays, 120 px from a kept 100 px box goes; got " .. table.concat(kept, " "))
assert(#detect.suppress(near, 0) == 5 and #detect.suppress(near, 1) == 4, "suppress f=0 keeps all, f=1 drops one")
-- random boxes against a direct O(n^2) statement of the rule
math.randomseed(11)
for _ = 1, 20 do
  local list = {}
  for k = 1, 30 do list[k] = box(math.random() * 2000, math.random() * 2000, 20 + math.random() * 200) end
  local f = math.random() * 3
  local got, want = detect.suppress(list, f), {}
  for k, c in ipairs(list) do
    local cy, cx = (c.b[1] + c.b[3]) / 2, (c.b[2] + c.b[4]) / 2
    local ok = true
    for _, j in ipairs(want) do
      local b = list[j].b
      local side = math.max(b[3] - b[1], b[4] - b[2])
      if math.sqrt((cy - (b[1] + b[3]) / 2) ^ 2 + (cx - (b[2] + b[4]) / 2) ^ 2) <= f * side then ok = false end
    end
    if ok then want[#want + 1] = k end
  end
  assert(table.concat(got, ",") == table.concat(want, ","), "suppress on random boxes")
end
expect_error(function() detect.run({dir = dir .. "/sky", suppress = -1, quiet = true}) end, "suppress")
-- the whole field with every symmetry and with core off: valid candidates, best first
for _, opts in ipairs({{tta = 8}, {tta = 2, core = false, suppress = 0}}) do
  local tc = detect.run({dir = dir .. "/sky", out = dir .. "/out-tta", threshold = 0.05, quiet = true, tta = opts.tta,
    core = opts.core, suppress = opts.suppress})
  for k, c in ipairs(tc) do
    assert(c.score >= 0.05 and c.score <= 1 and c.x >= 0 and c.x < 1400 and c.y >= 0 and c.y < 1200, "tta candidate")
    if k > 1 then assert(tc[k - 1].score >= c.score, "tta: best first") end
  end
end
expect_error(function() detect.run({dir = dir .. "/sky", tta = 3, quiet = true}) end, "tta=3: give 1, 2, 4 or 8")
-- second looks: each candidate is looked at again in a tile centred on it (clamped to the field)
-- and what that tile finds within the window around it replaces it. Every second-look tile is
-- centred on a first-look candidate (or clamped), and every final candidate lies within the window
-- of the candidate its tile looked at
local first = detect.run({dir = dir .. "/sky", out = dir .. "/out-first", threshold = 0, suppress = 0, recentre = 0,
  quiet = true})
local again = detect.run({dir = dir .. "/sky", out = dir .. "/out-again", threshold = 0, suppress = 0, recentre = 1,
  quiet = true})
local pre = util.parse_data(dc.weights_meta(dc.weights_dir .. "/demo.dcw").preprocess, "preprocess")
local tpx = pre.tile * pre.factor -- a tile in full-resolution pixels
local H, W = math.floor(1200 / pre.factor) * pre.factor, math.floor(1400 / pre.factor) * pre.factor -- the picture
assert(#first.second_looks == 0 and #again.second_looks > 0, "second looks only with recentre")
assert(#again.second_looks <= #first, "at most one second look per first-look candidate")
for _, l in ipairs(again.second_looks) do
  local from -- the first-look candidate it looked at, in picture pixels (y from the top)
  for _, c in ipairs(first) do
    if math.abs(c.x + 0.5 - l.cx) < 1e-6 * tpx and math.abs(H - c.y - 0.5 - l.cy) < 1e-6 * tpx then from = c end
  end
  assert(from, string.format("second look at (%g, %g) is not on a first-look candidate", l.cx, l.cy))
  for axis, lim in pairs({x = W, y = H}) do
    local c, o = l["c" .. axis], l[axis .. "0"]
    local want = math.max(0, math.min(lim - tpx, c - 0.5 * tpx))
    assert(math.abs(o - want) <= pre.factor + 1e-6, string.format("second-look tile %s0 %g, want %g (centred, clamped)", axis, o, want))
  end
end
assert(#again > 0, "second looks found nothing on a field with two clusters")
for k, c in ipairs(again) do
  local ok = false
  for _, l in ipairs(again.second_looks) do
    local dx, dy = c.x + 0.5 - l.cx, H - c.y - 0.5 - l.cy
    if math.abs(dx) <= detect.recentre_window * tpx + 1e-6 and math.abs(dy) <= detect.recentre_window * tpx + 1e-6 then ok = true end
  end
  assert(ok, string.format("candidate %d at (%g, %g) lies outside every second look's window", k, c.x, c.y))
  assert(c.score >= 0 and c.score <= 1 and (k == 1 or again[k - 1].score >= c.score), "second looks: valid, best first")
end
expect_error(function() detect.run({dir = dir .. "/sky", recentre = 9, quiet = true}) end, "recentre")
expect_error(function() detect.run({dir = dir .. "/sky", recentre_tta = 3, quiet = true}) end, "recentre_tta=3")
-- second looks under the 8 symmetries: valid candidates, best first, each in a second look's window
local t8 = detect.run({dir = dir .. "/sky", out = dir .. "/out-t8", threshold = 0, recentre_tta = 8, quiet = true})
assert(#t8.second_looks > 0, "recentre_tta=8: second looks")
for k, c in ipairs(t8) do
  assert(c.score >= 0 and c.score <= 1 and (k == 1 or t8[k - 1].score >= c.score), "recentre_tta=8: valid, best first")
  local ok = false
  for _, l in ipairs(t8.second_looks) do
    if math.abs(c.x + 0.5 - l.cx) <= detect.recentre_window * tpx + 1e-6
      and math.abs(H - c.y - 0.5 - l.cy) <= detect.recentre_window * tpx + 1e-6 then ok = true end
  end
  assert(ok, "recentre_tta=8: candidate outside every second look's window")
end
os.remove(dir .. "/sky/field-i.fits")
expect_error(function() detect.run({dir = dir .. "/sky", quiet = true}) end, "has no i-band file beside")
print("test_detect_field: 1 passed, 0 failed")
os.execute("rm -rf '" .. dir .. "'")
