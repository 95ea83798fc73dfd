// The page: builds two panels, each driven by its own training worker, and draws what the
// workers report. No training happens on this thread.
import { Drawing } from './draw.js';
import { drawKlVsN, drawKlVsTime } from './charts.js';
import { loadRuns, saveRuns, clearRuns } from './store.js';
import { drawDensity, drawExact, drawGrid, drawPaths } from './views.js';

const $ = (id) => document.getElementById(id);
const DEFAULT_METHODS = ['lsd', 'psd-mid'];
const PRETRAINED = ['lsd', 'psd-mid'];
const MODEL_COLOR = 'rgba(108, 178, 255, 0.6)';
const LINE_COLOR = 'rgba(255, 159, 108, 0.16)'; // the interpolant's straight lines

let playing = false;
const panels = [];
// The crate's facts (presets, limits, the KL table's N values, the plot square), from the first
// worker to load: the page keeps no copy of them (Session.facts() in src/session.rs).
let facts = null;
const drawing = new Drawing($('draw-canvas'), () => saveSettings());

function status(text) { $('status').textContent = text; }

// A performance mark the first time something happens (time since navigation).
function mark(name) { if (performance.getEntriesByName(name).length === 0) performance.mark(name); }

// The dataset field of the config: a name, or the painted grid.
function dataset() {
  return $('dataset').value === 'drawn' ? drawing.dataset() : $('dataset').value;
}

// The training recipe: the crate's browser preset (Config::browser, which says why each value)
// with the controls' fields. The crate checks it; a rejected field comes back as a panel error.
function recipe(method) {
  const num = (id) => Number($(id).value);
  const { model, train } = facts.presets.browser;
  return {
    model: { ...model, width: num('width'), depth: num('depth') },
    train: { ...train, method, dataset: dataset(), batch_size: num('batch'), lr: num('lr'), seed: num('seed') },
  };
}

// Once, from the first worker that loads: fill the controls the URL left empty with the preset,
// bound the number inputs by the crate's limits, and offer the KL table's N values.
function adoptFacts(f) {
  if (facts) return;
  facts = f;
  const { model, train } = f.presets.browser;
  const preset = { lr: train.lr, batch: train.batch_size, width: model.width, depth: model.depth, seed: train.seed };
  for (const [id, v] of Object.entries(preset)) if ($(id).value === '') $(id).value = v;
  $('width').max = f.limits.max_width;
  $('depth').max = f.limits.max_depth;
  $('batch').max = f.limits.max_batch;
  $('n').replaceChildren(...f.table_steps.map((n) => new Option(String(n))));
  applyParam('n');
  for (const el of document.querySelectorAll('[data-fact="square"]')) el.textContent = `[−${f.plot_range}, ${f.plot_range}]²`;
}

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

// Canvas pixel of a point in the plot square [-r, r]^2 (the KL histogram's).
const px = (c, x) => ((x + facts.plot_range) / (2 * facts.plot_range)) * c.width;
const py = (c, y) => c.height - ((y + facts.plot_range) / (2 * facts.plot_range)) * c.height;

// Storage problems (private mode, quota) are shown once; training goes on without autosave.
let storageWarned = false;
let storageOff = false; // set when the saved runs could not be read: writing would overwrite them
function storageProblem(e) {
  if (storageWarned) return;
  storageWarned = true;
  const message = `autosave is off: ${e && e.message ? e.message : e}`;
  status(message);
  console.warn(message);
}

// The autosave: every panel's latest run (the crate's bytes, from the worker's 'run' messages)
// and the settings it started from, written in order.
let writing = Promise.resolve();
function persist() {
  if (storageOff) return writing;
  const record = {
    version: 1,
    query: settingsQuery().toString(),
    savedAt: Date.now(),
    panels: panels.map((p) => p.lastRun && p.config && { method: p.config.train.method, ...p.lastRun, klHistory: p.klHistory }),
    // A target from a file is not in the URL (too long): the record keeps it.
    drawing: drawing.shareable ? null : { size: drawing.size, cells: Array.from(drawing.cells) },
  };
  writing = writing.then(() => saveRuns(record)).catch(storageProblem);
  return writing;
}

