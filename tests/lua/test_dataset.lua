-- The dataset builder (lua/dataset.lua) at toy sizes, on both sources:
--  * a simulated survey: 4 images per cluster, boxes inside the image and centred on the true
--    centre (checked against the survey's truth through an independent TAN projection and against
--    the pixels: the BCG is among the brightest), the paper's cuts, a split by cluster, the
--    unseen-region set, bit-identical rebuilds, resuming, and a changed config refused;
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

local function read(p)
  local f = assert(io.open(p, "rb"))
  local s = f:read("a")
  f:close()
  return s
end
local function write(p, s)
  local f = assert(io.open(p, "w"))
  f:write(s)
  f:close()
end
local function close(a, b, tol, what)
  assert(math.abs(a - b) <= tol, string.format("%s: %.6f vs %.6f (tolerance %g)", what, a, b, tol))
end
local function expect_error(fn, ...)
  local ok, err = pcall(fn)
  assert(not ok, "expected an error")
  for _, s in ipairs({...}) do
    assert(tostring(err):find(s, 1, true), string.format("error '%s' does not mention '%s'", tostring(err), s))
  end
  return err
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
-- the same survey with 5 background and 5 hard-negative tiles: the target rows are unchanged; no
-- cluster passing the cuts (checked on the survey's truth, every one of the region, through the
-- independent projection) lies in a negative tile; a hard negative is centred near a catalogue
-- object failing the cuts; both kinds reach both splits; a re-run resumes to the same manifest
local neg = {}
for k, v in pairs(sim) do neg[k] = v end
neg.out, neg.background, neg.hard_negatives, neg.unseen, neg.test_fraction = tmp .. "/neg", 5, 5, false, 0.4
local nrows = manifest.read((function() datasets.build(neg) return neg.out end)())
local kinds, nsplit, targets_seen = {}, {}, 0
local catrow = {}
for k = 1, cat.nrows do catrow[cat.cols.id[k]] = k end
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
      local k = assert(catrow[r.id], r.id .. " is not a catalogue object")
      local c = cat.cols
      assert(not (c.z[k] > 0.1 and c.z[k] < 0.2 and c.n200[k] >= 20 and c.dec[k] > 0), r.id .. " passes the cuts")
      local t = truth[sim_id[r.id]]
      local x, y = sky_to_image(r, t.ra, t.dec, cfg.image_px)
      local m = (cfg.max_offset / r.scale) + 1
      assert(math.abs(x - cfg.image_px / 2) <= m and math.abs(y - cfg.image_px / 2) <= m,
        string.format("%s: the object at (%.1f, %.1f) is not at the tile centre within the offset", r.file, x, y))
    end
  end
end
assert(targets_seen == #read_rows, "target rows " .. targets_seen .. " vs " .. #read_rows)
assert(kinds.background == 5 and kinds.hard_negative == 5, "5 + 5 negative tiles expected")
assert(nsplit.backgroundtrain and nsplit.backgroundtest and nsplit.hard_negativetrain and nsplit.hard_negativetest,
  "negative tiles in both splits")
local nman = read(neg.out .. "/manifest.csv")
datasets.build(neg)
assert(read(neg.out .. "/manifest.csv") == nman, "a resumed build with negatives changed the manifest")
expect_error(function() datasets.build({out = tmp .. "/x", background = -1}) end, "background")

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
