//! How `auto` chooses by measurement. Where WebGPU exists, the panel trains on the CPU at once
//! while a second worker times the same recipe on WebGPU; when that answers (or its time box
//! runs out and it is stopped), the faster backend keeps the run: a WebGPU win moves the run
//! there (weights, moments and data stream: nothing restarts), and then the batch grows while
//! the GPU's step time stays nearly flat. The workers time the steps; the budget, the rules and
//! the words live here.
//!
//! Two things keep the trial from costing the run its speed. An adapter that is a CPU in
//! disguise (a software renderer: SwiftShader, llvmpipe, lavapipe, WARP) is never timed
//! ([`software_adapter`]): it compiles and runs its shaders in the browser's GPU process on the
//! cores the CPU run needs (measured: the first 20 s at a third of the run's speed,
//! docs/speed.md, "auto on a software adapter"). And while a real adapter is timed, the worker watches the run's own step time
//! against the one measured before the trial started, and stops the trial once it has slowed
//! the run to less than half its speed ([`starves`]).

use crate::backend::Backend;
use serde::{Deserialize, Serialize};

/// The trial's budget, read by the workers through `Session.facts()`.
#[derive(Clone, Copy, Debug, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
pub struct TrialPlan {
    /// Wall time the WebGPU trial gets, from when its worker has the WebGPU module (its
    /// download is the network's, not the GPU's): the device, shader compilation (the warm-up
    /// steps) and the timed steps. An adapter that has not answered by then loses and its
    /// worker is stopped: a software one (SwiftShader, about 10 s per step of the browser
    /// recipe, and it blocks its thread while compiling) must not burn a visitor's CPU for
    /// long. The panel trains on the CPU meanwhile, so the box delays nothing.
    pub box_ms: f64,
    /// Untimed steps first: the first steps compile shaders.
    pub warmup_steps: usize,
    /// The timed calls double their step count until this long has passed, and the last (the
    /// longest and warmest: the engine's optimising compiler kicks in during the first calls)
    /// gives the figure.
    pub measure_ms: f64,
    /// The trial worker's download and compilation of the WebGPU module may take this long
    /// (5 MB gzipped: 4 s at 10 Mbit/s); past it the trial is given up and the CPU keeps the
    /// run.
    pub load_ms: f64,
    /// The CPU's figure is the fastest of this many training slices that start after the
    /// trial ended (while it runs, the trial competes for the same cores), and of the
    /// `baseline_slices` before it.
    pub cpu_slices: usize,
    /// The trial starts after the run has trained this many slices alone: their fastest is the
    /// run's own step time, the figure [`starves`] compares against (a slice is about 100 ms,
    /// so the trial waits a fraction of a second).
    pub baseline_slices: usize,
    /// The trial is stopped once this many consecutive slices of the run each took more than
    /// `starve_ratio` times the baseline per step: one slow slice (a garbage collection, a
    /// picture) is noise, three in a row are the trial taking the cores.
    pub starve_slices: usize,
    /// "Less than half its speed": a step more than twice the baseline's time.
    pub starve_ratio: f64,
    /// The largest batch `auto` grows to.
    pub max_batch: usize,
    /// A doubled batch is kept while its step takes at most this many times the first
    /// batch's: twice the samples for at most 1.5x the time.
    pub batch_slack: f64,
}

pub const PLAN: TrialPlan = TrialPlan {
    box_ms: 6000.0,
    warmup_steps: 2,
    measure_ms: 500.0,
    load_ms: 60_000.0,
    cpu_slices: 3,
    baseline_slices: 3,
    starve_slices: 3,
    starve_ratio: 2.0,
    max_batch: 8192,
    batch_slack: 1.5,
};

/// What the WebGPU trial gave.
#[derive(Clone, Debug, PartialEq)]
pub enum GpuTrial {
    /// Milliseconds per training step.
    Timed(f64),
    /// No answer within [`TrialPlan::box_ms`].
    Unfinished,
    /// WebGPU failed, and why (no adapter, a shader the browser refused, ...).
    Failed(String),
    /// Stopped because the run's step time beside it rose from `before_ms` to `during_ms`
    /// ([`starves`]).
    Starved { before_ms: f64, during_ms: f64 },
}

/// What the browser says of its WebGPU adapter: `GPUAdapterInfo`'s strings and whether it is
/// a fallback adapter (`isFallbackAdapter`, on the info or on the adapter in older browsers).
/// Fields a browser leaves out read as empty.
#[derive(Clone, Debug, Default, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AdapterInfo {
    pub vendor: String,
    pub architecture: String,
    pub device: String,
    pub description: String,
    pub is_fallback_adapter: bool,
}

