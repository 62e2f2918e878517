use std::path::PathBuf;

use anyhow::Result;
use occreid_eval::distance::Metric;
use occreid_eval::npy::{read_labels_for, MatrixFile};
use occreid_eval::roc::{pair_distances, roc_curve, tpr_at_standard_fprs};
use occreid_eval::{evaluate, evaluate_features, Cuhk03Cmc, Labels, Protocol, RankMetrics, DEFAULT_BLOCK_ROWS};

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["distmat", "query_features"])))]
pub struct Args {
    /// Query x gallery distances, .npy float32/float64 [Q, G] (smaller = more similar)
    #[arg(long)]
    distmat: Option<PathBuf>,
    /// Instead of --distmat: query features, .npy float32/float64 [Q, D]. Distances are computed a
    /// gallery block at a time and ranked at once, so no Q x G matrix is ever held (Market protocol)
    #[arg(long, requires = "gallery_features", conflicts_with = "distmat")]
    query_features: Option<PathBuf>,
    /// With --query-features: gallery features [G, D], read in place block by block
    #[arg(long, requires = "query_features")]
    gallery_features: Option<PathBuf>,
    /// With features: sqeuclidean (torchreid's "euclidean", BoT's), euclidean or cosine
    #[arg(long, default_value = "sqeuclidean", requires = "query_features")]
    distance: Metric,
    /// With features: gallery rows per block
    #[arg(long, default_value_t = DEFAULT_BLOCK_ROWS, requires = "query_features")]
    block_rows: usize,
    /// Query identity labels, .npy int64/int32 [Q]
    #[arg(long)]
    query_pids: PathBuf,
    /// Gallery identity labels, .npy int64/int32 [G]
    #[arg(long)]
    gallery_pids: PathBuf,
    /// Query camera labels, .npy int64/int32 [Q]
    #[arg(long)]
    query_camids: PathBuf,
    /// Gallery camera labels, .npy int64/int32 [G]
    #[arg(long)]
    gallery_camids: PathBuf,
    /// Length of the CMC curve (reduced to the gallery size when larger)
    #[arg(long, default_value_t = 50)]
    max_rank: usize,
    #[arg(long, value_enum, default_value_t = ProtocolArg::Market)]
    protocol: ProtocolArg,
    /// cuhk03: seed of the NumPy-compatible MT19937 stream (equals np.random.seed(S) before torchreid's eval_cuhk03)
    #[arg(long, default_value_t = 0)]
    seed: u32,
    /// cuhk03: report the exact expectation of the sampled CMC instead of 10 random draws
    #[arg(long)]
    cuhk03_exact: bool,
    /// Also report fast-reid's TPR (and the distance threshold) at FPR = 1e-4, 1e-3, 1e-2
    #[arg(long)]
    roc: bool,
    /// With --roc: the FPRs to report instead of the standard three (repeatable)
    #[arg(long, requires = "roc")]
    fpr: Vec<f64>,
    /// With --json: add per-query AP, INP and first/last match ranks (null for skipped queries)
    #[arg(long, requires = "json")]
    per_query: bool,
    /// Print one JSON object on stdout
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ProtocolArg {
    Market,
    Cuhk03,
}

pub fn run(a: Args) -> Result<()> {
    // Before reading inputs that may be large.
    if let Some(f) = a.fpr.iter().find(|f| !(**f > 0.0 && **f <= 1.0)) {
        anyhow::bail!("--fpr {f}: a false positive rate is in (0, 1]");
    }
    if a.cuhk03_exact && !matches!(a.protocol, ProtocolArg::Cuhk03) {
        anyhow::bail!("--cuhk03-exact is for --protocol cuhk03 (the Market protocol has no sampling)");
    }
    if let (Some(qf), Some(gf)) = (&a.query_features, &a.gallery_features) {
        if !matches!(a.protocol, ProtocolArg::Market) || a.roc {
            anyhow::bail!(
                "with --query-features the metrics are the Market protocol's, computed without the distance \
                 matrix; --protocol cuhk03 and --roc need every distance: compute a --distmat first"
            );
        }
        if a.block_rows == 0 {
            anyhow::bail!("--block-rows must be at least 1");
        }
        let (query, gallery) = (MatrixFile::open(qf)?, MatrixFile::open(gf)?);
        let labels = LabelFiles::read(&a, query.rows(), gallery.rows())?;
        let query_data = query.load()?;
        let m = evaluate_features(
            query_data.view(),
            &gallery,
            a.distance,
            labels.query(),
            labels.gallery(),
            a.max_rank,
            a.block_rows,
        )?;
        return print(&a, &m, None);
    }
    let path = a.distmat.as_ref().expect("clap requires --distmat or --query-features");
    // Read in place (no copy) when it is float32 in C order, as NumPy writes it by default.
    let file = MatrixFile::open(path)?;
    let data = file.load()?;
    let distmat = data.view();
    let labels = LabelFiles::read(&a, distmat.rows(), distmat.cols())?;
    let (query, gallery) = (labels.query(), labels.gallery());
    let protocol = match a.protocol {
        ProtocolArg::Market => Protocol::Market1501,
        ProtocolArg::Cuhk03 if a.cuhk03_exact => Protocol::Cuhk03(Cuhk03Cmc::Expectation),
        ProtocolArg::Cuhk03 => Protocol::Cuhk03(Cuhk03Cmc::Sampled {
            seed: a.seed,
            repeats: 10,
        }),
    };
    let m = evaluate(distmat, query, gallery, a.max_rank, protocol)?;
    let roc = match (a.roc, a.fpr.is_empty()) {
        (false, _) => None,
        (true, true) => Some(tpr_at_standard_fprs(distmat, query, gallery)?),
        (true, false) => {
            let (same, diff) = pair_distances(distmat, query, gallery)?;
            let curve = roc_curve(&same, &diff);
            Some(a.fpr.iter().map(|&f| curve.at_fpr(f)).collect())
        }
    };
    print(&a, &m, roc)
}

/// The four label files, checked against the problem's size.
struct LabelFiles {
    q_pids: Vec<i64>,
    q_cams: Vec<i64>,
    g_pids: Vec<i64>,
    g_cams: Vec<i64>,
}

impl LabelFiles {
    fn read(a: &Args, q: usize, g: usize) -> Result<Self> {
        Ok(Self {
            q_pids: read_labels_for(&a.query_pids, q, "one per query")?,
            q_cams: read_labels_for(&a.query_camids, q, "one per query")?,
            g_pids: read_labels_for(&a.gallery_pids, g, "one per gallery item")?,
            g_cams: read_labels_for(&a.gallery_camids, g, "one per gallery item")?,
        })
    }

    fn query(&self) -> Labels<'_> {
        Labels {
            pids: &self.q_pids,
            camids: &self.q_cams,
        }
    }
    fn gallery(&self) -> Labels<'_> {
        Labels {
            pids: &self.g_pids,
            camids: &self.g_cams,
        }
    }
}

fn print(a: &Args, m: &RankMetrics, roc: Option<Vec<occreid_eval::roc::OperatingPoint>>) -> Result<()> {
    if a.json {
        let mut out = m.summary_json();
        if let Some(points) = &roc {
            out["tpr_at_fpr"] = serde_json::to_value(points)?;
        }
        if a.per_query {
            let rows: Vec<Option<&occreid_eval::QueryOutcome>> = m.per_query.iter().map(|r| r.as_ref().ok()).collect();
            out["per_query"] = serde_json::to_value(rows)?;
        }
        println!("{}", serde_json::to_string(&out)?);
    } else {
        print!("{}", m.summary_line());
        for p in roc.iter().flatten() {
            println!(
                "TPR@FPR={:.0e}  {:.4}  (threshold {:.6})",
                p.target_fpr, p.tpr, p.threshold
            );
        }
    }
    Ok(())
}
