//! `occreid-full`: every `occreid` command, in the process that links libtorch. The `occreid` front
//! binary runs the evaluation commands itself and hands everything else (and the help) to this one.
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use occreid_cli::{check_output, error_chain, EvalCommand};

mod bench;
mod bench_scale;
mod bench_train;
mod compare;
mod data;
mod demo;
mod deploy;
mod import;
mod infer;
mod interrupt;
mod run_report;
mod search;
mod train;

#[derive(Parser)]
#[command(
    name = "occreid",
    version,
    about = "Occluded person re-identification: training, evaluation, re-ranking, data"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    NoTorch(EvalCommand),
    /// Dataset checks and the synthetic dataset
    #[command(subcommand)]
    Data(data::Command),
    /// Trains BoT, SDCN + VGN and IGOAS small on a generated synthetic dataset (CPU) and compares them
    Demo(demo::Args),
    /// Runs evaluated on the same test set side by side: metrics, occlusion curves, rank lists (HTML or JSON)
    Compare(compare::Args),
    /// Trains a method from a config preset into a run folder (or resumes one)
    Train(train::Args),
    /// Evaluates a checkpoint on a dataset's query/gallery (optionally re-ranked, flipped, occluded)
    Eval(infer::EvalArgs),
    /// Writes a checkpoint's features for a dataset or a folder of images
    Extract(infer::ExtractArgs),
    /// A checkpoint's embedding as TorchScript or ONNX, with what a user needs to run it inside
    Export(deploy::ExportArgs),
    /// The nearest gallery images of query images, by a model and the gallery features it extracted
    Search(search::SearchArgs),
    /// Checkpoints from other codebases' state dicts (the authors' SDCN + VGN)
    #[command(subcommand)]
    Import(import::Command),
    /// Reproducible timing runs and benchmark inputs (see BENCHMARKS.md)
    #[command(subcommand)]
    Bench(bench::Command),
}

/// libtorch's CPU tensors of a few MB each come from glibc malloc, which by default serves them with fresh
/// `mmap`s and unmaps them on free: every layer of every step then pays page faults on new memory
/// (measured: ResNet-50 extraction 14 → 35 images/s on 2 cores once large blocks are kept in the heap).
/// Keep them: no `mmap` for any size (the threshold cannot go past 32 MiB, and a ResNet-50 activation at
/// 256x128 is 2 MiB per image, so batches of 16 and more were still mapped afresh each layer) and no
/// trimming of the heap top. Measured on 2 vCPU Intel Xeon, R50 256x128, 300 images, `occreid extract`:
/// batch 128 37.5 → 20.9 s (30.3 → 2.9 s system time), peak RSS 1.8 → 3.1 GB; batch 16 unchanged (21.3 s,
/// 1.0 GB); `bench train` step 4.34 → 4.52 img/s, extraction (bs 64) 13.3 → 16.1 img/s, RSS 3.05 → 3.43 GB.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_large_allocations() {
    // SAFETY: mallopt only adjusts allocator parameters; called once, before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_large_allocations() {}

fn main() -> ExitCode {
    keep_large_allocations();
    occreid_cli::init_logging_to(|| occreid_train::progress::BarSafeStderr);
    let cli = Cli::parse();
    let result = match cli.command {
        Command::NoTorch(c) => c.run(),
        Command::Demo(a) => demo::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Train(a) => train::run(a),
        Command::Eval(a) => infer::eval(a),
        Command::Extract(a) => infer::extract_cmd(a),
        Command::Export(a) => deploy::export_cmd(a),
        Command::Search(a) => search::run(a),
        Command::Data(c) => data::run(c),
        Command::Bench(c) => bench::run(c),
        Command::Import(c) => import::run(c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A stop asked for by a signal exits as the shell reports that signal (130 / 143).
            let stopped = match e.downcast_ref() {
                Some(occreid_train::TrainError::Interrupted { code, .. }) => Some(*code),
                _ => e.downcast_ref::<interrupt::Stopped>().map(|s| s.code),
            };
            if let Some(code) = stopped {
                eprintln!("{e}");
                return ExitCode::from(code as u8);
            }
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}
