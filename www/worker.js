// @ts-check
// Training worker: owns one wasm Session, so the page thread only draws.
//
// The messages it takes and posts, with their types and what each means: protocol.js.
//
// The worker's parts, by concept: worker-state.js (the state they share, posting, failing, the
// command queue), worker-wasm.js (the crate's two wasm modules and the WebGPU device),
// worker-session.js (making, replacing and saving the session), worker-loop.js (the training
// loop), worker-views.js (the pictures), worker-kl-table.js (the KL table) and worker-trial.js
// ('auto''s choice of backend).
import * as pageGlue from './flowmap.js';
import { state, post, fail, making, serial } from './worker-state.js';
import { Session, wasm_memory_bytes, useGlue, webgpuGlue, glueFor, gpuDevice } from './worker-wasm.js';
import { VIEWS, requestDraw, sendSamples } from './worker-views.js';
import { sendKl } from './worker-kl-table.js';
import { startTrial, msPerStep, cpuFirst, testTrial, setTrialScript } from './worker-trial.js';
import { saveRun, adopt, adoptArchitecture, need } from './worker-session.js';
import { trainSlice, loop } from './worker-loop.js';
import { setWorkers, replicasStale, crashReplica, replicasAgree } from './worker-replicas.js';

// A backend trial runs in a copy of this worker: this script, not one of its modules.
setTrialScript(import.meta.url);

