//! `occreid data check | split | synth`.
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use occreid_data::check::{check, render_text, CheckOptions};
use occreid_data::datasets::{reader, PartialReidQuery, ReaderOptions};
use occreid_data::synth::{generate, SynthOptions, SynthSummary};
use serde_json::json;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Counts images / identities / cameras per split beside the canonical counts and lists every problem
    Check(CheckArgs),
    /// Writes a dataset's train / query / gallery lists (path, pid, camid) as JSON, for other tools to share
    /// exactly the same split (train pids relabelled 0..N-1)
    Split(SplitArgs),
    /// Writes a Market-1501-layout tree of procedurally drawn pedestrians (the embedded default dataset)
    Synth(SynthArgs),
}

#[derive(clap::Args)]
pub struct CheckArgs {
    /// Dataset name (market1501, dukemtmcreid, occluded_duke, occluded_reid, partial_reid, partial_ilids,
    /// p_dukemtmc_reid, msmt17, cuhk01, custom)
    #[arg(long)]
    dataset: String,
    #[arg(long)]
    root: PathBuf,
    /// Partial-REID query folder: occluded_body_images (the methods' code) or partial_body_images (the paper)
    #[arg(long, value_enum, default_value_t = PartialQuery::OccludedBodyImages)]
    partial_reid_query: PartialQuery,
    /// Skip full decoding of every image (faster; truncated files are then not found)
    #[arg(long)]
    no_decode: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PartialQuery {
    OccludedBodyImages,
    PartialBodyImages,
}

#[derive(clap::Args)]
pub struct SplitArgs {
    /// Dataset name (as for `data check`)
    #[arg(long)]
    dataset: String,
    #[arg(long)]
    root: PathBuf,
    /// Output JSON file: {"dataset", "root", "train", "query", "gallery", "notes"}; lists of {"path", "pid", "camid"}
    #[arg(long)]
    out: PathBuf,
    /// Replace --out if it exists
    #[arg(long)]
    overwrite: bool,
}

#[derive(clap::Args)]
pub struct SynthArgs {
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 100)]
    ids: usize,
    #[arg(long, default_value_t = 6)]
    cameras: usize,
    #[arg(long, default_value_t = 8)]
    images_per_id: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Image height in pixels (width: --width)
    #[arg(long, default_value_t = SynthOptions::default().height)]
    height: u32,
    #[arg(long, default_value_t = SynthOptions::default().width)]
    width: u32,
    /// Probability that an image has an obstacle in front of the person
    #[arg(long, default_value_t = SynthOptions::default().occlusion)]
    occlusion: f32,
}

pub fn run(c: Command) -> Result<()> {
    match c {
        Command::Check(a) => run_check(a),
        Command::Split(a) => run_split(a),
        Command::Synth(a) => run_synth(a),
    }
}

fn run_check(a: CheckArgs) -> Result<()> {
    let mut opts = CheckOptions::default();
    opts.reader.partial_reid_query = match a.partial_reid_query {
        PartialQuery::OccludedBodyImages => PartialReidQuery::OccludedBodyImages,
        PartialQuery::PartialBodyImages => PartialReidQuery::PartialBodyImages,
    };
    opts.decode_images = !a.no_decode;
    // A synthetic tree carries its own expected counts.
    if let Some(summary) = SynthSummary::load(&a.root)? {
        opts.canonical = Some(summary.canonical());
    }
    let report = check(&a.dataset, &a.root, &opts);
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", render_text(&report));
    }
    if !report.ok {
        anyhow::bail!("{}: {} problem(s) found", a.root.display(), report.errors().count());
    }
    Ok(())
}

fn run_split(a: SplitArgs) -> Result<()> {
    crate::check_output(&a.out, a.overwrite)?;
    // Absolute image paths, so the file can be read from any working directory.
    let root = std::fs::canonicalize(&a.root)
        .with_context(|| format!("{}: cannot open the dataset root", a.root.display()))?;
    let split = reader(&a.dataset, &ReaderOptions::default())?.read(&root)?;
    let doc = json!({
        "dataset": a.dataset,
        "root": root,
        "train": split.train,
        "query": split.query,
        "gallery": split.gallery,
        "notes": split.notes,
    });
    let bytes = serde_json::to_vec(&doc).with_context(|| format!("{}: paths must be UTF-8", root.display()))?;
    occreid_eval::npy::write_atomic(&a.out, |w| w.write_all(&bytes))?;
    println!(
        "wrote {}: {} train images ({} ids) / {} query / {} gallery",
        a.out.display(),
        split.train.len(),
        split.num_train_pids(),
        split.query.len(),
        split.gallery.len()
    );
    Ok(())
}

fn run_synth(a: SynthArgs) -> Result<()> {
    let opts = SynthOptions {
        ids: a.ids,
        cameras: a.cameras,
        images_per_id: a.images_per_id,
        seed: a.seed,
        height: a.height,
        width: a.width,
        occlusion: a.occlusion,
        ..SynthOptions::default()
    };
    opts.validate()?;
    let t = Instant::now();
    let s = generate(&a.out, &opts)?;
    println!(
        "wrote {}: {} train / {} query / {} gallery images ({} train ids, {} test ids) in {:.2} s",
        s.out.display(),
        s.train.images,
        s.query.images,
        s.gallery.images,
        s.train_pids.len(),
        s.test_pids.len(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
