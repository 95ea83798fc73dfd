// Draw-your-own target: a SIZE x SIZE grid of cell weights in [0, 1] over [-2.5, 2.5]^2, row 0
// at the top, painted with a soft round brush. The worker samples it as the `drawn` dataset
// (src/data.rs): a cell is picked in proportion to its weight, then a point uniform inside it.

export const SIZE = 32; // 5/32 = 0.16 units per cell: finer than a finger, coarser than the KL bins
const BRUSH = 1.6; // brush radius in cells

export class Drawing {
  constructor(canvas, onChange) {
    this.canvas = canvas;
    this.cells = new Float32Array(SIZE * SIZE);
    this.onChange = onChange;
    let painting = false;
    const paint = (ev) => {
      const r = canvas.getBoundingClientRect();
      const col = ((ev.clientX - r.left) / r.width) * SIZE;
      const row = ((ev.clientY - r.top) / r.height) * SIZE;
      this.paint(col, row, ev.shiftKey ? -1 : 1);
    };
    canvas.addEventListener('pointerdown', (ev) => { painting = true; canvas.setPointerCapture(ev.pointerId); paint(ev); });
    canvas.addEventListener('pointermove', (ev) => { if (painting) paint(ev); });
    canvas.addEventListener('pointerup', () => { painting = false; this.onChange(); });
    this.smiley();
  }

  /** Adds (sign 1) or removes (sign -1) paint around the cell position (col, row). */
  paint(col, row, sign) {
    for (let i = Math.floor(row - BRUSH); i <= Math.ceil(row + BRUSH); i++) {
      for (let j = Math.floor(col - BRUSH); j <= Math.ceil(col + BRUSH); j++) {
        if (i < 0 || j < 0 || i >= SIZE || j >= SIZE) continue;
        const d = Math.hypot(i + 0.5 - row, j + 0.5 - col) / BRUSH;
        if (d >= 1) continue;
        const k = i * SIZE + j;
        this.cells[k] = Math.min(1, Math.max(0, this.cells[k] + sign * 0.5 * (1 - d * d)));
      }
    }
    this.render();
  }

  clear() { this.cells.fill(0); this.render(); this.onChange(); }

  /** The starting picture: a face, so "draw your own" trains on something before you paint. */
  smiley() {
    this.cells.fill(0);
    const c = SIZE / 2;
    for (let a = 0; a < 2 * Math.PI; a += 0.05) this.dab(c + 12 * Math.cos(a), c + 12 * Math.sin(a));
    for (let a = 0.6; a < Math.PI - 0.6; a += 0.05) this.dab(c + 7 * Math.cos(a), c + 1 + 6 * Math.sin(a));
    this.dab(c - 5, c - 4.5); this.dab(c + 5, c - 4.5);
    this.render();
  }

  dab(col, row) {
    const k = Math.floor(row) * SIZE + Math.floor(col);
    if (k >= 0 && k < this.cells.length) this.cells[k] = 1;
  }


  /** The dataset field of a training config. */
  dataset() { return { drawn: { size: SIZE, cells: Array.from(this.cells, (w) => Math.round(w * 255)) } }; }

  /** URL form: the cells as bytes (0..255), base64url. */
  encode() {
    const bytes = Uint8Array.from(this.cells, (w) => Math.round(w * 255));
    return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  /** Reads `encode()`'s output; false (and no change) if it is not a SIZE x SIZE drawing. */
  decode(text) {
    try {
      const bin = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
      if (bin.length !== SIZE * SIZE) return false;
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
    const cw = width / SIZE, ch = height / SIZE;
    for (let k = 0; k < this.cells.length; k++) {
      if (!this.cells[k]) continue;
      g.fillStyle = `rgba(255, 196, 108, ${this.cells[k]})`;
      g.fillRect((k % SIZE) * cw, Math.floor(k / SIZE) * ch, cw + 0.5, ch + 0.5);
    }
  }
}
