//! Deployable models: a checkpoint's test-time embedding traced by libtorch's tracer into TorchScript,
//! and from it ONNX through PyTorch's own exporter. Both files carry a [`ModelCard`]: what a user needs
//! to feed the model and compare its features.
//!
//! The traced function is [`crate::evaluate::embed`] with the checkpoint's test settings (flip
//! averaging, L2 norm), so an export gives exactly what `occreid extract` gives; it is built from
//! [`Method::embed`](occreid_model::methods::Method::embed), never per method.
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use occreid_data::transforms::Interpolation;
use occreid_torch::tch::{no_grad, CModule, Device, Kind, Tensor};
use serde::{Deserialize, Serialize};

use crate::restore::Restored;

/// The name of the card inside a TorchScript archive (`torch.jit.load(f, _extra_files={"occreid.json": ""})`)
/// and the ONNX metadata key that holds it.
pub const CARD_NAME: &str = "occreid.json";
pub const ONNX_CARD_KEY: &str = "occreid";
/// ONNX opset of the exported graphs (the issue asks ≥ 17; 17 is what onnxruntime ≥ 1.14 runs everywhere).
pub const ONNX_OPSET: u32 = 17;
const CARD_FORMAT: u32 = 1;

/// What an exported model expects and returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    pub format: u32,
    /// The method whose embedding was traced (`bot`, `sdcn`, `igoas`, ...).
    pub method: String,
    pub input: InputSpec,
    /// Columns of the output `[B, feature_dim]` (float32).
    pub feature_dim: usize,
    /// Features are divided by their L2 norm (the config's `test.feat_norm`).
    pub l2_normalized: bool,
    /// Features are the average of the image's and its horizontal flip's (`test.flip`).
    pub flip_averaged: bool,
    /// How occreid compares two features.
    pub distance: String,
    pub source_checkpoint: String,
    pub source_epoch: usize,
    /// SHA-256 of the model's tensors (names, shapes, values): features are comparable only between
    /// files with the same value.
    pub weights_sha256: String,
    pub occreid_version: String,
}

/// The input tensor: `[B, 3, height, width]` float32, RGB, `(pixel / 255 − mean) / std` after resizing
/// the image to `height × width` with `interpolation` (PIL's filter).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    pub layout: String,
    pub height: u32,
    pub width: u32,
    pub interpolation: Interpolation,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("tracing the embedding failed: {0}")]
    Trace(String),
    #[error("cannot write {}: {message}", path.display())]
    Write { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Read { path: PathBuf, message: String },
    #[error("{}: not an occreid export ({message})", path.display())]
    NotAnExport { path: PathBuf, message: String },
    #[error("ONNX export needs PyTorch's exporter in Python: {0}")]
    Python(String),
}

