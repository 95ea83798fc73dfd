// @ts-check
// What a panel shows: its samples canvas in every view, the loss chart, the KL table and its
// charts, and the backend and network labels. Panel (panel.js) extends PanelView with the worker
// and the panel's life; these methods read the panel's fields (shown, target, losses, KL rows).
import { drawKlVsN, drawKlVsTime } from './charts.js';
import { drawDensity, drawExact, drawGrid, drawPaths } from './views.js';
import { $ } from './page-shared.js';
import { facts } from './settings.js';

const MODEL_COLOR = 'rgba(108, 178, 255, 0.6)';
const LINE_COLOR = 'rgba(255, 159, 108, 0.16)'; // the interpolant's straight lines

/** @typedef {import('./protocol.js').Samples} Samples */
/** @typedef {import('./flowmap.js').AgainstExactView} AgainstExactView */
/** @typedef {{width: number, height: number}} Size a canvas, or a quarter of one */

// Canvas pixel of a point in the plot square [-r, r]^2 (the KL histogram's).
/** @param {Size} c @param {number} x */
const px = (c, x) => ((x + facts.plot_range) / (2 * facts.plot_range)) * c.width;
/** @param {Size} c @param {number} y */
const py = (c, y) => c.height - ((y + facts.plot_range) / (2 * facts.plot_range)) * c.height;

export class PanelView {
  constructor() {
    // The fields Panel (panel.js) sets and these methods read, declared for the type check
    // (statements without a value: nothing is assigned here).
    /** @type {(sel: string) => any} */ this.q;
    /** @type {Float32Array | null} */ this.target;
    /** @type {Samples | null} */ this.shown;
    /** @type {number[]} */ this.losses;
    /** @type {import('./charts.js').KlPoint[]} */ this.klHistory;
    /** @type {import('./flowmap.js').KlReport[] | null} */ this.odeRows;
  }

  // The KL table's columns, one per N of the crate's table.
  buildKlTable() {
    /** @param {string} tag @param {string} text */
    const cell = (tag, text) => Object.assign(document.createElement(tag), { textContent: text });
    const steps = facts.table_steps;
    this.q('.kl thead tr').replaceChildren(cell('th', 'N'), ...steps.map((n) => cell('th', String(n))));
    this.q('.kl tbody tr').replaceChildren(cell('th', 'KL'), ...steps.map(() => cell('td', '–')));
    this.q('.kl .floor').colSpan = steps.length + 1;
  }

  /** @param {string} backend @param {string} note */
  showBackend(backend, note) {
    const b = this.q('.backend');
    b.textContent = backend === 'webgpu' ? 'WebGPU' : `CPU (${backend})`;
    b.title = note; // why this backend, e.g. why not WebGPU
    b.dataset.backend = backend;
  }

  // How many workers train the run (the panel's and its replicas); the title says why fewer
  // than asked, if so.
  /** @param {number} workers @param {string} note */
  showWorkers(workers, note) {
    const w = this.q('.workers');
    w.textContent = `${workers} worker${workers > 1 ? 's' : ''}`;
    w.dataset.workers = workers;
    w.title = note || 'workers training this run (the panel\'s and its data-parallel replicas)';
  }

  /** @param {import('./flowmap.js').Config} config */
  showArchitecture({ model, train }) {
    const a = this.q('.arch');
    a.textContent = `${model.depth}×${model.width}`;
    a.dataset.depth = model.depth;
    this.q('.batch').textContent = `batch ${train.batch_size}`; // auto may have grown it
  }

  drawSamples() {
    const c = this.q('.samples');
    const g = c.getContext('2d');
    g.fillStyle = '#0b0d11';
    g.fillRect(0, 0, c.width, c.height);
    /** @param {Float32Array} p points [x0, y0, ...] @param {string} color @param {number} size */
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
      } else drawExact(g, c, /** @type {AgainstExactView} */ (m.exact), m.n, (x, y) => [px(small, x), py(small, y)]);
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
  /** @param {CanvasRenderingContext2D} g @param {HTMLCanvasElement} c @param {Samples} m */
  drawTrajectories(g, c, m) {
    const stages = m.n + 1;
    const count = m.points.length / (2 * stages);
    /** @param {number} stage @param {number} k */
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
    /** @param {number[]} vals @param {string} style */
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
  /**
   * @param {import('./flowmap.js').KlReport[]} rows @param {number} step
   * @param {number} seconds @param {boolean} complete
   */
  showKl(rows, step, seconds, complete) {
    const table = this.q('.kl');
    if (rows.length === 1) {
      table.dataset.firstStep = step;
      table.querySelectorAll('tbody td').forEach((/** @type {Element} */ td, /** @type {number} */ k) => { if (k) td.classList.add('stale'); });
    }
    const cells = table.querySelectorAll('tbody td');
    rows.forEach((r, k) => { cells[k].textContent = r.kl.toFixed(3); cells[k].classList.remove('stale'); });
    const floor = rows[0];
    this.q('.floor').textContent = `noise floor ${floor.noise_floor.toFixed(3)} (two true sets of ${floor.samples} samples)`;
    if (!complete) return;
    table.dataset.step = step;
    this.klRows = rows;
    const last = this.klHistory[this.klHistory.length - 1];
    const at = (/** @type {number} */ n) => rows[facts.table_steps.indexOf(n)].kl;
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
