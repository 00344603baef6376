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
--   z_true     the simulator's true redshift of a simulated target (z is the catalogue's, photometric
--              where it has no spectroscopic one); NaN for real data and other rows. Optional when
--              reading (NaN), so manifests from before it still read.
local util = require("deepcee_util")

local M = {}

M.columns = {"file", "split", "id", "ra", "dec", "z", "richness", "n200", "bcg_rmag", "ymin", "xmin",
  "ymax", "xmax", "cx", "cy", "img_ra", "img_dec", "scale", "offset_x", "offset_y", "simulated", "kind", "z_true"}
local text = {file = true, split = true, id = true, kind = true}
local optional = {kind = "target", z_true = "nan"} -- column -> value when a manifest lacks it (or a row to write)
M.kinds = {target = true, background = true, hard_negative = true}

-- Fields of one CSV line (RFC 4180 quoting: a field in double quotes may hold commas, and "" is
-- a quote); nil and a message for an unterminated quote.
local function split_csv(line)
  local out, pos, n = {}, 1, #line
  while true do
    if line:sub(pos, pos) == '"' then
      local parts, p = {}, pos + 1
      while true do
        local q = line:find('"', p, true)
        if not q then return nil, "unterminated quoted field" end
        parts[#parts + 1] = line:sub(p, q - 1)
        if line:sub(q + 1, q + 1) == '"' then
          parts[#parts + 1] = '"'
          p = q + 2
        else
          pos = q + 1
          break
        end
      end
      out[#out + 1] = table.concat(parts)
      local c = line:sub(pos, pos)
      if c == "," then pos = pos + 1
      elseif pos > n then return out
      else return nil, "text after a quoted field" end
    else
      local c = line:find(",", pos, true)
      if not c then out[#out + 1] = line:sub(pos) return out end
      out[#out + 1] = line:sub(pos, c - 1)
      pos = c + 1
    end
  end
end
M.split_csv = split_csv

-- One CSV field: quoted when it holds a comma or a quote (M.write refuses line breaks).
local function csv_field(v)
  if v:find('[,"\r\n]') then return '"' .. v:gsub('"', '""') .. '"' end
  return v
end
M.csv_field = csv_field

-- Read folder/manifest.csv; every row's numeric fields are numbers. Errors name the file, row
-- and column.
function M.read(folder)
  local path = folder .. "/manifest.csv"
  local f, err = io.open(path, "r")
  if not f then error(string.format("cannot open the dataset manifest %s (%s): build the dataset first", path, err), 2) end
  local header = f:read("l")
  if not header then f:close() error(path .. " is empty", 2) end
  local names = split_csv(header) or {}
  local index = {}
  for i, n in ipairs(names) do index[n] = i end
  for _, c in ipairs(M.columns) do
    if not index[c] and not optional[c] then f:close() error(string.format("%s: missing column '%s'", path, c), 2) end
  end
  local rows, lineno = {}, 1
  for line in f:lines() do
    lineno = lineno + 1
    if line ~= "" then
      local fields, why = split_csv(line)
      if not fields then
        f:close()
        error(string.format("%s line %d: %s", path, lineno, why), 2)
      end
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

-- Write rows (tables with every column) to folder/manifest.csv atomically and checked
-- (util.write_atomic): a failed write leaves the previous manifest as it was.
function M.write(folder, rows)
  local path = folder .. "/manifest.csv"
  local lines = {table.concat(M.columns, ",")}
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
      v = tostring(v)
      if v:find("[\r\n]") then
        error(string.format("manifest row for %s: '%s' holds a line break, which a manifest cannot store", tostring(r.file), c), 2)
      end
      out[i] = csv_field(v)
    end
    lines[#lines + 1] = table.concat(out, ",")
  end
  local ok, err = pcall(util.write_atomic, path, function(w)
    for _, l in ipairs(lines) do w(l, "\n") end
  end)
  if not ok then error(err, 2) end
end

-- Rows of one split.
function M.split(rows, which)
  local out = {}
  for _, r in ipairs(rows) do if r.split == which then out[#out + 1] = r end end
  return out
end

return M
