//! The transcendental parts of the hidden activations, vectorised on the CPU backends: SiLU's
//! sigmoid sig(z) = 1 / (1 + exp(-z)) and GELU's normal CDF Phi(z) and density phi(z).
//!
//! Burn's CPU backends evaluate `sigmoid`, `erf` and `exp` one element at a time with a scalar
//! libm call (wasm has no exp instruction): a third of a tab's training step (docs/speed.md,
//! "Where a tab's step goes"). On flex and ndarray the functions here instead read the tensor
//! out, evaluate a branch-free loop (which the compiler vectorises: SSE natively, SIMD128 in wasm)
//! and write the result back; on the GPU they are Burn's own ops, so nothing is read back there.
//!
//! For a tracked tensor (one reverse mode differentiates) the value f(z) is built as
//! f + (z - sg z) f' with f and f' computed on the host: the same value, and reverse mode sees
//! the exact first derivative f'. That is all the losses differentiate: the tangent's slopes
//! silu'(z) = sig + z sig (1 - sig) and gelu'(z) = Phi + z phi are written out from these
//! values in the model, not differentiated twice.

use crate::backend::on_host;
use burn::tensor::{Tensor, TensorData, activation};
use std::f32::consts::FRAC_1_SQRT_2;

/// 1 / sqrt(2 pi), the standard normal density at 0.
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// sig(z) for `z`: [B, n]; returns [B, n].
pub fn sigmoid(z: Tensor<2>) -> Tensor<2> {
    if !on_host(&z.device()) {
        return activation::sigmoid(z);
    }
    let (values, plain) = host_values(&z);
    let mut sig = vec![0.0; values.len()];
    sigmoid_into(&values, &mut sig);
    let slope = z
        .is_tracked()
        .then(|| sig.iter().map(|&s| s * (1.0 - s)).collect()); // sig'
    with_slope(&z, plain, sig, slope)
}

/// Phi(z) for `z`: [B, n], the standard normal CDF; returns [B, n].
pub fn normal_cdf(z: Tensor<2>) -> Tensor<2> {
    if !on_host(&z.device()) {
        return ((z * FRAC_1_SQRT_2).erf() + 1.0) * 0.5;
    }
    let (values, plain) = host_values(&z);
    let (mut cdf, mut pdf) = (vec![0.0; values.len()], vec![0.0; values.len()]);
    normal_cdf_pdf_into(&values, &mut cdf, &mut pdf);
    let slope = z.is_tracked().then_some(pdf); // Phi' = phi
    with_slope(&z, plain, cdf, slope)
}

/// (Phi(z), phi(z)) for `z`: [B, n]: the standard normal CDF and density; returns two [B, n].
pub fn normal_cdf_pdf(z: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
    if !on_host(&z.device()) {
        let pdf = (z.clone().square() * -0.5).exp() * FRAC_1_SQRT_2PI;
        return (normal_cdf(z), pdf);
    }
    let (values, plain) = host_values(&z);
    let (mut cdf, mut pdf) = (vec![0.0; values.len()], vec![0.0; values.len()]);
    normal_cdf_pdf_into(&values, &mut cdf, &mut pdf);
    let tracked = z.is_tracked();
    let cdf_slope = tracked.then(|| pdf.clone()); // Phi' = phi
    let pdf_slope = tracked.then(|| values.iter().zip(&pdf).map(|(&x, &p)| -x * p).collect()); // phi' = -z phi
    let cdf = with_slope(&z, plain.clone(), cdf, cdf_slope);
    let pdf = with_slope(&z, plain, pdf, pdf_slope);
    (cdf, pdf)
}

/// The values of a CPU tensor `z` (a copy, never a GPU read-back), and `z` without its gradient.
fn host_values(z: &Tensor<2>) -> (Vec<f32>, Tensor<2>) {
    let plain = z.clone().detach(); // [B, n], the same values, no gradient
    let values = plain.clone().into_data().try_into_vec::<f32>();
    (values.expect("the model's tensors are f32"), plain)
}

/// The host `value`s of f(z) as a tensor shaped like `z`; with `slope` = f'(z) (given where `z`
/// is tracked) its gradient reaches `z` times f': value + (z - sg z) f'. `plain` is sg z.
fn with_slope(
    z: &Tensor<2>,
    plain: Tensor<2>,
    value: Vec<f32>,
    slope: Option<Vec<f32>>,
) -> Tensor<2> {
    let (dims, device) = (z.dims(), z.device());
    let value = Tensor::<2>::from_data(TensorData::new(value, dims), &device); // [B, n]
    let Some(slope) = slope else {
        return value;
    };
    let slope = Tensor::<2>::from_data(TensorData::new(slope, dims), &device); // [B, n]
    // (z - sg z) is zero, so the value is f; its gradient flows to z times f'.
    value + (z.clone() - plain) * slope
}

