// The views that show how the map moves mass (issue 12), in headless Chromium on the built site:
// the ODE rows in the KL-vs-calls chart, the density and KL map (its terms add up to the table's
// KL), the view against the exact map, the warped grid (the identity at t = 0, bent at t = 1), picked points' paths (click, drag,
// clear), a target from an image or a CSV (and clear messages for bad files), and a phone-sized
// screen (no horizontal overflow, taps pick points). Screenshots go to artifacts/.
//
//   node tests/e2e/views.mjs      (after `trunk build --release`)
import { mkdir } from 'node:fs/promises';
import { serve, launch, finish } from './harness.mjs';

function fail(msg) { console.error(`views FAILED: ${msg}`); process.exitCode = 1; }

const { server, base } = await serve();
const browser = await launch();
const errors = [];
await mkdir('artifacts', { recursive: true });
const shown = (page, k = 0) => page.evaluate((k) => {
  const m = window.flowmap.panels[k].shown;
  return m && { view: m.view, t: m.t, n: m.n, points: m.points && Array.from(m.points), map: m.map && { kl: m.map.kl, terms: Array.from(m.map.terms) }, paths: m.paths && { map: m.paths.map.length, ode: m.paths.ode.length } };
}, k);
const waitView = (page, view, extra = 'true') => page.waitForFunction(new Function(`const m = window.flowmap.panels[0].shown; return m && m.view === '${view}' && (${extra});`), null, { timeout: 120_000 });

