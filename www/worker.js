// Training worker: owns one wasm Session, so the page thread only draws.
//
// Protocol (tagged messages):
//   page -> worker
//     {type: 'wasm', module}            the compiled WebAssembly.Module (the page compiles it
//                                       once for all workers); the worker answers 'booted'
//     {type: 'init', config, options}   create (or re-create) the session; config as in config.rs.
//                                       The crate checks both; a rejected one posts 'error' and
//                                       the old session goes on as it was
//     {type: 'resume', bytes, options, lr, batch}
//                                       continue a saved run (Session.save_run bytes) exactly;
//                                       `lr` (optional) replaces its learning rate; `batch`, the
//                                       recipe's, replaces a larger one grown on WebGPU when the
//                                       run lands on the CPU
//     {type: 'snapshot'}                save the run now (answers 'run')
//     {type: 'play'} / {type: 'pause'}  start / stop the training loop
//     {type: 'step'}                    one optimizer step, then report
//     {type: 'set_n', n}                number of flow-map jumps for drawn samples (the crate's
//                                       limits.max_n_steps bounds it)
//     {type: 'set_view', view, t}       what 'samples' carries: 'samples' (N-step samples),
//                                       'trajectories' (paths through the N jumps), 'time'
//                                       (X_{0,t} at slider time t, one network call), 'density'
//                                       (the model's and target's histograms and KL map at N)
//                                       or 'grid' (a grid of noise pushed through N jumps to t)
//     {type: 'set_picks', points}       start points [x0, y0, ...] whose paths (N jumps, and the
//                                       ODE finely) the samples view draws
//     {type: 'target_file', kind, ...}  a target from a file: {kind: 'image', rgba, size, invert}
//                                       or {kind: 'csv', text}; answers 'target_made' or 'error'
//     {type: 'kl_table'}                compute the KL-vs-N table now
//     {type: 'save'}                    ask for the weights
//     {type: 'load', bytes, adopt}      replace the weights (Uint8Array); with adopt, first take
//                                       the checkpoint's width and depth (shipped weights)
//     {type: 'stats'}                   answers 'stats'
//     {type: 'probe', config, options}  in a trial worker (started by a panel's worker under
//                                       'auto'): load the WebGPU module (answers 'probe-ready'),
//                                       time this recipe on WebGPU, answer 'probe'
//     {type: 'test-crash'}              tests only: fail as a wasm trap does (the page must
//                                       replace this worker)
//     {type: 'test-lose-device'}        tests only: destroy the WebGPU device
//     {type: 'test-trial', gpu_ms, any_adapter}
//                                       tests only: 'auto''s WebGPU trial answers with gpu_ms, or
//                                       (any_adapter) is timed even on a software adapter
//   worker -> page
//     {type: 'booted', facts}           wasm is loaded: the page may send 'init'. `facts`: the
//                                       crate's presets, limits, KL table N values, plot square
//                                       (Session.facts(); the page keeps no copies)
//     {type: 'status', text}            slow phases: loading wasm, initialising WebGPU, ...
//     {type: 'ready', backend, note, config, step, resumed}
//     {type: 'backend', backend, note, trial, config, step}
//                                       'auto' decided by its timed trial: `trial.note` says
//                                       both timings and the choice; the run goes on. After a
//                                       move to WebGPU a second one follows, `trial.note` saying
//                                       the batch the search chose
//     {type: 'probe', ms, error}        from a trial worker: WebGPU's ms per step, or why not
//     {type: 'run', bytes, step, seconds}
//                                       the whole run (Session.save_run), every AUTOSAVE_MS of
//                                       training, on 'ready' and on 'snapshot': the page stores it
//     {type: 'diverged', message, step} training stopped: the loss diverged
//     {type: 'crashed', message}        the wasm instance trapped: this worker is dead
//     {type: 'device-lost', message}    the WebGPU device is gone: this worker is dead
//     {type: 'stats', wasm_bytes, step} wasm memory of this worker
//     {type: 'progress', step, losses, steps_per_sec, lr}
//     {type: 'target', points}          samples of the target (for the faint background)
//     {type: 'samples', view, n, t, points, reference}
//         view 'samples':      points = N-step samples [x0, y0, x1, y1, ...]
//         view 'trajectories': points = the N + 1 stages of TRAJECTORY_POINTS paths, one stage
//                              after the other; reference = their interpolant end points x1
//         view 'time':         points = X_{0,t}(x0); reference = the interpolant I_t
//         view 'density':      map = {model, target, terms, kl} (Session.density_map)
//         view 'grid':         points = the grid pushed to t; grid = {lines, per_line}
//         and with picks:      paths = {map: N + 1 stages, ode: ODE_PATH_STEPS + 1 stages}
//     {type: 'target_made', drawing, error}
//                                       {size, cells} from 'target_file', or why not
//     {type: 'kl_ode', rows, step}      the ODE's KL rows (Euler, Heun at the table's N), after
//                                       the flow map's table is complete
//     {type: 'kl_table', rows, step, seconds, complete}
//                                       [{n_steps, kl, noise_floor, samples}, ...] at `step`,
//                                       after `seconds` of training (wall clock, this session);
//                                       sent once per row as the table fills (N = 1 first)
//     {type: 'saved', bytes}            Uint8Array
//     {type: 'loaded', step, config}   new weights (trained `step` steps); training time restarts
//     {type: 'error', message, of}      a failed command; the session keeps its state. `of` is
//                                       'init' or 'resume' when making a session failed
import * as pageGlue from './flowmap.js';

