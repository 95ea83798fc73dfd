//! The linear interpolant I_t = (1-t) x0 + t x1 (dI_t/dt = x1 - x0) and the time sampling.

use crate::rng::Rng;

/// I_t for one point pair.
pub fn interpolate(x0: [f32; 2], x1: [f32; 2], t: f32) -> [f32; 2] {
    [(1.0 - t) * x0[0] + t * x1[0], (1.0 - t) * x0[1] + t * x1[1]]
}

/// dI_t/dt = x1 - x0: the regression target of the diagonal (flow-matching) loss.
pub fn velocity(x0: [f32; 2], x1: [f32; 2]) -> [f32; 2] {
    [x1[0] - x0[0], x1[1] - x0[1]]
}

/// (s, t) uniform on the triangle 0 <= s < t <= 1: the order statistics of two uniforms.
pub fn sample_pair(rng: &mut Rng) -> (f32, f32) {
    let (a, b) = (rng.uniform() as f32, rng.uniform() as f32);
    if a <= b { (a, b) } else { (b, a) }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its line
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_derivative() {
        let (x0, x1) = ([1.0, -2.0], [3.0, 0.5]);
        assert_eq!(interpolate(x0, x1, 0.0), x0);
        assert_eq!(interpolate(x0, x1, 1.0), x1);
        let h = 1e-3;
        let (a, b) = (interpolate(x0, x1, 0.3 + h), interpolate(x0, x1, 0.3 - h));
        let v = velocity(x0, x1);
        for d in 0..2 {
            assert!(((a[d] - b[d]) / (2.0 * h) - v[d]).abs() < 1e-3);
        }
    }

    #[test]
    fn pairs_are_uniform_on_the_triangle() {
        let mut rng = Rng::new(5);
        let n = 100_000;
        let (mut ms, mut mt) = (0.0, 0.0);
        for _ in 0..n {
            let (s, t) = sample_pair(&mut rng);
            assert!(s <= t && (0.0..=1.0).contains(&s) && t <= 1.0);
            ms += s as f64;
            mt += t as f64;
        }
        // Order statistics of two uniforms: E[min] = 1/3, E[max] = 2/3.
        assert!((ms / n as f64 - 1.0 / 3.0).abs() < 5e-3);
        assert!((mt / n as f64 - 2.0 / 3.0).abs() < 5e-3);
    }
}
