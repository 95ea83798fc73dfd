//! Command-line trainer: trains one method and prints the KL table of the reference (the
//! PyTorch code the project started from).
//!
//!   cargo run --release -- train --method lsd --steps 20000 --save lsd.fmap
//!   cargo run --release -- eval --load lsd.fmap

use flowmap::backend::Backend;
use flowmap::config::{Config, Method, Schedule};
use flowmap::data::Dataset;
use flowmap::eval::{EXACT_POINTS, Evaluator, KlTable, TABLE_STEPS};
use flowmap::metrics::{BINS, RANGE, REFERENCE_SAMPLES};
use flowmap::ode::Solver;
use flowmap::readback::block_on;
use flowmap::sample::Sampler;
use flowmap::trainer::Trainer;
use std::process::ExitCode;
use std::time::Instant;

/// A config enum's name as configs spell it ("inverse-sqrt", "v", ...).
fn name(v: &impl serde::Serialize) -> String {
    serde_json::to_value(v).map_or(String::new(), |j| j.as_str().unwrap_or("").to_string())
}

/// The usage text, with the defaults read from the reference preset (`Config::reference`).
fn usage() -> String {
    let Config { model: m, train: t } = Config::reference();
    let or_none = |v: Option<f64>| v.map_or("none".to_string(), |x| x.to_string());
    format!(
        "usage:
  flowmap train [options]            train, then print the KL table
  flowmap eval --load FILE [options] print the KL table of a saved model
  flowmap bench [--bench-steps N] [--backend B]  ms/step and GFLOP/s, reference and browser sizes

options:
  --method lsd|psd-mid|psd-uniform|esd|meanflow   (default {method})
  --dataset checkerboard|eight-gaussians|two-moons|spirals|rings   (default {dataset})
  --steps N          optimizer steps (default {steps}; also the schedule's length)
  --batch N          batch size (default {batch})
  --lr X             peak learning rate (default {lr})
  --off-weight X     loss = diagonal + X off-diagonal (default {off_weight}; the paper's code: 1/3)
  --schedule cosine|constant|inverse-sqrt   (default {schedule})
  --warmup N         warm-up steps (default {warmup})
  --plateau N        inverse-sqrt: steps at full lr before the decay (default {plateau})
  --clip X|none      gradient-norm clipping (default {clip})
  --clip-scope tensor|global   clip each tensor's norm or all together (default {clip_scope})
  --psd-space x|v    PSD residual in X-space or velocity space (default {psd_space})
  --esd-stop transport|target   ESD gradient through d/ds X (the paper) or through v only (default {esd_stop})
  --ema X|none       EMA decay of the sampling weights (default {ema})
  --huber X|none     pseudo-Huber scale of the off-diagonal penalty; none: squared error (default {huber})
  --weighting none|learned|relative   weight each loss row by a learned w(s,t): exp(-w) L + w, or
                     relative: exp(-w) normalised to mean 1 within each term (default {weighting})
  --weight-decay X   AdamW weight decay (default {wd})
  --width N --depth N  network size (default {width} x {depth})
  --activation silu|gelu  hidden activation (default {activation})
  --sigma X          preconditioning: base N(0, X^2 I), net sees x/X, returns X v (default {sigma})
  --seed N           seeds weights, data and times (default {seed})
  --config FILE      start from a JSON config (fields as in config.rs)
  --backend flex|ndarray|wgpu   (default flex)
  --save FILE        write the trained weights
  --load FILE        start from saved weights
  --eval-samples N   samples per KL histogram (default {samples})
  --log-every N      print losses every N steps (default {log_every})
  --eval-every N     train: also print the KL and exact-map rows every N steps (default 0: at the end only)
  --bench-steps N    timed steps per bench row (default {bench_steps})",
        method = t.method.name(),
        dataset = t.dataset.name(),
        steps = t.steps,
        batch = t.batch_size,
        lr = t.lr,
        off_weight = t.off_weight,
        schedule = name(&t.schedule),
        warmup = t.warmup_steps,
        plateau = t.plateau_steps,
        clip = or_none(t.grad_clip),
        clip_scope = name(&t.clip_scope),
        psd_space = name(&t.psd_space),
        esd_stop = name(&t.esd_stop),
        ema = or_none(t.ema_decay),
        huber = or_none(t.huber),
        weighting = name(&t.weighting),
        wd = t.weight_decay,
        width = m.width,
        depth = m.depth,
        activation = name(&m.activation),
        sigma = m.sigma,
        seed = t.seed,
        samples = REFERENCE_SAMPLES,
        log_every = LOG_EVERY,
        bench_steps = BENCH_STEPS,
    )
}

/// Losses are printed every this many steps unless --log-every says otherwise.
const LOG_EVERY: usize = 500;
/// Timed steps per bench row unless --bench-steps says otherwise.
const BENCH_STEPS: usize = 20;

struct Args {
    command: String,
    config: Config,
    backend: Backend,
    save: Option<String>,
    load: Option<String>,
    eval_samples: usize,
    log_every: usize,
    eval_every: usize,
    bench_steps: usize,
}

fn parse(argv: Vec<String>) -> Result<Args, String> {
    let mut it = argv.into_iter();
    let command = it.next().ok_or("missing command")?;
    if !["train", "eval", "bench"].contains(&command.as_str()) {
        return Err(format!("unknown command '{command}'"));
    }
    let mut a = Args {
        command,
        config: Config::reference(),
        backend: Backend::Flex,
        save: None,
        load: None,
        eval_samples: REFERENCE_SAMPLES,
        log_every: LOG_EVERY,
        eval_every: 0,
        bench_steps: BENCH_STEPS,
    };
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let t = &mut a.config.train;
        match flag.as_str() {
            "--method" => t.method = Method::parse(&value()?)?,
            "--dataset" => t.dataset = Dataset::parse(&value()?)?,
            "--steps" => t.steps = num(&flag, &value()?)?,
            "--batch" => t.batch_size = num(&flag, &value()?)?,
            "--lr" => t.lr = num(&flag, &value()?)?,
            "--off-weight" => t.off_weight = num(&flag, &value()?)?,
            "--schedule" => {
                t.schedule = match value()?.as_str() {
                    "cosine" => Schedule::Cosine,
                    "constant" => Schedule::Constant,
                    "inverse-sqrt" => Schedule::InverseSqrt,
                    s => return Err(format!("unknown schedule '{s}'")),
                }
            }
            "--warmup" => t.warmup_steps = num(&flag, &value()?)?,
            "--plateau" => t.plateau_steps = num(&flag, &value()?)?,
            "--clip" => t.grad_clip = optional(&flag, &value()?)?,
            "--clip-scope" => t.clip_scope = choice(&flag, &value()?)?,
            "--psd-space" => t.psd_space = choice(&flag, &value()?)?,
            "--esd-stop" => t.esd_stop = choice(&flag, &value()?)?,
            "--activation" => a.config.model.activation = choice(&flag, &value()?)?,
            "--sigma" => a.config.model.sigma = num(&flag, &value()?)?,
            "--ema" => t.ema_decay = optional(&flag, &value()?)?,
            "--huber" => t.huber = optional(&flag, &value()?)?,
            "--weighting" => t.weighting = choice(&flag, &value()?)?,
            "--weight-decay" => t.weight_decay = num(&flag, &value()?)?,
            "--seed" => t.seed = num(&flag, &value()?)?,
            "--width" => a.config.model.width = num(&flag, &value()?)?,
            "--depth" => a.config.model.depth = num(&flag, &value()?)?,
            "--config" => {
                let path = value()?;
                let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
                a.config = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
            }
            "--backend" => a.backend = Backend::parse(&value()?)?,
            "--save" => a.save = Some(value()?),
            "--load" => a.load = Some(value()?),
            "--eval-samples" => a.eval_samples = num(&flag, &value()?)?,
            "--log-every" => a.log_every = num(&flag, &value()?)?,
            "--eval-every" => a.eval_every = num(&flag, &value()?)?,
            "--bench-steps" => a.bench_steps = num(&flag, &value()?)?,
            _ => return Err(format!("unknown option '{flag}'")),
        }
    }
    a.config.validate()?;
    if a.command == "eval" && a.load.is_none() {
        return Err("eval needs --load FILE".into());
    }
    if a.eval_samples == 0 {
        return Err("--eval-samples must be positive".into());
    }
    Ok(a)
}

fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{flag}: '{v}' is not a valid number"))
}

