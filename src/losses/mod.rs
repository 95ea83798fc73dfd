//! The training objectives of Boffi, Albergo & Vanden-Eijnden (2025), "How to Build a
//! Consistency Model: Learning Flow Maps via Self-Distillation". One file per loss.
//!
//! All losses are mean squared errors over the batch and both output dimensions (as PyTorch's
//! `mse_loss`). Teachers run on `teacher = student.valid()`: the same weights without autodiff,
//! so no gradient can reach them; their outputs re-enter the graph as constants via [`sg`].

pub mod diagonal;
pub mod esd;
pub mod lsd;
pub mod psd;

use burn::tensor::Tensor;

/// Stop-gradient: `x` as a constant in the autodiff context of `like`.
pub fn sg(x: Tensor<2>, like: &Tensor<2>) -> Tensor<2> {
    let x = x.detach();
    if like.is_autodiff() {
        x.autodiff()
    } else {
        x.without_autodiff()
    }
}

/// A tensor as input to the teacher (no autodiff).
pub fn plain(x: Tensor<2>) -> Tensor<2> {
    x.detach().without_autodiff()
}

/// mean |a - b|^2 over rows and columns. `a`, `b`: [B, 2]; returns [1].
pub fn mse(a: Tensor<2>, b: Tensor<2>) -> Tensor<1> {
    (a - b).square().mean()
}
