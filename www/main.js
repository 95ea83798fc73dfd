// The page: builds two panels, each driven by its own training worker, and draws what the
// workers report. No training happens on this thread.

const $ = (id) => document.getElementById(id);
const RANGE = 2.5; // the drawn square [-2.5, 2.5]^2, the KL histogram's
const DEFAULT_METHODS = ['lsd', 'psd-mid'];
const PRETRAINED = ['lsd', 'psd-mid'];

let playing = false;
const panels = [];

function status(text) { $('status').textContent = text; }

// The training recipe from the controls. The defaults (index.html) were chosen by measurement
// in headless Chromium on 2 CPU cores (README, "Speed in the tab"); keep www/bench.js in sync.
// The cosine schedule spans 5000 steps (about two minutes on one core), then holds 1% of the
// peak lr; a short EMA (0.99) follows the fast early progress without lagging behind it.
function recipe(method) {
  const num = (id) => Number($(id).value);
  return {
    model: { width: num('width'), depth: num('depth') },
    train: { method, batch_size: num('batch'), lr: num('lr'), seed: num('seed'), steps: 5000, warmup_steps: 100, ema_decay: 0.99 },
  };
}

function workerUrl() {
  // Resolved against the page, so the site works from any subpath (GitHub Pages).
  return new URL('./worker.js', document.baseURI);
}

class Panel {
  constructor(method) {
    const node = $('panel-template').content.firstElementChild.cloneNode(true);
    $('panels').appendChild(node);
    this.node = node;
    this.q = (sel) => node.querySelector(sel);
    this.q('.method').value = method;
    this.losses = [];
    this.points = null;
    this.ready = false;
    this.q('.method').addEventListener('change', () => this.reset());
    this.q('.save').addEventListener('click', () => this.send({ type: 'save' }));
    this.q('.pretrained').addEventListener('click', () => this.loadPretrained());
    this.q('.load').addEventListener('change', (e) => this.upload(e.target.files[0]));
    this.worker = new Worker(workerUrl(), { type: 'module' });
    this.worker.onmessage = (ev) => this.receive(ev.data);
    this.worker.onerror = (ev) => this.error(`worker failed: ${ev.message || 'could not load'}`);
  }

  send(msg, transfer = []) { this.worker.postMessage(msg, transfer); }

  error(message) {
    this.q('.error').textContent = message;
    console.warn(`[${this.q('.method').value}] ${message}`);
  }

  reset() {
    this.ready = false;
    this.losses = [];
    this.q('.error').textContent = '';
    // 20k samples per KL histogram: a table costs ~10 s of one core at 4x256, so the worker
    // refreshes it at most 15% of the time. Fewer samples leave true bins empty in the model
    // histogram and inflate KL through the 1e-8 floor (10k gave ~1.2 where 100k gave ~0.7).
    // The noise floor shown is measured at the same size (the CLI's 100k-sample floor is 0.011).
    const options = { backend: $('backend').value, eval_samples: 20000 };
    this.q('.kl').dataset.step = 0;
    this.send({ type: 'init', config: recipe(this.q('.method').value), options });
  }

  // Checkpoints shipped with the site (www/pretrained/, made with the CLI at the seed's budget:
  // 4x256 networks, so they load into the default recipe's sessions).
  async loadPretrained() {
    const method = this.q('.method').value;
    if (!PRETRAINED.includes(method)) { this.error(`no pretrained weights for ${method} (only ${PRETRAINED.join(', ')})`); return; }
    try {
      const res = await fetch(new URL(`pretrained/${method}.fmap`, document.baseURI));
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const bytes = new Uint8Array(await res.arrayBuffer());
      this.send({ type: 'load', bytes }, [bytes.buffer]);
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
    switch (msg.type) {
      case 'booted': this.reset(); break;
      case 'status': status(msg.text); break;
      case 'ready':
        this.ready = true;
        this.q('.backend').textContent = msg.backend === 'webgpu' ? 'WebGPU' : `CPU (${msg.backend})`;
        this.q('.backend').title = msg.note; // why this backend, e.g. why not WebGPU
        this.q('.backend').dataset.backend = msg.backend;
        status(msg.backend === 'webgpu'
          ? 'WebGPU: compiling shaders during the first steps…'
          : `ready: ${panels.filter((p) => p.ready).length}/${panels.length} panels`);
        this.firstProgress = true;
        this.send({ type: 'set_n', n: Number($('n').value) });
        if (playing) this.send({ type: 'play' });
        break;
      case 'progress':
        if (this.firstProgress) { this.firstProgress = false; status('training'); }
        this.losses.push(msg.losses.total);
        this.q('.rate').textContent = `step ${msg.step} · ${msg.steps_per_sec.toFixed(1)} steps/s · loss ${msg.losses.total.toFixed(4)}`;
        this.drawLoss();
        break;
      case 'samples': this.points = msg.points; this.drawSamples(); break;
      case 'kl_table': this.showKl(msg.rows, msg.step); break;
      case 'saved': this.download(msg.bytes); break;
      case 'loaded': this.q('.error').textContent = ''; status('weights loaded'); break;
      case 'error': this.error(msg.message); break;
      default: console.warn('unknown worker message', msg);
    }
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
    // The target's cells, faint, for reference.
    g.fillStyle = '#1a2130';
    const cell = c.width / (2 * RANGE);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) {
      if ((i + j) % 2) continue;
      g.fillRect((i - 2 + RANGE) * cell, c.height - (j - 1 + RANGE) * cell, cell, cell);
    }
    if (!this.points) return;
    g.fillStyle = 'rgba(108, 178, 255, 0.6)';
    const p = this.points;
    for (let k = 0; k < p.length; k += 2) {
      const x = (p[k] + RANGE) * cell;
      const y = c.height - (p[k + 1] + RANGE) * cell;
      g.fillRect(x - 1, y - 1, 2, 2);
    }
  }

