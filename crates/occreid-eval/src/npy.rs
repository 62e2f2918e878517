//! NumPy `.npy` reading and writing (format versions 1–3, no pickles).
//!
//! Hand-written rather than taken from a crate because the CLI needs (a) errors that name the file and
//! the expected dtype/shape, (b) chunked row streaming so Market-scale inputs (a 1 GB `g_g.npy`) can be
//! scattered into the re-ranking table without a second full copy in memory, and (c) atomic writes.
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::{Matrix, MatrixView};

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

/// Parsed header of an open `.npy` file; the reader is positioned at the first data byte.
#[derive(Debug)]
pub struct NpyReader {
    path: PathBuf,
    pub dtype: DType,
    big_endian: bool,
    pub shape: Vec<usize>,
    pub fortran_order: bool,
    /// Byte offset of the first data element in the file.
    data_offset: usize,
    reader: BufReader<File>,
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

/// Extracts the value text of `'key':` from a header dict literal.
/// The header dict as numpy writes it, read strictly: `{'descr': '<f4', 'fortran_order': False,
/// 'shape': (3, 4), }` padded with spaces and a newline; exactly these three keys, each once. Returns
/// their values as written (the descr with its quotes).
fn header_fields<'a>(path: &Path, header: &'a str) -> Result<[&'a str; 3], NpyError> {
    const KEYS: [&str; 3] = ["descr", "fortran_order", "shape"];
    let bad = |why: String| format_err(path, format!("header {why}: {:?}", header.trim_end()));
    let body = header
        .trim_end_matches([' ', '\n'])
        .strip_prefix('{')
        .and_then(|b| b.strip_suffix('}'))
        .ok_or_else(|| bad("is not a {...} dict".into()))?;
    let mut found: [Option<&str>; 3] = [None; 3];
    let mut rest = body.trim_start();
    while !rest.is_empty() {
        let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"');
        let key_end = quote
            .and_then(|q| rest[1..].find(q))
            .ok_or_else(|| bad("has an unquoted key".into()))?;
        let key = &rest[1..1 + key_end];
        let after = rest[key_end + 2..].trim_start();
        let value = after
            .strip_prefix(':')
            .ok_or_else(|| bad(format!("has no ':' after '{key}'")))?
            .trim_start();
        let len = match value.chars().next() {
            Some(q @ ('\'' | '"')) => value[1..].find(q).map(|e| e + 2),
            Some('(') => value.find(')').map(|e| e + 1),
            Some(_) => Some(value.find(',').unwrap_or(value.len())),
            None => None,
        }
        .ok_or_else(|| bad(format!("has an unterminated value for '{key}'")))?;
        let slot = KEYS
            .iter()
            .position(|k| *k == key)
            .ok_or_else(|| bad(format!("has an unknown key '{key}'")))?;
        if found[slot].replace(value[..len].trim_end()).is_some() {
            return Err(bad(format!("repeats '{key}'")));
        }
        rest = value[len..].trim_start();
        if let Some(next) = rest.strip_prefix(',') {
            rest = next.trim_start();
        } else if !rest.is_empty() {
            return Err(bad(format!("has text after the value of '{key}'")));
        }
    }
    let mut out = [""; 3];
    for (slot, key) in KEYS.iter().enumerate() {
        out[slot] = found[slot].ok_or_else(|| match *key {
            "descr" => bad("has no 'descr' (pickled object arrays are not supported)".into()),
            _ => bad(format!("has no '{key}'")),
        })?;
    }
    Ok(out)
}

fn parse_dtype(path: &Path, descr: &str) -> Result<(DType, bool), NpyError> {
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    // At a character boundary: a damaged header may hold any (lossily decoded) character first.
    let (order, code) = descr.split_at(descr.chars().next().map_or(0, char::len_utf8));
    let big_endian = match order {
        "<" | "|" | "=" => false,
        ">" => true,
        _ => return Err(format_err(path, format!("unrecognised dtype descr '{descr}'"))),
    };
    let dtype = match code {
        "f4" => DType::F32,
        "f8" => DType::F64,
        "i4" => DType::I32,
        "i8" => DType::I64,
        _ => {
            return Err(NpyError::Dtype {
                path: path.to_path_buf(),
                found: descr.to_string(),
                expected: "one of float32, float64, int32, int64",
            })
        }
    };
    Ok((dtype, big_endian))
}

