//! Occluded-REID (ICME'18, spec §5): `Occluded_REID/{occluded_body_images, whole_body_images}/`, images
//! either in one folder per identity (`<pid>/<pid>_<nn>.tif`, the released layout, PVPM / light-reid) or
//! flat (DAAO). pid = `int(name.split('_')[0])`, or the folder name when the file name has none.
//! Query = occluded (camid 0), gallery = whole body (camid 1). Test-only: train on Market-1501.
//!
//! Also reads the pre-split variant IGOAS registers as `occluded_reid` (spec §3.7):
//! `Occluded_REID/{train, query, test}/*.tif`, pid = `int(name.split('_')[0])`, query camid 0, gallery
//! (`test/`) camid 1. It is chosen when a candidate folder has `query/` and `test/` and no
//! `occluded_body_images/`. Train camid is 0 (the spec gives none; nothing in these files names a camera).
use std::path::{Path, PathBuf};

use super::common::{self, pid_before_underscore, read_pid_folder, scan_query_gallery, QueryGalleryFormat};
use super::{CanonicalCounts, DataError, DatasetReader, ExpectedCounts, Scan, Split};

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
    lists: None,
};

#[derive(Debug, Clone, Copy, Default)]
pub struct OccludedReid;

impl DatasetReader for OccludedReid {
    fn name(&self) -> &str {
        FORMAT.name
    }
    fn scan(&self, root: &Path) -> Result<Scan, DataError> {
        match pre_split_root(root) {
            Some(dir) => Ok(scan_pre_split(dir)),
            None => scan_query_gallery(&FORMAT, root),
        }
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

fn pre_split_root(root: &Path) -> Option<PathBuf> {
    FORMAT
        .candidates
        .iter()
        .map(|c| root.join(c))
        .find(|d| d.join("query").is_dir() && d.join("test").is_dir() && !d.join(FORMAT.query_dir).exists())
}

fn scan_pre_split(dir: PathBuf) -> Scan {
    let mut problems = Vec::new();
    let mut read =
        |sub: &str, camid| read_pid_folder(&dir.join(sub), camid, pid_before_underscore, FORMAT.rule, &mut problems);
    let train = read("train", 0);
    let query = read("query", 0);
    let gallery = read("test", 1);
    let notes = vec![
        format!("dataset folder: {}", dir.display()),
        "pre-split layout {train, query, test} (IGOAS `occluded_reid`, spec §3.7): train = train/ (camid 0), \
         query = query/ (camid 0), gallery = test/ (camid 1)"
            .into(),
        "a within-dataset protocol, not the standard one (train on market1501, test on all 200 ids); the \
         canonical counts are the standard layout's"
            .into(),
    ];
    let split = Split {
        train,
        query,
        gallery,
        notes,
    };
    common::finish(split, problems, dir)
}
