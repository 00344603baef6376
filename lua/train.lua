-- The training loop (paper section 3; settings docs/facts.md section 1). Lua holds the loop; one C call
-- runs a whole step. A run folder holds config.lua (the effective configuration), losses.csv (the
-- paper's Table A1 form), checkpoint.dcw (atomic, every checkpoint_every steps and at the end;
-- weights, momenta and sampler state) and weights.dcw (the final weights). A run that finds a
-- checkpoint resumes from it and continues bit-identically on the same device.
local dc = require("deepcee")
local util = require("deepcee_util")
local manifest = require("manifest")
local nets = require("nets")

local M = {}

-- The optimiser's defaults live with the detector's other settings in C (dc_frcnn_config_paper).
local frcnn_defaults = dc.frcnn_defaults()

M.defaults = {
  network = "demo",          -- a key of nets.configs
  dataset = "",              -- folder with manifest.csv (lua/dataset.lua)
  clusters = {},             -- cluster ids: train on all their rows, whatever their split (the
                             -- k-fold folds, lua/kfold.lua); empty: the rows with split = "train"
  out = "runs/train",        -- run folder
  init = "",                 -- weights file to start from (fine-tuning, e.g. scripts/mine.lua); "": random init
  steps = 2000,
  lr = frcnn_defaults.lr,    -- the paper's constant learning rate
  lr_decay_at = 0,           -- fraction of steps after which lr is multiplied by lr_decay (0: never)
  lr_decay = 0.1,
  momentum = frcnn_defaults.momentum,   -- SGD momentum
  clip_norm = frcnn_defaults.clip_norm, -- the gradients' global norm is clipped to this
  -- property heads (issue 10; engine/nn/frcnn.h): per detection a Gaussian of the redshift and of
  -- log10 N200, trained on the manifest's z and n200 (NaN or <= 0: unknown, no loss for it)
  props = frcnn_defaults.props,   -- false: no heads, training exactly as before the feature
  w_z = frcnn_defaults.w_z,       -- weight of the redshift's Gaussian NLL in the total loss
  w_rich = frcnn_defaults.w_rich, -- weight of log10 N200's Gaussian NLL
  seed = 1,
  batch = 1,                 -- images per step over all ranks, their gradients averaged before clipping
                             -- and the update; `mpirun -np N deepcee train` gives each rank every N-th
                             -- (batch >= N). 1: one image per step (the paper's; the only form before)
  -- augmentation, drawn per step from (seed, step) (README "Training augmentation")
  dihedral = true,           -- one of the 8 grid symmetries per step (4 quarter turns x a mirror),
                             -- uniform; the paper's section 4.2 suggests rotations and vertical flips
  flip = true,               -- with dihedral = false only: left-right flips, p = 0.5 (the old scheme)
  photometric = true,        -- per-band flux scale and noise of a shallower survey (needs the
                             -- dataset's dataset.lua: its stretch limits and cutout_px / image_px)
  flux_jitter = 0.1,         -- sigma of ln(flux scale), per band: ~ +-10 % zero point and colour
  extra_depth = 0.5,         -- mag: added noise makes the data up to this much shallower, the
                             -- depth loss drawn uniform in [0, extra_depth] per step
  sky_sigma_g = 0.018,       -- blank-sky noise, nMgy per source pixel (SDSS, docs/facts.md 4); the noise
  sky_sigma_r = 0.028,       -- added is sky_sigma sqrt(10^(0.8 d) - 1) for a depth loss d, divided
  sky_sigma_i = 0.045,       -- by cutout_px / image_px for the area-averaged output pixels
  checkpoint_every = 200,
  log_every = 10,
  resume = true,
  quiet = false,
}

-- Named settings on top of the defaults (scripts/train.lua preset=NAME; keys given win). wide: the
-- property heads on lua/dataset.lua's wide preset (0.05 < z < 0.5, N200 >= 10; issue 10).
M.presets = {
  paper = {},
  wide = {dataset = "data/wide", out = "runs/wide", props = true},
}

-- Allowed values of the numeric keys (util.config: key, value and range named in the message).
M.ranges = {
  steps = {1, 1e9, "integer"},
  lr = {1e-9, 1},                -- the paper's 2e-4 and the demo's 5e-3 sit well inside
  lr_decay_at = {0, 0.99},
  lr_decay = {1e-6, 1},
  momentum = {0, 0.999},
  clip_norm = {1e-6, 1e6},
  w_z = {0, 1e3},
  w_rich = {0, 1e3},
  seed = {0, 2 ^ 53, "integer"},
  batch = {1, 4096, "integer"},
  checkpoint_every = {1, 1e9, "integer"},
  log_every = {1, 1e9, "integer"},
  flux_jitter = {0, 1},
  extra_depth = {0, 3},
  sky_sigma_g = {0, 10}, sky_sigma_r = {0, 10}, sky_sigma_i = {0, 10},
}

-- The example and augmentation of a step: a fixed function of (seed, step), so a resumed run sees
-- the same sequence. Each epoch is a permutation of the training rows. Returns the row index and
-- {flip = boolean, dihedral = 0..7, z = three N(0, 1) deviates (R, G, B), u = U[0, 1), noise_seed}:
-- the draws every scheme may use (the flip is drawn first, as before the other keys existed).
local function schedule(seed, step, n)
  local epoch = (step - 1) // n
  local perm = {}
  for i = 1, n do perm[i] = i end
  util.shuffle(perm, seed, epoch + 1)
  math.randomseed(seed, 1000003 + step)
  local draw = {flip = math.random() < 0.5, dihedral = math.random(0, 7), z = {}}
  for k = 1, 3 do -- Box-Muller
    local u1, u2 = math.random(), math.random()
    draw.z[k] = math.sqrt(-2 * math.log(1 - u1)) * math.cos(2 * math.pi * u2)
  end
  draw.u = math.random()
  draw.noise_seed = math.random(0) & 0x7fffffffffffffff
  return perm[(step - 1) % n + 1], draw
end
M.schedule = schedule

-- The augmentation of a step for util.load_image from the schedule's draws: {dihedral = 0..7,
-- photometric = rgb:photometric options or nil}. stretch = {lo, hi (R, G, B), factor} is the
-- dataset's (M.stretch).
local function step_augmentation(cfg, draw, stretch)
  local aug = {dihedral = 0}
  if cfg.dihedral then aug.dihedral = draw.dihedral
  elseif cfg.flip and draw.flip then aug.dihedral = 4 end
  if cfg.photometric then
    local d = cfg.extra_depth * draw.u
    local grow = math.sqrt(10 ^ (0.8 * d) - 1) / stretch.factor
    local sky = {cfg.sky_sigma_i, cfg.sky_sigma_r, cfg.sky_sigma_g}
    local scale, sigma = {}, {}
    for k = 1, 3 do
      scale[k] = math.exp(cfg.flux_jitter * draw.z[k])
      sigma[k] = sky[k] * grow
    end
    aug.photometric = {lo = stretch.lo, hi = stretch.hi, scale = scale, sigma = sigma, seed = draw.noise_seed}
  end
  return aug
end
M.step_augmentation = step_augmentation

-- A continuous point (x, y) of a w x h image under grid symmetry t (engine/astro/astro.h:
-- mirror x -> w - x when t >= 4, then t % 4 quarter turns (x, y) -> (y, w - x)); returns x, y
-- and the new width and height.
local function dihedral_point(t, x, y, w, h)
  if t >= 4 then x = w - x end
  for _ = 1, t % 4 do x, y, w, h = y, w - x, h, w end
  return x, y, w, h
end
M.dihedral_point = dihedral_point

-- Ground-truth box {ymin, xmin, ymax, xmax} of a row in its w x h image under symmetry t (0..7;
-- true means a mirror, t = 4), or nil for a row with no target (background and hard-negative
-- tiles: kind ~= "target", or no box). With props, the box is followed by the row's redshift (the
-- simulator's z_true where the manifest has it, else the catalogue's z) and log10 n200 (NaN where
-- unknown: not finite or <= 0), the property heads' targets.
local function row_box(r, w, h, t, props)
  if (r.kind or "target") ~= "target" or r.xmin ~= r.xmin then return nil end
  if t == true then t = 4 elseif not t then t = 0 end
  local x1, y1 = dihedral_point(t, r.xmin, r.ymin, w, h)
  local x2, y2 = dihedral_point(t, r.xmax, r.ymax, w, h)
  local box = {math.min(y1, y2), math.min(x1, x2), math.max(y1, y2), math.max(x1, x2)}
  if props then
    local function known(v) return type(v) == "number" and v > 0 and v < math.huge end
    local z = known(r.z_true) and r.z_true or r.z
    box[5] = known(z) and z or 0 / 0
    box[6] = known(r.n200) and math.log(r.n200, 10) or 0 / 0
  end
  return box
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
local PROPS_HEADER = ",dn_z,dn_rich" -- appended with the property heads

