// End-to-end test of the built site (dist/) in headless Chromium, served from a subpath as
// GitHub Pages serves it. Fails if the page draws nothing, if the KL table is not finite, or if
// the console shows an error. Leaves a screenshot in artifacts/e2e.png.
//
//   node tests/e2e/page.mjs            (after `trunk build --release`)
//   E2E_TRAIN_STEPS=2000 node tests/e2e/page.mjs   (train longer before the first checks)
import { mkdir } from 'node:fs/promises';
import { serve, launch, panelSummaries, checkPanels, finish } from './harness.mjs';

// Steps both panels train before the first checks: enough to leave the initial samples (KL
// about 1.5 at N = 1 after 100 steps), where every bound of checkPanels can still fail.
const TRAIN_STEPS = Number(process.env.E2E_TRAIN_STEPS || 150);

function fail(msg) { console.error(`e2e FAILED: ${msg}`); process.exitCode = 1; }

const { server, base } = await serve();
// Without --enable-unsafe-webgpu headless Chromium has no WebGPU: this also tests the CPU fallback.
const browser = await launch();
const errors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
  const t0 = Date.now();
  await page.goto(base);
  await page.waitForFunction(() => document.querySelectorAll('.panel .backend[data-backend]').length === 2, null, { timeout: 120_000 });
  console.log(`both sessions ready after ${((Date.now() - t0) / 1000).toFixed(1)} s:`,
    await page.$$eval('.panel .backend', (els) => els.map((e) => e.textContent)));
  await page.waitForFunction((want) => [...document.querySelectorAll('.panel .rate')]
    .every((r) => Number((/step (\d+)/.exec(r.textContent) || [0, 0])[1]) >= want), TRAIN_STEPS, { timeout: 120_000 });
  // Pause, then wait for the KL tables of the trained models (pausing triggers a refresh).
  await page.click('#play');
  await page.waitForTimeout(1000);
  const stepAtPause = (rate) => Number((/step (\d+)/.exec(rate) || [0, 0])[1]);
  const steps = await page.$$eval('.panel .rate', (els) => els.map((e) => e.textContent));
  await page.waitForFunction((want) => [...document.querySelectorAll('.panel .kl')]
    .every((t, k) => Number(t.dataset.step) >= want[k] && want[k] > 0), steps.map(stepAtPause), { timeout: 120_000 });

  const panels = await page.evaluate(panelSummaries);
  await mkdir('artifacts', { recursive: true });
  await page.screenshot({ path: 'artifacts/e2e.png', fullPage: true });
  checkPanels(panels, fail);

  // Pretrained weights shipped with the site load into the (paused) LSD panel, which takes their
  // 6x256 shape, and score like the README's CLI table (20k samples here, so higher than 0.092).
  const lsd = (sel) => `.panel:nth-child(1) ${sel}`;
  const clicked = Date.now();
  await page.click(lsd('.pretrained'));
  await page.waitForFunction((sel) => Number(document.querySelector(sel)?.dataset.firstStep) >= 20000, lsd('.kl'), { timeout: 120_000 });
  const firstKlSeconds = (Date.now() - clicked) / 1000;
  const kl1 = Number(await page.textContent(lsd('.kl tbody td')));
  await page.waitForFunction((sel) => Number(document.querySelector(sel)?.dataset.step) >= 20000, lsd('.kl'), { timeout: 120_000 });
  console.log(`pretrained LSD: KL(N=1) ${kl1} shown ${firstKlSeconds.toFixed(2)} s after the click (full table after ${((Date.now() - clicked) / 1000).toFixed(1)} s)`);
  if (!(kl1 < 0.3)) fail(`pretrained LSD scores KL(N=1) ${kl1}, expected < 0.3`);
  const arch = await page.textContent(lsd('.arch'));
  if (arch !== '6×256') fail(`the panel did not take the pretrained network's shape: ${arch}`);
  // The PSD-midpoint weights are another model config (GELU, sigma-preconditioned): the panel
  // must adopt it whole, or the samples are off and KL shows it.
  const psd = (sel) => `.panel:nth-child(2) ${sel}`;
  await page.click(psd('.pretrained'));
  await page.waitForFunction((sel) => Number(document.querySelector(sel)?.dataset.firstStep) >= 20000, psd('.kl'), { timeout: 120_000 });
  const psdKl1 = Number(await page.textContent(psd('.kl tbody td')));
  console.log(`pretrained PSD-midpoint: KL(N=1) ${psdKl1}`);
  if (!(psdKl1 < 0.5)) fail(`pretrained PSD-midpoint scores KL(N=1) ${psdKl1}, expected < 0.5 (0.170 with 100k samples)`);
  await page.screenshot({ path: 'artifacts/e2e-pretrained.png', fullPage: true });

  // A corrupt upload shows an error and leaves the model alone: one Step continues from the
  // pretrained file's step to the next, and training (Play) goes on after another corrupt upload.
  const corrupt = () => page.setInputFiles(lsd('.load'), { name: 'bad.fmap', mimeType: 'application/octet-stream', buffer: Buffer.from('not weights') });
  const stepOf = (sel) => page.$eval(sel, (e) => Number((/step (\d+)/.exec(e.textContent) || [0, 0])[1]));
  const loadedStep = await stepOf(lsd('.rate'));
  if (!(loadedStep >= 20000)) fail(`the pretrained LSD panel shows step ${loadedStep}, expected its file's (>= 20000)`);
  await corrupt();
  await page.waitForFunction((sel) => document.querySelector(sel)?.textContent.includes('not a flow-map checkpoint'), lsd('.error'), { timeout: 30_000 });
  await page.click('#step');
  await page.waitForFunction(([sel, s]) => new RegExp(`step ${s}\\b`).test(document.querySelector(sel)?.textContent), [lsd('.rate'), loadedStep + 1], { timeout: 60_000 });
  await page.click('#play');
  await page.$eval(lsd('.error'), (e) => { e.textContent = ''; });
  await corrupt();
  await page.waitForFunction((sel) => document.querySelector(sel)?.textContent.includes('not a flow-map checkpoint'), lsd('.error'), { timeout: 30_000 });
  const atError = await stepOf(lsd('.rate'));
  await page.waitForFunction(([sel, s]) => Number((/step (\d+)/.exec(document.querySelector(sel)?.textContent ?? '') || [0, 0])[1]) >= s + 20, [lsd('.rate'), atError], { timeout: 60_000 });
  console.log(`training went on after a corrupt upload during Play: step ${atError} -> ${await stepOf(lsd('.rate'))}`);

  // A recipe the crate refuses (the page has no validation of its own): Reset with width 2.5
  // shows the crate's message, naming the field, in both panels, and the old runs go on.
  await page.fill('#width', '2.5');
  await page.click('#reset');
  await page.waitForFunction(() => [...document.querySelectorAll('.panel .error')].every((e) => e.textContent.includes("field 'width'")), null, { timeout: 30_000 });
  const atRefusal = await stepOf(lsd('.rate'));
  await page.waitForFunction(([sel, s]) => Number((/step (\d+)/.exec(document.querySelector(sel)?.textContent ?? '') || [0, 0])[1]) >= s + 20, [lsd('.rate'), atRefusal], { timeout: 60_000 });
  if ((await page.textContent(lsd('.arch'))) !== '6×256') fail('a refused recipe replaced the running model');
  console.log(`a refused recipe: "${await page.textContent(lsd('.error'))}"; training went on from step ${atRefusal}`);
  await page.fill('#width', '192');
  await page.click('#play');
  // Pausing computes the whole table, ODE rows included (over a minute at 6x256 with two panels
  // on two cores). The views below do not wait for it: the paused worker lets a view through
  // between the table's parts (worker-kl-table.js), which is what a visitor sees too.

  // Shareable settings: a URL reproduces the recipe, N and the panels' methods.
  const shared = await browser.newPage();
  shared.on('pageerror', (e) => errors.push(`page: ${e.message}`));
  await shared.goto(`${base}?lr=0.001&batch=128&width=64&depth=2&seed=7&n=4&dataset=rings&view=time&t=0.3&methods=esd,psd-uniform&autoplay=0`);
  await shared.waitForFunction(() => document.querySelectorAll('.panel .backend[data-backend]').length === 2, null, { timeout: 60_000 });
  const got = await shared.evaluate(() => ({
    values: ['lr', 'batch', 'width', 'depth', 'seed', 'n', 'dataset', 'view', 't'].map((id) => document.getElementById(id).value).join(' '),
    datasets: [...document.querySelectorAll('.panel')].map((p) => p.dataset.dataset).join(','),
    methods: [...document.querySelectorAll('.panel .method')].map((m) => m.value).join(','),
  }));
  console.log('from the URL:', got);
  if (got.values !== '0.001 128 64 2 7 4 rings time 0.3' || got.methods !== 'esd,psd-uniform' || got.datasets !== 'rings,rings') fail(`URL settings not applied: ${JSON.stringify(got)}`);
  // An unknown value falls back to the default with a message instead of breaking the page.
  await shared.goto(`${base}?dataset=swiss-roll&autoplay=0`);
  await shared.waitForFunction(() => document.querySelectorAll('.panel .backend[data-backend]').length === 2, null, { timeout: 60_000 });
  const fallback = await shared.evaluate(() => document.getElementById('dataset').value);
  if (fallback !== 'checkerboard') fail(`an unknown dataset in the URL gave '${fallback}'`);

  // Views. Trajectories: both panels draw paths; time slider: t = 0 and t = 1 differ.
  await page.selectOption('#view', 'trajectories');
  await page.waitForFunction(() => [...document.querySelectorAll('canvas.samples')].every((c) => c.dataset.view === 'trajectories'), null, { timeout: 60_000 });
  const pathPixels = await page.$$eval('canvas.samples', (cs) => cs.map((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0; // path colour: blue dominant
    for (let k = 0; k < d.length; k += 4) if (d[k + 2] > 100 && d[k + 2] > d[k] + 30) n++;
    return n;
  }));
  console.log('trajectory pixels per panel:', pathPixels);
  if (!pathPixels.every((n) => n > 2000)) fail(`trajectories view draws too little: ${pathPixels}`);
  await mkdir('artifacts', { recursive: true });
  await page.screenshot({ path: 'artifacts/e2e-trajectories.png', fullPage: true });

  await page.selectOption('#view', 'time');
  const slide = async (t) => {
    await page.$eval('#t', (el, v) => { el.value = v; el.dispatchEvent(new Event('input')); }, String(t));
    await page.waitForFunction((v) => [...document.querySelectorAll('canvas.samples')].every((c) => c.dataset.view === 'time' && Number(c.dataset.t) === v), t, { timeout: 60_000 });
    return page.$$eval('canvas.samples', (cs) => cs.map((c) => c.toDataURL()));
  };
  const atStart = await slide(0);
  const atEnd = await slide(1);
  if (atStart.some((img, k) => img === atEnd[k])) fail('the time slider does not change the drawing');
  await slide(0.5);
  // Play sweeps t: the drawn time moves on its own, and stops on pause.
  const drawnT = () => page.$eval('canvas.samples', (c) => Number(c.dataset.t));
  await page.click('#t-play');
  await page.waitForTimeout(1500);
  const t1 = await drawnT();
  // A KL row in progress (up to seconds at 6x256 on a busy CPU) delays the next picture.
  await page.waitForFunction((t) => Number(document.querySelector('canvas.samples')?.dataset.t ?? t) !== t, t1, { timeout: 30_000 }).catch(() => {});
  const t2 = await drawnT();
  await page.click('#t-play');
  // Pictures lag the slider by what the workers have queued; once they reach its last value,
  // nothing moves any more.
  await page.waitForFunction(() => [...document.querySelectorAll('canvas.samples')]
    .every((c) => Number(c.dataset.t) === Number(document.getElementById('t').value)), null, { timeout: 60_000 });
  const t3 = await drawnT();
  await page.waitForTimeout(1500);
  const t4 = await drawnT();
  console.log(`time sweep: t ${t1} -> ${t2} while playing, ${t3} -> ${t4} paused`);
  if (t1 === t2 || t3 !== t4) fail(`the time sweep does not play and pause: ${t1} ${t2} ${t3} ${t4}`);
  await slide(0.5);
  await page.screenshot({ path: 'artifacts/e2e-time.png', fullPage: true });
  await page.selectOption('#view', 'samples');

  // Switching the dataset retrains both panels on the new target and draws it: the faint target
  // points (colour #2a3346) of eight Gaussians fall on odd checkerboard cells, the checkerboard's
  // never do.
  const oddShare = () => page.$$eval('canvas.samples', (cs) => cs.map((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let all = 0, odd = 0;
    for (let k = 0; k < d.length; k += 4) {
      if (d[k] !== 42 || d[k + 1] !== 51 || d[k + 2] !== 70) continue;
      const p = k / 4, x = ((p % c.width) / c.width) * 5 - 2.5, y = 2.5 - (Math.floor(p / c.width) / c.height) * 5;
      all++;
      if (Math.abs(x) < 2 && Math.abs(y) < 2 && (Math.floor(x + 2) + Math.floor(y + 2)) % 2 === 1) odd++;
    }
    return all > 1000 ? odd / all : -1;
  }));
  const before = await oddShare();
  await page.selectOption('#dataset', 'eight-gaussians');
  await page.waitForFunction(() => [...document.querySelectorAll('.panel')].every((p) => p.dataset.dataset === 'eight-gaussians'), null, { timeout: 60_000 });
  await page.click('#play');
  await page.waitForFunction(() => [...document.querySelectorAll('.panel .rate')].every((r) => Number((/step (\d+)/.exec(r.textContent) || [0, 1e9])[1]) >= 30 && Number(/step (\d+)/.exec(r.textContent)[1]) < 20000), null, { timeout: 60_000 });
  await page.click('#play');
  await page.waitForTimeout(1000);
  const after = await oddShare();
  console.log(`target points on odd cells: checkerboard ${before}, eight Gaussians ${after}`);
  if (!before.every((f) => f >= 0 && f < 0.02) || !after.every((f) => f > 0.2)) fail(`dataset switch did not redraw the target: ${before} -> ${after}`);
  if (!(await page.url()).includes('dataset=eight-gaussians')) fail('the URL does not record the dataset');

  // Draw your own: paint a horizontal stroke in the upper half, train on it; its target points
  // lie in that band, and the URL carries the drawing.
  await page.selectOption('#dataset', 'drawn');
  await page.click('#draw-clear');
  const box = await page.locator('#draw-canvas').boundingBox();
  await page.mouse.move(box.x + 0.15 * box.width, box.y + 0.25 * box.height);
  await page.mouse.down();
  for (let f = 0.15; f <= 0.85; f += 0.05) await page.mouse.move(box.x + f * box.width, box.y + 0.25 * box.height);
  await page.mouse.up();
  await page.click('#draw-train');
  await page.waitForFunction(() => [...document.querySelectorAll('.panel')].every((p) => p.dataset.dataset === 'drawn'), null, { timeout: 60_000 });
  // Choosing 'drawn' already trained the default drawing: wait (up to a minute) for the
  // painted one's target, then measure.
  const inBand = () => [...document.querySelectorAll('canvas.samples')].map((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let all = 0, inside = 0;
    for (let k = 0; k < d.length; k += 4) {
      if (d[k] !== 42 || d[k + 1] !== 51 || d[k + 2] !== 70) continue;
      const row = Math.floor(k / 4 / c.width) / c.height;
      all++;
      if (row > 0.15 && row < 0.35) inside++;
    }
    return all > 1000 ? inside / all : -1;
  });
  await page.waitForFunction(`(${inBand})().every((f) => f > 0.95)`, null, { timeout: 60_000, polling: 500 }).catch(() => {});
  const band = await page.evaluate(inBand);
  console.log('drawn target points inside the painted band:', band);
  if (!band.every((f) => f > 0.95)) fail(`the drawn target is not where it was painted: ${band}`);
  if (!(await page.url()).includes('draw=')) fail('the URL does not carry the drawing');
  await page.screenshot({ path: 'artifacts/e2e-drawn.png', fullPage: true });
} catch (e) {
  fail(e.stack || String(e));
}
await finish({ browser, server, errors, fail, passed: 'e2e passed (screenshot: artifacts/e2e.png)' });
