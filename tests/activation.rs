//! The vectorised activations (`src/activation.rs`) against float64 references and against
//! Burn's own ops: values, and the gradient that reverse mode takes through SiLU and GELU and
//! their tangent slopes.
#![cfg(not(target_arch = "wasm32"))] // native tests: tests/web.rs checks the wasm lanes
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its line

mod common;

use burn::tensor::{Device, Tensor, TensorData, activation};
use common::{host, scalar};
use flowmap::activation::{normal_cdf, normal_cdf_pdf, normal_cdf_pdf_into, sigmoid, sigmoid_into};

fn exact(x: f32) -> f64 {
    1.0 / (1.0 + (-(x as f64)).exp())
}

#[test]
fn sigmoid_into_is_within_two_ulp_of_the_float64_formula() {
    // Dense over the range where sig is a normal float, plus the ends and the rounding edges of
    // the exp's range reduction (multiples of ln 2 / 2).
    let mut xs: Vec<f32> = (-200_000..=200_000).map(|i| i as f32 * 4.4e-4).collect();
    xs.extend((-250..=250).map(|k| k as f32 * std::f32::consts::LN_2 / 2.0));
    xs.extend([
        0.0, -0.0, 1e-30, -1e-30, 87.0, -87.0, 89.0, -89.0, 1e4, -1e4,
    ]);
    let mut got = vec![0.0; xs.len()];
    sigmoid_into(&xs, &mut got);
    let mut worst = 0.0f64;
    for (&x, &s) in xs.iter().zip(&got) {
        let want = exact(x);
        if x < -87.0 {
            // clamped to exp(-87) = 1.6e-38: an absolute error no activation feels
            assert!((0.0..1.7e-38).contains(&s), "sig({x}) = {s}, want {want:e}");
            continue;
        }
        let ulp = f32::EPSILON as f64 * want.abs().max(f32::MIN_POSITIVE as f64);
        let err = (s as f64 - want).abs() / ulp;
        worst = worst.max(err);
        assert!(err <= 2.0, "sig({x}) = {s}, want {want}: {err:.2} ulp");
    }
    assert!(
        worst > 0.0,
        "no rounding error at all: the comparison is not exercised"
    );
}

#[test]
fn sigmoid_into_keeps_nan_and_the_infinities() {
    let xs = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY];
    let mut got = [0.0; 3];
    sigmoid_into(&xs, &mut got);
    assert!(
        got[0].is_nan(),
        "NaN must stay NaN (divergence is detected from it): {}",
        got[0]
    );
    assert_eq!(got[1], 1.0);
    assert!(got[2] >= 0.0 && got[2] < 1.7e-38, "sig(-inf) = {}", got[2]);
}

/// z on `device`: [rows, cols] with values spread over [-12, 12].
fn zs(device: &Device, rows: usize, cols: usize) -> Tensor<2> {
    let v: Vec<f32> = (0..rows * cols)
        .map(|i| ((i * 7919) % 1000) as f32 * 0.024 - 12.0)
        .collect();
    Tensor::from_data(TensorData::new(v, [rows, cols]), device)
}

fn cpu_devices() -> Vec<(&'static str, Device)> {
    #[allow(deprecated)] // ndarray stays: the fallback the browser app promises
    let ndarray = Device::ndarray();
    vec![("flex", Device::flex()), ("ndarray", ndarray)]
}

