//! The exact flow, in closed form where the target allows it: the ground truth a learned flow
//! map is measured against, with no histogram and no noise floor.
//!
//! With I_t = (1-t) x0 + t x1 and x0 ~ N(0, sigma^2 I), given I_t = x the data point x1 has the
//! posterior p(x1 | x) ∝ p1(x1) N(x; t x1, (1-t)^2 sigma^2 I), and the flow's velocity is
//!
//!   b_t(x) = E[x1 - x0 | I_t = x] = (E[x1 | I_t = x] - x) / (1 - t),
//!
//! since x0 = (x - t x1)/(1-t). The exact map X_{s,t} is the solution of dx/dt = b_t(x) from s
//! to t, solved here by RK4 in f64 to any accuracy.
//!
//! - Checkerboard (uniform on 8 unit squares): as a function of x1 the likelihood is
//!   N(x1; x/t, tau^2 I) with tau = (1-t) sigma / t, so the posterior is a mixture of 8
//!   truncated Gaussians, one per cell, each a product of two one-dimensional ones.
//! - Eight Gaussians (std s about mu_k): x given component k is N(t mu_k, v I) with
//!   v = t^2 s^2 + (1-t)^2 sigma^2, so the posterior is a Gaussian mixture with
//!   E[x1 | x, k] = mu_k + (t s^2 / v)(x - t mu_k).
//!
//! The other targets (moons, spirals, rings, drawings) have no closed form here.

use crate::data::Dataset;
use std::f64::consts::{FRAC_1_SQRT_2, PI, TAU};

/// A target whose posterior given I_t is closed form.
#[derive(Clone, Debug)]
enum Target {
    /// Uniform boxes [x_lo, x_hi] x [y_lo, y_hi] of equal mass.
    Boxes(Vec<[[f64; 2]; 2]>),
    /// Isotropic Gaussians of equal mass: centres and one std.
    Gaussians { centres: Vec<[f64; 2]>, std: f64 },
}

/// The exact flow of one target from N(0, sigma^2 I).
#[derive(Clone, Debug)]
pub struct ExactFlow {
    target: Target,
    sigma: f64,
}

/// RK4 steps per unit of time in [`ExactFlow::map`]: the endpoints move by less than 1e-5 when
/// this doubles (tests::the_ode_is_solved_to_convergence).
pub const STEPS_PER_UNIT: usize = 64;

/// The velocity is evaluated at t <= 1 - T_END_GAP: at t = 1 itself b_t is 0/0 (its limit is
/// finite inside the support); the cut moves an endpoint by about T_END_GAP * |b|.
const T_END_GAP: f64 = 1e-7;

impl ExactFlow {
    /// The exact flow of `dataset` from N(0, sigma^2 I), or why there is none.
    pub fn new(dataset: &Dataset, sigma: f64) -> Result<Self, String> {
        if !(sigma.is_finite() && sigma > 0.0) {
            return Err(format!("sigma must be positive, got {sigma}"));
        }
        let target = match dataset {
            Dataset::Checkerboard => Target::Boxes(
                (0..8)
                    .map(|cell| {
                        // As data::checkerboard_point: column i, row j with i + j even.
                        let i = (cell / 2) as f64;
                        let j = (2 * (cell % 2) + (cell / 2) % 2) as f64;
                        [[-2.0 + i, -1.0 + i], [-2.0 + j, -1.0 + j]]
                    })
                    .collect(),
            ),
            Dataset::EightGaussians => Target::Gaussians {
                centres: (0..8)
                    .map(|k| {
                        let a = k as f64 * TAU / 8.0;
                        [1.8 * a.cos(), 1.8 * a.sin()]
                    })
                    .collect(),
                std: 0.15,
            },
            other => {
                return Err(format!(
                    "no closed-form flow for the target '{}' (only checkerboard and eight-gaussians)",
                    other.name()
                ));
            }
        };
        Ok(Self { target, sigma })
    }

