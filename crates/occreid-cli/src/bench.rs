//! Benchmark helpers; BENCHMARKS.md gives the commands and the numbers.
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use occreid_eval::distance::{pairwise, Metric};
use occreid_eval::market_scale;
use occreid_eval::npy::{write_f32, write_i64};
use occreid_eval::{evaluate, Protocol};

#[derive(clap::Subcommand)]
pub enum Command {
    /// BoT training-step and extraction images/s on random inputs, optionally against PyTorch
    Train(crate::bench_train::Args),
    /// Times Market-protocol metrics on the in-memory Market-scale distance matrix (3368 x 15913)
    Metrics {
        #[arg(long, default_value_t = 5)]
        repeats: usize,
    },
    /// Images/s of the parallel loader with BoT train transforms (resize 256x128, flip, pad+crop,
    /// normalise, random erasing) over the train split of a Market-layout folder
    Loader {
        #[arg(long)]
        root: PathBuf,
        #[arg(long, default_value_t = 64)]
        batch_size: usize,
        /// Passes over the train split
        #[arg(long, default_value_t = 2)]
        epochs: usize,
        /// Worker threads (0 = one per core)
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Then run the PyTorch peer (`tools/bench_loader_peer.py` through `.venv/bin/python`, run from
        /// the repository root) on the same folder, epochs, batch size and worker count, and print the ratio
        #[arg(long)]
        peer: bool,
    },
    /// Writes synthetic features with identity structure for search benchmarks: OUT/gallery (shards, as
    /// `occreid extract --out DIR` writes them) and OUT/queries.safetensors, for `occreid search
    /// --query-features`
    Features(SyntheticArgs),
    /// Writes query and gallery features (.npy) with identity structure and their labels at the size of
    /// Market-1501, Market + 500k distractors or MSMT17, for `occreid metrics --query-features` and
    /// `occreid rerank` at scale
    EvalFeatures(crate::bench_scale::Args),
    /// Writes the Market-scale problem as .npy files (distmat, labels, features; optionally the
    /// q_g / q_q / g_g squared-Euclidean matrices torchreid's re-ranking takes, ~1.5 GB)
    MarketScaleInputs {
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        rerank_matrices: bool,
    },
}

pub fn run(c: Command) -> Result<()> {
    match c {
        Command::Train(a) => crate::bench_train::run(a),
        Command::Metrics { repeats } => metrics(repeats),
        Command::MarketScaleInputs { out, rerank_matrices } => inputs(out, rerank_matrices),
        Command::Features(a) => synthetic_features(a),
        Command::EvalFeatures(a) => crate::bench_scale::run(a),
        Command::Loader {
            root,
            batch_size,
            epochs,
            threads,
            peer,
        } => {
            let ours = loader(&root, batch_size, epochs, threads)?;
            if peer {
                let theirs = loader_peer(&root, batch_size, epochs, worker_threads(threads))?;
                println!("ratio: {:.2}x ({ours:.0} / {theirs:.0} images/s)", ours / theirs);
            }
            Ok(())
        }
    }
}

fn metrics(repeats: usize) -> Result<()> {
    let p = market_scale::generate();
    let (query, gallery) = (p.query(), p.gallery());
    let mut times = Vec::new();
    let mut map = 0.0;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        let m = evaluate(&p.distmat, query, gallery, 50, Protocol::Market1501)?;
        times.push(t.elapsed().as_secs_f64());
        map = m.map;
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "market-scale metrics: median {:.4} s over {} runs {:?} (threads: {}), mAP {:.10}",
        sorted[sorted.len() / 2],
        times.len(),
        times.iter().map(|t| format!("{t:.4}")).collect::<Vec<_>>(),
        rayon::current_num_threads(),
        map
    );
    Ok(())
}

