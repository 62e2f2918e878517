//! Rank metrics under the Market-1501 protocol (CMC, mAP, mINP) and the CUHK03 single-gallery-shot CMC.
//!
//! Semantics follow torchreid `eval_market1501` / `eval_cuhk03` (and fast-reid for mINP):
//! gallery items with the query's identity *and* camera are removed; a query with no remaining match is
//! skipped (not in any denominator); CMC is first-match; AP is non-interpolated over the kept list.
//!
//! **Ties** are broken by ascending gallery index, i.e. the ranking is NumPy's
//! `argsort(kind="stable")`. NumPy's default (quicksort) order inside tie groups is an implementation
//! detail of each NumPy build, so no implementation can promise to match it.
//!
//! The Market pass never sorts a row: for each query it collects the (few) matches, sorts those, and
//! places every other kept item among them by one comparison (plus a binary search only for items that
//! rank ahead of the last match). That is O(G) time and O(#matches) memory per query, with queries in
//! parallel.
use rayon::prelude::*;
use serde::Serialize;

use crate::MatrixView;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EvalError {
    #[error("{what} has {found} entries but the distance matrix has {expected} {axis}")]
    LabelCount {
        what: &'static str,
        found: usize,
        expected: usize,
        axis: &'static str,
    },
    #[error(
        "the distance matrix is empty ({rows} x {cols}); evaluation needs at least one query and one gallery item"
    )]
    Empty { rows: usize, cols: usize },
    #[error("max_rank must be at least 1")]
    ZeroMaxRank,
    #[error("distance[{query}, {gallery}] is NaN; every distance must be a number")]
    NotANumber { query: usize, gallery: usize },
    #[error(
        "no valid query: every query's identity is absent from the gallery or only present in the query's own camera"
    )]
    NoValidQuery,
}

/// Identity and camera labels of one side (query or gallery).
#[derive(Debug, Clone, Copy)]
pub struct Labels<'a> {
    pub pids: &'a [i64],
    pub camids: &'a [i64],
}

/// How the CUHK03 protocol turns its random single-shot gallery into a CMC.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cuhk03Cmc {
    /// torchreid's estimate: `repeats` draws of one image per gallery identity per query, from NumPy's
    /// legacy `RandomState(seed)` stream (MT19937), consumed in the same order, so the numbers equal
    /// `np.random.seed(seed); eval_cuhk03(...)`.
    Sampled { seed: u32, repeats: usize },
    /// The exact expectation of that estimate over the sampling (Poisson-binomial per query).
    Expectation,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Protocol {
    Market1501,
    Cuhk03(Cuhk03Cmc),
}

/// Why a query contributes to no metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// No gallery item has the query's identity.
    IdAbsentFromGallery,
    /// Every gallery item of the identity is in the query's camera and was removed.
    OnlySameCameraMatches,
}

/// Per-query results; ranks are 0-based positions in the kept (filtered, sorted) gallery list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryOutcome {
    pub first_match_rank: usize,
    pub last_match_rank: usize,
    pub num_rel: usize,
    pub num_kept: usize,
    pub num_removed: usize,
    pub ap: f64,
    pub inp: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RankMetrics {
    /// `cmc[k]` = fraction of valid queries matched within the first k+1 kept items.
    pub cmc: Vec<f64>,
    pub map: f64,
    pub minp: f64,
    pub num_valid_queries: usize,
    pub per_query: Vec<Result<QueryOutcome, SkipReason>>,
}

impl RankMetrics {
    /// Rank-k accuracy (1-based k), the last CMC entry when the gallery is shorter than k.
    pub fn rank(&self, k: usize) -> f64 {
        self.cmc
            .get(k.saturating_sub(1))
            .or(self.cmc.last())
            .copied()
            .unwrap_or(0.0)
    }

    /// The `{"cmc": [...], "mAP": x, "mINP": y, "num_valid_queries": n, "skipped_queries": [...]}` object
    /// of the CLI contract (`occreid metrics --json`, `summary.json`).
    pub fn summary_json(&self) -> serde_json::Value {
        let skipped: Vec<usize> = self
            .per_query
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_err())
            .map(|(i, _)| i)
            .collect();
        serde_json::json!({
            "cmc": self.cmc,
            "mAP": self.map,
            "mINP": self.minp,
            "num_valid_queries": self.num_valid_queries,
            "skipped_queries": skipped,
        })
    }

    /// One human-readable line: R1 / R5 / R10 / mAP / mINP in percent and the valid-query count.
    pub fn summary_line(&self) -> String {
        format!(
            "R1 {:6.2}  R5 {:6.2}  R10 {:6.2}  mAP {:6.2}  mINP {:6.2}  ({} valid queries of {})\n",
            self.rank(1) * 100.0,
            self.rank(5) * 100.0,
            self.rank(10) * 100.0,
            self.map * 100.0,
            self.minp * 100.0,
            self.num_valid_queries,
            self.per_query.len()
        )
    }
}

