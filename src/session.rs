//! A training run as the page drives it, in plain Rust: train, sample, picture feeds, KL rows,
//! save and load, with every argument checked before anything changes. `web` wraps it for JS
//! (JS values in and out, the WebGPU device); everything here runs natively too, so `cargo test`
//! covers the checks.
//!
//! Numbers arrive as f64 because that is what a caller from JS has: a count of 2.5 or NaN is
//! rejected here with a message naming the argument, not truncated at the binding.

use crate::against_exact::{AgainstExact, ExactReference};
use crate::backend::Backend;
use crate::checkpoint;
use crate::config::{
    Config, MAX_ACTIVATIONS, MAX_BATCH, MAX_DEPTH, MAX_PARAMETERS, MAX_WIDTH, Method, ModelConfig,
};
use crate::eval::{DensityMap, Evaluator, PartialKl, REFERENCE_KL, TABLE_STEPS};
use crate::exact::ExactFlow;
use crate::interpolant::interpolate;
use crate::metrics::RANGE;
use crate::model::FlowMapNet;
use crate::readback;
use crate::rng::{Rng, Stream};
use crate::run_state;
use crate::sample::{MAX_STEPS, Sampler, jump, points_tensor};
use crate::trainer::{Losses, Trainer};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Most points one `sample`, `flow_to` or `interpolant` call returns, counting every stage of a
/// trajectory, and most samples per KL histogram: 8 MB of f32 pairs.
pub const MAX_POINTS: usize = 1_000_000;
/// Most network evaluations of one sampling call, points times jumps: 4096 points through 1024
/// jumps (the finest N the page offers); a 100k-sample KL row at N = 16 is 1.6M. Each argument
/// can be in range while their product runs for minutes (a million points through 1024 jumps);
/// this bounds the product.
pub const MAX_POINT_JUMPS: usize = 1 << 22;
/// Most optimizer steps one `train` call runs (the worker calls it in a loop).
pub const MAX_STEPS_PER_CALL: usize = 10_000;
/// Most replicas of one data-parallel run: a panel's share of a 64-core machine, far above what
/// a tab is given (navigator.hardwareConcurrency).
pub const MAX_SHARDS: usize = 64;

/// Most workers the page gives a panel by itself (`workers_for` without a request): each is a
/// wasm instance with its own copy of the run (tens of MB), and past 8 a shard of the browser
/// batch (1024 rows, 256 off the diagonal) is 32 off-diagonal rows, where the per-step
/// exchange of the gradient (one buffer per worker each way) costs more than the shard.
/// `?workers=` may ask for up to [`MAX_SHARDS`].
pub const MAX_AUTO_WORKERS: usize = 8;

/// How many workers a panel trains with (data-parallel replicas, itself included):
/// `requested` (the page's `?workers=`) if given, else the visitor's `cores`
/// (navigator.hardwareConcurrency; not a number where the browser hides it: then 1) shared
/// evenly among the `panels` that train, at least 1 and at most [`MAX_AUTO_WORKERS`]. A run
/// may use fewer ([`Session::max_shards`]).
pub fn workers_for(cores: f64, panels: f64, requested: Option<f64>) -> Result<usize, String> {
    if let Some(k) = requested {
        return whole(k, "workers", 1, MAX_SHARDS);
    }
    let panels = whole(panels, "panels", 1, MAX_SHARDS)?;
    let cores = if cores.is_finite() && cores >= 1.0 {
        cores.floor() as usize
    } else {
        1
    };
    Ok((cores / panels).clamp(1, MAX_AUTO_WORKERS))
}

/// The batch a fresh run of the page's recipe takes on `workers` data-parallel workers: the
/// browser preset's batch doubles from two workers on, any other batch (one the visitor chose) is
/// kept. Measured on the browser recipe (docs/speed.md, "Several workers per panel"): two workers
/// reach KL(N=1) 0.355 after 60 s with twice the batch against 0.396 with the same one (seeds
/// 0-2), where one worker is level (0.425 against 0.416). Only the doubling was measured, so four
/// or eight workers double it too rather than grow it further.
pub fn batch_for_workers(batch: usize, workers: usize) -> usize {
    if workers >= 2 && batch == Config::browser().train.batch_size {
        2 * batch
    } else {
        batch
    }
}

