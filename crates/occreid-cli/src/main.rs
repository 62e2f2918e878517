//! `occreid`: occluded person re-identification toolkit.
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod data;
mod demo;
mod metrics;
mod rerank;

#[derive(Parser)]
#[command(
    name = "occreid",
    version,
    about = "Occluded person re-identification: evaluation, re-ranking, data, training"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// CMC / mAP / mINP of a query x gallery distance matrix (torchreid's Market-1501 or CUHK03 protocol)
    Metrics(metrics::Args),
    /// k-reciprocal re-ranking of distances (torchreid semantics) or of features (BoT semantics)
    Rerank(rerank::Args),
    /// Dataset checks and the synthetic dataset
    #[command(subcommand)]
    Data(data::Command),
    /// Runs evaluation and re-ranking end to end on a generated Market-sized problem
    Demo(demo::Args),
    /// Reproducible timing runs and benchmark inputs (see BENCHMARKS.md)
    #[command(subcommand)]
    Bench(bench::Command),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("OCCREID_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Metrics(a) => metrics::run(a),
        Command::Rerank(a) => rerank::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Data(c) => data::run(c),
        Command::Bench(c) => bench::run(c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Refuses to replace an existing output unless asked to: results already on disk are never lost.
pub(crate) fn check_output(path: &std::path::Path, overwrite: bool) -> anyhow::Result<()> {
    if path.exists() && !overwrite {
        anyhow::bail!(
            "{} already exists; choose another --out or pass --overwrite",
            path.display()
        );
    }
    Ok(())
}
