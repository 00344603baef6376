-- lua/report.lua: the paper's tables from hand-made sweeps (numbers and layout), CSV and JSON that
-- read back to the same values, the figures as PNG files, a run folder whose report.md holds every
-- table and figure link, and clear errors for bad input. DEEPCEE_REPORT_KEEP=1 keeps the folder.
local dc = require("deepcee")
local util = require("deepcee_util")
local report = require("report")

local helpers = dofile(assert(os.getenv("DEEPCEE_SOURCE_DIR"), "DEEPCEE_SOURCE_DIR is not set (ctest sets it)")
  .. "/tests/lua/helpers.lua")
local expect_error = helpers.expect_error

local function lines_of(text)
  local out = {}
  for l in (text .. "\n"):gmatch("(.-)\n") do out[#out + 1] = l end
  return out
end

local dir = os.tmpname()
os.remove(dir)
util.mkdir(dir)

-- ---------------------------------------------------------------- a tiny JSON decoder (test only)
local function json_decode(s)
  local pos = 1
  local function ws() pos = s:find("[^ \t\r\n]", pos) or #s + 1 end
  local value
  local function str()
    local out = {}
    pos = pos + 1
    while true do
      local c = s:sub(pos, pos)
      if c == '"' then pos = pos + 1 break end
      if c == "\\" then
        local e = s:sub(pos + 1, pos + 1)
        local map = {n = "\n", r = "\r", t = "\t", b = "\b", f = "\f", ['"'] = '"', ["\\"] = "\\", ["/"] = "/"}
        if e == "u" then
          out[#out + 1] = utf8.char(tonumber(s:sub(pos + 2, pos + 5), 16))
          pos = pos + 6
        else
          out[#out + 1] = assert(map[e], "bad escape")
          pos = pos + 2
        end
      else
        out[#out + 1] = c
        pos = pos + 1
      end
    end
    return table.concat(out)
  end
  function value()
    ws()
    local c = s:sub(pos, pos)
    if c == "{" then
      local t = {}
      pos = pos + 1
      ws()
      if s:sub(pos, pos) == "}" then pos = pos + 1 return t end
      while true do
        ws()
        local k = str()
        ws()
        assert(s:sub(pos, pos) == ":", "expected : at " .. pos)
        pos = pos + 1
        t[k] = value()
        ws()
        local d = s:sub(pos, pos)
        pos = pos + 1
        if d == "}" then return t end
        assert(d == ",", "expected , or } at " .. pos)
      end
    elseif c == "[" then
      local t = {}
      pos = pos + 1
      ws()
      if s:sub(pos, pos) == "]" then pos = pos + 1 return t end
      while true do
        t[#t + 1] = value()
        ws()
        local d = s:sub(pos, pos)
        pos = pos + 1
        if d == "]" then return t end
        assert(d == ",", "expected , or ] at " .. pos)
      end
    elseif c == '"' then
      return str()
    elseif s:sub(pos, pos + 3) == "true" then pos = pos + 4 return true
    elseif s:sub(pos, pos + 4) == "false" then pos = pos + 5 return false
    elseif s:sub(pos, pos + 3) == "null" then pos = pos + 4 return nil
    end
    local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
    assert(num and #num > 0, "bad JSON at " .. pos .. ": " .. s:sub(pos, pos + 20))
    pos = pos + #num
    return math.tointeger(tonumber(num)) or tonumber(num)
  end
  local v = value()
  ws()
  assert(pos == #s + 1, "trailing text after JSON at " .. pos)
  return v
end

local function deep_equal(a, b, path)
  path = path or "value"
  if type(a) ~= "table" or type(b) ~= "table" then
    assert(a == b, string.format("%s: %s ~= %s", path, tostring(a), tostring(b)))
    return
  end
  for k, v in pairs(a) do deep_equal(v, b[k], path .. "." .. tostring(k)) end
  for k in pairs(b) do assert(a[k] ~= nil, path .. "." .. tostring(k) .. " is extra") end
end

-- ---------------------------------------------------------------- JSON encoder
do
  local v = {name = 'quote " back \\ nl \n tab \t ctl \1 é', int = 42, float = 0.1, third = 1 / 3,
             big = 1e300, neg = -2.5e-7, yes = true, no = false, list = {1, 2.5, "x", {a = 1}}, empty = {}}
  local text = report.json(v)
  deep_equal(json_decode(text), v, "json")
  assert(report.json(0 / 0) == "null" and report.json(math.huge) == "null", "NaN and inf must become null")
  assert(report.json({b = 1, a = {2, 3}}, "") == '{"a":[2,3],"b":1}', report.json({b = 1, a = {2, 3}}, ""))
  assert(report.json(1 / 3) == "0.33333333333333331" or tonumber(report.json(1 / 3)) == 1 / 3)
  expect_error(function() report.json({[true] = 1}) end, "cannot be a JSON key")
end

-- ---------------------------------------------------------------- number format (paper tables)
assert(report.sig4(0.003317) == "0.003317")
assert(report.sig4(0.9951) == "0.9951")
assert(report.sig4(0.99996) == "1.000", report.sig4(0.99996))
assert(report.sig4(1) == "1.000" and report.sig4(0) == "0.0000")
assert(report.sig4(0.80) == "0.8000" and report.sig4(17.42) == "17.42")

-- ---------------------------------------------------------------- Table 2 from the paper's counts
-- The paper's Table 2 TP/FP/FN; precision, recall and F1 computed here from them must print as the
-- paper prints them (4 significant digits), and 80 % must be the best row.
local paper = {{0, 203, 60997, 1}, {0.1, 198, 538, 6}, {0.2, 197, 391, 7}, {0.3, 193, 302, 11},
  {0.4, 191, 243, 13}, {0.5, 188, 202, 16}, {0.6, 181, 163, 23}, {0.7, 177, 119, 27},
  {0.8, 165, 72, 39}, {0.9, 136, 29, 68}, {1.0, 0, 0, 204}}
local rows = {}
for i, p in ipairs(paper) do
  local tp, fp, fn = p[2], p[3], p[4]
  local prec = tp + fp > 0 and tp / (tp + fp) or 0
  local rec = tp / (tp + fn)
  local f1 = prec + rec > 0 and 2 * prec * rec / (prec + rec) or 0
  rows[i] = {threshold = p[1], tp = tp, fp = fp, fn = fn, n_above = tp + fp, precision = prec, recall = rec,
             f1 = f1, std_err_kpc = tp > 0 and 17.42 or nil}
end
local sweep = {rows = rows, best = 9, max_kpc = 100, simulated = false}
local t2 = report.pr_table(sweep, {what = "test set"})
local text = report.format_text(t2)
local tl = lines_of(text)
assert(tl[1] == "Precision, recall and F1 per confidence threshold: test set, 204 clusters, match within 100 kpc", tl[1])
assert(tl[2] == "Threshold (%)  # TP   # FP  # FN  Precision  Recall  F1-score", "header: [" .. tl[2] .. "]")
assert(tl[3] == "            0   203  60997     1   0.003317  0.9951  0.006612", "0 %: [" .. tl[3] .. "]")
assert(tl[11] == "           80   165     72    39     0.6962  0.8088    0.7483  <- best F1", "80 %: [" .. tl[11] .. "]")
assert(tl[12] == "           90   136     29    68     0.8242  0.6667    0.7371", "90 %: [" .. tl[12] .. "]")
assert(tl[13] == "          100     0      0   204     0.0000  0.0000    0.0000", "100 %: [" .. tl[13] .. "]")
assert(tl[14]:find("17.42 kpc over 165 true positives", 1, true), tl[14])
assert(not text:find("simulated"), "real data must not be labelled simulated")
for i = 3, 13 do assert(#tl[i]:gsub("  <%- best F1$", "") == #tl[2], "row " .. i .. " is not aligned with the header") end
-- best row found without result.best too (highest F1, first on ties)
local _, best = report.check_sweep(rows)
assert(best == 9, "best row " .. best)

-- CSV reads back to the same numbers, full precision
local csv = lines_of(report.format_csv(t2))
assert(csv[1] == "threshold,tp,fp,fn,precision,recall,f1,best,simulated", csv[1])
for i, row in ipairs(rows) do
  local f = {}
  for v in (csv[i + 1] .. ","):gmatch("([^,]*),") do f[#f + 1] = v end
  assert(tonumber(f[1]) == row.threshold and tonumber(f[2]) == row.tp and tonumber(f[3]) == row.fp and
         tonumber(f[4]) == row.fn, "CSV row " .. i .. " counts")
  assert(tonumber(f[5]) == row.precision and tonumber(f[6]) == row.recall and tonumber(f[7]) == row.f1,
    "CSV row " .. i .. " ratios do not read back exactly")
  assert(f[8] == (i == 9 and "1" or "0") and f[9] == "0", "CSV row " .. i .. " flags")
end
-- JSON reads back to the table's value
local tj = json_decode(report.format_json(t2))
deep_equal(tj, report.table_value(t2), "table json")
assert(tj.rows[9].best == true and tj.rows[8].best == false and tj.best == 9 and tj.simulated == false)
assert(tj.rows[1].fp == 60997 and tj.rows[9].precision == rows[9].precision)
-- markdown
local md = report.format_markdown(t2)
assert(md:find("| Threshold (%) | # TP | # FP | # FN | Precision | Recall | F1-score |", 1, true), md)
assert(md:find("| **80** | **165** | **72** | **39** | **0.6962** | **0.8088** | **0.7483** |", 1, true), md)

-- ---------------------------------------------------------------- a hand-made detection set through deepcee.match
-- 4 truths at z = 0.15 with a given scale of 2.5 kpc/arcsec; at 0.5 deg apart. Predictions:
-- truth 1 at 10" (25 kpc, score 0.95), truth 2 at 30" (75 kpc, 0.85), truth 3 at 50" (125 kpc: a
-- miss, 0.75), a duplicate near truth 1 (0.65), a stray far away (0.35). Truth 4 is never found.
do
  local truths, preds = {}, {}
  for j = 1, 4 do truths[j] = {ra = 10 + 0.5 * j, dec = 0, z = 0.15, kpc_per_arcsec = 2.5} end
  local function at(j, arcsec, score) return {ra = truths[j].ra, dec = arcsec / 3600, score = score} end
  preds = {at(1, 10, 0.95), at(2, 30, 0.85), at(3, 50, 0.75), at(1, 12, 0.65), {ra = 30, dec = 5, score = 0.35}}
  local m = dc.match(preds, truths, {thresholds = {0, 0.5, 0.8, 0.9}})
  m.simulated = true
  local t = report.pr_table(m, {name = "hand", what = "hand-made set"})
  -- expected: > 0: TP 2, FP 3, FN 2; > 0.5: TP 2 FP 2; > 0.8: TP 2 FP 0 (best); > 0.9: TP 1 FP 0
  local want = {{0, 2, 3, 2}, {0.5, 2, 2, 2}, {0.8, 2, 0, 2}, {0.9, 1, 0, 3}}
  for i, w in ipairs(want) do
    local r = t.rows[i]
    assert(r.threshold == w[1] and r.tp == w[2] and r.fp == w[3] and r.fn == w[4],
      string.format("hand row %d: %g %d %d %d", i, r.threshold, r.tp, r.fp, r.fn))
  end
  assert(t.best == 3, "hand best " .. t.best)
  assert(math.abs(t.rows[3].f1 - 2 * 1 * 0.5 / 1.5) < 1e-12)
  local tt = report.format_text(t)
  assert(tt:find("(simulated data)", 1, true), "simulated tables must say so")
  -- eq. 8 over the two TPs: sqrt((25^2 + 75^2) / 2) = 55.90 kpc
  assert(tt:find("55.90 kpc over 2 true positives", 1, true), tt)
end

-- ---------------------------------------------------------------- KS table (docs/facts.md section 7 references)
do
  local x, y, x2, y2 = {}, {}, {}, {}
  for i = 0, 9 do x[#x + 1] = i end
  for i = 5, 14 do y[#y + 1] = i end
  for i = 0, 19 do x2[#x2 + 1] = i end
  for i = 10, 39 do y2[#y2 + 1] = i end
  local a, b = dc.ks_2samp(x, y), dc.ks_2samp(x2, y2)
  a.property, b.property = "z", "richness"
  local t = report.ks_table({a, b}, {simulated = true})
  local tl = lines_of(report.format_text(t))
  assert(tl[1] == "Two-sample KS tests, returned vs all clusters (alpha = 0.05) (simulated data)", tl[1])
  assert(tl[2]:find("^Property%s+n returned%s+m all%s+D%s+Critical D%s+p%-value%s+Verdict$"), tl[2])
  assert(tl[3]:find("Redshift%s+10%s+10%s+0.5000%s+0.6074%s+0.1678%s+same %(H0 not rejected%)"), tl[3])
  assert(tl[4]:find("Richness%s+20%s+30%s+0.6667%s+0.3921%s+1.622e%-05%s+differ %(H0 rejected%)"), tl[4])
  local kj = json_decode(report.format_json(t))
  assert(kj.rows[1].d == 0.5 and math.abs(kj.rows[1].p - 0.1678213) < 1e-6 and kj.rows[2].verdict:find("differ"))
end

-- ---------------------------------------------------------------- a fake evaluated run: tables, figures, report
local function png_size(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local h = f:read(24)
  f:close()
  if not h or #h < 24 or h:sub(1, 8) ~= "\137PNG\r\n\26\n" then return nil end
  return string.unpack(">I4", h, 17), string.unpack(">I4", h, 21)
end

math.randomseed(5)
local truths, preds, props = {}, {}, {z = {}, bcg_rmag = {}, richness = {}}
for j = 1, 60 do
  truths[j] = {ra = 150 + 0.3 * j, dec = 1.0, z = 0.1 + 0.1 * math.random(), kpc_per_arcsec = 2.5}
  props.z[j], props.bcg_rmag[j], props.richness[j] = truths[j].z, 15 + 2 * math.random(), 20 + 60 * math.random() ^ 2
  if j <= 50 then
    local d = 30 * math.random() -- arcsec: up to 75 kpc
    preds[#preds + 1] = {ra = truths[j].ra + d / 3600, dec = 1.0, score = 0.5 + 0.5 * math.random()}
  end
end
for k = 1, 40 do preds[#preds + 1] = {ra = 100 + k, dec = -5, score = 0.9 * math.random()} end
local m = dc.match(preds, truths)
local found, distances, offsets = {z = {}, bcg_rmag = {}, richness = {}}, {}, {}
local thr = m.rows[m.best].threshold
for j, t in ipairs(m.truths) do
  local returned = t.score ~= nil and t.score > thr
  for _, p in ipairs({"z", "bcg_rmag", "richness"}) do
    if returned then found[p][#found[p] + 1] = props[p][j] end
  end
  if returned then distances[#distances + 1] = t.dist_kpc end
  offsets[j] = {x = 540 * math.random() - 270, y = 540 * math.random() - 270, returned = returned}
end
local ks = {}
for _, p in ipairs({"z", "bcg_rmag", "richness"}) do
  local r = dc.ks_2samp(found[p], props[p])
  r.property = p
  ks[#ks + 1] = r
end
local result = {rows = m.rows, best = m.best, ks = ks, distances = distances, offsets = offsets, all = props,
                found = found, max_kpc = 100, simulated = true, preds = m.preds, n_images = 60, n_predictions = #preds}

local section = report.write_evaluation(dir, result, {name = "test", what = "test set", quiet = true})
local want_plots = {"pr_test.png", "distances_test.png", "offsets_test.png", "properties_test.png"}
assert(#section.plots == #want_plots, "figures: " .. #section.plots)
for i, f in ipairs(want_plots) do
  assert(section.plots[i].file == f, section.plots[i].file)
  local w, h = png_size(dir .. "/" .. f)
  assert(w and w >= 500 and h >= 300, f .. " is not a PNG of a sensible size")
end
assert(select(1, png_size(dir .. "/pr_test.png")) == 900)
for _, f in ipairs({"test_table.txt", "test_table.csv", "test_table.json", "test_ks.txt", "test_ks.csv", "test_ks.json"}) do
  assert(util.exists(dir .. "/" .. f), f .. " missing")
end
assert(section.metrics.f1 == m.rows[m.best].f1 and section.metrics.clusters == 60)

-- losses (train.lua's columns plus extras, one NaN) -> Figs. 5 and 6
local lines = {"step,total,rpn_cls,rpn_box,dn_cls,dn_box,grad_norm,proposals"}
for s = 1, 300 do
  local e = math.exp(-s / 60)
  lines[#lines + 1] = string.format("%d,%.6f,%.6f,%.6f,%.6f,%s,%.3f,300", s, 2.5 * e + 0.4 + 0.1 * math.random(),
    0.7 * e + 0.05, 0.3 * e + 0.02 * math.random(), 0.6 * e + 0.1, s == 7 and "nan" or string.format("%.6f", 0.4 * e + 0.05), 3.0)
end
util.write_file(dir .. "/losses.csv", table.concat(lines, "\n") .. "\n")
local training = report.loss_section(dir, dir .. "/losses.csv", {simulated = true})
local w, h = png_size(dir .. "/losses_parts.png")
assert(w == 1200 and h == 900, "losses_parts.png size")
assert(png_size(dir .. "/losses_total.png"), "losses_total.png")

util.write_file(dir .. "/config.lua", "return {}\n")
local report_md, metrics_json = report.write_run(dir, {
  title = "deepcee test run", simulated = true, seed = 7, device = {name = "cpu", platform = "PoCL", type = "CPU"},
  config = {network = "demo", steps = 300, lr = 0.0002}, metrics = {steps = 300},
  sections = {training, section},
  files = {{file = "config.lua", caption = "effective configuration"}, {file = "weights.dcw", caption = "weights"}},
})
local rmd = assert(io.open(report_md)):read("a")
for _, needle in ipairs({"# deepcee test run (simulated data)", "**Simulated data.**", "| seed | 7 |",
    "| device | cpu (PoCL, CPU) |", "## Training", "## Evaluation: test set",
    "| Threshold (%) | # TP | # FP | # FN | Precision | Recall | F1-score |",
    "| Property | n returned | m all | D | Critical D | p-value | Verdict |",
    "Files: [CSV](test_table.csv), [JSON](test_table.json), [text](test_table.txt)",
    "[config.lua](config.lua): effective configuration", "[weights.dcw](weights.dcw): weights (missing)",
    '"network": "demo"', "Standard error of centre regression"}) do
  assert(rmd:find(needle, 1, true), "report.md lacks '" .. needle .. "'")
end
for _, f in ipairs({"losses_total.png", "losses_parts.png", "pr_test.png", "distances_test.png",
                    "offsets_test.png", "properties_test.png"}) do
  assert(rmd:find("](" .. f .. ")", 1, true), "report.md does not link " .. f)
end
local mj = json_decode(assert(io.open(metrics_json)):read("a"))
assert(mj.simulated == true and mj.seed == 7 and mj.metrics.steps == 300)
assert(mj.metrics.test.f1 == m.rows[m.best].f1, "metrics.json test f1")
assert(mj.tables.test_table.rows[m.best].best == true and #mj.plots == 6)

-- ---------------------------------------------------------------- the deepcee.plot binding
do
  local f = dir .. "/binding.png"
  assert(dc.plot{file = f, width = 320, height = 240, title = 12345,
    series = {{x = {1, 2, 3}, y = {3, 1, 2}, labels = {10, false, "c"}, style = "linepoints", color = 2}},
    lines = {{y = 2, label = "two"}}, notes = {{x = 1.5, y = 2.5, text = "note"}}} == f)
  local w, h = png_size(f)
  assert(w == 320 and h == 240, "binding.png size")
  assert(dc.plot{file = f, cols = 2, panels = {{hist = {{values = {1, 2, 2, 3}}}, bins = 3}, {xlog = true,
    series = {{x = {1, 10, 100}, y = {1, 2, 3}}}}}} == f)
  expect_error(function() dc.plot{file = f, titel = "x"} end, "plot: unknown key 'titel'")
  expect_error(function() dc.plot{file = f, panels = {{}}, title = "x"} end, "unknown key 'title'")
  expect_error(function() dc.plot{file = f, series = {{x = {1}, y = {1}, colour = "blue"}}} end,
    "plot.series[1]: unknown key 'colour'")
  expect_error(function() dc.plot{file = f, series = {{x = {1, 2}, y = {1}}}} end, "has 2 x values and 1 y values")
  expect_error(function() dc.plot{file = f, series = {{x = {1}, y = {"a"}}}} end, "plot.series[1].y[1] must be a number")
  expect_error(function() dc.plot{file = f, series = {{x = {1}, y = {1}, color = "pink"}}} end, "is not a palette colour")
  expect_error(function() dc.plot{file = f, series = {{x = {1}, y = {1}, style = "bars"}}} end, "style 'bars'")
  expect_error(function() dc.plot{file = f, legend = "middle"} end, "legend 'middle'")
  expect_error(function() dc.plot{file = f, lines = {{x = 1, y = 1}}} end, "exactly one of x")
  expect_error(function() dc.plot{file = f, ylog = true, series = {{x = {1}, y = {0}}}} end, "cannot go on a log axis")
  expect_error(function() dc.plot{title = "x"} end, "give file")
end

-- ---------------------------------------------------------------- bad input
expect_error(function() report.pr_table({rows = {}, simulated = true}) end, "no rows")
expect_error(function() report.pr_table({simulated = true}) end, "no rows")
local pct_rows = {{threshold = 80, tp = 1, fp = 0, fn = 0, precision = 1, recall = 1, f1 = 1}}
expect_error(function() report.pr_table({rows = pct_rows, simulated = true}) end,
  "row 1 threshold 80 is outside [0, 1] (thresholds are fractions: 0.8 for 80 %)")
local neg = {{threshold = 0.5, tp = -1, fp = 0, fn = 0, precision = 1, recall = 1, f1 = 1}}
expect_error(function() report.pr_table({rows = neg, simulated = true}) end, "row 1 tp = -1 must be a count")
local down = {{threshold = 0.5, tp = 1, fp = 0, fn = 0, precision = 1, recall = 1, f1 = 1},
              {threshold = 0.4, tp = 1, fp = 0, fn = 0, precision = 1, recall = 1, f1 = 1}}
expect_error(function() report.pr_table({rows = down, simulated = true}) end, "thresholds must increase")
expect_error(function() report.pr_table({rows = rows}) end, "say whether the data are simulated")
expect_error(function() report.pr_table({rows = rows, best = 12, simulated = true}) end, "best = 12 is not a row index")
expect_error(function() report.ks_table({}, {simulated = true}) end, "no KS results")
expect_error(function() report.plot_pr(dir .. "/x.png", {rows = {rows[11]}, simulated = true}) end,
  "no threshold with any detection above it")
expect_error(function() report.plot_offsets(dir .. "/x.png", {}, {simulated = true}) end, "no offsets")
expect_error(function() report.plot_pr("/nonexistent-deepcee/x.png", sweep) end, "cannot create /nonexistent-deepcee/x.png")
util.write_file(dir .. "/bad.csv", "step,total,rpn_cls,rpn_box,dn_cls\n1,2,3,4,5\n")
expect_error(function() report.read_losses(dir .. "/bad.csv") end, "has no column 'dn_box'")
util.write_file(dir .. "/bad.csv", "step,total,rpn_cls,rpn_box,dn_cls,dn_box\n1,2,3,4,5,6\n2,x,3,4,5,6\n")
expect_error(function() report.read_losses(dir .. "/bad.csv") end, "line 3 column total: 'x' is not a number")
util.write_file(dir .. "/bad.csv", "step,total,rpn_cls,rpn_box,dn_cls,dn_box\n")
expect_error(function() report.read_losses(dir .. "/bad.csv") end, "has no steps yet")
expect_error(function() report.read_losses(dir .. "/none.csv") end, "cannot read " .. dir .. "/none.csv")
expect_error(function()
  report.write_run(dir, {simulated = true, sections = {{title = "x", plots = {{file = "nope.png"}}}}})
end, "plot nope.png does not exist")
expect_error(function() report.write_run(dir, {sections = {}}) end, "say whether the data are simulated")
-- options: an unknown key or a value of another type is an error naming it, in every entry point
expect_error(function() report.pr_table(sweep, {titel = "x"}) end, "report.pr_table: unknown key 'titel'", "known keys:")
expect_error(function() report.pr_table(sweep, {title = 3}) end, "report.pr_table: key 'title' must be a string, got number")
expect_error(function() report.ks_table({{d = 0.1}}, {simulated = "yes"}) end, "key 'simulated' must be a boolean")
expect_error(function() report.plot_pr(dir .. "/x.png", sweep, {lable = "x"}) end, "report.plot_pr: unknown key 'lable'")
expect_error(function() report.plot_losses(dir .. "/l", dir .. "/losses.csv", {simulated = true, window = 2.5}) end,
  "report.plot_losses: window=2.5 must be an integer")
expect_error(function() report.plot_distances(dir .. "/x.png", {matched = {1}}, {simulated = true, threshold = 80}) end,
  "report.plot_distances: threshold=80 is out of range")
expect_error(function() report.plot_offsets(dir .. "/x.png", {{x = 1, y = 1}}, {simulated = true, units = "px"}) end,
  "unknown key 'units'")
expect_error(function() report.plot_properties(dir .. "/x.png", {}, {}, {simulated = true, kss = {}}) end, "unknown key 'kss'")
expect_error(function() report.write_evaluation(dir, result, {quiet = true, nmae = "x"}) end,
  "report.write_evaluation: unknown key 'nmae'")
expect_error(function() report.loss_section(dir, dir .. "/losses.csv", {simulated = true, windwo = 3}) end,
  "report.plot_losses: unknown key 'windwo'")
expect_error(function() report.fold_table({folds = {{}, {}}}, {nam = "x"}) end, "report.fold_table: unknown key 'nam'")
expect_error(function() report.write_kfold(dir, {folds = {{}, {}}}, {simulated = true, quite = true}) end,
  "report.write_kfold: unknown key 'quite'")
expect_error(function() report.write_fields(dir, result, {simulated = true, treshold = 0.5}) end,
  "report.write_fields: unknown key 'treshold'")
expect_error(function() report.write_run(dir, {simulated = true, sectoins = {}}) end, "report.write_run: unknown key 'sectoins'")
expect_error(function() report.write_run(dir, {simulated = true, device = 3}) end,
  "key 'device' must be a table or string, got number")

if os.getenv("DEEPCEE_REPORT_KEEP") then
  print("kept " .. dir)
else
  os.execute("rm -rf '" .. dir .. "'")
end
print("test_report.lua: ok")
