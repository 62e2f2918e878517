use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use occreid_eval::npy::{read_matrix, write_f32};
use occreid_eval::rerank::{rerank, RerankParams, RerankTable};
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
    /// Feature mode (BoT): query features [Q, D]; distances are squared Euclidean of the features as given
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
    let table = match (&a.q_g, &a.q_q, &a.g_g, &a.query_features, &a.gallery_features) {
        (Some(q_g), Some(q_q), Some(g_g), _, _) => {
            tracing::info!("torchreid mode: the given distances are squared again, as torchreid's re_ranking does");
            RerankTable::from_npy_files(q_g, q_q, g_g)?
        }
        (_, _, _, Some(qf), Some(gf)) => {
            tracing::info!("feature mode (BoT): squared Euclidean distance of the features as given");
            let (qf, gf) = (read_matrix(qf)?, read_matrix(gf)?);
            RerankTable::from_features(&qf, &gf).context("building the distance table from features")?
        }
        _ => unreachable!("clap enforces one complete input group"),
    };
    let (q, g) = (table.num_query(), table.num_gallery());
    tracing::info!(
        queries = q,
        gallery = g,
        seconds = %Rounded(start.elapsed().as_secs_f64()),
        "distance table ready"
    );
    let out = rerank(table, params)?;
    tracing::info!(
        seconds = %Rounded(start.elapsed().as_secs_f64()),
        k1 = a.k1,
        k2 = a.k2,
        lambda = a.lambda,
        "re-ranked"
    );
    write_f32(&a.out, &[q, g], out.as_slice())?;
    println!("wrote {} ({q} x {g} float32)", a.out.display());
    Ok(())
}
