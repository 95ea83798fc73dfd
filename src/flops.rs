//! Floating-point operations per training step, counted from the matrix products (the
//! element-wise work is a few percent at width 256). Used to report achieved GFLOP/s.

use crate::config::{Config, Method};

/// Multiply-adds of one forward pass per row, times 2.
pub fn forward_flops_per_row(cfg: &crate::config::ModelConfig) -> f64 {
    cfg.layer_dims()
        .iter()
        .map(|&(i, o)| 2.0 * (i * o) as f64)
        .sum()
}

/// FLOPs of one optimizer step, in units of one forward pass per row:
/// - diagonal rows: forward + backward (2x forward) = 3;
/// - off-diagonal student with a tangent (LSD, ESD): forward + tangent, each with backward = 6;
///   student without tangent (PSD): 3;
/// - teachers (no backward): LSD 1 (v at the landing point), PSD 2 (two half jumps),
///   ESD 3 (v_{s,s}, then forward + tangent for grad_x X . v; with the target stopped the
///   student has no tangent); MeanFlow: student without
///   tangent 3, teacher forward + tangent 2.
pub fn step_flops(config: &Config) -> f64 {
    let (diag, off) = config.train.split();
    let off_cost = match config.train.method {
        Method::Lsd => 6.0 + 1.0,
        Method::PsdMid | Method::PsdUniform => 3.0 + 2.0,
        Method::Esd => match config.train.esd_stop {
            crate::config::EsdStop::Transport => 6.0 + 3.0,
            // student without tangent; teacher v_{s,s}, then forward + tangent
            crate::config::EsdStop::Target => 3.0 + 3.0,
        },
        Method::MeanFlow => 3.0 + 2.0,
    };
    forward_flops_per_row(&config.model) * (3.0 * diag as f64 + off_cost * off as f64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its line
mod tests {
    use super::*;

    #[test]
    fn seed_size_lsd_step_is_about_3_3_gflop() {
        let c = Config::default();
        // 2 (4*256 + 3*256^2 + 256*2) per row; 1536 * 3 + 512 * 7 rows.
        let per_row = 2.0 * (4.0 * 256.0 + 3.0 * 65536.0 + 512.0);
        assert_eq!(forward_flops_per_row(&c.model), per_row);
        assert_eq!(step_flops(&c), per_row * (1536.0 * 3.0 + 512.0 * 7.0));
        assert!((step_flops(&c) / 1e9 - 3.25).abs() < 0.01);
    }
}
