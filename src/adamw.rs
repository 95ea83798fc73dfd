//! AdamW with its state in the open, so that a run can be saved and resumed exactly on every
//! backend.
//!
//! Per parameter w with gradient g (already clipped), at optimizer step k = 1, 2, ...
//! (Loshchilov & Hutter 2019; PyTorch's `AdamW`, which the reference uses):
//!
//!   m <- b1 m + (1 - b1) g,          v <- b2 v + (1 - b2) g^2,
//!   w <- w (1 - lr wd) - lr (m / (1 - b1^k)) / (sqrt(v / (1 - b2^k)) + eps).
//!
//! Burn's `AdamW` computes the same, but keeps m and v behind type erasure keyed by parameter
//! ids, reads them back only synchronously (which WebGPU in a browser cannot do) and reloads
//! them onto Burn's default device (wgpu in this build, whatever the session runs on). Here the
//! moments are plain tensors per layer, read with the one async read path and written back on
//! the session's device. The arithmetic is Burn's, op for op: `tests/training.rs` checks that
//! both give bit-identical weights, so every figure made with Burn's optimizer still reproduces.

use crate::model::FlowMapNet;
use burn::module::Param;
use burn::nn::Linear;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};

/// The reference's (PyTorch's) AdamW betas and epsilon.
pub const BETA_1: f32 = 0.9;
pub const BETA_2: f32 = 0.999;
pub const EPSILON: f32 = 1e-8;

/// First and second moments of one parameter tensor.
#[derive(Clone)]
pub struct Moments<const D: usize> {
    pub m: Tensor<D>,
    pub v: Tensor<D>,
}

/// The moments of one layer's weight ([in, out]) and bias ([out]).
#[derive(Clone)]
pub struct LayerMoments {
    pub weight: Moments<2>,
    pub bias: Moments<1>,
}

/// AdamW over the layers of a network (a [`FlowMapNet`], or the loss weight).
#[derive(Clone)]
pub struct AdamW {
    weight_decay: f32,
    /// Optimizer steps taken, k above (0: no moments yet).
    steps: usize,
    /// One entry per layer once the first step has run; on the inner (non-autodiff) device.
    moments: Vec<LayerMoments>,
}

impl AdamW {
    pub fn new(weight_decay: f32) -> Self {
        Self {
            weight_decay,
            steps: 0,
            moments: Vec::new(),
        }
    }

    /// An optimizer that continues from saved moments after `steps` steps (`moments` empty
    /// when `steps` is 0).
    pub fn resume(weight_decay: f32, steps: usize, moments: Vec<LayerMoments>) -> Self {
        Self {
            weight_decay,
            steps,
            moments,
        }
    }

    pub fn steps(&self) -> usize {
        self.steps
    }

    /// The moments per layer (empty before the first step).
    pub fn moments(&self) -> &[LayerMoments] {
        &self.moments
    }

    /// One AdamW step of every parameter of `net` that has a gradient in `grads`.
    pub fn step(&mut self, lr: f64, net: FlowMapNet, grads: &mut GradientsParams) -> FlowMapNet {
        let layers = self.step_layers(lr, &net.layers, grads);
        net.with_layers(layers)
    }

    /// One AdamW step of every parameter of `layers` that has a gradient in `grads`.
    pub fn step_layers(
        &mut self,
        lr: f64,
        layers: &[Linear],
        grads: &mut GradientsParams,
    ) -> Vec<Linear> {
        if self.moments.is_empty() {
            // Zero moments give exactly Burn's first step: 0 * b1 + (1 - b1) g = (1 - b1) g.
            self.moments = layers.iter().map(zero_moments).collect();
        }
        self.steps += 1;
        let k = self.steps.min(i32::MAX as usize) as i32; // b^k is 0 long before
        let correction = (1f32 - BETA_1.powi(k), 1f32 - BETA_2.powi(k));
        let rule = Rule {
            lr,
            weight_decay: self.weight_decay,
            correction,
        };
        layers
            .iter()
            .zip(self.moments.iter_mut())
            .map(|(layer, moments)| {
                let weight = rule.update(layer.weight.clone(), grads, &mut moments.weight);
                let bias = layer
                    .bias
                    .clone()
                    .map(|b| rule.update(b, grads, &mut moments.bias));
                Linear { weight, bias }
            })
            .collect()
    }
}

/// The update of one step: learning rate, decay and the two bias corrections.
struct Rule {
    lr: f64,
    weight_decay: f32,
    /// (1 - b1^k, 1 - b2^k), in f32 as Burn computes them.
    correction: (f32, f32),
}

impl Rule {
    fn update<const D: usize>(
        &self,
        param: Param<Tensor<D>>,
        grads: &mut GradientsParams,
        moments: &mut Moments<D>,
    ) -> Param<Tensor<D>> {
        let Some(g) = grads.remove::<D>(param.id) else {
            return param;
        };
        moments.m = moments.m.clone() * BETA_1 + g.clone() * (1.0 - BETA_1);
        moments.v = moments.v.clone() * BETA_2 + g.square() * (1.0 - BETA_2);
        let m_hat = moments.m.clone() / self.correction.0;
        let v_hat = moments.v.clone() / self.correction.1;
        let delta = m_hat / (v_hat.sqrt() + EPSILON);
        let decay = self.lr * self.weight_decay as f64;
        param.map(|w| {
            let require_grad = w.is_require_grad();
            let w = w.inner();
            let w = if decay == 0.0 { w } else { w * (1.0 - decay) };
            let w = Tensor::from_inner(w - delta * self.lr);
            if require_grad { w.require_grad() } else { w }
        })
    }
}

fn zero_moments(layer: &Linear) -> LayerMoments {
    let zeros2 = |p: &Param<Tensor<2>>| p.val().inner().zeros_like();
    let bias = layer
        .bias
        .as_ref()
        .expect("FlowMapNet layers always have a bias")
        .val()
        .inner()
        .zeros_like();
    LayerMoments {
        weight: Moments {
            m: zeros2(&layer.weight),
            v: zeros2(&layer.weight),
        },
        bias: Moments {
            m: bias.clone(),
            v: bias,
        },
    }
}

/// Moments from host floats (a saved run), on `device` (the inner device of the session).
pub fn moments_from(
    dims: &[(usize, usize)],
    m: &[(Vec<f32>, Vec<f32>)],
    v: &[(Vec<f32>, Vec<f32>)],
    device: &Device,
) -> Vec<LayerMoments> {
    let t2 = |x: &[f32], i: usize, o: usize| {
        Tensor::<2>::from_data(TensorData::new(x.to_vec(), [i, o]), device) // [in, out]
    };
    let t1 = |x: &[f32]| Tensor::<1>::from_data(TensorData::new(x.to_vec(), [x.len()]), device); // [out]
    dims.iter()
        .zip(m.iter().zip(v))
        .map(|(&(i, o), ((mw, mb), (vw, vb)))| LayerMoments {
            weight: Moments {
                m: t2(mw, i, o),
                v: t2(vw, i, o),
            },
            bias: Moments {
                m: t1(mb),
                v: t1(vb),
            },
        })
        .collect()
}