fn max_abs_diff(a: Tensor<2>, b: Tensor<2>) -> f32 {
    let (a, b) = (host(a), host(b));
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn the_tensor_op_agrees_with_burns_sigmoid_on_every_cpu_backend() {
    for (name, device) in cpu_devices() {
        for d in [device.clone(), device.autodiff()] {
            let z = zs(&d, 64, 48);
            let diff = max_abs_diff(sigmoid(z.clone()), activation::sigmoid(z));
            assert!(diff <= 2.5e-7, "{name}: {diff:e} from Burn's sigmoid");
        }
    }
}

/// The two ways the model uses sig on a hidden layer, summed with fixed weights: the
/// activation z sig(z) and the tangent slope silu'(z) = sig + a (1 - sig), a = z sig.
fn silu_and_slope(z: Tensor<2>, sig: Tensor<2>) -> Tensor<1> {
    let (rows, cols) = (z.dims()[0], z.dims()[1]);
    let w1 = zs(&z.device(), rows, cols) * 0.1;
    let w2 = zs(&z.device(), rows, cols).flip([0]) * 0.1;
    let a = z * sig.clone();
    let slope = sig.clone() + a.clone() - a.clone() * sig;
    (a * w1 + slope * w2).sum()
}

/// The gradient reaching x through `loss(z, ours)`, ours against Burn's ops, on every CPU
/// backend, with z = x a leaf and z = 0.75 x + 0.5 computed from one (as z = h W + b in the
/// model: Burn tracks it without requiring its gradient, and both must carry the derivative).
fn assert_gradients_agree(what: &str, x_scale: f32, loss: impl Fn(Tensor<2>, bool) -> Tensor<1>) {
    for (name, device) in cpu_devices() {
        let device = device.autodiff();
        for leaf in [true, false] {
            let grad_with = |ours: bool| {
                let x = (zs(&device, 32, 24) * x_scale).require_grad();
                let z = if leaf {
                    x.clone()
                } else {
                    x.clone() * 0.75 + 0.5
                };
                let grads = loss(z, ours).backward();
                x.grad(&grads).expect("x is a leaf with a gradient")
            };
            let (ours, burns) = (grad_with(true), grad_with(false));
            let scale = scalar(burns.clone().abs().max()) as f32;
            let diff = max_abs_diff(ours, burns);
            assert!(
                scale > 0.1,
                "{what}, {name}, leaf {leaf}: the gradient is small ({scale})"
            );
            assert!(
                diff <= 1e-5 * scale,
                "{what}, {name}, leaf {leaf}: gradient differs by {diff:e} (scale {scale})"
            );
        }
    }
}

#[test]
fn reverse_mode_through_silu_and_its_slope_matches_burns_sigmoid() {
    assert_gradients_agree("SiLU", 1.0, |z, ours| {
        let sig = if ours {
            sigmoid(z.clone())
        } else {
            activation::sigmoid(z.clone())
        };
        silu_and_slope(z, sig)
    });
}

/// Phi(x) in float64 by Simpson's rule on the density: the lower tail from x - 12 (the rest is
/// under 1e-31 of it), so the small tail keeps its relative accuracy; 1 - Phi(-x) above 0.
fn phi_cdf_f64(x: f64) -> f64 {
    if x > 0.0 {
        return 1.0 - phi_cdf_f64(-x);
    }
    let density = |u: f64| (-0.5 * u * u).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let (a, n) = (x - 12.0, 24_000);
    let h = (x - a) / n as f64;
    let inner: f64 = (1..n)
        .map(|i| density(a + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 })
        .sum();
    (density(a) + inner + density(x)) * h / 3.0
}

#[test]
fn normal_cdf_pdf_into_matches_float64_references() {
    // Relative bounds in units of (1 + x^2) eps: the condition number of exp(-x^2 / 2) at an f32
    // x, so no f32 evaluation does better in the tails. Measured: 2.7 for Phi's lower tail, 0.7
    // for phi, 1.4e-7 absolute for Phi (where 0.5 (1 + erf) loses the tail to cancellation:
    // 20% relative at x = -5).
    let mut xs: Vec<f32> = (-1300..=1300).map(|i| i as f32 * 0.01).collect();
    xs.push(f32::NAN);
    let mut cdf = vec![0.0; xs.len()];
    let mut pdf = vec![0.0; xs.len()];
    normal_cdf_pdf_into(&xs, &mut cdf, &mut pdf);
    assert!(
        cdf.pop().unwrap().is_nan() && pdf.pop().unwrap().is_nan(),
        "NaN must stay NaN"
    );
    xs.pop();
    for i in 0..xs.len() {
        let x = xs[i] as f64;
        let cond = (1.0 + x * x) * f32::EPSILON as f64;
        let want = phi_cdf_f64(x);
        let abs = (cdf[i] as f64 - want).abs();
        assert!(abs <= 2e-7, "Phi({x}) = {}, want {want}", cdf[i]);
        if x <= 0.0 {
            let rel = abs / want / cond;
            assert!(
                rel <= 4.0,
                "Phi({x}) = {:e}, want {want:e}: {rel:.2} (1 + x^2) eps",
                cdf[i]
            );
        }
        let want = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let rel = (pdf[i] as f64 - want).abs() / want / cond;
        assert!(
            rel <= 2.0,
            "phi({x}) = {:e}, want {want:e}: {rel:.2} (1 + x^2) eps",
            pdf[i]
        );
    }
}

#[test]
fn the_normal_cdf_agrees_with_burns_erf_on_every_cpu_backend() {
    for (name, device) in cpu_devices() {
        for d in [device.clone(), device.autodiff()] {
            let z = zs(&d, 64, 48);
            let burns_cdf = ((z.clone() * std::f32::consts::FRAC_1_SQRT_2).erf() + 1.0) * 0.5;
            let burns_pdf = (z.clone().square() * -0.5).exp() * 0.398_942_3;
            let (cdf, pdf) = normal_cdf_pdf(z.clone());
            let diff = max_abs_diff(normal_cdf(z), burns_cdf.clone());
            assert!(diff <= 2.5e-7, "{name}: Phi {diff:e} from Burn's erf");
            let diff = max_abs_diff(cdf, burns_cdf);
            assert!(
                diff <= 2.5e-7,
                "{name}: Phi (with phi) {diff:e} from Burn's erf"
            );
            let diff = max_abs_diff(pdf, burns_pdf);
            assert!(diff <= 2.5e-7, "{name}: phi {diff:e} from Burn's exp");
        }
    }
}

/// GELU's two uses on a hidden layer, summed with fixed weights: the activation z Phi(z) and the
/// tangent slope gelu'(z) = Phi + z phi.
fn gelu_and_slope(z: Tensor<2>, cdf: Tensor<2>, pdf: Tensor<2>) -> Tensor<1> {
    let (rows, cols) = (z.dims()[0], z.dims()[1]);
    let w1 = zs(&z.device(), rows, cols) * 0.1;
    let w2 = zs(&z.device(), rows, cols).flip([0]) * 0.1;
    let a = z.clone() * cdf.clone();
    let slope = cdf + z * pdf;
    (a * w1 + slope * w2).sum()
}

#[test]
fn reverse_mode_through_gelu_and_its_slope_matches_burns_erf() {
    assert_gradients_agree("GELU", 0.4, |z, ours| {
        let (cdf, pdf) = if ours {
            normal_cdf_pdf(z.clone())
        } else {
            let cdf = ((z.clone() * std::f32::consts::FRAC_1_SQRT_2).erf() + 1.0) * 0.5;
            (cdf, (z.clone().square() * -0.5).exp() * 0.398_942_3)
        };
        gelu_and_slope(z, cdf, pdf)
    });
}