// Picked start points (noise at t = 0, plot coordinates), shared by the panels: clicking a
// samples view adds one, dragging moves it; both panels draw their paths. At most MAX_PICKS.
const MAX_PICKS = 8;
let picks = [];
const PICK_RADIUS_PX = 12;

function sendPicks() {
  $('clear-paths').hidden = picks.length === 0;
  for (const p of panels) if (p.ready) p.send({ type: 'set_picks', points: picks.flat() });
}

// Clicks, taps and drags on a panel's samples canvas pick points (in the samples view).
function pickable(c) {
  let dragging = -1;
  const where = (ev) => {
    const r = c.getBoundingClientRect();
    const [u, v] = [(ev.clientX - r.left) / r.width, (ev.clientY - r.top) / r.height];
    return [(2 * u - 1) * facts.plot_range, (1 - 2 * v) * facts.plot_range];
  };
  c.addEventListener('pointerdown', (ev) => {
    if ($('view').value !== 'samples' || !facts) return;
    const p = where(ev);
    const r = c.getBoundingClientRect();
    const perPx = (2 * facts.plot_range) / r.width;
    dragging = picks.findIndex(([x, y]) => Math.hypot(x - p[0], y - p[1]) < PICK_RADIUS_PX * perPx);
    if (dragging < 0) {
      if (picks.length >= MAX_PICKS) picks.shift();
      picks.push(p);
      dragging = picks.length - 1;
    }
    c.setPointerCapture(ev.pointerId);
    sendPicks();
  });
  c.addEventListener('pointermove', (ev) => {
    if (dragging < 0) return;
    picks[dragging] = where(ev);
    sendPicks();
  });
  const stop = () => { dragging = -1; };
  c.addEventListener('pointerup', stop);
  c.addEventListener('pointercancel', stop);
}

// A target from a file: the browser decodes an image and scales it into a square of the crate's
// grid (aspect kept, on a transparent square, so margins carry no mass, inverted or not); the
// crate turns pixels or CSV text into
// a drawing (src/target_file.rs) or says why not, and the current target stays.
let imageFile = null; // the last image, kept for the invert toggle
async function targetFromFile(file) {
  const note = $('target-note');
  if (!file) return;
  const worker = panels.find((p) => p.ready);
  if (!worker) { note.textContent = 'the models are still starting: try again in a moment'; return; }
  let msg;
  const csv = /\.csv$/i.test(file.name) || file.type === 'text/csv';
  if (csv) {
    imageFile = null; // the invert toggle is for images
    msg = { type: 'target_file', kind: 'csv', text: await file.text() };
  } else {
    let bitmap;
    try { bitmap = await createImageBitmap(file); } catch {
      note.textContent = `'${file.name}' is not an image this browser can read (nor a .csv of points); the target stays as it was`;
      return;
    }
    imageFile = file;
    const size = facts.file_grid;
    const canvas = new OffscreenCanvas(size, size);
    const g = canvas.getContext('2d'); // transparent: margins carry no mass, inverted or not
    const scale = size / Math.max(bitmap.width, bitmap.height);
    const [w, h] = [bitmap.width * scale, bitmap.height * scale];
    g.drawImage(bitmap, (size - w) / 2, (size - h) / 2, w, h);
    const rgba = g.getImageData(0, 0, size, size).data;
    msg = { type: 'target_file', kind: 'image', rgba, size, invert: $('invert').checked };
  }
  const reply = await worker.ask(msg, 'target_made');
  if (reply.error) { note.textContent = `${file.name}: ${reply.error}; the target stays as it was`; return; }
  drawing.setCells(reply.drawing);
  note.textContent = `${file.name} → a ${reply.drawing.size}×${reply.drawing.size} target: press “Train on this drawing”. `
    + 'The URL (the share link) cannot carry a target from a file: a shared link shows the default face.';
  saveSettings();
}

