//! The KL table: sample with N = 1, 2, 4, 8, 16 jumps from fixed base noise and compare each
//! histogram with a fixed true sample set; the noise floor compares two true sets. The same
//! table for the ODE the map replaces (`ode`) puts the two side by side.

use crate::config::Method;
use crate::data::{Dataset, base_noise};
use crate::exact::ExactFlow;
use crate::metrics::{BINS, add_counts, histogram, kl_divergence, kl_terms, normalised};
use crate::model::FlowMapNet;
use crate::readback;
use crate::rng::{Rng, Stream};
use crate::sample::{Sampler, points_tensor};
use burn::tensor::{Device, Tensor};
use serde::Serialize;

/// The step counts of the reference's table.
pub const TABLE_STEPS: [usize; 5] = [1, 2, 4, 8, 16];

/// The reference's own KL table (its PyTorch code, 20k steps at batch 2048, on the
/// checkerboard), one value per [`TABLE_STEPS`] entry: the page's chart draws it beside the
/// model's, and README quotes it.
pub const REFERENCE_KL: [(Method, [f64; 5]); 2] = [
    (Method::Lsd, [0.405, 0.369, 0.280, 0.207, 0.194]),
    (Method::PsdMid, [1.496, 0.845, 0.472, 0.265, 0.207]),
];
/// Rows per network call when sampling many points: bounds the activations' memory
/// (16384 x 256 f32 = 16 MiB per layer).
pub const CHUNK: usize = 16_384;

/// Base points compared with the exact map ([`Evaluator::with_exact`]): enough that the mean
/// distance's sampling error (its std / 64) is below a tenth of the distances being compared,
/// few enough that the exact endpoints take about a second.
pub const EXACT_POINTS: usize = 4096;

/// A KL estimate computed in parts ([`Evaluator::begin`], then [`Evaluator::advance`] until it
/// returns the KL), so that a caller can train between parts. It keeps the weights it began
/// with: the row is that step's, however much the run trains meanwhile.
pub struct PartialKl {
    net: FlowMapNet,
    sampler: Sampler,
    n_steps: usize,
    /// Base points done so far.
    done: usize,
    counts: Vec<f64>,
}

impl PartialKl {
    /// The sampler and its step count.
    pub fn what(&self) -> (Sampler, usize) {
        (self.sampler, self.n_steps)
    }
}

/// Fixed reference data for repeated KL estimates during a run.
pub struct Evaluator {
    true_hist: Vec<f64>,
    base: Vec<f32>,
    /// X_{0,1} of the first [`EXACT_POINTS`] base points under the exact flow, if the target has
    /// one ([`Self::with_exact`]).
    exact: Option<Vec<f32>>,
    /// KL between two independent true sets of the same size: below this, differences are noise.
    pub noise_floor: f64,
    pub samples: usize,
}

