//! The browser API: the only file that knows about JS.
//!
//! One long-lived handle, [`Session`], owns a trainer and answers with small results: plain
//! objects of numbers, `Float32Array`s of points, `Uint8Array`s of weights. Every read from the
//! device is asynchronous, as WebGPU requires. Every argument is checked before anything
//! changes, so a bad call throws a `JsError` and leaves the session as it was.

use crate::backend::Backend;
use crate::checkpoint::Checkpoint;
use crate::config::Config;
use crate::eval::{Evaluator, TABLE_STEPS};
use crate::interpolant::interpolate;
use crate::rng::Rng;
use crate::sample::{check_steps, points_tensor, trajectory};
use crate::trainer::{Losses, Trainer};
use burn::tensor::{Device, Tensor};
use js_sys::{Float32Array, Uint8Array};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

/// Page-side options that are not part of the training config.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Options {
    /// "auto" (WebGPU if it initialises, else `cpu`), "webgpu", "ndarray" or "flex".
    backend: String,
    /// The CPU backend used by "auto" without WebGPU. flex is measured ~2x faster than ndarray
    /// in Chromium (see README); ndarray stays available.
    cpu: String,
    /// Samples per KL histogram. The reference estimator uses 100k; 20k keeps a table refresh
    /// around a second in a tab, and the reported noise floor is computed at the same size.
    eval_samples: usize,
    /// Points `sample` returns when no count is given.
    sample_count: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            backend: "auto".into(),
            cpu: "flex".into(),
            eval_samples: 20_000,
            sample_count: 4_000,
        }
    }
}

/// Most points one `sample` call returns, and most samples per KL histogram.
const MAX_POINTS: usize = 1_000_000;
/// Most optimizer steps one `train_step` call runs (the worker calls it in a loop).
const MAX_STEPS_PER_CALL: usize = 10_000;

#[derive(Serialize)]
struct StepReport {
    #[serde(flatten)]
    losses: Losses,
    step: usize,
    lr: f64,
}

#[derive(Serialize)]
struct KlReport {
    n_steps: usize,
    kl: f64,
    noise_floor: f64,
    samples: usize,
}

/// A training run in the browser.
#[wasm_bindgen]
pub struct Session {
    trainer: Trainer,
    device: Device,
    backend: Backend,
    note: String,
    evaluator: Evaluator,
    options: Options,
    /// The N of the last `sample` call: what the page shows, and what `kl()` scores by default.
    current_n: std::cell::Cell<usize>,
}

#[wasm_bindgen]
impl Session {
    /// `Session.create(config, options)`: `config` as in config.rs (missing fields take their
    /// defaults), `options` as [`Options`]. Resolves to a session; rejects with a message.
    pub async fn create(config: JsValue, options: JsValue) -> Result<Session, JsError> {
        console_error_panic_hook::set_once();
        let config: Config = from_js(config, "config")?;
        let options: Options = from_js(options, "options")?;
        config.validate().map_err(|e| JsError::new(&e))?;
        check_count(options.eval_samples, "options.eval_samples")?;
        check_count(options.sample_count, "options.sample_count")?;
        let cpu = match Backend::parse(&options.cpu).map_err(|e| JsError::new(&e))? {
            Backend::Wgpu => return Err(JsError::new("options.cpu must be flex or ndarray")),
            b => b,
        };
        let (backend, device, note) = match options.backend.as_str() {
            "auto" => match webgpu_device().await {
                Ok(d) => (Backend::Wgpu, d, "WebGPU".to_string()),
                Err(why) => (cpu, cpu.device(), format!("CPU ({}): {why}", cpu.name())),
            },
            "webgpu" | "wgpu" => {
                let d = webgpu_device().await.map_err(|e| JsError::new(&e))?;
                (Backend::Wgpu, d, "WebGPU".to_string())
            }
            other => {
                let b = Backend::parse(other).map_err(|e| JsError::new(&e))?;
                (b, b.device(), format!("CPU ({})", b.name()))
            }
        };
        let evaluator = Evaluator::new(
            config.train.dataset.clone(),
            options.eval_samples,
            config.train.seed,
            config.model.sigma,
        );
        let trainer = Trainer::new(config, &device).map_err(|e| JsError::new(&e))?;
        Ok(Session {
            trainer,
            device,
            backend,
            note,
            evaluator,
            options,
            current_n: 1.into(),
        })
    }

