// @ts-check
// The page's autosave: one record in IndexedDB holding the current run of every panel (the
// crate's saved-run bytes, its KL history) and the settings it was started with. Storage can
// fail (private mode, quota, a browser that blocks it): every function then rejects with a
// message, and the caller shows it once and goes on without autosave.
const DB = 'flowmap';
const STORE = 'runs';
const KEY = 'current';
// Opening can hang when another tab holds an old version of the database open; give up then.
const OPEN_TIMEOUT_MS = 3000;

/**
 * The record (autosave.js writes it): the settings' query string, when, and per panel its
 * method and last run (Session.save_run bytes, step, seconds) with its KL history, or null for
 * a panel without a run; `drawing`: a target from a file (the URL cannot carry it), or null.
 * @typedef {{method: import('./flowmap.js').Method, bytes: Uint8Array, step: number,
 *   seconds: number, klHistory: import('./charts.js').KlPoint[]}} SavedPanel
 * @typedef {{version: number, query: string, savedAt: number, panels: (SavedPanel | null)[],
 *   drawing: import('./flowmap.js').Drawing | null}} SavedRecord
 */

/** @type {Promise<IDBDatabase> | null} */
let opened = null;

function open() {
  if (opened) return opened;
  opened = new Promise((resolve, reject) => {
    if (!self.indexedDB) { reject(new Error('this browser offers no IndexedDB')); return; }
    const timer = setTimeout(() => reject(new Error('IndexedDB did not open (blocked by another tab?)')), OPEN_TIMEOUT_MS);
    let req;
    try { req = indexedDB.open(DB, 1); } catch (e) { clearTimeout(timer); reject(e); return; }
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => { clearTimeout(timer); resolve(req.result); };
    req.onerror = () => { clearTimeout(timer); reject(req.error || new Error('IndexedDB refused to open')); };
  });
  opened.catch(() => { opened = null; }); // a later call may try again
  return opened;
}

/**
 * @template T
 * @param {IDBTransactionMode} mode @param {(s: IDBObjectStore) => IDBRequest<T>} act
 * @returns {Promise<T>} the request's result, once its transaction completed
 */
function request(mode, act) {
  return open().then((db) => new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const req = act(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(req.result);
    tx.onabort = tx.onerror = () => reject(tx.error || req.error || new Error('IndexedDB transaction failed'));
  }));
}

/** The saved record, or undefined. @type {() => Promise<SavedRecord | undefined>} */
export const loadRuns = () => request('readonly', (s) => s.get(KEY));
/** Replace the saved record. @param {SavedRecord} record */
export const saveRuns = (record) => request('readwrite', (s) => s.put(record, KEY));
/** Forget the saved record ("Start fresh"). */
export const clearRuns = () => request('readwrite', (s) => s.delete(KEY));
