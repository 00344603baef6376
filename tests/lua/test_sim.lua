-- The simulator's Lua binding: config tables (unknown keys are errors), a small field written to
-- disk with its truth catalogue, determinism, a survey's catalogues and a cut-out around a cluster.
local dc = require("deepcee")

local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute("mkdir -p " .. tmp))

local function exists(p)
  local f = io.open(p, "rb")
  if f then f:close() end
  return f ~= nil
end
local helpers = dofile(assert(os.getenv("DEEPCEE_SOURCE_DIR"), "DEEPCEE_SOURCE_DIR is not set (ctest sets it)")
  .. "/tests/lua/helpers.lua")
local read = helpers.read

-- defaults come from the engine
local d = dc.sim_defaults()
assert(d.field.width == 2000 and d.field.r_limit == 23.5 and d.field.model.mstar == -22.21)
assert(d.survey.n200_slope == 2.6)

-- unknown keys, in the field, a cluster and the model, are errors naming the key
for _, bad in ipairs({{widht = 10}, {clusters = {{zz = 0.1}}}, {model = {alhpa = 1}}}) do
  local ok, err = pcall(dc.sim_field, bad)
  assert(not ok and err:find("unknown key"), tostring(err))
end
local ok, err = pcall(dc.sim_field, {seeing = 20})
assert(not ok and err:find("seeing"), tostring(err))

