//! Data-parallel training (issue 22): K replicas each take the gradient of their shard of the
//! batch, the K flat buffers are summed, and every replica applies the sum. Checked here
//! natively: the shards' gradients sum to the whole batch's, one shard of one is `step` bit for
//! bit (the buffer's layout round-trips), replicas stay bit-identical, and a bad call is
//! refused with the run intact.
#![cfg(not(target_arch = "wasm32"))] // native tests: the browser runs tests/web.rs
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its line

mod common;

use common::*;
use flowmap::config::{Config, Method};
use flowmap::readback::block_on;
use flowmap::trainer::Trainer;

fn trainer(method: Method) -> Trainer {
    Trainer::new(small(method), &cpu()).unwrap()
}

fn state(t: &Trainer) -> Vec<u8> {
    block_on(t.run_state()).unwrap().encode()
}

/// The K shards' gradients of one replica each, summed in order 0..K (every replica sums in the
/// same order, so they all hold the same bits), and the summed losses.
fn summed(replicas: &mut [Trainer]) -> (Vec<f32>, f32) {
    let k_all = replicas.len();
    let mut sum: Option<Vec<f32>> = None;
    let mut loss = 0.0;
    for (k, r) in replicas.iter_mut().enumerate() {
        let (g, l) = block_on(r.shard_gradient(k, k_all)).unwrap();
        loss += l.total;
        sum = Some(match sum {
            None => g,
            Some(s) => s.iter().zip(&g).map(|(a, b)| a + b).collect(),
        });
    }
    (sum.unwrap(), loss)
}

/// For each method's batch layout (LSD; PSD-uniform, whose rows carry u; MeanFlow, whose rows
/// carry x1 - x0), K = 2, 3 and 4 shards sum to the gradient of the whole batch (one shard of
/// one) within float rounding, and their losses to its loss. A shard that took the wrong rows,
/// or a share that did not weigh a shard by its rows, fails here.
#[test]
fn shard_gradients_sum_to_the_whole_batch_gradient() {
    for method in [Method::Lsd, Method::PsdUniform, Method::MeanFlow] {
        let (whole, whole_loss) = summed(&mut [trainer(method)]);
        let scale = whole.iter().fold(0f32, |m, g| m.max(g.abs()));
        assert!(scale > 0.0);
        // K = 3 splits the batch's 192 diagonal and 64 off-diagonal rows unevenly (64/64/64,
        // 21/21/22): a share of 1/K instead of the rows' share fails here.
        for k in [2, 3, 4] {
            let mut replicas: Vec<Trainer> = (0..k).map(|_| trainer(method)).collect();
            let (sum, loss) = summed(&mut replicas);
            assert_eq!(sum.len(), whole.len());
            let worst = sum
                .iter()
                .zip(&whole)
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                worst <= 1e-5 * scale,
                "{} K={k}: max |sum - whole| {worst:.2e} (largest entry {scale:.2e})",
                method.name()
            );
            assert!(
                (loss - whole_loss).abs() <= 1e-5 * whole_loss,
                "{} K={k}: loss {loss} against {whole_loss}",
                method.name()
            );
        }
    }
}

/// One shard of one, applied, is `step`: the same weights, EMA, moments and data stream, bit
/// for bit, over several steps. A buffer whose layout did not match the layers' (weights and
/// biases swapped, a transpose) would give other weights.
#[test]
fn one_shard_applied_is_a_step_bit_for_bit() {
    let mut a = trainer(Method::Lsd);
    let mut b = trainer(Method::Lsd);
    for _ in 0..5 {
        a.step();
        let (g, _) = block_on(b.shard_gradient(0, 1)).unwrap();
        b.apply_gradient(&g).unwrap();
    }
    assert_eq!(a.steps_done(), 5);
    assert_eq!(state(&a), state(&b), "the saved runs differ");
}

