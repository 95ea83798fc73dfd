// @ts-check
// The training worker's choice of backend under 'auto': the CPU first, a trial worker timing
// the recipe on WebGPU beside it, the crate's verdict, and the move of the run to WebGPU (with
// its batch search) when WebGPU wins.
import { state, post } from './worker-state.js';
import { Session, useGlue, webgpuGlue, breakWebgpu } from './worker-wasm.js';

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
// state.auto: the 'auto' options while this session's backend is still to be decided.
// {key, options, waiting: true} until the baseline is measured, {key, worker, timer, end} while
// WebGPU is timed, then {key, result, at}
/**
 * @typedef {import('./flowmap.js').Options} Options
 * @typedef {import('./flowmap.js').Verdict} Verdict
 * @typedef {import('./flowmap.js').Session} Session
 * What the trial found: the crate's verdict without timing (a software adapter, a recipe timed
 * before), WebGPU's ms per step, why it failed, [baseline, beside] ms per step when it starved
 * the run, or `late` when the box ran out.
 * @typedef {{verdict?: Verdict, ms?: number, error?: string, starved?: [number, number],
 *   late?: boolean}} TrialResult
 * @typedef {{key: string, options?: Options, waiting?: boolean, worker?: Worker,
 *   timer?: ReturnType<typeof setTimeout> | null, end?: (result: TrialResult) => void,
 *   result?: TrialResult, at?: number}} Trial
 */
/** @type {Trial | null} */
let trial = null;
// The CPU's ms per step: the fastest of the baseline's slices and of the first
// trial.cpu_slices slices that start after the trial ended.
/** @type {number | null} */
let cpuMs = null;
let cpuSlices = 0;
/** @type {number | null} */
let baselineMs = null; // the run's ms per step alone: the fastest baseline slice
let baselineSlices = 0;
let starvedSlices = 0; // consecutive slices beside the trial that the crate calls starved
/** @type {Map<string, Verdict>} */
const verdicts = new Map(); // recipe -> verdict: the same recipe on the same machine is not re-timed

const recipeKey = () => JSON.stringify([state.session.config.model, state.session.config.train.batch_size, state.session.config.train.method]);

// What the crate's adapter_verdict reads: GPUAdapterInfo's fields are getters, which a JSON copy
// would not see, so they are copied by name (isFallbackAdapter moved from the adapter to its info).
/**
 * @param {GPUAdapter & {isFallbackAdapter?: boolean}} adapter (older browsers: the flag here)
 * @returns {import('./flowmap.js').AdapterInfo}
 */
function adapterInfo(adapter) {
  /** @type {Partial<GPUAdapterInfo>} */
  const info = adapter.info || {};
  return {
    vendor: info.vendor || '', architecture: info.architecture || '', device: info.device || '',
    description: info.description || '', isFallbackAdapter: Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter),
  };
}

// `anyAdapter` (tests only) times even a software adapter, to test the starvation watch.
/** @param {Options | null} options the 'auto' options, or null: no trial */
export async function startTrial(options, { anyAdapter = false } = {}) {
  stopTrial();
  if (!options) return;
  const key = recipeKey();
  if (verdicts.has(key)) { trial = { key, result: { verdict: verdicts.get(key) }, at: performance.now() }; return; }
  // Some browsers offer navigator.gpu without an adapter (headless Chromium, blocklisted GPUs):
  // then there is nothing to time, and nothing to download.
  /** @type {Trial} */
  const asking = { key, timer: null };
  trial = asking;
  const adapter = await self.navigator.gpu.requestAdapter().catch(/** @returns {null} */ () => null);
  if (trial !== asking) return; // another session meanwhile
  if (!adapter) { trial = { key, result: { error: 'no adapter' }, at: performance.now() }; return; }
  const software = anyAdapter ? null : Session.adapter_verdict(adapterInfo(adapter), options);
  if (software) { trial = { key, result: { verdict: software }, at: performance.now() }; return; }
  trial = { key, options, waiting: true, timer: null }; // launchTrial, after the baseline
}

// The trial proper: a worker that loads the WebGPU module and times the recipe there. It runs
// the worker's entry script, worker.js, whose URL (import.meta.url there) it gives at its start.
/** @type {string | null} */
let trialScript = null;
// Tests only ('test-trial' with max_batch): the batch search stops before a batch above this.
let testMaxBatch = Infinity;
/** @param {string} url */
export function setTrialScript(url) { trialScript = url; }
function launchTrial() {
  const { key, options } = trial;
  const worker = new Worker(new URL(trialScript), { type: 'module' });
  /** @param {TrialResult} result */
  const done = (result) => {
    if (!trial || trial.worker !== worker) return; // a trial of an older session
    clearTimeout(trial.timer);
    worker.terminate();
    trial = { key, result, at: performance.now() };
  };
  /** @param {number} ms @param {TrialResult} result what the trial says if the box runs out */
  const box = (ms, result) => { clearTimeout(trial.timer); trial.timer = setTimeout(() => done(result), ms); };
  worker.onmessage = (ev) => {
    const m = ev.data;
    if (!trial || trial.worker !== worker) return;
    // The box starts once the trial worker has the WebGPU module: its download is not WebGPU's.
    if (m.type === 'probe-ready') box(state.facts.trial.box_ms, { late: true });
    else if (m.type === 'probe') done(m);
    else if (m.type === 'crashed' || m.type === 'device-lost') done({ error: m.message });
  };
  worker.onerror = (ev) => { ev.preventDefault(); done({ error: `the trial worker failed (${ev.message || 'could not load'})` }); };
  worker.postMessage({ type: 'probe', config: state.session.config, options });
  post({ type: 'status', text: 'auto: training on the CPU while WebGPU is timed beside it…' });
  trial = { worker, key, timer: null, end: done };
  cpuMs = baselineMs;
  box(state.facts.trial.load_ms, { error: `the WebGPU module did not load within ${state.facts.trial.load_ms / 1000} s` });
}

