//! Header parsing and whole-array reads.
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use super::{decode, format_err, io_err, DType, NpyError, MAGIC};
use crate::Matrix;

/// Parsed header of an open `.npy` file; the reader is positioned at the first data byte.
#[derive(Debug)]
pub struct NpyReader {
    path: PathBuf,
    pub dtype: DType,
    pub(super) big_endian: bool,
    pub shape: Vec<usize>,
    pub fortran_order: bool,
    /// Byte offset of the first data element in the file.
    pub(super) data_offset: usize,
    pub(super) reader: BufReader<File>,
}

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
        let bytes = self.read_bytes(out.len())?;
        let be = self.big_endian;
        match self.dtype {
            DType::F32 => decode(&bytes, out, be, |b| f32::from_bits(u32::from_le_bytes(b))),
            DType::F64 => decode(&bytes, out, be, |b| f64::from_le_bytes(b) as f32),
            DType::I32 | DType::I64 => return Err(self.dtype_error("float32 or float64")),
        }
        if let Some(i) = out.iter().position(|v| v.is_nan()) {
            return Err(NpyError::NotANumber {
                path: self.path.clone(),
                index: i,
            });
        }
        Ok(())
    }

    /// The next `elements` elements' raw bytes, in file order.
    fn read_bytes(&mut self, elements: usize) -> Result<Vec<u8>, NpyError> {
        let mut bytes = vec![0u8; elements * self.dtype.size()];
        self.reader.read_exact(&mut bytes).map_err(io_err(&self.path, "read"))?;
        Ok(bytes)
    }

    fn dtype_error(&self, expected: &'static str) -> NpyError {
        NpyError::Dtype {
            path: self.path.clone(),
            found: format!("{:?}", self.dtype).to_lowercase(),
            expected,
        }
    }

    /// The length of a 1-D array, or a shape error naming what was expected.
    fn vector_len(&self, what: &str) -> Result<usize, NpyError> {
        match self.shape[..] {
            [n] => Ok(n),
            _ => Err(self.shape_error(what)),
        }
    }

    /// Rows and columns of a 2-D array, or a shape error.
    pub fn matrix_dims(&self) -> Result<(usize, usize), NpyError> {
        match self.shape[..] {
            [r, c] => Ok((r, c)),
            _ => Err(self.shape_error("a 2-D array")),
        }
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
    let n = r.vector_len("a 1-D array")?;
    let bytes = r.read_bytes(n)?;
    let mut out = vec![0f64; n];
    match r.dtype {
        DType::F64 => decode(&bytes, &mut out, r.big_endian, f64::from_le_bytes),
        DType::F32 => decode(&bytes, &mut out, r.big_endian, |b| f32::from_le_bytes(b) as f64),
        DType::I32 | DType::I64 => return Err(r.dtype_error("float32 or float64")),
    }
    Ok(out)
}

/// Reads a 1-D integer array (i64 or i32), e.g. identity or camera labels.
pub fn read_labels(path: impl AsRef<Path>) -> Result<Vec<i64>, NpyError> {
    let mut r = NpyReader::open(path)?;
    let n = r.vector_len("a 1-D array of labels")?;
    let bytes = r.read_bytes(n)?;
    let mut out = vec![0i64; n];
    match r.dtype {
        DType::I64 => decode(&bytes, &mut out, r.big_endian, i64::from_le_bytes),
        DType::I32 => decode(&bytes, &mut out, r.big_endian, |b| i32::from_le_bytes(b) as i64),
        DType::F32 | DType::F64 => return Err(r.dtype_error("int64 or int32 (identity / camera labels)")),
    }
    Ok(out)
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
