use std::path::PathBuf;

use anyhow::Result;
use occreid_eval::npy::{read_labels_for, MatrixFile};
use occreid_eval::roc::{pair_distances, roc_curve, tpr_at_standard_fprs};
use occreid_eval::{evaluate, Cuhk03Cmc, Labels, Protocol};

#[derive(clap::Args)]
pub struct Args {
    /// Query x gallery distances, .npy float32/float64 [Q, G] (smaller = more similar)
    #[arg(long)]
    distmat: PathBuf,
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
    // Read in place (no copy) when it is float32 in C order, as NumPy writes it by default.
    let file = MatrixFile::open(&a.distmat)?;
    let data = file.load()?;
    let distmat = data.view();
    let (q, g) = (distmat.rows(), distmat.cols());
    let q_pids = read_labels_for(&a.query_pids, q, "one per distmat row")?;
    let q_cams = read_labels_for(&a.query_camids, q, "one per distmat row")?;
    let g_pids = read_labels_for(&a.gallery_pids, g, "one per distmat column")?;
    let g_cams = read_labels_for(&a.gallery_camids, g, "one per distmat column")?;
    let query = Labels {
        pids: &q_pids,
        camids: &q_cams,
    };
    let gallery = Labels {
        pids: &g_pids,
        camids: &g_cams,
    };
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
