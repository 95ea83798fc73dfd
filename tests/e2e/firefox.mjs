// The page's core checks in Firefox (Debian's firefox-esr, driven by puppeteer-core over
// WebDriver BiDi): both panels pick a working backend and train, the canvases draw, the KL
// tables lie between the noise floor and 10, the pretrained LSD weights load and score, and the
// console shows no error. Firefox ESR has no WebGPU, so `auto` must fall back to the CPU.
//
//   node tests/e2e/firefox.mjs         (after `trunk build --release`)
import puppeteer from 'puppeteer-core';
import { mkdir } from 'node:fs/promises';
import { serve, panelSummaries, checkPanels, finish } from './harness.mjs';

const FIREFOX = process.env.FIREFOX || '/usr/bin/firefox-esr';
const TRAIN_SECONDS = Number(process.env.E2E_TRAIN_SECONDS || 25);

function fail(msg) { console.error(`firefox e2e FAILED: ${msg}`); process.exitCode = 1; }

const { server, base } = await serve();
const browser = await puppeteer.launch({ browser: 'firefox', executablePath: FIREFOX, headless: true });
const errors = [];
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1200, height: 1000 });
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
  const t0 = Date.now();
  await page.goto(base);
  await page.waitForFunction(() => document.querySelectorAll('.panel .backend[data-backend]').length === 2, { timeout: 180_000 });
  const backends = await page.$$eval('.panel .backend', (els) => els.map((e) => `${e.textContent} (${e.title})`));
  console.log(`Firefox ${await browser.version()}: both sessions ready after ${((Date.now() - t0) / 1000).toFixed(1)} s:`, backends);

  // Up to TRAIN_SECONDS, or until both panels reach step 150 (enough for checkPanels' bounds).
  await page.waitForFunction(() => [...document.querySelectorAll('.panel .rate')]
    .every((r) => Number((/step (\d+)/.exec(r.textContent) || [0, 0])[1]) >= 150), { timeout: TRAIN_SECONDS * 1000 }).catch(() => {});
  await page.click('#play'); // pause: the KL tables refresh for the trained models
  const stepOf = (rate) => Number((/step (\d+)/.exec(rate) || [0, 0])[1]);
  const steps = (await page.$$eval('.panel .rate', (els) => els.map((e) => e.textContent))).map(stepOf);
  if (!steps.every((s) => s >= 20)) fail(`the panels barely trained in ${TRAIN_SECONDS} s: steps ${steps}`);
  await page.waitForFunction((want) => [...document.querySelectorAll('.panel .kl')]
    .every((t, k) => Number(t.dataset.step) >= want[k]), { timeout: 180_000 }, steps);
  await mkdir('artifacts', { recursive: true });
  await page.screenshot({ path: 'artifacts/firefox.png', fullPage: true });
  checkPanels(await page.evaluate(panelSummaries), fail);

  const lsd = (sel) => `.panel:nth-child(1) ${sel}`;
  await page.click(lsd('.pretrained'));
  await page.waitForFunction((sel) => Number(document.querySelector(sel)?.dataset.firstStep) >= 20000, { timeout: 180_000 }, lsd('.kl'));
  const kl1 = Number(await page.$eval(lsd('.kl tbody td'), (td) => td.textContent));
  console.log(`pretrained LSD in Firefox: KL(N=1) ${kl1}`);
  if (!(kl1 < 0.3)) fail(`pretrained LSD scores KL(N=1) ${kl1}, expected < 0.3`);

  // Two workers for one panel (nested workers, tests/e2e/workers.mjs has the rest): it trains,
  // and the replica's copy of the run is the run, bit for bit.
  await page.goto(`${base}?backend=flex&methods=lsd&workers=2`);
  await page.waitForFunction(() => Number(document.querySelector('.panel .workers')?.dataset.workers) === 2, { timeout: 180_000 });
  await page.waitForFunction(() => Number((/step (\d+)/.exec(document.querySelector('.panel .rate')?.textContent ?? '') || [0, 0])[1]) >= 100, { timeout: 180_000 });
  await page.click('#play');
  const agree = await page.evaluate(() => new Promise((r) => setTimeout(r, 500)).then(() => window.flowmap.panels[0].ask({ type: 'test-replicas' }, 'replicas')));
  console.log(`two workers in Firefox: ${await page.$eval('.panel .rate', (e) => e.textContent)}; replica bit-identical: ${agree.same}`);
  if (agree.count !== 1 || !agree.same) fail(`the replica's copy is not the run in Firefox: ${JSON.stringify(agree)}`);
} catch (e) {
  fail(e.stack || String(e));
}
await finish({ browser, server, errors, fail, passed: 'firefox e2e passed (screenshot: artifacts/firefox.png)' });
