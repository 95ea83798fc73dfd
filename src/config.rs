//! Model, loss, training and sampling configs. Every default says why it is what it is.
//!
//! Configs are plain serde structs so that the CLI, checkpoints and the browser (a JS object via
//! serde-wasm-bindgen) share one definition; unknown fields are errors, not silently ignored.

use crate::data::Dataset;
use serde::{Deserialize, Serialize};

/// The self-distillation objective used for the off-diagonal part of each batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Lagrangian self-distillation: match d/dt X_{s,t} to the velocity at the landing point.
    #[default]
    Lsd,
    /// Progressive self-distillation with the intermediate time at the midpoint u = (s+t)/2.
    PsdMid,
    /// Progressive self-distillation with u uniform in [s, t].
    PsdUniform,
    /// Eulerian self-distillation: d/ds X_{s,t} + grad_x X_{s,t} . v_{s,s} = 0.
    Esd,
    /// MeanFlow (Geng et al. 2025): the Eulerian identity with the interpolant's own velocity
    /// x1 - x0 in place of the learned v_{s,s}, and the whole target stopped.
    #[serde(rename = "meanflow")]
    MeanFlow,
}

impl Method {
    pub const ALL: [Method; 5] = [
        Method::Lsd,
        Method::PsdMid,
        Method::PsdUniform,
        Method::Esd,
        Method::MeanFlow,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::Lsd => "lsd",
            Method::PsdMid => "psd-mid",
            Method::PsdUniform => "psd-uniform",
            Method::Esd => "esd",
            Method::MeanFlow => "meanflow",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|m| m.name()).collect();
                format!(
                    "unknown method '{s}' (expected one of {})",
                    names.join(", ")
                )
            })
    }
}

/// Hidden-layer nonlinearity of the MLP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    /// x sigmoid(x): the reference network's choice.
    #[default]
    Silu,
    /// x Phi(x) (exact, erf-based): the paper's released code.
    Gelu,
}

/// Inputs of the network: x (2) then s and t.
pub const INPUT_DIM: usize = 4;
/// Output: a velocity in the plane.
pub const OUTPUT_DIM: usize = 2;

/// The network v_{s,t}(x) = sigma MLP([x / sigma, s, t]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// Hidden width. 256 is the reference network.
    pub width: usize,
    /// Number of hidden layers. 4 is the reference network.
    pub depth: usize,
    pub activation: Activation,
    /// Preconditioning scale sigma, meant to be the data's standard deviation (the paper's code):
    /// the base is N(0, sigma^2 I), the network sees x / sigma and returns sigma times its output,
    /// so inputs and outputs are of unit scale at every t. 1 (no preconditioning) is the
    /// reference; the checkerboard's per-coordinate std is sqrt(4/3) = 1.155, so the two are close.
    pub sigma: f64,
}

impl ModelConfig {
    /// Per-layer (in, out) sizes of the MLP.
    pub fn layer_dims(&self) -> Vec<(usize, usize)> {
        let mut dims = vec![(INPUT_DIM, self.width)];
        dims.extend((1..self.depth).map(|_| (self.width, self.width)));
        dims.push((self.width, OUTPUT_DIM));
        dims
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            width: 256,
            depth: 4,
            activation: Activation::Silu,
            sigma: 1.0,
        }
    }
}

/// Where the PSD residual is measured (see `losses::psd`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "kebab-case")]
pub enum PsdSpace {
    /// |X_{s,t} - sg(X_{u,t} o X_{s,u})|^2: the reference notebook's form.
    X,
    /// The same residual divided by (t - s), a velocity: the paper's released code. The default
    /// since it won the ablation at every N (README: KL(N=1) 0.96 against 1.45 at 5k steps).
    #[default]
    V,
}

/// Which part of the ESD residual r = d/ds X_{s,t} + grad_x X_{s,t} . v_{s,s} carries the gradient
/// (see `losses::esd`). Both have the same residual and the same fixed point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "kebab-case")]
pub enum EsdStop {
    /// Only the transport term grad_x X . v_{s,s} is stopped; the gradient flows through
    /// d/ds X = -v + (t - s) d/ds v: the paper's released code ("full" stop-gradient).
    Transport,
    /// Everything but the student's v_{s,t} is stopped, so the loss is a regression of v onto
    /// sg(v_{s,s} + (t - s)(d/ds v + grad_x v . v_{s,s})): MeanFlow's placement with the learned
    /// velocity, and no gradient through a derivative of the network. The default.
    #[default]
    Target,
}

