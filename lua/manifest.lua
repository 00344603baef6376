-- Dataset manifests: the contract between the dataset builder (lua/dataset.lua) and training and
-- evaluation. A dataset folder holds the images (PNG, g,r,i composites at the network's input
-- size) and manifest.csv, one row per image:
--
--   file       image file name, relative to the folder
--   split      "train" or "test"
--   id         cluster identifier (string)
--   ra, dec    the cluster centre (BCG), degrees
--   z          redshift
--   richness   richness (WHL12 RL* or redMaPPer lambda)
--   n200       member count within R200 (NaN when unknown)
--   bcg_rmag   BCG r-band magnitude
--   ymin, xmin, ymax, xmax   ground-truth box in image pixels (row 0 at the top)
--   cx, cy     the true centre in image pixels (x right, y down)
--   img_ra, img_dec          sky position of the image centre, degrees
--   scale      arcsec per image pixel
--   offset_x, offset_y       offset of the cut-out centre from the cluster, arcsec
--   simulated  1 for simulated skies, 0 for real images
--   kind       "target" (a cluster passing the cuts, with its box), "background" (a tile with no
--              target) or "hard_negative" (a tile centred on a non-target object: id, ra, dec, z,
--              richness, n200, bcg_rmag are that object's); rows other than targets have NaN box
--              and centre. Optional when reading: manifests without it hold targets only.
local M = {}

M.columns = {"file", "split", "id", "ra", "dec", "z", "richness", "n200", "bcg_rmag", "ymin", "xmin",
  "ymax", "xmax", "cx", "cy", "img_ra", "img_dec", "scale", "offset_x", "offset_y", "simulated", "kind"}
local text = {file = true, split = true, id = true, kind = true}
local optional = {kind = "target"} -- column -> value when a manifest lacks it
M.kinds = {target = true, background = true, hard_negative = true}

local function split_csv(line)
  local out = {}
  for field in (line .. ","):gmatch("([^,]*),") do out[#out + 1] = field end
  return out
end

-- Read folder/manifest.csv; every row's numeric fields are numbers. Errors name the file, row
-- and column.
function M.read(folder)
  local path = folder .. "/manifest.csv"
  local f, err = io.open(path, "r")
  if not f then error(string.format("cannot open the dataset manifest %s (%s): build the dataset first", path, err), 2) end
  local header = f:read("l")
  if not header then f:close() error(path .. " is empty", 2) end
  local names = split_csv(header)
  local index = {}
  for i, n in ipairs(names) do index[n] = i end
  for _, c in ipairs(M.columns) do
    if not index[c] and not optional[c] then f:close() error(string.format("%s: missing column '%s'", path, c), 2) end
  end
  local rows, lineno = {}, 1
  for line in f:lines() do
    lineno = lineno + 1
    if line ~= "" then
      local fields = split_csv(line)
      if #fields ~= #names then
        f:close()
        error(string.format("%s line %d: %d fields, expected %d", path, lineno, #fields, #names), 2)
      end
      local row = {}
      for _, c in ipairs(M.columns) do
        local v = index[c] and fields[index[c]] or optional[c]
        if text[c] then
          row[c] = v
        else
          local n = tonumber(v) or (v:lower() == "nan" and 0 / 0) or nil
          if not n then
            f:close()
            error(string.format("%s line %d: column '%s' is not a number: '%s'", path, lineno, c, v), 2)
          end
          row[c] = n
        end
      end
      if row.split ~= "train" and row.split ~= "test" then
        f:close()
        error(string.format("%s line %d: split must be train or test, got '%s'", path, lineno, row.split), 2)
      end
      if not M.kinds[row.kind] then
        f:close()
        error(string.format("%s line %d: kind must be target, background or hard_negative, got '%s'", path, lineno,
          row.kind), 2)
      end
      row.path = folder .. "/" .. row.file
      rows[#rows + 1] = row
    end
  end
  f:close()
  return rows
end

-- Write rows (tables with every column) to folder/manifest.csv atomically.
function M.write(folder, rows)
  local path = folder .. "/manifest.csv"
  local tmp = path .. ".tmp"
  local f = assert(io.open(tmp, "w"))
  f:write(table.concat(M.columns, ","), "\n")
  for _, r in ipairs(rows) do
    local out = {}
    for i, c in ipairs(M.columns) do
      local v = r[c]
      if v == nil then v = optional[c] end
      if v == nil then error(string.format("manifest row for %s lacks '%s'", tostring(r.file), c), 2) end
      if type(v) == "number" then
        if v ~= v then v = "nan"
        elseif math.type(v) == "integer" then v = tostring(v)
        else v = string.format("%.10g", v) end
      end
      out[i] = tostring(v)
    end
    f:write(table.concat(out, ","), "\n")
  end
  f:close()
  assert(os.rename(tmp, path))
end

-- Rows of one split.
function M.split(rows, which)
  local out = {}
  for _, r in ipairs(rows) do if r.split == which then out[#out + 1] = r end end
  return out
end

return M
