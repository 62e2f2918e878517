//! Occluded-REID (ICME'18, spec §5): `Occluded_REID/{occluded_body_images, whole_body_images}/`, images
//! either in one folder per identity (`<pid>/<pid>_<nn>.tif`, the released layout, PVPM / light-reid) or
//! flat (DAAO). pid = `int(name.split('_')[0])`, or the folder name when the file name has none.
//! Query = occluded (camid 0), gallery = whole body (camid 1). Test-only: train on Market-1501.
use std::path::Path;

use super::common::{pid_before_underscore, scan_query_gallery, QueryGalleryFormat};
use super::{CanonicalCounts, DataError, DatasetReader, ExpectedCounts, Scan};

const FORMAT: QueryGalleryFormat = QueryGalleryFormat {
    name: "occluded_reid",
    candidates: &[
        "occluded-reid/Occluded_REID",
        "Occluded_REID",
        "OccludedREID",
        "occluded_reid",
        "",
    ],
    query_dir: "occluded_body_images",
    gallery_dir: "whole_body_images",
    pid_of: pid_before_underscore,
    rule: "'<pid>_<n>.<ext>' (e.g. 001_01.tif)",
};

#[derive(Debug, Clone, Copy, Default)]
pub struct OccludedReid;

impl DatasetReader for OccludedReid {
    fn name(&self) -> &str {
        FORMAT.name
    }
    fn scan(&self, root: &Path) -> Result<Scan, DataError> {
        scan_query_gallery(&FORMAT, root)
    }
    fn canonical(&self) -> Option<CanonicalCounts> {
        Some(CanonicalCounts {
            train: ExpectedCounts::EMPTY,
            query: ExpectedCounts::new(1_000, 200, 1),
            gallery: ExpectedCounts::new(1_000, 200, 1),
            source: "literature: 200 ids x (5 occluded + 5 whole) (spec §5, unverified)".into(),
            verified: false,
        })
    }
}
