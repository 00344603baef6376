-- lua/props.lua: property metrics and the selection function on hand-made cases whose values are
-- worked out by hand below (not copied from a run), the written CSV/JSON, and bad input.
local util = require("deepcee_util")
local props = require("props")

local h = dofile(assert(os.getenv("DEEPCEE_SOURCE_DIR"), "DEEPCEE_SOURCE_DIR is not set (ctest sets it)")
  .. "/tests/lua/helpers.lua")
local close, expect_error = h.close, h.expect_error
local nan = 0 / 0

-- ---------------------------------------------------------------- median and NMAD
close(props.median({3, 1, 2}), 2, 0, "odd median")
close(props.median({4, 1, 3, 2}), 2.5, 0, "even median (mean of the two middle values)")
assert(props.median({}) ~= props.median({}), "median of nothing is NaN")
-- {1, 2, 3, 4, 100}: median 3, |v - 3| = {2, 1, 0, 1, 97}, median 1 -> 1.4826
close(props.nmad({1, 2, 3, 4, 100}), 1.4826, 1e-12, "nmad")

-- ---------------------------------------------------------------- redshift
-- x = dz/(1+z) chosen by hand: {-0.02, 0.01, 0.00, 0.03, 0.10}; z_est = z + x (1 + z).
-- median x = 0.01; |x - 0.01| = {0.03, 0, 0.01, 0.02, 0.09} -> median 0.02 -> sigma_NMAD = 0.029652;
-- mean = 0.12 / 5 = 0.024; |x| > 0.05: one of five (0.10) -> 0.2.
-- (Without the 1 + z division the dz are {-0.022, 0.011, 0, 0.036, 0.13}: median 0.011, NMAD
-- 0.032617: the test tells the two apart.)
local zt = {0.1, 0.1, 0.2, 0.2, 0.3}
local xs = {-0.02, 0.01, 0.0, 0.03, 0.10}
local zrows = {}
for i = 1, 5 do zrows[i] = {z = zt[i], z_est = zt[i] + xs[i] * (1 + zt[i])} end
local zm = props.redshift_metrics(zrows)
assert(zm.n == 5)
close(zm.sigma_nmad, 1.4826 * 0.02, 1e-12, "sigma_NMAD")
close(zm.bias, 0.01, 1e-12, "bias (median)")
close(zm.mean, 0.024, 1e-12, "mean")
close(zm.outlier_fraction, 0.2, 1e-12, "outlier fraction")
assert(zm.n_outliers == 1 and zm.outlier == 0.05)
-- a wider outlier cut: none are outliers; a narrower one (0.025): 0.03 and 0.10 are
close(props.redshift_metrics(zrows, {outlier = 0.2}).outlier_fraction, 0, 0, "outliers at 0.2")
close(props.redshift_metrics(zrows, {outlier = 0.025}).outlier_fraction, 0.4, 1e-12, "outliers at 0.025")
-- exactly on the cut is not an outlier (|x| > cut): x = 0.5 at z = 0, exact in binary
close(props.redshift_metrics({{z = 0, z_est = 0.5}}, {outlier = 0.5}).outlier_fraction, 0, 0, "on the cut")
-- nothing matched: n = 0, NaN metrics
local empty = props.redshift_metrics({})
assert(empty.n == 0 and empty.sigma_nmad ~= empty.sigma_nmad and empty.outlier_fraction ~= empty.outlier_fraction)

-- ---------------------------------------------------------------- richness
-- r = log10(est / true) = {0.1, -0.1, 0.3, 0}: median 0.05; |r - 0.05| = {0.05, 0.15, 0.25, 0.05}
-- -> median 0.1 -> scatter 0.14826 dex; mean 0.075; deviations {0.025, -0.175, 0.225, -0.075},
-- squares sum 0.0875, / 3 -> std sqrt(0.0291667) = 0.1707825.
local nt = {20, 20, 40, 10}
local rs = {0.1, -0.1, 0.3, 0}
local nrows = {}
for i = 1, 4 do nrows[i] = {n200 = nt[i], n200_est = nt[i] * 10 ^ rs[i]} end
local rm = props.richness_metrics(nrows)
assert(rm.n == 4)
close(rm.scatter, 0.14826, 1e-12, "richness scatter (dex)")
close(rm.bias, 0.05, 1e-12, "richness bias (dex)")
close(rm.mean, 0.075, 1e-12, "richness mean (dex)")
close(rm.std, math.sqrt(0.0875 / 3), 1e-12, "richness std (dex)")

