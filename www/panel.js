// @ts-check
// A panel: one training worker (started, fed the compiled wasm, replaced when it dies), its
// session's life (a recipe, a saved run to resume, a fallback when neither can be made), its
// weights files and the worker's messages. What it shows is PanelView's (panel-view.js).
import { $, status, mark, panels } from './page-shared.js';
import { facts, recipe, dataset, adoptFacts, workersMessage, saveSettings } from './settings.js';
import { persist } from './autosave.js';
import { picks, pickable } from './picks.js';
import { playing, viewMessage } from './controls.js';
import { PanelView } from './panel-view.js';

const PRETRAINED = ['lsd', 'psd-mid', 'psd-uniform', 'esd', 'meanflow'];

/** @typedef {import('./protocol.js').Reply} Reply */
/**
 * A saved run to continue: its bytes, training seconds and KL history, and (restoring a
 * diverged run) the learning rate that replaces its own.
 * @typedef {{bytes: Uint8Array, seconds: number, klHistory: import('./charts.js').KlPoint[],
 *   lr?: number}} Pending
 */

// One download and one compile of the wasm for every panel: each worker instantiates this
// WebAssembly.Module (it can be posted to workers) instead of fetching and compiling its own
// copy, which halves a first visit's bytes (tests/e2e/coldstart.mjs).
const wasmModule = (async () => {
  const url = new URL('flowmap_bg.wasm', document.baseURI);
  try {
    return await WebAssembly.compileStreaming(fetch(url));
  } catch { // e.g. a host that serves .wasm without the application/wasm type
    return WebAssembly.compile(await (await fetch(url)).arrayBuffer());
  }
})();

function workerUrl() {
  // Resolved against the page, so the site works from any subpath (GitHub Pages).
  return new URL('./worker.js', document.baseURI);
}

// A panel's worker may die (a wasm trap such as out of memory) or lose its GPU; it is replaced at
// most this many times a minute (a run that crashes at once would otherwise loop).
const MAX_RECOVERIES_PER_MINUTE = 3;
// Loss values kept for the loss chart (a long run would otherwise grow the page's memory).
const MAX_LOSSES = 4000;

// A worker count the crate refused (the control or the URL): said in the panel, and the
// control goes back to empty, the automatic count, for every panel (nothing else changes).
/** @param {string} message @param {Panel} panel */
function refusedWorkers(message, panel) {
  panel.error(`${message}; using the automatic count`);
  if ($('workers').value === '') return;
  $('workers').value = '';
  saveSettings();
  for (const p of panels) if (p.ready) p.send(workersMessage());
}

export class Panel extends PanelView {
  /** @param {string} method @param {import('./store.js').SavedPanel | null} saved a run to resume */
  constructor(method, saved) {
    super();
    const node = $('panel-template').content.firstElementChild.cloneNode(true);
    $('panels').appendChild(node);
    this.node = node;
    this.q = (/** @type {string} */ sel) => node.querySelector(sel);
    this.q('.method').value = method;
    /** @type {number[]} */
    this.losses = [];
    this.shown = null; // the last 'samples' message
    this.target = null;
    this.klRows = null;
    /** @type {import('./charts.js').KlPoint[]} */
    this.klHistory = [];
    this.odeRows = null; // the ODE's KL rows ('kl_ode'), for the chart
    this.ready = false;
    this.config = null; // the running session's config (from 'ready')
    this.lastRun = null; // {bytes, step, seconds}: the newest 'run' from the worker
    // What to do once the worker boots: {bytes, seconds, klHistory, lr?} resumes a run.
    this.pending = saved ? { bytes: saved.bytes, seconds: saved.seconds, klHistory: saved.klHistory || [] } : null;
    if (saved) this.lastRun = { bytes: saved.bytes, step: saved.step, seconds: saved.seconds };
    this.awaiting = null; // 'controls' | 'preset' | 'resume' while a session is being made
    /** @type {number[]} times of this minute's recoveries */
    this.recoveries = [];
    /** @type {{type: Reply['type'], resolve: (msg: Reply) => void}[]} ask()'s open questions */
    this.waiters = [];
    this.q('.method').addEventListener('change', () => this.reset());
    this.q('.save').addEventListener('click', () => this.send({ type: 'save' }));
    this.q('.pretrained').addEventListener('click', () => this.loadPretrained());
    this.q('.load').addEventListener('change', (/** @type {Event & {target: HTMLInputElement}} */ e) => this.upload(e.target.files[0]));
    pickable(this.q('.samples'));
    this.spawn();
    this.drawCharts();
  }