/// Two replicas that apply the same summed gradient stay bit-identical for 50 steps (each draws
/// the same batches and clips and steps alike), and, the real check, track the one-worker run
/// closely: the same batches, only the order of the gradient's sums differs, so a shard that
/// computed the wrong gradient drifts away.
#[test]
fn replicas_stay_bit_identical_and_track_the_one_worker_run() {
    let mut replicas = vec![trainer(Method::Lsd), trainer(Method::Lsd)];
    let mut one = trainer(Method::Lsd);
    for _ in 0..50 {
        let (sum, _) = summed(&mut replicas);
        for r in &mut replicas {
            r.apply_gradient(&sum).unwrap();
        }
        one.step();
    }
    assert_eq!(
        state(&replicas[0]),
        state(&replicas[1]),
        "the replicas drifted apart"
    );
    let w = |t: &Trainer| block_on(t.run_state()).unwrap().weights;
    let (r, o) = (w(&replicas[0]), w(&one));
    let mut worst = 0f32;
    for ((rw, rb), (ow, ob)) in r.iter().zip(&o) {
        for (x, y) in rw.iter().chain(rb).zip(ow.iter().chain(ob)) {
            worst = worst.max((x - y).abs());
        }
    }
    assert!(
        worst < 1e-3,
        "50 sharded steps drift {worst} from the one-worker run"
    );
}

/// Bad calls are refused by name and change nothing: the run still trains as before.
#[test]
fn bad_shard_calls_are_refused_and_keep_the_run() {
    let mut t = trainer(Method::Lsd);
    let mut reference = trainer(Method::Lsd);
    let err = |r: Result<(), String>| r.unwrap_err();
    assert!(err(t.apply_gradient(&[0.0; 4])).contains("without a shard gradient"));
    for (k, n) in [(0, 0), (2, 2), (0, 10_000)] {
        let e = block_on(t.shard_gradient(k, n)).unwrap_err();
        assert!(e.contains(&format!("shard {k} of {n}")), "{e}");
    }
    let (g, _) = block_on(t.shard_gradient(0, 1)).unwrap();
    let e = block_on(t.shard_gradient(0, 1)).unwrap_err();
    assert!(e.contains("waiting for apply_gradient"), "{e}");
    assert!(err(t.apply_gradient(&g[1..])).contains("for a network of"));
    let mut nan = g.clone();
    nan[3] = f32::NAN;
    assert!(err(t.apply_gradient(&nan)).contains("not finite at entry 3"));
    for (at, bad) in [
        (g.len() - 1, f32::INFINITY),
        (g.len() / 2, f32::NEG_INFINITY),
    ] {
        let mut inf = g.clone();
        inf[at] = bad;
        let e = err(t.apply_gradient(&inf));
        assert!(e.contains(&format!("not finite at entry {at}")), "{e}");
    }
    t.apply_gradient(&g).unwrap();
    reference.step();
    assert_eq!(
        state(&t),
        state(&reference),
        "a refused call changed the run"
    );
    // A full step or a load between the halves drops the pending shard: its gradient, of
    // other weights, can no longer be applied.
    block_on(t.shard_gradient(0, 1)).unwrap();
    t.step();
    assert!(err(t.apply_gradient(&g)).contains("without a shard gradient"));
    block_on(t.shard_gradient(0, 1)).unwrap();
    let bytes = block_on(t.checkpoint()).unwrap().encode();
    t.load(&bytes).unwrap();
    assert!(err(t.apply_gradient(&g)).contains("without a shard gradient"));
    assert!(
        block_on(t.shard_gradient(0, 1)).is_ok(),
        "a new shard after the load"
    );

    let weighted = Config {
        train: flowmap::config::TrainConfig {
            weighting: flowmap::config::Weighting::Learned,
            ..small(Method::Lsd).train
        },
        ..small(Method::Lsd)
    };
    let mut w = Trainer::new(weighted, &cpu()).unwrap();
    let e = block_on(w.shard_gradient(0, 2)).unwrap_err();
    assert!(e.contains("one worker only"), "{e}");
}

/// The shard limit says what `shard_gradient` accepts: every count up to it works, the next is
/// refused; a learned weighting allows one.
#[test]
fn max_shards_is_what_shard_gradient_accepts() {
    let t = trainer(Method::Lsd);
    let limit = t.max_shards();
    let (nd, no) = small(Method::Lsd).train.split();
    assert_eq!(limit, nd.min(no), "the smaller part of the batch");
    for shards in [1, limit] {
        let mut r = trainer(Method::Lsd);
        assert!(
            block_on(r.shard_gradient(shards - 1, shards)).is_ok(),
            "{shards} of {limit}"
        );
    }
    let mut r = trainer(Method::Lsd);
    assert!(
        block_on(r.shard_gradient(0, limit + 1)).is_err(),
        "one past the limit"
    );
    let weighted = Config {
        train: flowmap::config::TrainConfig {
            weighting: flowmap::config::Weighting::Learned,
            ..small(Method::Lsd).train
        },
        ..small(Method::Lsd)
    };
    assert_eq!(Trainer::new(weighted, &cpu()).unwrap().max_shards(), 1);
}