/// The K shards' gradient buffers summed entry by entry in the order 0, 1, .., K-1, in f32: the
/// one order every worker of a data-parallel run sums in, so that each holds the same bits
/// (float addition is not associative: (1 + 1e8) - 1e8 is 0 in f32, (1e8 - 1e8) + 1 is 1).
/// Refuses no buffers and buffers of different lengths, and leaves the buffers as they were.
pub fn sum_in_order(parts: &[&[f32]]) -> Result<Vec<f32>, String> {
    let (first, rest) = parts.split_first().ok_or("no shard gradients to sum")?;
    if let Some(k) = rest.iter().position(|p| p.len() != first.len()) {
        return Err(format!(
            "shard {} has {} gradient values where shard 0 has {}",
            k + 1,
            rest[k].len(),
            first.len()
        ));
    }
    // Plain zips: the compiler turns them into SIMD adds (f32x4 in the tab). The first pass
    // writes the sum of shards 0 and 1 into a new buffer, so no shard is copied on its own.
    let mut sum: Vec<f32> = match rest.first() {
        Some(second) => first
            .iter()
            .zip(second.iter())
            .map(|(a, b)| a + b)
            .collect(),
        None => first.to_vec(),
    };
    for part in rest.iter().skip(1) {
        for (s, g) in sum.iter_mut().zip(part.iter()) {
            *s += *g;
        }
    }
    Ok(sum)
}

/// Options of a session that are not part of the training config.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// "auto" (WebGPU if it initialises, else `cpu`), "webgpu", "ndarray" or "flex".
    pub backend: String,
    /// The CPU backend used by "auto" without WebGPU. flex is measured ~2x faster than ndarray
    /// in Chromium (see README); ndarray stays available.
    pub cpu: String,
    /// Samples per KL histogram. The reference estimator uses 100k; 20k keeps a table refresh
    /// around a second in a tab, and the reported noise floor is computed at the same size
    /// (fewer samples leave true bins empty in the model histogram and inflate KL through the
    /// 1e-8 floor: 10k gave ~1.2 where 100k gave ~0.7).
    pub eval_samples: usize,
    /// Points `sample` returns when no count is given.
    pub sample_count: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            backend: "auto".into(),
            cpu: "flex".into(),
            eval_samples: 20_000,
            sample_count: 4_000,
        }
    }
}

/// What a session runs on, as the options name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendChoice {
    /// WebGPU if it initialises, else the CPU backend.
    Auto { cpu: Backend },
    /// WebGPU or an error.
    WebGpu,
    /// This CPU backend.
    Cpu(Backend),
}

impl Options {
    /// Checks every option; the error names the option.
    pub fn validate(&self) -> Result<BackendChoice, String> {
        whole(
            self.eval_samples as f64,
            "options.eval_samples",
            1,
            MAX_POINTS,
        )?;
        whole(
            self.sample_count as f64,
            "options.sample_count",
            1,
            MAX_POINTS,
        )?;
        let cpu = match Backend::parse(&self.cpu) {
            Ok(b) if b.is_cpu() => b,
            _ => {
                return Err(format!(
                    "options.cpu must be flex or ndarray, got '{}'",
                    self.cpu
                ));
            }
        };
        match self.backend.as_str() {
            "auto" => Ok(BackendChoice::Auto { cpu }),
            "webgpu" | "wgpu" => Ok(BackendChoice::WebGpu),
            "flex" | "ndarray" => Ok(BackendChoice::Cpu(Backend::parse(&self.backend)?)),
            other => Err(format!(
                "options.backend must be auto, webgpu, flex or ndarray, got '{other}'"
            )),
        }
    }
}

/// The last step of a `train` or `apply_gradient` call.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
pub struct StepReport {
    #[serde(flatten)]
    pub losses: Losses,
    pub step: usize,
    pub lr: f64,
}

/// One row of the KL table.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
pub struct KlReport {
    /// "flow-map", "ode-euler" or "ode-heun".
    pub sampler: &'static str,
    pub n_steps: usize,
    /// Network calls per sample: N jumps, N Euler steps or 2N for Heun.
    pub calls: usize,
    pub kl: f64,
    pub noise_floor: f64,
    pub samples: usize,
    /// The training step whose sampling weights were scored.
    pub step: usize,
}