/// The card of a restored checkpoint's embedding.
pub fn card_for(restored: &Restored, checkpoint: &Path, feature_dim: usize) -> ModelCard {
    let cfg = &restored.config;
    let transform = crate::evaluate::test_transform(&cfg.data);
    ModelCard {
        format: CARD_FORMAT,
        method: restored.meta.method.clone(),
        input: InputSpec {
            layout: "NCHW RGB float32".into(),
            height: transform.height,
            width: transform.width,
            interpolation: transform.interpolation,
            mean: transform.normalize.mean,
            std: transform.normalize.std,
        },
        feature_dim,
        l2_normalized: cfg.test.feat_norm,
        flip_averaged: cfg.test.flip,
        distance: "squared_euclidean".into(),
        source_checkpoint: checkpoint.display().to_string(),
        source_epoch: restored.meta.epoch,
        weights_sha256: weights_sha256(restored.method.as_ref()),
        occreid_version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// SHA-256 over every tensor of the method in name order: name, shape, and values as little-endian f32
/// (integer buffers as i64).
pub fn weights_sha256(method: &dyn occreid_model::methods::Method) -> String {
    use sha2::{Digest, Sha256};
    let mut vars: Vec<(String, Tensor)> = method.var_store().variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let mut h = Sha256::new();
    for (name, t) in vars {
        h.update(name.as_bytes());
        for d in t.size() {
            h.update(d.to_le_bytes());
        }
        let flat = t.to_device(Device::Cpu).flatten(0, -1);
        if t.is_floating_point() {
            let v = Vec::<f32>::try_from(flat.to_kind(Kind::Float)).expect("float tensor");
            h.update(v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>());
        } else {
            let v = Vec::<i64>::try_from(flat.to_kind(Kind::Int64)).expect("integer tensor");
            h.update(v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>());
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The checkpoint's test-time embedding as a TorchScript module on the CPU (input batch size free), with
/// its card. `restored` must live on the CPU.
pub fn trace(restored: &Restored, checkpoint: &Path) -> Result<(CModule, ModelCard), ExportError> {
    let cfg = &restored.config;
    let (h, w) = (cfg.data.height as i64, cfg.data.width as i64);
    // Two images, so that nothing the tracer records can have specialised on a batch of one.
    let example = Tensor::zeros([2, 3, h, w], (Kind::Float, Device::Cpu));
    let method = restored.method.as_ref();
    // The tracer stores the weights as constants, which must not require grad; the restored method is
    // used for nothing else.
    for (_, var) in method.var_store().variables() {
        let _ = var.set_requires_grad(false);
    }
    let (flip, norm) = (cfg.test.flip, cfg.test.feat_norm);
    let mut dim = 0usize;
    let module = no_grad(|| {
        CModule::create_by_tracing("occreid", "forward", &[example], &mut |inputs| {
            let f = crate::evaluate::embed(method, &inputs[0], flip, norm);
            dim = f.size()[1] as usize;
            vec![f]
        })
    })
    .map_err(|e| ExportError::Trace(e.to_string()))?;
    let card = card_for(restored, checkpoint, dim);
    Ok((module, card))
}

/// Runs `fill` on a temporary file beside `out` and renames it over `out` when it succeeded (synced);
/// nothing is left behind on failure. The file is written inside a temporary folder under `out`'s own
/// name, because a TorchScript archive takes its inner folder name from the file name.
fn write_via_temp(
    out: &Path,
    tag: &str,
    fill: impl FnOnce(&Path) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    let werr = |e: std::io::Error| ExportError::Write {
        path: out.to_path_buf(),
        message: e.to_string(),
    };
    let name = out.file_name().ok_or_else(|| ExportError::Write {
        path: out.to_path_buf(),
        message: "not a file name".into(),
    })?;
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp_dir = dir.join(format!(".{}.tmp-{}-{tag}", name.to_string_lossy(), std::process::id()));
    std::fs::create_dir(&tmp_dir).map_err(werr)?;
    let tmp = tmp_dir.join(name);
    let result = fill(&tmp).and_then(|()| {
        let sync = std::fs::File::open(&tmp).and_then(|f| f.sync_all());
        sync.and_then(|()| std::fs::rename(&tmp, out)).map_err(werr)
    });
    let _ = std::fs::remove_dir_all(&tmp_dir);
    result
}

/// Writes a traced module with its card inside the archive (atomically).
pub fn write_torchscript(module: &CModule, card: &ModelCard, out: &Path) -> Result<(), ExportError> {
    write_via_temp(out, "ts", |tmp| {
        let werr = |message: String| ExportError::Write {
            path: out.to_path_buf(),
            message,
        };
        module.save(tmp).map_err(|e| werr(e.to_string()))?;
        add_card_to_archive(tmp, card).map_err(werr)
    })
}

/// TorchScript files are zip archives whose entries share one top folder; `<top>/extra/NAME` is where
/// `torch.jit.save(_extra_files=...)` puts extra files, so every TorchScript loader finds the card there.
fn add_card_to_archive(path: &Path, card: &ModelCard) -> Result<(), String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| e.to_string())?;
    let top = archive_top(&file)?;
    let mut zip = zip::ZipWriter::new_append(file).map_err(|e| e.to_string())?;
    let opts = zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file(format!("{top}/extra/{CARD_NAME}"), opts)
        .map_err(|e| e.to_string())?;
    zip.write_all(serde_json::to_string_pretty(card).expect("card serialises").as_bytes())
        .map_err(|e| e.to_string())?;
    zip.finish().map_err(|e| e.to_string())?;
    Ok(())
}

fn archive_top(file: &std::fs::File) -> Result<String, String> {
    let zip = zip::ZipArchive::new(file).map_err(|e| e.to_string())?;
    let first = zip.file_names().next().ok_or("the archive is empty")?;
    Ok(first.split('/').next().unwrap_or_default().to_string())
}

/// The card of a TorchScript export.
pub fn read_torchscript_card(path: &Path) -> Result<ModelCard, ExportError> {
    let not_export = |message: String| ExportError::NotAnExport {
        path: path.to_path_buf(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| ExportError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| not_export(format!("not a TorchScript archive: {e}")))?;
    let name = zip
        .file_names()
        .find(|n| n.ends_with(&format!("/extra/{CARD_NAME}")))
        .map(str::to_string)
        .ok_or_else(|| not_export(format!("a TorchScript archive without extra/{CARD_NAME}")))?;
    let mut text = String::new();
    zip.by_name(&name)
        .map_err(|e| not_export(e.to_string()))?
        .read_to_string(&mut text)
        .map_err(|e| not_export(e.to_string()))?;
    parse_card(&text).map_err(not_export)
}

pub fn parse_card(text: &str) -> Result<ModelCard, String> {
    let card: ModelCard = serde_json::from_str(text).map_err(|e| format!("its model card is unreadable: {e}"))?;
    if card.format != CARD_FORMAT {
        return Err(format!(
            "model card format {} (this occreid reads {CARD_FORMAT})",
            card.format
        ));
    }
    Ok(card)
}

/// A TorchScript export ready to run on `device`, with its card.
pub fn load_torchscript(path: &Path, device: Device) -> Result<(CModule, ModelCard), ExportError> {
    let card = read_torchscript_card(path)?;
    let mut module = CModule::load_on_device(path, device).map_err(|e| ExportError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    module.set_eval();
    Ok((module, card))
}

/// The exporter script, run by the Python that holds the libtorch this binary runs on.
const ONNX_SCRIPT: &str = include_str!("export_onnx.py");

/// Writes `out` (ONNX, opset [`ONNX_OPSET`], dynamic batch axis) from a traced module through
/// `torch.onnx.export` (the TorchScript-based exporter: the one that takes a traced graph), the card
/// as the model's `occreid` metadata entry. `python` overrides [`find_python`].
pub fn write_onnx(module: &CModule, card: &ModelCard, out: &Path, python: Option<&Path>) -> Result<(), ExportError> {
    let python = match python {
        Some(p) => p.to_path_buf(),
        None => find_python()?,
    };
    let traced = TempPath(std::env::temp_dir().join(format!("occreid-export-{}.pt", std::process::id())));
    module.save(traced.path()).map_err(|e| ExportError::Write {
        path: traced.path().to_path_buf(),
        message: e.to_string(),
    })?;
    write_via_temp(out, "onnx", |tmp| {
        let card_json = serde_json::to_string(card).expect("card serialises");
        let output = Command::new(&python)
            .arg("-c")
            .arg(ONNX_SCRIPT)
            .arg(traced.path())
            .arg(tmp)
            .arg(&card_json)
            .arg(ONNX_OPSET.to_string())
            .arg(ONNX_CARD_KEY)
            .output()
            .map_err(|e| ExportError::Python(format!("cannot run {}: {e}", python.display())))?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
        let hint = if last.contains("No module named") {
            " (tools/bootstrap.sh installs torch, onnx and onnxruntime into the project's .venv; or pass --python)"
        } else {
            ""
        };
        Err(ExportError::Python(format!(
            "{} failed: {last}{hint}",
            python.display()
        )))
    })
}

/// A file removed when dropped.
struct TempPath(PathBuf);

impl TempPath {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The Python whose `torch` package holds the libtorch this process runs on (so the exporter is the same
/// PyTorch version as the traced file): `OCCREID_PYTHON` if set, else the interpreter of the environment
/// that owns the loaded `libtorch_cpu.so` (`<prefix>/lib/pythonX.Y/site-packages/torch/lib`), else
/// `python3`.
pub fn find_python() -> Result<PathBuf, ExportError> {
    if let Some(p) = std::env::var_os("OCCREID_PYTHON") {
        return Ok(PathBuf::from(p));
    }
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let lib = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.ends_with("/libtorch_cpu.so"));
    if let Some(lib) = lib {
        // .../site-packages/torch/lib/libtorch_cpu.so → the prefix four folders above site-packages.
        let prefix = Path::new(lib).ancestors().nth(6);
        for name in ["bin/python", "bin/python3"] {
            if let Some(p) = prefix.map(|d| d.join(name)).filter(|p| p.is_file()) {
                return Ok(p);
            }
        }
    }
    Ok(PathBuf::from("python3"))
}
