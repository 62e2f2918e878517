//! NumPy `.npy` reading and writing (format versions 1–3, no pickles).
//!
//! Hand-written rather than taken from a crate because the CLI needs (a) errors that name the file and
//! the expected dtype/shape, (b) chunked row streaming so Market-scale inputs (a 1 GB `g_g.npy`) can be
//! scattered into the re-ranking table without a second full copy in memory, and (c) atomic writes.
//!
//! [`NpyReader`] and the `read_*` functions parse and read whole files (`read.rs`); [`MatrixFile`] maps a
//! 2-D float file and reads row blocks in place (`mapped.rs`); the `write_*` functions write atomically
//! (`write.rs`).
use std::path::{Path, PathBuf};

mod mapped;
mod read;
mod write;

pub use mapped::{MatrixData, MatrixFile};
pub use read::{read_f32_array, read_f64_vector, read_labels, read_labels_for, read_matrix, NpyReader};
pub use write::{write_atomic, write_f32, write_f32_blocks, write_i64, write_layout};

const MAGIC: &[u8; 6] = b"\x93NUMPY";

#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("{path}: cannot {action}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    #[error("{path}: not a valid .npy file: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("{path}: dtype '{found}' is not accepted here; expected {expected}")]
    Dtype {
        path: PathBuf,
        found: String,
        expected: &'static str,
    },
    #[error("{path}: shape {found:?} does not fit; expected {expected}")]
    Shape {
        path: PathBuf,
        found: Vec<usize>,
        expected: String,
    },
    #[error("{path}: contains NaN at flat index {index}; distances and features must be numbers")]
    NotANumber { path: PathBuf, index: usize },
}

/// Element types this module reads. Either byte order is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F32,
    F64,
    I32,
    I64,
}

impl DType {
    fn size(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::F64 | DType::I64 => 8,
        }
    }
}

fn format_err(path: &Path, reason: impl Into<String>) -> NpyError {
    NpyError::Format {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn io_err<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(std::io::Error) -> NpyError + 'a {
    move |source| NpyError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

fn decode<T, const N: usize>(bytes: &[u8], out: &mut [T], big_endian: bool, f: impl Fn([u8; N]) -> T) {
    for (chunk, o) in bytes.chunks_exact(N).zip(out.iter_mut()) {
        let mut b: [u8; N] = chunk.try_into().expect("chunks_exact yields N bytes");
        if big_endian {
            b.reverse();
        }
        *o = f(b);
    }
}

#[cfg(test)]
mod tests;
