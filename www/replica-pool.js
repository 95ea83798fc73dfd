// @ts-check
// Data-parallel training of one run on K workers (issue 22): the run's own session (the leader,
// in the panel's training worker, or the bench's page thread) and K - 1 replica workers
// (replica.js) with copies of it. Each step every one takes the gradient of its shard of the
// same batch (Session.shard_gradient: shard k of K, scaled so the K buffers sum to the whole
// batch's gradient), the leader sums them in a fixed order and applies the sum, and every
// replica applies the same sum, so the copies stay bit-identical to the leader (checked by
// tests/e2e/reliability.mjs). Only the leader's run is drawn, evaluated and saved.
//
// The copies are made from the leader's saved-run bytes ('sync') whenever they may differ from
// it: a new session, a load, a batch change, a step the leader took alone. A replica that dies
// or fails is replaced; that step the leader trains alone, on the whole batch.

// A replica that fails this often within a minute is not replaced again: the run goes on with
// the leader alone (something in this browser breaks them; restarting them would only loop).
const MAX_REPLACEMENTS_PER_MINUTE = 3;

/** Per-step timings summed since the last `takeStats` (ms), all zero. */
const noStats = () => ({ steps: 0, stepMs: 0, ownMs: 0, applyMs: 0, waitMs: 0, sumMs: 0, replicaMs: 0 });

/**
 * @typedef {{worker: Worker, replies: {resolve: (m: any) => void, reject: (e: Error) => void}[], dead: boolean}} Replica
 * @typedef {import('./flowmap.js').Session} Session
 */

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
    await Promise.all(this.replicas.map((r) => {
      const copy = bytes.slice();
      return this.ask(r, { type: 'sync', bytes: copy, backend: session.backend }, [copy.buffer]);
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
      own = await session.shard_gradient(0, shards);
    } catch (e) {
      this.synced = null; // the replicas took their shards of a step that is not taken
      asks.forEach((a) => a.catch(() => {}));
      throw e;
    }
    const ownMs = performance.now() - t0;
    const mine = session.last_shard_losses;
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
    const ts = performance.now();
    // The sum in the order 0..K-1 of the shards; each replica applies these bits.
    const summed = own;
    let diagonal = mine.diagonal;
    let offDiagonal = mine.off_diagonal;
    for (const { gradient, losses } of replies) {
      for (let i = 0; i < summed.length; i++) summed[i] += gradient[i];
      diagonal += losses.diagonal;
      offDiagonal += losses.off_diagonal;
    }
    // The replicas apply the sum while the leader does (each gets a copy: the leader's own is
    // read by its apply); a sum the leader refuses (diverged) they refuse too.
    this.replicas.forEach((r) => {
      const copy = summed.slice();
      this.ask(r, { type: 'apply', apply: { summed: copy, diagonal, off_diagonal: offDiagonal } }, [copy.buffer]).catch(() => { this.synced = null; });
    });
    const t1 = performance.now();
    let report;
    try {
      report = session.apply_gradient(summed, diagonal, offDiagonal);
    } catch (e) {
      this.synced = null; // e.g. diverged: the step is not taken anywhere
      throw e;
    }
    const applyMs = performance.now() - t1;
    this.synced = { session, step: session.steps };
    const s = this.stats;
    s.steps += 1;
    s.stepMs += performance.now() - t0;
    s.ownMs += ownMs;
    s.applyMs += applyMs;
    s.waitMs += ts - tw;
    s.sumMs += t1 - ts;
    s.replicaMs += Math.max(...replies.map((r) => r.ms));
    return report;
  }

  /**
   * Mean ms per step since the last call: the whole step, the leader's own shard and apply, the
   * exchange (the rest: waiting for the replicas beyond its own shard, the sum, posting), and
   * of it the wait and the sum, and the slowest replica's shard.
   */
  takeStats() {
    const s = this.stats;
    const n = Math.max(1, s.steps);
    const out = {
      steps: s.steps, step: s.stepMs / n, own: s.ownMs / n, apply: s.applyMs / n,
      exchange: (s.stepMs - s.ownMs - s.applyMs) / n, wait: s.waitMs / n, sum: s.sumMs / n, replica: s.replicaMs / n,
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

  /** Kill one replica as a trap would (tests: it must be replaced, nothing lost). */
  crashOne() {
    const r = this.replicas[0];
    if (!r) throw new Error('no replica to crash (one worker)');
    r.worker.postMessage({ type: 'test-crash' });
  }
}
