//! Diagonal (flow-matching) loss, which teaches v_{t,t} the velocity of the interpolant:
//!
//!   L_b = E_{t ~ U[0,1], x0, x1} | v_{t,t}(I_t) - (x1 - x0) |^2,   I_t = (1-t) x0 + t x1.

use super::mse;
use crate::model::{FlowMapNet, Rows};
use burn::tensor::Tensor;

/// `rows`: points I_t at s = t ([B, 2], [B, 1] each), `target`: [B, 2] = x1 - x0; returns [1].
pub fn diagonal_loss(net: &FlowMapNet, rows: &Rows, target: Tensor<2>) -> Tensor<1> {
    let v = net.velocity_rows(rows); // [B, 2]
    mse(v, target)
}

/// Per-row residual v_{t,t}(I_t) - (x1 - x0), for a per-row weighting. Shapes as
/// [`diagonal_loss`]; returns [B, 2] (its mean square is `diagonal_loss`, op for op).
pub fn diagonal_residual(net: &FlowMapNet, rows: &Rows, target: Tensor<2>) -> Tensor<2> {
    net.velocity_rows(rows) - target // [B, 2]
}
