// A panel trained by several workers (issue 22), in headless Chromium on the built site:
//   1. the count: the crate's rule shares the cores among the panels; `?workers=2` gives one
//      panel two, the header says so, and a bad value is refused in the panel, training on; a
//      fresh run of the preset's batch takes twice the batch on two workers, a chosen one is kept;
//   2. the replicas' copies of the run equal the run bit for bit after training;
//   3. a replica that traps is replaced, training goes on, the copies equal the run again; with
//      three workers too (the replicas exchange shards through ports);
//   4. shipped weights of another network (a new session) and a reload (resume) with two
//      workers: the copies follow;
//   5. divergence with two workers offers the last saved run, which trains again on two.
//
//   node tests/e2e/workers.mjs      (after `trunk build --release`)
import { serve, launch, finish } from './harness.mjs';

function fail(msg) { console.error(`workers FAILED: ${msg}`); process.exitCode = 1; }

const { server, base } = await serve();
const errors = [];
const stepOf = (page) => page.$eval('.panel .rate', (e) => Number((/step (\d+)/.exec(e.textContent) || [0, -1])[1]));
const waitSteps = (page, atLeast, timeout = 120_000) => page.waitForFunction((s) => {
  const e = document.querySelector('.panel .rate');
  return e && Number((/step (\d+)/.exec(e.textContent) || [0, -1])[1]) >= s;
}, atLeast, { timeout }).catch(async (e) => {
  const seen = await page.evaluate(() => ['.rate', '.note', '.error', '.workers'].map((s) => document.querySelector(`.panel ${s}`).textContent)).catch(() => 'no answer');
  throw new Error(`the panel did not reach step ${atLeast}: ${JSON.stringify(seen)}\n${e.message}`);
});
const ready = (page, n = 1) => page.waitForFunction((n) => window.flowmap && window.flowmap.panels.length === n
  && window.flowmap.panels.every((p) => p.ready), n, { timeout: 120_000 });
const workersShown = (page, k = 0) => page.$eval(`.panel:nth-child(${k + 1}) .workers`, (e) => Number(e.dataset.workers || 0));
const waitWorkers = (page, n, k = 0) => page.waitForFunction(([n, k]) =>
  Number(document.querySelectorAll('.panel .workers')[k]?.dataset.workers) === n, [n, k], { timeout: 60_000 })
  .catch(async () => { throw new Error(`panel ${k} does not show ${n} workers: "${await page.$eval(`.panel:nth-child(${k + 1}) .workers`, (e) => `${e.textContent} (${e.title})`)}"`); });
const toggle = (page) => page.click('#play');
const pause = async (page) => {
  await toggle(page);
  await page.waitForFunction(() => document.getElementById('play').textContent.includes('Play'));
};
const play = async (page) => {
  await toggle(page);
  await page.waitForFunction(() => document.getElementById('play').textContent.includes('Pause'));
};
// Every replica's copy of the run against the run, asked of the panel's worker while paused.
const agree = (page) => page.evaluate(() => window.flowmap.panels[0].ask({ type: 'test-replicas' }, 'replicas'));