// A training slice at `ms` per step, started at `t0`, in 'auto''s bookkeeping: the baseline
// before the trial, the starvation watch during it, the CPU's figure after it.
/** @param {number} ms @param {number} t0 */
export function autoSlice(ms, t0) {
  if (!state.auto || !trial) return;
  if (trial.waiting) {
    baselineMs = baselineMs === null ? ms : Math.min(baselineMs, ms);
    if (++baselineSlices >= state.facts.trial.baseline_slices) launchTrial();
  } else if (trial.worker) {
    starvedSlices = Session.trial_starves(baselineMs, ms) ? starvedSlices + 1 : 0;
    if (starvedSlices >= state.facts.trial.starve_slices) trial.end({ starved: [baselineMs, ms] });
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
export async function decide() {
  if (!trial || !trial.result || !state.auto) return;
  if (!trial.result.verdict && cpuSlices < state.facts.trial.cpu_slices) return;
  const { key, result } = trial;
  const [options, ms] = [state.auto, cpuMs];
  stopTrial();
  state.auto = null;
  const verdict = result.verdict
    || Session.choose_backend(ms, result.ms ?? undefined, result.error ?? undefined, result.starved ?? undefined, options);
  verdicts.set(key, verdict);
  const report = { note: verdict.note };
  if (verdict.backend === 'webgpu') {
    const gpuOptions = { ...options, backend: 'webgpu' };
    let next, glue;
    try {
      glue = await webgpuGlue();
      next = await glue.Session.resume(await state.session.save_run(), gpuOptions);
    } catch (e) {
      // A trap here is the WebGPU module's: the CPU session (the page's module) is intact.
      if (e instanceof WebAssembly.RuntimeError) breakWebgpu(`the WebGPU module trapped: ${e.message}`);
      report.note = `${verdict.note}, but moving the run there failed (${e.message || e}); staying on the CPU`;
    }
    if (next) {
      state.session.free();
      state.session = next;
      state.table = null; // begun on the CPU session
      state.exactPrimed = false;
      useGlue(glue);
      state.sessionOptions = gpuOptions;
      state.perCall = 1;
      postBackend(report);
      // The batch search's steps are this run's: the page hears the batch when it is chosen.
      postBackend(await growBatch());
      return;
    }
  }
  postBackend(report);
}

/** @param {import('./protocol.js').TrialReport} trial */
function postBackend(trial) {
  post({ type: 'backend', backend: state.session.backend, note: state.session.backend_note, trial, config: state.session.config, step: state.session.steps });
}

// On WebGPU, the batch doubles while a step takes at most trial.batch_slack times the first
// batch's (the crate's grow_batch): a GPU is nearly as fast with many more samples, and a
// larger batch lowers the gradient noise. The timed steps are training steps of this run.
async function growBatch() {
  /** @type {[number, number][]} [batch, ms per step] */
  const batches = [];
  let keep = state.session.config.train.batch_size;
  try {
    batches.push([keep, await msPerStep(state.session)]);
    for (;;) {
      const search = state.session.grow_batch(batches);
      keep = search.keep;
      if (search.next == null || search.next > testMaxBatch) {
        state.session.set_batch_size(keep);
        return { note: search.note, batches };
      }
      state.session.set_batch_size(search.next);
      batches.push([search.next, await msPerStep(state.session)]);
    }
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError || state.session.diverged) throw e; // the loop reports these
    state.session.set_batch_size(keep); // the last batch that was timed and kept
    return { note: `batch ${keep} (the search stopped: ${e.message || e})`, batches };
  }
}

// Milliseconds per training step of `s`: trial.warmup_steps untimed (shader compilation), then
// calls of doubling step counts until trial.measure_ms have passed; the figure is the last
// call's, the longest and warmest.
/** @param {Session} s */
export async function msPerStep(s) {
  const { warmup_steps: warmup, measure_ms: measure } = state.facts.trial;
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
/** @param {Options} [options] @returns {Options} */
export function cpuFirst(options = {}) {
  if ((options.backend || state.facts.options.backend) !== 'auto' || !self.navigator.gpu) return options;
  return { ...options, backend: options.cpu || state.facts.options.cpu };
}

// Tests only ('test-trial'): the trial answers now with this WebGPU timing, or (any_adapter)
// starts again timing even a software adapter.
/** @param {Extract<import('./protocol.js').Command, {type: 'test-trial'}>} msg */
export function testTrial(msg) {
  if (!state.auto || !trial) throw new Error('no backend trial is running (test-trial needs backend auto with WebGPU)');
  if (msg.max_batch != null) testMaxBatch = Number(msg.max_batch);
  if (msg.any_adapter) return startTrial(state.auto, { anyAdapter: true });
  stopTrial();
  trial = { key: recipeKey(), result: { ms: Number(msg.gpu_ms) }, at: performance.now() };
}
