//! One training batch, drawn on the host from the config's seed and uploaded in one go.

use crate::config::{Method, TrainConfig};
use crate::data::base_noise;
use crate::interpolant::{interpolate, sample_pair, velocity};
use crate::losses::psd::Intermediate;
use crate::model::Rows;
use crate::rng::Rng;
use burn::tensor::{Device, Tensor, TensorData};

/// Host arrays, row-major. Diagonal rows train v_{t,t}; off-diagonal rows train the jumps.
#[derive(Clone, Debug, PartialEq)]
pub struct HostBatch {
    pub diag_x: Vec<f32>,      // [Bd, 2] I_t
    pub diag_t: Vec<f32>,      // [Bd]
    pub diag_target: Vec<f32>, // [Bd, 2] x1 - x0
    pub off_x: Vec<f32>,       // [Bo, 2] I_s
    pub off_s: Vec<f32>,       // [Bo]
    pub off_u: Vec<f32>,       // [Bo] intermediate time (PSD only; s otherwise)
    pub off_t: Vec<f32>,       // [Bo]
    /// [Bo, 2] x1 - x0 = dI/ds of each off-diagonal row (MeanFlow only; empty otherwise).
    pub off_velocity: Vec<f32>,
}

/// The same batch on a device, as the losses take it.
pub struct Batch {
    /// I_t at s = t = t.
    pub diag: Rows,
    pub diag_target: Tensor<2>,
    /// I_s at (s, t).
    pub off: Rows,
    pub off_u: Tensor<2>,
    /// [Bo, 2] dI/ds = x1 - x0 at the off-diagonal rows: MeanFlow's batches only, so the other
    /// methods upload nothing more.
    pub off_velocity: Option<Tensor<2>>,
}

impl HostBatch {
    /// A batch for `cfg` with base noise N(0, sigma^2 I).
    pub fn draw(cfg: &TrainConfig, sigma: f64, rng: &mut Rng) -> Self {
        let (nd, no) = cfg.split();
        let n = nd + no;
        let x0 = base_noise(rng, n, sigma);
        let x1 = cfg.dataset.sample(rng, n);
        let pair = |k: usize| -> ([f32; 2], [f32; 2]) {
            ([x0[2 * k], x0[2 * k + 1]], [x1[2 * k], x1[2 * k + 1]])
        };
        let mut b = HostBatch {
            diag_x: Vec::with_capacity(2 * nd),
            diag_t: Vec::with_capacity(nd),
            diag_target: Vec::with_capacity(2 * nd),
            off_x: Vec::with_capacity(2 * no),
            off_s: Vec::with_capacity(no),
            off_u: Vec::with_capacity(no),
            off_t: Vec::with_capacity(no),
            off_velocity: Vec::new(),
        };
        for k in 0..nd {
            let (a, z) = pair(k);
            let t = rng.uniform() as f32;
            b.diag_x.extend(interpolate(a, z, t));
            b.diag_t.push(t);
            b.diag_target.extend(velocity(a, z));
        }
        let intermediate = match cfg.method {
            Method::PsdMid => Some(Intermediate::Midpoint),
            Method::PsdUniform => Some(Intermediate::Uniform),
            Method::Lsd | Method::Esd | Method::MeanFlow => None,
        };
        let keep_velocity = cfg.method == Method::MeanFlow;
        for k in nd..n {
            let (a, z) = pair(k);
            let (s, t) = sample_pair(rng);
            b.off_x.extend(interpolate(a, z, s));
            b.off_s.push(s);
            b.off_u
                .push(intermediate.map_or(s, |i| i.sample(rng, s, t)));
            b.off_t.push(t);
            if keep_velocity {
                b.off_velocity.extend(velocity(a, z));
            }
        }
        b
    }

