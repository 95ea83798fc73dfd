// @ts-check
// The training worker's session: making it anew ('init', 'resume', weights of another network)
// and replacing the old one, and saving the whole run for the page (autosave, and the restart
// of a crashed worker or a diverged run from the last save).
import { state, post, fail } from './worker-state.js';
import { Session } from './worker-wasm.js';
import { startTrial } from './worker-trial.js';
import { sendSamples, sendTarget } from './worker-views.js';

// The run is saved for the page (autosave, crash and divergence recovery) every AUTOSAVE_MS of
// training: losing at most this much work costs one read of the weights and moments (~1 MB for
// the browser preset, a few ms).
export const AUTOSAVE_MS = 30000;
export let lastSave = 0;

export async function saveRun() {
  if (state.session.diverged) return; // keep the last good run: it is what "Restore" offers
  const bytes = await state.session.save_run();
  lastSave = performance.now();
  post({ type: 'run', bytes, step: state.session.steps, seconds: state.trainSeconds }, [bytes.buffer]);
}

// A new session replaces the old one and the page hears 'ready' (and the first run save).
/**
 * @param {import('./flowmap.js').Session} next (either module's: one API)
 * @param {import('./flowmap.js').Options} options @param {boolean} resumed
 */
export async function adopt(next, options, resumed) {
  if (state.session) state.session.free();
  state.session = next;
  state.sessionOptions = options;
  state.stepsPerSec = 0; // the rate restarts with the new run (the loop may still be running)
  state.rateFrom = null;
  state.perCall = 1;
  state.tables = 0;
  state.table = null; // the old session's
  state.exactPrimed = false;
  post({ type: 'ready', backend: state.session.backend, note: state.session.backend_note, config: state.session.config, step: state.session.steps, resumed });
  await saveRun();
  sendTarget();
  await sendSamples();
  state.lastKl = performance.now(); // the first table comes after KL_MIN_MS of training
  startTrial(state.auto).catch(fail);
}

// The session, or a clear error if it does not exist (still starting, or failed to start).
export function need() {
  if (!state.session) throw new Error('no model yet: the session is still starting or failed to start');
  return state.session;
}

// Shipped weights may be another network (deeper, GELU, preconditioned): re-create the session
// with the checkpoint's model config (same recipe and options) so they load. A corrupt file
// throws before anything changes.
/** @param {Uint8Array} bytes */
export async function adoptArchitecture(bytes) {
  const info = Session.checkpoint_info(bytes);
  const config = state.session.config;
  if (JSON.stringify(info.model) === JSON.stringify(config.model)) return false;
  const next = await Session.create({ ...config, model: info.model }, state.sessionOptions);
  state.session.free();
  state.session = next;
  state.table = null;
  state.exactPrimed = false;
  return true;
}