  spawn() {
    this.worker = new Worker(workerUrl(), { type: 'module' });
    this.worker.onmessage = (ev) => this.receive(ev.data);
    // An uncaught error in the worker (e.g. a trap outside a command): replace the worker.
    this.worker.onerror = (ev) => { ev.preventDefault(); this.recover(`the worker failed (${ev.message || 'could not load'})`); };
    wasmModule.then((module) => this.send({ type: 'wasm', module }), (e) => this.error(`could not load the wasm: ${e.message}`));
  }

  /** @param {import('./protocol.js').Command} msg @param {Transferable[]} [transfer] */
  send(msg, transfer = []) { this.worker.postMessage(msg, transfer); }

  // The next message of `type` after sending `msg` (tests and the soak script use it).
  /**
   * @param {import('./protocol.js').Command} msg
   * @param {import('./protocol.js').Reply['type']} type
   * @returns {Promise<any>} the reply (its type is the caller's `type`)
   */
  ask(msg, type) {
    return new Promise((resolve) => { this.waiters.push({ type, resolve }); this.send(msg); });
  }

  // The options a session of this panel is made with: the crate's defaults (src/session.rs says
  // why) except the backend; after a lost GPU device, the CPU.
  options() {
    return { backend: this.cpuOnly ? facts.options.cpu : $('backend').value };
  }

  // A dead worker (trap, lost GPU device): say what happened, start a new worker and resume the
  // last saved run there (on the CPU after a lost device).
  /** @param {string} why */
  recover(why, { cpu = false } = {}) {
    this.worker.terminate();
    this.ready = false;
    const now = Date.now();
    this.recoveries = this.recoveries.filter((t) => now - t < 60000).concat(now);
    if (this.recoveries.length > MAX_RECOVERIES_PER_MINUTE) {
      this.stopped = true;
      this.error(`${why}; this happened ${this.recoveries.length} times within a minute, so the panel stopped. Reset (or reload the page) to try again.`);
      return;
    }
    if (cpu) this.cpuOnly = true;
    const run = this.lastRun;
    this.pending = run ? { bytes: run.bytes, seconds: run.seconds, klHistory: this.klHistory } : null;
    this.noteAfterReady = `${why}: ${cpu ? 'continuing on the CPU' : 'started a new worker'} from ${run ? `the run saved at step ${run.step}` : 'scratch'}.`;
    this.q('.note').textContent = `${why}; restarting…`;
    this.spawn();
  }

  // A new worker after the panel stopped, starting the controls' settings.
  restart() {
    this.stopped = false;
    this.recoveries = [];
    this.pending = null;
    this.spawn(); // 'booted' resets
  }

  // Continue a saved run in this panel's worker (a copy of the bytes: lastRun keeps its own).
  /** @param {Pending} pending */
  resume(pending) {
    this.pending = null;
    this.awaiting = 'resume';
    this.resuming = pending;
    const bytes = pending.bytes.slice();
    this.send({ type: 'resume', bytes, options: this.options(), lr: pending.lr, seconds: pending.seconds, batch: Number($('batch').value) }, [bytes.buffer]);
  }

  // Training diverged: the weights are meaningless. Offer the last saved run with half the
  // learning rate (the run saved at 'ready' is there even if no autosave happened yet).
  /** @param {Extract<Reply, {type: 'diverged'}>} msg */
  diverged(msg) {
    this.error(msg.message);
    const run = this.lastRun;
    if (!run || !this.config) return;
    const lr = this.config.train.lr / 2;
    const button = Object.assign(document.createElement('button'), {
      className: 'restore',
      textContent: `Restore the run saved at step ${run.step} with lr ${lr.toPrecision(3)}`,
    });
    button.addEventListener('click', () => {
      this.q('.error').textContent = '';
      this.noteAfterReady = `restored the run saved at step ${run.step} with lr ${lr.toPrecision(3)} (was ${this.config.train.lr.toPrecision(3)}) after it diverged.`;
      this.resume({ bytes: run.bytes, seconds: run.seconds, klHistory: this.klHistory, lr });
    });
    this.q('.error').append(' ', button);
  }

