//! Partial-REID (ICCV'15, spec §5): `Partial-REID_Dataset/{partial_body_images, occluded_body_images,
//! whole_body_images}/*.jpg`, pid = `int(name.split('_')[0])`; query camid 0, gallery (whole body)
//! camid 1. The query folder differs between codebases: `occluded_body_images` (DAAO, IGOAS, PVPM; the
//! default) or `partial_body_images` (the original paper); the notes say which was used.
//! Releases that ship light-reid's `Probe.txt` / `Gallery.txt` (one `<folder>/<pid>_<n>.jpg` per line,
//! relative to the dataset folder) have them read: a list that names only images of its side's folder
//! defines that side; one naming another folder (typically `Probe.txt` → `partial_body_images` while the
//! query folder is `occluded_body_images`) is set aside with a note, so the query folder option stays
//! the one switch for the protocol. Test-only: train on Market-1501.
use std::path::Path;

use super::common::{pid_before_underscore, scan_query_gallery, QueryGalleryFormat};
use super::{CanonicalCounts, DataError, DatasetReader, ExpectedCounts, PartialReidQuery, Scan};

const CANDIDATES: &[&str] = &[
    "Partial-REID_Dataset",
    "PartialREID",
    "Partial_REID",
    "partial_reid",
    "",
];

#[derive(Debug, Clone, Copy, Default)]
pub struct PartialReid {
    pub query: PartialReidQuery,
}

impl DatasetReader for PartialReid {
    fn name(&self) -> &str {
        "partial_reid"
    }
    fn scan(&self, root: &Path) -> Result<Scan, DataError> {
        let format = QueryGalleryFormat {
            name: "partial_reid",
            candidates: CANDIDATES,
            query_dir: match self.query {
                PartialReidQuery::OccludedBodyImages => "occluded_body_images",
                PartialReidQuery::PartialBodyImages => "partial_body_images",
            },
            gallery_dir: "whole_body_images",
            pid_of: pid_before_underscore,
            rule: "'<pid>_<n>.<ext>' (e.g. 001_01.jpg)",
            lists: Some(("Probe.txt", "Gallery.txt")),
        };
        scan_query_gallery(&format, root)
    }
    fn canonical(&self) -> Option<CanonicalCounts> {
        Some(CanonicalCounts {
            train: ExpectedCounts::EMPTY,
            query: ExpectedCounts::new(300, 60, 1),
            gallery: ExpectedCounts::new(300, 60, 1),
            source: "literature: 60 ids x 5 query + 5 gallery (spec §5, unverified)".into(),
            verified: false,
        })
    }
}
