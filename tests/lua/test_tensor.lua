-- Lua tensors and the binding's error behaviour.
local dc = require("deepcee")

local helpers = dofile(assert(os.getenv("DEEPCEE_SOURCE_DIR"), "DEEPCEE_SOURCE_DIR is not set (ctest sets it)")
  .. "/tests/lua/helpers.lua")
local expect_error = helpers.expect_error

assert(#dc.devices() >= 1, "no OpenCL device")
assert(dc.device().name ~= "", "device without a name")

do
  local vals = {}
  for i = 1, 2 * 3 * 5 do vals[i] = (i - 10) / 4 end
  local t <close> = dc.tensor({2, 3, 5}, vals)
  assert(#t == 30)
  local s = t:shape()
  assert(s[1] == 2 and s[2] == 3 and s[3] == 5 and #s == 3)
  local back = t:to_table()
  for i = 1, 30 do assert(back[i] == vals[i], "value " .. i .. " changed") end
  t:fill(0.5)
  for _, v in ipairs(t:to_table()) do assert(v == 0.5) end
  t:from_table(vals)
  assert(t:to_table()[30] == vals[30])
  expect_error(function() t:from_table({1, 2}) end, "2 values given")
end

local freed = dc.tensor({4}, 1)
freed:free()
expect_error(function() freed:to_table() end, "tensor was freed")
assert(tostring(freed) == "tensor (freed)")
expect_error(function() dc.tensor({3, 0}) end, "positive integer")
expect_error(function() dc.tensor({2, 2}, {1, 2, 3}) end, "3 values given for 4")
expect_error(function() dc.tensor({1, 1, 1, 1, 1}) end, "1 to 4 dimensions")
expect_error(function() dc.tensor({1 << 14, 1 << 14, 1 << 10, 4}) end, "MiB")

local util = require("deepcee_util")
expect_error(function() util.config({steps = 10, lr = 0.1}, {stpes = 5}, "train") end, "unknown key 'stpes'")
expect_error(function() util.config({steps = 10}, {steps = "x"}, "train") end, "must be a number")
local c = util.config({steps = 10, lr = 0.1}, {steps = 5}, "train")
assert(c.steps == 5 and c.lr == 0.1)
local a = util.args({steps = 10, name = "x", flip = true}, {"steps=3", "flip=false"}, "demo")
assert(a.steps == 3 and a.flip == false and a.name == "x")
expect_error(function() util.args({steps = 10}, {"step=3"}, "demo") end, "unknown key 'step'")
expect_error(function() util.args({steps = 10}, {"steps=abc"}, "demo") end, "is not a number")
print("test_tensor: 1 passed, 0 failed")
