-- The training loop (paper section 3; settings facts.md section 1). Lua holds the loop; one C call
-- runs a whole step. A run folder holds config.lua (the effective configuration), losses.csv (the
-- paper's Table A1 form), checkpoint.dcw (atomic, every checkpoint_every steps and at the end;
-- weights, momenta and sampler state) and weights.dcw (the final weights). A run that finds a
-- checkpoint resumes from it and continues bit-identically on the same device.
local dc = require("deepcee")
local util = require("deepcee_util")
local manifest = require("manifest")
local nets = require("nets")

local M = {}

M.defaults = {
  network = "demo",          -- a key of nets.configs
  dataset = "",              -- folder with manifest.csv (lua/dataset.lua)
  clusters = {},             -- cluster ids: train on all their rows, whatever their split (the
                             -- k-fold folds, lua/kfold.lua); empty: the rows with split = "train"
  out = "runs/train",        -- run folder
  steps = 2000,
  lr = 0.0002,               -- the paper's constant learning rate
  lr_decay_at = 0,           -- fraction of steps after which lr is multiplied by lr_decay (0: never)
  lr_decay = 0.1,
  momentum = 0.9,
  clip_norm = 10.0,
  seed = 1,
  flip = true,               -- random horizontal flips, p = 0.5
  checkpoint_every = 200,
  log_every = 10,
  resume = true,
  quiet = false,
}

-- Allowed values of the numeric keys (util.config: key, value and range named in the message).
M.ranges = {
  steps = {1, 1e9, "integer"},
  lr = {1e-9, 1},                -- the paper's 2e-4 and the demo's 5e-3 sit well inside
  lr_decay_at = {0, 0.99},
  lr_decay = {1e-6, 1},
  momentum = {0, 0.999},
  clip_norm = {1e-6, 1e6},
  seed = {0, 2 ^ 53, "integer"},
  checkpoint_every = {1, 1e9, "integer"},
  log_every = {1, 1e9, "integer"},
}

-- The example and flip of a step: a fixed function of (seed, step), so a resumed run sees the
-- same sequence. Each epoch is a permutation of the training rows.
local function schedule(seed, step, n)
  local epoch = (step - 1) // n
  local perm = {}
  for i = 1, n do perm[i] = i end
  math.randomseed(seed, epoch + 1)
  for i = n, 2, -1 do
    local j = math.random(i)
    perm[i], perm[j] = perm[j], perm[i]
  end
  math.randomseed(seed, 1000003 + step)
  return perm[(step - 1) % n + 1], math.random() < 0.5
end

-- Ground-truth box of a row, mirrored when the image is flipped.
local function row_box(r, width, flip)
  if flip then return {r.ymin, width - r.xmax, r.ymax, width - r.xmin} end
  return {r.ymin, r.xmin, r.ymax, r.xmax}
end
M.row_box = row_box

