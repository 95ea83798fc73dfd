//! MeanFlow (Geng, Deng, Bai, Kolter & He 2025) as a flow-map loss. Writing X_{s,t}(x) = x +
//! (t - s) v_{s,t}(x) in the Eulerian equation d/ds X_{s,t} + grad_x X_{s,t} . b_s = 0 gives the
//! identity v_{s,t} = b_s + (t - s) (d/ds v_{s,t} + grad_x v_{s,t} . b_s). MeanFlow puts the
//! interpolant's own velocity dI/ds = x1 - x0 in place of b_s (its mean given I_s is b_s, and
//! the target is linear in it) and stops the whole target:
//!
//!   L_MF = E_{(s,t), x0, x1} | v_{s,t}(I_s) - sg( dI/ds + (t - s) (d/ds v_{s,t} + grad_x v_{s,t} . dI/ds)(I_s) ) |^2.
//!
//! Unlike ESD the learned diagonal v_{s,s} does not enter the target (only the tangent of the
//! map's own v_{s,t} does), and that derivative is one forward tangent of the teacher along
//! (dI/ds, 1, 0), so the student is a plain forward pass (as cheap per step as PSD).

use super::{plain, sg};
use crate::model::{FlowMapNet, Rows};
use burn::tensor::Tensor;

/// The loss as written above. `rows`: points I_s at (s, t); `dx`: [B, 2] dI/ds = x1 - x0;
/// returns [1].
pub fn meanflow_loss(
    student: &FlowMapNet,
    teacher: &FlowMapNet,
    rows: &Rows,
    dx: Tensor<2>,
) -> Tensor<1> {
    meanflow_residual(student, teacher, rows, dx)
        .square()
        .mean()
}

/// Per-row residual v_{s,t}(I_s) - sg(target). Shapes as [`meanflow_loss`]; returns [B, 2].
pub fn meanflow_residual(
    student: &FlowMapNet,
    teacher: &FlowMapNet,
    rows: &Rows,
    dx: Tensor<2>,
) -> Tensor<2> {
    identity_residual(student, teacher, rows, plain(dx))
}

/// v_{s,t}(I_s) - sg(b + (t - s)(d/ds v_{s,t} + grad_x v_{s,t} . b)(I_s)) for a velocity `b`:
/// [B, 2] at the rows (no autodiff): the Eulerian identity as a regression of v alone. MeanFlow
/// takes b = x1 - x0; ESD with the target stopped (`losses::esd`) the teacher's v_{s,s}.
/// Returns [B, 2].
pub(crate) fn identity_residual(
    student: &FlowMapNet,
    teacher: &FlowMapNet,
    rows: &Rows,
    b: Tensor<2>,
) -> Tensor<2> {
    let v_st = student.velocity_rows(rows); // [B, 2]
    let (x, s, t) = (
        plain(rows.x.clone()),
        plain(rows.s.clone()),
        plain(rows.t.clone()),
    );
    let dt = t.clone() - s.clone(); // [B, 1]
    let (_, dv) = teacher.velocity_along_s_and_x(x, s, t, b.clone()); // [B, 2]
    let target = sg(b + dv * dt, &v_st); // [B, 2]
    v_st - target
}
