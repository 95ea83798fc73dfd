//! A small seeded random generator (SplitMix64) for data, times and initial weights.
//!
//! Burn's device RNG is global and backend-specific; drawing everything here instead makes a run
//! identical on ndarray, flex and WebGPU, natively and in the browser, for the same seed.

/// The sub-streams a run draws besides training (which uses the seed itself). Each is the seed
/// XOR a fixed salt; SplitMix64 decorrelates neighbouring states, and the salts are far apart.
/// The values are part of every published figure: changing one changes the evaluation sets.
#[derive(Clone, Copy, Debug)]
#[repr(u64)]
pub enum Stream {
    /// The KL estimator's two true sets and its base noise.
    Evaluation = 0x005E_ED0F_E7A1,
    /// The base noise of the pictures (`sample`, `flow_to`, `interpolant` start from it).
    Pictures = 0xD15_A1A7,
    /// The target points the picture's interpolant lines end at.
    PictureTargets = 0x7A2_6E7,
}

/// SplitMix64: 64-bit state, passes BigCrush, and is trivially seedable from any `u64`.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The generator of one of a run's independent sub-streams (see [`Stream`]).
    pub fn stream(seed: u64, stream: Stream) -> Self {
        Self::new(seed ^ stream as u64)
    }

    /// The whole state: `Rng::new(rng.state())` continues exactly where `rng` is.
    pub fn state(&self) -> u64 {
        self.state
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        ((self.uniform() * n as f64) as usize).min(n - 1)
    }

    /// A pair of independent standard normals (Box-Muller).
    pub fn normal_pair(&mut self) -> (f64, f64) {
        let u1 = 1.0 - self.uniform(); // (0, 1]: keeps ln finite
        let u2 = self.uniform();
        let r = (-2.0 * u1.ln()).sqrt();
        let (sin, cos) = (std::f64::consts::TAU * u2).sin_cos();
        (r * cos, r * sin)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its line
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_seeds_differ() {
        let a: Vec<u64> = (0..5)
            .map({
                let mut r = Rng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..5)
            .map({
                let mut r = Rng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        let c = Rng::new(8).next_u64();
        assert_eq!(a, b);
        assert_ne!(a[0], c);
    }

    #[test]
    fn moments_of_uniform_and_normal() {
        let mut r = Rng::new(1);
        let n = 200_000;
        let mean_u = (0..n).map(|_| r.uniform()).sum::<f64>() / n as f64;
        assert!((mean_u - 0.5).abs() < 5e-3, "uniform mean {mean_u}");
        let (mut m, mut v) = (0.0, 0.0);
        for _ in 0..n / 2 {
            let (a, b) = r.normal_pair();
            m += a + b;
            v += a * a + b * b;
        }
        let (m, v) = (m / n as f64, v / n as f64);
        assert!(
            m.abs() < 1e-2 && (v - 1.0).abs() < 1e-2,
            "normal mean {m} var {v}"
        );
    }
}
