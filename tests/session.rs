//! The session core the page drives (`flowmap::session`), natively: every argument check, the
//! bounded sizes, save and load, and KL rows against values computed independently.
#![cfg(not(target_arch = "wasm32"))] // native tests: the browser runs tests/web.rs
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its line

mod common;

use common::*;
use flowmap::checkpoint::{Checkpoint, decode};
use flowmap::config::{Config, Method, ModelConfig};
use flowmap::data::Dataset;
use flowmap::eval::TABLE_STEPS;
use flowmap::metrics::kl_points;
use flowmap::readback::block_on;
use flowmap::rng::Rng;
use flowmap::run_state::{self, RunState};
use flowmap::session::{
    BackendChoice, Facts, MAX_POINT_JUMPS, MAX_POINTS, MAX_STEPS_PER_CALL, Options, Session,
    from_json,
};
use flowmap::trainer::Trainer;

fn options() -> Options {
    Options {
        backend: "flex".into(),
        eval_samples: 20_000,
        sample_count: 500,
        ..Default::default()
    }
}

fn session(method: Method) -> Session {
    Session::new(small(method), options(), &cpu()).expect("session starts")
}

/// A PSD-midpoint session of depth 2 and this width.
fn narrow(width: usize) -> Session {
    let model = ModelConfig {
        width,
        depth: 2,
        ..Default::default()
    };
    let config = Config {
        model,
        ..small(Method::PsdMid)
    };
    Session::new(config, options(), &cpu()).unwrap()
}

fn save(s: &Session) -> Vec<u8> {
    block_on(s.save()).expect("save")
}

#[test]
fn every_bad_argument_is_refused_by_name_and_changes_nothing() {
    let mut s = session(Method::Lsd);
    block_on(s.train(Some(3.0))).unwrap();
    let before = save(&s);
    let sampled = block_on(s.sample(2.0, Some(50.0), false)).unwrap();

    for n in [0.0, -1.0, f64::NAN, 1e9, 2.5, f64::INFINITY, 1025.0] {
        let err = block_on(s.sample(n, None, false)).unwrap_err();
        assert!(err.contains("n_steps"), "sample({n}): {err}");
        let err = block_on(s.kl(Some(n), None)).unwrap_err();
        assert!(err.contains("n_steps"), "kl({n}): {err}");
    }
    for c in [0.0, -3.0, f64::NAN, 1e12, 0.5] {
        let err = block_on(s.train(Some(c))).unwrap_err();
        assert!(err.contains("count"), "train({c}): {err}");
        let err = block_on(s.sample(1.0, Some(c), false)).unwrap_err();
        assert!(err.contains("count"), "sample count {c}: {err}");
        let err = block_on(s.flow_to(0.5, Some(c))).unwrap_err();
        assert!(err.contains("count"), "flow_to count {c}: {err}");
    }
    let err = block_on(s.train(Some((MAX_STEPS_PER_CALL + 1) as f64))).unwrap_err();
    assert!(err.contains(&MAX_STEPS_PER_CALL.to_string()), "{err}");
    for t in [-0.1, 1.5, f64::NAN, f64::INFINITY] {
        let err = block_on(s.flow_to(t, None)).unwrap_err();
        assert!(err.contains("t must be in [0, 1]"), "flow_to({t}): {err}");
        let err = s.interpolant(t, None).unwrap_err();
        assert!(
            err.contains("t must be in [0, 1]"),
            "interpolant({t}): {err}"
        );
    }
    for (bytes, want) in [
        (b"not a checkpoint".to_vec(), "not a flow-map checkpoint"),
        (flip(&before, 30), "corrupt"),
        (before[..before.len() - 1].to_vec(), "corrupt"),
    ] {
        let err = s.load(&bytes).unwrap_err();
        assert!(err.contains(want), "load: '{err}' should say '{want}'");
        assert!(Session::checkpoint_info(&bytes).is_err());
    }

    assert_eq!(s.steps(), 3, "no refused call trained");
    assert_eq!(save(&s), before, "no refused call changed the weights");
    assert_eq!(
        block_on(s.sample(2.0, Some(50.0), false)).unwrap(),
        sampled,
        "no refused call changed the picture noise"
    );
    block_on(s.train(None)).expect("still trains");
    assert_eq!(s.steps(), 4);
}

