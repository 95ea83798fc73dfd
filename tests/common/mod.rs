//! Fixtures shared by the native integration tests.
#![allow(dead_code)]

use burn::tensor::{Device, Tensor, TensorData};
use flowmap::checkpoint::Checkpoint;
use flowmap::config::{Config, Method, ModelConfig, TrainConfig};
use flowmap::model::{FlowMapNet, linear_from};
use flowmap::readback::{self, block_on};
use flowmap::trainer::{Losses, StepLosses, Trainer};
use serde_json::Value;

/// The checkout under test, read when the test runs (cargo test sets CARGO_MANIFEST_DIR for it).
/// Not env!(): clones share one target directory (dev.sh), and cargo reuses a test binary built
/// in another clone whose files are older, which would then read that clone's sources.
pub fn package_root() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .expect("run under cargo test (CARGO_MANIFEST_DIR)")
        .into()
}

/// A small, fast recipe for `method`: seconds of training on one core.
pub fn small(method: Method) -> Config {
    Config {
        model: ModelConfig {
            width: 32,
            depth: 2,
            ..Default::default()
        },
        train: TrainConfig {
            method,
            batch_size: 256,
            lr: 3e-3,
            steps: 300,
            warmup_steps: 20,
            seed: 7,
            ..Default::default()
        },
    }
}

/// The CPU device the tests run on.
pub fn cpu() -> Device {
    Device::flex()
}

/// The reference JSON computed in float64 by PyTorch (see its "about" field).
pub fn reference() -> Value {
    serde_json::from_str(include_str!("../tiny_flowmap.json")).expect("reference JSON parses")
}

pub fn matrix(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .expect("a matrix")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("a row")
                .iter()
                .map(|x| x.as_f64().expect("a number"))
                .collect()
        })
        .collect()
}

pub fn vector(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("a vector")
        .iter()
        .map(|x| x.as_f64().expect("a number"))
        .collect()
}

/// The reference network: PyTorch's [out, in] weights transposed into Burn's [in, out].
pub fn reference_net(r: &Value, device: &Device) -> FlowMapNet {
    let layers = r["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| {
            let w = matrix(&l["weight"]);
            let (o, i) = (w.len(), w[0].len());
            let mut wt = vec![0f32; i * o];
            for r in 0..o {
                for c in 0..i {
                    wt[c * o + r] = w[r][c] as f32;
                }
            }
            let b: Vec<f32> = vector(&l["bias"]).into_iter().map(|x| x as f32).collect();
            linear_from(wt, b, i, o, device)
        })
        .collect();
    FlowMapNet::from_layers(&Default::default(), layers)
}

/// Rows of a matrix as a [B, C] tensor.
pub fn tensor2(rows: &[Vec<f64>], device: &Device) -> Tensor<2> {
    let c = rows[0].len();
    let flat: Vec<f32> = rows.iter().flatten().map(|&x| x as f32).collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), c]), device)
}

/// A vector as a [B, 1] column.
pub fn column(v: &[f64], device: &Device) -> Tensor<2> {
    let flat: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    Tensor::from_data(TensorData::new(flat, [v.len(), 1]), device)
}

pub fn host(t: Tensor<2>) -> Vec<f32> {
    block_on(readback::floats(t)).expect("f32 data")
}

pub fn scalar(t: Tensor<1>) -> f64 {
    block_on(readback::scalar(t)).expect("one value") as f64
}

/// One step's losses on the host.
pub fn read(l: StepLosses) -> Losses {
    block_on(l.read()).expect("losses read back")
}

/// The trainer's sampling weights as a checkpoint.
pub fn checkpoint(tr: &Trainer) -> Checkpoint {
    block_on(tr.checkpoint()).expect("weights read back")
}

/// Asserts |a - b| <= atol + rtol |b| elementwise.
pub fn assert_close(name: &str, got: &[f32], want: &[f64], atol: f64, rtol: f64) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - w).abs();
        assert!(
            err <= atol + rtol * w.abs(),
            "{name}[{k}]: got {g}, want {w} (err {err:.3e})"
        );
    }
}
