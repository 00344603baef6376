-- The dataset builder (lua/dataset.lua) at toy sizes, on both sources:
--  * a simulated survey: 4 images per cluster, boxes inside the image and centred on the true
--    centre (checked against the survey's truth through an independent TAN projection and against
--    the pixels: the BCG is among the brightest), the paper's cuts, a split by cluster, the
--    unseen-region set, bit-identical rebuilds, resuming, and a changed config refused;
--  * background and hard-negative tiles (every kind of confounder, no target inside); the sky of
--    the builder before vary/confounders/artefacts reproduced byte for byte with them off; the
--    randomised sky (a cluster's look fixed across its cut-outs, conditions per cut-out); masked
--    pixels as 0 in the PNGs, as detect takes them;
--  * real-style FITS files written here with deepcee.fits_write (a fake field with TAN WCS whose
--    g band is shifted by 12 px, so the bands must be registered through their own WCS) and a CSV
--    catalogue with WHL12 columns (plus a redMaPPer one for the unseen set);
--  * bad input: a missing image file, a triplet without its i band, a catalogue missing a column,
--    a non-numeric value, a catalogue without N200: errors name the file, column or row.
local dc = require("deepcee")
local datasets = require("dataset")
local manifest = require("manifest")

local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute("mkdir -p " .. tmp))

local helpers = dofile(assert(os.getenv("DEEPCEE_SOURCE_DIR"), "DEEPCEE_SOURCE_DIR is not set (ctest sets it)")
  .. "/tests/lua/helpers.lua")
local expect_error, close, read = helpers.expect_error, helpers.close, helpers.read
local function write(p, s)
  local f = assert(io.open(p, "w"))
  f:write(s)
  f:close()
end

-- Geometry every manifest row must satisfy: box inside the image and, where not clipped by the
-- border, centred on (cx, cy) with the half-size box_kpc at z (computed here from the cosmology).
local function check_geometry(r, cfg)
  local s = cfg.image_px
  assert(r.xmin >= 0 and r.ymin >= 0 and r.xmax <= s and r.ymax <= s and r.xmin < r.xmax and r.ymin < r.ymax,
    r.file .. ": box outside the image")
  assert(r.cx > 0 and r.cx < s and r.cy > 0 and r.cy < s, r.file .. ": centre outside the image")
  local half = cfg.box_kpc / dc.cosmo(r.z).kpc_per_arcsec / r.scale
  local function edge(v, want, what)
    if want < 0 then close(v, 0, 1e-6, r.file .. " " .. what .. " clipped")
    elseif want > s then close(v, s, 1e-6, r.file .. " " .. what .. " clipped")
    else close(v, want, 1e-4, r.file .. " " .. what) end
  end
  edge(r.xmin, r.cx - half, "xmin")
  edge(r.xmax, r.cx + half, "xmax")
  edge(r.ymin, r.cy - half, "ymin")
  edge(r.ymax, r.cy + half, "ymax")
  -- the offsets put the cluster where the manifest says (x west, y north; y down in the image)
  close(r.cx, s / 2 - r.offset_x / r.scale, 1e-4, r.file .. " cx from offset_x")
  close(r.cy, s / 2 + r.offset_y / r.scale, 1e-4, r.file .. " cy from offset_y")
  local m = cfg.max_offset + 0.5 * r.scale * cfg.cutout_px / s -- plus pixel rounding
  assert(math.abs(r.offset_x) <= m and math.abs(r.offset_y) <= m, r.file .. ": offset beyond max_offset")
  close(r.scale, 0.396 * cfg.cutout_px / s, 1e-9, r.file .. " scale")
end

-- Where (ra, dec) falls in a row's image, computed independently: a TAN projection centred on the
-- image centre at the image's scale (north up, east left), continuous pixels, y down.
local function sky_to_image(r, ra, dec, s)
  local w <close> = dc.wcs_tan({x = (s - 1) / 2, y = (s - 1) / 2, ra = r.img_ra, dec = r.img_dec, scale = r.scale})
  local x, y = w:world2pix(ra, dec)
  return x + 0.5, s - (y + 0.5)
end

