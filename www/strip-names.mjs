// @ts-check
// Trunk post-build hook: drop the wasm's function-name and producers sections from the shipped
// site (about 6 MB of 34; browsers need neither, panics in the page then show wasm offsets
// instead of Rust names). Test builds (wasm-pack) keep them. A wasm module is a header and a
// list of sections (id byte, LEB128 size, payload); a custom section (id 0) starts with its
// name. Everything else is copied byte for byte.
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DROP = new Set(['name', 'producers']);

/**
 * Unsigned LEB128 at `at`: [value, bytes read].
 * @param {Uint8Array} bytes @param {number} at @returns {[number, number]}
 */
function leb(bytes, at) {
  let value = 0, shift = 0, k = at;
  for (;;) {
    const b = bytes[k++];
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [value, k - at];
    shift += 7;
  }
}

/** @param {Uint8Array} bytes @returns {Uint8Array} */
export function stripNames(bytes) {
  const magic = [0x00, 0x61, 0x73, 0x6d];
  if (!magic.every((b, k) => bytes[k] === b)) throw new Error('strip-names: not a wasm module');
  const kept = [bytes.subarray(0, 8)];
  let at = 8;
  while (at < bytes.length) {
    const [size, n] = leb(bytes, at + 1);
    const end = at + 1 + n + size;
    if (end > bytes.length) throw new Error('strip-names: truncated section');
    let drop = false;
    if (bytes[at] === 0) {
      const [len, m] = leb(bytes, at + 1 + n);
      const nameAt = at + 1 + n + m;
      drop = DROP.has(new TextDecoder().decode(bytes.subarray(nameAt, nameAt + len)));
    }
    if (!drop) kept.push(bytes.subarray(at, end));
    at = end;
  }
  return Buffer.concat(kept);
}

// As the hook (not when imported for stripNames, as www/webgpu-module.mjs does).
// FLOWMAP_KEEP_NAMES=1 keeps them, for a profile with Rust names (tests/e2e/profile.mjs).
if (process.env.TRUNK_STAGING_DIR && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url) && process.env.FLOWMAP_KEEP_NAMES) {
  console.log('strip-names: names kept (FLOWMAP_KEEP_NAMES)');
} else if (process.env.TRUNK_STAGING_DIR && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = join(process.env.TRUNK_STAGING_DIR, 'flowmap_bg.wasm');
  const before = readFileSync(file);
  const after = stripNames(before);
  if (!WebAssembly.validate(/** @type {Uint8Array<ArrayBuffer>} */ (after))) throw new Error('strip-names: the stripped module does not validate');
  writeFileSync(file, after);
  console.log(`strip-names: ${before.length} -> ${after.length} bytes`);
}
