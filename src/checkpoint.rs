//! Model weights as bytes: a versioned, checksummed, bit-exact format.
//!
//! Layout (little endian): magic `FLOWMAP1`, u32 header length, header JSON
//! `{"model": ModelConfig, "step": n}`, then for each layer its weight ([in, out], row-major f32)
//! and bias ([out] f32), then a u64 FNV-1a checksum of everything before it.

use crate::config::ModelConfig;
use crate::model::{FlowMapNet, layer_dims, linear_from};
use crate::readback;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"FLOWMAP1";

/// Weights on the host.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    pub model: ModelConfig,
    pub step: usize,
    /// (weight [in*out], bias [out]) per layer.
    pub layers: Vec<(Vec<f32>, Vec<f32>)>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    model: ModelConfig,
    step: usize,
}

impl Checkpoint {
    /// Read a net's weights (any device, WebGPU included).
    pub async fn from_net(
        model: &ModelConfig,
        step: usize,
        net: &FlowMapNet,
    ) -> Result<Self, String> {
        let mut layers = Vec::with_capacity(net.layers.len());
        for l in &net.layers {
            let w = readback::floats(l.weight.val()).await?;
            let b = readback::floats(bias(l)).await?;
            layers.push((w, b));
        }
        Ok(Self {
            model: model.clone(),
            step,
            layers,
        })
    }

    pub fn to_net(&self, device: &Device) -> FlowMapNet {
        let layers = layer_dims(&self.model)
            .into_iter()
            .zip(&self.layers)
            .map(|((i, o), (w, b))| linear_from(w.clone(), b.clone(), i, o, device))
            .collect();
        FlowMapNet::from_layers(&self.model, layers)
    }

    pub fn encode(&self) -> Vec<u8> {
        let header = serde_json::to_vec(&Header {
            model: self.model.clone(),
            step: self.step,
        })
        .expect("a header of plain numbers always serializes");
        let mut out = Vec::with_capacity(
            64 + 4 * self
                .layers
                .iter()
                .map(|(w, b)| w.len() + b.len())
                .sum::<usize>(),
        );
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        for (w, b) in &self.layers {
            for x in w.iter().chain(b) {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        let sum = fnv1a(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }
}

/// Parse and fully validate a checkpoint.
pub fn decode(bytes: &[u8]) -> Result<Checkpoint, String> {
    const NOT: &str = "not a flow-map checkpoint";
    if bytes.len() < MAGIC.len() + 4 + 8 || &bytes[..8] != MAGIC {
        return Err(format!("{NOT} (missing the FLOWMAP1 signature)"));
    }
    let (body, tail) = bytes.split_at(bytes.len() - 8);
    let stored = u64::from_le_bytes(tail.try_into().expect("split_at left 8 bytes"));
    if fnv1a(body) != stored {
        return Err("checkpoint is corrupt (checksum mismatch)".into());
    }
    let hlen = u32::from_le_bytes(body[8..12].try_into().expect("4 bytes")) as usize;
    let header = body
        .get(12..12 + hlen)
        .ok_or("checkpoint is truncated (header)")?;
    let header: Header =
        serde_json::from_slice(header).map_err(|e| format!("checkpoint header is invalid: {e}"))?;
    crate::config::Config {
        model: header.model.clone(),
        ..Default::default()
    }
    .validate()
    .map_err(|e| format!("checkpoint describes an invalid network: {e}"))?;
    let mut floats = body[12 + hlen..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("chunks of 4")));
    let dims = layer_dims(&header.model);
    let expected: usize = dims.iter().map(|(i, o)| i * o + o).sum();
    let got = (body.len() - 12 - hlen) / 4;
    if got != expected || !(body.len() - 12 - hlen).is_multiple_of(4) {
        return Err(format!(
            "checkpoint holds {got} weights, its header's network needs {expected}"
        ));
    }
    let layers = dims
        .iter()
        .map(|&(i, o)| {
            let w: Vec<f32> = floats.by_ref().take(i * o).collect();
            let b: Vec<f32> = floats.by_ref().take(o).collect();
            (w, b)
        })
        .collect::<Vec<_>>();
    if layers
        .iter()
        .flat_map(|(w, b)| w.iter().chain(b))
        .any(|x| !x.is_finite())
    {
        return Err("checkpoint holds non-finite weights".into());
    }
    Ok(Checkpoint {
        model: header.model,
        step: header.step,
        layers,
    })
}

fn bias(l: &burn::nn::Linear) -> Tensor<1> {
    l.bias
        .as_ref()
        .expect("FlowMapNet layers always have a bias")
        .val()
}

/// 64-bit FNV-1a: a dependency-free checksum that catches truncation and bit flips.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}