impl EsdStop {
    /// The paper's placement: what a config written before the field existed trained with.
    pub fn paper() -> Self {
        EsdStop::Transport
    }
}

/// What one gradient-norm clip bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "kebab-case")]
pub enum ClipScope {
    /// Each parameter tensor's norm separately (Burn's `GradientClipping::Norm`).
    #[default]
    Tensor,
    /// The norm of all gradients together (PyTorch's `clip_grad_norm_`, the paper's code).
    Global,
}

/// Learning-rate schedule over `steps`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// Constant learning rate (the reference's recipe).
    Constant,
    /// Linear warm-up, then cosine decay to `min_lr_ratio * lr` at `steps`.
    #[default]
    Cosine,
    /// Constant until `plateau_steps`, then lr sqrt(plateau_steps / step): the paper's code.
    /// It never reaches a floor, so a run can go on past `steps`.
    InverseSqrt,
}

/// How the rows of the loss are weighted over the times (s, t).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "kebab-case")]
pub enum Weighting {
    /// Every row alike: the paper's 2D code (its weight is the constant 1).
    #[default]
    None,
    /// exp(-w(s,t)) L + w(s,t) with w learned beside the map (`loss_weight`).
    Learned,
    /// The same learned w, but each term's rows weighted by exp(-w) normalised to mean 1 over
    /// the term: it shifts weight between pairs of times within a term and leaves the terms'
    /// shares those of the unweighted loss (`loss_weight::relative_mean`).
    Relative,
}

impl Weighting {
    /// Whether the recipe learns a w(s,t) (and its files carry it).
    pub fn learns(self) -> bool {
        self != Weighting::None
    }
}

/// Everything that decides a training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub method: Method,
    pub dataset: Dataset,
    /// Points per step. 2048 is the reference's batch.
    pub batch_size: usize,
    /// Fraction of the batch spent on the diagonal (flow-matching) loss. 0.75 as in the paper:
    /// the diagonal anchors v_{t,t}, which every self-distillation teacher relies on.
    pub diag_fraction: f64,
    /// Weight of the off-diagonal term's mean against the diagonal's: the loss is
    /// D + off_weight O. 1 (every table here): each term counts alike whatever its rows. The
    /// paper's released code averages over the whole batch, f D + (1 - f) O with f the
    /// diagonal fraction, which is this with (1 - f)/f = 1/3 at f = 0.75 up to an overall scale
    /// (docs/loss-weighting.md).
    pub off_weight: f64,
    /// Peak AdamW learning rate. The reference's constant 2e-4 under-trains in 20k steps; with the
    /// cosine schedule a higher peak converges faster (see README for the sweep).
    pub lr: f64,
    /// AdamW weight decay, as in the reference.
    pub weight_decay: f64,
    pub schedule: Schedule,
    /// Steps the schedule spans (the cosine reaches its floor here).
    pub steps: usize,
    /// Linear warm-up steps: Adam's second-moment estimate is noisy at first.
    pub warmup_steps: usize,
    /// Floor of the cosine schedule as a fraction of `lr`.
    pub min_lr_ratio: f64,
    /// Steps at full lr before the inverse-sqrt schedule starts to decay. 2000: a tenth of the
    /// reference budget, so at 20k steps the lr has fallen to 0.32 of its peak.
    pub plateau_steps: usize,
    /// Clip the gradient norm to this value; `None` disables clipping. Self-distillation
    /// targets move with the model, and clipping tames the occasional spike early on.
    pub grad_clip: Option<f64>,
    /// Per tensor (what the tables up to issue 15 used) or global.
    pub clip_scope: ClipScope,
    /// PSD residual in X-space or velocity space; LSD and ESD ignore it.
    pub psd_space: PsdSpace,
    /// Where ESD's stop-gradient sits; the other methods ignore it. A config without the field
    /// (every file written before it existed) means the paper's `transport`, what those runs
    /// trained with; new configs take the default below.
    #[serde(default = "EsdStop::paper")]
    pub esd_stop: EsdStop,
    /// Scale of the pseudo-Huber penalty on the off-diagonal residual; `None` is the paper's
    /// squared error (`losses::off_diagonal_penalty` has both).
    pub huber: Option<f64>,
    /// Learned weighting of every loss row by its times; `None` for files written before it
    /// existed (serde's default), and the default: the tables were measured without it.
    pub weighting: Weighting,
    /// Exponential moving average of the weights used for sampling; `None` samples the raw
    /// weights. Averaging removes the step-to-step jitter that a KL on 3600 bins sees.
    pub ema_decay: Option<f64>,
    /// Seeds the weights, the data stream and the times.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            method: Method::Lsd,
            dataset: Dataset::Checkerboard,
            batch_size: 2048,
            diag_fraction: 0.75,
            off_weight: 1.0,
            lr: 1e-3,
            weight_decay: 1e-4,
            schedule: Schedule::Cosine,
            steps: 20_000,
            warmup_steps: 200,
            min_lr_ratio: 0.01,
            plateau_steps: 2000,
            grad_clip: Some(1.0),
            clip_scope: ClipScope::Tensor,
            psd_space: PsdSpace::V,
            // The paper's form diverged at lr 1e-3 at the reference budget (at step 10000, and at
            // 9000 with pseudo-Huber) where the target stopped trained all 20k steps without a
            // clip firing (docs/results.md).
            esd_stop: EsdStop::Target,
            // The paper's loss: the reference budget's tables were measured with it.
            huber: None,
            weighting: Weighting::None,
            ema_decay: Some(0.999),
            seed: 0,
        }
    }
}