/// What a checkpoint holds, read without loading it.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
pub struct CheckpointInfo {
    pub width: usize,
    pub depth: usize,
    pub step: usize,
    /// The whole model config, activation and preconditioning included.
    pub model: ModelConfig,
}

/// The facts the page and the bench must agree with the crate on, in one object: the recipes,
/// the limits every check here enforces, the KL table's N values and the plot square.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
// The JSON-compatible serializer writes maps as objects: `Record`, not `Map`.
#[cfg_attr(target_arch = "wasm32", tsify(hashmap_as_object))]
pub struct Facts {
    /// Named recipes: `browser` (the page's defaults) and `reference` (the CLI's).
    pub presets: Presets,
    pub options: Options,
    pub limits: Limits,
    /// N of the KL table's columns.
    pub table_steps: Vec<usize>,
    /// The reference's KL table per method (checkerboard), for the chart.
    pub reference_kl: std::collections::BTreeMap<&'static str, Vec<f64>>,
    /// Half-width of the square every picture and the KL histogram cover.
    pub plot_range: f64,
    /// Bins per axis of the KL histogram (and of `density_map`).
    pub kl_bins: usize,
    /// The ways from noise to data the KL table and `push` offer, with their network calls
    /// per step: the flow map and the ODE it replaces.
    pub samplers: Vec<SamplerFacts>,
    /// Cells per side of a target made from an image or a CSV.
    pub file_grid: usize,
    /// The budget of `auto`'s timed trial (trial.rs).
    pub trial: crate::trial::TrialPlan,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
pub struct SamplerFacts {
    pub name: &'static str,
    pub calls_per_step: usize,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
pub struct Presets {
    pub browser: Config,
    pub reference: Config,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
pub struct Limits {
    pub max_width: usize,
    pub max_depth: usize,
    pub max_batch: usize,
    /// Bounds on products of fields: weights of the network, batch x width x depth.
    pub max_parameters: usize,
    pub max_activations: usize,
    pub max_n_steps: usize,
    pub max_points: usize,
    pub max_point_jumps: usize,
    pub max_steps_per_call: usize,
    /// Most workers one panel may ask for (`?workers=`).
    pub max_workers: usize,
}

impl Facts {
    pub fn get() -> Self {
        Self {
            presets: Presets {
                browser: Config::browser(),
                reference: Config::default(),
            },
            options: Options::default(),
            limits: Limits {
                max_width: MAX_WIDTH,
                max_depth: MAX_DEPTH,
                max_batch: MAX_BATCH,
                max_parameters: MAX_PARAMETERS,
                max_activations: MAX_ACTIVATIONS,
                max_n_steps: MAX_STEPS,
                max_points: MAX_POINTS,
                max_point_jumps: MAX_POINT_JUMPS,
                max_steps_per_call: MAX_STEPS_PER_CALL,
                max_workers: MAX_SHARDS,
            },
            table_steps: TABLE_STEPS.to_vec(),
            reference_kl: REFERENCE_KL
                .iter()
                .map(|(m, kl)| (Method::name(*m), kl.to_vec()))
                .collect(),
            plot_range: RANGE as f64,
            kl_bins: crate::metrics::BINS,
            samplers: Sampler::ALL
                .iter()
                .map(|s| SamplerFacts {
                    name: s.name(),
                    calls_per_step: s.calls_per_step(),
                })
                .collect(),
            file_grid: crate::target_file::FILE_GRID,
            trial: crate::trial::PLAN,
        }
    }
}

/// A training run with its evaluator and picture streams.
pub struct Session {
    trainer: Trainer,
    device: Device,
    evaluator: Evaluator,
    options: Options,
    /// Set when a `train` call met a diverged loss ([`Losses::diverged`]).
    diverged: bool,
    /// The KL row being computed in parts ([`Self::kl_begin`]), with the step of its weights.
    kl_row: Option<(PartialKl, usize)>,
    /// The weights the last row began on and their step: the other rows of a table score the
    /// same ones (`same_weights`).
    kl_weights: Option<(FlowMapNet, usize)>,
    /// The exact side of [`Self::against_exact`], made on its first call.
    exact_reference: Option<ExactReference>,
}

impl Session {
    /// A fresh run of `config` on `device` (a device of the backend `options` chose; the caller
    /// resolves "auto" and WebGPU). Rejects an invalid config or options with a message.
    pub fn new(config: Config, options: Options, device: &Device) -> Result<Self, String> {
        config.validate()?;
        options.validate()?;
        Ok(Self::around(Trainer::new(config, device)?, options, device))
    }