-- both at once; rows without an estimate are left out of that property only
local both = {}
for i = 1, 4 do both[i] = {z = zt[i], z_est = zrows[i].z_est, n200 = nt[i], n200_est = nrows[i].n200_est} end
both[5] = {z = zt[5], z_est = zrows[5].z_est, n200 = 30, n200_est = nan}
both[6] = {z = nan, z_est = 0.3, n200 = nan, n200_est = 20} -- no truth (a redMaPPer-style catalogue has no N200)
local m = props.metrics(both)
assert(m.redshift.n == 5 and m.richness.n == 4, string.format("metrics on %d and %d rows", m.redshift.n, m.richness.n))
close(m.redshift.sigma_nmad, zm.sigma_nmad, 0, "metrics: redshift")
close(m.richness.scatter, rm.scatter, 0, "metrics: richness")

-- ---------------------------------------------------------------- selection function
-- a 2 x 2 grid: z [0, 0.2) [0.2, 0.4); N200 [10, 30) [30, 100); threshold 0.5 (score > 0.5 counts)
local opts = {z_edges = {0, 0.2, 0.4}, n200_edges = {10, 30, 100}, threshold = 0.5}
local truth = {
  {z = 0.10, n200 = 15, score = 0.9},  -- cell (1,1) found
  {z = 0.15, n200 = 20, score = 0.4},  -- cell (1,1) matched below the threshold: not found
  {z = 0.19, n200 = 29},               -- cell (1,1) not matched
  {z = 0.10, n200 = 50, score = 0.6},  -- cell (1,2) found
  {z = 0.30, n200 = 30, score = 0.5},  -- cell (2,2): 30 is in [30, 100); score 0.5 is not > 0.5
  {z = 0.20, n200 = 40, score = 0.99}, -- cell (2,2) found (0.2 is in [0.2, 0.4))
  {z = 0.45, n200 = 40, score = 0.99}, -- outside (z)
  {z = 0.10, n200 = 5, score = 0.99},  -- outside (N200)
}
local dets = {
  {score = 0.9, matched = true, z_est = 0.12, n200_est = 18},   -- (1,1) matched
  {score = 0.8, matched = false, z_est = 0.05, n200_est = 12},  -- (1,1) false
  {score = 0.7, matched = false, z_est = 0.11, n200_est = 25},  -- (1,1) false
  {score = 0.6, matched = true, z_est = 0.25, n200_est = 60},   -- (2,2) matched
  {score = 0.4, matched = false, z_est = 0.25, n200_est = 60},  -- below the threshold: ignored
  {score = 0.95, matched = true, z_est = nan, n200_est = nan},  -- no estimates: unbinned
  {score = 0.95, matched = false, z_est = 0.6, n200_est = 20},  -- outside
}
local sel = props.selection(truth, dets, opts)
assert(#sel.cells == 4, "2 x 2 cells")
local want = {
  {n_true = 3, n_found = 1, completeness = 1 / 3, n_det = 3, n_matched = 1, purity = 1 / 3},
  {n_true = 1, n_found = 1, completeness = 1, n_det = 0, n_matched = 0, purity = nan},
  {n_true = 0, n_found = 0, completeness = nan, n_det = 0, n_matched = 0, purity = nan},
  {n_true = 2, n_found = 1, completeness = 0.5, n_det = 1, n_matched = 1, purity = 1},
}
for k, w in ipairs(want) do
  local c = sel.cells[k]
  for key, v in pairs(w) do
    if v ~= v then
      assert(c[key] ~= c[key], string.format("cell %d %s: want NaN, got %s", k, key, tostring(c[key])))
    else
      close(c[key], v, 1e-12, string.format("cell %d %s", k, key))
    end
  end
end
close(sel.cells[1].z_lo, 0, 0, "cell 1 z_lo")
close(sel.cells[2].n200_lo, 30, 0, "cell 2 n200_lo (N200 inner)")
close(sel.cells[3].z_lo, 0.2, 0, "cell 3 z_lo")
assert(sel.outside_true == 2 and sel.outside_det == 1 and sel.unbinned_det == 1 and sel.n_det == 6
  and sel.n_true == 8, "outside / unbinned / counts")
-- a lower threshold takes in the 0.4 and 0.5 scores: cell (1,1) finds 2 of 3, (2,2) 2 of 2, and
-- the 0.4 detection joins (2,2) unmatched: purity 1/2
local sel2 = props.selection(truth, dets, {z_edges = opts.z_edges, n200_edges = opts.n200_edges, threshold = 0.3})
close(sel2.cells[1].completeness, 2 / 3, 1e-12, "threshold 0.3: cell 1")
close(sel2.cells[4].completeness, 1, 1e-12, "threshold 0.3: cell 4")
close(sel2.cells[4].purity, 0.5, 1e-12, "threshold 0.3: cell 4 purity")

-- ---------------------------------------------------------------- tables and files
local dir = os.tmpname()
os.remove(dir)
util.mkdir(dir)
expect_error(function() props.write(dir, m, sel) end, "simulated")
props.write(dir, m, sel, {simulated = true})
local csv = h.read(dir .. "/test_props.csv")
local lines = {}
for l in csv:gmatch("[^\n]+") do lines[#lines + 1] = l end
assert(lines[1] == "property,n,scatter,bias,mean,outlier_fraction,std,simulated", lines[1])
-- the CSV holds full precision: the sigma_NMAD reads back
local f = {}
for v in (lines[2] .. ","):gmatch("([^,]*),") do f[#f + 1] = v end
assert(f[1] == "dz/(1+z)" and tonumber(f[2]) == 5, lines[2])
close(tonumber(f[3]), 1.4826 * 0.02, 1e-12, "CSV sigma_NMAD")
close(tonumber(f[6]), 0.2, 1e-12, "CSV outlier fraction")
assert(f[8] == "1", "CSV says simulated")
local txt = h.read(dir .. "/test_props.txt")
assert(txt:find("simulated data", 1, true), "text table labelled simulated")
local json = h.read(dir .. "/test_selection.json")
assert(json:find('"completeness": null', 1, true), "empty cells are null in JSON")
assert(json:find('"n_true": 3', 1, true), json)
local scsv = h.read(dir .. "/test_selection.csv")
local srows = 0
for _ in scsv:gmatch("[^\n]+") do srows = srows + 1 end
assert(srows == 5, "test_selection.csv: a header and 4 cells, got " .. srows)
assert(h.read(dir .. "/test_selection.txt"):find("Outside every bin: 2 true clusters, 1 detections; 1 detections", 1, true))
for name in io.popen("ls -a " .. dir):lines() do
  assert(not name:find("%.tmp"), "temporary left: " .. name)
end
os.execute("rm -rf " .. dir)

-- ---------------------------------------------------------------- bad input
expect_error(function() props.redshift_metrics({{z = 0.1, z_est = nan}}) end, "row 1", "z_est")
expect_error(function() props.redshift_metrics({{z = -1, z_est = 0.1}}) end, "z > -1")
expect_error(function() props.richness_metrics({{n200 = 0, n200_est = 10}}) end, "row 1", "n200")
expect_error(function() props.redshift_metrics({}, {outliers = 0.1}) end, "unknown key 'outliers'")
expect_error(function() props.redshift_metrics({}, {outlier = -1}) end, "outlier")
expect_error(function() props.selection({}, {}, {z_edges = {0.1, 0.1}}) end, "z_edges must increase")
expect_error(function() props.selection({}, {}, {z_edges = {0.1}}) end, "at least 2 edges")
expect_error(function() props.selection({}, {}, {n200_edges = {0, 10}}) end, "n200_edges must be positive")
expect_error(function() props.selection({}, {}, {z_edges = {0, nan}}) end, "z_edges[2]")
-- true clusters without a known z or N200 are counted apart, not binned
local ub = props.selection({{z = nan, n200 = 10, score = 0.9}, {z = 0.15, n200 = nan}, {z = 0.15, n200 = 15}}, {})
assert(ub.unbinned_true == 2 and ub.n_true == 3 and ub.outside_true == 0, "unbinned true clusters")
local cell = 0
for _, c in ipairs(ub.cells) do cell = cell + c.n_true end
assert(cell == 1, "one binned true cluster, got " .. cell)
expect_error(function() props.selection({}, {{score = nan}}) end, "detection 1")

print("props: ok")
