//! Eulerian self-distillation (ESD). The flow map must solve the Eulerian (transport) equation
//! d/ds X_{s,t}(x) + grad_x X_{s,t}(x) . v_{s,s}(x) = 0, with the diagonal as teacher:
//!
//!   L_ESD = E_{(s,t), x0, x1} | d/ds X_{s,t}(I_s) + sg( grad_x X_{s,t}(I_s) . v_{s,s}(I_s) ) |^2.
//!
//! Both d/ds X and the spatial JVP are exact forward-mode tangents; only d/ds X carries gradient
//! ([`EsdStop::Transport`], the paper's). With X = x + (t - s) v the same residual is
//!
//!   d/ds X + grad_x X . v_{s,s} = -( v_{s,t} - [ v_{s,s} + (t - s)(d/ds v_{s,t} + grad_x v_{s,t} . v_{s,s}) ] ),
//!
//! and [`EsdStop::Target`] stops the whole bracket, so the gradient flows through v_{s,t} alone:
//!
//!   L_ESD,target = E | v_{s,t}(I_s) - sg( v_{s,s} + (t - s)(d/ds v_{s,t} + grad_x v_{s,t} . v_{s,s}) )(I_s) |^2,
//!
//! MeanFlow's loss (`losses::meanflow`) with the learned v_{s,s} in place of x1 - x0. Same value,
//! same fixed point; what differs is where the gradient goes: the paper's form descends on
//! d/ds X, a derivative of the network, this one on v_{s,t} alone, a plain regression. At batch
//! 2048 and lr 1e-3 the paper's form diverged (its off-diagonal loss creeps up, then explodes)
//! where this one trained stably (docs/results.md).

use super::meanflow::identity_residual;
use super::{plain, sg};
use crate::config::EsdStop;
use crate::model::{FlowMapNet, Rows};
use burn::tensor::Tensor;

/// The loss as written above. `rows`: points I_s at (s, t); returns [1].
pub fn esd_loss(
    student: &FlowMapNet,
    teacher: &FlowMapNet,
    rows: &Rows,
    stop: EsdStop,
) -> Tensor<1> {
    esd_residual(student, teacher, rows, stop).square().mean()
}

/// Per-row residual, with the stop-gradient at `stop`: d/ds X_{s,t}(I_s) + sg(grad_x X_{s,t}(I_s)
/// . v_{s,s}(I_s)), or v_{s,t}(I_s) - sg(target) for [`EsdStop::Target`]. Shapes as [`esd_loss`];
/// returns [B, 2].
pub fn esd_residual(
    student: &FlowMapNet,
    teacher: &FlowMapNet,
    rows: &Rows,
    stop: EsdStop,
) -> Tensor<2> {
    match stop {
        EsdStop::Transport => transport_stopped(student, teacher, rows),
        EsdStop::Target => target_stopped(student, teacher, rows),
    }
}

/// v_{s,t}(I_s) - sg(v_{s,s} + (t - s)(d/ds v + grad_x v . v_{s,s})): one teacher forward for
/// v_{s,s} and one tangent along (v_{s,s}, 1, 0); the student is a plain forward pass.
fn target_stopped(student: &FlowMapNet, teacher: &FlowMapNet, rows: &Rows) -> Tensor<2> {
    let (x, s) = (plain(rows.x.clone()), plain(rows.s.clone()));
    let v_ss = teacher.velocity(x, s.clone(), s); // [B, 2]
    identity_residual(student, teacher, rows, v_ss)
}

/// d/ds X_{s,t}(I_s) + sg(grad_x X_{s,t}(I_s) . v_{s,s}(I_s)).
fn transport_stopped(student: &FlowMapNet, teacher: &FlowMapNet, rows: &Rows) -> Tensor<2> {
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
