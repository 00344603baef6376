-- deepcee sim: write one simulated SDSS-like field (g, r, i FITS in nanomaggies with TAN WCS, the
-- truth catalogue as FITS and CSV, and a PNG colour preview with the clusters circled).
--   deepcee run scripts/sim.lua [out=DIR stem=NAME seed=N size=N ra=DEG dec=DEG clusters=N ...]
-- With survey=true it also writes a survey's mock catalogues (WHL12 and redMaPPer columns).
-- Defaults come from the engine (deepcee.sim_defaults()); every key=value is checked.
local dc = require("deepcee")
local util = require("deepcee_util")

local d = dc.sim_defaults()
local defaults = {out = "sim-out", stem = "field", size = d.field.width, clusters = d.field.n_clusters,
  preview = 1000, objects = false, survey = false}
for _, k in ipairs({"ra", "dec", "seed", "seeing", "camcol", "r_limit", "galaxy_density", "star_density",
                    "z_min", "z_max", "n200_min", "n200_max", "groups", "nearby_galaxies", "bright_stars",
                    "saturation", "noise"}) do
  defaults[k] = d.field[k]
end
local opt = util.args(defaults, {...}, "sim.lua", {size = {64, 20000, "integer"}, clusters = {0, 1000, "integer"},
  preview = {16, 8192, "integer"}, seed = {0, 2 ^ 53, "integer"}, camcol = {0, 6, "integer"}, ra = {0, 360},
  dec = {-90, 90}})

local function step(msg, fn)
  io.write(msg, " ... ")
  io.flush()
  local t0 = dc.now()
  local r = fn()
  print(string.format("%.2f s", dc.now() - t0))
  return r
end

local cfg = {width = opt.size, height = opt.size, n_clusters = opt.clusters}
for k in pairs(defaults) do
  if d.field[k] ~= nil then cfg[k] = opt[k] end
end
cfg.seed = math.tointeger(opt.seed) or error("sim.lua: seed must be an integer")
cfg.camcol = math.tointeger(opt.camcol) or error("sim.lua: camcol must be an integer")

local f <close> = step(string.format("simulating %dx%d field at (%.4f, %.4f), seed %d", opt.size, opt.size,
  opt.ra, opt.dec, cfg.seed), function() return dc.sim_field(cfg) end)
local info = f:info()
print(string.format("  %d objects; seeing g %.2f r %.2f i %.2f arcsec; sky sigma g %.4f r %.4f i %.4f nMgy; camcol %d",
  info.n_objects, info.seeing[1], info.seeing[2], info.seeing[3], info.sky_sigma[1], info.sky_sigma[2],
  info.sky_sigma[3], info.camcol))
for _, c in ipairs(f:clusters()) do
  print(string.format("  %-7s %6d  ra %9.5f dec %8.5f  z %.3f  N200 %3d  richness %5.1f  R200 %.2f Mpc  BCG r %.2f",
    c.kind, c.id, c.ra, c.dec, c.z, c.n200, c.richness, c.r200, c.bcg_rmag))
end
step("writing " .. opt.out .. "/" .. opt.stem .. "-{g,r,i}.fits, -truth.{fits,csv}, .png", function()
  f:write(opt.out, opt.stem, {preview_size = opt.preview, objects = opt.objects})
end)

if opt.survey then
  local s <close> = step("generating survey (WHL12-style region)", function()
    return dc.sim_survey({seed = cfg.seed})
  end)
  local n = s:write_catalog(opt.out .. "/survey-whl12.fits", "whl12")
  s:write_catalog(opt.out .. "/survey-whl12.csv", "whl12")
  print(string.format("  %d clusters, %d in the WHL12-style catalogue", s:count(), n))
  local u <close> = step("generating unseen region (redMaPPer-style)", function()
    return dc.sim_survey({seed = cfg.seed + 1, ra_min = 245, ra_max = 257, dec_min = 30, dec_max = 40.5})
  end)
  n = u:write_catalog(opt.out .. "/unseen-redmapper.fits", "redmapper")
  print(string.format("  %d clusters, %d in the redMaPPer-style catalogue", u:count(), n))
end
print("done: " .. opt.out)