fn parse_shape(path: &Path, text: &str) -> Result<Vec<usize>, NpyError> {
    let inner = text
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| format_err(path, format!("malformed shape '{text}'")))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| format_err(path, format!("malformed shape '{text}'")))
        })
        .collect()
}

impl NpyReader {
    pub fn open(path: impl AsRef<Path>) -> Result<Self, NpyError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(io_err(path, "open"))?;
        let file_len = file.metadata().map_err(io_err(path, "stat"))?.len();
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut preamble = [0u8; 8];
        reader
            .read_exact(&mut preamble)
            .map_err(|_| format_err(path, "file is shorter than the .npy preamble"))?;
        if &preamble[..6] != MAGIC {
            return Err(format_err(path, "missing the \\x93NUMPY magic bytes"));
        }
        let header_len = match preamble[6] {
            1 => {
                let mut b = [0u8; 2];
                reader
                    .read_exact(&mut b)
                    .map_err(|_| format_err(path, "truncated header"))?;
                u16::from_le_bytes(b) as usize
            }
            2 | 3 => {
                let mut b = [0u8; 4];
                reader
                    .read_exact(&mut b)
                    .map_err(|_| format_err(path, "truncated header"))?;
                u32::from_le_bytes(b) as usize
            }
            v => return Err(format_err(path, format!("unsupported format version {v}"))),
        };
        let prefix_len = if preamble[6] == 1 { 10 } else { 12 };
        // The length field is read from the file: it is checked against the file before anything is
        // allocated for it (a damaged 4-byte field would otherwise ask for up to 4 GiB).
        if (prefix_len + header_len) as u64 > file_len {
            return Err(format_err(
                path,
                format!("header length {header_len} runs past the end of the file ({file_len} bytes)"),
            ));
        }
        let mut header = vec![0u8; header_len];
        reader
            .read_exact(&mut header)
            .map_err(|_| format_err(path, "truncated header"))?;
        let header = String::from_utf8_lossy(&header);
        let [descr, fortran_order, shape] = header_fields(path, &header)?;
        let (dtype, big_endian) = parse_dtype(path, descr)?;
        let fortran_order = match fortran_order {
            "True" => true,
            "False" => false,
            other => {
                return Err(format_err(
                    path,
                    format!("'fortran_order' is {other}, not True or False"),
                ))
            }
        };
        let shape = parse_shape(path, shape)?;
        let expected_bytes = shape
            .iter()
            .try_fold(dtype.size() as u64, |acc, &d| acc.checked_mul(d as u64))
            .ok_or_else(|| format_err(path, format!("shape {shape:?} is too large to address")))?;
        let available = file_len.saturating_sub((prefix_len + header_len) as u64);
        if available < expected_bytes {
            return Err(format_err(
                path,
                format!("truncated data: shape {shape:?} needs {expected_bytes} bytes, file holds {available}"),
            ));
        }
        if available > expected_bytes {
            return Err(format_err(
                path,
                format!(
                    "{} bytes after the data of shape {shape:?}: not a .npy file as numpy writes it",
                    available - expected_bytes
                ),
            ));
        }
        Ok(Self {
            path: path.to_path_buf(),
            dtype,
            big_endian,
            shape,
            fortran_order,
            data_offset: prefix_len + header_len,
            reader,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn shape_error(&self, expected: impl Into<String>) -> NpyError {
        NpyError::Shape {
            path: self.path.clone(),
            found: self.shape.clone(),
            expected: expected.into(),
        }
    }

    /// Reads the next `out.len()` elements (in file order) converting to f32.
    pub fn read_f32_into(&mut self, out: &mut [f32]) -> Result<(), NpyError> {
        let size = self.dtype.size();
        let mut bytes = vec![0u8; out.len() * size];
        self.reader.read_exact(&mut bytes).map_err(io_err(&self.path, "read"))?;
        let be = self.big_endian;
        match self.dtype {
            DType::F32 => decode(&bytes, out, be, |b| f32::from_bits(u32::from_le_bytes(b))),
            DType::F64 => decode(&bytes, out, be, |b| f64::from_le_bytes(b) as f32),
            DType::I32 | DType::I64 => {
                return Err(NpyError::Dtype {
                    path: self.path.clone(),
                    found: format!("{:?}", self.dtype).to_lowercase(),
                    expected: "float32 or float64",
                })
            }
        }
        if let Some(i) = out.iter().position(|v| v.is_nan()) {
            return Err(NpyError::NotANumber {
                path: self.path.clone(),
                index: i,
            });
        }
        Ok(())
    }

    fn read_i64_all(&mut self, n: usize) -> Result<Vec<i64>, NpyError> {
        let size = self.dtype.size();
        let mut bytes = vec![0u8; n * size];
        self.reader.read_exact(&mut bytes).map_err(io_err(&self.path, "read"))?;
        let mut out = vec![0i64; n];
        let be = self.big_endian;
        match self.dtype {
            DType::I64 => decode(&bytes, &mut out, be, i64::from_le_bytes),
            DType::I32 => decode(&bytes, &mut out, be, |b| i32::from_le_bytes(b) as i64),
            DType::F32 | DType::F64 => {
                return Err(NpyError::Dtype {
                    path: self.path.clone(),
                    found: format!("{:?}", self.dtype).to_lowercase(),
                    expected: "int64 or int32 (identity / camera labels)",
                })
            }
        }
        Ok(out)
    }

    /// Rows and columns of a 2-D array, or a shape error.
    pub fn matrix_dims(&self) -> Result<(usize, usize), NpyError> {
        match self.shape[..] {
            [r, c] => Ok((r, c)),
            _ => Err(self.shape_error("a 2-D array")),
        }
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

/// Reads a 2-D float array (f32 or f64, either memory order) as a row-major f32 matrix.
pub fn read_matrix(path: impl AsRef<Path>) -> Result<Matrix, NpyError> {
    let mut r = NpyReader::open(path)?;
    let (rows, cols) = r.matrix_dims()?;
    let mut data = vec![0f32; rows * cols];
    r.read_f32_into(&mut data)?;
    if r.fortran_order {
        let mut t = vec![0f32; rows * cols];
        for c in 0..cols {
            for i in 0..rows {
                t[i * cols + c] = data[c * rows + i];
            }
        }
        data = t;
    }
    Ok(Matrix::new(rows, cols, data))
}

/// A 2-D float `.npy` file mapped into memory. Read in place when NumPy's default layout allows
/// (little-endian float32, C order: [`MatrixFile::in_place`]); otherwise any row block is converted on
/// request ([`MatrixFile::read_rows`]); NaN is refused either way, naming the file and the row-major
/// index. Only the pages actually read become resident, and a
/// caller streaming row blocks can hand them back ([`MatrixFile::release_rows`]).
///
/// The mapping assumes the file is not changed while it is read (as `np.load(mmap_mode="r")` does);
/// a file truncated underneath would end the process with SIGBUS rather than an error.
pub struct MatrixFile {
    path: PathBuf,
    map: memmap2::Mmap,
    data_offset: usize,
    dtype: DType,
    big_endian: bool,
    fortran_order: bool,
    rows: usize,
    cols: usize,
}

/// A matrix read from a [`MatrixFile`]: the file's own pages, or a converted copy.
pub enum MatrixData<'a> {
    InPlace(MatrixView<'a>),
    Converted(Matrix),
}

impl MatrixData<'_> {
    pub fn view(&self) -> MatrixView<'_> {
        match self {
            MatrixData::InPlace(v) => *v,
            MatrixData::Converted(m) => m.view(),
        }
    }
}

impl MatrixFile {
    pub fn open(path: impl AsRef<Path>) -> Result<Self, NpyError> {
        let path = path.as_ref();
        let header = NpyReader::open(path)?;
        let (rows, cols) = header.matrix_dims()?;
        if matches!(header.dtype, DType::I32 | DType::I64) {
            return Err(NpyError::Dtype {
                path: path.to_path_buf(),
                found: format!("{:?}", header.dtype).to_lowercase(),
                expected: "float32 or float64",
            });
        }
        let file = header.reader.into_inner();
        // SAFETY: a read-only (shared) mapping of a file this process only reads; see the type's note on
        // files changed underneath.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io_err(path, "map"))?;
        Ok(Self {
            path: path.to_path_buf(),
            map,
            data_offset: header.data_offset,
            dtype: header.dtype,
            big_endian: header.big_endian,
            fortran_order: header.fortran_order,
            rows,
            cols,
        })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn data(&self) -> &[u8] {
        &self.map[self.data_offset..]
    }

    /// The file's own values, when they are little-endian float32 in row-major order (a matrix with one
    /// row or column is both orders) on a little-endian machine, and suitably aligned (NumPy pads the
    /// header to 64 bytes, so they are). No value is read or checked here.
    pub fn in_place(&self) -> Option<MatrixView<'_>> {
        let row_major = !self.fortran_order || self.rows <= 1 || self.cols <= 1;
        let native = self.big_endian == cfg!(target_endian = "big");
        if self.dtype != DType::F32 || !native || !row_major {
            return None;
        }
        let bytes = self.data();
        // SAFETY: the header check in NpyReader::open guarantees rows*cols*4 data bytes; f32 has no
        // invalid bit patterns; align_to only yields the aligned middle.
        let (head, floats, _) = unsafe { bytes.align_to::<f32>() };
        if !head.is_empty() {
            return None;
        }
        Some(MatrixView::new(self.rows, self.cols, &floats[..self.rows * self.cols]))
    }

    /// The whole matrix: in place when possible, otherwise converted (and checked for NaN).
    pub fn load(&self) -> Result<MatrixData<'_>, NpyError> {
        if let Some(v) = self.in_place() {
            self.check_numbers(0, v.as_slice())?;
            return Ok(MatrixData::InPlace(v));
        }
        let mut data = vec![0f32; self.rows * self.cols];
        self.read_rows(0, &mut data)?;
        Ok(MatrixData::Converted(Matrix::new(self.rows, self.cols, data)))
    }

    /// Rows `first..first + count` read in place (see [`MatrixFile::in_place`]), checked for NaN; `None`
    /// when the file's layout needs converting ([`MatrixFile::read_rows`]).
    pub fn rows_in_place(&self, first: usize, count: usize) -> Option<Result<&[f32], NpyError>> {
        let view = self.in_place()?;
        let rows = &view.as_slice()[first * self.cols..(first + count) * self.cols];
        Some(self.check_numbers(first * self.cols, rows).map(|()| rows))
    }

    /// A NaN among `values` (which start at flat row-major index `first`) is an error naming the file.
    fn check_numbers(&self, first: usize, values: &[f32]) -> Result<(), NpyError> {
        use rayon::prelude::*;
        // Chunks scanned sequentially (per-element parallel search synchronises on every element).
        const CHUNK: usize = 1 << 16;
        let nan = values
            .par_chunks(CHUNK)
            .enumerate()
            .find_map_first(|(c, chunk)| chunk.iter().position(|v| v.is_nan()).map(|i| c * CHUNK + i));
        match nan {
            Some(i) => Err(NpyError::NotANumber {
                path: self.path.clone(),
                index: first + i,
            }),
            None => Ok(()),
        }
    }

    /// Rows `first..first + out.len() / cols` as row-major f32, converted from any accepted dtype,
    /// byte order and memory order; a NaN is an error naming the file.
    pub fn read_rows(&self, first: usize, out: &mut [f32]) -> Result<(), NpyError> {
        let (rows, cols) = (self.rows, self.cols);
        let count = out.len().checked_div(cols).unwrap_or(0);
        assert!(
            first + count <= rows && count * cols == out.len(),
            "read_rows out of range"
        );
        let size = self.dtype.size();
        let data = self.data();
        let be = self.big_endian;
        let convert = |bytes: &[u8], out: &mut [f32]| match self.dtype {
            DType::F32 => decode(bytes, out, be, |b| f32::from_bits(u32::from_le_bytes(b))),
            _ => decode(bytes, out, be, |b| f64::from_le_bytes(b) as f32),
        };
        if self.fortran_order && rows > 1 && cols > 1 {
            // Column c holds rows contiguously: gather the block's slice of each column.
            let mut column = vec![0f32; count];
            for c in 0..cols {
                let start = (c * rows + first) * size;
                convert(&data[start..start + count * size], &mut column);
                for (r, v) in column.iter().enumerate() {
                    out[r * cols + c] = *v;
                }
            }
        } else {
            let start = first * cols * size;
            convert(&data[start..start + out.len() * size], out);
        }
        self.check_numbers(first * cols, out)
    }

    /// Tells the kernel that rows `first..first + count` will not be read again soon, so their pages
    /// leave this process's resident set (they stay in the page cache). Only a hint: errors are ignored.
    pub fn release_rows(&self, first: usize, count: usize) {
        let size = self.dtype.size();
        let (start, len) = if self.fortran_order && self.rows > 1 && self.cols > 1 {
            (0, self.rows * self.cols * size) // a row block touches every column: all or nothing
        } else {
            (first * self.cols * size, count * self.cols * size)
        };
        // Whole pages inside the range only: a neighbouring block's page stays.
        // SAFETY: sysconf only reads a system constant.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
            .unwrap_or(4096)
            .max(1);
        let begin = (self.data_offset + start).div_ceil(page) * page;
        let end = (self.data_offset + start + len) / page * page;
        if end > begin {
            // SAFETY: MADV_DONTNEED on a read-only shared file mapping drops the pages from this process;
            // the next access reads them again from the file, so no data is lost or changed.
            let _ = unsafe {
                self.map
                    .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, begin, end - begin)
            };
        }
    }
}