    /// A run continued from [`Self::save_run`] bytes exactly where it was: the same next steps,
    /// bit for bit, on the same backend. `lr`, if given, replaces the learning rate (to restore
    /// a run that diverged, more gently). A corrupt or inconsistent file is an error.
    pub fn resume(
        bytes: &[u8],
        options: Options,
        device: &Device,
        lr: Option<f64>,
    ) -> Result<Self, String> {
        options.validate()?;
        let mut state = run_state::decode(bytes)?;
        if let Some(lr) = lr {
            state.config.train.lr = lr;
            state.config.validate()?; // names the lr if it is out of range
        }
        Ok(Self::around(
            Trainer::resume(state, device)?,
            options,
            device,
        ))
    }

    fn around(trainer: Trainer, options: Options, device: &Device) -> Self {
        let config = trainer.config();
        let evaluator = Evaluator::new(
            config.train.dataset.clone(),
            options.eval_samples,
            config.train.seed,
            config.model.sigma,
        );
        Self {
            trainer,
            device: device.clone(),
            evaluator,
            options,
            diverged: false,
            kl_row: None,
            kl_weights: None,
            exact_reference: None,
        }
    }

    /// The whole run as bytes (run_state.rs): weights, EMA, AdamW's moments, the data stream.
    pub async fn save_run(&self) -> Result<Vec<u8>, String> {
        Ok(self.trainer.run_state().await?.encode())
    }

    /// Whether a `train` call met a diverged loss: the weights are then meaningless, and the
    /// page offers the last saved run with a lower learning rate.
    pub fn diverged(&self) -> bool {
        self.diverged
    }

    /// The full config in use (defaults filled in).
    pub fn config(&self) -> &Config {
        self.trainer.config()
    }

    /// Optimizer steps done so far.
    pub fn steps(&self) -> usize {
        self.trainer.steps_done()
    }

    /// Trains on with another batch size from the next step (`auto`'s batch search): the
    /// weights, moments and data stream go on; the schedule is unchanged. Rejects a batch the
    /// config's bounds refuse, and then changes nothing.
    pub fn set_batch_size(&mut self, batch: f64) -> Result<(), String> {
        let batch = whole(batch, "batch", 2, MAX_BATCH)?;
        let mut config = self.config().clone();
        config.train.batch_size = batch;
        config.validate()?; // batch x width x depth activations
        self.trainer.set_batch_size(batch);
        Ok(())
    }

    /// The largest batch this network may train with: [`MAX_BATCH`], and the activation
    /// bound's share for its width and depth.
    pub fn batch_limit(&self) -> usize {
        let m = &self.config().model;
        MAX_BATCH.min(MAX_ACTIVATIONS / (m.width * m.depth).max(1))
    }

    /// Floating-point operations of one optimizer step (matrix products).
    pub fn flops_per_step(&self) -> f64 {
        crate::flops::step_flops(self.trainer.config())
    }

    /// Runs `count` optimizer steps (default 1) and reports the last. A diverged loss is an
    /// error (the weights are then meaningless; the page asks for a reset).
    pub async fn train(&mut self, count: Option<f64>) -> Result<StepReport, String> {
        let count = match count {
            None => 1,
            Some(c) => whole(c, "count", 1, MAX_STEPS_PER_CALL)?,
        };
        let mut last = None;
        for _ in 0..count {
            last = Some(self.trainer.step());
        }
        let losses = last.expect("count >= 1").read().await?;
        let step = self.trainer.steps_done();
        if losses.diverged() {
            self.diverged = true;
            return Err(format!(
                "training diverged: the loss is {} at step {step}; lower the learning rate and reset",
                losses.total
            ));
        }
        Ok(StepReport {
            losses,
            step,
            lr: self.trainer.config().train.lr_at(step - 1),
        })
    }

