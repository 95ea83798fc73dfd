// Where a tab's training step goes (issue 22, item 5): Chromium's sampling profiler (the
// DevTools protocol's Profiler domain) over one train_step call of the browser recipe in
// bench.html (mode=train), self time per wasm function and per kind of work. Needs a build
// that keeps the wasm's function names (the shipped site strips them):
//   FLOWMAP_KEEP_NAMES=1 trunk build --release && node tests/e2e/profile.mjs [method] [steps]
//   EXTRA='&workers=2' node tests/e2e/profile.mjs lsd 300   (the leader of two workers: this
//                                                            thread's share of a pool step)
// Then rebuild without it before the other e2e tests (they check the shipped bytes).
import { serve, launch } from './harness.mjs';

const method = process.argv[2] || 'lsd';
const steps = Number(process.argv[3] || 300);
const INTERVAL_US = 100;
// Kinds of work by the function's Rust path (first match wins).
const KINDS = [
  ['matrix products (gemm)', /gemm|matmul|microkernel/i],
  ['activations (GELU/SiLU, erf, exp)', /gelu|erf|silu|sigmoid|tanh|\bexp|activation/i],
  ['optimizer (AdamW, EMA, clipping)', /adamw|optim|ema\b|clip/i],
  ['memory (alloc, free, copies)', /alloc|dlmalloc|free|memcpy|memmove|memset|clone|copy|to_vec|drop_in_place|realloc/i],
  ['element-wise and reductions', /binary|unary|elementwise|broadcast|reduce|sum|mean|mul|add|sub|div|pow|sqrt|cat|slice|reshape|transpose|permute/i],
  ['autodiff bookkeeping', /autodiff|backward|graph|checkpoint|node|step/i],
];
const kind = (name, url) => {
  if (url && url.endsWith('.js')) return 'JavaScript (glue, bench)';
  if (/^\((idle|program|garbage collector|root)\)$/.test(name)) return name;
  for (const [k, re] of KINDS) if (re.test(name)) return k;
  return 'other';
};

const { server, base } = await serve();
const browser = await launch();
try {
  const page = await browser.newPage();
  await page.goto(`${base}bench.html?mode=train&wait=1&backend=flex&method=${method}&steps=${steps}${process.env.EXTRA || ''}`);
  await page.waitForFunction(() => window.benchReady || window.benchResult, null, { timeout: 300_000 });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: INTERVAL_US });
  await cdp.send('Profiler.start');
  await page.evaluate(() => window.benchGo());
  await page.waitForFunction(() => window.benchResult, null, { timeout: 600_000, polling: 500 });
  const { profile } = await cdp.send('Profiler.stop');
  const r = await page.evaluate(() => window.benchResult);
  if (r.error) throw new Error(r.error);
  // Self time per node: its samples times their time deltas.
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) || 0) + (profile.timeDeltas[i + 1] || 0)));
  const fns = new Map();
  let total = 0;
  for (const [id, us] of self) {
    const { functionName, url } = byId.get(id).callFrame;
    const name = functionName || '(anonymous)';
    const k = kind(name, url);
    if (k === '(idle)' || k === '(root)') continue;
    total += us;
    const f = fns.get(name) || { us: 0, kind: k };
    f.us += us;
    fns.set(name, f);
  }
  const kinds = new Map();
  for (const f of fns.values()) kinds.set(f.kind, (kinds.get(f.kind) || 0) + f.us);
  const pct = (us) => `${((100 * us) / total).toFixed(1)}%`;
  console.log(`\n${method}, browser recipe, ${steps} steps in one train_step call: ${r.result.ms.toFixed(2)} ms/step, ${r.result.gflops.toFixed(1)} GFLOP/s; ${(total / 1e6).toFixed(2)} s profiled (${INTERVAL_US} µs samples)`);
  console.log('| kind of work | share of the profiled time |\n|---|---|');
  for (const [k, us] of [...kinds].sort((a, b) => b[1] - a[1])) console.log(`| ${k} | ${pct(us)} |`);
  console.log('\n| function (self time) | kind | share | µs a step |\n|---|---|---|---|');
  for (const [name, f] of [...fns].sort((a, b) => b[1].us - a[1].us).slice(0, 40)) console.log(`| \`${name.slice(0, 110)}\` | ${f.kind} | ${pct(f.us)} | ${(f.us / steps).toFixed(1)} |`);
} finally {
  await browser.close();
  server.close();
}
