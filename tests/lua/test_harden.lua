-- Hardening (the "Hardening" issue): files the engine reads back are parsed as data, never run;
-- writes are checked and atomic (a failure leaves the previous file and no temporary); numeric
-- settings are range-checked; a diverging training stops and keeps its last good checkpoint;
-- masked (NaN) pixels in detect are measured, skipped or filled, and reported.
local dc = require("deepcee")
local util = require("deepcee_util")
local manifest = require("manifest")
local train = require("train")
local detect = require("detect")
local nets = require("nets")

local h = dofile(assert(os.getenv("DEEPCEE_SOURCE_DIR"), "DEEPCEE_SOURCE_DIR is not set (ctest sets it)")
  .. "/tests/lua/helpers.lua")
local expect_error = h.expect_error
h.register_tiny_net()
local passed = 0
local function ok(cond, msg) assert(cond, msg) passed = passed + 1 end

local dir = os.tmpname()
os.remove(dir)
util.mkdir(dir)
local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local t = f:read("a")
  f:close()
  return t
end

-- 1. data, not code ------------------------------------------------------------------------
local sample = {a = 1, b = -2.5e-7, c = "x\"y\n\0\1z\\'", d = {1, 2, {3}}, e = true, f = false, g = 1 / 0,
  h = -1 / 0, [5] = "five", i = 0.1, j = math.mininteger, k = math.maxinteger, ["not a name"] = 7}
