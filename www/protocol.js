// @ts-check
// The messages between a panel (panel.js) and its training worker (worker.js), as types: what
// each side may post, so that `tsc` checks every `send` and `post` and every handler's fields.
// The values the crate makes (Config, Options, Facts, StepReport, KlReport, Drawing, the views)
// take their types from the Rust structs (`#[derive(Tsify)]`, in the .d.ts wasm-bindgen writes
// into dist/): a field renamed in Rust fails the check here, not in the page. Nothing runs here.

/** @typedef {import('./flowmap.js').Config} Config */
/** @typedef {import('./flowmap.js').Options} Options */
/** @typedef {import('./flowmap.js').Facts} Facts */
/** @typedef {import('./flowmap.js').StepReport} StepReport */
/** @typedef {import('./flowmap.js').KlReport} KlReport */
/** @typedef {import('./flowmap.js').Drawing} Drawing */
/** @typedef {import('./flowmap.js').DensityMapView} DensityMapView */
/** @typedef {import('./flowmap.js').AgainstExactView} AgainstExactView */

/**
 * What the samples view draws: 'samples' (N-step samples), 'trajectories' (paths through the N
 * jumps), 'time' (X_{0,t} at slider time t, one network call), 'density' (the model's and
 * target's histograms and KL map at N), 'grid' (a grid of noise pushed through N jumps to t) or
 * 'exact' (the view against the exact map).
 * @typedef {'samples' | 'trajectories' | 'time' | 'density' | 'grid' | 'exact'} View
 */

/**
 * A target from a file: an image's `size` x `size` RGBA pixels, or CSV text of points.
 * @typedef {{type: 'target_file', kind: 'image', rgba: Uint8ClampedArray | Uint8Array, size: number, invert: boolean}
 *   | {type: 'target_file', kind: 'csv', text: string}} TargetFile
 */

/**
 * Page -> worker.
 * - `wasm`: the compiled WebAssembly.Module (the page compiles it once for all workers); the
 *   worker answers 'booted'.
 * - `init`: create (or re-create) the session. The crate checks both; a rejected one posts
 *   'error' and the old session goes on as it was.
 * - `resume`: continue a saved run (Session.save_run bytes) exactly; `lr` (optional) replaces its
 *   learning rate; `batch`, the recipe's, replaces a larger one grown on WebGPU when the run
 *   lands on the CPU; `seconds`, its training time so far.
 * - `snapshot`: save the run now (answers 'run'). `play` / `pause`: start / stop the loop.
 *   `step`: one optimizer step, then report.
 * - `set_n`: flow-map jumps for drawn samples (the crate's limits.max_n_steps bounds it).
 * - `set_view`: what 'samples' carries, at slider time `t`.
 * - `set_picks`: start points [x0, y0, ...] whose paths (N jumps, and the ODE finely) the
 *   samples view draws.
 * - `target_file`: answers 'target_made'. `kl_table`: compute the KL-vs-N table now.
 * - `save`: ask for the weights. `load`: replace them; with `adopt`, first take the
 *   checkpoint's width and depth (shipped weights). `stats`: answers 'stats'.
 * - `set_workers`: how many workers train this panel's run (replica-pool.js): the crate's rule
 *   (Session.workers_for) from the visitor's `cores`, the training `panels` and the URL's
 *   `requested` (null: none); answers 'workers'.
 * - `probe`: in a trial worker (started by a panel's worker under 'auto'): load the WebGPU
 *   module (answers 'probe-ready'), time this recipe on WebGPU, answer 'probe'.
 * - Tests only: `test-crash` fails as a wasm trap does (the page must replace this worker);
 *   `test-lose-device` destroys the WebGPU device; `test-trial` makes 'auto''s WebGPU trial
 *   answer with `gpu_ms` (its batch search stopping below `max_batch`), or (`any_adapter`) time
 *   even a software adapter;
 *   `test-crash-replica` traps one replica worker (it must be replaced; `mid_step`: at its next
 *   shard, before it sends it, so the other replicas wait for it); `test-replicas` answers
 *   'replicas': whether every replica's copy of the run is the run, bit for bit.
 * @typedef {{type: 'wasm', module: WebAssembly.Module}
 *   | {type: 'init', config: Config, options: Options}
 *   | {type: 'resume', bytes: Uint8Array, options: Options, lr?: number | null, seconds?: number, batch?: number}
 *   | {type: 'snapshot'} | {type: 'play'} | {type: 'pause'} | {type: 'step'} | {type: 'kl_table'}
 *   | {type: 'save'} | {type: 'stats'}
 *   | {type: 'set_n', n: number}
 *   | {type: 'set_view', view: View, t: number}
 *   | {type: 'set_picks', points: number[]}
 *   | TargetFile
 *   | {type: 'load', bytes: Uint8Array, adopt?: boolean}
 *   | {type: 'probe', config: Config, options: Options}
 *   | {type: 'set_workers', cores: number, panels: number, requested: number | null}
 *   | {type: 'test-crash'} | {type: 'test-lose-device'} | {type: 'test-crash-replica', mid_step?: boolean} | {type: 'test-replicas'}
 *   | {type: 'test-trial', gpu_ms?: number, any_adapter?: boolean, max_batch?: number}} Command
 */