-- A dataset's dataset.lua (written by lua/dataset.lua, read as data) as a table, or nil.
local function dataset_settings(dataset)
  local path = dataset .. "/dataset.lua"
  if not util.exists(path) then return nil end
  local d = util.read_data(path, true)
  if type(d) ~= "table" or not d.image_px or not d.cutout_px then return nil end
  return d
end

-- How the dataset's images were made, as the detector must repeat it on new fields: input pixels
-- per network pixel, tile size, stretch. Stored with the weights; nil when the dataset has no
-- dataset.lua.
function M.preprocess(dataset)
  local d = dataset_settings(dataset)
  if not d then return nil end
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
  if log then pcall(log.close, log) end
  error(string.format("train: step %d: the %s is not finite (loss %s, gradient norm %s): training diverged; "
    .. "nothing of this step was saved%s; lower lr= or clip_norm= and run again", step,
    finite(last.total) and "gradient norm" or "loss", tostring(last.total), tostring(last.grad_norm),
    good and string.format(" and %s (the last good checkpoint, step %d) is kept", ckpt, good) or ""), 0)
end

-- The stretch the photometric augmentation inverts: {lo, hi (R, G, B), factor}; an error naming
-- the dataset when it has no dataset.lua.
function M.stretch(dataset)
  local d = dataset_settings(dataset)
  if not d then
    error(string.format("train: photometric=true needs %s/dataset.lua (the stretch limits lo_*, hi_* and " ..
      "cutout_px, image_px of lua/dataset.lua); build the dataset with lua/dataset.lua or set photometric=false",
      dataset), 3)
  end
  return {lo = {d.lo_i or 0, d.lo_r or 0, d.lo_g or 0}, hi = {d.hi_i or 1, d.hi_r or 1, d.hi_g or 1},
    factor = d.cutout_px / d.image_px}
