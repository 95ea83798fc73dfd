// @ts-check
// The page's settings: the recipe the controls say, the crate's facts that bound them, the drawn
// target, and the shareable URL (read at the start, written on every change).
import { Drawing } from './draw.js';
import { $, status, panels } from './page-shared.js';

const DEFAULT_METHODS = ['lsd', 'psd-mid'];
// The crate's facts (presets, limits, the KL table's N values, the plot square), from the first
// worker to load: the page keeps no copy of them (Session.facts() in src/session.rs).
/** @type {import('./flowmap.js').Facts | null} */
export let facts = null;
export const drawing = new Drawing($('draw-canvas'), () => saveSettings());

// The dataset field of the config: a name, or the painted grid.
export function dataset() {
  return $('dataset').value === 'drawn' ? drawing.dataset() : $('dataset').value;
}

// The training recipe: the crate's browser preset (Config::browser, which says why each value)
// with the controls' fields. The crate checks it; a rejected field comes back as a panel error.
/** @param {import('./flowmap.js').Method} method @returns {import('./flowmap.js').Config} */
export function recipe(method) {
  const num = (/** @type {string} */ id) => Number($(id).value);
  const { model, train } = facts.presets.browser;
  return {
    model: { ...model, width: num('width'), depth: num('depth') },
    train: { ...train, method, dataset: dataset(), batch_size: num('batch'), lr: num('lr'), seed: num('seed') },
  };
}

// Once, from the first worker that loads: fill the controls the URL left empty with the preset,
// bound the number inputs by the crate's limits, and offer the KL table's N values.
/** @param {import('./flowmap.js').Facts} f */
export function adoptFacts(f) {
  if (facts) return;
  facts = f;
  const { model, train } = f.presets.browser;
  const preset = { lr: train.lr, batch: train.batch_size, width: model.width, depth: model.depth, seed: train.seed };
  for (const [id, v] of Object.entries(preset)) if ($(id).value === '') $(id).value = v;
  $('width').max = f.limits.max_width;
  $('depth').max = f.limits.max_depth;
  $('batch').max = f.limits.max_batch;
  $('workers').max = f.limits.max_workers;
  $('n').replaceChildren(...f.table_steps.map((n) => new Option(String(n))));
  applyParam('n');
  for (const el of document.querySelectorAll('[data-fact="square"]')) el.textContent = `[−${f.plot_range}, ${f.plot_range}]²`;
}

// Shareable settings: the URL holds the recipe, dataset, view, N, backend and each panel's
// method (and `workers` where set: empty is the crate's rule), e.g. ?lr=0.004&batch=256&width=192&depth=5&seed=0&dataset=rings&n=1&methods=lsd,psd-mid
// A drawing travels as `draw`, its 32x32 cells as base64url bytes (about 1.4 kB).
export const SETTINGS = ['lr', 'batch', 'width', 'depth', 'seed', 'dataset', 'view', 't', 'n', 'backend', 'workers'];
// The settings that make a run: a URL that names other values than the saved run's starts them.
const RECIPE = ['lr', 'batch', 'width', 'depth', 'seed', 'dataset', 'draw', 'methods'];
// The URL's settings, or the saved run's (readSettings sets them once, at the start).
/** @type {URLSearchParams | null} */
let params = null;
// The settings the page starts from: the URL's `url`, or the `saved` run's when the URL names no
// other recipe. Returns them, whether the saved run resumes, and the panels' methods.
/** @param {URLSearchParams} url @param {import('./store.js').SavedRecord | undefined} saved */
export function readSettings(url, saved) {
  const savedQuery = saved && saved.version === 1 && saved.panels.some(Boolean) ? new URLSearchParams(saved.query) : null;
  const resuming = savedQuery && RECIPE.every((k) => !url.has(k) || url.get(k) === savedQuery.get(k));
  // Resuming: the saved run's settings, with the URL's view, N, t and backend on top.
  params = resuming ? new URLSearchParams({ ...Object.fromEntries(savedQuery), ...Object.fromEntries(url) }) : url;
  // N's options come with the crate's facts (adoptFacts applies it then).
  for (const id of SETTINGS) if (id !== 'n') applyParam(id);
  if (params.has('draw') && !drawing.decode(params.get('draw'))) status('the drawing in the URL is not valid; showing the default one');
  const methods = (params.get('methods') || DEFAULT_METHODS.join(',')).split(',').slice(0, 4);
  return { params, resuming, methods };
}

/** @param {string} id */
function applyParam(id) {
  if (!params.has(id)) return;
  const el = $(id);
  el.value = params.get(id);
  if (el.tagName === 'SELECT' && el.value === '') { // not one of the options
    el.selectedIndex = 0;
    status(`unknown ${id} '${params.get(id)}' in the URL; using ${el.value}`);
  }
}

export function settingsQuery() {
  const q = new URLSearchParams();
  for (const id of SETTINGS) if ($(id).value !== '') q.set(id, $(id).value);
  q.set('methods', panels.map((p) => p.q('.method').value).join(','));
  if ($('dataset').value === 'drawn' && drawing.shareable) q.set('draw', drawing.encode());
  return q;
}

export function saveSettings() { history.replaceState(null, '', `?${settingsQuery()}`); }

// How many workers each panel's run trains on: the worker applies the crate's rule
// (Session.workers_for) to the visitor's cores, the panels that train and the `workers` control
// (the URL's `?workers=`; empty: the rule alone).
/** @returns {import('./protocol.js').Command} */
export function workersMessage() {
  const v = $('workers').value;
  return {
    type: 'set_workers',
    cores: navigator.hardwareConcurrency || NaN,
    panels: Math.max(1, panels.filter((p) => !p.stopped).length),
    requested: v === '' ? null : Number(v),
  };
}
