//! One optimizer step, top to bottom: draw a batch, diagonal loss on 75% of it, the method's
//! self-distillation loss on the rest, each row weighted by its times if the recipe learns a
//! weight (`loss_weight`), backward, gradient clipping, AdamW, EMA.

use crate::adamw::{self, AdamW};
use crate::backend;
use crate::batch::HostBatch;
use crate::checkpoint::{self, Checkpoint, bias, net_from, read_layers};
use crate::clipping::{ClipScales, clip_gradients, clip_scales};
use crate::config::{Config, Method, Weighting};
use crate::loss_weight::{self, LossWeight, relative_mean, weighted_mean};
use crate::losses::{
    diagonal::diagonal_residual, esd::esd_residual, lsd::lsd_residual, meanflow::meanflow_residual,
    off_diagonal_penalty, psd::psd_residual, row_penalty,
};
use crate::model::FlowMapNet;
use crate::readback;
use crate::rng::Rng;
use crate::run_state::RunState;
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};

/// The loss terms of one step, still on the device (read them with [`Self::read`]).
pub struct StepLosses {
    pub diagonal: Tensor<1>,
    pub off_diagonal: Tensor<1>,
    /// The objective minimised under a learned weighting (`loss_weight`).
    pub weighted: Option<Tensor<1>>,
}

/// Loss terms on the host. `diagonal`, `off_diagonal` and `total` are the unweighted means
/// (comparable between runs with and without a learned weighting, and what the divergence rule
/// reads: a weighted loss stays near 1 + log L however large L grows); `weighted` is the
/// objective a learned weighting minimises, mean(exp(-w) L + w) over both terms' rows.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
pub struct Losses {
    pub diagonal: f32,
    pub off_diagonal: f32,
    pub total: f32,
    pub weighted: Option<f32>,
}

impl StepLosses {
    /// Both terms on the host (one async read path for every device; natively, wait for it with
    /// [`crate::readback::block_on`]).
    pub async fn read(self) -> Result<Losses, String> {
        // One read of every term: each read is a buffer map, a round trip on WebGPU.
        let mut terms = vec![self.diagonal, self.off_diagonal];
        terms.extend(self.weighted);
        let all = Tensor::cat(terms, 0); // [2] or [3]
        match readback::floats(all).await?.as_slice() {
            [d, o] => Ok(Losses::new(*d, *o, None)),
            [d, o, w] => Ok(Losses::new(*d, *o, Some(*w))),
            other => Err(format!(
                "expected two or three loss terms, read {}",
                other.len()
            )),
        }
    }
}

/// A loss above this is divergence. A healthy loss is O(1) (the diagonal term is about
/// E|x1 - x0|^2 at worst); far above it the weights have blown up (ESD at lr 1e-3 went from
/// 1.7 to 1e23 within 500 steps while staying finite), and the samples are meaningless.
pub const DIVERGED_LOSS: f32 = 1e4;

impl Losses {
    /// The one divergence rule of the CLI and the page: not finite, or above [`DIVERGED_LOSS`].
    pub fn diverged(&self) -> bool {
        !self.total.is_finite() || self.total > DIVERGED_LOSS
    }

    /// The unweighted terms of a step, e.g. the sums of a data-parallel step's shards.
    pub fn unweighted(diagonal: f32, off_diagonal: f32) -> Self {
        Self::new(diagonal, off_diagonal, None)
    }

    fn new(diagonal: f32, off_diagonal: f32, weighted: Option<f32>) -> Self {
        Self {
            diagonal,
            off_diagonal,
            total: diagonal + off_diagonal,
            weighted,
        }
    }
}

/// Model, optimizer state, EMA weights and the data stream of one training run.
pub struct Trainer {
    config: Config,
    device: Device,
    net: FlowMapNet,
    ema: Option<FlowMapNet>,
    optim: AdamW,
    /// The learned weight w(s,t) and its own AdamW (the same rule and schedule), when the
    /// recipe's weighting is `learned`.
    weight: Option<(LossWeight, AdamW)>,
    rng: Rng,
    step: usize,
    /// Clip counts, kept only when asked for ([`Trainer::count_clips`]): they cost device ops
    /// every step, and only the CLI reports them.
    clips: Option<ClipCounts>,
    /// A shard gradient was taken and its step not yet applied ([`Trainer::shard_gradient`]).
    pending_shard: bool,
    /// The optimizer step and the EMA as one host pass (`AdamW::step_layers_on_host`): on the
    /// CPU backends, unless [`Trainer::use_tensor_update`] was called.
    host_update: bool,
}

