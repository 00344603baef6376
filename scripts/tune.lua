-- deepcee tune: measure CLBlast GEMM parameters for the current device and store the best.
--
-- CLBlast has no tuned parameters for many devices (none for CPUs under PoCL), and its defaults
-- can be several times slower than tuned ones. This tries a curated list of Xgemm and XgemmDirect
-- parameter sets on the GEMM shapes of Inception-v2's convolutions (deepcee.tune_shapes()), with
-- every result checked against a host reference, picks the switch between the two GEMM kernels,
-- and stores the fastest checked entry in the cache folder; every later start applies it
-- (engine/cl/tune.h). Each candidate runs in a child process: a bad parameter set can crash the
-- OpenCL driver, and that must only reject the candidate.
--
--   deepcee tune [budget=240] [reps=3] [save=true] [metric=wall] [candidates=FILE]
--                [shapes=MxNxK[:TN],...]
--
-- budget: seconds after which no new candidate starts (each builds CLBlast's kernels: about 10 s
-- on a 2-core CPU); metric: wall (elapsed time) or cpu (process CPU time per compute unit, CPU
-- devices only: steadier while other programs share the cores); candidates: a file of
-- "Xgemm ..." / "XgemmDirect ..." lines to try instead of the curated list; shapes: GEMM shapes
-- instead of the defaults. The stored entry is replaced only by a faster one.
local dc = require("deepcee")
local util = require("deepcee_util")

local opt = util.args({budget = 240, reps = 3, save = true, candidates = "", shapes = "",
  metric = "wall", child = "", timeout = 300}, {...}, "tune")
if opt.metric ~= "wall" and opt.metric ~= "cpu" then
  error("tune: metric must be wall or cpu, got '" .. opt.metric .. "'", 0)
end

