//! DukeMTMC-reID (spec §5): `dukemtmc-reid/DukeMTMC-reID/{bounding_box_train,query,bounding_box_test}/*.jpg`,
//! names like `0005_c2_f0046985.jpg`, regex `([-\d]+)_c(\d)`, camera 1..8 (stored as camera − 1), no
//! junk ids.
use std::path::Path;

use super::market1501::{scan_market_format, MarketFormat};
use super::{CanonicalCounts, DataError, DatasetReader, ExpectedCounts, Scan};

const DUKE: MarketFormat = MarketFormat {
    name: "dukemtmcreid",
    candidates: &["dukemtmc-reid/DukeMTMC-reID", "DukeMTMC-reID", "dukemtmc-reid", ""],
    max_camera: 8,
    max_pid: None,
    drop_junk: false,
};

#[derive(Debug, Clone, Copy, Default)]
pub struct DukeMtmcReid;

impl DatasetReader for DukeMtmcReid {
    fn name(&self) -> &str {
        DUKE.name
    }
    fn scan(&self, root: &Path) -> Result<Scan, DataError> {
        scan_market_format(&DUKE, root)
    }
    fn canonical(&self) -> Option<CanonicalCounts> {
        Some(CanonicalCounts {
            train: ExpectedCounts::new(16_522, 702, 8),
            query: ExpectedCounts::new(2_228, 702, 8),
            gallery: ExpectedCounts::new(17_661, 1_110, 8),
            source: "torchreid DukeMTMCreID (spec §5)".into(),
            verified: true,
        })
    }
}