/// Reads a float array of any rank (C order) as its shape and f32 values.
pub fn read_f32_array(path: impl AsRef<Path>) -> Result<(Vec<usize>, Vec<f32>), NpyError> {
    let mut r = NpyReader::open(path)?;
    if r.fortran_order && r.shape.len() > 1 {
        return Err(format_err(
            &r.path,
            "Fortran-order arrays of rank > 1 are not supported here",
        ));
    }
    let mut data = vec![0f32; r.shape.iter().product()];
    r.read_f32_into(&mut data)?;
    Ok((r.shape.clone(), data))
}

/// Reads a 1-D float array in float64 (NaN kept: reference files use it to mark "no value").
pub fn read_f64_vector(path: impl AsRef<Path>) -> Result<Vec<f64>, NpyError> {
    let mut r = NpyReader::open(path)?;
    let n = match r.shape[..] {
        [n] => n,
        _ => return Err(r.shape_error("a 1-D array")),
    };
    let mut bytes = vec![0u8; n * r.dtype.size()];
    r.reader.read_exact(&mut bytes).map_err(io_err(&r.path, "read"))?;
    let mut out = vec![0f64; n];
    match r.dtype {
        DType::F64 => decode(&bytes, &mut out, r.big_endian, f64::from_le_bytes),
        DType::F32 => decode(&bytes, &mut out, r.big_endian, |b| f32::from_le_bytes(b) as f64),
        DType::I32 | DType::I64 => {
            return Err(NpyError::Dtype {
                path: r.path.clone(),
                found: format!("{:?}", r.dtype).to_lowercase(),
                expected: "float32 or float64",
            })
        }
    }
    Ok(out)
}

