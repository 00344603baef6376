-- The astro binding end to end: a field with a TAN WCS written to FITS and read back, a catalogue
-- through FITS/CSV/DS9 and the WHL12 mapping, cosmology, a cut-out, composite, drawing and PNG.
local dc = require("deepcee")

local helpers = dofile(assert(os.getenv("DEEPCEE_SOURCE_DIR"), "DEEPCEE_SOURCE_DIR is not set (ctest sets it)")
  .. "/tests/lua/helpers.lua")
local expect_error = helpers.expect_error

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir))

-- image + header + WCS -> FITS -> back
local w = dc.wcs_tan{x = 99.5, y = 79.5, ra = 150.0, dec = 2.0, scale = 0.396, rot = 10}
local img <close> = dc.image(200, 160, 0.01)
img:set(20, 30, 5.5)
local h = dc.fits_header()
h:set("FILTER", "r", "band"):set("NMGY", 0.0051):set("CAMCOL", 3)
w:to_header(h)
dc.fits_write(dir .. "/r.fits.fz", img, h)
local back, hb = dc.fits_read(dir .. "/r.fits.fz")
local nx, ny = back:size()
assert(nx == 200 and ny == 160)
assert(back:get(20, 30) == img:get(20, 30) and back:get(0, 0) == img:get(0, 0), "pixels changed")
assert(hb:get("FILTER") == "r" and hb:get("NMGY") == 0.0051 and hb:get("CAMCOL") == 3, "header values changed")
assert(hb:get("NOPE") == nil)
local wb = hb:wcs()
local ra, dec = wb:pix2world(20.25, 30.75)
local x, y = w:world2pix(ra, dec)
assert(math.abs(x - 20.25) < 1e-6 and math.abs(y - 30.75) < 1e-6, "WCS round trip through the file")
local xs, ys = w:world2pix(w:pix2world({0, 199}, {0, 159}))
assert(math.abs(xs[2] - 199) < 1e-6 and math.abs(ys[1]) < 1e-6)
assert(math.abs(w:pixel_scale(100, 80) - 0.396) < 1e-6)
expect_error(function() dc.fits_read(dir .. "/missing.fits") end, "missing.fits")
local plain = dc.image(4, 4)
dc.fits_write(dir .. "/plain.fits", plain)
local _, hp = dc.fits_read(dir .. "/plain.fits", {hdu = 0})
expect_error(function() hp:wcs() end, "has no WCS")
expect_error(function() dc.fits_read(dir .. "/plain.fits", {hdu = 4}) end, "HDU 4 out of range")
expect_error(function() dc.fits_read(dir .. "/plain.fits", {hdx = 4}) end, "unknown key 'hdx'")

-- catalogue: WHL12 columns in a FITS table -> mapped canonical names; CSV and DS9 round trips
local cat = {names = {"WHL", "RAJ2000", "DEJ2000", "zph", "zsp", "RL*", "N200", "r200"},
             units = {RAJ2000 = "deg", DEJ2000 = "deg"},
             cols = {WHL = {"A", "B"}, RAJ2000 = {150.01, 150.02}, DEJ2000 = {2.01, 1.99},
                     zph = {0.15, 0.12}, zsp = {0.0 / 0.0, 0.13}, ["RL*"] = {40.5, 60}, N200 = {22, 31},
                     r200 = {1.1, 1.2}}}
dc.catalog_write(dir .. "/whl.fits", cat)
local m = dc.catalog_read(dir .. "/whl.fits", {map = "auto"})
assert(m.nrows == 2 and m.names[1] == "id" and m.cols.id[2] == "B")
assert(m.cols.z[1] == 0.15 and m.cols.z[2] == 0.13, "z: zsp where present else zph")
assert(m.cols.richness[2] == 60 and m.cols.n200[1] == 22 and m.units.ra == "deg")
dc.catalog_write(dir .. "/m.csv", m)
local c2 = dc.catalog_read(dir .. "/m.csv")
assert(c2.cols.ra[2] == 150.02 and c2.cols.id[1] == "A" and c2.cols.bcg_rmag[1] ~= c2.cols.bcg_rmag[1], "CSV: NaN stays NaN")
dc.catalog_write(dir .. "/m.reg", m, {text_col = "id", radius = 60, color = "red"})
local reg = dc.catalog_read(dir .. "/m.reg")
assert(reg.nrows == 2 and math.abs(reg.cols.ra[1] - 150.01) < 1e-6 and reg.cols.radius[1] == 60 and reg.cols.text[2] == "B")
local remapped, fmt = dc.catalog_map(cat)
assert(fmt == "whl12" and remapped.cols.dec[2] == 1.99)
expect_error(function() dc.catalog_map({cols = {RAJ2000 = {1}, zph = {0.1}}}, "whl12") end, "missing column 'DEJ2000'")

-- cosmology (docs/facts.md section 3)
local d = dc.cosmo(0.15)
assert(math.abs(d.kpc_per_arcsec / 2.5863 - 1) < 1e-4 and math.abs(d.distmod / 39.2425 - 1) < 1e-4)
assert(dc.cosmo(0.15, {h0 = 142}).comoving_mpc < d.comoving_mpc)

-- cut-out with a seeded offset, composite, drawing, PNG
local plan = dc.cutout_plan(w, 200, 160, 150.0, 2.0, 64, {max_offset = 10, seed = 7})
local again = dc.cutout_plan(w, 200, 160, 150.0, 2.0, 64, {max_offset = 10, seed = 7})
assert(plan.x0 == again.x0 and plan.dx_arcsec == again.dx_arcsec and math.abs(plan.dx_arcsec) <= 10)
local cut = img:crop(plan.x0, plan.y0, 64, 64)
local small = cut:resample(32, 32)
local rgb = dc.composite(small, small, small, {lo = 0, hi = 0.04})
assert(select(1, rgb:get(0, 0)) == 128, "sqrt stretch of 0.01 in [0, 0.04]: 255*0.5 -> 128")
rgb:circle(16, 16, 8, 0xFF0000, 1):rect(0, 0, 31, 31, 0x00FF00)
local r, g = rgb:get(0, 0)
assert(r == 0 and g == 255)
rgb:write_png(dir .. "/p.png")
local png = dc.png_read(dir .. "/p.png")
assert(select(2, png:get(5, 0)) == 255 and select(1, png:size()) == 32)
local lup = dc.composite(small, small, small, {method = "lupton", q = 8, stretch = 0.5})
assert(select("#", lup:size()) == 2)
expect_error(function() dc.composite(small, small, small, {method = "log"}) end, "unknown method 'log'")
rgb:free()
expect_error(function() rgb:size() end, "was freed")

os.execute("rm -rf " .. dir)
print("test_astro.lua: ok")
