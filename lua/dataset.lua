-- The dataset builder (issue 3): the paper's training/test images and their manifest, from a
-- simulated survey (the default) or from a real catalogue plus real g, r, i FITS images.
--
--   local datasets = require("dataset")
--   local rows, unseen, stats = datasets.build({out = "data/x", image_px = 512})   -- keys: M.defaults
--   datasets.build(util.config(datasets.defaults, datasets.presets.demo))           -- a preset
-- (scripts/dataset.lua is the command line: preset=paper|demo plus key=value.)
--
-- Steps (Chan & Stott 2019, section 2.2; docs/facts.md 5):
--  1. a catalogue: source="sim" generates a survey from `seed` (deepcee.sim_survey over the region
--     ra_min..dec_max) and reads its WHL12-style catalogue; source="files" reads `catalog`
--     (FITS or CSV; WHL12, redMaPPer or canonical columns, mapped by the astro layer);
--  2. the paper's cuts: cut_z_min < z < cut_z_max, N200 >= cut_n200_min (only where the catalogue
--     has N200: redMaPPer's LAMBDA >= 20 is its own cut), richness >= cut_richness_min,
--     Dec > cut_dec_min; optionally max_clusters of them, chosen with the seed;
--  3. per cluster `offsets` cut-outs of cutout_px source pixels whose centre is moved from the
--     BCG by a uniform random offset in [-max_offset, +max_offset] arcsec along each axis (drawn
--     by deepcee.cutout_plan from a seed made of `seed`, the cluster id and the offset number, so
--     a cluster keeps its offsets whatever else is selected); simulated cut-outs are rendered on
--     demand centred on the offset position (survey:field), real ones are cut from the image
--     whose WCS contains the cluster, each band through its own WCS;
--  4. the paper's square-root stretch between fixed flux limits (nanomaggies, the same for every
--     image), i -> R, r -> G, g -> B, area-averaged to image_px, written as PNG (atomically);
--  5. a manifest row per image (lua/manifest.lua): ground-truth box of half-size box_kpc (proper,
--     at the catalogue redshift) centred on the BCG, clipped to the image; the true centre cx, cy;
--  6. train/test split by CLUSTER (all offsets of a cluster on the same side) with the seed;
--     out/manifest.csv is written last, after every image exists, and out/dataset.lua holds the
--     effective config (written first, so a re-run with the same config resumes: images already
--     on disk are kept, a different config in the same folder is an error);
--  7. the unseen-region set in out/<unseen_dir>: from the second, disjoint survey region (seed+1)
--     and its redMaPPer-style catalogue (source="sim"), or from `unseen_catalog` (source="files"),
--     unseen_offsets cut-outs per cluster, every row split="test".
--
-- Pixel coordinates in the manifest are continuous: the image spans [0, W] x [0, H], pixel k
-- covers [k, k+1], y grows downwards (north is up), so the image centre is (W/2, H/2) and a
-- left-right flip maps x to W - x (as lua/train.lua does). offset_x, offset_y are the position of
-- the image centre relative to the cluster in arcsec along the picture's right and up directions
-- (west and north for north-up images such as the simulator's and SkyView's; SDSS frames are
-- rotated): the cluster sits at (W/2 - offset_x/scale, H/2 + offset_y/scale).
--
-- Real images (source="files"): `images` is either
--  * a folder of g, r, i triplets named <stem>-g.fits, <stem>-r.fits, <stem>-i.fits (also _g;
--    .fits, .fit, with .gz or .fz) -- SkyView cut-outs, the simulator's field:write output -- or
--    SDSS frames frame-<band>-<run>-<camcol>-<field>.fits (decompress .bz2 first: bunzip2);
--  * or a CSV file with columns g, r, i listing one triplet per row (paths relative to the CSV).
-- Pixels are nanomaggies (SDSS frames are; other units need their own lo/hi limits). For each
-- cluster the triplet whose r-band WCS contains it, farthest from the edges, is used; a cut-out
-- reaching beyond that image is filled with 0 (blank, sky-subtracted sky) and counted in the
-- summary, so give images at least cutout_px + 2 max_offset / scale pixels wide for the paper's
-- set (SkyView: 3,400 px at 0.396"). cutout_px counts the images' own pixels.
local dc = require("deepcee")
local util = require("deepcee_util")
local manifest = require("manifest")
local triplets = require("triplets")

local M = {}

local SDSS_PIXEL = 0.396 -- arcsec per pixel (docs/facts.md 4), the simulator's scale
local survey_defaults = dc.sim_defaults().survey

M.defaults = {
  out = "data/paper",         -- output folder: PNGs, manifest.csv, dataset.lua, catalogues
  source = "sim",             -- "sim": a simulated survey; "files": catalog + images on disk
  seed = 1,                   -- survey (seed; unseen region seed+1), offsets, split, subset
  -- source = "sim": the survey's sky region (degrees; the simulator's default holds ~550
  -- clusters passing the paper's cuts, about the paper's 497)
  ra_min = survey_defaults.ra_min, ra_max = survey_defaults.ra_max,
  dec_min = survey_defaults.dec_min, dec_max = survey_defaults.dec_max,
  -- the survey's redshift range (source = "sim", both regions); the simulator's default covers
  -- the paper's cuts, the wide preset widens it to reach z = 0.5
  survey_z_min = survey_defaults.z_min, survey_z_max = survey_defaults.z_max,
  -- source = "files"
  catalog = "",               -- catalogue file (FITS or CSV)
  catalog_format = "auto",    -- auto, whl12, redmapper, canonical
  images = "",                -- folder of g, r, i triplets, or a CSV listing them (see above)
  -- the paper's cuts (docs/facts.md 5)
  cut_z_min = 0.1, cut_z_max = 0.2, -- cut_z_min < z < cut_z_max
  cut_n200_min = 20,          -- N200 >= this (where the catalogue has N200)
  cut_richness_min = 0,       -- richness (RL* or LAMBDA) >= this
  cut_dec_min = 0,            -- Dec > this
  max_clusters = 0,           -- keep at most this many (0: all), chosen with the seed
  -- cut-outs (paper: 4 per cluster, 2000 px, offsets within +-270", written at 1000 px)
  offsets = 4,
  cutout_px = 2000,
  max_offset = 270,           -- arcsec
  image_px = 1000,
  box_kpc = 250,              -- half-size of the ground-truth box, proper kpc at the cluster's z
  h0 = 71, om = 0.27,         -- cosmology of box_kpc (paper; docs/facts.md 3)
  -- square-root stretch y = sqrt(clip((x - lo) / (hi - lo), 0, 1)) per band, nanomaggies per
  -- source pixel. lo = 0 is the sky level of sky-subtracted frames; hi = 1 nMgy (20.5
  -- mag/arcsec^2 at 0.396") puts a 2-sigma noise pixel (0.04-0.09 nMgy, docs/facts.md 4) at 20-30 %
  -- grey before resampling, shows galaxies to r ~ 22 and saturates only the cores of bright
  -- galaxies; equal limits keep the colours physical: red-sequence galaxies come out
  -- yellow-orange, as in SDSS pictures.
  lo_g = 0, lo_r = 0, lo_i = 0,
  hi_g = 1, hi_r = 1, hi_i = 1,
  test_fraction = 0.1,        -- share of the clusters in the test split (paper: 90/10)
  -- tiles without a target, as `detect` sees most of a field (source = "sim"; split with
  -- test_fraction like the clusters; manifest kind column, README "Training augmentation")
  background = 0,             -- total number of tiles at random places of the region with no
                              -- cluster passing the cuts inside the cut-out (nor within a box
                              -- half-size of its edge)
  hard_negatives = 0,         -- total number of tiles centred (with the usual random offset) on
                              -- objects that are not targets: catalogue clusters failing the cuts
                              -- and, with confounders on, the region's confounders; drawn
                              -- stratified by kind (M.negative_centres), with no target inside
  mined = "",                 -- a CSV with columns ra, dec (degrees): a trained detector's own false
                              -- positives on fields of this region (scripts/mine.lua); one more
                              -- hard-negative tile each (object "mined", with the usual offset, no
                              -- target inside), all in the training split
  -- the simulated sky (source = "sim"): every cut-out draws its conditions, and every cluster
  -- its look, from ranges of real surveys; the images hold confounders (not in the catalogue)
  -- and artefacts. Masked (NaN) pixels become 0 in the PNGs, as `detect` takes them.
  vary = true,                -- docs/simulated-sky.md: true (the documented ranges), false, or a
                              -- table of ranges passed to sim_survey{} and every survey:field{}
                              -- (from Lua; e.g. {seeing = {1, 1.5}})
  confounders = true,         -- LRGs, pairs, compact groups, fore/background and poor clusters
                              -- at realistic rates (docs/sky-confounders.md)
  artefacts = true,           -- star spikes, satellite trails, masked stripes/edges, gradients
  -- any of the three false: that part of the sky is as before it existed (bit for bit with all
  -- three false). With confounders on, hard negatives are drawn from the confounders of the
  -- training region too (M.negative_centres).
  -- the unseen-region set (paper 3.2: 31 redMaPPer clusters in a 105 deg^2 region; the same
  -- region as scripts/sim.lua's survey=true, ~36 clusters pass the cuts)
  unseen = true,
  unseen_dir = "unseen",      -- subfolder of out
  unseen_offsets = 1,         -- cut-outs per cluster (offset as above)
  unseen_ra_min = 245, unseen_ra_max = 257, unseen_dec_min = 30, unseen_dec_max = 40.5,
  unseen_catalog = "",        -- source = "files": the unseen set's catalogue ("" = none)
  quiet = false,              -- no progress output
}

-- Allowed values of the numeric keys (util.config); cross-key rules are in check_config.
local SEED = {0, 2 ^ 53, "integer"}
M.ranges = {
  seed = SEED, ra_min = {0, 360}, ra_max = {0, 360}, dec_min = {-90, 90}, dec_max = {-90, 90},
  survey_z_min = {0.006, 1.49}, survey_z_max = {0.006, 1.49},
  cut_z_min = {0, 10}, cut_z_max = {0, 10}, cut_n200_min = {0, 1e6}, cut_richness_min = {0, 1e6},
  cut_dec_min = {-90, 90}, max_clusters = {0, 1e7, "integer"}, offsets = {1, 1000, "integer"},
  cutout_px = {16, 20000, "integer"}, max_offset = {0, 3600}, image_px = {16, 8192, "integer"},
  box_kpc = {1, 10000}, h0 = {20, 200}, om = {0.01, 1},
  lo_g = {-1e6, 1e6}, lo_r = {-1e6, 1e6}, lo_i = {-1e6, 1e6}, hi_g = {-1e6, 1e6}, hi_r = {-1e6, 1e6}, hi_i = {-1e6, 1e6},
  test_fraction = {0, 0.99}, unseen_offsets = {1, 1000, "integer"},
  unseen_ra_min = {0, 360}, unseen_ra_max = {0, 360}, unseen_dec_min = {-90, 90}, unseen_dec_max = {-90, 90},
}

-- Named settings on top of the defaults. paper: the paper's 497 clusters (its cuts left 497 after
-- an Abell match the simulated catalogue has no column for; the survey holds ~550 passing the
-- cuts, of which 497 are drawn with the seed) -> 1,988 images. demo: ~110 clusters x 4 at 256 px
-- from 800 px cut-outs, a CPU-sized set with the paper's geometry scaled by 0.4 (offsets and box
-- shrink with the cut-out, so the box keeps its share of the picture and stays inside it).
M.presets = {
  paper = {max_clusters = 497},
  -- 1000 px cut-outs written at 256 px, offsets scaled with the cut-out (270" x 1000/2000), the
  -- paper's 250 kpc boxes: on simulated data this trains a useful detector in minutes on a CPU;
  -- 300 background and 300 hard-negative tiles (one per target cluster each at the demo's 300)
  -- teach it that most tiles of a field hold nothing
  demo = {out = "data/demo", ra_min = 140, ra_max = 210, cutout_px = 1000, image_px = 256,
    max_offset = 135, background = 300, hard_negatives = 300},
  -- issue 10: beyond the paper's window, so that redshift and richness estimates mean something:
  -- 0.05 < z < 0.5 and N200 >= 10 from a survey drawn over 0.05 < z < 0.5, 300 clusters of the demo
  -- region. The 250 kpc half-box is 259" at z = 0.05 (41" at z = 0.5), so the cut-outs are 2000 px
  -- (792") with the demo's 135" offsets: the box stays inside at the lowest z (259 + 135 < 396");
  -- written at 512 px, the demo's 3.9 input pixels per network pixel (z = 0.5 boxes are 53 px)
  wide = {out = "data/wide", ra_min = 140, ra_max = 210, cutout_px = 2000, image_px = 512, max_offset = 135,
    background = 300, hard_negatives = 300, max_clusters = 300, cut_z_min = 0.05, cut_z_max = 0.5,
    cut_n200_min = 10, survey_z_max = 0.5},
}

-- ---------------------------------------------------------------- helpers

local function say(cfg, ...)
  if not cfg.quiet then
    print(string.format(...))
    io.stdout:flush()
  end
end

local function isnan(x) return x ~= x end

local hash = util.hash

local function offset_seed(cfg, id, k)
  return hash(string.format("%d:%s:%d", cfg.seed, id, k))
end

-- Canonical rows {id, ra, dec, z, richness, n200, bcg_rmag, sim_id} of a catalogue file (errors
-- name the file, column and row); the position is the BCG's (bcg_ra/bcg_dec where given, as
-- redMaPPer's RA_CEN/DEC_CEN). key: the setting that named a user's file (catalog,
-- unseen_catalog), whose having no rows is an error (nil for the simulated survey's catalogues).
local function catalogue_rows(path, format, key)
  local cat = dc.catalog_read(path, {map = format})
  if key and cat.nrows == 0 then
    error(string.format("dataset: catalogue %s has no rows (a header and no clusters): there is nothing to " ..
      "select; give %s= a catalogue that lists clusters", path, key), 0)
  end
  local c, rows, nan = cat.cols, {}, 0 / 0
  for k = 1, cat.nrows do
    local ra, dec = c.ra[k], c.dec[k]
    if c.bcg_ra and not isnan(c.bcg_ra[k]) and not isnan(c.bcg_dec[k]) then ra, dec = c.bcg_ra[k], c.bcg_dec[k] end
    rows[k] = {id = tostring(c.id[k]), ra = ra, dec = dec, z = c.z[k], richness = c.richness and c.richness[k] or nan,
      n200 = c.n200 and c.n200[k] or nan, bcg_rmag = c.bcg_rmag and c.bcg_rmag[k] or nan,
      sim_id = c.sim_id and math.tointeger(c.sim_id[k]) or nil}
    if rows[k].id:match("^%-?%d+%.0$") then rows[k].id = rows[k].id:sub(1, -3) end -- numeric ids
  end
  return rows
end

-- The paper's cuts. redMaPPer has no N200 (its LAMBDA >= 20 is the richness cut), so the N200 cut
-- is skipped there; any other catalogue without N200 is an error while the cut is on.
local function apply_cuts(cfg, rows, path)
  local has_n200 = false
  for _, r in ipairs(rows) do if not isnan(r.n200) then has_n200 = true break end end
  if #rows > 0 and not has_n200 and cfg.cut_n200_min > 0 then
    local _, format = dc.catalog_map(dc.catalog_read(path), cfg.catalog_format)
    if format ~= "redmapper" then
      error(string.format("dataset: catalogue %s has no N200 values, needed by the cut N200 >= %g (give the " ..
        "column, or cut_n200_min=0 to skip the cut)", path, cfg.cut_n200_min), 0)
    end
    say(cfg, "  %s is a redMaPPer catalogue (no N200): the N200 cut is not applied", path)
  end
  local sel = {}
  for _, r in ipairs(rows) do
    local ok = r.z > cfg.cut_z_min and r.z < cfg.cut_z_max and r.dec > cfg.cut_dec_min
      and (not has_n200 or r.n200 >= cfg.cut_n200_min)
      and (cfg.cut_richness_min <= 0 or r.richness >= cfg.cut_richness_min)
    if ok then sel[#sel + 1] = r end
  end
  return sel
end

-- The clusters of a simulated survey's WHL12-style catalogue (written to catfile) that pass the
-- paper's cuts of cfg (cut_z_min < z < cut_z_max, N200 >= cut_n200_min, Dec > cut_dec_min), at
-- their BCGs: {{id, ra, dec, z, n200, sim_id}} in catalogue order, and the set of every
-- catalogued sim_id (lua/fieldeval.lua's targets, lua/mine.lua's clusters to keep away from).
function M.survey_targets(survey, cfg, catfile)
  survey:write_catalog(catfile, "whl12")
  local cat = dc.catalog_read(catfile, {map = "whl12"})
  local c = cat.cols
  local passing, in_whl = {}, {}
  for k = 1, cat.nrows do
    local sim_id = math.tointeger(c.sim_id[k])
    in_whl[sim_id] = true
    local ra, dec = c.ra[k], c.dec[k]
    if c.bcg_ra and c.bcg_ra[k] == c.bcg_ra[k] then ra, dec = c.bcg_ra[k], c.bcg_dec[k] end
    local z, n200 = c.z[k], c.n200[k]
    if z > cfg.cut_z_min and z < cfg.cut_z_max and n200 >= cfg.cut_n200_min and dec > cfg.cut_dec_min then
      passing[#passing + 1] = {id = tostring(c.id[k]), ra = ra, dec = dec, z = z, n200 = n200, sim_id = sim_id}
    end
  end
  return passing, in_whl
end

-- No cluster of the catalogue at path (n rows) passes the cuts: an error saying which and what to do
-- (key: the setting that names another catalogue).
local function none_pass(cfg, path, n, key)
  error(string.format("dataset: none of the %d clusters of catalogue %s passes the cuts (%g < z < %g, N200 >= %g, " ..
    "richness >= %g, Dec > %g): nothing to build; loosen them (cut_z_min, cut_z_max, cut_n200_min, " ..
    "cut_richness_min, cut_dec_min) or %s", n, path, cfg.cut_z_min, cfg.cut_z_max, cfg.cut_n200_min,
    cfg.cut_richness_min, cfg.cut_dec_min, key and "give another " .. key .. "=" or
    "enlarge the simulated region (ra_min, ra_max, dec_min, dec_max)"), 0)
end

-- Manifest geometry from the target's position (tx, ty) in an n x n cut-out (0-based pixel
-- centres, y up) whose pixels are src_scale arcsec: the true centre and the box, continuous
-- output-pixel coordinates (see the top).
-- The simulator's true redshift of each catalogue row, as z_true (issue 10): the WHL12-style z is
-- photometric (scatter 0.018 (1 + z)) where the catalogue has no spectroscopic one, and the
-- redMaPPer-style Z_LAMBDA likewise, so the property heads train and are scored on the truth.
-- Written through the survey's truth catalogue (file, beside the other catalogues), read by sim_id.
local function add_true_z(survey, rows, file)
  survey:write_catalog(file, "truth")
  local t = dc.catalog_read(file)
  local z = {}
  for k = 1, t.nrows do z[math.tointeger(t.cols.sim_id[k])] = t.cols.z[k] end
  for _, r in ipairs(rows) do r.z_true = r.sim_id and z[r.sim_id] or nan end
end

local function label(cfg, n, tx, ty, src_scale, z)
  local s = cfg.image_px
  local f = s / n
  local cx, cy = (tx + 0.5) * f, s - (ty + 0.5) * f
  local scale = src_scale / f
  local half = cfg.box_kpc / dc.cosmo(z, {h0 = cfg.h0, om = cfg.om}).kpc_per_arcsec / scale
  local function clip(v) return math.max(0, math.min(s, v)) end
  return {cx = cx, cy = cy, xmin = clip(cx - half), ymin = clip(cy - half), xmax = clip(cx + half),
    ymax = clip(cy + half), scale = scale, offset_x = ((n - 1) / 2 - tx) * src_scale,
    offset_y = ((n - 1) / 2 - ty) * src_scale}
end

local function composite_limits(cfg)
  return {cfg.lo_i, cfg.lo_r, cfg.lo_g}, {cfg.hi_i, cfg.hi_r, cfg.hi_g}
end

local function file_name(id, k)
  return string.format("%s_%d.png", id:gsub("[^%w%+%-%.]", "_"), k)
end

-- ---------------------------------------------------------------- simulated cut-outs

-- The survey:field config of an n x n simulated cut-out: the dataset's sky keys (one home for
-- the training sky; lua/fieldeval.lua renders held-out fields with the same keys).
function M.sky(cfg, n)
  return {width = n, height = n, vary = cfg.vary, confounders = cfg.confounders, artefacts = cfg.artefacts}
end

-- Cut-outs written with masked pixels (filled with 0 by field:composite): counted for the summary.
-- Those more than M.max_masked masked (worst band) are still written (a detector meets such
-- tiles: detect skips tiles over its own max_tile_masked, the same 50 %) and listed in the summary.
M.max_masked = 0.5
local masked = {images = 0, worst = 0, mostly = {}}
local function tally_masked(fraction, path)
  if fraction and fraction > 0 then
    masked.images = masked.images + 1
    if fraction > masked.worst then masked.worst = fraction end
    if fraction > M.max_masked then masked.mostly[#masked.mostly + 1] = path end
  end
end

-- cut(row, k, path, write) -> {tx, ty, n, src_scale, img_ra, img_dec}: the field around the
-- offset position is rendered only when write is true (resuming needs the geometry alone, which
-- the TAN projection gives exactly as the simulator computes it).
local function sim_cutter(cfg, survey)
  local n = cfg.cutout_px
  local fcfg = M.sky(cfg, n)
  local lo, hi = composite_limits(cfg)
  local copts = {size = cfg.image_px, stretch = "sqrt", lo = lo, hi = hi}
  return function(row, k, path, write)
    -- the offset, drawn as for real images, on a 1"/px grid centred on the cluster
    local grid <close> = dc.wcs_tan({x = 0, y = 0, ra = row.ra, dec = row.dec, scale = 1})
    local plan = dc.cutout_plan(grid, 1, 1, row.ra, row.dec, 1,
      {max_offset = cfg.max_offset, seed = offset_seed(cfg, row.id, k)})
    local ra_c, dec_c = grid:pix2world(plan.dx_arcsec, plan.dy_arcsec)
    local w <close> = dc.wcs_tan({x = (n - 1) / 2, y = (n - 1) / 2, ra = ra_c, dec = dec_c, scale = SDSS_PIXEL})
    local tx, ty = w:world2pix(row.ra, row.dec)
    if write then
      local f <close> = survey:field(fcfg, ra_c, dec_c, row.sim_id * 16 + k)
      local found
      for _, c in ipairs(f:clusters()) do
        if c.id == row.sim_id then found = c break end
      end
      -- (confounder galaxies, pairs and compact groups have no cluster entry to check)
      if not found and not row.system then
        error(string.format("dataset: cluster %s (survey id %d) is missing from its own cut-out %s", row.id, row.sim_id, path))
      end
      if found and (math.abs(found.x - tx) > 1e-3 or math.abs(found.y - ty) > 1e-3) then
        error(string.format("dataset: cluster %s at (%.4f, %.4f) in %s, the TAN projection says (%.4f, %.4f)",
          row.id, found.x, found.y, path, tx, ty))
      end
      tally_masked(f:composite(path, copts), path)
    end
    return {tx = tx, ty = ty, n = n, src_scale = SDSS_PIXEL, img_ra = ra_c, img_dec = dec_c}
  end
end

-- ---------------------------------------------------------------- real images

local BANDS = {"g", "r", "i"}

local function list_triplets(images) return triplets.list(images, "dataset") end

-- Angular distance in degrees (engine/eval's great-circle separation).
local function separation(ra1, dec1, ra2, dec2) return dc.sep_arcsec(ra1, dec1, ra2, dec2) / 3600 end

-- The footprint of every triplet from its r-band image: WCS, size, centre and radius.
local function index_triplets(cfg, triplets)
  for _, t in ipairs(triplets) do
    local img, hdr = dc.fits_read(t.r)
    t.nx, t.ny = img:size()
    img:free()
    local ok, w = pcall(hdr.wcs, hdr)
    hdr:free()
    if not ok then error(string.format("dataset: %s: %s", t.r, w), 0) end
    t.wcs = w -- kept for the containment test; freed by the cutter's close()
    t.ra, t.dec = w:pix2world((t.nx - 1) / 2, (t.ny - 1) / 2)
    t.radius = 0
    for _, c in ipairs({{0, 0}, {t.nx - 1, 0}, {0, t.ny - 1}, {t.nx - 1, t.ny - 1}}) do
      local ra, dec = w:pix2world(c[1], c[2])
      t.radius = math.max(t.radius, separation(t.ra, t.dec, ra, dec))
    end
  end
  say(cfg, "  %d image triplets indexed", #triplets)
end

-- The triplet containing (ra, dec) farthest from its edges, or nil.
local function find_triplet(triplets, ra, dec)
  local best, margin = nil, -1
  for _, t in ipairs(triplets) do
    if separation(t.ra, t.dec, ra, dec) <= t.radius * 1.01 then
      local ok, x, y = pcall(t.wcs.world2pix, t.wcs, ra, dec)
      if ok then
        local m = math.min(x + 0.5, t.nx - 0.5 - x, y + 0.5, t.ny - 0.5 - y)
        if m > 0 and m > margin then best, margin = t, m end
      end
    end
  end
  return best
end

-- The cutter for real images (see sim_cutter); loads one triplet at a time.
local function files_cutter(cfg, triplets)
  local n = cfg.cutout_px
  local lo, hi = composite_limits(cfg)
  local loaded -- {triplet, img = {g, r, i}, wcs = {g, r, i}}
  local function release()
    if loaded then
      for _, b in ipairs(BANDS) do loaded.img[b]:free() loaded.wcs[b]:free() end
      loaded = nil
    end
  end
  local function load(t)
    if loaded and loaded.t == t then return loaded end
    release()
    local l = {t = t, img = {}, wcs = {}}
    for _, b in ipairs(BANDS) do
      local img, hdr = dc.fits_read(t[b])
      local ok, w = pcall(hdr.wcs, hdr)
      hdr:free()
      if not ok then img:free() error(string.format("dataset: %s: %s", t[b], w), 0) end
      l.img[b], l.wcs[b] = img, w
    end
    local s = l.wcs.r:pixel_scale((t.nx - 1) / 2, (t.ny - 1) / 2)
    for _, b in ipairs({"g", "i"}) do
      local nx, ny = l.img[b]:size()
      local sb = l.wcs[b]:pixel_scale((nx - 1) / 2, (ny - 1) / 2)
      if math.abs(sb / s - 1) > 0.01 then
        error(string.format("dataset: %s has %.4f\"/px but %s %.4f\"/px: the bands of a triplet need one pixel scale",
          t[b], sb, t.r, s), 0)
      end
    end
    l.scale = s
    loaded = l
    return l
  end
  local cutter = {partial = 0}
  function cutter.find(row) return find_triplet(triplets, row.ra, row.dec) end
  function cutter.close()
    release()
    for _, t in ipairs(triplets) do t.wcs:free() end
  end
  function cutter.cut(row, k, path, write)
    local t = row.triplet
    local l = load(t)
    local plan = dc.cutout_plan(l.wcs.r, t.nx, t.ny, row.ra, row.dec, n,
      {max_offset = cfg.max_offset, seed = offset_seed(cfg, row.id, k)})
    if plan.tx < -0.5 or plan.ty < -0.5 or plan.tx > n - 0.5 or plan.ty > n - 0.5 then
      error(string.format("dataset: cluster %s falls outside its %d px cut-out (max_offset=%g\" is too large " ..
        "for cutout_px=%d at %.3f\"/px)", row.id, n, cfg.max_offset, n, l.scale), 0)
    end
    local c = (n - 1) / 2
    local ra_c, dec_c = l.wcs.r:pix2world(plan.x0 + c, plan.y0 + c)
    if not plan.inside then cutter.partial = cutter.partial + 1 end
    if write then
      local small = {}
      for _, b in ipairs(BANDS) do
        -- each band through its own WCS (SDSS frames of one field are not registered)
        local x, y = l.wcs[b]:world2pix(ra_c, dec_c)
        local crop <close> = l.img[b]:crop(math.floor(x - c + 0.5), math.floor(y - c + 0.5), n, n, 0)
        small[b] = crop:resample(cfg.image_px, cfg.image_px)
      end
      local rgb <close> = dc.composite(small.g, small.r, small.i, {method = "sqrt", lo = lo, hi = hi})
      for _, b in ipairs(BANDS) do small[b]:free() end
      rgb:write_png(path)
    end
    return {tx = plan.tx, ty = plan.ty, n = n, src_scale = l.scale, img_ra = ra_c, img_dec = dec_c}
  end
  return cutter
end

-- ---------------------------------------------------------------- tiles without a target

-- An image already on disk at the right size (a resumed build keeps it).
local function png_ok(path, size)
  if not util.exists(path) then return false end
  local ok, img = pcall(dc.png_read, path)
  if not ok then return false end
  local nx, ny = img:size()
  img:free()
  return nx == size and ny == size
end


-- The non-target objects hard-negative tiles are centred on, as rows {id, ra, dec, z, richness,
-- n200, bcg_rmag, sim_id, object}, sorted by id:
--  * object = "failed_cut": catalogue rows failing the cuts (the simulated survey holds clusters
--    with N200 >= 5 over 0.05 < z < 0.45, so these are clusters at z outside (cut_z_min,
--    cut_z_max) or with N200 < cut_n200_min); id: the catalogue's;
--  * with confounders on (source = "sim", a survey given): every confounder of the training region
--    (survey:confounders, the same streams survey:field renders, listed without pixels): object =
--    "lrg", "pair", "compact_group" (system = true: no cluster entry in a cut-out), "foreground",
--    "background", "poor" (clusters, in the cut-out's cluster list); id: "<object>-<simulator id>",
--    so the manifest's id column names the kind; n200 the cluster's mean N200 (NaN for galaxies),
--    richness and bcg_rmag NaN.
-- M.negative_kinds is the order hard_negatives draws them in (negative_tiles: stratified).
M.negative_kinds = {"failed_cut", "lrg", "pair", "compact_group", "foreground", "background", "poor"}
-- (the detector's mined false positives, mined = CSV, come after these: object "mined")
function M.negative_centres(cfg, catalogue, targets, survey)
  local is_target = {}
  for _, r in ipairs(targets) do is_target[r.id] = true end
  local out = {}
  for _, r in ipairs(catalogue) do
    if not is_target[r.id] and r.sim_id then
      local c = {}
      for k, v in pairs(r) do c[k] = v end
      c.object = "failed_cut"
      out[#out + 1] = c
    end
  end
  if survey and cfg.confounders then
    local nan = 0 / 0
    for _, q in ipairs(survey:confounders(M.sky(cfg, cfg.cutout_px), cfg.ra_min, cfg.ra_max, cfg.dec_min, cfg.dec_max)) do
      out[#out + 1] = {id = string.format("%s-%d", q.kind, q.id), ra = q.ra, dec = q.dec, z = q.z, richness = nan,
        n200 = q.n_members > 0 and nan or q.n200, bcg_rmag = nan, sim_id = q.id, object = q.kind,
        system = q.n_members > 0}
    end
  end
  table.sort(out, function(a, b) return a.id < b.id end)
  return out
end

-- The positions of a mined = CSV (columns ra, dec in degrees; others ignored) as {{ra, dec}}; an
-- empty path gives none. Errors name the file, the row and the value.
function M.read_mined(path)
  if path == "" then return {} end
  local cat = dc.catalog_read(path)
  local ra, dec = cat.cols.ra, cat.cols.dec
  if not ra or not dec then
    error(string.format("dataset: mined=%s needs columns ra and dec (degrees)", path), 0)
  end
  local out = {}
  for k = 1, cat.nrows do
    local a, d = tonumber(ra[k]), tonumber(dec[k])
    if not (a and d and a >= 0 and a <= 360 and d >= -90 and d <= 90) then
      error(string.format("dataset: mined=%s row %d: ra=%s dec=%s is not a sky position in degrees", path, k,
        tostring(ra[k]), tostring(dec[k])), 0)
    end
    out[k] = {ra = a, dec = d}
  end
  return out
end

-- count of M.negative_centres' objects, stratified by kind: each kind's objects shuffled with the
-- seed, then one of each kind in turn (M.negative_kinds order) until count are drawn or every kind
-- is used up, so the rare kinds (compact and foreground groups: ~0.3 per deg^2) are as common as
-- the others while they last. With one kind (confounders off) this is the seeded shuffle alone.
local function draw_negatives(cfg, negs, count)
  local by = {}
  for _, o in ipairs(negs) do
    by[o.object] = by[o.object] or {}
    table.insert(by[o.object], o)
  end
  for _, kind in ipairs(M.negative_kinds) do
    if by[kind] then util.shuffle(by[kind], cfg.seed, 3) end
  end
  local chosen, pos = {}, 0
  while #chosen < count do
    pos = pos + 1
    local any = false
    for _, kind in ipairs(M.negative_kinds) do
      local list = by[kind]
      if list and list[pos] and #chosen < count then chosen[#chosen + 1] = list[pos] any = true end
    end
    if not any then break end
  end
  return chosen
end

-- A test "does a cut-out centred on (ra, dec) hold a target?": every cluster passing the cuts
-- (all of the catalogue's, not only the selected ones), inside the n x n cut-out or within its box
-- half-size (box_kpc at its z) of the edge, where its members would still show.
local function target_finder(cfg, targets)
  local n = cfg.cutout_px
  local list = {}
  for _, r in ipairs(targets) do
    local half = cfg.box_kpc / dc.cosmo(r.z, {h0 = cfg.h0, om = cfg.om}).kpc_per_arcsec / SDSS_PIXEL
    list[#list + 1] = {ra = r.ra, dec = r.dec, half = half, id = r.id}
  end
  -- anything farther than the cut-out's half-diagonal plus the largest box half-size is out
  local reach = 0
  for _, t in ipairs(list) do reach = math.max(reach, t.half) end
  reach = (n * math.sqrt(0.5) + reach + 2) * SDSS_PIXEL / 3600
  return function(ra, dec)
    local w
    for _, t in ipairs(list) do
      if separation(ra, dec, t.ra, t.dec) < reach then
        w = w or dc.wcs_tan({x = (n - 1) / 2, y = (n - 1) / 2, ra = ra, dec = dec, scale = SDSS_PIXEL})
        local x, y = w:world2pix(t.ra, t.dec)
        if x > -0.5 - t.half and x < n - 0.5 + t.half and y > -0.5 - t.half and y < n - 0.5 + t.half then
          w:free()
          return t.id
        end
      end
    end
    if w then w:free() end
    return nil
  end
end

-- Background and hard-negative tiles (manifest rows with kind, NaN box and centre), each split
-- into train/test with test_fraction by a seeded shuffle. Returns the rows and the count of hard
-- negatives left out because every offset tried put a target inside.
local function negative_tiles(cfg, survey, targets, catalogue)
  local n, s = cfg.cutout_px, cfg.image_px
  local lo, hi = composite_limits(cfg)
  local copts = {size = s, stretch = "sqrt", lo = lo, hi = hi}
  local has_target = target_finder(cfg, targets)
  local nan = 0 / 0
  local scale = SDSS_PIXEL * n / s
  local function empty_row(file, split, kind, id, obj, ra_c, dec_c)
    return {file = file, split = split, id = id, ra = obj.ra, dec = obj.dec, z = obj.z, richness = obj.richness,
      n200 = obj.n200, bcg_rmag = obj.bcg_rmag, ymin = nan, xmin = nan, ymax = nan, xmax = nan, cx = nan, cy = nan,
      img_ra = ra_c, img_dec = dec_c, scale = scale, offset_x = obj.offset_x or 0, offset_y = obj.offset_y or 0,
      simulated = 1, kind = kind}
  end
  local function splits(count, stream)
    local order = {}
    for k = 1, count do order[k] = k end
    util.shuffle(order, cfg.seed, stream)
    local ntest, split = math.floor(count * cfg.test_fraction + 0.5), {}
    for pos, k in ipairs(order) do split[k] = pos <= ntest and "test" or "train" end
    return split
  end
  local out, skipped = {}, 0
  local total, done, t0, last = cfg.background + cfg.hard_negatives, 0, dc.now(), -1
  local function progress()
    done = done + 1
    if dc.interrupted() then
      error(string.format("dataset: interrupted after %d of %d background/hard-negative images; run the same " ..
        "command again to resume", done, total), 0)
    end
    local el = dc.now() - t0
    if done == total or el - last >= 5 then
      last = el
      say(cfg, "  [%5d/%d] %3d%%  %s elapsed (background and hard negatives)", done, total, 100 * done // total,
        util.duration(el))
    end
  end

  -- background: centres uniform on the sphere within the region, kept a half cut-out from its edges
  local split = splits(cfg.background, 2)
  local margin = n / 2 * SDSS_PIXEL / 3600
  local s0, s1 = math.sin(math.rad(cfg.dec_min + margin)), math.sin(math.rad(cfg.dec_max - margin))
  for k = 1, cfg.background do
    local ra_c, dec_c
    for attempt = 1, 200 do
      math.randomseed(hash(string.format("%d:background:%d", cfg.seed, k)), attempt)
      local d = math.deg(math.asin(s0 + (s1 - s0) * math.random()))
      local m = margin / math.cos(math.rad(d))
      local r = cfg.ra_min + m + (cfg.ra_max - cfg.ra_min - 2 * m) * math.random()
      if not has_target(r, d) then ra_c, dec_c = r, d break end
    end
    if not ra_c then
      error(string.format("dataset: no place without a target found for background tile %d in 200 tries (region " ..
        "RA %g..%g, Dec %g..%g is crowded for %d px cut-outs)", k, cfg.ra_min, cfg.ra_max, cfg.dec_min, cfg.dec_max, n), 0)
    end
    local file = string.format("background_%05d.png", k)
    local path = cfg.out .. "/" .. file
    if not png_ok(path, s) then
      local f <close> = survey:field(M.sky(cfg, n), ra_c, dec_c, (1 << 40) + k)
      tally_masked(f:composite(path, copts), path)
    end
    out[#out + 1] = empty_row(file, split[k], "background", string.format("background-%05d", k),
      {ra = ra_c, dec = dec_c, z = nan, richness = nan, n200 = nan, bcg_rmag = nan}, ra_c, dec_c)
    progress()
  end

  -- hard negatives: hard_negatives objects of M.negative_centres drawn with the seed, one tile each
  local negs = M.negative_centres(cfg, catalogue, targets, survey)
  local chosen = draw_negatives(cfg, negs, cfg.hard_negatives)
  if #chosen < cfg.hard_negatives then
    say(cfg, "  note: hard_negatives=%d but the region has only %d non-target objects", cfg.hard_negatives, #negs)
  end
  split = splits(#chosen, 3)
  -- the detector's own false positives (mined = CSV): after the drawn ones, all for training
  for k, m in ipairs(M.read_mined(cfg.mined)) do
    -- the id carries a tag of the position, so that an image left on disk for another position
    -- under the same row number (a folder hard-linked from an earlier round) is never reused
    local tag = util.hash(string.format("%.7f:%.7f", m.ra, m.dec)) & 0xffffff
    chosen[#chosen + 1] = {id = string.format("mined-%05d-%06x", k, tag), ra = m.ra, dec = m.dec, z = nan, richness = nan,
      n200 = nan, bcg_rmag = nan, sim_id = (1 << 32) + k, object = "mined", system = true}
    split[#chosen] = "train"
  end
  total = cfg.background + #chosen
  local cut = sim_cutter(cfg, survey)
  for k, obj in ipairs(chosen) do
    local file = file_name("hard_negative-" .. obj.id, 1)
    local path = cfg.out .. "/" .. file
    -- offsets as for the clusters; the first (of at most 15: the field key is sim_id * 16 + k) with
    -- no target inside
    local g
    for j = 1, 15 do
      local try = cut(obj, j, path, false)
      if not has_target(try.img_ra, try.img_dec) then g = try g.k = j break end
    end
    if g then
      if not png_ok(path, s) then cut(obj, g.k, path, true) end
      -- (only the offsets of the label are kept, and they do not depend on z: mined positions have none)
      local b = label(cfg, g.n, g.tx, g.ty, g.src_scale, obj.z == obj.z and obj.z or math.max(cfg.cut_z_min, 0.01))
      out[#out + 1] = empty_row(file, split[k], "hard_negative", obj.id,
        {ra = obj.ra, dec = obj.dec, z = obj.z, richness = obj.richness, n200 = obj.n200, bcg_rmag = obj.bcg_rmag,
         offset_x = b.offset_x, offset_y = b.offset_y}, g.img_ra, g.img_dec)
      out[#out].object = obj.object -- not a manifest column (the id names it): the summary's
    else
      skipped = skipped + 1
    end
    progress()
  end
  return out, skipped
end

-- ---------------------------------------------------------------- building one set

-- Make `offsets` images for every cluster of `clusters` (rows with .split set) into folder; returns
-- the manifest rows, the number of images kept from disk and the seconds spent. cut(row, k, path,
-- write) does one cut-out.
local function make_images(cfg, folder, clusters, offsets, cut, simulated, what)
  local total, done, reused = #clusters * offsets, 0, 0
  local out = {}
  local t0, last = dc.now(), -1
  for _, row in ipairs(clusters) do
    for k = 1, offsets do
      local file = file_name(row.id, k)
      local path = folder .. "/" .. file
      local have = png_ok(path, cfg.image_px)
      local g = cut(row, k, path, not have)
      if have then reused = reused + 1 end
      local b = label(cfg, g.n, g.tx, g.ty, g.src_scale, row.z)
      out[#out + 1] = {file = file, split = row.split, id = row.id, ra = row.ra, dec = row.dec, z = row.z,
        z_true = row.z_true, richness = row.richness, n200 = row.n200, bcg_rmag = row.bcg_rmag, ymin = b.ymin,
        xmin = b.xmin, ymax = b.ymax, xmax = b.xmax, cx = b.cx, cy = b.cy, img_ra = g.img_ra, img_dec = g.img_dec,
        scale = b.scale, offset_x = b.offset_x, offset_y = b.offset_y, simulated = simulated, kind = "target"}
      done = done + 1
      if dc.interrupted() then
        error(string.format("dataset: interrupted after %d of %d %s images; the images are kept: run the same " ..
          "command again to resume", done, total, what), 0)
      end
      local el = dc.now() - t0
      if done == total or el - last >= 5 then
        last = el
        local made = done - reused
        local rate = made > 0 and el / made or 0
        say(cfg, "  [%5d/%d] %3d%%  %s elapsed, %.2f s/image%s, ETA %s", done, total, 100 * done // total,
          util.duration(el), rate, reused > 0 and string.format(" (%d kept)", reused) or "",
          util.duration(rate * (total - done)))
      end
    end
  end
  return out, reused, dc.now() - t0
end

-- The effective config as text, for out/dataset.lua and the resume check.
local function config_text(cfg)
  local keep = {}
  for k, v in pairs(cfg) do if k ~= "out" and k ~= "quiet" then keep[k] = v end end
  -- datasets built before these keys existed still resume (their sky had no vary, confounders nor
  -- artefacts: as these keys false now; real images have none of them)
  if cfg.background == 0 then keep.background = nil end
  if cfg.hard_negatives == 0 then keep.hard_negatives = nil end
  if cfg.mined == "" then keep.mined = nil end
  if cfg.survey_z_min == survey_defaults.z_min then keep.survey_z_min = nil end
  if cfg.survey_z_max == survey_defaults.z_max then keep.survey_z_max = nil end
  for _, k in ipairs({"vary", "confounders", "artefacts"}) do
    if cfg[k] == false or cfg.source ~= "sim" then keep[k] = nil end
  end
  return "-- the effective config of this dataset (lua/dataset.lua)\nreturn " .. util.serialize(keep) .. "\n"
end

-- Claim the folder: a new one gets dataset.lua now; one built with the same config is resumed;
-- anything else is an error.
local function claim(cfg, folder, text)
  util.mkdir(folder)
  local path = folder .. "/dataset.lua"
  local f = io.open(path, "r")
  if f then
    local old = f:read("a")
    f:close()
    if old ~= text then
      error(string.format("dataset: %s holds a dataset built with another config (see %s); choose another out= " ..
        "or delete the folder", folder, path), 0)
    end
    -- a build killed while writing leaves the astro layer's hidden temporaries behind
    for _, sub in ipairs({folder, folder .. "/" .. cfg.unseen_dir}) do
      for _, name in ipairs(triplets.list_dir(sub)) do
        if name:sub(1, 8) == ".dc-tmp-" then os.remove(sub .. "/" .. name) end
      end
    end
    return true
  end
  if util.exists(folder .. "/manifest.csv") then
    error(string.format("dataset: %s already holds a manifest.csv not made by this builder; choose another out=", folder), 0)
  end
  util.write_file(path, text)
  return false
end

local function check_config(cfg)
  local function need(ok, msg, ...)
    if not ok then error("dataset: " .. string.format(msg, ...), 0) end
  end
  need(cfg.source == "sim" or cfg.source == "files", "source must be 'sim' or 'files', got '%s'", cfg.source)
  for _, k in ipairs({"offsets", "cutout_px", "image_px", "max_clusters", "unseen_offsets", "seed", "background",
      "hard_negatives"}) do
    need(math.tointeger(cfg[k]) ~= nil, "%s must be an integer, got %s", k, tostring(cfg[k]))
    cfg[k] = math.tointeger(cfg[k])
  end
  need(cfg.offsets >= 1 and cfg.unseen_offsets >= 1, "offsets and unseen_offsets must be >= 1")
  need(cfg.background >= 0 and cfg.hard_negatives >= 0, "background and hard_negatives must be >= 0")
  need(cfg.source == "sim" or (cfg.background == 0 and cfg.hard_negatives == 0 and cfg.mined == ""),
    "background, hard_negatives and mined need source=\"sim\" (real images: not implemented yet)")
  need(cfg.image_px >= 16 and cfg.image_px <= cfg.cutout_px, "need 16 <= image_px <= cutout_px, got %d and %d",
    cfg.image_px, cfg.cutout_px)
  need(cfg.max_offset >= 0, "max_offset must be >= 0")
  need(cfg.survey_z_max > cfg.survey_z_min, "survey_z_max (%g) must exceed survey_z_min (%g)", cfg.survey_z_max,
    cfg.survey_z_min)
  if cfg.source == "sim" then
    need(cfg.max_offset < cfg.cutout_px * SDSS_PIXEL / 2, "max_offset=%g\" would put clusters outside a %d px " ..
      "cut-out (%.1f\" half-width)", cfg.max_offset, cfg.cutout_px, cfg.cutout_px * SDSS_PIXEL / 2)
  else
    need(cfg.catalog ~= "" and cfg.images ~= "", "source=files needs catalog=FILE and images=FOLDER|LISTING.csv")
  end
  need(cfg.test_fraction >= 0 and cfg.test_fraction < 1, "test_fraction must be in [0, 1)")
  need(cfg.box_kpc > 0, "box_kpc must be > 0")
  for _, b in ipairs(BANDS) do
    need(cfg["hi_" .. b] > cfg["lo_" .. b], "hi_%s must exceed lo_%s", b, b)
  end
end

-- ---------------------------------------------------------------- the builder

-- Image files are named after the cluster id, so an id may appear once.
local function unique(list, path)
  local seen = {}
  for _, r in ipairs(list) do
    if seen[r.id] then
      error(string.format("dataset: catalogue %s lists cluster '%s' more than once among the selected rows", path, r.id), 0)
    end
    seen[r.id] = true
  end
end

local function by_id(a, b) return a.id < b.id end

-- Processing order: by id, real images grouped by the image triplet they are cut from (each
-- triplet is then read once).
local function in_order(a, b)
  if a.triplet ~= b.triplet then return a.triplet.name < b.triplet.name end
  return a.id < b.id
end

-- Build the dataset described by user (keys of M.defaults; unknown keys are errors). Returns the
-- manifest rows of the main set, those of the unseen set (nil when not built), and timings
-- {seconds, image_seconds (making images, both sets), made (images made), kept (found on disk)}.
function M.build(user)
  -- vary may be a table of ranges (checked by the simulator, which rejects unknown keys)
  local vary = user and type(user.vary) == "table" and user.vary or nil
  if vary then
    local u = {}
    for k, v in pairs(user) do u[k] = v end
    u.vary, user = true, u
  end
  local cfg = util.config(M.defaults, user, "dataset", M.ranges)
  if vary then cfg.vary = vary end
  check_config(cfg)
  local t0 = dc.now()
  masked.images, masked.worst, masked.mostly = 0, 0, {}
  local resumed = claim(cfg, cfg.out, config_text(cfg))
  say(cfg, "dataset %s (%s): %s", cfg.out, cfg.source, resumed and "resuming, images on disk are kept" or "new")

  -- the catalogue and the cutter
  local rows, cut, cutter, survey
  if cfg.source == "sim" then
    survey = dc.sim_survey({seed = cfg.seed, ra_min = cfg.ra_min, ra_max = cfg.ra_max, dec_min = cfg.dec_min,
      dec_max = cfg.dec_max, z_min = cfg.survey_z_min, z_max = cfg.survey_z_max, vary = cfg.vary})
    local catfile = cfg.out .. "/catalog-whl12.fits"
    survey:write_catalog(catfile, "whl12")
    rows = catalogue_rows(catfile, "whl12")
    add_true_z(survey, rows, cfg.out .. "/catalog-truth.fits")
    say(cfg, "survey (seed %d, RA %g..%g, Dec %g..%g): %d clusters, %d in the WHL12-style catalogue %s [%s]",
      cfg.seed, cfg.ra_min, cfg.ra_max, cfg.dec_min, cfg.dec_max, survey:count(), #rows, catfile,
      util.duration(dc.now() - t0))
    cut = sim_cutter(cfg, survey)
  else
    rows = catalogue_rows(cfg.catalog, cfg.catalog_format, "catalog")
    say(cfg, "catalogue %s: %d clusters", cfg.catalog, #rows)
    local triplets = list_triplets(cfg.images)
    index_triplets(cfg, triplets)
    cutter = files_cutter(cfg, triplets)
    cut = cutter.cut
  end

  -- cuts, coverage, subset, split by cluster
  local catfile = cfg.source == "sim" and cfg.out .. "/catalog-whl12.fits" or cfg.catalog
  local sel = apply_cuts(cfg, rows, catfile)
  local passing = sel -- every cluster passing the cuts: no negative tile may hold one
  say(cfg, "cuts %g < z < %g, N200 >= %g, richness >= %g, Dec > %g: %d of %d clusters", cfg.cut_z_min,
    cfg.cut_z_max, cfg.cut_n200_min, cfg.cut_richness_min, cfg.cut_dec_min, #sel, #rows)
  if #sel == 0 then none_pass(cfg, catfile, #rows, cfg.source == "files" and "catalog" or nil) end
  local function covered(list)
    if not cutter then return list end
    local keep, missing = {}, {}
    for _, r in ipairs(list) do
      r.triplet = cutter.find(r)
      if r.triplet then keep[#keep + 1] = r else missing[#missing + 1] = r.id end
    end
    if #missing > 0 then
      say(cfg, "  %d selected clusters lie in no image and are left out (%s%s)", #missing,
        table.concat(missing, ", ", 1, math.min(5, #missing)), #missing > 5 and ", ..." or "")
    end
    return keep
  end
  sel = covered(sel)
  if #sel == 0 then
    error(string.format("dataset: the %d clusters of catalogue %s that pass the cuts lie in no image of %s: " ..
      "nothing to build; give images= the g, r, i frames that cover them", #passing, catfile, cfg.images), 0)
  end
  unique(sel, catfile)
  table.sort(sel, by_id)
  local order = {}
  for k = 1, #sel do order[k] = sel[k] end
  util.shuffle(order, cfg.seed, 1)
  if cfg.max_clusters > 0 and #order > cfg.max_clusters then
    for k = #order, cfg.max_clusters + 1, -1 do order[k] = nil end
  end
  local ntest = math.floor(#order * cfg.test_fraction + 0.5)
  for k, r in ipairs(order) do r.split = k <= ntest and "test" or "train" end
  sel = order
  table.sort(sel, in_order)
  say(cfg, "%d clusters: %d train, %d test -> %d images of %d px from %d px cut-outs", #sel, #sel - ntest, ntest,
    #sel * cfg.offsets, cfg.image_px, cfg.cutout_px)

  local out, kept, secs = make_images(cfg, cfg.out, sel, cfg.offsets, cut, cfg.source == "sim" and 1 or 0, "training/test")
  local stats = {image_seconds = secs, made = #out - kept, kept = kept}
  if cfg.background > 0 or cfg.hard_negatives > 0 or cfg.mined ~= "" then
    local t1 = dc.now()
    local neg, skipped = negative_tiles(cfg, survey, passing, rows)
    for _, r in ipairs(neg) do out[#out + 1] = r end
    stats.image_seconds = stats.image_seconds + dc.now() - t1
    local nb, objects = 0, {}
    for _, r in ipairs(neg) do
      if r.kind == "background" then nb = nb + 1 else objects[r.object] = (objects[r.object] or 0) + 1 end
    end
    local mix = {}
    for _, kind in ipairs(M.negative_kinds) do
      if objects[kind] then mix[#mix + 1] = string.format("%d %s", objects[kind], kind) end
    end
    if objects.mined then mix[#mix + 1] = string.format("%d mined", objects.mined) end
    stats.hard_negative_objects = objects
    say(cfg, "%d background and %d hard-negative tiles (no target inside)%s%s", nb, #neg - nb,
      #mix > 0 and " [" .. table.concat(mix, ", ") .. "]" or "",
      skipped > 0 and string.format("; %d hard negatives left out (a target in every offset tried)", skipped) or "")
  end
  manifest.write(cfg.out, out)
  say(cfg, "wrote %s/manifest.csv: %d images (%d train, %d test) [%s]", cfg.out, #out,
    #manifest.split(out, "train"), #manifest.split(out, "test"), util.duration(dc.now() - t0))

  -- the unseen-region set
  local unseen
  local udir = cfg.out .. "/" .. cfg.unseen_dir
  if cfg.unseen and (cfg.source == "sim" or cfg.unseen_catalog ~= "") then
    local urows, ucut
    util.mkdir(udir)
    util.write_file(udir .. "/dataset.lua", config_text(cfg))
    if cfg.source == "sim" then
      local u = dc.sim_survey({seed = cfg.seed + 1, ra_min = cfg.unseen_ra_min, ra_max = cfg.unseen_ra_max,
        dec_min = cfg.unseen_dec_min, dec_max = cfg.unseen_dec_max, z_min = cfg.survey_z_min,
        z_max = cfg.survey_z_max, vary = cfg.vary})
      -- both catalogue styles of the region: redMaPPer for the set, WHL12 for cross-matching FPs
      u:write_catalog(udir .. "/catalog-whl12.fits", "whl12")
      u:write_catalog(udir .. "/catalog-redmapper.fits", "redmapper")
      urows = catalogue_rows(udir .. "/catalog-redmapper.fits", "redmapper")
      add_true_z(u, urows, udir .. "/catalog-truth.fits")
      say(cfg, "unseen region (seed %d, RA %g..%g, Dec %g..%g): %d clusters, %d in the redMaPPer-style catalogue",
        cfg.seed + 1, cfg.unseen_ra_min, cfg.unseen_ra_max, cfg.unseen_dec_min, cfg.unseen_dec_max, u:count(), #urows)
      ucut = sim_cutter(cfg, u)
    else
      urows = catalogue_rows(cfg.unseen_catalog, cfg.catalog_format, "unseen_catalog")
      ucut = cut
    end
    local usel = apply_cuts(cfg, urows, cfg.source == "sim" and udir .. "/catalog-redmapper.fits" or cfg.unseen_catalog)
    if #usel == 0 and cfg.source == "files" then none_pass(cfg, cfg.unseen_catalog, #urows, "unseen_catalog") end
    if #usel == 0 then -- a simulated unseen region with nothing to test on: say so now, not in evaluation
      error(string.format("dataset: no cluster of the simulated unseen region (RA %g..%g, Dec %g..%g, seed %d) " ..
        "passes the cuts (%g < z < %g, N200 >= %g where given, richness >= %g, Dec > %g): 0 of the %d in its " ..
        "catalogue %s, no unseen set to build (the main set in %s is written). Enlarge the region " ..
        "(unseen_ra_min, unseen_ra_max, unseen_dec_min, unseen_dec_max), loosen the cuts (cut_z_min, cut_z_max, " ..
        "cut_n200_min, cut_richness_min, cut_dec_min) or set unseen=false, with another out= (or delete %s)",
        cfg.unseen_ra_min, cfg.unseen_ra_max, cfg.unseen_dec_min, cfg.unseen_dec_max, cfg.seed + 1, cfg.cut_z_min,
        cfg.cut_z_max, cfg.cut_n200_min, cfg.cut_richness_min, cfg.cut_dec_min, #urows,
        udir .. "/catalog-redmapper.fits", cfg.out, cfg.out), 0)
    end
    usel = covered(usel)
    unique(usel, cfg.source == "sim" and udir .. "/catalog-redmapper.fits" or cfg.unseen_catalog)
    table.sort(usel, in_order)
    for _, r in ipairs(usel) do r.split = "test" end
    say(cfg, "unseen set: %d clusters pass the cuts -> %d images", #usel, #usel * cfg.unseen_offsets)
    unseen, kept, secs = make_images(cfg, udir, usel, cfg.unseen_offsets, ucut, cfg.source == "sim" and 1 or 0, "unseen")
    stats.image_seconds, stats.made, stats.kept = stats.image_seconds + secs, stats.made + #unseen - kept, stats.kept + kept
    manifest.write(udir, unseen)
    say(cfg, "wrote %s/manifest.csv: %d images", udir, #unseen)
  end
  if cutter then
    if cutter.partial > 0 then
      say(cfg, "note: %d cut-outs reach beyond their image; the missing pixels are 0 (blank sky)", cutter.partial)
    end
    cutter.close()
  end
  if masked.images > 0 then
    say(cfg, "note: %d cut-outs written this run hold masked (NaN) pixels (simulated artefacts; at most %.1f %% of "
      .. "a band), taken as 0 (blank sky) in the PNGs as detect takes them", masked.images, 100 * masked.worst)
  end
  if #masked.mostly > 0 then
    say(cfg, "note: %d of them are more than %.0f %% masked (kept; detect skips such tiles): %s%s", #masked.mostly,
      100 * M.max_masked, table.concat(masked.mostly, ", ", 1, math.min(5, #masked.mostly)),
      #masked.mostly > 5 and ", ..." or "")
  end
  stats.masked_images, stats.masked_worst, stats.mostly_masked = masked.images, masked.worst, #masked.mostly
  say(cfg, "done in %s", util.duration(dc.now() - t0))
  stats.seconds = dc.now() - t0
  return out, unseen, stats
end

return M
