// @ts-check
// A data-parallel replica: a worker that holds a copy of a panel's run and computes the gradient
// of its shard of each batch. The panel's training worker (the leader, worker-replicas.js) starts
// it, keeps its copy equal to the run ('sync', the saved-run bytes) and sends it each step's
// summed gradient to apply before its next shard ('step'), so every copy takes the same AdamW
// steps bit for bit. It draws nothing and is never saved: the leader's run is the one that counts.
//
// Messages in:  {type: 'boot', module}                  the page's compiled CPU module
//               {type: 'sync', bytes}                   replace the copy with this saved run
//               {type: 'step', apply, shard, shards}    apply `apply` ({summed, diagonal,
//                                                       off_diagonal} or null), then take shard
//                                                       `shard` of `shards` of the next batch
//               {type: 'apply', apply}                  only apply (the copy catches up)
//               {type: 'bytes'}                         the copy's saved-run bytes (tests)
// Replies:      {type: 'ready' | 'synced' | 'applied'}, {type: 'gradient', gradient, losses},
//               (`ms`: the shard's time here), {type: 'bytes', bytes}, {type: 'error', message}; a trap: {type: 'crashed', message}
import init, { Session } from './flowmap.js';

/**
 * The messages above, as types (replica-pool.js sends them). `backend`: the leader's CPU backend.
 * @typedef {{summed: Float32Array, diagonal: number, off_diagonal: number}} Apply
 * @typedef {{type: 'boot', module: WebAssembly.Module}
 *   | {type: 'sync', bytes: Uint8Array, backend: string}
 *   | {type: 'step', apply?: Apply | null, shard: number, shards: number}
 *   | {type: 'apply', apply: Apply} | {type: 'bytes'} | {type: 'test-crash'}} ReplicaCommand
 */

/** @type {Session | null} */
let session = null;
let dead = false;
let busy = Promise.resolve();

/** @param {any} msg @param {Transferable[]} [transfer] */
const post = (msg, transfer = []) => self.postMessage(msg, transfer);

function need() {
  if (!session) throw new Error('the replica has no run yet (no sync)');
  return session;
}

/** @param {Apply | null} apply */
function applied(apply) {
  if (apply) need().apply_gradient(apply.summed, apply.diagonal, apply.off_diagonal);
}

/** @param {ReplicaCommand} msg */
async function handle(msg) {
  switch (msg.type) {
    case 'boot':
      await init({ module_or_path: msg.module });
      post({ type: 'ready' });
      break;
    case 'sync': {
      // The CPU backend the leader runs on (max_shards is 1 on WebGPU, so no replica exists there).
      const next = await Session.resume(new Uint8Array(msg.bytes), { backend: msg.backend });
      if (session) session.free();
      session = next;
      post({ type: 'synced' });
      break;
    }
    case 'step': {
      applied(msg.apply);
      const t0 = performance.now();
      const gradient = await need().shard_gradient(msg.shard, msg.shards);
      post({ type: 'gradient', gradient, losses: need().last_shard_losses, ms: performance.now() - t0 }, [gradient.buffer]);
      break;
    }
    case 'apply':
      applied(msg.apply);
      post({ type: 'applied' });
      break;
    case 'bytes': {
      const bytes = await need().save_run();
      post({ type: 'bytes', bytes }, [bytes.buffer]);
      break;
    }
    case 'test-crash':
      throw new WebAssembly.RuntimeError('unreachable (test-crash)');
    default:
      throw new Error(`unknown replica message '${/** @type {{type: string}} */ (msg).type}'`);
  }
}

self.onmessage = (ev) => {
  if (dead) return;
  const msg = ev.data;
  busy = busy.then(() => handle(msg)).catch((e) => {
    const message = String(e && e.message ? e.message : e);
    // A trap leaves the instance unusable: say so once; the leader replaces this worker.
    if (e instanceof WebAssembly.RuntimeError) { dead = true; post({ type: 'crashed', message }); } else post({ type: 'error', message });
  });
};
