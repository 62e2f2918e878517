//! `occreid export`: a checkpoint's embedding as TorchScript or ONNX, with its model card.
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use occreid_torch::tch::Device;
use occreid_train::export;
use occreid_train::restore::method_from_checkpoint;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// TorchScript (libtorch's tracer): torch.jit.load, tch::CModule, libtorch C++
    Torchscript,
    /// ONNX opset 17 (PyTorch's exporter, run by the Python that holds this libtorch): onnxruntime, TensorRT
    Onnx,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// A checkpoint written by `occreid train`
    #[arg(long)]
    checkpoint: PathBuf,
    #[arg(long, value_enum)]
    format: Format,
    /// The exported model (.pt for TorchScript, .onnx for ONNX by convention)
    #[arg(long)]
    out: PathBuf,
    /// Replace --out if it exists
    #[arg(long)]
    overwrite: bool,
    /// ONNX only: the Python with torch and onnx to run the exporter (default: OCCREID_PYTHON, else the
    /// environment whose libtorch this binary runs on)
    #[arg(long)]
    python: Option<PathBuf>,
}

pub fn export_cmd(a: ExportArgs) -> Result<()> {
    crate::check_output(&a.out, a.overwrite)?;
    if a.python.is_some() && a.format != Format::Onnx {
        bail!("--python is for --format onnx (TorchScript is written by this binary's libtorch)");
    }
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            bail!("--out {}: the folder {} does not exist", a.out.display(), dir.display());
        }
    }
    // Traced on the CPU: the file then loads anywhere (`.to("cuda")` moves it).
    let restored = method_from_checkpoint(&a.checkpoint, Device::Cpu)?;
    let t = std::time::Instant::now();
    let (module, card) = export::trace(&restored, &a.checkpoint)?;
    match a.format {
        Format::Torchscript => export::write_torchscript(&module, &card, &a.out)?,
        Format::Onnx => export::write_onnx(&module, &card, &a.out, a.python.as_deref())
            .with_context(|| format!("exporting {} to ONNX", a.checkpoint.display()))?,
    }
    println!(
        "{} embedding ({}x{} input, {}-d features{}{}) in {:.1} s -> {}",
        card.method,
        card.input.height,
        card.input.width,
        card.feature_dim,
        if card.l2_normalized { ", L2-normalised" } else { "" },
        if card.flip_averaged { ", flip-averaged" } else { "" },
        t.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(())
}