// Two builds of the crate: the page's module (flowmap.js: the CPU backends only, 0.9 MB
// gzipped), compiled once by the page, and the WebGPU module (flowmap_gpu.js: wgpu with Burn's
// kernel fusion, 5.1 MB gzipped), fetched only when a session runs on WebGPU or 'auto' times
// it. `Session` is the class of the module the current session comes from; saved runs are
// bytes, so a run moves between modules with save_run / resume.
let { Session, wasm_memory_bytes } = pageGlue;
let gpuGlue = null; // the WebGPU module's glue, loading or loaded (a failed load is retried)
let gpuBroken = null; // why the WebGPU module cannot be used in this worker (it trapped)
const useGlue = (glue) => { ({ Session, wasm_memory_bytes } = glue); };
function webgpuGlue() {
  if (gpuBroken) return Promise.reject(new Error(gpuBroken));
  if (!gpuGlue) {
    gpuGlue = (async () => {
      const glue = await import('./flowmap_gpu.js');
      await glue.default({ module_or_path: new URL('flowmap_gpu_bg.wasm', import.meta.url) });
      return glue;
    })();
    gpuGlue.catch(() => { gpuGlue = null; });
  }
  return gpuGlue;
}
// The crate says which names mean WebGPU (the page's module answers: it has the same rules).
const glueFor = async (options) => (pageGlue.Session.needs_webgpu(options || {}) ? webgpuGlue() : pageGlue);

let session = null;
let running = false;
let nSteps = 1;
let view = 'samples';
let time = 1;
let trainSeconds = 0;
// A view, t or picks changed: the next free moment redraws (also between the rows of a KL
// table, which can take many seconds). Many changes (a time sweep, a drag) make one drawing.
let redraw = false;
// Paths drawn in the trajectories view: enough to see the flow, few enough to tell apart.
const TRAJECTORY_POINTS = 200;
const VIEWS = ['samples', 'trajectories', 'time', 'density', 'grid', 'exact'];
// The warped grid: GRID_LINES lines each way across the plot square, GRID_POINTS points each.
const GRID_LINES = 21;
const GRID_POINTS = 80;
// A picked point's ODE path: fine Heun steps, to show the curve the N jumps cut across.
const ODE_PATH_STEPS = 64;
let picks = null; // Float32Array of picked start points (the crate bounds their number), or null
let lastDraw = 0;
let lastKl = 0;
let busy = Promise.resolve();
// Set when 'init' or 'load' arrives: a KL table in progress stops, as it is about old weights.
let preempted = false;
let sessionOptions = {}; // the options of the last 'init', reused when adopting an architecture
let facts = null; // Session.facts(), read once wasm is loaded

// How long one training slice may run before the worker yields to read new messages.
const SLICE_MS = 100;
// Samples are redrawn at most every DRAW_MIN_MS, and so that sampling takes at most
// DRAW_SHARE of the worker's time (4000 points through a 4x256 net is ~1.6 GFLOP).
const DRAW_MIN_MS = 250;
const DRAW_SHARE = 0.1;
let drawWait = DRAW_MIN_MS;
// The KL table (5 sample sets) is refreshed at most every KL_MIN_MS, and so that computing it
// takes at most KL_SHARE of the worker's time.
const KL_MIN_MS = 15000;
const KL_SHARE = 0.15;
let klWait = KL_MIN_MS;
// The run is saved for the page (autosave, crash and divergence recovery) every AUTOSAVE_MS of
// training: losing at most this much work costs one read of the weights and moments (~1 MB for
// the browser preset, a few ms).
const AUTOSAVE_MS = 30000;
let lastSave = 0;
let dead = false; // set when the wasm instance trapped or the GPU device is gone

const post = (msg, transfer = []) => self.postMessage(msg, transfer);
// A failed command posts its message; the session is intact and keeps training if it was.
// Only a failed training step (divergence) stops the loop, in trainSlice. A trap (out of memory,
// a panic: WebAssembly.RuntimeError) leaves the wasm instance unusable: the worker says so once
// and stops, and the page starts a new one from the last saved run.
const fail = (e) => {
  const message = String(e && e.message ? e.message : e);
  if (e instanceof WebAssembly.RuntimeError) die('crashed', `the wasm instance trapped: ${message}`);
  else post({ type: 'error', message, of: e && e.of });
};
// Marks a failure to make a session ('init' or 'resume'): the page falls back only for those.
const making = (of) => (e) => { if (!(e instanceof WebAssembly.RuntimeError)) e = Object.assign(new Error(String(e.message || e)), { of }); throw e; };
function die(type, message) {
  if (dead) return;
  dead = true;
  running = false;
  post({ type, message });
}

