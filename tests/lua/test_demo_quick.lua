-- End to end: the demo's quick variant (simulate, build datasets, train, evaluate, report) runs and
-- produces sane, non-trivial results: consistent counts at every threshold, clusters found at the
-- lowest threshold, both tables, the KS tests and every figure in the report.
local src = assert(os.getenv("DEEPCEE_SOURCE_DIR"), "DEEPCEE_SOURCE_DIR is not set (ctest sets it)")
local dir = os.tmpname()
os.remove(dir)
local demo = assert(loadfile(src .. "/scripts/demo.lua"))
demo("quick=true", "out=" .. dir)

local read = dofile(src .. "/tests/lua/helpers.lua").read

local md = read(dir .. "/report.md")
for _, needle in ipairs({"Simulated data", "Table 2 (simulated test set)", "Table 3 (simulated unseen region",
                         "KS tests", "losses_total.png", "pr_test.png", "pr_unseen.png", "distances_test.png",
                         "offsets_test.png", "properties_test.png", "Whole fields (simulated)",
                         "Best rows: cut-out sets and whole fields", "pr_fields.png"}) do
  assert(md:find(needle, 1, true), "report.md lacks '" .. needle .. "'")
end
for png in md:gmatch("%(([%w_]+%.png)%)") do
  local f = io.open(dir .. "/" .. png, "rb")
  assert(f and f:read(8) == "\137PNG\r\n\26\n", png .. " is not a PNG")
  f:close()
end

-- the tables as CSV: threshold, TP, FP, FN, ... with TP + FN constant
for _, name in ipairs({"test", "unseen"}) do
  local csv = read(dir .. "/" .. name .. "_table.csv")
  local n, total, tp0 = 0, nil, nil
  for line in csv:gmatch("[^\n]+") do
    local thr, tp, fp, fn = line:match("^([%d.]+),(%d+),(%d+),(%d+)")
    if thr then
      n = n + 1
      tp, fn = tonumber(tp), tonumber(fn)
      total = total or (tp + fn)
      assert(tp + fn == total, name .. ": TP + FN changes with the threshold")
      tp0 = tp0 or tp
    end
  end
  assert(n == 11, name .. ": " .. n .. " threshold rows")
  assert(total > 0 and tp0 / total >= 0.5, string.format("%s: recall at the lowest threshold %d/%d", name, tp0, total))
end
-- the whole fields (3 in the quick demo, through deepcee detect): counts consistent at every threshold
do
  local csv = read(dir .. "/fields/fields_table.csv")
  local n, total, fp_prev = 0, nil, math.huge
  for line in csv:gmatch("[^\n]+") do
    local thr, _, tp, fp, fn = line:match("^([%d.]+),(%d+),(%d+),(%d+),(%d+)")
    if thr then
      n = n + 1
      tp, fp, fn = tonumber(tp), tonumber(fp), tonumber(fn)
      total = total or (tp + fn)
      assert(tp + fn == total, "fields: TP + FN changes with the threshold")
      assert(fp <= fp_prev, "fields: FP grows with the threshold")
      fp_prev = fp
    end
  end
  assert(n == 21 and total >= 3, string.format("fields: %d rows, %s targets", n, tostring(total)))
  assert(read(dir .. "/fields_vs_cutouts.csv"):find("whole fields", 1, true))
  assert(io.open(dir .. "/fields/field-003/candidates.csv") and not io.open(dir .. "/fields/field-004/candidates.csv"), "3 fields")
end
local metrics = read(dir .. "/metrics.json")
assert(metrics:find('"test_f1"') and metrics:find('"fields_f1"') and metrics:find('"simulated": *true'), "metrics.json")
print("test_demo_quick: 1 passed, 0 failed")
os.execute("rm -rf '" .. dir .. "'")
