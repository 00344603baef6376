-- Cluster property metrics (issue 10): how well redshift and richness estimates agree with the
-- truth on matched true positives, and the selection function (completeness and purity in bins of
-- redshift and richness at one confidence threshold). Pure Lua on plain tables, so it can score
-- any source of estimates (the detector's property heads, a catalogue, a hand-made case).
--
-- Definitions (one place, the report and the tests use these):
--   redshift: x = (z_est - z) / (1 + z) per matched cluster (z the truth);
--     sigma_nmad = 1.4826 * median(|x - median(x)|);
--     bias = median(x) (the MEDIAN, robust to the outliers counted separately; mean(x) is also
--     reported as `mean`);
--     outlier_fraction = #(|x| > outlier) / n, outlier = 0.05 by default.
--   richness: r = log10(n200_est) - log10(n200) in dex;
--     scatter = 1.4826 * median(|r - median(r)|) (the same robust estimator as sigma_nmad);
--     bias = median(r); also `mean` and `std` (sample standard deviation, n - 1) of r.
--   selection function, at threshold t, a detection counts when its score > t (strictly, as
--   lua/evaluate.lua counts a cluster returned):
--     completeness of a (z, richness) bin = true clusters of the bin (binned by their TRUE z and
--     n200) that a counted detection matched / true clusters of the bin;
--     purity of a bin = counted detections of the bin that matched a true cluster / counted
--     detections of the bin, detections binned by their ESTIMATED z and n200 (false positives have
--     no truth), so purity needs estimates; detections without finite estimates are counted in
--     `unbinned` and left out of the bins.
--   Bins are half-open [lo, hi); values outside every bin are counted in `outside`, true clusters
--   without a finite z or N200 (a redMaPPer-style catalogue has no N200) in `unbinned_true`. A bin
--   with no members has completeness (or purity) NaN ("n/a" in the text table, empty in CSV, null
--   in JSON).
local util = require("deepcee_util")

local M = {}

M.defaults = {
  outlier = 0.05,                           -- |dz|/(1+z) above which a redshift is an outlier (issue 10)
  threshold = 0.5,                          -- selection function: a detection counts when score > threshold
  z_edges = {0.05, 0.1, 0.2, 0.3, 0.4, 0.5}, -- selection function: redshift bin edges (increasing)
  n200_edges = {10, 20, 40, 80, 1000},      -- selection function: N200 bin edges (increasing, > 0)
  simulated = util.optional("boolean"),     -- required by the table and file writers
  name = "test",                            -- file name part: <name>_props.*, <name>_selection.*, figures
  what = "test set",                        -- the evaluated set, in the report's text
}
M.ranges = {outlier = {1e-9, 10}, threshold = {0, 1}}

-- 1.4826 = 1 / Phi^-1(3/4): the MAD of a Gaussian times this is its sigma.
M.nmad_factor = 1.4826

local function options(opts, where)
  local o = util.config(M.defaults, opts, where, M.ranges)
  for _, key in ipairs({"z_edges", "n200_edges"}) do
    local e = o[key]
    if #e < 2 then error(string.format("%s: %s needs at least 2 edges, got %d", where, key, #e), 3) end
    for i, v in ipairs(e) do
      if type(v) ~= "number" or v ~= v or v == math.huge or v == -math.huge then
        error(string.format("%s: %s[%d] = %s is not a finite number", where, key, i, tostring(v)), 3)
      end
      if i > 1 and not (v > e[i - 1]) then
        error(string.format("%s: %s must increase, but %s[%d] = %s follows %s", where, key, key, i,
          tostring(v), tostring(e[i - 1])), 3)
      end
    end
  end
  if not (o.n200_edges[1] > 0) then
    error(string.format("%s: n200_edges must be positive (got %s)", where, tostring(o.n200_edges[1])), 3)
  end
  return o
end

local function finite(v) return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge end

-- The rows with a finite value at key.
local function rows_with(rows, key)
  local out = {}
  for _, r in ipairs(rows) do if finite(r[key]) then out[#out + 1] = r end end
  return out
end

-- Median of a list of numbers (the mean of the two middle values for an even count); NaN if empty.
function M.median(v)
  local s = {}
  for i = 1, #v do s[i] = v[i] end
  if #s == 0 then return 0 / 0 end
  table.sort(s)
  local n = #s
  if n % 2 == 1 then return s[(n + 1) // 2] end
  return 0.5 * (s[n // 2] + s[n // 2 + 1])
end

-- 1.4826 * median(|v - median(v)|); NaN if empty.
function M.nmad(v)
  local m = M.median(v)
  local d = {}
  for i = 1, #v do d[i] = math.abs(v[i] - m) end
  return M.nmad_factor * M.median(d)
end

local function mean(v)
  if #v == 0 then return 0 / 0 end
  local s = 0
  for i = 1, #v do s = s + v[i] end
  return s / #v
end

local function std(v)
  if #v < 2 then return 0 / 0 end
  local m, s = mean(v), 0
  for i = 1, #v do s = s + (v[i] - m) ^ 2 end
  return math.sqrt(s / (#v - 1))
end

-- Redshift metrics of matched clusters: rows = {{z = true, z_est = estimate}, ...} (both finite,
-- z > -1). Returns {n, sigma_nmad, bias (median), mean, outlier_fraction, n_outliers, outlier}.
function M.redshift_metrics(rows, opts)
  local o = options(opts, "props.redshift_metrics")
  local x = {}
  for i, r in ipairs(rows) do
    if not (finite(r.z) and finite(r.z_est) and r.z > -1) then
      error(string.format("props.redshift_metrics: row %d has z=%s z_est=%s (both must be finite, z > -1)", i,
        tostring(r.z), tostring(r.z_est)), 2)
    end
    x[i] = (r.z_est - r.z) / (1 + r.z)
  end
  local n_out = 0
  for i = 1, #x do if math.abs(x[i]) > o.outlier then n_out = n_out + 1 end end
  return {n = #x, sigma_nmad = M.nmad(x), bias = M.median(x), mean = mean(x),
          outlier_fraction = #x > 0 and n_out / #x or 0 / 0, n_outliers = n_out, outlier = o.outlier}
end

-- Richness metrics of matched clusters: rows = {{n200 = true, n200_est = estimate}, ...} (both
-- finite and > 0). Returns {n, scatter (NMAD, dex), bias (median, dex), mean, std}.
function M.richness_metrics(rows)
  local d = {}
  for i, r in ipairs(rows) do
    if not (finite(r.n200) and finite(r.n200_est) and r.n200 > 0 and r.n200_est > 0) then
      error(string.format("props.richness_metrics: row %d has n200=%s n200_est=%s (both must be finite and > 0)",
        i, tostring(r.n200), tostring(r.n200_est)), 2)
    end
    d[i] = math.log(r.n200_est, 10) - math.log(r.n200, 10)
  end
  return {n = #d, scatter = M.nmad(d), bias = M.median(d), mean = mean(d), std = std(d)}
end

-- Both sets of metrics from one list of matched clusters {z, z_est, n200, n200_est}; rows lacking
-- an estimate or a truth (NaN or nil; a redMaPPer-style catalogue has no N200) are left out of that
-- property's metrics only.
function M.metrics(rows, opts)
  local zr, nr = {}, {}
  for _, r in ipairs(rows) do
    if finite(r.z_est) and finite(r.z) then zr[#zr + 1] = r end
    if finite(r.n200_est) and finite(r.n200) then nr[#nr + 1] = r end
  end
  local o = util.config(M.defaults, opts, "props.metrics", M.ranges)
  return {redshift = M.redshift_metrics(zr, {outlier = o.outlier}), richness = M.richness_metrics(nr)}
end

local function bin_of(edges, v)
  if not finite(v) then return nil end
  for i = 1, #edges - 1 do
    if v >= edges[i] and v < edges[i + 1] then return i end
  end
  return nil
end

-- The selection function at opts.threshold. truth = {{z, n200, score}}: every true cluster, score
-- the score of the detection matched to it (nil or NaN when none matched); detections =
-- {{score, matched (boolean: it matched a true cluster), z_est, n200_est}}: every detection.
-- Returns {threshold, z_edges, n200_edges, cells = {{z_lo, z_hi, n200_lo, n200_hi, n_true, n_found,
-- completeness, n_det, n_matched, purity}} (z outer, n200 inner), outside_true, unbinned_true,
-- outside_det, unbinned_det, n_true, n_det}.
function M.selection(truth, detections, opts)
  local o = options(opts, "props.selection")
  local nz, nn = #o.z_edges - 1, #o.n200_edges - 1
  local cells = {}
  for i = 1, nz do
    for j = 1, nn do
      cells[(i - 1) * nn + j] = {z_lo = o.z_edges[i], z_hi = o.z_edges[i + 1], n200_lo = o.n200_edges[j],
        n200_hi = o.n200_edges[j + 1], n_true = 0, n_found = 0, n_det = 0, n_matched = 0}
    end
  end
  local out = {threshold = o.threshold, z_edges = o.z_edges, n200_edges = o.n200_edges, cells = cells,
               outside_true = 0, unbinned_true = 0, outside_det = 0, unbinned_det = 0, n_true = #truth, n_det = 0}
  for _, t in ipairs(truth) do
    local i, j = bin_of(o.z_edges, t.z), bin_of(o.n200_edges, t.n200)
    if not (finite(t.z) and finite(t.n200)) then
      out.unbinned_true = out.unbinned_true + 1
    elseif i and j then
      local c = cells[(i - 1) * nn + j]
      c.n_true = c.n_true + 1
      if finite(t.score) and t.score > o.threshold then c.n_found = c.n_found + 1 end
    else
      out.outside_true = out.outside_true + 1
    end
  end
  for k, d in ipairs(detections) do
    if not finite(d.score) then
      error(string.format("props.selection: detection %d has score=%s", k, tostring(d.score)), 2)
    end
    if d.score > o.threshold then
      out.n_det = out.n_det + 1
      if not (finite(d.z_est) and finite(d.n200_est)) then
        out.unbinned_det = out.unbinned_det + 1
      else
        local i, j = bin_of(o.z_edges, d.z_est), bin_of(o.n200_edges, d.n200_est)
        if i and j then
          local c = cells[(i - 1) * nn + j]
          c.n_det = c.n_det + 1
          if d.matched then c.n_matched = c.n_matched + 1 end
        else
          out.outside_det = out.outside_det + 1
        end
      end
    end
  end
  for _, c in ipairs(cells) do
    c.completeness = c.n_true > 0 and c.n_found / c.n_true or 0 / 0
    c.purity = c.n_det > 0 and c.n_matched / c.n_det or 0 / 0
  end
  return out
end

-- ------------------------------------------------------------------ tables and files

local function need_simulated(opts, where)
  local o = util.config(M.defaults, opts, where, M.ranges)
  if o.simulated == nil then error(where .. ": say whether the data are simulated (simulated = true or false)", 3) end
  return o.simulated
end

local function num(v)
  if v ~= v then return "n/a" end
  return string.format("%.4f", v)
end

-- The metrics (M.metrics' result) as a report table (lua/report.lua's layout: write_table,
-- format_csv, format_json), one row per property.
function M.metrics_table(m, opts)
  local simulated = need_simulated(opts, "props.metrics_table")
  local name = util.config(M.defaults, opts, "props.metrics_table", M.ranges).name
  local z, r = m.redshift, m.richness
  local title = "Cluster property metrics on matched true positives"
  if simulated then title = title .. " (simulated data)" end
  return {
    name = name .. "_props", title = title, simulated = simulated,
    columns = {
      {key = "property", head = "property", align = "left"},
      {key = "n", head = "n"},
      {key = "scatter", head = "scatter (NMAD)", fmt = num},
      {key = "bias", head = "bias (median)", fmt = num},
      {key = "mean", head = "mean", fmt = num},
      {key = "outlier_fraction", head = "outliers", fmt = num},
      {key = "std", head = "std", fmt = num},
    },
    rows = {
      {property = "dz/(1+z)", n = z.n, scatter = z.sigma_nmad, bias = z.bias, mean = z.mean,
       outlier_fraction = z.outlier_fraction},
      {property = "log10 N200 (dex)", n = r.n, scatter = r.scatter, bias = r.bias, mean = r.mean, std = r.std},
    },
    notes = {string.format("Outliers: |dz|/(1+z) > %g. Scatter: 1.4826 x median |x - median x|; bias: median x.",
      z.outlier)},
  }
end

-- The selection function (M.selection's result) as a report table, one row per (z, N200) bin.
function M.selection_table(sel, opts)
  local simulated = need_simulated(opts, "props.selection_table")
  local name = util.config(M.defaults, opts, "props.selection_table", M.ranges).name
  local title = string.format("Selection function at threshold %g", sel.threshold)
  if simulated then title = title .. " (simulated data)" end
  local notes = {"Completeness: true clusters binned by true z and N200; purity: detections binned by "
    .. "estimated z and N200. Bins [lo, hi)."}
  if sel.outside_true + sel.outside_det + sel.unbinned_det > 0 then
    notes[#notes + 1] = string.format("Outside every bin: %d true clusters, %d detections; %d detections without "
      .. "estimates.", sel.outside_true, sel.outside_det, sel.unbinned_det)
  end
  if sel.unbinned_true > 0 then
    notes[#notes + 1] = string.format("%d true clusters without a known z or N200 are not binned.", sel.unbinned_true)
  end
  return {
    name = name .. "_selection", title = title, simulated = simulated,
    columns = {
      {key = "z_lo", head = "z from"}, {key = "z_hi", head = "z to"},
      {key = "n200_lo", head = "N200 from"}, {key = "n200_hi", head = "N200 to"},
      {key = "n_true", head = "true"}, {key = "n_found", head = "found"},
      {key = "completeness", head = "completeness", fmt = num},
      {key = "n_det", head = "detections"}, {key = "n_matched", head = "matched"},
      {key = "purity", head = "purity", fmt = num},
    },
    rows = sel.cells, notes = notes,
  }
end

-- ------------------------------------------------------------------ from an evaluation

-- The inputs of M.metrics and M.selection from lua/evaluate.lua's detections (detect_rows: per
-- image {row, dets}, a detection with z / richness when the model has property heads) and its
-- score result (the one-to-one matching: result.preds[i].truth, in the order evaluate.score built
-- them: the target rows' truths in image order, the detections in image then list order).
-- threshold: default the result's best. The true z is the manifest's z_true where known (the
-- simulator's), else its z; the true N200 its n200. Returns matched (for M.metrics: every matched
-- detection above the threshold), truth and detections (for M.selection), threshold.
function M.from_evaluation(detected, result, threshold)
  threshold = threshold or result.rows[result.best].threshold
  local truth, dets = {}, {}
  for _, d in ipairs(detected) do
    local r = d.row
    if (r.kind or "target") == "target" then
      truth[#truth + 1] = {z = finite(r.z_true) and r.z_true or r.z, n200 = r.n200}
    end
    for _, p in ipairs(d.dets) do
      dets[#dets + 1] = {score = p.score, z_est = p.z, n200_est = p.richness}
    end
  end
  if #dets ~= #result.preds then
    error(string.format("props.from_evaluation: %d detections but %d matched predictions: not the same evaluation",
      #dets, #result.preds), 2)
  end
  local matched = {}
  for i, p in ipairs(result.preds) do
    local d = dets[i]
    d.matched = p.truth ~= nil
    if p.truth then
      local t = truth[p.truth]
      if not t then error(string.format("props.from_evaluation: prediction %d matched truth %d of %d", i, p.truth,
        #truth), 2) end
      t.score = p.score
      if p.score > threshold then
        matched[#matched + 1] = {z = t.z, z_est = d.z_est, n200 = t.n200, n200_est = d.n200_est, score = p.score}
      end
    end
  end
  return {matched = matched, truth = truth, detections = dets, threshold = threshold}
end

-- ------------------------------------------------------------------ figures

local function title_sim(t, simulated) return simulated and t .. " (simulated data)" or t end

-- Estimated against true redshift, and the residual dz/(1+z) against the true z (outlier cut
-- dashed), for matched rows {z, z_est}; file: PNG path. Returns the file.
function M.plot_redshift(file, rows, opts)
  local simulated = need_simulated(opts, "props.plot_redshift")
  local o = util.config(M.defaults, opts, "props.plot_redshift", M.ranges)
  local zt, ze, res = {}, {}, {}
  for _, r in ipairs(rows) do
    if finite(r.z) and finite(r.z_est) then
      zt[#zt + 1], ze[#ze + 1], res[#res + 1] = r.z, r.z_est, (r.z_est - r.z) / (1 + r.z)
    end
  end
  if #zt == 0 then error("props.plot_redshift: no matched cluster with a redshift estimate", 2) end
  local lo, hi = math.min(table.unpack(zt)), math.max(table.unpack(zt))
  for _, v in ipairs(ze) do lo, hi = math.min(lo, v), math.max(hi, v) end
  local m = M.redshift_metrics(rows_with(rows, "z_est"), {outlier = o.outlier})
  return require("deepcee").plot{file = file, width = 1200, height = 560, cols = 2, panels = {
    {title = title_sim(string.format("Redshift: %d clusters, sigma_NMAD %.4f, bias %.4f", m.n, m.sigma_nmad, m.bias),
      simulated), xlabel = "true z", ylabel = "estimated z", square = true, legend = "top-left",
     series = {{x = {lo, hi}, y = {lo, hi}, style = "line", color = "grey", label = "1:1"},
               {x = zt, y = ze, style = "points", color = "blue", label = "matched clusters"}}},
    {title = title_sim(string.format("Residuals: %.1f %% beyond %g", 100 * m.outlier_fraction, o.outlier), simulated),
     xlabel = "true z", ylabel = "dz / (1 + z)", legend = "none",
     series = {{x = zt, y = res, style = "points", color = "blue"}},
     lines = {{y = 0}, {y = o.outlier, label = string.format("+%g", o.outlier)},
              {y = -o.outlier, label = string.format("-%g", o.outlier)}}},
  }}
end

-- Estimated against true N200 (log-log over a decade or more, 1:1 line) and the residual in dex
-- against the true z.
function M.plot_richness(file, rows, opts)
  local simulated = need_simulated(opts, "props.plot_richness")
  local nt, ne, zt, res = {}, {}, {}, {}
  for _, r in ipairs(rows) do
    if finite(r.n200) and finite(r.n200_est) and r.n200 > 0 and r.n200_est > 0 then
      nt[#nt + 1], ne[#ne + 1] = r.n200, r.n200_est
      zt[#zt + 1], res[#res + 1] = r.z, math.log(r.n200_est / r.n200, 10)
    end
  end
  if #nt == 0 then error("props.plot_richness: no matched cluster with a richness estimate", 2) end
  local lo, hi = math.min(table.unpack(nt)), math.max(table.unpack(nt))
  for _, v in ipairs(ne) do lo, hi = math.min(lo, v), math.max(hi, v) end
  local m = M.richness_metrics(rows_with(rows, "n200_est"))
  local logs = hi / lo >= 10 -- log axes over less than a decade would show no labelled tick
  return require("deepcee").plot{file = file, width = 1200, height = 560, cols = 2, panels = {
    {title = title_sim(string.format("Richness: %d clusters, scatter %.3f dex, bias %.3f dex", m.n, m.scatter, m.bias),
      simulated), xlabel = "true N200", ylabel = "estimated N200", xlog = logs, ylog = logs, square = true,
     legend = "top-left",
     series = {{x = {lo, hi}, y = {lo, hi}, style = "line", color = "grey", label = "1:1"},
               {x = nt, y = ne, style = "points", color = "vermillion", label = "matched clusters"}}},
    {title = title_sim("Richness residuals against redshift", simulated), xlabel = "true z",
     ylabel = "log10 (N200 est / true)", legend = "none",
     series = {{x = zt, y = res, style = "points", color = "vermillion"}}, lines = {{y = 0}}},
  }}
end

-- Completeness and purity against redshift, one line per N200 bin (the selection function's
-- (z, N200) grid as curves); empty bins are left out of their curve.
function M.plot_selection(file, sel, opts)
  local simulated = need_simulated(opts, "props.plot_selection")
  local nn = #sel.n200_edges - 1
  local function curves(key)
    local out = {}
    for j = 1, nn do
      local x, y = {}, {}
      for i = 1, #sel.z_edges - 1 do
        local c = sel.cells[(i - 1) * nn + j]
        if c[key] == c[key] then x[#x + 1], y[#y + 1] = 0.5 * (c.z_lo + c.z_hi), c[key] end
      end
      if #x > 0 then
        out[#out + 1] = {x = x, y = y, style = "linepoints",
          label = string.format("%g <= N200 < %g", sel.n200_edges[j], sel.n200_edges[j + 1])}
      end
    end
    return out
  end
  local panels = {}
  for _, p in ipairs({{"completeness", "true z"}, {"purity", "estimated z"}}) do
    local s = curves(p[1])
    if #s > 0 then
      panels[#panels + 1] = {title = title_sim(string.format("%s%s at threshold %g", p[1]:sub(1, 1):upper(),
        p[1]:sub(2), sel.threshold), simulated), xlabel = p[2], ylabel = p[1], ymin = 0, ymax = 1.05,
        xmin = sel.z_edges[1], xmax = sel.z_edges[#sel.z_edges], series = s, legend = "bottom-left"}
    end
  end
  if #panels == 0 then error("props.plot_selection: every bin is empty", 2) end
  return require("deepcee").plot{file = file, width = 600 * #panels, height = 520, cols = #panels, panels = panels}
end

-- Write <dir>/<name>_props.{txt,csv,json} and, with sel, <dir>/<name>_selection.{txt,csv,json}
-- (name: opts.name, default "test"; each file atomic, through report.write_table). Returns the tables.
function M.write(dir, m, sel, opts)
  local report = require("report")
  local t = M.metrics_table(m, opts)
  report.write_table(t, dir)
  local s
  if sel then
    s = M.selection_table(sel, opts)
    report.write_table(s, dir)
  end
  return t, s
end

-- Everything of one evaluated set (lua/evaluate.lua's detections and score result) whose model
-- has property heads: the metrics and the selection function at the threshold (default the
-- result's best, not M.defaults' 0.5) as tables, and the figures <name>_redshift.png,
-- <name>_richness.png, <name>_selection.png in dir. opts: the keys of M.defaults (simulated
-- required). Returns {metrics, selection, tables, figures, section (for report.write_run: title,
-- text, tables, plots, metrics)}, or nil when no detection carries estimates (a model without heads).
function M.write_evaluation(dir, detected, result, opts)
  local o = util.config(M.defaults, opts, "props.write_evaluation", M.ranges)
  need_simulated(opts, "props.write_evaluation")
  local ev = M.from_evaluation(detected, result, (opts or {}).threshold)
  local any = false
  for _, d in ipairs(ev.detections) do any = any or finite(d.z_est) end
  if not any then return nil end
  o.threshold = ev.threshold
  local m = M.metrics(ev.matched, o)
  local sel = M.selection(ev.truth, ev.detections, o)
  local t, st = M.write(dir, m, sel, o)
  local figures, plots = {}, {}
  local function figure(key, fn, data, caption)
    local file = o.name .. "_" .. key .. ".png"
    figures[key] = fn(dir .. "/" .. file, data, o)
    plots[#plots + 1] = {file = file, caption = caption}
  end
  if m.redshift.n > 0 then
    figure("redshift", M.plot_redshift, ev.matched, "Estimated against true redshift and residuals dz/(1+z), "
      .. o.what)
  end
  if m.richness.n > 0 then
    figure("richness", M.plot_richness, ev.matched, "Estimated against true N200 and residuals in dex, " .. o.what)
  end
  local filled = false
  for _, c in ipairs(sel.cells) do filled = filled or c.n_true > 0 or c.n_det > 0 end
  if filled then
    figure("selection", M.plot_selection, sel, "Completeness and purity against redshift per N200 bin, " .. o.what)
  end
  local z, r = m.redshift, m.richness
  local text = string.format("At the %g %% threshold, %d matched clusters of the %s: sigma_NMAD(dz/(1+z)) = %s, "
    .. "bias (median) = %s, outliers (|dz|/(1+z) > %g) = %s; richness scatter = %s dex, bias = %s dex (%d with "
    .. "N200).", 100 * ev.threshold, z.n, o.what, num(z.sigma_nmad), num(z.bias), z.outlier,
    num(z.outlier_fraction), num(r.scatter), num(r.bias), r.n)
  if o.simulated then text = text .. " Simulated data." end
  local section = {name = o.name .. "_props", title = "Cluster properties: " .. o.what, text = {text},
    tables = {t, st}, plots = plots,
    metrics = {threshold = ev.threshold, n_z = z.n, sigma_nmad = z.sigma_nmad, z_bias = z.bias,
      z_outlier_fraction = z.outlier_fraction, n_richness = r.n, richness_scatter_dex = r.scatter,
      richness_bias_dex = r.bias}}
  return {metrics = m, selection = sel, tables = {metrics = t, selection = st}, figures = figures, section = section}
end

return M