// WebGPU device loss (driver reset, GPU removed, some systems in the background): Burn does not
// report it, so watch the device it asks the adapter for. A lost device cannot be used again.
let gpuDevice = null;
if (self.GPUAdapter && GPUAdapter.prototype.requestDevice) {
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await requestDevice.apply(this, args);
    gpuDevice = device;
    device.lost.then((info) => die('device-lost', `the WebGPU device was lost (${info.reason || 'unknown'}${info.message ? `: ${info.message}` : ''})`));
    return device;
  };
}

async function saveRun() {
  if (session.diverged) return; // keep the last good run: it is what "Restore" offers
  const bytes = await session.save_run();
  lastSave = performance.now();
  post({ type: 'run', bytes, step: session.steps, seconds: trainSeconds }, [bytes.buffer]);
}

// A new session replaces the old one and the page hears 'ready' (and the first run save).
async function adopt(next, options, resumed) {
  if (session) session.free();
  session = next;
  sessionOptions = options;
  stepsPerSec = 0; // the rate restarts with the new run (the loop may still be running)
  rateFrom = null;
  perCall = 1;
  tables = 0;
  table = null; // the old session's
  exactPrimed = false;
  post({ type: 'ready', backend: session.backend, note: session.backend_note, config: session.config, step: session.steps, resumed });
  await saveRun();
  sendTarget();
  await sendSamples();
  lastKl = performance.now(); // the first table comes after KL_MIN_MS of training
  startTrial(auto).catch(fail);
}

// 'auto' decides by measurement (src/trial.rs has the budget, the rules and the words). Where
// WebGPU exists the panel trains on the CPU at once. An adapter that is a CPU in disguise (the
// crate's adapter_verdict: SwiftShader, llvmpipe, WARP, a fallback adapter) is never timed: it
// compiles and runs its shaders in the browser's GPU process on the run's own cores (measured:
// docs/speed.md, "auto on a software adapter"). For a real adapter, once the run has trained
// trial.baseline_slices slices alone, a trial worker times the same recipe on WebGPU; a worker
// can be stopped, so the box holds even when WebGPU blocks its thread, and the run watches its
// own step time beside it: a trial that halves the run's speed (the crate's trial_starves) is
// stopped. With the trial's answer and the CPU's own training speed the crate chooses; a
// WebGPU win moves this run there (nothing restarts) and grows its batch.
let auto = null; // the 'auto' options while this session's backend is still to be decided
// {key, options, waiting: true} until the baseline is measured, {key, worker, timer, end} while
// WebGPU is timed, then {key, result, at}
let trial = null;
// The CPU's ms per step: the fastest of the baseline's slices and of the first
// trial.cpu_slices slices that start after the trial ended.
let cpuMs = null;
let cpuSlices = 0;
let baselineMs = null; // the run's ms per step alone: the fastest baseline slice
let baselineSlices = 0;
let starvedSlices = 0; // consecutive slices beside the trial that the crate calls starved
const verdicts = new Map(); // recipe -> verdict: the same recipe on the same machine is not re-timed

const recipeKey = () => JSON.stringify([session.config.model, session.config.train.batch_size, session.config.train.method]);

// What the crate's adapter_verdict reads: GPUAdapterInfo's fields are getters, which a JSON copy
// would not see, so they are copied by name (isFallbackAdapter moved from the adapter to its info).
function adapterInfo(adapter) {
  const info = adapter.info || {};
  return {
    vendor: info.vendor || '', architecture: info.architecture || '', device: info.device || '',
    description: info.description || '', isFallbackAdapter: Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter),
  };
}

// `anyAdapter` (tests only) times even a software adapter, to test the starvation watch.
async function startTrial(options, { anyAdapter = false } = {}) {
  stopTrial();
  if (!options) return;
  const key = recipeKey();
  if (verdicts.has(key)) { trial = { key, result: { verdict: verdicts.get(key) }, at: performance.now() }; return; }
  // Some browsers offer navigator.gpu without an adapter (headless Chromium, blocklisted GPUs):
  // then there is nothing to time, and nothing to download.
  const asking = { key, timer: null };
  trial = asking;
  const adapter = await self.navigator.gpu.requestAdapter().catch(() => null);
  if (trial !== asking) return; // another session meanwhile
  if (!adapter) { trial = { key, result: { error: 'no adapter' }, at: performance.now() }; return; }
  const software = anyAdapter ? null : Session.adapter_verdict(adapterInfo(adapter), options);
  if (software) { trial = { key, result: { verdict: software }, at: performance.now() }; return; }
  trial = { key, options, waiting: true, timer: null }; // launchTrial, after the baseline
}

