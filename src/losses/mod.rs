//! The training objectives of Boffi, Albergo & Vanden-Eijnden (2025), "How to Build a
//! Consistency Model: Learning Flow Maps via Self-Distillation". One file per loss.
//!
//! All losses are mean squared errors over the batch and both output dimensions (as PyTorch's
//! `mse_loss`); the trainer can put the off-diagonal residual under a pseudo-Huber penalty
//! instead ([`off_diagonal_penalty`]). Teachers run on `teacher = student.valid()`: the same weights without autodiff,
//! so no gradient can reach them; their outputs re-enter the graph as constants via [`sg`].

pub mod diagonal;
pub mod esd;
pub mod lsd;
pub mod meanflow;
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

/// The off-diagonal penalty of a residual r = student - sg(teacher), one row per point:
///
///   squared error (the paper, `huber: None`):   mean_rows |r|^2 / 2   (= `mse`, rows of 2),
///   pseudo-Huber with scale d (`Some(d)`):      mean_rows rho_d(r),
///   rho_d(r) = d^2 (sqrt(1 + |r|^2 / d^2) - 1) = d |r|^2 / (sqrt(|r|^2 + d^2) + d),
///
/// the metric of improved consistency training (Song & Dhariwal 2023). rho_d is |r|^2 / 2 for
/// |r| << d, so near a solution it is the paper's loss, and it grows like d |r| beyond, so a row
/// whose teacher has run off (a self-distillation target evaluated where the map has just
/// sent a point) pulls with a force of at most d instead of |r|. That feedback is what made
/// the browser recipe diverge in 2 of 10 seeds (README, "Divergence, prevented"). The
/// right-hand form keeps f32 precision for small |r| and cannot overflow for a small d.
/// `r`: [B, 2]; returns [1].
pub fn off_diagonal_penalty(r: Tensor<2>, huber: Option<f32>) -> Tensor<1> {
    let [_, cols] = r.dims();
    match huber {
        None => r.square().mean() * (cols as f32 / 2.0),
        Some(_) => row_penalty(r, huber).mean(),
    }
}

/// The penalty of each row, whose mean is [`off_diagonal_penalty`]: |r|^2 / 2 (squared error)
/// or rho_d(r) (pseudo-Huber). The diagonal rows take the squared error (`huber` None), whose
/// mean is their `mse`. `r`: [B, 2]; returns [B, 1].
pub fn row_penalty(r: Tensor<2>, huber: Option<f32>) -> Tensor<2> {
    let q = r.square().sum_dim(1); // [B, 1]: |r|^2
    match huber {
        None => q * 0.5,
        Some(d) => q.clone() * d / ((q + d * d).sqrt() + d), // [B, 1]
    }
}
