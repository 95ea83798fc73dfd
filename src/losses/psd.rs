//! Progressive self-distillation (PSD). One jump must equal two shorter jumps of itself (the
//! semigroup property X_{u,t} o X_{s,u} = X_{s,t}):
//!
//!   L_PSD = E_{(s,t), u, x0, x1} | X_{s,t}(I_s) - sg( X_{u,t}( X_{s,u}(I_s) ) ) |^2,
//!
//! with u = (s+t)/2 (midpoint, [`Intermediate::Midpoint`]) or u ~ U[s,t] ([`Intermediate::Uniform`]).

use super::{mse, plain, sg};
use crate::model::FlowMapNet;
use crate::rng::Rng;
use burn::tensor::Tensor;

/// How the intermediate time u in [s, t] is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intermediate {
    Midpoint,
    Uniform,
}

impl Intermediate {
    pub fn sample(self, rng: &mut Rng, s: f32, t: f32) -> f32 {
        match self {
            Intermediate::Midpoint => 0.5 * (s + t),
            Intermediate::Uniform => s + (t - s) * rng.uniform() as f32,
        }
    }
}

/// `x_s`: [B, 2] points I_s; `s`, `u`, `t`: [B, 1] with s <= u <= t; returns [1].
pub fn psd_loss(
    student: &FlowMapNet,
    teacher: &FlowMapNet,
    x_s: Tensor<2>,
    s: Tensor<2>,
    u: Tensor<2>,
    t: Tensor<2>,
) -> Tensor<1> {
    let x_st = student.flow(x_s.clone(), s.clone(), t.clone()); // [B, 2]
    let (s, u, t) = (plain(s), plain(u), plain(t));
    let x_su = teacher.flow(plain(x_s), s, u.clone()); // [B, 2]
    let x_ut = teacher.flow(x_su, u, t); // [B, 2]
    let target = sg(x_ut, &x_st);
    mse(x_st, target)
}
