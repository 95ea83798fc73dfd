// Soak: both panels train for SOAK_MINUTES (default 30) in headless Chromium while the script
// switches views, N and datasets every few seconds, downloads weights, loads the pretrained
// ones and forces autosaves. Every minute it records each worker's wasm memory
// (WebAssembly.Memory, via the workers' 'stats') and the page's JS heap after a GC; it fails if
// either grows by more than 10% from the five minutes after SOAK_WARMUP (default 5) to the last
// five (least values of each, see the end), or if any error shows. Not part of `./dev.sh test` (it takes half an hour): `./dev.sh soak`.
import { serve, launch, finish } from './harness.mjs';

const MINUTES = Number(process.env.SOAK_MINUTES || 30);
const WARMUP = Number(process.env.SOAK_WARMUP || 5);
const ACTION_MS = 4000;

function fail(msg) { console.error(`soak FAILED: ${msg}`); process.exitCode = 1; }

const { server, base } = await serve();
const browser = await launch();
const errors = [];
const page = await browser.newPage({ viewport: { width: 1200, height: 1000 }, acceptDownloads: true });
page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
const cdp = await page.context().newCDPSession(page);

await page.goto(`${base}?backend=flex`);
await page.waitForFunction(() => window.flowmap && window.flowmap.panels.every((p) => p.ready), null, { timeout: 120_000 });

// Steps done in all: the panels' step counters, summed over the sessions (a dataset switch
// starts a new count; pretrained weights start at their own step, 20000, which is not counted).
let stepsDone = 0;
const lastStep = [0, 0];
const MAX_STEPS_BETWEEN_COUNTS = 5000;
async function countSteps() {
  const steps = await page.$$eval('.panel .rate', (els) => els.map((e) => Number((/step (\d+)/.exec(e.textContent) || [0, 0])[1])));
  steps.forEach((s, k) => {
    const d = s >= lastStep[k] ? s - lastStep[k] : s;
    if (d < MAX_STEPS_BETWEEN_COUNTS) stepsDone += d;
    lastStep[k] = s;
  });
}

// The JS heap after a full GC, least of three readings: a reading can catch a picture or a
// saved run in flight (the page's heap is ~2.5 MiB, and one message moves it by 10%).
async function memory() {
  let heap = Infinity;
  for (let k = 0; k < 3; k++) {
    await cdp.send('HeapProfiler.collectGarbage');
    heap = Math.min(heap, (await cdp.send('Runtime.getHeapUsage')).usedSize);
    await page.waitForTimeout(200);
  }
  const stats = await page.evaluate(() => window.flowmap.stats());
  return { heap, wasm: stats.map((s) => s.wasm_bytes) };
}

const VIEWS = ['samples', 'trajectories', 'time'];
const DATASETS = ['checkerboard', 'eight-gaussians', 'two-moons', 'spirals', 'rings'];
const actions = [
  async (k) => page.selectOption('#view', VIEWS[k % VIEWS.length]),
  async (k) => page.selectOption('#n', String([1, 2, 4, 8, 16][k % 5])),
  async (k) => { if (await page.isVisible('#t')) await page.fill('#t', String((k % 11) / 10)); },
  async () => page.click('.panel:nth-child(2) .save'),
  async () => page.evaluate(() => window.flowmap.snapshot()),
  async (k) => { if (k % 4 === 0) await page.selectOption('#dataset', DATASETS[(k / 4) % DATASETS.length]); },
  async () => { if ((await page.inputValue('#dataset')) === 'checkerboard') await page.click('.panel:nth-child(1) .pretrained'); },
];

const samples = [];
const t0 = Date.now();
let k = 0;
let nextSample = 0;
const mib = (b) => (b / 2 ** 20).toFixed(1);
while (Date.now() - t0 < MINUTES * 60_000) {
  const minute = (Date.now() - t0) / 60_000;
  if (minute >= nextSample) {
    await countSteps();
    const m = await memory();
    samples.push({ minute: Math.floor(minute), ...m, steps: stepsDone });
    console.log(`minute ${Math.floor(minute)}: wasm ${m.wasm.map(mib).join(' + ')} MiB, JS heap ${mib(m.heap)} MiB, ${stepsDone} steps`);
    nextSample += 1;
  }
  try {
    await actions[k % actions.length](Math.floor(k / actions.length));
  } catch (e) {
    fail(`action ${k % actions.length} failed: ${e.message}`);
  }
  k++;
  await page.waitForTimeout(ACTION_MS);
  await countSteps();
}
await countSteps();
const end = await memory();
samples.push({ minute: MINUTES, ...end, steps: stepsDone });
// Growth is judged on floors, so that one reading with a message in flight neither hides nor
// fakes a leak: the least value of the five minutes after WARMUP against the least of the last
// five. (Wasm memory only grows, so its floor is its size then.)
const window5 = (from, to) => samples.filter((s) => s.minute >= from && s.minute < to);
const early = window5(WARMUP, WARMUP + 5);
const late = window5(MINUTES - 5, Infinity);
const total = (s) => s.wasm.reduce((x, y) => x + y, 0);
const floor = (set, f) => Math.min(...set.map(f));
const [wasm0, wasm1] = [floor(early, total), floor(late, total)];
const [heap0, heap1] = [floor(early, (s) => s.heap), floor(late, (s) => s.heap)];
const grew = (a, b) => (b - a) / a;
console.log(`soak: ${MINUTES} min, ${k} actions, ${stepsDone} training steps; wasm ${mib(wasm0)} MiB in minutes ${WARMUP}-${WARMUP + 4}, ${mib(wasm1)} MiB in the last five; JS heap floor ${mib(heap0)} -> ${mib(heap1)} MiB; errors: ${errors.length}`);
const errorsShown = await page.$$eval('.panel .error', (els) => els.map((e) => e.textContent).filter(Boolean));
if (errorsShown.length) fail(`panels show errors: ${errorsShown.join(' | ')}`);
if (grew(wasm0, wasm1) > 0.1) fail(`wasm memory grew ${(100 * grew(wasm0, wasm1)).toFixed(1)}% after minute ${WARMUP}`);
if (grew(heap0, heap1) > 0.1) fail(`the JS heap grew ${(100 * grew(heap0, heap1)).toFixed(1)}% after minute ${WARMUP}`);
await finish({ browser, server, errors, fail, passed: 'soak passed' });
