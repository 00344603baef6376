-- deepcee mine: hard-negative mining and fine-tuning of a finished `deepcee demo` run (SIMULATED):
--   1. the run's detector over `fields` whole fields of its training region (lua/mine.lua): its own
--      false positives (score >= min_score, farther than max_kpc from every target) -> mine/mined.csv;
--   2. the run's dataset again with those positions as extra hard-negative tiles (lua/dataset.lua
--      `mined`), in mine/data: the run's images are hard-linked, only the new tiles are rendered;
--   3. fine-tuning from the run's weights on it (lua/train.lua `init`, the run's training settings
--      otherwise) for `steps` steps at `lr` -> mine/train/weights.dcw;
--   4. with eval_fields > 0, both models on the same whole held-out fields (lua/fieldeval.lua).
--   deepcee mine run=DIR [fields=100 field_px=2000 min_score=0.5 max_kpc=200 offsets=4 accumulate=true seed=0
--                          steps=8000 lr=0.001 lr_decay_at=0.5 eval_fields=40]
-- A run folder that is itself a mining round (DIR/mine) gives the next round: its fields are drawn
-- with another seed (the run's seed + the round number - 1, unless seed= is given), and with
-- accumulate=true the new dataset keeps the tiles of all earlier rounds (first, unchanged).
-- Running it again resumes (mined.csv is kept, the dataset and the training resume).
local dc = require("deepcee")
local util = require("deepcee_util")
local dataset = require("dataset")
local train = require("train")
local mine = require("mine")
local fieldeval = require("fieldeval")

local cfg = util.args({
  run = "",                -- a finished demo (or paper) run folder: run/data, run/train/weights.dcw
  fields = 100, field_px = 2000,
  min_score = mine.defaults.min_score, max_kpc = mine.defaults.max_kpc,
  offsets = 4,             -- tiles per mined position, each with its own random offset (as the clusters' 4)
  accumulate = true,       -- keep the earlier rounds' mined tiles in the new dataset
  seed = 0,                -- the draw of the mined fields (0: the run's seed + round - 1: new fields each round)
  steps = 8000, lr = 0.001,
  lr_decay_at = 0.5,       -- lr x 0.1 for the second half
  eval_fields = 40,        -- whole held-out fields for both models (0: none)
}, {...}, "mine", {fields = mine.ranges.fields, field_px = mine.ranges.field_px, min_score = mine.ranges.min_score,
  max_kpc = mine.ranges.max_kpc, offsets = {1, 100, "integer"}, seed = mine.ranges.seed, steps = {1, 1e9, "integer"}, lr = {1e-9, 1}, lr_decay_at = {0, 0.99},
  eval_fields = {0, 10000, "integer"}})
if cfg.run == "" then error("mine: give run=DIR (a finished deepcee demo run folder)", 0) end
local weights = cfg.run .. "/train/weights.dcw"
for _, p in ipairs({cfg.run .. "/data/dataset.lua", weights, cfg.run .. "/train/config.lua"}) do
  if not util.exists(p) then error("mine: " .. p .. " is missing: run= must be a finished deepcee demo run", 0) end
end
local out = cfg.run .. "/mine"
util.mkdir(out)
local d = mine.dataset_config(cfg.run .. "/data")
local round = mine.next_round(d)
local t0 = dc.now()
print("All data in this run are SIMULATED (deepcee's SDSS-like sky), not real SDSS images.")

print(string.format("\n== 1/4 mining the detector's false positives (round %d)", round))
local csv = out .. "/mined.csv"
if util.exists(csv) then
  print("  " .. csv .. " exists: kept")
else
  mine.run({dataset = cfg.run .. "/data", weights = weights, out = out, fields = cfg.fields, field_px = cfg.field_px,
    min_score = cfg.min_score, max_kpc = cfg.max_kpc, seed = cfg.seed ~= 0 and cfg.seed or d.seed + round - 1})
end

print(string.format("\n== 2/4 the dataset with the mined tiles [%s]", util.duration(dc.now() - t0)))
-- each position `offsets` times (the tiles differ in their offsets, drawn per tile id), after the
-- earlier rounds' tiles with accumulate
local tiles_csv = string.format("%s/mined-x%d.csv", out, cfg.offsets)
do
  local prev = cfg.accumulate and (d.mined or "") or ""
  local t = mine.tiles(prev, csv, cfg.offsets, tiles_csv, round)
  print(string.format("  %d mined positions x %d offsets = %d new tiles%s", t.n_new // cfg.offsets, cfg.offsets,
    t.n_new, prev ~= "" and string.format(", after the %d tiles of the earlier rounds", t.n_prev) or ""))
end
d.mined, d.out = tiles_csv, out .. "/data"
util.mkdir(d.out)
-- the run's images, hard-linked (the builder keeps images on disk; only the mined tiles are new)
-- (a failed link costs time only: the dataset builder renders every image it does not find)
local function link(from, to)
  util.mkdir(to)
  local ok = os.execute(string.format("cp -l -n '%s'/*.png '%s'/ 2>/dev/null", from:gsub("'", "'\\''"),
    to:gsub("'", "'\\''")))
  if not ok then
    print(string.format("  note: could not hard-link the images of %s into %s (another file system?): they are "
      .. "rendered again", from, to))
  end
end
link(cfg.run .. "/data", d.out)
if util.exists(cfg.run .. "/data/" .. (d.unseen_dir or "unseen")) then
  link(cfg.run .. "/data/" .. (d.unseen_dir or "unseen"), d.out .. "/" .. (d.unseen_dir or "unseen"))
end
dataset.build(d)

print(string.format("\n== 3/4 fine-tuning [%s]", util.duration(dc.now() - t0)))
local tc = util.read_data(cfg.run .. "/train/config.lua", true)
tc.dataset, tc.out, tc.init = d.out, out .. "/train", weights
tc.steps, tc.lr, tc.lr_decay_at = cfg.steps, cfg.lr, cfg.lr_decay_at
tc.log_every = math.max(10, cfg.steps // 20)
train.run(tc)

if cfg.eval_fields > 0 then
  print(string.format("\n== 4/4 whole held-out fields, both models [%s]", util.duration(dc.now() - t0)))
  local rows = {}
  for _, m in ipairs({{"before", weights}, {"after", out .. "/train/weights.dcw"}}) do
    local r = fieldeval.run({weights = m[2], out = out .. "/fields-" .. m[1], seed = tc.seed, fields = cfg.eval_fields,
      field_px = cfg.field_px, vary = d.vary, confounders = d.confounders, artefacts = d.artefacts, quiet = true})
    local b = r.rows[r.best]
    rows[#rows + 1] = string.format("| %s | %s | %.3f | %d %% | %.3f | %.3f | %.2f | %s |", m[1], m[2], b.f1,
      math.floor(b.threshold * 100 + 0.5), b.precision, b.recall, b.fp_per_field,
      b.std_err_kpc and string.format("%.1f kpc", b.std_err_kpc) or "-")
  end
  local text = string.format("%d whole held-out SIMULATED fields (lua/fieldeval.lua, seed %d):\n\n"
    .. "| model | weights | best F1 | threshold | precision | recall | FP per field | centre std. error |\n"
    .. "|---|---|---|---|---|---|---|---|\n%s\n", cfg.eval_fields, tc.seed, table.concat(rows, "\n"))
  util.write_file(out .. "/fields.md", text)
  print(text)
end
print(string.format("finished in %s; fine-tuned weights: %s/train/weights.dcw", util.duration(dc.now() - t0), out))
