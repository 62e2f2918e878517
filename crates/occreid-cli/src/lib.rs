//! What the `occreid` front binary and `occreid-full` share: the commands that need no libtorch
//! (evaluation, re-ranking) and the process plumbing (logging, errors, output checks). Nothing here may
//! use a crate that links libtorch: the front binary is built from this library alone.
pub mod market_scale;
pub mod metrics;
pub mod rerank;

/// The commands that need no libtorch: the front binary runs these itself.
#[derive(clap::Subcommand)]
pub enum EvalCommand {
    /// CMC / mAP / mINP of a query x gallery distance matrix (torchreid's Market-1501 or CUHK03 protocol)
    Metrics(metrics::Args),
    /// k-reciprocal re-ranking of distances (torchreid semantics) or of features (BoT semantics)
    Rerank(rerank::Args),
    /// Evaluation and re-ranking end to end on a generated Market-sized problem (no data needed)
    MarketScale(market_scale::Args),
}

impl EvalCommand {
    /// The names the front binary recognises as its own (clap's kebab-case of the variants).
    pub const NAMES: [&'static str; 3] = ["metrics", "rerank", "market-scale"];

    pub fn run(self) -> anyhow::Result<()> {
        match self {
            EvalCommand::Metrics(a) => metrics::run(a),
            EvalCommand::Rerank(a) => rerank::run(a),
            EvalCommand::MarketScale(a) => market_scale::run(a),
        }
    }
}

/// Structured logs on stderr (`OCCREID_LOG` filters), colour codes only for a person at a terminal,
/// never into a log file or a pipe.
pub fn init_logging() {
    init_logging_to(std::io::stderr);
}

/// [`init_logging`] through another stderr writer (`occreid-full`'s keeps its progress bars intact).
pub fn init_logging_to<W>(writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("OCCREID_LOG").unwrap_or_else(|_| "info,hnsw_rs=warn".into()),
        )
        .with_writer(writer)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// The error and its causes joined by ": ", leaving out a cause whose text the message before it already
/// ends with (many error types print their source in their own message too).
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}

/// Refuses to replace an existing output unless asked to: results already on disk are never lost.
pub fn check_output(path: &std::path::Path, overwrite: bool) -> anyhow::Result<()> {
    if path.exists() && !overwrite {
        anyhow::bail!(
            "{} already exists; choose another --out or pass --overwrite",
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[derive(clap::Parser)]
    struct Probe {
        #[command(subcommand)]
        command: super::EvalCommand,
    }

    #[test]
    fn the_front_binary_recognises_exactly_its_subcommands() {
        let names: Vec<String> = Probe::command()
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        assert_eq!(names, super::EvalCommand::NAMES);
    }
}
