// @ts-check
// The panel's data-parallel workers, as its training worker (the leader) keeps them: how many
// the page asked for ('set_workers', the crate's rule), how many this run can use, the pool of
// replicas (replica-pool.js) the training loop steps with, and the 'workers' message the panel
// header shows.
import { state, post } from './worker-state.js';
import { Session } from './worker-wasm.js';
import { ReplicaPool } from './replica-pool.js';

let wanted = 1; // workers the page asked for (the crate's rule applied to its figures)
/** @type {ReplicaPool | null} */
let pool = null;
let shown = ''; // the last 'workers' message, to post only changes

/** @param {{cores: number, panels: number, requested: number | null}} msg */
export function setWorkers({ cores, panels, requested }) {
  wanted = Session.workers_for(Number(cores), Number(panels), requested == null ? undefined : Number(requested));
  shown = ''; // answer even if nothing changed
  trainingPool();
}

// The pool the next training slice steps with, resized to what the run can use; null when the
// leader trains alone (one worker wanted, WebGPU, a learned weighting).
export function trainingPool() {
  const s = state.session;
  let usable = s && state.module ? Math.min(wanted, s.max_shards) : 1;
  // A fresh run of the page's recipe takes the batch that trains best per second on its workers
  // (the crate's rule: the preset's batch doubles from two on); the header shows it.
  let config = null;
  if (s && usable > 1 && s.steps === 0) {
    const batch = s.config.train.batch_size;
    const grown = Session.batch_for_workers(batch, usable);
    if (grown !== batch) {
      s.set_batch_size(grown);
      replicasStale(); // copies made at the old batch take the run again
      usable = Math.min(wanted, s.max_shards);
      config = s.config;
    }
  }
  if (usable > 1 && !pool) pool = new ReplicaPool(state.module);
  if (pool && pool.size !== usable) pool.resize(usable);
  const workers = pool ? pool.size : 1;
  let note = pool && pool.gaveUp ? pool.gaveUp : '';
  if (!note && workers < wanted && s) note = `this run trains on at most ${workers} worker${workers > 1 ? 's' : ''} (${s.backend === 'webgpu' ? 'on WebGPU the GPU does the work' : 'its batch or loss weighting'})`;
  const text = `${workers}/${wanted}/${note}`;
  if (text !== shown || config) {
    shown = text;
    post({ type: 'workers', workers, wanted, note, ...(config ? { config } : {}) });
  }
  return pool && pool.size > 1 ? pool : null;
}

// The run changed outside the pool's steps (weights loaded): the replicas copy it again.
export function replicasStale() { if (pool) pool.stale(); }

// Tests: trap one replica (now, or at its next shard); compare every replica's copy with the run.
/** @param {boolean} midStep */
export function crashReplica(midStep) {
  if (!pool || pool.size < 2) throw new Error('no replica to crash: this panel trains on one worker');
  pool.crashOne(midStep);
}

export async function replicasAgree() {
  if (!pool || pool.size < 2 || !state.session) return { count: 0, same: false };
  const mine = await state.session.save_run();
  const copies = await pool.copies();
  const same = copies.every((c) => c.length === mine.length && c.every((b, i) => b === mine[i]));
  return { count: copies.length, same };
}
