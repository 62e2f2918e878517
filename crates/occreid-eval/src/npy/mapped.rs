//! A 2-D float `.npy` file read in place through a memory map.
use std::path::{Path, PathBuf};

use super::{decode, io_err, DType, NpyError, NpyReader};
use crate::{Matrix, MatrixView};

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