// The trial proper: a worker that loads the WebGPU module and times the recipe there.
function launchTrial() {
  const { key, options } = trial;
  const worker = new Worker(new URL(import.meta.url), { type: 'module' });
  const done = (result) => {
    if (!trial || trial.worker !== worker) return; // a trial of an older session
    clearTimeout(trial.timer);
    worker.terminate();
    trial = { key, result, at: performance.now() };
  };
  const box = (ms, result) => { clearTimeout(trial.timer); trial.timer = setTimeout(() => done(result), ms); };
  worker.onmessage = (ev) => {
    const m = ev.data;
    if (!trial || trial.worker !== worker) return;
    // The box starts once the trial worker has the WebGPU module: its download is not WebGPU's.
    if (m.type === 'probe-ready') box(facts.trial.box_ms, { late: true });
    else if (m.type === 'probe') done(m);
    else if (m.type === 'crashed' || m.type === 'device-lost') done({ error: m.message });
  };
  worker.onerror = (ev) => { ev.preventDefault(); done({ error: `the trial worker failed (${ev.message || 'could not load'})` }); };
  worker.postMessage({ type: 'probe', config: session.config, options });
  post({ type: 'status', text: 'auto: training on the CPU while WebGPU is timed beside it…' });
  trial = { worker, key, timer: null, end: done };
  cpuMs = baselineMs;
  box(facts.trial.load_ms, { error: `the WebGPU module did not load within ${facts.trial.load_ms / 1000} s` });
}

// A training slice at `ms` per step, started at `t0`, in 'auto''s bookkeeping: the baseline
// before the trial, the starvation watch during it, the CPU's figure after it.
function autoSlice(ms, t0) {
  if (!auto || !trial) return;
  if (trial.waiting) {
    baselineMs = baselineMs === null ? ms : Math.min(baselineMs, ms);
    if (++baselineSlices >= facts.trial.baseline_slices) launchTrial();
  } else if (trial.worker) {
    starvedSlices = Session.trial_starves(baselineMs, ms) ? starvedSlices + 1 : 0;
    if (starvedSlices >= facts.trial.starve_slices) trial.end({ starved: [baselineMs, ms] });
  } else if (trial.result && t0 >= trial.at) {
    cpuMs = cpuMs === null ? ms : Math.min(cpuMs, ms);
    cpuSlices++;
  }
}

function stopTrial() {
  if (trial && trial.worker) { clearTimeout(trial.timer); trial.worker.terminate(); }
  trial = null;
  cpuMs = null;
  cpuSlices = 0;
  baselineMs = null;
  baselineSlices = 0;
  starvedSlices = 0;
}

// Once the trial has answered and the CPU has trained trial.cpu_slices slices since (a verdict
// without a trial, for a software adapter, needs no CPU figure): choose, and move to WebGPU if
// it won. Runs inside the training loop's command (serial); the batch search after a move
// holds the worker for its timed steps (a few seconds on a GPU).
async function decide() {
  if (!trial || !trial.result || !auto) return;
  if (!trial.result.verdict && cpuSlices < facts.trial.cpu_slices) return;
  const { key, result } = trial;
  const [options, ms] = [auto, cpuMs];
  stopTrial();
  auto = null;
  const verdict = result.verdict
    || Session.choose_backend(ms, result.ms ?? undefined, result.error ?? undefined, result.starved ?? undefined, options);
  verdicts.set(key, verdict);
  const report = { note: verdict.note };
  if (verdict.backend === 'webgpu') {
    const gpuOptions = { ...options, backend: 'webgpu' };
    let next, glue;
    try {
      glue = await webgpuGlue();
      next = await glue.Session.resume(await session.save_run(), gpuOptions);
    } catch (e) {
      // A trap here is the WebGPU module's: the CPU session (the page's module) is intact.
      if (e instanceof WebAssembly.RuntimeError) gpuBroken = `the WebGPU module trapped: ${e.message}`;
      report.note = `${verdict.note}, but moving the run there failed (${e.message || e}); staying on the CPU`;
    }
    if (next) {
      session.free();
      session = next;
      table = null; // begun on the CPU session
      exactPrimed = false;
      useGlue(glue);
      sessionOptions = gpuOptions;
      perCall = 1;
      postBackend(report);
      // The batch search's steps are this run's: the page hears the batch when it is chosen.
      postBackend(await growBatch());
      return;
    }
  }
  postBackend(report);
}

function postBackend(trial) {
  post({ type: 'backend', backend: session.backend, note: session.backend_note, trial, config: session.config, step: session.steps });
}

