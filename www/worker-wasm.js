// @ts-check
// The training worker's wasm modules: which build of the crate the session comes from, loading
// the WebGPU build, and the watch on the WebGPU device.
import * as pageGlue from './flowmap.js';
import { die } from './worker-state.js';

// Two builds of the crate: the page's module (flowmap.js: the CPU backends only, 0.9 MB
// gzipped), compiled once by the page, and the WebGPU module (flowmap_gpu.js: wgpu with Burn's
// kernel fusion, 5.1 MB gzipped), fetched only when a session runs on WebGPU or 'auto' times
// it. `Session` is the class of the module the current session comes from; saved runs are
// bytes, so a run moves between modules with save_run / resume.
export let { Session, wasm_memory_bytes } = pageGlue;
/** @typedef {typeof import('./flowmap_gpu.js')} GpuGlue */
/** @typedef {typeof pageGlue | GpuGlue} Glue either module's glue: the same API */
/** @type {Promise<GpuGlue> | null} */
let gpuGlue = null; // the WebGPU module's glue, loading or loaded (a failed load is retried)
/** @type {string | null} */
let gpuBroken = null; // why the WebGPU module cannot be used in this worker (it trapped)
/** @param {Glue} glue */
export const useGlue = (glue) => { ({ Session, wasm_memory_bytes } = glue); };
// The WebGPU module trapped (a failed move of the run there): it is not loaded again.
/** @param {string} why */
export const breakWebgpu = (why) => { gpuBroken = why; };
export function webgpuGlue() {
  if (gpuBroken) return Promise.reject(new Error(gpuBroken));
  if (!gpuGlue) {
    gpuGlue = (async () => {
      const glue = await import('./flowmap_gpu.js');
      await glue.default({ module_or_path: new URL('flowmap_gpu_bg.wasm', import.meta.url) });
      return glue;
    })();
    gpuGlue.catch(() => { gpuGlue = null; });
  }
  return gpuGlue;
}
// The crate says which names mean WebGPU (the page's module answers: it has the same rules).
/** @param {import('./flowmap.js').Options} [options] @returns {Promise<Glue>} */
export const glueFor = async (options) => (pageGlue.Session.needs_webgpu(options || {}) ? webgpuGlue() : pageGlue);

// WebGPU device loss (driver reset, GPU removed, some systems in the background): Burn does not
// report it, so watch the device it asks the adapter for. A lost device cannot be used again.
/** @type {GPUDevice | null} */
export let gpuDevice = null;
if (self.GPUAdapter && GPUAdapter.prototype.requestDevice) {
  const requestDevice = GPUAdapter.prototype.requestDevice;
  /** @param {...GPUDeviceDescriptor} args */
  GPUAdapter.prototype.requestDevice = async function (...args) {
    /** @type {GPUDevice} */
    const device = await requestDevice.apply(this, args);
    gpuDevice = device;
    device.lost.then((info) => die('device-lost', `the WebGPU device was lost (${info.reason || 'unknown'}${info.message ? `: ${info.message}` : ''})`));
    return device;
  };
}
