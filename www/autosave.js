// @ts-check
// The page's autosave: every panel's latest run and the settings it started from, kept in
// IndexedDB (store.js) so that a reload, a crash or a divergence comes back to it.
import { loadRuns, saveRuns, clearRuns } from './store.js';
import { status, panels } from './page-shared.js';
import { drawing, settingsQuery } from './settings.js';

// Storage problems (private mode, quota) are shown once; training goes on without autosave.
let storageWarned = false;
let storageOff = false; // set when the saved runs could not be read: writing would overwrite them
/** @param {any} e what the storage threw: an Error, a DOMException or anything else */
function storageProblem(e) {
  if (storageWarned) return;
  storageWarned = true;
  const message = `autosave is off: ${e && e.message ? e.message : e}`;
  status(message);
  console.warn(message);
}

// The autosave: every panel's latest run (the crate's bytes, from the worker's 'run' messages)
// and the settings it started from, written in order.
/** @type {Promise<unknown>} the last write (each waits for the one before) */
let writing = Promise.resolve();
export function persist() {
  if (storageOff) return writing;
  const record = {
    version: 1,
    query: settingsQuery().toString(),
    savedAt: Date.now(),
    panels: panels.map((p) => p.lastRun && p.config && { method: p.config.train.method, ...p.lastRun, klHistory: p.klHistory }),
    // A target from a file is not in the URL (too long): the record keeps it.
    drawing: drawing.shareable ? null : { size: drawing.size, cells: Array.from(drawing.cells) },
  };
  writing = writing.then(() => saveRuns(record)).catch(storageProblem);
  return writing;
}

// The saved runs, read once at the start (undefined when there are none, or they cannot be read).
export function loadSaved() {
  return loadRuns().catch(/** @returns {undefined} */ (e) => { storageProblem(e); storageOff = true; return undefined; });
}

// "Start fresh": forget the saved runs.
export function forgetRuns() {
  writing = writing.then(() => clearRuns()).catch(storageProblem); // before the new runs' saves
}
