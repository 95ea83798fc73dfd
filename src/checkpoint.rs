//! Model weights as bytes: a versioned, checksummed, bit-exact format.
//!
//! Layout (little endian): magic `FLOWMAP1`, u32 header length, header JSON
//! `{"model": ModelConfig, "step": n}`, then for each layer its weight ([in, out], row-major f32)
//! and bias ([out] f32), then (header `"loss_weight": true`, a run with a learned weighting) the
//! loss weight's layers, then a u64 FNV-1a checksum of everything before it. A checkpoint
//! without a loss weight has no such key: its bytes are those of the format before it.

use crate::config::ModelConfig;
use crate::model::{FlowMapNet, linear_from};
use crate::readback;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"FLOWMAP1";

/// Weights on the host.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    pub model: ModelConfig,
    pub step: usize,
    pub layers: Layers,
    /// The learned loss weight w(s,t) (`loss_weight.rs`), for a run that trains on from here.
    pub loss_weight: Option<Layers>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    model: ModelConfig,
    step: usize,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    loss_weight: bool,
}

impl Checkpoint {
    /// Read a net's weights (any device, WebGPU included).
    pub async fn from_net(
        model: &ModelConfig,
        step: usize,
        net: &FlowMapNet,
    ) -> Result<Self, String> {
        let layers = read_layers(net.layers.iter().map(|l| (l.weight.val(), bias(l)))).await?;
        Ok(Self {
            model: model.clone(),
            step,
            layers,
            loss_weight: None,
        })
    }

    pub fn to_net(&self, device: &Device) -> FlowMapNet {
        net_from(&self.model, &self.layers, device)
    }

    pub fn encode(&self) -> Vec<u8> {
        let header = Header {
            model: self.model.clone(),
            step: self.step,
            loss_weight: self.loss_weight.is_some(),
        };
        let mut blocks = vec![&self.layers];
        blocks.extend(&self.loss_weight);
        frame(MAGIC, &header, &blocks)
    }
}

/// Parse and fully validate a checkpoint.
pub fn decode(bytes: &[u8]) -> Result<Checkpoint, String> {
    let (header, floats): (Header, _) = unframe(MAGIC, "flow-map checkpoint", bytes)?;
    crate::config::Config {
        model: header.model.clone(),
        ..Default::default()
    }
    .validate()
    .map_err(|e| format!("checkpoint describes an invalid network: {e}"))?;
    let dims = header.model.layer_dims();
    let weight_dims = crate::loss_weight::layer_dims();
    let weight_len = header.loss_weight as usize * block_len(&weight_dims);
    let (floats, weight_floats) = floats.split_at(floats.len().saturating_sub(weight_len));
    let mut blocks = take_layers(floats, &dims, 1, "checkpoint", "its header's network")?;
    let weight_blocks = header.loss_weight as usize;
    let mut weight = take_layers(
        weight_floats,
        &weight_dims,
        weight_blocks,
        "checkpoint",
        "its loss weight",
    )?;
    Ok(Checkpoint {
        model: header.model,
        step: header.step,
        layers: blocks.remove(0),
        loss_weight: weight.pop(),
    })
}

pub use crate::model::Layers;

/// A network of `model`'s shape with these weights, on `device`.
pub fn net_from(model: &ModelConfig, layers: &Layers, device: &Device) -> FlowMapNet {
    let layers = model
        .layer_dims()
        .into_iter()
        .zip(layers)
        .map(|((i, o), (w, b))| linear_from(w.clone(), b.clone(), i, o, device))
        .collect();
    FlowMapNet::from_layers(model, layers)
}

/// Read layers (weight [in, out], bias [out] per layer) from any device, WebGPU included.
pub async fn read_layers(
    layers: impl IntoIterator<Item = (Tensor<2>, Tensor<1>)>,
) -> Result<Layers, String> {
    let mut out = Vec::new();
    for (w, b) in layers {
        out.push((readback::floats(w).await?, readback::floats(b).await?));
    }
    Ok(out)
}