#[test]
fn sizes_are_bounded_by_their_product_before_any_work() {
    let s = session(Method::Lsd);
    // Each argument in range, the product not: refused at once with the reason.
    let start = std::time::Instant::now();
    let err = block_on(s.sample(1024.0, Some(MAX_POINTS as f64), true)).unwrap_err();
    assert!(err.contains("network evaluations"), "{err}");
    let err = block_on(s.sample(1024.0, Some(5000.0), false)).unwrap_err();
    assert!(err.contains("network evaluations"), "{err}");
    // A trajectory's output counts every stage.
    let err = block_on(s.sample(100.0, Some(20_000.0), true)).unwrap_err();
    assert!(err.contains("trajectory"), "{err}");
    assert!(
        start.elapsed().as_secs_f64() < 5.0,
        "refusals must come before the work"
    );
    // At the bound itself the call is accepted: the page's finest N with 4096 points.
    assert_eq!(MAX_POINT_JUMPS, 1024 * 4096);
    let pts = block_on(s.sample(1024.0, Some(4096.0), false)).unwrap();
    assert_eq!(pts.len(), 2 * 4096);
    // The KL row at a large N with many evaluation samples is bounded the same way.
    let big = Options {
        eval_samples: MAX_POINTS,
        ..options()
    };
    let s = Session::new(small(Method::Lsd), big, &cpu()).unwrap();
    let err = block_on(s.kl(Some(16.0), None)).unwrap_err();
    assert!(err.contains("network evaluations"), "{err}");
}

#[test]
fn bad_configs_and_options_are_refused_by_name() {
    let cases: Vec<(Config, Options, &str)> = vec![
        (
            Config {
                model: ModelConfig {
                    width: 0,
                    ..Default::default()
                },
                ..small(Method::Lsd)
            },
            options(),
            "model.width",
        ),
        (
            small(Method::Lsd),
            Options {
                backend: "cuda".into(),
                ..options()
            },
            "options.backend",
        ),
        (
            small(Method::Lsd),
            Options {
                cpu: "wgpu".into(),
                ..options()
            },
            "options.cpu",
        ),
        (
            small(Method::Lsd),
            Options {
                eval_samples: 0,
                ..options()
            },
            "options.eval_samples",
        ),
        (
            small(Method::Lsd),
            Options {
                sample_count: MAX_POINTS + 1,
                ..options()
            },
            "options.sample_count",
        ),
    ];
    for (config, options, want) in cases {
        let err = Session::new(config, options, &cpu())
            .err()
            .expect("refused");
        assert!(err.contains(want), "'{err}' should name {want}");
    }
    assert_eq!(
        Options::default().validate(),
        Ok(BackendChoice::Auto {
            cpu: flowmap::backend::Backend::Flex
        })
    );
}

#[test]
fn save_and_load_round_trip_bit_exact_and_other_shapes_are_refused() {
    let mut s = session(Method::PsdMid);
    block_on(s.train(Some(5.0))).unwrap();
    let saved = save(&s);
    let info = Session::checkpoint_info(&saved).unwrap();
    assert_eq!((info.width, info.depth, info.step), (32, 2, 5));
    assert_eq!(decode(&saved).unwrap().model, small(Method::PsdMid).model);
    let pts = block_on(s.sample(2.0, Some(50.0), false)).unwrap();

    block_on(s.train(Some(5.0))).unwrap();
    assert_ne!(block_on(s.sample(2.0, Some(50.0), false)).unwrap(), pts);
    s.load(&saved).unwrap();
    assert_eq!(
        save(&s),
        saved,
        "loaded weights are the saved ones, bit for bit"
    );
    assert_eq!(s.steps(), 5);
    assert_eq!(block_on(s.sample(2.0, Some(50.0), false)).unwrap(), pts);

    let mut other = narrow(16);
    let err = other.load(&saved).unwrap_err();
    assert!(err.contains("2x32"), "{err}");
}

/// A checkpoint whose every weight is zero: v = 0, so every jump is the identity and a sample
/// is the base noise itself.
fn identity_map(s: &Session) -> Vec<u8> {
    let mut ck = decode(&save(s)).unwrap();
    for (w, b) in &mut ck.layers {
        w.iter_mut().for_each(|x| *x = 0.0);
        b.iter_mut().for_each(|x| *x = 0.0);
    }
    Checkpoint { step: 0, ..ck }.encode()
}

