//! Target distributions (time 1) and the Gaussian base (time 0), sampled on the host.
//!
//! Every target lives inside the KL histogram's square [-2.5, 2.5]^2 (up to Gaussian tails), so
//! the same estimator scores all of them.

use crate::rng::Rng;
use serde::{Deserialize, Serialize};
use std::f64::consts::{PI, TAU};

/// A 2-D target distribution. In JSON: `"checkerboard"`, `"eight-gaussians"`, ... or
/// `{"drawn": {"size": 32, "cells": [...]}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(rename_all = "kebab-case")]
pub enum Dataset {
    /// 4x4 unit cells on [-2,2]^2, the 8 cells with (i+j) even, uniform inside a cell.
    #[default]
    Checkerboard,
    /// Eight Gaussians (std 0.15) centred on the circle of radius 1.8, 45 degrees apart.
    EightGaussians,
    /// Two interleaved half circles (sklearn's make_moons, scaled by 1.4, noise std 0.08).
    TwoMoons,
    /// Two spiral arms, 1.5 turns each, out to radius 2.2, noise std 0.08.
    Spirals,
    /// Three concentric rings of radius 0.7, 1.4 and 2.1 (noise std 0.06), mass proportional to
    /// circumference so the density along every ring is the same.
    Rings,
    /// A density painted by the user on a grid over [-2.5, 2.5]^2.
    Drawn(Drawing),
}

/// A painted density: `size` x `size` non-negative cell weights over [-2.5, 2.5]^2, row-major,
/// row 0 at the top (y = 2.5) as on a canvas. Points are uniform inside a cell chosen with
/// probability proportional to its weight.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(deny_unknown_fields)]
pub struct Drawing {
    pub size: usize,
    pub cells: Vec<f32>,
}

/// Half-width of the square every target lives in: the KL histogram's range.
pub const HALF_WIDTH: f64 = crate::metrics::RANGE as f64;
/// Finest drawing grid accepted: 128 x 128 cells is finer than the 60 x 60 KL histogram.
pub const MAX_DRAWING_SIZE: usize = 128;

impl Dataset {
    /// Every named dataset, in the order the page lists them.
    pub const NAMED: [Dataset; 5] = [
        Dataset::Checkerboard,
        Dataset::EightGaussians,
        Dataset::TwoMoons,
        Dataset::Spirals,
        Dataset::Rings,
    ];

    /// The name used in JSON, URLs and the CLI.
    pub fn name(&self) -> &'static str {
        match self {
            Dataset::Checkerboard => "checkerboard",
            Dataset::EightGaussians => "eight-gaussians",
            Dataset::TwoMoons => "two-moons",
            Dataset::Spirals => "spirals",
            Dataset::Rings => "rings",
            Dataset::Drawn(_) => "drawn",
        }
    }

    /// A named dataset (a drawing needs its cells, so it has no name to parse).
    pub fn parse(s: &str) -> Result<Self, String> {
        Self::NAMED
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::NAMED.iter().map(|d| d.name()).collect();
                format!("unknown dataset '{s}' (expected {})", names.join(", "))
            })
    }

    /// Checks a drawing's grid; named datasets are always valid.
    pub fn validate(&self) -> Result<(), String> {
        let Dataset::Drawn(d) = self else {
            return Ok(());
        };
        if !(2..=MAX_DRAWING_SIZE).contains(&d.size) {
            return Err(format!(
                "drawing size must be in 2..={MAX_DRAWING_SIZE}, got {}",
                d.size
            ));
        }
        if d.cells.len() != d.size * d.size {
            return Err(format!(
                "a {0}x{0} drawing needs {1} cells, got {2}",
                d.size,
                d.size * d.size,
                d.cells.len()
            ));
        }
        if let Some(bad) = d.cells.iter().find(|w| !w.is_finite() || **w < 0.0) {
            return Err(format!("drawing cells must be finite and >= 0, got {bad}"));
        }
        if d.cells.iter().all(|w| *w == 0.0) {
            return Err("the drawing is empty: paint something first".into());
        }
        Ok(())
    }

    /// `n` points, flattened as `[x0, y0, x1, y1, ...]`. Call [`Dataset::validate`] first for a
    /// drawing.
    pub fn sample(&self, rng: &mut Rng, n: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(2 * n);
        let cdf = match self {
            Dataset::Drawn(d) => cumulative(&d.cells),
            _ => Vec::new(),
        };
        for _ in 0..n {
            let (x, y) = match self {
                Dataset::Checkerboard => checkerboard_point(rng),
                Dataset::EightGaussians => eight_gaussians_point(rng),
                Dataset::TwoMoons => two_moons_point(rng),
                Dataset::Spirals => spiral_point(rng),
                Dataset::Rings => ring_point(rng),
                Dataset::Drawn(d) => drawn_point(rng, d.size, &cdf),
            };
            out.push(x as f32);
            out.push(y as f32);
        }
        out
    }
}

