// Shared by the page test and the in-tab benchmark: serve dist/ from a subpath (as GitHub Pages
// does) and launch Debian's Chromium headless through playwright-core.
import { chromium } from 'playwright-core';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { gzipSync } from 'node:zlib';

export const DIST = new URL('../../dist/', import.meta.url).pathname;
export const SUBPATH = '/flowmap-demo/';
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css', '.png': 'image/png', '.fmap': 'application/octet-stream' };

/**
 * Serves DIST under SUBPATH on a free loopback port; resolves to {server, base, stats}.
 * Options model a visitor's link: `gzip` compresses responses for clients that accept it (as
 * static hosts do), `bitsPerSecond` shares one link of that rate among all responses (so two
 * parallel downloads each get half), `latencyMs` delays each response's first byte.
 * `stats.bytes` counts the bytes sent.
 */
export function serve({ gzip = false, bitsPerSecond = 0, latencyMs = 0 } = {}) {
  const stats = { bytes: 0, requests: 0 };
  let linkFreeAt = 0; // when the shared link has sent everything queued so far
  const zipped = new Map();
  const send = async (res, body) => {
    if (!bitsPerSecond) { stats.bytes += body.length; res.end(body); return; }
    const chunk = 16384;
    for (let at = 0; at < body.length; at += chunk) {
      const part = body.subarray(at, at + chunk);
      linkFreeAt = Math.max(linkFreeAt, Date.now()) + (part.length * 8 * 1000) / bitsPerSecond;
      const wait = linkFreeAt - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      stats.bytes += part.length;
      res.write(part);
    }
    res.end();
  };
  const server = createServer(async (req, res) => {
    stats.requests++;
    const url = new URL(req.url, 'http://x');
    if (!url.pathname.startsWith(SUBPATH)) { res.writeHead(404).end('outside the subpath'); return; }
    let rel = normalize(url.pathname.slice(SUBPATH.length)).replace(/^(\.\.[/\\])+/, '');
    if (rel === '' || rel === '.' || rel.endsWith('/')) rel = join(rel, 'index.html');
    let body;
    try { body = await readFile(join(DIST, rel)); } catch { res.writeHead(404).end('not found'); return; }
    const headers = { 'content-type': TYPES[extname(rel)] || 'application/octet-stream' };
    if (gzip && /\bgzip\b/.test(req.headers['accept-encoding'] || '')) {
      if (!zipped.has(rel)) zipped.set(rel, gzipSync(body, { level: 6 }));
      body = zipped.get(rel);
      headers['content-encoding'] = 'gzip';
    }
    if (latencyMs) await new Promise((r) => setTimeout(r, latencyMs));
    res.writeHead(200, headers);
    await send(res, body);
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok({ server, base: `http://127.0.0.1:${server.address().port}${SUBPATH}`, stats })));
}

/** Headless Chromium without network chatter; `webgpu` adds --enable-unsafe-webgpu. */
export function launch({ webgpu = false } = {}) {
  const args = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'];
  if (webgpu) args.push('--enable-unsafe-webgpu', '--enable-unsafe-swiftshader');
  return chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args });
}

/**
 * In the page (pass to `page.evaluate`): per panel, its method, the sample pixels drawn, the KL
 * table's cells, the progress line, the noise floor and the error line.
 */
export function panelSummaries() {
  return [...document.querySelectorAll('.panel')].map((p) => {
    const c = p.querySelector('canvas.samples');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let drawn = 0; // pixels in the sample colour (blue dominant, bright): not background or cells
    for (let k = 0; k < d.length; k += 4) if (d[k + 2] > 120 && d[k + 2] > d[k] + 40) drawn++;
    return {
      method: p.querySelector('.method').value,
      drawn,
      kl: [...p.querySelectorAll('.kl tbody td')].map((td) => td.textContent),
      rate: p.querySelector('.rate').textContent,
      floor: Number((/noise floor ([\d.]+)/.exec(p.querySelector('.floor').textContent) || [0, NaN])[1]),
      error: p.querySelector('.error').textContent,
    };
  });
}

/** The core checks of trained panels (from `panelSummaries`); `fail(message)` for each miss. */
export function checkPanels(panels, fail) {
  for (const p of panels) {
    console.log(`${p.method}: ${p.drawn} sample pixels, KL ${p.kl.join(' ')}, ${p.rate}`);
    if (p.drawn < 500) fail(`${p.method}: the samples canvas is (nearly) empty: ${p.drawn} pixels`);
    const kls = p.kl.map(Number);
    // A few seconds of training are far from the target: every N above the estimator's floor
    // (20k samples: about 0.05), and none absurd.
    if (!(p.floor > 0.02 && p.floor < 0.1)) fail(`${p.method}: noise floor ${p.floor} is not the 20k-sample one`);
    if (kls.length !== 5 || !kls.every((k) => k > p.floor && k < 10)) fail(`${p.method}: KL table not between the floor and 10: ${p.kl}`);
    if (!/step \d+/.test(p.rate)) fail(`${p.method}: no training progress shown`);
    if (p.error) fail(`${p.method}: error shown: ${p.error}`);
  }
}

/**
 * The end of an e2e script: close the browser and the server, fail for every console error
 * collected, and say `passed` if nothing failed.
 */
export async function finish({ browser, server, errors, fail, passed }) {
  await browser.close();
  server.close();
  for (const e of errors) fail(e);
  if (!process.exitCode) console.log(passed);
}

/**
 * CPU time of the running Chromium, per process kind and thread name, read from /proc (Linux;
 * elsewhere `sample()` returns an empty map). `sample()` gives seconds used so far as a Map
 * 'gpu-process/CrGpuMain' -> s; `since(before, after)` the seconds between two samples, the
 * busiest first. Used to say where a stall's time goes (issue 25: the trial's WebGPU work).
 */
export async function chromiumCpu() {
  const { readdir, readFile: read } = await import('node:fs/promises');
  const TICKS = 100; // USER_HZ on Linux
  const stat = async (path) => {
    const s = await read(path, 'utf8');
    const close = s.lastIndexOf(')');
    const fields = s.slice(close + 2).split(' ');
    return { name: s.slice(s.indexOf('(') + 1, close), ticks: Number(fields[11]) + Number(fields[12]) };
  };
  const sample = async () => {
    const used = new Map();
    let pids = [];
    try { pids = (await readdir('/proc')).filter((p) => /^\d+$/.test(p)); } catch { return used; }
    for (const pid of pids) {
      try {
        // Chromium rewrites its children's argv into one space-separated string.
        const cmd = (await read(`/proc/${pid}/cmdline`, 'utf8')).split(/[\0 ]/);
        if (!/chrom/.test(cmd[0] || '')) continue;
        const type = (cmd.find((a) => a.startsWith('--type=')) || '--type=browser').slice(7);
        const sub = cmd.find((a) => a.startsWith('--utility-sub-type='));
        const kind = sub ? `${type}:${sub.split('.').pop()}` : type;
        for (const tid of await readdir(`/proc/${pid}/task`)) {
          const { name, ticks } = await stat(`/proc/${pid}/task/${tid}/stat`);
          const key = `${kind}/${name.replace(/\d+$/, '#')}`;
          used.set(key, (used.get(key) || 0) + ticks / TICKS);
        }
      } catch { /* the process or thread ended meanwhile */ }
    }
    return used;
  };
  const since = (before, after) => [...after]
    .map(([k, s]) => [k, s - (before.get(k) || 0)])
    .filter(([, s]) => s >= 0.05)
    .sort((a, b) => b[1] - a[1]);
  return { sample, since };
}
