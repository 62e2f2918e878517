//! k-reciprocal re-ranking (Zhong et al., CVPR 2017) with the exact semantics of torchreid's
//! `re_ranking(q_g, q_q, g_g, k1, k2, lambda_value)`, in bounded memory.
//!
//! Memory: the one N×N f32 table the algorithm needs (N = Q + G), sparse V (CSR) and its inverted
//! index (CSC), and per-thread O(N) scratch. The table's gallery rows are released as soon as V is
//! built and the output overwrites the query rows in place, so the peak is ≈ 4·N² bytes plus V.
//!
//! Two ways to build the table:
//! * [`RerankTable::from_distances`] / [`TableBuilder`] — torchreid: the three given (squared Euclidean)
//!   matrices are squared again element-wise, as its code does.
//! * [`RerankTable::from_features`] — reid-strong-baseline (BoT): squared Euclidean distances of the
//!   features as given (not squared again). BoT keeps V in float16; this is the float32 algorithm.
use rayon::prelude::*;

use crate::distance::{dot_products, squared_norms};
use crate::Matrix;

mod features;
mod kreciprocal;
pub use features::{rerank_features, FeatureReranker};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RerankParams {
    pub k1: usize,
    pub k2: usize,
    pub lambda: f64,
}

impl RerankParams {
    /// k1, k2 ≥ 1 and λ in [0, 1]: checkable before any input is read.
    pub fn validate(&self) -> Result<(), RerankError> {
        let RerankParams { k1, k2, lambda } = *self;
        if k1 == 0 || k2 == 0 {
            return Err(RerankError::BadK { k1, k2 });
        }
        if !(0.0..=1.0).contains(&lambda) {
            return Err(RerankError::BadLambda(lambda));
        }
        Ok(())
    }
}