const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`page: ${e.message}`));

  // 1. Two panels share the cores; then one panel asks for two.
  await page.goto(`${base}?backend=flex&autoplay=0`);
  await ready(page, 2);
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  const share = Math.max(1, Math.min(8, Math.floor(cores / 2)));
  await waitWorkers(page, share, 0);
  await waitWorkers(page, share, 1);
  console.log(`two panels on ${cores} cores: ${share} worker(s) each`);
  await page.goto(`${base}?backend=flex&methods=lsd&workers=2&autoplay=0`);
  await ready(page);
  await waitWorkers(page, 2);
  console.log(`?workers=2: the header says "${await page.textContent('.panel .workers')}"`);
  // The preset's batch doubles on two workers (the crate's batch_for_workers); a chosen one is kept.
  const preset = Number(await page.inputValue('#batch'));
  const batchShown = () => page.textContent('.panel .batch');
  await page.waitForFunction((b) => document.querySelector('.panel .batch')?.textContent === `batch ${b}`, 2 * preset, { timeout: 30_000 })
    .catch(async () => fail(`two workers did not grow the preset's batch ${preset}: "${await batchShown()}"`));
  console.log(`the preset's batch ${preset} on two workers: "${await batchShown()}"`);
  await page.goto(`${base}?backend=flex&methods=lsd&workers=2&batch=${preset + 64}&autoplay=0`);
  await ready(page);
  await waitWorkers(page, 2);
  if (await batchShown() !== `batch ${preset + 64}`) fail(`a chosen batch ${preset + 64} was changed: "${await batchShown()}"`);
  await page.goto(`${base}?backend=flex&methods=lsd&workers=2&autoplay=0`);
  await ready(page);
  await waitWorkers(page, 2);

  // 2. Train on two workers; the copies are the run.
  await play(page);
  await waitSteps(page, 300);
  await pause(page);
  const a = await agree(page);
  console.log(`after ${await stepOf(page)} steps on two workers: ${a.count} replica, bit-identical: ${a.same}`);
  if (a.count !== 1 || !a.same) fail(`the replica's copy is not the run: ${JSON.stringify(a)}`);

  // A bad count is refused in the panel; the run keeps its two workers and trains.
  await page.fill('#workers', '0');
  await page.dispatchEvent('#workers', 'change');
  await page.waitForFunction(() => document.querySelector('.panel .error')?.textContent.includes('workers must be'), null, { timeout: 30_000 });
  console.log(`workers=0: "${await page.textContent('.panel .error')}"`);
  if (await page.inputValue('#workers') !== '') fail('a refused count stays in the control');
  // The automatic count: this machine's cores for the one panel.
  const auto = Math.max(1, Math.min(8, cores));
  await waitWorkers(page, auto);
  await page.fill('#workers', '2');
  await page.dispatchEvent('#workers', 'change');
  await waitWorkers(page, 2);

  // 3. A replica traps: it is replaced, the run goes on, and the copies agree again.
  const before = await stepOf(page);
  await page.evaluate(() => window.flowmap.panels[0].send({ type: 'test-crash-replica' }));
  await play(page);
  await waitSteps(page, before + 200);
  await pause(page);
  const b = await agree(page);
  console.log(`a replica trapped at step ${before}: now step ${await stepOf(page)}, ${b.count} replica, bit-identical: ${b.same}`);
  if (b.count !== 1 || !b.same) fail(`after a replica died the copy is not the run: ${JSON.stringify(b)}`);
  if (await workersShown(page) !== 2) fail('the dead replica was not replaced');

  // 3b. Three workers: the two replicas send each other their shards through MessagePorts. The
  // copies are the run; a replica that traps leaves the other waiting for its shard, and the
  // new copies release it: the run goes on on three, the copies agree again.
  await page.fill('#workers', '3');
  await page.dispatchEvent('#workers', 'change');
  await waitWorkers(page, 3);
  const three = await stepOf(page);
  await play(page);
  await waitSteps(page, three + 100);
  await pause(page);
  const t = await agree(page);
  console.log(`three workers, step ${three} to ${await stepOf(page)}: ${t.count} replicas, bit-identical: ${t.same}`);
  if (t.count !== 2 || !t.same) fail(`on three workers the copies are not the run: ${JSON.stringify(t)}`);
  const trapped = await stepOf(page);
  await page.evaluate(() => window.flowmap.panels[0].send({ type: 'test-crash-replica', mid_step: true }));
  await play(page);
  await waitSteps(page, trapped + 100);
  await pause(page);
  const u = await agree(page);
  console.log(`a replica of three trapped in the step after ${trapped}: now step ${await stepOf(page)}, ${u.count} replicas, bit-identical: ${u.same}`);
  if (u.count !== 2 || !u.same) fail(`after a replica of three died the copies are not the run: ${JSON.stringify(u)}`);
  await page.fill('#workers', '2');
  await page.dispatchEvent('#workers', 'change');
  await waitWorkers(page, 2);

  // 4. Shipped weights of another network (6x256: a new session), then trained on two workers.
  await page.click('.panel .pretrained');
  await page.waitForFunction(() => document.querySelector('.panel .arch')?.textContent === '6×256', null, { timeout: 60_000 });
  const loaded = await stepOf(page);
  await play(page);
  await waitSteps(page, loaded + 20, 180_000);
  await pause(page);
  const c = await agree(page);
  console.log(`pretrained 6x256 loaded at step ${loaded}, trained to ${await stepOf(page)}: bit-identical: ${c.same}`);
  if (!c.same) fail('after loading weights the copy is not the run');
  // A reload resumes the saved run on two workers.
  const saved = await page.evaluate(() => window.flowmap.snapshot().then((r) => r.panels[0].step));
  await page.goto(`${page.url()}&autoplay=0`); // a reload (the URL holds the settings)
  await ready(page);
  await waitWorkers(page, 2);
  if (await stepOf(page) !== saved) fail(`resumed at step ${await stepOf(page)}, saved ${saved}`);
  await play(page);
  await waitSteps(page, saved + 20, 180_000);
  await pause(page);
  const d = await agree(page);
  console.log(`reloaded: resumed at step ${saved} on two workers, trained on: bit-identical: ${d.same}`);
  if (!d.same) fail('after a resume the copy is not the run');

  // 5. Divergence on two workers: the restore offer, and the restored run trains on two.
  await page.goto(`${base}?lr=1&methods=lsd&backend=flex&workers=2`);
  await page.waitForFunction(() => document.querySelector('.panel .error')?.textContent.includes('diverged'), null, { timeout: 120_000 });
  console.log(`divergence on two workers: ${await page.textContent('.panel .error')}`);
  await page.click('.restore');
  await page.waitForFunction(() => document.querySelector('.panel .note')?.textContent.includes('with lr 0.500'), null, { timeout: 60_000 });
  await ready(page);
  await waitWorkers(page, 2);
  console.log(`restored: ${await page.textContent('.panel .note')}`);
} catch (e) {
  fail(e.stack || e.message);
}
await finish({ browser, server, errors, fail, passed: 'workers passed' });
