// @ts-check
// In-tab benchmarks, run on the page thread (nothing to draw here):
//   ?mode=speed&backend=flex      ms/step and GFLOP/s for LSD and PSD at the reference's and the
//                                 browser's preset (the crate's Session.facts().presets);
//                                 &activation=gelu for the GELU recipes
//   ?mode=quality&backend=flex&method=lsd&seconds=120&every=15
//                                 train the browser's default recipe with `method`; KL(N=1),
//                                 KL(N=4) with 100k samples every `every` seconds of training time
//   ?mode=gpu&backend=webgpu&steps=2   per training step on WebGPU: compute dispatches, queue
//                                 submits and buffer maps (readbacks), LSD, PSD-mid and ESD at
//                                 the reference's and the browser's preset (&sizes=browser for
//                                 one), and the loss after those steps; the counts do not
//                                 depend on the adapter, so SwiftShader gives the same figures
//   ?mode=parallel&workers=1,2&seconds=60&every=5&batches=256,512
//                                 data-parallel training (replica-pool.js, what a panel does) with
//                                 K workers, one run per K and batch, one after the other: steps/s,
//                                 ms per step (the leader's own shard, its apply, the exchange),
//                                 and the training time to KL(N=1) <= &target= (0.405), KL with
//                                 100k samples every `every` seconds of training; &apart=1 adds
//                                 per batch B a row of two workers that never exchange, each
//                                 training its own run of batch B/2 (this thread and a replica):
//                                 the most K = 2 can give on this machine and browser
//   ?mode=train&steps=300&wait=1  one train_step call of `steps` steps of the browser recipe
//                                 after a warm-up; with `wait`, it starts when the page's
//                                 window.benchGo() is called (tests/e2e/profile.mjs profiles it);
//                                 &workers=K: the pool's steps on K workers, this thread leading
//   &module=gpu                   the WebGPU module (flowmap_gpu.js, Burn's fusion) instead of
//                                 the page's CPU module (flowmap.js); &module=unfused: WebGPU
//                                 without fusion (flowmap_unfused.js, which ./dev.sh bench builds)
export {}; // a module (bench.html loads it as one): top-level await

const params = new URLSearchParams(location.search);
/** @type {Record<string, string>} */
const MODULES = { page: './flowmap.js', gpu: './flowmap_gpu.js', unfused: './flowmap_unfused.js' };
/** @type {typeof import('./flowmap.js')} every module's glue has the page's API */
const glue = await import(MODULES[params.get('module') || 'page']);
const { Session } = glue;
const { ReplicaPool } = await import('./replica-pool.js');

const out = document.getElementById('out');
const backend = params.get('backend') || 'flex';
const log = (/** @type {string} */ line) => { out.textContent += `\n${line}`; console.log(line); };


/** @param {import('./flowmap.js').Config} cfg @param {import('./flowmap.js').Method} method */
function withMethod(cfg, method) {
  return { model: { ...cfg.model }, train: { ...cfg.train, method } };
}

async function speed() {
  const rows = [];
  const steps = Number(params.get('steps') || 10);
  const { reference, browser } = Session.facts().presets;
  for (const [label, cfg] of /** @type {const} */ ([['reference', reference], ['browser', browser]])) {
    for (const method of /** @type {const} */ (['lsd', 'psd-mid'])) {
      const recipe = withMethod(cfg, method);
      // &activation=gelu times the GELU recipes (the pretrained PSD and ESD files' activation)
      if (params.has('activation')) recipe.model.activation = /** @type {import('./flowmap.js').Activation} */ (params.get('activation'));
      const s = await Session.create(recipe, { backend, eval_samples: 1000 });
      await s.train_step(2); // warm-up
      const t0 = performance.now();
      await s.train_step(steps);
      const ms = (performance.now() - t0) / steps;
      const gflop = s.flops_per_step / 1e9;
      rows.push({ method, size: `${label} ${cfg.model.depth}x${cfg.model.width}${params.has('activation') ? ` ${recipe.model.activation}` : ''}`, batch: cfg.train.batch_size, ms, gflop, gflops: gflop / (ms / 1e3), backend: s.backend });
      log(`${method} ${label}: ${ms.toFixed(1)} ms/step, ${(gflop / (ms / 1e3)).toFixed(1)} GFLOP/s`);
      s.free();
    }
  }
  return rows;
}