/// Evaluates `distmat` (queries × gallery, smaller = more similar).
///
/// `max_rank` is reduced to the gallery size when larger. A valid query whose kept list is shorter
/// than `max_rank` counts as matched for every rank at or after its first match.
pub fn evaluate<'a>(
    distmat: impl Into<MatrixView<'a>>,
    query: Labels,
    gallery: Labels,
    max_rank: usize,
    protocol: Protocol,
) -> Result<RankMetrics, EvalError> {
    let distmat = distmat.into();
    validate(distmat, query, gallery, max_rank)?;
    let max_rank = max_rank.min(distmat.cols());
    let per_query: Vec<Result<QueryOutcome, SkipReason>> = (0..distmat.rows())
        .into_par_iter()
        .map_init(QueryScratch::default, |scratch, q| {
            scratch.rank_matches(distmat.row(q), q, query, gallery)
        })
        .collect::<Result<_, EvalError>>()?;

    let cmc = match protocol {
        Protocol::Market1501 => None,
        Protocol::Cuhk03(mode) => Some(crate::metrics::cuhk03::cmc(
            distmat, query, gallery, &per_query, max_rank, mode,
        )),
    };
    RankMetrics::from_outcomes(per_query, max_rank, cmc)
}

impl RankMetrics {
    /// Means over the valid queries; the first-match CMC unless another protocol's curve is given.
    pub(crate) fn from_outcomes(
        per_query: Vec<Result<QueryOutcome, SkipReason>>,
        max_rank: usize,
        cmc: Option<Vec<f64>>,
    ) -> Result<Self, EvalError> {
        let valid: Vec<&QueryOutcome> = per_query.iter().filter_map(|r| r.as_ref().ok()).collect();
        if valid.is_empty() {
            return Err(EvalError::NoValidQuery);
        }
        let n = valid.len() as f64;
        let map = valid.iter().map(|o| o.ap).sum::<f64>() / n;
        let minp = valid.iter().map(|o| o.inp).sum::<f64>() / n;
        let cmc = cmc.unwrap_or_else(|| first_match_cmc(&valid, max_rank));
        Ok(RankMetrics {
            cmc,
            map,
            minp,
            num_valid_queries: valid.len(),
            per_query,
        })
    }
}

fn validate(distmat: MatrixView, query: Labels, gallery: Labels, max_rank: usize) -> Result<(), EvalError> {
    validate_sizes(distmat.rows(), distmat.cols(), query, gallery, max_rank)
}

/// A `q x g` problem with these labels and `max_rank` can be evaluated.
fn validate_sizes(q: usize, g: usize, query: Labels, gallery: Labels, max_rank: usize) -> Result<(), EvalError> {
    if q == 0 || g == 0 {
        return Err(EvalError::Empty { rows: q, cols: g });
    }
    if max_rank == 0 {
        return Err(EvalError::ZeroMaxRank);
    }
    let checks = [
        ("query pids", query.pids.len(), q, "rows"),
        ("query camids", query.camids.len(), q, "rows"),
        ("gallery pids", gallery.pids.len(), g, "columns"),
        ("gallery camids", gallery.camids.len(), g, "columns"),
    ];
    for (what, found, expected, axis) in checks {
        if found != expected {
            return Err(EvalError::LabelCount {
                what,
                found,
                expected,
                axis,
            });
        }
    }
    Ok(())
}

fn first_match_cmc(valid: &[&QueryOutcome], max_rank: usize) -> Vec<f64> {
    let mut hits = vec![0usize; max_rank];
    for o in valid {
        if o.first_match_rank < max_rank {
            hits[o.first_match_rank] += 1;
        }
    }
    let n = valid.len() as f64;
    let mut acc = 0usize;
    hits.iter()
        .map(|h| {
            acc += h;
            acc as f64 / n
        })
        .collect()
}

/// Total order used for ranking: distance, then gallery index.
#[inline]
fn before(da: f32, ia: usize, db: f32, ib: usize) -> bool {
    da < db || (da == db && ia < ib)
}

