//! The network v_{s,t}(x) = MLP([x, s, t]), the flow map X_{s,t}(x) = x + (t-s) v_{s,t}(x), and
//! forward-mode tangents of it.
//!
//! Burn has only first-order reverse mode, so the exact time derivative that LSD and ESD need is
//! pushed through the layers beside the forward pass (a JVP): for each layer
//!   z = h W + b,       dz = dh W
//!   a = silu(z),       da = silu'(z) dz,   silu'(z) = sig(z) + a (1 - sig(z))
//!   (or a = gelu(z) = z Phi(z),            gelu'(z) = Phi(z) + z phi(z)).
//! These are ordinary tensor ops, so reverse mode differentiates through both streams.
//!
//! With preconditioning (sigma != 1, the data's standard deviation) the network sees x / sigma and
//! returns sigma * MLP: v_{s,t}(x) = sigma MLP([x / sigma, s, t]), as in the paper's code.

use crate::config::{Activation, ModelConfig};
use crate::rng::Rng;
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};

/// Inputs of the network: x (2) then s and t.
pub const INPUT_DIM: usize = 4;
/// Output: a velocity in the plane.
pub const OUTPUT_DIM: usize = 2;

/// The MLP 4 -> depth x width (SiLU or GELU) -> 2, with optional sigma-preconditioning.
#[derive(Module, Debug)]
pub struct FlowMapNet {
    pub layers: Vec<Linear>,
    /// GELU hidden activations instead of SiLU ([`Activation`]; a plain flag so that the module
    /// derive treats it as a constant).
    pub gelu: bool,
    /// The preconditioning scale sigma ([`ModelConfig::sigma`]); 1 means none.
    pub sigma: f32,
}

/// Per-layer (in, out) sizes.
pub fn layer_dims(cfg: &ModelConfig) -> Vec<(usize, usize)> {
    let mut dims = vec![(INPUT_DIM, cfg.width)];
    dims.extend((1..cfg.depth).map(|_| (cfg.width, cfg.width)));
    dims.push((cfg.width, OUTPUT_DIM));
    dims
}

/// A dense layer from host weights: `weight` row-major [in, out] (Burn's layout), `bias` [out].
pub fn linear_from(
    weight: Vec<f32>,
    bias: Vec<f32>,
    d_in: usize,
    d_out: usize,
    device: &Device,
) -> Linear {
    Linear {
        weight: Param::from_data(TensorData::new(weight, [d_in, d_out]), device),
        bias: Some(Param::from_data(TensorData::new(bias, [d_out]), device)),
    }
}

impl FlowMapNet {
    /// PyTorch's default Linear init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases,
    /// drawn from our own generator so the same seed gives the same net on every backend.
    pub fn init(cfg: &ModelConfig, rng: &mut Rng, device: &Device) -> Self {
        let layers = layer_dims(cfg)
            .into_iter()
            .map(|(i, o)| {
                let k = 1.0 / (i as f64).sqrt();
                let mut u = |n: usize| -> Vec<f32> {
                    (0..n)
                        .map(|_| ((2.0 * rng.uniform() - 1.0) * k) as f32)
                        .collect()
                };
                let w = u(i * o);
                let b = u(o);
                linear_from(w, b, i, o, device)
            })
            .collect();
        Self::from_layers(cfg, layers)
    }

    /// A net of `cfg`'s activation and preconditioning around given layers.
    pub fn from_layers(cfg: &ModelConfig, layers: Vec<Linear>) -> Self {
        Self {
            layers,
            gelu: cfg.activation == Activation::Gelu,
            sigma: cfg.sigma as f32,
        }
    }

    /// The same activation and preconditioning around other layers.
    pub fn with_layers(&self, layers: Vec<Linear>) -> Self {
        Self {
            layers,
            gelu: self.gelu,
            sigma: self.sigma,
        }
    }

    /// v on a packed input. `input`: [B, 4] = [x, s, t]; returns [B, 2].
    pub fn velocity_packed(&self, input: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        let mut h = self.precondition(input);
        for (i, layer) in self.layers.iter().enumerate() {
            let z = affine(layer, h); // [B, out]
            h = if i == last {
                z
            } else if self.gelu {
                gelu_phi(z).0
            } else {
                silu(z)
            };
        }
        self.rescale(h)
    }

    /// v and its directional derivative. `input`, `tangent`: [B, 4]; returns ([B, 2], [B, 2]).
    pub fn velocity_jvp(&self, input: Tensor<2>, tangent: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let last = self.layers.len() - 1;
        // The input scaling is linear, so the tangent is scaled the same way.
        let (mut h, mut dh) = (self.precondition(input), self.precondition(tangent));
        for (i, layer) in self.layers.iter().enumerate() {
            let z = affine(layer, h); // [B, out]
            let dz = dh.matmul(layer.weight.val()); // [B, out]: the bias has no tangent
            if i == last {
                return (self.rescale(z), self.rescale(dz));
            }
            let (a, slope) = if self.gelu {
                let (a, phi_cdf) = gelu_phi(z.clone());
                // gelu'(z) = Phi(z) + z phi(z), phi(z) = exp(-z^2/2) / sqrt(2 pi)
                let density = (z.clone().square() * -0.5).exp() * FRAC_1_SQRT_2PI;
                (a, phi_cdf + z * density)
            } else {
                let sig = sigmoid(z.clone()); // [B, out]
                let a = z * sig.clone(); // silu(z)
                // silu'(z) = sig + a (1 - sig) = sig + a - a sig
                let slope = sig.clone() + a.clone() - a.clone() * sig;
                (a, slope)
            };
            h = a;
            dh = dz * slope;
        }
        unreachable!("a FlowMapNet has at least one layer")
    }

