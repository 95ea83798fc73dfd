// @ts-check
// The training worker's KL table: KL against N (and the ODE's rows), computed in parts between
// training slices, and how often it is refreshed.
import { state, post, waiting, SLICE_MS } from './worker-state.js';
import { letViewsThrough, drawIfAsked } from './worker-views.js';

// The KL table (5 sample sets) is refreshed at most every KL_MIN_MS, and so that computing it
// takes at most KL_SHARE of the worker's time.
const KL_MIN_MS = 15000;
const KL_SHARE = 0.15;
export let klWait = KL_MIN_MS;

// The KL table, computed in parts (the crate's kl_begin / kl_continue) so that training goes on
// between them: a table at 6x256 is half a minute of compute on one core, and a panel that
// stopped training for it looked frozen (issue 25). Every row of a table scores the weights of
// the step it began at. Rows are posted as they come (N = 1 first, the cheapest), so the page
// shows KL(N=1) right away and the rest of the table fills in.
//
// The ODE the map replaces comes with every ODE_EVERY-th table and whenever a table is asked for
// (pause, a load, the 'kl_table' command): its steps up to as many network calls as the map's
// finest N (Heun's step costs 2; the chart's x-axis is calls), about twice the map's table.
const ODE_EVERY = 4;
// A part is sized (in base points) to take about KL_PART_MS, from the previous part's speed:
// while the run trains, the table and training take turns of about the same length.
export const KL_PART_MS = SLICE_MS;
// The table itself (state.table) and the count of finished ones (state.tables) are in
// worker-state.js: a new session drops the one in progress.
/**
 * A row to compute: N, and for the ODE's rows the sampler and its network calls per step
 * (the flow map's have no sampler: the crate's default).
 * @typedef {{n: number, sampler?: string, calls?: number}} KlRow
 */
/**
 * A table in progress: its rows, the next one (`k`; `begun` once kl_begin ran for it), the
 * flow map's and the ODE's reports so far, the step they score, the training seconds at its
 * start, its compute ms so far, and whether it was asked for (with the ODE's rows).
 * @typedef {{rows: KlRow[], k: number, begun: boolean, done: KlReport[], ode: KlReport[],
 *   step: number | null, seconds: number, ms: number, asked: boolean}} KlTable
 * @typedef {import('./flowmap.js').KlReport} KlReport
 */
/** @type {number | null} */
let klPointsPerMs = null; // base points times network calls per ms, from the last part

/** @param {boolean} withOde */
export function beginTable(withOde) {
  const steps = state.facts.table_steps;
  /** @type {KlRow[]} */
  const rows = steps.map(/** @returns {KlRow} */ (n) => ({ n, sampler: undefined }));
  if (withOde || state.tables % ODE_EVERY === 0) {
    const most = Math.max(...steps);
    for (const { name, calls_per_step: calls } of state.facts.samplers.filter((x) => x.name !== 'flow-map')) {
      for (const n of steps.filter((n) => n * calls <= most)) rows.push({ n, sampler: name, calls });
    }
  }
  state.table = { rows, k: 0, begun: false, done: [], ode: [], step: null, seconds: state.trainSeconds, ms: 0, asked: withOde };
}

// Works on the table for about `budgetMs` (Infinity: to its end), posting rows as they finish.
// With `whileIdle` (a table asked for while paused) it hands over to the training loop as soon
// as the run plays again, instead of holding the worker to the end.
/** @param {number} budgetMs */
export async function advanceTable(budgetMs, { whileIdle = false } = {}) {
  const until = performance.now() + budgetMs;
  const flowRows = state.facts.table_steps.length;
  while (state.table && performance.now() < until && !(whileIdle && state.running)) {
    await new Promise((r) => setTimeout(r, 0)); // let messages in: new weights make this table moot
    if (state.preempted || !state.table) { state.table = null; return; }
    // A new view need not wait for the whole table; while training, views get their turns
    // between the loop's commands anyway.
    await (whileIdle ? letViewsThrough() : drawIfAsked());
    if (!state.table) return;
    const row = state.table.rows[state.table.k];
    // A command waiting while paused: the ODE rows come with a later table.
    if (whileIdle && row.sampler && waiting > 0) { finishTable(); return; }
    if (!state.table.begun) { state.session.kl_begin(row.n, row.sampler, state.table.k > 0); state.table.begun = true; }
    const calls = row.n * (row.calls || 1);
    const partMs = whileIdle ? 4 * KL_PART_MS : KL_PART_MS;
    const points = klPointsPerMs ? Math.max(64, Math.round((klPointsPerMs * partMs) / calls)) : 1000;
    const t0 = performance.now();
    const report = await state.session.kl_continue(points);
    const took = Math.max(1, performance.now() - t0);
    if (!state.table) return; // dropped meanwhile (a new session)
    state.table.ms += took;
    if (!report) { klPointsPerMs = (points * calls) / took; continue; } // a full part: its speed
    state.table.begun = false;
    state.table.k++;
    state.table.step = report.step;
    if (row.sampler) state.table.ode.push(report);
    else {
      state.table.done.push(report);
      post({ type: 'kl_table', rows: state.table.done.slice(), step: report.step, seconds: state.table.seconds, complete: state.table.done.length === flowRows });
    }
    if (state.table.k === state.table.rows.length) finishTable();
  }
}

function finishTable() {
  if (state.table.ode.length) post({ type: 'kl_ode', rows: state.table.ode, step: state.table.step });
  state.tables++;
  klWait = Math.max(KL_MIN_MS, state.table.ms / KL_SHARE);
  state.lastKl = performance.now();
  state.table = null;
}

// A whole table now, with the ODE rows (pause, a load, 'kl_table'), while the run is paused.
export async function sendKl() {
  beginTable(true);
  await advanceTable(Infinity, { whileIdle: true });
}
