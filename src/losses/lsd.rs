//! Lagrangian self-distillation (LSD). The flow map must solve the Lagrangian equation
//! d/dt X_{s,t}(x) = v_{t,t}(X_{s,t}(x)), with the diagonal v_{t,t} as its own teacher:
//!
//!   L_LSD = E_{(s,t), x0, x1} | d/dt X_{s,t}(I_s) - sg( v_{t,t}( sg X_{s,t}(I_s) ) ) |^2,
//!
//! (s,t) uniform on s < t. d/dt X is exact (a forward-mode tangent, see `model`); the teacher sees a
//! detached X and its output is a constant.

use super::{plain, sg};
use crate::model::{FlowMapNet, Rows};
use burn::tensor::Tensor;

/// The loss as written above. `rows`: points I_s at (s, t); returns [1].
pub fn lsd_loss(student: &FlowMapNet, teacher: &FlowMapNet, rows: &Rows) -> Tensor<1> {
    lsd_residual(student, teacher, rows).square().mean()
}

/// Per-row residual d/dt X_{s,t}(I_s) - sg(v_{t,t}(X_{s,t}(I_s))). Shapes as [`lsd_loss`];
/// returns [B, 2].
pub fn lsd_residual(student: &FlowMapNet, teacher: &FlowMapNet, rows: &Rows) -> Tensor<2> {
    let (x_st, dx_dt) = student.flow_dt(rows); // [B, 2], [B, 2]
    let t_plain = plain(rows.t.clone());
    let target = teacher.velocity(plain(x_st), t_plain.clone(), t_plain); // [B, 2]
    let target = sg(target, &dx_dt);
    dx_dt - target
}