    /// Data-parallel training, one replica's half of a step ([`Trainer::shard_gradient`]): the
    /// gradient of shard `shard` of `shards` of the next batch, one flat buffer, and the shard's
    /// share of the losses. The replicas' buffers and losses are summed by the caller and handed
    /// to every replica's [`Self::apply_gradient`].
    pub async fn shard_gradient(
        &mut self,
        shard: f64,
        shards: f64,
    ) -> Result<(Vec<f32>, Losses), String> {
        let shards = whole(shards, "shards", 1, MAX_SHARDS)?;
        let shard = whole(shard, "shard", 0, shards - 1)?;
        self.trainer.shard_gradient(shard, shards).await
    }

    /// Most shards a step of this run can be split into: a worker count above it trains on
    /// this many (see [`Trainer::max_shards`]), never above [`MAX_SHARDS`].
    pub fn max_shards(&self) -> usize {
        self.trainer.max_shards().min(MAX_SHARDS)
    }

    /// [`Self::apply_gradient`] of the shards' buffers and losses summed here, each in the order
    /// of the shards ([`sum_in_order`]; the losses `(diagonal, off_diagonal)` likewise, in f64):
    /// every worker of a run calls this with the same K buffers and applies the same bits.
    pub fn apply_shards(
        &mut self,
        gradients: &[&[f32]],
        losses: &[(f64, f64)],
    ) -> Result<StepReport, String> {
        if losses.len() != gradients.len() {
            return Err(format!(
                "{} shard gradients with {} pairs of losses",
                gradients.len(),
                losses.len()
            ));
        }
        let summed = sum_in_order(gradients)?;
        let (diagonal, off_diagonal) = losses
            .iter()
            .fold((0.0, 0.0), |(d, o), &(dk, ok)| (d + dk, o + ok));
        self.apply_gradient(&summed, diagonal, off_diagonal)
    }

    /// The other half: applies the summed gradient of all shards, whose summed loss terms are
    /// `diagonal` and `off_diagonal`. A diverged loss (the rule of [`Self::train`]) is an error
    /// and applies nothing; a gradient of the wrong size or not finite is refused and changes
    /// nothing.
    pub fn apply_gradient(
        &mut self,
        summed: &[f32],
        diagonal: f64,
        off_diagonal: f64,
    ) -> Result<StepReport, String> {
        self.trainer.check_gradient(summed)?;
        let step = self.trainer.steps_done() + 1;
        let losses = Losses::unweighted(diagonal as f32, off_diagonal as f32);
        if losses.diverged() {
            // As `train`: the weights that gave this loss are meaningless; the step is not
            // taken, and the next call may take a new shard (after a load or a reset).
            self.trainer.drop_shard();
            self.diverged = true;
            return Err(format!(
                "training diverged: the loss is {} at step {step}; lower the learning rate and reset",
                losses.total
            ));
        }
        self.trainer.apply_gradient(summed)?;
        Ok(StepReport {
            losses,
            step,
            lr: self.trainer.config().train.lr_at(step - 1),
        })
    }

    /// Points after `n_steps` jumps from the picture noise: `count * 2` numbers (default count
    /// from the options). With `with_trajectory`, all `n_steps + 1` stages one after the other,
    /// stage k at time k / n_steps.
    pub async fn sample(
        &self,
        n_steps: f64,
        count: Option<f64>,
        with_trajectory: bool,
    ) -> Result<Vec<f32>, String> {
        let n_steps = whole(n_steps, "n_steps", 1, MAX_STEPS)?;
        let count = self.count(count)?;
        bound_work(count, n_steps)?;
        let x0 = self.picture_base(count);
        self.carry(x0, count, 1.0, n_steps, Sampler::FlowMap, with_trajectory)
            .await
    }

    /// X_{0,t}(x0) for the same base points as `sample`: where the flow map puts the noise at
    /// time `t` in [0, 1], in one network call. `count * 2` numbers.
    pub async fn flow_to(&self, t: f64, count: Option<f64>) -> Result<Vec<f32>, String> {
        let t = unit_time(t)?;
        let count = self.count(count)?;
        let x = jump(
            &self.trainer.sampling_net(),
            self.picture_base(count),
            0.0,
            t,
        );
        readback::floats(x).await
    }

