-- Small pure-Lua helpers shared by the experiment scripts.
local M = {}

local optional_mt = {}

-- A key of a util.config defaults table that has no default value: absent unless given, and when
-- given of one of the types named (util.optional("string"), util.optional("table", "string")).
function M.optional(...)
  return setmetatable({types = {...}}, optional_mt)
end

local function is_optional(v) return getmetatable(v) == optional_mt end

-- Merge user options into defaults; a key absent from the defaults is an error that names it
-- and lists the keys there are (configs never accept typos silently). Every number must be
-- finite. ranges (optional, declared once beside the defaults) gives numeric keys their allowed
-- closed interval and kind: {key = {min, max}} or {key = {min, max, "integer"}}; an integral float
-- given for an integer key (2.0) becomes an integer, 2.5 is an error naming the key, the value and
-- the range. Defaults are checked too (a wrong default is a bug that should show at once). A key
-- whose default is util.optional(types) is known but has no default: absent unless given.
function M.config(defaults, user, where, ranges)
  where = where or "config"
  local out = {}
  for k, v in pairs(defaults) do
    if not is_optional(v) then out[k] = v end
  end
  for k, v in pairs(user or {}) do
    local d = defaults[k]
    if d == nil then
      local keys = {}
      for name in pairs(defaults) do keys[#keys + 1] = name end
      table.sort(keys)
      error(string.format("%s: unknown key '%s' (known keys: %s)", where, tostring(k),
        table.concat(keys, ", ")), 2)
    end
    local types = is_optional(d) and d.types or {type(d)}
    local ok = false
    for _, t in ipairs(types) do ok = ok or type(v) == t end
    if not ok then
      error(string.format("%s: key '%s' must be a %s, got %s", where, k,
        table.concat(types, " or "), type(v)), 2)
    end
    out[k] = v
  end
  for k, v in pairs(out) do
    if type(v) == "number" and (v ~= v or v == math.huge or v == -math.huge) then
      error(string.format("%s: %s=%s is not a finite number", where, k, tostring(v)), 2)
    end
  end
  for k, r in pairs(ranges or {}) do
    local v = out[k]
    if v == nil and is_optional(defaults[k]) then goto next_range end
    if type(v) ~= "number" then
      error(string.format("%s: range given for '%s', which is not a numeric key", where, tostring(k)), 2)
    end
    do
      local lo, hi, kind = r[1], r[2], r[3]
      local what = string.format("%s %.15g..%.15g", kind == "integer" and "an integer in" or "in", lo, hi)
      if kind == "integer" then
        if v ~= math.floor(v) then
          error(string.format("%s: %s=%s must be %s (a whole number)", where, k, tostring(v), what), 2)
        end
        v = math.tointeger(v) or v
        out[k] = v
      end
      if not (v >= lo and v <= hi) then
        error(string.format("%s: %s=%s is out of range: it must be %s", where, k, tostring(v), what), 2)
      end
    end
    ::next_range::
  end
  return out
end

-- A command line with presets: `preset=NAME` (default `default`) picks presets[NAME] (an error
-- naming `where` and the known presets otherwise), applied over defaults, then the other
-- "key=value" arguments on top; both checked against defaults and ranges (config, args). Returns
-- the config and the preset's name.
function M.preset_args(defaults, presets, argv, where, ranges, default)
  local preset, rest = default, {}
  for _, a in ipairs(argv) do
    local v = a:match("^preset=(.*)$")
    if v then preset = v else rest[#rest + 1] = a end
  end
  local base = presets[preset]
  if not base then
    local names = {}
    for k in pairs(presets) do names[#names + 1] = k end
    table.sort(names)
    error(string.format("%s: unknown preset '%s' (%s)", where, preset, table.concat(names, ", ")), 0)
  end
  local merged = M.config(defaults, base, where .. " preset " .. preset, ranges)
  return M.args(merged, rest, where, ranges), preset
end

-- Parse command-line arguments "key=value" (the script's `...`) against defaults: values take the
-- type of their default (number, boolean, string); unknown keys are errors.
function M.args(defaults, argv, where, ranges)
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
  return M.config(defaults, user, where, ranges)
end

-- Lua's reserved words: as table keys they are written ["..."] (a bare `nil = 1` would not read
-- back; found by fuzz/fuzz_data.c).
local reserved = {}
for w in ("and break do else elseif end false for function goto if in local nil not or repeat return "
  .. "then true until while"):gmatch("%a+") do reserved[w] = true end

-- A Lua table constructor for a table of strings, numbers and booleans (nested tables allowed),
-- keys sorted so the same config always gives the same text. parse_data reads it back unchanged.
function M.serialize(v, indent)
  indent = indent or ""
  local t = type(v)
  if t == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    if v ~= v then return "0/0" end
    if v == math.huge then return "1/0" end
    if v == -math.huge then return "-1/0" end
    if v == 0 and 1 / v < 0 then return "-0.0" end -- "%.17g" gives "-0", which reads back as the integer 0
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
      local key = type(k) == "string" and k:match("^[%a_][%w_]*$") and not reserved[k] and k
        or "[" .. M.serialize(k) .. "]"
      parts[#parts + 1] = indent .. "  " .. key .. " = " .. M.serialize(v[k], indent .. "  ")
    end
    return "{\n" .. table.concat(parts, ",\n") .. "\n" .. indent .. "}"
  end
  error("cannot serialize a " .. t, 2)
end

-- Read text written by M.serialize (or by hand in that form) as DATA, never as code: an optional
-- leading "return", then one value: a table constructor, a string ("..." or '...' with Lua's
-- escapes), a number (decimal or hex; 0/0, 1/0 and -1/0 for NaN and the infinities, as serialize
-- writes them), true, false or nil. Comments (--) are skipped. No names, calls, operators or
-- expressions: a file that holds anything else is an error naming where (a file name) and the
-- line, so a hostile weights file or run folder cannot run code. Returns the value.
function M.parse_data(text, where)
  where = where or "data"
  if type(text) ~= "string" then error(string.format("%s: expected text, got a %s", where, type(text)), 2) end
  local pos, n = 1, #text
  local function fail(msg)
    local line = 1
    for _ in text:sub(1, pos - 1):gmatch("\n") do line = line + 1 end
    local near = text:sub(pos, pos + 20):gsub("%s+", " ")
    error(string.format("%s: not a data file (line %d, near '%s'): %s; deepcee reads such files as data only "
      .. "(tables, strings, numbers, booleans), never as code", where, line, near, msg), 0)
  end
  local function skip()
    while true do
      local s, e = text:find("^[ \t\r\n\f\v]+", pos)
      if s then pos = e + 1 end
      if text:sub(pos, pos + 1) == "--" then
        local nl = text:find("\n", pos, true)
        pos = nl and nl + 1 or n + 1
      else
        return
      end
    end
  end
  local escapes = {a = "\a", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t", v = "\v", ["\\"] = "\\",
    ['"'] = '"', ["'"] = "'", ["\n"] = "\n"}
  local function str()
    local q = text:sub(pos, pos)
    pos = pos + 1
    local parts = {}
    while true do
      local s = text:find("[\\\n" .. q .. "]", pos)
      if not s then fail("unfinished string") end
      parts[#parts + 1] = text:sub(pos, s - 1)
      local c = text:sub(s, s)
      pos = s + 1
      if c == q then return table.concat(parts) end
      if c == "\n" then pos = s fail("unfinished string") end
      local e = text:sub(pos, pos)
      if escapes[e] then
        parts[#parts + 1] = escapes[e]
        pos = pos + 1
      elseif e == "\r" then
        parts[#parts + 1] = "\n"
        pos = pos + (text:sub(pos + 1, pos + 1) == "\n" and 2 or 1)
      elseif e:match("%d") then
        local d = text:match("^%d%d?%d?", pos)
        local v = tonumber(d)
        if v > 255 then fail("decimal escape too large") end
        parts[#parts + 1] = string.char(v)
        pos = pos + #d
      elseif e == "x" then
        local h = text:match("^%x%x", pos + 1)
        if not h then fail("bad \\x escape") end
        parts[#parts + 1] = string.char(tonumber(h, 16))
        pos = pos + 3
      elseif e == "z" then
        pos = pos + 1
        local _, ze = text:find("^%s*", pos)
        pos = ze + 1
      elseif e == "u" then
        local h = text:match("^{(%x+)}", pos + 1)
        if not h or #h > 8 or tonumber(h, 16) > 0x7FFFFFFF then fail("bad \\u escape") end
        parts[#parts + 1] = utf8.char(tonumber(h, 16))
        pos = pos + 3 + #h
      else
        fail("invalid escape in a string")
      end
    end
  end
  local function number()
    local neg = false
    if text:sub(pos, pos) == "-" then
      neg = true
      pos = pos + 1
      skip()
    end
    -- mantissa, then exponent, each matched once: a pattern holding both backtracks over the
    -- mantissa's digits, quadratic in their number (a long digit run took minutes)
    local hex = text:find("^0[xX]", pos)
    local tok = hex and text:match("^0[xX]%x*%.?%x*", pos) or text:match("^%d*%.?%d*", pos)
    tok = tok .. (text:match(hex and "^[pP][%+%-]?%d+" or "^[eE][%+%-]?%d+", pos + #tok) or "")
    local v = tok and tok ~= "" and tok ~= "." and tonumber((neg and "-" or "") .. tok)
    if not v then fail("expected a value (a table, string, number or boolean)") end
    pos = pos + #tok
    if text:find("^[%w_]", pos) then fail("malformed number") end
    if text:sub(pos, pos) == "/" then  -- only the literals 0/0 and 1/0 (NaN, infinity)
      if (tok == "0" or tok == "1") and text:find("^/0", pos) and not text:find("^[%w_%.]", pos + 2) then
        pos = pos + 2
        v = tok == "0" and 0 / 0 or (neg and -1 / 0 or 1 / 0)
      else
        fail("expressions are not allowed")
      end
    end
    return v
  end
  local value
  local function tbl(depth)
    if depth > 64 then fail("tables nested too deeply") end
    pos = pos + 1
    local t, count = {}, 0
    while true do
      skip()
      local c = text:sub(pos, pos)
      if c == "}" then pos = pos + 1 return t end
      local key
      if c == "[" then
        pos = pos + 1
        skip()
        key = value(depth + 1)
        skip()
        if text:sub(pos, pos) ~= "]" then fail("expected ']'") end
        pos = pos + 1
        skip()
        if text:sub(pos, pos) ~= "=" then fail("expected '='") end
        pos = pos + 1
        if type(key) ~= "string" and type(key) ~= "number" then fail("table keys must be strings or numbers") end
        if key ~= key then fail("a table key is NaN") end
      else
        local name = text:match("^[%a_][%w_]*", pos)
        if name and name ~= "true" and name ~= "false" and name ~= "nil" then
          pos = pos + #name
          skip()
          if text:sub(pos, pos) ~= "=" or text:sub(pos + 1, pos + 1) == "=" then
            pos = pos - #name
            fail("names, calls and expressions are not allowed")
          end
          pos = pos + 1
          key = name
        end
      end
      skip()
      local v = value(depth + 1)
      if key == nil then
        count = count + 1
        key = count
      end
      if t[key] ~= nil then fail("key '" .. tostring(key) .. "' appears twice") end
      t[key] = v
      skip()
      c = text:sub(pos, pos)
      if c == "," or c == ";" then pos = pos + 1
      elseif c ~= "}" then fail("expected ',' or '}'") end
    end
  end
  value = function(depth)
    local c = text:sub(pos, pos)
    if c == "{" then return tbl(depth) end
    if c == '"' or c == "'" then return str() end
    -- %f[^%w_]: the word ends there or at the end of the text (no copy of the rest of the text
    -- per value, which made a long list quadratic)
    if text:find("^true%f[^%w_]", pos) then pos = pos + 4 return true end
    if text:find("^false%f[^%w_]", pos) then pos = pos + 5 return false end
    if text:find("^nil%f[^%w_]", pos) then pos = pos + 3 return nil end
    if c == "[" and text:find("^%[=*%[", pos) then fail("long strings are not allowed") end
    if c:match("[%d%.%-]") then return number() end
    fail("expected a value (a table, string, number or boolean)")
  end
  skip()
  if text:find("^return%f[^%w_]", pos) then pos = pos + 6 end
  skip()
  if pos > n then fail("no value") end
  local v = value(0)
  skip()
  if text:sub(pos, pos) == ";" then pos = pos + 1 skip() end
  if pos <= n then fail("text after the value") end
  return v
end

-- Read a data file (see parse_data); a missing file is nil, "why" unless must is set.
function M.read_data(path, must)
  local f, err = io.open(path, "rb")
  if not f then
    if must then error(string.format("cannot read %s: %s", path, tostring(err)), 2) end
    return nil, err
  end
  local text = f:read("a")
  f:close()
  return M.parse_data(text or "", path)
end

function M.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

-- Write a file whole or not at all. fill(w) is called with w(...) that writes strings; the text
-- goes to a temporary file in the same folder, path .. ".tmp<pid>" (its own per process, so two
-- runs writing the same file cannot mix their texts), every write, the flush and the close are
-- checked, and only a complete file is renamed over path. On any failure the temporary is
-- removed, the previous file at path is left untouched, and the error names path. Temporaries of
-- path left by killed processes are removed first (deepcee.remove_stale_temps).
function M.write_atomic(path, fill)
  local dc = require("deepcee")
  local tmp = path .. ".tmp" .. dc.pid()
  dc.remove_stale_temps(path)
  local f, err = io.open(tmp, "wb")
  if not f then error(string.format("cannot write %s: cannot create the temporary %s: %s", path, tmp, err), 2) end
  local failed
  local function w(...)
    if failed then return end
    local ok, werr = f:write(...)
    if not ok then failed = werr or "write failed" end
  end
  local ok, perr = pcall(fill, w)
  if not ok then failed = failed or tostring(perr) end
  if not failed then
    local fok, ferr = f:flush()
    if not fok then failed = ferr or "flush failed" end
  end
  local cok, cerr = f:close()
  if not cok and not failed then failed = cerr or "close failed" end
  if failed then
    os.remove(tmp)
    error(string.format("cannot write %s: %s; the previous %s (if any) is untouched", path, failed, path), 2)
  end
  local rok, rerr = os.rename(tmp, path)
  if not rok then
    os.remove(tmp)
    error(string.format("cannot move %s into place as %s: %s; the previous %s (if any) is untouched",
      tmp, path, rerr, path), 2)
  end
end

-- Write text to path atomically (see write_atomic).
function M.write_file(path, text)
  local ok, err = pcall(M.write_atomic, path, function(w) w(text) end)
  if not ok then error(err, 2) end
end

-- Append lines to an open log file, checked: a failed write (disk full) is an error naming path.
function M.append_checked(f, path, text)
  local ok, err = f:write(text)
  if not ok then error(string.format("cannot append to %s: %s", path, tostring(err)), 2) end
end

function M.flush_checked(f, path)
  local ok, err = f:flush()
  if not ok then error(string.format("cannot write %s: %s", path, tostring(err)), 2) end
end

function M.mkdir(path)
  local ok = os.execute("mkdir -p '" .. path:gsub("'", "'\\''") .. "'")
  if not ok then error("cannot create the folder " .. path, 2) end
end

-- Shuffle the list t in place (Fisher-Yates), seeded: Lua 5.4's xoshiro256** is reseeded with
-- (seed, stream) first, so the order depends on these alone (docs/architecture.md, Determinism).
function M.shuffle(t, seed, stream)
  math.randomseed(seed, stream)
  for i = #t, 2, -1 do
    local j = math.random(i)
    t[i], t[j] = t[j], t[i]
  end
  return t
end

-- FNV-1a over a string, as a non-negative integer (Lua integers wrap): the seeds derived from names
-- (lua/dataset.lua's offsets and background tiles, lua/fieldeval.lua's fields) and the position
-- tags of mined tiles.
function M.hash(s)
  local h = -3750763034362895579 -- 14695981039346656037 as a signed 64-bit integer
  for k = 1, #s do h = (h ~ s:byte(k)) * 1099511628211 end
  return h & 0x7fffffffffffffff
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
-- (2/255) x - 1 (docs/facts.md section 1). aug (training augmentation, lua/train.lua) is nil, true (a
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