#[test]
fn kl_rows_match_an_independent_estimate_for_the_identity_map() {
    // With v = 0 the model's samples are N(0, I): KL(checkerboard || N(0, I)) at 20k samples,
    // estimated here from other seeds with the plain histogram functions.
    let mut s = session(Method::Lsd);
    s.load(&identity_map(&s)).unwrap();
    let mut rng = Rng::new(99);
    let truth = Dataset::Checkerboard.sample(&mut rng, 20_000);
    let gauss = flowmap::data::base_noise(&mut rng, 20_000, 1.0);
    let want = kl_points(&truth, &gauss);

    let row = block_on(s.kl(None, None)).unwrap();
    assert_eq!((row.n_steps, row.samples), (1, 20_000), "kl() is one jump");
    assert!(
        (row.kl - want).abs() < 0.05 * want,
        "KL {} against the independent {want}",
        row.kl
    );
    // Identity jumps: every N lands on the same points, so every row is the same number.
    for n in TABLE_STEPS {
        let r = block_on(s.kl(Some(n as f64), None)).unwrap();
        assert_eq!(r.kl, row.kl, "N = {n}");
    }
    // The floor is two true sets of 20k: KL ~ (occupied bins - 1) / (2 n) = 1799 / 40000.
    assert!(
        (0.03..0.07).contains(&row.noise_floor),
        "floor {}",
        row.noise_floor
    );
    // The pictures start from N(0, I) too: `sample` returns the noise, `flow_to` at any t too.
    let noise = block_on(s.sample(3.0, Some(100.0), false)).unwrap();
    assert_eq!(block_on(s.flow_to(0.3, Some(100.0))).unwrap(), noise);
    assert_eq!(s.interpolant(0.0, Some(100.0)).unwrap(), noise);
}

#[test]
fn facts_are_the_crate_constants() {
    let f = Facts::get();
    assert_eq!(f.presets.browser, Config::browser());
    assert_eq!(f.presets.reference, Config::default());
    assert_eq!(f.table_steps, TABLE_STEPS.to_vec());
    assert_eq!(f.limits.max_points, MAX_POINTS);
    assert_eq!(f.plot_range, 2.5);
    assert_eq!(f.reference_kl["psd-mid"][0], 1.496);
    let json = serde_json::to_value(&f).unwrap();
    assert_eq!(json["presets"]["browser"]["model"]["depth"], 5);
}

