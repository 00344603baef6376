-- deepcee survey over MPI (ctest lua_survey_mpi, only in builds with MPI): a small simulated region
-- (6 fields of 1000 px in a row, overlapping by half, over the simulated cluster 18 of seed 1)
-- gives the same merged catalogue on 1 and on 2 ranks; the cluster, seen in two fields, is in the
-- catalogue once with the higher score; a 2-rank survey killed (SIGKILL, every process) after its
-- first fields and started again with the same command ends with the same catalogue.
-- Run by `deepcee run` in the build folder, DEEPCEE_MPIRUN = mpirun.
local dc = require("deepcee")
local util = require("deepcee_util")
local h = dofile(os.getenv("DEEPCEE_SOURCE_DIR") .. "/tests/lua/helpers.lua")

local sh = h.sh
local mpi2 = h.mpirun(2)

local dir = os.tmpname()
os.remove(dir)
util.mkdir(dir)
local CL_RA, CL_DEC = 151.1270908143, 10.300955094164 -- cluster 18 of sim_survey seed 1, RA 150-152, Dec 10-11
local args = "ra_min=150.944 ra_max=151.310 dec_min=10.27 dec_max=10.33 field_px=1000 field_overlap=0.5 threshold=0.3 progress_s=0"

local function run(prefix, out)
  local cmd = string.format("%s./deepcee survey %s out=%s 2>&1", prefix, args, out)
  local p = io.popen(cmd .. "; echo \"rc=$?\"")
  local text = p:read("a")
  p:close()
  assert(text:find("rc=0\n$"), cmd .. " failed:\n" .. text)
  return text
end

local t0 = dc.now()
local log1 = run("", dir .. "/one")
assert(log1:find("6 to do on 1 rank"), log1)
local t1 = dc.now()
local log2 = run(mpi2, dir .. "/two")
assert(log2:find("6 to do on 2 ranks"), "the survey runs on 2 ranks:\n" .. log2)
local t2 = dc.now()
print(string.format("1 rank: %.1f s, 2 ranks: %.1f s (6 fields of 1000 px, with start-up)", t1 - t0, t2 - t1))
local csv = h.read(dir .. "/one/candidates.csv")
assert(h.read(dir .. "/two/candidates.csv") == csv, "1 and 2 ranks give the same catalogue")
-- both ranks did fields
local ranks = {}
for k = 1, 6 do
  local r = util.read_data(string.format("%s/two/fields/sim-r001-c%03d.lua", dir, k), true)
  ranks[r.rank] = true
end
assert(ranks[0] and ranks[1], "both ranks worked on fields")

-- the cluster in the overlap of fields 3 and 4: seen by both, once in the catalogue, best score
local seen, best = 0, 0
for k = 1, 6 do
  local r = util.read_data(string.format("%s/one/fields/sim-r001-c%03d.lua", dir, k), true)
  for _, c in ipairs(r.candidates) do
    if dc.sep_arcsec(c.ra, c.dec, CL_RA, CL_DEC) < 96.6 then
      seen, best = seen + 1, math.max(best, c.score)
    end
  end
end
assert(seen >= 2, "the cluster is seen in at least two fields, got " .. seen)
local cat = dc.catalog_read(dir .. "/one/candidates.fits")
local n = 0
for k = 1, cat.nrows do
  if dc.sep_arcsec(cat.cols.ra[k], cat.cols.dec[k], CL_RA, CL_DEC) < 96.6 then
    n = n + 1
    h.close(cat.cols.score[k], best, 1e-6, "the merged candidate's score is the best of the fields'")
    assert(cat.cols.n_fields[k] >= 2, "seen in 2 fields")
  end
end
assert(n == 1, "the cluster is once in the merged catalogue, got " .. n)

-- killed after its first fields (every process of the job, SIGKILL), then started again
local out = dir .. "/killed"
local sid = sh(string.format("setsid sh -c 'exec %s./deepcee survey %s out=%s > %s/killed.log 2>&1' > /dev/null 2>&1 & echo $!",
  mpi2, args, out, dir)):match("%d+")
local done = 0
local t_wait = dc.now()
while done < 2 and dc.now() - t_wait < 120 do
  os.execute("sleep 0.05")
  done = tonumber(sh(string.format("ls '%s/fields' 2>/dev/null | grep -c '\\.lua$'", out)):match("%d+"))
end
os.execute(string.format("kill -9 $(ps -eo pid=,sid= | awk '$2 == %s {print $1}') 2>/dev/null", sid))
os.execute("sleep 0.5")
done = tonumber(sh(string.format("ls '%s/fields' | grep -c '\\.lua$'", out)):match("%d+"))
assert(done >= 2 and done < 6, string.format("the survey was to be killed with 2-5 of 6 fields done, it had %d:\n%s", done,
  h.read(dir .. "/killed.log")))
local log3 = run(mpi2, out)
assert(log3:find(string.format("%d done before %%(kept%%); %d to do", done, 6 - done)), "the restart skips the finished fields:\n" .. log3)
assert(h.read(out .. "/candidates.csv") == csv, "killed and resumed, the same catalogue as one uninterrupted run")
print(string.format("killed with %d of 6 fields done; resumed to the same catalogue", done))

os.execute("rm -rf '" .. dir .. "'")
print("survey MPI tests passed")