// A panel's worker may die (a wasm trap such as out of memory) or lose its GPU; it is replaced at
// most this many times a minute (a run that crashes at once would otherwise loop).
const MAX_RECOVERIES_PER_MINUTE = 3;
// Loss values kept for the loss chart (a long run would otherwise grow the page's memory).
const MAX_LOSSES = 4000;

class Panel {
  constructor(method, saved) {
    const node = $('panel-template').content.firstElementChild.cloneNode(true);
    $('panels').appendChild(node);
    this.node = node;
    this.q = (sel) => node.querySelector(sel);
    this.q('.method').value = method;
    this.losses = [];
    this.shown = null; // the last 'samples' message
    this.target = null;
    this.klRows = null;
    this.klHistory = [];
    this.odeRows = null; // the ODE's KL rows ('kl_ode'), for the chart
    this.ready = false;
    this.config = null; // the running session's config (from 'ready')
    this.lastRun = null; // {bytes, step, seconds}: the newest 'run' from the worker
    // What to do once the worker boots: {bytes, seconds, klHistory, lr?} resumes a run.
    this.pending = saved ? { bytes: saved.bytes, seconds: saved.seconds, klHistory: saved.klHistory || [] } : null;
    if (saved) this.lastRun = { bytes: saved.bytes, step: saved.step, seconds: saved.seconds };
    this.awaiting = null; // 'controls' | 'preset' | 'resume' while a session is being made
    this.recoveries = [];
    this.waiters = [];
    this.q('.method').addEventListener('change', () => this.reset());
    this.q('.save').addEventListener('click', () => this.send({ type: 'save' }));
    this.q('.pretrained').addEventListener('click', () => this.loadPretrained());
    this.q('.load').addEventListener('change', (e) => this.upload(e.target.files[0]));
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

  send(msg, transfer = []) { this.worker.postMessage(msg, transfer); }

  // The next message of `type` after sending `msg` (tests and the soak script use it).
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
  resume(pending) {
    this.pending = null;
    this.awaiting = 'resume';
    this.resuming = pending;
    const bytes = pending.bytes.slice();
    this.send({ type: 'resume', bytes, options: this.options(), lr: pending.lr, seconds: pending.seconds, batch: Number($('batch').value) }, [bytes.buffer]);
  }

  // Training diverged: the weights are meaningless. Offer the last saved run with half the
  // learning rate (the run saved at 'ready' is there even if no autosave happened yet).
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
    this.q('.kl tbody').querySelectorAll('td').forEach((td) => { td.textContent = '–'; });
    this.drawLoss();
    this.drawCharts();
  }

  // The KL table's columns, one per N of the crate's table.
  buildKlTable() {
    const cell = (tag, text) => Object.assign(document.createElement(tag), { textContent: text });
    const steps = facts.table_steps;
    this.q('.kl thead tr').replaceChildren(cell('th', 'N'), ...steps.map((n) => cell('th', String(n))));
    this.q('.kl tbody tr').replaceChildren(cell('th', 'KL'), ...steps.map(() => cell('td', '–')));
    this.q('.kl .floor').colSpan = steps.length + 1;
  }

  // Checkpoints shipped with the site (www/pretrained/, made with the CLI at the reference
  // budget on the checkerboard; README). The panel takes their width and depth (LSD's is 6x256);
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