// On WebGPU, the batch doubles while a step takes at most trial.batch_slack times the first
// batch's (the crate's grow_batch): a GPU is nearly as fast with many more samples, and a
// larger batch lowers the gradient noise. The timed steps are training steps of this run.
async function growBatch() {
  const batches = [];
  let keep = session.config.train.batch_size;
  try {
    batches.push([keep, await msPerStep(session)]);
    for (;;) {
      const search = session.grow_batch(batches);
      keep = search.keep;
      if (search.next == null) {
        session.set_batch_size(keep);
        return { note: search.note, batches };
      }
      session.set_batch_size(search.next);
      batches.push([search.next, await msPerStep(session)]);
    }
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError || session.diverged) throw e; // the loop reports these
    session.set_batch_size(keep); // the last batch that was timed and kept
    return { note: `batch ${keep} (the search stopped: ${e.message || e})`, batches };
  }
}

// Milliseconds per training step of `s`: trial.warmup_steps untimed (shader compilation), then
// calls of doubling step counts until trial.measure_ms have passed; the figure is the last
// call's, the longest and warmest.
async function msPerStep(s) {
  const { warmup_steps: warmup, measure_ms: measure } = facts.trial;
  await s.train_step(warmup);
  const t0 = performance.now();
  for (let count = 1; ; count *= 2) {
    const c0 = performance.now();
    await s.train_step(count);
    const now = performance.now();
    if (now - t0 >= measure) return (now - c0) / count;
  }
}

// Under 'auto' where WebGPU exists: the CPU first, WebGPU timed beside it (startTrial). Without
// WebGPU, 'auto' stays (the crate's note says why the CPU).
function cpuFirst(options = {}) {
  if ((options.backend || facts.options.backend) !== 'auto' || !self.navigator.gpu) return options;
  return { ...options, backend: options.cpu || facts.options.cpu };
}

// Commands run one at a time, in order: the session is never used concurrently.
// `waiting` counts the commands queued behind the running one (redraws excepted: those happen
// between KL rows anyway), so that optional work (the ODE's KL rows) can step aside for them.
let waiting = 0;
function serial(task, { command = true } = {}) {
  if (command) waiting++;
  busy = busy.then(() => { if (command) waiting--; return task(); }).catch(fail);
  return busy;
}

function requestDraw() {
  redraw = true;
  lastViewAt = performance.now();
  serial(drawIfAsked, { command: false });
}

// While the view keeps changing (a time sweep, a drag), a KL table waits between its rows and
// keeps drawing, for at most POSTPONE_MS per row: the pictures follow the slider.
const VIEW_CALM_MS = 300;
const POSTPONE_MS = 5000;
let lastViewAt = -Infinity;
async function letViewsThrough() {
  const t0 = performance.now();
  do {
    await drawIfAsked();
    if (performance.now() - lastViewAt > VIEW_CALM_MS) return;
    await new Promise((r) => setTimeout(r, 30));
  } while (performance.now() - t0 < POSTPONE_MS);
}

async function drawIfAsked() {
  if (!redraw || !session) return;
  redraw = false;
  await sendSamples();
}

async function sendSamples() {
  const t0 = performance.now();
  // What to draw, fixed now: 'set_view' and 'set_picks' change these while this awaits.
  const [v, t, n, starts] = [view, time, nSteps, picks];
  let points = null, reference = null, map = null, grid = null, paths = null, exact = null;
  if (v === 'trajectories') {
    points = await session.sample(n, TRAJECTORY_POINTS, true);
    reference = session.interpolant(1, TRAJECTORY_POINTS);
  } else if (v === 'time') {
    points = await session.flow_to(t);
    reference = session.interpolant(t);
  } else if (v === 'density') {
    map = await session.density_map(n);
  } else if (v === 'exact') {
    firstExact = !exactPrimed; // its first call also computes the exact side, once
    exactPrimed = true;
    // A target without a closed-form flow: the picture says so (it is not the run's error).
    exact = await session.against_exact(n)
      .catch((e) => { if (e instanceof WebAssembly.RuntimeError) throw e; return { error: String(e.message || e) }; });
  } else if (v === 'grid') {
    grid = { lines: GRID_LINES, per_line: GRID_POINTS };
    points = await session.push(gridPoints(), t, n);
  } else {
    points = await session.sample(n);
    if (starts) {
      paths = {
        map: await session.push(starts, 1, n, 'flow-map', true),
        ode: await session.push(starts, 1, ODE_PATH_STEPS, 'ode-heun', true),
      };
    }
  }
  const transfer = [points, reference, paths && paths.map, paths && paths.ode].filter(Boolean).map((a) => a.buffer);
  post({ type: 'samples', view: v, n, t, points, reference, map, grid, paths, exact }, transfer);
  // A one-off cost (the exact side) would hold back the next pictures for minutes.
  drawWait = firstExact ? DRAW_MIN_MS : Math.max(DRAW_MIN_MS, (performance.now() - t0) / DRAW_SHARE);
  firstExact = false;
}
let exactPrimed = false; // this session's exact side is computed (the 'exact' view)
let firstExact = false;

