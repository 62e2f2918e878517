//! `occreid export`: a checkpoint's embedding as TorchScript or ONNX, with its model card.
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use occreid_torch::tch::Device;
use occreid_train::export;
use occreid_train::restore::method_from_checkpoint;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// TorchScript (libtorch's tracer): torch.jit.load, tch::CModule, libtorch C++
    Torchscript,
    /// ONNX opset 17 (PyTorch's exporter, run by the Python that holds this libtorch): onnxruntime, TensorRT
    Onnx,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// A checkpoint written by `occreid train`
    #[arg(long)]
    checkpoint: PathBuf,
    #[arg(long, value_enum)]
    format: Format,
    /// The exported model (.pt for TorchScript, .onnx for ONNX by convention)
    #[arg(long)]
    out: PathBuf,
    /// Replace --out if it exists
    #[arg(long)]
    overwrite: bool,
    /// ONNX only: the Python with torch and onnx to run the exporter (default: OCCREID_PYTHON, else the
    /// environment whose libtorch this binary runs on)
    #[arg(long)]
    python: Option<PathBuf>,
}

pub fn export_cmd(a: ExportArgs) -> Result<()> {
    crate::check_output(&a.out, a.overwrite)?;
    if a.python.is_some() && a.format != Format::Onnx {
        bail!("--python is for --format onnx (TorchScript is written by this binary's libtorch)");
    }
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            bail!("--out {}: the folder {} does not exist", a.out.display(), dir.display());
        }
    }
    // Traced on the CPU: the file then loads anywhere (`.to("cuda")` moves it).
    let restored = method_from_checkpoint(&a.checkpoint, Device::Cpu)?;
    let t = std::time::Instant::now();
    let (module, card) = export::trace(&restored, &a.checkpoint)?;
    match a.format {
        Format::Torchscript => export::write_torchscript(&module, &card, &a.out)?,
        Format::Onnx => export::write_onnx(&module, &card, &a.out, a.python.as_deref())
            .with_context(|| format!("exporting {} to ONNX", a.checkpoint.display()))?,
    }
    println!(
        "{} embedding ({}x{} input, {}-d features{}{}) in {:.1} s -> {}",
        card.method,
        card.input.height,
        card.input.width,
        card.feature_dim,
        if card.l2_normalized { ", L2-normalised" } else { "" },
        if card.flip_averaged { ", flip-averaged" } else { "" },
        t.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(())
}

#[derive(clap::Args)]
pub struct SearchArgs {
    /// The model that extracted the gallery: a checkpoint or a TorchScript export of it
    #[arg(long)]
    model: PathBuf,
    /// Gallery features: a .safetensors file or a folder of shards, written by `occreid extract`
    #[arg(long)]
    gallery: PathBuf,
    /// A query image, or a folder of them (recursively)
    #[arg(long)]
    query: PathBuf,
    /// Matches shown per query
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Print the results as one JSON object instead of a table
    #[arg(long)]
    json: bool,
    /// Also write the queries and their matches as thumbnails to this HTML page
    #[arg(long)]
    html: Option<PathBuf>,
    /// Replace --html if it exists
    #[arg(long)]
    overwrite: bool,
    #[arg(long, default_value = "auto")]
    device: String,
}

#[derive(serde::Serialize)]
struct Match {
    rank: usize,
    path: String,
    distance: f32,
}

#[derive(serde::Serialize)]
struct QueryResult {
    query: String,
    matches: Vec<Match>,
}

