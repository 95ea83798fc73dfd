// Trunk post-build hook: the page must not load the wasm (only the workers do), but trunk's
// rust pipeline always adds an initializer script and preload links for it. Remove them from
// the staged index.html. bench.html loads the wasm itself and is not touched.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const file = join(process.env.TRUNK_STAGING_DIR, 'index.html');
const html = readFileSync(file, 'utf8');
const stripped = html
  .replace(/<script type="module"[^>]*>\s*import init[^]*?<\/script>/, '')
  .replace(/<link rel="(module)?preload" href="\.\/flowmap(_bg\.wasm|\.js)"[^>]*>/g, '');
if (stripped.includes("from './flowmap.js'")) throw new Error('strip-page-wasm: initializer not removed');
writeFileSync(file, stripped);
