//! P-DukeMTMC-reID (spec §5): `P-DukeMTMC-reid/{train,test}/{whole_body_images, occluded_body_images}/`,
//! images in one folder per identity (PVPM, IGOAS) or flat (DAAO); pid = `int(name.split('_')[0])`.
//! Train = whole (camid 1) + occluded (camid 0), as IGOAS / PVPM; test query = `test/occluded_body_images`
//! (camid 0), gallery = `test/whole_body_images` (camid 1). With `whole_only`, train is the whole-body
//! images only (DAAO's `pduke_quanshen`).
use std::path::Path;

use super::common::{self, pid_before_underscore, read_pid_folder};
use super::{CanonicalCounts, DataError, DatasetReader, ExpectedCounts, Scan, Split};

const CANDIDATES: &[&str] = &["P-DukeMTMC-reid", "P-DukeMTMC-reID", "p_dukemtmc_reid", ""];
const RULE: &str = "'<pid>_<...>.jpg' (e.g. 0005_c2_f0046985.jpg)";

#[derive(Debug, Clone, Copy, Default)]
pub struct PDukeMtmcReid {
    /// Train on `train/whole_body_images` only.
    pub whole_only: bool,
}

impl DatasetReader for PDukeMtmcReid {
    fn name(&self) -> &str {
        "p_dukemtmc_reid"
    }
    fn scan(&self, root: &Path) -> Result<Scan, DataError> {
        let (dir, note) = common::resolve_root(root, self.name(), CANDIDATES, &["train", "test"])?;
        let mut problems = Vec::new();
        let mut read =
            |sub: &str, camid| read_pid_folder(&dir.join(sub), camid, pid_before_underscore, RULE, &mut problems);
        let mut train = read("train/whole_body_images", 1);
        let train_note = if self.whole_only {
            "train = whole-body images only (camid 1; DAAO pduke_quanshen)"
        } else {
            train.extend(read("train/occluded_body_images", 0));
            "train = whole (camid 1) + occluded (camid 0) images (IGOAS / PVPM)"
        };
        let query = read("test/occluded_body_images", 0);
        let gallery = read("test/whole_body_images", 1);
        let split = Split {
            train,
            query,
            gallery,
            notes: vec![
                note,
                train_note.into(),
                "query = test occluded (camid 0), gallery = test whole (camid 1)".into(),
            ],
        };
        Ok(common::finish(split, problems, dir))
    }
    fn canonical(&self) -> Option<CanonicalCounts> {
        // The whole-only train image count is published nowhere; its identities are the same 665.
        let train = if self.whole_only {
            ExpectedCounts {
                images: None,
                ..ExpectedCounts::new(0, 665, 1)
            }
        } else {
            ExpectedCounts::new(12_927, 665, 2)
        };
        Some(CanonicalCounts {
            train,
            query: ExpectedCounts::new(2_163, 634, 1),
            gallery: ExpectedCounts::new(9_053, 634, 1),
            source: "DAAO help text / literature, approximate (spec §5, unverified)".into(),
            verified: false,
        })
    }
}
