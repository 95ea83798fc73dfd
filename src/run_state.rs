//! A whole training run as bytes, to autosave it and resume it exactly: the config, the step,
//! the data stream's generator, the trained weights, the EMA weights and AdamW's moments. A run
//! resumed from these bytes takes the same next steps, bit for bit, as the run that saved them
//! (`tests/session.rs`). A checkpoint (checkpoint.rs) holds only the weights to sample from.
//!
//! Layout: a checkpoint's frame (checkpoint.rs) with signature `FLOWRUN1` and header
//! `{"config": Config, "step": n, "rng": state, "adam_steps": k, "ema": bool}`, then blocks of
//! layers (weight [in, out] and bias [out] per layer, f32): the trained weights; the EMA weights
//! if `ema`; AdamW's first and then second moments if `adam_steps > 0`; then, if `loss_weight`
//! (a learned weighting, `loss_weight.rs`), its layers and, if `adam_steps > 0`, its moments.
//! Files from before the weighting have no `loss_weight` key and read as without it; a run
//! without it writes none, so its bytes are what they were.

use crate::checkpoint::{Layers, block_len, frame, take_layers, unframe};
use crate::config::Config;
use crate::loss_weight;
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"FLOWRUN1";
const WHAT: &str = "saved run";

/// A run on the host.
#[derive(Clone, Debug, PartialEq)]
pub struct RunState {
    pub config: Config,
    /// Optimizer steps done.
    pub step: usize,
    /// The training stream's generator state (`Rng::state`).
    pub rng: u64,
    /// AdamW's step count k: `step`, or fewer after loading a checkpoint (which restarts AdamW).
    pub adam_steps: usize,
    pub weights: Layers,
    /// Present iff the config has an EMA decay.
    pub ema: Option<Layers>,
    /// AdamW's (m, v); present iff `adam_steps > 0`.
    pub moments: Option<(Layers, Layers)>,
    /// The learned loss weight and its AdamW's (m, v) (present iff `adam_steps > 0`); present
    /// iff the config's weighting is `learned`.
    pub loss_weight: Option<(Layers, Option<(Layers, Layers)>)>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    config: Config,
    step: usize,
    rng: u64,
    adam_steps: usize,
    ema: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    loss_weight: bool,
}

impl RunState {
    pub fn encode(&self) -> Vec<u8> {
        let header = Header {
            config: self.config.clone(),
            step: self.step,
            rng: self.rng,
            adam_steps: self.adam_steps,
            ema: self.ema.is_some(),
            loss_weight: self.loss_weight.is_some(),
        };
        let mut blocks = vec![&self.weights];
        blocks.extend(&self.ema);
        if let Some((m, v)) = &self.moments {
            blocks.extend([m, v]);
        }
        if let Some((w, moments)) = &self.loss_weight {
            blocks.push(w);
            if let Some((m, v)) = moments {
                blocks.extend([m, v]);
            }
        }
        frame(MAGIC, &header, &blocks)
    }
}

/// Parses and fully validates a saved run: signature, checksum, a valid config, block sizes
/// that match its network, finite numbers. Anything else is an error, never a panic.
pub fn decode(bytes: &[u8]) -> Result<RunState, String> {
    let (h, floats): (Header, _) = unframe(MAGIC, WHAT, bytes)?;
    h.config
        .validate()
        .map_err(|e| format!("{WHAT} holds an invalid config: {e}"))?;
    if h.ema != h.config.train.ema_decay.is_some() {
        return Err(format!(
            "{WHAT} is inconsistent: EMA weights {}, but the config's ema_decay is {:?}",
            if h.ema { "present" } else { "absent" },
            h.config.train.ema_decay
        ));
    }
    if h.adam_steps > h.step {
        return Err(format!(
            "{WHAT} is inconsistent: {} optimizer steps after {} training steps",
            h.adam_steps, h.step
        ));
    }
    let learned = h.config.train.weighting.learns();
    if h.loss_weight != learned {
        return Err(format!(
            "{WHAT} is inconsistent: a learned loss weight {}, but the config's weighting is {:?}",
            if h.loss_weight { "present" } else { "absent" },
            h.config.train.weighting
        ));
    }
    let with_moments = h.adam_steps > 0;
    let moment_blocks = 2 * with_moments as usize;
    // The loss weight's blocks come last: split them off by their (fixed) size.
    let weight_dims = loss_weight::layer_dims();
    let weight_count = if learned { 1 + moment_blocks } else { 0 };
    let weight_len = weight_count * block_len(&weight_dims);
    let (floats, weight_floats) = floats.split_at(floats.len().saturating_sub(weight_len));
    let count = 1 + h.ema as usize + moment_blocks;
    let dims = h.config.model.layer_dims();
    let mut blocks = take_layers(floats, &dims, count, WHAT, "its config's network")?.into_iter();
    let mut next = || blocks.next().expect("take_layers returned `count` blocks");
    let weights = next();
    let ema = h.ema.then(&mut next);
    let moments = with_moments.then(|| (next(), next()));
    let mut blocks = take_layers(
        weight_floats,
        &weight_dims,
        weight_count,
        WHAT,
        "its loss weight",
    )?
    .into_iter();
    let mut next = || {
        blocks
            .next()
            .expect("take_layers returned `weight_count` blocks")
    };
    let loss_weight = learned.then(|| (next(), with_moments.then(|| (next(), next()))));
    let negative = |(_, v): &(Layers, Layers)| {
        v.iter()
            .flat_map(|(w, b)| w.iter().chain(b))
            .any(|x| *x < 0.0)
    };
    let weight_moments = loss_weight.as_ref().and_then(|(_, m)| m.as_ref());
    if moments.as_ref().is_some_and(negative) || weight_moments.is_some_and(negative) {
        return Err(format!("{WHAT} is corrupt (a negative second moment)"));
    }
    Ok(RunState {
        config: h.config,
        step: h.step,
        rng: h.rng,
        adam_steps: h.adam_steps,
        weights,
        ema,
        moments,
        loss_weight,
    })
}
