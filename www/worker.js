// @ts-check
// Training worker: owns one wasm Session, so the page thread only draws.
//
// Protocol (tagged messages):
//   page -> worker
//     {type: 'wasm', module}            the compiled WebAssembly.Module (the page compiles it
//                                       once for all workers); the worker answers 'booted'
//     {type: 'init', config, options}   create (or re-create) the session; config as in config.rs.
//                                       The crate checks both; a rejected one posts 'error' and
//                                       the old session goes on as it was
//     {type: 'resume', bytes, options, lr, batch}
//                                       continue a saved run (Session.save_run bytes) exactly;
//                                       `lr` (optional) replaces its learning rate; `batch`, the
//                                       recipe's, replaces a larger one grown on WebGPU when the
//                                       run lands on the CPU
//     {type: 'snapshot'}                save the run now (answers 'run')
//     {type: 'play'} / {type: 'pause'}  start / stop the training loop
//     {type: 'step'}                    one optimizer step, then report
//     {type: 'set_n', n}                number of flow-map jumps for drawn samples (the crate's
//                                       limits.max_n_steps bounds it)
//     {type: 'set_view', view, t}       what 'samples' carries: 'samples' (N-step samples),
//                                       'trajectories' (paths through the N jumps), 'time'
//                                       (X_{0,t} at slider time t, one network call), 'density'
//                                       (the model's and target's histograms and KL map at N)
//                                       or 'grid' (a grid of noise pushed through N jumps to t)
//     {type: 'set_picks', points}       start points [x0, y0, ...] whose paths (N jumps, and the
//                                       ODE finely) the samples view draws
//     {type: 'target_file', kind, ...}  a target from a file: {kind: 'image', rgba, size, invert}
//                                       or {kind: 'csv', text}; answers 'target_made' or 'error'
//     {type: 'kl_table'}                compute the KL-vs-N table now
//     {type: 'save'}                    ask for the weights
//     {type: 'load', bytes, adopt}      replace the weights (Uint8Array); with adopt, first take
//                                       the checkpoint's width and depth (shipped weights)
//     {type: 'stats'}                   answers 'stats'
//     {type: 'probe', config, options}  in a trial worker (started by a panel's worker under
//                                       'auto'): load the WebGPU module (answers 'probe-ready'),
//                                       time this recipe on WebGPU, answer 'probe'
//     {type: 'test-crash'}              tests only: fail as a wasm trap does (the page must
//                                       replace this worker)
//     {type: 'test-lose-device'}        tests only: destroy the WebGPU device
//     {type: 'test-trial', gpu_ms, any_adapter}
//                                       tests only: 'auto''s WebGPU trial answers with gpu_ms, or
//                                       (any_adapter) is timed even on a software adapter
//   worker -> page
//     {type: 'booted', facts}           wasm is loaded: the page may send 'init'. `facts`: the
//                                       crate's presets, limits, KL table N values, plot square
//                                       (Session.facts(); the page keeps no copies)
//     {type: 'status', text}            slow phases: loading wasm, initialising WebGPU, ...
//     {type: 'ready', backend, note, config, step, resumed}
//     {type: 'backend', backend, note, trial, config, step}
//                                       'auto' decided by its timed trial: `trial.note` says
//                                       both timings and the choice; the run goes on. After a
//                                       move to WebGPU a second one follows, `trial.note` saying
//                                       the batch the search chose
//     {type: 'probe', ms, error}        from a trial worker: WebGPU's ms per step, or why not
//     {type: 'run', bytes, step, seconds}
//                                       the whole run (Session.save_run), every AUTOSAVE_MS of
//                                       training, on 'ready' and on 'snapshot': the page stores it
//     {type: 'diverged', message, step} training stopped: the loss diverged
//     {type: 'crashed', message}        the wasm instance trapped: this worker is dead
//     {type: 'device-lost', message}    the WebGPU device is gone: this worker is dead
//     {type: 'stats', wasm_bytes, step} wasm memory of this worker
//     {type: 'progress', step, losses, steps_per_sec, lr}
//     {type: 'target', points}          samples of the target (for the faint background)
//     {type: 'samples', view, n, t, points, reference}
//         view 'samples':      points = N-step samples [x0, y0, x1, y1, ...]
//         view 'trajectories': points = the N + 1 stages of TRAJECTORY_POINTS paths, one stage
//                              after the other; reference = their interpolant end points x1
//         view 'time':         points = X_{0,t}(x0); reference = the interpolant I_t
//         view 'density':      map = {model, target, terms, kl} (Session.density_map)
//         view 'grid':         points = the grid pushed to t; grid = {lines, per_line}
//         and with picks:      paths = {map: N + 1 stages, ode: ODE_PATH_STEPS + 1 stages}
//     {type: 'target_made', drawing, error}
//                                       {size, cells} from 'target_file', or why not
//     {type: 'kl_ode', rows, step}      the ODE's KL rows (Euler, Heun at the table's N), after
//                                       the flow map's table is complete
//     {type: 'kl_table', rows, step, seconds, complete}
//                                       [{n_steps, kl, noise_floor, samples}, ...] at `step`,
//                                       after `seconds` of training (wall clock, this session);
//                                       sent once per row as the table fills (N = 1 first)
//     {type: 'saved', bytes}            Uint8Array
//     {type: 'loaded', step, config}   new weights (trained `step` steps); training time restarts
//     {type: 'error', message, of}      a failed command; the session keeps its state. `of` is
//                                       'init' or 'resume' when making a session failed
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

// A backend trial runs in a copy of this worker: this script, not one of its modules.
setTrialScript(import.meta.url);

self.onmessage = (ev) => {
  const msg = ev.data;
  if (state.dead) return; // the page is replacing this worker
  switch (msg.type) {
    case 'wasm':
      serial(async () => {
        await pageGlue.default({ module_or_path: msg.module });
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
    case 'test-crash':
      serial(() => { throw new WebAssembly.RuntimeError('unreachable (test-crash)'); });
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
        state.table = null; // about the old weights
        state.trainSeconds = 0;
        post({ type: 'loaded', step: state.session.steps, config: state.session.config });
        await saveRun(); // a reload or a crash comes back to these weights
        await sendSamples();
        await sendKl();
      });
      break;
    default:
      fail(`unknown message type '${msg.type}'`);
  }
};

post({ type: 'status', text: 'loading wasm…' });

