// @ts-check
// The training worker's pictures: what the 'samples' message carries for the panel's view (and
// the target behind it), when a picture is redrawn, and how often.
import { state, post, serial } from './worker-state.js';

// A view, t or picks changed: the next free moment redraws (also between the rows of a KL
// table, which can take many seconds). Many changes (a time sweep, a drag) make one drawing.
let redraw = false;
// Paths drawn in the trajectories view: enough to see the flow, few enough to tell apart.
const TRAJECTORY_POINTS = 200;
export const VIEWS = ['samples', 'trajectories', 'time', 'density', 'grid', 'exact'];
// The warped grid: GRID_LINES lines each way across the plot square, GRID_POINTS points each.
const GRID_LINES = 21;
const GRID_POINTS = 80;
// A picked point's ODE path: fine Heun steps, to show the curve the N jumps cut across.
const ODE_PATH_STEPS = 64;

// Samples are redrawn at most every DRAW_MIN_MS, and so that sampling takes at most
// DRAW_SHARE of the worker's time (4000 points through a 4x256 net is ~1.6 GFLOP).
const DRAW_MIN_MS = 250;
const DRAW_SHARE = 0.1;
export let drawWait = DRAW_MIN_MS;

export function requestDraw() {
  redraw = true;
  lastViewAt = performance.now();
  serial(drawIfAsked, { command: false });
}

// While the view keeps changing (a time sweep, a drag), a KL table waits between its rows and
// keeps drawing, for at most POSTPONE_MS per row: the pictures follow the slider.
const VIEW_CALM_MS = 300;
const POSTPONE_MS = 5000;
let lastViewAt = -Infinity;
export async function letViewsThrough() {
  const t0 = performance.now();
  do {
    await drawIfAsked();
    if (performance.now() - lastViewAt > VIEW_CALM_MS) return;
    await new Promise((r) => setTimeout(r, 30));
  } while (performance.now() - t0 < POSTPONE_MS);
}

export async function drawIfAsked() {
  if (!redraw || !state.session) return;
  redraw = false;
  await sendSamples();
}

export async function sendSamples() {
  const t0 = performance.now();
  // What to draw, fixed now: 'set_view' and 'set_picks' change these while this awaits.
  const [v, t, n, starts] = [state.view, state.time, state.nSteps, state.picks];
  let points = null, reference = null, map = null, grid = null, paths = null, exact = null;
  if (v === 'trajectories') {
    points = await state.session.sample(n, TRAJECTORY_POINTS, true);
    reference = state.session.interpolant(1, TRAJECTORY_POINTS);
  } else if (v === 'time') {
    points = await state.session.flow_to(t);
    reference = state.session.interpolant(t);
  } else if (v === 'density') {
    map = await state.session.density_map(n);
  } else if (v === 'exact') {
    firstExact = !state.exactPrimed; // its first call also computes the exact side, once
    state.exactPrimed = true;
    // A target without a closed-form flow: the picture says so (it is not the run's error).
    exact = await state.session.against_exact(n)
      .catch((e) => { if (e instanceof WebAssembly.RuntimeError) throw e; return { error: String(e.message || e) }; });
  } else if (v === 'grid') {
    grid = { lines: GRID_LINES, per_line: GRID_POINTS };
    points = await state.session.push(gridPoints(), t, n);
  } else {
    points = await state.session.sample(n);
    if (starts) {
      paths = {
        map: await state.session.push(starts, 1, n, 'flow-map', true),
        ode: await state.session.push(starts, 1, ODE_PATH_STEPS, 'ode-heun', true),
      };
    }
  }
  const transfer = [points, reference, paths && paths.map, paths && paths.ode].filter(Boolean).map((a) => a.buffer);
  post({ type: 'samples', view: v, n, t, points, reference, map, grid, paths, exact }, transfer);
  // A one-off cost (the exact side) would hold back the next pictures for minutes.
  drawWait = firstExact ? DRAW_MIN_MS : Math.max(DRAW_MIN_MS, (performance.now() - t0) / DRAW_SHARE);
  firstExact = false;
}
let firstExact = false;

// GRID_LINES vertical then GRID_LINES horizontal lines across the plot square, in noise space.
function gridPoints() {
  const r = state.facts.plot_range;
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

export function sendTarget() {
  const points = state.session.interpolant(1);
  post({ type: 'target', points }, [points.buffer]);
}
