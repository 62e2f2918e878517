//! `occreid market-scale`: evaluation and re-ranking end to end on the generated Market-sized problem
//! (3368 queries x 15913 gallery, 751 identities, 6 cameras), with no data or weights needed.
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use occreid_eval::market_scale;
use occreid_eval::npy::write_atomic;
use occreid_eval::rerank::{rerank_features, RerankParams};
use occreid_eval::roc::tpr_at_standard_fprs;
use occreid_eval::{evaluate, Matrix, Protocol};
use serde_json::json;

#[derive(clap::Args)]
pub struct Args {
    /// Run folder; its summary.json is replaced atomically on every run
    #[arg(long, default_value = "runs/market-scale")]
    out: PathBuf,
    /// Skip k-reciprocal re-ranking
    #[arg(long)]
    no_rerank: bool,
}

pub fn run(a: Args) -> Result<()> {
    // Before minutes of work: the run folder can be made.
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("--out {}: cannot make the run folder", a.out.display()))?;
    let t = Instant::now();
    let mut p = market_scale::generate();
    let distmat = std::mem::replace(&mut p.distmat, Matrix::zeros(0, 0));
    let (query, gallery) = (p.query(), p.gallery());
    println!(
        "generated a Market-sized problem: {} queries x {} gallery, 751 ids, 6 cameras ({:.2} s)",
        p.q_pids.len(),
        p.g_pids.len(),
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let plain = evaluate(&distmat, query, gallery, 50, Protocol::Market1501)?;
    let eval_s = t.elapsed().as_secs_f64();
    let roc = tpr_at_standard_fprs(&distmat, query, gallery)?;
    drop(distmat);
    print!("evaluation    ({eval_s:.3} s)  {}", plain.summary_line());
    for pt in &roc {
        println!("              TPR@FPR={:.0e} {:.4}", pt.target_fpr, pt.tpr);
    }
    let mut summary = json!({
        "problem": "occreid_eval::market_scale (fixture spec, seed 20240607)",
        "evaluation": plain.summary_json(),
        "evaluation_seconds": eval_s,
        "tpr_at_fpr": roc,
    });

    if !a.no_rerank {
        let t = Instant::now();
        let (qf, gf) = p.feature_matrices();
        let reranked = rerank_features(qf.view(), gf.view(), RerankParams::default())?;
        let rerank_s = t.elapsed().as_secs_f64();
        let after = evaluate(&reranked, query, gallery, 50, Protocol::Market1501)?;
        print!("re-ranked     ({rerank_s:.3} s)  {}", after.summary_line());
        summary["reranked"] = after.summary_json();
        summary["rerank_seconds"] = json!(rerank_s);
        summary["rerank"] =
            json!({"k1": 20, "k2": 6, "lambda": 0.3, "distance": "squared Euclidean of the features (BoT)"});
    }

    let path = a.out.join("summary.json");
    let text = serde_json::to_string_pretty(&summary)?;
    write_atomic(&path, |w| w.write_all(text.as_bytes()))?;
    println!("summary: {}", path.display());
    Ok(())
}
