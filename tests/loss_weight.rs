//! The learned loss weighting (src/loss_weight.rs): its gradient against finite differences, its
//! optimum (w -> log of the mean loss at each pair of times), and a weighted run that trains,
//! saves and resumes exactly, with old files still loading.
#![cfg(not(target_arch = "wasm32"))] // native tests: the browser runs tests/web.rs
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its line

mod common;

use burn::module::Param;
use burn::optim::GradientsParams;
use burn::tensor::{Tensor, TensorData};
use common::*;
use flowmap::adamw::AdamW;
use flowmap::config::{Method, Weighting};
use flowmap::loss_weight::{LossWeight, relative_mean, weighted_mean};
use flowmap::readback::block_on;
use flowmap::rng::Rng;
use flowmap::session::Session;
use flowmap::trainer::Trainer;

fn h1(t: Tensor<1>) -> Vec<f32> {
    block_on(flowmap::readback::floats(t)).unwrap()
}

fn column(v: &[f32], dev: &burn::tensor::Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(v.to_vec(), [v.len(), 1]), dev)
}

/// A weight net with a non-zero output layer (the init's zero output would hide the hidden
/// layer's gradient).
fn perturbed(dev: &burn::tensor::Device) -> LossWeight {
    let mut w = LossWeight::init(&mut Rng::new(3), dev);
    let out = &mut w.layers[1];
    let n = out.weight.val().dims()[0];
    let vals: Vec<f32> = (0..n).map(|k| 0.3 * ((k as f32) * 0.7).sin()).collect();
    out.weight = Param::from_data(TensorData::new(vals, [n, 1]), dev);
    w
}

/// J = mean(exp(-w(s,t)) L + w(s,t)) for fixed rows.
fn objective(w: &LossWeight, s: &[f32], t: &[f32], l: &[f32], dev: &burn::tensor::Device) -> f64 {
    let j = weighted_mean(column(l, dev), w.at(column(s, dev), column(t, dev)));
    h1(j)[0] as f64
}

/// Five rows (s, t, L): a diagonal one (0.1, 0.1), short and long jumps, losses from 0.05 to 2.
const ROWS: ([f32; 5], [f32; 5], [f32; 5]) = (
    [0.0, 0.1, 0.3, 0.5, 0.9],
    [0.2, 0.1, 0.8, 0.95, 1.0],
    [0.5, 2.0, 0.05, 1.3, 0.8],
);

/// The autodiff gradient of J with respect to every hidden weight, bias and output weight
/// agrees with central differences of J.
#[test]
fn the_weighted_losss_gradient_matches_finite_differences() {
    let dev = cpu().autodiff();
    let w = perturbed(&dev);
    let (s, t, l) = ROWS;
    let j = weighted_mean(column(&l, &dev), w.at(column(&s, &dev), column(&t, &dev)));
    let mut grads = j.backward();
    let g = GradientsParams::from_module(&mut grads, &w);
    let plain = cpu();
    let host_layers = block_on(flowmap::checkpoint::read_layers(
        w.layers
            .iter()
            .map(|l| (l.weight.val(), l.bias.as_ref().unwrap().val())),
    ))
    .unwrap();
    let analytic = [
        h1(g.get::<2>(w.layers[0].weight.id).unwrap().flatten(0, 1)),
        h1(g.get::<1>(w.layers[0].bias.as_ref().unwrap().id).unwrap()),
        h1(g.get::<2>(w.layers[1].weight.id).unwrap().flatten(0, 1)),
        h1(g.get::<1>(w.layers[1].bias.as_ref().unwrap().id).unwrap()),
    ];
    let eps = 1e-2f32;
    let mut checked = 0;
    for (block, grad) in analytic.iter().enumerate() {
        let (layer, is_bias) = (block / 2, block % 2 == 1);
        for k in (0..grad.len()).step_by(7) {
            let at = |delta: f32| {
                let mut layers = host_layers.clone();
                let p = if is_bias {
                    &mut layers[layer].1
                } else {
                    &mut layers[layer].0
                };
                p[k] += delta;
                objective(
                    &LossWeight::from_layers(&layers, &plain),
                    &s,
                    &t,
                    &l,
                    &plain,
                )
            };
            let fd = (at(eps) - at(-eps)) / (2.0 * eps as f64);
            let err = (fd - grad[k] as f64).abs();
            assert!(
                err <= 2e-3 + 1e-2 * fd.abs(),
                "block {block} entry {k}: autodiff {} vs finite differences {fd}",
                grad[k]
            );
            checked += 1;
        }
    }
    assert!(checked > 30, "only {checked} entries checked");
}

