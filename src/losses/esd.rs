//! Eulerian self-distillation (ESD). The flow map must solve the Eulerian (transport) equation
//! d/ds X_{s,t}(x) + grad_x X_{s,t}(x) . v_{s,s}(x) = 0, with the diagonal as teacher:
//!
//!   L_ESD = E_{(s,t), x0, x1} | d/ds X_{s,t}(I_s) + sg( grad_x X_{s,t}(I_s) . v_{s,s}(I_s) ) |^2.
//!
//! Both d/ds X and the spatial JVP are exact forward-mode tangents; only d/ds X carries gradient.

use super::{plain, sg};
use crate::model::{FlowMapNet, Rows};
use burn::tensor::Tensor;

/// The loss as written above. `rows`: points I_s at (s, t); returns [1].
pub fn esd_loss(student: &FlowMapNet, teacher: &FlowMapNet, rows: &Rows) -> Tensor<1> {
    esd_residual(student, teacher, rows).square().mean()
}

/// Per-row residual d/ds X_{s,t}(I_s) + sg(grad_x X_{s,t}(I_s) . v_{s,s}(I_s)). Shapes as
/// [`esd_loss`]; returns [B, 2].
pub fn esd_residual(student: &FlowMapNet, teacher: &FlowMapNet, rows: &Rows) -> Tensor<2> {
    let (_, dx_ds) = student.flow_ds(rows); // [B, 2]
    let (x, s, t) = (
        plain(rows.x.clone()),
        plain(rows.s.clone()),
        plain(rows.t.clone()),
    );
    let v_ss = teacher.velocity(x.clone(), s.clone(), s.clone()); // [B, 2]
    let (_, transport) = teacher.flow_dx(x, s, t, v_ss); // [B, 2]: grad_x X . v_{s,s}
    let transport = sg(transport, &dx_ds);
    dx_ds + transport
}
