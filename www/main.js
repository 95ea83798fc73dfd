// @ts-check
// The page: builds two panels, each driven by its own training worker, and draws what the
// workers report. No training happens on this thread.
//
// The page's parts: page-shared.js (the element lookup, the panels, the status line),
// settings.js (the recipe, the crate's facts, the drawn target, the URL), autosave.js (the saved
// runs), controls.js (the global controls), picks.js (picked points), target-file.js (a target
// from a file), panel.js (a panel and its worker) and panel-view.js (what a panel shows).
import { loadRuns } from './store.js';
import { $, panels } from './page-shared.js';
import { SETTINGS, drawing, readSettings, saveSettings } from './settings.js';
import { persist, loadSaved, forgetRuns } from './autosave.js';
import { setPlaying, showViewControls } from './controls.js';
import './target-file.js'; // the draw panel's file and clear buttons
import { Panel } from './panel.js';

const url = new URLSearchParams(location.search);
const saved = await loadSaved();
const { params, resuming, methods } = readSettings(url, saved);

showViewControls();
methods.forEach((m, k) => panels.push(new Panel(m, resuming ? saved.panels[k] : null)));
if (resuming) {
  if (saved.drawing) drawing.setCells(saved.drawing);
  const when = new Date(saved.savedAt).toLocaleString();
  $('resumed').querySelector('.what').textContent = `${when}, ${saved.panels.filter(Boolean).map((p) => `${p.method} step ${p.step}`).join(', ')}`;
  $('resumed').hidden = false;
  saveSettings();
}
$('fresh').addEventListener('click', () => {
  $('resumed').hidden = true;
  forgetRuns(); // before the new runs' saves
  for (const p of panels) {
    Object.assign(p, { lastRun: null, pending: null, resuming: null, noteAfterReady: null });
    p.q('.note').textContent = '';
    p.reset(); // before wasm has loaded this waits: 'booted' resets, now that nothing is pending
  }
});
// Leaving or hiding the tab saves every run (best effort: a closing tab may not wait for it).
const snapshotAll = () => { for (const p of panels) if (p.ready) p.send({ type: 'snapshot' }); };
document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'hidden') snapshotAll(); });
addEventListener('pagehide', snapshotAll);
// For tests and the soak script: save every run now, or read each worker's memory.
/** @type {any} */ (window).flowmap = {
  panels,
  snapshot: () => Promise.all(panels.map((p) => p.ask({ type: 'snapshot' }, 'run'))).then(() => persist()).then(() => loadRuns()),
  stats: () => Promise.all(panels.map((p) => p.ask({ type: 'stats' }, 'stats'))),
};
for (const p of panels) p.q('.method').addEventListener('change', saveSettings);
for (const id of SETTINGS) $(id).addEventListener('change', saveSettings);
if (params.get('autoplay') !== '0') setPlaying(true);
