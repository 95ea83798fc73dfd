//! The ODE the flow map replaces (`flowmap::ode`), on the shipped LSD checkpoint: the solvers
//! converge at their orders to one solution, the flow map's jumps land on that solution, and one
//! jump is worth many ODE steps. The reference is the ODE solved finely (Heun, 128 steps), from
//! the same base points, compared point by point.
#![cfg(not(target_arch = "wasm32"))] // native tests: the browser runs tests/web.rs
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its line

mod common;

use burn::tensor::{Device, Tensor};
use common::*;
use flowmap::checkpoint::decode;
use flowmap::data::{Dataset, base_noise};
use flowmap::eval::Evaluator;
use flowmap::model::FlowMapNet;
use flowmap::ode::{Solver, solve};
use flowmap::readback::block_on;
use flowmap::rng::Rng;
use flowmap::sample::{Sampler, points_tensor, sample};

const POINTS: usize = 1000;

fn shipped_lsd(device: &Device) -> FlowMapNet {
    decode(include_bytes!("../www/pretrained/lsd.fmap"))
        .unwrap()
        .to_net(device)
}

/// Mean distance between two point sets, point by point.
fn mean_distance(a: &[f32], b: &[f32]) -> f32 {
    let d: f32 = a
        .chunks(2)
        .zip(b.chunks(2))
        .map(|(p, q)| ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt())
        .sum();
    d / (a.len() / 2) as f32
}

struct Setup {
    net: FlowMapNet,
    x0: Vec<f32>,
    device: Device,
    reference: Vec<f32>,
}

impl Setup {
    fn new() -> Self {
        let device = cpu();
        let net = shipped_lsd(&device);
        let x0 = base_noise(&mut Rng::new(5), POINTS, 1.0);
        let reference = host(solve(
            &net,
            points_tensor(x0.clone(), &device),
            128,
            Solver::Heun,
        ));
        Self {
            net,
            x0,
            device,
            reference,
        }
    }

    fn base(&self) -> Tensor<2> {
        points_tensor(self.x0.clone(), &self.device)
    }

    fn ode_error(&self, n: usize, solver: Solver) -> f32 {
        mean_distance(
            &host(solve(&self.net, self.base(), n, solver)),
            &self.reference,
        )
    }

    fn jumps_error(&self, n: usize) -> f32 {
        mean_distance(&host(sample(&self.net, self.base(), n)), &self.reference)
    }
}

#[test]
fn euler_is_first_order_and_heun_second_order_on_the_learned_velocity() {
    let s = Setup::new();
    let (e8, e32) = (
        s.ode_error(8, Solver::Euler),
        s.ode_error(32, Solver::Euler),
    );
    let (h8, h32) = (s.ode_error(8, Solver::Heun), s.ode_error(32, Solver::Heun));
    println!("Euler: {e8:.5} at N = 8, {e32:.5} at N = 32; Heun: {h8:.5}, {h32:.5}");
    // 4x the steps: the error of a first-order method falls ~4x, of a second-order one ~16x.
    assert!((3.0..5.5).contains(&(e8 / e32)), "Euler ratio {}", e8 / e32);
    assert!((9.0..25.0).contains(&(h8 / h32)), "Heun ratio {}", h8 / h32);
}

#[test]
fn the_flow_map_lands_where_the_ode_goes_and_one_jump_is_worth_many_steps() {
    let s = Setup::new();
    let jumps: Vec<f32> = [1, 4, 16].iter().map(|&n| s.jumps_error(n)).collect();
    let euler1 = s.ode_error(1, Solver::Euler);
    let euler16 = s.ode_error(16, Solver::Euler);
    println!(
        "distance to the ODE solution: flow map {jumps:?} at N = 1, 4, 16; Euler {euler1:.4} at N = 1, {euler16:.4} at N = 16"
    );
    // More jumps converge on the ODE's solution...
    assert!(jumps[0] > jumps[1] && jumps[1] > jumps[2], "{jumps:?}");
    assert!(jumps[2] < 0.01, "16 jumps are {} from the ODE", jumps[2]);
    // ...and one jump already lands closer than 16 Euler steps, and far closer than one.
    assert!(
        jumps[0] < euler16,
        "one jump {} vs 16 Euler steps {euler16}",
        jumps[0]
    );
    assert!(
        jumps[0] < euler1 / 20.0,
        "one jump {} vs one Euler step {euler1}",
        jumps[0]
    );

    // The same in the KL table's terms, 20k samples: one jump against one Euler step.
    let eval = Evaluator::new(Dataset::Checkerboard, 20_000, 0, 1.0);
    let flow = block_on(eval.kl_after(&s.net, &s.device, 1)).unwrap();
    let ode = block_on(eval.table(&s.net, &s.device, Sampler::Ode(Solver::Euler))).unwrap();
    println!(
        "KL(N = 1): flow map {flow:.3}, one Euler step {:.3}",
        ode.kl[0]
    );
    assert!(
        flow < 0.3 && ode.kl[0] > 10.0 * flow,
        "{flow} vs {}",
        ode.kl[0]
    );
}
