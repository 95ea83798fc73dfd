// @ts-check
// Trunk post-build hook: the WebGPU module. Trunk builds the page's module (flowmap_bg.wasm:
// the CPU backends only, no Cargo features); this adds flowmap_gpu.js / flowmap_gpu_bg.wasm, the
// same crate with wgpu and Burn's kernel fusion (Cargo feature `fusion`), about a third of the
// dispatches per training step of unfused wgpu. Only browsers with a WebGPU adapter fetch it, for
// 'auto''s trial and for training on WebGPU (www/worker-wasm.js), so a first visit does not wait for
// it. The same RUSTFLAGS as every wasm build (.cargo/config.toml), so its dependencies are built
// once and cached like the others.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stripNames } from './strip-names.mjs';

const staging = process.env.TRUNK_STAGING_DIR;
if (!staging) throw new Error('webgpu-module: run as a trunk hook (TRUNK_STAGING_DIR is not set)');
const root = join(import.meta.dirname, '..');
/** @param {string} cmd @param {string[]} args */
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
/** @param {string[]} args */
const cargo = (args) => execFileSync('cargo', args, { cwd: root, encoding: 'utf8' });

run('cargo', ['build', '--release', '--target', 'wasm32-unknown-unknown', '--no-default-features', '--features', 'fusion', '--lib']);
const target = JSON.parse(cargo(['metadata', '--format-version', '1', '--no-deps'])).target_directory;
run('wasm-bindgen', ['--target', 'web', '--out-dir', staging, '--out-name', 'flowmap_gpu',
  join(target, 'wasm32-unknown-unknown', 'release', 'flowmap.wasm')]);
// Hooks may run side by side: this one strips its own module's names.
const file = join(staging, 'flowmap_gpu_bg.wasm');
const before = readFileSync(file);
const after = stripNames(before);
if (!WebAssembly.validate(/** @type {Uint8Array<ArrayBuffer>} */ (after))) throw new Error('webgpu-module: the stripped module does not validate');
writeFileSync(file, after);
console.log(`webgpu-module: flowmap_gpu_bg.wasm (fusion), ${before.length} -> ${after.length} bytes without names`);