/// The relative rule: d/dL_i = exp(-w_i) / sum_j exp(-w_j) (the rows' weights have mean 1, so a
/// w the same on every row gives the unweighted mean's 1/B), and w's gradient is exactly that of
/// the plain weighted mean. A rule that forgot to normalise (exp(-w_i)/B), let the map's term
/// train w, or let w's term train the map fails here.
#[test]
fn the_relative_rule_reweights_rows_with_mean_one_and_trains_w_alone() {
    let dev = cpu().autodiff();
    let w = perturbed(&dev);
    let (s, t, l) = ROWS;
    let loss = column(&l, &dev).require_grad();
    let j = relative_mean(loss.clone(), w.at(column(&s, &dev), column(&t, &dev)));
    let mut grads = j.backward();
    let got = h1(loss.grad(&grads).unwrap().flatten(0, 1));
    let ws = h1(w.at(column(&s, &dev), column(&t, &dev)).flatten(0, 1));
    let total: f64 = ws.iter().map(|&w| (-w as f64).exp()).sum();
    for (k, (&g, &wk)) in got.iter().zip(&ws).enumerate() {
        let want = (-wk as f64).exp() / total;
        assert!(
            (g as f64 - want).abs() <= 1e-6,
            "row {k}: dJ/dL {g}, want {want}"
        );
    }
    // A constant w: every row weighs 1/B, the unweighted mean.
    let flat = LossWeight::init(&mut Rng::new(3), &dev); // zero output layer: w = 0 everywhere
    let loss = column(&l, &dev).require_grad();
    let j = relative_mean(loss.clone(), flat.at(column(&s, &dev), column(&t, &dev)));
    let g = h1(loss.grad(&j.backward()).unwrap().flatten(0, 1));
    assert!(g.iter().all(|&g| (g - 0.2).abs() <= 1e-6), "{g:?}");
    // w's gradient: that of the weighted mean, entry by entry.
    let g_rel = GradientsParams::from_module(&mut grads, &w);
    let mut plain =
        weighted_mean(column(&l, &dev), w.at(column(&s, &dev), column(&t, &dev))).backward();
    let g_plain = GradientsParams::from_module(&mut plain, &w);
    for layer in &w.layers {
        let a = h1(g_rel.get::<2>(layer.weight.id).unwrap().flatten(0, 1));
        let b = h1(g_plain.get::<2>(layer.weight.id).unwrap().flatten(0, 1));
        assert!(
            a.iter()
                .zip(&b)
                .all(|(a, b)| (a - b).abs() <= 1e-6 + 1e-5 * b.abs()),
            "w's gradient under the relative rule differs from the weighted mean's"
        );
    }
}

/// With a loss of known mean c(s,t) = exp(2 (t - s) - 1) at each pair (times a noise of mean 1),
/// training w alone drives it to log c(s,t) = 2 (t - s) - 1, the optimum of exp(-w) L + w.
#[test]
fn w_converges_to_the_log_of_the_mean_loss() {
    let dev = cpu().autodiff();
    let mut w = LossWeight::init(&mut Rng::new(5), &dev);
    let mut optim = AdamW::new(0.0);
    let mut rng = Rng::new(9);
    let log_c = |s: f32, t: f32| 2.0 * (t - s) - 1.0;
    for _ in 0..1500 {
        let n = 256;
        let (mut s, mut t, mut l) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..n {
            let (a, b) = (rng.uniform() as f32, rng.uniform() as f32);
            let (lo, hi) = (a.min(b), a.max(b));
            // Exponential(1) noise: mean 1, so E[L | s, t] = c(s, t).
            let noise = -(1.0 - rng.uniform() as f32).max(1e-12).ln();
            s.push(lo);
            t.push(hi);
            l.push(log_c(lo, hi).exp() * noise);
        }
        let j = weighted_mean(column(&l, &dev), w.at(column(&s, &dev), column(&t, &dev)));
        let mut grads = j.backward();
        let mut g = GradientsParams::from_module(&mut grads, &w);
        w.layers = optim.step_layers(1e-2, &w.layers, &mut g);
    }
    let mut worst = 0.0f32;
    for (s, t) in [
        (0.0, 0.0),
        (0.0, 1.0),
        (0.2, 0.5),
        (0.5, 0.9),
        (0.1, 0.7),
        (0.9, 0.95),
    ] {
        let got = h1(w.at(column(&[s], &dev), column(&[t], &dev)).flatten(0, 1))[0];
        worst = worst.max((got - log_c(s, t)).abs());
    }
    // The noise's spread and Adam's last steps leave about a tenth.
    assert!(worst < 0.2, "w is {worst} from log c(s,t) at worst");
}

