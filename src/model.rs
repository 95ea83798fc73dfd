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

use crate::activation::{normal_cdf, normal_cdf_pdf, sigmoid};
use crate::config::{Activation, INPUT_DIM, ModelConfig};
use crate::rng::Rng;
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};

/// Points with their times as the student takes them: `x` [B, 2], `s`, `t` [B, 1], and the same
/// packed as [x, s, t] ([B, 4]) for its first layer. A training batch packs them on the host
/// ([`crate::batch::HostBatch::to_device`]): on the GPU a concatenation costs one dispatch per
/// part, every step.
#[derive(Clone, Debug)]
pub struct Rows {
    pub x: Tensor<2>,
    pub s: Tensor<2>,
    pub t: Tensor<2>,
    pub packed: Tensor<2>,
}

impl Rows {
    /// Packs on the device (tests, and callers without a host batch).
    pub fn new(x: Tensor<2>, s: Tensor<2>, t: Tensor<2>) -> Self {
        let packed = Tensor::cat(vec![x.clone(), s.clone(), t.clone()], 1); // [B, 4]
        Self { x, s, t, packed }
    }

    /// t - s: [B, 1].
    pub fn dt(&self) -> Tensor<2> {
        self.t.clone() - self.s.clone()
    }
}

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

/// Weights and biases per layer, on the host: (weight [in*out], bias [out]).
pub type Layers = Vec<(Vec<f32>, Vec<f32>)>;

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
        let layers = cfg
            .layer_dims()
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
        let z = affine(&self.layers[0], self.precondition(input)); // [B, width]
        self.after_first(z)
    }

    /// The rest of the network from the first layer's pre-activation `z`: [B, width]; returns
    /// [B, 2].
    fn after_first(&self, mut z: Tensor<2>) -> Tensor<2> {
        for layer in &self.layers[1..] {
            z = affine(layer, self.activate(z)); // [B, out]
        }
        self.rescale(z)
    }

    fn activate(&self, z: Tensor<2>) -> Tensor<2> {
        if self.gelu { gelu(z) } else { silu(z) }
    }

    /// Whether the weights carry autodiff (the student being trained).
    fn trains(&self) -> bool {
        self.layers[0].weight.val().is_require_grad()
    }

    /// The first layer on the input's columns, z = [x / sigma, s, t] W + b computed as
    /// (x / sigma) W_x + s W_s + t W_t + b, with W_x, W_s, W_t the rows of W for x, s and t: no
    /// [B, 4] input is assembled (a concatenation is one GPU dispatch per part; the [B, 1]
    /// products fuse with the bias and the activation). Used for weights without autodiff
    /// (teachers, sampling), where the row blocks are views. The student takes its input packed
    /// on the host instead ([`Rows`]): its weight gradient is then one matmul, where three row
    /// blocks would each add a slice-assign to the backward pass.
    /// `x`: [B, 2], `s`, `t`: [B, 1]; returns [B, width].
    fn first_layer(&self, x: Tensor<2>, s: Tensor<2>, t: Tensor<2>) -> Tensor<2> {
        let layer = &self.layers[0];
        let w = layer.weight.val(); // [4, width]
        let z = self.precondition_x(x).matmul(w.clone().narrow(0, 0, 2)) // [B, width]
            + s * w.clone().narrow(0, 2, 1) // [B, 1] * [1, width]
            + t * w.narrow(0, 3, 1);
        match &layer.bias {
            Some(b) => z + b.val().unsqueeze::<2>(),
            None => z,
        }
    }

    /// The JVP from the first layer's pre-activation `z`: [B, width] and its tangent `dz`:
    /// [B, width], or [1, width] when it is the same for every row (the first hidden layer
    /// broadcasts it); returns ([B, 2], [B, 2]).
    fn jvp_after_first(&self, mut z: Tensor<2>, mut dz: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        for layer in &self.layers[1..] {
            let (a, slope) = if self.gelu {
                let (cdf, density) = normal_cdf_pdf(z.clone()); // Phi(z), phi(z): [B, width]
                let a = z.clone() * cdf.clone(); // gelu(z)
                (a, cdf + z * density) // gelu'(z) = Phi(z) + z phi(z)
            } else {
                let sig = sigmoid(z.clone()); // [B, width]
                let a = z * sig.clone(); // silu(z)
                // silu'(z) = sig + a (1 - sig) = sig + a - a sig
                let slope = sig.clone() + a.clone() - a.clone() * sig;
                (a, slope)
            };
            z = affine(layer, a); // [B, out]
            dz = (dz * slope).matmul(layer.weight.val()); // [B, out]: the bias has no tangent
        }
        let dz = if dz.dims() == z.dims() {
            dz
        } else {
            dz.expand(z.dims())
        }; // a one-layer net
        (self.rescale(z), self.rescale(dz))
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

    /// x / sigma for the [B, 2] points alone; a no-op at sigma = 1.
    fn precondition_x(&self, x: Tensor<2>) -> Tensor<2> {
        if self.sigma == 1.0 {
            x
        } else {
            x * (1.0 / self.sigma)
        }
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
        if self.trains() {
            self.velocity_packed(Tensor::cat(vec![x, s, t], 1))
        } else {
            self.after_first(self.first_layer(x, s, t))
        }
    }

    /// v_{s,t}(x) on rows with their packed input (the student's batch). Returns [B, 2].
    pub fn velocity_rows(&self, rows: &Rows) -> Tensor<2> {
        if self.trains() {
            self.velocity_packed(rows.packed.clone())
        } else {
            self.velocity(rows.x.clone(), rows.s.clone(), rows.t.clone())
        }
    }

    /// X_{s,t}(x) = x + (t - s) v_{s,t}(x). Shapes as in [`Self::velocity`].
    pub fn flow(&self, x: Tensor<2>, s: Tensor<2>, t: Tensor<2>) -> Tensor<2> {
        let dt = t.clone() - s.clone(); // [B, 1]
        let v = self.velocity(x.clone(), s, t);
        x + v * dt
    }

    /// X_{s,t}(x) and the exact dX_{s,t}(x)/dt = v + (t - s) dv/dt, on `rows` ([B, 2] each).
    pub fn flow_dt(&self, rows: &Rows) -> (Tensor<2>, Tensor<2>) {
        let dt = rows.dt(); // [B, 1]
        let (v, dv) = self.velocity_jvp_unit(rows.packed.clone(), 3);
        (rows.x.clone() + v.clone() * dt.clone(), v + dv * dt)
    }

    /// X_{s,t}(x) and the exact dX_{s,t}(x)/ds = -v + (t - s) dv/ds, on `rows` ([B, 2] each).
    pub fn flow_ds(&self, rows: &Rows) -> (Tensor<2>, Tensor<2>) {
        let dt = rows.dt(); // [B, 1]
        let (v, dv) = self.velocity_jvp_unit(rows.packed.clone(), 2);
        (rows.x.clone() + v.clone() * dt.clone(), dv * dt - v)
    }

    /// v and its derivative along input `k` (2: s, 3: t, which preconditioning leaves alone):
    /// the first layer's tangent e_k W is row k of W, broadcast over the batch, instead of a
    /// product with an expanded unit tangent (one row block costs one slice-assign in the
    /// backward pass, where the product cost a matmul forward and one backward).
    /// `input`: [B, 4]; returns ([B, 2], [B, 2]).
    fn velocity_jvp_unit(&self, input: Tensor<2>, k: usize) -> (Tensor<2>, Tensor<2>) {
        let first = &self.layers[0];
        let z = affine(first, self.precondition(input)); // [B, width]
        let dz = first.weight.val().narrow(0, k, 1); // [1, width]
        self.jvp_after_first(z, dz)
    }

    /// X_{s,t}(x) and grad_x X_{s,t}(x) . w = w + (t - s) (grad_x v) w, for a direction `w`: [B, 2].
    pub fn flow_dx(
        &self,
        x: Tensor<2>,
        s: Tensor<2>,
        t: Tensor<2>,
        w: Tensor<2>,
    ) -> (Tensor<2>, Tensor<2>) {
        let dt = t.clone() - s.clone(); // [B, 1]
        // As in `first_layer`: the tangent (w, 0, 0) meets only the rows W_x. Only teachers
        // ask for this tangent, so no packed path is kept for it.
        let z = self.first_layer(x.clone(), s, t); // [B, width]
        let w_x = self.layers[0].weight.val().narrow(0, 0, 2); // [2, width]
        let dz = self.precondition_x(w.clone()).matmul(w_x); // [B, width]
        let (v, dv) = self.jvp_after_first(z, dz);
        (x + v * dt.clone(), w + dv * dt)
    }

    /// v_{s,t}(x) and its derivative along the path r -> (x + r w, s + r, t) at r = 0, that is
    /// d/ds v_{s,t}(x) + (grad_x v_{s,t}(x)) w, for a direction `w`: [B, 2]. One forward tangent:
    /// the first layer's tangent is (w / sigma) W_x + W_s. Only teachers (MeanFlow's, and ESD's
    /// with the target stopped) ask for it, so, as [`Self::flow_dx`], it keeps no packed path.
    /// `x`: [B, 2], `s`, `t`: [B, 1]; returns ([B, 2], [B, 2]).
    pub fn velocity_along_s_and_x(
        &self,
        x: Tensor<2>,
        s: Tensor<2>,
        t: Tensor<2>,
        w: Tensor<2>,
    ) -> (Tensor<2>, Tensor<2>) {
        let z = self.first_layer(x, s, t); // [B, width]
        let weight = self.layers[0].weight.val(); // [4, width]
        let dz = self.precondition_x(w).matmul(weight.clone().narrow(0, 0, 2)) // [B, width]
            + weight.narrow(0, 2, 1); // [1, width]: ds/dr = 1
        self.jvp_after_first(z, dz)
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

/// gelu(z) = z Phi(z), Phi the standard normal CDF.
fn gelu(z: Tensor<2>) -> Tensor<2> {
    z.clone() * normal_cdf(z)
}
