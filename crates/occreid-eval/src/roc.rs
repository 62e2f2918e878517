//! Verification ROC with fast-reid's definition (`fastreid/evaluation/roc.py` + `ReidEvaluator`).
//!
//! Pairs: every (query, kept gallery item), after the same-id same-camera removal of the rank metrics;
//! all queries take part (none is skipped). fast-reid labels same-identity pairs 0 and
//! different-identity pairs 1 and passes the *distance* as the score to scikit-learn's `roc_curve`, so
//! in its terms
//! * **FPR**(t) = fraction of same-identity pairs with distance ≥ t, and
//! * **TPR**(t) = fraction of different-identity pairs with distance ≥ t.
//!
//! `TPR@FPR=x` is the TPR of the curve point whose FPR is nearest to x (first such point), on the
//! curve after scikit-learn's `drop_intermediate=True` thinning — both reproduced here because they
//! decide which point is picked.
use rayon::prelude::*;
use serde::Serialize;

use crate::{Labels, MatrixView};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RocError {
    #[error("no {0} pairs after removing same-id same-camera gallery items; the ROC is undefined")]
    NoPairs(&'static str),
    #[error("label counts do not match the distance matrix ({0})")]
    Labels(String),
    #[error("distance[{query}, {gallery}] is NaN; every distance must be a number")]
    NotANumber { query: usize, gallery: usize },
}

/// The thinned ROC: `fpr[0] = tpr[0] = 0` at threshold +inf, then one point per kept distinct distance
/// in decreasing order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Roc {
    pub fpr: Vec<f64>,
    pub tpr: Vec<f64>,
    pub thresholds: Vec<f64>,
}

/// One row of the TPR-at-FPR table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OperatingPoint {
    pub target_fpr: f64,
    pub fpr: f64,
    pub tpr: f64,
    /// The distance threshold of the chosen point (pairs at or above it are declared different).
    pub threshold: f64,
}

/// Distances of the same-identity and different-identity pairs, each sorted in decreasing order.
pub fn pair_distances<'a>(
    distmat: impl Into<MatrixView<'a>>,
    query: Labels,
    gallery: Labels,
) -> Result<(Vec<f32>, Vec<f32>), RocError> {
    let distmat = distmat.into();
    if query.pids.len() != distmat.rows() || gallery.pids.len() != distmat.cols() {
        return Err(RocError::Labels(format!(
            "{} query / {} gallery labels for a {}x{} matrix",
            query.pids.len(),
            gallery.pids.len(),
            distmat.rows(),
            distmat.cols()
        )));
    }
    let per_query: Vec<(Vec<f32>, Vec<f32>)> = (0..distmat.rows())
        .into_par_iter()
        .map(|q| {
            let (qpid, qcam) = (query.pids[q], query.camids[q]);
            let (mut same, mut diff) = (Vec::new(), Vec::with_capacity(distmat.cols()));
            for (j, &d) in distmat.row(q).iter().enumerate() {
                // Every pair is read here (the rank metrics skip the rows of queries without a match).
                if d.is_nan() {
                    return Err(RocError::NotANumber { query: q, gallery: j });
                }
                if gallery.pids[j] != qpid {
                    diff.push(d);
                } else if gallery.camids[j] != qcam {
                    same.push(d);
                }
            }
            Ok((same, diff))
        })
        .collect::<Result<_, _>>()?;
    let mut same: Vec<f32> = per_query.iter().flat_map(|p| p.0.iter().copied()).collect();
    let mut diff: Vec<f32> = Vec::with_capacity(per_query.iter().map(|p| p.1.len()).sum());
    for (_, d) in per_query {
        diff.extend_from_slice(&d);
    }
    if same.is_empty() {
        return Err(RocError::NoPairs("same-identity"));
    }
    if diff.is_empty() {
        return Err(RocError::NoPairs("different-identity"));
    }
    same.par_sort_unstable_by(|a, b| b.total_cmp(a));
    diff.par_sort_unstable_by(|a, b| b.total_cmp(a));
    Ok((same, diff))
}

/// scikit-learn `roc_curve(labels, scores, drop_intermediate=True)` with labels 0 = `same`,
/// 1 = `diff`; both inputs sorted in decreasing order.
pub fn roc_curve(same: &[f32], diff: &[f32]) -> Roc {
    let mut roc = Roc {
        fpr: vec![0.0],
        tpr: vec![0.0],
        thresholds: vec![f64::INFINITY],
    };
    // Raw points (fps, tps, threshold) at each distinct score, thinned on the fly: a point is dropped
    // when both second differences through it are zero (it lies inside a straight run).
    let mut raw: Vec<(usize, usize, f32)> = Vec::with_capacity(3);
    let mut kept: Vec<(usize, usize, f32)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    let mut first = true;
    while i < same.len() || j < diff.len() {
        let v = match (same.get(i), diff.get(j)) {
            (Some(&a), Some(&b)) => a.max(b),
            (Some(&a), None) => a,
            (None, Some(&b)) => b,
            (None, None) => unreachable!(),
        };
        while i < same.len() && same[i] == v {
            i += 1;
        }
        while j < diff.len() && diff[j] == v {
            j += 1;
        }
        raw.push((i, j, v));
        if raw.len() == 3 {
            let (a, b, c) = (raw[0], raw[1], raw[2]);
            let second = |x: usize, y: usize, z: usize| z as i64 - 2 * y as i64 + x as i64;
            if first {
                kept.push(a);
                first = false;
            }
            if second(a.0, b.0, c.0) != 0 || second(a.1, b.1, c.1) != 0 {
                kept.push(b);
            }
            raw.remove(0);
        }
    }
    if first {
        kept.extend(raw.iter().copied());
    } else {
        kept.push(*raw.last().expect("at least one point"));
    }
    let (nf, nt) = (same.len() as f64, diff.len() as f64);
    for (fps, tps, t) in kept {
        roc.fpr.push(fps as f64 / nf);
        roc.tpr.push(tps as f64 / nt);
        roc.thresholds.push(t as f64);
    }
    roc
}

impl Roc {
    /// fast-reid's `argmin(|fpr - target|)` (first index on ties).
    pub fn at_fpr(&self, target: f64) -> OperatingPoint {
        let mut best = 0;
        for (k, f) in self.fpr.iter().enumerate() {
            if (f - target).abs() < (self.fpr[best] - target).abs() {
                best = k;
            }
        }
        OperatingPoint {
            target_fpr: target,
            fpr: self.fpr[best],
            tpr: self.tpr[best],
            threshold: self.thresholds[best],
        }
    }
}

/// fast-reid's TPR@FPR table for FPR = 1e-4, 1e-3, 1e-2.
pub fn tpr_at_standard_fprs<'a>(
    distmat: impl Into<MatrixView<'a>>,
    query: Labels,
    gallery: Labels,
) -> Result<Vec<OperatingPoint>, RocError> {
    let (same, diff) = pair_distances(distmat, query, gallery)?;
    let roc = roc_curve(&same, &diff);
    Ok([1e-4, 1e-3, 1e-2].iter().map(|&t| roc.at_fpr(t)).collect())
}