  async upload(file) {
    if (!file) return;
    const bytes = new Uint8Array(await file.arrayBuffer());
    this.send({ type: 'load', bytes }, [bytes.buffer]);
    this.q('.load').value = '';
  }

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
      case 'stats': break;
      case 'error':
        if (this.awaiting && (msg.of === 'init' || msg.of === 'resume')) this.notMade(msg.message);
        else this.error(msg.message);
        break;
      default: console.warn('unknown worker message', msg);
    }
  }

  showBackend(backend, note) {
    const b = this.q('.backend');
    b.textContent = backend === 'webgpu' ? 'WebGPU' : `CPU (${backend})`;
    b.title = note; // why this backend, e.g. why not WebGPU
    b.dataset.backend = backend;
  }

  showArchitecture({ model, train }) {
    const a = this.q('.arch');
    a.textContent = `${model.depth}×${model.width}`;
    a.dataset.depth = model.depth;
    this.q('.batch').textContent = `batch ${train.batch_size}`; // auto may have grown it
  }

  download(bytes) {
    const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = `flowmap-${this.q('.method').value}.fmap`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  drawSamples() {
    const c = this.q('.samples');
    const g = c.getContext('2d');
    g.fillStyle = '#0b0d11';
    g.fillRect(0, 0, c.width, c.height);
    const dots = (p, color, size) => {
      g.fillStyle = color;
      for (let k = 0; k < p.length; k += 2) g.fillRect(px(c, p[k]) - size / 2, py(c, p[k + 1]) - size / 2, size, size);
    };
    // The target, faint, for reference.
    if (this.target) dots(this.target, '#2a3346', 2);
    const m = this.shown;
    if (!m) return;
    c.dataset.view = m.view;
    c.dataset.t = m.t;
    g.font = '13px system-ui';
    if (m.view === 'trajectories') {
      this.drawTrajectories(g, c, m);
      g.fillStyle = '#c9ced6';
      g.fillText(`paths through ${m.n} jump${m.n > 1 ? 's' : ''} (blue) · interpolant lines x0 → x1 (orange)`, 8, 18);
    } else if (m.view === 'time') {
      dots(m.reference, 'rgba(255, 159, 108, 0.35)', 2);
      dots(m.points, MODEL_COLOR, 2);
      g.fillStyle = '#c9ced6';
      g.fillText(`t = ${m.t.toFixed(2)}: X(0,t) in one call (blue) · interpolant I_t (orange)`, 8, 18);
    } else if (m.view === 'density') {
      g.fillStyle = '#0b0d11';
      g.fillRect(0, 0, c.width, c.height);
      drawDensity(g, c, m.map, facts.kl_bins, m.n);
    } else if (m.view === 'exact') {
      g.fillStyle = '#0b0d11';
      g.fillRect(0, 0, c.width, c.height);
      const small = { width: c.width / 2, height: c.height / 2 }; // the plot square in a quarter
      if (m.exact.error) { // wrapped to the canvas, word by word
        g.fillStyle = '#c9ced6';
        const lines = [''];
        for (const word of m.exact.error.split(' ')) {
          const line = `${lines[lines.length - 1]} ${word}`.trim();
          if (g.measureText(line).width > c.width - 16 && lines[lines.length - 1]) lines.push(word);
          else lines[lines.length - 1] = line;
        }
        lines.forEach((line, k) => g.fillText(line, 8, 18 + 18 * k));
      } else drawExact(g, c, m.exact, m.n, (x, y) => [px(small, x), py(small, y)]);
    } else if (m.view === 'grid') {
      drawGrid(g, c, m, (x, y) => [px(c, x), py(c, y)]);
    } else {
      dots(m.points, MODEL_COLOR, 2);
      if (m.paths) drawPaths(g, m.paths, m.n, (x, y) => [px(c, x), py(c, y)]);
      g.fillStyle = '#c9ced6';
      g.fillText(m.paths ? `N = ${m.n} · paths: ${m.n} jump${m.n > 1 ? 's' : ''} (white) and the ODE (orange)` : `N = ${m.n} · click to trace a point's path`, 8, 18);
    }
  }

  // The flow map's paths (polylines through the N + 1 stages) over the interpolant's straight
  // lines from the same noise to independent data points: the map untangles the crossings.
  drawTrajectories(g, c, m) {
    const stages = m.n + 1;
    const count = m.points.length / (2 * stages);
    const at = (stage, k) => [m.points[2 * (stage * count + k)], m.points[2 * (stage * count + k) + 1]];
    g.lineWidth = 1;
    g.strokeStyle = LINE_COLOR;
    g.beginPath();
    for (let k = 0; k < count; k++) {
      const [x0, y0] = at(0, k);
      g.moveTo(px(c, x0), py(c, y0));
      g.lineTo(px(c, m.reference[2 * k]), py(c, m.reference[2 * k + 1]));
    }
    g.stroke();
    g.strokeStyle = 'rgba(108, 178, 255, 0.45)';
    g.beginPath();
    for (let k = 0; k < count; k++) {
      for (let s = 0; s < stages; s++) {
        const [x, y] = at(s, k);
        s ? g.lineTo(px(c, x), py(c, y)) : g.moveTo(px(c, x), py(c, y));
      }
    }
    g.stroke();
    g.fillStyle = '#9aa0a6';
    for (let k = 0; k < count; k++) { const [x, y] = at(0, k); g.fillRect(px(c, x) - 1, py(c, y) - 1, 2, 2); }
    g.fillStyle = '#8fc7ff';
    for (let k = 0; k < count; k++) { const [x, y] = at(stages - 1, k); g.fillRect(px(c, x) - 1.5, py(c, y) - 1.5, 3, 3); }
  }

  drawLoss() {
    const c = this.q('.loss');
    const g = c.getContext('2d');
    g.fillStyle = '#0b0d11';
    g.fillRect(0, 0, c.width, c.height);
    const ls = this.losses.filter((v) => Number.isFinite(v) && v > 0);
    g.fillStyle = '#9aa0a6';
    g.font = '12px system-ui';
    if (ls.length < 2) { g.fillText('loss: no training steps yet (press Play or Step)', 6, 14); return; }
    // Raw loss (faint) and its exponential moving average, on a log scale.
    const logs = ls.map(Math.log10);
    let avg = logs[0];
    const smooth = logs.map((v) => (avg = 0.9 * avg + 0.1 * v));
    const lo = Math.min(...logs), hi = Math.max(...logs) + 1e-9;
    const line = (vals, style) => {
      g.strokeStyle = style;
      g.beginPath();
      vals.forEach((v, k) => {
        const x = (k / (vals.length - 1)) * c.width;
        const y = c.height - 4 - ((v - lo) / (hi - lo)) * (c.height - 8);
        k ? g.lineTo(x, y) : g.moveTo(x, y);
      });
      g.stroke();
    };
    line(logs, 'rgba(108, 178, 255, 0.25)');
    line(smooth, '#6cb2ff');
    g.fillStyle = '#9aa0a6';
    g.fillText(`loss (log scale) ${ls[ls.length - 1].toFixed(4)}`, 6, 14);
  }

  // Rows arrive one by one (N = 1 first); `complete` marks the whole table. data-first-step and
  // data-step record the training step of the newest KL(N=1) and of the newest full table.
  showKl(rows, step, seconds, complete) {
    const table = this.q('.kl');
    if (rows.length === 1) {
      table.dataset.firstStep = step;
      table.querySelectorAll('tbody td').forEach((td, k) => { if (k) td.classList.add('stale'); });
    }
    const cells = table.querySelectorAll('tbody td');
    rows.forEach((r, k) => { cells[k].textContent = r.kl.toFixed(3); cells[k].classList.remove('stale'); });
    const floor = rows[0];
    this.q('.floor').textContent = `noise floor ${floor.noise_floor.toFixed(3)} (two true sets of ${floor.samples} samples)`;
    if (!complete) return;
    table.dataset.step = step;
    this.klRows = rows;
    const last = this.klHistory[this.klHistory.length - 1];
    const at = (n) => rows[facts.table_steps.indexOf(n)].kl;
    if (!last || seconds > last.seconds) this.klHistory.push({ seconds, step, kl1: at(1), kl4: at(4) });
    this.drawCharts();
  }

  drawCharts() {
    if (!facts) return;
    // The reference's numbers are for the checkerboard only.
    const reference = $('dataset').value === 'checkerboard' ? facts.reference_kl[this.q('.method').value] : null;
    drawKlVsN(this.q('.kl-vs-n'), this.klRows, reference, this.odeRows);
    drawKlVsTime(this.q('.kl-vs-time'), this.klHistory);
  }
}