    /// "webgpu", "flex" or "ndarray".
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        match self.backend {
            Backend::Wgpu => "webgpu".into(),
            b => b.name().into(),
        }
    }

    /// Why this backend: "WebGPU", or the reason WebGPU was not used.
    #[wasm_bindgen(getter)]
    pub fn backend_note(&self) -> String {
        self.note.clone()
    }

    /// Floating-point operations of one optimizer step (matrix products), for GFLOP/s figures.
    #[wasm_bindgen(getter)]
    pub fn flops_per_step(&self) -> f64 {
        crate::flops::step_flops(self.trainer.config())
    }

    /// Optimizer steps done so far.
    #[wasm_bindgen(getter)]
    pub fn steps(&self) -> usize {
        self.trainer.steps_done()
    }

    /// The full config in use (defaults filled in).
    #[wasm_bindgen(getter)]
    pub fn config(&self) -> Result<JsValue, JsError> {
        to_js(self.trainer.config())
    }

    /// Run `count` optimizer steps (default 1); resolves to the last step's
    /// `{diagonal, off_diagonal, total, step, lr}`.
    pub async fn train_step(&mut self, count: Option<f64>) -> Result<JsValue, JsError> {
        let count = match count {
            None => 1,
            Some(c) => integer(c, "count", 1, MAX_STEPS_PER_CALL)?,
        };
        let mut last = None;
        for _ in 0..count {
            last = Some(self.trainer.step());
        }
        let lr = self
            .trainer
            .config()
            .train
            .lr_at(self.trainer.steps_done() - 1);
        let losses = last
            .expect("count >= 1")
            .read_async()
            .await
            .map_err(|e| JsError::new(&e))?;
        if losses.diverged() {
            return Err(JsError::new(&format!(
                "training diverged: the loss is {} at step {}; lower the learning rate and reset",
                losses.total,
                self.trainer.steps_done()
            )));
        }
        to_js(&StepReport {
            losses,
            step: self.trainer.steps_done(),
            lr,
        })
    }

    /// Points after `n_steps` jumps: a Float32Array of `count * 2` numbers (default count from
    /// the options). With `trajectory = true`, all `n_steps + 1` stages one after the other:
    /// `(n_steps + 1) * count * 2` numbers, stage k at time k / n_steps.
    pub async fn sample(
        &self,
        n_steps: f64,
        count: Option<f64>,
        trajectory_too: Option<bool>,
    ) -> Result<Float32Array, JsError> {
        let n_steps = integer(n_steps, "n_steps", 1, crate::sample::MAX_STEPS)?;
        let count = self.count(count)?;
        self.current_n.set(n_steps); // only once every argument is valid
        let (net, x0) = (self.trainer.sampling_net(), self.base(count));
        let stages: Vec<Tensor<2>> = if trajectory_too.unwrap_or(false) {
            trajectory(&net, x0, n_steps)
        } else {
            vec![crate::sample::sample(&net, x0, n_steps)]
        };
        let mut out = Vec::with_capacity(stages.len() * count * 2);
        for s in stages {
            out.extend(read(s).await?);
        }
        Ok(Float32Array::from(out.as_slice()))
    }

    /// X_{0,t}(x0) for the same base points as `sample`: where the flow map puts the noise at
    /// time `t` in [0, 1], in one network call. A Float32Array of `count * 2` numbers.
    pub async fn flow_to(&self, t: f64, count: Option<f64>) -> Result<Float32Array, JsError> {
        let t = unit_time(t)?;
        let count = self.count(count)?;
        let x = crate::sample::jump(&self.trainer.sampling_net(), self.base(count), 0.0, t);
        Ok(Float32Array::from(read(x).await?.as_slice()))
    }

    /// The interpolant I_t = (1 - t) x0 + t x1 for the same base points x0 as `sample` and
    /// fixed target points x1 (independent of x0, as in training): its straight lines are what
    /// the flow map learns to untangle. At t = 1 these are samples of the target.
    pub fn interpolant(&self, t: f64, count: Option<f64>) -> Result<Float32Array, JsError> {
        let t = unit_time(t)?;
        let count = self.count(count)?;
        let x0 = self.base_points(count);
        let seed = self.trainer.config().train.seed ^ 0x7A2_6E7;
        let x1 = self
            .trainer
            .config()
            .train
            .dataset
            .sample(&mut Rng::new(seed), count);
        let points: Vec<f32> = x0
            .chunks(2)
            .zip(x1.chunks(2))
            .flat_map(|(a, b)| interpolate([a[0], a[1]], [b[0], b[1]], t))
            .collect();
        Ok(Float32Array::from(points.as_slice()))
    }

    /// KL(p_true || q_model) after `n_steps` jumps (default: the N of the last `sample` call, or
    /// 1), with the estimator's noise floor:
    /// `{n_steps, kl, noise_floor, samples}`.
    pub async fn kl(&self, n_steps: Option<f64>) -> Result<JsValue, JsError> {
        let n_steps = match n_steps {
            None => self.current_n.get(),
            Some(n) => integer(n, "n_steps", 1, crate::sample::MAX_STEPS)?,
        };
        to_js(&self.kl_report(n_steps).await?)
    }

    /// The seed's table: KL for N = 1, 2, 4, 8, 16, as an array of `{n_steps, kl, noise_floor,
    /// samples}`.
    pub async fn kl_table(&self) -> Result<JsValue, JsError> {
        let mut rows = Vec::with_capacity(TABLE_STEPS.len());
        for n in TABLE_STEPS {
            rows.push(self.kl_report(n).await?);
        }
        to_js(&rows)
    }

    /// The sampling weights as bytes (the format of checkpoint.rs).
    pub async fn save(&self) -> Result<Uint8Array, JsError> {
        let t = &self.trainer;
        let ck = Checkpoint::from_net_async(&t.config().model, t.steps_done(), &t.sampling_net())
            .await
            .map_err(|e| JsError::new(&e))?;
        Ok(Uint8Array::from(ck.encode().as_slice()))
    }

    /// What a checkpoint holds, without loading it: `{width, depth, step, model}` (`model`: the
    /// whole model config, activation and preconditioning included). Throws for a corrupt file.
    /// The page uses it to give a panel the architecture of shipped weights before loading.
    pub fn checkpoint_info(bytes: &[u8]) -> Result<JsValue, JsError> {
        #[derive(Serialize)]
        struct Info {
            width: usize,
            depth: usize,
            step: usize,
            model: crate::config::ModelConfig,
        }
        let ck = crate::checkpoint::decode(bytes).map_err(|e| JsError::new(&e))?;
        to_js(&Info {
            width: ck.model.width,
            depth: ck.model.depth,
            step: ck.step,
            model: ck.model,
        })
    }

    /// Replace the weights with saved ones. A corrupt file or another architecture throws and
    /// leaves the session untouched.
    pub fn load(&mut self, bytes: &[u8]) -> Result<(), JsError> {
        self.trainer.load(bytes).map_err(|e| JsError::new(&e))
    }
}