/// A whole experiment: network plus training recipe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub model: ModelConfig,
    pub train: TrainConfig,
}

/// Largest batch accepted: beyond this a browser tab runs out of memory long before it helps.
pub const MAX_BATCH: usize = 65_536;
/// Largest off-diagonal weight accepted: beyond it the diagonal, the only term that sees the
/// data, is a rounding error of the loss.
pub const MAX_OFF_WEIGHT: f64 = 100.0;
/// Largest hidden width and depth accepted, for the same reason.
pub const MAX_WIDTH: usize = 2048;
pub const MAX_DEPTH: usize = 16;
/// Most weights and biases of a network: 2^24 is 64 MiB of f32, about 320 MiB
/// with the gradients, Adam's two moments and the EMA copy. Each field can be in range while the
/// product is not (2048 wide and 16 deep is 67M weights, 1.3 GiB of state).
pub const MAX_PARAMETERS: usize = 1 << 24;
/// Most activations of one step, batch x width x depth: 2^24 floats is 64 MiB per copy, and a
/// step keeps about eight copies (forward, tangent and backward), so about 512 MiB: within a
/// tab's wasm memory (4 GiB at most, often less). The reference run uses 2M.
pub const MAX_ACTIVATIONS: usize = 1 << 24;

impl Config {
    /// The reference budget and the CLI's defaults: the reference network (4x256) and batch
    /// (2048) for 20k steps, with the recipe in [`TrainConfig::default`].
    pub fn reference() -> Self {
        Self::default()
    }

    /// The page's recipe, chosen by measurement in headless Chromium on one CPU core (README,
    /// "Speed in the tab"): of about 25 recipes, this gave the lowest KL(N=1) after 120 s.
    pub fn browser() -> Self {
        Self {
            model: ModelConfig {
                // Deeper than 4x256 at fewer FLOPs per step; every method trains stably with it.
                width: 192,
                depth: 5,
                ..ModelConfig::default()
            },
            train: TrainConfig {
                // Small batches: many more steps per second, and the 120 s budget is step-bound.
                batch_size: 256,
                lr: 4e-3,
                // About two minutes on one core at 5x192; the cosine then holds 1% of the peak.
                steps: 6900,
                warmup_steps: 100,
                // A short average follows the fast early progress without lagging behind it.
                ema_decay: Some(0.98),
                // With the squared error 2 of 10 seeds diverged within 100 steps at 5x192
                // (4 of 10 at 5x64); with it none did, and KL is unchanged (README,
                // "Divergence, prevented"). 1 is far above a trained residual (|r| ~ 0.1), so
                // it only acts on runaway rows.
                huber: Some(1.0),
                ..TrainConfig::default()
            },
        }
    }