    /// The interpolant I_t = (1 - t) x0 + t x1 for the same base points x0 as `sample` and
    /// fixed target points x1 (independent of x0, as in training): its straight lines are what
    /// the flow map learns to untangle. At t = 1 these are samples of the target.
    pub fn interpolant(&self, t: f64, count: Option<f64>) -> Result<Vec<f32>, String> {
        let t = unit_time(t)?;
        let count = self.count(count)?;
        let train = &self.trainer.config().train;
        let x0 = self.picture_noise(count);
        let x1 = train
            .dataset
            .sample(&mut Rng::stream(train.seed, Stream::PictureTargets), count);
        Ok(x0
            .chunks(2)
            .zip(x1.chunks(2))
            .flat_map(|(a, b)| interpolate([a[0], a[1]], [b[0], b[1]], t))
            .collect())
    }

    /// KL(p_true || q_model) after `n_steps` steps (default 1, the one-jump headline) of
    /// `sampler` (default the flow map; "ode-euler" or "ode-heun" for the ODE it replaces, from
    /// the same base noise), with the estimator's noise floor.
    pub async fn kl(
        &self,
        n_steps: Option<f64>,
        sampler: Option<&str>,
    ) -> Result<KlReport, String> {
        let (sampler, n_steps) = self.sampler_steps(n_steps, sampler, self.evaluator.samples)?;
        let kl = self
            .evaluator
            .kl_with(&self.trainer.sampling_net(), &self.device, sampler, n_steps)
            .await?;
        Ok(self.kl_report(sampler, n_steps, kl, self.steps()))
    }

    fn kl_report(&self, sampler: Sampler, n_steps: usize, kl: f64, step: usize) -> KlReport {
        KlReport {
            sampler: sampler.name(),
            n_steps,
            calls: n_steps * sampler.calls_per_step(),
            kl,
            noise_floor: self.evaluator.noise_floor,
            samples: self.evaluator.samples,
            step,
        }
    }

    /// Begins the KL row of [`Self::kl`] on the current sampling weights, to compute in parts
    /// with [`Self::kl_continue`] while the run trains on (a page keeps training between parts;
    /// the row stays that of this step). With `same_weights`, on the weights the previous row
    /// began on instead, so that every row of a table scores one step. Replaces a row in
    /// progress.
    pub fn kl_begin(
        &mut self,
        n_steps: Option<f64>,
        sampler: Option<&str>,
        same_weights: bool,
    ) -> Result<(), String> {
        let (sampler, n_steps) = self.sampler_steps(n_steps, sampler, self.evaluator.samples)?;
        let (net, step) = match (&self.kl_weights, same_weights) {
            (Some(kept), true) => kept.clone(),
            _ => (self.trainer.sampling_net(), self.steps()),
        };
        self.kl_weights = Some((net.clone(), step));
        self.kl_row = Some((self.evaluator.begin(net, sampler, n_steps), step));
        Ok(())
    }

    /// Up to `points` more samples of the row begun by [`Self::kl_begin`]: the row's report
    /// (as [`Self::kl`], its step the one it was begun at) once all are in, else `None`.
    pub async fn kl_continue(&mut self, points: f64) -> Result<Option<KlReport>, String> {
        let points = whole(points, "points", 1, MAX_POINTS)?;
        let Some((row, step)) = &mut self.kl_row else {
            return Err("no KL row in progress: call kl_begin first".into());
        };
        let Some(kl) = self.evaluator.advance(row, &self.device, points).await? else {
            return Ok(None);
        };
        let ((sampler, n_steps), step) = (row.what(), *step);
        self.kl_row = None;
        Ok(Some(self.kl_report(sampler, n_steps, kl, step)))
    }