#[test]
fn json_errors_name_the_field() {
    let err = from_json::<Config>(r#"{"model":{"width":2.5,"depth":3}}"#, "config").unwrap_err();
    assert_eq!(
        err,
        "invalid config: field 'width': invalid type: floating point `2.5`, expected usize"
    );
    let err = from_json::<Config>(r#"{"train":{"lr":"fast"}}"#, "config").unwrap_err();
    assert!(err.contains("field 'lr'"), "{err}");
    let err = from_json::<Config>(r#"{"train":{"lr_typo":1}}"#, "config").unwrap_err();
    assert!(err.contains("lr_typo"), "{err}");
    let err = from_json::<Options>(r#"{"eval_samples":-1}"#, "options").unwrap_err();
    assert!(err.contains("field 'eval_samples'"), "{err}");
    let ok: Config = from_json(r#"{"model":{"depth":3}}"#, "config").unwrap();
    assert_eq!((ok.model.depth, ok.model.width), (3, 256));
}

fn flip(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[at] ^= 1;
    b
}

fn save_run(s: &Session) -> Vec<u8> {
    block_on(s.save_run()).expect("save_run")
}

/// The saved run with one piece changed.
fn edited(bytes: &[u8], edit: impl FnOnce(&mut RunState)) -> Vec<u8> {
    let mut state = run_state::decode(bytes).unwrap();
    edit(&mut state);
    state.encode()
}

/// A resumed run takes the same next steps, bit for bit, as the run that saved it: weights, EMA,
/// AdamW's moments and the data stream all travel. Each piece is needed: the same run resumed
/// without the moments (AdamW restarts) or with the data stream restarted ends up elsewhere, so
/// the test fails if one stops being saved. With EMA (PSD) and without (LSD).
#[test]
fn a_resumed_run_continues_bit_for_bit() {
    for (method, ema) in [(Method::Lsd, None), (Method::PsdMid, Some(0.98))] {
        let mut config = small(method);
        config.train.ema_decay = ema;
        let mut a = Session::new(config, options(), &cpu()).unwrap();
        block_on(a.train(Some(30.0))).unwrap();
        let bytes = save_run(&a);
        let mut b = Session::resume(&bytes, options(), &cpu(), None).unwrap();
        assert_eq!(b.steps(), 30);
        assert_eq!(save_run(&b), bytes, "resume then save gives the same bytes");
        assert_eq!(save(&b), save(&a), "the same sampling weights");

        let no_moments = edited(&bytes, |s| {
            s.moments = None;
            s.adam_steps = 0;
        });
        let fresh_stream = edited(&bytes, |s| s.rng = s.config.train.seed);
        let mut c = Session::resume(&no_moments, options(), &cpu(), None).unwrap();
        let mut d = Session::resume(&fresh_stream, options(), &cpu(), None).unwrap();
        for s in [&mut a, &mut b, &mut c, &mut d] {
            block_on(s.train(Some(20.0))).unwrap();
        }
        assert_eq!(
            save_run(&b),
            save_run(&a),
            "{method:?}: 20 more steps differ"
        );
        assert_ne!(
            save(&c),
            save(&a),
            "{method:?}: AdamW's moments must matter"
        );
        assert_ne!(
            save(&d),
            save(&a),
            "{method:?}: the data stream must matter"
        );
    }
}

/// `auto`'s batch search trains on with a larger batch: exactly the run that resuming with
/// the batch edited into the saved config gives (nothing else changes), not the run that kept
/// its batch. A batch the bounds refuse (MAX_BATCH, or the activations of this network past
/// `batch_limit`) is refused by name and changes nothing.
#[test]
fn a_larger_batch_trains_on_from_the_same_run() {
    let mut a = session(Method::Lsd);
    block_on(a.train(Some(4.0))).unwrap();
    let bytes = save_run(&a);
    let b0 = a.config().train.batch_size;
    let mut kept = Session::resume(&bytes, options(), &cpu(), None).unwrap();
    let mut edit = Session::resume(
        &edited(&bytes, |s| s.config.train.batch_size = 2 * b0),
        options(),
        &cpu(),
        None,
    )
    .unwrap();
    a.set_batch_size((2 * b0) as f64).unwrap();
    assert_eq!(a.config().train.batch_size, 2 * b0);
    for s in [&mut a, &mut kept, &mut edit] {
        block_on(s.train(Some(3.0))).unwrap();
    }
    assert_eq!(save_run(&a), save_run(&edit), "only the batch changed");
    assert_ne!(save(&a), save(&kept), "the larger batch must be used");

    let before = save_run(&a);
    let over_max = (a.batch_limit() + 1) as f64; // this small net is bound by MAX_BATCH
    for bad in [1.0, f64::NAN, 2.5, 1e12, over_max] {
        let err = a.set_batch_size(bad).unwrap_err();
        assert!(
            err.contains("batch"),
            "{bad}: '{err}' should name the batch"
        );
    }
    assert_eq!(a.config().train.batch_size, 2 * b0);
    assert_eq!(save_run(&a), before, "a refused batch changes nothing");
    // A wide net is bound by its activations: batch_limit is the largest batch accepted.
    let mut wide = narrow(2048);
    let limit = wide.batch_limit();
    assert!(limit < flowmap::config::MAX_BATCH, "{limit}");
    let err = wide.set_batch_size((limit + 1) as f64).unwrap_err();
    assert!(err.contains("activations"), "{err}");
    wide.set_batch_size(limit as f64).unwrap();
}

/// `lr` replaces the saved learning rate (restoring a diverged run more gently) and is checked
/// like any config field; a bad file or lr is refused by name.
#[test]
fn resume_takes_a_new_learning_rate_and_refuses_bad_input() {
    let mut a = session(Method::Lsd);
    block_on(a.train(Some(3.0))).unwrap();
    let bytes = save_run(&a);
    let b = Session::resume(&bytes, options(), &cpu(), Some(1e-4)).unwrap();
    assert_eq!(b.config().train.lr, 1e-4);
    assert_eq!(b.steps(), 3);
    for lr in [-1.0, f64::NAN, 0.0, 5.0] {
        let err = Session::resume(&bytes, options(), &cpu(), Some(lr))
            .err()
            .unwrap();
        assert!(err.contains("lr"), "{lr}: {err}");
    }
    let cases: [(&[u8], &str); 4] = [
        (b"", "not a saved run"),
        (&save(&a), "not a saved run"), // a checkpoint is not a run
        (&bytes[..bytes.len() - 1], "corrupt"),
        (&flip(&bytes, 100), "corrupt"),
    ];
    for (bad, want) in cases {
        let err = Session::resume(bad, options(), &cpu(), None).err().unwrap();
        assert!(err.contains(want), "'{err}' should say '{want}'");
    }
    let inconsistent = edited(&bytes, |s| s.adam_steps = 99);
    let err = Session::resume(&inconsistent, options(), &cpu(), None)
        .err()
        .unwrap();
    assert!(err.contains("inconsistent"), "{err}");
}

/// 64-bit FNV-1a, written again here (not the crate's) to re-seal mutated files.
fn reseal(bytes: &mut [u8]) {
    if bytes.len() < 8 {
        return;
    }
    let body = bytes.len() - 8;
    let sum = bytes[..body]
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
        });
    bytes[body..].copy_from_slice(&sum.to_le_bytes());
}

/// One deterministic mutation of `good`: flipped bits anywhere or in the header, a truncation,
/// or an inflated header length; every other one re-sealed with a valid checksum, so that the
/// parser goes past the checksum into the header and the sizes.
fn mutate(good: &[u8], rng: &mut Rng, k: usize) -> Vec<u8> {
    let mut m = good.to_vec();
    match k % 4 {
        0 => {
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(m.len());
                m[at] ^= 1 << rng.below(8);
            }
        }
        1 => {
            let header_end = 12 + u32::from_le_bytes(good[8..12].try_into().unwrap()) as usize;
            let at = 12 + rng.below(header_end - 12);
            m[at] ^= 1 << rng.below(8);
        }
        2 => m.truncate(rng.below(m.len())),
        _ => {
            let hlen = match rng.below(3) {
                0 => u32::MAX - rng.below(16) as u32,
                1 => rng.next_u64() as u32,
                _ => u32::from_le_bytes(good[8..12].try_into().unwrap()) + 1 + rng.below(8) as u32,
            };
            m[8..12].copy_from_slice(&hlen.to_le_bytes());
        }
    }
    if (k / 4) % 2 == 1 {
        reseal(&mut m);
    }
    m
}

/// 10 000 mutations of a real checkpoint and a real saved run (5 000 each): each is refused with
/// an `Err` or is a valid file that loads and trains; none panics.
#[test]
fn mutated_files_are_refused_cleanly_never_a_panic() {
    let mut s = narrow(8);
    block_on(s.train(Some(3.0))).unwrap();
    let (checkpoint, run) = (save(&s), save_run(&s));
    let mut rng = Rng::new(2026);
    let (mut refused, mut valid) = (0, 0);
    for k in 0..5_000 {
        let m = mutate(&checkpoint, &mut rng, k);
        let result = std::panic::catch_unwind(|| decode(&m));
        match result.unwrap_or_else(|_| panic!("checkpoint mutation {k} panicked")) {
            Err(_) => refused += 1,
            Ok(ck) => {
                valid += 1;
                let mut t = Trainer::new(small(Method::PsdMid), &cpu()).unwrap();
                // Another shape is refused by `load`; the same shape loads and trains.
                if ck.model == t.config().model {
                    t.load(&m).unwrap();
                    t.step();
                }
            }
        }
        let m = mutate(&run, &mut rng, k);
        let result = std::panic::catch_unwind(|| run_state::decode(&m));
        match result.unwrap_or_else(|_| panic!("saved-run mutation {k} panicked")) {
            Err(_) => refused += 1,
            Ok(state) => {
                valid += 1;
                let mut t = Trainer::resume(state, &cpu()).unwrap();
                t.step();
            }
        }
    }
    println!("mutations: {refused} refused, {valid} still valid");
    assert!(refused > 5_000, "most mutations must be refused: {refused}");
}

#[test]
fn a_kl_row_in_parts_is_the_whole_row_of_the_step_it_began_at() {
    let mut s = session(Method::Lsd);
    block_on(s.train(Some(30.0))).unwrap();
    let whole = block_on(s.kl(Some(4.0), None)).unwrap();
    assert_eq!(whole.step, 30);

    s.kl_begin(Some(4.0), None, false).unwrap();
    // A bad part size is refused by name and loses nothing: the row goes on.
    for bad in [0.0, -5.0, 2.5, f64::NAN] {
        let e = block_on(s.kl_continue(bad)).unwrap_err();
        assert!(e.contains("points"), "{bad}: {e}");
    }
    // Parts of 3000 of the 20k samples, the run training 5 steps between them.
    let mut parts = 0;
    let row = loop {
        parts += 1;
        if let Some(row) = block_on(s.kl_continue(3000.0)).unwrap() {
            break row;
        }
        block_on(s.train(Some(5.0))).unwrap();
    };
    assert_eq!(parts, 7, "ceil(20000 / 3000) parts");
    assert_eq!((row.step, row.n_steps, row.sampler), (30, 4, "flow-map"));
    // The same samples of the same weights: the same histogram, whatever the parts.
    assert!(
        (row.kl - whole.kl).abs() < 1e-9,
        "in parts {}, whole {}",
        row.kl,
        whole.kl
    );
    // The run did train meanwhile: its row now is another number.
    let now = block_on(s.kl(Some(4.0), None)).unwrap();
    assert_eq!(now.step, 60);
    assert_ne!(now.kl, row.kl);
    // A finished row is gone; continuing without one says what to call.
    let e = block_on(s.kl_continue(100.0)).unwrap_err();
    assert!(e.contains("kl_begin"), "{e}");
    // The table's next row, on the same weights: step 30 still, and its whole row's value.
    let whole_n1 = row_now(&mut s, 1.0, true);
    assert_eq!(whole_n1.step, 30);
    // Fresh weights: the step now.
    assert_eq!(row_now(&mut s, 1.0, false).step, 60);
    // Loaded weights end every row.
    s.kl_begin(Some(1.0), None, false).unwrap();
    s.load(&save(&s)).unwrap();
    assert!(block_on(s.kl_continue(100.0)).is_err());
}

/// A KL row begun and finished at once.
fn row_now(s: &mut Session, n: f64, same_weights: bool) -> flowmap::session::KlReport {
    s.kl_begin(Some(n), None, same_weights).unwrap();
    block_on(s.kl_continue(1e6)).unwrap().unwrap()
}

#[test]
fn the_view_against_the_exact_map_measures_what_it_says() {
    // With v = 0 every jump is the identity: the model's endpoints are the noise itself, so
    // each error is |x0 - X_exact(x0)|, computed here with the exact flow directly.
    let mut s = session(Method::Lsd);
    s.load(&identity_map(&s)).unwrap();
    let view = block_on(s.against_exact(2.0)).unwrap();
    let noise = block_on(s.sample(1.0, None, false)).unwrap();
    assert_eq!(view.model, noise, "identity jumps leave the noise");
    let exact = flowmap::exact::ExactFlow::new(&Dataset::Checkerboard, 1.0).unwrap();
    let want = exact.map_points(&noise, 0.0, 1.0);
    let mut total = 0.0;
    for (k, (p, q)) in noise.chunks(2).zip(want.chunks(2)).enumerate() {
        let e = (p[0] - q[0]).hypot(p[1] - q[1]);
        assert!((view.errors[k] - e).abs() < 1e-5, "point {k}");
        total += e as f64;
    }
    assert!((view.mean_error - total / (noise.len() / 2) as f64).abs() < 1e-6);
    // The triangle: cells with s < t only; the jump from 0 to 1 of the first 256 points is
    // the endpoints' error over those points.
    let side = view.times + 1;
    for i in 0..side {
        for j in 0..side {
            assert_eq!(
                view.triangle[i * side + j].is_nan(),
                i >= j,
                "cell ({i}, {j})"
            );
        }
    }
    let first: f32 = view.errors[..256].iter().sum::<f32>() / 256.0;
    let corner = view.triangle[view.times];
    assert!(
        (corner - first).abs() < 1e-4,
        "X_(0,1) cell {corner}, endpoints {first}"
    );
    // Every cell, not only the corner: with identity jumps cell (i, j) is the mean distance
    // between the exact flow's points at u_i and at u_j (a cell read from another cell's rows
    // fails here).
    let first_noise = &noise[..2 * 256];
    let at = |k: usize| exact.map_points(first_noise, 0.0, k as f64 / view.times as f64);
    for (i, j) in [(0, 5), (3, 7), (6, 12), (10, 11)] {
        let (a, b) = (at(i), at(j));
        let want: f32 = a
            .chunks(2)
            .zip(b.chunks(2))
            .map(|(p, q)| (p[0] - q[0]).hypot(p[1] - q[1]))
            .sum::<f32>()
            / 256.0;
        let got = view.triangle[i * side + j];
        assert!(
            (got - want).abs() < 1e-3,
            "cell ({i}, {j}): {got}, want {want}"
        );
    }
    // A jump of no length... is not on the grid; the shortest jumps move least.
    assert!(
        view.triangle[1] < corner,
        "X_(0,1/12) moves less than X_(0,1)"
    );
    // A target without a closed form says so, by name; bad N is refused by name.
    let config = Config {
        train: flowmap::config::TrainConfig {
            dataset: Dataset::Rings,
            ..small(Method::Lsd).train
        },
        ..small(Method::Lsd)
    };
    let mut rings = Session::new(config, options(), &cpu()).unwrap();
    assert!(
        block_on(rings.against_exact(1.0))
            .unwrap_err()
            .contains("rings")
    );
    assert!(
        block_on(s.against_exact(0.5))
            .unwrap_err()
            .contains("n_steps")
    );
}

/// The session's data-parallel pair: two replicas' shards summed and applied advance both by
/// one step with the same weights; the summed losses are the step's report; a diverged sum is
/// refused by the same rule as `train` (and applies nothing); bad shard numbers are refused by
/// name.
#[test]
fn data_parallel_steps_through_the_session() {
    let mut a = session(Method::Lsd);
    let mut b = session(Method::Lsd);
    let (ga, la) = block_on(a.shard_gradient(0.0, 2.0)).unwrap();
    let (gb, lb) = block_on(b.shard_gradient(1.0, 2.0)).unwrap();
    let sum: Vec<f32> = ga.iter().zip(&gb).map(|(x, y)| x + y).collect();
    let (d, o) = (
        (la.diagonal + lb.diagonal) as f64,
        (la.off_diagonal + lb.off_diagonal) as f64,
    );
    let short = a.apply_gradient(&sum[1..], f64::NAN, o).unwrap_err();
    assert!(short.contains("for a network of"), "{short}");
    assert!(!a.diverged(), "a refused size is checked before the loss");
    let bad = a.apply_gradient(&sum, f64::NAN, o).unwrap_err();
    assert!(bad.contains("training diverged"), "{bad}");
    assert_eq!(a.steps(), 0, "a diverged sum applied nothing");
    assert!(a.diverged());
    let stuck = block_on(a.shard_gradient(0.0, 2.0));
    assert!(
        stuck.is_ok(),
        "the refused step left no shard pending: {stuck:?}"
    );
    let mut a = session(Method::Lsd);
    let (again, _) = block_on(a.shard_gradient(0.0, 2.0)).unwrap();
    assert_eq!(again, ga, "a fresh replica's shard of the same step");
    let ra = a.apply_gradient(&sum, d, o).unwrap();
    let rb = b.apply_gradient(&sum, d, o).unwrap();
    assert_eq!((ra.step, rb.step), (1, 1));
    assert!((ra.losses.total as f64 - (d + o)).abs() < 1e-6);
    assert_eq!(
        block_on(a.save_run()).unwrap(),
        block_on(b.save_run()).unwrap(),
        "the replicas differ after one step"
    );
    for (k, n, what) in [
        (0.0, 0.0, "shards"),
        (2.0, 2.0, "shard"),
        (0.5, 2.0, "shard"),
    ] {
        let e = block_on(a.shard_gradient(k, n)).unwrap_err();
        assert!(
            e.starts_with(&format!("{what} must be a whole number")),
            "{e}"
        );
    }
}