/// A config enum from its JSON name (e.g. `global`, `gelu`), so the CLI and configs agree.
fn choice<T: serde::de::DeserializeOwned>(flag: &str, v: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(v.to_string()))
        .map_err(|e| format!("{flag}: {e}"))
}

fn optional(flag: &str, v: &str) -> Result<Option<f64>, String> {
    if v == "none" {
        Ok(None)
    } else {
        num(flag, v).map(Some)
    }
}

fn run(mut a: Args) -> Result<(), String> {
    let device = a.backend.device();
    if a.command == "bench" {
        return bench(&a, &device);
    }
    if let Some(path) = &a.load {
        let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
        // The network's shape comes from the checkpoint.
        a.config.model = flowmap::checkpoint::decode(&bytes)
            .map_err(|e| format!("{path}: {e}"))?
            .model;
    }
    let mut trainer = Trainer::new(a.config.clone(), &device)?;
    trainer.count_clips();
    if let Some(path) = &a.load {
        trainer.load(&std::fs::read(path).map_err(|e| format!("{path}: {e}"))?)?;
        println!("loaded {path} (trained {} steps)", trainer.steps_done());
    }
    let t = &a.config.train;
    let m = &a.config.model;
    // Built once: --eval-every's rows and the final table share its sets and exact endpoints.
    let (eval, exact) = run_evaluator(&a);
    if a.command == "train" {
        println!(
            "training {} on {}: {}x{} MLP ({} parameters), batch {}, {} steps, lr {} ({:?}), backend {}",
            t.method.name(),
            t.dataset.name(),
            m.depth,
            m.width,
            trainer.net().parameter_count(),
            t.batch_size,
            t.steps,
            t.lr,
            t.schedule,
            a.backend.name()
        );
        println!(
            "config {}",
            serde_json::to_string(&a.config).map_err(|e| e.to_string())?
        );
        let start = Instant::now();
        // Time spent in --eval-every's rows, left out of ms/step.
        let mut eval_secs = 0.0;
        for k in 0..t.steps {
            let losses = trainer.step();
            if a.log_every > 0 && ((k + 1) % a.log_every == 0 || k + 1 == t.steps) {
                let l = block_on(losses.read())?;
                let clips = trainer.take_clip_counts();
                let secs = start.elapsed().as_secs_f64() - eval_secs;
                let weighted = l
                    .weighted
                    .map_or(String::new(), |w| format!("  weighted {w:.5}"));
                println!(
                    "step {:>6}  loss {:.5}  diag {:.5}  off {:.6}{weighted}  lr {:.2e}  {:.1} ms/step{}",
                    k + 1,
                    l.total,
                    l.diagonal,
                    l.off_diagonal,
                    t.lr_at(k),
                    1e3 * secs / (k + 1) as f64,
                    clip_summary(clips)?
                );
                if l.diverged() {
                    return Err(format!("loss diverged ({}) at step {}", l.total, k + 1));
                }
            }
            if a.eval_every > 0 && (k + 1) % a.eval_every == 0 && k + 1 < t.steps {
                let at = Instant::now();
                checkpoint_rows(&eval, &trainer, &device, k + 1)?;
                eval_secs += at.elapsed().as_secs_f64();
            }
        }
        let secs = start.elapsed().as_secs_f64() - eval_secs;
        println!(
            "trained {} steps in {:.1} s ({:.1} ms/step)",
            t.steps,
            secs,
            1e3 * secs / t.steps as f64
        );
        if let Some(path) = &a.save {
            std::fs::write(path, block_on(trainer.checkpoint())?.encode())
                .map_err(|e| format!("{path}: {e}"))?;
            println!("saved {path}");
        }
    }
    let start = Instant::now();
    let net = trainer.sampling_net();
    let table = block_on(eval.table(&net, &device, Sampler::FlowMap))?;
    // A checkpoint does not record its method: name an evaluated file's row after the file.
    let label = match (&a.load, a.command.as_str()) {
        (Some(path), "eval") => std::path::Path::new(path)
            .file_stem()
            .map_or(path.clone(), |s| s.to_string_lossy().into_owned()),
        _ => t.method.name().to_string(),
    };
    let mut rows = vec![(label.clone(), table)];
    let mut samplers = vec![(label, Sampler::FlowMap)];
    if a.command == "eval" {
        // The ODE the map replaces, on its diagonal v_{t,t}, from the same base noise.
        for solver in Solver::ALL {
            let ode = block_on(eval.table(&net, &device, Sampler::Ode(solver)))?;
            rows.push((solver.name().to_string(), ode));
            samplers.push((solver.name().to_string(), Sampler::Ode(solver)));
        }
    }
    print_table(&rows);
    if a.command == "eval" {
        let ode: Vec<String> = Solver::ALL
            .iter()
            .map(|s| match s.calls_per_step() {
                1 => format!("{} steps (N calls)", s.name()),
                k => format!("{} steps ({k}N calls)", s.name()),
            })
            .collect();
        println!(
            "N counts flow-map jumps (N network calls), {}",
            ode.join(", ")
        );
    }
    // Against the exact flow, where the target has a closed form: no histogram, no floor.
    match exact {
        Ok(()) => {
            let mut distances = Vec::new();
            for (label, sampler) in &samplers {
                distances.push((
                    label.clone(),
                    block_on(eval.exact_distances(&net, &device, *sampler))?,
                ));
            }
            print_distances(&distances);
        }
        Err(why) => println!("(no exact map: {why})"),
    }
    println!("(evaluated in {:.1} s)", start.elapsed().as_secs_f64());
    Ok(())
}