    /// E[x1 | I_t = x], for t in [0, 1).
    pub fn posterior_mean(&self, x: [f64; 2], t: f64) -> [f64; 2] {
        let noise = (1.0 - t) * self.sigma; // std of I_t around t x1
        match &self.target {
            Target::Boxes(boxes) => {
                // Per box and axis, the likelihood in standard units u = (t x1 - x) / noise over
                // [alpha, beta]: log mass and where the mean falls, as a fraction of the side.
                let parts: Vec<(f64, [f64; 2])> = boxes
                    .iter()
                    .map(|b| {
                        let mut log_mass = 0.0;
                        let mut mean = [0.0; 2];
                        for d in 0..2 {
                            let [lo, hi] = b[d];
                            let alpha = (t * lo - x[d]) / noise;
                            let beta = (t * hi - x[d]) / noise;
                            // The box's mass along this axis is (1/t) Z_d for the density
                            // 1/(hi - lo) in x1, and beta - alpha = t (hi - lo) / noise: per unit
                            // of u it is Z_d / (beta - alpha) up to factors common to all boxes.
                            let (log_density, frac) = truncated_normal(alpha, beta);
                            log_mass += log_density;
                            mean[d] = lo + (hi - lo) * frac;
                        }
                        (log_mass, mean)
                    })
                    .collect();
                mixture_mean(&parts)
            }
            Target::Gaussians { centres, std } => {
                let v = t * t * std * std + noise * noise;
                let gain = t * std * std / v;
                let parts: Vec<(f64, [f64; 2])> = centres
                    .iter()
                    .map(|mu| {
                        let r = [x[0] - t * mu[0], x[1] - t * mu[1]];
                        let log_w = -(r[0] * r[0] + r[1] * r[1]) / (2.0 * v);
                        (log_w, [mu[0] + gain * r[0], mu[1] + gain * r[1]])
                    })
                    .collect();
                mixture_mean(&parts)
            }
        }
    }

    /// The velocity b_t(x) = (E[x1 | I_t = x] - x) / (1 - t).
    pub fn velocity(&self, x: [f64; 2], t: f64) -> [f64; 2] {
        let t = t.min(1.0 - T_END_GAP);
        let m = self.posterior_mean(x, t);
        [(m[0] - x[0]) / (1.0 - t), (m[1] - x[1]) / (1.0 - t)]
    }

    /// X_{s,t}(x): RK4 from s to t with `steps` steps, equal in r where u = 1 - (1 - r)^2 runs
    /// from s to t: finer towards t = 1, where the velocity sharpens at the cells' edges.
    pub fn map_with(&self, x: [f64; 2], s: f64, t: f64, steps: usize) -> [f64; 2] {
        let steps = steps.max(1);
        // u(r) = 1 - (1 - r)^2, r from r(s) to r(t): r = 1 - sqrt(1 - u).
        let r = |u: f64| 1.0 - (1.0 - u).max(0.0).sqrt();
        let u = |r: f64| 1.0 - (1.0 - r) * (1.0 - r);
        let (r0, r1) = (r(s), r(t));
        let dr = (r1 - r0) / steps as f64;
        // dx/dr = b_u(x) du/dr, du/dr = 2 (1 - r).
        let f = |x: [f64; 2], r: f64| {
            let b = self.velocity(x, u(r));
            let k = 2.0 * (1.0 - r);
            [k * b[0], k * b[1]]
        };
        let add = |a: [f64; 2], k: [f64; 2], c: f64| [a[0] + c * k[0], a[1] + c * k[1]];
        let mut x = x;
        for k in 0..steps {
            let q = r0 + k as f64 * dr;
            let k1 = f(x, q);
            let k2 = f(add(x, k1, dr / 2.0), q + dr / 2.0);
            let k3 = f(add(x, k2, dr / 2.0), q + dr / 2.0);
            let k4 = f(add(x, k3, dr), q + dr);
            for d in 0..2 {
                x[d] += dr / 6.0 * (k1[d] + 2.0 * k2[d] + 2.0 * k3[d] + k4[d]);
            }
        }
        x
    }

    /// X_{s,t}(x) with [`STEPS_PER_UNIT`] steps per unit of time.
    pub fn map(&self, x: [f64; 2], s: f64, t: f64) -> [f64; 2] {
        let steps = ((t - s).abs() * STEPS_PER_UNIT as f64).ceil() as usize;
        self.map_with(x, s, t, steps)
    }

    /// X_{s,t} of flattened points [x0, y0, x1, y1, ...].
    pub fn map_points(&self, points: &[f32], s: f64, t: f64) -> Vec<f32> {
        points
            .chunks_exact(2)
            .flat_map(|p| {
                let y = self.map([p[0] as f64, p[1] as f64], s, t);
                [y[0] as f32, y[1] as f32]
            })
            .collect()
    }
}