impl Session {
    /// A point count from JS, or the options' default.
    fn count(&self, count: Option<f64>) -> Result<usize, JsError> {
        match count {
            None => Ok(self.options.sample_count),
            Some(c) => integer(c, "count", 1, MAX_POINTS),
        }
    }

    /// The first `count` of a fixed stream of base points: `sample`, `flow_to` and
    /// `interpolant` start from the same noise, so their pictures line up point by point.
    fn base_points(&self, count: usize) -> Vec<f32> {
        let seed = self.trainer.config().train.seed ^ 0xD15_A1A7;
        let sigma = self.trainer.config().model.sigma;
        crate::data::base_noise(&mut Rng::new(seed), count, sigma)
    }

    fn base(&self, count: usize) -> Tensor<2> {
        points_tensor(self.base_points(count), &self.device)
    }

    async fn kl_report(&self, n_steps: usize) -> Result<KlReport, JsError> {
        check_steps(n_steps).map_err(|e| JsError::new(&e))?;
        let net = self.trainer.sampling_net();
        let mut points = Vec::with_capacity(2 * self.evaluator.samples);
        for x0 in self.evaluator.base_chunks(&self.device) {
            points.extend(read(crate::sample::sample(&net, x0, n_steps)).await?);
        }
        Ok(KlReport {
            n_steps,
            kl: self.evaluator.kl(&points),
            noise_floor: self.evaluator.noise_floor,
            samples: self.evaluator.samples,
        })
    }
}