-- a small field with one given cluster
local cfg = {width = 400, height = 300, seed = 5, clusters = {{id = 42, z = 0.15, n200 = 30}}, groups = 0}
local f <close> = dc.sim_field(cfg)
local info = f:info()
assert(info.width == 400 and info.height == 300 and #info.seeing == 3)
local cl = f:clusters()
assert(#cl == 1 and cl[1].id == 42 and cl[1].kind == "cluster" and cl[1].n200 >= 1, "cluster truth")
assert(cl[1].bcg_rmag > 14 and cl[1].bcg_rmag < 18, "BCG r " .. cl[1].bcg_rmag)
f:write(tmp .. "/a", "f", {preview_size = 200})
for _, name in ipairs({"f-g.fits", "f-r.fits", "f-i.fits", "f-truth.fits", "f-truth.csv", "f.png"}) do
  assert(exists(tmp .. "/a/" .. name), name .. " missing")
end
local csv = read(tmp .. "/a/f-truth.csv")
assert(csv:find("bcg_rmag") and csv:find("\n42,"), csv)

-- same seed, same files
local g <close> = dc.sim_field(cfg)
g:write(tmp .. "/b", "f", {preview_size = 200})
for _, name in ipairs({"f-r.fits", "f-truth.csv", "f.png"}) do
  assert(read(tmp .. "/a/" .. name) == read(tmp .. "/b/" .. name), name .. " differs for one seed")
end
f:composite(tmp .. "/c.png", {size = 100, stretch = "sqrt", lo = {0, 0, 0}, hi = {2, 2, 2}, flip = true})
assert(exists(tmp .. "/c.png"))
f:free()
ok, err = pcall(f.info, f)
assert(not ok and err:find("freed"))

-- a survey: catalogues in both styles and a cut-out around its first cluster
local s <close> = dc.sim_survey({seed = 2, ra_min = 150, ra_max = 153, dec_min = 0, dec_max = 3})
assert(s:count() > 10, "only " .. s:count() .. " clusters")
local nw = s:write_catalog(tmp .. "/whl.csv", "whl12")
local nr = s:write_catalog(tmp .. "/rm.fits", "redmapper")
assert(nw > 0 and nr >= 0)
assert(read(tmp .. "/whl.csv"):find("RAJ2000", 1, true))
local c1 = s:clusters()[1]
local cut <close> = s:field({width = 300, height = 300}, c1.ra, c1.dec, 7)
local found = false
for _, c in ipairs(cut:clusters()) do found = found or (c.id == c1.id and c.n200 == c1.n200) end
assert(found, "survey cluster missing from its cut-out")
ok, err = pcall(s.field, s, {clusters = {}}, c1.ra, c1.dec)
assert(not ok and err:find("from the survey"), tostring(err))

-- vary: defaults from the engine, true / table / false, unknown keys and bad ranges rejected
assert(d.field.vary.enabled == false and d.field.vary.seeing[1] == 0.8 and d.field.vary.seeing[2] == 2.0)
assert(d.field.model.rs_offset == 0 and d.survey.vary.bimodal == 0.15)
for _, bad in ipairs({{vary = {seeeing = {1, 2}}}, {vary = {seeing = {2, 1}}}, {vary = {beta = {1, 2, 3}}}, {vary = 3}}) do
  local ok2, err2 = pcall(dc.sim_field, bad)
  assert(not ok2 and (err2:find("vary") or err2:find("seeing")), tostring(err2))
end
local vcfg = {width = 200, height = 160, seed = 6, n_clusters = 1, groups = 0}
local plain <close> = dc.sim_field(vcfg)
vcfg.vary = false
local off <close> = dc.sim_field(vcfg)
plain:write(tmp .. "/p", "f", {preview_size = 100})
off:write(tmp .. "/o", "f", {preview_size = 100})
assert(read(tmp .. "/p/f-r.fits") == read(tmp .. "/o/f-r.fits"), "vary = false changed the image")
vcfg.vary = {seeing = {1.5, 1.5}, beta = 4.0, psf_e = {0.05, 0.05}, sky_offset = -0.3, depth_offset = -0.4}
local v <close> = dc.sim_field(vcfg)
local vi = v:info()
assert(vi.vary and math.abs(vi.seeing[2] - 1.5) < 1e-12 and vi.psf_beta == 4.0 and math.abs(vi.psf_e - 0.05) < 1e-12)
assert(vi.depth <= 0.1 + 1e-12 and vi.depth >= -0.9 - 1e-12 and math.abs(vi.exposure_scale / 10 ^ (0.8 * vi.depth) - 1) < 1e-9,
  "depth " .. vi.depth)
assert(vi.sky_mag[2] < 20.86 - 0.3 + 0.5 + 1e-9 and vi.sky_mag[2] > 20.86 - 0.3 - 0.5 - 1e-9, "sky " .. vi.sky_mag[2])
local vc = v:clusters()[1]
assert(vc.rs_slope <= -0.02 and vc.rs_slope >= -0.04 and vc.q >= 0.5 and vc.q <= 1, "cluster look")
v:write(tmp .. "/v", "f", {preview_size = 100})
local hdr = read(tmp .. "/v/f-r.fits"):sub(1, 2880 * 4)
assert(hdr:find("PSFBETA =%s+4") and hdr:find("PSF_E") and hdr:find("ZPSCALE"), "vary keywords missing")
local sv <close> = dc.sim_survey({seed = 2, ra_min = 150, ra_max = 151, dec_min = 0, dec_max = 1, vary = true})
local sc = sv:clusters()[1]
local scut <close> = sv:field({width = 200, height = 200, vary = true}, sc.ra, sc.dec, 3)
local same = false
for _, c in ipairs(scut:clusters()) do same = same or (c.id == sc.id and c.n200 == sc.n200 and c.rs_offset == sc.rs_offset) end
assert(same, "varied survey cluster differs in its cut-out")
-- confounders and artefacts: off by default, the shorthands set the documented rates, explicit
-- keys override them, bad values name the key, confounder clusters carry their kind
for k, v in pairs(d.confound_realistic) do
  assert(d.field[k] == 0, k .. " is not off by default")
  assert(v > 0, k .. " has no realistic rate")
end
assert(d.field.confounders == false and d.field.artefacts == false)
ok, err = pcall(dc.sim_field, {width = 64, height = 64, lrgs = -1})
assert(not ok and err:find("lrgs"), tostring(err))
ok, err = pcall(dc.sim_field, {width = 64, height = 64, edge_mask = 2})
assert(not ok and err:find("edge_mask"), tostring(err))
local cc = {width = 300, height = 300, seed = 3, n_clusters = 1, confounders = true, artefacts = true,
  background_clusters = 1000, failed_cut_clusters = 1000, masked_stripes = 3, star_spikes = true}
local cf <close> = dc.sim_field(cc)
local kinds = {}
for _, c in ipairs(cf:clusters()) do kinds[c.kind] = (kinds[c.kind] or 0) + 1 end
assert(kinds.cluster == 1 and (kinds.background or 0) + (kinds.poor or 0) >= 1, "kinds " .. tostring(kinds.background))
local nstripes, ngrad = 0, 0
for _, a in ipairs(cf:artefacts()) do
  if a.kind == "stripe" then nstripes = nstripes + 1 assert(a.value ~= a.value and a.bands ~= "") end
  if a.kind == "gradient" then ngrad = ngrad + 1 end
end
assert(ngrad == 3, "gradients = 1 from artefacts = true: " .. ngrad .. " bands")
cf:write(tmp .. "/conf", "c", {preview_size = 100})
local tcsv = read(tmp .. "/conf/c-truth.csv")
assert(tcsv:find("background", 1, true) or tcsv:find("poor", 1, true), tcsv)
local cut2 <close> = s:field({width = 200, height = 200, confounders = true, lrgs = 1000}, c1.ra, c1.dec, 7)
local plain <close> = s:field({width = 200, height = 200}, c1.ra, c1.dec, 7)
assert(cut2:info().n_objects > plain:info().n_objects, "survey cut-out without its confounders")

-- field:composite takes masked (NaN) pixels as 0, blank sky (as detect does), and returns the
-- masked fraction of the worst band: measured against the written FITS and the PNG's pixels
local mcfg = {width = 120, height = 100, seed = 5, n_clusters = 1, edge_mask = 1, masked_stripes = 4}
local mf <close> = dc.sim_field(mcfg)
mf:write(tmp .. "/m", "m", {preview_size = 50})
local worst, nan_r = 0, {}
for _, b in ipairs({"g", "r", "i"}) do
  local img = dc.fits_read(tmp .. "/m/m-" .. b .. ".fits")
  local bad, all = img:nonfinite()
  worst = math.max(worst, bad / all)
  if b == "r" then
    for y = 0, 99 do for x = 0, 119 do local v = img:get(x, y) if v ~= v then nan_r[#nan_r + 1] = {x, y} end end end
  end
  img:free()
end
assert(worst > 0 and #nan_r > 0, "edge_mask = 1 masked nothing")
local frac = mf:composite(tmp .. "/m/full.png", {size = 120})
assert(math.abs(frac - worst) < 1e-12, string.format("composite says %.6f masked, the FITS %.6f", frac, worst))
local png <close> = dc.png_read(tmp .. "/m/full.png")
for _, p in ipairs(nan_r) do
  local _, gch = png:get(p[1], 99 - p[2]) -- r -> G; the picture's row 0 is the top (north)
  assert(gch == 0, string.format("masked r pixel (%d, %d) is %d in the PNG, not blank sky", p[1], p[2], gch))
end

os.execute("rm -rf " .. tmp)
print("test_sim.lua: ok")
