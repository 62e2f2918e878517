//! Exact k-reciprocal re-ranking of features (BoT semantics: squared Euclidean distances of the features
//! as given) without the (Q+G)² table: memory O(block × N + N·k), so MSMT17's 93,820 items (a 35 GB
//! table) fit in a few GB.
//!
//! The dense path reads three things from its table: each item's nearest neighbours, its distances to
//! the few items of its expanded reciprocal set, and the query rows for the final blend. Here one
//! blocked pass over all pairs keeps, per item, the row maximum (the table's normalisation) and the
//! nearest items under the table's order; the expanded-set distances are recomputed for those pairs only; the query rows
//! are recomputed block by block when the output is written. Every distance comes from the same
//! per-block code as the dense table ([`crate::distance::distances_into`]), whose value for a pair does
//! not depend on the block, so the output equals the dense path's.
use rayon::prelude::*;

use super::kreciprocal::{self, GalleryIndex, SparseRow};
use super::{RerankError, RerankParams};
use crate::distance::{distances_into, Metric, Prepared};
use crate::{Matrix, MatrixView};

/// Rows per block of distances to `width` items: about 128 MiB of them, in whole multiples of the GEMM's
/// 64-row chunks per thread (a block of 3 chunks on 2 threads leaves one idle a third of the time).
fn rows_per_block(width: usize) -> usize {
    let granule = 64 * rayon::current_num_threads();
    let rows = (1usize << 25) / width.max(1);
    (rows / granule * granule).clamp(granule, 16 * granule)
}

/// Re-ranked query rows on demand, after the encoding of all items (see the module notes).
pub struct FeatureReranker<'a> {
    query: MatrixView<'a>,
    gallery: Prepared<'a>,
    /// Each item's row maximum of the distance table (the dense path's normalisation).
    maxima: Vec<f32>,
    v: Vec<SparseRow>,
    index: GalleryIndex,
    lambda: f64,
}

/// Rows of all items (queries then gallery) in a block, copied contiguous.
fn gather(query: MatrixView, gallery: MatrixView, items: impl Iterator<Item = usize>) -> Vec<f32> {
    let nq = query.rows();
    let mut out = Vec::new();
    for i in items {
        out.extend_from_slice(if i < nq { query.row(i) } else { gallery.row(i - nq) });
    }
    out
}

impl<'a> FeatureReranker<'a> {
    pub fn new(query: MatrixView<'a>, gallery: MatrixView<'a>, params: RerankParams) -> Result<Self, RerankError> {
        let n = query.rows() + gallery.rows();
        Self::with_block(query, gallery, params, rows_per_block(n))
    }

    /// Query rows per [`FeatureReranker::rows`] call that keep the output block near 128 MiB with every
    /// thread busy.
    pub fn output_block_rows(&self) -> usize {
        rows_per_block(self.num_gallery())
    }

