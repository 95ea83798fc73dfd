// @ts-check
// The page's global controls: Play, Step and Reset for every panel, N, the backend, the dataset,
// the view and its time slider (with its sweep).
import { $, panels } from './page-shared.js';
import { clearPicks } from './picks.js';
import { workersMessage } from './settings.js';

export let playing = false;

/** @returns {import('./protocol.js').Command} the view control's value is one of protocol.js's View */
export function viewMessage() {
  const view = /** @type {import('./protocol.js').View} */ ($('view').value);
  return { type: 'set_view', view, t: Number($('t').value) };
}

/** @param {boolean} on */
export function setPlaying(on) {
  playing = on;
  $('play').textContent = on ? '⏸ Pause' : '▶ Play';
  for (const p of panels) if (p.ready) p.send({ type: on ? 'play' : 'pause' });
}

function resetAll() { panels.forEach((p) => p.reset()); }

export function showViewControls() {
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
$('workers').addEventListener('change', () => panels.forEach((p) => p.ready && p.send(workersMessage())));
$('dataset').addEventListener('change', () => { showViewControls(); resetAll(); });
$('view').addEventListener('change', () => { showViewControls(); panels.forEach((p) => p.send(viewMessage())); });
$('t').addEventListener('input', () => { setSweep(false); showTime(); });
$('t-play').addEventListener('click', () => setSweep(!sweep));

function showTime() { showViewControls(); panels.forEach((p) => p.send(viewMessage())); }

// Play for the time slider: sweep t from 0 to 1 and back, SWEEP_MS each way, in SWEEP_TICK_MS
// steps (each asks the workers for one network call's picture; faster would only queue up).
const SWEEP_MS = 4000;
const SWEEP_TICK_MS = 100;
/** @type {{timer?: ReturnType<typeof setInterval>, direction: number} | null} */
let sweep = null; // {timer, direction} while sweeping
/** @param {boolean} on */
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
$('clear-paths').addEventListener('click', clearPicks);
$('draw-train').addEventListener('click', resetAll);
