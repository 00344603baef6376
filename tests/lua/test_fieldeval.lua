-- Whole-field evaluation (lua/fieldeval.lua): the scoring on hand-made candidates and targets
-- with answers worked out by hand (the 100 kpc criterion at the target's redshift, duplicates,
-- one field's candidates never matching another's targets, FP per field and per deg^2, the
-- best-F1 row, the centre standard error, what the FPs lie on), the sweep of one field against
-- deepcee.match's own, the simulator-key probe, and a tiny end-to-end run through detect.
local dc = require("deepcee")
local fieldeval = require("fieldeval")
local h = dofile(os.getenv("DEEPCEE_SOURCE_DIR") .. "/tests/lua/helpers.lua")

local passed = 0
local function near(a, b, tol, what)
  assert(math.abs(a - b) <= tol, string.format("%s: %.9g, expected %.9g", what, a, b))
end

-- a point d_kpc proper kpc north of (ra, dec) at redshift z
local function north(ra, dec, z, d_kpc)
  local kpa = dc.cosmo(z, {h0 = 71, om = 0.27}).kpc_per_arcsec
  return ra, dec + d_kpc / kpa / 3600
end

-- ---------------------------------------------------------------- hand-made fields
local T1 = {ra = 150, dec = 10, z = 0.15}
local T2 = {ra = 151, dec = 10, z = 0.12}
local T3 = {ra = 151.05, dec = 10, z = 0.18}
local O1 = {ra = 151.1, dec = 10.05, z = 0.3, what = "groups"}
local function cand(score, ra, dec) return {score = score, ra = ra, dec = dec} end
local ra, dec
ra, dec = north(T1.ra, T1.dec, T1.z, 90)
local c1 = cand(0.9, ra, dec)                     -- 90 kpc from T1: matches
ra, dec = north(T1.ra, T1.dec, T1.z, -110)
local c2 = cand(0.8, ra, dec)                     -- 110 kpc from T1: FP (off-centre, < 200 kpc)
ra, dec = north(T1.ra, T1.dec, T1.z, 50)
local c3 = cand(0.7, ra, dec)                     -- T1 already found by c1: duplicate FP
ra, dec = north(T2.ra, T2.dec, T2.z, 30)
local c4 = cand(0.6, ra, dec)                     -- 30 kpc from T2: matches
ra, dec = north(O1.ra, O1.dec, O1.z, 80)
local c5 = cand(0.65, ra, dec)                    -- 80 kpc from a non-target group: FP on an object
local c6 = cand(0.95, T1.ra, T1.dec)              -- on field A's target but in field B: FP
local A = {candidates = {c1, c2, c3}, targets = {T1}, area_deg2 = 0.05}
local B = {candidates = {c4, c5, c6}, targets = {T2, T3}, others = {O1}, area_deg2 = 0.05}

