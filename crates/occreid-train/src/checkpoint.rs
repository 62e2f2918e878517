//! Checkpoints: one `.safetensors` file holding the method's tensors (`model.<name>`), the optimiser's
//! (`optim.<name>`) and, in the header metadata, everything else a resume needs as JSON (epoch, batch
//! counter, sampler state, best score, the resolved config). Python reads them with `safetensors`.
//! Writes go to a temporary file in the same folder and are renamed into place, so a crash never leaves
//! a truncated checkpoint and an existing one is replaced only by a complete file. A CRC-32 of every
//! tensor (name, type, shape, bytes) sits beside the metadata: a file changed after it was written (a
//! flipped bit on disk, a bad copy) is refused instead of loading wrong weights without a word. The
//! checksum covers the metadata too (epoch, sampler state, config): a resume never starts from a damaged
//! position.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use occreid_torch::tch::{Device, Kind, Tensor};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};

/// Bumped when the layout changes incompatibly.
pub const FORMAT: u32 = 1;
const META_KEY: &str = "occreid";
/// The checksum, stored as a 4-byte tensor (little-endian CRC-32) rather than a second header key: the
/// header's metadata is a hash map, and two keys would come out in a different order in every process,
/// so the same run would not write the same bytes twice. Files written before it existed have none.
const CHECKSUM_TENSOR: &str = "checksum.crc32";

/// What a checkpoint knows besides tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    pub format: u32,
    pub method: String,
    /// Completed epochs.
    pub epoch: usize,
    /// Training batches drawn so far (the loader's augmentation streams are keyed by it).
    pub global_batch: u64,
    pub optimizer_steps: u64,
    pub num_classes: i64,
    /// The sampler's serialised state (`Sampler::state`); null in weights-only checkpoints.
    pub sampler: serde_json::Value,
    pub best: Option<BestScore>,
    pub loss_scaler: Option<crate::optim::LossScaler>,
    /// The method's own resumable state (`Method::state`); null when it has none.
    #[serde(default)]
    pub method_state: serde_json::Value,
    /// The resolved config (TOML) the run was started with.
    pub config: String,
    /// Set when the checkpoint was written inside epoch `epoch + 1` (Ctrl-C, `checkpoint_every_steps`);
    /// `sampler` is then the state that epoch started from, so its batches are drawn again on resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_epoch: Option<EpochProgress>,
}