/// Software renderers as adapters name them (any of the info's strings, any case): Chrome's
/// SwiftShader, Mesa's llvmpipe and lavapipe, Windows' WARP ("Microsoft Basic Render Driver").
const SOFTWARE_RENDERERS: [(&str, &str); 5] = [
    ("swiftshader", "SwiftShader"),
    ("llvmpipe", "llvmpipe"),
    ("lavapipe", "lavapipe"),
    ("warp", "WARP"),
    ("microsoft basic render", "WARP"),
];

/// Why `info` is a CPU in disguise, or `None` for a real GPU: a fallback adapter, or one whose
/// vendor, architecture, device or description names a software renderer. Such an adapter is
/// never timed: the trial would only take the run's cores (and download 5 MB).
pub fn software_adapter(info: &AdapterInfo) -> Option<String> {
    let named = [
        &info.vendor,
        &info.architecture,
        &info.device,
        &info.description,
    ]
    .iter()
    .map(|s| s.to_lowercase())
    .find_map(|s| {
        SOFTWARE_RENDERERS
            .iter()
            .find(|(key, _)| word_in(&s, key))
            .map(|(_, name)| *name)
    });
    match (named, info.is_fallback_adapter) {
        (Some(name), _) => Some(format!("the adapter is {name}, a software renderer")),
        (None, true) => Some("the adapter is a fallback (software) adapter".into()),
        (None, false) => None,
    }
}

