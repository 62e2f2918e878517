//! Query × gallery distance matrices on a blocked, multithreaded GEMM (matrixmultiply's sgemm per
//! block of query rows, blocks in parallel with rayon).
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::Matrix;

/// Distance between feature vectors. Names follow torchreid's `compute_distance_matrix`, except that
/// torchreid's `"euclidean"` is what is called [`Metric::SqEuclidean`] here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// `1 - cos(q, g)`, features L2-normalised with torch's `F.normalize` epsilon (1e-12).
    Cosine,
    /// `sqrt(max(0, |q|^2 + |g|^2 - 2 q.g))`.
    Euclidean,
    /// `|q|^2 + |g|^2 - 2 q.g` (no clamp), torchreid's `"euclidean"`.
    SqEuclidean,
}

impl std::str::FromStr for Metric {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cosine" => Ok(Self::Cosine),
            "euclidean" => Ok(Self::Euclidean),
            "sqeuclidean" => Ok(Self::SqEuclidean),
            _ => Err(format!(
                "unknown distance '{s}': expected cosine, euclidean or sqeuclidean"
            )),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("feature dimensions differ: query features have {query} columns, gallery features {gallery}")]
pub struct DimensionMismatch {
    pub query: usize,
    pub gallery: usize,
}

const ROW_BLOCK: usize = 64;

/// `out[i][j] = alpha * a_i . b_j` for every row of `a` (rows × d) and `b` (cols × d).
pub(crate) fn dot_products(a: &[f32], b: &[f32], d: usize, out: &mut [f32], alpha: f32) {
    let Some(cols) = b.len().checked_div(d) else {
        out.fill(0.0);
        return;
    };
    if out.is_empty() {
        return;
    }
    out.par_chunks_mut(ROW_BLOCK * cols)
        .zip(a.par_chunks(ROW_BLOCK * d))
        .for_each(|(out_block, a_block)| {
            let rows = a_block.len() / d;
            // SAFETY: the pointers cover rows×d (a), cols×d (b, read transposed through its strides)
            // and rows×cols (out) elements, all in bounds by construction of the chunks above.
            unsafe {
                matrixmultiply::sgemm(
                    rows,
                    d,
                    cols,
                    alpha,
                    a_block.as_ptr(),
                    d as isize,
                    1,
                    b.as_ptr(),
                    1,
                    d as isize,
                    0.0,
                    out_block.as_mut_ptr(),
                    cols as isize,
                    1,
                );
            }
        });
}

pub(crate) fn squared_norms(m: &Matrix) -> Vec<f32> {
    row_squared_norms(m.as_slice(), m.cols())
}

fn row_squared_norms(rows: &[f32], d: usize) -> Vec<f32> {
    if d == 0 {
        return vec![0.0; 0];
    }
    rows.chunks_exact(d).map(|r| r.iter().map(|v| v * v).sum()).collect()
}

/// Rows made ready for one metric: L2-normalised (cosine) or with their squared norms (Euclidean).
/// Each row is prepared on its own, so a row gives the same bits whichever block it is prepared in —
/// what lets the streamed evaluation reproduce the in-memory distances exactly.
pub struct Prepared<'a> {
    rows: std::borrow::Cow<'a, [f32]>,
    squared_norms: Vec<f32>,
    num_rows: usize,
    cols: usize,
}

impl<'a> Prepared<'a> {
    /// `rows` is row-major with `cols` columns.
    /// `rows` is row-major with `cols` columns; with no columns it holds no rows (all distances from
    /// zero-width features are then those of empty vectors).
    pub fn new(rows: &'a [f32], cols: usize, metric: Metric) -> Self {
        Self::with_rows(rows, rows.len().checked_div(cols).unwrap_or(0), cols, metric)
    }