// GRID_LINES vertical then GRID_LINES horizontal lines across the plot square, in noise space.
function gridPoints() {
  const r = facts.plot_range;
  const out = new Float32Array(2 * GRID_LINES * GRID_POINTS * 2);
  let k = 0;
  for (const vertical of [true, false]) {
    for (let i = 0; i < GRID_LINES; i++) {
      const a = -r + (2 * r * i) / (GRID_LINES - 1);
      for (let j = 0; j < GRID_POINTS; j++) {
        const b = -r + (2 * r * j) / (GRID_POINTS - 1);
        out[k++] = vertical ? a : b;
        out[k++] = vertical ? b : a;
      }
    }
  }
  return out;
}

function sendTarget() {
  const points = session.interpolant(1);
  post({ type: 'target', points }, [points.buffer]);
}

// The KL table, computed in parts (the crate's kl_begin / kl_continue) so that training goes on
// between them: a table at 6x256 is half a minute of compute on one core, and a panel that
// stopped training for it looked frozen (issue 25). Every row of a table scores the weights of
// the step it began at. Rows are posted as they come (N = 1 first, the cheapest), so the page
// shows KL(N=1) right away and the rest of the table fills in.
//
// The ODE the map replaces comes with every ODE_EVERY-th table and whenever a table is asked for
// (pause, a load, the 'kl_table' command): its steps up to as many network calls as the map's
// finest N (Heun's step costs 2; the chart's x-axis is calls), about twice the map's table.
const ODE_EVERY = 4;
// A part is sized (in base points) to take about KL_PART_MS, from the previous part's speed:
// while the run trains, the table and training take turns of about the same length.
const KL_PART_MS = SLICE_MS;
let tables = 0; // KL tables finished by this session
// {rows: [{n, sampler}], k, begun, done: [], ode: [], step, seconds, ms} while a table is
// computed, else null.
let table = null;
let klPointsPerMs = null; // base points times network calls per ms, from the last part

function beginTable(withOde) {
  const steps = facts.table_steps;
  const rows = steps.map((n) => ({ n, sampler: undefined }));
  if (withOde || tables % ODE_EVERY === 0) {
    const most = Math.max(...steps);
    for (const { name, calls_per_step: calls } of facts.samplers.filter((x) => x.name !== 'flow-map')) {
      for (const n of steps.filter((n) => n * calls <= most)) rows.push({ n, sampler: name, calls });
    }
  }
  table = { rows, k: 0, begun: false, done: [], ode: [], step: null, seconds: trainSeconds, ms: 0, asked: withOde };
}

// Works on the table for about `budgetMs` (Infinity: to its end), posting rows as they finish.
// With `whileIdle` (a table asked for while paused) it hands over to the training loop as soon
// as the run plays again, instead of holding the worker to the end.
async function advanceTable(budgetMs, { whileIdle = false } = {}) {
  const until = performance.now() + budgetMs;
  const flowRows = facts.table_steps.length;
  while (table && performance.now() < until && !(whileIdle && running)) {
    await new Promise((r) => setTimeout(r, 0)); // let messages in: new weights make this table moot
    if (preempted || !table) { table = null; return; }
    // A new view need not wait for the whole table; while training, views get their turns
    // between the loop's commands anyway.
    await (whileIdle ? letViewsThrough() : drawIfAsked());
    if (!table) return;
    const row = table.rows[table.k];
    // A command waiting while paused: the ODE rows come with a later table.
    if (whileIdle && row.sampler && waiting > 0) { finishTable(); return; }
    if (!table.begun) { session.kl_begin(row.n, row.sampler, table.k > 0); table.begun = true; }
    const calls = row.n * (row.calls || 1);
    const partMs = whileIdle ? 4 * KL_PART_MS : KL_PART_MS;
    const points = klPointsPerMs ? Math.max(64, Math.round((klPointsPerMs * partMs) / calls)) : 1000;
    const t0 = performance.now();
    const report = await session.kl_continue(points);
    const took = Math.max(1, performance.now() - t0);
    if (!table) return; // dropped meanwhile (a new session)
    table.ms += took;
    if (!report) { klPointsPerMs = (points * calls) / took; continue; } // a full part: its speed
    table.begun = false;
    table.k++;
    table.step = report.step;
    if (row.sampler) table.ode.push(report);
    else {
      table.done.push(report);
      post({ type: 'kl_table', rows: table.done.slice(), step: report.step, seconds: table.seconds, complete: table.done.length === flowRows });
    }
    if (table.k === table.rows.length) finishTable();
  }
}

function finishTable() {
  if (table.ode.length) post({ type: 'kl_ode', rows: table.ode, step: table.step });
  tables++;
  klWait = Math.max(KL_MIN_MS, table.ms / KL_SHARE);
  lastKl = performance.now();
  table = null;
}

