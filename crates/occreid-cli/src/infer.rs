//! `occreid eval` and `occreid extract`: a checkpoint's features on a dataset or a folder of images.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use occreid_data::datasets::{is_image, IMAGE_EXTENSIONS};
use occreid_data::loader::Transform;
use occreid_data::{reader, Sample};
use occreid_train::embedder::Embedder;
use occreid_train::engine::{evaluate_split, resolve_device};
use occreid_train::evaluate::{extract_all, extract_gallery, GalleryExtraction};
use occreid_train::features::{save_features, ShardWriter};
use occreid_train::restore::method_from_checkpoint;
use occreid_train::robustness::occlusion_suite;

#[derive(clap::Args)]
pub struct EvalArgs {
    /// A checkpoint written by `occreid train` (best.ckpt or last.ckpt)
    #[arg(long)]
    checkpoint: PathBuf,
    /// Test dataset (default: the one the checkpoint's config tests on)
    #[arg(long, requires = "root")]
    dataset: Option<String>,
    /// Folder of --dataset; alone, where the checkpoint's test dataset now lives
    #[arg(long)]
    root: Option<PathBuf>,
    /// Also report k-reciprocal re-ranked metrics
    #[arg(long)]
    rerank: bool,
    /// Average features of each image and its horizontal flip
    #[arg(long)]
    flip: bool,
    /// Run the occlusion robustness suite of the checkpoint's config (all kinds and ratios if unset)
    #[arg(long)]
    occlusion: bool,
    /// Print summary.json's object instead of a table
    #[arg(long)]
    json: bool,
    #[arg(long, default_value = "auto")]
    device: String,
}

pub fn eval(a: EvalArgs) -> Result<()> {
    let device = resolve_device(&a.device)?;
    let restored = method_from_checkpoint(&a.checkpoint, device)?;
    let mut cfg = restored.config;
    cfg.test.rerank |= a.rerank;
    cfg.test.flip |= a.flip;
    let split = match (&a.dataset, &a.root) {
        (Some(name), Some(root)) => reader(name, &cfg.data.reader)?.read(root)?,
        (None, Some(root)) => {
            let d = &cfg.data;
            let name = if d.test_dataset.is_empty() {
                &d.dataset
            } else {
                &d.test_dataset
            };
            reader(name, &d.reader)?.read(root)?
        }
        _ => occreid_train::engine::load_split(&cfg)
            .context("reading the checkpoint's test dataset (or pass --dataset and --root)")?,
    };
    let ev = evaluate_split(restored.method.as_ref(), &split, &cfg, device)?;
    let mut out = ev.plain.summary_json();
    if let Some(r) = &ev.reranked {
        out["reranked"] = r.summary_json();
    }
    out["checkpoint"] = a.checkpoint.display().to_string().into();
    out["epoch"] = restored.meta.epoch.into();
    let occlusion = if a.occlusion {
        cfg.test.occlusion.enabled = true;
        let r = occlusion_suite(restored.method.as_ref(), &split, &cfg, device, &[])?;
        out["occlusion"] = serde_json::to_value(&r)?;
        r
    } else {
        Vec::new()
    };
    if a.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        print!("holistic     {}", ev.plain.summary_line());
        if let Some(r) = &ev.reranked {
            print!("re-ranked    {}", r.summary_line());
        }
        occlusion.iter().for_each(|o| print!("{}", o.summary_line()));
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct ExtractArgs {
    /// A checkpoint written by `occreid train`, or a TorchScript model written by `occreid export`
    #[arg(long)]
    checkpoint: PathBuf,
    /// Every image under this folder (recursively; jpg, png, tif, bmp), in sorted path order
    #[arg(long, conflicts_with_all = ["dataset", "root"], required_unless_present = "dataset")]
    images: Option<PathBuf>,
    #[arg(long, requires = "root")]
    dataset: Option<String>,
    #[arg(long)]
    root: Option<PathBuf>,
    /// Which split of --dataset: query, gallery, train or all (query, then gallery, then train)
    #[arg(long, default_value = "all")]
    split: String,
    /// Output: FILE.safetensors (features, pids, camids, paths and the model card), FILE.npy (+ .paths.txt),
    /// or a folder: a gallery of any size, streamed to shards of --shard-rows rows (`occreid search` reads it)
    #[arg(long)]
    out: PathBuf,
    /// Rows per shard when --out is a folder (memory holds one shard)
    #[arg(long, default_value_t = occreid_train::features::DEFAULT_SHARD_ROWS)]
    shard_rows: usize,
    /// Also average each image's features with its horizontal flip's (a checkpoint only: an export has its
    /// test-time settings inside)
    #[arg(long)]
    flip: bool,
    /// Images per forward pass (default: the checkpoint's test batch size, 128 for an export)
    #[arg(long)]
    batch_size: Option<usize>,
    #[arg(long, default_value = "auto")]
    device: String,
    /// Replace --out if it exists
    #[arg(long)]
    overwrite: bool,
    /// Continue an interrupted extraction into the gallery folder --out: its finished shards are kept (each
    /// checked to come from this model and to hold the next images of the list) and the rest is extracted
    #[arg(long, conflicts_with = "overwrite")]
    resume: bool,
}

pub(crate) fn images_under(dir: &Path) -> Result<Vec<Sample>> {
    if !dir.is_dir() {
        bail!("{}: not a folder", dir.display());
    }
    let mut paths = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let p = entry?.path();
            if p.is_dir() {
                stack.push(p);
            } else if is_image(&p) {
                paths.push(p);
            }
        }
    }
    paths.sort();
    if paths.is_empty() {
        bail!("{}: no {} files found", dir.display(), IMAGE_EXTENSIONS.join("/"));
    }
    Ok(paths
        .into_iter()
        .map(|path| Sample {
            path,
            pid: -1,
            camid: -1,
        })
        .collect())
}