function viewMessage() {
  return { type: 'set_view', view: $('view').value, t: Number($('t').value) };
}

function setPlaying(on) {
  playing = on;
  $('play').textContent = on ? '⏸ Pause' : '▶ Play';
  for (const p of panels) if (p.ready) p.send({ type: on ? 'play' : 'pause' });
}

function resetAll() { panels.forEach((p) => p.reset()); }

function showViewControls() {
  const timed = ['time', 'grid'].includes($('view').value);
  $('time-label').hidden = !timed;
  $('t-play').hidden = !timed;
  if (!timed) setSweep(false);
  $('t-value').textContent = Number($('t').value).toFixed(2);
  $('draw').hidden = $('dataset').value !== 'drawn';
}

$('play').addEventListener('click', () => setPlaying(!playing));
$('step').addEventListener('click', () => { setPlaying(false); panels.forEach((p) => p.ready && p.send({ type: 'step' })); });
$('reset').addEventListener('click', resetAll);
$('n').addEventListener('change', () => panels.forEach((p) => p.ready && p.send({ type: 'set_n', n: Number($('n').value) })));
$('backend').addEventListener('change', () => panels.forEach((p) => { p.cpuOnly = false; p.reset(); }));
$('dataset').addEventListener('change', () => { showViewControls(); resetAll(); });
$('view').addEventListener('change', () => { showViewControls(); panels.forEach((p) => p.send(viewMessage())); });
$('t').addEventListener('input', () => { setSweep(false); showTime(); });
$('t-play').addEventListener('click', () => setSweep(!sweep));