  /** @param {string} message */
  error(message) {
    this.q('.error').textContent = message;
    status(`${this.q('.method').value}: ${message}`); // also at the top, where the eye is
    console.warn(`[${this.q('.method').value}] ${message}`);
  }

  // Ask the worker for a new session. The panel keeps showing the old run until the worker
  // confirms ('ready' clears it); a rejected recipe comes back as 'error' and loses nothing.
  reset() {
    if (this.stopped) { this.restart(); return; } // the user asks again after the recovery limit
    if (!facts) return; // the 'booted' message resets once the crate's facts are known
    this.awaiting = 'controls';
    this.send({ type: 'init', config: recipe(this.q('.method').value), options: this.options() });
  }

  // A session could not be made: fall back so that the panel trains something.
  /** @param {string} message */
  notMade(message) {
    const was = this.awaiting;
    this.awaiting = null;
    if (was === 'resume' && !this.ready) {
      this.error(`the saved run could not be resumed (${message}); starting the settings above`);
      this.noteAfterReady = null;
      this.resuming = null;
      this.reset();
      this.keepError = true;
    } else if (was === 'controls' && !this.ready) {
      this.error(`${message}. Training the default recipe instead.`);
      const { model, train } = facts.presets.browser;
      this.awaiting = 'preset';
      this.keepError = true;
      this.send({ type: 'init', config: { model, train: { ...train, method: this.q('.method').value, dataset: dataset() } }, options: this.options() });
    } else {
      this.error(message);
    }
  }

  // A new session: forget the old run's losses, KL rows and pictures.
  clear() {
    this.losses = [];
    this.klRows = null;
    this.odeRows = null;
    this.klHistory = [];
    this.target = null;
    this.shown = null;
    this.q('.error').textContent = '';
    this.q('.kl').dataset.step = 0;
    this.q('.kl tbody').querySelectorAll('td').forEach((/** @type {HTMLTableCellElement} */ td) => { td.textContent = '–'; });
    this.drawLoss();
    this.drawCharts();
  }

  // Checkpoints shipped with the site (www/pretrained/, made with the CLI at the reference
  // budget on the checkerboard; README). The panel takes their width and depth (LSD and ESD: 6x256);
  // Reset goes back to the controls' network.
  async loadPretrained() {
    const method = this.q('.method').value;
    if (!PRETRAINED.includes(method)) { this.error(`no pretrained weights for ${method} (only ${PRETRAINED.join(', ')})`); return; }
    if ($('dataset').value !== 'checkerboard') { this.error('the pretrained weights are for the checkerboard: switch the dataset first'); return; }
    try {
      const res = await fetch(new URL(`pretrained/${method}.fmap`, document.baseURI));
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const bytes = new Uint8Array(await res.arrayBuffer());
      this.send({ type: 'load', bytes, adopt: true }, [bytes.buffer]);
    } catch (e) {
      this.error(`could not fetch pretrained weights: ${e.message}`);
    }
  }

  /** @param {File} file */
  async upload(file) {
    if (!file) return;
    const bytes = new Uint8Array(await file.arrayBuffer());
    this.send({ type: 'load', bytes }, [bytes.buffer]);
    this.q('.load').value = '';
  }

