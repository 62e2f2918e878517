//! Occluded-DukeMTMC (spec §5): made from DukeMTMC-reID by lightas' `convert_duke_to_occduke.py` into
//! `Occluded_Duke/{bounding_box_train,query,bounding_box_test}`; same names and parsing as Duke. Roots
//! accepted: IGOAS's `<root>/occluded-duke/Occluded_Duke/`, `<root>/Occluded_Duke/`, or the folder itself.
use std::path::Path;

use super::market1501::{scan_market_format, MarketFormat};
use super::{CanonicalCounts, DataError, DatasetReader, ExpectedCounts, Scan};

const OCCLUDED_DUKE: MarketFormat = MarketFormat {
    name: "occluded_duke",
    candidates: &["occluded-duke/Occluded_Duke", "Occluded_Duke", "occluded-duke", ""],
    max_camera: 8,
    max_pid: None,
    drop_junk: false,
};

#[derive(Debug, Clone, Copy, Default)]
pub struct OccludedDuke;

impl DatasetReader for OccludedDuke {
    fn name(&self) -> &str {
        OCCLUDED_DUKE.name
    }
    fn scan(&self, root: &Path) -> Result<Scan, DataError> {
        scan_market_format(&OCCLUDED_DUKE, root)
    }
    /// IGOAS training log; the query's camera count is not stated anywhere.
    fn canonical(&self) -> Option<CanonicalCounts> {
        Some(CanonicalCounts {
            train: ExpectedCounts::new(15_618, 702, 8),
            query: ExpectedCounts {
                cameras: None,
                ..ExpectedCounts::new(2_210, 519, 0)
            },
            gallery: ExpectedCounts::new(17_661, 1_110, 8),
            source: "IGOAS log 2020-12-10 (spec §3.8, §5)".into(),
            verified: true,
        })
    }
}
