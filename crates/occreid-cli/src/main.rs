//! `occreid`: occluded person re-identification toolkit — the command users run.
//!
//! Evaluation and re-ranking (`metrics`, `rerank`, `market-scale`) run in this process, which never
//! loads libtorch: libtorch's start-up alone takes ~0.9 s and ~460 MiB resident, more than evaluating a
//! Market-scale distance matrix. Every other command, and the help, replaces this process with the
//! sibling `occreid-full` binary (same arguments, same pid, so signals and exit codes are its own).
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use occreid_cli::{error_chain, EvalCommand};

#[derive(Parser)]
#[command(name = "occreid", version)]
struct Front {
    #[command(subcommand)]
    command: EvalCommand,
}

/// The full binary: next to this one (cargo builds both into the same folder), or `OCCREID_FULL`.
fn full_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("OCCREID_FULL") {
        return Ok(PathBuf::from(p));
    }
    let me = std::env::current_exe()?;
    Ok(me.with_file_name("occreid-full"))
}

fn exec_full(args: &[OsString]) -> anyhow::Error {
    let full = match full_binary() {
        Ok(p) => p,
        Err(e) => return e.context("cannot locate this executable to find occreid-full beside it"),
    };
    if !full.is_file() {
        return anyhow::anyhow!(
            "{} is missing: every command but {} runs in occreid-full, the part of occreid that links \
             libtorch; build both binaries with `cargo build --release -p occreid-cli` (or point OCCREID_FULL \
             at it)",
            full.display(),
            EvalCommand::NAMES.join(", ")
        );
    }
    let err = std::process::Command::new(&full).arg0("occreid").args(args).exec();
    anyhow::Error::new(err).context(format!("cannot run {}", full.display()))
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let own = args
        .get(1)
        .and_then(|a| a.to_str())
        .is_some_and(|a| EvalCommand::NAMES.contains(&a));
    let result = if own {
        occreid_cli::init_logging();
        Front::parse().command.run()
    } else {
        Err(exec_full(&args[1..]))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}
