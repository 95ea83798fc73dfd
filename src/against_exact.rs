//! The page's view "against the exact map": the model's N-jump endpoints beside the exact map's
//! from the same noise, and the mean error of every one-jump map X_{s,t} over a grid of the
//! triangle 0 <= s < t <= 1, which shows which jumps the network has learned.
//!
//! The exact side does not change while the model trains, so it is computed once per session
//! ([`ExactReference::new`]); each picture then costs only network calls. For the triangle the
//! start points at time s are the exact flow's own points there, X_{0,s}(x0), and by the flow
//! property the exact X_{s,t} of them is X_{0,t}(x0): one exact path per base point serves every
//! cell.

use crate::exact::ExactFlow;
use crate::model::FlowMapNet;
use crate::readback;
use crate::sample::{points_tensor, sample};
use burn::tensor::{Device, Tensor, TensorData};
use serde::Serialize;

/// The triangle's grid: times u_k = k / TRIANGLE_TIMES, k = 0..=TRIANGLE_TIMES; cell (i, j) is
/// the jump from u_i to u_j (i < j): 78 cells.
pub const TRIANGLE_TIMES: usize = 12;
/// Base points per triangle cell: the mean error's sampling error is about a sixteenth of its
/// spread, small beside the differences between cells that the picture shows.
pub const TRIANGLE_POINTS: usize = 256;

/// The exact side of the view, for one session's picture noise.
pub struct ExactReference {
    /// X_{0,1}(x0) of the picture base points, [x0, y0, ...].
    endpoints: Vec<f32>,
    /// X_{0,u_k}(x0) of the first [`TRIANGLE_POINTS`] base points, k = 0..=TRIANGLE_TIMES.
    path: Vec<Vec<f32>>,
}

/// One picture of the view.
#[derive(Clone, Debug, Serialize)]
pub struct AgainstExact {
    /// The model's endpoints after N jumps, [x0, y0, ...].
    pub model: Vec<f32>,
    /// The exact map's endpoints from the same noise.
    pub exact: Vec<f32>,
    /// |model - exact| per point.
    pub errors: Vec<f32>,
    /// Their mean.
    pub mean_error: f64,
    /// Grid times per side ([`TRIANGLE_TIMES`]).
    pub times: usize,
    /// Mean |X_{u_i,u_j}(x) - X_exact_{u_i,u_j}(x)| at index i * (times + 1) + j for i < j,
    /// NaN elsewhere.
    pub triangle: Vec<f32>,
}

impl ExactReference {
    /// The exact endpoints of `base` ([x0, y0, ...], time 0) and the exact paths of its first
    /// [`TRIANGLE_POINTS`] points.
    pub fn new(exact: &ExactFlow, base: &[f32]) -> Self {
        let endpoints = exact.map_points(base, 0.0, 1.0);
        let first = &base[..base.len().min(2 * TRIANGLE_POINTS)];
        let mut path = vec![first.to_vec()];
        for k in 1..=TRIANGLE_TIMES {
            let (s, t) = ((k - 1) as f64, k as f64);
            let next = exact.map_points(
                &path[k - 1],
                s / TRIANGLE_TIMES as f64,
                t / TRIANGLE_TIMES as f64,
            );
            path.push(next);
        }
        Self { endpoints, path }
    }

    /// The view for `net` after `n_steps` jumps from `base` (the points this reference was made
    /// from).
    pub async fn view(
        &self,
        net: &FlowMapNet,
        device: &Device,
        base: &[f32],
        n_steps: usize,
    ) -> Result<AgainstExact, String> {
        let model =
            readback::floats(sample(net, points_tensor(base.to_vec(), device), n_steps)).await?;
        let errors = distances(&model, &self.endpoints);
        let mean_error = mean(&errors);
        let side = TRIANGLE_TIMES + 1;
        // Every cell's jump in one network call and one readback (on WebGPU a readback is a
        // round trip, and 78 of them made the view's cost): the cells' start points stacked,
        // each row with its own s and t.
        let cells: Vec<(usize, usize)> = (0..TRIANGLE_TIMES)
            .flat_map(|i| (i + 1..side).map(move |j| (i, j)))
            .collect();
        let per_cell = self.path[0].len() / 2;
        let (mut xs, mut ss, mut ts) = (Vec::new(), Vec::new(), Vec::new());
        for &(i, j) in &cells {
            xs.extend_from_slice(&self.path[i]);
            let (s, t) = (
                i as f32 / TRIANGLE_TIMES as f32,
                j as f32 / TRIANGLE_TIMES as f32,
            );
            ss.extend(std::iter::repeat_n(s, per_cell));
            ts.extend(std::iter::repeat_n(t, per_cell));
        }
        let column = |v: Vec<f32>| {
            let n = v.len();
            Tensor::<2>::from_data(TensorData::new(v, [n, 1]), device)
        };
        let x = points_tensor(xs, device); // [78 P, 2]
        let jumped = readback::floats(net.flow(x, column(ss), column(ts))).await?; // [78 P, 2]
        let mut triangle = vec![f32::NAN; side * side];
        for (&(i, j), got) in cells.iter().zip(jumped.chunks_exact(2 * per_cell)) {
            triangle[i * side + j] = mean(&distances(got, &self.path[j])) as f32;
        }
        Ok(AgainstExact {
            exact: self.endpoints.clone(),
            model,
            errors,
            mean_error,
            times: TRIANGLE_TIMES,
            triangle,
        })
    }
}

/// |a_k - b_k| per point of two [x0, y0, ...] sets.
fn distances(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.chunks_exact(2)
        .zip(b.chunks_exact(2))
        .map(|(p, q)| (p[0] - q[0]).hypot(p[1] - q[1]))
        .collect()
}

fn mean(v: &[f32]) -> f64 {
    v.iter().map(|&x| x as f64).sum::<f64>() / v.len().max(1) as f64
}
