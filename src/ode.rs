//! The ODE the flow map replaces: dx/dt = b_t(x) with b_t = v_{t,t}, the diagonal of the map
//! (the flow-matching velocity, what the diagonal loss trains). Solved on the uniform grid
//! t_k = k/N from the same base noise as the flow map's samples, so the two compare at equal
//! network calls:
//!
//!   Euler: x_{k+1} = x_k + h b_{t_k}(x_k)                                   (1 call per step)
//!   Heun:  x' = x_k + h b_{t_k}(x_k),
//!          x_{k+1} = x_k + (h/2) (b_{t_k}(x_k) + b_{t_{k+1}}(x'))           (2 calls per step)
//!
//! with h = 1/N. N flow-map jumps cost N calls; the paper's point is that they match many more
//! ODE steps.

use crate::model::FlowMapNet;
use burn::tensor::Tensor;

/// A fixed-step solver of the probability-flow ODE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Solver {
    Euler,
    Heun,
}

impl Solver {
    pub const ALL: [Solver; 2] = [Solver::Euler, Solver::Heun];

    /// The row label of the KL table.
    pub fn name(self) -> &'static str {
        match self {
            Solver::Euler => "ode-euler",
            Solver::Heun => "ode-heun",
        }
    }

    /// Network calls per step.
    pub fn calls_per_step(self) -> usize {
        match self {
            Solver::Euler => 1,
            Solver::Heun => 2,
        }
    }
}

/// The ODE's end point at t = 1 after `n_steps` steps. `x0`: [B, 2]; returns [B, 2].
pub fn solve(net: &FlowMapNet, x0: Tensor<2>, n_steps: usize, solver: Solver) -> Tensor<2> {
    solve_to(net, x0, n_steps, 1.0, solver, |_| ())
}

/// The ODE from time 0 to `t_end` in `n_steps` steps of h = t_end / N, calling `visit` with
/// each new stage (x at time (k + 1) h). `x0`: [B, 2]; returns x at `t_end`, [B, 2].
pub fn solve_to(
    net: &FlowMapNet,
    x0: Tensor<2>,
    n_steps: usize,
    t_end: f32,
    solver: Solver,
    mut visit: impl FnMut(&Tensor<2>),
) -> Tensor<2> {
    let [b, _] = x0.dims();
    let device = x0.device();
    let h = t_end / n_steps as f32;
    // b_t(x) = v_{t,t}(x).
    let drift = |x: Tensor<2>, t: f32| {
        let t = Tensor::<2>::full([b, 1], t, &device); // [B, 1]
        net.velocity(x, t.clone(), t) // [B, 2]
    };
    (0..n_steps).fold(x0, |x, k| {
        let t = k as f32 * h;
        let slope = drift(x.clone(), t); // [B, 2]
        let next = match solver {
            Solver::Euler => x + slope * h,
            Solver::Heun => {
                let predicted = x.clone() + slope.clone() * h; // [B, 2]
                let corrector = drift(predicted, t + h); // [B, 2]
                x + (slope + corrector) * (h / 2.0)
            }
        };
        visit(&next);
        next
    })
}
