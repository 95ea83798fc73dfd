// @ts-check
// Draw-your-own target: a grid of cell weights in [0, 1] over [-2.5, 2.5]^2, row 0 at the top,
// painted with a soft round brush: SIZE x SIZE when painted, or the crate's grid for a target
// made from an image or a CSV (which can then be painted over too). The worker samples it as the `drawn` dataset
// (src/data.rs): a cell is picked in proportion to its weight, then a point uniform inside it.

export const SIZE = 32; // 5/32 = 0.16 units per cell: finer than a finger, coarser than the KL bins
const BRUSH = 1.6; // brush radius in cells

export class Drawing {
  /** @param {HTMLCanvasElement} canvas @param {() => void} onChange */
  constructor(canvas, onChange) {
    this.canvas = canvas;
    this.size = SIZE;
    this.cells = new Float32Array(SIZE * SIZE);
    this.onChange = onChange;
    let painting = false;
    const paint = (/** @type {PointerEvent} */ ev) => {
      const r = canvas.getBoundingClientRect();
      const col = ((ev.clientX - r.left) / r.width) * this.size;
      const row = ((ev.clientY - r.top) / r.height) * this.size;
      this.paint(col, row, ev.shiftKey ? -1 : 1);
    };
    canvas.addEventListener('pointerdown', (ev) => { painting = true; canvas.setPointerCapture(ev.pointerId); paint(ev); });
    canvas.addEventListener('pointermove', (ev) => { if (painting) paint(ev); });
    canvas.addEventListener('pointerup', () => { painting = false; this.onChange(); });
    this.smiley();
  }

  /**
   * Adds (sign 1) or removes (sign -1) paint around the cell position (col, row).
   * @param {number} col @param {number} row @param {number} sign
   */
  paint(col, row, sign) {
    const brush = (BRUSH * this.size) / SIZE; // the same size on screen at any grid
    for (let i = Math.floor(row - brush); i <= Math.ceil(row + brush); i++) {
      for (let j = Math.floor(col - brush); j <= Math.ceil(col + brush); j++) {
        if (i < 0 || j < 0 || i >= this.size || j >= this.size) continue;
        const d = Math.hypot(i + 0.5 - row, j + 0.5 - col) / brush;
        if (d >= 1) continue;
        const k = i * this.size + j;
        this.cells[k] = Math.min(1, Math.max(0, this.cells[k] + sign * 0.5 * (1 - d * d)));
      }
    }
    this.render();
  }

  clear() { this.size = SIZE; this.cells = new Float32Array(SIZE * SIZE); this.render(); this.onChange(); }

  /** The starting picture: a face, so "draw your own" trains on something before you paint. */
  smiley() {
    this.size = SIZE;
    this.cells = new Float32Array(SIZE * SIZE);
    const c = SIZE / 2;
    for (let a = 0; a < 2 * Math.PI; a += 0.05) this.dab(c + 12 * Math.cos(a), c + 12 * Math.sin(a));
    for (let a = 0.6; a < Math.PI - 0.6; a += 0.05) this.dab(c + 7 * Math.cos(a), c + 1 + 6 * Math.sin(a));
    this.dab(c - 5, c - 4.5); this.dab(c + 5, c - 4.5);
    this.render();
  }

  /** @param {number} col @param {number} row */
  dab(col, row) {
    const k = Math.floor(row) * this.size + Math.floor(col);
    if (k >= 0 && k < this.cells.length) this.cells[k] = 1;
  }


  /**
   * A target from a file (the crate's {size, cells}): cells scaled so the heaviest is 1.
   * @param {import('./flowmap.js').Drawing} drawing
   */
  setCells({ size, cells }) {
    const most = Math.max(...cells);
    this.size = size;
    this.cells = Float32Array.from(cells, (w) => w / most);
    this.render();
  }

  /** Whether the URL can carry this target (a file's finer grid is too long for a link). */
  get shareable() { return this.size === SIZE; }

  /** The dataset field of a training config: weights 0..255, any paint at least 1. */
  dataset() { return { drawn: { size: this.size, cells: Array.from(this.cells, (w) => (w > 0 ? Math.max(1, Math.round(w * 255)) : 0)) } }; }

  /** URL form: the cells as bytes (0..255), base64url (SIZE x SIZE drawings only). */
  encode() {
    const bytes = Uint8Array.from(this.cells, (w) => Math.round(w * 255));
    return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  /**
   * Reads `encode()`'s output; false (and no change) if it is not a SIZE x SIZE drawing.
   * @param {string} text
   */
  decode(text) {
    try {
      const bin = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
      if (bin.length !== SIZE * SIZE) return false;
      this.size = SIZE;
      this.cells = new Float32Array(SIZE * SIZE);
      for (let k = 0; k < bin.length; k++) this.cells[k] = bin.charCodeAt(k) / 255;
      this.render();
      return true;
    } catch { return false; }
  }

  render() {
    const g = this.canvas.getContext('2d');
    const { width, height } = this.canvas;
    g.fillStyle = '#0b0d11';
    g.fillRect(0, 0, width, height);
    const cw = width / this.size, ch = height / this.size;
    for (let k = 0; k < this.cells.length; k++) {
      if (!this.cells[k]) continue;
      g.fillStyle = `rgba(255, 196, 108, ${this.cells[k]})`;
      g.fillRect((k % this.size) * cw, Math.floor(k / this.size) * ch, cw + 0.5, ch + 0.5);
    }
  }
}
