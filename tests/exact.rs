//! The exact flow (src/exact.rs) against independent references: a Monte-Carlo posterior mean,
//! the velocity at t = 0, the ODE's convergence, and the KL of its samples at the noise floor.

#![cfg(not(target_arch = "wasm32"))] // native tests: the browser runs tests/web.rs
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its line

mod common;

use common::*;
use flowmap::config::Method;
use flowmap::data::{Dataset, base_noise};
use flowmap::eval::Evaluator;
use flowmap::exact::ExactFlow;
use flowmap::metrics::{histogram, kl_divergence};
use flowmap::readback::block_on;
use flowmap::rng::Rng;
use flowmap::sample::Sampler;
use flowmap::trainer::Trainer;

const SIGMAS: [f64; 2] = [1.0, 1.1547];

/// E[x1 | I_t = x] by self-normalised importance sampling: x1 from the target, weighted by the
/// likelihood N(x; t x1, (1-t)^2 sigma^2 I). Returns the estimate and its standard error per
/// axis and the weights' effective sample size.
fn monte_carlo(
    dataset: &Dataset,
    sigma: f64,
    x: [f64; 2],
    t: f64,
    n: usize,
) -> ([f64; 2], [f64; 2], f64) {
    let pts = dataset.sample(&mut Rng::new(11), n);
    let noise = (1.0 - t) * sigma;
    let w: Vec<f64> = pts
        .chunks_exact(2)
        .map(|p| {
            let r = [x[0] - t * p[0] as f64, x[1] - t * p[1] as f64];
            (-(r[0] * r[0] + r[1] * r[1]) / (2.0 * noise * noise)).exp()
        })
        .collect();
    let total: f64 = w.iter().sum();
    let mut mean = [0.0; 2];
    let mut second = [0.0; 2];
    for (p, w) in pts.chunks_exact(2).zip(&w) {
        for d in 0..2 {
            mean[d] += w * p[d] as f64 / total;
            second[d] += w * (p[d] as f64).powi(2) / total;
        }
    }
    let ess = total * total / w.iter().map(|w| w * w).sum::<f64>();
    let se = [0, 1].map(|d| ((second[d] - mean[d] * mean[d]).max(0.0) / ess).sqrt());
    (mean, se, ess)
}

#[test]
fn the_closed_form_posterior_mean_agrees_with_monte_carlo() {
    let points = [
        [0.3, -0.7],
        [1.6, 1.2],
        [-2.4, 0.1],
        [0.0, 0.0],
        [3.0, -3.0],
    ];
    let (mut checked, mut cases) = (0, 0);
    for dataset in [Dataset::Checkerboard, Dataset::EightGaussians] {
        for sigma in SIGMAS {
            let exact = ExactFlow::new(&dataset, sigma).unwrap();
            for t in [0.02, 0.3, 0.6, 0.85] {
                for x in points {
                    let m = exact.posterior_mean(x, t);
                    let (mc, se, ess) = monte_carlo(&dataset, sigma, x, t, 200_000);
                    cases += 1;
                    // Where the posterior lies in the target's far tail, few draws land there
                    // and the estimate (and its error bar) cannot be trusted: skip those.
                    if ess < 2000.0 {
                        continue;
                    }
                    checked += 1;
                    for d in 0..2 {
                        // 5 standard errors, and a floor for the f32 data.
                        let tol = 5.0 * se[d] + 2e-3;
                        assert!(
                            (m[d] - mc[d]).abs() < tol,
                            "{} sigma {sigma} t {t} x {x:?}: closed form {m:?}, Monte Carlo {mc:?} ± {se:?}",
                            dataset.name()
                        );
                    }
                }
            }
        }
    }
    assert!(
        checked * 10 >= cases * 8,
        "only {checked} of {cases} cases had enough draws"
    );
}

#[test]
fn at_time_zero_the_velocity_is_the_data_mean_minus_x() {
    // Both targets have mean 0, so b_0(x) = E[x1] - x = -x.
    for dataset in [Dataset::Checkerboard, Dataset::EightGaussians] {
        let exact = ExactFlow::new(&dataset, 1.0).unwrap();
        for x in [[0.4, -1.3], [2.0, 2.0], [-0.1, 0.0]] {
            let b = exact.velocity(x, 0.0);
            for d in 0..2 {
                assert!(
                    (b[d] + x[d]).abs() < 1e-9,
                    "{}: b_0({x:?}) = {b:?}",
                    dataset.name()
                );
            }
        }
    }
}

