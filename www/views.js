// @ts-check
// The panel views that are more than dots: the density and KL map, the warped grid, and the
// paths of picked points. Each draws on a 2D context `g` of canvas `c`; `at(x, y)` maps a point
// of the plot square to canvas pixels.

const TEXT = '#c9ced6';

/**
 * The lines between a 2 x 2 view's quarters, and the font and colour of their titles.
 * @param {CanvasRenderingContext2D} g @param {HTMLCanvasElement} c
 */
function quarters(g, c) {
  const half = c.width / 2;
  g.strokeStyle = '#2a2f3a';
  g.beginPath();
  g.moveTo(half, 0); g.lineTo(half, c.height);
  g.moveTo(0, half); g.lineTo(c.width, half);
  g.stroke();
  g.font = '13px system-ui';
  g.fillStyle = TEXT;
}

/**
 * The histograms behind the KL table at this N (Session.density_map), 2 x 2: the model's density
 * (top left), the target's (top right), and each bin's term of KL(target || model) (bottom
 * left, red where the model lacks mass the target has, blue where it puts extra mass; the terms
 * add up to the KL in the table), with a key (bottom right).
 */
/**
 * @param {CanvasRenderingContext2D} g @param {HTMLCanvasElement} c
 * @param {import('./flowmap.js').DensityMapView} map @param {number} bins @param {number} n
 */
export function drawDensity(g, c, map, bins, n) {
  const half = c.width / 2;
  const cell = half / bins;
  const most = Math.max(...map.model, ...map.target) || 1;
  const heat = (/** @type {number} */ v) => { // dark -> blue -> white, on a square-root scale so faint mass shows
    const a = Math.sqrt(Math.min(1, v / most));
    return `rgb(${Math.round(40 + 215 * a * a)}, ${Math.round(60 + 190 * a)}, ${Math.round(90 + 165 * a)})`;
  };
  const biggest = Math.max(...map.terms.map(Math.abs)) || 1;
  const diverging = (/** @type {number} */ v) => { // red: mass missing, blue: extra mass, dark: none
    const a = Math.sqrt(Math.min(1, Math.abs(v) / biggest));
    return v >= 0 ? `rgb(${Math.round(20 + 235 * a)}, ${Math.round(20 + 60 * a)}, ${Math.round(30 + 40 * a)})`
      : `rgb(${Math.round(20 + 60 * a)}, ${Math.round(20 + 120 * a)}, ${Math.round(30 + 225 * a)})`;
  };
  /**
   * @param {number} x0 @param {number} y0 @param {Float32Array} values
   * @param {(v: number) => string} color
   */
  const square = (x0, y0, values, color) => {
    for (let i = 0; i < bins; i++) {
      for (let j = 0; j < bins; j++) {
        const v = values[i * bins + j];
        if (!v) continue;
        g.fillStyle = color(v);
        // Bin i runs left to right, bin j bottom to top.
        g.fillRect(x0 + i * cell, y0 + (bins - 1 - j) * cell, cell + 0.5, cell + 0.5);
      }
    }
  };
  square(0, 0, map.model, heat);
  square(half, 0, map.target, heat);
  square(0, half, map.terms, diverging);
  quarters(g, c);
  g.fillText(`model, N = ${n}`, 8, 18);
  g.fillText('target', half + 8, 18);
  g.fillText(`KL map: sums to ${map.kl.toFixed(3)}`, 8, half + 18);
  const lines = [
    [`KL(target ‖ model) at N = ${n} is the`, TEXT],
    ['sum over the 60 × 60 bins of', TEXT],
    ['p ln(p / q): p the target\'s bin mass,', TEXT],
    ['q the model\'s.', TEXT],
    ['red: mass the model is missing', '#ff6a5a'],
    ['blue: mass the model puts too much', '#6a9cff'],
    [`total ${map.kl.toFixed(3)} (the table's N = ${n} cell)`, TEXT],
  ];
  lines.forEach(([text, color], k) => { g.fillStyle = color; g.fillText(text, half + 10, half + 24 + 20 * k); });
}

/**
 * A grid of noise pushed through N jumps to time t: lines[i] of `perLine` points each.
 * @param {CanvasRenderingContext2D} g @param {HTMLCanvasElement} c
 * @param {import('./protocol.js').Samples} m the 'samples' message of the 'grid' view
 * @param {(x: number, y: number) => [number, number]} at
 */
export function drawGrid(g, c, m, at) {
  const { lines, per_line: perLine } = m.grid;
  const count = 2 * lines;
  g.lineWidth = 1;
  for (let l = 0; l < count; l++) {
    g.strokeStyle = l < lines ? 'rgba(108, 178, 255, 0.75)' : 'rgba(255, 159, 108, 0.75)';
    g.beginPath();
    for (let k = 0; k < perLine; k++) {
      const p = 2 * (l * perLine + k);
      const [x, y] = at(m.points[p], m.points[p + 1]);
      k ? g.lineTo(x, y) : g.moveTo(x, y);
    }
    g.stroke();
  }
  g.font = '13px system-ui';
  g.fillStyle = TEXT;
  g.fillText(`t = ${m.t.toFixed(2)}: a grid of noise through ${m.n} jump${m.n > 1 ? 's' : ''} of X(0,t)`, 8, 18);
}