/// The mean of a mixture given each part's log weight (unnormalised) and mean.
fn mixture_mean(parts: &[(f64, [f64; 2])]) -> [f64; 2] {
    let top = parts.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    let (mut total, mut mean) = (0.0, [0.0; 2]);
    for (log_w, m) in parts {
        let w = (log_w - top).exp();
        total += w;
        mean[0] += w * m[0];
        mean[1] += w * m[1];
    }
    [mean[0] / total, mean[1] / total]
}

/// For a standard normal restricted to [alpha, beta] (alpha <= beta): (the log of its mass per
/// unit length, log(Z / (beta - alpha)), and its mean as a fraction of the interval,
/// (E[u] - alpha) / (beta - alpha)). Per unit length, so that a zero-width interval (t = 0) is
/// no special case. Stable in both tails and for any width: narrow intervals by Gauss-Legendre
/// quadrature (where the closed form cancels), wide ones by the closed form with a scaled
/// complementary error function.
fn truncated_normal(alpha: f64, beta: f64) -> (f64, f64) {
    let width = beta - alpha;
    let log_phi0 = -(2.0 * PI).ln() / 2.0; // log of the density at 0
    if width < 1.0 {
        // Factor out the density at the interval's point nearest 0: the integrand is then <= 1.
        let near = 0.0_f64.clamp(alpha, beta);
        let (mut z, mut first) = (0.0, 0.0);
        for (node, weight) in GAUSS_LEGENDRE {
            let f = (node + 1.0) / 2.0; // in [0, 1] along the interval
            let u = alpha + width * f;
            let g = weight / 2.0 * (-(u * u - near * near) / 2.0).exp(); // weights sum to 2
            z += g;
            first += g * f;
        }
        return (log_phi0 - near * near / 2.0 + z.ln(), first / z);
    }
    if beta <= 0.0 {
        // The mirror image: [-beta, -alpha], the fraction from the other end.
        let (log_density, frac) = truncated_normal(-beta, -alpha);
        return (log_density, 1.0 - frac);
    }
    let phi = |u: f64| (log_phi0 - u * u / 2.0).exp();
    let (log_z, mean) = if alpha >= 0.0 {
        // The upper tail: Q(u) = phi(u) sqrt(pi/2) erfcx(u / sqrt 2), and with
        // r = phi(beta) / phi(alpha) < exp(-1/2) (beta - alpha >= 1) nothing cancels:
        // Z = Q(alpha) - Q(beta) = phi(alpha) scaled, E[u] = (phi(alpha) - phi(beta)) / Z.
        let r = (-(beta * beta - alpha * alpha) / 2.0).exp();
        let scaled =
            (PI / 2.0).sqrt() * (erfcx(alpha * FRAC_1_SQRT_2) - r * erfcx(beta * FRAC_1_SQRT_2));
        (
            log_phi0 - alpha * alpha / 2.0 + scaled.ln(),
            (1.0 - r) / scaled,
        )
    } else {
        // alpha < 0 < beta, at least 1 apart: the mass is at least Phi(1) - Phi(0) = 0.34.
        let tail = |u: f64| phi(u) * (PI / 2.0).sqrt() * erfcx(u * FRAC_1_SQRT_2);
        let z = 1.0 - tail(-alpha) - tail(beta);
        (z.ln(), (phi(alpha) - phi(beta)) / z)
    };
    (log_z - width.ln(), (mean - alpha) / width)
}

/// erfcx(z) = exp(z^2) erfc(z) for z >= 0, with fractional error below 1.2e-7 (the Chebyshev
/// fit of Numerical Recipes' erfcc, without its exp(-z^2)).
fn erfcx(z: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    t * poly.exp()
}

/// 8-point Gauss-Legendre nodes and weights on [-1, 1].
const GAUSS_LEGENDRE: [(f64, f64); 8] = [
    (-0.960_289_856_497_536_2, 0.101_228_536_290_376_26),
    (-0.796_666_477_413_626_7, 0.222_381_034_453_374_47),
    (-0.525_532_409_916_329, 0.313_706_645_877_887_3),
    (-0.183_434_642_495_649_8, 0.362_683_783_378_362),
    (0.183_434_642_495_649_8, 0.362_683_783_378_362),
    (0.525_532_409_916_329, 0.313_706_645_877_887_3),
    (0.796_666_477_413_626_7, 0.222_381_034_453_374_47),
    (0.960_289_856_497_536_2, 0.101_228_536_290_376_26),
];
