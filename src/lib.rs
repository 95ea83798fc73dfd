//! Flow maps by self-distillation (Boffi, Albergo & Vanden-Eijnden, 2025), on Burn.
//!
//! A flow map X_{s,t}(x) = x + (t-s) v_{s,t}(x) jumps from time s to time t of the probability
//! flow between a Gaussian (t = 0) and a 2-D target (t = 1) in one network call. It is trained
//! with a flow-matching loss on the diagonal s = t plus one of the self-distillation losses (LSD,
//! PSD, ESD, and MeanFlow) off it. Everything here is plain Rust; `web` is the only module that knows about JS, and it is a
//! thin binding of [`session::Session`].

pub mod activation;
pub mod adamw;
pub mod against_exact;
pub mod backend;
pub mod batch;
pub mod checkpoint;
pub mod clipping;
pub mod config;
pub mod data;
pub mod eval;
pub mod exact;
pub mod flops;
pub mod interpolant;
pub mod loss_weight;
pub mod losses;
pub mod metrics;
pub mod model;
pub mod ode;
pub mod readback;
pub mod rng;
pub mod run_state;
pub mod sample;
pub mod session;
pub mod target_file;
pub mod trainer;
pub mod trial;
#[cfg(target_arch = "wasm32")]
pub mod web;
