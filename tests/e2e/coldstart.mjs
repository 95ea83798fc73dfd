// What a first visitor waits for: the built site (dist/) opened in headless Chromium with an
// empty cache, served gzip-compressed, on an unthrottled loopback and on a 10 Mbit/s link with
// 40 ms latency (one link shared by all downloads, throttled by the server, so the workers'
// wasm downloads count too). Prints bytes transferred, time to the first drawn sample and to the
// first training step (the page's performance marks, from navigation). A benchmark: it prints
// figures and fails only if the page does not start.
//
//   node tests/e2e/coldstart.mjs       (after `trunk build --release`)
import { serve, launch } from './harness.mjs';

const LINKS = [
  { name: 'loopback', bitsPerSecond: 0, latencyMs: 0 },
  { name: '10 Mbit/s, 40 ms', bitsPerSecond: 10e6, latencyMs: 40 },
];

const browser = await launch();
const rows = [];
try {
  for (const link of LINKS) {
    const { server, base, stats } = await serve({ gzip: true, ...link });
    const context = await browser.newContext(); // a fresh profile: empty HTTP cache
    const page = await context.newPage();
    const wait = (name) => page.waitForFunction((n) => performance.getEntriesByName(n).length > 0, name, { timeout: 300_000 });
    await page.goto(base);
    await wait('flowmap:first-sample');
    await wait('flowmap:first-step');
    const [sample, step] = await page.evaluate(() => ['flowmap:first-sample', 'flowmap:first-step']
      .map((n) => performance.getEntriesByName(n)[0].startTime / 1000));
    rows.push({ link: link.name, mb: stats.bytes / 1e6, requests: stats.requests, sample, step });
    console.log(`${link.name}: ${(stats.bytes / 1e6).toFixed(2)} MB in ${stats.requests} requests, first sample drawn at ${sample.toFixed(2)} s, first training step at ${step.toFixed(2)} s`);
    await context.close();
    server.close();
  }
} catch (e) {
  console.error(`coldstart FAILED: ${e.stack || e}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
if (rows.length) {
  console.log('\n| link | transferred | requests | first sample drawn | first training step |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.link} | ${r.mb.toFixed(2)} MB | ${r.requests} | ${r.sample.toFixed(2)} s | ${r.step.toFixed(2)} s |`);
}
