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
os.remove(dir .. "/sky/field-i.fits")
expect_error(function() detect.run({dir = dir .. "/sky", quiet = true}) end, "has no i-band file beside")
print("test_detect_field: 1 passed, 0 failed")
os.execute("rm -rf '" .. dir .. "'")
