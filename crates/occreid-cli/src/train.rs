//! `occreid train`: a run folder from a config preset, or the continuation of an interrupted one.
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use occreid_model::methods;
use occreid_train::checkpoint;
use occreid_train::engine::{device_name, load_split, test_set_fingerprint};
use occreid_train::lock::RunLock;
use occreid_train::robustness::{occlusion_suite, OcclusionResult};
use occreid_train::{config, Engine};
use occreid_train::{say, say_raw};
use serde_json::json;

use crate::run_report::{self, RunSummary};

#[derive(clap::Args)]
pub struct Args {
    /// Config preset (TOML, e.g. configs/bot_r50.toml); not needed with --resume
    #[arg(long, required_unless_present = "resume")]
    config: Option<PathBuf>,
    /// Override a config value, e.g. --set data.root=/data/market1501 --set train.epochs=60
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Run folder (config.toml, metrics.jsonl, last.ckpt, best.ckpt, summary.json, report.html)
    #[arg(long)]
    out: PathBuf,
    /// Continue the run in --out from its last.ckpt (model, optimiser, schedule, sampler, RNG streams)
    #[arg(long)]
    resume: bool,
    /// Shorthand for --set train.device=...: auto, cpu or cuda
    #[arg(long)]
    device: Option<String>,
}

pub fn run(a: Args) -> Result<()> {
    if a.resume {
        if !a.out.is_dir() {
            bail!("--resume: {} is not a run folder", a.out.display());
        }
        let _lock = RunLock::acquire(&a.out)?;
        if a.config.is_some() || !a.set.is_empty() {
            bail!("--resume continues with the run's saved config; drop --config/--set (or start a new --out)");
        }
        // A multi-stage run keeps its plan's config at the top and one run folder per stage.
        let plan_config = a.out.join("config.toml");
        if !a.out.join("last.ckpt").exists() && plan_config.exists() {
            let cfg = config::load(&plan_config, &[])?;
            if staged(&cfg)? {
                return run_stages(cfg, &a.out, true).map(|_| ());
            }
        }
        let mut engine = Engine::resume(&a.out, None)?;
        return finish(&mut engine, &a.out, "occreid train", Vec::new());
    }
    let mut overrides = a.set.clone();
    if let Some(d) = &a.device {
        overrides.push(format!("train.device={d}"));
    }
    let cfg = config::load(a.config.as_deref().expect("clap requires it"), &overrides)?;
    train_new(cfg, &a.out, "occreid train", Vec::new()).map(|_| ())
}