self.onmessage = (ev) => {
  /** @type {import('./protocol.js').Command} */
  const msg = ev.data;
  if (state.dead) return; // the page is replacing this worker
  switch (msg.type) {
    case 'wasm':
      serial(async () => {
        await pageGlue.default({ module_or_path: msg.module });
        state.module = msg.module;
        state.facts = Session.facts();
        post({ type: 'booted', facts: state.facts });
      });
      break;
    case 'init':
      state.preempted = true;
      serial(async () => {
        state.preempted = false;
        post({ type: 'status', text: msg.options && msg.options.backend === 'webgpu'
          ? 'initialising WebGPU…' : 'creating the session (WebGPU if available)…' });
        // The old session stays, and keeps training if it was, until the new one exists: a
        // config the crate rejects loses nothing.
        const options = cpuFirst(msg.options);
        const glue = await glueFor(options).catch(making('init'));
        const next = await glue.Session.create(msg.config, options).catch(making('init'));
        state.trainSeconds = 0;
        state.auto = options === msg.options ? null : msg.options;
        useGlue(glue);
        await adopt(next, options, false);
      });
      break;
    case 'resume':
      state.preempted = true;
      serial(async () => {
        state.preempted = false;
        post({ type: 'status', text: 'resuming the saved run…' });
        const options = cpuFirst(msg.options);
        const glue = await glueFor(options).catch(making('resume'));
        const next = await glue.Session.resume(new Uint8Array(msg.bytes), options, msg.lr ?? undefined)
          .catch(making('resume'));
        // A batch grown on WebGPU does not follow the run onto the CPU (a reload, a lost device):
        // there it would cost its size in time per step. Back to the recipe's batch.
        const grown = next.backend !== 'webgpu' && msg.batch && next.config.train.batch_size > msg.batch;
        if (grown) {
          try { next.set_batch_size(msg.batch); } catch { /* a refused recipe batch: the run keeps its own */ }
        }
        state.trainSeconds = Number(msg.seconds) || 0;
        state.auto = options === msg.options ? null : msg.options;
        useGlue(glue);
        await adopt(next, options, true);
      });
      break;
    case 'snapshot':
      serial(async () => { if (state.session) await saveRun(); });
      break;
    case 'stats':
      post({ type: 'stats', wasm_bytes: wasm_memory_bytes(), step: state.session ? state.session.steps : 0 });
      break;
    case 'probe': // this is a trial worker: time the recipe on WebGPU from scratch
      serial(async () => {
        let s = null;
        try {
          useGlue(await webgpuGlue());
          state.facts = Session.facts();
          post({ type: 'probe-ready' }); // the box starts now: a slow download does not count
          s = await Session.create(msg.config, { ...msg.options, backend: 'webgpu' });
          post({ type: 'probe', ms: await msPerStep(s) });
        } catch (e) {
          if (e instanceof WebAssembly.RuntimeError) throw e;
          post({ type: 'probe', error: String(e.message || e) });
        } finally {
          if (s) s.free();
        }
      });
      break;
    case 'set_workers':
      serial(() => {
        try { setWorkers(msg); } catch (e) { throw Object.assign(new Error(String(e.message || e)), { of: 'workers' }); }
      });
      break;
    case 'test-crash':
      serial(() => { throw new WebAssembly.RuntimeError('unreachable (test-crash)'); });
      break;
    case 'test-crash-replica':
      serial(() => crashReplica(Boolean(msg.mid_step)));
      break;
    case 'test-replicas':
      // Drops a table in progress (as a new session does): the test asks now, not after it.
      state.preempted = true;
      serial(async () => {
        state.preempted = false;
        post({ type: 'replicas', ...(await replicasAgree()) });
      });
      break;
    case 'test-trial': // tests only: the trial answers now with this WebGPU timing, or (any_adapter)
      // starts again timing even a software adapter
      serial(() => testTrial(msg)); // after the session's start, which starts the trial
      break;
    case 'test-lose-device':
      if (gpuDevice) gpuDevice.destroy();
      else fail('no WebGPU device to lose (this panel runs on the CPU)');
      break;
    case 'play':
      if (!state.running && state.session) { state.running = true; loop(); }
      break;
    case 'pause':
      state.running = false;
      serial(async () => { if (state.session) { await sendSamples(); await sendKl(); } });
      break;
    case 'step':
      serial(async () => { need(); await trainSlice(1); await sendSamples(); });
      break;
    case 'set_n':
      serial(async () => {
        const n = Number(msg.n);
        await need().sample(n, 1); // the crate checks N (and throws why); one point costs nothing
        state.nSteps = n;
        await sendSamples();
      });
      break;
    case 'set_view': {
      const t = Number(msg.t);
      if (!VIEWS.includes(msg.view)) { fail(`unknown view '${msg.view}' (expected ${VIEWS.join(', ')})`); break; }
      if (!(t >= 0 && t <= 1)) { fail(`t must be in [0, 1], got ${msg.t}`); break; }
      state.view = msg.view;
      state.time = t;
      requestDraw();
      break;
    }
    case 'kl_table':
      serial(async () => { need(); await sendKl(); });
      break;
    case 'set_picks': {
      const p = Float32Array.from(msg.points || []);
      if (p.length % 2 || !p.every(Number.isFinite)) { fail('picks must be finite x, y pairs'); break; }
      state.picks = p.length ? p : null;
      requestDraw();
      break;
    }
    case 'target_file':
      // Answered with the drawing or the crate's reason (not 'error': the message is the draw
      // panel's, not this panel's).
      serial(async () => {
        try {
          const drawing = msg.kind === 'image'
            ? Session.target_from_image(new Uint8Array(msg.rgba), msg.size, Boolean(msg.invert))
            : Session.target_from_csv(String(msg.text));
          post({ type: 'target_made', drawing });
        } catch (e) {
          if (e instanceof WebAssembly.RuntimeError) throw e; // a dead instance: fail() says so
          post({ type: 'target_made', error: String(e.message || e) });
        }
      });
      break;
    case 'save':
      serial(async () => { const bytes = await need().save(); post({ type: 'saved', bytes }, [bytes.buffer]); });
      break;
    case 'load':
      state.preempted = true;
      serial(async () => {
        state.preempted = false;
        const bytes = new Uint8Array(msg.bytes);
        need();
        if (msg.adopt && await adoptArchitecture(bytes) && state.auto) startTrial(state.auto).catch(fail); // another recipe to time
        state.session.load(bytes);
        replicasStale(); // the same session and maybe the same step count, other weights
        state.table = null; // about the old weights
        state.trainSeconds = 0;
        post({ type: 'loaded', step: state.session.steps, config: state.session.config });
        await saveRun(); // a reload or a crash comes back to these weights
        await sendSamples();
        await sendKl();
      });
      break;
    default:
      fail(`unknown message type '${/** @type {any} */ (msg).type}'`);
  }
};

post({ type: 'status', text: 'loading wasm…' });