    /// `num_rows` rows of `cols` columns (`rows.len() == num_rows * cols`), which names the row count
    /// even when `cols` is 0.
    pub fn with_rows(rows: &'a [f32], num_rows: usize, cols: usize, metric: Metric) -> Self {
        assert_eq!(
            rows.len(),
            num_rows * cols,
            "Prepared: rows must hold num_rows x cols values"
        );
        match metric {
            Metric::Cosine => {
                let mut owned = rows.to_vec();
                if cols > 0 {
                    owned.par_chunks_mut(cols).for_each(|row| {
                        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                        row.iter_mut().for_each(|v| *v /= norm);
                    });
                }
                Self {
                    rows: owned.into(),
                    squared_norms: Vec::new(),
                    num_rows,
                    cols,
                }
            }
            Metric::Euclidean | Metric::SqEuclidean => Self {
                squared_norms: if cols == 0 {
                    vec![0.0; num_rows]
                } else {
                    row_squared_norms(rows, cols)
                },
                rows: rows.into(),
                num_rows,
                cols,
            },
        }
    }

    pub fn len(&self) -> usize {
        self.num_rows
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `out[i][j]` = the distance from prepared query row i to prepared gallery row j (`out` is
/// `query.len() x gallery.len()`, row-major). Both sides must have been prepared for `metric`.
pub fn distances_into(query: &Prepared, gallery: &Prepared, metric: Metric, out: &mut [f32]) {
    let (ng, d) = (gallery.len(), query.cols);
    assert_eq!(
        out.len(),
        query.len() * ng,
        "distances_into: out must be query x gallery"
    );
    match metric {
        Metric::Cosine => {
            dot_products(&query.rows, &gallery.rows, d, out, 1.0);
            out.par_iter_mut().for_each(|v| *v = 1.0 - *v);
        }
        Metric::Euclidean | Metric::SqEuclidean => {
            dot_products(&query.rows, &gallery.rows, d, out, -2.0);
            let sqrt = metric == Metric::Euclidean;
            if ng > 0 {
                out.par_chunks_mut(ng)
                    .zip(query.squared_norms.par_iter())
                    .for_each(|(row, &qs)| {
                        for (v, &gs) in row.iter_mut().zip(&gallery.squared_norms) {
                            let sq = qs + gs + *v;
                            *v = if sqrt { sq.max(0.0).sqrt() } else { sq };
                        }
                    });
            }
        }
    }
}

/// Distance from every query row to every gallery row.
pub fn pairwise(query: &Matrix, gallery: &Matrix, metric: Metric) -> Result<Matrix, DimensionMismatch> {
    if query.cols() != gallery.cols() {
        return Err(DimensionMismatch {
            query: query.cols(),
            gallery: gallery.cols(),
        });
    }
    let mut out = Matrix::zeros(query.rows(), gallery.rows());
    let (q, g) = (
        Prepared::with_rows(query.as_slice(), query.rows(), query.cols(), metric),
        Prepared::with_rows(gallery.as_slice(), gallery.rows(), gallery.cols(), metric),
    );
    distances_into(&q, &g, metric, out.as_mut_slice());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(q: &Matrix, g: &Matrix, metric: Metric) -> Vec<f64> {
        let mut out = Vec::new();
        for i in 0..q.rows() {
            for j in 0..g.rows() {
                let (a, b) = (q.row(i), g.row(j));
                let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
                let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum();
                let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum();
                out.push(match metric {
                    Metric::Cosine => 1.0 - dot / (na.sqrt() * nb.sqrt()),
                    Metric::SqEuclidean => na + nb - 2.0 * dot,
                    Metric::Euclidean => (na + nb - 2.0 * dot).max(0.0).sqrt(),
                });
            }
        }
        out
    }

    #[test]
    fn blocked_gemm_matches_definition_across_block_edges() {
        // 130 rows crosses two ROW_BLOCK boundaries; values from a fixed LCG.
        let mut s = 7u64;
        let mut next = || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        };
        let q = Matrix::new(130, 9, (0..130 * 9).map(|_| next()).collect());
        let g = Matrix::new(77, 9, (0..77 * 9).map(|_| next()).collect());
        for metric in [Metric::Cosine, Metric::Euclidean, Metric::SqEuclidean] {
            let got = pairwise(&q, &g, metric).unwrap();
            for (a, b) in got.as_slice().iter().zip(naive(&q, &g, metric)) {
                assert!((*a as f64 - b).abs() < 1e-5, "{metric:?}: {a} vs {b}");
            }
        }
        assert!(pairwise(&q, &Matrix::zeros(3, 4), Metric::Cosine).is_err());
    }
}