do
  local r = fieldeval.score({A, B}, {step = 0.05})
  assert(#r.rows == 21, #r.rows .. " rows")
  assert(r.n_fields == 2 and r.n_targets == 3 and r.n_candidates == 6)
  near(r.area_deg2, 0.1, 1e-12, "area")
  -- by hand, candidates by score: c6 .95 FP, c1 .9 TP, c2 .8 FP, c3 .7 FP (dup), c5 .65 FP, c4 .6 TP
  local expect = {  -- threshold -> tp, fp, dup
    [0] = {2, 4, 1}, [0.55] = {2, 4, 1}, [0.6] = {1, 4, 1}, [0.65] = {1, 3, 1}, [0.7] = {1, 2, 0},
    [0.8] = {1, 1, 0}, [0.85] = {1, 1, 0}, [0.9] = {0, 1, 0}, [0.95] = {0, 0, 0}, [1] = {0, 0, 0}}
  local seen = 0
  for _, row in ipairs(r.rows) do
    local e
    for t, v in pairs(expect) do if math.abs(t - row.threshold) < 1e-9 then e = v end end
    if e then
      seen = seen + 1
      assert(row.tp == e[1] and row.fp == e[2] and row.dup == e[3], string.format(
        "threshold %.2f: TP %d FP %d dup %d, expected %d %d %d", row.threshold, row.tp, row.fp, row.dup, e[1], e[2], e[3]))
      assert(row.fn == 3 - e[1], "FN")
      local p = (e[1] + e[2]) > 0 and e[1] / (e[1] + e[2]) or 0
      local rc = e[1] / 3
      near(row.precision, p, 1e-12, "precision")
      near(row.recall, rc, 1e-12, "recall")
      near(row.f1, p + rc > 0 and 2 * p * rc / (p + rc) or 0, 1e-12, "F1")
      near(row.fp_per_field, e[2] / 2, 1e-12, "FP per field")
      near(row.fp_per_deg2, e[2] / 0.1, 1e-9, "FP per deg^2")
    end
  end
  assert(seen == 10, "rows checked: " .. seen)
  -- best: F1 4/9 from 0 to 0.55, the lowest threshold wins
  assert(r.best == 1 and r.rows[1].threshold == 0, "best row " .. r.best)
  near(r.rows[1].f1, 4 / 9, 1e-12, "best F1")
  -- standard error over the two TPs (90 and 30 kpc): sqrt((90^2 + 30^2) / 2)
  near(r.rows[1].std_err_kpc, math.sqrt((90 ^ 2 + 30 ^ 2) / 2), 1e-4, "std error")
  assert(r.rows[#r.rows].std_err_kpc == nil, "no TP: no standard error")
  table.sort(r.distances)
  near(r.distances[1], 30, 1e-4, "distance c4")
  near(r.distances[2], 90, 1e-4, "distance c1")
  local k = r.fp_kinds
  assert(k.total == 4 and k.duplicate == 1 and k.near_target == 1 and k.nothing == 1 and k.other_object.groups == 1,
    fieldeval.fp_kinds_text(r))
  assert(fieldeval.fp_kinds_text(r):find("1 on groups", 1, true))
  assert(r.per_field[1].tp == 1 and r.per_field[1].fp == 2 and r.per_field[1].fn == 0)
  assert(r.per_field[2].tp == 1 and r.per_field[2].fp == 2 and r.per_field[2].fn == 1)
  -- recall by look at the best threshold (0): T1 (c1) and T2 (c4) found, T3 not
  local bl = r.by_look
  assert(bl.unknown.targets == 3 and bl.unknown.found == 2, "no looks given: all unknown")
  T1.look, T2.look = "centred", "miscentred"
  bl = fieldeval.score({A, B}, {step = 0.05}).by_look
  T1.look, T2.look = nil, nil
  assert(bl.centred.targets == 1 and bl.centred.found == 1 and bl.centred.recall == 1, "by_look centred")
  assert(bl.miscentred.targets == 1 and bl.miscentred.found == 1, "by_look miscentred")
  assert(bl.unknown.targets == 1 and bl.unknown.found == 0 and bl.unknown.recall == 0, "by_look unknown (T3)")
  assert(fieldeval.look({miscentre_kpc = 150, bimodal = true}, 100) == "miscentred"
    and fieldeval.look({miscentre_kpc = 80, bimodal = true}, 100) == "bimodal"
    and fieldeval.look({miscentre_kpc = 0, bimodal = false}, 100) == "centred"
    and fieldeval.look({}, 100) == "unknown" and fieldeval.look(nil, 100) == "unknown", "fieldeval.look")
  passed = passed + 1
end

-- one field's sweep equals deepcee.match's (the engine's one-to-one matcher) row for row
do
  local thr = fieldeval.thresholds(0.1)
  local r = fieldeval.score({B}, {thresholds = thr})
  local m = dc.match(B.candidates, B.targets, {thresholds = thr, max_kpc = 100})
  for t, row in ipairs(m.rows) do
    local x = r.rows[t]
    assert(x.tp == row.tp and x.fp == row.fp and x.fn == row.fn and x.dup == row.dup, "row " .. t)
    near(x.f1, row.f1, 1e-12, "F1 row " .. t)
  end
  assert(r.best == m.best, "best row")
  -- a field without candidates: every target is a false negative
  local e = fieldeval.score({{candidates = {}, targets = {T1}, area_deg2 = 0.01}})
  assert(e.rows[1].tp == 0 and e.rows[1].fn == 1 and e.rows[1].fp == 0 and e.rows[1].f1 == 0)
  h.expect_error(function() fieldeval.score({{candidates = {}, targets = {}}}) end, "area_deg2")
  h.expect_error(function() fieldeval.thresholds(0.3) end, "does not divide 1")
  passed = passed + 1
end

-- the simulator-key probe the robustness benchmark uses
do
  assert(fieldeval.check_keys({seeing = 2.2}, nil) == nil, "seeing is a simulator key")
  local err, key = fieldeval.check_keys({no_such_key = 1}, nil)
  assert(err and key == "no_such_key", tostring(err))
  err, key = fieldeval.check_keys(nil, {model = {no_such_model_key = 1}})
  assert(err and key == "no_such_model_key", tostring(err))
  h.expect_error(function() fieldeval.run({fields = 1, sky = {model = {mstar = -21}}}) end, "survey = {model")
  h.expect_error(function() fieldeval.run({fields = 1, bogus = 1}) end, "unknown key 'bogus'")
  h.expect_error(function() fieldeval.run({fields = 1, field_px = 500, max_offset = 100}) end, "max_offset")
  h.expect_error(function() fieldeval.run({fields = 1, detect = {threshold = 0.5}}) end, "detect may not set threshold")
  h.expect_error(function() fieldeval.run({fields = 1, detect = {ttaa = 2}}) end, "detect has no key 'ttaa'")
  passed = passed + 1
end

-- ---------------------------------------------------------------- end to end, through detect
do
  local dir = os.tmpname()
  os.remove(dir)
  local function run(out)
    return fieldeval.run({out = out, fields = 2, seed = 5, field_px = 1000, max_offset = 100,
      region = {ra_min = 260, ra_max = 270, dec_min = 0, dec_max = 10}, quiet = true})
  end
  local r = run(dir)
  assert(r.simulated and r.n_fields == 2 and #r.fields == 2)
  assert(r.n_targets >= 2, "each field holds its drawn target")
  local total = r.rows[1].tp + r.rows[1].fn
  assert(total == r.n_targets)
  for t, row in ipairs(r.rows) do
    assert(row.tp + row.fn == r.n_targets, "TP + FN changes at row " .. t)
    assert(row.tp + row.fp == row.n_above, "TP + FP = candidates above")
    if t > 1 then
      assert(row.fp <= r.rows[t - 1].fp and row.tp <= r.rows[t - 1].tp, "counts grow with the threshold at row " .. t)
    end
  end
  assert(r.rows[1].n_above == r.n_candidates or r.rows[1].n_above <= r.n_candidates)
  -- field area from the WCS: 1000 px at 0.396"/px
  near(r.area_deg2, 2 * (1000 * 0.396 / 3600) ^ 2, 1e-6, "field area")
  local function read(p)
    local f = assert(io.open(p, "r"), "missing " .. p)
    local s = f:read("a")
    f:close()
    return s
  end
  local csv = read(dir .. "/fields_table.csv")
  local n = 0
  for line in csv:gmatch("[^\n]+") do
    local thr, _, tp, fp, fn = line:match("^([%d.]+),(%d+),(%d+),(%d+),(%d+)")
    if thr then
      n = n + 1
      assert(tonumber(tp) + tonumber(fn) == r.n_targets)
    end
  end
  assert(n == 21, n .. " CSV rows")
  local json = read(dir .. "/fields.json")
  assert(json:find('"simulated": *true') and json:find('"fp_kinds"') and json:find('"per_field"'), "fields.json")
  for k = 1, 2 do
    local fd = string.format("%s/field-%03d", dir, k)
    read(fd .. "/candidates.csv")
    read(fd .. "/field-truth.csv")
    assert(io.open(fd .. "/field-r.fits") == nil, "keep=false leaves no FITS")
  end
  -- the candidates are detect's: its CSV lists as many as the run scored
  local lines = 0
  for _ in read(dir .. "/field-001/candidates.csv"):gmatch("\n") do lines = lines + 1 end
  assert(lines - 1 == #r.fields[1].candidates, "candidates.csv rows")
  -- same seed, same fields: the sweep is bit-identical
  local dir2 = dir .. "-again"
  run(dir2)
  assert(read(dir2 .. "/fields_table.csv") == csv, "a second run with the same seed differs")
  -- detect's keys reach every field: core=false keeps at least as many raw candidates per tile,
  -- and the false positives' objects include the confounders the field renders
  local r3 = fieldeval.run({out = dir .. "-tta", fields = 2, seed = 5, field_px = 1000, max_offset = 100,
    region = {ra_min = 260, ra_max = 270, dec_min = 0, dec_max = 10}, quiet = true, detect = {tta = 2}})
  assert(r3.n_targets == r.n_targets, "tta=2: the same fields")
  local n_conf = 0
  for _, fd in ipairs(r.fields) do
    for _, o in ipairs(fd.others) do if fieldeval.confounder_names[o.kind] then n_conf = n_conf + 1 end end
  end
  assert(n_conf > 0, "the fields' confounders are listed among the other objects")
  os.execute("rm -rf '" .. dir .. "-tta'")
  os.execute("rm -rf '" .. dir .. "' '" .. dir2 .. "'")
  passed = passed + 1
end

print(string.format("test_fieldeval: %d passed, 0 failed", passed))
