// @ts-check
// Picked points on the panels' samples views, whose paths both panels draw.
import { $, panels } from './page-shared.js';
import { facts } from './settings.js';

// Picked start points (noise at t = 0, plot coordinates), shared by the panels: clicking a
// samples view adds one, dragging moves it; both panels draw their paths. At most MAX_PICKS.
const MAX_PICKS = 8;
/** @type {[number, number][]} */
export let picks = [];
const PICK_RADIUS_PX = 12;

function sendPicks() {
  $('clear-paths').hidden = picks.length === 0;
  for (const p of panels) if (p.ready) p.send({ type: 'set_picks', points: picks.flat() });
}

// 'clear paths': forget the picked points.
export function clearPicks() { picks = []; sendPicks(); }

// Clicks, taps and drags on a panel's samples canvas pick points (in the samples view).
/** @param {HTMLCanvasElement} c */
export function pickable(c) {
  let dragging = -1;
  /** @param {PointerEvent} ev @returns {[number, number]} the plot point under the pointer */
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
