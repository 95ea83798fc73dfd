// @ts-check
// Data-parallel training of one run on K workers (issue 22): the run's own session (the leader,
// in the panel's training worker, or the bench's page thread) and K - 1 replica workers
// (replica.js) with copies of it. Each step every one takes the gradient of its shard of the
// same batch (Session.shard_gradient: shard k of K, scaled so the K buffers sum to the whole
// batch's gradient) and sends it to all the others (the replicas reach each other through
// MessagePorts); each sums the K buffers in the order of the shards and applies the sum
// (Session.apply_shards), so the copies stay bit-identical to the leader (checked by
// tests/e2e/reliability.mjs), and no worker waits for another's sum. Only the leader's run is
// drawn, evaluated and saved.
//
// The copies are made from the leader's saved-run bytes ('sync') whenever they may differ from
// it: a new session, a load, a batch change, a step the leader took alone. A replica that dies
// or fails is replaced; that step the leader trains alone, on the whole batch.

// A replica that fails this often within a minute is not replaced again: the run goes on with
// the leader alone (something in this browser breaks them; restarting them would only loop).
const MAX_REPLACEMENTS_PER_MINUTE = 3;

/** Per-step timings summed since the last `takeStats` (ms), all zero. */
const noStats = () => ({ steps: 0, stepMs: 0, ownMs: 0, applyMs: 0, waitMs: 0, replicaMs: 0 });

/**
 * @typedef {{worker: Worker, replies: {resolve: (m: any) => void, reject: (e: Error) => void}[], dead: boolean}} Replica
 * @typedef {import('./flowmap.js').Session} Session
 */

/**
 * `from`'s values in `spare` where it fits (an array another worker sent), else in a new array.
 * @param {Float32Array | undefined} spare @param {Float32Array} from
 */
export function refill(spare, from) {
  if (!spare || spare.length !== from.length) return from.slice();
  spare.set(from);
  return spare;
}

export class ReplicaPool {
  /** @param {WebAssembly.Module} module the CPU module the leader's session comes from */
  constructor(module) {
    this.module = module;
    this.script = new URL('./replica.js', import.meta.url);
    /** @type {Replica[]} */
    this.replicas = [];
    /** @type {{session: Session, step: number} | null} the run the replicas hold a copy of */
    this.synced = null;
    /** @type {number[]} */
    this.replacements = [];
    /** @type {string | null} why the pool stopped replacing replicas, if it did */
    this.gaveUp = null;
    // Per step, summed since the last `takeStats`: whole step, the leader's own shard, the
    // leader's apply; the rest of a step is the exchange (waiting for the replicas, the sum).
    this.stats = noStats();
    /** @type {Float32Array[]} the replicas' arrays of the last step, filled again with the next
     * shard and sent back out (a new 600 KB array each step cost more than filling one) */
    this.spares = [];
  }

  /** Workers training: the leader and its replicas. */
  get size() { return this.replicas.length + 1; }

  /**
   * Grows or shrinks to `k` workers in all (the leader is one); the copies then sync anew.
   * @param {number} k
   */
  resize(k) {
    if (this.gaveUp) k = 1;
    while (this.replicas.length > k - 1) this.drop(/** @type {Replica} */ (this.replicas.pop()));
    while (this.replicas.length < k - 1) this.replicas.push(this.spawn());
    this.synced = null;
  }

  /** The leader's run changed outside `step` (a load, a batch change): sync before the next. */
  stale() { this.synced = null; }

  terminate() { this.resize(1); }

  /** @returns {Replica} */
  spawn() {
    const worker = new Worker(this.script, { type: 'module' });
    /** @type {Replica} */
    const r = { worker, replies: [], dead: false };
    worker.onmessage = (ev) => {
      const m = ev.data;
      if (m.type === 'crashed') { this.kill(r, m.message); return; }
      const reply = r.replies.shift(); // a replica answers its requests in order, one each
      if (!reply) return;
      if (m.type === 'error') reply.reject(new Error(m.message));
      else reply.resolve(m);
    };
    worker.onerror = (ev) => { ev.preventDefault(); this.kill(r, ev.message || 'the replica worker failed'); };
    this.ask(r, { type: 'boot', module: this.module }).catch(() => {});
    return r;
  }

  /**
   * @param {Replica} r @param {import('./replica.js').ReplicaCommand} msg
   * @param {Transferable[]} [transfer] @returns {Promise<any>} the reply (its type is the request's)
   */
  ask(r, msg, transfer = []) {
    if (r.dead) return Promise.reject(new Error('the replica is dead'));
    return new Promise((resolve, reject) => {
      r.replies.push({ resolve, reject });
      r.worker.postMessage(msg, transfer);
    });
  }

  /** @param {Replica} r @param {string} why */
  kill(r, why) {
    if (r.dead) return;
    r.dead = true;
    r.worker.terminate();
    for (const reply of r.replies.splice(0)) reply.reject(new Error(`a replica died: ${why}`));
  }

  /** @param {Replica} r */
  drop(r) { this.kill(r, 'the pool shrank'); }

  // Dead or failed replicas make way for new ones, unless they keep dying.
  replaceFailed() {
    const now = Date.now();
    for (let i = 0; i < this.replicas.length; i++) {
      if (!this.replicas[i].dead) continue;
      this.replacements = this.replacements.filter((t) => now - t < 60000).concat(now);
      if (this.replacements.length > MAX_REPLACEMENTS_PER_MINUTE) {
        this.gaveUp = `replica workers died ${this.replacements.length} times within a minute; training on one worker`;
        this.resize(1);
        return;
      }
      this.replicas[i] = this.spawn();
    }
    this.synced = null;
  }