    /// [`FeatureReranker::new`] with `block` items per pass over all pairs (the output does not depend on it).
    pub fn with_block(
        query: MatrixView<'a>,
        gallery: MatrixView<'a>,
        params: RerankParams,
        block: usize,
    ) -> Result<Self, RerankError> {
        params.validate()?;
        let (nq, ng, d) = (query.rows(), gallery.rows(), query.cols());
        if gallery.cols() != d {
            return Err(RerankError::FeatureDims {
                query: d,
                gallery: gallery.cols(),
            });
        }
        if nq == 0 || ng == 0 {
            return Err(RerankError::Empty);
        }
        if d == 0 {
            return Err(RerankError::NoFeatures);
        }
        let n = nq + ng;
        let metric = Metric::SqEuclidean;
        let prepared_query = Prepared::new(query.as_slice(), d, metric);
        let prepared_gallery = Prepared::new(gallery.as_slice(), d, metric);
        let k = kreciprocal::list_len(n, params);

        // One pass over all pairs, a block of items at a time: row maxima and nearest candidates.
        let block = block.max(1);
        let mut maxima = vec![0f32; n];
        let mut ranks = vec![0u32; n * k];
        let (mut to_query, mut to_gallery) = (Vec::new(), Vec::new());
        for first in (0..n).step_by(block) {
            let rows = block.min(n - first);
            let block_rows = gather(query, gallery, first..first + rows);
            let prepared = Prepared::new(&block_rows, d, metric);
            to_query.resize(rows * nq, 0.0);
            to_gallery.resize(rows * ng, 0.0);
            distances_into(&prepared, &prepared_query, metric, &mut to_query);
            distances_into(&prepared, &prepared_gallery, metric, &mut to_gallery);
            maxima[first..first + rows]
                .par_iter_mut()
                .zip(ranks[first * k..(first + rows) * k].par_chunks_mut(k))
                .enumerate()
                .try_for_each(|(r, (max_out, ranks_out))| {
                    let values = || {
                        to_query[r * nq..(r + 1) * nq]
                            .iter()
                            .chain(&to_gallery[r * ng..(r + 1) * ng])
                    };
                    // The row is in memory: its maximum first, then the nearest under the table's
                    // order (distance / maximum, then index), exactly as the dense path ranks its rows.
                    let mut max = f32::NEG_INFINITY;
                    for &v in values() {
                        if !v.is_finite() {
                            return Err(RerankError::NotFinite);
                        }
                        max = max.max(v);
                    }
                    if max == 0.0 {
                        return Err(RerankError::ZeroColumn(first + r));
                    }
                    let mut best: Vec<(f32, u32)> = Vec::with_capacity(k + 1);
                    for (j, &v) in values().enumerate() {
                        kreciprocal::offer(&mut best, k, v / max, j as u32);
                    }
                    for (o, &(_, j)) in ranks_out.iter_mut().zip(&best) {
                        *o = j;
                    }
                    *max_out = max;
                    Ok(())
                })?;
        }

        // Distances of an item to its expanded set's items, computed for those pairs only.
        let v = kreciprocal::encode(n, k, &ranks, params, |i, cols| {
            let own = gather(query, gallery, std::iter::once(i));
            let others = gather(query, gallery, cols.iter().map(|&c| c as usize));
            let mut out = vec![0f32; cols.len()];
            distances_into(
                &Prepared::new(&own, d, metric),
                &Prepared::new(&others, d, metric),
                metric,
                &mut out,
            );
            out.iter_mut().for_each(|v| *v /= maxima[i]);
            out
        });
        let index = GalleryIndex::new(&v, nq);
        Ok(Self {
            query,
            gallery: prepared_gallery,
            maxima,
            v,
            index,
            lambda: params.lambda,
        })
    }

    pub fn num_query(&self) -> usize {
        self.query.rows()
    }

    pub fn num_gallery(&self) -> usize {
        self.gallery.len()
    }

    /// Re-ranked distances of queries `first..first + count` to the whole gallery (count × G, row-major).
    pub fn rows(&self, first: usize, count: usize) -> Vec<f32> {
        let (d, ng) = (self.query.cols(), self.num_gallery());
        let rows = &self.query.as_slice()[first * d..(first + count) * d];
        let mut out = vec![0f32; count * ng];
        distances_into(
            &Prepared::new(rows, d, Metric::SqEuclidean),
            &self.gallery,
            Metric::SqEuclidean,
            &mut out,
        );
        out.par_chunks_mut(ng).enumerate().for_each_init(
            || vec![0f32; ng],
            |temp, (r, row)| {
                let i = first + r;
                row.iter_mut().for_each(|v| *v /= self.maxima[i]);
                self.index.blend(&self.v[i], self.lambda, temp, row);
            },
        );
        out
    }
}

/// Re-ranks query features against gallery features (BoT semantics) into a Q × G matrix in memory; for
/// outputs larger than memory take [`FeatureReranker::rows`] a block at a time.
pub fn rerank_features(query: MatrixView, gallery: MatrixView, params: RerankParams) -> Result<Matrix, RerankError> {
    let r = FeatureReranker::new(query, gallery, params)?;
    Ok(Matrix::new(r.num_query(), r.num_gallery(), r.rows(0, r.num_query())))
}