local function read_losses(path, upto)
  local keep = {}
  local f = io.open(path, "r")
  if not f then return keep end
  f:read("l")
  for line in f:lines() do
    local step = tonumber(line:match("^(%d+),"))
    if step and step <= upto then keep[#keep + 1] = line end
  end
  f:close()
  return keep
end

-- The rows a run trains on (see the `clusters` key); an id missing from the manifest is an error.
local function training_rows(all, clusters, dataset)
  if #clusters == 0 then return manifest.split(all, "train") end
  local want, seen = {}, {}
  for i, id in ipairs(clusters) do
    if type(id) ~= "string" then
      error(string.format("train: clusters[%d] must be a cluster id (a string), got a %s", i, type(id)), 3)
    end
    want[id] = true
  end
  local rows = {}
  for _, r in ipairs(all) do
    if want[r.id] then rows[#rows + 1], seen[r.id] = r, true end
  end
  for _, id in ipairs(clusters) do
    if not seen[id] then error(string.format("train: cluster '%s' of clusters= is not in %s/manifest.csv", id, dataset), 3) end
  end
  return rows
end

local LOSS_HEADER = "step,total,rpn_cls,rpn_box,dn_cls,dn_box,grad_norm,proposals"

-- How the dataset's images were made (its dataset.lua, written by lua/dataset.lua), as the
-- detector must repeat it on new fields: input pixels per network pixel, tile size, stretch.
-- Stored with the weights; nil when the dataset has no dataset.lua.
function M.preprocess(dataset)
  local path = dataset .. "/dataset.lua"
  if not util.exists(path) then return nil end
  local d = util.read_data(path, true)
  if type(d) ~= "table" or not d.image_px or not d.cutout_px then return nil end
  return util.serialize({factor = d.cutout_px / d.image_px, tile = d.image_px, method = "sqrt",
    lo = {d.lo_i, d.lo_r, d.lo_g}, hi = {d.hi_i, d.hi_r, d.hi_g}})
end

local function close_log(log, path)
  local ok, err = log:close()
  if not ok then error(string.format("train: cannot write %s: %s", path, tostring(err)), 0) end
end

local function finite(x) return x == x and x ~= math.huge and x ~= -math.huge end

-- A step whose loss or gradient norm is not finite ends the run with an error; its state is
-- not saved, so the last checkpoint on disk (step `good`, nil: none) stays the last good one.
local function check_finite(last, step, log, path, ckpt, good)
  if finite(last.total) and finite(last.grad_norm) then return end
  dc.handle_interrupts(false)
  pcall(log.close, log)
  error(string.format("train: step %d: the %s is not finite (loss %s, gradient norm %s): training diverged; "
    .. "nothing of this step was saved%s; lower lr= or clip_norm= and run again", step,
    finite(last.total) and "gradient norm" or "loss", tostring(last.total), tostring(last.grad_norm),
    good and string.format(" and %s (the last good checkpoint, step %d) is kept", ckpt, good) or ""), 0)
end

-- Train; returns {model=, run=, steps=, trained= (steps run by this call: 0 when the run folder
-- held a finished run), last=losses, seconds=, config=}.
function M.run(user)
  local cfg = util.config(M.defaults, user, "train", M.ranges)
  if cfg.dataset == "" then error("train: set dataset=FOLDER (a folder with manifest.csv)", 2) end
  local rows = training_rows(manifest.read(cfg.dataset), cfg.clusters, cfg.dataset)
  if #rows == 0 then error("train: " .. cfg.dataset .. " has no training rows", 2) end
  local preprocess = M.preprocess(cfg.dataset) -- read (as data) before any work: a bad file stops here
  util.mkdir(cfg.out)
  local model, netcfg = nets.build(cfg.network, {lr = cfg.lr, momentum = cfg.momentum, clip_norm = cfg.clip_norm})
  if not cfg.quiet then
    local n = model:param_count()
    print(string.format("network %s: %.2f M parameters%s", cfg.network, n / 1e6, netcfg.published_params and
      string.format(" (published: about %.1f M)", netcfg.published_params / 1e6) or ""))
  end
  local device = dc.device()
  local config_text = "return " .. util.serialize(cfg) .. "\n"
  -- a resumed run may change how long it runs and how it reports, nothing else
  local same = {}
  for k, v in pairs(cfg) do same[k] = v end
  same.steps, same.log_every, same.quiet, same.resume, same.checkpoint_every = nil, nil, nil, nil, nil
  if #cfg.clusters == 0 then same.clusters = nil end -- checkpoints from before the key still resume
  if cfg.lr_decay_at == 0 then same.lr_decay_at, same.lr_decay = nil, nil end -- likewise
  local identity = util.serialize(same)
  local ckpt = cfg.out .. "/checkpoint.dcw"
  local start = 1
  if cfg.resume and util.exists(ckpt) then
    local meta = model:load(ckpt, true)
    if meta.identity ~= identity then
      error(string.format("train: %s was made with another configuration; use another out= folder, "
        .. "resume=false, or the same settings (saved in %s/config.lua)", ckpt, cfg.out), 2)
    end
    start = tonumber(meta.step) + 1
    if not cfg.quiet then print(string.format("resuming %s from step %d", cfg.out, start - 1)) end
  else
    model:init(cfg.seed)
  end
  util.write_file(cfg.out .. "/config.lua", config_text)
  local loss_path = cfg.out .. "/losses.csv"
  local kept = read_losses(loss_path, start - 1)
  util.write_file(loss_path, LOSS_HEADER .. "\n" .. table.concat(kept, "\n") .. (#kept > 0 and "\n" or ""))
  local log, lerr = io.open(loss_path, "a")
  if not log then error(string.format("train: cannot append to %s: %s", loss_path, tostring(lerr)), 0) end

  local meta = {config = config_text, identity = identity, seed = cfg.seed, device = device.name, commit = dc.commit,
                network = cfg.network, preprocess = preprocess}
  local last_ckpt = start > 1 and start - 1 or nil -- the step of the checkpoint on disk
  local function save(step, path, with_opt)
    meta.step = step
    model:save(path or ckpt, meta, with_opt ~= false)
    if not path then last_ckpt = step end
  end

  dc.handle_interrupts(true)
  local t0, last, done = dc.now(), nil, start - 1
  -- the learning rate of a step: lr, times lr_decay after the first lr_decay_at of the steps
  local decay_after = cfg.lr_decay_at > 0 and math.floor(cfg.steps * cfg.lr_decay_at) or cfg.steps
  for step = start, cfg.steps do
    if step == start or step == decay_after + 1 then
      model:set_lr(step > decay_after and cfg.lr * cfg.lr_decay or cfg.lr)
    end
    local idx, flip = schedule(cfg.seed, step, #rows)
    if not cfg.flip then flip = false end
    local r = rows[idx]
    local img <close> = util.load_image(r.path, flip)
    local width = img:shape()[4]
    last = model:train_step(img, {row_box(r, width, flip)})
    check_finite(last, step, log, loss_path, ckpt, last_ckpt)
    done = step
    util.append_checked(log, loss_path, string.format("%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%d\n", step, last.total, last.rpn_cls,
      last.rpn_box, last.dn_cls, last.dn_box, last.grad_norm, last.proposals))
    if step % cfg.checkpoint_every == 0 or step == cfg.steps then
      util.flush_checked(log, loss_path)
      save(step)
    end
    if not cfg.quiet and (step % cfg.log_every == 0 or step == cfg.steps) then
      local elapsed = dc.now() - t0
      local rate = (step - start + 1) / math.max(elapsed, 1e-9)
      print(string.format("step %5d/%d  total %.4f  rpn %.4f %.4f  dn %.4f %.4f  %.2f steps/s  ETA %s",
        step, cfg.steps, last.total, last.rpn_cls, last.rpn_box, last.dn_cls, last.dn_box, rate,
        util.duration((cfg.steps - step) / rate)))
      io.stdout:flush()
    end
    if dc.interrupted() then
      close_log(log, loss_path)
      save(step)
      dc.handle_interrupts(false)
      error(string.format("interrupted at step %d; checkpoint written to %s (run again to resume)", step, ckpt), 0)
    end
  end
  close_log(log, loss_path)
  dc.handle_interrupts(false)
  save(done, cfg.out .. "/weights.dcw", false)
  return {model = model, run = cfg.out, steps = done, trained = done - start + 1, last = last,
          seconds = dc.now() - t0, config = cfg}
end

return M
