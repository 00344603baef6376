-- lua/props.lua on an evaluation (lua/evaluate.lua's detections and matching) of hand-made
-- detections with property estimates: the matched true positives, their metrics against the
-- simulator's z_true (not the catalogue's z), the selection function over a grid counted by hand,
-- the tables and figures written; and nothing for detections without estimates.
local util = require("deepcee_util")
local evaluate = require("evaluate")
local props = require("props")

local h = dofile(assert(os.getenv("DEEPCEE_SOURCE_DIR"), "DEEPCEE_SOURCE_DIR is not set (ctest sets it)")
  .. "/tests/lua/helpers.lua")
local close, expect_error = h.close, h.expect_error

-- a 64 px image per cluster, the truth at its centre (32, 32) at 1.5"/px; a detection box centred
-- there matches it (0 kpc); one centred at (2, 2) is 42 px = 64" away: > 100 kpc at these z
local function det(score, centred, z, n200)
  local d = evaluate.detection(score, centred and {22, 22, 42, 42} or {0, 0, 4, 4})
  d.z, d.richness, d.z_err, d.richness_err = z, n200, 0.01, 0.1
  return d
end
local function image(z, z_true, n200, dets, kind)
  return {row = {file = "x.png", kind = kind or "target", z = z, z_true = z_true, n200 = n200, richness = n200,
    bcg_rmag = 17, cx = 32, cy = 32, scale = 1.5, offset_x = 0, offset_y = 0}, dets = dets, width = 64, height = 64}
end
local nan = 0 / 0
local detected = {
  image(0.1, 0.1, 20, {det(0.9, true, 0.11, 22)}),
  image(0.2, 0.2, 30, {det(0.8, true, 0.19, 30)}),
  image(0.3, 0.3, 25, {det(0.3, true, 0.31, 26)}),          -- matched below the threshold
  image(0.4, 0.4, 45, {}),                                   -- missed
  image(0.16, 0.15, 40, {det(0.7, true, 0.15, 36),           -- catalogue z 0.16, truth 0.15
                         det(0.6, false, 0.45, 15)}),        -- a false positive beside it
  image(nan, nan, nan, {det(0.95, true, 0.25, 12)}, "background"),
}
local result = evaluate.score(detected, {quiet = true})
local ev = props.from_evaluation(detected, result, 0.5)
assert(#ev.matched == 3, #ev.matched .. " matched true positives above 0.5")
-- x = dz/(1+z) on the truth: 0.01/1.1, -0.01/1.2, 0/1.15 -> median 0, |x| median 0.01/1.2
local m = props.metrics(ev.matched)
close(m.redshift.bias, 0, 1e-12, "bias on z_true")
close(m.redshift.sigma_nmad, 1.4826 * 0.01 / 1.2, 1e-9, "sigma_NMAD on z_true")
assert(m.redshift.outlier_fraction == 0, "no outliers")
-- richness: log10(22/20), 0, log10(36/40) -> median 0, |r| median log10(1.1)
close(m.richness.bias, 0, 1e-12, "richness bias")
close(m.richness.scatter, 1.4826 * math.log(1.1, 10), 1e-9, "richness scatter")

-- the selection function: z {0, 0.25, 0.5} x N200 {10, 25, 50}
local sel = props.selection(ev.truth, ev.detections, {threshold = 0.5, z_edges = {0, 0.25, 0.5},
  n200_edges = {10, 25, 50}})
local want = {
  {n_true = 1, n_found = 1, n_det = 1, n_matched = 1},  -- z < 0.25, N200 < 25: cluster 1
  {n_true = 2, n_found = 2, n_det = 2, n_matched = 2},  -- z < 0.25, N200 >= 25: clusters 2 and 5
  {n_true = 0, n_found = 0, n_det = 2, n_matched = 0},  -- z >= 0.25, N200 < 25: the two false positives
  {n_true = 2, n_found = 0, n_det = 0, n_matched = 0},  -- z >= 0.25, N200 >= 25: clusters 3 (0.3 < 0.5) and 4
}
for k, w in ipairs(want) do
  for key, v in pairs(w) do
    assert(sel.cells[k][key] == v, string.format("cell %d %s: %s, want %d", k, key, tostring(sel.cells[k][key]), v))
  end
end
close(sel.cells[2].purity, 1, 0, "purity of cell 2")
close(sel.cells[3].purity, 0, 0, "purity of cell 3")
close(sel.cells[4].completeness, 0, 0, "completeness of cell 4")

-- written: tables and the three figures
local dir = os.tmpname()
os.remove(dir)
util.mkdir(dir)
expect_error(function() props.write_evaluation(dir, detected, result, {threshold = 0.5}) end, "simulated")
local out = props.write_evaluation(dir, detected, result, {threshold = 0.5, simulated = true, name = "t",
  z_edges = {0, 0.25, 0.5}, n200_edges = {10, 25, 50}})
close(out.metrics.redshift.sigma_nmad, m.redshift.sigma_nmad, 0, "write_evaluation metrics")
assert(out.selection.cells[4].n_true == 2)
for _, f in ipairs({"t_props.csv", "t_props.json", "t_selection.csv", "t_redshift.png", "t_richness.png",
    "t_selection.png"}) do
  assert(util.exists(dir .. "/" .. f), "missing " .. f)
end
assert(h.read(dir .. "/t_redshift.png"):sub(1, 4) == "\137PNG", "the redshift figure is a PNG")
-- the report section (report.write_run): its text, tables, figures and metrics
local sec = out.section
assert(sec.text[1]:find(string.format("sigma_NMAD(dz/(1+z)) = %.4f", m.redshift.sigma_nmad), 1, true)
  and sec.text[1]:find("Simulated data", 1, true), sec.text[1])
assert(#sec.tables == 2 and #sec.plots == 3 and sec.plots[1].file == "t_redshift.png", "section tables and plots")
close(sec.metrics.sigma_nmad, m.redshift.sigma_nmad, 0, "section metric")
close(sec.metrics.threshold, 0.5, 0, "section threshold")
-- detections without estimates (a model without heads): nothing to write
for _, d in ipairs(detected) do for _, p in ipairs(d.dets) do p.z, p.richness = nil, nil end end
assert(props.write_evaluation(dir .. "/none", detected, result, {simulated = true}) == nil, "no estimates: nil")
-- a result of another evaluation is refused
table.remove(detected[1].dets)
expect_error(function() props.from_evaluation(detected, result) end, "not the same evaluation")
os.execute("rm -rf '" .. dir .. "'")
print("props report: ok")
