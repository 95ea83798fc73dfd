//! A learned weight of the loss over the times (uncertainty weighting: Kendall, Gal & Cipolla
//! 2018; the log-variance head of EDM2, Karras et al. 2024, which the paper's image model uses):
//! each row's loss L at times (s, t) becomes
//!
//!   exp(-w(s,t)) L + w(s,t),
//!
//! with w a small network of (s, t) trained with the map. For fixed (s, t) the minimum over w is
//! at w = log E[L | s, t], where the term is 1 + log E[L | s, t]: every pair of times then pulls
//! on the map with a gradient of the same scale, exp(-w) grad L = grad L / E[L | s, t], whatever
//! the size of its residual. Rows whose residual is large (ESD's far jumps, PSD's long ones) no
//! longer dominate the batch, and rows whose residual is small are no longer starved. The
//! diagonal rows take w(t, t).
//!
//! The paper's released 2D code defines such a network but returns the constant 1 from it
//! (docs/results.md, "Learned loss weighting"); this is the weighting as its image model has it.

use crate::model::Layers;
use crate::model::linear_from;
use crate::rng::Rng;
use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};

/// Hidden width of w: one hidden layer over (s, t) is enough for a smooth function of two
/// numbers, and costs a few hundred FLOPs per row against the map's ~400k.
pub const HIDDEN: usize = 64;

/// The MLP [s, t] -> HIDDEN (SiLU) -> 1.
#[derive(Module, Debug)]
pub struct LossWeight {
    pub layers: Vec<Linear>,
}

/// Per-layer (in, out) sizes, as `ModelConfig::layer_dims` gives them for the map.
pub fn layer_dims() -> Vec<(usize, usize)> {
    vec![(2, HIDDEN), (HIDDEN, 1)]
}

impl LossWeight {
    /// PyTorch's default init for the hidden layer; the output layer starts at zero, so w = 0
    /// and exp(-w) L + w = L: a fresh run starts on exactly the unweighted loss.
    pub fn init(rng: &mut Rng, device: &Device) -> Self {
        let layers = layer_dims()
            .into_iter()
            .enumerate()
            .map(|(k, (i, o))| {
                let bound = 1.0 / (i as f64).sqrt();
                let mut u = |n: usize| -> Vec<f32> {
                    if k == 0 {
                        (0..n)
                            .map(|_| ((2.0 * rng.uniform() - 1.0) * bound) as f32)
                            .collect()
                    } else {
                        vec![0.0; n]
                    }
                };
                let w = u(i * o);
                let b = u(o);
                linear_from(w, b, i, o, device)
            })
            .collect();
        Self { layers }
    }

    /// The network with these host weights (weight [in, out], bias [out] per layer).
    pub fn from_layers(layers: &Layers, device: &Device) -> Self {
        let layers = layer_dims()
            .into_iter()
            .zip(layers)
            .map(|((i, o), (w, b))| linear_from(w.clone(), b.clone(), i, o, device))
            .collect();
        Self { layers }
    }

    /// w(s, t). `s`, `t`: [B, 1]; returns [B, 1].
    pub fn at(&self, s: Tensor<2>, t: Tensor<2>) -> Tensor<2> {
        let [first, out] = [&self.layers[0], &self.layers[1]];
        let w = first.weight.val(); // [2, HIDDEN]
        let (w_s, w_t) = (w.clone().narrow(0, 0, 1), w.narrow(0, 1, 1)); // [1, HIDDEN] each
        let mut z = s * w_s + t * w_t; // [B, HIDDEN]
        if let Some(b) = &first.bias {
            z = z + b.val().unsqueeze::<2>(); // [B, HIDDEN]
        }
        out.forward(silu(z)) // [B, 1]
    }
}

/// The weighted mean mean_rows(exp(-w) L + w). `loss`, `w`: [B, 1]; returns [1].
pub fn weighted_mean(loss: Tensor<2>, w: Tensor<2>) -> Tensor<1> {
    (w.clone().neg().exp() * loss + w).mean()
}

/// The relative rule (`Weighting::Relative`):
///
///   mean_rows(λ L) + mean_rows(exp(-w) sg[L] + w),   λ = sg[exp(-w) / mean_rows(exp(-w))],
///
/// so the map's gradient is mean(λ grad L), the term's rows reweighted with weights of mean 1
/// (the term's share of the whole loss is the unweighted one), and w's gradient is that of
/// `weighted_mean`: w still learns log E[L | s, t]. Why: under `weighted_mean` the
/// off-diagonal rows, whose residuals start near 1e-4, took weights ~2400 against ~0.5 on the
/// diagonal and every method diverged (docs/loss-weighting.md). `loss`, `w`: [B, 1]; returns [1].
pub fn relative_mean(loss: Tensor<2>, w: Tensor<2>) -> Tensor<1> {
    let e = w.clone().neg().exp().detach(); // [B, 1]
    let lambda = e.clone() / e.mean().unsqueeze::<2>(); // [B, 1], mean 1
    (lambda * loss.clone()).mean() + weighted_mean(loss.detach(), w)
}