// A whole table now, with the ODE rows (pause, a load, 'kl_table'), while the run is paused.
async function sendKl() {
  beginTable(true);
  await advanceTable(Infinity, { whileIdle: true });
}

// The session, or a clear error if it does not exist (still starting, or failed to start).
function need() {
  if (!session) throw new Error('no model yet: the session is still starting or failed to start');
  return session;
}

// Shipped weights may be another network (deeper, GELU, preconditioned): re-create the session
// with the checkpoint's model config (same recipe and options) so they load. A corrupt file
// throws before anything changes.
async function adoptArchitecture(bytes) {
  const info = Session.checkpoint_info(bytes);
  const config = session.config;
  if (JSON.stringify(info.model) === JSON.stringify(config.model)) return false;
  const next = await Session.create({ ...config, model: info.model }, sessionOptions);
  session.free();
  session = next;
  table = null;
  exactPrimed = false;
  return true;
}

// Steps per second of wall time, drawing and KL included: what the user experiences.
let stepsPerSec = 0;
let rateFrom = null; // {time, step} of the previous report
// One train_step call per slice: the losses are read once per slice (one buffer map on WebGPU,
// a round trip), and the GPU is never more than a slice of queued steps behind the CPU (cubecl
// does not throttle on wasm). The call's step count aims at SLICE_MS from the last call's time,
// at most doubling per slice so that a slow first step (shader compilation) does not overshoot.
let perCall = 1;
async function trainSlice(maxSteps = Infinity) {
  const t0 = performance.now();
  const count = Math.max(1, Math.min(perCall, maxSteps, facts.limits.max_steps_per_call));
  let report;
  try {
    report = await session.train_step(count);
  } catch (e) {
    running = false; // e.g. divergence: continuing would only repeat the error
    if (session.diverged) {
      post({ type: 'diverged', message: String(e.message || e), step: session.steps });
      return;
    }
    throw e;
  }
  const took = Math.max(1, performance.now() - t0);
  autoSlice((performance.now() - t0) / count, t0);
  perCall = Math.max(1, Math.min(2 * count, Math.round((count * SLICE_MS) / took)));
  const now = performance.now();
  trainSeconds += (now - t0) / 1000;
  if (rateFrom && now > rateFrom.time) {
    const rate = (report.step - rateFrom.step) / ((now - rateFrom.time) / 1000);
    stepsPerSec = stepsPerSec ? 0.7 * stepsPerSec + 0.3 * rate : rate;
  }
  rateFrom = running ? { time: now, step: report.step } : null;
  post({ type: 'progress', step: report.step, losses: report, lr: report.lr, steps_per_sec: stepsPerSec });
}

async function loop() {
  while (running) {
    await serial(async () => {
      if (!running || !session) return;
      await trainSlice();
      if (auto) await decide(); // it waits for the trial and trial.cpu_slices CPU slices
      const now = performance.now();
      if (now - lastDraw > drawWait) { await sendSamples(); lastDraw = performance.now(); }
      if (!table && now - lastKl > klWait) beginTable(false);
      if (table) await advanceTable(KL_PART_MS); // a part between slices
      if (running && now - lastSave > AUTOSAVE_MS) await saveRun();
    });
    await new Promise((r) => setTimeout(r, 0)); // let queued messages in
  }
}