fn inputs(out: PathBuf, rerank_matrices: bool) -> Result<()> {
    new_folder(&out)?;
    let p = market_scale::generate();
    let (q, g) = (p.q_pids.len(), p.g_pids.len());
    write_f32(out.join("distmat.npy"), &[q, g], p.distmat.as_slice())?;
    write_i64(out.join("q_pids.npy"), &p.q_pids)?;
    write_i64(out.join("g_pids.npy"), &p.g_pids)?;
    write_i64(out.join("q_camids.npy"), &p.q_camids)?;
    write_i64(out.join("g_camids.npy"), &p.g_camids)?;
    let (qf, gf) = p.feature_matrices();
    write_f32(out.join("q_feats.npy"), &[q, 30], qf.as_slice())?;
    write_f32(out.join("g_feats.npy"), &[g, 30], gf.as_slice())?;
    if rerank_matrices {
        for (name, a, b) in [("q_g.npy", &qf, &gf), ("q_q.npy", &qf, &qf), ("g_g.npy", &gf, &gf)] {
            let d = pairwise(a, b, Metric::SqEuclidean)?;
            write_f32(out.join(name), &[d.rows(), d.cols()], d.as_slice())?;
        }
    }
    println!("wrote the Market-scale problem to {}", out.display());
    Ok(())
}

/// Images/s of our loader.
fn loader(root: &std::path::Path, batch_size: usize, epochs: usize, threads: usize) -> Result<f64> {
    use occreid_data::loader::{Loader, LoaderOptions, Transform};
    use occreid_data::transforms::TrainTransform;
    use occreid_data::{reader, ReaderOptions};
    use std::sync::Arc;

    let split = reader("market1501", &ReaderOptions::default())?.read(root)?;
    let n = split.train.len();
    let samples = Arc::new(split.train);
    let batches: Vec<Vec<usize>> = (0..epochs)
        .flat_map(|_| occreid_data::loader::sequential_batches(n, batch_size))
        .collect();
    let opts = LoaderOptions {
        threads,
        ..LoaderOptions::default()
    };
    let t = Instant::now();
    let mut images = 0usize;
    for batch in Loader::spawn(samples, batches, Transform::Train(TrainTransform::bot(256, 128)), opts)? {
        images += batch?.shape[0];
    }
    let secs = t.elapsed().as_secs_f64();
    let rate = images as f64 / secs;
    println!(
        "occreid loader: {images} images in {secs:.2} s = {rate:.0} images/s ({} threads, batch {batch_size})",
        worker_threads(threads)
    );
    Ok(rate)
}

/// The loader's worker count for a `--threads` value (0 = one per core).
fn worker_threads(threads: usize) -> usize {
    if threads == 0 {
        rayon::current_num_threads()
    } else {
        threads
    }
}

/// Runs a PyTorch peer script (`tools/…`) with the venv's Python, from the repository root, and returns
/// its standard output; a failed run is an error carrying what it printed.
pub(crate) fn run_peer(script: &str, args: &[String]) -> Result<String> {
    let python = ".venv/bin/python";
    let out = std::process::Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .map_err(|e| {
            anyhow::anyhow!("{python}: cannot run ({e}); run from the repository root after tools/bootstrap.sh")
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && stderr.contains("No module named 'torchvision'") {
        anyhow::bail!("{script} needs torchvision, which the tests do not: run tools/bootstrap.sh --peers once");
    }
    if !out.status.success() {
        anyhow::bail!("{script} failed ({}): {}{}", out.status, stdout, stderr);
    }
    Ok(stdout)
}

/// Runs the torchvision DataLoader peer and returns its images/s (the number before "images/s" on its
/// last line).
fn loader_peer(root: &std::path::Path, batch_size: usize, epochs: usize, workers: usize) -> Result<f64> {
    let script = "tools/bench_loader_peer.py";
    let args = [
        root.display().to_string(),
        "--epochs".into(),
        epochs.to_string(),
        "--workers".into(),
        workers.to_string(),
        "--batch-size".into(),
        batch_size.to_string(),
    ];
    let stdout = run_peer(script, &args)?;
    let line = stdout.lines().last().unwrap_or("").to_string();
    print!("{stdout}");
    line.split(" images/s")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("{script}: no 'N images/s' in its last line '{line}'"))
}

#[derive(clap::Args)]
pub struct SyntheticArgs {
    #[arg(long)]
    out: PathBuf,
    /// Gallery rows
    #[arg(long)]
    rows: usize,
    #[arg(long, default_value_t = 2048)]
    dim: usize,
    /// Identities (row r is identity r mod ids)
    #[arg(long, default_value_t = 10_000)]
    ids: u64,
    #[arg(long, default_value_t = 1000)]
    queries: usize,
    /// Noise relative to the identity centres' spread
    #[arg(long, default_value_t = 1.0)]
    noise: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value_t = occreid_train::features::DEFAULT_SHARD_ROWS)]
    shard_rows: usize,
    /// Replace OUT's gallery and queries if there
    #[arg(long)]
    overwrite: bool,
}