// The browser's default recipe with `&method=` and the URL's overrides.
// (The URL's words are cast to the crate's names: the crate checks them.)
function recipeFromParams() {
  const cfg = withMethod(Session.facts().presets.browser, /** @type {import('./flowmap.js').Method} */ (params.get('method') || 'lsd'));
  // Recipe overrides for tuning: &width=256&depth=3&batch_size=512&lr=0.002&steps=4000
  // (off_weight among the numbers) and the named options: &psd_space=v&clip_scope=global&schedule=inverse-sqrt&activation=gelu
  for (const k of /** @type {const} */ (['width', 'depth', 'sigma'])) if (params.has(k)) cfg.model[k] = Number(params.get(k));
  if (params.has('activation')) cfg.model.activation = /** @type {import('./flowmap.js').Activation} */ (params.get('activation'));
  for (const k of /** @type {const} */ (['batch_size', 'lr', 'steps', 'warmup_steps', 'plateau_steps', 'ema_decay', 'diag_fraction', 'min_lr_ratio', 'grad_clip', 'weight_decay', 'off_weight', 'seed'])) if (params.has(k)) cfg.train[k] = Number(params.get(k));
  for (const k of ['psd_space', 'clip_scope', 'schedule']) if (params.has(k)) /** @type {Record<string, unknown>} */ (cfg.train)[k] = params.get(k);
  return cfg;
}

async function quality() {
  const seconds = Number(params.get('seconds') || 120);
  const every = Number(params.get('every') || 15);
  const s = await Session.create(recipeFromParams(), { backend, eval_samples: 100000 });
  /** @type {any} rows with the noise floor as a property (what the bench's reader expects) */
  const rows = [];
  let trained = 0; // seconds spent training, evaluation excluded
  let next = every;
  while (trained < seconds) {
    const t0 = performance.now();
    const r = await s.train_step(5);
    trained += (performance.now() - t0) / 1000;
    if (trained >= next || trained >= seconds) {
      const kl1 = (await s.kl(1)).kl;
      const kl4 = (await s.kl(4)).kl;
      rows.push({ seconds: Math.round(trained), steps: r.step, kl1, kl4 });
      log(`${trained.toFixed(0)} s, ${r.step} steps: KL(N=1) ${kl1.toFixed(3)}, KL(N=4) ${kl4.toFixed(3)}`);
      next += every;
    }
  }
  rows.noise_floor = (await s.kl(1)).noise_floor;
  return { rows, noise_floor: rows.noise_floor, backend: s.backend };
}

// Data-parallel training with K workers, as a panel's worker does it (the pool's step), on this
// thread as the leader; K = 1 is the panel's one-worker path (train_step with several steps).
/** @param {WebAssembly.Module} module */
async function parallel(module) {
  const seconds = Number(params.get('seconds') || 60);
  const every = Number(params.get('every') || 5);
  const target = Number(params.get('target') || 0.405);
  const ks = (params.get('workers') || '1,2').split(',').map(Number);
  const base = recipeFromParams();
  const batches = (params.get('batches') || String(base.train.batch_size)).split(',').map(Number);
  const rows = [];
  for (const batch of batches) {
    for (const k of ks) {
      const cfg = { model: base.model, train: { ...base.train, batch_size: batch } };
      const s = await Session.create(cfg, { backend, eval_samples: 100000 });
      const pool = new ReplicaPool(module);
      pool.resize(Math.min(k, s.max_shards));
      const chunk = 5; // steps between clock reads
      const train = async () => {
        if (pool.size === 1) return s.train_step(chunk);
        let r;
        for (let i = 0; i < chunk; i++) r = await pool.step(s);
        return r;
      };
      await train(); // warm-up: the replicas boot and take their copies (not timed)
      pool.takeStats();
      const from = s.steps;
      let trained = 0;
      let next = every;
      let reached = null;
      let last = { seconds: 0, kl1: Infinity };
      const curve = [];
      while (trained < seconds) {
        const t0 = performance.now();
        await train();
        trained += (performance.now() - t0) / 1000;
        if (trained >= next || trained >= seconds) {
          const kl1 = (await s.kl(1)).kl;
          curve.push({ seconds: trained, steps: s.steps, kl1 });
          // The time of the crossing, linear between the two evaluations around it.
          if (reached == null && kl1 <= target) reached = last.kl1 === Infinity ? trained : last.seconds + ((trained - last.seconds) * (last.kl1 - target)) / (last.kl1 - kl1);
          last = { seconds: trained, kl1 };
          next += every;
        }
      }
      const steps = s.steps - from;
      const st = pool.takeStats();
      const ms = (trained * 1000) / steps;
      const row = {
        workers: pool.size, batch, steps, seconds: trained, steps_per_sec: steps / trained, ms,
        own_ms: pool.size > 1 ? st.own : ms, apply_ms: pool.size > 1 ? st.apply : 0, exchange_ms: pool.size > 1 ? st.exchange : 0,
        wait_ms: st.wait, replica_ms: st.replica,
        seconds_to_target: reached, kl1: last.kl1, curve,
      };
      rows.push(row);
      log(`K=${row.workers} batch ${batch}: ${row.steps_per_sec.toFixed(1)} steps/s, ${ms.toFixed(2)} ms/step (own ${row.own_ms.toFixed(2)}, apply ${row.apply_ms.toFixed(2)}, exchange ${row.exchange_ms.toFixed(2)}, of it waiting ${row.wait_ms.toFixed(2)}; slowest replica's shard ${row.replica_ms.toFixed(2)}), KL(N=1) ${last.kl1.toFixed(3)} after ${trained.toFixed(0)} s, <= ${target} at ${reached == null ? 'never' : `${reached.toFixed(1)} s`}`);
      pool.terminate();
      s.free();
    }
    if (params.has('apart')) {
      if (batch % 2) throw new Error(`&apart=1 splits the batch in two: ${batch} is odd`);
      rows.push(await apart(module, { model: base.model, train: { ...base.train, batch_size: batch / 2 } }, seconds));
    }
  }
  return { target, rows };
}

