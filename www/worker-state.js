// @ts-check
// The training worker's shared state and its plumbing: the one instance of everything that more
// than one of the worker's modules assigns (`state`), posting to the page, failing and dying, and
// the queue that runs commands one at a time. A name that only one module assigns lives in that
// module and is exported from it (an import sees it live, but cannot assign it).

export const state = {
  /** @type {import('./flowmap.js').Session | null} the run (either module's Session: one API) */
  session: null,
  running: false,
  // What the 'samples' message draws: N ('set_n'), the view and its t ('set_view'), the picks.
  nSteps: 1,
  /** @type {import('./protocol.js').View} */
  view: 'samples',
  time: 1,
  /** @type {Float32Array | null} */
  picks: null, // Float32Array of picked start points (the crate bounds their number), or null
  trainSeconds: 0,
  lastKl: 0,
  // Set when 'init' or 'load' arrives: a KL table in progress stops, as it is about old weights.
  preempted: false,
  /** @type {import('./flowmap.js').Options} */
  sessionOptions: {}, // the options of the last 'init', reused when adopting an architecture
  /** @type {WebAssembly.Module | null} the page's compiled CPU module ('wasm'), which replicas instantiate */
  module: null,
  /** @type {import('./flowmap.js').Facts | null} Session.facts(), read once wasm is loaded */
  facts: null,
  dead: false, // set when the wasm instance trapped or the GPU device is gone
  /** @type {import('./flowmap.js').Options | null} */
  auto: null, // the 'auto' options while this session's backend is still to be decided
  exactPrimed: false, // this session's exact side is computed (the 'exact' view)
  tables: 0, // KL tables finished by this session
  // {rows: [{n, sampler}], k, begun, done: [], ode: [], step, seconds, ms} while a table is
  // computed, else null.
  /** @type {import('./worker-kl-table.js').KlTable | null} */
  table: null,
  // Steps per second of wall time, drawing and KL included: what the user experiences.
  stepsPerSec: 0,
  /** @type {{time: number, step: number} | null} */
  rateFrom: null, // {time, step} of the previous report
  perCall: 1, // steps in the next train_step call (trainSlice in worker-loop.js says how many)
};

// How long one training slice may run before the worker yields to read new messages.
export const SLICE_MS = 100;

/** @type {Promise<void>} the queue's last command */
let busy = Promise.resolve();

/** @param {import('./protocol.js').Reply} msg @param {Transferable[]} [transfer] */
export const post = (msg, transfer = []) => self.postMessage(msg, transfer);
// A failed command posts its message; the session is intact and keeps training if it was.
// Only a failed training step (divergence) stops the loop, in trainSlice. A trap (out of memory,
// a panic: WebAssembly.RuntimeError) leaves the wasm instance unusable: the worker says so once
// and stops, and the page starts a new one from the last saved run.
/** @param {any} e what was thrown (an Error, a trap: anything a command throws) or a message */
export const fail = (e) => {
  const message = String(e && e.message ? e.message : e);
  if (e instanceof WebAssembly.RuntimeError) die('crashed', `the wasm instance trapped: ${message}`);
  else post({ type: 'error', message, of: e && e.of });
};
// Marks a failure to make a session ('init' or 'resume'): the page falls back only for those.
/** @param {'init' | 'resume'} of @returns {(e: any) => never} rethrows what was thrown, marked */
export const making = (of) => (e) => { if (!(e instanceof WebAssembly.RuntimeError)) e = Object.assign(new Error(String(e.message || e)), { of }); throw e; };
/** @param {'crashed' | 'device-lost'} type @param {string} message */
export function die(type, message) {
  if (state.dead) return;
  state.dead = true;
  state.running = false;
  post({ type, message });
}

// Commands run one at a time, in order: the session is never used concurrently.
// `waiting` counts the commands queued behind the running one (redraws excepted: those happen
// between KL rows anyway), so that optional work (the ODE's KL rows) can step aside for them.
export let waiting = 0;
/** @param {() => void | Promise<void>} task */
export function serial(task, { command = true } = {}) {
  if (command) waiting++;
  busy = busy.then(() => { if (command) waiting--; return task(); }).catch(fail);
  return busy;
}
