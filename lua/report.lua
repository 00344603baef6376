-- Reports of an experiment (issue 5): the paper's tables -- precision/recall/F1 per confidence
-- threshold in the layout of Tables 2 and 3, the KS tests, the standard error of centre regression
-- -- as aligned text, CSV, JSON and markdown; its figures (Figs. 5, 6, 12-15) as PNG files through
-- deepcee.plot; and a run folder's report.md and metrics.json tying them together.
--
-- Every table, figure and report carries "simulated" when the data are simulated: the inputs must
-- say which (simulated = true or false), so an unlabelled result cannot be written by accident.
--
-- A table here is {name =, title =, columns = {{key =, head =, fmt =}, ...}, rows = {...}, best =,
-- notes = {...}}: rows hold raw values by column key; text and markdown format them (4 significant
-- digits, as the paper), CSV and JSON keep full precision.
local dc = require("deepcee")
local util = require("deepcee_util")

local M = {}

-- ------------------------------------------------------------------ options

-- The options of every function here (util.config: an unknown key or a value of another type is
-- an error naming it). optional: no default; `simulated` absent means "as the result says".
local optional = util.optional
M.options = {
  pr_table = {
    name = "table2",                    -- file name
    title = optional("string"),         -- default: the set, its clusters and the match radius
    simulated = optional("boolean"),    -- default: result.simulated
    what = "test set",                  -- the set, in the title
    max_kpc = optional("number"),       -- match radius in the title; default: result.max_kpc
  },
  ks_table = {
    name = "ks",
    title = optional("string"),         -- default: returned vs all, with alpha
    simulated = optional("boolean"),    -- default: ks.simulated
  },
  plot_pr = {
    simulated = optional("boolean"),    -- default: the first curve's result.simulated
    title = "Precision vs recall per confidence threshold",
    label = optional("string"),         -- the curve's name when a single result is given
  },
  plot_losses = {
    simulated = optional("boolean"),    -- required
    window = optional("number"),        -- running mean over this many steps; default: about 1/40 of them
  },
  plot_distances = {
    simulated = optional("boolean"),    -- required
    max_kpc = optional("number"),       -- the match radius: a dashed line, and the x range (10 radii; 100 kpc if absent)
    threshold = optional("number"),     -- the threshold, in the titles
  },
  plot_offsets = {
    simulated = optional("boolean"),    -- required
    unit = "arcsec",
    threshold = optional("number"),     -- in the title
  },
  plot_properties = {
    simulated = optional("boolean"),    -- required
    ks = {},                            -- KS results (ks_table's list): D and p in the titles
    threshold = optional("number"),     -- in the titles
  },
  write_evaluation = {
    name = "test",                      -- file name part: <name>_table.*, pr_<name>.png, ...
    what = "test set",
    title = optional("string"),         -- the table's title (pr_table's default if absent)
    section_title = optional("string"), -- default: "Evaluation: " .. what
    quiet = false,                      -- true: print nothing
    simulated = optional("boolean"),    -- default: result.simulated
  },
  fold_table = {
    name = "kfold_folds",
    title = optional("string"),         -- default: k-fold by cluster, each fold at its best threshold
    simulated = optional("boolean"),    -- default: kf.pooled.simulated
  },
  write_kfold = {
    simulated = optional("boolean"),    -- default: kf.pooled.simulated
    quiet = false,
  },
  write_fields = {
    simulated = optional("boolean"),    -- default: result.simulated
    compare = {},                       -- {{what =, result = evaluate result}, ...}: the cut-out sets beside
    quiet = false,
    thresholds = {0, 0.5, 0.8, 0.9, 0.95}, -- the rows shown (and the best)
    fp_text = optional("string"),       -- a paragraph on the false positives' kinds
  },
  write_run = {
    title = "deepcee run",
    simulated = optional("boolean"),    -- required
    seed = optional("number"),
    device = optional("table", "string"), -- dc.device() or a text
    config = optional("table"),
    metrics = optional("table"),
    started = optional("number", "string"),
    seconds = optional("number"),
    sections = {},
    files = {},
  },
}
M.ranges = {
  plot_losses = {window = {1, 1e9, "integer"}},
  plot_distances = {max_kpc = {1e-9, 1e9}, threshold = {0, 1}},
  plot_offsets = {threshold = {0, 1}},
  plot_properties = {threshold = {0, 1}},
  pr_table = {max_kpc = {1e-9, 1e9}},
}

local function options(name, opts)
  return util.config(M.options[name], opts, "report." .. name, M.ranges[name])
end

-- ------------------------------------------------------------------ formatting

-- 4 significant digits, trailing zeros kept (0.003317, 0.9951, 1.000), as the paper's tables.
function M.sig4(v)
  if v ~= v then return "n/a" end
  if v == 0 then return "0.0000" end
  local decimals = math.max(0, 3 - math.floor(math.log(math.abs(v), 10)))
  local s = string.format("%." .. decimals .. "f", v)
  -- rounding up to the next power of ten (0.99996 -> "1.0000") adds a digit: drop it
  if decimals > 0 and #s:gsub("[^%d]", ""):gsub("^0+", "") > 4 then
    s = string.format("%." .. (decimals - 1) .. "f", v)
  end
  return s
end

local function int(v) return string.format("%d", v) end

local function pct(t)
  local p = t * 100
  if math.abs(p - math.floor(p + 0.5)) < 1e-9 then return string.format("%d", math.floor(p + 0.5)) end
  return string.format("%g", p)
end

local function pvalue(p)
  if p ~= p then return "n/a" end
  if p >= 1e-3 then return M.sig4(p) end
  return string.format("%.3e", p)
end

-- Shortest text that reads back as the same number (JSON, CSV).
local function number_text(v)
  if math.type(v) == "integer" then return tostring(v) end
  if v ~= v or v == math.huge or v == -math.huge then return nil end
  for _, f in ipairs({"%.15g", "%.16g", "%.17g"}) do
    local s = string.format(f, v)
    if tonumber(s) == v then return s end
  end
end

local function label_sim(text, simulated)
  if simulated then return text .. " (simulated data)" end
  return text
end

local function need_simulated(where, ...)
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if type(v) == "boolean" then return v end
  end
  error(where .. ": say whether the data are simulated (simulated = true or false)", 3)
end

-- ------------------------------------------------------------------ JSON

