// @ts-check
// A data-parallel replica: a worker that holds a copy of a panel's run and computes the gradient
// of its shard of each batch. The panel's training worker (the leader, worker-replicas.js) starts
// it and keeps its copy equal to the run ('sync', the saved-run bytes). Each step every worker
// sends its shard's gradient to every other one (the leader's comes as 'peer', the other
// replicas' through the MessagePorts 'sync' hands over), and each sums the K buffers itself in
// the order of the shards (Session.apply_shards) and applies them, so every copy takes the same
// AdamW step bit for bit with no sum waiting on the leader. It draws nothing and is never saved:
// the leader's run is the one that counts.
//
// Messages in:  {type: 'boot', module}                  the page's compiled CPU module
//               {type: 'sync', bytes, backend, peers}   replace the copy with this saved run;
//                                                       `peers`: {shard, port} for every other
//                                                       replica (drops a step in progress)
//               {type: 'step', shard, shards}           take shard `shard` of `shards` of the
//                                                       next batch; send it to the peers, and
//                                                       to the leader as the reply
//               {type: 'peer', gradient, losses, shards} the leader's shard 0 of that step: once
//                                                       every shard has come, sum and apply
//               {type: 'bytes'}                         the copy's saved-run bytes (tests)
//               {type: 'train', seconds, chunk}         train the copy alone for `seconds`, in
//                                                       train_step calls of `chunk` steps (the
//                                                       bench's two workers that never exchange:
//                                                       K = 2's ceiling)
//               {type: 'test-crash', mid_step}          trap now, or at the next shard (tests)
// Replies:      {type: 'ready' | 'synced' | 'applied'}, {type: 'trained', steps, seconds},
//               {type: 'gradient', gradient, losses, ms}
//               (`ms`: the shard's time here), {type: 'bytes', bytes}, {type: 'error', message}; a trap: {type: 'crashed', message}
// Between peers: {step, gradient, losses} (the port says whose shard it is).
import init, { Session } from './flowmap.js';
import { refill } from './replica-pool.js';

/**
 * The messages above, as types (replica-pool.js sends them). `backend`: the leader's CPU backend.
 * @typedef {import('./flowmap.js').Losses} Losses
 * @typedef {{gradient: Float32Array | null, losses: Losses}} Part one shard's gradient (null:
 *   this replica's own, kept in wasm) and losses
 * @typedef {{shard: number, port: MessagePort}} Peer
 * @typedef {{type: 'boot', module: WebAssembly.Module}
 *   | {type: 'sync', bytes: Uint8Array, backend: string, peers: Peer[]}
 *   | {type: 'step', shard: number, shards: number}
 *   | {type: 'peer', gradient: Float32Array, losses: Losses, shards: number}
 *   | {type: 'bytes'} | {type: 'train', seconds: number, chunk: number} | {type: 'test-crash', mid_step?: boolean}} ReplicaCommand
 */

/** @type {Session | null} */
let session = null;
let dead = false;
let busy = Promise.resolve();
let trapAtStep = false; // tests: trap at the next shard instead of now

/** @param {any} msg @param {Transferable[]} [transfer] */
const post = (msg, transfer = []) => self.postMessage(msg, transfer);

function need() {
  if (!session) throw new Error('the replica has no run yet (no sync)');
  return session;
}

// Shards of a step received so far (this one's own included), by `${step}:${shard}`, and the
// one step being gathered: a peer may be a step ahead of this replica, never behind it.
/** @type {Map<string, Part>} */
const inbox = new Map();
/** @type {{check: () => void, reject: (e: Error) => void} | null} */
let gathering = null;
/** @type {Peer[]} */
let peers = [];
/** @type {Float32Array[]} the others' arrays of the last step, filled again and sent back out */
let spares = [];

/** @param {number} step @param {number} shard @param {Part} part */
function receive(step, shard, part) {
  inbox.set(`${step}:${shard}`, { gradient: part.gradient, losses: part.losses });
  if (gathering) gathering.check();
}

/**
 * Every shard of `step` in the order of the shards, once they have all come.
 * @param {number} step @param {number} shards @returns {Promise<Part[]>}
 */
function gather(step, shards) {
  const keys = Array.from({ length: shards }, (_, k) => `${step}:${k}`);
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!keys.every((k) => inbox.has(k))) return;
      gathering = null;
      const parts = keys.map((k) => /** @type {Part} */ (inbox.get(k)));
      keys.forEach((k) => inbox.delete(k));
      resolve(parts);
    };
    gathering = { check, reject };
    check();
  });
}

// A new copy is coming: a step being gathered will never complete (a peer died or the pool
// changed), and the old peers' shards belong to the old copy.
/** @param {string} why */
function abandon(why) {
  inbox.clear();
  for (const { port } of peers) port.close();
  peers = [];
  spares = [];
  const g = gathering;
  gathering = null;
  if (g) g.reject(new Error(why));
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
      inbox.clear(); // a shard the old copy finished after the sync was asked for
      peers = msg.peers;
      for (const { shard, port } of peers) port.onmessage = (ev) => receive(ev.data.step, shard, ev.data);
      post({ type: 'synced' });
      break;
    }
    case 'step': {
      if (trapAtStep) throw new WebAssembly.RuntimeError('unreachable (test-crash in a step)');
      const s = need();
      const t0 = performance.now();
      const gradient = await s.shard_gradient(msg.shard, msg.shards, spares.pop());
      const losses = s.last_shard_losses;
      const step = s.steps;
      for (const { port } of peers) {
        const copy = refill(spares.pop(), gradient);
        port.postMessage({ step, gradient: copy, losses }, [copy.buffer]);
      }
      receive(step, msg.shard, { gradient: null, losses }); // its buffer stays in wasm
      post({ type: 'gradient', gradient, losses, ms: performance.now() - t0 }, [gradient.buffer]);
      break;
    }
    case 'peer': {
      const s = need();
      receive(s.steps, 0, msg);
      const parts = await gather(s.steps, msg.shards);
      const others = parts.flatMap((p) => (p.gradient ? [p.gradient] : [])); // its own is null
      s.apply_shards(
        others,
        Float64Array.from(parts, (p) => p.losses.diagonal),
        Float64Array.from(parts, (p) => p.losses.off_diagonal),
      );
      spares = others; // copied into wasm: free to fill again
      post({ type: 'applied' });
      break;
    }
    case 'bytes': {
      const bytes = await need().save_run();
      post({ type: 'bytes', bytes }, [bytes.buffer]);
      break;
    }
    case 'train': {
      const s = need();
      const [t0, from] = [performance.now(), s.steps];
      while (performance.now() - t0 < msg.seconds * 1000) await s.train_step(msg.chunk);
      post({ type: 'trained', steps: s.steps - from, seconds: (performance.now() - t0) / 1000 });
      break;
    }
    case 'test-crash':
      if (msg.mid_step) { trapAtStep = true; break; }
      throw new WebAssembly.RuntimeError('unreachable (test-crash)');
    default:
      throw new Error(`unknown replica message '${/** @type {{type: string}} */ (msg).type}'`);
  }
}

self.onmessage = (ev) => {
  if (dead) return;
  const msg = ev.data;
  if (msg.type === 'sync') abandon('the copy is made again'); // now, not behind a stuck step
  busy = busy.then(() => handle(msg)).catch((e) => {
    const message = String(e && e.message ? e.message : e);
    // A trap leaves the instance unusable: say so once; the leader replaces this worker.
    if (e instanceof WebAssembly.RuntimeError) { dead = true; post({ type: 'crashed', message }); } else post({ type: 'error', message });
  });
};