pub fn search_cmd(a: SearchArgs) -> Result<()> {
    use occreid_eval::distance::Metric;
    use occreid_eval::search::{search_block, TopK};
    use occreid_train::embedder::{same_model, Embedder};
    use occreid_train::features::Gallery;

    if a.top == 0 {
        bail!("--top must be at least 1");
    }
    if let Some(html) = &a.html {
        crate::check_output(html, a.overwrite)?;
    }
    let queries = if a.query.is_dir() {
        crate::infer::images_under(&a.query).context("--query")?
    } else if a.query.is_file() {
        if !occreid_data::datasets::is_image(&a.query) {
            bail!(
                "--query {}: not an image ({})",
                a.query.display(),
                occreid_data::datasets::IMAGE_EXTENSIONS.join("/")
            );
        }
        vec![occreid_data::Sample {
            path: a.query.clone(),
            pid: -1,
            camid: -1,
        }]
    } else {
        bail!("--query {}: no such file or folder", a.query.display());
    };
    let mut gallery = Gallery::open(&a.gallery).context("--gallery")?;
    let device = occreid_train::engine::resolve_device(&a.device)?;
    let model = Embedder::load(&a.model, device).context("--model")?;
    let Some(gallery_card) = &gallery.model else {
        bail!(
            "--gallery {}: its features carry no model card (written before occreid recorded one); extract \
             them again with `occreid extract`",
            a.gallery.display()
        );
    };
    same_model(&model.card, gallery_card).map_err(|e| anyhow::anyhow!("--gallery {}: {e}", a.gallery.display()))?;

    let t = std::time::Instant::now();
    let opts = model.extract_options("query");
    let queries = std::sync::Arc::new(queries);
    let mut rows = Vec::new();
    occreid_train::evaluate::extract_streaming(
        &model.as_fn(),
        queries.clone(),
        occreid_data::loader::Transform::Test(model.transform()),
        &opts,
        &mut |_, m| {
            rows.extend_from_slice(m.as_slice());
            Ok(())
        },
    )?;
    let qf = occreid_eval::Matrix::new(queries.len(), model.card.feature_dim, rows);
    let extracted = t.elapsed().as_secs_f64();

    // One shard in memory at a time; the paths of rows that enter a top list are kept as they pass.
    let mut top = TopK::new(qf.rows(), a.top);
    let mut names = std::collections::HashMap::new();
    for i in 0..gallery.num_shards() {
        let shard = gallery.shard(i)?;
        let offset = top.seen();
        search_block(&qf, &shard.features, Metric::SqEuclidean, &mut top)?;
        for list in top.current() {
            for &(_, g) in list.iter().filter(|(_, g)| *g >= offset) {
                names.entry(g).or_insert_with(|| shard.paths[g - offset].clone());
            }
        }
    }
    let searched = t.elapsed().as_secs_f64() - extracted;
    let results: Vec<QueryResult> = top
        .into_results()
        .into_iter()
        .zip(queries.iter())
        .map(|(found, q)| QueryResult {
            query: q.path.display().to_string(),
            matches: found
                .into_iter()
                .enumerate()
                .map(|(r, (g, d))| Match {
                    rank: r + 1,
                    path: names[&g].clone(),
                    distance: d,
                })
                .collect(),
        })
        .collect();

    if let Some(html) = &a.html {
        write_search_page(html, &results, &model.card, &a.gallery, gallery.rows)?;
    }
    if a.json {
        let out = serde_json::json!({
            "model": model.card,
            "gallery": {"path": a.gallery.display().to_string(), "rows": gallery.rows},
            "distance": model.card.distance,
            "results": results,
        });
        println!("{}", serde_json::to_string(&out)?);
    } else {
        for r in &results {
            println!("{}", r.query);
            for m in &r.matches {
                println!("  {:>3}  {:.4}  {}", m.rank, m.distance, m.path);
            }
        }
    }
    tracing::info!(
        queries = queries.len(),
        gallery = gallery.rows,
        shards = gallery.num_shards(),
        extract_s = format!("{extracted:.2}"),
        search_s = format!("{searched:.2}"),
        "searched"
    );
    Ok(())
}

fn write_search_page(
    path: &std::path::Path,
    results: &[QueryResult],
    card: &export::ModelCard,
    gallery: &std::path::Path,
    gallery_rows: usize,
) -> Result<()> {
    use occreid_report::{write_report, RankItem, RankList, RenderOptions, Report};
    let item = |path: &str, distance: f64| RankItem {
        path: PathBuf::from(path),
        pid: -1,
        camid: -1,
        distance,
        matched: false,
    };
    let report = Report {
        title: "occreid search".into(),
        notes: vec![
            format!(
                "model: {} embedding, {}-d, from {} (epoch {})",
                card.method, card.feature_dim, card.source_checkpoint, card.source_epoch
            ),
            format!("gallery: {} ({gallery_rows} images)", gallery.display()),
            format!("distance: {} (smaller is closer)", card.distance),
        ],
        rank_lists: results
            .iter()
            .map(|r| RankList {
                label: String::new(),
                query: item(&r.query, 0.0),
                gallery: r.matches.iter().map(|m| item(&m.path, m.distance as f64)).collect(),
                ap: None,
            })
            .collect(),
        ..Default::default()
    };
    write_report(path, &report, &RenderOptions::default())?;
    Ok(())
}
