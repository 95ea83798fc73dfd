//! Gradient-norm clipping, per parameter tensor or over all of them, with a count of how often
//! it bites (so a recipe can say whether its clip does anything).
//!
//! Per tensor, each gradient g is scaled by min(1, c / |g|) (Burn's `GradientClipping::Norm`);
//! globally, every gradient is scaled by min(1, c / sqrt(sum_g |g|^2)) (PyTorch's
//! `clip_grad_norm_`, which the paper's code uses). All on the device: no read per step.

use crate::config::ClipScope;
use burn::nn::Linear;
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

/// Keeps a norm of 0 from dividing by 0, as Burn does.
const TINY: f32 = f32::MIN_POSITIVE;

/// Clips `grads` of the parameters of `layers` (a network's) to norm `max_norm` in place. With `count`, also returns
/// how many tensors were scaled down ([1]; per tensor: 0..=#tensors, global: 0 or 1); without,
/// the count's ops are never issued (a concatenation of the norms, a comparison and a sum:
/// GPU dispatches every step for a number only the CLI reads).
pub fn clip_gradients(
    grads: &mut GradientsParams,
    layers: &[Linear],
    max_norm: f32,
    scope: ClipScope,
    count: bool,
) -> Option<Tensor<1>> {
    let ClipScales { scales, clipped } = clip_scales(grads, layers, max_norm, scope, count);
    for (layer, (weight, bias)) in layers.iter().zip(scales) {
        let id = layer.weight.id;
        if let (Some(k), Some(g)) = (weight, grads.remove::<2>(id)) {
            let dims = g.dims();
            grads.register(id, (g.flatten::<1>(0, 1) * k).reshape(dims)); // [in, out]
        }
        if let (Some(k), Some(b)) = (bias, &layer.bias)
            && let Some(g) = grads.remove::<1>(b.id)
        {
            grads.register(b.id, g * k); // [out]
        }
    }
    clipped
}

/// What a clip of `grads` would scale each gradient by, without scaling it.
pub struct ClipScales {
    /// min(1, c / norm) ([1]) per layer for its weight's gradient and its bias's (none for a
    /// parameter without a gradient).
    pub scales: Vec<(Option<Tensor<1>>, Option<Tensor<1>>)>,
    /// As [`clip_gradients`] returns it.
    pub clipped: Option<Tensor<1>>,
}

/// The factors [`clip_gradients`] scales `grads` by (the host optimizer step applies them in
/// its own pass over the values).
pub fn clip_scales(
    grads: &GradientsParams,
    layers: &[Linear],
    max_norm: f32,
    scope: ClipScope,
    count: bool,
) -> ClipScales {
    // Weights ([in, out]) and biases ([out]) flattened, with where each belongs: (layer, bias?).
    let mut flat: Vec<((usize, bool), Tensor<1>)> = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        if let Some(g) = grads.get::<2>(layer.weight.id) {
            flat.push(((i, false), g.flatten(0, 1)));
        }
        if let Some(bias) = &layer.bias
            && let Some(g) = grads.get::<1>(bias.id)
        {
            flat.push(((i, true), g));
        }
    }
    let sq_norms: Vec<Tensor<1>> = flat.iter().map(|(_, g)| g.clone().square().sum()).collect();
    let (factors, clipped): (Vec<Tensor<1>>, Option<Tensor<1>>) = match scope {
        ClipScope::Tensor => {
            let norms: Vec<Tensor<1>> = sq_norms.into_iter().map(Tensor::sqrt).collect();
            let clipped = count.then(|| {
                Tensor::cat(norms.clone(), 0)
                    .greater_elem(max_norm)
                    .float()
                    .sum()
            });
            let scales = norms.into_iter().map(|n| scale(n, max_norm)).collect();
            (scales, clipped)
        }
        ClipScope::Global => {
            // A chain of [1] additions (one fused kernel) rather than a concatenation.
            let total = sq_norms
                .into_iter()
                .reduce(|a, b| a + b)
                .expect("a net has parameters")
                .sqrt(); // [1]
            let clipped = count.then(|| total.clone().greater_elem(max_norm).float());
            (vec![scale(total, max_norm); flat.len()], clipped)
        }
    };
    let mut scales = vec![(None, None); layers.len()];
    for (((i, is_bias), _), k) in flat.into_iter().zip(factors) {
        let slot: &mut (Option<Tensor<1>>, Option<Tensor<1>>) = &mut scales[i];
        if is_bias {
            slot.1 = Some(k)
        } else {
            slot.0 = Some(k)
        }
    }
    ClipScales { scales, clipped }
}