  /** Copies of the leader's run in every replica, unless they hold it already. @param {Session} session */
  async sync(session) {
    if (this.synced && this.synced.session === session && this.synced.step === session.steps) return;
    this.synced = null;
    const bytes = await session.save_run();
    // A port between every two replicas, for the shards they send each other (replica k takes
    // shard k; the leader, shard 0, reaches each through its worker).
    const peers = this.replicas.map(() => /** @type {import('./replica.js').Peer[]} */ ([]));
    for (let i = 0; i < peers.length; i++) {
      for (let j = i + 1; j < peers.length; j++) {
        const { port1, port2 } = new MessageChannel();
        peers[i].push({ shard: j + 1, port: port1 });
        peers[j].push({ shard: i + 1, port: port2 });
      }
    }
    await Promise.all(this.replicas.map((r, i) => {
      const copy = bytes.slice();
      const ports = peers[i].map((p) => p.port);
      return this.ask(r, { type: 'sync', bytes: copy, backend: session.backend, peers: peers[i] }, [copy.buffer, ...ports]);
    }));
    this.synced = { session, step: session.steps };
  }

  /**
   * One optimizer step on every worker; resolves to the leader's StepReport, as train_step(1).
   * Throws what the leader's session throws (a diverged loss: nothing is applied).
   * @param {Session} session
   */
  async step(session) {
    if (this.replicas.length && this.replicas.some((r) => r.dead)) this.replaceFailed();
    const shards = this.size;
    if (shards === 1) return session.train_step(1);
    try {
      await this.sync(session);
    } catch {
      this.replaceFailed(); // a replica that cannot take the run: the leader steps alone
      return session.train_step(1);
    }
    const t0 = performance.now();
    const asks = this.replicas.map((r, i) => this.ask(r, { type: 'step', shard: i + 1, shards }));
    let own;
    try {
      own = await session.shard_gradient(0, shards, this.spares.pop());
    } catch (e) {
      this.synced = null; // the replicas took their shards of a step that is not taken
      asks.forEach((a) => a.catch(() => {}));
      throw e;
    }
    const ownMs = performance.now() - t0;
    const mine = session.last_shard_losses;
    // Every replica takes the leader's shard now, while the others may still be computing
    // theirs, and applies the sum itself once it has all K (a sum the leader refuses, diverged,
    // they refuse too).
    // The last takes the array itself: the leader's own shard stays in wasm for apply_shards.
    this.replicas.forEach((r, i) => {
      const gradient = i === this.replicas.length - 1 ? own : refill(this.spares.pop(), own);
      this.ask(r, { type: 'peer', gradient, losses: mine, shards }, [gradient.buffer]).catch(() => { this.synced = null; });
    });
    let replies;
    const tw = performance.now();
    try {
      replies = await Promise.all(asks);
    } catch {
      // A replica died or failed this step: the leader steps alone on the next batch (the
      // shard it took is dropped by train_step), and the copies are made again.
      asks.forEach((a) => a.catch(() => {}));
      this.replaceFailed();
      return session.train_step(1);
    }
    /** @type {import('./flowmap.js').Losses[]} */
    const losses = [mine, ...replies.map((r) => r.losses)];
    const t1 = performance.now();
    let report;
    try {
      report = session.apply_shards(
        replies.map((r) => r.gradient),
        Float64Array.from(losses, (l) => l.diagonal),
        Float64Array.from(losses, (l) => l.off_diagonal),
      );
    } catch (e) {
      this.synced = null; // e.g. diverged: the step is not taken anywhere
      throw e;
    }
    const applyMs = performance.now() - t1;
    this.spares = replies.map((r) => r.gradient); // copied into wasm: free to fill again
    this.synced = { session, step: session.steps };
    const s = this.stats;
    s.steps += 1;
    s.stepMs += performance.now() - t0;
    s.ownMs += ownMs;
    s.applyMs += applyMs;
    s.waitMs += t1 - tw;
    s.replicaMs += Math.max(...replies.map((r) => r.ms));
    return report;
  }

  /**
   * Mean ms per step since the last call: the whole step, the leader's own shard and its apply
   * (the sum of the K buffers included), the exchange (the rest: posting its shard, waiting for
   * the replicas' beyond its own), and of it the wait, and the slowest replica's shard.
   */
  takeStats() {
    const s = this.stats;
    const n = Math.max(1, s.steps);
    const out = {
      steps: s.steps, step: s.stepMs / n, own: s.ownMs / n, apply: s.applyMs / n,
      exchange: (s.stepMs - s.ownMs - s.applyMs) / n, wait: s.waitMs / n, replica: s.replicaMs / n,
    };
    this.stats = noStats();
    return out;
  }

  /**
   * Every replica's saved-run bytes, once it has applied all it was sent (tests: they must equal
   * the leader's).
   * @returns {Promise<Uint8Array[]>}
   */
  async copies() {
    return Promise.all(this.replicas.map(async (r) => (await this.ask(r, { type: 'bytes' })).bytes));
  }

  /**
   * Kill one replica as a trap would (tests: it must be replaced, nothing lost): now, or
   * (`midStep`) at its next shard, before it sends it, while the others wait for it.
   * @param {boolean} [midStep]
   */
  crashOne(midStep = false) {
    const r = this.replicas[0];
    if (!r) throw new Error('no replica to crash (one worker)');
    r.worker.postMessage({ type: 'test-crash', mid_step: midStep });
  }
}
