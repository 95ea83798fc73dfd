//! The browser API in a real browser (`wasm-pack test --headless --chrome`): a session on the
//! CPU backends trains, samples and estimates KL; bad input throws and changes nothing; weights
//! round-trip; and the same API runs on WebGPU at tiny sizes.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its line

use flowmap::web::Session;
use js_sys::{Float32Array, JSON, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// A JS object from JSON text.
fn js(json: &str) -> JsValue {
    JSON::parse(json).expect("test JSON parses")
}

/// A small, fast recipe on a CPU backend.
fn small_config() -> JsValue {
    js(
        r#"{"model":{"width":32,"depth":2},"train":{"batch_size":256,"lr":0.003,"steps":200,"warmup_steps":10,"seed":3}}"#,
    )
}

fn cpu_options(backend: &str) -> JsValue {
    js(&format!(
        r#"{{"backend":"{backend}","eval_samples":4000,"sample_count":500}}"#
    ))
}

async fn session(backend: &str) -> Session {
    create(small_config(), cpu_options(backend)).await
}

/// A session that must start.
async fn create(config: JsValue, options: JsValue) -> Session {
    Session::create(config, options)
        .await
        .map_err(JsValue::from)
        .expect("session starts")
}

/// `count` optimizer steps that must succeed; the last step's report.
async fn train(s: &mut Session, count: f64) -> JsValue {
    s.train_step(Some(count))
        .await
        .map_err(JsValue::from)
        .expect("training step")
}

fn num(obj: &JsValue, key: &str) -> f64 {
    Reflect::get(obj, &key.into())
        .expect("field")
        .as_f64()
        .expect("a number")
}

fn message(err: JsError) -> String {
    let v = JsValue::from(err);
    Reflect::get(&v, &"message".into())
        .unwrap()
        .as_string()
        .unwrap_or_default()
}

/// `count` points after `n_steps` jumps, on the host.
async fn points(s: &Session, n_steps: f64, count: f64) -> Vec<f32> {
    s.sample(n_steps, Some(count), None)
        .await
        .map_err(JsValue::from)
        .expect("sample")
        .to_vec()
}

fn all_finite(a: &Float32Array) -> bool {
    a.to_vec().iter().all(|x| x.is_finite())
}

async fn trains_samples_and_scores(backend: &str) {
    let mut s = session(backend).await;
    assert_eq!(s.backend(), backend);
    let first = num(&train(&mut s, 5.0).await, "total");
    for _ in 0..8 {
        train(&mut s, 5.0).await;
    }
    let report = train(&mut s, 5.0).await;
    let last = num(&report, "total");
    assert_eq!(num(&report, "step") as usize, 50);
    assert!(
        last < first,
        "{backend}: loss did not fall over 50 steps: {first} -> {last}"
    );

    let pts = s
        .sample(4.0, Some(300.0), None)
        .await
        .map_err(JsValue::from)
        .unwrap();
    assert_eq!(pts.length(), 600);
    assert!(all_finite(&pts));
    let traj = s
        .sample(4.0, Some(10.0), Some(true))
        .await
        .map_err(JsValue::from)
        .unwrap();
    assert_eq!(
        traj.length(),
        5 * 10 * 2,
        "trajectory: N + 1 stages of n points"
    );

    let kl = s.kl(None, None).await.map_err(JsValue::from).unwrap();
    assert_eq!(num(&kl, "n_steps"), 1.0, "kl() scores one jump by default");
    let kl = s.kl(Some(2.0), None).await.map_err(JsValue::from).unwrap();
    let (k, floor) = (num(&kl, "kl"), num(&kl, "noise_floor"));
    // The floor is the crate's own estimate for this seed and size, computed here natively; a
    // model of a few steps is far from the target, well above it.
    let want = flowmap::eval::Evaluator::new(Default::default(), 4000, 3, 1.0).noise_floor;
    assert_eq!(floor, want, "noise floor");
    assert!(k.is_finite() && k > 2.0 * floor, "kl {k} floor {floor}");

    // The same row in parts of 1500 points with training between them: the row of the step it
    // began at, the same number.
    let at = s.steps();
    s.kl_begin(Some(2.0), None, None)
        .map_err(JsValue::from)
        .unwrap();
    let row = loop {
        let part = s.kl_continue(1500.0).await.map_err(JsValue::from).unwrap();
        if !part.is_null() {
            break part;
        }
        s.train_step(Some(2.0))
            .await
            .map_err(JsValue::from)
            .unwrap();
    };
    assert_eq!(num(&row, "step"), at as f64, "the row's step");
    assert!(
        (num(&row, "kl") - k).abs() < 1e-9,
        "in parts {} whole {k}",
        num(&row, "kl")
    );
    let e = s.kl_continue(10.0).await.err().unwrap();
    assert!(message(e).contains("kl_begin"));
}

#[wasm_bindgen_test]
fn facts_reach_js_as_the_crate_has_them() {
    let facts = Session::facts().map_err(JsValue::from).unwrap();
    let get = |path: &str| {
        path.split('.').fold(facts.clone(), |v, k| {
            Reflect::get(&v, &k.into()).expect("field")
        })
    };
    let browser = flowmap::config::Config::browser();
    assert_eq!(
        get("presets.browser.model.width").as_f64(),
        Some(browser.model.width as f64)
    );
    assert_eq!(
        get("presets.browser.train.lr").as_f64(),
        Some(browser.train.lr)
    );
    assert_eq!(
        get("limits.max_n_steps").as_f64(),
        Some(flowmap::sample::MAX_STEPS as f64)
    );
    assert_eq!(get("plot_range").as_f64(), Some(2.5));
    let steps = js_sys::Array::from(&get("table_steps"));
    assert_eq!(steps.length(), 5);
    assert_eq!(steps.get(2).as_f64(), Some(4.0));
    assert_eq!(
        js_sys::Array::from(&get("reference_kl.lsd"))
            .get(0)
            .as_f64(),
        Some(0.405)
    );
    assert_eq!(
        get("presets.browser.train.huber").as_f64(),
        browser.train.huber
    );
    // The worker asks which options need the WebGPU module instead of keeping the names.
    for (options, webgpu) in [
        (r#"{"backend":"webgpu"}"#, true),
        (r#"{"backend":"wgpu"}"#, true),
        (r#"{"backend":"auto"}"#, false),
        (r#"{"backend":"flex"}"#, false),
        (r#"{"backend":"webgpu","cpu":"wgpu"}"#, false), // invalid: create reports it
        (r#"{"backend":"vulkan"}"#, false),
        ("null", false),
    ] {
        assert_eq!(Session::needs_webgpu(js(options)), webgpu, "{options}");
    }
}

#[wasm_bindgen_test]
async fn ndarray_session_trains_samples_and_scores() {
    trains_samples_and_scores("ndarray").await;
}

#[wasm_bindgen_test]
async fn flex_session_trains_samples_and_scores() {
    trains_samples_and_scores("flex").await;
}

#[wasm_bindgen_test]
async fn bad_input_throws_and_changes_nothing() {
    let mut s = session("ndarray").await;
    train(&mut s, 3.0).await;
    let before = s.save().await.map_err(JsValue::from).unwrap().to_vec();

    for n in [0.0, -1.0, f64::NAN, 1e9, 2.5, f64::INFINITY] {
        let err = s
            .sample(n, None, None)
            .await
            .expect_err("bad n_steps must throw");
        assert!(message(err).contains("n_steps"), "sample({n})");
        let err = s
            .kl(Some(n), None)
            .await
            .expect_err("bad n_steps must throw");
        assert!(message(err).contains("n_steps"), "kl({n})");
    }
    for c in [0.0, -3.0, f64::NAN, 1e12] {
        let err = s
            .train_step(Some(c))
            .await
            .expect_err("bad count must throw");
        assert!(message(err).contains("count"), "train_step({c})");
        let err = s
            .sample(1.0, Some(c), None)
            .await
            .expect_err("bad count must throw");
        assert!(message(err).contains("count"));
    }
    let err = s
        .load(b"not a checkpoint")
        .expect_err("garbage must not load");
    assert!(message(err).contains("not a flow-map checkpoint"));
    let mut flipped = before.clone();
    flipped[30] ^= 1;
    assert!(message(s.load(&flipped).err().unwrap()).contains("corrupt"));

    assert_eq!(s.steps(), 3, "no step ran");
    assert_eq!(
        s.save().await.map_err(JsValue::from).unwrap().to_vec(),
        before,
        "model unchanged"
    );
    // Still usable.
    s.train_step(None).await.map_err(JsValue::from).unwrap();
    assert_eq!(s.steps(), 4);
}

#[wasm_bindgen_test]
async fn malformed_configs_are_rejected_with_messages() {
    let cases = [
        (r#"{"train":{"lr":-1}}"#, "lr"),
        (r#"{"train":{"batch_size":0}}"#, "batch_size"),
        (
            r#"{"model":{"width":"wide"}}"#,
            "invalid config: field 'width'",
        ),
        (r#"{"tarin":{}}"#, "invalid config"),
        (r#"{"train":{"method":"magic"}}"#, "invalid config"),
        (r#""just a string""#, "invalid config"),
    ];
    for (json, want) in cases {
        let err = Session::create(js(json), cpu_options("ndarray"))
            .await
            .err()
            .unwrap_or_else(|| panic!("{json} must be rejected"));
        let m = message(err);
        assert!(m.contains(want), "{json}: '{m}' should mention '{want}'");
    }
    let err = Session::create(small_config(), js(r#"{"backend":"tpu"}"#))
        .await
        .err()
        .unwrap();
    assert!(message(err).contains("options.backend must be auto, webgpu, flex or ndarray"));
}

#[wasm_bindgen_test]
async fn weights_round_trip_through_bytes() {
    let mut s = session("ndarray").await;
    train(&mut s, 5.0).await;
    let saved: Uint8Array = s.save().await.map_err(JsValue::from).unwrap();
    let pts = points(&s, 2.0, 50.0).await;
    train(&mut s, 5.0).await;
    assert_ne!(points(&s, 2.0, 50.0).await, pts);
    s.load(&saved.to_vec()).map_err(JsValue::from).unwrap();
    assert_eq!(
        s.save().await.map_err(JsValue::from).unwrap().to_vec(),
        saved.to_vec()
    );
    assert_eq!(points(&s, 2.0, 50.0).await, pts);

    let mut other = create(
        js(r#"{"model":{"width":16,"depth":2}}"#),
        cpu_options("ndarray"),
    )
    .await;
    assert!(message(other.load(&saved.to_vec()).err().unwrap()).contains("2x32"));

    // The header can be read without loading: what the page needs to adopt an architecture.
    let info = Session::checkpoint_info(&saved.to_vec())
        .map_err(JsValue::from)
        .unwrap();
    assert_eq!(
        (num(&info, "width"), num(&info, "depth"), num(&info, "step")),
        (32.0, 2.0, 5.0)
    );
    let err = Session::checkpoint_info(b"junk").expect_err("junk has no header");
    assert!(message(err).contains("not a flow-map checkpoint"));
}

/// WebGPU in headless Chromium runs on SwiftShader (slow): tiny sizes only.
#[wasm_bindgen_test]
async fn webgpu_session_runs_the_same_api() {
    let config = js(r#"{"model":{"width":8,"depth":1},"train":{"batch_size":16,"steps":10}}"#);
    let options = js(r#"{"backend":"webgpu","eval_samples":64,"sample_count":32}"#);
    let mut s = create(config, options).await;
    assert_eq!(s.backend(), "webgpu");
    let r = train(&mut s, 2.0).await;
    assert!(num(&r, "total").is_finite());
    let pts = s
        .sample(2.0, None, None)
        .await
        .map_err(JsValue::from)
        .unwrap();
    assert_eq!(pts.length(), 64);
    assert!(all_finite(&pts));
    let kl = s.kl(None, None).await.map_err(JsValue::from).unwrap();
    let floor = flowmap::eval::Evaluator::new(Default::default(), 64, 0, 1.0).noise_floor;
    assert_eq!(
        num(&kl, "noise_floor"),
        floor,
        "the same estimator as natively"
    );
    assert!(num(&kl, "kl") > 0.0 && num(&kl, "kl").is_finite());
    let bytes = s.save().await.map_err(JsValue::from).unwrap();
    s.load(&bytes.to_vec()).map_err(JsValue::from).unwrap();
    assert!(s.sample(1.0, Some(0.0), None).await.is_err());

    // A second session (what the page's Reset does) reuses the initialised WebGPU runtime.
    let config = js(r#"{"model":{"width":8,"depth":1},"train":{"batch_size":16}}"#);
    let options = js(r#"{"backend":"auto","eval_samples":64,"sample_count":32}"#);
    let again = create(config, options).await;
    assert_eq!(again.backend(), "webgpu", "{}", again.backend_note());
}

/// What `auto` does after a WebGPU win, through the JS API: the crate's verdict, the run
/// moved from the CPU to WebGPU with its step and weights, and the batch search there.
#[wasm_bindgen_test]
async fn auto_moves_a_run_to_webgpu_and_grows_its_batch() {
    let auto = js(r#"{"backend":"auto"}"#);
    let v = Session::choose_backend(15.2, Some(3.1), None, None, auto.clone())
        .map_err(JsValue::from)
        .unwrap();
    let field = |k: &str| Reflect::get(&v, &k.into()).unwrap().as_string().unwrap();
    assert_eq!(field("backend"), "webgpu");
    assert_eq!(field("note"), "WebGPU 3.10 ms/step (CPU 15.2) → WebGPU");
    let v = Session::choose_backend(1.0, None, Some("no adapter".into()), None, auto.clone())
        .map_err(JsValue::from)
        .unwrap();
    let backend = Reflect::get(&v, &"backend".into()).unwrap().as_string();
    assert_eq!(backend.as_deref(), Some("flex"));
    let v = Session::choose_backend(15.0, None, None, Some(vec![15.0, 84.5]), auto.clone())
        .map_err(JsValue::from)
        .unwrap();
    let note = note_of(&v);
    assert!(note.contains("slowed the run from 15.0 to 84.5"), "{note}");
    let bad = Session::choose_backend(15.0, None, None, Some(vec![15.0]), auto.clone());
    assert!(message(bad.err().unwrap()).contains("before_ms"));
    let forced = Session::choose_backend(1.0, Some(0.5), None, None, cpu_options("flex"));
    assert!(message(forced.err().unwrap()).contains("auto"));
    assert!(Session::choose_backend(f64::NAN, Some(0.5), None, None, auto.clone()).is_err());
    // A software adapter is not timed; a real one is (null).
    let swiftshader =
        js(r#"{"vendor":"google","architecture":"swiftshader","isFallbackAdapter":false}"#);
    let v = Session::adapter_verdict(swiftshader, auto.clone())
        .map_err(JsValue::from)
        .unwrap();
    let note = note_of(&v);
    assert!(
        note.contains("SwiftShader") && note.ends_with("→ CPU (flex)"),
        "{note}"
    );
    let gpu = js(r#"{"vendor":"nvidia","architecture":"ampere"}"#);
    assert!(
        Session::adapter_verdict(gpu, auto.clone())
            .map_err(JsValue::from)
            .unwrap()
            .is_null()
    );
    assert!(Session::trial_starves(15.0, 30.1) && !Session::trial_starves(15.0, 29.9));
    let odd = js(r#"{"vendor":"nvidia","cores":9}"#);
    assert!(Session::adapter_verdict(odd, auto.clone()).is_err());

    let config = js(r#"{"model":{"width":8,"depth":1},"train":{"batch_size":16,"steps":10}}"#);
    let mut cpu = create(config, cpu_options("flex")).await;
    train(&mut cpu, 3.0).await;
    let run = cpu.save_run().await.map_err(JsValue::from).unwrap();
    let gpu_options = js(r#"{"backend":"webgpu","eval_samples":64,"sample_count":32}"#);
    let mut gpu = Session::resume(&run.to_vec(), gpu_options, None)
        .await
        .map_err(JsValue::from)
        .unwrap();
    assert_eq!((gpu.backend().as_str(), gpu.steps()), ("webgpu", 3));
    let same = |a: Uint8Array, b: Uint8Array| a.to_vec() == b.to_vec();
    let w_cpu = cpu.save().await.map_err(JsValue::from).unwrap();
    let w_gpu = gpu.save().await.map_err(JsValue::from).unwrap();
    assert!(same(w_cpu, w_gpu), "the same weights");

    let grow = |timed: &str| gpu.grow_batch(js(timed)).map_err(JsValue::from);
    let search = grow("[[16, 2.0], [32, 2.5]]").unwrap();
    assert_eq!(num(&search, "next"), 64.0);
    assert_eq!(num(&search, "keep"), 32.0);
    let search = grow("[[16, 2.0], [32, 4.0]]").unwrap();
    assert!(Reflect::get(&search, &"next".into()).unwrap().is_null());
    assert_eq!(num(&search, "keep"), 16.0);
    assert!(grow("[[16, 2.0], [48, 2.0]]").is_err());
    gpu.set_batch_size(32.0).map_err(JsValue::from).unwrap();
    assert!(gpu.set_batch_size(1e9).is_err());
    let r = train(&mut gpu, 2.0).await;
    assert_eq!(num(&r, "step"), 5.0);
    let config = gpu.config().map_err(JsValue::from).unwrap();
    let train_config = Reflect::get(&config, &"train".into()).unwrap();
    assert_eq!(num(&train_config, "batch_size"), 32.0);
}

/// X_{0,t} of `count` base points, on the host.
async fn flow_to(s: &Session, t: f64, count: f64) -> Vec<f32> {
    s.flow_to(t, Some(count))
        .await
        .map_err(JsValue::from)
        .expect("flow_to")
        .to_vec()
}

/// I_t of `count` base points, on the host.
fn interpolant(s: &Session, t: f64, count: f64) -> Vec<f32> {
    s.interpolant(t, Some(count))
        .map_err(JsValue::from)
        .expect("interpolant")
        .to_vec()
}

#[wasm_bindgen_test]
async fn time_slider_and_interpolant_line_up_with_sampling() {
    let mut s = session("flex").await;
    train(&mut s, 20.0).await;
    let base = interpolant(&s, 0.0, 200.0);
    // X_{0,0} is the identity, so the slider at t = 0 shows the base points I_0 = x0 ...
    assert_eq!(flow_to(&s, 0.0, 200.0).await, base);
    // ... and at t = 1 it is one-step sampling from the same noise.
    let one_jump = flow_to(&s, 1.0, 200.0).await;
    assert_eq!(one_jump, points(&s, 1.0, 200.0).await);
    let half = flow_to(&s, 0.5, 200.0).await;
    assert!(half != base && half != one_jump, "t = 0.5 is neither end");

    // I_1 are checkerboard samples, and I_t is the straight line between the ends.
    let target = interpolant(&s, 1.0, 200.0);
    for p in target.chunks(2) {
        let (i, j) = ((p[0] + 2.0).floor() as i32, (p[1] + 2.0).floor() as i32);
        assert!(
            (i + j) % 2 == 0,
            "({}, {}) is not on a black cell",
            p[0],
            p[1]
        );
    }
    let mid = interpolant(&s, 0.25, 200.0);
    for k in 0..mid.len() {
        let want = 0.75 * base[k] + 0.25 * target[k];
        assert!(
            (mid[k] - want).abs() < 1e-5,
            "I_0.25[{k}] {} != {want}",
            mid[k]
        );
    }

    for t in [-0.1, 1.5, f64::NAN, f64::INFINITY] {
        let err = s.flow_to(t, None).await.expect_err("bad t must throw");
        assert!(message(err).contains("t must be in [0, 1]"), "flow_to({t})");
        let err = s.interpolant(t, None).expect_err("bad t must throw");
        assert!(
            message(err).contains("t must be in [0, 1]"),
            "interpolant({t})"
        );
    }
}

#[wasm_bindgen_test]
async fn other_datasets_and_drawings_train_and_bad_drawings_are_refused() {
    let moons = js(
        r#"{"model":{"width":32,"depth":2},"train":{"dataset":"two-moons","batch_size":128,"seed":1}}"#,
    );
    let mut s = create(moons, cpu_options("flex")).await;
    train(&mut s, 5.0).await;
    let config = JSON::stringify(&s.config().map_err(JsValue::from).unwrap()).unwrap();
    assert!(String::from(config).contains("two-moons"));

    // All the mass in the bottom-right cell of a 2x2 drawing.
    let drawn = js(
        r#"{"model":{"width":32,"depth":2},"train":{"dataset":{"drawn":{"size":2,"cells":[0,0,0,1]}},"batch_size":128}}"#,
    );
    let mut s = create(drawn, cpu_options("flex")).await;
    train(&mut s, 5.0).await;
    let target = interpolant(&s, 1.0, 300.0);
    assert!(target.chunks(2).all(|p| p[0] >= 0.0 && p[1] <= 0.0));
    let kl = s.kl(Some(1.0), None).await.map_err(JsValue::from).unwrap();
    assert!(num(&kl, "kl").is_finite());

    let cases = [
        (
            r#"{"train":{"dataset":{"drawn":{"size":2,"cells":[0,0,0,0]}}}}"#,
            "empty",
        ),
        (
            r#"{"train":{"dataset":{"drawn":{"size":2,"cells":[1,1]}}}}"#,
            "needs 4 cells",
        ),
        (
            r#"{"train":{"dataset":{"drawn":{"size":2,"cells":[1,-1,0,0]}}}}"#,
            ">= 0",
        ),
        (r#"{"train":{"dataset":"swiss-roll"}}"#, "invalid config"),
    ];
    for (json, want) in cases {
        let m = message(
            Session::create(js(json), cpu_options("ndarray"))
                .await
                .err()
                .unwrap_or_else(|| panic!("{json} must be rejected")),
        );
        assert!(m.contains(want), "{json}: '{m}' should mention '{want}'");
    }
}

#[wasm_bindgen_test]
async fn a_diverging_run_is_reported_not_drawn() {
    // lr 1 with no clipping blows the weights up within a few steps.
    let config = js(
        r#"{"model":{"width":32,"depth":3},"train":{"lr":1.0,"warmup_steps":1,"grad_clip":null,"batch_size":256}}"#,
    );
    let mut s = create(config, cpu_options("flex")).await;
    let mut error = None;
    for _ in 0..20 {
        if let Err(e) = s.train_step(Some(5.0)).await {
            error = Some(message(e));
            break;
        }
    }
    let m = error.expect("lr 1 without clipping must be reported as divergence");
    assert!(m.contains("diverged"), "{m}");
}

/// A verdict's `note`.
fn note_of(verdict: &JsValue) -> String {
    Reflect::get(verdict, &"note".into())
        .unwrap()
        .as_string()
        .unwrap()
}

/// Two replicas through the JS API (what a panel's workers do): each takes its shard's
/// gradient; one applies the arrays summed here (`apply_gradient`), the other hands the other
/// shard's array and both shards' losses to `apply_shards`, which sums them with its own kept
/// buffer in wasm; both hold the same run. A gradient of the wrong size, or losses that are not
/// one pair per shard, or a shard's array missing, throw and change nothing. A shard's gradient
/// is written into an array handed in where it fits.
#[wasm_bindgen_test]
async fn two_replicas_take_one_data_parallel_step() {
    let mut a = session("flex").await;
    let mut b = session("flex").await;
    let ga = a
        .shard_gradient(0.0, 2.0, None)
        .await
        .map_err(JsValue::from)
        .unwrap();
    let gb = b
        .shard_gradient(1.0, 2.0, None)
        .await
        .map_err(JsValue::from)
        .unwrap();
    let ga_step0 = ga.to_vec();
    let (la, lb) = (
        a.last_shard_losses().unwrap(),
        b.last_shard_losses().unwrap(),
    );
    let sum: Vec<f32> = ga
        .to_vec()
        .iter()
        .zip(gb.to_vec())
        .map(|(x, y)| x + y)
        .collect();
    let (da, db) = (num(&la, "diagonal"), num(&lb, "diagonal"));
    let (oa, ob) = (num(&la, "off_diagonal"), num(&lb, "off_diagonal"));
    let (d, o) = (da + db, oa + ob);
    let short = message(a.apply_gradient(&sum[1..], d, o).unwrap_err());
    assert!(short.contains("for a network of"), "{short}");
    let missing = message(b.apply_shards(vec![], &[db], &[ob]).unwrap_err());
    assert!(
        missing.contains("0 other shards' gradients for a step of 2 shards"),
        "{missing}"
    );
    let unpaired = b.apply_shards(vec![ga.clone()], &[da], &[oa, ob]);
    let unpaired = message(unpaired.unwrap_err());
    assert!(
        unpaired.contains("2 shards' gradients with 1 diagonal and 2 off-diagonal losses"),
        "{unpaired}"
    );
    assert_eq!((a.steps(), b.steps()), (0, 0));
    let report_a = a.apply_gradient(&sum, d, o).map_err(JsValue::from).unwrap();
    assert_eq!(num(&report_a, "step"), 1.0);
    assert!((num(&report_a, "total") - (d + o)).abs() < 1e-5);
    let report = b
        .apply_shards(vec![ga], &[da, db], &[oa, ob])
        .map_err(JsValue::from)
        .unwrap();
    assert_eq!(num(&report, "step"), 1.0);
    assert_eq!(
        num(&report, "total"),
        num(&report_a, "total"),
        "the losses' sum"
    );
    let run_a = a.save_run().await.map_err(JsValue::from).unwrap().to_vec();
    let run_b = b.save_run().await.map_err(JsValue::from).unwrap().to_vec();
    assert_eq!(run_a, run_b, "the replicas differ");

    // The next step writes into an array handed in (one another worker sent: `gb`, full of
    // step 0's values) and returns that array, with the values a new array gets.
    let g2 = a
        .shard_gradient(0.0, 2.0, Some(gb.clone()))
        .await
        .map_err(JsValue::from)
        .unwrap();
    assert!(js_sys::Object::is(&g2, &gb), "not the array handed in");
    let fresh = b
        .shard_gradient(0.0, 2.0, None)
        .await
        .map_err(JsValue::from)
        .unwrap();
    assert_eq!(g2.to_vec(), fresh.to_vec());
    assert_ne!(g2.to_vec(), ga_step0, "step 1's gradient, not step 0's");
    // One of another length is left as it is, and a new array comes back.
    let mut c = session("flex").await;
    let short = Float32Array::new_with_length(3);
    let gc = c
        .shard_gradient(0.0, 2.0, Some(short.clone()))
        .await
        .map_err(JsValue::from)
        .unwrap();
    assert!(!js_sys::Object::is(&gc, &short));
    assert_eq!(short.to_vec(), vec![0.0; 3]);
    assert_eq!(gc.to_vec(), ga_step0, "the same run's step 0");
}

/// The vectorised sigmoid as the page runs it (SIMD128 lanes; natively, and GELU's normal CDF:
/// tests/activation.rs), within 2 ulp of the float64 formula, the clamp below -87 at exp(-87),
/// NaN kept.
#[wasm_bindgen_test]
fn the_vectorised_sigmoid_is_within_two_ulp_in_wasm() {
    let mut xs: Vec<f32> = (-80_000..=80_000).map(|i| i as f32 * 1.1e-3).collect();
    xs.push(f32::NAN);
    let mut got = vec![0.0; xs.len()];
    flowmap::activation::sigmoid_into(&xs, &mut got);
    assert!(got.pop().unwrap().is_nan(), "NaN must stay NaN");
    xs.pop();
    for (&x, &s) in xs.iter().zip(&got) {
        let want = 1.0 / (1.0 + (-(x as f64)).exp());
        if x < -87.0 {
            assert!((0.0..1.7e-38).contains(&s), "sig({x}) = {s}, want {want:e}");
            continue;
        }
        let ulp = f32::EPSILON as f64 * want.max(f32::MIN_POSITIVE as f64);
        let err = (s as f64 - want).abs() / ulp;
        assert!(err <= 2.0, "sig({x}) = {s}, want {want}: {err:.2} ulp");
    }
}
