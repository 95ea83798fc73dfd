// 'auto' never stalls the run (issue 25), in headless Chromium on the built site with a software
// WebGPU adapter present (SwiftShader), default settings, a first visit: both panels train from
// the first seconds, each panel's step count rises in every 10 s window from 10 s to 90 s, and
// each panel's note says why it stays on the CPU (the adapter is SwiftShader: not timed, no
// WebGPU module downloaded), and the KL table's first row shows (the table is computed between
// training slices). Before the fix both panels stood still from about 20 s to 75 s.
//
//   node tests/e2e/auto.mjs      (after `trunk build --release`)
import { serve, launch, finish, chromiumCpu } from './harness.mjs';

function fail(msg) { console.error(`auto FAILED: ${msg}`); process.exitCode = 1; }

const { server, base } = await serve();
const errors = [];
const browser = await launch({ webgpu: true });
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
  const fetched = [];
  page.on('request', (r) => fetched.push(new URL(r.url()).pathname));
  const steps = () => page.$$eval('.panel .rate', (es) => es.map((e) => Number((/step (\d+)/.exec(e.textContent) || [0, 0])[1])));

  const cpu = await chromiumCpu();
  let used = await cpu.sample();
  const t0 = Date.now();
  await page.goto(base); // the defaults: backend auto, two panels, autoplay
  const seen = [];
  for (let at = 10; at <= 90; at += 10) {
    await new Promise((r) => setTimeout(r, t0 + at * 1000 - Date.now()));
    seen.push({ at, steps: await steps() });
    const now = await cpu.sample();
    const top = cpu.since(used, now).slice(0, 5).map(([k, s]) => `${k} ${s.toFixed(1)}`).join(', ');
    console.log(`${at - 10}-${at} s: steps ${seen.at(-1).steps.join('/')}; CPU s: ${top}`);
    used = now;
  }
  console.log(`steps at ${seen.map((s) => `${s.at} s: ${s.steps.join('/')}`).join(', ')}`);
  for (let k = 1; k < seen.length; k++) {
    seen[k].steps.forEach((n, p) => {
      const before = seen[k - 1].steps[p];
      if (!(n > before)) fail(`panel ${p} stood still from ${seen[k - 1].at} s to ${seen[k].at} s (step ${before} -> ${n})`);
    });
  }
  if (seen[0].steps.length !== 2) fail(`expected two panels, saw ${seen[0].steps.length}`);
  const notes = await page.$$eval('.panel .note', (es) => es.map((e) => e.textContent));
  const backends = await page.$$eval('.panel .backend', (es) => es.map((e) => e.dataset.backend));
  const status = await page.textContent('#status');
  console.log(`notes: ${notes.join(' | ')}; backends ${backends.join('/')}; status: ${status}`);
  notes.forEach((n, p) => {
    if (!/^WebGPU not timed: the adapter is (SwiftShader, a software renderer|a fallback \(software\) adapter) → CPU \(flex\)$/.test(n)) fail(`panel ${p}'s note must say why the CPU: ${n}`);
  });
  if (backends.some((b) => b !== 'flex')) fail(`a panel left the CPU: ${backends}`);
  // The KL table is computed beside training, not instead of it: its first row is there.
  const firstRows = await page.$$eval('.panel .kl', (ts) => ts.map((t) => t.dataset.firstStep));
  if (firstRows.some((s) => s === undefined)) fail(`no KL row shown by 90 s: ${firstRows}`);
  if (/timed beside it/.test(status)) fail(`the status line still says WebGPU is being timed: ${status}`);
  if (fetched.some((f) => f.includes('flowmap_gpu'))) fail('the WebGPU module was downloaded for a software adapter');
} catch (e) {
  fail(e.stack || e.message);
}
await finish({ browser, server, errors, fail, passed: 'auto passed' });