/// Reads a 1-D integer array (i64 or i32), e.g. identity or camera labels.
pub fn read_labels(path: impl AsRef<Path>) -> Result<Vec<i64>, NpyError> {
    let mut r = NpyReader::open(path)?;
    let n = match r.shape[..] {
        [n] => n,
        _ => return Err(r.shape_error("a 1-D array of labels")),
    };
    r.read_i64_all(n)
}

/// Reads labels and checks their count against the matrix dimension they describe.
pub fn read_labels_for(path: impl AsRef<Path>, expected_len: usize, what: &str) -> Result<Vec<i64>, NpyError> {
    let labels = read_labels(&path)?;
    if labels.len() != expected_len {
        return Err(NpyError::Shape {
            path: path.as_ref().to_path_buf(),
            found: vec![labels.len()],
            expected: format!("[{expected_len}] ({what})"),
        });
    }
    Ok(labels)
}

fn header_bytes(descr: &str, shape: &[usize]) -> Vec<u8> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_header_alignment() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.npy");
        write_f32(&p, &[2, 3], &[1., 2., 3., 4., 5., 6.]).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!((bytes.len() - 24) % 64, 0, "data must start on a 64-byte boundary");
        let m = read_matrix(&p).unwrap();
        assert_eq!((m.rows(), m.cols()), (2, 3));
        assert_eq!(m.row(1), &[4., 5., 6.]);
        let l = dir.path().join("l.npy");
        write_i64(&l, &[7, -1, 3]).unwrap();
        assert_eq!(read_labels(&l).unwrap(), vec![7, -1, 3]);
    }

    #[test]
    fn a_matrix_written_in_blocks_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.npy");
        // 7 rows in blocks of 3: the last block is short.
        write_f32_blocks(&p, 7, 2, 3, |first, n| {
            (first..first + n).flat_map(|r| [r as f32, -(r as f32)]).collect()
        })
        .unwrap();
        let m = read_matrix(&p).unwrap();
        assert_eq!((m.rows(), m.cols()), (7, 2));
        assert_eq!(m.row(6), &[6.0, -6.0]);
        assert_eq!(m.row(3), &[3.0, -3.0]);
    }

    #[test]
    fn errors_name_file_and_expectation() {
        let dir = tempfile::tempdir().unwrap();
        let l = dir.path().join("labels.npy");
        write_i64(&l, &[1, 2]).unwrap();
        let e = read_matrix(&l).unwrap_err().to_string();
        assert!(e.contains("labels.npy") && e.contains("2-D"), "{e}");
        let m = dir.path().join("m.npy");
        write_f32(&m, &[1, 2], &[0.5, 1.5]).unwrap();
        let e = read_labels(&m).unwrap_err().to_string();
        assert!(e.contains("1-D"), "{e}");
        let v = dir.path().join("v.npy");
        write_f32(&v, &[2], &[0.5, 1.5]).unwrap();
        let e = read_labels(&v).unwrap_err().to_string();
        assert!(e.contains("int64"), "{e}");
        let e = read_labels_for(&l, 3, "query ids").unwrap_err().to_string();
        assert!(e.contains("[3]") && e.contains("query ids"), "{e}");
        let junk = dir.path().join("junk.npy");
        std::fs::write(&junk, b"hello world, not numpy").unwrap();
        assert!(read_matrix(&junk).unwrap_err().to_string().contains("magic"));
        let mut truncated = std::fs::read(&m).unwrap();
        truncated.truncate(truncated.len() - 2);
        std::fs::write(&m, &truncated).unwrap();
        assert!(read_matrix(&m).unwrap_err().to_string().contains("truncated"));
        let nan = dir.path().join("nan.npy");
        write_f32(&nan, &[1, 2], &[0.5, f32::NAN]).unwrap();
        assert!(read_matrix(&nan).unwrap_err().to_string().contains("NaN"));
    }

    #[test]
    fn headers_are_read_as_numpy_writes_them_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let with_header = |name: &str, dict: &str| {
            let path = dir.path().join(name);
            let mut h = dict.to_string();
            while !(10 + h.len() + 1).is_multiple_of(64) {
                h.push(' ');
            }
            h.push('\n');
            let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
            bytes.extend_from_slice(&(h.len() as u16).to_le_bytes());
            bytes.extend_from_slice(h.as_bytes());
            bytes.extend_from_slice(&[0u8; 8]);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        // numpy's own forms: keys in any order, double quotes, no trailing comma.
        for dict in [
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }",
            "{'shape': (1, 2), 'fortran_order': False, 'descr': '<f4'}",
            "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (1, 2)}",
        ] {
            let m = read_matrix(with_header("ok.npy", dict)).unwrap_or_else(|e| panic!("{dict}: {e}"));
            assert_eq!((m.rows(), m.cols()), (1, 2));
        }
        for (dict, why) in [
            (
                "'descr': '<f4', 'fortran_order': False, 'shape': (1, 2)",
                "is not a {...} dict",
            ),
            (
                "x{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2)}",
                "is not a {...} dict",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), 'extra': 1}",
                "unknown key 'extra'",
            ),
            (
                "{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (1, 2)}",
                "repeats 'descr'",
            ),
            ("{'descr': '<f4', 'fortran_order': False}", "no 'shape'"),
            (
                "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1, 2)}",
                "not True or False",
            ),
            (
                "{'descr': '<f4' 'fortran_order': False, 'shape': (1, 2)}",
                "text after the value of 'descr'",
            ),
            (
                "{descr: '<f4', 'fortran_order': False, 'shape': (1, 2)}",
                "unquoted key",
            ),
            (
                "{'descr': '<f4, 'fortran_order': False, 'shape': (1, 2)}",
                "text after the value of 'descr'",
            ),
            (
                "{'descr' '<f4', 'fortran_order': False, 'shape': (1, 2)}",
                "no ':' after 'descr'",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2}",
                "unterminated value for 'shape'",
            ),
            // A multi-byte character where the byte-order mark goes (found by the property tests).
            (
                "{'descr': 'é<f4', 'fortran_order': False, 'shape': (1, 2)}",
                "unrecognised dtype descr 'é<f4'",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1, x)}",
                "malformed shape",
            ),
        ] {
            let e = read_matrix(with_header("bad.npy", dict)).unwrap_err().to_string();
            assert!(e.contains("bad.npy") && e.contains(why), "{dict}: {e}");
        }
    }

    #[test]
    fn a_mapped_matrix_reads_every_layout_as_row_major_f32() {
        let dir = tempfile::tempdir().unwrap();
        let (rows, cols) = (7, 5);
        let value = |r: usize, c: usize| r as f64 * 10.0 + c as f64 + 0.25;
        for (descr, fortran, in_place) in [
            ("<f4", false, true),
            ("<f8", false, false),
            ("<f4", true, false),
            (">f4", false, false),
            (">f8", true, false),
        ] {
            let p = dir.path().join("m.npy");
            write_layout(&p, descr, fortran, rows, cols, value).unwrap();
            let file = MatrixFile::open(&p).unwrap();
            assert_eq!(file.in_place().is_some(), in_place, "{descr} fortran={fortran}");
            let data = file.load().unwrap();
            let m = data.view();
            assert_eq!((m.rows(), m.cols()), (rows, cols));
            for r in 0..rows {
                let want: Vec<f32> = (0..cols).map(|c| value(r, c) as f32).collect();
                assert_eq!(m.row(r), &want[..], "{descr} fortran={fortran} row {r}");
            }
            // A block that does not start at row 0 and ends before the last row.
            let mut block = vec![0f32; 3 * cols];
            file.read_rows(2, &mut block).unwrap();
            assert_eq!(
                &block[..],
                &m.as_slice()[2 * cols..5 * cols],
                "{descr} fortran={fortran}"
            );
            file.release_rows(2, 3);
            file.read_rows(2, &mut block).unwrap();
            assert_eq!(&block[..], &m.as_slice()[2 * cols..5 * cols], "after release");
            // The reader of whole files agrees.
            assert_eq!(read_matrix(&p).unwrap().as_slice(), m.as_slice());
        }
        // A one-column Fortran-order array is also row-major: read in place.
        let p = dir.path().join("col.npy");
        write_layout(&p, "<f4", true, 6, 1, value).unwrap();
        assert!(MatrixFile::open(&p).unwrap().in_place().is_some());
    }

    #[test]
    fn a_mapped_matrix_refuses_labels_and_names_a_nan() {
        let dir = tempfile::tempdir().unwrap();
        let l = dir.path().join("labels.npy");
        write_layout(&l, "<i8", false, 2, 2, |_, _| 0.0).unwrap();
        let e = MatrixFile::open(&l).err().unwrap().to_string();
        assert!(e.contains("labels.npy") && e.contains("float32 or float64"), "{e}");
        let p = dir.path().join("nan.npy");
        write_layout(
            &p,
            "<f8",
            false,
            3,
            2,
            |r, c| if (r, c) == (2, 1) { f64::NAN } else { 1.0 },
        )
        .unwrap();
        let file = MatrixFile::open(&p).unwrap();
        let e = file.load().err().unwrap().to_string();
        assert!(e.contains("nan.npy") && e.contains("flat index 5"), "{e}");
    }

    #[test]
    fn shapes_that_overflow_and_trailing_bytes_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        // A header whose shape product wraps to 0 in 64 bits (4 * 2^60 * 4 bytes), with no data.
        let huge = dir.path().join("huge.npy");
        std::fs::write(&huge, header_bytes("<f4", &[4, 1 << 60])).unwrap();
        let e = read_matrix(&huge).unwrap_err().to_string();
        assert!(e.contains("huge.npy") && e.contains("too large"), "{e}");
        let long = dir.path().join("long.npy");
        let mut bytes = header_bytes("<f4", &[1, 2]);
        bytes.extend_from_slice(&[0u8; 12]);
        std::fs::write(&long, bytes).unwrap();
        let e = read_matrix(&long).unwrap_err().to_string();
        assert!(e.contains("4 bytes after the data"), "{e}");
    }
}