/// How far into an epoch a checkpoint was written, with the running sums of its record, so a resumed
/// epoch logs exactly what an uninterrupted one does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochProgress {
    pub batches_done: usize,
    pub sums: std::collections::BTreeMap<String, f64>,
    pub correct: i64,
    pub images: usize,
    pub skipped: usize,
    /// Unreadable images left out so far (`data.skip_bad_images`).
    #[serde(default)]
    pub skipped_images: usize,
    /// Training seconds spent in the epoch before the checkpoint.
    pub seconds: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BestScore {
    pub epoch: usize,
    pub rank1: f64,
    pub map: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot write checkpoint {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot read checkpoint {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not an occreid checkpoint: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error(
        "{path} is corrupted: its tensors' checksum is {computed} but the file says {stored} (it changed \
         after it was written: a disk or copy fault); use another copy, or to resume restore last.ckpt \
         from a backup or start the run again"
    )]
    Corrupt {
        path: PathBuf,
        stored: String,
        computed: String,
    },
    #[error("{path}: tensor `{name}` has unsupported type {kind:?}")]
    Kind { path: PathBuf, name: String, kind: Kind },
}

/// Tensors and metadata of a loaded checkpoint (tensors on the CPU).
#[derive(Debug)]
pub struct Loaded {
    pub meta: CheckpointMeta,
    pub model: HashMap<String, Tensor>,
    pub optim: HashMap<String, Tensor>,
}

fn dtype(kind: Kind) -> Option<Dtype> {
    Some(match kind {
        Kind::Float => Dtype::F32,
        Kind::Double => Dtype::F64,
        Kind::Half => Dtype::F16,
        Kind::BFloat16 => Dtype::BF16,
        Kind::Int64 => Dtype::I64,
        Kind::Int => Dtype::I32,
        Kind::Uint8 => Dtype::U8,
        Kind::Bool => Dtype::BOOL,
        _ => return None,
    })
}

fn kind(dtype: Dtype) -> Option<Kind> {
    Some(match dtype {
        Dtype::F32 => Kind::Float,
        Dtype::F64 => Kind::Double,
        Dtype::F16 => Kind::Half,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::I64 => Kind::Int64,
        Dtype::I32 => Kind::Int,
        Dtype::U8 => Kind::Uint8,
        Dtype::BOOL => Kind::Bool,
        _ => return None,
    })
}

/// One tensor as a safetensors file stores it: little-endian bytes, row-major.
pub(crate) struct RawTensor {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

/// CRC-32 over the metadata JSON and `tensors` in name order: each one's name, type, shape and bytes.
fn checksum<'a>(meta_json: &str, tensors: impl IntoIterator<Item = (&'a str, Dtype, &'a [usize], &'a [u8])>) -> u32 {
    let mut sorted: Vec<_> = tensors.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut h = crc32fast::Hasher::new();
    h.update(meta_json.as_bytes());
    for (name, dtype, shape, bytes) in sorted {
        h.update(name.as_bytes());
        h.update(format!("{dtype:?}").as_bytes());
        for &d in shape {
            h.update(&(d as u64).to_le_bytes());
        }
        h.update(bytes);
    }
    h.finalize()
}

/// A safetensors file holding `tensors`, with `metadata` in its header. The one serialiser behind
/// checkpoints and feature files.
pub(crate) fn safetensors_bytes(tensors: &[RawTensor], metadata: HashMap<String, String>) -> Result<Vec<u8>, String> {
    let views = tensors
        .iter()
        .map(|t| {
            TensorView::new(t.dtype, t.shape.clone(), &t.bytes)
                .map(|v| (t.name.as_str(), v))
                .map_err(|e| format!("tensor `{}`: {e:?}", t.name))
        })
        .collect::<Result<Vec<_>, String>>()?;
    safetensors::tensor::serialize(views, &Some(metadata)).map_err(|e| format!("{e:?}"))
}

/// Writes `model` and `optim` tensors with `meta` to `path` atomically.
pub fn save(
    path: &Path,
    model: &[(String, Tensor)],
    optim: &[(String, Tensor)],
    meta: &CheckpointMeta,
) -> Result<(), CheckpointError> {
    let mut raw = Vec::with_capacity(model.len() + optim.len());
    for (prefix, list) in [("model", model), ("optim", optim)] {
        for (name, t) in list {
            let t = t.detach().to_device(Device::Cpu).contiguous();
            let full = format!("{prefix}.{name}");
            let dtype = dtype(t.kind()).ok_or_else(|| CheckpointError::Kind {
                path: path.to_path_buf(),
                name: full.clone(),
                kind: t.kind(),
            })?;
            let mut bytes = vec![0u8; t.numel() * t.kind().elt_size_in_bytes()];
            t.copy_data_u8(&mut bytes, t.numel());
            raw.push(RawTensor {
                name: full,
                dtype,
                shape: t.size().iter().map(|&d| d as usize).collect(),
                bytes,
            });
        }
    }
    let meta_json = serde_json::to_string(meta).expect("metadata serialises");
    let crc = checksum(
        &meta_json,
        raw.iter()
            .map(|t| (t.name.as_str(), t.dtype, t.shape.as_slice(), t.bytes.as_slice())),
    );
    raw.push(RawTensor {
        name: CHECKSUM_TENSOR.into(),
        dtype: Dtype::U8,
        shape: vec![4],
        bytes: crc.to_le_bytes().to_vec(),
    });
    let header = HashMap::from([(META_KEY.to_string(), meta_json)]);
    let buffer = safetensors_bytes(&raw, header).map_err(|e| CheckpointError::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    write_atomic(path, &buffer)
}

/// Replaces `path` with `bytes` through a synced temporary file in the same folder (creating the folder),
/// with occreid-eval's atomic writer.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let err = |source| CheckpointError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    occreid_eval::npy::write_atomic(path, |w| w.write_all(bytes)).map_err(|e| match e {
        occreid_eval::npy::NpyError::Io { source, .. } => err(source),
        other => err(std::io::Error::other(other.to_string())),
    })
}