    /// The view against the exact map after `n_steps` jumps, for the picture noise (`sample`'s
    /// points): both endpoints, each point's error, and the one-jump error over the triangle
    /// of times. The exact side is computed on the first call (about a second); a target
    /// without a closed-form flow is an error naming it.
    pub async fn against_exact(&mut self, n_steps: f64) -> Result<AgainstExact, String> {
        let n_steps = whole(n_steps, "n_steps", 1, MAX_STEPS)?;
        let count = self.options.sample_count;
        bound_work(count, n_steps)?;
        let base = self.picture_noise(count);
        let reference = match self.exact_reference.take() {
            Some(r) => r,
            None => {
                let (dataset, sigma) = (&self.config().train.dataset, self.config().model.sigma);
                ExactReference::new(&ExactFlow::new(dataset, sigma)?, &base)
            }
        };
        let net = self.trainer.sampling_net();
        let view = reference.view(&net, &self.device, &base, n_steps).await;
        self.exact_reference = Some(reference);
        view
    }

    /// Where the KL of [`Self::kl`] comes from: the model's and the target's histograms on the
    /// estimator's grid and each bin's term, which sum to the same KL.
    pub async fn density_map(
        &self,
        n_steps: Option<f64>,
        sampler: Option<&str>,
    ) -> Result<DensityMap, String> {
        let (sampler, n_steps) = self.sampler_steps(n_steps, sampler, self.evaluator.samples)?;
        self.evaluator
            .density_map(&self.trainer.sampling_net(), &self.device, sampler, n_steps)
            .await
    }

    /// Caller's points ([x0, y0, ...], taken as time 0: noise) carried to time `t` in
    /// `n_steps` steps of `sampler` (default the flow map): the warped grid and the paths the
    /// page's visitor picks. With `stages`, all N + 1 stages one after the other (stage k at
    /// time k t / N), else the end points.
    pub async fn push(
        &self,
        points: &[f32],
        t: f64,
        n_steps: f64,
        sampler: Option<&str>,
        stages: bool,
    ) -> Result<Vec<f32>, String> {
        if points.is_empty() || !points.len().is_multiple_of(2) {
            return Err(format!(
                "points must be x, y pairs, got {} numbers",
                points.len()
            ));
        }
        let count = points.len() / 2;
        if count > MAX_POINTS {
            return Err(format!("at most {MAX_POINTS} points per call, got {count}"));
        }
        if let Some(bad) = points.iter().find(|x| !x.is_finite() || x.abs() > 1e6) {
            return Err(format!(
                "points must be finite, at most 1e6 in size, got {bad}"
            ));
        }
        let t = unit_time(t)?;
        let (sampler, n_steps) = self.sampler_steps(Some(n_steps), sampler, count)?;
        let x0 = points_tensor(points.to_vec(), &self.device);
        self.carry(x0, count, t, n_steps, sampler, stages).await
    }

    /// `x0` (`count` points, [count, 2]) carried to time `t` in `n_steps` steps of `sampler`
    /// with the sampling weights, read back: all N + 1 stages one after the other with
    /// `stages`, else the end points. A trajectory returning more than [`MAX_POINTS`] points is
    /// refused before any work.
    async fn carry(
        &self,
        x0: Tensor<2>,
        count: usize,
        t: f32,
        n_steps: usize,
        sampler: Sampler,
        stages: bool,
    ) -> Result<Vec<f32>, String> {
        if stages && (n_steps + 1) * count > MAX_POINTS {
            return Err(format!(
                "a trajectory of {} stages of {count} points returns {} points; at most {MAX_POINTS}",
                n_steps + 1,
                (n_steps + 1) * count
            ));
        }
        let net = self.trainer.sampling_net();
        let out = if stages {
            sampler.stages(&net, x0, n_steps, t)
        } else {
            vec![sampler.run(&net, x0, n_steps, t)]
        };
        let mut host = Vec::with_capacity(out.len() * count * 2);
        for s in out {
            host.extend(readback::floats(s).await?);
        }
        Ok(host)
    }

    /// A sampler by name (default the flow map) and a step count (default 1), checked, with the
    /// work of `points` samples bounded.
    fn sampler_steps(
        &self,
        n_steps: Option<f64>,
        sampler: Option<&str>,
        points: usize,
    ) -> Result<(Sampler, usize), String> {
        let sampler = sampler.map_or(Ok(Sampler::FlowMap), Sampler::parse)?;
        let n_steps = whole(n_steps.unwrap_or(1.0), "n_steps", 1, MAX_STEPS)?;
        bound_work(points, n_steps * sampler.calls_per_step())?;
        Ok((sampler, n_steps))
    }

