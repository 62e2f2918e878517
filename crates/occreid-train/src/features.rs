//! Feature files: what `occreid extract` writes and `occreid search` reads.
//!
//! One file: `.safetensors` (`features` `[N, D]` f32, `pids`, `camids` int64; header metadata `paths`
//! (JSON list) and `model` (the [`ModelCard`] of the model that made them)) or `.npy` (+ `.paths.txt`).
//! A gallery of any size: a folder of such `.safetensors` shards of at most `shard_rows` rows each, written
//! one at a time while extraction streams, and `gallery.json` (the [`Manifest`]) written last, so a folder
//! without it is an unfinished extraction.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use occreid_data::Sample;
use occreid_eval::Matrix;
use safetensors::tensor::Dtype;
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{safetensors_bytes, write_atomic, RawTensor};
use crate::export::ModelCard;

pub const MANIFEST: &str = "gallery.json";
/// 20,000 rows: 160 MB of 2048-d features, the most a gallery extraction or search holds at once.
pub const DEFAULT_SHARD_ROWS: usize = 20_000;
const MANIFEST_FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum FeatureFileError {
    #[error("{0}: feature files end in .safetensors or .npy")]
    Extension(PathBuf),
    #[error("cannot write {path}: {message}")]
    Write { path: PathBuf, message: String },
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

fn invalid(path: &Path, message: impl Into<String>) -> FeatureFileError {
    FeatureFileError::Invalid {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// The `.safetensors` bytes of features with their samples and the model card.
fn safetensors_features(features: &Matrix, samples: &[Sample], card: Option<&ModelCard>) -> Result<Vec<u8>, String> {
    let n = samples.len();
    let ints = |name: &str, values: Vec<i64>| RawTensor {
        name: name.to_string(),
        dtype: Dtype::I64,
        shape: vec![n],
        bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    };
    let tensors = [
        RawTensor {
            name: "features".to_string(),
            dtype: Dtype::F32,
            shape: vec![features.rows(), features.cols()],
            bytes: features.as_slice().iter().flat_map(|v| v.to_le_bytes()).collect(),
        },
        ints("pids", samples.iter().map(|s| s.pid).collect()),
        ints("camids", samples.iter().map(|s| s.camid).collect()),
    ];
    let paths: Vec<String> = samples.iter().map(|s| s.path.display().to_string()).collect();
    let mut meta = HashMap::from([(
        "paths".to_string(),
        serde_json::to_string(&paths).expect("strings serialise"),
    )]);
    if let Some(card) = card {
        meta.insert("model".into(), serde_json::to_string(card).expect("card serialises"));
    }
    safetensors_bytes(&tensors, meta)
}

/// Writes features with their file names (and, in `.safetensors`, the card of the model that made them)
/// atomically; `.npy` gets a `<name>.paths.txt` beside it.
pub fn save_features(
    path: &Path,
    features: &Matrix,
    samples: &[Sample],
    card: Option<&ModelCard>,
) -> Result<(), FeatureFileError> {
    let werr = |message: String| FeatureFileError::Write {
        path: path.to_path_buf(),
        message,
    };
    match path.extension().and_then(|e| e.to_str()) {
        Some("safetensors") => {
            let bytes = safetensors_features(features, samples, card).map_err(werr)?;
            write_atomic(path, &bytes).map_err(|e| werr(e.to_string()))
        }
        Some("npy") => {
            occreid_eval::npy::write_f32(path, &[features.rows(), features.cols()], features.as_slice())
                .map_err(|e| werr(e.to_string()))?;
            let list = path.with_extension("paths.txt");
            let text: String = samples.iter().map(|s| format!("{}\n", s.path.display())).collect();
            write_atomic(&list, text.as_bytes()).map_err(|e| werr(e.to_string()))
        }
        _ => Err(FeatureFileError::Extension(path.to_path_buf())),
    }
}

/// A `.safetensors` feature file read back.
pub struct FeatureFile {
    pub features: Matrix,
    pub paths: Vec<String>,
    pub model: Option<ModelCard>,
}

pub fn read_features(path: &Path) -> Result<FeatureFile, FeatureFileError> {
    let bytes = std::fs::read(path).map_err(|e| FeatureFileError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let bad = |m: String| invalid(path, format!("not an occreid feature file: {m}"));
    let st = SafeTensors::deserialize(&bytes).map_err(|e| bad(occreid_torch::safetensors_reason(&e)))?;
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(occreid_torch::safetensors_reason(&e)))?;
    let meta = header.metadata().clone().unwrap_or_default();
    let t = st.tensor("features").map_err(|_| bad("no `features` tensor".into()))?;
    let (rows, cols) = match (t.dtype(), t.shape()) {
        (Dtype::F32, [r, c]) => (*r, *c),
        (dtype, shape) => return Err(bad(format!("`features` is {dtype:?} {shape:?}, not float32 [N, D]"))),
    };
    let data: Vec<f32> = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let paths: Vec<String> = match meta.get("paths") {
        Some(json) => serde_json::from_str(json).map_err(|e| bad(format!("its `paths` are unreadable: {e}")))?,
        None => return Err(bad("no `paths` in its metadata".into())),
    };
    if paths.len() != rows {
        return Err(bad(format!("{} paths for {rows} features", paths.len())));
    }
    let model = match meta.get("model") {
        Some(json) => Some(crate::export::parse_card(json).map_err(bad)?),
        None => None,
    };
    Ok(FeatureFile {
        features: Matrix::new(rows, cols, data),
        paths,
        model,
    })
}

/// What a `.safetensors` feature file's header says: its row count, paths and model card.
struct Header {
    rows: usize,
    dim: usize,
    paths: Vec<String>,
    model: Option<ModelCard>,
}

/// The `paths` of a `.safetensors` feature file, from its header alone.
pub fn read_paths(path: &Path) -> Result<Vec<String>, FeatureFileError> {
    read_header(path).map(|h| h.paths)
}

fn read_header(path: &Path) -> Result<Header, FeatureFileError> {
    use std::io::Read;
    let rerr = |e: std::io::Error| FeatureFileError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut f = std::fs::File::open(path).map_err(rerr)?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len).map_err(rerr)?;
    let n = u64::from_le_bytes(len);
    let size = f.metadata().map_err(rerr)?.len();
    if n > size.saturating_sub(8) {
        return Err(invalid(
            path,
            "not an occreid feature file: header length past the end of the file",
        ));
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header).map_err(rerr)?;
    let json: serde_json::Value =
        serde_json::from_slice(&header).map_err(|e| invalid(path, format!("unreadable header: {e}")))?;
    let meta = &json["__metadata__"];
    let paths = meta["paths"]
        .as_str()
        .ok_or_else(|| invalid(path, "no `paths` in its metadata"))?;
    let paths: Vec<String> =
        serde_json::from_str(paths).map_err(|e| invalid(path, format!("its `paths` are unreadable: {e}")))?;
    let shape: Option<Vec<usize>> = json["features"]["shape"]
        .as_array()
        .and_then(|dims| dims.iter().map(|d| d.as_u64().map(|d| d as usize)).collect());
    let (rows, dim) = match shape.as_deref() {
        Some(&[rows, dim]) => (rows, dim),
        _ => return Err(invalid(path, "not an occreid feature file: no `features` [N, D]")),
    };
    if paths.len() != rows {
        return Err(invalid(path, format!("{} paths for {rows} features", paths.len())));
    }
    let model = match meta["model"].as_str() {
        Some(card) => Some(crate::export::parse_card(card).map_err(|m| invalid(path, m))?),
        None => None,
    };
    Ok(Header {
        rows,
        dim,
        paths,
        model,
    })
}

/// `gallery.json`: the shards in order and what made them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub rows: usize,
    pub dim: usize,
    pub shards: Vec<ShardEntry>,
    pub model: Option<ModelCard>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardEntry {
    /// File name inside the gallery folder.
    pub file: String,
    pub rows: usize,
}

fn is_shard_name(name: &str) -> bool {
    name.strip_prefix("shard-")
        .and_then(|r| r.strip_suffix(".safetensors"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Streams features into a gallery folder, one shard file at a time (memory: one shard).
pub struct ShardWriter {
    dir: PathBuf,
    shard_rows: usize,
    card: Option<ModelCard>,
    rows: Vec<f32>,
    samples: Vec<Sample>,
    dim: Option<usize>,
    shards: Vec<ShardEntry>,
    total: usize,
}

impl ShardWriter {
    /// Starts a gallery in `dir` (created if absent); a manifest already there is removed first, so a
    /// folder never describes shards that are being replaced.
    pub fn create(dir: &Path, shard_rows: usize, card: Option<ModelCard>) -> Result<Self, FeatureFileError> {
        let werr = |e: std::io::Error| FeatureFileError::Write {
            path: dir.to_path_buf(),
            message: e.to_string(),
        };
        if shard_rows == 0 {
            return Err(invalid(dir, "shards need at least one row"));
        }
        std::fs::create_dir_all(dir).map_err(werr)?;
        match std::fs::remove_file(dir.join(MANIFEST)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(werr(e)),
            _ => {}
        }
        // Shards of an earlier gallery here would outlive it unreferenced.
        for entry in std::fs::read_dir(dir).map_err(werr)? {
            let path = entry.map_err(werr)?.path();
            if path.file_name().and_then(|n| n.to_str()).is_some_and(is_shard_name) {
                std::fs::remove_file(&path).map_err(werr)?;
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            shard_rows,
            card,
            rows: Vec::new(),
            samples: Vec::new(),
            dim: None,
            shards: Vec::new(),
            total: 0,
        })
    }

    /// Continues the unfinished gallery in `dir` (shards, no manifest) that an interrupted extraction of
    /// `samples` with `card`'s model left: each shard must be that model's and hold the next of `samples`
    /// in order. The writer appends after them; [`ShardWriter::rows_on_disk`] says how many of `samples`
    /// they hold.
    pub fn resume(
        dir: &Path,
        shard_rows: usize,
        mut card: Option<ModelCard>,
        samples: &[Sample],
    ) -> Result<Self, FeatureFileError> {
        let werr = |e: std::io::Error| FeatureFileError::Write {
            path: dir.to_path_buf(),
            message: e.to_string(),
        };
        let again = "start it again with --overwrite";
        if shard_rows == 0 {
            return Err(invalid(dir, "shards need at least one row"));
        }
        if !dir.is_dir() {
            return Err(invalid(dir, "nothing to resume: not a folder"));
        }
        if dir.join(MANIFEST).exists() {
            return Err(invalid(
                dir,
                format!("nothing to resume: the extraction finished ({MANIFEST} is there)"),
            ));
        }
        let (mut names, mut half_written) = (Vec::new(), Vec::new());
        for entry in std::fs::read_dir(dir).map_err(werr)? {
            let path = entry.map_err(werr)?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if is_shard_name(name) {
                names.push(name.to_string());
            } else if name.starts_with(".shard-") && name.contains(".safetensors.tmp-") {
                half_written.push(path);
            }
        }
        names.sort();
        let (mut shards, mut done, mut dim) = (Vec::new(), 0usize, None);
        for (i, name) in names.into_iter().enumerate() {
            let expected = format!("shard-{i:05}.safetensors");
            if name != expected {
                return Err(invalid(dir, format!("{expected} is missing; {again}")));
            }
            let path = dir.join(&name);
            let h = read_header(&path)?;
            // The same weights from another path (an export, a moved checkpoint) make the same features: the
            // rest of the gallery is written under the first shard's card, as search wants one card.
            match (&h.model, &card) {
                (Some(theirs), Some(ours)) if i == 0 => {
                    if let Some((what, t, o)) = crate::embedder::model_difference(theirs, ours) {
                        return Err(invalid(
                            &path,
                            format!("written by another model: {what} {t}, this extraction's {o}; {again}"),
                        ));
                    }
                    card = Some(theirs.clone());
                }
                (theirs, ours) if theirs != ours => {
                    return Err(invalid(
                        &path,
                        format!(
                            "its model card differs from {}; {again}",
                            if i == 0 { "this extraction's" } else { "shard-00000's" }
                        ),
                    ));
                }
                _ => {}
            }
            if *dim.get_or_insert(h.dim) != h.dim {
                return Err(invalid(
                    &path,
                    format!("{}-d features after {}-d ones; {again}", h.dim, dim.unwrap_or(0)),
                ));
            }
            for (row, p) in h.paths.iter().enumerate() {
                let listed = samples.get(done + row).map(|s| s.path.display().to_string());
                if listed.as_deref() != Some(p.as_str()) {
                    return Err(invalid(
                        &path,
                        format!(
                            "the images changed since the extraction started: row {row} is {p}, the image list's \
                             image {} is {}; {again}",
                            done + row + 1,
                            listed.as_deref().unwrap_or("past its end")
                        ),
                    ));
                }
            }
            done += h.rows;
            shards.push(ShardEntry {
                file: name,
                rows: h.rows,
            });
        }
        // Shards the interrupted process was writing: incomplete by construction. Removed only now, so a
        // refused resume leaves the folder as it was.
        for path in half_written {
            std::fs::remove_file(&path).map_err(werr)?;
        }
        let writer = Self {
            dir: dir.to_path_buf(),
            shard_rows,
            card,
            rows: Vec::new(),
            samples: Vec::new(),
            dim,
            shards,
            total: done,
        };
        Ok(writer)
    }

    /// Appends features of `samples` (one row each), writing every shard that fills up.
    pub fn push(&mut self, features: &Matrix, samples: &[Sample]) -> Result<(), FeatureFileError> {
        assert_eq!(features.rows(), samples.len(), "one feature row per sample");
        let dim = *self.dim.get_or_insert(features.cols());
        if features.cols() != dim {
            return Err(invalid(
                &self.dir,
                format!("feature size changed from {dim} to {}", features.cols()),
            ));
        }
        for (i, s) in samples.iter().enumerate() {
            self.rows.extend_from_slice(features.row(i));
            self.samples.push(s.clone());
            if self.samples.len() == self.shard_rows {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), FeatureFileError> {
        if self.samples.is_empty() {
            return Ok(());
        }
        let file = format!("shard-{:05}.safetensors", self.shards.len());
        let n = self.samples.len();
        let m = Matrix::new(n, self.dim.unwrap_or(0), std::mem::take(&mut self.rows));
        save_features(&self.dir.join(&file), &m, &self.samples, self.card.as_ref())?;
        self.samples.clear();
        self.shards.push(ShardEntry { file, rows: n });
        self.total += n;
        Ok(())
    }

    /// Rows written to shard files so far (a resumed writer counts the shards it found).
    pub fn rows_on_disk(&self) -> usize {
        self.total
    }

    /// Writes the rows held in memory as a shard and stops without a manifest, so the gallery stays
    /// unfinished and [`ShardWriter::resume`] continues it; returns the rows on disk.
    pub fn suspend(mut self) -> Result<usize, FeatureFileError> {
        self.flush()?;
        Ok(self.total)
    }

    /// Writes the last shard and the manifest.
    pub fn finish(mut self) -> Result<Manifest, FeatureFileError> {
        self.flush()?;
        let manifest = Manifest {
            format: MANIFEST_FORMAT,
            rows: self.total,
            dim: self.dim.unwrap_or(0),
            shards: self.shards,
            model: self.card,
        };
        let path = self.dir.join(MANIFEST);
        let text = serde_json::to_string_pretty(&manifest).expect("manifest serialises");
        write_atomic(&path, text.as_bytes()).map_err(|e| FeatureFileError::Write {
            path,
            message: e.to_string(),
        })?;
        Ok(manifest)
    }
}

/// A gallery to search: one `.safetensors` feature file or a folder written by [`ShardWriter`].
pub struct Gallery {
    pub path: PathBuf,
    pub rows: usize,
    pub dim: usize,
    pub model: Option<ModelCard>,
    shards: Vec<PathBuf>,
    /// A single file is read once, when the gallery is opened.
    loaded: Option<FeatureFile>,
}

impl Gallery {
    pub fn open(path: &Path) -> Result<Self, FeatureFileError> {
        if path.is_dir() {
            let mpath = path.join(MANIFEST);
            let text = std::fs::read_to_string(&mpath).map_err(|e| {
                let why = if e.kind() == std::io::ErrorKind::NotFound {
                    format!("no {MANIFEST}: not a gallery folder, or its extraction did not finish (`occreid extract --resume` continues it)")
                } else {
                    e.to_string()
                };
                invalid(path, why)
            })?;
            let m: Manifest =
                serde_json::from_str(&text).map_err(|e| invalid(&mpath, format!("unreadable manifest: {e}")))?;
            if m.format != MANIFEST_FORMAT {
                return Err(invalid(
                    &mpath,
                    format!("manifest format {} (this occreid reads {MANIFEST_FORMAT})", m.format),
                ));
            }
            if m.shards.iter().map(|s| s.rows).sum::<usize>() != m.rows {
                return Err(invalid(&mpath, "the shards' rows do not add up to the manifest's"));
            }
            let shards = m.shards.iter().map(|s| path.join(&s.file)).collect();
            return Ok(Self {
                path: path.to_path_buf(),
                rows: m.rows,
                dim: m.dim,
                model: m.model,
                shards,
                loaded: None,
            });
        }
        if path.extension().is_none_or(|e| e != "safetensors") {
            return Err(invalid(
                path,
                "a gallery is a .safetensors file or a folder written by `occreid extract --out DIR`",
            ));
        }
        let f = read_features(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            rows: f.features.rows(),
            dim: f.features.cols(),
            model: f.model.clone(),
            shards: vec![path.to_path_buf()],
            loaded: Some(f),
        })
    }

    pub fn num_shards(&self) -> usize {
        self.shards.len()
    }

    /// Where an approximate-search index of this gallery lives: `DIR/hnsw` for a folder, `NAME.hnsw`
    /// beside a single file.
    pub fn index_dir(&self) -> PathBuf {
        if self.path.is_dir() {
            self.path.join("hnsw")
        } else {
            self.path.with_extension("hnsw")
        }
    }

    /// Changes whenever the gallery's files are rewritten (names, sizes, modification times, manifest), so
    /// an index built over an earlier gallery is never used for a new one.
    pub fn fingerprint(&self) -> Result<String, FeatureFileError> {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        let manifest = self.path.join(MANIFEST);
        let files = self.shards.iter().chain(self.path.is_dir().then_some(&manifest));
        for f in files {
            let m = std::fs::metadata(f).map_err(|e| FeatureFileError::Read {
                path: f.clone(),
                message: e.to_string(),
            })?;
            let modified = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            h.update(
                f.file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default(),
            );
            h.update(m.len().to_le_bytes());
            h.update(modified.map_or(0, |d| d.as_nanos()).to_le_bytes());
        }
        Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The image paths of gallery rows `indices` (read from the shards' headers only).
    pub fn paths_of(&self, indices: &[usize]) -> Result<HashMap<usize, String>, FeatureFileError> {
        let mut out = HashMap::new();
        let mut start = 0;
        for shard in &self.shards {
            let paths = match &self.loaded {
                Some(f) => f.paths.clone(),
                None => read_paths(shard)?,
            };
            let end = start + paths.len();
            for &i in indices.iter().filter(|&&i| (start..end).contains(&i)) {
                out.insert(i, paths[i - start].clone());
            }
            start = end;
        }
        Ok(out)
    }

    /// Shard `i`'s features and paths, checked against the manifest.
    pub fn shard(&mut self, i: usize) -> Result<FeatureFile, FeatureFileError> {
        if let Some(f) = self.loaded.take() {
            return Ok(f);
        }
        let path = &self.shards[i];
        let f = read_features(path)?;
        if f.features.cols() != self.dim {
            return Err(invalid(
                path,
                format!("{}-d features in a {}-d gallery", f.features.cols(), self.dim),
            ));
        }
        if f.model != self.model {
            return Err(invalid(
                path,
                "written by another model than the gallery's manifest names",
            ));
        }
        Ok(f)
    }
}