// Two workers that never exchange: this thread trains a run of `cfg` while a replica trains its
// own copy of it, both for `seconds`. Each pays its whole step (its apply included) and nothing
// else: K = 2 at twice the batch can at most reach this thread's steps/s here.
/** @param {WebAssembly.Module} module @param {import('./flowmap.js').Config} cfg @param {number} seconds */
async function apart(module, cfg, seconds) {
  const s = await Session.create(cfg, { backend, eval_samples: 1000 });
  const pool = new ReplicaPool(module);
  pool.resize(2);
  const replica = pool.replicas[0];
  const chunk = 5;
  await pool.ask(replica, { type: 'sync', bytes: await s.save_run(), backend, peers: [] });
  await pool.ask(replica, { type: 'train', seconds: 0.2, chunk }); // warm-up, not timed
  await s.train_step(chunk);
  // The replica times itself: this thread's awaits never yield to its messages while it trains.
  const other = pool.ask(replica, { type: 'train', seconds, chunk });
  const [t0, from] = [performance.now(), s.steps];
  while ((performance.now() - t0) / 1000 < seconds) await s.train_step(chunk);
  const trained = (performance.now() - t0) / 1000;
  const done = await other;
  const steps = s.steps - from;
  const row = {
    workers: '2 apart', batch: cfg.train.batch_size * 2, steps, seconds: trained, steps_per_sec: steps / trained, ms: (trained * 1000) / steps,
    replica_steps_per_sec: done.steps / done.seconds, own_ms: (trained * 1000) / steps, apply_ms: 0, exchange_ms: 0, wait_ms: 0, replica_ms: 0,
    seconds_to_target: /** @type {number | null} */ (null), kl1: /** @type {number | null} */ (null), curve: /** @type {{seconds: number, steps: number, kl1: number}[]} */ ([]),
  };
  log(`2 workers apart, batch ${cfg.train.batch_size} each: ${row.steps_per_sec.toFixed(1)} steps/s here, ${row.replica_steps_per_sec.toFixed(1)} in the replica (${row.ms.toFixed(2)} ms/step here)`);
  pool.terminate();
  s.free();
  return row;
}

