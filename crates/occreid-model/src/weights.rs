//! Loading parameters by name from PyTorch state-dict files.
//!
//! `.pth` / `.pt` / `.bin`: PyTorch's zip serialisation of a `dict[str, Tensor]` (what
//! `torch.save(model.state_dict(), f)` writes and torchvision publishes), read by libtorch itself.
//! `.safetensors`: read by libtorch's safetensors reader in tch.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use occreid_torch::tch::{nn::VarStore, TchError, Tensor};

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// `message` is libtorch's first line: the C++ stack trace after it helps nobody reading a path error.
    #[error("{path}: cannot read weights: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path}: unsupported weight file extension; expected .pth, .pt, .bin or .safetensors")]
    Extension { path: PathBuf },
    #[error("{path}: {count} parameter(s) have the wrong shape, e.g. {name}: file {file:?} vs model {model:?} (was the checkpoint made for another depth or number of classes?)")]
    Shape {
        path: PathBuf,
        count: usize,
        name: String,
        file: Vec<i64>,
        model: Vec<i64>,
    },
    #[error("{path}: {count} model parameter(s) are missing from the file, e.g. {example}; the file holds keys like {file_example}")]
    Missing {
        path: PathBuf,
        count: usize,
        example: String,
        file_example: String,
    },
}

/// Which parameters were set, and what did not fit.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LoadReport {
    pub loaded: Vec<String>,
    /// Model parameters that the file does not provide.
    pub missing: Vec<String>,
    /// File entries with no model parameter of that name (e.g. the ImageNet `fc.*` classifier).
    pub unexpected: Vec<String>,
    /// File entries skipped on purpose (`num_batches_tracked`, which tch's BatchNorm does not keep).
    pub ignored: Vec<String>,
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} loaded, {} missing, {} unexpected, {} ignored",
            self.loaded.len(),
            self.missing.len(),
            self.unexpected.len(),
            self.ignored.len()
        )?;
        for (what, list) in [("missing", &self.missing), ("unexpected", &self.unexpected)] {
            if !list.is_empty() {
                let shown: Vec<&str> = list.iter().take(6).map(String::as_str).collect();
                write!(
                    f,
                    "; {what}: {}{}",
                    shown.join(", "),
                    if list.len() > 6 { ", …" } else { "" }
                )?;
            }
        }
        Ok(())
    }
}

/// Reads every named tensor of a state-dict file (on the CPU).
pub fn read_state_dict(path: impl AsRef<Path>) -> Result<Vec<(String, Tensor)>, WeightsError> {
    let path = path.as_ref();
    let read_err = |source: TchError| WeightsError::Read {
        path: path.to_path_buf(),
        message: match &source {
            TchError::SafeTensorError { err, .. } => occreid_torch::safetensors_reason(err),
            other => other.to_string().lines().next().unwrap_or_default().to_string(),
        },
    };
    match path.extension().and_then(|e| e.to_str()) {
        Some("pth" | "pt" | "bin") => Tensor::loadz_multi(path).map_err(read_err),
        Some("safetensors") => Tensor::read_safetensors(path).map_err(read_err),
        _ => Err(WeightsError::Extension {
            path: path.to_path_buf(),
        }),
    }
}

/// Prefixes that wrappers add in front of parameter names (`nn.DataParallel`).
const WRAPPER_PREFIXES: [&str; 1] = ["module."];

/// Copies the file's tensors into `vs` by name. `file_prefix` selects a sub-tree of the file
/// (e.g. `"backbone."`) and is removed from the names. Shape mismatches are always an error; missing
/// parameters are an error only when `require_all` is set (a backbone checkpoint never covers a head).
pub fn load_into(
    vs: &mut VarStore,
    path: impl AsRef<Path>,
    file_prefix: &str,
    model_prefix: &str,
    require_all: bool,
) -> Result<LoadReport, WeightsError> {
    load_renamed(
        vs,
        path,
        |bare| {
            bare.strip_prefix(file_prefix)
                .map(|rest| vec![format!("{model_prefix}{rest}")])
                .unwrap_or_default()
        },
        require_all,
    )
}

/// Reads the file once and copies each entry into the variables `rename` maps its name to (after the
/// wrapper prefix is removed; none = unexpected, several = one tensor seeding several copies, as
/// IGOAS's two layer4 branches). `num_batches_tracked` entries are ignored. Checks as [`load_into`].
pub fn load_renamed(
    vs: &mut VarStore,
    path: impl AsRef<Path>,
    rename: impl Fn(&str) -> Vec<String>,
    require_all: bool,
) -> Result<LoadReport, WeightsError> {
    let path = path.as_ref();
    let mut report = LoadReport::default();
    let mut file: BTreeMap<String, Tensor> = BTreeMap::new();
    for (name, t) in read_state_dict(path)? {
        let bare = WRAPPER_PREFIXES
            .iter()
            .find_map(|p| name.strip_prefix(p))
            .unwrap_or(&name);
        let targets = rename(bare);
        if targets.is_empty() {
            report.unexpected.push(name.clone());
        } else if bare.ends_with("num_batches_tracked") {
            report.ignored.push(name.clone());
        } else {
            for target in targets {
                file.insert(target, t.shallow_clone());
            }
        }
    }
    let mut vars = vs.variables();
    let mut mismatched = Vec::new();
    for (name, var) in vars.iter_mut() {
        match file.get(name) {
            Some(src) if src.size() != var.size() => mismatched.push((name.clone(), src.size(), var.size())),
            Some(_) => report.loaded.push(name.clone()),
            None => report.missing.push(name.clone()),
        }
    }
    if let Some((name, f, m)) = mismatched.first() {
        return Err(WeightsError::Shape {
            path: path.to_path_buf(),
            count: mismatched.len(),
            name: name.clone(),
            file: f.clone(),
            model: m.clone(),
        });
    }
    report.missing.sort();
    if require_all && !report.missing.is_empty() {
        return Err(WeightsError::Missing {
            path: path.to_path_buf(),
            count: report.missing.len(),
            example: report.missing[0].clone(),
            file_example: file.keys().next().cloned().unwrap_or_else(|| "(none)".into()),
        });
    }
    occreid_torch::tch::no_grad(|| {
        for name in &report.loaded {
            let src = &file[name];
            let mut dst = vars[name].shallow_clone();
            dst.copy_(&src.to_kind(dst.kind()).to_device(dst.device()));
        }
    });
    report
        .unexpected
        .extend(file.keys().filter(|k| !vars.contains_key(*k)).cloned());
    report.loaded.sort();
    report.unexpected.sort();
    Ok(report)
}
