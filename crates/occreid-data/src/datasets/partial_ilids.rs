//! Partial-iLIDS (spec §5): `Partial_iLIDS/{Probe, Gallery}/*.jpg`, pid = the leading integer of the
//! file name; probe camid 0, gallery camid 1. Test-only: train on Market-1501.
use std::path::Path;

use super::common::{leading_int, scan_query_gallery, QueryGalleryFormat};
use super::{CanonicalCounts, DataError, DatasetReader, ExpectedCounts, Scan};

const FORMAT: QueryGalleryFormat = QueryGalleryFormat {
    name: "partial_ilids",
    candidates: &["Partial_iLIDS", "Partial-iLIDS", "partial_ilids", ""],
    query_dir: "Probe",
    gallery_dir: "Gallery",
    pid_of: leading_int,
    rule: "a leading integer pid (e.g. 001.jpg)",
    lists: None,
};

#[derive(Debug, Clone, Copy, Default)]
pub struct PartialIlids;

impl DatasetReader for PartialIlids {
    fn name(&self) -> &str {
        FORMAT.name
    }
    fn scan(&self, root: &Path) -> Result<Scan, DataError> {
        scan_query_gallery(&FORMAT, root)
    }
    fn canonical(&self) -> Option<CanonicalCounts> {
        Some(CanonicalCounts {
            train: ExpectedCounts::EMPTY,
            query: ExpectedCounts::new(119, 119, 1),
            gallery: ExpectedCounts::new(119, 119, 1),
            source: "literature: 119 ids, 1 probe + 1 gallery each (spec §5, unverified)".into(),
            verified: false,
        })
    }
}
