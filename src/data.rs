//! Target distributions (time 1) and the Gaussian base (time 0), sampled on the host.

use crate::rng::Rng;
use serde::{Deserialize, Serialize};

/// A 2-D target distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Dataset {
    /// 4x4 unit cells on [-2,2]^2, the 8 cells with (i+j) even, uniform inside a cell.
    #[default]
    Checkerboard,
}

impl Dataset {
    /// `n` points, flattened as `[x0, y0, x1, y1, ...]`.
    pub fn sample(self, rng: &mut Rng, n: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(2 * n);
        for _ in 0..n {
            let (x, y) = match self {
                Dataset::Checkerboard => checkerboard_point(rng),
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

/// `n` standard normal points in 2-D, flattened as `[x0, y0, ...]`.
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
}