/** @param {WebAssembly.Module | null} module */
async function train(module) {
  const steps = Number(params.get('steps') || 300);
  const s = await Session.create(recipeFromParams(), { backend, eval_samples: 1000 });
  // &workers=K: the steps as the pool takes them, this thread the leader (profile.mjs's view of
  // a leader's step)
  const pool = module ? new ReplicaPool(module) : null;
  if (pool) pool.resize(Math.min(Number(params.get('workers')), s.max_shards));
  const run = async (/** @type {number} */ n) => {
    if (!pool) return s.train_step(n);
    for (let i = 0; i < n; i++) await pool.step(s);
  };
  await run(20); // warm-up
  if (params.has('wait')) {
    await new Promise((go) => Object.assign(window, { benchReady: true, benchGo: go }));
  }
  const t0 = performance.now();
  await run(steps);
  const ms = (performance.now() - t0) / steps;
  const gflops = s.flops_per_step / 1e9 / (ms / 1e3);
  log(`${steps} steps: ${ms.toFixed(2)} ms/step, ${gflops.toFixed(1)} GFLOP/s`);
  if (pool) pool.terminate();
  s.free();
  return { steps, ms, gflops };
}

// Counts WebGPU calls by wrapping the JS API's methods; `counts` is reset per measurement.
/** @type {Record<string, number>} */
const counts = { dispatches: 0, submits: 0, maps: 0 };
function countGpuCalls() {
  /**
   * @param {any} proto a WebGPU class's prototype (absent without WebGPU), patched by name
   * @param {string} name @param {string} key
   */
  const wrap = (proto, name, key) => {
    const original = proto && proto[name];
    if (!original) return false;
    proto[name] = function (/** @type {unknown[]} */ ...args) { counts[key] += 1; return original.apply(this, args); };
    return true;
  };
  return wrap(self.GPUComputePassEncoder?.prototype, 'dispatchWorkgroups', 'dispatches')
    && wrap(self.GPUQueue?.prototype, 'submit', 'submits')
    && wrap(self.GPUBuffer?.prototype, 'mapAsync', 'maps');
}

async function gpu() {
  if (!countGpuCalls()) throw new Error('no WebGPU in this browser: nothing to count');
  const steps = Number(params.get('steps') || 2);
  const rows = [];
  const { reference, browser } = Session.facts().presets;
  const sizes = (params.get('sizes') || 'reference,browser').split(',');
  for (const [label, cfg] of /** @type {const} */ ([['reference', reference], ['browser', browser]]).filter(([l]) => sizes.includes(l))) {
    for (const method of /** @type {const} */ (['lsd', 'psd-mid', 'esd'])) {
      const s = await Session.create(withMethod(cfg, method), { backend: 'webgpu', eval_samples: 1000 });
      await s.train_step(1); // compiles the shaders
      Object.keys(counts).forEach((k) => { counts[k] = 0; });
      const t0 = performance.now();
      let r;
      for (let k = 0; k < steps; k++) r = await s.train_step(1); // one call per step, as a slow backend gets
      const ms = (performance.now() - t0) / steps;
      const per = (/** @type {string} */ k) => counts[k] / steps;
      // The loss after the same seeded steps: builds that differ only in kernels (fusion on
      // and off) must agree on it up to float rounding.
      rows.push({ method, size: `${label} ${cfg.model.depth}x${cfg.model.width}`, batch: cfg.train.batch_size, dispatches: per('dispatches'), submits: per('submits'), maps: per('maps'), ms, loss: r.total });
      log(`${method} ${label}: ${per('dispatches')} dispatches, ${per('submits')} submits, ${per('maps')} maps per step (${ms.toFixed(0)} ms/step on this adapter)`);
      s.free();
    }
  }
  return rows;
}

try {
  const mode = params.get('mode') || 'speed';
  // The parallel mode's replicas instantiate the same compiled module (as the page's workers do).
  const pooled = mode === 'parallel' || (mode === 'train' && Number(params.get('workers') || 1) > 1);
  const module = pooled ? await WebAssembly.compileStreaming(fetch(new URL('flowmap_bg.wasm', location.href))) : null;
  await glue.default(module ? { module_or_path: module } : undefined);
  out.textContent = `backend ${backend}`;
  /** @type {Record<string, () => Promise<unknown>>} */
  const runs = { quality, gpu, speed, train: () => train(module), parallel: () => parallel(/** @type {WebAssembly.Module} */ (module)) };
  const run = runs[mode];
  if (!run) throw new Error(`unknown mode '${mode}' (expected ${Object.keys(runs).join(', ')})`);
  /** @type {any} */ (window).benchResult = { mode, result: await run() };
} catch (e) {
  const error = String(e && e.message ? e.message : e);
  /** @type {any} */ (window).benchResult = { error };
  log(`error: ${error}`);
}
