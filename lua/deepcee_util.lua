-- Small pure-Lua helpers shared by the experiment scripts.
local M = {}

-- Merge user options into defaults; a key absent from the defaults is an error that names it
-- and lists the keys there are (configs never accept typos silently).
function M.config(defaults, user, where)
  local out = {}
  for k, v in pairs(defaults) do out[k] = v end
  for k, v in pairs(user or {}) do
    if defaults[k] == nil then
      local keys = {}
      for name in pairs(defaults) do keys[#keys + 1] = name end
      table.sort(keys)
      error(string.format("%s: unknown key '%s' (known keys: %s)", where or "config", tostring(k),
        table.concat(keys, ", ")), 2)
    end
    if type(v) ~= type(defaults[k]) then
      error(string.format("%s: key '%s' must be a %s, got %s", where or "config", k,
        type(defaults[k]), type(v)), 2)
    end
    out[k] = v
  end
  return out
end

-- Parse command-line arguments "key=value" (the script's `...`) against defaults: values take the
-- type of their default (number, boolean, string); unknown keys are errors.
function M.args(defaults, argv, where)
  local user = {}
  for _, a in ipairs(argv or {}) do
    local k, v = a:match("^([%w_]+)=(.*)$")
    if not k then error(string.format("%s: argument '%s' is not key=value", where or "script", a), 2) end
    local d = defaults[k]
    if type(d) == "number" then
      local n = tonumber(v)
      if not n then error(string.format("%s: %s=%s is not a number", where or "script", k, v), 2) end
      user[k] = n
    elseif type(d) == "boolean" then
      if v ~= "true" and v ~= "false" then
        error(string.format("%s: %s must be true or false, got '%s'", where or "script", k, v), 2)
      end
      user[k] = (v == "true")
    else
      user[k] = v
    end
  end
  return M.config(defaults, user, where)
end

-- A Lua table constructor for a table of strings, numbers and booleans (nested tables allowed),
-- keys sorted so the same config always gives the same text.
function M.serialize(v, indent)
  indent = indent or ""
  local t = type(v)
  if t == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    if v ~= v then return "0/0" end
    return string.format("%.17g", v)
  elseif t == "string" then
    return string.format("%q", v)
  elseif t == "boolean" then
    return tostring(v)
  elseif t == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local parts = {}
    for _, k in ipairs(keys) do
      local key = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or "[" .. M.serialize(k) .. "]"
      parts[#parts + 1] = indent .. "  " .. key .. " = " .. M.serialize(v[k], indent .. "  ")
    end
    return "{\n" .. table.concat(parts, ",\n") .. "\n" .. indent .. "}"
  end
  error("cannot serialize a " .. t, 2)
end

function M.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

-- Write text to path atomically (temporary file, then rename).
function M.write_file(path, text)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "w")
  if not f then error(string.format("cannot write %s: %s", path, err), 2) end
  f:write(text)
  f:close()
  local ok, rerr = os.rename(tmp, path)
  if not ok then error(string.format("cannot move %s into place: %s", path, rerr), 2) end
end

function M.mkdir(path)
  local ok = os.execute("mkdir -p '" .. path:gsub("'", "'\\''") .. "'")
  if not ok then error("cannot create the folder " .. path, 2) end
end

-- "1h02m", "3m05s", "12s"
function M.duration(s)
  if s ~= s or s == math.huge then return "?" end
  s = math.floor(s + 0.5)
  if s >= 3600 then return string.format("%dh%02dm", s // 3600, (s % 3600) // 60) end
  if s >= 60 then return string.format("%dm%02ds", s // 60, s % 60) end
  return string.format("%ds", s)
end

-- A PNG image as the detector's input tensor [1, 3, H, W], pixels mapped to [-1, 1] by
-- (2/255) x - 1 (facts.md section 1). aug (training augmentation, lua/train.lua) is nil, true (a
-- left-right flip) or {photometric = rgb:photometric options, dihedral = 0..7}: the photometric
-- change first, then the grid symmetry (engine/astro/astro.h).
function M.load_image(path, aug)
  local rgb <close> = require("deepcee").png_read(path)
  if aug == true then
    rgb:flip_x()
  elseif type(aug) == "table" then
    if aug.photometric then rgb:photometric(aug.photometric) end
    if aug.dihedral and aug.dihedral ~= 0 then rgb:dihedral(aug.dihedral) end
  end
  return rgb:to_tensor()
end

return M