impl Default for RerankParams {
    fn default() -> Self {
        Self {
            k1: 20,
            k2: 6,
            lambda: 0.3,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RerankError {
    #[error("{name} is {found_rows}x{found_cols}; expected {rows}x{cols} ({why})")]
    Shape {
        name: &'static str,
        found_rows: usize,
        found_cols: usize,
        rows: usize,
        cols: usize,
        why: &'static str,
    },
    #[error("k1 and k2 must be at least 1 (got k1={k1}, k2={k2})")]
    BadK { k1: usize, k2: usize },
    #[error("lambda must lie in [0, 1] (got {0})")]
    BadLambda(f64),
    #[error("item {0} has distance 0 to every item (all-zero distance column); re-ranking would divide by zero")]
    ZeroColumn(usize),
    #[error("distance input contains NaN or infinity (from non-finite features, or features so large their distances overflow float32)")]
    NotFinite,
    #[error("query and gallery features differ in dimension ({query} vs {gallery})")]
    FeatureDims { query: usize, gallery: usize },
    #[error("need at least one query and one gallery item")]
    Empty,
    #[error("the features have no columns (shape [N, 0]); re-ranking needs at least one feature value")]
    NoFeatures,
}

/// The N×N distance table in the orientation the algorithm reads: row i holds the original column i
/// (torchreid transposes after the column normalisation), rows scaled by their maximum.
pub struct RerankTable {
    n: usize,
    num_query: usize,
    data: Vec<f32>,
}

/// Fills a [`RerankTable`] from the three torchreid blocks, any number of rows at a time (so the CLI
/// can stream a 1 GB `g_g.npy` in chunks). Every entry is squared, as torchreid does.
pub struct TableBuilder {
    table: RerankTable,
}

impl TableBuilder {
    pub fn new(num_query: usize, num_gallery: usize) -> Result<Self, RerankError> {
        if num_query == 0 || num_gallery == 0 {
            return Err(RerankError::Empty);
        }
        let n = num_query + num_gallery;
        Ok(Self {
            table: RerankTable {
                n,
                num_query,
                data: vec![0.0; n * n],
            },
        })
    }

    /// Rows `first..first + chunk.len()/Q` of `q_q` (Q×Q). Original (r, c) goes to table (c, r).
    pub fn put_q_q_rows(&mut self, first: usize, chunk: &[f32]) {
        let q = self.table.num_query;
        self.scatter_transposed(first, chunk, q, 0, 0);
    }

    /// Rows of `q_g` (Q×G). Original (r, Q+c) goes to table (Q+c, r) and original (Q+c, r) = q_g(r, c)
    /// to table (r, Q+c).
    pub fn put_q_g_rows(&mut self, first: usize, chunk: &[f32]) {
        let (n, q) = (self.table.n, self.table.num_query);
        let g = n - q;
        for (k, row) in chunk.chunks_exact(g).enumerate() {
            let dst = &mut self.table.data[(first + k) * n + q..(first + k + 1) * n];
            for (d, v) in dst.iter_mut().zip(row) {
                *d = v * v;
            }
        }
        self.scatter_transposed(first, chunk, g, 0, q);
    }

    /// Rows of `g_g` (G×G). Original (Q+r, Q+c) goes to table (Q+c, Q+r).
    pub fn put_g_g_rows(&mut self, first: usize, chunk: &[f32]) {
        let (n, q) = (self.table.n, self.table.num_query);
        self.scatter_transposed(first, chunk, n - q, q, q);
    }

    /// Writes chunk (rows of width `width`, starting at source row `first`) transposed: source (r, c)
    /// lands at table (row_offset + c, col_offset + first + r). Rows of the destination are filled in
    /// runs of the chunk height, which keeps the writes cache-friendly.
    fn scatter_transposed(&mut self, first: usize, chunk: &[f32], width: usize, col_offset: usize, row_offset: usize) {
        let n = self.table.n;
        let height = chunk.len() / width;
        let data = &mut self.table.data;
        let rows = &mut data[row_offset * n..(row_offset + width) * n];
        rows.par_chunks_mut(n).enumerate().for_each(|(c, dst_row)| {
            let dst = &mut dst_row[col_offset + first..col_offset + first + height];
            for (r, d) in dst.iter_mut().enumerate() {
                let v = chunk[r * width + c];
                *d = v * v;
            }
        });
    }

    pub fn finish(self) -> Result<RerankTable, RerankError> {
        let mut table = self.table;
        table.normalise_rows()?;
        Ok(table)
    }
}

fn check_shape(name: &'static str, m: &Matrix, rows: usize, cols: usize, why: &'static str) -> Result<(), RerankError> {
    if m.rows() != rows || m.cols() != cols {
        return Err(RerankError::Shape {
            name,
            found_rows: m.rows(),
            found_cols: m.cols(),
            rows,
            cols,
            why,
        });
    }
    Ok(())
}

impl RerankTable {
    /// torchreid mode: `q_g` (Q×G), `q_q` (Q×Q), `g_g` (G×G), squared Euclidean as torchreid computes them.
    pub fn from_distances(q_g: &Matrix, q_q: &Matrix, g_g: &Matrix) -> Result<Self, RerankError> {
        let (q, g) = (q_g.rows(), q_g.cols());
        check_shape("q_q", q_q, q, q, "query x query, Q taken from q_g")?;
        check_shape("g_g", g_g, g, g, "gallery x gallery, G taken from q_g")?;
        let mut b = TableBuilder::new(q, g)?;
        b.put_q_q_rows(0, q_q.as_slice());
        b.put_q_g_rows(0, q_g.as_slice());
        b.put_g_g_rows(0, g_g.as_slice());
        b.finish()
    }

    /// BoT mode: squared Euclidean distances between the concatenated features (not squared again).
    pub fn from_features(query: &Matrix, gallery: &Matrix) -> Result<Self, RerankError> {
        if query.cols() != gallery.cols() {
            return Err(RerankError::FeatureDims {
                query: query.cols(),
                gallery: gallery.cols(),
            });
        }
        if query.rows() == 0 || gallery.rows() == 0 {
            return Err(RerankError::Empty);
        }
        let d = query.cols();
        let all: Vec<f32> = query.as_slice().iter().chain(gallery.as_slice()).copied().collect();
        let n = query.rows() + gallery.rows();
        let all = Matrix::new(n, d, all);
        let mut data = vec![0.0f32; n * n];
        dot_products(all.as_slice(), all.as_slice(), d, &mut data, -2.0);
        let sq = squared_norms(&all);
        data.par_chunks_mut(n).zip(sq.par_iter()).for_each(|(row, &si)| {
            for (v, &sj) in row.iter_mut().zip(&sq) {
                *v += si + sj;
            }
        });
        let mut table = Self {
            n,
            num_query: query.rows(),
            data,
        };
        table.normalise_rows()?;
        Ok(table)
    }

    /// Divides row i by its maximum (= the original column i's maximum).
    fn normalise_rows(&mut self) -> Result<(), RerankError> {
        let n = self.n;
        self.data.par_chunks_mut(n).enumerate().try_for_each(|(i, row)| {
            let mut max = f32::NEG_INFINITY;
            for &v in row.iter() {
                if !v.is_finite() {
                    return Err(RerankError::NotFinite);
                }
                max = max.max(v);
            }
            if max == 0.0 {
                return Err(RerankError::ZeroColumn(i));
            }
            row.iter_mut().for_each(|v| *v /= max);
            Ok(())
        })
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.n..(i + 1) * self.n]
    }

    pub fn num_query(&self) -> usize {
        self.num_query
    }

    pub fn num_gallery(&self) -> usize {
        self.n - self.num_query
    }
}

/// Failure to build a table from `.npy` files.
#[derive(Debug, thiserror::Error)]
pub enum TableLoadError {
    #[error(transparent)]
    Npy(#[from] crate::npy::NpyError),
    #[error("{path}: {source}")]
    Table {
        path: std::path::PathBuf,
        source: RerankError,
    },
}

impl RerankTable {
    /// torchreid mode from three `.npy` files, streamed in row chunks so that only the table itself is
    /// held in memory (a Market-scale `g_g.npy` alone is 1 GB).
    pub fn from_npy_files(
        q_g: impl AsRef<std::path::Path>,
        q_q: impl AsRef<std::path::Path>,
        g_g: impl AsRef<std::path::Path>,
    ) -> Result<Self, TableLoadError> {
        use crate::npy::NpyReader;
        let mut r_qg = NpyReader::open(q_g)?;
        let (q, g) = r_qg.matrix_dims()?;
        let mut r_qq = NpyReader::open(q_q)?;
        let mut r_gg = NpyReader::open(g_g)?;
        for (reader, name, rows, cols, why) in [
            (&r_qq, "q_q", q, q, "query x query, Q taken from q_g"),
            (&r_gg, "g_g", g, g, "gallery x gallery, G taken from q_g"),
        ] {
            let (r, c) = reader.matrix_dims()?;
            if (r, c) != (rows, cols) || reader.fortran_order {
                return Err(TableLoadError::Table {
                    path: reader.path().to_path_buf(),
                    source: RerankError::Shape {
                        name,
                        found_rows: r,
                        found_cols: c,
                        rows,
                        cols,
                        why,
                    },
                });
            }
        }
        let table_err = |path: &std::path::Path, source| TableLoadError::Table {
            path: path.to_path_buf(),
            source,
        };
        let mut builder = TableBuilder::new(q, g).map_err(|e| table_err(r_qg.path(), e))?;
        const CHUNK_ROWS: usize = 64;
        let mut buf = Vec::new();
        for (reader, rows, cols, which) in [(&mut r_qq, q, q, 0), (&mut r_qg, q, g, 1), (&mut r_gg, g, g, 2)] {
            if reader.fortran_order {
                return Err(TableLoadError::Npy(crate::npy::NpyError::Format {
                    path: reader.path().to_path_buf(),
                    reason: "Fortran-order arrays are not streamed; save with np.ascontiguousarray".into(),
                }));
            }
            let mut first = 0;
            while first < rows {
                let n = CHUNK_ROWS.min(rows - first);
                buf.resize(n * cols, 0.0);
                reader.read_f32_into(&mut buf)?;
                match which {
                    0 => builder.put_q_q_rows(first, &buf),
                    1 => builder.put_q_g_rows(first, &buf),
                    _ => builder.put_g_g_rows(first, &buf),
                }
                first += n;
            }
        }
        builder.finish().map_err(|e| table_err(r_qg.path(), e))
    }
}

/// The `k` nearest items of every row under the order (distance, index), nearest first.
fn nearest(table: &RerankTable, k: usize) -> Vec<u32> {
    let mut out = vec![0u32; table.n * k];
    out.par_chunks_mut(k).enumerate().for_each(|(i, dst)| {
        let mut best: Vec<(f32, u32)> = Vec::with_capacity(k + 1);
        for (j, &d) in table.row(i).iter().enumerate() {
            kreciprocal::offer(&mut best, k, d, j as u32);
        }
        for (o, (_, j)) in dst.iter_mut().zip(best) {
            *o = j;
        }
    });
    out
}

/// Re-ranks and returns the Q×G distance. The table is consumed: its memory becomes the output.
pub fn rerank(table: RerankTable, params: RerankParams) -> Result<Matrix, RerankError> {
    params.validate()?;
    let (n, nq) = (table.n, table.num_query);
    let ng = n - nq;
    let k = kreciprocal::list_len(n, params);
    let ranks = nearest(&table, k);
    let v = kreciprocal::encode(n, k, &ranks, params, |i, cols| {
        let row = table.row(i);
        cols.iter().map(|&e| row[e as usize]).collect()
    });

    // Only the query rows of the table are needed from here on (for the final blend).
    let mut data = table.data;
    data.truncate(nq * n);
    data.shrink_to_fit();

    let index = kreciprocal::GalleryIndex::new(&v, nq);
    data.par_chunks_mut(n).enumerate().for_each_init(
        || vec![0.0f32; ng],
        |temp, (i, row)| index.blend(&v[i], params.lambda, temp, &mut row[nq..]),
    );
    for i in 0..nq {
        data.copy_within(i * n + nq..(i + 1) * n, i * ng);
    }
    data.truncate(nq * ng);
    data.shrink_to_fit();
    Ok(Matrix::new(nq, ng, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_infinite_distance_is_an_error_not_a_nan_result() {
        let m = |rows, cols, v: Vec<f32>| Matrix::new(rows, cols, v);
        let q_g = m(1, 2, vec![1.0, f32::INFINITY]);
        let err = RerankTable::from_distances(&q_g, &m(1, 1, vec![0.0]), &m(2, 2, vec![0.0, 1.0, 1.0, 0.0]));
        assert!(matches!(err, Err(RerankError::NotFinite)), "{:?}", err.err());
    }
}