-- Curated from a run of CLBlast's own tuners (clblast_tuner_xgemm, _transpose_pad, _copy_pad,
-- _transpose_fast, _copy_fast) and measurements at the default shapes on a 2-core AMD EPYC under
-- PoCL (bench/README.md), most promising first so a short budget still tries the best; the last
-- Xgemm ones are GPU-shaped, for other devices. Xgemm constraints (CLBlast's tuner):
-- MWG % (MDIMC*VWM) = NWG % (NDIMC*VWN) = MWG % (MDIMA*VWM) = NWG % (NDIMB*VWN) = KWG % KWI = 0,
-- and for GEMMK=0 KWG % (MDIMC*NDIMC/MDIMA) = KWG % (MDIMC*NDIMC/NDIMB) = 0; XgemmDirect alike
-- with WGD. A line of Copy/Pad/Transpose/Padtranspose sets (';'-separated) is a candidate for the
-- helper kernels that pad and transpose the matrices when the sizes are not tile multiples.
-- GEMMK=1 sets are left out: on PoCL 3.1 they crashed or gave wrong results.
local CANDIDATES = {
  "Xgemm GEMMK=0 KREG=1 KWG=16 KWI=2 MDIMA=8 MDIMC=8 MWG=128 NDIMB=4 NDIMC=4 NWG=32 SA=0 SB=0 STRM=0 STRN=0 VWM=8 VWN=8",
  "Xgemm GEMMK=0 KREG=1 KWG=32 KWI=2 MDIMA=8 MDIMC=8 MWG=128 NDIMB=4 NDIMC=4 NWG=32 SA=0 SB=0 STRM=0 STRN=0 VWM=8 VWN=8",
  "Xgemm GEMMK=0 KREG=1 KWG=32 KWI=2 MDIMA=8 MDIMC=8 MWG=128 NDIMB=8 NDIMC=8 NWG=64 SA=0 SB=0 STRM=0 STRN=0 VWM=8 VWN=8",
  "Xgemm GEMMK=0 KREG=1 KWG=16 KWI=2 MDIMA=8 MDIMC=8 MWG=128 NDIMB=8 NDIMC=8 NWG=64 SA=0 SB=0 STRM=0 STRN=0 VWM=4 VWN=8",
  "Xgemm GEMMK=0 KREG=1 KWG=32 KWI=2 MDIMA=8 MDIMC=8 MWG=128 NDIMB=8 NDIMC=8 NWG=64 SA=0 SB=0 STRM=0 STRN=0 VWM=4 VWN=8",
  "Xgemm GEMMK=0 KREG=1 KWG=32 KWI=2 MDIMA=8 MDIMC=8 MWG=64 NDIMB=8 NDIMC=8 NWG=64 SA=0 SB=0 STRM=0 STRN=0 VWM=4 VWN=8",
  "Xgemm GEMMK=0 KREG=1 KWG=32 KWI=2 MDIMA=8 MDIMC=8 MWG=128 NDIMB=8 NDIMC=8 NWG=64 SA=0 SB=0 STRM=1 STRN=1 VWM=4 VWN=8",
  "Xgemm GEMMK=0 KREG=1 KWG=32 KWI=2 MDIMA=16 MDIMC=16 MWG=64 NDIMB=16 NDIMC=16 NWG=64 SA=1 SB=1 STRM=0 STRN=0 VWM=2 VWN=2",
  "Xgemm GEMMK=0 KREG=1 KWG=16 KWI=2 MDIMA=16 MDIMC=16 MWG=128 NDIMB=16 NDIMC=16 NWG=128 SA=1 SB=1 STRM=0 STRN=1 VWM=4 VWN=4",
  "XgemmDirect KWID=2 MDIMAD=8 MDIMCD=8 NDIMBD=8 NDIMCD=8 PADA=1 PADB=1 VWMD=4 VWND=4 WGD=64",
  "XgemmDirect KWID=2 MDIMAD=8 MDIMCD=8 NDIMBD=8 NDIMCD=8 PADA=0 PADB=0 VWMD=8 VWND=8 WGD=64",
  "XgemmDirect KWID=2 MDIMAD=4 MDIMCD=4 NDIMBD=4 NDIMCD=4 PADA=1 PADB=1 VWMD=4 VWND=4 WGD=32",
  "XgemmDirect KWID=2 MDIMAD=8 MDIMCD=8 NDIMBD=8 NDIMCD=8 PADA=1 PADB=1 VWMD=4 VWND=4 WGD=32",
  "Copy COPY_DIMX=16 COPY_DIMY=8 COPY_VW=8 COPY_WPT=4;Pad PAD_DIMX=32 PAD_DIMY=8 PAD_WPTX=2 PAD_WPTY=1;"
    .. "Transpose TRA_DIM=64 TRA_PAD=1 TRA_SHUFFLE=0 TRA_WPT=4;Padtranspose PADTRA_PAD=1 PADTRA_TILE=32 PADTRA_WPT=1",
}
local AUX = {Copy = true, Pad = true, Transpose = true, Padtranspose = true}

local FORCE_INDIRECT = "GemmRoutine XGEMM_MIN_INDIRECT_SIZE=1"    -- m*n*k < 1^3 never holds
local FORCE_DIRECT = "GemmRoutine XGEMM_MIN_INDIRECT_SIZE=100000" -- 1e15 exceeds every m*n*k

-- "64x250000x147,864x15625x96:TN" -> shape tables
local function parse_shapes(text)
  local out = {}
  for item in text:gmatch("[^,]+") do
    local m, n, k, t = item:match("^%s*(%d+)x(%d+)x(%d+):?([NT]?[NT]?)%s*$")
    if not m then error("tune: shape '" .. item .. "' is not MxNxK or MxNxK:TN", 0) end
    out[#out + 1] = {m = tonumber(m), n = tonumber(n), k = tonumber(k), ta = t:sub(1, 1) == "T",
      tb = t:sub(2, 2) == "T", label = item}
  end
  return out
end

local shapes = opt.shapes ~= "" and parse_shapes(opt.shapes) or nil

-- Child mode: apply the sets (separated by ';'), measure, print one RESULT line.
if opt.child ~= "" then
  local sets = {}
  if opt.child ~= "none" then
    for s in opt.child:gmatch("[^;]+") do sets[#sets + 1] = s end
  end
  local r = dc.tune_measure{sets = sets, shapes = shapes, reps = opt.reps}
  if not r.error and opt.metric == "cpu" and not r.cpu_gflops then
    r.error = "metric=cpu needs a CPU device"
  end
  if r.error then
    print(string.format("RESULT bad %.2f %s", r.seconds or 0, (r.error:gsub("\n", " "))))
  else
    local times, g = r.times, r.gflops
    if opt.metric == "cpu" then times, g = r.cpu_times, r.cpu_gflops end
    local t = {}
    for i, v in ipairs(times) do t[i] = string.format("%.6f", v) end
    print(string.format("RESULT ok %.2f %.3f %s", r.seconds, g, table.concat(t, ",")))
  end
  return
end

local d = dc.device()
local info = dc.tune_info()
local exe = dc.tune_executable()
local list = CANDIDATES
if opt.candidates ~= "" then
  list = {}
  for line in io.lines(opt.candidates) do
    if line:match("%S") and not line:match("^%s*#") then list[#list + 1] = line end
  end
end
local shape_list = shapes or dc.tune_shapes()
local flops = 0
for _, s in ipairs(shape_list) do flops = flops + 2 * s.m * s.n * s.k end

print(string.format("device %d: %s (%s, driver %s)", d.index, d.name, d.platform, d.driver))
print(string.format("active tuning: %s%s", info.origin,
  info.entry.note ~= "" and (" (" .. info.entry.note .. ")") or ""))
print(string.format("%d GEMM shapes (%.1f GFLOP a pass), %d candidates, budget %d s, %d repetitions, %s time",
  #shape_list, flops * 1e-9, #list, opt.budget, opt.reps, opt.metric))

local start = os.time()
local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Measure in a child process: sets (a list) applied over CLBlast's defaults, or the active entry
-- when `active`. Returns {gflops, times} or {error}.
local function measure(sets, active)
  local cmd = string.format("%sDEEPCEE_DEVICE=%d timeout %d %s run %s child=%s reps=%d metric=%s%s 2>&1",
    active and "" or "DEEPCEE_TUNE=off ", d.index, opt.timeout, quote(exe), quote(arg[0]),
    quote(#sets > 0 and table.concat(sets, ";") or "none"), opt.reps, opt.metric,
    opt.shapes ~= "" and (" shapes=" .. quote(opt.shapes)) or "")
  local p = assert(io.popen(cmd))
  local out, result = {}, nil
  for line in p:lines() do
    if line:match("^RESULT ") then result = line else out[#out + 1] = line end
  end
  local ok, how, code = p:close()
  if dc.interrupted() then error("tune: interrupted", 0) end
  if not result then
    local why = how == "exit" and code == 124 and ("timed out after " .. opt.timeout .. " s")
      or string.format("child process %s %s", how == "signal" and "killed by signal" or "exited with",
        tostring(code))
    return {error = why .. (#out > 0 and (": " .. out[#out]) or "")}
  end
  local status, secs, rest = result:match("^RESULT (%a+) (%S+) ?(.*)$")
  if status == "bad" then return {error = rest, seconds = tonumber(secs)} end
  local g, times = rest:match("^(%S+) (%S+)$")
  local t = {}
  for v in times:gmatch("[^,]+") do t[#t + 1] = tonumber(v) end
  return {gflops = tonumber(g), times = t, seconds = tonumber(secs)}
end

local function log(fmt, ...)
  print(string.format("[%4d s] " .. fmt, os.time() - start, ...))
  io.stdout:flush()
end

local defaults = measure({}, false)
log("CLBlast defaults: %s", defaults.gflops and string.format("%.1f GFLOPS", defaults.gflops) or defaults.error)
local active = defaults
if info.origin ~= "none" then
  active = measure({}, true)
  log("active %s entry: %s", info.origin,
    active.gflops and string.format("%.1f GFLOPS", active.gflops) or active.error)
end

-- Phase 1: Xgemm on the indirect path; phase 2: XgemmDirect on the direct path (60/40 budget).
local best = {}
local tried, rejected = 0, 0
for phase, kernel in ipairs({"Xgemm", "XgemmDirect"}) do
  local limit = opt.budget * (phase == 1 and 0.6 or 1.0)
  for _, cand in ipairs(list) do
    if cand:match("^(%a+)") == kernel then
      if os.time() - start > limit then
        log("budget reached: skipping the remaining %s candidates", kernel)
        break
      end
      local sets = {cand, kernel == "Xgemm" and FORCE_INDIRECT or FORCE_DIRECT}
      if kernel == "XgemmDirect" and best.Xgemm then table.insert(sets, 1, best.Xgemm.set) end
      local r = measure(sets, false)
      tried = tried + 1
      if r.error then
        rejected = rejected + 1
        log("rejected %s: %s", cand, r.error)
      else
        local better = not best[kernel] or r.gflops > best[kernel].gflops
        if better then best[kernel] = {set = cand, gflops = r.gflops, times = r.times} end
        log("%6.1f GFLOPS%s %s (%.0f s)", r.gflops, better and " *" or "  ", cand, r.seconds)
      end
    end
  end
end
if not best.Xgemm and not best.XgemmDirect then
  print("no candidate passed the checks: nothing stored")
  return
end

-- The switch between the kernels: direct for m*n*k below T^3, T chosen for the least total time,
-- but at least 128: the shapes measured are large, and for GEMMs below 128^3 (fully connected
-- layers, small heads) the padding and transpose launches of the indirect path dominate.
local FLOOR = 128
local threshold = best.Xgemm and FLOOR or 100000
if best.Xgemm and best.XgemmDirect then
  local function cube_above(v)
    local t = math.floor(v ^ (1 / 3))
    while t * t * t <= v do t = t + 1 end
    return t
  end
  local best_total = math.huge
  for c = 0, #shape_list do
    local th = c == 0 and FLOOR or math.max(FLOOR, cube_above(shape_list[c].m * shape_list[c].n * shape_list[c].k))
    local total = 0
    for i, s in ipairs(shape_list) do
      local direct = s.m * s.n * s.k < th * th * th
      total = total + (direct and best.XgemmDirect.times[i] or best.Xgemm.times[i])
    end
    if total < best_total then best_total, threshold = total, th end
  end
end

local sets = {}
if best.Xgemm then sets[#sets + 1] = best.Xgemm.set end
if best.XgemmDirect then sets[#sets + 1] = best.XgemmDirect.set end
sets[#sets + 1] = "GemmRoutine XGEMM_MIN_INDIRECT_SIZE=" .. threshold
local final = measure(sets, false)
if final.error then
  print("the combined entry was rejected (" .. final.error .. "): nothing stored")
  return
end
log("%6.1f GFLOPS   combined, direct kernel below m*n*k = %d^3", final.gflops, threshold)

-- Phase 3: the helper kernels (padding, transposes) with the chosen GEMM kernels.
for _, cand in ipairs(list) do
  if AUX[cand:match("^(%a+)")] then
    local with = {table.unpack(sets)}
    for s in cand:gmatch("[^;]+") do with[#with + 1] = s end
    local r = measure(with, false)
    tried = tried + 1
    if r.error then
      rejected = rejected + 1
      log("rejected %s: %s", cand, r.error)
    else
      local better = r.gflops > final.gflops
      log("%6.1f GFLOPS%s %s (%.0f s)", r.gflops, better and " *" or "  ", cand, r.seconds)
      if better then sets, final = with, r end
    end
  end
end

local reference = active.gflops or 0
print(string.format("searched %d candidates (%d rejected) in %d s: %.1f GFLOPS, CLBlast defaults %s, active %s",
  tried, rejected, os.time() - start, final.gflops,
  defaults.gflops and string.format("%.1f", defaults.gflops) or "failed",
  active.gflops and string.format("%.1f", active.gflops) or "failed"))
for _, s in ipairs(sets) do print("  " .. s) end

local entry = {sets = sets, note = string.format(
  "deepcee tune %s: %.1f GFLOPS (CLBlast defaults %.1f) by %s time over %d GEMM shapes, %d candidates",
  os.date("!%Y-%m-%d"), final.gflops, defaults.gflops or 0, opt.metric, #shape_list, tried)}
if not opt.save then
  print("not stored (save=false)")
elseif final.gflops <= reference * 1.02 then
  print("not stored: no faster than the parameters already active")
else
  print("stored in " .. dc.tune_save(entry))
end
