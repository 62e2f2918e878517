//! CUHK01 ("campus"): a flat folder `campus/` of `PPPPNNN.png` files, `PPPP` = identity (0001–0971),
//! `NNN` = 001..004; 001/002 were taken by camera A (camid 0), 003/004 by camera B (camid 1) (dataset
//! README). Protocol: a seeded split of the identities into `train_ids` (485) train identities and the
//! rest (486) test identities; query = the test identities' camera-A images, gallery = their camera-B
//! images (multi-shot: both images of each camera). Roots accepted: `<root>/cuhk01/campus/`,
//! `<root>/campus/`, or the folder of images itself.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::common::{self, file_stem, SplitMix64};
use super::{CanonicalCounts, DataError, DatasetReader, ExpectedCounts, Sample, Scan, Split};

/// Identities in CUHK01.
pub const NUM_IDS: usize = 971;
/// Train identities of the standard split.
pub const TRAIN_IDS: usize = 485;
const CANDIDATES: &[&str] = &["cuhk01/campus", "CUHK01/campus", "campus", "cuhk01", "CUHK01", ""];
const NAME: &str = "'PPPPNNN.png': 4-digit identity, image number 001..004 (e.g. 0001003.png)";

#[derive(Debug, Clone, Copy)]
pub struct Cuhk01 {
    pub seed: u64,
    pub train_ids: usize,
}

impl Default for Cuhk01 {
    fn default() -> Self {
        Self {
            seed: 0,
            train_ids: TRAIN_IDS,
        }
    }
}

fn parse(path: &Path) -> Option<(i64, i64)> {
    let stem = file_stem(path);
    if stem.len() != 7 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((stem[..4].parse().ok()?, stem[4..].parse().ok()?))
}

fn looks_like_cuhk01(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.flatten()
            .any(|e| common::is_image(&e.path()) && parse(&e.path()).is_some())
    })
}

impl DatasetReader for Cuhk01 {
    fn name(&self) -> &str {
        "cuhk01"
    }
    fn scan(&self, root: &Path) -> Result<Scan, DataError> {
        if !root.is_dir() {
            return Err(DataError::MissingFolder {
                path: root.to_path_buf(),
                expected: "the CUHK01 root folder (with campus/ inside, or the images themselves)".into(),
                fix: "pass --root pointing at an existing folder".into(),
            });
        }
        let dir: PathBuf = CANDIDATES
            .iter()
            .map(|c| root.join(c))
            .find(|d| looks_like_cuhk01(d))
            .unwrap_or_else(|| root.to_path_buf());
        let mut problems = Vec::new();
        let mut all = Vec::new();
        for (path, _) in common::list_images(&dir, false, NAME, &mut problems) {
            let Some((pid, n)) = parse(&path) else {
                problems.push(DataError::BadName {
                    expected: NAME.into(),
                    path,
                });
                continue;
            };
            if !(1..=4).contains(&n) {
                problems.push(DataError::OutOfRange {
                    path,
                    what: "image number".into(),
                    value: n,
                    expected: "1..=4 (001/002 camera A, 003/004 camera B)".into(),
                });
                continue;
            }
            all.push(Sample {
                path,
                pid,
                camid: (n - 1) / 2,
            });
        }
        let mut pids: Vec<i64> = all.iter().map(|s| s.pid).collect::<BTreeSet<_>>().into_iter().collect();
        if !all.is_empty() && pids.len() <= self.train_ids {
            problems.push(DataError::Inconsistent {
                path: dir.clone(),
                message: format!(
                    "only {} identities found, but the split needs more than {} (train) identities",
                    pids.len(),
                    self.train_ids
                ),
                fix: format!("check that all {NUM_IDS} identities were extracted, or lower cuhk01_train_ids"),
            });
        }
        SplitMix64::new(self.seed).shuffle(&mut pids);
        let train_pids: BTreeSet<i64> = pids.iter().take(self.train_ids).copied().collect();
        let mut split = Split {
            notes: vec![
                format!("dataset folder: {}", dir.display()),
                format!(
                    "identity split seed {}: {} train / {} test identities; query = camera A (001/002), \
                     gallery = camera B (003/004), multi-shot",
                    self.seed,
                    train_pids.len(),
                    pids.len() - train_pids.len()
                ),
            ],
            ..Split::default()
        };
        for s in all {
            if train_pids.contains(&s.pid) {
                split.train.push(s);
            } else if s.camid == 0 {
                split.query.push(s);
            } else {
                split.gallery.push(s);
            }
        }
        Ok(common::finish(split, problems, dir))
    }
    /// From the dataset README: 971 identities x 2 cameras x 2 images.
    fn canonical(&self) -> Option<CanonicalCounts> {
        let test = NUM_IDS.saturating_sub(self.train_ids);
        Some(CanonicalCounts {
            train: ExpectedCounts::new(4 * self.train_ids, self.train_ids, 2),
            query: ExpectedCounts::new(2 * test, test, 1),
            gallery: ExpectedCounts::new(2 * test, test, 1),
            source: "CUHK01 README: 971 ids x 4 images, 2 cameras".into(),
            verified: true,
        })
    }
}
