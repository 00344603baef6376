-- g, r, i FITS triplets on disk: one home for the file forms `deepcee dataset source=files`,
-- `deepcee detect dir=` (and later `survey`) accept:
--  * a folder of <stem>-g.fits, <stem>-r.fits, <stem>-i.fits (also _g; .fits or .fit, with .gz,
--    .fz or .bz2) -- SkyView cut-outs, the simulator's field:write output -- or SDSS frames
--    frame-<band>-<run>-<camcol>-<field>.fits[.bz2];
--  * or a CSV file with columns g, r, i listing one triplet per row (paths relative to the CSV).
local dc = require("deepcee")
local util = require("deepcee_util")

local M = {}

local BANDS = {"g", "r", "i"}

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

-- The names in a folder (none when it does not exist).
function M.list_dir(folder)
  local ls = io.popen("ls -1A '" .. folder:gsub("'", "'\\''") .. "' 2>/dev/null")
  local names = {}
  for name in ls:lines() do names[#names + 1] = name end
  ls:close()
  return names
end

-- The band and triplet stem of a file name, or nil.
function M.parse_name(name)
  local base
  for _, pat in ipairs({"^(.*)%.fits?$", "^(.*)%.fits?%.gz$", "^(.*)%.fits?%.fz$", "^(.*)%.fits?%.bz2$", "^(.*)%.fz$"}) do
    base = base or name:match(pat)
  end
  if not base then return nil end
  local stem, band = base:match("^(.*)[-_]([gri])$")
  if stem and stem ~= "" then return stem, band end
  band, stem = base:match("^frame%-([gri])%-(.+)$") -- SDSS frame-<band>-<run>-<camcol>-<field>
  if band then return "frame-" .. stem, band end
  return nil
end

-- Triplets {name, g=, r=, i=} from a folder or a CSV listing; errors, prefixed with `where`, name
-- the file and what is missing.
function M.list(images, where)
  local triplets = {}
  if images:match("%.csv$") then
    local cat = dc.catalog_read(images)
    for _, b in ipairs(BANDS) do
      if not cat.cols[b] then
        error(string.format(where .. ": image listing %s has no column '%s' (needs columns g, r, i)", images, b), 0)
      end
    end
    local base = dirname(images)
    for k = 1, cat.nrows do
      local t = {name = string.format("%s row %d", images, k)}
      for _, b in ipairs(BANDS) do
        local p = tostring(cat.cols[b][k])
        if p == "" or p == "nan" then error(string.format(where .. ": %s row %d: no %s-band file", images, k, b), 0) end
        t[b] = p:sub(1, 1) == "/" and p or base .. "/" .. p
        if not util.exists(t[b]) then
          error(string.format(where .. ": %s row %d: %s-band file %s does not exist", images, k, b, t[b]), 0)
        end
      end
      triplets[#triplets + 1] = t
    end
    return triplets
  end
  local by_stem, stems = {}, {}
  for _, name in ipairs(M.list_dir(images)) do
    local stem, band = M.parse_name(name)
    if stem then
      if not by_stem[stem] then
        by_stem[stem] = {name = images .. "/" .. stem}
        stems[#stems + 1] = stem
      end
      by_stem[stem][band] = images .. "/" .. name
    end
  end
  if #stems == 0 then
    error(string.format(where .. ": no g, r, i FITS images in '%s' (expected <stem>-g.fits, <stem>-r.fits, " ..
      "<stem>-i.fits or SDSS frame-<band>-...fits, or a CSV listing with columns g, r, i)", images), 0)
  end
  table.sort(stems)
  for _, stem in ipairs(stems) do
    local t = by_stem[stem]
    for _, b in ipairs(BANDS) do
      if not t[b] then
        local have = {}
        for _, o in ipairs(BANDS) do if t[o] then have[#have + 1] = t[o] end end
        error(string.format(where .. ": %s has no %s-band file beside %s", images, b, table.concat(have, " and ")), 0)
      end
    end
    triplets[#triplets + 1] = t
  end
  return triplets
end

return M