  drawLoss() {
    const c = this.q('.loss');
    const g = c.getContext('2d');
    g.fillStyle = '#0b0d11';
    g.fillRect(0, 0, c.width, c.height);
    const ls = this.losses.filter((v) => Number.isFinite(v) && v > 0);
    if (ls.length < 2) return;
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
    g.font = '12px system-ui';
    g.fillText(`loss (log scale) ${ls[ls.length - 1].toFixed(4)}`, 6, 14);
  }

  showKl(rows, step) {
    this.q('.kl').dataset.step = step;
    const cells = this.q('.kl tbody').querySelectorAll('td');
    rows.forEach((r, k) => { cells[k].textContent = r.kl.toFixed(3); });
    const floor = rows[0];
    this.q('.floor').textContent = `noise floor ${floor.noise_floor.toFixed(3)} (two true sets of ${floor.samples} samples)`;
  }
}

function setPlaying(on) {
  playing = on;
  $('play').textContent = on ? '⏸ Pause' : '▶ Play';
  for (const p of panels) if (p.ready) p.send({ type: on ? 'play' : 'pause' });
}

function validRecipe() {
  const checks = [['lr', (v) => v > 0 && v <= 1], ['batch', (v) => Number.isInteger(v) && v >= 2],
    ['width', (v) => Number.isInteger(v) && v >= 1], ['depth', (v) => Number.isInteger(v) && v >= 1],
    ['seed', (v) => Number.isInteger(v) && v >= 0]];
  for (const [id, ok] of checks) {
    if (!ok(Number($(id).value))) { status(`invalid ${id}: ${$(id).value}`); return false; }
  }
  return true;
}

$('play').addEventListener('click', () => setPlaying(!playing));
$('step').addEventListener('click', () => { setPlaying(false); panels.forEach((p) => p.send({ type: 'step' })); });
$('reset').addEventListener('click', () => { if (validRecipe()) panels.forEach((p) => p.reset()); });
$('n').addEventListener('change', () => panels.forEach((p) => p.send({ type: 'set_n', n: Number($('n').value) })));
$('backend').addEventListener('change', () => panels.forEach((p) => p.reset()));

// Shareable settings: the URL holds the recipe, N, backend and each panel's method, e.g.
// ?lr=0.002&batch=256&width=256&depth=4&seed=0&n=1&backend=auto&methods=lsd,psd-mid
const SETTINGS = ['lr', 'batch', 'width', 'depth', 'seed', 'n', 'backend'];
const params = new URLSearchParams(location.search);
for (const id of SETTINGS) if (params.has(id)) $(id).value = params.get(id);
const methods = (params.get('methods') || DEFAULT_METHODS.join(',')).split(',').slice(0, 4);

function saveSettings() {
  const q = new URLSearchParams();
  for (const id of SETTINGS) q.set(id, $(id).value);
  q.set('methods', panels.map((p) => p.q('.method').value).join(','));
  history.replaceState(null, '', `?${q}`);
}

for (const m of methods) panels.push(new Panel(m));
for (const p of panels) p.q('.method').addEventListener('change', saveSettings);
for (const id of SETTINGS) $(id).addEventListener('change', saveSettings);
if (params.get('autoplay') !== '0') setPlaying(true);