/// min(1, c / (norm + tiny)) for a [1] norm.
fn scale(norm: Tensor<1>, max_norm: f32) -> Tensor<1> {
    (norm.add_scalar(TINY).recip() * max_norm).clamp_max(1.0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its line
mod tests {
    use super::*;
    use crate::config::ModelConfig;
    use crate::model::FlowMapNet;
    use crate::rng::Rng;
    use burn::tensor::{Device, TensorData};

    /// A 1x2 net (two layers, four tensors) and gradients of known norms 3, 4, 12 and 0.
    fn net_and_grads() -> (FlowMapNet, GradientsParams, Device) {
        let device = Device::flex();
        let cfg = ModelConfig {
            width: 2,
            depth: 1,
            ..Default::default()
        };
        let net = FlowMapNet::init(&cfg, &mut Rng::new(1), &device);
        let mut grads = GradientsParams::new();
        let (l0, l1) = (&net.layers[0], &net.layers[1]);
        let m = |v: Vec<f32>, s: [usize; 2]| Tensor::<2>::from_data(TensorData::new(v, s), &device);
        let v = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [2]), &device);
        grads.register(
            l0.weight.id,
            m(vec![3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [4, 2]),
        );
        grads.register(l0.bias.as_ref().unwrap().id, v(vec![0.0, 4.0]));
        grads.register(l1.weight.id, m(vec![0.0, 0.0, 12.0, 0.0], [2, 2]));
        grads.register(l1.bias.as_ref().unwrap().id, v(vec![0.0, 0.0]));
        (net, grads, device)
    }

    fn norms(net: &FlowMapNet, grads: &GradientsParams) -> Vec<f32> {
        let sq = |t: Tensor<1>| t.square().sum().sqrt().into_scalar::<f32>();
        let mut out = Vec::new();
        for l in &net.layers {
            out.push(sq(grads.get::<2>(l.weight.id).unwrap().flatten(0, 1)));
            out.push(sq(grads.get::<1>(l.bias.as_ref().unwrap().id).unwrap()));
        }
        out
    }

    #[test]
    fn per_tensor_clip_bounds_each_norm_and_counts_the_clipped() {
        let (net, mut grads, _) = net_and_grads();
        let fired = clip_gradients(&mut grads, &net.layers, 5.0, ClipScope::Tensor, true).unwrap();
        assert_eq!(
            fired.into_scalar::<f32>(),
            1.0,
            "only the norm-12 tensor exceeds 5"
        );
        let got = norms(&net, &grads);
        let want = [3.0, 4.0, 5.0, 0.0];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "norms {got:?}, want {want:?}");
        }
    }

    #[test]
    fn global_clip_scales_all_by_one_factor() {
        // Total norm sqrt(9 + 16 + 144) = 13: clipping to 6.5 halves every gradient.
        let (net, mut grads, _) = net_and_grads();
        let fired = clip_gradients(&mut grads, &net.layers, 6.5, ClipScope::Global, true).unwrap();
        assert_eq!(fired.into_scalar::<f32>(), 1.0);
        let got = norms(&net, &grads);
        for (g, w) in got.iter().zip([1.5, 2.0, 6.0, 0.0]) {
            assert!((g - w).abs() < 1e-5, "norms {got:?}");
        }
        // Below the bound nothing changes and nothing is counted.
        let (net, mut grads, _) = net_and_grads();
        let fired = clip_gradients(&mut grads, &net.layers, 20.0, ClipScope::Global, true).unwrap();
        assert_eq!(fired.into_scalar::<f32>(), 0.0);
        assert_eq!(norms(&net, &grads), vec![3.0, 4.0, 12.0, 0.0]);
    }

    #[test]
    fn without_counting_the_clip_is_the_same_and_returns_no_count() {
        for (scope, bound) in [(ClipScope::Tensor, 5.0), (ClipScope::Global, 6.5)] {
            let (net, mut counted, _) = net_and_grads();
            let (other, mut uncounted, _) = net_and_grads(); // the same values, its own ids
            assert!(clip_gradients(&mut counted, &net.layers, bound, scope, true).is_some());
            assert!(clip_gradients(&mut uncounted, &other.layers, bound, scope, false).is_none());
            let (a, b) = (norms(&net, &counted), norms(&other, &uncounted));
            assert_eq!(a, b, "{scope:?}");
            assert!(
                a.iter().any(|&n| n < 12.0),
                "{scope:?}: the clip must bite: {a:?}"
            );
        }
    }
}
