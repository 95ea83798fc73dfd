//! Histogram KL between a true sample set and a model sample set: pure functions.
//!
//! The estimator of the reference (the PyTorch code the project started from): 60x60 bins over [-2.5, 2.5]^2 (points outside are dropped), counts
//! normalised to probabilities, 1e-8 added to every bin, then KL(p_true || q_model). Two
//! independent true sample sets of the same size give the estimator's noise floor.

/// Bins per axis.
pub const BINS: usize = 60;
/// Half-width of the square the histogram covers.
pub const RANGE: f32 = 2.5;
/// Added to every bin probability so that empty model bins give a large but finite KL.
pub const EPS: f64 = 1e-8;
/// Samples per set in the reference estimator.
pub const REFERENCE_SAMPLES: usize = 100_000;

/// Bin probabilities (row-major [BINS, BINS], summing to 1 over the points inside the square).
/// `points`: [x0, y0, x1, y1, ...]. Non-finite points count as outside.
pub fn histogram(points: &[f32]) -> Vec<f64> {
    let mut counts = vec![0f64; BINS * BINS];
    add_counts(&mut counts, points);
    normalised(counts)
}

/// Adds each point inside the square to its bin's count ([`histogram`] before normalising), so
/// that a histogram can be filled in parts.
pub fn add_counts(counts: &mut [f64], points: &[f32]) {
    let scale = BINS as f32 / (2.0 * RANGE);
    for p in points.chunks_exact(2) {
        let (x, y) = (p[0], p[1]);
        if !((-RANGE..=RANGE).contains(&x) && (-RANGE..=RANGE).contains(&y)) {
            continue; // also skips NaN
        }
        // The right and top edges belong to the last bin, as in numpy.histogram2d.
        let i = (((x + RANGE) * scale) as usize).min(BINS - 1);
        let j = (((y + RANGE) * scale) as usize).min(BINS - 1);
        counts[i * BINS + j] += 1.0;
    }
}

/// Counts as probabilities (all zero if there are none).
pub fn normalised(mut counts: Vec<f64>) -> Vec<f64> {
    let total: f64 = counts.iter().sum();
    if total > 0.0 {
        counts.iter_mut().for_each(|c| *c /= total);
    }
    counts
}

/// KL(p || q) = sum_i (p_i + eps) ln((p_i + eps) / (q_i + eps)) over histogram probabilities.
pub fn kl_divergence(p: &[f64], q: &[f64]) -> f64 {
    kl_terms(p, q).iter().sum()
}

/// The terms of [`kl_divergence`], one per bin: (p_i + eps) ln((p_i + eps) / (q_i + eps)).
/// Positive where the model lacks mass the target has, negative where it puts extra mass; their
/// sum is the KL, so a map of them shows where the number in the table comes from.
pub fn kl_terms(p: &[f64], q: &[f64]) -> Vec<f64> {
    assert_eq!(p.len(), q.len(), "histograms must have the same bins");
    p.iter()
        .zip(q)
        .map(|(&p, &q)| {
            let (p, q) = (p + EPS, q + EPS);
            p * (p / q).ln()
        })
        .collect()
}

/// KL(hist(true) || hist(model)) for two point sets.
pub fn kl_points(true_points: &[f32], model_points: &[f32]) -> f64 {
    kl_divergence(&histogram(true_points), &histogram(model_points))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its line
mod tests {
    use super::*;
    use crate::data::Dataset;
    use crate::rng::Rng;

    fn bin_center(i: usize, j: usize) -> [f32; 2] {
        let w = 2.0 * RANGE / BINS as f32;
        [-RANGE + (i as f32 + 0.5) * w, -RANGE + (j as f32 + 0.5) * w]
    }

    #[test]
    fn kl_of_a_set_with_itself_is_zero() {
        let pts = Dataset::Checkerboard.sample(&mut Rng::new(1), 10_000);
        assert!(kl_points(&pts, &pts).abs() < 1e-12);
    }

    #[test]
    fn matches_the_closed_form_for_two_bins() {
        // p: half the mass in each of two bins; q: a quarter and three quarters.
        let (a, b) = (bin_center(10, 20), bin_center(40, 5));
        let p: Vec<f32> = [a, b].concat();
        let q: Vec<f32> = [a, b, b, b].concat();
        let exact = 0.5 * (0.5f64 / 0.25).ln() + 0.5 * (0.5f64 / 0.75).ln();
        assert!(
            (kl_points(&p, &q) - exact).abs() < 1e-6,
            "{} vs {exact}",
            kl_points(&p, &q)
        );
    }

    #[test]
    fn an_empty_model_bin_costs_ln_of_p_over_eps() {
        let p: Vec<f32> = bin_center(0, 0).to_vec();
        let q: Vec<f32> = bin_center(59, 59).to_vec();
        let exact = (1.0 + EPS) * ((1.0 + EPS) / EPS).ln() + EPS * (EPS / (1.0 + EPS)).ln();
        assert!((kl_points(&p, &q) - exact).abs() < 1e-6);
    }

    #[test]
    fn edges_outside_points_and_nan() {
        let h = histogram(&[RANGE, RANGE, -RANGE, -RANGE, 3.0, 0.0, f32::NAN, 0.0]);
        assert_eq!(h[BINS * BINS - 1], 0.5);
        assert_eq!(h[0], 0.5);
        assert!((h.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn noise_floor_of_two_true_sets_is_about_0_011() {
        let mut rng = Rng::new(2024);
        let a = Dataset::Checkerboard.sample(&mut rng, REFERENCE_SAMPLES);
        let b = Dataset::Checkerboard.sample(&mut rng, REFERENCE_SAMPLES);
        let floor = kl_points(&a, &b);
        // 1800 occupied bins with ~55 points each: KL ~ (bins - 1) / (2 n) ~ 0.009..0.012.
        assert!((0.006..0.016).contains(&floor), "noise floor {floor}");
    }
}