/// `key` in `s` as a whole word ("warp" must not match "warpdrive").
fn word_in(s: &str, key: &str) -> bool {
    s.match_indices(key).any(|(at, _)| {
        let before = s[..at].chars().next_back();
        let after = s[at + key.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// Whether a slice of the run at `slice_ms` per step, beside the trial, is starved: slower than
/// [`TrialPlan::starve_ratio`] times its `baseline_ms` alone.
pub fn starves(baseline_ms: f64, slice_ms: f64) -> bool {
    slice_ms > PLAN.starve_ratio * baseline_ms
}

/// The verdict for a software adapter (`why` from [`software_adapter`]): the CPU, untimed.
pub fn software_verdict(cpu: Backend, why: &str) -> Verdict {
    Verdict {
        backend: cpu.name().into(),
        note: format!("WebGPU not timed: {why} → CPU ({})", cpu.name()),
    }
}

/// WebGPU keeps the run only when at least this much faster per training step: the trial
/// times training alone, while on WebGPU every picture and KL table also waits for a read-back
/// (about 0.5 ms in Chrome, up to 100 ms in Firefox), so a near tie goes to the CPU.
pub const GPU_MARGIN: f64 = 1.1;

/// The backend chosen and the sentence the panel shows.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
pub struct Verdict {
    /// "webgpu", or the CPU backend's name.
    pub backend: String,
    /// e.g. "WebGPU 3.10 ms/step (CPU 15.2) → WebGPU".
    pub note: String,
}

/// The choice between WebGPU as its trial went and the CPU backend `cpu`, timed at `cpu_ms` per
/// step while it trained.
pub fn choose(cpu: Backend, cpu_ms: f64, gpu: &GpuTrial) -> Result<Verdict, String> {
    positive(cpu_ms, "cpu_ms")?;
    if let GpuTrial::Timed(g) = gpu {
        positive(*g, "gpu_ms")?;
    }
    let gpu_wins = matches!(gpu, GpuTrial::Timed(g) if g * GPU_MARGIN <= cpu_ms);
    let cpu_name = format!("CPU ({})", cpu.name());
    let winner = if gpu_wins {
        "WebGPU"
    } else {
        cpu_name.as_str()
    };
    let gpu_said = match gpu {
        GpuTrial::Timed(g) => format!("{} ms/step", ms(*g)),
        GpuTrial::Unfinished => format!("unfinished after {} s", ms(PLAN.box_ms / 1000.0)),
        GpuTrial::Failed(why) => format!("failed ({why})"),
        GpuTrial::Starved {
            before_ms,
            during_ms,
        } => format!(
            "stopped: it slowed the run from {} to {} ms/step",
            ms(*before_ms),
            ms(*during_ms)
        ),
    };
    Ok(Verdict {
        backend: if gpu_wins {
            "webgpu".into()
        } else {
            cpu.name().into()
        },
        note: format!("WebGPU {gpu_said} (CPU {}) → {winner}", ms(cpu_ms)),
    })
}

/// Where the batch search stands after timing `timed` = [(batch, ms per step), ...], the first
/// the recipe's batch and each next one double the last.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
pub struct BatchSearch {
    /// The batch to time next, if the search goes on.
    pub next: Option<usize>,
    /// The batch to train with: the largest timed one within the slack of the first.
    pub keep: usize,
    /// e.g. "batch 1024 (512: 1.1x, 1024: 1.3x, 2048: 1.9x the time of 256)".
    pub note: String,
}

/// One step of the batch search: doubling while each batch's step takes at most
/// [`TrialPlan::batch_slack`] times the first's, up to [`TrialPlan::max_batch`] and within
/// `limit` (the session's bounds for this network). The search stops at the first batch over
/// the slack.
pub fn grow_batch(timed: &[(usize, f64)], limit: usize) -> Result<BatchSearch, String> {
    let Some(&(base, base_ms)) = timed.first() else {
        return Err("grow_batch needs the first batch's timing".into());
    };
    let mut keep = base;
    for (k, &(batch, t)) in timed.iter().enumerate() {
        positive(t, "ms")?;
        if k > 0 && batch != timed[k - 1].0 * 2 {
            return Err(format!(
                "batch {batch} does not double {} (timed batches double)",
                timed[k - 1].0
            ));
        }
        if k > 0 && t <= PLAN.batch_slack * base_ms && keep == timed[k - 1].0 {
            keep = batch;
        }
    }
    let (last, _) = timed[timed.len() - 1];
    let stopped = keep != last; // the last one timed was over the slack
    let next = (!stopped)
        .then_some(last * 2)
        .filter(|&b| b <= PLAN.max_batch.min(limit));
    let ratios: Vec<String> = timed[1..]
        .iter()
        .map(|&(b, t)| format!("{b}: {:.1}x", t / base_ms))
        .collect();
    let note = if ratios.is_empty() {
        format!("batch {keep}")
    } else {
        format!("batch {keep} ({} the time of {base})", ratios.join(", "))
    };
    Ok(BatchSearch { next, keep, note })
}

fn positive(v: f64, name: &str) -> Result<(), String> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(format!(
            "{name} must be a positive number of milliseconds, got {v}"
        ))
    }
}

/// Three significant figures, as a person reads a timing: 0.412, 3.10, 15.2, 812.
fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its line
mod tests {
    use super::*;

    #[test]
    fn the_faster_backend_wins_and_a_near_tie_goes_to_the_cpu() {
        let v = choose(Backend::Flex, 15.2, &GpuTrial::Timed(3.1)).unwrap();
        assert_eq!(v.backend, "webgpu");
        assert_eq!(v.note, "WebGPU 3.10 ms/step (CPU 15.2) → WebGPU");
        // SwiftShader: slower than the CPU.
        let v = choose(Backend::Flex, 0.4123, &GpuTrial::Timed(812.4)).unwrap();
        assert_eq!(v.backend, "flex");
        assert_eq!(v.note, "WebGPU 812 ms/step (CPU 0.412) → CPU (flex)");
        // Within the margin: 10 vs 10.5 is a tie.
        let at = |cpu, gpu| {
            choose(Backend::Flex, cpu, &GpuTrial::Timed(gpu))
                .unwrap()
                .backend
        };
        assert_eq!(at(10.5, 10.0), "flex");
        assert_eq!(at(11.0, 10.0), "webgpu");
    }

    #[test]
    fn a_gpu_that_did_not_finish_or_failed_loses_and_the_note_says_so() {
        let v = choose(Backend::NdArray, 31.0, &GpuTrial::Unfinished).unwrap();
        assert_eq!(v.backend, "ndarray");
        assert_eq!(
            v.note,
            "WebGPU unfinished after 6.00 s (CPU 31.0) → CPU (ndarray)"
        );
        let v = choose(Backend::Flex, 31.0, &GpuTrial::Failed("no adapter".into())).unwrap();
        assert_eq!(v.backend, "flex");
        assert_eq!(v.note, "WebGPU failed (no adapter) (CPU 31.0) → CPU (flex)");
    }

    #[test]
    fn software_adapters_are_named_and_real_gpus_are_not() {
        let info = |vendor: &str, architecture: &str, description: &str, fallback| AdapterInfo {
            vendor: vendor.into(),
            architecture: architecture.into(),
            device: String::new(),
            description: description.into(),
            is_fallback_adapter: fallback,
        };
        // Chromium's SwiftShader (--enable-unsafe-swiftshader), as headless Chromium reports it.
        let why = software_adapter(&info("google", "swiftshader", "", false)).unwrap();
        assert_eq!(why, "the adapter is SwiftShader, a software renderer");
        let v = software_verdict(Backend::Flex, &why);
        assert_eq!(v.backend, "flex");
        assert_eq!(
            v.note,
            "WebGPU not timed: the adapter is SwiftShader, a software renderer → CPU (flex)"
        );
        for (d, name) in [
            ("llvmpipe (LLVM 15.0.6, 256 bits)", "llvmpipe"),
            ("Mesa lavapipe", "lavapipe"),
            ("Microsoft Basic Render Driver", "WARP"),
            ("WARP", "WARP"),
        ] {
            let why = software_adapter(&info("", "", d, false)).unwrap();
            assert!(why.contains(name), "{d}: {why}");
        }
        assert_eq!(
            software_adapter(&info("", "", "", true)).unwrap(),
            "the adapter is a fallback (software) adapter"
        );
        for real in [
            info("nvidia", "ampere", "NVIDIA GeForce RTX 3080", false),
            info("intel", "gen-12lp", "", false),
            info("apple", "metal-3", "Apple M2", false),
            info("amd", "rdna-3", "warpdrive 7900", false), // "warp" inside a word
            AdapterInfo::default(),                         // a browser that says nothing
        ] {
            assert_eq!(software_adapter(&real), None, "{real:?}");
        }
    }

    #[test]
    fn a_trial_that_halves_the_runs_speed_is_stopped_and_the_note_says_so() {
        assert!(!starves(15.0, 29.9));
        assert!(starves(15.0, 30.1));
        let gpu = GpuTrial::Starved {
            before_ms: 15.0,
            during_ms: 84.5,
        };
        let v = choose(Backend::Flex, 15.0, &gpu).unwrap();
        assert_eq!(v.backend, "flex");
        assert_eq!(
            v.note,
            "WebGPU stopped: it slowed the run from 15.0 to 84.5 ms/step (CPU 15.0) → CPU (flex)"
        );
    }

    #[test]
    fn timings_must_be_positive_numbers() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let timed = GpuTrial::Timed(1.0);
            assert!(
                choose(Backend::Flex, bad, &timed)
                    .unwrap_err()
                    .contains("cpu_ms")
            );
            let err = choose(Backend::Flex, 1.0, &GpuTrial::Timed(bad)).unwrap_err();
            assert!(err.contains("gpu_ms"));
            assert!(grow_batch(&[(256, 1.0), (512, bad)], 1 << 20).is_err());
        }
        assert!(grow_batch(&[], 1 << 20).is_err());
        assert!(
            grow_batch(&[(256, 1.0), (1024, 1.0)], 1 << 20)
                .unwrap_err()
                .contains("double")
        );
    }

    #[test]
    fn the_batch_doubles_while_the_step_time_stays_within_the_slack() {
        // A GPU: flat up to 2048, then linear.
        let gpu = |b: usize| {
            if b <= 2048 {
                2.0
            } else {
                2.0 * b as f64 / 2048.0
            }
        };
        let mut timed = vec![(256, gpu(256))];
        let search = loop {
            let s = grow_batch(&timed, 1 << 20).unwrap();
            match s.next {
                Some(b) => timed.push((b, gpu(b))),
                None => break s,
            }
        };
        // 4096 takes 2x the time of 256: over the slack, so the search stops there.
        assert_eq!(timed.last().unwrap().0, 4096);
        assert_eq!(search.keep, 2048);
        assert_eq!(
            search.note,
            "batch 2048 (512: 1.0x, 1024: 1.0x, 2048: 1.0x, 4096: 2.0x the time of 256)"
        );
        // A CPU: linear, so 512 already costs 2x and 256 stays.
        let s = grow_batch(&[(256, 15.0), (512, 29.0)], 1 << 20).unwrap();
        assert_eq!((s.next, s.keep), (None, 256));
        // Exactly at the slack is kept.
        let s = grow_batch(&[(256, 10.0), (512, 15.0)], 1 << 20).unwrap();
        assert_eq!((s.next, s.keep), (Some(1024), 512));
    }

    #[test]
    fn the_batch_stops_at_the_cap_and_at_the_sessions_limit() {
        let flat: Vec<(usize, f64)> = (0..=5).map(|k| (256 << k, 1.0)).collect(); // to 8192
        let s = grow_batch(&flat, 1 << 20).unwrap();
        assert_eq!((s.next, s.keep), (None, PLAN.max_batch));
        let s = grow_batch(&flat[..2], 700).unwrap();
        assert_eq!((s.next, s.keep), (None, 512));
        // Nothing timed beyond the first: the search proposes the double.
        let s = grow_batch(&[(256, 1.0)], 1 << 20).unwrap();
        assert_eq!(
            (s.next, s.keep, s.note.as_str()),
            (Some(512), 256, "batch 256")
        );
    }
}
