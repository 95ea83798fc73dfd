//! A whole training run as bytes, to autosave it and resume it exactly: the config, the step,
//! the data stream's generator, the trained weights, the EMA weights and AdamW's moments. A run
//! resumed from these bytes takes the same next steps, bit for bit, as the run that saved them
//! (`tests/session.rs`). A checkpoint (checkpoint.rs) holds only the weights to sample from.
//!
//! Layout: a checkpoint's frame (checkpoint.rs) with signature `FLOWRUN1` and header
//! `{"config": Config, "step": n, "rng": state, "adam_steps": k, "ema": bool}`, then blocks of
//! layers (weight [in, out] and bias [out] per layer, f32): the trained weights; the EMA weights
//! if `ema`; AdamW's first and then second moments if `adam_steps > 0`.

use crate::checkpoint::{Layers, frame, take_layers, unframe};
use crate::config::Config;
use crate::model::layer_dims;
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
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    config: Config,
    step: usize,
    rng: u64,
    adam_steps: usize,
    ema: bool,
}

impl RunState {
    pub fn encode(&self) -> Vec<u8> {
        let header = Header {
            config: self.config.clone(),
            step: self.step,
            rng: self.rng,
            adam_steps: self.adam_steps,
            ema: self.ema.is_some(),
        };
        let mut blocks = vec![&self.weights];
        blocks.extend(&self.ema);
        if let Some((m, v)) = &self.moments {
            blocks.extend([m, v]);
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
    let with_moments = h.adam_steps > 0;
    let count = 1 + h.ema as usize + 2 * with_moments as usize;
    let dims = layer_dims(&h.config.model);
    let mut blocks = take_layers(&floats, &dims, count, WHAT, "its config's network")?.into_iter();
    let mut next = || blocks.next().expect("take_layers returned `count` blocks");
    let weights = next();
    let ema = h.ema.then(&mut next);
    let moments = with_moments.then(|| (next(), next()));
    let negative = |(_, v): &(Layers, Layers)| {
        v.iter()
            .flat_map(|(w, b)| w.iter().chain(b))
            .any(|x| *x < 0.0)
    };
    if moments.as_ref().is_some_and(negative) {
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
    })
}