self.onmessage = (ev) => {
  const msg = ev.data;
  if (dead) return; // the page is replacing this worker
  switch (msg.type) {
    case 'wasm':
      serial(async () => {
        await pageGlue.default({ module_or_path: msg.module });
        facts = Session.facts();
        post({ type: 'booted', facts });
      });
      break;
    case 'init':
      preempted = true;
      serial(async () => {
        preempted = false;
        post({ type: 'status', text: msg.options && msg.options.backend === 'webgpu'
          ? 'initialising WebGPU…' : 'creating the session (WebGPU if available)…' });
        // The old session stays, and keeps training if it was, until the new one exists: a
        // config the crate rejects loses nothing.
        const options = cpuFirst(msg.options);
        const glue = await glueFor(options).catch(making('init'));
        const next = await glue.Session.create(msg.config, options).catch(making('init'));
        trainSeconds = 0;
        auto = options === msg.options ? null : msg.options;
        useGlue(glue);
        await adopt(next, options, false);
      });
      break;
    case 'resume':
      preempted = true;
      serial(async () => {
        preempted = false;
        post({ type: 'status', text: 'resuming the saved run…' });
        const options = cpuFirst(msg.options);
        const glue = await glueFor(options).catch(making('resume'));
        const next = await glue.Session.resume(new Uint8Array(msg.bytes), options, msg.lr ?? undefined)
          .catch(making('resume'));
        // A batch grown on WebGPU does not follow the run onto the CPU (a reload, a lost device):
        // there it would cost its size in time per step. Back to the recipe's batch.
        const grown = next.backend !== 'webgpu' && msg.batch && next.config.train.batch_size > msg.batch;
        if (grown) {
          try { next.set_batch_size(msg.batch); } catch { /* a refused recipe batch: the run keeps its own */ }
        }
        trainSeconds = Number(msg.seconds) || 0;
        auto = options === msg.options ? null : msg.options;
        useGlue(glue);
        await adopt(next, options, true);
      });
      break;
    case 'snapshot':
      serial(async () => { if (session) await saveRun(); });
      break;
    case 'stats':
      post({ type: 'stats', wasm_bytes: wasm_memory_bytes(), step: session ? session.steps : 0 });
      break;
    case 'probe': // this is a trial worker: time the recipe on WebGPU from scratch
      serial(async () => {
        let s = null;
        try {
          useGlue(await webgpuGlue());
          facts = Session.facts();
          post({ type: 'probe-ready' }); // the box starts now: a slow download does not count
          s = await Session.create(msg.config, { ...msg.options, backend: 'webgpu' });
          post({ type: 'probe', ms: await msPerStep(s) });
        } catch (e) {
          if (e instanceof WebAssembly.RuntimeError) throw e;
          post({ type: 'probe', error: String(e.message || e) });
        } finally {
          if (s) s.free();
        }
      });
      break;
    case 'test-crash':
      serial(() => { throw new WebAssembly.RuntimeError('unreachable (test-crash)'); });
      break;
    case 'test-trial': // tests only: the trial answers now with this WebGPU timing, or (any_adapter)
      // starts again timing even a software adapter
      serial(() => { // after the session's start, which starts the trial
        if (!auto || !trial) throw new Error('no backend trial is running (test-trial needs backend auto with WebGPU)');
        if (msg.any_adapter) return startTrial(auto, { anyAdapter: true });
        stopTrial();
        trial = { key: recipeKey(), result: { ms: Number(msg.gpu_ms) }, at: performance.now() };
      });
      break;
    case 'test-lose-device':
      if (gpuDevice) gpuDevice.destroy();
      else fail('no WebGPU device to lose (this panel runs on the CPU)');
      break;
    case 'play':
      if (!running && session) { running = true; loop(); }
      break;
    case 'pause':
      running = false;
      serial(async () => { if (session) { await sendSamples(); await sendKl(); } });
      break;
    case 'step':
      serial(async () => { need(); await trainSlice(1); await sendSamples(); });
      break;
    case 'set_n':
      serial(async () => {
        const n = Number(msg.n);
        await need().sample(n, 1); // the crate checks N (and throws why); one point costs nothing
        nSteps = n;
        await sendSamples();
      });
      break;
    case 'set_view': {
      const t = Number(msg.t);
      if (!VIEWS.includes(msg.view)) { fail(`unknown view '${msg.view}' (expected ${VIEWS.join(', ')})`); break; }
      if (!(t >= 0 && t <= 1)) { fail(`t must be in [0, 1], got ${msg.t}`); break; }
      view = msg.view;
      time = t;
      requestDraw();
      break;
    }
    case 'kl_table':
      serial(async () => { need(); await sendKl(); });
      break;
    case 'set_picks': {
      const p = Float32Array.from(msg.points || []);
      if (p.length % 2 || !p.every(Number.isFinite)) { fail('picks must be finite x, y pairs'); break; }
      picks = p.length ? p : null;
      requestDraw();
      break;
    }
    case 'target_file':
      // Answered with the drawing or the crate's reason (not 'error': the message is the draw
      // panel's, not this panel's).
      serial(async () => {
        try {
          const drawing = msg.kind === 'image'
            ? Session.target_from_image(new Uint8Array(msg.rgba), msg.size, Boolean(msg.invert))
            : Session.target_from_csv(String(msg.text));
          post({ type: 'target_made', drawing });
        } catch (e) {
          if (e instanceof WebAssembly.RuntimeError) throw e; // a dead instance: fail() says so
          post({ type: 'target_made', error: String(e.message || e) });
        }
      });
      break;
    case 'save':
      serial(async () => { const bytes = await need().save(); post({ type: 'saved', bytes }, [bytes.buffer]); });
      break;
    case 'load':
      preempted = true;
      serial(async () => {
        preempted = false;
        const bytes = new Uint8Array(msg.bytes);
        need();
        if (msg.adopt && await adoptArchitecture(bytes) && auto) startTrial(auto).catch(fail); // another recipe to time
        session.load(bytes);
        table = null; // about the old weights
        trainSeconds = 0;
        post({ type: 'loaded', step: session.steps, config: session.config });
        await saveRun(); // a reload or a crash comes back to these weights
        await sendSamples();
        await sendKl();
      });
      break;
    default:
      fail(`unknown message type '${msg.type}'`);
  }
};

post({ type: 'status', text: 'loading wasm…' });

