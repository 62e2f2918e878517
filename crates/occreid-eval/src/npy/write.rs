//! Atomic `.npy` writes (and one non-atomic layout writer for tests of the readers).
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{NpyError, MAGIC};

pub(super) fn header_bytes(descr: &str, shape: &[usize]) -> Vec<u8> {
    let shape_text = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
        ),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Total preamble (10 bytes) + header + '\n' is padded to a multiple of 64, as NumPy does.
    let pad = (64 - (10 + header.len() + 1) % 64) % 64;
    header.extend(std::iter::repeat_n(' ', pad));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out
}

/// Writes `path` atomically: the data goes to a temporary file in the same folder that is renamed over
/// the target only when complete, so an interrupted write never leaves a half-written output behind.
pub fn write_atomic(
    path: impl AsRef<Path>,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), NpyError> {
    let path = path.as_ref();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    // Unique per process and per call, so two threads writing the same target cannot share a temp file.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp-{}-{call}", std::process::id()));
    let result = (|| {
        let file = File::create(&tmp)?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        fill(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        NpyError::Io {
            path: path.to_path_buf(),
            action: "write",
            source,
        }
    })
}

/// Writes a row-major f32 matrix as `<f4` `.npy` (atomically).
pub fn write_f32(path: impl AsRef<Path>, shape: &[usize], data: &[f32]) -> Result<(), NpyError> {
    assert_eq!(
        shape.iter().product::<usize>(),
        data.len(),
        "shape must match data length"
    );
    write_atomic(path, |w| {
        w.write_all(&header_bytes("<f4", shape))?;
        write_le_f32(w, data)
    })
}

fn write_le_f32(w: &mut dyn Write, data: &[f32]) -> std::io::Result<()> {
    for chunk in data.chunks(1 << 16) {
        let bytes: Vec<u8> = chunk.iter().flat_map(|v| v.to_le_bytes()).collect();
        w.write_all(&bytes)?;
    }
    Ok(())
}

/// Writes a `rows x cols` row-major f32 matrix as `<f4` `.npy` (atomically) from blocks of rows:
/// `block(first, n)` returns rows `first..first + n`, so a matrix larger than memory can be written.
pub fn write_f32_blocks(
    path: impl AsRef<Path>,
    rows: usize,
    cols: usize,
    block_rows: usize,
    mut block: impl FnMut(usize, usize) -> Vec<f32>,
) -> Result<(), NpyError> {
    let block_rows = block_rows.max(1);
    write_atomic(path, |w| {
        w.write_all(&header_bytes("<f4", &[rows, cols]))?;
        for first in (0..rows).step_by(block_rows) {
            let n = block_rows.min(rows - first);
            let data = block(first, n);
            assert_eq!(
                data.len(),
                n * cols,
                "write_f32_blocks: a block must hold n x cols values"
            );
            write_le_f32(w, &data)?;
        }
        Ok(())
    })
}

/// Writes a `rows x cols` matrix in any layout the readers accept — descr `<f4`, `>f8`, `<i8`, ... and
/// either memory order — element (r, c) being `value(r, c)`: the files NumPy can write, for tests of the
/// readers. It lays the bytes out itself and shares no code with them (not atomic; tests only).
pub fn write_layout(
    path: impl AsRef<Path>,
    descr: &str,
    fortran: bool,
    rows: usize,
    cols: usize,
    value: impl Fn(usize, usize) -> f64,
) -> std::io::Result<()> {
    let order = if fortran { "True" } else { "False" };
    let mut h = format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': ({rows}, {cols}), }}");
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&[1, 0]);
    bytes.extend_from_slice(&(h.len() as u16).to_le_bytes());
    bytes.extend_from_slice(h.as_bytes());
    let cells: Vec<(usize, usize)> = if fortran {
        (0..cols).flat_map(|c| (0..rows).map(move |r| (r, c))).collect()
    } else {
        (0..rows).flat_map(|r| (0..cols).map(move |c| (r, c))).collect()
    };
    for (r, c) in cells {
        let v = value(r, c);
        let mut b = match descr.get(1..) {
            Some("f4") => (v as f32).to_le_bytes().to_vec(),
            Some("i4") => (v as i32).to_le_bytes().to_vec(),
            Some("i8") => (v as i64).to_le_bytes().to_vec(),
            _ => v.to_le_bytes().to_vec(),
        };
        if descr.starts_with('>') {
            b.reverse();
        }
        bytes.extend_from_slice(&b);
    }
    std::fs::write(path, bytes)
}

/// Writes an i64 vector as `<i8` `.npy` (atomically).
pub fn write_i64(path: impl AsRef<Path>, data: &[i64]) -> Result<(), NpyError> {
    write_atomic(path, |w| {
        w.write_all(&header_bytes("<i8", &[data.len()]))?;
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        w.write_all(&bytes)
    })
}
