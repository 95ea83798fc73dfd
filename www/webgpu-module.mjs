// @ts-check
// Trunk post-build hook: the WebGPU module. Trunk builds the page's module (flowmap_bg.wasm:
// the CPU backends only, no Cargo features); this adds flowmap_gpu.js / flowmap_gpu_bg.wasm, the
// same crate with wgpu and Burn's kernel fusion (Cargo feature `fusion`), about a third of the
// dispatches per training step of unfused wgpu. Only browsers with a WebGPU adapter fetch it, for
// 'auto''s trial and for training on WebGPU (www/worker-wasm.js), so a first visit does not wait for
// it. The same RUSTFLAGS as every wasm build (.cargo/config.toml), so its dependencies are built
// once and cached like the others.
//
// `./dev.sh serve` sets FLOWMAP_WEBGPU_LATER=1: the first time (no WebGPU build yet), the hook
// starts that build in the background and returns, so the page is served as soon as its own
// module is built; the WebGPU module lands in dist/ when done (until then 'auto' stays on the
// CPU: the worker retries a failed load). Later builds, with the cache warm, run it in line.
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stripNames } from './strip-names.mjs';

const root = join(import.meta.dirname, '..');
/** @param {string} cmd @param {string[]} args */
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
/** @param {string[]} args */
const cargo = (args) => execFileSync('cargo', args, { cwd: root, encoding: 'utf8' });
const release = join(JSON.parse(cargo(['metadata', '--format-version', '1', '--no-deps'])).target_directory, 'wasm32-unknown-unknown', 'release');
const built = join(release, '.flowmap-webgpu-built'); // a WebGPU build has finished here once

/** Builds the WebGPU module and writes flowmap_gpu.js / _bg.wasm / .d.ts into `out`. @param {string} out */
function buildInto(out) {
  run('cargo', ['build', '--release', '--target', 'wasm32-unknown-unknown', '--no-default-features', '--features', 'fusion', '--lib']);
  // The page's build writes the same file: take this one's bytes at once.
  const dir = mkdtempSync(join(tmpdir(), 'flowmap-gpu-'));
  try {
    const copy = join(dir, 'flowmap.wasm');
    copyFileSync(join(release, 'flowmap.wasm'), copy);
    run('wasm-bindgen', ['--target', 'web', '--out-dir', out, '--out-name', 'flowmap_gpu', copy]);
  } finally {
    rmSync(dir, { recursive: true, force: true }); // 40 MB a build otherwise
  }
  // Hooks may run side by side: this one strips its own module's names.
  const file = join(out, 'flowmap_gpu_bg.wasm');
  const before = readFileSync(file);
  const after = stripNames(before);
  if (!WebAssembly.validate(/** @type {Uint8Array<ArrayBuffer>} */ (after))) throw new Error('webgpu-module: the stripped module does not validate');
  writeFileSync(file, after);
  writeFileSync(built, '');
  console.log(`webgpu-module: flowmap_gpu_bg.wasm (fusion), ${before.length} -> ${after.length} bytes without names, in ${out}`);
}

const into = process.argv.indexOf('--into');
if (into > 0) {
  // The background build (below). When the build that ran this hook finishes, trunk empties
  // dist/ and moves its staging directory's files in, then removes it: write only after that
  // (a cached build is done in seconds).
  const [dist, staging] = process.argv.slice(into + 1, into + 3);
  const sleep = new Int32Array(new SharedArrayBuffer(4));
  for (let waited = 0; existsSync(staging) && waited < 600_000; waited += 500) Atomics.wait(sleep, 0, 0, 500);
  buildInto(dist);
} else {
  const staging = process.env.TRUNK_STAGING_DIR;
  const dist = process.env.TRUNK_DIST_DIR;
  if (!staging || !dist) throw new Error('webgpu-module: run as a trunk hook (TRUNK_STAGING_DIR is not set)');
  if (process.env.FLOWMAP_WEBGPU_LATER === '1' && !existsSync(built)) {
    spawn(process.execPath, [import.meta.filename, '--into', dist, staging], { cwd: root, detached: true, stdio: 'inherit' }).unref();
    console.log('webgpu-module: the WebGPU module builds in the background (first time: several minutes); the page trains on the CPU until it lands in dist/');
  } else {
    buildInto(staging);
  }
}
