//! Gradient-norm clipping, per parameter tensor or over all of them, with a count of how often
//! it bites (so a recipe can say whether its clip does anything).
//!
//! Per tensor, each gradient g is scaled by min(1, c / |g|) (Burn's `GradientClipping::Norm`);
//! globally, every gradient is scaled by min(1, c / sqrt(sum_g |g|^2)) (PyTorch's
//! `clip_grad_norm_`, which the paper's code uses). All on the device: no read per step.

use crate::config::ClipScope;
use crate::model::FlowMapNet;
use burn::module::ParamId;
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

/// Keeps a norm of 0 from dividing by 0, as Burn does.
const TINY: f32 = f32::MIN_POSITIVE;

/// Clips `grads` of `net`'s parameters to norm `max_norm` in place. Returns how many tensors were
/// scaled down ([1]; per tensor: 0..=#tensors, global: 0 or 1).
pub fn clip_gradients(
    grads: &mut GradientsParams,
    net: &FlowMapNet,
    max_norm: f32,
    scope: ClipScope,
) -> Tensor<1> {
    // Weights ([in, out]) and biases ([out]) flattened, with the shape to restore.
    let mut flat: Vec<(ParamId, Tensor<1>, Option<[usize; 2]>)> = Vec::new();
    for layer in &net.layers {
        if let Some(g) = grads.remove::<2>(layer.weight.id) {
            flat.push((layer.weight.id, g.clone().flatten(0, 1), Some(g.dims())));
        }
        if let Some(g) = layer.bias.as_ref().and_then(|b| grads.remove::<1>(b.id)) {
            flat.push((layer.bias.as_ref().expect("a bias").id, g, None));
        }
    }
    let sq_norms: Vec<Tensor<1>> = flat
        .iter()
        .map(|(_, g, _)| g.clone().square().sum())
        .collect();
    let (scales, clipped): (Vec<Tensor<1>>, Tensor<1>) = match scope {
        ClipScope::Tensor => {
            let norms: Vec<Tensor<1>> = sq_norms.into_iter().map(Tensor::sqrt).collect();
            let clipped = Tensor::cat(norms.clone(), 0)
                .greater_elem(max_norm)
                .float()
                .sum();
            let scales = norms.into_iter().map(|n| scale(n, max_norm)).collect();
            (scales, clipped)
        }
        ClipScope::Global => {
            let total = Tensor::cat(sq_norms, 0).sum().sqrt(); // [1]
            let clipped = total.clone().greater_elem(max_norm).float();
            (vec![scale(total, max_norm); flat.len()], clipped)
        }
    };
    for ((id, g, shape), k) in flat.into_iter().zip(scales) {
        let g = g * k;
        match shape {
            Some(dims) => grads.register(id, g.reshape(dims)),
            None => grads.register(id, g),
        }
    }
    clipped
}

/// min(1, c / (norm + tiny)) for a [1] norm.
fn scale(norm: Tensor<1>, max_norm: f32) -> Tensor<1> {
    (norm.add_scalar(TINY).recip() * max_norm).clamp_max(1.0)
}
