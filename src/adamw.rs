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
//!
//! On the CPU backends (flex, ndarray) the trainer takes the same step, with the clip's factor
//! and the EMA's blend, as one pass over each parameter's values on the host
//! ([`AdamW::step_layers_on_host`]): the same bits again, with one read and one write of each
//! value instead of about twenty tensor passes (docs/speed.md has the time it saves).

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

    /// Counts a step and gives its update (k = the new count), the moments made at the first.
    fn next_rule(&mut self, lr: f64, layers: &[Linear]) -> Rule {
        if self.moments.is_empty() {
            // Zero moments give exactly Burn's first step: 0 * b1 + (1 - b1) g = (1 - b1) g.
            self.moments = layers.iter().map(zero_moments).collect();
        }
        self.steps += 1;
        let k = self.steps.min(i32::MAX as usize) as i32; // b^k is 0 long before
        Rule {
            lr,
            weight_decay: self.weight_decay,
            correction: (1f32 - BETA_1.powi(k), 1f32 - BETA_2.powi(k)),
        }
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
        let rule = self.next_rule(lr, layers);
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

impl AdamW {
    /// [`Self::step_layers`] and the EMA's blend on a CPU backend, as one pass over each
    /// parameter's values on the host instead of about twenty tensor ops (each a pass that
    /// allocates its result): with the clip's factor k (1 for none),
    ///
    ///   g <- k g,   then the update above,   then ema <- d ema + (1 - d) w  (the new w),
    ///
    /// each operation rounded to f32 in the order the tensor ops round it, so the weights,
    /// moments and average are the same bits (`tests/training.rs`). `scales`: k per layer for
    /// its weight and its bias (as `clipping::clip_scales` gives them, read back); `ema`: the
    /// average's layers and d. On flex a tensor held once is read out and made again without a
    /// copy. Panics on a device whose reads wait (WebGPU): call it where `backend::on_host`.
    pub fn step_layers_on_host(
        &mut self,
        lr: f64,
        layers: Vec<Linear>,
        grads: &mut GradientsParams,
        scales: &[(f32, f32)],
        ema: Option<(Vec<Linear>, f64)>,
    ) -> (Vec<Linear>, Option<Vec<Linear>>) {
        assert_eq!(
            scales.len(),
            layers.len(),
            "one pair of clip factors per layer"
        );
        let rule = self.next_rule(lr, &layers);
        let (ema_layers, blend) = match ema {
            Some((e, d)) => (e.into_iter().map(Some).collect(), Some(Blend::new(d))),
            None => (vec![None; layers.len()], None),
        };
        let mut new_ema = Vec::new();
        let mut out = Vec::with_capacity(layers.len());
        let moments = std::mem::take(&mut self.moments);
        for (((layer, moments), e), &(kw, kb)) in
            layers.into_iter().zip(moments).zip(ema_layers).zip(scales)
        {
            let (e_weight, e_bias) = match e {
                Some(e) => (Some(e.weight), e.bias),
                None => (None, None),
            };
            let (weight, mw, ew) =
                rule.update_on_host(layer.weight, grads, kw, moments.weight, e_weight.zip(blend));
            let (bias, mb, eb) = match layer.bias {
                Some(b) => {
                    let (b, m, e) =
                        rule.update_on_host(b, grads, kb, moments.bias, e_bias.zip(blend));
                    (Some(b), m, e)
                }
                None => (None, moments.bias, None),
            };
            self.moments.push(LayerMoments {
                weight: mw,
                bias: mb,
            });
            if let Some(weight) = ew {
                new_ema.push(Linear { weight, bias: eb });
            }
            out.push(Linear { weight, bias });
        }
        (out, blend.map(|_| new_ema))
    }
}

/// ema <- d ema + (1 - d) w, its two factors as the tensor ops round them (f64 scalars to f32).
#[derive(Clone, Copy)]
struct Blend {
    keep: f32,
    take: f32,
}

impl Blend {
    fn new(d: f64) -> Self {
        Self {
            keep: d as f32,
            take: (1.0 - d) as f32,
        }
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

impl Rule {
    /// [`Rule::update`] of one parameter, then the blend of its EMA copy, on the host
    /// ([`AdamW::step_layers_on_host`]).
    fn update_on_host<const D: usize>(
        &self,
        param: Param<Tensor<D>>,
        grads: &mut GradientsParams,
        scale: f32,
        moments: Moments<D>,
        ema: Option<(Param<Tensor<D>>, Blend)>,
    ) -> (Param<Tensor<D>>, Moments<D>, Option<Param<Tensor<D>>>) {
        let Some(g) = grads.remove::<D>(param.id) else {
            // No gradient: the weight and its moments stay, as in `update`; the EMA still
            // blends, as `Trainer::update_ema` does.
            let ema = ema.map(|(e, blend)| {
                let mut w = host(param.val().detach().inner()); // a copy: the weight stays
                blend_into(e, slice(&mut w), blend)
            });
            return (param, moments, ema);
        };
        let Moments { m, v } = moments;
        let (mut m_out, mut ema_out) = (None, None);
        let param = param.map(|w| {
            let require_grad = w.is_require_grad();
            let w = w.inner(); // [shape of the parameter]
            let device = w.device();
            let (mut w, g) = (host(w), host(g.inner()));
            let (mut m, mut v) = (host(m), host(v));
            let g = g.as_slice::<f32>().expect("the model's tensors are f32");
            self.update_values(scale, slice(&mut w), g, slice(&mut m), slice(&mut v));
            m_out = Some(Moments {
                m: Tensor::from_data(m, &device),
                v: Tensor::from_data(v, &device),
            });
            ema_out = ema.map(|(e, blend)| blend_into(e, slice(&mut w), blend));
            let w = Tensor::from_inner(Tensor::from_data(w, &device));
            if require_grad { w.require_grad() } else { w }
        });
        let moments = m_out.expect("`map` ran the update");
        (param, moments, ema_out)
    }

    /// The update on one parameter's values: `w`, its moments `m` and `v` in place, from the
    /// gradient `g` scaled by the clip's `scale`. One rounding per operation, in the order
    /// of [`Rule::update`]'s tensor ops (the scalars rounded to f32 as Burn rounds them);
    /// decay 0 multiplies by 1, which changes no value.
    fn update_values(&self, scale: f32, w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        let (c1, c2) = self.correction;
        let lr = self.lr as f32;
        let keep = (1.0 - self.lr * self.weight_decay as f64) as f32;
        let (one_minus_b1, one_minus_b2) = (1.0 - BETA_1, 1.0 - BETA_2);
        for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            let g = g * scale;
            *m = *m * BETA_1 + g * one_minus_b1;
            *v = *v * BETA_2 + g * g * one_minus_b2;
            let delta = (*m / c1) / ((*v / c2).sqrt() + EPSILON);
            *w = *w * keep - delta * lr;
        }
    }
}

/// ema <- d ema + (1 - d) w for an EMA parameter and the weight's values `w`.
fn blend_into<const D: usize>(e: Param<Tensor<D>>, w: &[f32], blend: Blend) -> Param<Tensor<D>> {
    e.map(|e| {
        let device = e.device();
        let mut e = host(e);
        for (e, &w) in slice(&mut e).iter_mut().zip(w) {
            *e = *e * blend.keep + w * blend.take;
        }
        Tensor::from_data(e, &device)
    })
}

/// A CPU tensor's values; no copy where the tensor is held only here (flex).
fn host<const D: usize>(t: Tensor<D>) -> TensorData {
    t.into_data()
}

fn slice(data: &mut TensorData) -> &mut [f32] {
    data.as_mut_slice::<f32>()
        .expect("the model's tensors are f32")
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