fn synthetic_features(a: SyntheticArgs) -> Result<()> {
    use occreid_search::synthetic::SyntheticFeatures;
    use occreid_train::export::{InputSpec, ModelCard};
    use occreid_train::features::{save_features, ShardWriter};
    if a.rows == 0 || a.dim == 0 || a.ids == 0 || a.queries == 0 || a.shard_rows == 0 {
        anyhow::bail!("--rows, --dim, --ids, --queries and --shard-rows must be at least 1");
    }
    if !a.noise.is_finite() || a.noise < 0.0 {
        anyhow::bail!("--noise {}: expected a finite value >= 0", a.noise);
    }
    let (gallery, queries) = (a.out.join("gallery"), a.out.join("queries.safetensors"));
    for p in [&gallery, &queries] {
        crate::check_output(p, a.overwrite)?;
    }
    let gen = SyntheticFeatures {
        dim: a.dim,
        ids: a.ids,
        noise: a.noise,
        seed: a.seed,
    };
    // Features of no model: the card says so, and only features of this same generator setting compare.
    let card = ModelCard {
        format: 1,
        method: "synthetic".into(),
        input: InputSpec {
            layout: "none".into(),
            height: 0,
            width: 0,
            interpolation: occreid_data::transforms::Interpolation::Bilinear,
            mean: [0.0; 3],
            std: [1.0; 3],
        },
        feature_dim: a.dim,
        l2_normalized: true,
        flip_averaged: false,
        distance: "squared_euclidean".into(),
        source_checkpoint: "occreid bench features".into(),
        source_epoch: 0,
        weights_sha256: format!("synthetic-ids{}-noise{}-seed{}", a.ids, a.noise, a.seed),
        occreid_version: env!("CARGO_PKG_VERSION").into(),
    };
    let t = Instant::now();
    let samples = |pids: &[i64], prefix: &str, first: usize| -> Vec<occreid_data::Sample> {
        pids.iter()
            .enumerate()
            .map(|(i, &pid)| occreid_data::Sample {
                path: PathBuf::from(format!("{prefix}{:08}_id{pid}", first + i)),
                pid,
                camid: 0,
            })
            .collect()
    };
    let mut writer = ShardWriter::create(&gallery, a.shard_rows, Some(card.clone()))?;
    let bar = occreid_train::progress::bar(a.rows as u64, "features");
    for first in (0..a.rows).step_by(a.shard_rows) {
        let n = a.shard_rows.min(a.rows - first);
        let (m, pids) = gen.block(0, first as u64, n);
        writer.push(&m, &samples(&pids, "g", first))?;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    let manifest = writer.finish()?;
    let (q, pids) = gen.block(1, 0, a.queries);
    save_features(&queries, &q, &samples(&pids, "q", 0), Some(&card))?;
    println!(
        "{} x {} gallery features in {} shards and {} queries ({} identities) in {:.1} s -> {}",
        manifest.rows,
        a.dim,
        manifest.shards.len(),
        a.queries,
        a.ids,
        t.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(())
}

/// Makes `out` for generated inputs, refusing a folder that already holds files (never mixes or replaces).
pub(crate) fn new_folder(out: &std::path::Path) -> Result<()> {
    if out.exists() && out.read_dir()?.next().is_some() {
        anyhow::bail!(
            "{} exists and is not empty; choose an empty or new folder",
            out.display()
        );
    }
    std::fs::create_dir_all(out)?;
    Ok(())
}