/// The run's evaluator (its true and base sets from the run's seed) with the exact map's
/// endpoints where the target has a closed form, else the evaluator alone and why not.
fn run_evaluator(a: &Args) -> (Evaluator, Result<(), String>) {
    let t = &a.config.train;
    let sigma = a.config.model.sigma;
    let mut eval = Evaluator::new(t.dataset.clone(), a.eval_samples, t.seed, sigma);
    let exact = eval.add_exact(&t.dataset, sigma);
    (eval, exact)
}

/// One line of a learning curve (`--eval-every`): the sampling weights' KL at every N and, where
/// the target has a closed form, their distance to the exact map, after `step` steps.
/// The inverse-sqrt and constant schedules do not depend on the run's length, so with those this
/// row is what a run of `step` steps would end with.
fn checkpoint_rows(
    eval: &Evaluator,
    trainer: &Trainer,
    device: &burn::tensor::Device,
    step: usize,
) -> Result<(), String> {
    let net = trainer.sampling_net();
    let table = block_on(eval.table(&net, device, Sampler::FlowMap))?;
    let kl: Vec<String> = table.kl.iter().map(|k| format!("{k:.3}")).collect();
    let distance = if eval.has_exact() {
        let d = block_on(eval.exact_distances(&net, device, Sampler::FlowMap))?;
        let d: Vec<String> = d.iter().map(|x| format!("{x:.4}")).collect();
        format!("  distance {}", d.join("/"))
    } else {
        String::new()
    };
    println!(
        "eval at step {step:>6}  KL(N={}) {}{distance}",
        table
            .steps
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join("/"),
        kl.join("/")
    );
    Ok(())
}