function showTime() { showViewControls(); panels.forEach((p) => p.send(viewMessage())); }

// Play for the time slider: sweep t from 0 to 1 and back, SWEEP_MS each way, in SWEEP_TICK_MS
// steps (each asks the workers for one network call's picture; faster would only queue up).
const SWEEP_MS = 4000;
const SWEEP_TICK_MS = 100;
let sweep = null; // {timer, direction} while sweeping
function setSweep(on) {
  $('t-play').textContent = on ? '⏸ t' : '▶ t';
  if (!on) { if (sweep) clearInterval(sweep.timer); sweep = null; return; }
  if (sweep) return;
  sweep = { direction: Number($('t').value) >= 1 ? -1 : 1 };
  sweep.timer = setInterval(() => {
    let t = Number($('t').value) + (sweep.direction * SWEEP_TICK_MS) / SWEEP_MS;
    if (t >= 1) { t = 1; sweep.direction = -1; } else if (t <= 0) { t = 0; sweep.direction = 1; }
    $('t').value = t.toFixed(3);
    showTime();
  }, SWEEP_TICK_MS);
}
$('draw-clear').addEventListener('click', () => { drawing.clear(); imageFile = null; $('target-note').textContent = ''; });
$('target-file').addEventListener('change', (e) => { targetFromFile(e.target.files[0]); e.target.value = ''; });
$('invert').addEventListener('change', () => { if (imageFile) targetFromFile(imageFile); });
$('clear-paths').addEventListener('click', () => { picks = []; sendPicks(); });
$('draw-train').addEventListener('click', resetAll);

