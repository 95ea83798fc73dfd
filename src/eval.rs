//! The KL table: sample with N = 1, 2, 4, 8, 16 jumps from fixed base noise and compare each
//! histogram with a fixed true sample set; the noise floor compares two true sets.

use crate::data::{Dataset, base_noise};
use crate::metrics::{histogram, kl_divergence};
use crate::model::FlowMapNet;
use crate::rng::Rng;
use crate::sample::{points_tensor, sample};
use burn::tensor::{Device, Tensor};
use serde::Serialize;

/// The step counts of the seed's table.
pub const TABLE_STEPS: [usize; 5] = [1, 2, 4, 8, 16];
/// Rows per network call when sampling many points: bounds the activations' memory
/// (16384 x 256 f32 = 16 MiB per layer).
pub const CHUNK: usize = 16_384;

/// Fixed reference data for repeated KL estimates during a run.
pub struct Evaluator {
    true_hist: Vec<f64>,
    base: Vec<f32>,
    /// KL between two independent true sets of the same size: below this, differences are noise.
    pub noise_floor: f64,
    pub samples: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct KlTable {
    pub steps: Vec<usize>,
    pub kl: Vec<f64>,
    pub noise_floor: f64,
    pub samples: usize,
}

impl Evaluator {
    /// `samples` points per set, all drawn from `seed` (independent of the training stream);
    /// the base is N(0, sigma^2 I).
    pub fn new(dataset: Dataset, samples: usize, seed: u64, sigma: f64) -> Self {
        let mut rng = Rng::new(seed ^ 0x005E_ED0F_E7A1);
        let a = dataset.sample(&mut rng, samples);
        let b = dataset.sample(&mut rng, samples);
        let base = base_noise(&mut rng, samples, sigma);
        let true_hist = histogram(&a);
        let noise_floor = kl_divergence(&true_hist, &histogram(&b));
        Self {
            true_hist,
            base,
            noise_floor,
            samples,
        }
    }

    /// KL(true || model) for model points [x0, y0, ...].
    pub fn kl(&self, model_points: &[f32]) -> f64 {
        kl_divergence(&self.true_hist, &histogram(model_points))
    }

    /// The fixed base noise in chunks of at most [`CHUNK`] rows, as [b, 2] tensors.
    pub fn base_chunks<'a>(&'a self, device: &'a Device) -> impl Iterator<Item = Tensor<2>> + 'a {
        self.base
            .chunks(2 * CHUNK)
            .map(move |c| points_tensor(c.to_vec(), device))
    }

    /// Model samples after `n_steps` jumps (synchronous read: CPU devices and native wgpu).
    pub fn model_points(&self, net: &FlowMapNet, device: &Device, n_steps: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.base.len());
        for x0 in self.base_chunks(device) {
            let x = sample(net, x0, n_steps);
            out.extend(
                x.into_data()
                    .convert::<f32>()
                    .try_into_vec::<f32>()
                    .expect("f32 points"),
            );
        }
        out
    }

    /// The whole table (synchronous read).
    pub fn table(&self, net: &FlowMapNet, device: &Device) -> KlTable {
        let kl = TABLE_STEPS
            .iter()
            .map(|&n| self.kl(&self.model_points(net, device, n)))
            .collect();
        KlTable {
            steps: TABLE_STEPS.to_vec(),
            kl,
            noise_floor: self.noise_floor,
            samples: self.samples,
        }
    }
}
