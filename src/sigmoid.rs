//! The logistic sigmoid sig(z) = 1 / (1 + exp(-z)) of SiLU, vectorised on the CPU backends.
//!
//! Burn's CPU backends evaluate it one element at a time with a branch and a scalar `expf`
//! (wasm has no exp instruction): a third of a tab's training step (docs/speed.md, "Where a
//! tab's step goes"). On flex and ndarray [`sigmoid`] instead reads the tensor out, evaluates
//! [`sigmoid_into`] (branch-free, so the compiler turns the loop into SIMD128 / SSE lanes) and
//! writes it back; on the GPU it is Burn's own op, so nothing is read back there.
//!
//! For a tensor with autodiff the value is built as sig + (z - sg z) sig' with sig and
//! sig' = sig (1 - sig) computed on the host: the same value, and reverse mode sees the exact
//! first derivative d sig / dz = sig'. That is all the losses differentiate: the tangent's slope
//! silu'(z) = sig + z sig (1 - sig) is written out from sig in the model, not differentiated.

use burn::tensor::activation;
use burn::tensor::{Device, Tensor, TensorData};

/// sig(z) for `z`: [B, n]; returns [B, n].
pub fn sigmoid(z: Tensor<2>) -> Tensor<2> {
    let device = z.device();
    if !on_cpu(&device) {
        return activation::sigmoid(z);
    }
    let dims = z.dims();
    let plain = z.clone().detach(); // [B, n], the same values, no gradient
    let data = plain.clone().into_data(); // a copy on the CPU, never a GPU read-back
    let values = data.as_slice::<f32>().expect("the model's tensors are f32");
    let mut sig = vec![0.0; values.len()];
    sigmoid_into(values, &mut sig);
    if !z.is_tracked() {
        return Tensor::from_data(TensorData::new(sig, dims), &device);
    }
    let slope: Vec<f32> = sig.iter().map(|&s| s * (1.0 - s)).collect();
    let sig = Tensor::<2>::from_data(TensorData::new(sig, dims), &device); // [B, n]
    let slope = Tensor::<2>::from_data(TensorData::new(slope, dims), &device); // [B, n]
    // (z - sg z) is zero, so the value is sig; its gradient flows to z times sig'.
    sig + (z - plain) * slope
}

/// Whether `device` is flex or ndarray (with or without autodiff), where a read-back is a copy.
fn on_cpu(device: &Device) -> bool {
    let plain = device.clone().without_autodiff();
    plain == Device::flex() || {
        #[allow(deprecated)] // ndarray stays: the fallback the browser app promises
        let ndarray = Device::ndarray();
        plain == ndarray
    }
}

/// out[i] = sig(x[i]), to within 2 ulp of the exact value (tests/sigmoid.rs), NaN kept NaN.
/// Computed as 1 / (1 + e) for x >= 0 and e / (1 + e) below, e = exp(-|x|) <= 1, so neither
/// side overflows; no branch, so the loop vectorises.
pub fn sigmoid_into(x: &[f32], out: &mut [f32]) {
    assert_eq!(
        x.len(),
        out.len(),
        "sigmoid_into: input and output lengths differ"
    );
    for (o, &v) in out.iter_mut().zip(x) {
        let e = exp_nonpositive(-v.abs());
        let r = 1.0 / (1.0 + e);
        *o = if v >= 0.0 { r } else { e * r };
    }
}

/// exp(a) for a <= 0 (NaN gives NaN), Cephes' expf: a = n ln 2 + r with |r| <= ln 2 / 2, a
/// degree-5 polynomial for exp(r) - 1 - r, and 2^n from the exponent bits. Below -87 (where
/// exp(a) is under 1.7e-38, the smallest normal float) it returns exp(-87): sig(z) = e / (1 + e)
/// is then 1.6e-38 instead of a smaller denormal, an absolute error no activation feels.
#[inline(always)]
fn exp_nonpositive(a: f32) -> f32 {
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
    let n = (a * LOG2E + ROUND) - ROUND; // round(a / ln 2), in [-126, 0]
    let r = a - n * C1 - n * C2; // |r| <= ln 2 / 2
    let mut p = P[0];
    for c in &P[1..] {
        p = p * r + c;
    }
    let poly = p * (r * r) + r + 1.0; // exp(r)
    let two_n = f32::from_bits((((n as i32) + 127) as u32) << 23); // 2^n, n >= -126: normal
    poly * two_n
}
