// Shared by the page test and the in-tab benchmark: serve dist/ from a subpath (as GitHub Pages
// does) and launch Debian's Chromium headless through playwright-core.
import { chromium } from 'playwright-core';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';

export const DIST = new URL('../../dist/', import.meta.url).pathname;
export const SUBPATH = '/flowmap-demo/';
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css', '.png': 'image/png', '.fmap': 'application/octet-stream' };

/** Serves DIST under SUBPATH on a free loopback port; resolves to {server, base}. */
export function serve() {
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    if (!url.pathname.startsWith(SUBPATH)) { res.writeHead(404).end('outside the subpath'); return; }
    let rel = normalize(url.pathname.slice(SUBPATH.length)).replace(/^(\.\.[/\\])+/, '');
    if (rel === '' || rel === '.' || rel.endsWith('/')) rel = join(rel, 'index.html');
    try {
      const body = await readFile(join(DIST, rel));
      res.writeHead(200, { 'content-type': TYPES[extname(rel)] || 'application/octet-stream' }).end(body);
    } catch { res.writeHead(404).end('not found'); }
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok({ server, base: `http://127.0.0.1:${server.address().port}${SUBPATH}` })));
}

/** Headless Chromium without network chatter; `webgpu` adds --enable-unsafe-webgpu. */
export function launch({ webgpu = false } = {}) {
  const args = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'];
  if (webgpu) args.push('--enable-unsafe-webgpu', '--enable-unsafe-swiftshader');
  return chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args });
}