/**
 * The pictures of one 'samples' message; which fields are set depends on `view`:
 * 'samples': `points` = N-step samples [x0, y0, x1, y1, ...], with picks `paths` = {map: N + 1
 * stages, ode: ODE_PATH_STEPS + 1 stages}; 'trajectories': `points` = the N + 1 stages of the
 * paths, one stage after the other, `reference` = their interpolant end points x1; 'time':
 * `points` = X_{0,t}(x0), `reference` = the interpolant I_t; 'density': `map`; 'grid': `points`
 * = the grid pushed to t, `grid` its shape; 'exact': `exact`, the view or why there is none
 * (a view has no `error`, so a reader may test `exact.error`).
 * @typedef {{type: 'samples', view: View, n: number, t: number,
 *   points: Float32Array | null, reference: Float32Array | null, map: DensityMapView | null,
 *   grid: {lines: number, per_line: number} | null,
 *   paths: {map: Float32Array, ode: Float32Array} | null,
 *   exact: (AgainstExactView & {error?: undefined}) | {error: string} | null}} Samples
 */

/**
 * 'auto''s timed trial, as the panel shows it: its sentence, and the batches timed on WebGPU.
 * @typedef {{note: string, batches?: [number, number][]}} TrialReport
 */

/**
 * Worker -> page.
 * - `booted`: wasm is loaded, the page may send 'init'; `facts` are the crate's (the page keeps
 *   no copies). `status`: slow phases (loading wasm, initialising WebGPU, ...).
 * - `ready`: a session exists (made, resumed or moved). `backend`: 'auto' decided by its timed
 *   trial, the run goes on; after a move to WebGPU a second one follows, `trial.note` saying the
 *   batch the search chose.
 * - `probe-ready`, `probe`: from a trial worker: it has the WebGPU module; WebGPU's ms per
 *   step, or why not.
 * - `run`: the whole run (Session.save_run) every AUTOSAVE_MS of training, on 'ready' and on
 *   'snapshot': the page stores it.
 * - `diverged`: training stopped, the loss diverged. `crashed`: the wasm instance trapped;
 *   `device-lost`: the WebGPU device is gone (this worker is dead in both).
 * - `stats`: wasm memory of this worker. `progress`: the last step's losses.
 * - `target`: samples of the target (the faint background). `samples`: the pictures.
 * - `target_made`: the drawing from 'target_file', or why not.
 * - `kl_table`: the flow map's rows at `step` after `seconds` of training (this session), sent
 *   once per row as the table fills (N = 1 first); `kl_ode`: the ODE's rows (Euler, Heun at
 *   the table's N) once the flow map's are complete.
 * - `saved`: the weights. `loaded`: new weights (trained `step` steps); training time restarts.
 * - `workers`: the workers this run trains on now (the leader and its replicas: `set_workers`'
 *   count, or fewer where the run cannot use it: WebGPU, a learned weighting, a tiny batch), the
 *   count asked for, and `note`, why fewer, if so; with `config` when a fresh run of the
 *   preset's batch took the larger batch its workers train better with (Session.batch_for_workers).
 *   `replicas`: the answer to 'test-replicas'.
 * - `error`: a failed command, the session keeps its state; `of` is 'init' or 'resume' when
 *   making a session failed, 'workers' when the page's count was refused.
 * @typedef {{type: 'booted', facts: Facts}
 *   | {type: 'status', text: string}
 *   | {type: 'ready', backend: string, note: string, config: Config, step: number, resumed: boolean}
 *   | {type: 'backend', backend: string, note: string, trial: TrialReport, config: Config, step: number}
 *   | {type: 'probe-ready'}
 *   | {type: 'probe', ms?: number, error?: string}
 *   | {type: 'run', bytes: Uint8Array, step: number, seconds: number}
 *   | {type: 'diverged', message: string, step: number}
 *   | {type: 'crashed' | 'device-lost', message: string}
 *   | {type: 'stats', wasm_bytes: number, step: number}
 *   | {type: 'progress', step: number, losses: StepReport, lr: number, steps_per_sec: number}
 *   | {type: 'target', points: Float32Array}
 *   | Samples
 *   | {type: 'target_made', drawing?: Drawing, error?: string}
 *   | {type: 'kl_table', rows: KlReport[], step: number, seconds: number, complete: boolean}
 *   | {type: 'kl_ode', rows: KlReport[], step: number}
 *   | {type: 'saved', bytes: Uint8Array}
 *   | {type: 'loaded', step: number, config: Config}
 *   | {type: 'workers', workers: number, wanted: number, note: string, config?: import('./flowmap.js').Config}
 *   | {type: 'replicas', count: number, same: boolean}
 *   | {type: 'error', message: string, of?: 'init' | 'resume' | 'workers'}} Reply
 */

export {};