// Shareable settings: the URL holds the recipe, dataset, view, N, backend and each panel's
// method, e.g. ?lr=0.004&batch=256&width=192&depth=5&seed=0&dataset=rings&n=1&methods=lsd,psd-mid
// A drawing travels as `draw`, its 32x32 cells as base64url bytes (about 1.4 kB).
const SETTINGS = ['lr', 'batch', 'width', 'depth', 'seed', 'dataset', 'view', 't', 'n', 'backend'];
// The settings that make a run: a URL that names other values than the saved run's starts them.
const RECIPE = ['lr', 'batch', 'width', 'depth', 'seed', 'dataset', 'draw', 'methods'];
const url = new URLSearchParams(location.search);
const saved = await loadRuns().catch((e) => { storageProblem(e); storageOff = true; return undefined; });
const savedQuery = saved && saved.version === 1 && saved.panels.some(Boolean) ? new URLSearchParams(saved.query) : null;
const resuming = savedQuery && RECIPE.every((k) => !url.has(k) || url.get(k) === savedQuery.get(k));
// Resuming: the saved run's settings, with the URL's view, N, t and backend on top.
const params = resuming ? new URLSearchParams({ ...Object.fromEntries(savedQuery), ...Object.fromEntries(url) }) : url;
function applyParam(id) {
  if (!params.has(id)) return;
  const el = $(id);
  el.value = params.get(id);
  if (el.tagName === 'SELECT' && el.value === '') { // not one of the options
    el.selectedIndex = 0;
    status(`unknown ${id} '${params.get(id)}' in the URL; using ${el.value}`);
  }
}
// N's options come with the crate's facts (adoptFacts applies it then).
for (const id of SETTINGS) if (id !== 'n') applyParam(id);
if (params.has('draw') && !drawing.decode(params.get('draw'))) status('the drawing in the URL is not valid; showing the default one');
const methods = (params.get('methods') || DEFAULT_METHODS.join(',')).split(',').slice(0, 4);

function settingsQuery() {
  const q = new URLSearchParams();
  for (const id of SETTINGS) q.set(id, $(id).value);
  q.set('methods', panels.map((p) => p.q('.method').value).join(','));
  if ($('dataset').value === 'drawn' && drawing.shareable) q.set('draw', drawing.encode());
  return q;
}

function saveSettings() { history.replaceState(null, '', `?${settingsQuery()}`); }

showViewControls();
methods.forEach((m, k) => panels.push(new Panel(m, resuming ? saved.panels[k] : null)));
if (resuming) {
  if (saved.drawing) drawing.setCells(saved.drawing);
  const when = new Date(saved.savedAt).toLocaleString();
  $('resumed').querySelector('.what').textContent = `${when}, ${saved.panels.filter(Boolean).map((p) => `${p.method} step ${p.step}`).join(', ')}`;
  $('resumed').hidden = false;
  saveSettings();
}
$('fresh').addEventListener('click', () => {
  $('resumed').hidden = true;
  writing = writing.then(() => clearRuns()).catch(storageProblem); // before the new runs' saves
  for (const p of panels) {
    Object.assign(p, { lastRun: null, pending: null, resuming: null, noteAfterReady: null });
    p.q('.note').textContent = '';
    p.reset(); // before wasm has loaded this waits: 'booted' resets, now that nothing is pending
  }
});
// Leaving or hiding the tab saves every run (best effort: a closing tab may not wait for it).
const snapshotAll = () => { for (const p of panels) if (p.ready) p.send({ type: 'snapshot' }); };
document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'hidden') snapshotAll(); });
addEventListener('pagehide', snapshotAll);
// For tests and the soak script: save every run now, or read each worker's memory.
window.flowmap = {
  panels,
  snapshot: () => Promise.all(panels.map((p) => p.ask({ type: 'snapshot' }, 'run'))).then(() => persist()).then(() => loadRuns()),
  stats: () => Promise.all(panels.map((p) => p.ask({ type: 'stats' }, 'stats'))),
};
for (const p of panels) p.q('.method').addEventListener('change', saveSettings);
for (const id of SETTINGS) $(id).addEventListener('change', saveSettings);
if (params.get('autoplay') !== '0') setPlaying(true);