/// One checkerboard point: pick one of the 8 "black" cells, then a uniform point inside it.
fn checkerboard_point(rng: &mut Rng) -> (f64, f64) {
    let cell = rng.below(8); // 8 cells with (i + j) even: 2 per column i
    let i = cell / 2;
    let j = 2 * (cell % 2) + (i % 2); // j has the parity of i, so i + j is even
    (
        -2.0 + i as f64 + rng.uniform(),
        -2.0 + j as f64 + rng.uniform(),
    )
}

fn eight_gaussians_point(rng: &mut Rng) -> (f64, f64) {
    let angle = rng.below(8) as f64 * TAU / 8.0;
    let (nx, ny) = rng.normal_pair();
    (1.8 * angle.cos() + 0.15 * nx, 1.8 * angle.sin() + 0.15 * ny)
}

fn two_moons_point(rng: &mut Rng) -> (f64, f64) {
    let theta = PI * rng.uniform();
    let (x, y) = if rng.below(2) == 0 {
        (theta.cos(), theta.sin()) // upper moon
    } else {
        (1.0 - theta.cos(), 0.5 - theta.sin()) // lower moon
    };
    let (nx, ny) = rng.normal_pair();
    // Centre the pair of moons (x in [-1, 2], y in [-0.5, 1]) on the origin, then scale.
    (1.4 * (x - 0.5) + 0.08 * nx, 1.4 * (y - 0.25) + 0.08 * ny)
}

fn spiral_point(rng: &mut Rng) -> (f64, f64) {
    // sqrt spreads the points evenly along the arm's length, which grows with the angle.
    let turn = rng.uniform().sqrt();
    let angle = 3.0 * PI * turn;
    let radius = 2.2 * turn;
    let sign = if rng.below(2) == 0 { 1.0 } else { -1.0 }; // the second arm: rotated by pi
    let (nx, ny) = rng.normal_pair();
    (
        sign * radius * angle.cos() + 0.08 * nx,
        sign * radius * angle.sin() + 0.08 * ny,
    )
}

const RING_RADII: [f64; 3] = [0.7, 1.4, 2.1];

fn ring_point(rng: &mut Rng) -> (f64, f64) {
    // Radii 1 : 2 : 3, so the ring is picked with probability 1/6, 2/6, 3/6.
    let pick = rng.below(6);
    let radius = RING_RADII[if pick == 0 {
        0
    } else if pick < 3 {
        1
    } else {
        2
    }];
    let angle = TAU * rng.uniform();
    let (nx, ny) = rng.normal_pair();
    (
        radius * angle.cos() + 0.06 * nx,
        radius * angle.sin() + 0.06 * ny,
    )
}

/// Running sums of the cell weights (the last one is the total).
fn cumulative(cells: &[f32]) -> Vec<f64> {
    let mut sum = 0.0;
    cells
        .iter()
        .map(|w| {
            sum += *w as f64;
            sum
        })
        .collect()
}

fn drawn_point(rng: &mut Rng, size: usize, cdf: &[f64]) -> (f64, f64) {
    let total = cdf[cdf.len() - 1];
    let u = rng.uniform() * total;
    // The first cell whose running sum exceeds u: empty cells are never picked.
    let cell = cdf.partition_point(|c| *c <= u).min(cdf.len() - 1);
    let (row, col) = (cell / size, cell % size);
    let width = 2.0 * HALF_WIDTH / size as f64;
    (
        -HALF_WIDTH + (col as f64 + rng.uniform()) * width,
        HALF_WIDTH - (row as f64 + rng.uniform()) * width,
    )
}

/// `n` standard normal points in 2-D, flattened as `[x0, y0, ...]`.
/// n points of the base N(0, sigma^2 I) (`sigma` is [`crate::config::ModelConfig::sigma`]).
pub fn base_noise(rng: &mut Rng, n: usize, sigma: f64) -> Vec<f32> {
    let mut out = gaussian(rng, n);
    if sigma != 1.0 {
        out.iter_mut().for_each(|x| *x = (*x as f64 * sigma) as f32);
    }
    out
}

