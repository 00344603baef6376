-- Bad input against the `deepcee` command line: every case runs the binary and asserts its exit
-- code and a part of its message (the "Hardening" issue's table). Keep each case fast: most fail
-- at argument checking, before any image or network work.
local dc = require("deepcee")
local util = require("deepcee_util")
local manifest = require("manifest")
local nets = require("nets")

local bin = os.getenv("DEEPCEE_BIN") or "./deepcee" -- ctest runs Lua tests in the build folder
local dir = os.tmpname()
os.remove(dir)
util.mkdir(dir)
local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local marker = dir .. "/ran"

-- fixtures ---------------------------------------------------------------------------------
local f <close> = dc.sim_field({width = 1100, height = 1100, seed = 4, n_clusters = 1})
f:write(dir .. "/sky", "field")
local band = {}
for _, b in ipairs({"g", "r", "i"}) do band[b] = dir .. "/sky/field-" .. b .. ".fits" end
local bands = "g=" .. q(band.g) .. " r=" .. q(band.r) .. " i=" .. q(band.i)
do -- an r band with no finite pixel; a g band of another size
  local img, hdr = dc.fits_read(band.r)
  local nx, ny = img:size()
  for y = 0, ny - 1 do for x = 0, nx - 1 do img:set(x, y, 0 / 0) end end
  dc.fits_write(dir .. "/nan-r.fits", img, hdr)
  local g, gh = dc.fits_read(band.g)
  dc.fits_write(dir .. "/small-g.fits", g:crop(0, 0, 1000, 900), gh)
  img:free() g:free()
end
local demo = io.open(dc.weights_dir .. "/demo.dcw", "rb"):read("a")
util.write_file(dir .. "/junk.dcw", demo .. "trailing junk")
util.write_file(dir .. "/short.dcw", demo:sub(1, #demo - 100))
util.write_file(dir .. "/text.dcw", "return {network = 'demo'}\n")
do -- weights whose preprocess metadata is code
  local m = nets.build("demo")
  m:init(1)
  m:save(dir .. "/evil.dcw", {network = "demo",
    preprocess = "(function() os.execute('touch " .. marker .. "') return {factor = 4, tile = 256} end)()"}, false)
  m:free()
end
-- a dataset with one row whose id has an unterminated quote; one with a hostile dataset.lua
util.mkdir(dir .. "/badcsv")
util.write_file(dir .. "/badcsv/manifest.csv", table.concat(manifest.columns, ",") .. "\n" ..
  'a.png,train,"Abell 1,1,2,0.1,30,20,16,1,1,9,9,5,5,1,2,1,0,0,1\n')
util.mkdir(dir .. "/evilds")
local row = {file = "a.png", split = "train", id = "A", ra = 1, dec = 2, z = 0.1, richness = 30, n200 = 20,
  bcg_rmag = 16, ymin = 1, xmin = 1, ymax = 9, xmax = 9, cx = 5, cy = 5, img_ra = 1, img_dec = 2, scale = 1,
  offset_x = 0, offset_y = 0, simulated = 1}
manifest.write(dir .. "/evilds", {row})
util.write_file(dir .. "/evilds/dataset.lua", "return {image_px = os.execute('touch " .. marker .. "'), cutout_px = 4}\n")

-- directories where files are expected; catalogues with no rows, none passing the cuts, none
-- in the images
util.mkdir(dir .. "/folder.fits")
util.mkdir(dir .. "/folder.dcw")
util.mkdir(dir .. "/folder.csv")
util.mkdir(dir .. "/folder")
local header = "id,ra,dec,z,richness,n200\n"
util.write_file(dir .. "/header-only.csv", header)
util.write_file(dir .. "/no-pass.csv", header .. "A,150,2,0.5,30,25\n")   -- z = 0.5 fails 0.1 < z < 0.2
util.write_file(dir .. "/elsewhere.csv", header .. "B,10,80,0.15,30,25\n") -- passes, in no image
local function files_ds(cat, name) -- dataset source=files with its own out folder (a folder keeps its config)
  return "dataset source=files catalog=" .. q(cat) .. " images=" .. q(dir .. "/sky") .. " out=" .. q(dir .. "/ds-" .. name)
    .. " quiet=true"
end

-- the table: {arguments, exit code, text the output must hold} -----------------------------
local out = " out=" .. q(dir .. "/o") .. " quiet=true"
local cases = {
  {"detect overlap=-3" .. out, 1, "overlap=-3 is out of range: it must be in 0..0.9"},
  {"detect overlap=0.99" .. out, 1, "overlap=0.99 is out of range"},
  {"detect threshold=2" .. out, 1, "threshold=2 is out of range: it must be in 0..1"},
  {"detect threshold=-1" .. out, 1, "threshold=-1 is out of range"},
  {"detect max_per_tile=2.5" .. out, 1, "max_per_tile=2.5 must be an integer in 1..10000"},
  {"detect merge_iou=1e999" .. out, 1, "merge_iou=inf is not a finite number"},
  {"detect threshold=abc" .. out, 1, "threshold=abc is not a number"},
  {"detect quiet=maybe", 1, "quiet must be true or false"},
  {"detect thresh=0.5" .. out, 1, "unknown key 'thresh'"},
  {"detect 0.5" .. out, 1, "argument '0.5' is not key=value"},
  {"detect" .. out, 1, "give the three bands"},
  {"detect dir=" .. q(dir .. "/none") .. out, 1, "no g, r, i FITS images in"},
  {"detect " .. bands .. " weights=" .. q(dir .. "/none.dcw") .. out, 1, "no weights file"},
  {"detect " .. bands .. " weights=" .. q(dir .. "/evil.dcw") .. out, 1, "evil.dcw (metadata 'preprocess'): not a data file"},
  {"detect " .. bands .. " weights=" .. q(dir .. "/junk.dcw") .. out, 1, "checksum mismatch"},
  {"detect " .. bands .. " weights=" .. q(dir .. "/short.dcw") .. out, 1, "short.dcw is not a valid deepcee weights file"},
  {"detect " .. bands .. " weights=" .. q(dir .. "/text.dcw") .. out, 1, "bad magic"},
  {"detect g=" .. q(band.g) .. " r=" .. q(dir .. "/nan-r.fits") .. " i=" .. q(band.i) .. out, 1,
   "the r band (" .. dir .. "/nan-r.fits) has no finite pixel"},
  {"detect g=" .. q(dir .. "/small-g.fits") .. " r=" .. q(band.r) .. " i=" .. q(band.i) .. out, 1, "the bands differ in size"},
  {"detect g=" .. q(dir .. "/junk.dcw") .. " r=" .. q(band.r) .. " i=" .. q(band.i) .. out, 1, "junk.dcw"},
  {"detect g=" .. q(dir .. "/folder.fits") .. " r=" .. q(band.r) .. " i=" .. q(band.i) .. out, 1,
   "cannot read FITS file '" .. dir .. "/folder.fits': it is a directory, not a file"},
  {"detect " .. bands .. " weights=" .. q(dir .. "/folder.dcw") .. out, 1,
   "cannot read weights file '" .. dir .. "/folder.dcw': it is a directory, not a file"},
  {files_ds(dir .. "/folder.csv", "d1"), 1, "cannot read catalogue '" .. dir .. "/folder.csv': it is a directory"},
  {files_ds(dir .. "/folder", "d2"), 1, "cannot read catalogue '" .. dir .. "/folder': it is a directory"},
  {files_ds(dir .. "/header-only.csv", "e1"), 1, "catalogue " .. dir .. "/header-only.csv has no rows (a header " ..
   "and no clusters): there is nothing to select; give catalog= a catalogue that lists clusters"},
  {files_ds(dir .. "/no-pass.csv", "e2"), 1, "none of the 1 clusters of catalogue " .. dir .. "/no-pass.csv passes " ..
   "the cuts (0.1 < z < 0.2, N200 >= 20, richness >= 0, Dec > 0): nothing to build; loosen them"},
  {files_ds(dir .. "/elsewhere.csv", "e3"), 1, "the 1 clusters of catalogue " .. dir .. "/elsewhere.csv that pass " ..
   "the cuts lie in no image of " .. dir .. "/sky"},
  -- a simulated unseen region too small to hold a cluster that passes the cuts (the main set is built first, ~3 s)
  {"dataset seed=3 ra_min=140 ra_max=146 dec_min=0 dec_max=8 cutout_px=300 image_px=64 max_offset=40 box_kpc=60 " ..
   "unseen_ra_min=245 unseen_ra_max=245.2 unseen_dec_min=30 unseen_dec_max=30.2 quiet=true out=" .. q(dir .. "/ds-u1"),
   1, "no cluster of the simulated unseen region (RA 245..245.2, Dec 30..30.2, seed 4) passes the cuts (0.1 < z < " ..
   "0.2, N200 >= 20 where given, richness >= 0, Dec > 0): 0 of the 0 in its catalogue " .. dir .. "/ds-u1/unseen/" ..
   "catalog-redmapper.fits, no unseen set to build (the main set in " .. dir .. "/ds-u1 is written). Enlarge the " ..
   "region (unseen_ra_min, unseen_ra_max, unseen_dec_min, unseen_dec_max), loosen the cuts (cut_z_min, cut_z_max, " ..
   "cut_n200_min, cut_richness_min, cut_dec_min) or set unseen=false"},
  {"train steps=2.5 dataset=x", 1, "steps=2.5 must be an integer"},
  {"train lr=1e6 dataset=x", 1, "lr=1000000.0 is out of range: it must be in 1e-09..1"},
  {"train lr=nan dataset=x", 1, "lr=nan is not a number"},
  {"train lr=1e999 dataset=x", 1, "not a finite number"},
  {"train momentum=1.5 dataset=x", 1, "momentum=1.5 is out of range"},
  {"demo preset=fast out=" .. dir .. "/demo-bad", 1, "preset=fast: give demo, robust or wide"},
  {"train checkpoint_every=0 dataset=x", 1, "checkpoint_every=0 is out of range"},
  {"train clip_norm=-1 dataset=x", 1, "clip_norm=-1"},
  {"train steps=5", 1, "set dataset=FOLDER"},
  {"train dataset=" .. q(dir .. "/none"), 1, "cannot open the dataset manifest"},
  {"train dataset=" .. q(dir .. "/badcsv") .. " out=" .. q(dir .. "/t1"), 1, "line 2: unterminated quoted field"},
  {"train dataset=" .. q(dir .. "/evilds") .. " out=" .. q(dir .. "/t2") .. " steps=1", 1, "not a data file"},
  {"dataset preset=nope", 1, "unknown preset 'nope'"},
  {"train preset=nope", 1, "train: unknown preset 'nope' (paper, wide)"},
  {"dataset preset=demo image_px=10.5 out=" .. q(dir .. "/d"), 1, "image_px=10.5 must be an integer in 16..8192"},
  {"dataset preset=demo test_fraction=1 out=" .. q(dir .. "/d"), 1, "test_fraction=1 is out of range"},
  {"dataset preset=demo offsets=0 out=" .. q(dir .. "/d"), 1, "offsets=0 is out of range"},
  {"dataset preset=demo dec_min=-100 out=" .. q(dir .. "/d"), 1, "dec_min=-100 is out of range"},
  {"sim size=2.5 out=" .. q(dir .. "/s"), 1, "size=2.5 must be an integer"},
  {"sim camcol=9 out=" .. q(dir .. "/s"), 1, "camcol=9 is out of range: it must be an integer in 0..6"},
  {"sim seed=-1 out=" .. q(dir .. "/s"), 1, "seed=-1 is out of range"},
  {"sim colour=red out=" .. q(dir .. "/s"), 1, "unknown key 'colour'"},
  {"demo steps=0 out=" .. q(dir .. "/x"), 1, "steps=0 is out of range"},
  {"demo lr=2 out=" .. q(dir .. "/x"), 1, "lr=2 is out of range"},
  {"demo folds=2.5 out=" .. q(dir .. "/x"), 1, "folds=2.5 must be an integer"},
  {"paper steps=-5 out=" .. q(dir .. "/x"), 1, "steps=-5 is out of range"},
  {"survey out=" .. q(dir .. "/sv"), 1, "survey: give images=FOLDER or images=LIST.csv"},
  {"survey images=" .. q(dir .. "/none") .. " out=" .. q(dir .. "/sv"), 1, "survey: no g, r, i FITS images in"},
  {"survey ra_min=10 ra_max=11 dec_min=0 dec_max=1 field_px=10 out=" .. q(dir .. "/sv"), 1, "field_px=10 is out of range"},
  {"survey ra_min=10 ra_max=11 dec_min=0 dec_max=1 merge_arcsec=-1 out=" .. q(dir .. "/sv"), 1, "merge_arcsec=-1 is out of range"},
  {"train batch=0 dataset=x", 1, "batch=0 is out of range"},
  {"run " .. q(dir .. "/none.lua"), 2, "none.lua"},
  {"no_such_command", 2, "unknown command or script 'no_such_command'"},
}

local passed, t0 = 0, dc.now()
for k, c in ipairs(cases) do
  local p = io.popen(bin .. " " .. c[1] .. " 2>&1; echo \"rc=$?\"")
  local text = p:read("a")
  p:close()
  local rc = tonumber(text:match("rc=(%d+)%s*$"))
  assert(rc == c[2], string.format("case %d `deepcee %s`: exit code %s, expected %d; output:\n%s", k, c[1],
    tostring(rc), c[2], text))
  assert(text:find(c[3], 1, true), string.format("case %d `deepcee %s`: output lacks '%s':\n%s", k, c[1], c[3], text))
  passed = passed + 1
end
assert(not util.exists(marker), "a hostile file ran a command")
assert(not util.exists(dir .. "/t2/weights.dcw"), "training went on with a hostile dataset.lua")
print(string.format("test_bad_input: %d passed, 0 failed (%.1f s)", passed + 2, dc.now() - t0))
os.execute("rm -rf " .. q(dir))
