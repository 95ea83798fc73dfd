//! N-step sampling with the flow map: x <- X_{k/N,(k+1)/N}(x), k = 0..N-1, from x ~ N(0, sigma^2 I)
//! (sigma = 1 unless the model is preconditioned).

use crate::model::FlowMapNet;
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

/// All N+1 points of each trajectory: element k is x at time k/N. `x0`: [B, 2].
pub fn trajectory(net: &FlowMapNet, x0: Tensor<2>, n_steps: usize) -> Vec<Tensor<2>> {
    let [b, _] = x0.dims();
    let device = x0.device();
    let mut points = Vec::with_capacity(n_steps + 1);
    points.push(x0.clone());
    let mut x = x0;
    for k in 0..n_steps {
        let s = constant(b, k as f32 / n_steps as f32, &device); // [B, 1]
        let t = constant(b, (k + 1) as f32 / n_steps as f32, &device); // [B, 1]
        x = net.flow(x, s, t);
        points.push(x.clone());
    }
    points
}

/// The end points X at time 1 after `n_steps` jumps, keeping no intermediate stage.
/// `x0`: [B, 2]; returns [B, 2].
pub fn sample(net: &FlowMapNet, x0: Tensor<2>, n_steps: usize) -> Tensor<2> {
    (0..n_steps).fold(x0, |x, k| {
        jump(
            net,
            x,
            k as f32 / n_steps as f32,
            (k + 1) as f32 / n_steps as f32,
        )
    })
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