/// How often gradient clipping changed the step, summed on the device since the last
/// [`Trainer::take_clip_counts`].
#[derive(Default)]
pub struct ClipCounts {
    /// Steps in which at least one gradient was scaled down.
    pub steps_clipped: Option<Tensor<1>>,
    /// Gradient tensors scaled down (global clipping: one per clipped step).
    pub tensors_clipped: Option<Tensor<1>>,
    /// Steps counted.
    pub steps: usize,
}

impl ClipCounts {
    fn add(&mut self, tensors: Tensor<1>) {
        let any = tensors.clone().greater_elem(0.0).float();
        let sum = |acc: Option<Tensor<1>>, x: Tensor<1>| Some(acc.map_or(x.clone(), |a| a + x));
        self.steps_clipped = sum(self.steps_clipped.take(), any);
        self.tensors_clipped = sum(self.tensors_clipped.take(), tensors);
        self.steps += 1;
    }
}

impl Trainer {
    /// A fresh run. `device` is a plain device; autodiff is enabled here.
    pub fn new(config: Config, device: &Device) -> Result<Self, String> {
        config.validate()?;
        let device = device.clone().autodiff();
        let host_update = backend::on_host(&device);
        let mut rng = Rng::new(config.train.seed);
        let net = FlowMapNet::init(&config.model, &mut rng, &device);
        let ema = config.train.ema_decay.map(|_| net.valid());
        let optim = optimizer(&config);
        let weight = config.train.weighting.learns().then(|| {
            // Its own generator: the weights, data and times are those of the unweighted run.
            let mut rng = Rng::new(config.train.seed ^ LOSS_WEIGHT_SEED);
            (LossWeight::init(&mut rng, &device), optimizer(&config))
        });
        Ok(Self {
            config,
            device,
            net,
            ema,
            optim,
            weight,
            rng,
            step: 0,
            clips: None,
            pending_shard: false,
            host_update,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The batch size of the next steps (the caller checks it against the config's bounds).
    pub fn set_batch_size(&mut self, batch: usize) {
        self.config.train.batch_size = batch;
    }

    pub fn steps_done(&self) -> usize {
        self.step
    }

    /// The trained weights (with autodiff).
    pub fn net(&self) -> &FlowMapNet {
        &self.net
    }

    /// The weights to sample from: the EMA if enabled, else the raw weights; no autodiff.
    pub fn sampling_net(&self) -> FlowMapNet {
        self.ema.clone().unwrap_or_else(|| self.net.valid())
    }

    /// One optimizer step. A shard gradient still waiting for its apply is dropped: this step
    /// supersedes it.
    pub fn step(&mut self) -> StepLosses {
        self.pending_shard = false;
        let host = self.draw();
        let (losses, mut grads, mut weight_grads) = self.gradients(&host, None);
        self.apply(&mut grads, weight_grads.as_mut());
        losses
    }

    /// The next batch of the run's data stream, on the host.
    fn draw(&mut self) -> HostBatch {
        HostBatch::draw(&self.config.train, self.config.model.sigma, &mut self.rng)
    }

    /// The losses of `host` (or of shard `k` of `shards` of it, scaled so that the shards'
    /// losses and gradients sum to the whole batch's) and their gradients.
    fn gradients(
        &self,
        host: &HostBatch,
        shard: Option<(usize, usize)>,
    ) -> (StepLosses, GradientsParams, Option<GradientsParams>) {
        let cfg = &self.config.train;
        let (host, scales) = match shard {
            None => (std::borrow::Cow::Borrowed(host), None),
            Some((k, n)) => {
                let (part, scales) = host.shard(k, n);
                (std::borrow::Cow::Owned(part), Some(scales))
            }
        };
        let b = host.to_device(&self.device);
        let teacher = self.net.valid(); // same weights, no autodiff: a stop-gradient teacher

        let diag_residual = diagonal_residual(&self.net, &b.diag, b.diag_target); // [B_diag, 2]
        let diagonal = diag_residual.clone().square().mean(); // the diagonal loss's mse
        let residual = match cfg.method {
            Method::Lsd => lsd_residual(&self.net, &teacher, &b.off),
            Method::PsdMid | Method::PsdUniform => {
                psd_residual(&self.net, &teacher, &b.off, b.off_u, cfg.psd_space)
            }
            Method::Esd => esd_residual(&self.net, &teacher, &b.off, cfg.esd_stop),
            Method::MeanFlow => {
                let dx = b.off_velocity.expect("a MeanFlow batch carries x1 - x0"); // batch.rs
                meanflow_residual(&self.net, &teacher, &b.off, dx)
            }
        }; // [B_off, 2]
        let huber = cfg.huber.map(|d| d as f32);
        let off_weight = cfg.off_weight as f32;
        let off_diagonal = off_diagonal_penalty(residual.clone(), huber);
        // Learned weighting: mean(exp(-w) L + w) per term (or its relative form), w(t,t) on the
        // diagonal, w(s,t) off it.
        let weighted = self.weight.as_ref().map(|(w, _)| {
            let term = match cfg.weighting {
                Weighting::Relative => relative_mean,
                _ => weighted_mean,
            };
            let t = b.diag.t.clone();
            let diag = term(row_penalty(diag_residual, None), w.at(t.clone(), t));
            let w_off = w.at(b.off.s.clone(), b.off.t.clone()); // [B_off, 1]
            diag + term(row_penalty(residual, huber), w_off) * off_weight
        });
        let (diagonal, off_diagonal) = match scales {
            // mean over the shard's rows times its share of the batch's rows
            Some((d, o)) => (diagonal * d, off_diagonal * o),
            None => (diagonal, off_diagonal),
        };
        let loss = match &weighted {
            Some(objective) => objective.clone(),
            None => diagonal.clone() + off_diagonal.clone() * off_weight,
        };

        let mut all = loss.backward();
        let grads = GradientsParams::from_module(&mut all, &self.net);
        let weight_grads = self
            .weight
            .as_ref()
            .map(|(w, _)| GradientsParams::from_module(&mut all, w));
        let losses = StepLosses {
            diagonal: diagonal.detach(),
            off_diagonal: off_diagonal.detach(),
            weighted: weighted.map(|w| w.detach()),
        };
        (losses, grads, weight_grads)
    }

    /// Clip `grads`, take the optimizer step, update the EMA: the rest of a step.
    fn apply(&mut self, grads: &mut GradientsParams, weight_grads: Option<&mut GradientsParams>) {
        let cfg = &self.config.train;
        let (lr, clip, scope) = (cfg.lr_at(self.step), cfg.grad_clip, cfg.clip_scope);
        if self.host_update {
            self.apply_on_host(lr, grads);
        } else {
            if let Some(c) = clip {
                let count = self.clips.is_some();
                let layers = &self.net.layers;
                let clipped = clip_gradients(grads, layers, c as f32, scope, count);
                if let (Some(counts), Some(clipped)) = (&mut self.clips, clipped) {
                    counts.add(clipped);
                }
            }
            self.net = self.optim.step(lr, self.net.clone(), grads);
            self.update_ema();
        }
        if let (Some((w, optim)), Some(g)) = (&mut self.weight, weight_grads) {
            if let Some(c) = clip {
                clip_gradients(g, &w.layers, c as f32, scope, false);
            }
            w.layers = optim.step_layers(lr, &w.layers, g);
        }
        self.step += 1;
    }

    /// The network's part of [`Self::apply`] on a CPU backend: the clip's factors read back in
    /// one read, then AdamW and the EMA in one pass per parameter (`AdamW::step_layers_on_host`;
    /// the same bits as the tensor ops).
    fn apply_on_host(&mut self, lr: f64, grads: &mut GradientsParams) {
        let cfg = &self.config.train;
        let scales = match cfg.grad_clip {
            None => vec![(1.0, 1.0); self.net.layers.len()],
            Some(c) => {
                let count = self.clips.is_some();
                let ClipScales { scales, clipped } =
                    clip_scales(grads, &self.net.layers, c as f32, cfg.clip_scope, count);
                if let (Some(counts), Some(clipped)) = (&mut self.clips, clipped) {
                    counts.add(clipped);
                }
                let one = || Tensor::<1>::ones([1], &self.device.clone().without_autodiff());
                let flat: Vec<Tensor<1>> = scales
                    .into_iter()
                    .flat_map(|(w, b)| [w.unwrap_or_else(one), b.unwrap_or_else(one)])
                    .collect();
                let read = Tensor::cat(flat, 0).into_data(); // [2 x layers]: a copy on the host
                let k = read.as_slice::<f32>().expect("the model's tensors are f32");
                k.chunks(2).map(|p| (p[0], p[1])).collect()
            }
        };
        // The layers taken out, not cloned: a tensor held once is read without a copy.
        let d = self.ema_decay_now();
        let ema_layers = self
            .ema
            .as_mut()
            .map(|e| (std::mem::take(&mut e.layers), d));
        let net = std::mem::take(&mut self.net.layers);
        let (layers, averaged) = self
            .optim
            .step_layers_on_host(lr, net, grads, &scales, ema_layers);
        self.net.layers = layers;
        if let (Some(e), Some(layers)) = (&mut self.ema, averaged) {
            e.layers = layers;
        }
    }

    /// Whether `flat` can be applied now: a shard gradient is pending, and `flat` has the
    /// network's size and is finite. Changes nothing.
    pub fn check_gradient(&self, flat: &[f32]) -> Result<(), String> {
        if !self.pending_shard {
            return Err("apply_gradient without a shard gradient".into());
        }
        let want: usize = self
            .config
            .model
            .layer_dims()
            .iter()
            .map(|(i, o)| i * o + o)
            .sum();
        if flat.len() != want {
            return Err(format!(
                "a gradient of {} values for a network of {want}",
                flat.len()
            ));
        }
        // Inf and NaN are the f32s whose exponent bits are all ones; an OR over the lanes
        // vectorises, where a search for the first one would not (it ran every step).
        const EXPONENT: u32 = 0x7f80_0000;
        let non_finite = flat.iter().fold(0u32, |any, g| {
            any | u32::from((g.to_bits() & EXPONENT) == EXPONENT)
        });
        if non_finite != 0 {
            let bad = flat.iter().position(|g| !g.is_finite()).unwrap_or_default();
            return Err(format!("the gradient is not finite at entry {bad}"));
        }
        Ok(())
    }

    /// Drops a pending shard gradient (its step is not taken); the data stream stays where the
    /// shard left it, as on every replica.
    pub fn drop_shard(&mut self) {
        self.pending_shard = false;
    }

    /// Most shards one step of this run can be split into ([`Self::shard_gradient`]): every
    /// shard needs a row of both parts of the batch, and a learned loss weighting trains on one
    /// worker (its weight's own gradient is not part of the flat buffer), so then 1.
    pub fn max_shards(&self) -> usize {
        if self.weight.is_some() {
            return 1;
        }
        let (nd, no) = self.config.train.split();
        nd.min(no).max(1)
    }

    /// Data-parallel training, one replica's half of a step: the gradient of shard `k` of
    /// `shards` of the next batch, as one flat buffer in the layers' order (each layer's weight
    /// [in, out] row-major, then its bias), scaled so that the K shards' buffers sum to the
    /// whole batch's gradient; and the shard's share of the losses (they sum likewise). Every
    /// replica draws the whole batch (the same data stream), so K replicas that started equal
    /// and apply the same summed gradient ([`Self::apply_gradient`]) stay bit-identical.
    pub async fn shard_gradient(
        &mut self,
        k: usize,
        shards: usize,
    ) -> Result<(Vec<f32>, Losses), String> {
        if self.pending_shard {
            return Err("a shard gradient is waiting for apply_gradient".into());
        }
        if self.weight.is_some() {
            return Err("a learned loss weighting trains on one worker only".into());
        }
        let (nd, no) = self.config.train.split();
        if shards == 0 || k >= shards || shards > nd.min(no) {
            return Err(format!(
                "shard {k} of {shards}: need 0 <= k < shards <= {} (the rows of the smaller part of a batch of {})",
                nd.min(no),
                self.config.train.batch_size
            ));
        }
        // The batch from a copy of the stream, committed only once the gradient is read: a
        // failed read leaves this replica on the same batch as the others.
        let mut rng = self.rng.clone();
        let host = HostBatch::draw(&self.config.train, self.config.model.sigma, &mut rng);
        let (losses, mut grads, _) = self.gradients(&host, Some((k, shards)));
        let mut parts = Vec::new();
        for layer in &self.net.layers {
            let w = grads
                .remove::<2>(layer.weight.id)
                .ok_or("a weight without gradient")?;
            parts.push(w.flatten::<1>(0, 1));
            if let Some(bias) = &layer.bias {
                parts.push(
                    grads
                        .remove::<1>(bias.id)
                        .ok_or("a bias without gradient")?,
                );
            }
        }
        let flat = readback::floats(Tensor::cat(parts, 0)).await?; // [P]: one read
        let losses = losses.read().await?;
        self.rng = rng;
        self.pending_shard = true;
        Ok((flat, losses))
    }

    /// The other half: clip the summed gradient `flat` (the layout of [`Self::shard_gradient`]),
    /// take the optimizer step and update the EMA, as [`Self::step`] does with its own.
    pub fn apply_gradient(&mut self, flat: &[f32]) -> Result<(), String> {
        self.check_gradient(flat)?;
        let dims = self.config.model.layer_dims();
        let mut grads = GradientsParams::new();
        let mut at = 0;
        let plain = |v: &[f32], shape: Vec<usize>| burn::tensor::TensorData::new(v.to_vec(), shape);
        for (layer, &(i, o)) in self.net.layers.iter().zip(&dims) {
            let w = Tensor::<2>::from_data(plain(&flat[at..at + i * o], vec![i, o]), &self.device); // [in, out]
            grads.register(layer.weight.id, w.without_autodiff());
            at += i * o;
            if let Some(bias) = &layer.bias {
                let b = Tensor::<1>::from_data(plain(&flat[at..at + o], vec![o]), &self.device); // [out]
                grads.register(bias.id, b.without_autodiff());
            }
            at += o;
        }
        self.pending_shard = false;
        self.apply(&mut grads, None);
        Ok(())
    }

    /// From now on, take the optimizer step as tensor ops (as on WebGPU) also on a CPU backend,
    /// where it is otherwise one host pass: the same bits, slower (`tests/training.rs` compares
    /// the two).
    pub fn use_tensor_update(&mut self) {
        self.host_update = false;
    }

    /// From now on, count how often gradient clipping fires.
    pub fn count_clips(&mut self) {
        self.clips.get_or_insert_default();
    }

    /// The clip counts since the last call (read them like the losses), and a fresh count;
    /// empty unless [`Self::count_clips`] was called.
    pub fn take_clip_counts(&mut self) -> ClipCounts {
        self.clips.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// d of this step's EMA update: the recipe's decay warmed up as min(decay, (1 + k) /
    /// (10 + k)) at step k, so that the average is not dominated by the random initial weights
    /// early in a run (1 without an EMA).
    fn ema_decay_now(&self) -> f64 {
        let k = self.step as f64;
        self.config
            .train
            .ema_decay
            .map_or(1.0, |decay| decay.min((1.0 + k) / (10.0 + k)))
    }

    /// ema <- d ema + (1 - d) w (d: [`Self::ema_decay_now`]), as tensor ops.
    fn update_ema(&mut self) {
        let Some(ema) = &self.ema else {
            return;
        };
        let d = self.ema_decay_now();
        let blend = |e: &Param<Tensor<2>>, w: &Param<Tensor<2>>| {
            e.val() * d + w.val().detach().without_autodiff() * (1.0 - d)
        };
        let blend1 = |e: &Param<Tensor<1>>, w: &Param<Tensor<1>>| {
            e.val() * d + w.val().detach().without_autodiff() * (1.0 - d)
        };
        let layers = ema
            .layers
            .iter()
            .zip(&self.net.layers)
            .map(|(e, w)| Linear {
                weight: Param::from_tensor(blend(&e.weight, &w.weight)),
                bias: match (&e.bias, &w.bias) {
                    (Some(eb), Some(wb)) => Some(Param::from_tensor(blend1(eb, wb))),
                    _ => None,
                },
            })
            .collect();
        self.ema = Some(ema.with_layers(layers));
    }

    /// The sampling weights as a checkpoint, with the learned loss weight if any.
    pub async fn checkpoint(&self) -> Result<Checkpoint, String> {
        let mut ck =
            Checkpoint::from_net(&self.config.model, self.step, &self.sampling_net()).await?;
        if let Some((w, _)) = &self.weight {
            ck.loss_weight = Some(read_layers(layer_tensors(&w.layers)).await?);
        }
        Ok(ck)
    }

    /// The learned loss weight w(s,t), if the recipe learns one.
    pub fn loss_weight(&self) -> Option<&LossWeight> {
        self.weight.as_ref().map(|(w, _)| w)
    }

    /// The whole run on the host (weights, EMA, AdamW's moments, the data stream), to resume it
    /// exactly with [`Self::resume`].
    pub async fn run_state(&self) -> Result<RunState, String> {
        let weights = read_layers(layer_tensors(&self.net.valid().layers)).await?;
        let ema = match &self.ema {
            Some(ema) => Some(read_layers(layer_tensors(&ema.layers)).await?),
            None => None,
        };
        let loss_weight = match &self.weight {
            Some((w, optim)) => Some((
                read_layers(layer_tensors(&w.valid().layers)).await?,
                read_moments(optim).await?,
            )),
            None => None,
        };
        Ok(RunState {
            config: self.config.clone(),
            step: self.step,
            rng: self.rng.state(),
            adam_steps: self.optim.steps(),
            weights,
            ema,
            moments: read_moments(&self.optim).await?,
            loss_weight,
        })
    }

    /// A run continued from a [`RunState`] (already validated by `run_state::decode`) on
    /// `device` (a plain device; autodiff is enabled here).
    pub fn resume(state: RunState, device: &Device) -> Result<Self, String> {
        state.config.validate()?;
        let device = device.clone().autodiff();
        let host_update = backend::on_host(&device);
        let model = &state.config.model;
        let net = net_from(model, &state.weights, &device);
        let inner = device.clone().without_autodiff();
        let ema = state.ema.as_ref().map(|e| net_from(model, e, &inner));
        let moments = match &state.moments {
            Some((m, v)) => adamw::moments_from(&model.layer_dims(), m, v, &inner),
            None => Vec::new(),
        };
        let optim = AdamW::resume(
            state.config.train.weight_decay as f32,
            state.adam_steps,
            moments,
        );
        let weight = state.loss_weight.as_ref().map(|(w, moments)| {
            let dims = loss_weight::layer_dims();
            let moments = match moments {
                Some((m, v)) => adamw::moments_from(&dims, m, v, &inner),
                None => Vec::new(),
            };
            let decay = state.config.train.weight_decay as f32;
            let optim = AdamW::resume(decay, state.adam_steps, moments);
            (LossWeight::from_layers(w, &device), optim)
        });
        Ok(Self {
            rng: Rng::new(state.rng),
            step: state.step,
            config: state.config,
            device,
            net,
            ema,
            optim,
            weight,
            clips: None,
            pending_shard: false,
            host_update,
        })
    }

    /// Replace the weights with a checkpoint's. A corrupt file or another architecture is an error
    /// and leaves the trainer exactly as it was. The optimizer state restarts.
    pub fn load(&mut self, bytes: &[u8]) -> Result<(), String> {
        let ck = checkpoint::decode(bytes)?;
        if ck.model != self.config.model {
            return Err(format!(
                "checkpoint holds a {}x{} network, this run uses {}x{}",
                ck.model.depth, ck.model.width, self.config.model.depth, self.config.model.width
            ));
        }
        self.net = ck.to_net(&self.device);
        self.pending_shard = false; // a shard of the old weights is never applied to the new
        self.ema = self.config.train.ema_decay.map(|_| self.net.valid());
        self.optim = optimizer(&self.config);
        // The learned weight restarts its optimizer with the map's; it takes the checkpoint's
        // values where there are some (a checkpoint from an unweighted run leaves it as it is).
        if let Some((w, optim)) = &mut self.weight {
            if let Some(layers) = &ck.loss_weight {
                *w = LossWeight::from_layers(layers, &self.device);
            }
            *optim = optimizer(&self.config);
        }
        self.step = ck.step;
        Ok(())
    }
}

/// (weight, bias) tensors of each layer, to read them.
fn layer_tensors(layers: &[Linear]) -> Vec<(Tensor<2>, Tensor<1>)> {
    layers.iter().map(|l| (l.weight.val(), bias(l))).collect()
}

/// An optimizer's (m, v) per layer on the host; `None` before its first step.
async fn read_moments(
    optim: &AdamW,
) -> Result<Option<(checkpoint::Layers, checkpoint::Layers)>, String> {
    let moments = optim.moments();
    if moments.is_empty() {
        return Ok(None);
    }
    let m = moments
        .iter()
        .map(|l| (l.weight.m.clone(), l.bias.m.clone()));
    let v = moments
        .iter()
        .map(|l| (l.weight.v.clone(), l.bias.v.clone()));
    Ok(Some((read_layers(m).await?, read_layers(v).await?)))
}

/// Mixed into the seed for the learned weight's initial values.
const LOSS_WEIGHT_SEED: u64 = 0x5717_3e19_4d0c_a1b5;

/// A fresh AdamW (betas and epsilon as in PyTorch and the reference; clipping happens before,
/// in `step`, see `clipping`).
fn optimizer(config: &Config) -> AdamW {
    AdamW::new(config.train.weight_decay as f32)
}