/// A weighted run trains (its weighted objective, reported beside the unweighted terms, falls), its
/// saved run resumes bit for bit, its checkpoint carries w, and the shipped (unweighted) files
/// load unchanged.
#[test]
fn a_weighted_run_trains_saves_and_resumes() {
    weighted_run_trains_saves_and_resumes(Weighting::Learned);
}

/// The same for the relative rule, whose files carry the same w.
#[test]
fn a_relatively_weighted_run_trains_saves_and_resumes() {
    weighted_run_trains_saves_and_resumes(Weighting::Relative);
}

fn weighted_run_trains_saves_and_resumes(rule: Weighting) {
    let mut config = small(Method::Esd);
    config.train.weighting = rule;
    let mut tr = Trainer::new(config.clone(), &cpu()).unwrap();
    let first = read(tr.step());
    for _ in 0..60 {
        tr.step();
    }
    let later = read(tr.step());
    assert!(first.weighted.is_some() && later.weighted.is_some());
    // The objective minimised falls (w learns the scale of the rows while the map trains).
    assert!(later.weighted < first.weighted, "{first:?} -> {later:?}");
    // w has moved off its zero start.
    let w = tr.loss_weight().unwrap();
    let dev = cpu().autodiff();
    let w01 = h1(w
        .at(column(&[0.0], &dev), column(&[1.0], &dev))
        .flatten(0, 1))[0];
    assert!(w01.abs() > 1e-3, "w(0,1) = {w01}");

    let bytes = block_on(tr.run_state()).unwrap().encode();
    let state = flowmap::run_state::decode(&bytes).unwrap();
    assert!(state.loss_weight.as_ref().is_some_and(|(_, m)| m.is_some()));
    let mut again = Trainer::resume(state, &cpu()).unwrap();
    for _ in 0..3 {
        assert_eq!(read(tr.step()), read(again.step()));
    }
    assert_eq!(
        block_on(tr.run_state()).unwrap().encode(),
        block_on(again.run_state()).unwrap().encode()
    );
    let ck = block_on(tr.checkpoint()).unwrap();
    let decoded = flowmap::checkpoint::decode(&ck.encode()).unwrap();
    assert_eq!(decoded, ck);
    assert!(decoded.loss_weight.is_some());

    // A run without weighting writes no loss weight and reads as before.
    let plain = Trainer::new(small(Method::Esd), &cpu()).unwrap();
    let plain_state = block_on(plain.run_state()).unwrap();
    assert!(plain_state.loss_weight.is_none());
    let text = String::from_utf8_lossy(&plain_state.encode()).into_owned();
    assert!(!text.contains("loss_weight"));
    // The shipped checkpoints (written before the weighting) still load.
    for file in ["www/pretrained/lsd.fmap", "www/pretrained/psd-mid.fmap"] {
        let bytes = std::fs::read(file).unwrap();
        let ck = flowmap::checkpoint::decode(&bytes).unwrap();
        assert!(ck.loss_weight.is_none(), "{file}");
        assert!(!String::from_utf8_lossy(&ck.encode()).contains("loss_weight"));
        Session::checkpoint_info(&bytes).unwrap();
    }
    // A saved run whose header claims a loss weight that its config does not have is refused.
    let mut lying = state_bytes_with(
        &bytes_of(&plain),
        "\"ema\":true",
        "\"ema\":true,\"loss_weight\":true",
    );
    fix_checksum(&mut lying);
    let err = flowmap::run_state::decode(&lying).unwrap_err();
    assert!(err.contains("loss weight"), "{err}");
}

fn bytes_of(tr: &Trainer) -> Vec<u8> {
    block_on(tr.run_state()).unwrap().encode()
}

/// `bytes` with `from` replaced by `to` in its JSON header (and the header length fixed).
fn state_bytes_with(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let hlen = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
    let header = String::from_utf8(bytes[12..12 + hlen].to_vec()).unwrap();
    assert!(header.contains(from), "{header}");
    let header = header.replace(from, to);
    let mut out = bytes[..8].to_vec();
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&bytes[12 + hlen..]);
    out
}

/// Recomputes the trailing FNV-1a checksum.
fn fix_checksum(bytes: &mut Vec<u8>) {
    let body = bytes.len() - 8;
    let sum = bytes[..body]
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
        });
    bytes.truncate(body);
    bytes.extend_from_slice(&sum.to_le_bytes());
}