local back = util.parse_data("-- a comment\nreturn " .. util.serialize(sample) .. "\n", "sample")
ok(util.serialize(back) == util.serialize(sample), "serialize -> parse_data round trip")
ok(math.type(back.j) == "integer" and back.j == math.mininteger, "integers stay integers")
local nan = util.parse_data("{x = 0/0}", "nan").x
ok(nan ~= nan, "0/0 is NaN")
-- found by fuzz/fuzz_data.c's round trip: -0.0 and keys that are Lua's reserved words
local z = util.parse_data(util.serialize({x = -0.0}), "z").x
ok(z == 0 and math.type(z) == "float" and 1 / z < 0, "-0.0 lost its sign: " .. util.serialize({x = z}))
local words = util.parse_data(util.serialize({["nil"] = 1, ["true"] = {["end"] = 2}, ["false"] = 3}), "words")
ok(words["nil"] == 1 and words["true"]["end"] == 2 and words["false"] == 3, "reserved words as keys")
-- long texts parse in linear time (a 160000-digit number took 431 s, a 160000-entry list 14 s,
-- both quadratic; now well under a second each): the bound allows a loaded machine
local t0 = dc.now()
expect_error(function() util.parse_data("{" .. string.rep("7", 200000) .. "x}", "digits") end, "malformed number")
local list = util.parse_data("{" .. string.rep("1,", 200000) .. "true}", "list")
ok(#list == 200001 and list[200001] == true, "a long list")
ok(dc.now() - t0 < 10, string.format("long texts took %.1f s", dc.now() - t0))
local marker = dir .. "/ran"
local hostile = {
  "(function() os.execute('touch " .. marker .. "') return {factor = 1} end)()",
  "{factor = os.execute('touch " .. marker .. "')}",
  "{factor = 1 + 1}", "{factor = x}", "{factor = 2/3}", "{} {}", "{a = 1, a = 2}", "{[[x]]}",
  "{a = 'x' .. 'y'}", "return f()", string.rep("{", 100), "{a = 1}; os.exit(3)", "{a = #'x'}",
}
for _, text in ipairs(hostile) do
  expect_error(function() util.parse_data(text, "hostile.dcw") end, "hostile.dcw", "not a data file")
  passed = passed + 1
end
ok(not util.exists(marker), "a hostile text ran a command")

-- a weights file whose preprocess metadata is code: detect refuses it, naming the file
local model = nets.build("tiny")
model:init(1)
local evil = dir .. "/evil.dcw"
model:save(evil, {network = "tiny", preprocess = hostile[1]}, false)
expect_error(function() detect.run({g = "x", r = "x", i = "x", weights = evil, out = dir .. "/o", quiet = true}) end,
  "evil.dcw", "not a data file")
ok(not util.exists(marker), "detect ran the weights' metadata")
-- a hostile dataset.lua in a dataset folder: train names the file
util.mkdir(dir .. "/hds")
util.write_file(dir .. "/hds/dataset.lua", "return {image_px = os.execute('touch " .. marker .. "'), cutout_px = 1}\n")
expect_error(function() train.preprocess(dir .. "/hds") end, "hds/dataset.lua", "not a data file")
ok(not util.exists(marker), "train ran dataset.lua")

-- 2. checked, atomic writes ----------------------------------------------------------------
local target = dir .. "/w.txt"
util.write_file(target, "good\n")
ok(read(target) == "good\n", "write_file")
-- the disk is full: the temporary is /dev/full (ENOSPC on flush)
-- the temporary is this process's own: FILE.tmp<pid>
local tmpx = ".tmp" .. dc.pid()
ok(os.execute("ln -s /dev/full '" .. target .. tmpx .. "'"), "ln -s /dev/full")
expect_error(function() util.write_file(target, string.rep("x", 100000)) end, "cannot write " .. target)
ok(read(target) == "good\n", "a failed write changed the previous file")
ok(not os.execute("test -L '" .. target .. tmpx .. "'"), "the temporary (a link to /dev/full) was left behind")
-- the rename fails: the target is a folder with a file in it
util.mkdir(dir .. "/isdir/x")
expect_error(function() util.write_file(dir .. "/isdir", "text") end, "cannot move", "isdir")
ok(not util.exists(dir .. "/isdir" .. tmpx), "the temporary was left behind after a failed rename")
-- the temporary cannot be created: a folder has its name
util.mkdir(target .. tmpx)
expect_error(function() util.write_file(target, "new") end, "cannot write " .. target)
ok(read(target) == "good\n", "previous file kept")
os.remove(target .. tmpx)
-- temporaries of other processes: a killed one's (no such pid: above any pid_max) is removed, a
-- live one's (pid 1) and names of another form are left alone
util.write_file(target .. ".tmp99999999", "stale")
util.write_file(target .. ".tmp1", "live")
util.write_file(target .. ".tmp", "other")
util.write_file(target, "new\n")
ok(read(target) == "new\n", "write_file with other temporaries around")
ok(not util.exists(target .. ".tmp99999999"), "a dead process's temporary was kept")
ok(read(target .. ".tmp1") == "live" and read(target .. ".tmp") == "other", "a temporary not ours to remove was removed")
-- manifest.write: same policy; ids with commas and quotes survive the round trip
local rows = {}
for k = 1, 3 do
  rows[k] = {file = string.format("img%02d.png", k), split = k < 3 and "train" or "test",
    id = ({"Abell 1, A", 'say "hi"', "plain"})[k], ra = 150.5, dec = -2.25, z = 0.15, richness = 30 + k,
    n200 = 0 / 0, bcg_rmag = 16, ymin = 20, xmin = 20, ymax = 44, xmax = 44, cx = 32, cy = 32, img_ra = 150,
    img_dec = 2, scale = 1.5, offset_x = 0, offset_y = 0, simulated = 1}
end
util.mkdir(dir .. "/m")
manifest.write(dir .. "/m", rows)
local got = manifest.read(dir .. "/m")
ok(#got == 3 and got[1].id == "Abell 1, A" and got[2].id == 'say "hi"' and got[3].id == "plain", "CSV quoting")
ok(got[1].n200 ~= got[1].n200 and got[2].richness == 32, "numbers after a quoted field")
local good_manifest = read(dir .. "/m/manifest.csv")
ok(os.execute("ln -s /dev/full '" .. dir .. "/m/manifest.csv" .. tmpx .. "'"), "ln -s")
expect_error(function() manifest.write(dir .. "/m", rows) end, "manifest.csv")
ok(read(dir .. "/m/manifest.csv") == good_manifest, "a failed manifest write changed the manifest")
os.remove(dir .. "/m/manifest.csv" .. tmpx)
rows[1].id = "two\nlines"
expect_error(function() manifest.write(dir .. "/m", rows) end, "line break")
rows[1].id = "Abell 1, A"

-- 4. ranges --------------------------------------------------------------------------------
local ranges = {overlap = {0, 0.9}, steps = {1, 100, "integer"}}
local defaults = {overlap = 0.25, steps = 10, name = "x"}
ok(util.config(defaults, {steps = 3.0}, "t", ranges).steps == 3, "integral float accepted")
ok(math.type(util.config(defaults, {steps = 3.0}, "t", ranges).steps) == "integer", "made an integer")
expect_error(function() util.config(defaults, {steps = 2.5}, "t", ranges) end, "steps=2.5", "integer in 1..100")
expect_error(function() util.config(defaults, {overlap = -3}, "t", ranges) end, "overlap=-3", "in 0..0.9")
expect_error(function() util.config(defaults, {overlap = 0.99}, "t", ranges) end, "overlap=0.99", "out of range")
expect_error(function() util.config(defaults, {overlap = 0 / 0}, "t", ranges) end, "not a finite number")
expect_error(function() util.args(defaults, {"overlap=1e999"}, "t", ranges) end, "not a finite number")
expect_error(function() detect.run({threshold = 2, quiet = true}) end, "threshold=2", "in 0..1")
expect_error(function() detect.run({threshold = -1, quiet = true}) end, "threshold=-1")
expect_error(function() train.run({dataset = "x", lr = 1e6}) end, "lr=1000000.0", "out of range")
expect_error(function() train.run({dataset = "x", steps = 2.5}) end, "steps=2.5", "integer")
passed = passed + 9

-- 4b. a diverging training stops; the last good checkpoint stays ---------------------------
util.mkdir(dir .. "/data")
for k = 1, 3 do
  local rgb <close> = dc.rgb(64, 64)
  math.randomseed(k)
  for y = 0, 63 do for x = 0, 63 do local v = math.random(0, 255) rgb:set(x, y, v, v, v) end end
  rgb:write_png(dir .. "/data/" .. rows[k].file)
end
manifest.write(dir .. "/data", rows)
local base = {network = "tiny", dataset = dir .. "/data", steps = 8, checkpoint_every = 4, quiet = true,
  photometric = false} -- the hand-made dataset has no dataset.lua (its stretch limits)
local function with(t) return h.with(base, t) end
-- the same training twice gives byte-identical weights files (sorted metadata)
-- (the same out= folder: the configuration, out included, is part of the metadata)
train.run(with({out = dir .. "/r1", steps = 2})).model:free()
local first = read(dir .. "/r1/weights.dcw")
os.execute("rm -rf '" .. dir .. "/r1'")
train.run(with({out = dir .. "/r1", steps = 2})).model:free()
ok(first and first == read(dir .. "/r1/weights.dcw"), "identical trainings, different files")
-- step 6 reports a NaN loss (injected by wrapping the model: a real divergence takes an
-- unpredictable number of steps)
local real_build = nets.build
nets.build = function(...)
  local m, c = real_build(...)
  local calls = 0
  local proxy = setmetatable({}, {__index = function(_, name)
    local fn = m[name]
    if type(fn) ~= "function" then return fn end
    if name == "train_step" then
      return function(_, ...)
        local l = fn(m, ...)
        calls = calls + 1
        if calls == 6 then l.total = 0 / 0 end
        return l
      end
    end
    return function(_, ...) return fn(m, ...) end
  end})
  return proxy, c
end
expect_error(function() train.run(with({out = dir .. "/nan"})) end, "step 6", "loss is not finite",
  "checkpoint.dcw (the last good checkpoint, step 4) is kept")
nets.build = real_build
local meta = dc.weights_meta(dir .. "/nan/checkpoint.dcw")
ok(meta.step == "4", "the checkpoint is not the last good one: step " .. tostring(meta.step))
local lines = 0
for _ in io.lines(dir .. "/nan/losses.csv") do lines = lines + 1 end
ok(lines == 6, "losses.csv should hold the header and steps 1-5, has " .. lines .. " lines")
ok(not util.exists(dir .. "/nan/weights.dcw"), "a diverged run wrote weights.dcw")

-- 5. masked pixels in detect ---------------------------------------------------------------
local W, H = 1400, 1200
local f <close> = dc.sim_field({width = W, height = H, seed = 3, n_clusters = 2})
f:write(dir .. "/sky", "field")
local paths = {}
for _, b in ipairs({"g", "r", "i"}) do paths[b] = dir .. "/sky/field-" .. b .. ".fits" end
-- the left 700 columns of every band are NaN
local XM = 700
for _, b in ipairs({"g", "r", "i"}) do
  local img, hdr = dc.fits_read(paths[b])
  for y = 0, H - 1 do for x = 0, XM - 1 do img:set(x, y, 0 / 0) end end
  dc.fits_write(dir .. "/sky/half-" .. b .. ".fits", img, hdr)
  img:free()
end
local res = detect.run({g = dir .. "/sky/half-g.fits", r = dir .. "/sky/half-r.fits", i = dir .. "/sky/half-i.fits",
  out = dir .. "/dn", threshold = 0.3, quiet = true})
ok(math.abs(res.masked.g - XM / W) < 1e-12 and math.abs(res.masked.i - XM / W) < 1e-12, "masked fraction per band")
ok(res.filled == 3 * XM * H, "filled pixel count " .. tostring(res.filled))
ok(#res.skipped_tiles >= 1, "no tile skipped")
local pre = util.parse_data(dc.weights_meta(dc.weights_dir .. "/demo.dcw").preprocess, "demo.dcw")
local side = pre.tile * pre.factor
for _, t in ipairs(res.masked_tiles) do
  -- independent: the share of the tile's columns left of XM
  local want = math.max(0, math.min(XM, t.x0 + side) - t.x0) / side
  ok(math.abs(t.masked - want) < 0.02, string.format("tile %d: masked %.3f, geometry says %.3f", t.x0, t.masked, want))
end
for _, t in ipairs(res.skipped_tiles) do ok(t.masked > 0.5, "a tile at most half masked was skipped") end
for _, c in ipairs(res) do ok(c.score == c.score, "NaN score") end
local notes = read(dir .. "/dn/notes.txt")
ok(notes and notes:find("masked_fraction_g = 0.500000", 1, true) and notes:find("masked_pixels_set_to_0 = " .. 3 * XM * H, 1, true), "notes.txt: " .. tostring(notes))
-- a band with no finite pixel is an error naming it
local img, hdr = dc.fits_read(paths.r)
for y = 0, H - 1 do for x = 0, W - 1 do img:set(x, y, 0 / 0) end end
dc.fits_write(dir .. "/sky/nan-r.fits", img, hdr)
img:free()
expect_error(function() detect.run({g = paths.g, r = dir .. "/sky/nan-r.fits", i = paths.i, out = dir .. "/dn2",
  quiet = true}) end, "r band", "nan-r.fits", "no finite pixel")

print(string.format("test_harden: %d passed, 0 failed", passed + 1))
os.execute("rm -rf '" .. dir .. "'")