/**
 * Paths of picked start points through the N jumps of the flow map (white, a dot per jump) and
 * along the ODE the map replaces, in fine Heun steps (orange). Both arrays hold every stage of
 * every path, stage after stage; stage 0 is the picked points.
 * @param {CanvasRenderingContext2D} g @param {{map: Float32Array, ode: Float32Array}} paths
 * @param {number} n @param {(x: number, y: number) => [number, number]} at
 */
export function drawPaths(g, paths, n, at) {
  const count = paths.map.length / (2 * (n + 1));
  /** @param {Float32Array} stages @param {number} s @param {number} k */
  const point = (stages, s, k) => at(stages[2 * (s * count + k)], stages[2 * (s * count + k) + 1]);
  /** @param {Float32Array} stages @param {number} k */
  const polyline = (stages, k) => {
    g.beginPath();
    for (let s = 0; s < stages.length / (2 * count); s++) {
      const [x, y] = point(stages, s, k);
      s ? g.lineTo(x, y) : g.moveTo(x, y);
    }
    g.stroke();
  };
  for (let k = 0; k < count; k++) {
    g.strokeStyle = 'rgba(255, 159, 108, 0.95)';
    g.lineWidth = 1.5;
    polyline(paths.ode, k);
    g.strokeStyle = 'rgba(255, 255, 255, 0.95)';
    g.lineWidth = 2;
    polyline(paths.map, k);
    g.fillStyle = '#ffffff';
    for (let s = 1; s <= n; s++) { const [x, y] = point(paths.map, s, k); g.fillRect(x - 3, y - 3, 6, 6); }
    const [x, y] = point(paths.map, 0, k);
    g.beginPath(); g.arc(x, y, 6, 0, 2 * Math.PI); g.stroke();
  }
  g.lineWidth = 1;
}

/**
 * Against the exact map (Session.against_exact), 2 x 2: the model's N-jump endpoints coloured
 * by their distance to the exact map's endpoints from the same noise (top left), the exact
 * endpoints (top right), the mean error of each one-jump map X_{s,t} over the triangle
 * 0 <= s < t <= 1 (bottom left: s across, t up; blue is learned, red the worst jump), and a
 * key (bottom right).
 * `at(x, y)` maps a plot point into a half-size square at the origin.
 */
/**
 * @param {CanvasRenderingContext2D} g @param {HTMLCanvasElement} c
 * @param {import('./flowmap.js').AgainstExactView} view @param {number} n
 * @param {(x: number, y: number) => [number, number]} at
 */
export function drawExact(g, c, view, n, at) {
  const half = c.width / 2;
  const worst = Math.max(...view.errors) || 1;
  const scale = Math.max(0.05, 2 * view.mean_error, Math.min(worst, 1)); // colour saturates here
  const ramp = (/** @type {number} */ v) => { // dark blue (exact) -> yellow -> red (far off)
    const a = Math.min(1, v / scale);
    return `rgb(${Math.round(60 + 195 * a)}, ${Math.round(120 + 100 * a - 140 * a * a)}, ${Math.round(255 - 235 * a)})`;
  };
  for (let k = 0; k < view.model.length; k += 2) {
    const [x, y] = at(view.model[k], view.model[k + 1]);
    g.fillStyle = ramp(view.errors[k / 2]);
    g.fillRect(x - 1, y - 1, 2, 2);
  }
  g.fillStyle = 'rgba(200, 206, 214, 0.7)';
  for (let k = 0; k < view.exact.length; k += 2) {
    const [x, y] = at(view.exact[k], view.exact[k + 1]);
    g.fillRect(half + x - 1, y - 1, 2, 2);
  }
  // The triangle: cell (i, j) for s = i / T, t = j / T, drawn as the square [s, s + 1/T] x
  // [t - 1/T, t] so that the diagonal runs along its lower edge.
  const T = view.times;
  const side = T + 1;
  const cells = [];
  for (let i = 0; i < T; i++) for (let j = i + 1; j <= T; j++) cells.push(view.triangle[i * side + j]);
  const most = Math.max(...cells) || 1;
  const box = half - 56; // below the quarter's title, above the s axis label
  const cell = box / T;
  const [ox, oy] = [30, c.height - 24]; // origin (s = 0, t = 0) of the triangle's axes
  for (let i = 0; i < T; i++) {
    for (let j = i + 1; j <= T; j++) {
      g.fillStyle = ramp((view.triangle[i * side + j] / most) * scale);
      g.fillRect(ox + i * cell, oy - j * cell, cell + 0.5, cell + 0.5);
    }
  }
  quarters(g, c);
  g.fillText(`model, N = ${n}: colour = error`, 8, 18);
  g.fillText('exact map, same noise', half + 8, 18);
  g.fillText('one jump X(s,t): mean error', 8, half + 18);
  g.fillText('s →', ox + box - 20, oy + 17);
  g.fillText('t ↑', 6, oy - box + 12);
  const lines = [
    [`mean |X(x0) − X_exact(x0)| at N = ${n}:`, TEXT],
    [`${view.mean_error.toFixed(4)} (no histogram, no floor)`, TEXT],
    ['exact: RK4 on the closed-form', TEXT],
    ['velocity E[x1 − x0 | I_t = x]', TEXT],
    ['blue: on the exact map', '#6a9cff'],
    [`red: ${scale.toFixed(2)} or more off`, '#ff6a5a'],
    [`triangle: red = worst jump, ${most.toFixed(3)}`, TEXT],
  ];
  lines.forEach(([text, color], k) => { g.fillStyle = color; g.fillText(text, half + 10, half + 24 + 20 * k); });
}