/// ms/step and GFLOP/s for LSD and PSD at the reference's size and the browser's.
fn bench(a: &Args, device: &burn::tensor::Device) -> Result<(), String> {
    let steps = a.bench_steps.max(1);
    println!(
        "backend {}, {steps} timed steps after 3 warm-up steps",
        a.backend.name()
    );
    println!("| method  | size            | batch | ms/step | GFLOP/step | GFLOP/s |");
    println!("|---------|-----------------|-------|---------|------------|---------|");
    for (label, preset) in [
        ("reference", Config::reference()),
        ("browser", Config::browser()),
    ] {
        for method in [Method::Lsd, Method::PsdMid] {
            let mut c = preset.clone();
            c.train.method = method;
            let (width, depth, batch) = (c.model.width, c.model.depth, c.train.batch_size);
            let mut tr = Trainer::new(c.clone(), device)?;
            for _ in 0..3 {
                block_on(tr.step().read())?;
            }
            let start = Instant::now();
            let mut last = None;
            for _ in 0..steps {
                last = Some(tr.step());
            }
            block_on(last.expect("steps >= 1").read())?; // waits for the device
            let ms = 1e3 * start.elapsed().as_secs_f64() / steps as f64;
            let gflop = flowmap::flops::step_flops(&c) / 1e9;
            println!(
                "| {:<7} | {label:<9} {depth}x{width:<3} | {batch:>5} | {ms:>7.1} | {gflop:>10.3} | {:>7.1} |",
                method.name(),
                gflop / (ms / 1e3)
            );
        }
    }
    Ok(())
}