/// The page's worker count: the cores shared among the training panels, at least 1 and at
/// most MAX_AUTO_WORKERS; a request (`?workers=`) wins when it is a whole number in range and
/// is refused by name otherwise.
#[test]
fn workers_share_the_cores_among_the_panels() {
    use flowmap::session::{MAX_AUTO_WORKERS, MAX_SHARDS, workers_for};
    assert_eq!(workers_for(2.0, 1.0, None), Ok(2));
    assert_eq!(workers_for(2.0, 2.0, None), Ok(1));
    assert_eq!(workers_for(8.0, 2.0, None), Ok(4));
    assert_eq!(
        workers_for(7.0, 2.0, None),
        Ok(3),
        "an odd core is left to the page"
    );
    assert_eq!(workers_for(1.0, 4.0, None), Ok(1), "never 0");
    assert_eq!(workers_for(64.0, 1.0, None), Ok(MAX_AUTO_WORKERS));
    assert_eq!(
        workers_for(f64::NAN, 1.0, None),
        Ok(1),
        "a browser that hides its cores"
    );
    assert_eq!(workers_for(2.0, 1.0, Some(3.0)), Ok(3), "the request wins");
    assert_eq!(
        workers_for(2.0, 1.0, Some(MAX_SHARDS as f64)),
        Ok(MAX_SHARDS)
    );
    for bad in [0.0, 1.5, f64::NAN, (MAX_SHARDS + 1) as f64] {
        let e = workers_for(2.0, 1.0, Some(bad)).unwrap_err();
        assert!(e.contains("workers must be a whole number"), "{e}");
    }
    assert!(workers_for(2.0, 0.0, None).unwrap_err().contains("panels"));
}

