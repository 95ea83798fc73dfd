//! Progressive self-distillation (PSD). One jump must equal two shorter jumps of itself (the
//! semigroup property X_{u,t} o X_{s,u} = X_{s,t}), with u = (s+t)/2 (midpoint,
//! [`Intermediate::Midpoint`]) or u ~ U[s,t] ([`Intermediate::Uniform`]). The residual can be
//! measured in two spaces ([`PsdSpace`]):
//!
//!   X-space:  L = E | X_{s,t}(I_s) - sg( X_{u,t}( X_{s,u}(I_s) ) ) |^2
//!   v-space:  L = E | X_{s,t}(I_s) - sg( X_{u,t}( X_{s,u}(I_s) ) ) |^2 / (t - s)^2
//!             = E | v_{s,t}(I_s) - sg( w v_{s,u}(I_s) + (1 - w) v_{u,t}(X_{s,u}(I_s)) ) |^2,
//!                   w = (u - s) / (t - s)   (1/2 at the midpoint),
//!
//! since X_{u,t}(X_{s,u}(x)) - x = (u - s) v_{s,u}(x) + (t - u) v_{u,t}(X_{s,u}(x)). The X-space
//! form weighs every pair by (t - s)^2, so near-diagonal pairs, which anchor the bootstrapping,
//! get almost no gradient; the v-space form (the paper's released code) weighs all pairs alike,
//! like the LSD residual, which is also a velocity. v-space is computed in the second form, so
//! no difference of nearby points is divided by a small t - s.

use super::{plain, sg};
use crate::config::PsdSpace;
use crate::model::{FlowMapNet, Rows};
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

/// The loss: mean of the squared [`psd_residual`]. Shapes as there; returns [1].
pub fn psd_loss(
    student: &FlowMapNet,
    teacher: &FlowMapNet,
    rows: &Rows,
    u: Tensor<2>,
    space: PsdSpace,
) -> Tensor<1> {
    psd_residual(student, teacher, rows, u, space)
        .square()
        .mean()
}

/// Per-row residual, student minus stop-gradient teacher, in `space`.
/// `rows`: points I_s at (s, t); `u`: [B, 1] with s <= u <= t; returns [B, 2].
pub fn psd_residual(
    student: &FlowMapNet,
    teacher: &FlowMapNet,
    rows: &Rows,
    u: Tensor<2>,
    space: PsdSpace,
) -> Tensor<2> {
    let v_st = student.velocity_rows(rows); // [B, 2]
    let (x_s, s, t) = (rows.x.clone(), rows.s.clone(), rows.t.clone());
    match space {
        PsdSpace::X => {
            let x_st = x_s.clone() + v_st * (t.clone() - s.clone()); // [B, 2]: X_{s,t}(x)
            let (s, u, t) = (plain(s), plain(u), plain(t));
            let x_su = teacher.flow(plain(x_s), s, u.clone()); // [B, 2]
            let x_ut = teacher.flow(x_su, u, t); // [B, 2]
            let target = sg(x_ut, &x_st);
            x_st - target
        }
        PsdSpace::V => {
            let (x, s, u, t) = (plain(x_s), plain(s), plain(u), plain(t));
            // w = (u - s) / (t - s); at t = s (then u = s too) w = 0 and the target is v_{s,s}.
            let w = (u.clone() - s.clone()) / (t.clone() - s.clone()).clamp_min(f32::MIN_POSITIVE); // [B, 1]
            let v_su = teacher.velocity(x.clone(), s.clone(), u.clone()); // [B, 2]
            let x_su = x + v_su.clone() * (u.clone() - s); // [B, 2]: X_{s,u}(x)
            let v_ut = teacher.velocity(x_su, u, t); // [B, 2]
            let target = v_su * w.clone() + v_ut * (w.neg() + 1.0); // [B, 2]
            let target = sg(target, &v_st);
            v_st - target
        }
    }
}
