// @ts-check
// The draw panel's other targets: one from a file (an image or a CSV of points), and its buttons.
import { $, panels } from './page-shared.js';
import { facts, drawing, saveSettings } from './settings.js';

// A target from a file: the browser decodes an image and scales it into a square of the crate's
// grid (aspect kept, on a transparent square, so margins carry no mass, inverted or not); the
// crate turns pixels or CSV text into
// a drawing (src/target_file.rs) or says why not, and the current target stays.
/** @type {File | null} */
let imageFile = null; // the last image, kept for the invert toggle
/** @param {File} file */
async function targetFromFile(file) {
  const note = $('target-note');
  if (!file) return;
  const worker = panels.find((p) => p.ready);
  if (!worker) { note.textContent = 'the models are still starting: try again in a moment'; return; }
  /** @type {import('./protocol.js').TargetFile} */
  let msg;
  const csv = /\.csv$/i.test(file.name) || file.type === 'text/csv';
  if (csv) {
    imageFile = null; // the invert toggle is for images
    msg = { type: 'target_file', kind: 'csv', text: await file.text() };
  } else {
    let bitmap;
    try { bitmap = await createImageBitmap(file); } catch {
      note.textContent = `'${file.name}' is not an image this browser can read (nor a .csv of points); the target stays as it was`;
      return;
    }
    imageFile = file;
    const size = facts.file_grid;
    const canvas = new OffscreenCanvas(size, size);
    const g = canvas.getContext('2d'); // transparent: margins carry no mass, inverted or not
    const scale = size / Math.max(bitmap.width, bitmap.height);
    const [w, h] = [bitmap.width * scale, bitmap.height * scale];
    g.drawImage(bitmap, (size - w) / 2, (size - h) / 2, w, h);
    const rgba = g.getImageData(0, 0, size, size).data;
    msg = { type: 'target_file', kind: 'image', rgba, size, invert: $('invert').checked };
  }
  const reply = await worker.ask(msg, 'target_made');
  if (reply.error) { note.textContent = `${file.name}: ${reply.error}; the target stays as it was`; return; }
  drawing.setCells(reply.drawing);
  note.textContent = `${file.name} → a ${reply.drawing.size}×${reply.drawing.size} target: press “Train on this drawing”. `
    + 'The URL (the share link) cannot carry a target from a file: a shared link shows the default face.';
  saveSettings();
}

$('draw-clear').addEventListener('click', () => { drawing.clear(); imageFile = null; $('target-note').textContent = ''; });
$('target-file').addEventListener('change', (/** @type {Event} */ e) => {
  const input = /** @type {HTMLInputElement} */ (e.target);
  targetFromFile(input.files[0]);
  input.value = '';
});
$('invert').addEventListener('change', () => { if (imageFile) targetFromFile(imageFile); });
