// The in-tab benchmark (www/bench.html) in headless Chromium; prints a table.
//   node tests/e2e/bench.mjs speed [flex ndarray]
//   node tests/e2e/bench.mjs quality [flex]      (120 s of training, KL every 15 s)
//   METHOD=psd-mid node tests/e2e/bench.mjs quality flex   (default lsd)
//   node tests/e2e/bench.mjs gpu webgpu           (WebGPU calls per step; SwiftShader here)
//   SIZES=browser node tests/e2e/bench.mjs gpu webgpu   (one size; gpu mode runs WebGPU without
//                                                      fusion (./dev.sh bench builds it) and with)
//   MODULES=gpu node tests/e2e/bench.mjs gpu webgpu     (the shipped, fused module only: no
//                                                      extra build after trunk build)
//   node tests/e2e/bench.mjs parallel flex      (data-parallel: K = 1 and 2 workers, 60 s each,
//                                                steps/s and the time to KL(N=1) 0.405;
//                                                EXTRA='&workers=1,2,4&batches=256,512&seconds=90';
//                                                &apart=1: two workers that never exchange, K = 2's ceiling)
import { serve, launch } from './harness.mjs';

//   EXTRA='&width=256&lr=0.003' node tests/e2e/bench.mjs quality flex   (recipe overrides)
const mode = process.argv[2] || 'speed';
const backends = process.argv.slice(3).length ? process.argv.slice(3) : ['flex', 'ndarray'];
const method = process.env.METHOD || 'lsd';
const extra = `&method=${encodeURIComponent(method)}${process.env.SIZES ? `&sizes=${process.env.SIZES}` : ''}${process.env.EXTRA || ''}`;
const { server, base } = await serve();
const browser = await launch({ webgpu: mode === 'gpu' || backends.includes('webgpu') });
try {
  const gpuModules = process.env.MODULES ? process.env.MODULES.split(',') : ['unfused', 'gpu'];
  const runs = backends.flatMap((backend) => (mode === 'gpu' ? gpuModules : ['page']).map((module) => ({ backend, module })));
  for (const { backend, module } of runs) {
    const page = await browser.newPage();
    page.on('console', (m) => console.log(`  [tab] ${m.text()}`));
    await page.goto(`${base}bench.html?mode=${mode}&backend=${backend}&module=${module}${extra}`);
    await page.waitForFunction(() => window.benchResult, null, { timeout: 900_000, polling: 1000 });
    const r = await page.evaluate(() => window.benchResult);
    if (r.error) throw new Error(r.error);
    if (mode === 'gpu') {
      console.log(`\nWebGPU calls per training step (one train_step call per step), ${module === 'gpu' ? 'the WebGPU module (flowmap_gpu.js): Burn\'s fusion on' : 'WebGPU without fusion (flowmap_unfused.js)'}`);
      console.log('| method  | size            | batch | dispatches | submits | buffer maps | ms/step here | loss after |');
      console.log('|---------|-----------------|-------|------------|---------|-------------|--------------|------------|');
      for (const x of r.result) {
        console.log(`| ${x.method.padEnd(7)} | ${x.size.padEnd(15)} | ${String(x.batch).padStart(5)} | ${String(x.dispatches).padStart(10)} | ${String(x.submits).padStart(7)} | ${String(x.maps).padStart(11)} | ${x.ms.toFixed(0).padStart(12)} | ${x.loss.toFixed(5).padStart(10)} |`);
      }
    } else if (mode === 'speed') {
      console.log(`\nheadless Chromium, wasm (simd128), backend ${backend}`);
      console.log('| method  | size          | batch | ms/step | GFLOP/step | GFLOP/s |');
      console.log('|---------|---------------|-------|---------|------------|---------|');
      for (const x of r.result) {
        console.log(`| ${x.method.padEnd(7)} | ${x.size.padEnd(13)} | ${String(x.batch).padStart(5)} | ${x.ms.toFixed(1).padStart(7)} | ${x.gflop.toFixed(3).padStart(10)} | ${x.gflops.toFixed(1).padStart(7)} |`);
      }
    } else if (mode === 'parallel') {
      console.log(`\nheadless Chromium, backend ${backend}, ${method}, browser default recipe${process.env.EXTRA ? ` with ${process.env.EXTRA}` : ''}, data-parallel workers (KL with 100k samples)`);
      console.log(`| workers | batch | steps/s | ms/step | own shard ms | apply ms | exchange ms | KL(N=1) at end | time to KL(N=1) <= ${r.result.target} |`);
      console.log('|---------|-------|---------|---------|--------------|----------|-------------|----------------|---------------------|');
      for (const x of r.result.rows) {
        if (x.kl1 == null) { // two workers apart (&apart=1): no exchange, no evaluation
          console.log(`| ${String(x.workers).padStart(7)} | ${String(x.batch).padStart(5)} | ${x.steps_per_sec.toFixed(1).padStart(7)} | ${x.ms.toFixed(2).padStart(7)} | ${x.own_ms.toFixed(2).padStart(12)} | ${'–'.padStart(8)} | ${'–'.padStart(11)} | replica: ${x.replica_steps_per_sec.toFixed(1)} steps/s | ${'–'.padStart(19)} |`);
          continue;
        }
        console.log(`| ${String(x.workers).padStart(7)} | ${String(x.batch).padStart(5)} | ${x.steps_per_sec.toFixed(1).padStart(7)} | ${x.ms.toFixed(2).padStart(7)} | ${x.own_ms.toFixed(2).padStart(12)} | ${x.apply_ms.toFixed(2).padStart(8)} | ${x.exchange_ms.toFixed(2).padStart(11)} | ${x.kl1.toFixed(3).padStart(8)} (${x.seconds.toFixed(0)} s) | ${(x.seconds_to_target == null ? 'not reached' : `${x.seconds_to_target.toFixed(1)} s`).padStart(19)} |`);
      }
      // Against one worker at the same total batch: K = 2's speed-up, and the most it could be
      // (two workers apart).
      for (const one of r.result.rows.filter((x) => x.workers === 1)) {
        const at = (/** @type {unknown} */ w) => r.result.rows.find((x) => x.workers === w && x.batch === one.batch);
        const two = at(2);
        const apart = at('2 apart');
        console.log(`batch ${one.batch}: K=2 / K=1 ${two ? `${(two.steps_per_sec / one.steps_per_sec).toFixed(2)}x` : '–'}${apart ? `, two workers apart / K=1 ${(apart.steps_per_sec / one.steps_per_sec).toFixed(2)}x (the ceiling)` : ''}`);
      }
      for (const x of r.result.rows.filter((x) => x.kl1 != null)) console.log(`K=${x.workers} batch ${x.batch} curve: ${x.curve.map((c) => `${c.seconds.toFixed(0)}s/${c.steps}:${c.kl1.toFixed(3)}`).join(' ')}`);
    } else {
      console.log(`\nheadless Chromium, backend ${backend}, ${method}, browser default recipe${process.env.EXTRA ? ` with ${process.env.EXTRA}` : ''}, KL with 100k samples (noise floor ${r.result.noise_floor.toFixed(3)})`);
      console.log('| training time | steps | KL(N=1) | KL(N=4) |');
      console.log('|---------------|-------|---------|---------|');
      for (const x of r.result.rows) console.log(`| ${String(x.seconds).padStart(11)} s | ${String(x.steps).padStart(5)} | ${x.kl1.toFixed(3).padStart(7)} | ${x.kl4.toFixed(3).padStart(7)} |`);
    }
    await page.close();
  }
} finally {
  await browser.close();
  server.close();
}
