-- Robustness benchmark: one trained detector on held-out SIMULATED whole fields (lua/fieldeval.lua:
-- fields run through `deepcee detect` as users run it, the paper's 100 kpc criterion), the nominal
-- sky and skies shifted in one respect each, in one run. Every row uses the same seed, so the same
-- target clusters, offsets and render keys: the rows differ only in the shift.
--   deepcee run bench/robustness.lua [weights=weights/demo.dcw fields=16 seed=1 field_px=2000 out=robustness-out
--                                     rows=all keep=false]
-- rows=nominal,seeing_2.2 runs a subset (names below). Prints a markdown table (best F1, precision,
-- recall and threshold, FP per field and per deg^2, centre standard error) and writes
-- out/robustness.csv, out/robustness.json and each row's fieldeval output in out/<row>/.
--
-- A row whose keys the simulator rejects is skipped with "skipped: the simulator has no key X"
-- (found by a tiny trial config, fieldeval.check_keys), so rows written for simulator keys still
-- to come run as soon as the keys exist. survey:field takes the cluster model from the survey, so
-- model changes are survey = {model = ...} rows.
local dc = require("deepcee")
local util = require("deepcee_util")
local fieldeval = require("fieldeval")
local report = require("report")

local opt = util.args({weights = "", fields = 16, seed = 1, field_px = 2000, out = "robustness-out", rows = "all",
  keep = false}, {...}, "robustness")

-- mean contaminant clusters per field: background_clusters is per deg^2 (Poisson), so a mean of 3
-- per field leaves exp(-3) = 5 % of the fields without one
local field_deg2 = (opt.field_px * 0.396 / 3600) ^ 2
local realistic = dc.sim_defaults().confound_realistic

-- The rows: {name =, what =, sky = {field config overrides}, survey = {survey config overrides}}.
local ROWS = {
  {name = "nominal", what = "nominal sky: the training sky's ranges (vary, confounders, artefacts on)", sky = {}},
  {name = "seeing_2.2", what = "seeing 2.2\" in every field (r-band FWHM; training range 0.8-2.0\")", sky = {seeing = 2.2}},
  {name = "shallower_0.5", what = "0.5 mag shallower (beyond the training depth range)", sky = {vary = {depth_offset = -0.5}}},
  {name = "sky_brighter_0.5", what = "sky 0.5 mag brighter (beyond the training range)", sky = {vary = {sky_offset = -0.5}}},
  -- twice the training sky's isolated-LRG density (sim_defaults().confound_realistic.lrgs, docs/sky-confounders.md)
  {name = "lrgs_x2", what = string.format("twice the LRG density (%g per deg^2)", 2 * realistic.lrgs),
   sky = {lrgs = 2 * realistic.lrgs}},
  {name = "contaminant_cluster", what = "a rich background cluster (0.25 < z < 0.6) in every field (Poisson mean 3)",
   sky = {background_clusters = 3 / field_deg2}},
  {name = "artefacts", what = "artefacts in every field: NaN/zero border, a masked stripe and two satellite trails "
     .. "(means), gradients to 2 sky sigma, spikes x2",
   sky = {edge_mask = 1, masked_stripes = 1, satellite_trails = 2, gradients = 2, star_spikes = 2 * realistic.star_spikes}},
  {name = "lf_mstar_-21.9_alpha_-1.1", what = "another luminosity function (M* -21.9, alpha -1.1; default -22.21, -0.85)",
   survey = {model = {mstar = -21.9, alpha = -1.1}}},
  {name = "rs_offset_0.05", what = "red sequence redder by 0.05 mag (g-r and r-i)", survey = {model = {rs_offset = 0.05}}},
}

local wanted
if opt.rows ~= "all" then
  wanted = {}
  for name in opt.rows:gmatch("[^,]+") do wanted[name] = true end
  for name in pairs(wanted) do
    local known = false
    for _, r in ipairs(ROWS) do known = known or r.name == name end
    if not known then error("robustness: no row '" .. name .. "' (rows=all or a comma list of row names)", 0) end
  end
end

local d = dc.device()
print(string.format("deepcee %s (commit %s) on %s: robustness benchmark, %d SIMULATED fields of %d px per row, seed %d, "
  .. "weights %s", dc.version, dc.commit, d.name, opt.fields, opt.field_px, opt.seed,
  opt.weights ~= "" and opt.weights or "weights/demo.dcw (shipped)"))
util.mkdir(opt.out)
local results, t0 = {}, dc.now()
for _, row in ipairs(ROWS) do
  if not wanted or wanted[row.name] then
    local res = {name = row.name, what = row.what}
    local err, key = fieldeval.check_keys(row.sky, row.survey)
    if err then
      res.status = key and "skipped: the simulator has no key " .. key or "skipped: " .. err
      print(string.format("\n== %s: %s", row.name, res.status))
    else
      print(string.format("\n== %s: %s [%s]", row.name, row.what, util.duration(dc.now() - t0)))
      local ok, r = pcall(fieldeval.run, {weights = opt.weights, out = opt.out .. "/" .. row.name, seed = opt.seed,
        fields = opt.fields, field_px = opt.field_px, sky = row.sky or {}, survey = row.survey or {}, keep = opt.keep})
      if ok then
        local b = r.rows[r.best]
        res.status = "ran"
        res.fields, res.targets, res.threshold, res.precision, res.recall, res.f1 = r.n_fields, r.n_targets,
          b.threshold, b.precision, b.recall, b.f1
        res.fp_per_field, res.fp_per_deg2, res.std_err_kpc = b.fp_per_field, b.fp_per_deg2, b.std_err_kpc
        res.seconds = r.seconds
        res.fp_kinds = fieldeval.fp_kinds_text(r)
      else
        res.status = "failed: " .. tostring(r)
        print("  " .. res.status)
      end
    end
    results[#results + 1] = res
  end
end

local function f3(v) return v and string.format("%.3f", v) or "" end
local md = {string.format("Robustness on SIMULATED whole fields (%d per row, %d px, seed %d; deepcee %s, commit %s; %s)",
  opt.fields, opt.field_px, opt.seed, dc.version, dc.commit, os.date("!%Y-%m-%d")),
  "",
  "| row | sky | best F1 | precision | recall | threshold (%) | FP per field | FP per deg^2 | centre std. error (kpc) | status |",
  "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"}
local csv = {"name,status,fields,targets,threshold,precision,recall,f1,fp_per_field,fp_per_deg2,std_err_kpc,seconds,simulated"}
local function c(v)
  if v == nil then return "" end
  if type(v) == "number" then return string.format("%.10g", v) end
  local s = tostring(v)
  if s:find('[,"\n]') then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end
for _, r in ipairs(results) do
  md[#md + 1] = string.format("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |", r.name, r.what, f3(r.f1),
    f3(r.precision), f3(r.recall), r.threshold and string.format("%g", r.threshold * 100) or "",
    r.fp_per_field and string.format("%.2f", r.fp_per_field) or "", r.fp_per_deg2 and string.format("%.1f", r.fp_per_deg2) or "",
    r.std_err_kpc and string.format("%.1f", r.std_err_kpc) or "", (r.status:gsub("|", "/")))
  csv[#csv + 1] = table.concat({c(r.name), c(r.status), c(r.fields), c(r.targets), c(r.threshold), c(r.precision),
    c(r.recall), c(r.f1), c(r.fp_per_field), c(r.fp_per_deg2), c(r.std_err_kpc), c(r.seconds), "1"}, ",")
end
local text = table.concat(md, "\n") .. "\n"
print("\n" .. text)
for _, r in ipairs(results) do if r.fp_kinds then print(r.name .. ": " .. r.fp_kinds) end end
util.write_file(opt.out .. "/robustness.md", text)
util.write_file(opt.out .. "/robustness.csv", table.concat(csv, "\n") .. "\n")
util.write_file(opt.out .. "/robustness.json", report.json({simulated = true, config = opt, rows = results,
  deepcee = {version = dc.version, commit = dc.commit}, seconds = dc.now() - t0}) .. "\n")
print(string.format("done in %s: %s/robustness.{md,csv,json}", util.duration(dc.now() - t0), opt.out))