-- Brightness (R+G+B) of the brightest pixel within 1 px of (cx, cy), and the q-quantile of the
-- image's pixel brightness.
local function brightness(path, cx, cy, q)
  local img <close> = dc.png_read(path)
  local nx, ny = img:size()
  local all = {}
  for y = 0, ny - 1 do
    for x = 0, nx - 1 do
      local a, b, c = img:get(x, y)
      all[#all + 1] = a + b + c
    end
  end
  local peak, channels = -1, nil
  for y = math.floor(cy) - 1, math.floor(cy) + 1 do
    for x = math.floor(cx) - 1, math.floor(cx) + 1 do
      if x >= 0 and y >= 0 and x < nx and y < ny then
        local a, b, c = img:get(x, y)
        if a + b + c > peak then peak, channels = a + b + c, {a, b, c} end
      end
    end
  end
  table.sort(all)
  return peak, all[math.floor(q * #all)], channels
end

-- Largest and mean channel difference of two PNGs of the same size.
local function png_diff(a, b)
  local ia <close> = dc.png_read(a)
  local ib <close> = dc.png_read(b)
  local nx, ny = ia:size()
  local mx, sum = 0, 0
  for y = 0, ny - 1 do
    for x = 0, nx - 1 do
      local a1, a2, a3 = ia:get(x, y)
      local b1, b2, b3 = ib:get(x, y)
      local d = math.max(math.abs(a1 - b1), math.abs(a2 - b2), math.abs(a3 - b3))
      mx, sum = math.max(mx, d), sum + math.abs(a1 - b1) + math.abs(a2 - b2) + math.abs(a3 - b3)
    end
  end
  return {max = mx, mean = sum / (3 * nx * ny)}
end

-- ---------------------------------------------------------------- simulated survey

local sim = {out = tmp .. "/sim", seed = 3, ra_min = 140, ra_max = 146, dec_min = 0, dec_max = 8,
  cutout_px = 300, image_px = 64, max_offset = 40, box_kpc = 60, test_fraction = 0.2, unseen_ra_min = 245,
  unseen_ra_max = 250, unseen_dec_min = 30, unseen_dec_max = 35, quiet = true}
local cfg = {}
for k, v in pairs(datasets.defaults) do cfg[k] = v end
for k, v in pairs(sim) do cfg[k] = v end

local t0 = dc.now()
local rows, unseen = datasets.build(sim)
local t_sim = dc.now() - t0
local read_rows = manifest.read(sim.out)

-- the cuts, checked on the catalogue the builder wrote (read and mapped independently): exactly
-- the clusters passing them are in the set
local cat = dc.catalog_read(sim.out .. "/catalog-whl12.fits", {map = "whl12"})
local passing, npass = {}, 0
for k = 1, cat.nrows do
  local c = cat.cols
  if c.z[k] > 0.1 and c.z[k] < 0.2 and c.n200[k] >= 20 and c.dec[k] > 0 then
    passing[c.id[k]] = true
    npass = npass + 1
  end
end
assert(npass >= 5, "the test region should hold at least 5 clusters passing the cuts, has " .. npass)
assert(#read_rows == #rows and #rows == 4 * npass, #rows .. " rows for " .. npass .. " clusters")

local truth = {}
do
  local s <close> = dc.sim_survey({seed = sim.seed, ra_min = sim.ra_min, ra_max = sim.ra_max, dec_min = sim.dec_min,
    dec_max = sim.dec_max})
  for _, c in ipairs(s:clusters()) do truth[c.id] = c end
end
local sim_id = {}
for k = 1, cat.nrows do sim_id[cat.cols.id[k]] = math.tointeger(cat.cols.sim_id[k]) end

local per_cluster, split_of = {}, {}
for _, r in ipairs(read_rows) do
  assert(r.z > 0.1 and r.z < 0.2 and r.n200 >= 20 and r.dec > 0, r.file .. " violates the paper's cuts")
  assert(passing[r.id], r.file .. ": cluster not passing the cuts")
  assert(r.simulated == 1 and r.split == "train" or r.split == "test")
  per_cluster[r.id] = (per_cluster[r.id] or 0) + 1
  assert(split_of[r.id] == nil or split_of[r.id] == r.split, "cluster " .. r.id .. " is on both sides of the split")
  split_of[r.id] = r.split
  check_geometry(r, cfg)
  -- the true BCG position (survey truth) lands on the manifest's centre
  local t = truth[sim_id[r.id]]
  assert(t, "cluster " .. r.id .. " not in the survey")
  close(r.ra, t.ra, 1e-6, r.file .. " ra (manifest keeps 10 digits)")
  local x, y = sky_to_image(r, t.ra, t.dec, cfg.image_px)
  close(r.cx, x, 1e-3, r.file .. " cx vs truth")
  close(r.cy, y, 1e-3, r.file .. " cy vs truth")
  -- and the pixels agree: the BCG is among the brightest 2 % of the picture
  local peak, p98 = brightness(r.path, r.cx, r.cy, 0.98)
  assert(peak >= p98, string.format("%s: no bright galaxy at the box centre (%d < %d)", r.file, peak, p98))
end
local n_test, n_clusters = 0, 0
for id, n in pairs(per_cluster) do
  assert(n == 4, "cluster " .. id .. " has " .. n .. " images")
  n_clusters = n_clusters + 1
  if split_of[id] == "test" then n_test = n_test + 1 end
end
assert(n_clusters == npass and n_test == math.floor(npass * 0.2 + 0.5), n_clusters .. " clusters, " .. n_test .. " in test")

-- the unseen set: its own folder, every row a test row from the redMaPPer-style catalogue
local urows = manifest.read(sim.out .. "/unseen")
assert(#urows == #unseen)
local ucat = dc.catalog_read(sim.out .. "/unseen/catalog-redmapper.fits", {map = "redmapper"})
local upass = 0
for k = 1, ucat.nrows do
  if ucat.cols.z[k] > 0.1 and ucat.cols.z[k] < 0.2 and ucat.cols.dec[k] > 0 then upass = upass + 1 end
end
assert(#urows == upass, #urows .. " unseen images for " .. upass .. " clusters")
for _, r in ipairs(urows) do
  assert(r.split == "test" and r.z > 0.1 and r.z < 0.2, r.file)
  assert(per_cluster[r.id] == nil, "unseen cluster " .. r.id .. " also in the training region")
  check_geometry(r, cfg)
end

-- same seed -> identical bytes; a re-run in place resumes; another config there is refused
local again = {}
for k, v in pairs(sim) do again[k] = v end
again.out = tmp .. "/sim2"
datasets.build(again)
assert(read(sim.out .. "/manifest.csv") == read(again.out .. "/manifest.csv"), "manifests differ between runs")
for _, r in ipairs(read_rows) do
  assert(read(r.path) == read(again.out .. "/" .. r.file), r.file .. " differs between runs")
end
-- resuming: as if killed after the images up to #2 were written, with #1 made by someone else
-- (a valid image of the right size, which the resumed build must keep) and #3 missing (remade)
local before = read(sim.out .. "/manifest.csv")
local first, second, third = read_rows[1].path, read_rows[2].path, read_rows[3].path
local third_bytes = read(third)
os.remove(sim.out .. "/manifest.csv")
os.remove(third)
write(first, read(second))
local stale = sim.out .. "/.dc-tmp-1-1-" .. read_rows[4].file -- an atomic write cut short
write(stale, "partial")
t0 = dc.now()
datasets.build(sim)
local t_resume = dc.now() - t0
assert(not io.open(stale), "a resumed build left a stale temporary file")
assert(read(sim.out .. "/manifest.csv") == before, "a resumed build changed the manifest")
assert(read(first) == read(second), "a resumed build rewrote an image already on disk")
assert(read(third) == third_bytes, "a resumed build did not remake the missing image identically")
local changed = {}
for k, v in pairs(sim) do changed[k] = v end
changed.box_kpc = 70
expect_error(function() datasets.build(changed) end, "another config", sim.out)
expect_error(function() datasets.build({out = tmp .. "/x", offests = 4}) end, "unknown key", "offests")
expect_error(function() datasets.build({out = tmp .. "/x", cutout_px = 300, image_px = 64}) end, "max_offset")

-- ---------------------------------------------------------------- background and hard negatives
-- the same survey with 5 background and 7 hard-negative tiles: the target rows are unchanged; no
-- cluster passing the cuts (checked on the survey's truth, every one of the region, through the
-- independent projection) lies in a negative tile; a hard negative is centred near its object: a
-- catalogue object failing the cuts, or (confounders on, the default) one of the survey's
-- confounders, listed here through survey:confounders (tests/c/test_sim_survey_confounders.c checks
-- that listing against rendered fields); the 7 draws are stratified, so every kind of
-- datasets.negative_kinds is there once; an isolated LRG is among the brightest pixels of its
-- tile; both kinds reach both splits; a re-run resumes to the same manifest
local neg = {}
for k, v in pairs(sim) do neg[k] = v end
neg.out, neg.background, neg.hard_negatives, neg.unseen, neg.test_fraction = tmp .. "/neg", 5, 7, false, 0.4
local nrows = manifest.read((function() datasets.build(neg) return neg.out end)())
local kinds, nsplit, targets_seen, objects = {}, {}, 0, {}
local catrow = {}
for k = 1, cat.nrows do catrow[cat.cols.id[k]] = k end
local listed = {}
do
  local s <close> = dc.sim_survey({seed = sim.seed, ra_min = sim.ra_min, ra_max = sim.ra_max, dec_min = sim.dec_min,
    dec_max = sim.dec_max, vary = true})
  for _, q in ipairs(s:confounders({confounders = true}, sim.ra_min, sim.ra_max, sim.dec_min, sim.dec_max)) do
    listed[q.kind .. "-" .. q.id] = q
  end
end
for _, r in ipairs(nrows) do
  kinds[r.kind] = (kinds[r.kind] or 0) + 1
  if r.kind == "target" then
    targets_seen = targets_seen + 1
    assert(read(r.path) == read(again.out .. "/" .. r.file), r.file .. " changed when negatives were added")
  else
    nsplit[r.kind .. r.split] = true
    assert(r.xmin ~= r.xmin and r.cx ~= r.cx, r.file .. ": a negative tile with a box")
    local inside = 0
    for _, c in ipairs(cat.cols.id) do
      if passing[c] then
        local t = truth[sim_id[c]]
        local x, y = sky_to_image(r, t.ra, t.dec, cfg.image_px)
        if x > 0 and x < cfg.image_px and y > 0 and y < cfg.image_px then inside = inside + 1 end
      end
    end
    assert(inside == 0, r.file .. ": " .. inside .. " target clusters inside a " .. r.kind .. " tile")
    if r.kind == "hard_negative" then
      local ra, dec
      if catrow[r.id] then
        objects.failed_cut = (objects.failed_cut or 0) + 1
        local k, c = catrow[r.id], cat.cols
        assert(not (c.z[k] > 0.1 and c.z[k] < 0.2 and c.n200[k] >= 20 and c.dec[k] > 0), r.id .. " passes the cuts")
        ra, dec = truth[sim_id[r.id]].ra, truth[sim_id[r.id]].dec
      else
        local q = assert(listed[r.id], r.id .. " is neither a catalogue object nor a listed confounder")
        objects[q.kind] = (objects[q.kind] or 0) + 1
        ra, dec = q.ra, q.dec
        close(r.ra, q.ra, 1e-6, r.id .. " ra")
        close(r.z, q.z, 1e-6, r.id .. " z")
      end
      local x, y = sky_to_image(r, ra, dec, cfg.image_px)
      local m = (cfg.max_offset / r.scale) + 1
      assert(math.abs(x - cfg.image_px / 2) <= m and math.abs(y - cfg.image_px / 2) <= m,
        string.format("%s: the object at (%.1f, %.1f) is not at the tile centre within the offset", r.file, x, y))
      if r.id:match("^lrg%-") then
        local peak, p98 = brightness(r.path, x, y, 0.98)
        assert(peak >= p98, string.format("%s: no bright galaxy at the listed LRG (%d < %d)", r.file, peak, p98))
      end
    end
  end
end
assert(targets_seen == #read_rows, "target rows " .. targets_seen .. " vs " .. #read_rows)
assert(kinds.background == 5 and kinds.hard_negative == 7, "5 + 7 negative tiles expected")
for _, k in ipairs(datasets.negative_kinds) do
  assert(objects[k] == 1, string.format("hard negatives: %s drawn %s times, expected once (stratified)", k,
    tostring(objects[k])))
end
assert(nsplit.backgroundtrain and nsplit.backgroundtest and nsplit.hard_negativetrain and nsplit.hard_negativetest,
  "negative tiles in both splits")
local nman = read(neg.out .. "/manifest.csv")
datasets.build(neg)
assert(read(neg.out .. "/manifest.csv") == nman, "a resumed build with negatives changed the manifest")
expect_error(function() datasets.build({out = tmp .. "/x", background = -1}) end, "background")

-- ---------------------------------------------------------------- the sky of the earlier builder
-- vary, confounders and artefacts off reproduce the dataset of the builder before they existed
-- byte for byte: the FNV-1a hash below is over (file name, PNG bytes) of every image, in file-name
-- order, recorded from commit d7213a1 (lua/dataset.lua before vary/confounders/artefacts, built
-- with RelWithDebInfo gcc on x86-64) with this same config. A deliberate change of the base sky
-- changes it: re-record it then from a build of that change with the three keys off.
local function fnv(str, h)
  h = h or -3750763034362895579
  for k = 1, #str do h = (h ~ str:byte(k)) * 1099511628211 end
  return h
end
local old = {}
for k, v in pairs(neg) do old[k] = v end
old.out, old.hard_negatives, old.vary, old.confounders, old.artefacts = tmp .. "/old", 5, false, false, false
datasets.build(old)
local orows = manifest.read(old.out)
table.sort(orows, function(a, b) return a.file < b.file end)
local h
for _, r in ipairs(orows) do h = fnv(read(r.path), fnv(r.file, h)) end
assert(#orows == 50 and h == 0x6bc6528d4e2e4f83, string.format("the sky without vary/confounders/artefacts " ..
  "changed: %d images, hash 0x%016x (recorded: 50, 0x6bc6528d4e2e4f83)", #orows, h))
-- its dataset.lua is the old builder's (no vary/confounders/artefacts keys), so folders built before
-- resume with the keys off and are refused with them on
assert(not read(old.out .. "/dataset.lua"):find("vary", 1, true), "keys at false written to dataset.lua")
local on = {}
for k, v in pairs(old) do on[k] = v end
on.vary = nil
expect_error(function() datasets.build(on) end, "another config", old.out)

-- ---------------------------------------------------------------- the randomised sky
-- every target cut-out of the first build is the survey:field the builder describes (rendered here
-- again with datasets.sky and the key sim_id * 16 + k: the same PNG bytes); its cluster has one
-- look in all its cut-outs (the survey's vary: catalogue and cut-outs agree) and the looks differ
-- between clusters; each cut-out has its own conditions (seeing, depth)
do
  local s <close> = dc.sim_survey({seed = sim.seed, ra_min = sim.ra_min, ra_max = sim.ra_max, dec_min = sim.dec_min,
    dec_max = sim.dec_max, vary = true})
  local look_keys = {"rs_offset", "rs_slope", "rs_scatter", "c_factor", "q", "theta", "gap", "miscentre_kpc",
    "sub_frac", "sub_kpc", "gap_kind", "bimodal"}
  local looks, seeing, depth, nimg = {}, {}, {}, 0
  local lo, hi = {cfg.lo_i, cfg.lo_r, cfg.lo_g}, {cfg.hi_i, cfg.hi_r, cfg.hi_g}
  for i, r in ipairs(read_rows) do
    local k = math.tointeger(r.file:match("_(%d+)%.png$"))
    local path = i == 1 and again.out .. "/" .. r.file or r.path -- (the resume test overwrote the first)
    local f <close> = s:field(datasets.sky(cfg, cfg.cutout_px), r.img_ra, r.img_dec, sim_id[r.id] * 16 + k)
    local again_png = tmp .. "/again.png"
    f:composite(again_png, {size = cfg.image_px, stretch = "sqrt", lo = lo, hi = hi})
    -- (the manifest keeps img_ra, img_dec to 10 digits, ~1e-4 px: the pictures agree to rounding)
    local d = png_diff(again_png, path)
    assert(d.max <= 2 and d.mean < 0.01, string.format("%s is not the field datasets.sky describes (max %d, mean %.3f)",
      r.file, d.max, d.mean))
    local c
    for _, x in ipairs(f:clusters()) do if x.id == sim_id[r.id] then c = x end end
    assert(c, r.file .. ": its cluster is not in the field")
    local look = {}
    for _, key in ipairs(look_keys) do look[#look + 1] = tostring(c[key]) end
    look = table.concat(look, " ")
    assert(looks[r.id] == nil or looks[r.id] == look, r.id .. ": its look differs between cut-outs")
    looks[r.id] = look
    local info = f:info()
    assert(info.vary, r.file .. ": rendered without vary")
    seeing[string.format("%.6f", info.seeing[2])], depth[string.format("%.6f", info.depth)] = true, true
    nimg = nimg + 1
  end
  local distinct, nsee, ndepth = {}, 0, 0
  for _, l in pairs(looks) do distinct[l] = true end
  local nlooks, nclus = 0, 0
  for _ in pairs(distinct) do nlooks = nlooks + 1 end
  for _ in pairs(looks) do nclus = nclus + 1 end
  for _ in pairs(seeing) do nsee = nsee + 1 end
  for _ in pairs(depth) do ndepth = ndepth + 1 end
  assert(nlooks == nclus, nlooks .. " distinct looks for " .. nclus .. " clusters")
  assert(nsee == nimg and ndepth == nimg, string.format("%d images with %d seeings, %d depths", nimg, nsee, ndepth))
end

-- ---------------------------------------------------------------- masked pixels
-- with masked stripes forced (datasets.sky wrapped to add masked_stripes = 15 per field, the
-- simulator's NaN bands), every PNG equals the composite detect would make of the same field:
-- its g, r, i FITS (field:write, NaN kept) with non-finite pixels set to 0, area-resampled and
-- stretched (dc.composite) -- so NaN never reaches a picture; the summary counts the masked ones
do
  local sky = datasets.sky
  datasets.sky = function(c, n)
    local t = sky(c, n)
    t.masked_stripes = 15
    return t
  end
  local mk = {}
  for k, v in pairs(sim) do mk[k] = v end
  mk.out, mk.unseen, mk.max_clusters, mk.offsets = tmp .. "/masked", false, 2, 2
  local ok, _, _, stats = pcall(datasets.build, mk)
  datasets.sky = sky
  assert(ok, tostring(_))
  local s <close> = dc.sim_survey({seed = sim.seed, ra_min = sim.ra_min, ra_max = sim.ra_max, dec_min = sim.dec_min,
    dec_max = sim.dec_max, vary = true})
  local lo, hi = {cfg.lo_i, cfg.lo_r, cfg.lo_g}, {cfg.hi_i, cfg.hi_r, cfg.hi_g}
  local fcfg = datasets.sky(cfg, cfg.cutout_px)
  fcfg.masked_stripes = 15
  local with_nan, mostly = 0, 0
  for _, r in ipairs(manifest.read(mk.out)) do
    local k = math.tointeger(r.file:match("_(%d+)%.png$"))
    local f <close> = s:field(fcfg, r.img_ra, r.img_dec, sim_id[r.id] * 16 + k)
    f:write(tmp, "masked", {preview_size = 16})
    local small, bad = {}, 0
    for _, b in ipairs({"g", "r", "i"}) do
      local img <close> = dc.fits_read(tmp .. "/masked-" .. b .. ".fits")
      local nb, all = img:nonfinite()
      bad = math.max(bad, nb / all)
      img:fill_nonfinite(0)
      small[b] = img:resample(cfg.image_px, cfg.image_px)
    end
    local rgb <close> = dc.composite(small.g, small.r, small.i, {method = "sqrt", lo = lo, hi = hi})
    for _, b in ipairs({"g", "r", "i"}) do small[b]:free() end
    rgb:write_png(tmp .. "/masked-ref.png")
    local d = png_diff(tmp .. "/masked-ref.png", r.path)
    assert(d.max <= 2 and d.mean < 0.01, string.format("%s: not the NaN-as-0 composite of its field (max %d, mean %.3f)",
      r.file, d.max, d.mean))
    if bad > 0 then with_nan = with_nan + 1 end
    if bad > datasets.max_masked then mostly = mostly + 1 end
  end
  print(string.format("test_dataset: masked stripes forced: %d of %d cut-outs masked, %d over %.0f %%", with_nan,
    #manifest.read(mk.out), mostly, 100 * datasets.max_masked))
  assert(with_nan >= 2, "only " .. with_nan .. " cut-outs with masked pixels: the test needs some")
  assert(stats.masked_images == with_nan and stats.mostly_masked == mostly, string.format("summary: %d masked, %d " ..
    "mostly; measured %d, %d", stats.masked_images, stats.mostly_masked, with_nan, mostly))
end

-- ---------------------------------------------------------------- real-style FITS files

local N, S = 360, 0.396
local ra0, dec0 = 150, 10
local shift = {g = {12, -7}, r = {0, 0}, i = {-3, 4}} -- per-band CRPIX shifts: unregistered bands
local function band_wcs(b)
  return dc.wcs_tan({x = (N - 1) / 2 + shift[b][1], y = (N - 1) / 2 + shift[b][2], ra = ra0, dec = dec0, scale = S})
end
local wr <close> = band_wcs("r")
local c1ra, c1dec = wr:pix2world(150, 170)
local c2ra, c2dec = wr:pix2world(215, 195)
local files = tmp .. "/files"
assert(os.execute("mkdir -p " .. files .. "/img " .. files .. "/bad1 " .. files .. "/bad2"))
for _, b in ipairs({"g", "r", "i"}) do
  local w <close> = band_wcs(b)
  local img <close> = dc.image(N, N)
  -- a BCG (peak 20 nMgy, sigma 2 px) and four members per cluster, at their sky positions
  for _, c in ipairs({{c1ra, c1dec}, {c2ra, c2dec}}) do
    local bx, by = w:world2pix(c[1], c[2])
    for m, d in ipairs({{0, 0, 20}, {9, 4, 3}, {-7, 6, 3}, {5, -9, 2}, {-8, -5, 2}}) do
      local cx, cy, peak = bx + d[1], by + d[2], d[3]
      for y = math.floor(cy) - 8, math.floor(cy) + 8 do
        for x = math.floor(cx) - 8, math.floor(cx) + 8 do
          local v = img:get(x, y) + peak * math.exp(-((x - cx) ^ 2 + (y - cy) ^ 2) / (2 * 2 ^ 2))
          img:set(x, y, v)
        end
      end
    end
  end
  local h <close> = dc.fits_header()
  w:to_header(h)
  h:set("BUNIT", "nanomaggy")
  dc.fits_write(files .. "/img/field1-" .. b .. ".fits", img, h)
  if b ~= "i" then dc.fits_write(files .. "/bad1/field1-" .. b .. ".fits", img, h) end
end

local function row(id, ra, dec, zph, zsp, n200)
  return string.format("%s,%.10f,%.10f,%s,%s,1.1,30.5,%s,16.2\n", id, ra, dec, zph, zsp, n200)
end
local header = "WHL,RAJ2000,DEJ2000,zph,zsp,r200,RL*,N200,rmag\n"
local whl = files .. "/whl.csv"
write(whl, header .. row("J1", c1ra, c1dec, "0.15", "", 25) .. row("J2", c2ra, c2dec, "0.12", "0.125", 22)
  .. row("Jlowz", c1ra, c1dec, "0.05", "", 40) .. row("Jpoor", c2ra, c2dec, "0.15", "", 10)
  .. row("Jsouth", 150, -5, "0.15", "", 30) .. row("Jfar", 200, 10, "0.15", "", 30))
local rm = files .. "/redmapper.csv"
write(rm, "ID,RA,DEC,Z_LAMBDA,LAMBDA,MODEL_MAG_R\n" .. string.format("7,%.10f,%.10f,0.125,24.0,16.2\n", c2ra, c2dec))

local real = {source = "files", out = tmp .. "/real", catalog = whl, images = files .. "/img", cutout_px = 200,
  image_px = 100, max_offset = 20, box_kpc = 50, test_fraction = 0.5, unseen_catalog = rm, quiet = true}
local rcfg = {}
for k, v in pairs(datasets.defaults) do rcfg[k] = v end
for k, v in pairs(real) do rcfg[k] = v end
local rrows, runseen = datasets.build(real)
rrows = manifest.read(real.out)
assert(#rrows == 8, #rrows .. " rows from the FITS files, expected 8 (J1, J2 x 4)")
local sky = {J1 = {c1ra, c1dec}, J2 = {c2ra, c2dec}}
local sides = {}
for _, r in ipairs(rrows) do
  assert(sky[r.id], r.id .. " should have been cut or left out")
  assert(r.simulated == 0)
  sides[r.id] = sides[r.id] or r.split
  assert(sides[r.id] == r.split, r.id .. " on both sides of the split")
  check_geometry(r, rcfg)
  local x, y = sky_to_image(r, sky[r.id][1], sky[r.id][2], rcfg.image_px)
  close(r.cx, x, 2e-3, r.file .. " cx vs WCS")
  close(r.cy, y, 2e-3, r.file .. " cy vs WCS")
  -- registered bands: the BCG is bright in all three channels at the centre
  local _, _, ch = brightness(r.path, r.cx, r.cy, 0.5)
  assert(ch[1] == 255 and ch[2] == 255 and ch[3] == 255,
    string.format("%s: BCG channels %d %d %d, expected all saturated", r.file, ch[1], ch[2], ch[3]))
end
assert(sides.J1 ~= sides.J2, "one cluster each side with test_fraction 0.5")
close(rrows[1].z, rrows[1].id == "J2" and 0.125 or 0.15, 1e-12, "WHL12 z: zsp where given, else zph")
assert(#runseen == 1 and runseen[1].id == "7" and runseen[1].split == "test", "unseen set from the redMaPPer CSV")

-- bad input
expect_error(function()
  datasets.build({source = "files", out = tmp .. "/b1", catalog = whl, images = files .. "/bad1", quiet = true})
end, "i-band", "field1-g.fits")
write(files .. "/list.csv", "g,r,i\nimg/field1-g.fits,img/field1-r.fits,img/nope-i.fits\n")
expect_error(function()
  datasets.build({source = "files", out = tmp .. "/b2", catalog = whl, images = files .. "/list.csv", quiet = true})
end, "nope-i.fits", "row 1")
write(files .. "/nodec.csv", "WHL,RAJ2000,zph,N200\nJ1,150,0.15,25\n")
expect_error(function()
  datasets.build({source = "files", out = tmp .. "/b3", catalog = files .. "/nodec.csv", images = files .. "/img",
    catalog_format = "whl12", quiet = true})
end, "DEJ2000", "nodec.csv")
write(files .. "/text.csv", header .. row("J1", c1ra, c1dec, "0.15", "", 25) .. row("J2", c2ra, c2dec, "abc", "", 22))
expect_error(function()
  datasets.build({source = "files", out = tmp .. "/b4", catalog = files .. "/text.csv", images = files .. "/img",
    quiet = true})
end, "text.csv", "row 2", "zph", "abc")
write(files .. "/non200.csv", "WHL,RAJ2000,DEJ2000,zph\nJ1,150,10,0.15\n")
expect_error(function()
  datasets.build({source = "files", out = tmp .. "/b5", catalog = files .. "/non200.csv", images = files .. "/img",
    quiet = true})
end, "non200.csv", "N200")
expect_error(function()
  datasets.build({source = "files", out = tmp .. "/b6", catalog = files .. "/missing.csv", images = files .. "/img",
    quiet = true})
end, "missing.csv")

os.execute("rm -rf '" .. tmp .. "'")
print(string.format("test_dataset: ok (simulated build %.1f s, resumed %.1f s)", t_sim, t_resume))