try {
  const context = await browser.newContext({ viewport: { width: 1200, height: 1000 }, hasTouch: true });
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
  await page.goto(`${base}?backend=flex&methods=lsd&width=64&depth=3`);
  await page.waitForFunction(() => window.flowmap && window.flowmap.panels.every((p) => p.ready), null, { timeout: 120_000 });
  // Enough training that the warped grid has moved (section 4; about 8 s at 64x3).
  await page.waitForFunction(() => Number((/step (\d+)/.exec(document.querySelector('.panel .rate')?.textContent ?? '') || [0, 0])[1]) >= 2000, null, { timeout: 120_000 });
  await page.click('#play'); // pause: the table and the ODE rows at one step

  // 1. The ODE rows: Euler at 1..16 calls, Heun at 2..16 calls (2 per step), beside the map's.
  await page.waitForFunction(() => window.flowmap.panels[0].odeRows, null, { timeout: 120_000 });
  const ode = await page.evaluate(() => window.flowmap.panels[0].odeRows.map((r) => `${r.sampler}:${r.calls}`).join(' '));
  console.log(`ODE rows: ${ode}`);
  if (ode !== 'ode-euler:1 ode-euler:2 ode-euler:4 ode-euler:8 ode-euler:16 ode-heun:2 ode-heun:4 ode-heun:8 ode-heun:16') fail(`ODE rows: ${ode}`);
  const chartColours = await page.$eval('.panel .kl-vs-n', (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const near = (r, g, b) => { let n = 0; for (let k = 0; k < d.length; k += 4) if (Math.abs(d[k] - r) + Math.abs(d[k + 1] - g) + Math.abs(d[k + 2] - b) < 30) n++; return n; };
    return { euler: near(0xc7, 0x92, 0xea), heun: near(0x8b, 0xd4, 0x9c) };
  });
  if (!(chartColours.euler > 20 && chartColours.heun > 20)) fail(`the chart does not draw the ODE curves: ${JSON.stringify(chartColours)}`);

  // 2. The density and KL map: its terms add up to the table's KL(N=1) at this step.
  const step = await page.$eval('.panel .kl', (t) => Number(t.dataset.step));
  await page.selectOption('#view', 'density');
  await waitView(page, 'density');
  const d = await shown(page);
  const sum = d.map.terms.reduce((a, b) => a + b, 0);
  const cell = Number(await page.textContent('.panel .kl tbody td'));
  console.log(`density map at step ${step}: terms sum to ${sum.toFixed(4)}, map KL ${d.map.kl.toFixed(4)}, table ${cell}`);
  if (Math.abs(sum - d.map.kl) > 1e-3 * Math.max(1, d.map.kl) || Math.abs(d.map.kl - cell) > 0.0006) fail('the KL map does not add up to the table');
  await page.screenshot({ path: 'artifacts/views-density.png' });

  // 2b. Against the exact map: the mean error is the mean of the points' errors, the triangle
  // has a cell for every s < t and none elsewhere, and the picture is drawn.
  await page.selectOption('#view', 'exact');
  await waitView(page, 'exact');
  const x = await page.evaluate(() => {
    const e = window.flowmap.panels[0].shown.exact;
    return e.error ? { error: e.error } : { mean: e.mean_error, errors: Array.from(e.errors), triangle: Array.from(e.triangle), times: e.times };
  });
  if (x.error) fail(`the exact view failed: ${x.error}`);
  else {
    const avg = x.errors.reduce((a, b) => a + b, 0) / x.errors.length;
    const side = x.times + 1;
    const shape = x.triangle.every((v, k) => Number.isNaN(v) === (Math.floor(k / side) >= k % side));
    const cells = x.triangle.filter((v) => !Number.isNaN(v));
    console.log(`against the exact map: mean error ${x.mean.toFixed(4)} over ${x.errors.length} points, ${cells.length} triangle cells from ${Math.min(...cells).toFixed(4)} to ${Math.max(...cells).toFixed(4)}`);
    if (Math.abs(avg - x.mean) > 1e-4 || !(x.mean > 0 && x.mean < 3)) fail(`exact view: mean error ${x.mean} against the points' ${avg}`);
    if (!shape || cells.length !== (x.times * side) / 2) fail('exact view: the triangle is not s < t');
  }
  const exactPixels = await page.$eval('canvas.samples', (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width / 2, c.height / 2).data;
    let n = 0; // coloured dots in the model's quarter (not the dark background)
    for (let k = 0; k < d.length; k += 4) if (d[k] + d[k + 1] + d[k + 2] > 200) n++;
    return n;
  });
  if (!(exactPixels > 500)) fail(`the exact view draws too little: ${exactPixels} pixels`);
  await page.screenshot({ path: 'artifacts/views-exact.png' });

  // 3. The warped grid: the identity at t = 0 (X_{0,0}(x) = x), bent at t = 1.
  await page.selectOption('#view', 'grid');
  const slide = (t) => page.$eval('#t', (e, t) => { e.value = t; e.dispatchEvent(new Event('input')); }, t);
  await slide('0');
  await waitView(page, 'grid', 'm.t === 0');
  const g0 = await shown(page);
  await slide('1');
  await waitView(page, 'grid', 'm.t === 1');
  const g1 = await shown(page);
  const r = await page.evaluate(() => document.querySelector('[data-fact="square"]').textContent);
  // Line 0 is the vertical line x = -range: at t = 0 its points have x = -range exactly.
  const range = Number(/(\d+(\.\d+)?)/.exec(r)[1]);
  const straight = g0.points.filter((_, k) => k % 2 === 0).slice(0, 80).every((x) => Math.abs(x + range) < 1e-5);
  const moved = g1.points.reduce((a, v, k) => a + Math.abs(v - g0.points[k]), 0) / g1.points.length;
  console.log(`warped grid: straight at t = 0 ${straight}, mean move at t = 1 ${moved.toFixed(3)}`);
  if (!straight || !(moved > 0.05)) fail('the grid is not the identity at t = 0 or does not move by t = 1');
  await page.screenshot({ path: 'artifacts/views-grid.png' });

  // 4. Picked paths: a click adds a start point with its N-jump and ODE paths; a drag moves
  // it; "clear paths" removes them.
  await page.selectOption('#view', 'samples');
  const box = await page.$eval('.panel canvas.samples', (c) => { const b = c.getBoundingClientRect(); return { x: b.left, y: b.top, w: b.width }; });
  await page.mouse.click(box.x + box.w * 0.3, box.y + box.w * 0.3);
  await waitView(page, 'samples', 'm.paths');
  const p1 = await shown(page);
  const n = p1.n;
  if (p1.paths.map !== 2 * (n + 1) || p1.paths.ode !== 2 * 65) fail(`paths of one point: ${JSON.stringify(p1.paths)} at N = ${n}`);
  const start = () => page.evaluate(() => Array.from(window.flowmap.panels[0].shown.paths.map.slice(0, 2)));
  const before = await start();
  await page.mouse.move(box.x + box.w * 0.3, box.y + box.w * 0.3);
  await page.mouse.down();
  await page.mouse.move(box.x + box.w * 0.6, box.y + box.w * 0.5, { steps: 5 });
  await page.mouse.up();
  await page.waitForFunction((b) => { const m = window.flowmap.panels[0].shown; return m.paths && Math.abs(m.paths.map[0] - b[0]) > 0.5; }, before, { timeout: 60_000 });
  console.log(`picked point dragged from ${before.map((v) => v.toFixed(2))} to ${(await start()).map((v) => v.toFixed(2))}`);
  await page.screenshot({ path: 'artifacts/views-paths.png' });
  await page.click('#clear-paths');
  await waitView(page, 'samples', '!m.paths');

  // 5. Targets from files: an image (a black ring on white), an all-white image, a file that is
  // not an image, a CSV with text, then a good CSV.
  await page.selectOption('#dataset', 'drawn');
  const png = async (draw) => Buffer.from((await page.evaluate(async (draw) => {
    const c = document.createElement('canvas');
    c.width = 200; c.height = 120;
    const g = c.getContext('2d');
    g.fillStyle = '#fff'; g.fillRect(0, 0, 200, 120);
    if (draw) { g.strokeStyle = '#000'; g.lineWidth = 14; g.beginPath(); g.arc(100, 60, 40, 0, 2 * Math.PI); g.stroke(); }
    return c.toDataURL('image/png');
  }, draw)).split(',')[1], 'base64');
  const upload = async (name, mimeType, buffer, want) => {
    await page.$eval('#target-note', (e) => { e.textContent = ''; });
    await page.setInputFiles('#target-file', { name, mimeType, buffer });
    await page.waitForFunction(() => (document.querySelector('#target-note')?.textContent ?? '') !== '', null, { timeout: 60_000 });
    const note = await page.textContent('#target-note');
    console.log(`${name}: ${note}`);
    if (!note.includes(want)) fail(`${name}: '${note}' should say '${want}'`);
  };
  const drawn = () => page.$eval('#draw-canvas', (c) => c.toDataURL());
  await upload('ring.png', 'image/png', await png(true), '64×64 target');
  const ring = await drawn();
  await upload('blank.png', 'image/png', await png(false), 'all one colour');
  await upload('notes.png', 'image/png', Buffer.from('not an image at all'), 'not an image');
  await upload('points.csv', 'text/csv', Buffer.from('x,y\n1,2\nthree,4\n'), 'line 3');
  if ((await drawn()) !== ring) fail('a bad file changed the target');
  if (/draw=/.test(page.url())) fail('the URL claims to carry a target from a file');
  await page.click('#draw-train');
  await page.waitForFunction(() => {
    const p = window.flowmap.panels[0];
    const d = p.ready && p.config.train.dataset.drawn;
    return d && d.size === 64 && p.target; // the new session's target, not the face's
  }, null, { timeout: 120_000 });
  // The ring: radius 40 of the image's 200 px, which span the plot square's 5 units: 1.0.
  const radii = await page.evaluate(() => {
    const t = window.flowmap.panels[0].target;
    const out = [];
    for (let k = 0; k < t.length; k += 2) out.push(Math.hypot(t[k], t[k + 1]));
    return out;
  });
  const mean = radii.reduce((a, b) => a + b, 0) / radii.length;
  const inside = radii.filter((x) => Math.abs(x - 1.0) < 0.3).length / radii.length;
  console.log(`image target: mean radius ${mean.toFixed(2)} (ring at 1.0), ${(100 * inside).toFixed(0)}% within 0.3 of it`);
  if (!(inside > 0.95)) fail('the target does not follow the image');
  await upload('ring.csv', 'text/csv', Buffer.from(Array.from({ length: 400 }, (_, k) => `${Math.cos(k / 63.66) * 50},${Math.sin(k / 63.66) * 50}`).join('\n')), '64×64 target');
  await page.screenshot({ path: 'artifacts/views-image.png' });

  // 6. A phone: 390 px wide, no horizontal overflow, a tap picks a point.
  await page.selectOption('#dataset', 'checkerboard');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(500);
  const [scroll, client] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
  console.log(`phone: page ${scroll} px wide in a ${client} px viewport`);
  if (scroll > client) fail(`horizontal overflow at 390 px: ${scroll} > ${client}`);
  await page.waitForFunction(() => window.flowmap.panels[0].ready, null, { timeout: 120_000 });
  const b = await page.$eval('.panel canvas.samples', (c) => { c.scrollIntoView(); const r = c.getBoundingClientRect(); return { x: r.left, y: r.top, w: r.width }; });
  await page.touchscreen.tap(b.x + b.w / 2, b.y + b.w / 2);
  await waitView(page, 'samples', 'm.paths');
  console.log('phone: a tap traced a path');
  await page.screenshot({ path: 'artifacts/views-phone.png' });
  await context.close();
} catch (e) {
  fail(e.stack || e.message);
}
await finish({ browser, server, errors, fail, passed: 'views passed' });