#[test]
fn the_ode_is_solved_to_convergence() {
    let exact = ExactFlow::new(&Dataset::Checkerboard, 1.0).unwrap();
    let x0 = base_noise(&mut Rng::new(3), 200, 1.0);
    let mut worst: f64 = 0.0;
    for p in x0.chunks_exact(2) {
        let x = [p[0] as f64, p[1] as f64];
        let a = exact.map(x, 0.0, 1.0);
        let b = exact.map_with(x, 0.0, 1.0, 2 * flowmap::exact::STEPS_PER_UNIT);
        worst = worst.max((a[0] - b[0]).hypot(a[1] - b[1]));
    }
    assert!(
        worst < 1e-5,
        "doubling the steps moves an endpoint by {worst}"
    );
    // The composition rule of a flow map: X_{0.4,1} o X_{0,0.4} = X_{0,1}.
    let x = [0.7, -0.2];
    let (direct, composed) = (
        exact.map(x, 0.0, 1.0),
        exact.map(exact.map(x, 0.0, 0.4), 0.4, 1.0),
    );
    assert!((direct[0] - composed[0]).hypot(direct[1] - composed[1]) < 5e-5);
}

#[test]
fn the_exact_maps_samples_score_at_the_noise_floor() {
    // 20k points: the page's estimator size, whose floor is about 0.05.
    let n = 20_000;
    for (dataset, sigma) in [
        (Dataset::Checkerboard, 1.1547),
        (Dataset::EightGaussians, 1.0),
    ] {
        let mut rng = Rng::new(5);
        let a = histogram(&dataset.sample(&mut rng, n));
        let floor = kl_divergence(&a, &histogram(&dataset.sample(&mut rng, n)));
        let exact = ExactFlow::new(&dataset, sigma).unwrap();
        let pushed = exact.map_points(&base_noise(&mut rng, n, sigma), 0.0, 1.0);
        let kl = kl_divergence(&a, &histogram(&pushed));
        // Within 25% of the floor: a map that misplaced a cell's mass by 2% would add ~0.02.
        assert!(
            kl < 1.25 * floor,
            "{}: exact map KL {kl}, floor {floor}",
            dataset.name()
        );
        // And an ODE cut short is visibly off: the test can tell.
        let short = exact.map_points(&base_noise(&mut Rng::new(6), n, sigma), 0.0, 0.9);
        let off = kl_divergence(&a, &histogram(&short));
        assert!(
            off > 2.0 * floor,
            "{}: stopping at t = 0.9 scores {off}",
            dataset.name()
        );
    }
}

#[test]
fn targets_without_a_closed_form_are_refused_by_name() {
    let e = ExactFlow::new(&Dataset::Rings, 1.0).unwrap_err();
    assert!(e.contains("rings"), "{e}");
    assert!(ExactFlow::new(&Dataset::Checkerboard, 0.0).is_err());
}

#[test]
fn a_trained_maps_distance_to_the_exact_map_falls_with_training() {
    // LSD on the small recipe (checkerboard, sigma 1): the distance at N = 1 and N = 4 after 0,
    // 150 and 300 steps falls each time, by a quarter in all (measured: 0.45, 0.42, 0.34).
    let config = small(Method::Lsd);
    let eval = Evaluator::new(config.train.dataset.clone(), 4096, 1, config.model.sigma)
        .with_exact(&config.train.dataset, config.model.sigma)
        .unwrap();
    let mut tr = Trainer::new(config, &cpu()).unwrap();
    let distance = |tr: &Trainer, n: usize| {
        block_on(eval.exact_distance(&tr.sampling_net(), &cpu(), Sampler::FlowMap, n)).unwrap()
    };
    let mut seen = vec![[distance(&tr, 1), distance(&tr, 4)]];
    for _ in 0..2 {
        for _ in 0..150 {
            tr.step();
        }
        seen.push([distance(&tr, 1), distance(&tr, 4)]);
    }
    for n in 0..2 {
        assert!(
            seen[1][n] < seen[0][n] && seen[2][n] < seen[1][n] && seen[2][n] < 0.85 * seen[0][n],
            "distance at N = {}: {seen:?}",
            [1, 4][n]
        );
    }
    // The evaluator refuses where there is no exact map, by name.
    let rings = Evaluator::new(Dataset::Rings, 100, 1, 1.0).with_exact(&Dataset::Rings, 1.0);
    assert!(rings.is_err());
}
