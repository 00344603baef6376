-- Network definitions as Lua tables (see engine/lua/l_frcnn.c for the layer fields) and the
-- detector configurations built from them.
--
-- `paper`: Inception-v2 (TF-slim inception_v2_base, as faster_rcnn_inception_v2 uses it) up to
-- Mixed_4e for the feature network (stride 16, 576 channels) and Mixed_5a-5c + spatial mean for the
-- detection network (1024 channels); docs/facts.md section 1. Batch norm is frozen in the paper, so it
-- is folded into each convolution's bias here. One deviation: TF-slim builds Conv2d_1a_7x7 as a
-- separable convolution (depthwise 7x7 x8, then 1x1 to 64); it is a full 7x7 convolution here.
-- `demo`: a small Inception-style network of the same shape (stride 16), sized to train on a
-- 2-core CPU in minutes.
local M = {}

local function conv(name, out, k, stride, input)
  return {"conv", name = name, out = out, k = k, stride = stride or 1, relu = true, input = input}
end

-- An Inception-v2 mixed block: branch 0 1x1; branch 1 1x1 -> 3x3; branch 2 1x1 -> 3x3 -> 3x3;
-- branch 3 pool 3x3 -> 1x1. `input` is the block's input layer name.
local function mixed(layers, name, input, b0, b1a, b1b, b2a, b2b, pool, b3)
  local p = name .. "/"
  layers[#layers + 1] = conv(p .. "b0_1x1", b0, 1, 1, input)
  layers[#layers + 1] = conv(p .. "b1_1x1", b1a, 1, 1, input)
  layers[#layers + 1] = conv(p .. "b1_3x3", b1b, 3)
  layers[#layers + 1] = conv(p .. "b2_1x1", b2a, 1, 1, input)
  layers[#layers + 1] = conv(p .. "b2_3x3a", b2b, 3)
  layers[#layers + 1] = conv(p .. "b2_3x3b", b2b, 3)
  layers[#layers + 1] = {pool, name = p .. "b3_pool", k = 3, stride = 1, input = input}
  layers[#layers + 1] = conv(p .. "b3_1x1", b3, 1)
  layers[#layers + 1] = {"concat", name = name,
    input = {p .. "b0_1x1", p .. "b1_3x3", p .. "b2_3x3b", p .. "b3_1x1"}}
  return name
end

-- A stride-2 reduction block (Mixed_4a / Mixed_5a): 1x1 -> 3x3 s2 | 1x1 -> 3x3 -> 3x3 s2 | max-pool s2.
local function reduction(layers, name, input, b0a, b0b, b1a, b1b)
  local p = name .. "/"
  layers[#layers + 1] = conv(p .. "b0_1x1", b0a, 1, 1, input)
  layers[#layers + 1] = conv(p .. "b0_3x3", b0b, 3, 2)
  layers[#layers + 1] = conv(p .. "b1_1x1", b1a, 1, 1, input)
  layers[#layers + 1] = conv(p .. "b1_3x3a", b1b, 3)
  layers[#layers + 1] = conv(p .. "b1_3x3b", b1b, 3, 2)
  layers[#layers + 1] = {"maxpool", name = p .. "b2_pool", k = 3, stride = 2, input = input}
  layers[#layers + 1] = {"concat", name = name, input = {p .. "b0_3x3", p .. "b1_3x3b", p .. "b2_pool"}}
  return name
end

function M.inception_v2_fn()
  local l = {
    conv("Conv2d_1a_7x7", 64, 7, 2, "input"),
    {"maxpool", name = "MaxPool_2a_3x3", k = 3, stride = 2},
    conv("Conv2d_2b_1x1", 64, 1),
    conv("Conv2d_2c_3x3", 192, 3),
    {"maxpool", name = "MaxPool_3a_3x3", k = 3, stride = 2},
  }
  local x = "MaxPool_3a_3x3"
  x = mixed(l, "Mixed_3b", x, 64, 64, 64, 64, 96, "avgpool", 32)
  x = mixed(l, "Mixed_3c", x, 64, 64, 96, 64, 96, "avgpool", 64)
  x = reduction(l, "Mixed_4a", x, 128, 160, 64, 96)
  x = mixed(l, "Mixed_4b", x, 224, 64, 96, 96, 128, "avgpool", 128)
  x = mixed(l, "Mixed_4c", x, 192, 96, 128, 96, 128, "avgpool", 128)
  x = mixed(l, "Mixed_4d", x, 160, 128, 160, 128, 160, "avgpool", 96)
  mixed(l, "Mixed_4e", x, 96, 128, 192, 160, 192, "avgpool", 96)
  return l
end

function M.inception_v2_dn()
  local l = {}
  local x = reduction(l, "Mixed_5a", "input", 128, 192, 192, 256)
  x = mixed(l, "Mixed_5b", x, 352, 192, 320, 160, 224, "avgpool", 128)
  x = mixed(l, "Mixed_5c", x, 352, 192, 320, 192, 224, "maxpool", 128)
  l[#l + 1] = {"global_avgpool", name = "mean", input = x}
  return l
end

function M.demo_fn()
  local l = {
    conv("conv1", 16, 5, 2, "input"),
    {"maxpool", name = "pool1", k = 3, stride = 2},
    conv("conv2", 32, 3),
    {"maxpool", name = "pool2", k = 3, stride = 2},
  }
  local x = mixed(l, "mixed3", "pool2", 16, 16, 24, 8, 16, "avgpool", 8)
  l[#l + 1] = conv("conv4", 64, 3, 2, x)
  return l
end

-- The demo DN keeps where things are inside the box (a fully connected layer on the 4x4 map rather
-- than a spatial mean): with a small network that is what tells a well-placed box from a shifted one.
function M.demo_dn()
  return {
    conv("conv1", 64, 3, 2, "input"),
    {"fc", name = "fc1", out = 128, k = 4, relu = true, init = "he"}, -- 14x14 crops -> 7x7 -> 4x4
  }
end

-- Detector configurations: everything deepcee.frcnn takes. `image_size` is the network's input
-- side; the rest are the paper's settings unless said.
M.configs = {
  paper = {
    image_size = 1000,
    published_params = 13.3e6, -- docs/facts.md section 1
    model = function() return {fn = M.inception_v2_fn(), dn = M.inception_v2_dn()} end,
  },
  demo = {
    image_size = 256,
    model = function()
      return {fn = M.demo_fn(), dn = M.demo_dn(), rpn_channels = 64, anchor_base = 64,
              anchor_scales = {0.5, 1.0, 2.0}, anchor_ratios = {0.5, 1.0, 2.0}, pre_nms_top_k = 1000,
              max_proposals = 100, dn_add_gt = true}
    end,
  },
}

-- Build a detector: name is a key of M.configs; overrides are extra deepcee.frcnn keys.
function M.build(name, overrides)
  local c = M.configs[name]
  if not c then
    local names = {}
    for k in pairs(M.configs) do names[#names + 1] = k end
    table.sort(names)
    error(string.format("unknown network '%s' (known: %s)", tostring(name), table.concat(names, ", ")), 2)
  end
  local t = c.model()
  for k, v in pairs(overrides or {}) do t[k] = v end
  return require("deepcee").frcnn(t), c
end

return M