pub fn extract_cmd(a: ExtractArgs) -> Result<()> {
    let one_file = matches!(a.out.extension().and_then(|e| e.to_str()), Some("safetensors" | "npy"));
    if one_file {
        if a.resume {
            bail!(
                "--resume continues a gallery folder; {} is a single file",
                a.out.display()
            );
        }
        crate::check_output(&a.out, a.overwrite)?;
    } else if a.resume {
        if !a.out.is_dir() {
            bail!("--resume: {} is not a folder an extraction started", a.out.display());
        }
    } else {
        let non_empty = a.out.is_dir() && std::fs::read_dir(&a.out)?.next().is_some();
        if (a.out.exists() && !a.out.is_dir()) || (non_empty && !a.overwrite) {
            bail!(
                "{} already exists; choose another --out or pass --overwrite (an output that is not .safetensors \
                 or .npy is a gallery folder)",
                a.out.display()
            );
        }
        if a.shard_rows == 0 {
            bail!("--shard-rows must be at least 1");
        }
    }
    if a.out.extension().is_some_and(|e| e == "npy") {
        // The file list written beside the features is output too.
        crate::check_output(&a.out.with_extension("paths.txt"), a.overwrite)?;
    }
    let device = resolve_device(&a.device)?;
    let mut model = Embedder::load(&a.checkpoint, device)?;
    if a.flip {
        if model.config().is_none() {
            bail!(
                "--flip is for checkpoints: {} is an export whose settings are fixed",
                a.checkpoint.display()
            );
        }
        model.card.flip_averaged = true;
    }
    let samples = match (&a.images, &a.dataset, &a.root) {
        (Some(dir), _, _) => images_under(dir).context("--images")?,
        (None, Some(name), Some(root)) => {
            let options = model.config().map(|c| c.data.reader.clone()).unwrap_or_default();
            let s = reader(name, &options)?.read(root)?;
            match a.split.as_str() {
                "query" => s.query,
                "gallery" => s.gallery,
                "train" => s.train,
                "all" => [s.query, s.gallery, s.train].concat(),
                other => bail!("--split {other}: expected query, gallery, train or all"),
            }
        }
        _ => bail!("pass --images DIR or --dataset NAME --root PATH"),
    };
    let mut opts = model.extract_options("extract");
    if let Some(b) = a.batch_size {
        if b == 0 {
            bail!("--batch-size must be at least 1");
        }
        opts.batch_size = b;
    }
    let t = std::time::Instant::now();
    let samples = Arc::new(samples);
    let transform = Transform::Test(model.transform());
    let embed = model.as_fn();
    let dim = if one_file {
        let feats = extract_all(&embed, samples.clone(), transform, &opts)?;
        save_features(&a.out, &feats, &samples, Some(&model.card))?;
        feats.cols()
    } else {
        let card = Some(model.card.clone());
        let writer = if a.resume {
            let writer = ShardWriter::resume(&a.out, a.shard_rows, card, &samples)?;
            let done = writer.rows_on_disk();
            println!("resuming: {done} of {} images are in the shards already", samples.len());
            writer
        } else {
            ShardWriter::create(&a.out, a.shard_rows, card)?
        };
        let stop = crate::interrupt::flag().context("installing the Ctrl-C handler")?;
        let manifest = match extract_gallery(&embed, &samples, writer, transform, &opts, &stop)? {
            GalleryExtraction::Finished(manifest) => *manifest,
            GalleryExtraction::Stopped { code, rows_on_disk } => {
                return Err(crate::interrupt::Stopped {
                    code,
                    kept: format!(
                        "{rows_on_disk} of {} images are in the shards of {}; run the same command with --resume \
                         (and without --overwrite) to extract the rest",
                        samples.len(),
                        a.out.display()
                    ),
                }
                .into())
            }
        };
        println!("{} shards", manifest.shards.len());
        manifest.dim
    };
    println!(
        "{} features of dimension {dim} in {:.1} s -> {}",
        samples.len(),
        t.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(())
}