/// `magic`, u32 header length, the header as JSON, each block's floats (f32 LE) in order, and a
/// u64 FNV-1a checksum of everything before it.
pub(crate) fn frame<H: Serialize>(magic: &[u8; 8], header: &H, blocks: &[&Layers]) -> Vec<u8> {
    let header = serde_json::to_vec(header).expect("a header of plain values always serializes");
    let floats: usize = blocks
        .iter()
        .flat_map(|b| b.iter())
        .map(|(w, b)| w.len() + b.len())
        .sum();
    let mut out = Vec::with_capacity(24 + header.len() + 4 * floats);
    out.extend_from_slice(magic);
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&header);
    for (w, b) in blocks.iter().flat_map(|b| b.iter()) {
        for x in w.iter().chain(b) {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    let sum = fnv1a(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

/// The header and the floats of a [`frame`], after checking the signature and the checksum.
/// Every length is checked arithmetic: a header length near 4 GiB is an error, not a panic.
pub(crate) fn unframe<H: serde::de::DeserializeOwned>(
    magic: &[u8; 8],
    what: &str,
    bytes: &[u8],
) -> Result<(H, Vec<f32>), String> {
    let sig = String::from_utf8_lossy(magic);
    if bytes.len() < magic.len() + 4 + 8 || &bytes[..8] != magic {
        return Err(format!("not a {what} (missing the {sig} signature)"));
    }
    let (body, tail) = bytes.split_at(bytes.len() - 8);
    let stored = u64::from_le_bytes(tail.try_into().expect("split_at left 8 bytes"));
    if fnv1a(body) != stored {
        return Err(format!("{what} is corrupt (checksum mismatch)"));
    }
    let hlen = u32::from_le_bytes(body[8..12].try_into().expect("4 bytes")) as usize;
    let header_end = 12usize
        .checked_add(hlen)
        .filter(|&end| end <= body.len())
        .ok_or(format!("{what} is truncated (header)"))?;
    let header = serde_json::from_slice(&body[12..header_end])
        .map_err(|e| format!("{what} header is invalid: {e}"))?;
    let rest = &body[header_end..];
    if !rest.len().is_multiple_of(4) {
        return Err(format!(
            "{what} is truncated ({} bytes of weights)",
            rest.len()
        ));
    }
    let floats: Vec<f32> = rest
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("chunks of 4")))
        .collect();
    if floats.iter().any(|x| !x.is_finite()) {
        return Err(format!("{what} holds non-finite numbers"));
    }
    Ok((header, floats))
}

/// Splits `floats` into `blocks` blocks of layers of shapes `dims`; the count must match exactly.
pub(crate) fn take_layers(
    floats: &[f32],
    dims: &[(usize, usize)],
    blocks: usize,
    what: &str,
    whose: &str,
) -> Result<Vec<Layers>, String> {
    let expected = block_len(dims)
        .checked_mul(blocks)
        .ok_or(format!("{what} describes too many numbers"))?;
    if floats.len() != expected {
        return Err(format!(
            "{what} holds {} numbers, {whose} needs {expected}",
            floats.len()
        ));
    }
    let mut rest = floats;
    Ok((0..blocks)
        .map(|_| {
            dims.iter()
                .map(|&(i, o)| {
                    let (w, tail) = rest.split_at(i * o);
                    let (b, tail) = tail.split_at(o);
                    rest = tail;
                    (w.to_vec(), b.to_vec())
                })
                .collect()
        })
        .collect())
}

/// Floats in one block of layers of shapes `dims` (weight [in, out] and bias [out] each).
pub(crate) fn block_len(dims: &[(usize, usize)]) -> usize {
    dims.iter().map(|(i, o)| i * o + o).sum()
}

pub(crate) fn bias(l: &burn::nn::Linear) -> Tensor<1> {
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