/// `off_weight` scales the off-diagonal term and nothing else. LSD and PSD-midpoint with the
/// same seed draw the same diagonal rows, so the difference of their whole-batch gradients is
/// off_weight (g_O^LSD - g_O^PSD): at off_weight 3 it is three times that at 1, and non-zero.
/// A weight left out, or put on the diagonal term, gives a ratio of 1 and fails here.
#[test]
fn off_weight_scales_the_off_diagonal_gradient_alone() {
    let gradient = |method: Method, off_weight: f64| {
        let mut c = small(method);
        c.train.off_weight = off_weight;
        let mut t = Trainer::new(c, &cpu()).unwrap();
        block_on(t.shard_gradient(0, 1)).unwrap().0
    };
    let diff = |a: f64| -> Vec<f32> {
        let (l, p) = (gradient(Method::Lsd, a), gradient(Method::PsdMid, a));
        l.iter().zip(&p).map(|(l, p)| l - p).collect()
    };
    let (one, three) = (diff(1.0), diff(3.0));
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    assert!(
        norm(&one) > 1e-6,
        "LSD and PSD gradients agree: {}",
        norm(&one)
    );
    let off: Vec<f32> = three.iter().zip(&one).map(|(t, o)| t - 3.0 * o).collect();
    assert!(
        norm(&off) <= 1e-4 * norm(&three),
        "off_weight 3 gives {} x the off-diagonal difference of 1, residual {}",
        norm(&three) / norm(&one),
        norm(&off) / norm(&three)
    );
    // The default is 1: configs written before the field load as they trained.
    let old: flowmap::config::TrainConfig = serde_json::from_str(r#"{"lr":0.001}"#).unwrap();
    assert_eq!(old.off_weight, 1.0);
    let mut bad = small(Method::Lsd);
    bad.train.off_weight = 0.0;
    assert!(bad.validate().unwrap_err().contains("off_weight"));
}

#[test]
fn the_browser_presets_batch_doubles_from_two_workers_and_a_chosen_batch_is_kept() {
    use flowmap::config::Config;
    use flowmap::session::batch_for_workers;
    let preset = Config::browser().train.batch_size;
    assert_eq!(
        batch_for_workers(preset, 1),
        preset,
        "one worker: the recipe as it is"
    );
    assert_eq!(batch_for_workers(preset, 2), 2 * preset);
    assert_eq!(
        batch_for_workers(preset, 8),
        2 * preset,
        "only the doubling was measured"
    );
    assert_eq!(
        batch_for_workers(preset + 1, 2),
        preset + 1,
        "a chosen batch is kept"
    );
    assert_eq!(
        batch_for_workers(2 * preset, 2),
        2 * preset,
        "and not doubled again"
    );
    // The grown batch is one the recipe accepts.
    let mut c = Config::browser();
    c.train.batch_size = batch_for_workers(preset, 2);
    assert!(c.validate().is_ok(), "{:?}", c.validate());
}

/// The one order every worker sums in: shard 0, 1, .., K-1, in f32. The values make the order
/// visible: (1 + 1e8) - 1e8 is 0 in f32 where (-1e8 + 1e8) + 1 is 1, so a sum taken in any
/// other order, or in f64, fails.
#[test]
fn shards_are_summed_in_their_order_in_f32() {
    use flowmap::session::sum_in_order;
    let (a, b, c) = (vec![1.0f32, 2.0], vec![1e8f32, 3.0], vec![-1e8f32, 4.0]);
    let sum =
        |parts: &[&Vec<f32>]| sum_in_order(&parts.iter().map(|p| p.as_slice()).collect::<Vec<_>>());
    assert_eq!(sum(&[&a, &b, &c]).unwrap(), vec![0.0, 9.0]);
    assert_eq!(sum(&[&c, &b, &a]).unwrap(), vec![1.0, 9.0]);
    assert_eq!(sum(&[&a]).unwrap(), a, "one shard is itself");
    let err = sum(&[&a, &vec![1.0f32]]).unwrap_err();
    assert!(
        err.contains("shard 1 has 1 gradient values where shard 0 has 2"),
        "{err}"
    );
    assert!(sum(&[]).is_err());
}

/// `Session::apply_shards` (what the page's workers call with every shard's buffer) takes the
/// same step as `apply_gradient` of the sum in shard order, bit for bit, with the losses summed
/// alike; a bad call (mismatched losses, a short buffer) is refused and the shard stays pending,
/// so the right call still applies.
#[test]
fn apply_shards_is_apply_gradient_of_the_sum_in_order() {
    use flowmap::session::{Options, Session};
    let options = || Options {
        backend: "flex".into(),
        ..Default::default()
    };
    let new = || Session::new(small(Method::Lsd), options(), &cpu()).unwrap();
    let (mut by_shards, mut by_sum, mut other) = (new(), new(), new());
    for _ in 0..3 {
        let (g0, l0) = block_on(by_shards.shard_gradient(0.0, 2.0)).unwrap();
        let (g1, l1) = block_on(other.shard_gradient(1.0, 2.0)).unwrap();
        block_on(by_sum.shard_gradient(0.0, 2.0)).unwrap();
        let losses = [
            (l0.diagonal as f64, l0.off_diagonal as f64),
            (l1.diagonal as f64, l1.off_diagonal as f64),
        ];
        let both = [g0.as_slice(), g1.as_slice()];
        let err = by_shards.apply_shards(&both, &losses[..1]).unwrap_err();
        assert!(
            err.contains("2 shard gradients with 1 pairs of losses"),
            "{err}"
        );
        let short = &g1[..g1.len() - 1];
        assert!(by_shards.apply_shards(&[&g0, short], &losses).is_err());
        let a = by_shards.apply_shards(&both, &losses).unwrap();
        let sum: Vec<f32> = g0.iter().zip(&g1).map(|(x, y)| x + y).collect();
        let b = by_sum
            .apply_gradient(&sum, losses[0].0 + losses[1].0, losses[0].1 + losses[1].1)
            .unwrap();
        other.apply_shards(&both, &losses).unwrap();
        assert_eq!((a.step, a.losses.total), (b.step, b.losses.total));
    }
    let bytes = |s: &Session| block_on(s.save_run()).unwrap();
    assert_eq!(
        bytes(&by_shards),
        bytes(&by_sum),
        "apply_shards took another step"
    );
    assert_eq!(
        bytes(&by_shards),
        bytes(&other),
        "the two workers hold different runs"
    );
}
