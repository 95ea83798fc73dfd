//! The browser API: the only file that knows about JS. A thin binding of
//! [`crate::session::Session`]: JS values in, checked and converted; plain objects of numbers,
//! `Float32Array`s of points and `Uint8Array`s of weights out; every error a `JsError` with the
//! core's message. The one thing decided here is the device, since WebGPU exists only here.

use crate::backend::Backend;
use crate::config::{Config, MAX_BATCH};
use crate::session::{self, BackendChoice, Facts, Options};
use crate::target_file;
use crate::trial;
use burn::tensor::Device;
use js_sys::{Float32Array, Uint8Array};
use serde::Serialize;
use wasm_bindgen::prelude::*;

// The TypeScript types of the values crossing this API: the serde structs' are derived from
// their Rust definitions (`#[derive(Tsify)]`: Config, Options, Facts, StepReport, KlReport,
// Losses, Verdict, BatchSearch, AdapterInfo, CheckpointInfo, Drawing); the two views of typed
// arrays below get theirs from the same field list that builds them (`typed_view!`).

/// A JS object of Float32Arrays and numbers from the named fields of a Rust struct (typed
/// arrays, not serde: 3 x 3600 numbers as JS numbers one by one took seconds), and its
/// TypeScript interface from the same list, so the two cannot drift apart.
macro_rules! typed_view {
    ($(#[doc = $doc:literal])* $build:ident($ty:ty) -> $ts:literal,
     arrays: [$($array:ident),*], numbers: [$($number:ident),*]) => {
        #[wasm_bindgen(typescript_custom_section)]
        const _: &str = concat!(
            "/**", $($doc, "\n",)* " */\nexport interface ", $ts, " {\n",
            $("    ", stringify!($array), ": Float32Array;\n",)*
            $("    ", stringify!($number), ": number;\n",)*
            "}\n"
        );

        $(#[doc = $doc])*
        fn $build(v: &$ty) -> Result<JsValue, JsError> {
            let out = js_sys::Object::new();
            let set = |k: &str, value: JsValue| {
                js_sys::Reflect::set(&out, &k.into(), &value)
                    .map(|_| ())
                    .map_err(|_| err(format!("cannot build the {}", $ts)))
            };
            $(set(stringify!($array), Float32Array::from(v.$array.as_slice()).into())?;)*
            $(set(stringify!($number), (v.$number as f64).into())?;)*
            Ok(out.into())
        }
    };
}

typed_view! {
    /// `density_map`: the KL histogram's bins (index i * bins + j), each bin's term and KL.
    density_map_view(crate::eval::DensityMap) -> "DensityMapView",
    arrays: [model, target, terms], numbers: [kl]
}

typed_view! {
    /// `against_exact`: the model's and the exact endpoints, each point's error, the triangle.
    against_exact_view(crate::against_exact::AgainstExact) -> "AgainstExactView",
    arrays: [model, exact, errors, triangle], numbers: [mean_error, times]
}

/// A training run in the browser.
#[wasm_bindgen]
pub struct Session {
    core: session::Session,
    backend: Backend,
    note: String,
    /// The losses of the last `shard_gradient`.
    shard_losses: Option<crate::trainer::Losses>,
    /// The last `shard_gradient`'s shard index, shard count and buffer, kept for
    /// `apply_shards`: this worker's own shard is not copied back in from JS.
    own_shard: Option<(usize, usize, Vec<f32>)>,
}

#[wasm_bindgen]
impl Session {
    /// `Session.create(config, options)`: `config` as in config.rs (missing fields take their
    /// defaults), `options` as `session::Options`. Resolves to a session; rejects with a message.
    pub async fn create(
        #[wasm_bindgen(unchecked_param_type = "Config | undefined")] config: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Options | undefined")] options: JsValue,
    ) -> Result<Session, JsError> {
        console_error_panic_hook::set_once();
        let config: Config = from_js(config, "config")?;
        let options: Options = from_js(options, "options")?;
        config.validate().map_err(err)?;
        let (backend, device, note) = device_for(&options).await?;
        let core = session::Session::new(config, options, &device).map_err(err)?;
        Ok(Session {
            core,
            backend,
            note,
            shard_losses: None,
            own_shard: None,
        })
    }

    /// `Session.resume(bytes, options, lr)`: the run saved by `save_run`, continued exactly where
    /// it was (weights, EMA, optimizer moments, data stream), on the backend `options` choose.
    /// `lr`, if given, replaces the learning rate (restoring a diverged run more gently).
    /// Rejects a corrupt or inconsistent file with a message.
    pub async fn resume(
        bytes: &[u8],
        #[wasm_bindgen(unchecked_param_type = "Options | undefined")] options: JsValue,
        lr: Option<f64>,
    ) -> Result<Session, JsError> {
        console_error_panic_hook::set_once();
        let options: Options = from_js(options, "options")?;
        let (backend, device, note) = device_for(&options).await?;
        let core = session::Session::resume(bytes, options, &device, lr).map_err(err)?;
        Ok(Session {
            core,
            backend,
            note,
            shard_losses: None,
            own_shard: None,
        })
    }

    /// The whole run as bytes, for `Session.resume`: a Uint8Array.
    pub async fn save_run(&self) -> Result<Uint8Array, JsError> {
        let bytes = self.core.save_run().await.map_err(err)?;
        Ok(Uint8Array::from(bytes.as_slice()))
    }

    /// Whether a `train_step` met a diverged loss (its error says so too).
    #[wasm_bindgen(getter)]
    pub fn diverged(&self) -> bool {
        self.core.diverged()
    }

    /// The crate's facts the page must agree with: `{presets: {browser, reference}, options,
    /// limits, table_steps, reference_kl, plot_range}`.
    #[wasm_bindgen(unchecked_return_type = "Facts")]
    pub fn facts() -> Result<JsValue, JsError> {
        to_js(&Facts::get())
    }

    /// Whether `options` name WebGPU outright (`webgpu` or `wgpu`): the worker then loads the
    /// WebGPU module before creating the session. Options that do not validate answer false, so
    /// `create` in the page's module reports them with its message.
    pub fn needs_webgpu(
        #[wasm_bindgen(unchecked_param_type = "Options | undefined")] options: JsValue,
    ) -> bool {
        from_js::<Options>(options, "options")
            .ok()
            .and_then(|o| o.validate().ok())
            == Some(BackendChoice::WebGpu)
    }

    /// `auto`'s verdict after its timed trial (trial.rs): `{backend, note}` for WebGPU at
    /// `gpu_ms` per step, or failed with `gpu_error`, or stopped because it starved the run
    /// (`starved` = `[ms per step before the trial, ms per step beside it]`), or (none of these)
    /// unfinished within the box, against the CPU backend `options` name at `cpu_ms`.
    #[wasm_bindgen(unchecked_return_type = "Verdict")]
    pub fn choose_backend(
        cpu_ms: f64,
        gpu_ms: Option<f64>,
        gpu_error: Option<String>,
        starved: Option<Vec<f64>>,
        #[wasm_bindgen(unchecked_param_type = "Options | undefined")] options: JsValue,
    ) -> Result<JsValue, JsError> {
        let cpu = auto_cpu(options, "choose_backend")?;
        let gpu = match (gpu_ms, gpu_error, starved.as_deref()) {
            (Some(ms), _, _) => trial::GpuTrial::Timed(ms),
            (None, Some(why), _) => trial::GpuTrial::Failed(why),
            (None, None, Some(&[before_ms, during_ms])) => trial::GpuTrial::Starved {
                before_ms,
                during_ms,
            },
            (None, None, Some(other)) => {
                return Err(err(format!(
                    "starved must be [before_ms, during_ms], got {} numbers",
                    other.len()
                )));
            }
            (None, None, None) => trial::GpuTrial::Unfinished,
        };
        to_js(&trial::choose(cpu, cpu_ms, &gpu).map_err(err)?)
    }

    /// Whether a training slice at `slice_ms` per step beside `auto`'s trial is starved against
    /// the run's `baseline_ms` alone (trial.rs, `starves`): the worker stops the trial after
    /// `trial.starve_slices` of these in a row.
    pub fn trial_starves(baseline_ms: f64, slice_ms: f64) -> bool {
        trial::starves(baseline_ms, slice_ms)
    }

    /// `auto`'s verdict before any trial, from the adapter's `GPUAdapterInfo` (plus
    /// `isFallbackAdapter`): `{backend, note}` naming the CPU where the adapter is a software
    /// renderer (trial.rs, `software_adapter`), or `null` for a GPU worth timing.
    #[wasm_bindgen(unchecked_return_type = "Verdict | null")]
    pub fn adapter_verdict(
        #[wasm_bindgen(unchecked_param_type = "AdapterInfo")] info: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Options | undefined")] options: JsValue,
    ) -> Result<JsValue, JsError> {
        let cpu = auto_cpu(options, "adapter_verdict")?;
        let info: trial::AdapterInfo = from_js(info, "adapter info")?;
        match trial::software_adapter(&info) {
            Some(why) => to_js(&trial::software_verdict(cpu, &why)),
            None => Ok(JsValue::NULL),
        }
    }

    /// One step of `auto`'s batch search (trial.rs): `timed` is `[[batch, ms per step], ...]`,
    /// the run's batch first and each next one doubled; resolves to `{next, keep, note}` within
    /// this network's bounds.
    #[wasm_bindgen(unchecked_return_type = "BatchSearch")]
    pub fn grow_batch(
        &self,
        #[wasm_bindgen(unchecked_param_type = "[number, number][]")] timed: JsValue,
    ) -> Result<JsValue, JsError> {
        let timed: Vec<(usize, f64)> = from_js(timed, "timed")?;
        to_js(&trial::grow_batch(&timed, self.core.batch_limit()).map_err(err)?)
    }

    /// Trains on with `batch` samples per step (the weights, moments and data stream go on).
    pub fn set_batch_size(&mut self, batch: f64) -> Result<(), JsError> {
        self.core.set_batch_size(batch).map_err(err)
    }

    /// "webgpu", "flex" or "ndarray".
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        if self.backend.is_cpu() {
            self.backend.name().into()
        } else {
            "webgpu".into()
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
        self.core.flops_per_step()
    }

    /// Optimizer steps done so far.
    #[wasm_bindgen(getter)]
    pub fn steps(&self) -> usize {
        self.core.steps()
    }

    /// The full config in use (defaults filled in).
    #[wasm_bindgen(getter, unchecked_return_type = "Config")]
    pub fn config(&self) -> Result<JsValue, JsError> {
        to_js(self.core.config())
    }

    /// Run `count` optimizer steps (default 1); resolves to the last step's
    /// `{diagonal, off_diagonal, total, step, lr}`.
    #[wasm_bindgen(unchecked_return_type = "StepReport")]
    pub async fn train_step(&mut self, count: Option<f64>) -> Result<JsValue, JsError> {
        to_js(&self.core.train(count).await.map_err(err)?)
    }

    /// Data-parallel training, one replica's half of a step: the gradient of shard `shard` of
    /// `shards` of the next batch as a Float32Array (the layers' weights and biases in order);
    /// its share of the losses is then `last_shard_losses`. Hand the other shards' arrays to
    /// `apply_shards` (this one's is kept here), or sum every replica's arrays and losses and
    /// hand them to each replica's `apply_gradient`. `into`: an array to write the gradient into
    /// and return, when it has the gradient's length (a worker reuses the arrays the others sent
    /// it: a fresh 600 KB array each step cost more than the copy, docs/speed.md); otherwise,
    /// or without one, a new array.
    pub async fn shard_gradient(
        &mut self,
        shard: f64,
        shards: f64,
        into: Option<Float32Array>,
    ) -> Result<Float32Array, JsError> {
        // A failed call leaves no stale losses or buffer.
        (self.shard_losses, self.own_shard) = (None, None);
        let (gradient, losses) = self.core.shard_gradient(shard, shards).await.map_err(err)?;
        let array = match into {
            Some(array) if array.length() as usize == gradient.len() => {
                array.copy_from(&gradient);
                array
            }
            _ => Float32Array::from(gradient.as_slice()),
        };
        self.shard_losses = Some(losses);
        // `shard` and `shards` were checked whole above.
        self.own_shard = Some((shard as usize, shards as usize, gradient));
        Ok(array)
    }

    /// `{diagonal, off_diagonal, total}` of the last `shard_gradient`: this shard's share.
    #[wasm_bindgen(getter, unchecked_return_type = "Losses")]
    pub fn last_shard_losses(&self) -> Result<JsValue, JsError> {
        match &self.shard_losses {
            Some(l) => to_js(l),
            None => Err(JsError::new("no shard gradient taken yet")),
        }
    }

    /// Most workers a step of this run can use: the core's shard limit on a CPU backend, 1 on
    /// WebGPU (one device; replicas would be CPU workers, far slower than it).
    #[wasm_bindgen(getter)]
    pub fn max_shards(&self) -> usize {
        if self.backend.is_cpu() {
            self.core.max_shards()
        } else {
            1
        }
    }

    /// `Session.batch_for_workers(batch, workers)`: the batch a fresh run with the recipe's
    /// `batch` takes on `workers` workers (the rule is `session::batch_for_workers`). Throws for a
    /// batch or a worker count out of range.
    pub fn batch_for_workers(batch: f64, workers: f64) -> Result<usize, JsError> {
        let batch = session::whole(batch, "batch", 2, MAX_BATCH).map_err(err)?;
        let workers = session::whole(workers, "workers", 1, session::MAX_SHARDS).map_err(err)?;
        Ok(session::batch_for_workers(batch, workers))
    }

    /// `Session.workers_for(cores, panels, requested)`: how many workers a panel trains with,
    /// from navigator.hardwareConcurrency, the number of training panels and the page's
    /// `?workers=` (undefined for none); the rule is `session::workers_for`. Throws for a bad
    /// request.
    pub fn workers_for(cores: f64, panels: f64, requested: Option<f64>) -> Result<usize, JsError> {
        session::workers_for(cores, panels, requested).map_err(err)
    }

    /// Applies the summed gradient of all replicas, whose summed losses are `diagonal` and
    /// `off_diagonal`; resolves to `{diagonal, off_diagonal, total, step, lr}` as `train_step`.
    /// A diverged loss, or a gradient of the wrong size or not finite, is an error that applies
    /// nothing.
    #[wasm_bindgen(unchecked_return_type = "StepReport")]
    pub fn apply_gradient(
        &mut self,
        summed: &[f32],
        diagonal: f64,
        off_diagonal: f64,
    ) -> Result<JsValue, JsError> {
        let report = self.core.apply_gradient(summed, diagonal, off_diagonal);
        to_js(&report.map_err(err)?)
    }

    /// The step of every shard's gradient summed here: `others`, the other shards' arrays
    /// (`shard_gradient` in the other workers) in the order of the shards, this worker's own
    /// (kept from its `shard_gradient`) in its place among them, and every shard's losses in
    /// that order (`diagonal[k]`, `off_diagonal[k]`: `last_shard_losses` of shard k), summed in
    /// the order of the shards, then applied as `apply_gradient`: every worker of a
    /// data-parallel run applies the same bits, with no sum in JS. Resolves to what
    /// `apply_gradient` does; refuses a call with no shard gradient taken, other than K - 1
    /// arrays for its K shards, arrays of different lengths, or losses that are not one pair per
    /// shard, and then changes nothing.
    #[wasm_bindgen(unchecked_return_type = "StepReport")]
    pub fn apply_shards(
        &mut self,
        others: Vec<Float32Array>,
        diagonal: &[f64],
        off_diagonal: &[f64],
    ) -> Result<JsValue, JsError> {
        let Some((k, shards, mine)) = &self.own_shard else {
            return Err(JsError::new("apply_shards without a shard gradient"));
        };
        if others.len() + 1 != *shards {
            return Err(JsError::new(&format!(
                "{} other shards' gradients for a step of {shards} shards",
                others.len()
            )));
        }
        if diagonal.len() != *shards || off_diagonal.len() != *shards {
            return Err(JsError::new(&format!(
                "{shards} shards' gradients with {} diagonal and {} off-diagonal losses",
                diagonal.len(),
                off_diagonal.len()
            )));
        }
        let copies: Vec<Vec<f32>> = others.iter().map(Float32Array::to_vec).collect();
        let mut parts: Vec<&[f32]> = copies.iter().map(Vec::as_slice).collect();
        parts.insert(*k, mine); // k < shards = parts.len() + 1
        let losses: Vec<(f64, f64)> = diagonal
            .iter()
            .copied()
            .zip(off_diagonal.iter().copied())
            .collect();
        let report = self.core.apply_shards(&parts, &losses);
        if report.is_ok() || self.core.diverged() {
            self.own_shard = None; // applied, or dropped with the step
        }
        to_js(&report.map_err(err)?)
    }

    /// Points after `n_steps` jumps: a Float32Array of `count * 2` numbers (default count from
    /// the options). With `trajectory = true`, all `n_steps + 1` stages one after the other:
    /// `(n_steps + 1) * count * 2` numbers, stage k at time k / n_steps.
    pub async fn sample(
        &self,
        n_steps: f64,
        count: Option<f64>,
        trajectory: Option<bool>,
    ) -> Result<Float32Array, JsError> {
        let points = self
            .core
            .sample(n_steps, count, trajectory.unwrap_or(false));
        Ok(Float32Array::from(points.await.map_err(err)?.as_slice()))
    }

    /// X_{0,t}(x0) for the same base points as `sample`, in one network call: a Float32Array
    /// of `count * 2` numbers.
    pub async fn flow_to(&self, t: f64, count: Option<f64>) -> Result<Float32Array, JsError> {
        let points = self.core.flow_to(t, count).await.map_err(err)?;
        Ok(Float32Array::from(points.as_slice()))
    }

    /// The interpolant I_t for the same base points as `sample` (see `session::Session`).
    pub fn interpolant(&self, t: f64, count: Option<f64>) -> Result<Float32Array, JsError> {
        let points = self.core.interpolant(t, count).map_err(err)?;
        Ok(Float32Array::from(points.as_slice()))
    }

    /// KL(p_true || q_model) after `n_steps` jumps (default 1), with the estimator's noise
    /// floor: `{n_steps, kl, noise_floor, samples}`.
    #[wasm_bindgen(unchecked_return_type = "KlReport")]
    pub async fn kl(
        &self,
        n_steps: Option<f64>,
        sampler: Option<String>,
    ) -> Result<JsValue, JsError> {
        to_js(
            &self
                .core
                .kl(n_steps, sampler.as_deref())
                .await
                .map_err(err)?,
        )
    }

    /// Begins `kl(n_steps, sampler)` on the current weights (with `same_weights`, on those the
    /// previous row began on: one table, one step), to compute in parts with `kl_continue`
    /// between training steps. Replaces a row in progress.
    pub fn kl_begin(
        &mut self,
        n_steps: Option<f64>,
        sampler: Option<String>,
        same_weights: Option<bool>,
    ) -> Result<(), JsError> {
        let same = same_weights.unwrap_or(false);
        self.core
            .kl_begin(n_steps, sampler.as_deref(), same)
            .map_err(err)
    }

    /// Up to `points` more samples of the row `kl_begin` began: its report (as `kl`'s, `step`
    /// the step it was begun at) once all are in, else null.
    #[wasm_bindgen(unchecked_return_type = "KlReport | null")]
    pub async fn kl_continue(&mut self, points: f64) -> Result<JsValue, JsError> {
        match self.core.kl_continue(points).await.map_err(err)? {
            Some(report) => to_js(&report),
            None => Ok(JsValue::NULL),
        }
    }

    /// The view against the exact map after `n_steps` jumps (checkerboard and eight Gaussians;
    /// another target throws why): `{model, exact, errors, triangle}` as Float32Arrays (the
    /// endpoints of `sample`'s noise, each point's error, and the mean one-jump error at index
    /// i * (times + 1) + j for s = i / times < t = j / times, NaN elsewhere), `mean_error`,
    /// `times`.
    #[wasm_bindgen(unchecked_return_type = "AgainstExactView")]
    pub async fn against_exact(&mut self, n_steps: f64) -> Result<JsValue, JsError> {
        let view = self.core.against_exact(n_steps).await.map_err(err)?;
        against_exact_view(&view)
    }

    /// Where `kl(n_steps, sampler)` comes from: `{model, target, terms, kl}`, each array the
    /// 60 x 60 bins of the estimator (index i * 60 + j, i the x bin, j the y bin from the
    /// bottom); `terms` are each bin's share of KL and sum to `kl`.
    #[wasm_bindgen(unchecked_return_type = "DensityMapView")]
    pub async fn density_map(
        &self,
        n_steps: Option<f64>,
        sampler: Option<String>,
    ) -> Result<JsValue, JsError> {
        let map = self.core.density_map(n_steps, sampler.as_deref());
        density_map_view(&map.await.map_err(err)?)
    }

    /// `points` (a Float32Array of x, y pairs, taken as noise at time 0) carried to time `t` in
    /// `n_steps` steps of `sampler` ("flow-map" by default, "ode-euler", "ode-heun"); with
    /// `stages = true`, all N + 1 stages one after the other. A Float32Array.
    pub async fn push(
        &self,
        points: &[f32],
        t: f64,
        n_steps: f64,
        sampler: Option<String>,
        stages: Option<bool>,
    ) -> Result<Float32Array, JsError> {
        let out = self
            .core
            .push(
                points,
                t,
                n_steps,
                sampler.as_deref(),
                stages.unwrap_or(false),
            )
            .await
            .map_err(err)?;
        Ok(Float32Array::from(out.as_slice()))
    }

    /// A drawn target (`{size, cells}`, the `drawn` dataset of a config) from an image's
    /// `size` x `size` RGBA pixels: dark pixels carry mass (`invert`: light ones). Throws for an
    /// image of one colour or wrong sizes.
    #[wasm_bindgen(unchecked_return_type = "Drawing")]
    pub fn target_from_image(rgba: &[u8], size: f64, invert: bool) -> Result<JsValue, JsError> {
        let size = session::whole(size, "size", 2, crate::data::MAX_DRAWING_SIZE).map_err(err)?;
        to_js(&target_file::drawing_from_image(rgba, size, invert).map_err(err)?)
    }

    /// A drawn target from CSV text of x, y points (any scale). Throws, naming the line, for
    /// text that is not points.
    #[wasm_bindgen(unchecked_return_type = "Drawing")]
    pub fn target_from_csv(text: &str) -> Result<JsValue, JsError> {
        to_js(&target_file::drawing_from_csv(text).map_err(err)?)
    }

    /// The sampling weights as bytes (the format of checkpoint.rs).
    pub async fn save(&self) -> Result<Uint8Array, JsError> {
        Ok(Uint8Array::from(
            self.core.save().await.map_err(err)?.as_slice(),
        ))
    }

    /// What a checkpoint holds, without loading it: `{width, depth, step, model}`. Throws for a
    /// corrupt file. The page uses it to give a panel the architecture of shipped weights.
    #[wasm_bindgen(unchecked_return_type = "CheckpointInfo")]
    pub fn checkpoint_info(bytes: &[u8]) -> Result<JsValue, JsError> {
        to_js(&session::Session::checkpoint_info(bytes).map_err(err)?)
    }

    /// Replace the weights with saved ones. A corrupt file or another architecture throws and
    /// leaves the session untouched.
    pub fn load(&mut self, bytes: &[u8]) -> Result<(), JsError> {
        self.core.load(bytes).map_err(err)
    }
}

/// Bytes of this instance's wasm memory (it only grows): the soak test watches it for leaks.
#[wasm_bindgen]
pub fn wasm_memory_bytes() -> f64 {
    wasm_bindgen::memory()
        .unchecked_into::<js_sys::WebAssembly::Memory>()
        .buffer()
        .unchecked_into::<js_sys::ArrayBuffer>()
        .byte_length() as f64
}

/// The backend and device `options` ask for, and why (the note the page shows).
async fn device_for(options: &Options) -> Result<(Backend, Device, String), JsError> {
    Ok(match options.validate().map_err(err)? {
        BackendChoice::Auto { cpu } => match webgpu_device().await {
            Ok((b, d)) => (b, d, "WebGPU".to_string()),
            Err(why) => (cpu, cpu.device(), format!("CPU ({}): {why}", cpu.name())),
        },
        BackendChoice::WebGpu => {
            let (b, d) = webgpu_device().await.map_err(err)?;
            (b, d, "WebGPU".to_string())
        }
        BackendChoice::Cpu(b) => (b, b.device(), format!("CPU ({})", b.name())),
    })
}

#[cfg(feature = "webgpu")]
thread_local! {
    /// Burn's wgpu runtime initialises once per thread; later sessions (a reset) reuse it.
    static WEBGPU: std::cell::RefCell<Option<Device>> = const { std::cell::RefCell::new(None) };
}

/// Burn's wgpu device on the browser's WebGPU, or why not.
#[cfg(feature = "webgpu")]
async fn webgpu_device() -> Result<(Backend, Device), String> {
    if let Some(device) = WEBGPU.with(|w| w.borrow().clone()) {
        return Ok((Backend::Wgpu, device));
    }
    browser_has_webgpu()?;
    let device = Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| format!("WebGPU did not initialise: {e}"))?;
    WEBGPU.with(|w| *w.borrow_mut() = Some(device.clone()));
    Ok((Backend::Wgpu, device))
}

/// The page's module is built without wgpu: WebGPU runs in the WebGPU module (flowmap_gpu.js).
#[cfg(not(feature = "webgpu"))]
async fn webgpu_device() -> Result<(Backend, Device), String> {
    browser_has_webgpu()?;
    Err("WebGPU runs in the WebGPU module (flowmap_gpu.js); this is the CPU module".into())
}

/// Whether the browser offers WebGPU at all (`navigator.gpu`).
fn browser_has_webgpu() -> Result<(), String> {
    let global = js_sys::global();
    let navigator =
        js_sys::Reflect::get(&global, &"navigator".into()).map_err(|_| "no navigator")?;
    let gpu = js_sys::Reflect::get(&navigator, &"gpu".into()).unwrap_or(JsValue::UNDEFINED);
    if gpu.is_undefined() || gpu.is_null() {
        return Err("this browser has no WebGPU (navigator.gpu is missing)".into());
    }
    Ok(())
}

fn err(message: String) -> JsError {
    JsError::new(&message)
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
    session::from_json(&json, what).map_err(err)
}

fn to_js<T: Serialize + ?Sized>(v: &T) -> Result<JsValue, JsError> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&format!("cannot convert result: {e}")))
}

/// The CPU backend of `auto` options; other options are an error naming the caller `what`.
fn auto_cpu(options: JsValue, what: &str) -> Result<Backend, JsError> {
    let options: Options = from_js(options, "options")?;
    match options.validate().map_err(err)? {
        BackendChoice::Auto { cpu } => Ok(cpu),
        _ => Err(err(format!("{what} is for options.backend 'auto'"))),
    }
}