/// "  clipped 37% of steps (2.1 tensors/step)" over the steps since the last log line.
fn clip_summary(c: flowmap::trainer::ClipCounts) -> Result<String, String> {
    let (Some(steps), Some(tensors)) = (c.steps_clipped, c.tensors_clipped) else {
        return Ok(String::new());
    };
    let n = c.steps.max(1) as f32;
    let steps = block_on(flowmap::readback::scalar(steps))?;
    let tensors = block_on(flowmap::readback::scalar(tensors))?;
    Ok(format!(
        "  clipped {:.0}% of steps ({:.1} tensors/step)",
        100.0 * steps / n,
        tensors / n
    ))
}

/// The KL table: one row per (label, table), the columns N of the first.
fn print_table(rows: &[(String, KlTable)]) {
    let first = &rows[0].1;
    println!(
        "\nKL(p_true || q_model), {BINS}x{BINS} bins on [-{RANGE},{RANGE}]^2, {} samples",
        first.samples
    );
    let head: String = first.steps.iter().map(|n| format!(" | N={n:<5}")).collect();
    println!("| method      {head} |");
    println!("|-------------{} |", " | -------".repeat(first.steps.len()));
    for (label, table) in rows {
        let row: String = table.kl.iter().map(|k| format!(" | {k:<7.3}")).collect();
        println!("| {label:<11} {row} |");
    }
    println!(
        "noise floor (two true sample sets): {:.4}",
        first.noise_floor
    );
}

/// The mean distance to the exact map's endpoints, one row per (label, distances at
/// TABLE_STEPS).
fn print_distances(rows: &[(String, Vec<f64>)]) {
    println!(
        "\nmean |X(x0) - X_exact(x0)| over {EXACT_POINTS} base points (exact: RK4 on the closed-form velocity)"
    );
    let head: String = TABLE_STEPS.iter().map(|n| format!(" | N={n:<5}")).collect();
    println!("| method      {head} |");
    println!("|-------------{} |", " | -------".repeat(TABLE_STEPS.len()));
    for (label, d) in rows {
        let row: String = d.iter().map(|k| format!(" | {k:<7.4}")).collect();
        println!("| {label:<11} {row} |");
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.is_empty() || argv[0] == "--help" || argv[0] == "-h" {
        println!("{}", usage());
        return ExitCode::SUCCESS;
    }
    match parse(argv).and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