    /// Checks every field; the error names the field and the allowed range.
    pub fn validate(&self) -> Result<(), String> {
        let (m, t) = (&self.model, &self.train);
        check(m.width >= 1 && m.width <= MAX_WIDTH, || {
            format!("model.width must be in 1..={MAX_WIDTH}, got {}", m.width)
        })?;
        check(m.depth >= 1 && m.depth <= MAX_DEPTH, || {
            format!("model.depth must be in 1..={MAX_DEPTH}, got {}", m.depth)
        })?;
        check(
            m.sigma.is_finite() && m.sigma >= 0.01 && m.sigma <= 100.0,
            || format!("model.sigma must be in [0.01, 100], got {}", m.sigma),
        )?;
        check(t.batch_size >= 2 && t.batch_size <= MAX_BATCH, || {
            format!(
                "train.batch_size must be in 2..={MAX_BATCH}, got {}",
                t.batch_size
            )
        })?;
        let weights: usize = m.layer_dims().iter().map(|(i, o)| i * o + o).sum();
        check(weights <= MAX_PARAMETERS, || {
            format!(
                "model.width {} and model.depth {} make {weights} weights; at most {MAX_PARAMETERS} (a smaller width or depth)",
                m.width, m.depth
            )
        })?;
        let activations = t.batch_size.saturating_mul(m.width).saturating_mul(m.depth);
        check(activations <= MAX_ACTIVATIONS, || {
            format!(
                "train.batch_size {} x model.width {} x model.depth {} is {activations} activations per step; at most {MAX_ACTIVATIONS} (a smaller batch or network)",
                t.batch_size, m.width, m.depth
            )
        })?;
        check(t.diag_fraction > 0.0 && t.diag_fraction < 1.0, || {
            format!(
                "train.diag_fraction must be in (0, 1), got {}",
                t.diag_fraction
            )
        })?;
        check(
            t.off_weight.is_finite() && t.off_weight > 0.0 && t.off_weight <= MAX_OFF_WEIGHT,
            || {
                format!(
                    "train.off_weight must be in (0, {MAX_OFF_WEIGHT}], got {}",
                    t.off_weight
                )
            },
        )?;
        t.dataset
            .validate()
            .map_err(|e| format!("train.dataset: {e}"))?;
        let (diag, off) = t.split();
        check(diag >= 1 && off >= 1, || {
            format!(
                "train.batch_size {} with diag_fraction {} leaves an empty diagonal or off-diagonal part",
                t.batch_size, t.diag_fraction
            )
        })?;
        check(t.lr.is_finite() && t.lr > 0.0 && t.lr <= 1.0, || {
            format!("train.lr must be in (0, 1], got {}", t.lr)
        })?;
        check(
            t.weight_decay.is_finite() && (0.0..1.0).contains(&t.weight_decay),
            || {
                format!(
                    "train.weight_decay must be in [0, 1), got {}",
                    t.weight_decay
                )
            },
        )?;
        check(t.steps >= 1, || {
            "train.steps must be at least 1".to_string()
        })?;
        check(
            t.min_lr_ratio.is_finite() && (0.0..=1.0).contains(&t.min_lr_ratio),
            || {
                format!(
                    "train.min_lr_ratio must be in [0, 1], got {}",
                    t.min_lr_ratio
                )
            },
        )?;
        if let Some(c) = t.grad_clip {
            check(c.is_finite() && c > 0.0, || {
                format!("train.grad_clip must be > 0, got {c}")
            })?;
        }
        if let Some(d) = t.ema_decay {
            check(d.is_finite() && (0.0..1.0).contains(&d), || {
                format!("train.ema_decay must be in [0, 1), got {d}")
            })?;
        }
        if let Some(d) = t.huber {
            // d^2 and |r|^2 / d^2 must stay normal f32 numbers.
            check((1e-4..=1e4).contains(&d), || {
                format!("train.huber must be in [0.0001, 10000] (or null), got {d}")
            })?;
        }
        Ok(())
    }
}

impl TrainConfig {
    /// (diagonal rows, off-diagonal rows) of each batch.
    pub fn split(&self) -> (usize, usize) {
        let diag = (self.batch_size as f64 * self.diag_fraction).round() as usize;
        (diag, self.batch_size - diag.min(self.batch_size))
    }

    /// Learning rate at optimizer step `step` (0-based).
    pub fn lr_at(&self, step: usize) -> f64 {
        let warm = if step < self.warmup_steps {
            (step + 1) as f64 / self.warmup_steps as f64
        } else {
            1.0
        };
        let decay = match self.schedule {
            Schedule::Constant => 1.0,
            Schedule::Cosine => {
                let span = self.steps.saturating_sub(self.warmup_steps).max(1) as f64;
                let p = (step.saturating_sub(self.warmup_steps) as f64 / span).min(1.0);
                let cos = 0.5 * (1.0 + (std::f64::consts::PI * p).cos());
                self.min_lr_ratio + (1.0 - self.min_lr_ratio) * cos
            }
            Schedule::InverseSqrt => {
                let plateau = self.plateau_steps.max(1) as f64;
                (plateau / (step + 1) as f64).sqrt().min(1.0)
            }
        };
        self.lr * warm * decay
    }
}

fn check(ok: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(msg()) }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its line
mod tests {
    use super::*;

