//! `occreid search`: the nearest gallery images of query images (or of query features), exact over the
//! gallery's shards or through an HNSW index built once beside them.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use occreid_eval::distance::Metric;
use occreid_eval::Matrix;
use occreid_search::exact::{search_block, TopK};
use occreid_search::hnsw::{self, HnswParams};
use occreid_train::embedder::{same_model, Embedder};
use occreid_train::export::ModelCard;
use occreid_train::features::{read_features, Gallery};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IndexKind {
    /// Every gallery feature, one shard at a time: the true nearest neighbours
    Exact,
    /// An HNSW graph built once beside the gallery and reused: approximate, for galleries of millions
    Hnsw,
}

#[derive(clap::Args)]
pub struct SearchArgs {
    /// The model that extracted the gallery: a checkpoint or a TorchScript export of it
    #[arg(long, required_unless_present = "query_features")]
    model: Option<PathBuf>,
    /// Gallery features: a .safetensors file or a folder of shards, written by `occreid extract`
    #[arg(long)]
    gallery: PathBuf,
    /// A query image, or a folder of them (recursively)
    #[arg(long, required_unless_present = "query_features", conflicts_with = "query_features")]
    query: Option<PathBuf>,
    /// Query features already extracted (.safetensors from `occreid extract`) instead of --model/--query
    #[arg(long, conflicts_with = "model")]
    query_features: Option<PathBuf>,
    /// Matches shown per query
    #[arg(long, default_value_t = 10)]
    top: usize,
    #[arg(long, value_enum, default_value = "exact")]
    index: IndexKind,
    /// HNSW search breadth (at least --top; larger is slower and closer to exact)
    #[arg(long, default_value_t = 64)]
    ef: usize,
    /// HNSW graph degree M, when the index is built
    #[arg(long, default_value_t = HnswParams::default().m)]
    hnsw_m: usize,
    /// HNSW construction breadth, when the index is built
    #[arg(long, default_value_t = HnswParams::default().ef_construction)]
    hnsw_ef_construction: usize,
    /// Build the index again even if the one beside the gallery is current
    #[arg(long)]
    rebuild_index: bool,
    /// With --index hnsw: also search this many queries (evenly spaced) exactly and report recall@1/10
    #[arg(long)]
    recall: Option<usize>,
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

struct Queries {
    features: Matrix,
    names: Vec<String>,
    card: ModelCard,
}

fn query_images(path: &Path) -> Result<Vec<occreid_data::Sample>> {
    if path.is_dir() {
        return crate::infer::images_under(path).context("--query");
    }
    if !path.is_file() {
        bail!("--query {}: no such file or folder", path.display());
    }
    if !occreid_data::datasets::is_image(path) {
        bail!(
            "--query {}: not an image ({})",
            path.display(),
            occreid_data::datasets::IMAGE_EXTENSIONS.join("/")
        );
    }
    Ok(vec![occreid_data::Sample {
        path: path.to_path_buf(),
        pid: -1,
        camid: -1,
    }])
}

/// The queries' features: read from --query-features, or extracted from --query by --model.
fn queries(a: &SearchArgs) -> Result<Queries> {
    if let Some(path) = &a.query_features {
        let f = read_features(path).context("--query-features")?;
        let card = f.model.ok_or_else(|| {
            anyhow!(
                "--query-features {}: no model card (written before occreid recorded one); extract them again",
                path.display()
            )
        })?;
        return Ok(Queries {
            features: f.features,
            names: f.paths,
            card,
        });
    }
    let (model_path, query) = (
        a.model.as_ref().expect("clap requires it"),
        a.query.as_ref().expect("clap"),
    );
    let images = Arc::new(query_images(query)?);
    let device = occreid_train::engine::resolve_device(&a.device)?;
    let model = Embedder::load(model_path, device).context("--model")?;
    let features = occreid_train::evaluate::extract_all(
        &model.as_fn(),
        images.clone(),
        occreid_data::loader::Transform::Test(model.transform()),
        &model.extract_options("query"),
    )?;
    Ok(Queries {
        features,
        names: images.iter().map(|s| s.path.display().to_string()).collect(),
        card: model.card,
    })
}

/// Exact top-`k` over every shard, one in memory at a time.
fn exact(gallery: &mut Gallery, qf: &Matrix, k: usize) -> Result<Vec<Vec<(usize, f32)>>> {
    let mut top = TopK::new(qf.rows(), k);
    for i in 0..gallery.num_shards() {
        let shard = gallery.shard(i)?;
        search_block(qf, &shard.features, Metric::SqEuclidean, &mut top)?;
    }
    Ok(top.into_results())
}

/// The gallery's HNSW index, built (with a progress bar) unless a current one is there; returns whether it
/// was built and its build time.
fn ensure_index(gallery: &mut Gallery, a: &SearchArgs) -> Result<(bool, f64)> {
    let dir = gallery.index_dir();
    let fingerprint = gallery.fingerprint()?;
    if !a.rebuild_index {
        if let Ok(meta) = hnsw::read_meta(&dir) {
            if meta.gallery == fingerprint {
                return Ok((false, meta.build_seconds));
            }
            tracing::info!(index = %dir.display(), "the gallery changed since its index was built: building it again");
        }
    }
    let params = HnswParams {
        m: a.hnsw_m,
        ef_construction: a.hnsw_ef_construction,
    };
    let mut builder = hnsw::Builder::new(gallery.rows, gallery.dim, params)?;
    let bar = occreid_train::progress::bar(gallery.rows as u64, "index");
    const CHUNK: usize = 4096;
    for i in 0..gallery.num_shards() {
        let shard = gallery.shard(i)?;
        let (rows, dim) = (shard.features.rows(), shard.features.cols());
        for start in (0..rows).step_by(CHUNK) {
            let n = CHUNK.min(rows - start);
            let part = &shard.features.as_slice()[start * dim..(start + n) * dim];
            builder.add(&Matrix::new(n, dim, part.to_vec()))?;
            bar.inc(n as u64);
        }
    }
    bar.finish_and_clear();
    let meta = builder.save(&dir, &fingerprint)?;
    // The graph was freed by `save`, but glibc keeps freed memory in the arenas of the threads that built
    // it (and occreid-full's mallopt keeps the heap untrimmed), so loading it back for the search doubled
    // the peak: 22.5 GiB at 10^6 x 2048 on a 24 GiB machine. Hand the free pages back first.
    // SAFETY: malloc_trim only returns free memory to the system; nothing else refers to it.
    unsafe { libc::malloc_trim(0) };
    tracing::info!(index = %dir.display(), rows = meta.rows, seconds = format!("{:.1}", meta.build_seconds), "HNSW index built");
    Ok((true, meta.build_seconds))
}

/// `n` query indices spread evenly over `total`.
fn spread(n: usize, total: usize) -> Vec<usize> {
    let n = n.min(total);
    (0..n).map(|i| i * total / n).collect()
}

fn rows_of(m: &Matrix, idx: &[usize]) -> Matrix {
    Matrix::new(
        idx.len(),
        m.cols(),
        idx.iter().flat_map(|&i| m.row(i).to_vec()).collect(),
    )
}

pub fn run(a: SearchArgs) -> Result<()> {
    if a.top == 0 {
        bail!("--top must be at least 1");
    }
    if a.recall.is_some() && a.index != IndexKind::Hnsw {
        bail!("--recall measures an approximate index against exact search: use it with --index hnsw");
    }
    if a.recall == Some(0) {
        bail!("--recall must be at least 1 query");
    }
    if let Some(html) = &a.html {
        crate::check_output(html, a.overwrite)?;
    }
    let mut gallery = Gallery::open(&a.gallery).context("--gallery")?;
    let t = Instant::now();
    let q = queries(&a)?;
    let Some(gallery_card) = &gallery.model else {
        bail!(
            "--gallery {}: its features carry no model card (written before occreid recorded one); extract them \
             again with `occreid extract`",
            a.gallery.display()
        );
    };
    same_model(&q.card, gallery_card).map_err(|e| anyhow!("--gallery {}: {e}", a.gallery.display()))?;
    let extracted = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut index_json = serde_json::json!({"kind": "exact"});
    let found = match a.index {
        IndexKind::Exact => exact(&mut gallery, &q.features, a.top)?,
        IndexKind::Hnsw => {
            let (built, build_s) = ensure_index(&mut gallery, &a)?;
            let (found, timing) = hnsw::search(&gallery.index_dir(), &q.features, a.top, a.ef)?;
            index_json = serde_json::json!({
                "kind": "hnsw", "dir": gallery.index_dir().display().to_string(), "built_now": built,
                "build_seconds": build_s, "ef": a.ef.max(a.top), "load_seconds": timing.load_seconds,
                "per_query_ms": 1e3 * timing.search_seconds / q.features.rows().max(1) as f64,
            });
            found
        }
    };
    let searched = t.elapsed().as_secs_f64();
    let recall = match a.recall {
        Some(n) => Some(measure_recall(&mut gallery, &q.features, n, &a)?),
        None => None,
    };

    let wanted: Vec<usize> = found.iter().flatten().map(|&(g, _)| g).collect();
    let names = gallery.paths_of(&wanted)?;
    let results: Vec<QueryResult> = found
        .into_iter()
        .zip(&q.names)
        .map(|(hits, query)| QueryResult {
            query: query.clone(),
            matches: hits
                .into_iter()
                .enumerate()
                .map(|(r, (g, d))| Match {
                    rank: r + 1,
                    path: names.get(&g).cloned().unwrap_or_default(),
                    distance: d,
                })
                .collect(),
        })
        .collect();
    if let Some(html) = &a.html {
        write_page(html, &results, &q.card, &a.gallery, gallery.rows)?;
    }
    let per_query_ms = 1e3 * searched / q.features.rows().max(1) as f64;
    if a.json {
        let out = serde_json::json!({
            "model": q.card,
            "gallery": {"path": a.gallery.display().to_string(), "rows": gallery.rows, "dim": gallery.dim},
            "distance": q.card.distance,
            "index": index_json,
            // search_seconds: everything after the query features (an index build and load included).
            "timing": {"queries_seconds": extracted, "search_seconds": searched, "per_query_ms": per_query_ms},
            "recall": recall,
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
        if let Some(r) = &recall {
            println!(
                "recall against exact search on {} queries: @1 {:.3}  @10 {:.3}",
                r["queries"], r["at1"], r["at10"]
            );
        }
    }
    tracing::info!(
        queries = q.features.rows(),
        gallery = gallery.rows,
        search_s = format!("{searched:.2}"),
        per_query_ms = format!("{per_query_ms:.2}"),
        "searched"
    );
    Ok(())
}

/// Recall@1 and @10 of the HNSW index against exact search, on `n` evenly spaced queries.
fn measure_recall(gallery: &mut Gallery, qf: &Matrix, n: usize, a: &SearchArgs) -> Result<serde_json::Value> {
    let sample = rows_of(qf, &spread(n, qf.rows()));
    let k = 10.min(gallery.rows);
    let t = Instant::now();
    let truth = exact(gallery, &sample, k)?;
    let exact_s = t.elapsed().as_secs_f64();
    let (approx, timing) = hnsw::search(&gallery.index_dir(), &sample, k, a.ef)?;
    Ok(serde_json::json!({
        "queries": sample.rows(),
        "at1": hnsw::recall_at(&truth, &approx, 1),
        "at10": hnsw::recall_at(&truth, &approx, k),
        "exact_per_query_ms": 1e3 * exact_s / sample.rows().max(1) as f64,
        "hnsw_per_query_ms": 1e3 * timing.search_seconds / sample.rows().max(1) as f64,
    }))
}

fn write_page(path: &Path, results: &[QueryResult], card: &ModelCard, gallery: &Path, rows: usize) -> Result<()> {
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
            format!("gallery: {} ({rows} images)", gallery.display()),
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