/// Reads a checkpoint written by [`save`].
pub fn load(path: &Path) -> Result<Loaded, CheckpointError> {
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let invalid = |reason: String| CheckpointError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let reason = |e: safetensors::SafeTensorError| invalid(occreid_torch::safetensors_reason(&e));
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(reason)?;
    let meta_json = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(META_KEY))
        .ok_or_else(|| invalid("no occreid metadata (a plain weights file? use it as model.pretrained)".into()))?;
    let st = SafeTensors::deserialize(&bytes).map_err(reason)?;
    // The checksum first: a damaged file is named as such, whatever part of it the damage hit.
    let views = st.tensors();
    if let Some((_, stored)) = views.iter().find(|(n, _)| n == CHECKSUM_TENSOR) {
        let computed = checksum(
            meta_json,
            views
                .iter()
                .filter(|(n, _)| n != CHECKSUM_TENSOR)
                .map(|(n, v)| (n.as_str(), v.dtype(), v.shape(), v.data())),
        );
        let stored: Option<[u8; 4]> = (stored.dtype() == Dtype::U8)
            .then(|| stored.data().try_into().ok())
            .flatten();
        match stored.map(u32::from_le_bytes) {
            Some(stored) if stored == computed => {}
            stored => {
                return Err(CheckpointError::Corrupt {
                    path: path.to_path_buf(),
                    stored: stored.map_or("unreadable".into(), |s| format!("{s:08x}")),
                    computed: format!("{computed:08x}"),
                })
            }
        }
    }
    let meta: CheckpointMeta = serde_json::from_str(meta_json).map_err(|e| invalid(format!("bad metadata: {e}")))?;
    if meta.format != FORMAT {
        return Err(invalid(format!(
            "format {} but this build reads format {FORMAT}",
            meta.format
        )));
    }
    let mut model = HashMap::new();
    let mut optim = HashMap::new();
    for (name, view) in views.into_iter().filter(|(n, _)| n != CHECKSUM_TENSOR) {
        let k = kind(view.dtype()).ok_or_else(|| invalid(format!("tensor `{name}` has type {:?}", view.dtype())))?;
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let t = Tensor::from_data_size(view.data(), &shape, k);
        if let Some(rest) = name.strip_prefix("model.") {
            model.insert(rest.to_string(), t);
        } else if let Some(rest) = name.strip_prefix("optim.") {
            optim.insert(rest.to_string(), t);
        } else {
            return Err(invalid(format!("unexpected tensor `{name}`")));
        }
    }
    Ok(Loaded { meta, model, optim })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> CheckpointMeta {
        CheckpointMeta {
            format: FORMAT,
            method: "bot".into(),
            epoch: 3,
            global_batch: 42,
            optimizer_steps: 42,
            num_classes: 5,
            sampler: serde_json::json!({"epoch": 3}),
            best: Some(BestScore {
                epoch: 2,
                rank1: 0.5,
                map: 0.25,
            }),
            loss_scaler: None,
            method_state: serde_json::Value::Null,
            config: "seed = 1\n".into(),
            in_epoch: None,
        }
    }

    #[test]
    fn round_trip_preserves_tensors_and_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("last.ckpt");
        let w = Tensor::from_slice(&[1.5f32, -2.0, 3.25, 0.0, 7.0, 8.0]).reshape([2, 3]);
        let n = Tensor::from_slice(&[3i64]);
        save(
            &path,
            &[("w".into(), w.shallow_clone()), ("n".into(), n)],
            &[("model.first.w".into(), &w * 2.0)],
            &meta(),
        )
        .unwrap();
        let l = load(&path).unwrap();
        assert_eq!(l.meta, meta());
        assert_eq!(l.model["w"].size(), vec![2, 3]);
        assert_eq!(
            Vec::<f32>::try_from(l.model["w"].flatten(0, -1)).unwrap(),
            vec![1.5, -2.0, 3.25, 0.0, 7.0, 8.0]
        );
        assert_eq!(l.model["n"].int64_value(&[0]), 3);
        assert_eq!(l.optim["model.first.w"].double_value(&[1, 2]), 16.0);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn foreign_and_corrupt_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.ckpt");
        std::fs::write(&junk, b"not a checkpoint").unwrap();
        let e = load(&junk).unwrap_err().to_string();
        assert!(
            e.contains("junk.ckpt") && e.contains("not an occreid checkpoint") && e.contains("header length over"),
            "{e}"
        );
        let plain = dir.path().join("weights.safetensors");
        Tensor::write_safetensors(&[("x", Tensor::from_slice(&[1.0f32]))], &plain).unwrap();
        let e = load(&plain).unwrap_err().to_string();
        assert!(e.contains("no occreid metadata"), "{e}");
        let e = load(&dir.path().join("absent.ckpt")).unwrap_err().to_string();
        assert!(e.contains("absent.ckpt"), "{e}");
    }

    /// Runs are compared by their checkpoints' bytes (a retrained stage "to the same bytes"): nothing in
    /// the file may depend on a hash map's per-instance order.
    #[test]
    fn the_same_state_writes_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let write = |k: usize| {
            let path = dir.path().join(format!("c{k}.ckpt"));
            let w = Tensor::from_slice(&[1.5f32, -2.0]);
            save(
                &path,
                &[("w".into(), w)],
                &[("m".into(), Tensor::from_slice(&[7i64]))],
                &meta(),
            )
            .unwrap();
            std::fs::read(path).unwrap()
        };
        let first = write(0);
        for k in 1..8 {
            assert!(write(k) == first, "write {k} differs from the first");
        }
    }

    #[test]
    fn one_flipped_bit_in_the_tensor_data_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("last.ckpt");
        let w = Tensor::from_slice(&[1.5f32, -2.0, 3.25, 0.0]);
        save(
            &path,
            &[("w".into(), w)],
            &[("m".into(), Tensor::from_slice(&[7i64]))],
            &meta(),
        )
        .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let data_start = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        // Every bit of the data section, one at a time: each flip is caught (a mantissa bit of a float
        // too, which would otherwise load as a slightly different weight).
        for bit in 0..(bytes.len() - data_start) * 8 {
            let mut flipped = bytes.clone();
            flipped[data_start + bit / 8] ^= 1 << (bit % 8);
            std::fs::write(&path, &flipped).unwrap();
            let e = load(&path).unwrap_err().to_string();
            assert!(
                e.contains("last.ckpt is corrupted") && e.contains("checksum"),
                "bit {bit}: {e}"
            );
        }
        std::fs::write(&path, &bytes).unwrap();
        assert!(load(&path).is_ok());
    }

    #[test]
    fn truncated_file_is_rejected_and_existing_checkpoint_survives_failed_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("last.ckpt");
        save(&path, &[("w".into(), Tensor::from_slice(&[1.0f32]))], &[], &meta()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let cut = dir.path().join("cut.ckpt");
        std::fs::write(&cut, &bytes[..bytes.len() - 2]).unwrap();
        let e = load(&cut).unwrap_err().to_string();
        assert!(e.contains("cut.ckpt") && e.contains("truncated"), "{e}");
        // An unsupported dtype fails before anything is written: the old file is intact.
        let bad = Tensor::from_slice(&[1i16]);
        assert!(save(&path, &[("w".into(), bad)], &[], &meta()).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }
}