    /// A config written before `esd_stop` existed resumes with the paper's ESD, what it trained
    /// with; a new one (the presets, the defaults) takes the default.
    #[test]
    fn configs_without_esd_stop_keep_the_papers_esd() {
        let old: TrainConfig = serde_json::from_str(r#"{"method":"esd","lr":0.001}"#).unwrap();
        assert_eq!(old.esd_stop, EsdStop::Transport);
        assert_eq!(TrainConfig::default().esd_stop, EsdStop::Target);
        assert_eq!(Config::browser().train.esd_stop, EsdStop::Target);
        let new: TrainConfig = serde_json::from_str(r#"{"esd_stop":"target"}"#).unwrap();
        assert_eq!(new.esd_stop, EsdStop::Target);
        let back: TrainConfig =
            serde_json::from_str(&serde_json::to_string(&TrainConfig::default()).unwrap()).unwrap();
        assert_eq!(
            back,
            TrainConfig::default(),
            "a saved config reads back as written"
        );
    }

    #[test]
    fn presets_are_valid_and_split_is_three_to_one() {
        let c = Config::reference();
        c.validate().unwrap();
        assert_eq!(c.train.split(), (1536, 512));
        let b = Config::browser();
        b.validate().unwrap();
        assert_eq!(b.train.split(), (192, 64));
    }

    #[test]
    fn bad_fields_are_named_in_the_error() {
        let mut c = Config::default();
        c.train.batch_size = 0;
        assert!(c.validate().unwrap_err().contains("batch_size"));
        let mut c = Config::default();
        c.train.lr = f64::NAN;
        assert!(c.validate().unwrap_err().contains("lr"));
        for bad in [0.0, -1.0, 1e-5, 2e4, f64::NAN, f64::INFINITY] {
            let mut c = Config::browser();
            c.train.huber = Some(bad);
            assert!(c.validate().unwrap_err().contains("train.huber"), "{bad}");
        }
        let mut c = Config::default();
        c.model.depth = 0;
        assert!(c.validate().unwrap_err().contains("depth"));
    }

    #[test]
    fn products_of_fields_in_range_are_bounded_too() {
        // Every field within its own limit, the whole far beyond a tab's memory.
        let mut c = Config::default();
        (c.model.width, c.model.depth, c.train.batch_size) = (MAX_WIDTH, MAX_DEPTH, MAX_BATCH);
        assert!(c.validate().unwrap_err().contains("weights"));
        let mut c = Config::default();
        c.train.batch_size = MAX_BATCH;
        let err = c.validate().unwrap_err();
        assert!(
            err.contains("activations") && err.contains("65536"),
            "{err}"
        );
        // At the bounds themselves: accepted.
        let mut c = Config::default();
        (c.model.width, c.model.depth) = (1024, 16); // 15.75M weights and biases
        c.train.batch_size = 1024;
        c.validate().unwrap();
        let mut c = Config::default();
        c.train.batch_size = MAX_ACTIVATIONS / (c.model.width * c.model.depth);
        c.validate().unwrap();
        c.train.batch_size += 1;
        assert!(c.validate().is_err());
    }

    #[test]
    fn schedule_warms_up_then_decays_to_the_floor() {
        let t = TrainConfig {
            steps: 1000,
            warmup_steps: 100,
            ..Default::default()
        };
        assert!((t.lr_at(0) - t.lr / 100.0).abs() < 1e-12);
        assert!((t.lr_at(99) - t.lr).abs() < 1e-12);
        assert!(t.lr_at(500) < t.lr && t.lr_at(500) > t.lr * t.min_lr_ratio);
        assert!((t.lr_at(1000) - t.lr * t.min_lr_ratio).abs() < 1e-12);
        let c = TrainConfig {
            schedule: Schedule::Constant,
            warmup_steps: 0,
            ..t.clone()
        };
        assert_eq!(c.lr_at(777), c.lr);
        let r = TrainConfig {
            schedule: Schedule::InverseSqrt,
            warmup_steps: 0,
            plateau_steps: 100,
            ..t
        };
        assert_eq!(r.lr_at(0), r.lr);
        assert_eq!(r.lr_at(99), r.lr);
        assert!((r.lr_at(399) - r.lr / 2.0).abs() < 1e-12);
        assert!((r.lr_at(9_999) - r.lr / 10.0).abs() < 1e-12);
    }

    #[test]
    fn json_round_trip_and_unknown_fields_rejected() {
        let c = Config::default();
        let s = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Config>(&s).unwrap(), c);
        let partial: Config = serde_json::from_str(r#"{"train":{"method":"psd-mid"}}"#).unwrap();
        assert_eq!(partial.train.method, Method::PsdMid);
        assert!(serde_json::from_str::<Config>(r#"{"train":{"lr_typo":1}}"#).is_err());
    }
}