  /** @param {Uint8Array} bytes the weights ('saved': a posted copy, so on an ArrayBuffer) */
  download(bytes) {
    const url = URL.createObjectURL(new Blob([/** @type {Uint8Array<ArrayBuffer>} */ (bytes)], { type: 'application/octet-stream' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = `flowmap-${this.q('.method').value}.fmap`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  /** @param {import('./protocol.js').Reply} msg */
  receive(msg) {
    const w = this.waiters.findIndex((x) => x.type === msg.type); // the oldest question of this type
    if (w >= 0) this.waiters.splice(w, 1)[0].resolve(msg);
    switch (msg.type) {
      case 'booted':
        adoptFacts(msg.facts);
        this.buildKlTable();
        this.drawCharts();
        if (this.pending) this.resume(this.pending);
        else this.reset();
        break;
      case 'status': status(msg.text); break;
      case 'ready': {
        const keepError = this.keepError; // says why another run than the one asked for runs
        this.keepError = false;
        const error = this.q('.error').textContent;
        this.ready = true;
        this.awaiting = null;
        this.config = msg.config;
        this.q('.method').value = msg.config.train.method; // the run's, e.g. a resumed one
        this.clear();
        if (keepError) this.q('.error').textContent = error;
        if (msg.resumed && this.resuming) {
          // The KL-over-time history up to the resumed step comes back with the run.
          this.klHistory = (this.resuming.klHistory || []).filter((h) => !(h.step > msg.step));
          this.drawCharts();
        }
        this.resuming = null;
        this.q('.note').textContent = this.noteAfterReady || (msg.resumed ? `resumed at step ${msg.step}` : '');
        this.noteAfterReady = null;
        this.q('.rate').textContent = `step ${msg.step}`;
        this.showBackend(msg.backend, msg.note);
        this.showArchitecture(msg.config);
        const d = msg.config.train.dataset;
        this.node.dataset.dataset = typeof d === 'string' ? d : Object.keys(d)[0];
        status(msg.backend === 'webgpu'
          ? 'WebGPU: compiling shaders during the first steps…'
          : `ready: ${panels.filter((p) => p.ready).length}/${panels.length} panels`);
        this.firstProgress = true;
        this.send({ type: 'set_n', n: Number($('n').value) });
        this.send(workersMessage());
        this.send(viewMessage());
        if (picks.length) this.send({ type: 'set_picks', points: picks.flat() });
        if (playing) this.send({ type: 'play' });
        break;
      }
      case 'progress':
        mark('flowmap:first-step');
        if (this.firstProgress) { this.firstProgress = false; status('training'); }
        this.losses.push(msg.losses.total);
        // A bounded history for the chart: past MAX_LOSSES, keep every other point.
        if (this.losses.length > MAX_LOSSES) this.losses = this.losses.filter((_, k) => k % 2 === 1);
        this.q('.rate').textContent = `step ${msg.step} · ${msg.steps_per_sec.toFixed(1)} steps/s · loss ${msg.losses.total.toFixed(4)}`;
        this.drawLoss();
        break;
      case 'backend': { // auto's timed trial decided (then, on WebGPU, the batch); the run goes on
        this.config = msg.config;
        this.showBackend(msg.backend, msg.note);
        this.showArchitecture(msg.config);
        this.q('.rate').textContent = `step ${msg.step}`; // the run's, on its new backend
        const note = this.q('.note').textContent;
        this.q('.note').textContent = [note, msg.trial.note].filter(Boolean).join(' · ');
        status(`${this.q('.method').value}: ${msg.trial.note}`); // the status line said it was timing
        break;
      }
      case 'target': this.target = msg.points; this.drawSamples(); break;
      case 'samples':
        this.shown = msg;
        this.drawSamples();
        mark('flowmap:first-sample'); // cold-start figures (tests/e2e/coldstart.mjs)
        break;
      case 'kl_table': this.showKl(msg.rows, msg.step, msg.seconds, msg.complete); break;
      case 'kl_ode': // the ODE rows of a table; data-ode-step: the step they were computed at
        this.odeRows = msg.rows;
        this.q('.kl').dataset.odeStep = msg.step;
        this.drawCharts();
        break;
      case 'target_made': break; // answered through ask()
      case 'saved': this.download(msg.bytes); break;
      case 'loaded':
        this.config = msg.config;
        this.q('.error').textContent = '';
        this.klHistory = [];
        this.losses = [];
        this.drawLoss();
        this.showArchitecture(msg.config);
        this.q('.rate').textContent = `step ${msg.step}`;
        status(`weights loaded (trained ${msg.step} steps)`);
        break;
      case 'run':
        this.lastRun = { bytes: msg.bytes, step: msg.step, seconds: msg.seconds };
        persist();
        break;
      case 'diverged': this.diverged(msg); break;
      case 'crashed': this.recover(msg.message); break;
      case 'device-lost': this.recover(msg.message, { cpu: true }); break;
      case 'workers': // with a config when the workers grew a fresh run's batch
        this.showWorkers(msg.workers, msg.note);
        if (msg.config) {
          this.config = msg.config;
          this.showArchitecture(msg.config);
        }
        break;
      case 'stats': case 'replicas': break; // answered through ask()
      case 'error':
        if (this.awaiting && (msg.of === 'init' || msg.of === 'resume')) this.notMade(msg.message);
        else if (msg.of === 'workers') refusedWorkers(msg.message, this);
        else this.error(msg.message);
        break;
      default: console.warn('unknown worker message', msg);
    }
  }
}
