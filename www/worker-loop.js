// @ts-check
// The training worker's loop: one training slice at a time, with the pictures, the KL table's
// parts, the choice of backend and the autosave in between.
import { state, post, serial, SLICE_MS } from './worker-state.js';
import { autoSlice, decide } from './worker-trial.js';
import { sendSamples, drawWait } from './worker-views.js';
import { beginTable, advanceTable, klWait, KL_PART_MS } from './worker-kl-table.js';
import { saveRun, lastSave, AUTOSAVE_MS } from './worker-session.js';
import { trainingPool } from './worker-replicas.js';

let lastDraw = 0;

// The training rate reported with each slice (state.stepsPerSec, from state.rateFrom) is in
// worker-state.js: a new session restarts it.

// One train_step call per slice: the losses are read once per slice (one buffer map on WebGPU,
// a round trip), and the GPU is never more than a slice of queued steps behind the CPU (cubecl
// does not throttle on wasm). The call's step count aims at SLICE_MS from the last call's time,
// at most doubling per slice so that a slow first step (shader compilation) does not overshoot.
// (state.perCall: that step count; a new session, or a move to WebGPU, starts it at 1.)
// With replicas (worker-replicas.js) the slice's steps are taken one at a time across them.
export async function trainSlice(maxSteps = Infinity) {
  const t0 = performance.now();
  const count = Math.max(1, Math.min(state.perCall, maxSteps, state.facts.limits.max_steps_per_call));
  let report;
  try {
    const pool = trainingPool();
    if (pool) for (let k = 0; k < count; k++) report = await pool.step(state.session);
    else report = await state.session.train_step(count);
  } catch (e) {
    state.running = false; // e.g. divergence: continuing would only repeat the error
    if (state.session.diverged) {
      post({ type: 'diverged', message: String(e.message || e), step: state.session.steps });
      return;
    }
    throw e;
  }
  const took = Math.max(1, performance.now() - t0);
  autoSlice((performance.now() - t0) / count, t0);
  state.perCall = Math.max(1, Math.min(2 * count, Math.round((count * SLICE_MS) / took)));
  const now = performance.now();
  state.trainSeconds += (now - t0) / 1000;
  if (state.rateFrom && now > state.rateFrom.time) {
    const rate = (report.step - state.rateFrom.step) / ((now - state.rateFrom.time) / 1000);
    state.stepsPerSec = state.stepsPerSec ? 0.7 * state.stepsPerSec + 0.3 * rate : rate;
  }
  state.rateFrom = state.running ? { time: now, step: report.step } : null;
  post({ type: 'progress', step: report.step, losses: report, lr: report.lr, steps_per_sec: state.stepsPerSec });
}

export async function loop() {
  while (state.running) {
    await serial(async () => {
      if (!state.running || !state.session) return;
      await trainSlice();
      if (state.auto) await decide(); // it waits for the trial and trial.cpu_slices CPU slices
      const now = performance.now();
      if (now - lastDraw > drawWait) { await sendSamples(); lastDraw = performance.now(); }
      if (!state.table && now - state.lastKl > klWait) beginTable(false);
      if (state.table) await advanceTable(KL_PART_MS); // a part between slices
      if (state.running && now - lastSave > AUTOSAVE_MS) await saveRun();
    });
    await new Promise((r) => setTimeout(r, 0)); // let queued messages in
  }
}

