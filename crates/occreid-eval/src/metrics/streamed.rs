//! Market-protocol metrics straight from query and gallery features, without the Q × G distance matrix:
//! memory is O(block × Q + G) whatever the gallery size (Market + 500k distractors: 3368 × 515,913
//! distances would be 6.5 GiB).
//!
//! Each query first takes the distances to the gallery items of its identity (its matches, found by
//! label), then the gallery is streamed in row blocks and every kept non-match is placed among the
//! matches by one comparison (a binary search only when it ranks ahead of the last match). Distances
//! are computed by the same per-block code as [`crate::distance::pairwise`], and a row's distance does
//! not depend on which block it is computed in, so the result equals [`crate::evaluate`] on the full
//! matrix exactly.
use std::collections::HashMap;

use rayon::prelude::*;

use super::{validate_sizes, EvalError, Labels, QueryScratch, RankMetrics, SkipReason};
use crate::distance::{distances_into, DimensionMismatch, Metric, Prepared};
use crate::npy::{MatrixFile, NpyError};
use crate::MatrixView;

/// Rows of a feature matrix that can be read a block at a time.
pub trait RowSource: Sync {
    fn rows(&self) -> usize;
    fn cols(&self) -> usize;
    /// Rows `first..first + count`, row-major: borrowed in place when possible, else converted into `buf`.
    fn rows_at<'s>(&'s self, first: usize, count: usize, buf: &'s mut Vec<f32>) -> Result<&'s [f32], NpyError>;
    /// The rows will not be read again soon (a hint: a mapped file drops their pages from memory).
    fn release(&self, _first: usize, _count: usize) {}
}

impl RowSource for MatrixView<'_> {
    fn rows(&self) -> usize {
        MatrixView::rows(self)
    }
    fn cols(&self) -> usize {
        MatrixView::cols(self)
    }
    fn rows_at<'s>(&'s self, first: usize, count: usize, _buf: &'s mut Vec<f32>) -> Result<&'s [f32], NpyError> {
        let d = MatrixView::cols(self);
        Ok(&self.as_slice()[first * d..(first + count) * d])
    }
}

impl RowSource for MatrixFile {
    fn rows(&self) -> usize {
        MatrixFile::rows(self)
    }
    fn cols(&self) -> usize {
        MatrixFile::cols(self)
    }
    fn rows_at<'s>(&'s self, first: usize, count: usize, buf: &'s mut Vec<f32>) -> Result<&'s [f32], NpyError> {
        if let Some(rows) = self.rows_in_place(first, count) {
            return rows;
        }
        buf.resize(count * MatrixFile::cols(self), 0.0);
        self.read_rows(first, buf)?;
        Ok(buf)
    }
    fn release(&self, first: usize, count: usize) {
        self.release_rows(first, count);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FeatureEvalError {
    #[error(transparent)]
    Eval(#[from] EvalError),
    #[error(transparent)]
    Read(#[from] NpyError),
    #[error(transparent)]
    Dims(#[from] DimensionMismatch),
    #[error("the features have no columns (shape [N, 0]); there is nothing to compare")]
    NoFeatures,
}

/// Gallery rows per block by default: 4096 × 2048-d features are 32 MiB, their distances to Market's
/// 3368 queries 53 MiB.
pub const DEFAULT_BLOCK_ROWS: usize = 4096;

/// Market-1501-protocol metrics of `query` features against `gallery` features under `metric`, reading
/// the gallery `block_rows` rows at a time. Equal to `evaluate(&pairwise(query, gallery, metric), ..)`.
pub fn evaluate_features(
    query: MatrixView,
    gallery: &dyn RowSource,
    metric: Metric,
    query_labels: Labels,
    gallery_labels: Labels,
    max_rank: usize,
    block_rows: usize,
) -> Result<RankMetrics, FeatureEvalError> {
    let (nq, ng, d) = (query.rows(), gallery.rows(), query.cols());
    if gallery.cols() != d {
        return Err(DimensionMismatch {
            query: d,
            gallery: gallery.cols(),
        }
        .into());
    }
    validate_sizes(nq, ng, query_labels, gallery_labels, max_rank)?;
    if d == 0 {
        return Err(FeatureEvalError::NoFeatures);
    }
    let block_rows = block_rows.max(1);

    // The gallery items of each identity, in index order.
    let mut by_identity: HashMap<i64, Vec<usize>> = HashMap::new();
    for (j, &pid) in gallery_labels.pids.iter().enumerate() {
        by_identity.entry(pid).or_default().push(j);
    }
    let queries = Prepared::new(query.as_slice(), d, metric);

    // Each query's matches, with distances computed by the block code on the gathered rows.
    let started: Vec<(QueryScratch, Result<(), SkipReason>)> = (0..nq)
        .into_par_iter()
        .map(|q| -> Result<_, FeatureEvalError> {
            let same_id: &[usize] = by_identity.get(&query_labels.pids[q]).map_or(&[], Vec::as_slice);
            let mut rows = Vec::with_capacity(same_id.len() * d);
            let mut buf = Vec::new();
            for &j in same_id {
                rows.extend_from_slice(gallery.rows_at(j, 1, &mut buf)?);
            }
            let mut dist = vec![0f32; same_id.len()];
            let one = Prepared::new(query.row(q), d, metric);
            distances_into(&one, &Prepared::new(&rows, d, metric), metric, &mut dist);
            let mut scratch = QueryScratch::default();
            let status = scratch.start(same_id.iter().copied().zip(dist), q, query_labels, gallery_labels)?;
            Ok((scratch, status))
        })
        .collect::<Result<_, _>>()?;
    gallery.release(0, ng);
    let (mut states, status): (Vec<QueryScratch>, Vec<Result<(), SkipReason>>) = started.into_iter().unzip();

    let mut buf = Vec::new();
    let mut dist = Vec::new();
    for first in (0..ng).step_by(block_rows) {
        let count = block_rows.min(ng - first);
        let rows = gallery.rows_at(first, count, &mut buf)?;
        let block = Prepared::new(rows, d, metric);
        dist.resize(nq * count, 0.0);
        distances_into(&queries, &block, metric, &mut dist);
        let pids = &gallery_labels.pids[first..first + count];
        states
            .par_iter_mut()
            .zip(dist.par_chunks(count))
            .enumerate()
            .filter(|(q, _)| status[*q].is_ok())
            .try_for_each(|(q, (state, row))| state.count(row, first, q, query_labels.pids[q], pids))?;
        gallery.release(first, count);
    }

    let per_query = states
        .iter()
        .zip(status)
        .map(|(state, s)| s.map(|()| state.finish(ng)))
        .collect();
    Ok(RankMetrics::from_outcomes(per_query, max_rank.min(ng), None)?)
}