end

-- The seed of the target samplers for image j of a step with batch > 1: a function of (seed, step, j)
-- alone, so that the step is the same whichever rank takes the image.
local function sampler_seed(seed, step, j)
  return util.hash(string.format("sampler:%d:%d:%d", seed, step, j))
end

-- Train; returns {model=, run=, steps=, trained= (steps run by this call: 0 when the run folder
-- held a finished run), last=losses, seconds=, config=}. Under mpirun every rank calls it with the
-- same settings: each takes its share of every step's batch, the gradients are summed over the
-- ranks (deepcee.mpi.allreduce) and every rank takes the same update; rank 0 alone writes the run
-- folder and prints.
function M.run(user)
  local cfg = util.config(M.defaults, user, "train", M.ranges)
  local rank, size = dc.mpi.init()
  local lead = rank == 0
  if size > cfg.batch then
    error(string.format("train: batch=%d on %d ranks: give batch >= the number of ranks (each rank takes its share "
      .. "of every step's images)", cfg.batch, size), 2)
  end
  local quiet = cfg.quiet or not lead
  if cfg.dataset == "" then error("train: set dataset=FOLDER (a folder with manifest.csv)", 2) end
  local rows = training_rows(manifest.read(cfg.dataset), cfg.clusters, cfg.dataset)
  if #rows == 0 then error("train: " .. cfg.dataset .. " has no training rows", 2) end
  local preprocess = M.preprocess(cfg.dataset) -- read (as data) before any work: a bad file stops here
  util.mkdir(cfg.out)
  local overrides = {lr = cfg.lr, momentum = cfg.momentum, clip_norm = cfg.clip_norm}
  if cfg.props then overrides.props, overrides.w_z, overrides.w_rich = true, cfg.w_z, cfg.w_rich end
  local model, netcfg = nets.build(cfg.network, overrides)
  if not quiet then
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
  if not cfg.dihedral then same.dihedral = nil end -- likewise
  if cfg.init == "" then same.init = nil end -- likewise
  if cfg.batch == 1 then same.batch = nil end -- likewise
  if not cfg.props then same.props, same.w_z, same.w_rich = nil, nil, nil end -- likewise
  if not cfg.photometric then
    for _, k in ipairs({"photometric", "flux_jitter", "extra_depth", "sky_sigma_g", "sky_sigma_r", "sky_sigma_i"}) do
      same[k] = nil
    end
  end
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
    if not quiet then print(string.format("resuming %s from step %d", cfg.out, start - 1)) end
  else
    model:init(cfg.seed)
    if cfg.init ~= "" then
      if not util.exists(cfg.init) then error("train: init=" .. cfg.init .. ": no such weights file", 2) end
      local imeta = dc.weights_meta(cfg.init)
      if (imeta.network or "demo") ~= cfg.network then
        error(string.format("train: init=%s holds a '%s' network, this run trains '%s'", cfg.init,
          tostring(imeta.network), cfg.network), 2)
      end
      model:load(cfg.init) -- the weights only: the optimiser starts afresh
      if not quiet then print("starting from the weights of " .. cfg.init) end
    end
  end
  local loss_path = cfg.out .. "/losses.csv"
  local log -- losses.csv, open on rank 0 only
  if lead then
    util.write_file(cfg.out .. "/config.lua", config_text)
    local kept = read_losses(loss_path, start - 1)
    util.write_file(loss_path, LOSS_HEADER .. (cfg.props and PROPS_HEADER or "") .. "\n" .. table.concat(kept, "\n")
      .. (#kept > 0 and "\n" or ""))
    local lerr
    log, lerr = io.open(loss_path, "a")
    if not log then error(string.format("train: cannot append to %s: %s", loss_path, tostring(lerr)), 0) end
  end

  if cfg.photometric and not (cfg.flux_jitter >= 0 and cfg.extra_depth >= 0 and cfg.sky_sigma_g >= 0
      and cfg.sky_sigma_r >= 0 and cfg.sky_sigma_i >= 0) then
    error("train: flux_jitter, extra_depth and sky_sigma_g/r/i must be >= 0", 2)
  end
  local stretch = cfg.photometric and M.stretch(cfg.dataset) or nil
  local meta = {config = config_text, identity = identity, seed = cfg.seed, device = device.name, commit = dc.commit,
                network = cfg.network, preprocess = preprocess,
                -- the settings the model was built with (anchors, IoUs, sample sizes, ...), as data
                detector = util.serialize(model:config()),
                -- detect builds the heads when this says so (weights without it have none)
                props = cfg.props and 1 or nil}
  local last_ckpt = start > 1 and start - 1 or nil -- the step of the checkpoint on disk
  -- rank 0 writes; with several ranks it first checks that every rank holds the same weights (the
  -- same update on every rank keeps them equal on devices that round alike)
  local function save(step, path, with_opt)
    if size > 1 then
      local sum = model:checksum()
      if not lead then
        dc.mpi.send(0, 7, sum)
      else
        for _ = 1, size - 1 do
          local other, from = dc.mpi.recv(-1, 7)
          if other ~= sum then
            error(string.format("train: step %d: rank %d's weights differ from rank 0's (checksum %s, not %s): the "
              .. "ranks' updates diverged (devices that round differently?); run on devices of one kind "
              .. "(DEEPCEE_DEVICE)", step, from, other, sum), 0)
          end
        end
      end
    end
    if lead then
      meta.step = step
      model:save(path or ckpt, meta, with_opt ~= false)
    end
    if not path then last_ckpt = step end
  end
  local buf = (cfg.batch > 1 or size > 1) and model:grad_buffer() or nil
  -- A step over cfg.batch images (rank `rank` takes images j = rank + 1, rank + 1 + size, ...): their
  -- gradients summed over the ranks, averaged, clipped, applied; losses averaged. Returns the losses
  -- and whether any rank was interrupted (so that all stop at the same step).
  local function batch_step(step)
    buf:zero()
    local keys = {"total", "rpn_cls", "rpn_box", "dn_cls", "dn_box", "proposals", "dn_z", "dn_rich"}
    local sums = {0, 0, 0, 0, 0, 0, 0, 0, 0}
    for j = rank + 1, cfg.batch, size do
      local idx, draw = schedule(cfg.seed, (step - 1) * cfg.batch + j, #rows)
      local r = rows[idx]
      local aug = step_augmentation(cfg, draw, stretch)
      local img <close> = util.load_image(r.path, aug)
      local shape = img:shape()
      local t = aug.dihedral
      local w, h = shape[4], shape[3]
      if t % 2 == 1 then w, h = h, w end
      local l = model:grad_step(img, {row_box(r, w, h, t, cfg.props)}, sampler_seed(cfg.seed, step, j))
      model:add_grads(buf)
      for k, key in ipairs(keys) do sums[k] = sums[k] + l[key] end
    end
    sums[9] = dc.interrupted() and 1 or 0
    sums = dc.mpi.allreduce(sums)
    dc.mpi.allreduce(buf)
    local b = cfg.batch
    local l = {total = sums[1] / b, rpn_cls = sums[2] / b, rpn_box = sums[3] / b, dn_cls = sums[4] / b,
      dn_box = sums[5] / b, proposals = math.floor(sums[6] / b + 0.5), dn_z = sums[7] / b, dn_rich = sums[8] / b,
      grad_norm = model:apply_grads(buf, 1 / b)}
    return l, sums[9] > 0
  end

  dc.handle_interrupts(true)
  local t0, last, done = dc.now(), nil, start - 1
  -- the learning rate of a step: lr, times lr_decay after the first lr_decay_at of the steps
  local decay_after = cfg.lr_decay_at > 0 and math.floor(cfg.steps * cfg.lr_decay_at) or cfg.steps
  for step = start, cfg.steps do
    if step == start or step == decay_after + 1 then
      model:set_lr(step > decay_after and cfg.lr * cfg.lr_decay or cfg.lr)
    end
    local stop
    if buf then
      last, stop = batch_step(step)
    else
      local idx, draw = schedule(cfg.seed, step, #rows)
      local r = rows[idx]
      local aug = step_augmentation(cfg, draw, stretch)
      local img <close> = util.load_image(r.path, aug)
      local shape = img:shape() -- after the symmetry: the box is turned with the image's original sides
      local t = aug.dihedral
      local w, h = shape[4], shape[3]
      if t % 2 == 1 then w, h = h, w end
      last = model:train_step(img, {row_box(r, w, h, t, cfg.props)})
      stop = dc.interrupted()
    end
    check_finite(last, step, log, loss_path, ckpt, last_ckpt)
    done = step
    if log then
      util.append_checked(log, loss_path, string.format("%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%d", step, last.total,
        last.rpn_cls, last.rpn_box, last.dn_cls, last.dn_box, last.grad_norm, last.proposals)
        .. (cfg.props and string.format(",%.6g,%.6g", last.dn_z, last.dn_rich) or "") .. "\n")
    end
    if step % cfg.checkpoint_every == 0 or step == cfg.steps then
      if log then util.flush_checked(log, loss_path) end
      save(step)
    end
    if not quiet and (step % cfg.log_every == 0 or step == cfg.steps) then
      local elapsed = dc.now() - t0
      local rate = (step - start + 1) / math.max(elapsed, 1e-9)
      print(string.format("step %5d/%d  total %.4f  rpn %.4f %.4f  dn %.4f %.4f%s  %.2f steps/s  ETA %s",
        step, cfg.steps, last.total, last.rpn_cls, last.rpn_box, last.dn_cls, last.dn_box,
        cfg.props and string.format("  z %.4f N200 %.4f", last.dn_z, last.dn_rich) or "", rate,
        util.duration((cfg.steps - step) / rate)))
      io.stdout:flush()
    end
    if stop then
      if log then close_log(log, loss_path) end
      save(step)
      dc.handle_interrupts(false)
      error(string.format("interrupted at step %d; checkpoint written to %s (run again to resume)", step, ckpt), 0)
    end
  end
  if log then close_log(log, loss_path) end
  dc.handle_interrupts(false)
  save(done, cfg.out .. "/weights.dcw", false)
  return {model = model, run = cfg.out, steps = done, trained = done - start + 1, last = last,
          seconds = dc.now() - t0, config = cfg}
end

return M
