//! N-step sampling with the flow map: x <- X_{k/N,(k+1)/N}(x), k = 0..N-1, from x ~ N(0, sigma^2 I)
//! (sigma = 1 unless the model is preconditioned).

use crate::model::FlowMapNet;
use crate::ode::{Solver, solve_to};
use burn::tensor::{Device, Tensor, TensorData};

/// Largest number of steps accepted: 16 is the finest grid of the KL table; 1024 leaves room to
/// study convergence while keeping a call well under a minute in a tab.
pub const MAX_STEPS: usize = 1024;

/// Checks a step count coming from a user.
pub fn check_steps(n_steps: usize) -> Result<(), String> {
    if (1..=MAX_STEPS).contains(&n_steps) {
        Ok(())
    } else {
        Err(format!("n_steps must be in 1..={MAX_STEPS}, got {n_steps}"))
    }
}

/// How points travel from time 0 to a time t in N steps: the flow map's N jumps, or the
/// probability-flow ODE on v_{t,t} that the map replaces (ode.rs), on the uniform grid k t / N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sampler {
    FlowMap,
    Ode(Solver),
}

impl Sampler {
    pub const ALL: [Sampler; 3] = [
        Sampler::FlowMap,
        Sampler::Ode(Solver::Euler),
        Sampler::Ode(Solver::Heun),
    ];

    /// "flow-map", "ode-euler" or "ode-heun" (the KL table's row labels).
    pub fn name(self) -> &'static str {
        match self {
            Sampler::FlowMap => "flow-map",
            Sampler::Ode(s) => s.name(),
        }
    }

    pub fn parse(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| format!("sampler must be flow-map, ode-euler or ode-heun, got '{name}'"))
    }

    /// Network calls per step: one per jump, one per Euler step, two per Heun step.
    pub fn calls_per_step(self) -> usize {
        match self {
            Sampler::FlowMap => 1,
            Sampler::Ode(s) => s.calls_per_step(),
        }
    }

    /// x at times k t_end / N, k = 0..=N (N + 1 stages, the first `x0`). `x0`: [B, 2].
    pub fn stages(
        self,
        net: &FlowMapNet,
        x0: Tensor<2>,
        n_steps: usize,
        t_end: f32,
    ) -> Vec<Tensor<2>> {
        let mut stages = Vec::with_capacity(n_steps + 1);
        stages.push(x0.clone());
        match self {
            Sampler::FlowMap => {
                let time = |k: usize| k as f32 * t_end / n_steps as f32;
                let mut x = x0;
                for k in 0..n_steps {
                    x = jump(net, x, time(k), time(k + 1));
                    stages.push(x.clone());
                }
            }
            Sampler::Ode(solver) => {
                solve_to(net, x0, n_steps, t_end, solver, |x| stages.push(x.clone()));
            }
        }
        stages
    }

    /// x at `t_end` after `n_steps` steps, keeping no intermediate stage. `x0`: [B, 2].
    pub fn run(self, net: &FlowMapNet, x0: Tensor<2>, n_steps: usize, t_end: f32) -> Tensor<2> {
        match self {
            Sampler::FlowMap => {
                let time = |k: usize| k as f32 * t_end / n_steps as f32;
                (0..n_steps).fold(x0, |x, k| jump(net, x, time(k), time(k + 1)))
            }
            Sampler::Ode(solver) => solve_to(net, x0, n_steps, t_end, solver, |_| ()),
        }
    }
}

/// The end points X at time 1 after `n_steps` jumps, keeping no intermediate stage.
/// `x0`: [B, 2]; returns [B, 2].
pub fn sample(net: &FlowMapNet, x0: Tensor<2>, n_steps: usize) -> Tensor<2> {
    Sampler::FlowMap.run(net, x0, n_steps, 1.0)
}

/// One jump from s to t for every point: X_{s,t}(x). `x`: [B, 2].
pub fn jump(net: &FlowMapNet, x: Tensor<2>, s: f32, t: f32) -> Tensor<2> {
    let [b, _] = x.dims();
    let device = x.device();
    net.flow(x, constant(b, s, &device), constant(b, t, &device))
}

/// Host points [x0, y0, ...] to a [B, 2] tensor.
pub fn points_tensor(points: Vec<f32>, device: &Device) -> Tensor<2> {
    let n = points.len() / 2;
    Tensor::from_data(TensorData::new(points, [n, 2]), device)
}

fn constant(rows: usize, value: f32, device: &Device) -> Tensor<2> {
    Tensor::full([rows, 1], value, device)
}