pub fn gaussian(rng: &mut Rng, n: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(2 * n);
    for _ in 0..n {
        let (a, b) = rng.normal_pair();
        out.push(a as f32);
        out.push(b as f32);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its line
mod tests {
    use super::*;

    #[test]
    fn checkerboard_fills_exactly_the_eight_even_cells_evenly() {
        let mut rng = Rng::new(3);
        let n = 80_000;
        let pts = Dataset::Checkerboard.sample(&mut rng, n);
        let mut counts = [[0usize; 4]; 4];
        for p in pts.chunks(2) {
            assert!(p[0] >= -2.0 && p[0] < 2.0 && p[1] >= -2.0 && p[1] < 2.0);
            let (i, j) = ((p[0] + 2.0).floor() as usize, (p[1] + 2.0).floor() as usize);
            counts[i][j] += 1;
        }
        for i in 0..4 {
            for j in 0..4 {
                if (i + j) % 2 == 0 {
                    let frac = counts[i][j] as f64 / n as f64;
                    assert!((frac - 0.125).abs() < 0.005, "cell ({i},{j}) holds {frac}");
                } else {
                    assert_eq!(counts[i][j], 0, "odd cell ({i},{j}) must be empty");
                }
            }
        }
    }

    /// (index, value) of the smallest value.
    fn argmin(values: impl Iterator<Item = f64>) -> (usize, f64) {
        values.enumerate().fold(
            (0, f64::INFINITY),
            |a, (k, d)| if d < a.1 { (k, d) } else { a },
        )
    }

    fn nearest(p: (f64, f64), centers: &[(f64, f64)]) -> (usize, f64) {
        argmin(
            centers
                .iter()
                .map(|c| ((p.0 - c.0).powi(2) + (p.1 - c.1).powi(2)).sqrt()),
        )
    }

    fn pairs(pts: &[f32]) -> impl Iterator<Item = (f64, f64)> + '_ {
        pts.chunks(2).map(|p| (p[0] as f64, p[1] as f64))
    }

    #[test]
    fn every_named_dataset_is_seeded_and_stays_in_the_histogram_square() {
        for d in Dataset::NAMED {
            let a = d.sample(&mut Rng::new(5), 20_000);
            assert_eq!(a, d.sample(&mut Rng::new(5), 20_000), "{}", d.name());
            assert_ne!(a, d.sample(&mut Rng::new(6), 20_000), "{}", d.name());
            let outside = pairs(&a)
                .filter(|p| p.0.abs() > HALF_WIDTH || p.1.abs() > HALF_WIDTH)
                .count();
            assert!(outside < 20, "{}: {outside} of 20000 outside", d.name());
            assert_eq!(Dataset::parse(d.name()), Ok(d.clone()));
            let json = serde_json::to_string(&d).unwrap();
            assert_eq!(json, format!("\"{}\"", d.name()));
        }
        assert!(Dataset::parse("drawn").is_err());
    }

    #[test]
    fn eight_gaussians_put_an_eighth_of_the_mass_on_each_center_with_std_015() {
        let centers: Vec<_> = (0..8)
            .map(|k| {
                let a = k as f64 * TAU / 8.0;
                (1.8 * a.cos(), 1.8 * a.sin())
            })
            .collect();
        let n = 80_000;
        let mut counts = [0usize; 8];
        let mut sq = 0.0;
        for p in pairs(&Dataset::EightGaussians.sample(&mut Rng::new(1), n)) {
            let (k, d) = nearest(p, &centers);
            counts[k] += 1;
            sq += d * d;
        }
        for c in counts {
            assert!((c as f64 / n as f64 - 0.125).abs() < 0.005, "{counts:?}");
        }
        // E|noise|^2 = 2 sigma^2 for an isotropic 2-D Gaussian.
        let sigma = (sq / n as f64 / 2.0).sqrt();
        assert!((sigma - 0.15).abs() < 0.003, "sigma {sigma}");
    }

    #[test]
    fn rings_have_radii_07_14_21_with_mass_proportional_to_radius() {
        let n = 60_000;
        let mut counts = [0usize; 3];
        for (x, y) in pairs(&Dataset::Rings.sample(&mut Rng::new(2), n)) {
            let r = (x * x + y * y).sqrt();
            let (k, d) = argmin(RING_RADII.iter().map(|rr| (r - rr).abs()));
            assert!(d < 0.4, "point at radius {r} is on no ring");
            counts[k] += 1;
        }
        for (c, want) in counts.iter().zip([1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0]) {
            assert!((*c as f64 / n as f64 - want).abs() < 0.01, "{counts:?}");
        }
    }

    #[test]
    fn two_moons_are_two_unit_arcs_of_equal_mass_centred_on_the_origin() {
        let n = 40_000;
        let (mut upper, mut mean) = (0usize, (0.0, 0.0));
        for (x, y) in pairs(&Dataset::TwoMoons.sample(&mut Rng::new(3), n)) {
            mean = (mean.0 + x / n as f64, mean.1 + y / n as f64);
            let p = (x / 1.4 + 0.5, y / 1.4 + 0.25); // back to make_moons coordinates
            let to_upper = ((p.0 * p.0 + p.1 * p.1).sqrt() - 1.0).abs();
            let to_lower = (((p.0 - 1.0).powi(2) + (p.1 - 0.5).powi(2)).sqrt() - 1.0).abs();
            assert!(to_upper.min(to_lower) < 0.3, "({x}, {y}) is on neither arc");
            upper += usize::from(to_upper < to_lower);
        }
        assert!(
            (upper as f64 / n as f64 - 0.5).abs() < 0.02,
            "upper {upper}"
        );
        assert!(mean.0.abs() < 0.02 && mean.1.abs() < 0.02, "mean {mean:?}");
    }

    #[test]
    fn spiral_points_lie_on_two_arms_with_angle_proportional_to_radius() {
        let n = 20_000;
        let mut on_arm = 0;
        let mut counted = 0;
        for (x, y) in pairs(&Dataset::Spirals.sample(&mut Rng::new(4), n)) {
            let r = (x * x + y * y).sqrt();
            assert!(r < 2.2 + 0.5, "radius {r}");
            if r < 0.5 {
                continue; // near the centre the noise dominates the angle
            }
            counted += 1;
            // Arm radius 2.2 * angle / (3 pi); the two arms differ by pi in angle, so the arm
            // radii at this point's angle are 0.733 apart: the radial offset to the nearest one.
            let spacing = 2.2 / 3.0;
            let diff = (r - spacing * y.atan2(x) / PI).rem_euclid(spacing);
            let off = diff.min(spacing - diff);
            on_arm += usize::from(off < 0.25);
        }
        assert!(
            on_arm as f64 > 0.97 * counted as f64,
            "{on_arm} of {counted}"
        );
    }

    #[test]
    fn drawn_cells_are_hit_in_proportion_to_their_weight_row_zero_on_top() {
        // 2x2 grid: top-left 1, top-right 0, bottom-left 2, bottom-right 1.
        let d = Dataset::Drawn(Drawing {
            size: 2,
            cells: vec![1.0, 0.0, 2.0, 1.0],
        });
        d.validate().unwrap();
        let n = 40_000;
        let mut counts = [0usize; 4];
        for (x, y) in pairs(&d.sample(&mut Rng::new(9), n)) {
            assert!(x.abs() <= HALF_WIDTH && y.abs() <= HALF_WIDTH);
            let cell = usize::from(y < 0.0) * 2 + usize::from(x >= 0.0);
            counts[cell] += 1;
        }
        assert_eq!(counts[1], 0, "an empty cell was sampled");
        for (c, w) in counts.iter().zip([0.25, 0.0, 0.5, 0.25]) {
            assert!((*c as f64 / n as f64 - w).abs() < 0.01, "{counts:?}");
        }
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, r#"{"drawn":{"size":2,"cells":[1.0,0.0,2.0,1.0]}}"#);
        assert_eq!(serde_json::from_str::<Dataset>(&json).unwrap(), d);
    }

    #[test]
    fn bad_drawings_are_refused_with_a_reason() {
        let drawn = |size, cells: Vec<f32>| Dataset::Drawn(Drawing { size, cells }).validate();
        assert!(drawn(1, vec![1.0]).unwrap_err().contains("size"));
        assert!(drawn(200, vec![1.0; 40_000]).unwrap_err().contains("size"));
        assert!(
            drawn(2, vec![1.0; 3])
                .unwrap_err()
                .contains("needs 4 cells")
        );
        assert!(
            drawn(2, vec![1.0, -1.0, 0.0, 0.0])
                .unwrap_err()
                .contains(">= 0")
        );
        assert!(
            drawn(2, vec![1.0, f32::NAN, 0.0, 0.0])
                .unwrap_err()
                .contains("finite")
        );
        assert!(drawn(2, vec![0.0; 4]).unwrap_err().contains("empty"));
    }
}
