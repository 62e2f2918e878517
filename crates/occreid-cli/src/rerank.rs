use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use occreid_eval::npy::{write_f32, write_f32_blocks, MatrixFile};
use occreid_eval::rerank::{rerank, FeatureReranker, RerankParams, RerankTable};
use occreid_eval::Rounded;

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["q_g", "query_features"])))]
pub struct Args {
    /// torchreid mode: query x gallery squared Euclidean distances [Q, G] (with --q-q and --g-g)
    #[arg(long, requires_all = ["q_q", "g_g"])]
    q_g: Option<PathBuf>,
    /// torchreid mode: query x query distances [Q, Q]
    #[arg(long, requires = "q_g")]
    q_q: Option<PathBuf>,
    /// torchreid mode: gallery x gallery distances [G, G]
    #[arg(long, requires = "q_g")]
    g_g: Option<PathBuf>,
    /// Feature mode (BoT): query features [Q, D]; distances are squared Euclidean of the features as given.
    /// Exact, without the (Q+G)² table: memory grows with (Q+G) x D, not its square
    #[arg(long, requires = "gallery_features", conflicts_with = "q_g")]
    query_features: Option<PathBuf>,
    /// Feature mode: gallery features [G, D]
    #[arg(long, requires = "query_features")]
    gallery_features: Option<PathBuf>,
    #[arg(long, default_value_t = 20)]
    k1: usize,
    #[arg(long, default_value_t = 6)]
    k2: usize,
    #[arg(long, default_value_t = 0.3)]
    lambda: f64,
    /// Output .npy, float32 [Q, G]
    #[arg(long)]
    out: PathBuf,
    /// Replace --out if it exists
    #[arg(long)]
    overwrite: bool,
}

pub fn run(a: Args) -> Result<()> {
    crate::check_output(&a.out, a.overwrite)?;
    let params = RerankParams {
        k1: a.k1,
        k2: a.k2,
        lambda: a.lambda,
    };
    // Before reading inputs that may be gigabytes.
    params.validate()?;
    let start = Instant::now();
    if let (Some(qf), Some(gf)) = (&a.query_features, &a.gallery_features) {
        tracing::info!("feature mode (BoT): squared Euclidean distance of the features as given");
        let (qfile, gfile) = (MatrixFile::open(qf)?, MatrixFile::open(gf)?);
        let (qd, gd) = (qfile.load()?, gfile.load()?);
        let reranker = FeatureReranker::new(qd.view(), gd.view(), params).context("re-ranking the features")?;
        let (q, g) = (reranker.num_query(), reranker.num_gallery());
        tracing::info!(
            queries = q,
            gallery = g,
            seconds = %Rounded(start.elapsed().as_secs_f64()),
            "neighbours and reciprocal sets ready"
        );
        // The output a block at a time, each computed as it is written.
        write_f32_blocks(&a.out, q, g, reranker.output_block_rows(), |first, n| {
            reranker.rows(first, n)
        })?;
        log_done(&a, start);
        println!("wrote {} ({q} x {g} float32)", a.out.display());
        return Ok(());
    }
    let (Some(q_g), Some(q_q), Some(g_g)) = (&a.q_g, &a.q_q, &a.g_g) else {
        unreachable!("clap enforces one complete input group")
    };
    tracing::info!("torchreid mode: the given distances are squared again, as torchreid's re_ranking does");
    let table = RerankTable::from_npy_files(q_g, q_q, g_g)?;
    let (q, g) = (table.num_query(), table.num_gallery());
    tracing::info!(
        queries = q,
        gallery = g,
        seconds = %Rounded(start.elapsed().as_secs_f64()),
        "distance table ready"
    );
    let out = rerank(table, params)?;
    log_done(&a, start);
    write_f32(&a.out, &[q, g], out.as_slice())?;
    println!("wrote {} ({q} x {g} float32)", a.out.display());
    Ok(())
}

fn log_done(a: &Args, start: Instant) {
    tracing::info!(
        seconds = %Rounded(start.elapsed().as_secs_f64()),
        k1 = a.k1,
        k2 = a.k2,
        lambda = a.lambda,
        "re-ranked"
    );
}