/// out[i] = sig(x[i]), to within 2 ulp of the exact value (tests/activation.rs), NaN kept NaN.
/// Computed as 1 / (1 + e) for x >= 0 and e / (1 + e) below, e = exp(-|x|) <= 1, so neither
/// side overflows; no branch, so the loop vectorises.
pub fn sigmoid_into(x: &[f32], out: &mut [f32]) {
    assert_eq!(
        x.len(),
        out.len(),
        "sigmoid_into: input and output lengths differ"
    );
    for (o, &v) in out.iter_mut().zip(x) {
        let e = exp_small(-v.abs());
        let r = 1.0 / (1.0 + e);
        *o = if v >= 0.0 { r } else { e * r };
    }
}

/// cdf[i] = Phi(x[i]) and pdf[i] = phi(x[i]) (tests/activation.rs gives the error bounds), NaN
/// kept NaN. Phi(x) = erfc(-x / sqrt 2) / 2 for x < 0 and 1 - erfc(x / sqrt 2) / 2 above, with
/// erfc(u) = t exp(-u^2 + P(t)), t = 1 / (1 + u / 2), P of degree 9 (Numerical Recipes'
/// `erfcc`, relative error under 1.2e-7 for all u >= 0): the small tail keeps its relative
/// accuracy, where 0.5 (1 + erf(x)) cancels. No branch, so the loop vectorises.
pub fn normal_cdf_pdf_into(x: &[f32], cdf: &mut [f32], pdf: &mut [f32]) {
    assert!(
        x.len() == cdf.len() && x.len() == pdf.len(),
        "normal_cdf_pdf_into: input and output lengths differ"
    );
    const P: [f32; 10] = [
        0.170_872_77,
        -0.822_152_2,
        1.488_515_9,
        -1.135_204,
        0.278_868_07,
        -0.186_288_06,
        0.096_784_18,
        0.374_091_96,
        1.000_023_7,
        -1.265_512_2,
    ];
    for ((&v, c), p) in x.iter().zip(cdf.iter_mut()).zip(pdf.iter_mut()) {
        let u = v.abs() * FRAC_1_SQRT_2;
        let t = 1.0 / (1.0 + 0.5 * u);
        let mut poly = P[0];
        for k in &P[1..] {
            poly = poly * t + k;
        }
        let half_tail = 0.5 * t * exp_small(poly - u * u); // Phi(-|x|)
        *c = if v >= 0.0 { 1.0 - half_tail } else { half_tail };
        *p = FRAC_1_SQRT_2PI * exp_small(-0.5 * (v * v));
    }
}

/// exp(a) for a <= 0, and for the rounding error above it (a < 0.3); NaN gives NaN. Cephes'
/// expf: a = n ln 2 + r with |r| <= ln 2 / 2, a degree-5 polynomial for exp(r) - 1 - r, and 2^n
/// from the exponent bits. Below -87 (where exp(a) is under 1.7e-38, the smallest normal float)
/// it returns exp(-87): a value that small is an absolute error no activation feels.
#[inline(always)]
fn exp_small(a: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two, C1 exact in a few bits, so n C1 is exact for |n| < 2^12.
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer (ties to even).
    const ROUND: f32 = 12_582_912.0;
    const P: [f32; 6] = [
        1.987_569_1e-4,
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        0.5, // Cephes: 5.0000001e-1, the same f32
    ];
    let a = if a < -87.0 { -87.0 } else { a }; // keeps NaN: the comparison is false
    let shifted = a * LOG2E + ROUND; // 1.5 * 2^23 + round(a / ln 2): n in the low bits
    let n = shifted - ROUND; // round(a / ln 2), in [-126, 0]
    let r = a - n * C1 - n * C2; // |r| <= ln 2 / 2
    let mut p = P[0];
    for c in &P[1..] {
        p = p * r + c;
    }
    let poly = p * (r * r) + r + 1.0; // exp(r)
    // 2^n from n's two's complement in the low bits (integer lanes; `n as i32` would saturate
    // lane by lane on x86), n >= -126: a normal float
    let n_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let two_n = f32::from_bits(n_bits.wrapping_add(127) << 23);
    poly * two_n
}