    /// The sampling weights as bytes (the format of checkpoint.rs).
    pub async fn save(&self) -> Result<Vec<u8>, String> {
        Ok(self.trainer.checkpoint().await?.encode())
    }

    /// What a checkpoint holds, without loading it. A corrupt file is an error.
    pub fn checkpoint_info(bytes: &[u8]) -> Result<CheckpointInfo, String> {
        let ck = checkpoint::decode(bytes)?;
        Ok(CheckpointInfo {
            width: ck.model.width,
            depth: ck.model.depth,
            step: ck.step,
            model: ck.model,
        })
    }

    /// Replaces the weights with saved ones. A corrupt file or another architecture is an error
    /// and leaves the session untouched.
    pub fn load(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.trainer.load(bytes)?;
        self.diverged = false;
        // Rows of the weights before are moot.
        self.kl_row = None;
        self.kl_weights = None;
        Ok(())
    }

    /// A point count from the caller, or the options' default.
    fn count(&self, count: Option<f64>) -> Result<usize, String> {
        match count {
            None => Ok(self.options.sample_count),
            Some(c) => whole(c, "count", 1, MAX_POINTS),
        }
    }

    /// The first `count` of a fixed stream of base points: `sample`, `flow_to` and
    /// `interpolant` start from the same noise, so their pictures line up point by point.
    fn picture_noise(&self, count: usize) -> Vec<f32> {
        let (seed, sigma) = (self.config().train.seed, self.config().model.sigma);
        crate::data::base_noise(&mut Rng::stream(seed, Stream::Pictures), count, sigma)
    }

    fn picture_base(&self, count: usize) -> Tensor<2> {
        points_tensor(self.picture_noise(count), &self.device)
    }
}

/// A config or options object from JSON text (what the page sends). Unknown or misspelled
/// fields are errors; a value of the wrong type names its field, e.g. "invalid config: field
/// 'width': invalid type: floating point `2.5`, expected usize".
pub fn from_json<T: serde::de::DeserializeOwned>(json: &str, what: &str) -> Result<T, String> {
    serde_json::from_str(json).map_err(|e| {
        let before = json
            .lines()
            .nth(e.line().saturating_sub(1))
            .and_then(|line| line.get(..e.column().min(line.len())))
            .unwrap_or("");
        // The position means nothing to someone who typed into a form: drop it.
        let text = e.to_string();
        let text = text.split(" at line ").next().unwrap_or(&text);
        match last_key(before) {
            Some(key) => format!("invalid {what}: field '{key}': {text}"),
            None => format!("invalid {what}: {text}"),
        }
    })
}

/// The last `"key":` in a JSON prefix.
fn last_key(prefix: &str) -> Option<&str> {
    let end = prefix.rfind("\":")?;
    let start = prefix[..end].rfind('"')?;
    Some(&prefix[start + 1..end])
}

/// A whole number in lo..=hi, or an error naming the argument.
pub fn whole(v: f64, name: &str, lo: usize, hi: usize) -> Result<usize, String> {
    if !v.is_finite() || v.fract() != 0.0 || v < lo as f64 || v > hi as f64 {
        return Err(format!(
            "{name} must be a whole number in {lo}..={hi}, got {v}"
        ));
    }
    Ok(v as usize)
}

/// A time in [0, 1].
fn unit_time(t: f64) -> Result<f32, String> {
    if !(0.0..=1.0).contains(&t) {
        return Err(format!("t must be in [0, 1], got {t}"));
    }
    Ok(t as f32)
}

/// Rejects `points` through `calls` network calls each above [`MAX_POINT_JUMPS`] network evaluations.
fn bound_work(points: usize, calls: usize) -> Result<(), String> {
    if points.saturating_mul(calls) > MAX_POINT_JUMPS {
        return Err(format!(
            "{points} points through {calls} network calls each is {} network evaluations; at most {MAX_POINT_JUMPS} per call (fewer points or fewer steps)",
            points * calls
        ));
    }
    Ok(())
}