    /// [x / sigma, s, t] for a packed input (or tangent) `input`: [B, 4]; a no-op at sigma = 1.
    fn precondition(&self, input: Tensor<2>) -> Tensor<2> {
        if self.sigma == 1.0 {
            return input;
        }
        let k = 1.0 / self.sigma;
        let scale = Tensor::<1>::from_data(
            TensorData::new(vec![k, k, 1.0, 1.0], [INPUT_DIM]),
            &input.device(),
        )
        .unsqueeze::<2>(); // [1, 4]
        input * scale
    }

    /// sigma * output; a no-op at sigma = 1.
    fn rescale(&self, out: Tensor<2>) -> Tensor<2> {
        if self.sigma == 1.0 {
            out
        } else {
            out * self.sigma
        }
    }

    /// v_{s,t}(x). `x`: [B, 2], `s`, `t`: [B, 1]; returns [B, 2].
    pub fn velocity(&self, x: Tensor<2>, s: Tensor<2>, t: Tensor<2>) -> Tensor<2> {
        self.velocity_packed(Tensor::cat(vec![x, s, t], 1))
    }

    /// X_{s,t}(x) = x + (t - s) v_{s,t}(x). Shapes as in [`Self::velocity`].
    pub fn flow(&self, x: Tensor<2>, s: Tensor<2>, t: Tensor<2>) -> Tensor<2> {
        let dt = t.clone() - s.clone(); // [B, 1]
        let v = self.velocity(x.clone(), s, t);
        x + v * dt
    }

    /// X_{s,t}(x) and the exact dX_{s,t}(x)/dt = v + (t - s) dv/dt.
    pub fn flow_dt(&self, x: Tensor<2>, s: Tensor<2>, t: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let (input, dt) = pack(x.clone(), s, t);
        let (v, dv) = self.velocity_jvp(input, unit_tangent(&dt, 3));
        (x + v.clone() * dt.clone(), v + dv * dt)
    }

    /// X_{s,t}(x) and the exact dX_{s,t}(x)/ds = -v + (t - s) dv/ds.
    pub fn flow_ds(&self, x: Tensor<2>, s: Tensor<2>, t: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let (input, dt) = pack(x.clone(), s, t);
        let (v, dv) = self.velocity_jvp(input, unit_tangent(&dt, 2));
        (x + v.clone() * dt.clone(), dv * dt - v)
    }

    /// X_{s,t}(x) and grad_x X_{s,t}(x) . w = w + (t - s) (grad_x v) w, for a direction `w`: [B, 2].
    pub fn flow_dx(
        &self,
        x: Tensor<2>,
        s: Tensor<2>,
        t: Tensor<2>,
        w: Tensor<2>,
    ) -> (Tensor<2>, Tensor<2>) {
        let (input, dt) = pack(x.clone(), s, t);
        let zeros = Tensor::zeros_like(&dt).repeat_dim(1, 2); // [B, 2]: no tangent in s, t
        let tangent = Tensor::cat(vec![w.clone(), zeros], 1); // [B, 4]
        let (v, dv) = self.velocity_jvp(input, tangent);
        (x + v * dt.clone(), w + dv * dt)
    }

    /// Number of trainable scalars.
    pub fn parameter_count(&self) -> usize {
        self.num_params()
    }
}

/// h W + b for one layer. `h`: [B, in]; returns [B, out].
fn affine(layer: &Linear, h: Tensor<2>) -> Tensor<2> {
    let z = h.matmul(layer.weight.val());
    match &layer.bias {
        Some(b) => z + b.val().unsqueeze::<2>(),
        None => z,
    }
}

fn silu(z: Tensor<2>) -> Tensor<2> {
    z.clone() * sigmoid(z)
}

/// 1 / sqrt(2 pi), the standard normal density at 0.
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// (gelu(z) = z Phi(z), Phi(z)) with Phi the standard normal CDF, 0.5 (1 + erf(z / sqrt 2)).
fn gelu_phi(z: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
    let cdf = ((z.clone() * std::f32::consts::FRAC_1_SQRT_2).erf() + 1.0) * 0.5;
    (z * cdf.clone(), cdf)
}

/// ([x, s, t] as [B, 4], t - s as [B, 1]).
fn pack(x: Tensor<2>, s: Tensor<2>, t: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
    let dt = t.clone() - s.clone();
    (Tensor::cat(vec![x, s, t], 1), dt)
}

/// The [B, 4] tangent e_k, for a batch shaped like `like` ([B, 1]).
fn unit_tangent(like: &Tensor<2>, k: usize) -> Tensor<2> {
    let [b, _] = like.dims();
    let mut e = [0f32; INPUT_DIM];
    e[k] = 1.0;
    Tensor::<1>::from_data(TensorData::new(e.to_vec(), [INPUT_DIM]), &like.device())
        .unsqueeze::<2>()
        .expand([b, INPUT_DIM])
}
