// @ts-check
// Small canvas charts for a panel: KL against N, and KL against training time.

const BG = '#0b0d11', AXIS = '#3a4150', TEXT = '#9aa0a6', MODEL = '#6cb2ff', REFERENCE = '#ff9f6c', FLOOR = '#7d8590';
const EULER = '#c792ea', HEUN = '#8bd49c';

/**
 * A point of a panel's KL-over-time history (one per full KL table, kept with the saved run):
 * seconds of training, the step, KL at N = 1 and N = 4.
 * @typedef {{seconds: number, step: number, kl1: number, kl4: number}} KlPoint
 */
/**
 * A chart's context and its plot area, in canvas pixels.
 * @typedef {{g: CanvasRenderingContext2D, left: number, right: number, top: number,
 *   bottom: number}} Box
 */

/** @param {HTMLCanvasElement} c @param {string} title @returns {Box} */
function frame(c, title) {
  const g = c.getContext('2d');
  g.fillStyle = BG;
  g.fillRect(0, 0, c.width, c.height);
  g.font = '11px system-ui';
  g.fillStyle = TEXT;
  g.fillText(title, 6, 12);
  return { g, left: 34, right: c.width - 8, top: 20, bottom: c.height - 18 };
}

/**
 * Log-scale y axis from lo to hi with a tick per decade; returns the value -> pixel map.
 * @param {Box} box @param {number} lo @param {number} hi
 */
function logAxis(box, lo, hi) {
  const { g, left, right, top, bottom } = box;
  const [a, b] = [Math.log10(lo), Math.log10(hi)];
  const y = (/** @type {number} */ v) => bottom - ((Math.log10(Math.max(v, lo)) - a) / (b - a)) * (bottom - top);
  g.strokeStyle = AXIS;
  g.fillStyle = TEXT;
  for (let d = Math.ceil(a); d <= Math.floor(b); d++) {
    const v = 10 ** d;
    g.beginPath(); g.moveTo(left, y(v)); g.lineTo(right, y(v)); g.stroke();
    g.fillText(v >= 1 ? String(v) : v.toFixed(-d), 2, y(v) + 4);
  }
  return y;
}

/**
 * Legend entries [text, colour], laid out right to left along the title line.
 * @param {HTMLCanvasElement} c @param {CanvasRenderingContext2D} g @param {string[][]} entries
 */
function legend(c, g, entries) {
  let x = c.width - 6;
  for (const [text, color] of entries.reverse()) {
    x -= g.measureText(text).width;
    g.fillStyle = color;
    g.fillText(text, x, 12);
    x -= 8;
  }
}

/**
 * A polyline through canvas points [x, y], a dot on each, dashed as `dash`.
 * @param {CanvasRenderingContext2D} g @param {[number, number][]} pts @param {string} color
 * @param {number[]} [dash]
 */
function line(g, pts, color, dash = []) {
  g.strokeStyle = color;
  g.setLineDash(dash);
  g.beginPath();
  pts.forEach(([x, y], k) => (k ? g.lineTo(x, y) : g.moveTo(x, y)));
  g.stroke();
  g.setLineDash([]);
  g.fillStyle = color;
  for (const [x, y] of pts) g.fillRect(x - 2, y - 2, 4, 4);
}

/**
 * KL against network calls (log-log): the flow map (N jumps: N calls), the reference's curve for
 * this method (its PyTorch code's table, from the crate's facts; null if none), the ODE the map
 * replaces (`odeRows`: Euler, 1 call per step, and Heun, 2; null until computed) and the floor.
 * The flow map's curve sitting left of the ODE's at the same KL is the calls it saves.
 */
/**
 * @param {HTMLCanvasElement} c
 * @param {import('./flowmap.js').KlReport[] | null} rows
 * @param {number[] | null} reference
 * @param {import('./flowmap.js').KlReport[] | null} odeRows
 */
export function drawKlVsN(c, rows, reference, odeRows) {
  const box = frame(c, 'KL vs network calls');
  if (!rows) return;
  const floor = rows[0].noise_floor;
  const ode = (/** @type {string} */ name) => (odeRows || []).filter((r) => r.sampler === name);
  const [euler, heun] = [ode('ode-euler'), ode('ode-heun')];
  const calls = [...rows, ...euler, ...heun].map((r) => r.calls);
  const all = [...rows, ...euler, ...heun].map((r) => r.kl).concat(floor, reference || []).filter((v) => v > 0);
  const y = logAxis(box, Math.min(...all) / 1.5, Math.max(...all) * 1.5);
  const most = Math.log2(Math.max(...calls));
  const x = (/** @type {number} */ n) => box.left + (Math.log2(n) / most) * (box.right - box.left);
  const { g } = box;
  g.fillStyle = TEXT;
  g.textAlign = 'center';
  for (let n = 1; n <= 2 ** most; n *= 2) g.fillText(String(n), Math.min(x(n), c.width - 8), c.height - 4);
  g.textAlign = 'left';
  line(g, [[box.left, y(floor)], [box.right, y(floor)]], FLOOR, [3, 3]);
  if (reference) line(g, reference.map((v, k) => [x(rows[k].calls), y(v)]), REFERENCE, [5, 3]);
  if (euler.length) line(g, euler.map((r) => [x(r.calls), y(r.kl)]), EULER, [2, 2]);
  if (heun.length) line(g, heun.map((r) => [x(r.calls), y(r.kl)]), HEUN, [6, 2]);
  line(g, rows.map((r) => [x(r.calls), y(r.kl)]), MODEL);
  legend(c, g, [['map', MODEL], ...(euler.length ? [['Euler', EULER], ['Heun', HEUN]] : []), ...(reference ? [['ref', REFERENCE]] : [])]);
}

/**
 * KL at N = 1 and N = 4 against seconds of training: the time-to-quality curve.
 * @param {HTMLCanvasElement} c @param {KlPoint[]} history
 */
export function drawKlVsTime(c, history) {
  const box = frame(c, 'KL vs training time');
  if (history.length === 0) return;
  const all = history.flatMap((h) => [h.kl1, h.kl4]).filter((v) => v > 0);
  const y = logAxis(box, Math.min(...all) / 1.5, Math.max(...all) * 1.5);
  const tMax = Math.max(30, ...history.map((h) => h.seconds));
  const x = (/** @type {number} */ s) => box.left + (s / tMax) * (box.right - box.left);
  const { g } = box;
  g.fillStyle = TEXT;
  g.fillText('0 s', box.left, c.height - 4);
  g.textAlign = 'right';
  g.fillText(`${Math.round(tMax)} s`, box.right, c.height - 4);
  g.textAlign = 'left';
  line(g, history.map((h) => [x(h.seconds), y(h.kl4)]), REFERENCE);
  line(g, history.map((h) => [x(h.seconds), y(h.kl1)]), MODEL);
  legend(c, g, [['N=1', MODEL], ['N=4', REFERENCE]]);
}