/// The histograms behind one KL row, on the estimator's grid ([`crate::metrics::BINS`]^2 bins,
/// index i * BINS + j with i the x bin, left to right, and j the y bin, bottom to top).
#[derive(Clone, Debug, Serialize)]
pub struct DensityMap {
    /// The model's bin probabilities.
    pub model: Vec<f32>,
    /// The target's (the estimator's fixed true set).
    pub target: Vec<f32>,
    /// Each bin's term of KL(target || model) ([`kl_terms`]): they sum to `kl`.
    pub terms: Vec<f32>,
    pub kl: f64,
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
        let mut rng = Rng::stream(seed, Stream::Evaluation);
        let a = dataset.sample(&mut rng, samples);
        let b = dataset.sample(&mut rng, samples);
        let base = base_noise(&mut rng, samples, sigma);
        let true_hist = histogram(&a);
        let noise_floor = kl_divergence(&true_hist, &histogram(&b));
        Self {
            true_hist,
            base,
            exact: None,
            noise_floor,
            samples,
        }
    }

    /// The same evaluator, also able to measure [`Self::exact_distance`]: the exact map's
    /// endpoints of the first [`EXACT_POINTS`] base points, or why the target has none.
    pub fn with_exact(mut self, dataset: &Dataset, sigma: f64) -> Result<Self, String> {
        self.add_exact(dataset, sigma)?;
        Ok(self)
    }

    /// [`Self::with_exact`] in place: where the target has no exact map, the evaluator stays as
    /// it was (KL only) and the error says why.
    pub fn add_exact(&mut self, dataset: &Dataset, sigma: f64) -> Result<(), String> {
        let exact = ExactFlow::new(dataset, sigma)?;
        let n = EXACT_POINTS.min(self.base.len() / 2);
        self.exact = Some(exact.map_points(&self.base[..2 * n], 0.0, 1.0));
        Ok(())
    }

    /// Whether [`Self::exact_distance`] can be measured.
    pub fn has_exact(&self) -> bool {
        self.exact.is_some()
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

    /// Model samples after `n_steps` steps of `sampler` from the fixed base noise, chunk by
    /// chunk.
    pub async fn model_points(
        &self,
        net: &FlowMapNet,
        device: &Device,
        sampler: Sampler,
        n_steps: usize,
    ) -> Result<Vec<f32>, String> {
        let mut out = Vec::with_capacity(self.base.len());
        for x0 in self.base_chunks(device) {
            out.extend(readback::floats(sampler.run(net, x0, n_steps, 1.0)).await?);
        }
        Ok(out)
    }

    /// KL(true || model) after `n_steps` jumps of the flow map.
    pub async fn kl_after(
        &self,
        net: &FlowMapNet,
        device: &Device,
        n_steps: usize,
    ) -> Result<f64, String> {
        self.kl_with(net, device, Sampler::FlowMap, n_steps).await
    }

    /// KL(true || model) after `n_steps` steps of `sampler` (the flow map or the ODE): one
    /// [`PartialKl`] run to its end.
    pub async fn kl_with(
        &self,
        net: &FlowMapNet,
        device: &Device,
        sampler: Sampler,
        n_steps: usize,
    ) -> Result<f64, String> {
        let mut row = self.begin(net.clone(), sampler, n_steps);
        loop {
            if let Some(kl) = self.advance(&mut row, device, CHUNK).await? {
                return Ok(kl);
            }
        }
    }

    /// A KL row of `sampler` at `n_steps` on `net` (a copy of the sampling weights: training
    /// after this does not change the row), to compute in parts with [`Self::advance`].
    pub fn begin(&self, net: FlowMapNet, sampler: Sampler, n_steps: usize) -> PartialKl {
        PartialKl {
            net,
            sampler,
            n_steps,
            done: 0,
            counts: vec![0.0; BINS * BINS],
        }
    }

    /// Samples up to `points` more base points of `row` (at least one, in network calls of at
    /// most [`CHUNK`] rows); the KL once all are in, else `None`.
    pub async fn advance(
        &self,
        row: &mut PartialKl,
        device: &Device,
        points: usize,
    ) -> Result<Option<f64>, String> {
        let total = self.base.len() / 2;
        if row.done == total {
            return Err("this KL row is complete: begin another".into());
        }
        let end = (row.done + points.max(1)).min(total);
        for chunk in self.base[2 * row.done..2 * end].chunks(2 * CHUNK) {
            let x0 = points_tensor(chunk.to_vec(), device); // [b, 2]
            let x = row.sampler.run(&row.net, x0, row.n_steps, 1.0);
            add_counts(&mut row.counts, &readback::floats(x).await?);
        }
        row.done = end;
        if end < total {
            return Ok(None);
        }
        let model = normalised(std::mem::take(&mut row.counts));
        Ok(Some(kl_divergence(&self.true_hist, &model)))
    }

    /// The model's and the target's histograms and each bin's KL term after `n_steps` steps
    /// of `sampler`, from the same samples as [`Self::kl_with`].
    pub async fn density_map(
        &self,
        net: &FlowMapNet,
        device: &Device,
        sampler: Sampler,
        n_steps: usize,
    ) -> Result<DensityMap, String> {
        let model = histogram(&self.model_points(net, device, sampler, n_steps).await?);
        let terms = kl_terms(&self.true_hist, &model);
        let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect();
        Ok(DensityMap {
            kl: terms.iter().sum(),
            model: f32s(&model),
            target: f32s(&self.true_hist),
            terms: f32s(&terms),
        })
    }

    /// The mean distance |X(x0) - X_exact(x0)| between the model's endpoint after `n_steps` steps
    /// of `sampler` and the exact map's, over the first [`EXACT_POINTS`] base points: an error
    /// with no histogram and no noise floor. Needs [`Self::with_exact`].
    pub async fn exact_distance(
        &self,
        net: &FlowMapNet,
        device: &Device,
        sampler: Sampler,
        n_steps: usize,
    ) -> Result<f64, String> {
        let exact = self
            .exact
            .as_ref()
            .ok_or("this evaluator has no exact map (Evaluator::with_exact)")?;
        let x0 = points_tensor(self.base[..exact.len()].to_vec(), device); // [n, 2]
        let model = readback::floats(sampler.run(net, x0, n_steps, 1.0)).await?;
        let total: f64 = model
            .chunks_exact(2)
            .zip(exact.chunks_exact(2))
            .map(|(m, e)| ((m[0] - e[0]) as f64).hypot((m[1] - e[1]) as f64))
            .sum();
        Ok(total / (exact.len() / 2) as f64)
    }

    /// [`Self::exact_distance`] at every [`TABLE_STEPS`] entry.
    pub async fn exact_distances(
        &self,
        net: &FlowMapNet,
        device: &Device,
        sampler: Sampler,
    ) -> Result<Vec<f64>, String> {
        let mut out = Vec::with_capacity(TABLE_STEPS.len());
        for n in TABLE_STEPS {
            out.push(self.exact_distance(net, device, sampler, n).await?);
        }
        Ok(out)
    }

    /// The whole table of `sampler` (the flow map, or the ODE it replaces with N counted in
    /// solver steps), one row per [`TABLE_STEPS`] entry, from the same base noise.
    pub async fn table(
        &self,
        net: &FlowMapNet,
        device: &Device,
        sampler: Sampler,
    ) -> Result<KlTable, String> {
        let mut kl = Vec::with_capacity(TABLE_STEPS.len());
        for n in TABLE_STEPS {
            kl.push(self.kl_with(net, device, sampler, n).await?);
        }
        Ok(KlTable {
            steps: TABLE_STEPS.to_vec(),
            kl,
            noise_floor: self.noise_floor,
            samples: self.samples,
        })
    }
}