    /// Shard `k` of `n` of this batch: a contiguous block of the diagonal rows and one of the
    /// off-diagonal rows (sizes differ by at most one between shards), with each part's share
    /// of its rows, (shard diagonal rows / all diagonal rows, the same off the diagonal): a
    /// shard's mean loss times its share sums over the shards to the batch's mean.
    /// `k < n` (the trainer checks it).
    pub fn shard(&self, k: usize, n: usize) -> (HostBatch, (f32, f32)) {
        debug_assert!(k < n, "shard {k} of {n}");
        let n = n.max(1);
        let block = |rows: usize| (k * rows / n, (k + 1) * rows / n);
        let (nd, no) = (self.diag_t.len(), self.off_t.len());
        let ((d0, d1), (o0, o1)) = (block(nd), block(no));
        let part = HostBatch {
            diag_x: self.diag_x[2 * d0..2 * d1].to_vec(),
            diag_t: self.diag_t[d0..d1].to_vec(),
            diag_target: self.diag_target[2 * d0..2 * d1].to_vec(),
            off_x: self.off_x[2 * o0..2 * o1].to_vec(),
            off_s: self.off_s[o0..o1].to_vec(),
            off_u: self.off_u[o0..o1].to_vec(),
            off_t: self.off_t[o0..o1].to_vec(),
            off_velocity: if self.off_velocity.is_empty() {
                Vec::new()
            } else {
                self.off_velocity[2 * o0..2 * o1].to_vec()
            },
        };
        let share = |a: usize, b: usize, all: usize| (b - a) as f32 / all as f32;
        (part, (share(d0, d1, nd), share(o0, o1, no)))
    }

    pub fn to_device(&self, device: &Device) -> Batch {
        let col = |v: Vec<f32>, w: usize| {
            let rows = v.len() / w;
            Tensor::<2>::from_data(TensorData::new(v, [rows, w]), device)
        };
        // [x, s, t] per row, packed here so that the device never concatenates them.
        let packed = |x: &[f32], s: &[f32], t: &[f32]| -> Vec<f32> {
            let rows = x.chunks_exact(2).zip(s).zip(t);
            rows.flat_map(|((x, &s), &t)| [x[0], x[1], s, t]).collect()
        };
        let rows = |x: &[f32], s: &[f32], t: &[f32]| Rows {
            x: col(x.to_vec(), 2),
            s: col(s.to_vec(), 1),
            t: col(t.to_vec(), 1),
            packed: col(packed(x, s, t), 4),
        };
        let t = col(self.diag_t.clone(), 1); // s = t on the diagonal: one upload for both
        let diag = Rows {
            x: col(self.diag_x.clone(), 2),
            s: t.clone(),
            t,
            packed: col(packed(&self.diag_x, &self.diag_t, &self.diag_t), 4),
        };
        Batch {
            diag,
            diag_target: col(self.diag_target.clone(), 2),
            off: rows(&self.off_x, &self.off_s, &self.off_t),
            off_u: col(self.off_u.clone(), 1),
            off_velocity: (!self.off_velocity.is_empty())
                .then(|| col(self.off_velocity.clone(), 2)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its line
mod tests {
    use super::*;

    #[test]
    fn split_sizes_and_time_order() {
        let cfg = TrainConfig {
            batch_size: 64,
            method: Method::PsdUniform,
            ..Default::default()
        };
        let b = HostBatch::draw(&cfg, 1.0, &mut Rng::new(1));
        assert_eq!((b.diag_t.len(), b.off_t.len()), (48, 16));
        assert_eq!((b.diag_x.len(), b.off_x.len()), (96, 32));
        for k in 0..16 {
            assert!(b.off_s[k] <= b.off_u[k] && b.off_u[k] <= b.off_t[k]);
        }
        let mid = TrainConfig {
            method: Method::PsdMid,
            ..cfg.clone()
        };
        let b = HostBatch::draw(&mid, 1.0, &mut Rng::new(1));
        for k in 0..16 {
            assert!((b.off_u[k] - 0.5 * (b.off_s[k] + b.off_t[k])).abs() < 1e-6);
        }
        assert_eq!(
            HostBatch::draw(&cfg, 1.0, &mut Rng::new(9)),
            HostBatch::draw(&cfg, 1.0, &mut Rng::new(9))
        );
    }

    /// The host's packing puts x, s and t in the columns the first layer's rows expect: the
    /// same as concatenating the uploaded columns on the device.
    #[test]
    fn host_packing_equals_packing_on_the_device() {
        let cfg = TrainConfig {
            batch_size: 64,
            ..Default::default()
        };
        let b = HostBatch::draw(&cfg, 1.0, &mut Rng::new(3)).to_device(&Device::flex());
        let host = |t: &Tensor<2>| t.to_data().try_into_vec::<f32>().unwrap();
        for rows in [&b.diag, &b.off] {
            let want = Rows::new(rows.x.clone(), rows.s.clone(), rows.t.clone()).packed;
            assert_eq!(rows.packed.dims(), want.dims());
            assert_eq!(host(&rows.packed), host(&want));
        }
        assert_eq!(host(&b.diag.s), host(&b.diag.t), "diagonal rows have s = t");
    }
}
