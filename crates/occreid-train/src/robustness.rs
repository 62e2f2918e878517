//! The occlusion robustness suite over a whole query set: for each (occluder kind, area ratio, position)
//! the query images are occluded deterministically (occreid-data's `OccludedTest`), embedded and ranked
//! against the unoccluded gallery, whose features are extracted once.
use std::sync::Arc;

use occreid_data::loader::{OccludedTest, Transform};
use occreid_data::occluders::{OccludedImage, OccluderKind, Position};
use occreid_data::Split;
use occreid_model::methods::Method;
use occreid_torch::tch::Device;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::evaluate::{evaluate_features, extract, test_transform, ExtractOptions, QueryRanking};
use crate::TrainError;

/// Metrics of the query set under one occlusion setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OcclusionResult {
    pub kind: OccluderKind,
    pub ratio: f64,
    pub position: Position,
    pub rank1: f64,
    pub map: f64,
    pub minp: f64,
    /// The showcase queries' rankings, for the one setting per occluder kind and position that reports
    /// show (the ratio nearest [`SHOWCASE_RATIO`]); empty for the others.
    #[serde(skip)]
    pub rankings: Vec<QueryRanking>,
}

/// The occluded fraction whose rank lists reports show: the middle of the usual 10-50 % range.
pub const SHOWCASE_RATIO: f64 = 0.3;

/// How many gallery items a showcase ranking keeps.
pub const SHOWCASE_TOP: usize = 10;

impl OcclusionResult {
    /// `solid_box top 30%`: the setting, as tables and reports name it.
    pub fn setting(&self) -> String {
        format!(
            "{} {} {:.0}%",
            self.kind.name(),
            self.position.name(),
            self.ratio * 100.0
        )
    }

    /// One aligned line for terminal tables, ending in a newline.
    pub fn summary_line(&self) -> String {
        format!(
            "occluded {:>11} {:>6} {:>3.0}%  R1 {:6.2}  mAP {:6.2}  mINP {:6.2}\n",
            self.kind.name(),
            self.position.name(),
            self.ratio * 100.0,
            self.rank1 * 100.0,
            self.map * 100.0,
            self.minp * 100.0
        )
    }
}

/// Runs every setting of `cfg.test.occlusion` (re-ranking is left out: this measures the features).
/// Donor kinds take their occluders from the training images, whose identities are not in the test set.
/// For the ratio nearest [`SHOWCASE_RATIO`] of each kind and position, the rankings of the `showcase`
/// queries are kept too.
pub fn occlusion_suite(
    method: &dyn Method,
    split: &Split,
    cfg: &TrainConfig,
    device: Device,
    showcase: &[usize],
) -> Result<Vec<OcclusionResult>, TrainError> {
    let suite = &cfg.test.occlusion;
    let mut test = cfg.test.clone();
    test.rerank = false;
    let opts = ExtractOptions::new(&test, &cfg.data, device, "gallery");
    let gf = Arc::new(extract(
        method,
        Arc::new(split.gallery.clone()),
        Transform::Test(test_transform(&cfg.data)),
        &opts,
    )?);
    let query = Arc::new(split.query.clone());
    let donors = Arc::new(split.train.clone());
    let shown = showcase_ratio(&suite.ratios);
    let mut out = Vec::new();
    for &kind in &suite.kinds {
        for &ratio in &suite.ratios {
            for &position in &suite.positions {
                let transform = Transform::OccludedTest(occluded_test(cfg, donors.clone(), kind, ratio, position));
                let opts = ExtractOptions {
                    label: format!("{kind:?} {ratio}"),
                    ..opts.clone()
                };
                let qf = extract(method, query.clone(), transform, &opts)?;
                let ev = evaluate_features(qf, gf.clone(), &split.query, &split.gallery, &test)?;
                tracing::info!(
                    ?kind,
                    ratio,
                    ?position,
                    rank1 = %crate::Rounded(ev.plain.rank(1)),
                    map = %crate::Rounded(ev.plain.map),
                    "occluded queries"
                );
                let rankings = if Some(ratio) == shown {
                    showcase
                        .iter()
                        .filter(|&&qi| qi < split.query.len())
                        .map(|&qi| ev.ranking(qi, &split.query, &split.gallery, SHOWCASE_TOP))
                        .collect()
                } else {
                    Vec::new()
                };
                out.push(OcclusionResult {
                    kind,
                    ratio,
                    position,
                    rank1: ev.plain.rank(1),
                    map: ev.plain.map,
                    minp: ev.plain.minp,
                    rankings,
                });
            }
        }
    }
    Ok(out)
}

/// The ratio of `ratios` nearest [`SHOWCASE_RATIO`] (the first of two equally near).
pub fn showcase_ratio(ratios: &[f64]) -> Option<f64> {
    ratios
        .iter()
        .copied()
        .min_by(|a, b| (a - SHOWCASE_RATIO).abs().total_cmp(&(b - SHOWCASE_RATIO).abs()))
}

fn occluded_test(
    cfg: &TrainConfig,
    donors: Arc<Vec<occreid_data::Sample>>,
    kind: OccluderKind,
    ratio: f64,
    position: Position,
) -> OccludedTest {
    OccludedTest {
        test: test_transform(&cfg.data),
        kind,
        ratio,
        position,
        seed: cfg.test.occlusion.seed,
        donors,
    }
}

/// Query `qi` exactly as the suite occluded it for that setting (same seed, same donor), before resizing:
/// the picture a report shows next to the ranking.
pub fn occluded_query(
    split: &Split,
    cfg: &TrainConfig,
    setting: (OccluderKind, f64, Position),
    qi: usize,
) -> Result<OccludedImage, TrainError> {
    let (kind, ratio, position) = setting;
    let sample = split
        .query
        .get(qi)
        .ok_or_else(|| TrainError::Data(format!("no query {qi}: the query set has {}", split.query.len())))?;
    occluded_test(cfg, Arc::new(split.train.clone()), kind, ratio, position)
        .occlude_sample(qi, sample)
        .map_err(|e| TrainError::Data(format!("occluding query {}: {e}", sample.path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_showcase_ratio_is_the_one_nearest_thirty_percent() {
        assert_eq!(showcase_ratio(&[0.1, 0.2, 0.3, 0.4]), Some(0.3));
        assert_eq!(showcase_ratio(&[0.5, 0.25, 0.6]), Some(0.25));
        assert_eq!(showcase_ratio(&[]), None);
    }
}