thread_local! {
    /// Burn's wgpu runtime initialises once per thread; later sessions (a reset) reuse it.
    static WEBGPU: std::cell::RefCell<Option<Device>> = const { std::cell::RefCell::new(None) };
}

/// Burn's wgpu device on the browser's WebGPU, or why not.
async fn webgpu_device() -> Result<Device, String> {
    if let Some(device) = WEBGPU.with(|w| w.borrow().clone()) {
        return Ok(device);
    }
    let global = js_sys::global();
    let navigator =
        js_sys::Reflect::get(&global, &"navigator".into()).map_err(|_| "no navigator")?;
    let gpu = js_sys::Reflect::get(&navigator, &"gpu".into()).unwrap_or(JsValue::UNDEFINED);
    if gpu.is_undefined() || gpu.is_null() {
        return Err("this browser has no WebGPU (navigator.gpu is missing)".into());
    }
    let device = Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| format!("WebGPU did not initialise: {e}"))?;
    WEBGPU.with(|w| *w.borrow_mut() = Some(device.clone()));
    Ok(device)
}

/// A config-like object from JS. Goes through JSON so that serde sees every key: unknown or
/// misspelled fields are errors (serde-wasm-bindgen only looks up the fields it knows).
fn from_js<T: serde::de::DeserializeOwned + Default>(v: JsValue, what: &str) -> Result<T, JsError> {
    if v.is_undefined() || v.is_null() {
        return Ok(T::default());
    }
    let json = js_sys::JSON::stringify(&v)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| JsError::new(&format!("invalid {what}: not a plain object")))?;
    serde_json::from_str(&json).map_err(|e| JsError::new(&format!("invalid {what}: {e}")))
}

fn to_js<T: Serialize + ?Sized>(v: &T) -> Result<JsValue, JsError> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&format!("cannot convert result: {e}")))
}

/// A whole number in lo..=hi from a JS number, or an error naming the argument.
fn integer(v: f64, name: &str, lo: usize, hi: usize) -> Result<usize, JsError> {
    if !v.is_finite() || v.fract() != 0.0 || v < lo as f64 || v > hi as f64 {
        return Err(JsError::new(&format!(
            "{name} must be a whole number in {lo}..={hi}, got {v}"
        )));
    }
    Ok(v as usize)
}

/// A time in [0, 1] from JS.
fn unit_time(t: f64) -> Result<f32, JsError> {
    if !(0.0..=1.0).contains(&t) {
        return Err(JsError::new(&format!("t must be in [0, 1], got {t}")));
    }
    Ok(t as f32)
}

fn check_count(n: usize, name: &str) -> Result<(), JsError> {
    integer(n as f64, name, 1, MAX_POINTS).map(|_| ())
}

async fn read(t: Tensor<2>) -> Result<Vec<f32>, JsError> {
    let data = t
        .into_data_async()
        .await
        .map_err(|e| JsError::new(&format!("device read failed: {e:?}")))?;
    data.convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| JsError::new(&format!("{e:?}")))
}