/// Trains `cfg` into the new run folder `out` (one sub-folder per stage for a multi-stage method) and
/// returns the folder of the final stage, which holds the run's report.
pub(crate) fn train_new(cfg: config::TrainConfig, out: &Path, title: &str, notes: Vec<String>) -> Result<PathBuf> {
    // Before the checks for an existing run: a folder in use is reported as such, with its PID.
    let _lock = RunLock::acquire(out)?;
    if !staged(&cfg)? {
        let split = load_split(&cfg)?;
        let mut engine = Engine::new(cfg, split, out)?;
        finish(&mut engine, out, title, notes)?;
        return Ok(out.to_path_buf());
    }
    if out.join("config.toml").exists() || out.join("last.ckpt").exists() {
        bail!(
            "{} already holds a run; resume it with --resume or choose another --out",
            out.display()
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    checkpoint::write_atomic(&out.join("config.toml"), cfg.to_toml().as_bytes())?;
    run_stages(cfg, out, false)
}

/// Whether the config's method trains in stage folders.
fn staged(cfg: &config::TrainConfig) -> Result<bool> {
    Ok(methods::plan(&cfg.method, &cfg.recipe())?
        .iter()
        .any(|s| !s.folder.is_empty()))
}

/// Runs (or, resuming, continues) each stage of a multi-stage method in its sub-folder of `out`: a
/// finished stage (its summary.json written) hands its last checkpoint to the next one; an interrupted
/// one resumes from its last.ckpt. Returns the last stage's folder.
fn run_stages(cfg: config::TrainConfig, out: &Path, resuming: bool) -> Result<PathBuf> {
    let mut recipe = cfg.recipe();
    let stages = methods::plan(&cfg.method, &recipe)?;
    let split = load_split(&cfg)?;
    let count = stages.len();
    let mut last = out.to_path_buf();
    for (k, stage) in stages.into_iter().enumerate() {
        let dir = out.join(stage.folder);
        let title = format!(
            "occreid train: {} stage {} of {count} ({})",
            cfg.method,
            k + 1,
            stage.method
        );
        if count > 1 {
            occreid_train::progress::set_stage(&format!("stage {} of {count} ({})", k + 1, stage.method));
        }
        if dir.join("summary.json").exists() {
            say!(
                "stage {} ({}) already finished in {}",
                k + 1,
                stage.method,
                dir.display()
            );
        } else if resuming && dir.join("last.ckpt").exists() {
            let mut engine = Engine::resume(&dir, Some(split.clone()))?;
            finish(&mut engine, &dir, &title, Vec::new())?;
        } else {
            let mut stage_cfg = cfg.clone();
            stage_cfg.method = stage.method.to_string();
            stage_cfg.train.epochs = stage.epochs.unwrap_or(cfg.train.epochs);
            stage_cfg.set_recipe(recipe.clone());
            if stage.hand_over.is_some() {
                // An intermediate stage's product is the checkpoint it hands over (the VGN guides SDCN):
                // its holistic evaluation says whether it learned; the occlusion suite and re-ranking,
                // the costly part of a small run's evaluation, are for the final model. Train the stage's
                // method alone (`method = "vgn"`) to measure it fully.
                stage_cfg.test.occlusion.enabled = false;
                stage_cfg.test.rerank = false;
            }
            let mut engine = Engine::new(stage_cfg, split.clone(), &dir)?;
            finish(&mut engine, &dir, &title, Vec::new())?;
        }
        if let Some(hand_over) = stage.hand_over {
            hand_over(&mut recipe, &dir.join("last.ckpt").display().to_string());
        }
        last = dir;
    }
    Ok(last)
}

/// Trains to the end, runs the occlusion suite when configured, writes summary.json and report.html.
pub fn finish(engine: &mut Engine, out: &Path, title: &str, mut notes: Vec<String>) -> Result<()> {
    let started = Instant::now();
    let c = engine.config().clone();
    say!(
        "training {} ({:?}, {}x{}) on {} ({} train images, {} ids) for {} epochs on {} -> {}",
        c.method,
        c.model.backbone,
        c.data.height,
        c.data.width,
        c.data.dataset,
        engine.split().train.len(),
        engine.split().num_train_pids(),
        c.train.epochs,
        device_name(engine.device()),
        out.display()
    );
    engine.set_interrupt(crate::interrupt::flag().context("installing the Ctrl-C handler")?);
    engine.run(&mut [])?;
    if engine.last_evaluation().is_none() {
        engine.evaluate_now()?;
    }
    let ev = engine.last_evaluation().expect("evaluated above");
    say_raw!("holistic     {}", ev.plain.summary_line());
    if let Some(r) = &ev.reranked {
        say_raw!("re-ranked    {}", r.summary_line());
    }
    for (name, set) in engine.test_set_evaluations() {
        say_raw!("{name:<12} {}", set.plain.summary_line());
    }
    let split = engine.split();
    let showcase_queries = run_report::showcase_queries(split.query.len());
    let occlusion: Vec<OcclusionResult> = if c.test.occlusion.enabled {
        let r = occlusion_suite(engine.method(), split, &c, engine.device(), &showcase_queries)?;
        r.iter().for_each(|o| say_raw!("{}", o.summary_line()));
        r
    } else {
        Vec::new()
    };
    let showcase = run_report::showcase(out, &c, split, ev, &occlusion)?;
    // What the final evaluation came from: the model as last.ckpt holds it, trained by config.toml.
    let (checkpoint, config) = (out.join("last.ckpt"), out.join("config.toml"));
    let summary = engine.write_summary(json!({
        "occlusion": occlusion,
        "occlusion_seed": c.test.occlusion.seed,
        "test_set": {
            "dataset": c.data.test_sets.first().map_or_else(
                || if c.data.test_dataset.is_empty() { c.data.dataset.clone() } else { c.data.test_dataset.clone() },
                |t| t.dataset.clone(),
            ),
            "queries": split.query.len(),
            "gallery": split.gallery.len(),
            "fingerprint": test_set_fingerprint(&split.query, &split.gallery),
        },
        "checkpoint": checkpoint.display().to_string(),
        "config": config.display().to_string(),
        "showcase": showcase,
    }))?;
    let records = run_report::read_records(out)?;
    notes.extend([
        format!(
            "method {} · backbone {:?} · input {}x{} · {} epochs · batch {} ({} ids x {})",
            c.method,
            c.model.backbone,
            c.data.height,
            c.data.width,
            engine.epoch(),
            c.data.batch_size,
            c.data.batch_size / c.data.instances_per_id.max(1),
            c.data.instances_per_id
        ),
        format!(
            "dataset {} ({}): {} train images / {} ids; {} queries, {} gallery",
            c.data.dataset,
            c.data.root,
            engine.split().train.len(),
            engine.split().num_train_pids(),
            engine.split().query.len(),
            engine.split().gallery.len()
        ),
        format!(
            "training time {:.0} s (this session: {:.0} s after training); device {}",
            records.iter().map(|r| r.seconds).sum::<f64>(),
            started.elapsed().as_secs_f64(),
            device_name(engine.device())
        ),
        format!(
            "evaluated: {} (epoch {}), trained with {}",
            checkpoint.display(),
            engine.epoch(),
            config.display()
        ),
    ]);
    let report = run_report::build(&RunSummary {
        title: title.to_string(),
        notes,
        records: &records,
        evaluation: engine.last_evaluation(),
        occlusion: &occlusion,
        test_sets: engine
            .test_set_evaluations()
            .into_iter()
            .map(|(n, e)| (n.to_string(), e.plain.clone()))
            .collect(),
        rank_lists: showcase.first().map(|s| s.lists.clone()).unwrap_or_default(),
        config: Some(c.to_toml()),
    });
    let report_path = out.join("report.html");
    run_report::write(&report_path, &report)?;
    say!("summary: {}", summary.display());
    say!("report:  {}", report_path.display());
    let best = engine.best().context("no evaluation recorded")?;
    say!(
        "best:    epoch {} R1 {:.2} mAP {:.2} ({})",
        best.epoch,
        best.rank1 * 100.0,
        best.map * 100.0,
        out.join("best.ckpt").display()
    );
    Ok(())
}