/// One query's ranking state: its matches (kept gallery items of its identity) sorted by (distance,
/// index), and how many kept non-matches rank between consecutive matches. Filled from a whole row,
/// or from the matches first and then the gallery block by block (`streamed`).
#[derive(Default)]
pub(crate) struct QueryScratch {
    matches: Vec<(f32, usize)>,
    /// `ahead[m]` = kept non-matches that rank after match m-1 and before match m.
    ahead: Vec<usize>,
    num_removed: usize,
}

impl QueryScratch {
    fn rank_matches(
        &mut self,
        row: &[f32],
        q: usize,
        query: Labels,
        gallery: Labels,
    ) -> Result<Result<QueryOutcome, SkipReason>, EvalError> {
        let qpid = query.pids[q];
        let same_id = gallery
            .pids
            .iter()
            .enumerate()
            .filter(|(_, &pid)| pid == qpid)
            .map(|(j, _)| j);
        let distances = same_id.map(|j| (j, row[j]));
        if let Err(skip) = self.start(distances, q, query, gallery)? {
            return Ok(Err(skip));
        }
        self.count(row, 0, q, query.pids[q], gallery.pids)?;
        Ok(Ok(self.finish(row.len())))
    }

    /// Takes the distances of every gallery item with the query's identity (`(index, distance)` in
    /// increasing index order): same-camera items are removed, the others become the sorted matches.
    pub(crate) fn start(
        &mut self,
        same_id: impl Iterator<Item = (usize, f32)>,
        q: usize,
        query: Labels,
        gallery: Labels,
    ) -> Result<Result<(), SkipReason>, EvalError> {
        let qcam = query.camids[q];
        self.matches.clear();
        self.num_removed = 0;
        for (j, d) in same_id {
            if d.is_nan() {
                return Err(EvalError::NotANumber { query: q, gallery: j });
            }
            if gallery.camids[j] == qcam {
                self.num_removed += 1;
            } else {
                self.matches.push((d, j));
            }
        }
        if self.matches.is_empty() {
            return Ok(Err(if self.num_removed > 0 {
                SkipReason::OnlySameCameraMatches
            } else {
                SkipReason::IdAbsentFromGallery
            }));
        }
        // (distance, index) keys are distinct, so an unstable sort gives the stable order.
        self.matches
            .sort_unstable_by(|a, b| a.0.partial_cmp(&b.0).expect("NaN rejected above").then(a.1.cmp(&b.1)));
        self.ahead.clear();
        self.ahead.resize(self.matches.len(), 0);
        Ok(Ok(()))
    }

    /// Places the non-matches of gallery items `first..first + part.len()` (distances `part`, identity
    /// labels `pids` of the same items) among the matches. Items of the query's identity are skipped:
    /// `start` has seen them.
    pub(crate) fn count(
        &mut self,
        part: &[f32],
        first: usize,
        q: usize,
        qpid: i64,
        pids: &[i64],
    ) -> Result<(), EvalError> {
        let (last_d, last_j) = *self.matches.last().expect("count after a successful start");
        for (k, (&d, &pid)) in part.iter().zip(pids).enumerate() {
            let j = first + k;
            // Most non-matches rank after the last match; one comparison settles those.
            if pid == qpid || !before(d, j, last_d, last_j) {
                if d.is_nan() {
                    return Err(EvalError::NotANumber { query: q, gallery: j });
                }
                continue;
            }
            let m = self.matches.partition_point(|&(md, mj)| before(md, mj, d, j));
            self.ahead[m] += 1;
        }
        Ok(())
    }

    /// The query's outcome once every gallery item has been counted (`gallery_len` items in all).
    pub(crate) fn finish(&self, gallery_len: usize) -> QueryOutcome {
        let num_rel = self.matches.len();
        let mut nonmatches_ahead = 0;
        let (mut ap, mut first, mut last) = (0.0f64, 0, 0);
        for (m, ahead) in self.ahead.iter().enumerate() {
            nonmatches_ahead += ahead;
            let rank = m + nonmatches_ahead;
            if m == 0 {
                first = rank;
            }
            last = rank;
            ap += (m + 1) as f64 / (rank + 1) as f64;
        }
        QueryOutcome {
            first_match_rank: first,
            last_match_rank: last,
            num_rel,
            num_kept: gallery_len - self.num_removed,
            num_removed: self.num_removed,
            ap: ap / num_rel as f64,
            inp: num_rel as f64 / (last + 1) as f64,
        }
    }
}

mod cuhk03;
mod streamed;
pub use streamed::{evaluate_features, FeatureEvalError, RowSource, DEFAULT_BLOCK_ROWS};
