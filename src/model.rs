//! The network v_{s,t}(x) = MLP([x, s, t]), the flow map X_{s,t}(x) = x + (t-s) v_{s,t}(x), and
//! forward-mode tangents of it.
//!
//! Burn has only first-order reverse mode, so the exact time derivative that LSD and ESD need is
//! pushed through the layers beside the forward pass (a JVP): for each layer
//!   z = h W + b,       dz = dh W
//!   a = silu(z),       da = silu'(z) dz,   silu'(z) = sig(z) + a (1 - sig(z)).
//! These are ordinary tensor ops, so reverse mode differentiates through both streams.

use crate::config::ModelConfig;
use crate::rng::Rng;
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};

/// Inputs of the network: x (2) then s and t.
pub const INPUT_DIM: usize = 4;
/// Output: a velocity in the plane.
pub const OUTPUT_DIM: usize = 2;

/// The MLP 4 -> depth x width (SiLU) -> 2.
#[derive(Module, Debug)]
pub struct FlowMapNet {
    pub layers: Vec<Linear>,
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
        Self { layers }
    }

    /// v on a packed input. `input`: [B, 4] = [x, s, t]; returns [B, 2].
    pub fn velocity_packed(&self, input: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        let mut h = input;
        for (i, layer) in self.layers.iter().enumerate() {
            let z = affine(layer, h); // [B, out]
            h = if i == last { z } else { silu(z) };
        }
        h
    }

    /// v and its directional derivative. `input`, `tangent`: [B, 4]; returns ([B, 2], [B, 2]).
    pub fn velocity_jvp(&self, input: Tensor<2>, tangent: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let last = self.layers.len() - 1;
        let (mut h, mut dh) = (input, tangent);
        for (i, layer) in self.layers.iter().enumerate() {
            let z = affine(layer, h); // [B, out]
            let dz = dh.matmul(layer.weight.val()); // [B, out]: the bias has no tangent
            if i == last {
                return (z, dz);
            }
            let sig = sigmoid(z.clone()); // [B, out]
            let a = z * sig.clone(); // silu(z)
            // silu'(z) = sig + a (1 - sig) = sig + a - a sig
            let slope = sig.clone() + a.clone() - a.clone() * sig;
            h = a;
            dh = dz * slope;
        }
        unreachable!("a FlowMapNet has at least one layer")
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
