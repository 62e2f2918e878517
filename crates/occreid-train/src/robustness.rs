//! The occlusion robustness suite over a whole query set: for each (occluder kind, area ratio, position)
//! the query images are occluded deterministically (occreid-data's `OccludedTest`), embedded and ranked
//! against the unoccluded gallery, whose features are extracted once.
use std::sync::Arc;

use occreid_data::loader::{OccludedTest, Transform};
use occreid_data::occluders::{OccluderKind, Position};
use occreid_data::Split;
use occreid_model::methods::Method;
use occreid_torch::tch::Device;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::evaluate::{evaluate_features, extract, test_transform, ExtractOptions};
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
}

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
pub fn occlusion_suite(
    method: &dyn Method,
    split: &Split,
    cfg: &TrainConfig,
    device: Device,
) -> Result<Vec<OcclusionResult>, TrainError> {
    let suite = &cfg.test.occlusion;
    let mut test = cfg.test.clone();
    test.rerank = false;
    let opts = ExtractOptions::new(&test, &cfg.data, device, "gallery");
    let gf = extract(
        method,
        Arc::new(split.gallery.clone()),
        Transform::Test(test_transform(&cfg.data)),
        &opts,
    )?;
    let query = Arc::new(split.query.clone());
    let donors = Arc::new(split.train.clone());
    let mut out = Vec::new();
    for &kind in &suite.kinds {
        for &ratio in &suite.ratios {
            for &position in &suite.positions {
                let transform = Transform::OccludedTest(OccludedTest {
                    test: test_transform(&cfg.data),
                    kind,
                    ratio,
                    position,
                    seed: suite.seed,
                    donors: donors.clone(),
                });
                let opts = ExtractOptions {
                    label: format!("{kind:?} {ratio}"),
                    ..opts.clone()
                };
                let qf = extract(method, query.clone(), transform, &opts)?;
                let ev = evaluate_features(&qf, &gf, &split.query, &split.gallery, &test)?;
                tracing::info!(
                    ?kind,
                    ratio,
                    ?position,
                    rank1 = %crate::Rounded(ev.plain.rank(1)),
                    map = %crate::Rounded(ev.plain.map),
                    "occluded queries"
                );
                out.push(OcclusionResult {
                    kind,
                    ratio,
                    position,
                    rank1: ev.plain.rank(1),
                    map: ev.plain.map,
                    minp: ev.plain.minp,
                });
            }
        }
    }
    Ok(out)
}