local function is_array(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
    count = count + 1
  end
  return count == n
end

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    local named = {['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
                   ["\b"] = "\\b", ["\f"] = "\\f"}
    return named[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

-- JSON text of a Lua value: tables with keys 1..n are arrays, other tables objects with sorted
-- keys (so the same value always gives the same text; an empty table is {}); NaN and infinities
-- become null. indent (default "  ") pretty-prints; "" writes one line.
function M.json(v, indent, depth)
  indent = indent or "  "
  depth = depth or 0
  local t = type(v)
  if t == "nil" then return "null" end
  if t == "boolean" then return tostring(v) end
  if t == "number" then return number_text(v) or "null" end
  if t == "string" then return json_string(v) end
  if t ~= "table" then error("report.json: cannot encode a " .. t, 2) end
  if depth > 100 then error("report.json: nesting deeper than 100 (a cycle?)", 2) end
  local nl = indent ~= "" and "\n" or ""
  local pad, inner = nl .. indent:rep(depth), nl .. indent:rep(depth + 1)
  local sep = indent ~= "" and ": " or ":"
  local parts = {}
  if is_array(v) then
    for i = 1, #v do parts[i] = M.json(v[i], indent, depth + 1) end
    return "[" .. inner .. table.concat(parts, "," .. inner) .. pad .. "]"
  end
  local keys = {}
  for k in pairs(v) do
    if type(k) ~= "string" and type(k) ~= "number" then
      error("report.json: table key of type " .. type(k) .. " cannot be a JSON key", 2)
    end
    keys[#keys + 1] = k
  end
  if #keys == 0 then return "{}" end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for i, k in ipairs(keys) do
    parts[i] = json_string(tostring(k)) .. sep .. M.json(v[k], indent, depth + 1)
  end
  return "{" .. inner .. table.concat(parts, "," .. inner) .. pad .. "}"
end

-- ------------------------------------------------------------------ tables

local function csv_field(v)
  if v == nil then return "" end
  if type(v) == "number" then return number_text(v) or "" end
  if type(v) == "boolean" then return v and "1" or "0" end
  local s = tostring(v)
  if s:find('[,"\n\r]') then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

local function cell(col, row)
  local v = row[col.key]
  if v == nil then return "" end
  return col.fmt and col.fmt(v) or tostring(v)
end

-- Aligned text: title line, header, one line per row (right-aligned), "<- best" on the best row,
-- then the notes.
function M.format_text(tbl)
  local widths = {}
  for c, col in ipairs(tbl.columns) do
    widths[c] = #col.head
    for _, row in ipairs(tbl.rows) do widths[c] = math.max(widths[c], #cell(col, row)) end
  end
  local function line(values)
    local parts = {}
    for c, v in ipairs(values) do parts[c] = string.rep(" ", widths[c] - #v) .. v end
    return table.concat(parts, "  ")
  end
  local heads = {}
  for c, col in ipairs(tbl.columns) do heads[c] = col.head end
  local out = {tbl.title, line(heads)}
  for r, row in ipairs(tbl.rows) do
    local values = {}
    for c, col in ipairs(tbl.columns) do values[c] = cell(col, row) end
    out[#out + 1] = line(values) .. (r == tbl.best and "  <- " .. (tbl.best_label or "best") or "")
  end
  for _, n in ipairs(tbl.notes or {}) do out[#out + 1] = n end
  return table.concat(out, "\n") .. "\n"
end

local function md_escape(s) return (s:gsub("|", "\\|")) end

-- A markdown table (numbers right-aligned) with the best row in bold, then the notes.
function M.format_markdown(tbl)
  local heads, rule = {}, {}
  for c, col in ipairs(tbl.columns) do
    heads[c] = md_escape(col.head)
    rule[c] = col.align == "left" and ":---" or "---:"
  end
  local out = {"| " .. table.concat(heads, " | ") .. " |", "|" .. table.concat(rule, "|") .. "|"}
  for r, row in ipairs(tbl.rows) do
    local values = {}
    for c, col in ipairs(tbl.columns) do
      local v = md_escape(cell(col, row))
      values[c] = (r == tbl.best and v ~= "") and "**" .. v .. "**" or v
    end
    out[#out + 1] = "| " .. table.concat(values, " | ") .. " |"
  end
  if tbl.best then out[#out + 1] = "\nBold: " .. (tbl.best_label or "the best row") .. "." end
  for _, n in ipairs(tbl.notes or {}) do out[#out + 1] = "\n" .. n end
  return table.concat(out, "\n") .. "\n"
end

-- CSV: a header of column keys, raw values at full precision; a `best` column (1 on the best row)
-- when the table has a best row. Simulated tables say so in a `simulated` column.
function M.format_csv(tbl)
  local keys = {}
  for c, col in ipairs(tbl.columns) do keys[c] = col.key end
  if tbl.best then keys[#keys + 1] = "best" end
  keys[#keys + 1] = "simulated"
  local out = {table.concat(keys, ",")}
  for r, row in ipairs(tbl.rows) do
    local values = {}
    for c, col in ipairs(tbl.columns) do values[c] = csv_field(row[col.key]) end
    if tbl.best then values[#values + 1] = r == tbl.best and "1" or "0" end
    values[#values + 1] = tbl.simulated and "1" or "0"
    out[#out + 1] = table.concat(values, ",")
  end
  return table.concat(out, "\n") .. "\n"
end

-- The table as a plain value for JSON: {title, simulated, columns = {keys}, headers, rows =
-- {{key = value}}, best (1-based or absent)}.
function M.table_value(tbl)
  local keys, heads, rows = {}, {}, {}
  for c, col in ipairs(tbl.columns) do keys[c], heads[c] = col.key, col.head end
  for r, row in ipairs(tbl.rows) do
    local copy = {}
    for _, col in ipairs(tbl.columns) do copy[col.key] = row[col.key] end
    if tbl.best then copy.best = r == tbl.best end
    rows[r] = copy
  end
  return {name = tbl.name, title = tbl.title, simulated = tbl.simulated, columns = keys, headers = heads,
          rows = rows, best = tbl.best, notes = tbl.notes}
end

function M.format_json(tbl) return M.json(M.table_value(tbl)) .. "\n" end

function M.print_table(tbl)
  io.write("\n", M.format_text(tbl))
  io.stdout:flush()
end

-- Write <dir>/<name>.txt, .csv and .json; records and returns the file names (relative to dir).
function M.write_table(tbl, dir)
  local files = {txt = tbl.name .. ".txt", csv = tbl.name .. ".csv", json = tbl.name .. ".json"}
  util.write_file(dir .. "/" .. files.txt, M.format_text(tbl))
  util.write_file(dir .. "/" .. files.csv, M.format_csv(tbl))
  util.write_file(dir .. "/" .. files.json, M.format_json(tbl))
  tbl.files = files
  return files
end

-- ------------------------------------------------------------------ the paper's tables

local function check_count(where, r, key, row)
  local v = row[key]
  if not (type(v) == "number" and v >= 0 and v == math.floor(v)) then
    error(string.format("%s: row %d %s = %s must be a count (an integer >= 0)", where, r, key, tostring(v)), 3)
  end
end

local function check_ratio(where, r, key, row)
  local v = row[key]
  if type(v) ~= "number" or not (v >= 0 and v <= 1) then
    error(string.format("%s: row %d %s = %s must be a number in [0, 1]", where, r, key, tostring(v)), 3)
  end
end

-- The rows of a sweep (deepcee.match's result or its rows), checked: at least one row; each with
-- a threshold in [0, 1] (fractions: 0.8 is 80 %), counts and ratios in range. Returns rows, best.
function M.check_sweep(result, where)
  where = where or "report"
  if type(result) ~= "table" then error(where .. ": expected a match result or a list of rows, got " .. type(result), 3) end
  local rows = result.rows or result
  if type(rows) ~= "table" or #rows == 0 then
    error(where .. ": no rows (an empty threshold sweep has nothing to report)", 3)
  end
  for r, row in ipairs(rows) do
    if type(row) ~= "table" then error(string.format("%s: row %d is a %s, not a table", where, r, type(row)), 3) end
    local t = row.threshold
    if type(t) ~= "number" or not (t >= 0 and t <= 1) then
      error(string.format("%s: row %d threshold %s is outside [0, 1] (thresholds are fractions: 0.8 for 80 %%)",
        where, r, tostring(t)), 3)
    end
    if r > 1 and not (t > rows[r - 1].threshold) then
      error(string.format("%s: thresholds must increase; row %d has %s after %s", where, r, tostring(t),
        tostring(rows[r - 1].threshold)), 3)
    end
    for _, k in ipairs({"tp", "fp", "fn"}) do check_count(where, r, k, row) end
    for _, k in ipairs({"precision", "recall", "f1"}) do check_ratio(where, r, k, row) end
  end
  local best = result.rows and result.best
  if best ~= nil and (math.type(best) ~= "integer" or best < 1 or best > #rows) then
    error(string.format("%s: best = %s is not a row index 1..%d", where, tostring(best), #rows), 3)
  end
  if not best then -- highest F1, the first (lowest threshold) on ties, as deepcee.match
    best = 1
    for r, row in ipairs(rows) do if row.f1 > rows[best].f1 then best = r end end
  end
  return rows, best
end

-- The paper's Table 2 / Table 3 layout: threshold (%), # TP, # FP, # FN, precision, recall,
-- F1-score; the best threshold by F1 marked. opts: name (file name, default "table2"), title,
-- simulated (or result.simulated), what (the set, e.g. "test set"), max_kpc.
function M.pr_table(result, opts)
  opts = options("pr_table", opts)
  local rows, best = M.check_sweep(result, "report.pr_table")
  local simulated = need_simulated("report.pr_table", opts.simulated, result.simulated)
  local n_truth = rows[1].tp + rows[1].fn
  local max_kpc = opts.max_kpc or result.max_kpc
  local title = opts.title or string.format("Precision, recall and F1 per confidence threshold: %s, %d clusters%s",
    opts.what, n_truth, max_kpc and string.format(", match within %g kpc", max_kpc) or "")
  local tbl = {
    name = opts.name, title = label_sim(title, simulated), simulated = simulated,
    columns = {
      {key = "threshold", head = "Threshold (%)", fmt = pct},
      {key = "tp", head = "# TP", fmt = int}, {key = "fp", head = "# FP", fmt = int},
      {key = "fn", head = "# FN", fmt = int},
      {key = "precision", head = "Precision", fmt = M.sig4}, {key = "recall", head = "Recall", fmt = M.sig4},
      {key = "f1", head = "F1-score", fmt = M.sig4}},
    rows = {}, best = best, best_label = "best F1",
    notes = {M.std_err_text(rows[best])},
  }
  for r, row in ipairs(rows) do
    tbl.rows[r] = {threshold = row.threshold, tp = row.tp, fp = row.fp, fn = row.fn,
                   precision = row.precision, recall = row.recall, f1 = row.f1}
  end
  return tbl
end

-- One line: the standard error of centre regression (paper eq. 8) of a sweep row.
function M.std_err_text(row)
  local at = string.format("at the %s %% threshold", pct(row.threshold))
  if row.tp == 0 or not row.std_err_kpc then
    return "Standard error of centre regression " .. at .. ": undefined (no true positives)"
  end
  return string.format("Standard error of centre regression (eq. 8) %s: %.2f kpc over %d true positives " ..
    "(95 %% of centres within %.1f kpc)", at, row.std_err_kpc, row.tp, 1.96 * row.std_err_kpc)
end

-- One line: the best threshold with its precision, recall and F1.
function M.best_text(result, what)
  local rows, best = M.check_sweep(result, "report.best_text")
  local r = rows[best]
  return string.format("%s: best F1 %.3f at the %s %% threshold (precision %.3f, recall %.3f; TP %d, FP %d, FN %d)",
    what or "best", r.f1, pct(r.threshold), r.precision, r.recall, r.tp, r.fp, r.fn)
end

M.property_names = {z = "Redshift", bcg_rmag = "BCG r magnitude", richness = "Richness"}

-- The KS tests (deepcee.ks_2samp results with a `property` each): property, n returned, m all,
-- D, critical value at alpha, p-value, verdict. opts: name (default "ks"), title, simulated.
function M.ks_table(ks, opts)
  opts = options("ks_table", opts)
  if type(ks) ~= "table" or #ks == 0 then
    error("report.ks_table: no KS results (were any clusters returned at the chosen threshold?)", 2)
  end
  local simulated = need_simulated("report.ks_table", opts.simulated, ks.simulated)
  local rows, alpha = {}, nil
  for i, r in ipairs(ks) do
    for _, k in ipairs({"d", "d_crit", "p", "alpha"}) do
      if type(r[k]) ~= "number" then
        error(string.format("report.ks_table: result %d (%s) has no number %s", i, tostring(r.property), k), 2)
      end
    end
    if not (r.d >= 0 and r.d <= 1) then
      error(string.format("report.ks_table: result %d D = %s is outside [0, 1]", i, tostring(r.d)), 2)
    end
    alpha = alpha or r.alpha
    rows[i] = {property = M.property_names[r.property] or tostring(r.property or i), n = r.n, m = r.m, d = r.d,
               d_crit = r.d_crit, p = r.p,
               verdict = r.reject and "differ (H0 rejected)" or "same (H0 not rejected)"}
  end
  local title = opts.title or string.format(
    "Two-sample KS tests, returned vs all clusters (alpha = %g)", alpha)
  return {
    name = opts.name, title = label_sim(title, simulated), simulated = simulated,
    columns = {
      {key = "property", head = "Property", align = "left"},
      {key = "n", head = "n returned", fmt = int}, {key = "m", head = "m all", fmt = int},
      {key = "d", head = "D", fmt = M.sig4}, {key = "d_crit", head = "Critical D", fmt = M.sig4},
      {key = "p", head = "p-value", fmt = pvalue}, {key = "verdict", head = "Verdict", align = "left"}},
    rows = rows,
  }
end

-- ------------------------------------------------------------------ figures

local function title_sim(text, simulated)
  if simulated then return text .. " [simulated]" end
  return text
end

local function finite_list(v, where)
  if type(v) ~= "table" then error(where .. " must be a list of numbers", 3) end
  local out = {}
  for i, x in ipairs(v) do
    if type(x) ~= "number" then error(string.format("%s[%d] must be a number, got %s", where, i, type(x)), 3) end
    if x == x and x ~= math.huge and x ~= -math.huge then out[#out + 1] = x end
  end
  return out
end

-- Precision-recall curve with each point labelled by its threshold (paper Figs. 12 and 17) and
-- the best threshold highlighted. curves: a match result, or a list of {result =, label =} (at
-- most 3). Thresholds with nothing above them (precision undefined, as the paper's 100 %) are
-- left out. opts: simulated, title, label (for a single result).
function M.plot_pr(file, curves, opts)
  opts = options("plot_pr", opts)
  if curves.rows then curves = {{result = curves, label = opts.label}} end
  if #curves == 0 or #curves > 3 then error("report.plot_pr: give 1 to 3 curves, got " .. #curves, 2) end
  local simulated = need_simulated("report.plot_pr", opts.simulated, curves[1].result.simulated)
  local line_colors, best_colors = {"blue", "green", "sky"}, {"vermillion", "orange", "purple"}
  local series = {}
  for c, cv in ipairs(curves) do
    local rows, best = M.check_sweep(cv.result, "report.plot_pr")
    local name = cv.label or "detections"
    local s = {x = {}, y = {}, labels = {}, style = "linepoints", color = line_colors[c], label = name}
    for _, r in ipairs(rows) do
      if r.tp + r.fp > 0 then
        s.x[#s.x + 1], s.y[#s.y + 1] = r.recall, r.precision
        s.labels[#s.labels + 1] = pct(r.threshold) .. "%"
      end
    end
    if #s.x == 0 then error("report.plot_pr: curve " .. c .. " has no threshold with any detection above it", 2) end
    series[c] = s
    local b = rows[best]
    -- the highlight comes after every curve, so its label is placed first
    series[#curves + c] = {x = {b.recall}, y = {b.precision}, style = "points", color = best_colors[c], width = 1.5,
      labels = {pct(b.threshold) .. "%"},
      label = string.format("%s: best F1 %.3f at %s %%", name, b.f1, pct(b.threshold))}
  end
  return dc.plot{file = file, width = 900, height = 700, series = series,
    title = title_sim(opts.title, simulated),
    xlabel = "Recall", ylabel = "Precision", xmin = 0, xmax = 1.05, ymin = 0, ymax = 1.05,
    legend = "bottom-left"}
end

local LOSS_PARTS = {
  {key = "rpn_cls", title = "(a) RPN objectness"}, {key = "rpn_box", title = "(b) RPN box regression"},
  {key = "dn_cls", title = "(c) DN classification"}, {key = "dn_box", title = "(d) DN box regression"}}

-- The columns step, total, rpn_cls, rpn_box, dn_cls, dn_box of a losses CSV (train.lua's
-- losses.csv; other columns ignored; "nan" values kept as NaN).
function M.read_losses(path)
  local f, err = io.open(path, "r")
  if not f then error("report.read_losses: cannot read " .. path .. ": " .. tostring(err), 2) end
  local header = f:read("l")
  if not header then f:close() error("report.read_losses: " .. path .. " is empty (no header)", 2) end
  local index = {}
  local k = 0
  for name in (header .. ","):gmatch("([^,]*),") do
    k = k + 1
    index[name:gsub("%s", "")] = k
  end
  local want = {"step", "total", "rpn_cls", "rpn_box", "dn_cls", "dn_box"}
  for _, name in ipairs(want) do
    if not index[name] then
      f:close()
      error(string.format("report.read_losses: %s has no column '%s' (header: %s)", path, name, header), 2)
    end
  end
  local cols = {}
  for _, name in ipairs(want) do cols[name] = {} end
  local line_no = 1
  for line in f:lines() do
    line_no = line_no + 1
    if line:match("%S") then
      local fields = {}
      for v in (line .. ","):gmatch("([^,]*),") do fields[#fields + 1] = v end
      for _, name in ipairs(want) do
        local text = fields[index[name]] or ""
        local v = tonumber(text)
        if not v and text:lower():match("^%s*[-+]?nan%s*$") then v = 0 / 0 end
        if not v then
          f:close()
          error(string.format("report.read_losses: %s line %d column %s: '%s' is not a number", path, line_no, name, text), 2)
        end
        local c = cols[name]
        c[#c + 1] = v
      end
    end
  end
  f:close()
  if #cols.step == 0 then error("report.read_losses: " .. path .. " has no steps yet", 2) end
  return cols
end

-- A trailing mean over `window` values (NaN skipped).
local function running_mean(v, window)
  local out, sum, n, q = {}, 0, 0, {}
  for i, x in ipairs(v) do
    q[i] = x
    if x == x then sum, n = sum + x, n + 1 end
    local old = q[i - window]
    if old and old == old then sum, n = sum - old, n - 1 end
    out[i] = n > 0 and sum / n or 0 / 0
  end
  return out
end

-- The per-step values and their running mean as two series.
local function loss_panel(steps, v, window)
  local x, y, mx, my = {}, {}, {}, {}
  local mean = running_mean(v, window)
  local lo, hi = math.huge, -math.huge
  for i = 1, #steps do
    if v[i] == v[i] then
      x[#x + 1], y[#y + 1] = steps[i], v[i]
      lo, hi = math.min(lo, v[i]), math.max(hi, v[i])
    end
    if mean[i] == mean[i] then mx[#mx + 1], my[#my + 1] = steps[i], mean[i] end
  end
  local series = {{x = x, y = y, label = "per step", color = "sky", width = 0.6}}
  if window > 1 then
    series[2] = {x = mx, y = my, label = string.format("mean of %d steps", window), color = "blue", width = 1.3}
  end
  -- a log axis where the losses span more than a factor 30 (PLplot labels decades only)
  return {xlabel = "step", ylabel = "loss", ylog = lo > 0 and hi / lo > 30, series = series}
end

-- Training losses over steps from a losses CSV: <prefix>_total.png (paper Fig. 5) and
-- <prefix>_parts.png (Fig. 6: RPN objectness and box regression, DN classification and box
-- regression). opts: simulated (required), window (running mean; default about 1/40 of the steps).
-- Returns {total =, parts =} file names.
function M.plot_losses(prefix, csv_path, opts)
  opts = options("plot_losses", opts)
  local simulated = need_simulated("report.plot_losses", opts.simulated)
  local l = M.read_losses(csv_path)
  local window = opts.window or math.max(1, #l.step // 40)
  local files = {total = prefix .. "_total.png", parts = prefix .. "_parts.png"}
  local total = loss_panel(l.step, l.total, window)
  total.title = title_sim("Total training loss", simulated)
  dc.plot{file = files.total, width = 900, height = 560, title = total.title, xlabel = total.xlabel,
    ylabel = total.ylabel, ylog = total.ylog, series = total.series}
  local panels = {}
  for i, part in ipairs(LOSS_PARTS) do
    panels[i] = loss_panel(l.step, l[part.key], window)
    panels[i].title = title_sim(part.title, simulated)
  end
  dc.plot{file = files.parts, width = 1200, height = 900, cols = 2, panels = panels}
  return files
end

-- Distances from predicted to true centres in kpc (paper Fig. 13): d = {all = {...} (every
-- prediction above the threshold: distance to its nearest true cluster), matched = {...} (the
-- true positives)}; either may be absent. opts: simulated, max_kpc (dashed line), threshold.
function M.plot_distances(file, d, opts)
  opts = options("plot_distances", opts)
  local simulated = need_simulated("report.plot_distances", opts.simulated)
  local at = opts.threshold and string.format(" at the %s %% threshold", pct(opts.threshold)) or ""
  local line = opts.max_kpc and {{x = opts.max_kpc, label = string.format("%g kpc", opts.max_kpc)}} or nil
  local panels = {}
  if d.all then
    -- far false positives (another part of the sky) would squash the scale: show up to 10 match
    -- radii and count the rest
    local all = finite_list(d.all, "report.plot_distances: all")
    local limit = 10 * (opts.max_kpc or 100)
    local beyond = 0
    for _, v in ipairs(all) do if v > limit then beyond = beyond + 1 end end
    panels[#panels + 1] = {title = title_sim("All predictions" .. at .. ": distance to the nearest true centre", simulated),
      xlabel = "distance (kpc)", ylabel = "predictions",
      hist = {{values = all, color = "grey", label = string.format("%d predictions, %d beyond %g kpc", #all, beyond, limit)}},
      bins = 40, lines = line, xmin = 0, xmax = limit}
  end
  if d.matched then
    local m = finite_list(d.matched, "report.plot_distances: matched")
    panels[#panels + 1] = {title = title_sim("True positives" .. at .. ": distance to the true centre", simulated),
      xlabel = "distance (kpc)", ylabel = "predictions",
      hist = {{values = m, color = "blue", label = string.format("%d true positives", #m)}},
      bins = 20, lines = line, xmin = 0, legend = "top-left"} -- the match radius line sits at the right
  end
  if #panels == 0 then error("report.plot_distances: give all and/or matched distances", 2) end
  return dc.plot{file = file, width = 900, height = 380 * #panels + 80, cols = 1, panels = panels}
end

-- Offsets of the true cluster centres from the image centres (paper Fig. 14): offsets = list of
-- {x =, y =, returned = true/false}; all in grey, returned in blue. opts: simulated, unit
-- (default "arcsec"), threshold.
function M.plot_offsets(file, offsets, opts)
  opts = options("plot_offsets", opts)
  local simulated = need_simulated("report.plot_offsets", opts.simulated)
  if type(offsets) ~= "table" or #offsets == 0 then error("report.plot_offsets: no offsets", 2) end
  local ax, ay, rx, ry = {}, {}, {}, {}
  for i, o in ipairs(offsets) do
    if type(o.x) ~= "number" or type(o.y) ~= "number" then
      error(string.format("report.plot_offsets: offsets[%d] needs numbers x and y", i), 2)
    end
    ax[#ax + 1], ay[#ay + 1] = o.x, o.y
    if o.returned then rx[#rx + 1], ry[#ry + 1] = o.x, o.y end
  end
  local unit = opts.unit
  local at = opts.threshold and string.format(" at %s %%", pct(opts.threshold)) or ""
  return dc.plot{file = file, width = 800, height = 800, square = true,
    title = title_sim(string.format("Offsets of true centres: %d of %d returned%s", #rx, #ax, at), simulated),
    xlabel = "offset x (" .. unit .. ")", ylabel = "offset y (" .. unit .. ")",
    series = {{x = ax, y = ay, style = "points", color = "grey", label = "all"},
              {x = rx, y = ry, style = "points", color = "blue", width = 0.6, label = "returned"}},
    legend = "none"}
end

-- Histograms of cluster properties, returned vs all (paper Fig. 15): all and found are
-- {z = {...}, bcg_rmag = {...}, richness = {...}} (evaluate.lua's result.all and result.found);
-- properties without values are skipped. opts: simulated, ks (list as ks_table takes: D and p in
-- the titles), threshold.
function M.plot_properties(file, all, found, opts)
  opts = options("plot_properties", opts)
  local simulated = need_simulated("report.plot_properties", opts.simulated)
  local ks = {}
  for _, r in ipairs(opts.ks) do ks[r.property] = r end
  local at = opts.threshold and string.format(" at %s %%", pct(opts.threshold)) or ""
  local panels = {}
  for _, p in ipairs({"z", "bcg_rmag", "richness"}) do
    local a = finite_list(all[p] or {}, "report.plot_properties: all." .. p)
    local f = finite_list(found[p] or {}, "report.plot_properties: found." .. p)
    if #a > 0 then
      local name = M.property_names[p]
      local title = name
      if ks[p] then title = string.format("%s: KS D = %.3f, p = %s", name, ks[p].d, pvalue(ks[p].p)) end
      panels[#panels + 1] = {title = title_sim(title, simulated), xlabel = name, ylabel = "clusters",
        hist = {{values = a, label = string.format("all (%d)", #a), color = "grey"},
                {values = f, label = string.format("returned%s (%d)", at, #f), color = "blue"}},
        bins = math.max(6, math.min(25, math.floor(math.sqrt(#a) * 1.5)))}
    end
  end
  if #panels == 0 then error("report.plot_properties: no property has any value", 2) end
  return dc.plot{file = file, width = 560 * #panels, height = 520, cols = #panels, panels = panels}
end

-- ------------------------------------------------------------------ one evaluated set

-- Tables, figures and metrics of one evaluated set (lua/evaluate.lua's result: rows, best, ks,
-- distances, offsets, all, found, max_kpc, simulated; optionally preds = deepcee.match's preds for
-- the all-predictions distance panel). Writes <name>_table.* , <name>_ks.*, pr_<name>.png,
-- distances_<name>.png, offsets_<name>.png, properties_<name>.png into dir, prints the tables
-- unless opts.quiet, and returns a section for write_run. opts: name ("test"), what ("test
-- set"), title (table title), quiet, simulated (else result.simulated).
function M.write_evaluation(dir, result, opts)
  opts = options("write_evaluation", opts)
  local name = opts.name
  local what = opts.what
  local simulated = need_simulated("report.write_evaluation", opts.simulated, result.simulated)
  local rows, best = M.check_sweep(result, "report.write_evaluation")
  local b = rows[best]
  local section = {name = name, title = opts.section_title or ("Evaluation: " .. what), tables = {}, plots = {},
                   text = {M.best_text(result, what)}}
  local pr = M.pr_table(result, {name = name .. "_table", title = opts.title, what = what, simulated = simulated})
  section.tables[1] = pr
  if result.ks and #result.ks > 0 then
    section.tables[2] = M.ks_table(result.ks, {name = name .. "_ks", simulated = simulated,
      title = string.format("Two-sample KS tests, %s: returned at the %s %% threshold vs all (alpha = %g)",
        what, pct(b.threshold), result.ks[1].alpha)})
  end
  for _, t in ipairs(section.tables) do
    M.write_table(t, dir)
    if not opts.quiet then M.print_table(t) end
  end
  local function add_plot(file, caption)
    section.plots[#section.plots + 1] = {file = file, caption = caption}
  end
  M.plot_pr(dir .. "/pr_" .. name .. ".png", result, {label = what, simulated = simulated})
  add_plot("pr_" .. name .. ".png", "Precision vs recall per confidence threshold, " .. what .. " (paper Fig. 12/17)")
  local d = {}
  if result.distances and #result.distances > 0 then d.matched = result.distances end
  if result.preds then
    d.all = {}
    for _, p in ipairs(result.preds) do
      if p.score > b.threshold and p.nearest_kpc then d.all[#d.all + 1] = p.nearest_kpc end
    end
    if #d.all == 0 then d.all = nil end
  end
  if d.all or d.matched then
    M.plot_distances(dir .. "/distances_" .. name .. ".png", d,
      {simulated = simulated, max_kpc = result.max_kpc, threshold = b.threshold})
    add_plot("distances_" .. name .. ".png", "Predicted-to-true centre distances, " .. what .. " (paper Fig. 13)")
  end
  if result.offsets and #result.offsets > 0 then
    M.plot_offsets(dir .. "/offsets_" .. name .. ".png", result.offsets, {simulated = simulated, threshold = b.threshold})
    add_plot("offsets_" .. name .. ".png", "Offsets of the true centres from the image centres, returned vs all, " ..
      what .. " (paper Fig. 14)")
  end
  local has_property = false
  for _, p in ipairs({"z", "bcg_rmag", "richness"}) do
    has_property = has_property or (result.all and result.all[p] and #result.all[p] > 0)
  end
  if has_property and result.found then
    M.plot_properties(dir .. "/properties_" .. name .. ".png", result.all, result.found,
      {simulated = simulated, ks = result.ks, threshold = b.threshold})
    add_plot("properties_" .. name .. ".png", "Redshift, BCG r magnitude and richness, returned vs all, " ..
      what .. " (paper Fig. 15)")
  end
  section.metrics = {best_threshold = b.threshold, precision = b.precision, recall = b.recall, f1 = b.f1,
    tp = b.tp, fp = b.fp, fn = b.fn, std_err_kpc = b.std_err_kpc, clusters = b.tp + b.fn,
    n_images = result.n_images, n_predictions = result.n_predictions, max_kpc = result.max_kpc}
  if not opts.quiet then print(M.std_err_text(b)) print(section.text[1]) io.stdout:flush() end
  return section
end

-- The training-loss figures as a section for write_run (files <dir>/losses_total.png and
-- losses_parts.png).
function M.loss_section(dir, csv_path, opts)
  local files = M.plot_losses(dir .. "/losses", csv_path, opts)
  local rel = function(p) return p:sub(#dir + 2) end
  return {name = "training", title = "Training", plots = {
    {file = rel(files.total), caption = "Total training loss over steps (paper Fig. 5)"},
    {file = rel(files.parts), caption = "RPN and detection-network losses over steps (paper Fig. 6)"}}}
end

-- ------------------------------------------------------------------ k-fold cross-validation

-- One row per fold (lua/kfold.lua's result): its clusters and images, its best threshold with
-- TP/FP/FN, precision, recall, F1 and standard error, the unseen region's best F1 when evaluated,
-- and the training steps; the fold with the highest F1 marked (the paper would pick that fold to
-- represent the split). opts: name (default "kfold_folds"), title, simulated.
function M.fold_table(kf, opts)
  opts = options("fold_table", opts)
  if type(kf) ~= "table" or type(kf.folds) ~= "table" or #kf.folds < 2 then
    error("report.fold_table: give lua/kfold.lua's result (at least 2 folds)", 2)
  end
  local simulated = need_simulated("report.fold_table", opts.simulated, kf.pooled and kf.pooled.simulated)
  local rows, has_unseen, best = {}, false, 1
  for f, fr in ipairs(kf.folds) do
    local sweep, b = M.check_sweep(fr.test, "report.fold_table")
    local r = sweep[b]
    rows[f] = {fold = fr.fold or f, train_clusters = fr.train_clusters, test_clusters = #fr.test_clusters,
      test_images = fr.test_images, threshold = r.threshold, tp = r.tp, fp = r.fp, fn = r.fn,
      precision = r.precision, recall = r.recall, f1 = r.f1, std_err_kpc = r.std_err_kpc, steps = fr.steps}
    if fr.unseen then
      local us, ub = M.check_sweep(fr.unseen, "report.fold_table")
      rows[f].unseen_threshold, rows[f].unseen_f1 = us[ub].threshold, us[ub].f1
      has_unseen = true
    end
    if r.f1 > rows[best].f1 then best = f end
  end
  local function kpc(v) return v == v and string.format("%.1f", v) or "n/a" end
  local columns = {
    {key = "fold", head = "Fold", fmt = int}, {key = "train_clusters", head = "Train clusters", fmt = int},
    {key = "test_clusters", head = "Test clusters", fmt = int}, {key = "test_images", head = "Test images", fmt = int},
    {key = "threshold", head = "Best threshold (%)", fmt = pct},
    {key = "tp", head = "# TP", fmt = int}, {key = "fp", head = "# FP", fmt = int}, {key = "fn", head = "# FN", fmt = int},
    {key = "precision", head = "Precision", fmt = M.sig4}, {key = "recall", head = "Recall", fmt = M.sig4},
    {key = "f1", head = "F1-score", fmt = M.sig4}, {key = "std_err_kpc", head = "Std. error (kpc)", fmt = kpc}}
  if has_unseen then
    columns[#columns + 1] = {key = "unseen_threshold", head = "Unseen best threshold (%)", fmt = pct}
    columns[#columns + 1] = {key = "unseen_f1", head = "Unseen F1", fmt = M.sig4}
  end
  columns[#columns + 1] = {key = "steps", head = "Steps", fmt = int}
  local title = opts.title or string.format("%d-fold cross-validation by cluster: each fold's test clusters at its " ..
    "best threshold", #kf.folds)
  return {name = opts.name, title = label_sim(title, simulated), simulated = simulated,
    columns = columns, rows = rows, best = best, best_label = "best fold",
    notes = {string.format("Best F1 over the %d folds: mean %.4f, standard deviation %.4f (sample, k - 1).",
      #kf.folds, kf.mean_f1, kf.std_f1)}}
end

-- The k-fold part of a run folder (lua/kfold.lua's result): kfold_folds.{txt,csv,json} (the fold
-- table), the pooled evaluation over every cluster as write_evaluation writes it under the name
-- kfold_pooled (Table 2 layout, KS tests, figures), and kfold.json (each fold's clusters and full
-- threshold sweep, the pooled sweep, mean and standard deviation of the best F1). Prints the
-- tables unless opts.quiet. Returns a section for write_run. opts: simulated, quiet.
function M.write_kfold(dir, kf, opts)
  opts = options("write_kfold", opts)
  local ft = M.fold_table(kf, {simulated = opts.simulated})
  local simulated = ft.simulated
  local k = #kf.folds
  M.write_table(ft, dir)
  if not opts.quiet then M.print_table(ft) end
  local sim = simulated and "simulated " or ""
  local section = M.write_evaluation(dir, kf.pooled, {name = "kfold_pooled", simulated = simulated, quiet = opts.quiet,
    what = string.format("%s%d-fold test clusters, pooled", sim, k),
    title = string.format("Table 2 (%s%d-fold cross-validation: every cluster tested once, pooled)", sim, k),
    section_title = string.format("%d-fold cross-validation by cluster", k)})
  local best = ft.rows[ft.best]
  table.insert(section.tables, 1, ft)
  table.insert(section.text, 1, string.format("The %d clusters were dealt into %d folds by cluster (seed %s; all " ..
    "offset cut-outs of a cluster in one fold). Each fold's model was trained from scratch on the other folds' images " ..
    "and tested on the fold's own, so every cluster was tested exactly once; the pooled table adds the folds' " ..
    "counts. Best F1 per fold: mean %.4f, standard deviation %.4f; the best fold is fold %d (F1 %.4f at %s %%, " ..
    "weights in fold-%d/train/weights.dcw).", #kf.ids, k, tostring(kf.seed), kf.mean_f1, kf.std_f1, best.fold, best.f1,
    pct(best.threshold), best.fold))
  section.metrics.folds, section.metrics.mean_f1, section.metrics.std_f1 = k, kf.mean_f1, kf.std_f1
  section.metrics.best_fold = best.fold
  local per_fold = {}
  for f, fr in ipairs(kf.folds) do
    per_fold[f] = {fold = fr.fold or f, test_clusters = fr.test_clusters, train_clusters = fr.train_clusters,
      test_images = fr.test_images, train_images = fr.train_images, steps = fr.steps, rows = fr.test.rows,
      best = fr.test.best, unseen = fr.unseen and {rows = fr.unseen.rows, best = fr.unseen.best} or nil}
  end
  util.write_file(dir .. "/kfold.json", M.json({folds = k, seed = kf.seed, simulated = simulated, clusters = #kf.ids,
    mean_f1 = kf.mean_f1, std_f1 = kf.std_f1, best_fold = best.fold, per_fold = per_fold,
    pooled = {rows = kf.pooled.rows, best = kf.pooled.best}}) .. "\n")
  return section
end

-- ------------------------------------------------------------------ whole fields

-- Sky area covered by an evaluated cut-out set (lua/evaluate.lua's result with detected rows:
-- each image's width x height at its pixel scale), deg^2; nil when unknown.
local function cutout_area(result)
  if not result.detected then return nil end
  local a = 0
  for _, d in ipairs(result.detected) do
    local s = d.row and d.row.scale
    if not (type(s) == "number" and s > 0) then return nil end
    a = a + d.width * d.height * (s / 3600) ^ 2
  end
  return a
end

-- The whole-field evaluation (lua/fieldeval.lua's result) as a section for write_run: the sweep at
-- a few thresholds and the best row (fields_summary.*), the best rows of the whole fields beside
-- those of the cut-out sets with FP per image/field and per deg^2 (fields_vs_cutouts.*), and a
-- precision-recall plot of the fields and the first cut-out set (pr_fields.png). opts:
-- simulated (or result.simulated), compare = {{what =, result = evaluate result}, ...}, quiet,
-- thresholds (the rows shown; default 0, 0.5, 0.8, 0.9, 0.95 and the best).
function M.write_fields(dir, result, opts)
  opts = options("write_fields", opts)
  local simulated = need_simulated("report.write_fields", opts.simulated, result.simulated)
  local rows, best = M.check_sweep(result, "report.write_fields")
  local b = rows[best]
  local function kpc(v) return v and v == v and string.format("%.1f", v) or "n/a" end
  local function f2(v) return string.format("%.2f", v) end
  local show = {}
  for _, t in ipairs(opts.thresholds) do show[#show + 1] = t end
  local picked, best_at = {}, nil
  for r, row in ipairs(rows) do
    local keep = r == best
    for _, t in ipairs(show) do keep = keep or math.abs(row.threshold - t) < 1e-9 end
    if keep then
      picked[#picked + 1] = {threshold = row.threshold, tp = row.tp, fp = row.fp, fn = row.fn,
        precision = row.precision, recall = row.recall, f1 = row.f1, fp_per_field = row.fp_per_field,
        fp_per_deg2 = row.fp_per_deg2, std_err_kpc = row.std_err_kpc}
      if r == best then best_at = #picked end
    end
  end
  local fields_what = string.format("%d whole fields, %d targets", result.n_fields, result.n_targets)
  local summary = {name = "fields_summary", simulated = simulated, best = best_at, best_label = "best F1",
    title = label_sim(string.format("Whole fields through deepcee detect: %s, match within %g kpc",
      fields_what, result.max_kpc), simulated),
    columns = {
      {key = "threshold", head = "Threshold (%)", fmt = pct},
      {key = "tp", head = "# TP", fmt = int}, {key = "fp", head = "# FP", fmt = int}, {key = "fn", head = "# FN", fmt = int},
      {key = "precision", head = "Precision", fmt = M.sig4}, {key = "recall", head = "Recall", fmt = M.sig4},
      {key = "f1", head = "F1-score", fmt = M.sig4}, {key = "fp_per_field", head = "FP per field", fmt = f2},
      {key = "fp_per_deg2", head = "FP per deg^2", fmt = f2}, {key = "std_err_kpc", head = "Std. error (kpc)", fmt = kpc}},
    rows = picked, notes = {"All thresholds: fields/fields_table.csv; per field: fields/fields.json."}}
  local cmp = {}
  for _, c in ipairs(opts.compare) do
    local crows, cb = M.check_sweep(c.result, "report.write_fields compare")
    local r = crows[cb]
    local n = c.result.n_images or (r.tp + r.fn)
    local area = cutout_area(c.result)
    cmp[#cmp + 1] = {set = c.what, n = n, targets = r.tp + r.fn, threshold = r.threshold, precision = r.precision,
      recall = r.recall, f1 = r.f1, fp = r.fp, fp_per_image = r.fp / n, fp_per_deg2 = area and r.fp / area,
      std_err_kpc = r.std_err_kpc}
  end
  cmp[#cmp + 1] = {set = "whole fields (deepcee detect)", n = result.n_fields, targets = result.n_targets,
    threshold = b.threshold, precision = b.precision, recall = b.recall, f1 = b.f1, fp = b.fp,
    fp_per_image = b.fp_per_field, fp_per_deg2 = b.fp_per_deg2, std_err_kpc = b.std_err_kpc}
  local compare = {name = "fields_vs_cutouts", simulated = simulated,
    title = label_sim("Best rows: cut-out sets and whole fields", simulated),
    columns = {
      {key = "set", head = "Set", align = "left"}, {key = "n", head = "Images / fields", fmt = int},
      {key = "targets", head = "Clusters", fmt = int}, {key = "threshold", head = "Best threshold (%)", fmt = pct},
      {key = "precision", head = "Precision", fmt = M.sig4}, {key = "recall", head = "Recall", fmt = M.sig4},
      {key = "f1", head = "F1-score", fmt = M.sig4}, {key = "fp", head = "# FP", fmt = int},
      {key = "fp_per_image", head = "FP per image / field", fmt = f2},
      {key = "fp_per_deg2", head = "FP per deg^2", fmt = f2}, {key = "std_err_kpc", head = "Std. error (kpc)", fmt = kpc}},
    rows = cmp}
  local section = {name = "fields", title = simulated and "Whole fields (simulated)" or "Whole fields",
    tables = {summary, compare}, plots = {}, text = {}}
  local cfg = result.config or {}
  local g = cfg.region or {}
  section.text[1] = string.format("%d held-out fields of %s px from a survey region the training never saw "
    .. "(seed %s, RA %s..%s, Dec %s..%s), each centred within +-%s\" of one cluster passing the paper's cuts, "
    .. "written as g, r, i FITS and run through `deepcee detect` (threshold 0) as a user would; every catalogued "
    .. "cluster passing the cuts with its BCG in a field is a target, a candidate matches within %g kpc (proper, at "
    .. "the target's redshift), extra candidates on a found target count as false positives. %s",
    result.n_fields, tostring(cfg.field_px or "?"), tostring(cfg.seed and cfg.seed + 2 or "?"), tostring(g.ra_min),
    tostring(g.ra_max), tostring(g.dec_min), tostring(g.dec_max), tostring(cfg.max_offset or "?"), result.max_kpc,
    result.seconds_per_field and string.format("%.1f s per field (render and detect) on this machine.",
      result.seconds_per_field) or "")
  section.text[2] = string.format("Whole fields: best F1 %.3f at the %s %% threshold (precision %.3f, recall %.3f; "
    .. "TP %d, FP %d, FN %d), %.2f false positives per field, %.1f per deg^2.", b.f1, pct(b.threshold), b.precision,
    b.recall, b.tp, b.fp, b.fn, b.fp_per_field, b.fp_per_deg2)
  if opts.fp_text then section.text[3] = opts.fp_text end
  section.text[#section.text + 1] = M.std_err_text(b)
  for _, t in ipairs(section.tables) do
    M.write_table(t, dir)
    if not opts.quiet then M.print_table(t) end
  end
  local curves = {{result = result, label = "whole fields"}}
  for _, c in ipairs(opts.compare) do
    if #curves < 3 then curves[#curves + 1] = {result = c.result, label = c.what} end
  end
  local ok_curves = true
  for _, cv in ipairs(curves) do
    local any = false
    for _, r in ipairs(cv.result.rows) do any = any or (r.tp + r.fp > 0) end
    ok_curves = ok_curves and any
  end
  if ok_curves then
    M.plot_pr(dir .. "/pr_fields.png", curves, {simulated = simulated,
      title = "Precision vs recall per confidence threshold: whole fields and cut-outs"})
    section.plots[1] = {file = "pr_fields.png", caption = "Precision vs recall per confidence threshold, whole fields "
      .. "(deepcee detect) beside the cut-out sets"}
  end
  section.metrics = {fields = result.n_fields, targets = result.n_targets, best_threshold = b.threshold,
    precision = b.precision, recall = b.recall, f1 = b.f1, tp = b.tp, fp = b.fp, fn = b.fn,
    fp_per_field = b.fp_per_field, fp_per_deg2 = b.fp_per_deg2, std_err_kpc = b.std_err_kpc,
    area_deg2 = result.area_deg2, seconds_per_field = result.seconds_per_field, fp_kinds = result.fp_kinds}
  return section
end

-- ------------------------------------------------------------------ the run folder

local function device_text(d)
  if type(d) == "table" then
    return string.format("%s (%s, %s)", tostring(d.name or "?"), tostring(d.platform or "?"), tostring(d.type or "?"))
  end
  return tostring(d)
end

local function check_file(dir, file, where)
  if type(file) ~= "string" or file == "" or file:sub(1, 1) == "/" then
    error(string.format("report.write_run: %s must be a file name relative to the run folder, got %s", where,
      tostring(file)), 3)
  end
  return util.exists(dir .. "/" .. file)
end

-- Write <dir>/report.md and <dir>/metrics.json. run = {
--   title =, simulated = true|false (required), seed =, device = (dc.device() or text),
--   config = (table), metrics = (table), started =, seconds =,
--   sections = {{title =, text = {markdown paragraphs}, tables = {tables}, plots = {{file =,
--                caption =}}, metrics = {...}, name =}, ...} (write_evaluation, loss_section),
--   files = {{file =, caption =}, ...} (config, log, losses, weights: listed, "(missing)" if absent)}.
-- Tables are written (txt/csv/json) if they were not yet; every plot file must exist. Returns
-- the two paths.
function M.write_run(dir, run)
  if type(dir) ~= "string" or dir == "" then error("report.write_run: give the run folder", 2) end
  if type(run) ~= "table" then error("report.write_run: run must be a table", 2) end
  run = options("write_run", run)
  local simulated = need_simulated("report.write_run", run.simulated)
  local md = {}
  local function add(s) md[#md + 1] = s end
  add("# " .. run.title .. (simulated and " (simulated data)" or ""))
  add("")
  if simulated then
    add("**Simulated data.** Every number, table and figure in this report comes from a simulated " ..
      "SDSS-like sky, not from real survey images.")
    add("")
  end
  add("| | |")
  add("|---|---|")
  add("| written | " .. os.date("!%Y-%m-%d %H:%M:%S UTC") .. " |")
  add(string.format("| deepcee | %s (commit %s) |", dc.version, dc.commit))
  if run.device then add("| device | " .. md_escape(device_text(run.device)) .. " |") end
  if run.seed then add("| seed | " .. tostring(run.seed) .. " |") end
  if run.seconds then add(string.format("| wall time | %s |", util.duration(run.seconds))) end
  add("| data | " .. (simulated and "simulated" or "real") .. " |")
  add("")
  local metrics = {}
  for k, v in pairs(run.metrics or {}) do metrics[k] = v end
  local tables_json, plot_files = {}, {}
  for s, sec in ipairs(run.sections) do
    add("## " .. (sec.title or ("Section " .. s)))
    add("")
    for _, t in ipairs(sec.text or {}) do add(t) add("") end
    for _, tbl in ipairs(sec.tables or {}) do
      if not tbl.files then M.write_table(tbl, dir) end
      add("### " .. md_escape(tbl.title))
      add("")
      add(M.format_markdown(tbl))
      add(string.format("Files: [CSV](%s), [JSON](%s), [text](%s)", tbl.files.csv, tbl.files.json, tbl.files.txt))
      add("")
      tables_json[tbl.name] = M.table_value(tbl)
    end
    for p, plot in ipairs(sec.plots or {}) do
      if not check_file(dir, plot.file, string.format("sections[%d].plots[%d].file", s, p)) then
        error(string.format("report.write_run: plot %s does not exist in %s", plot.file, dir), 2)
      end
      local caption = (plot.caption or plot.file) .. (simulated and " (simulated data)" or "")
      add("### " .. md_escape(caption))
      add("")
      add(string.format("![%s](%s)", caption:gsub("[%[%]]", ""), plot.file))
      add("")
      plot_files[#plot_files + 1] = plot.file
    end
    if sec.metrics then metrics[sec.name or ("section" .. s)] = sec.metrics end
  end
  if next(metrics) then
    add("## Metrics")
    add("")
    add("```json")
    add(M.json(metrics))
    add("```")
    add("")
  end
  if run.config then
    add("## Effective configuration")
    add("")
    add("```json")
    add(M.json(run.config))
    add("```")
    add("")
  end
  local files = {}
  if #run.files > 0 then
    add("## Files")
    add("")
    for i, f in ipairs(run.files) do
      local present = check_file(dir, f.file, string.format("files[%d].file", i))
      add(string.format("- [%s](%s)%s%s", f.file, f.file, f.caption and ": " .. f.caption or "",
        present and "" or " (missing)"))
      files[#files + 1] = f.file
    end
    add("")
  end
  util.write_file(dir .. "/report.md", table.concat(md, "\n"))
  local doc = {title = run.title, simulated = simulated, seed = run.seed, device = run.device,
    deepcee = {version = dc.version, commit = dc.commit}, seconds = run.seconds, config = run.config,
    metrics = metrics, tables = tables_json, plots = plot_files, files = files}
  util.write_file(dir .. "/metrics.json", M.json(doc) .. "\n")
  return dir .. "/report.md", dir .. "/metrics.json"
end

return M
