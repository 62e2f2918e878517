//! Market-1501 (spec §5), and the folder format it shares with DukeMTMC-reID and Occluded-Duke:
//! `{bounding_box_train, query, bounding_box_test}/*.jpg` named like `0002_c1s1_000451_03.jpg`, parsed
//! with the regex `([-\d]+)_c(\d)` into pid and camera (stored as camera − 1).
//!
//! Market rules (torchreid `Market1501.process_dir`, BoT `market1501.py`): pid −1 ("junk") images are
//! dropped; pid 0 (distractors) is kept as an ordinary never-matching identity; 0 ≤ pid ≤ 1501 and
//! 1 ≤ camera ≤ 6 (anything else is a problem).
use std::path::Path;

use super::common::{self, file_name, market_pattern, parse_int};
use super::{CanonicalCounts, DataError, DatasetReader, ExpectedCounts, Sample, Scan, Split};

/// How one Market-format benchmark is laid out and validated.
pub(crate) struct MarketFormat {
    pub name: &'static str,
    /// Accepted dataset folders relative to `--root` (`""` = the root itself), in order of preference.
    pub candidates: &'static [&'static str],
    pub max_camera: i64,
    /// `Some(max)`: pids must be in `-1..=max` (Market); `None`: any integer.
    pub max_pid: Option<i64>,
    /// Drop pid −1 images (Market junk).
    pub drop_junk: bool,
}

const SPLIT_DIRS: [&str; 3] = ["bounding_box_train", "query", "bounding_box_test"];

/// Reads a Market-format tree.
pub(crate) fn scan_market_format(f: &MarketFormat, root: &Path) -> Result<Scan, DataError> {
    let (dir, note) = common::resolve_root(root, f.name, f.candidates, &SPLIT_DIRS)?;
    let mut problems = Vec::new();
    let mut split = Split {
        notes: vec![note],
        ..Split::default()
    };
    let expected_name = format!(
        "'<pid>_c<camera>...' with camera 1..{} (e.g. 0002_c1s1_000451_03.jpg)",
        f.max_camera
    );
    let mut junk = 0usize;
    for (sub, list) in SPLIT_DIRS
        .iter()
        .zip([&mut split.train, &mut split.query, &mut split.gallery])
    {
        let sub_dir = dir.join(sub);
        let what = format!("the {} images of {}", sub, f.name);
        for (path, _) in common::list_images(&sub_dir, false, &what, &mut problems) {
            let Some((pid_str, cam)) = market_pattern(file_name(&path)) else {
                problems.push(DataError::BadName {
                    path,
                    expected: expected_name.clone(),
                });
                continue;
            };
            let Some(pid) = parse_int(pid_str) else {
                problems.push(DataError::BadName {
                    path,
                    expected: expected_name.clone(),
                });
                continue;
            };
            let cam = i64::from(cam);
            if !(1..=f.max_camera).contains(&cam) {
                problems.push(DataError::OutOfRange {
                    path,
                    what: "camera".into(),
                    value: cam,
                    expected: format!("1..={}", f.max_camera),
                });
                continue;
            }
            if let Some(max) = f.max_pid {
                if !(-1..=max).contains(&pid) {
                    problems.push(DataError::OutOfRange {
                        path,
                        what: "person id".into(),
                        value: pid,
                        expected: format!("-1 (junk), 0 (distractor) or 1..={max}"),
                    });
                    continue;
                }
            }
            if f.drop_junk && pid == -1 {
                junk += 1;
                continue;
            }
            list.push(Sample {
                path,
                pid,
                camid: cam - 1,
            });
        }
    }
    if f.drop_junk {
        split
            .notes
            .push(format!("dropped {junk} junk images (pid -1); pid 0 distractors kept"));
    }
    Ok(common::finish(split, problems, dir))
}

pub(crate) const MARKET: MarketFormat = MarketFormat {
    name: "market1501",
    candidates: &[
        "market1501/Market-1501-v15.09.15",
        "Market-1501-v15.09.15",
        "market1501",
        "",
    ],
    max_camera: 6,
    max_pid: Some(1501),
    drop_junk: true,
};

/// Market-1501. Roots accepted: torchreid's `<root>/market1501/Market-1501-v15.09.15/`, BoT's
/// `<root>/market1501/`, or the dataset folder itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Market1501;

impl DatasetReader for Market1501 {
    fn name(&self) -> &str {
        MARKET.name
    }
    fn scan(&self, root: &Path) -> Result<Scan, DataError> {
        scan_market_format(&MARKET, root)
    }
    /// torchreid docstring / dataset statistics; the gallery's 751 ids include the pid-0 distractors.
    fn canonical(&self) -> Option<CanonicalCounts> {
        Some(CanonicalCounts {
            train: ExpectedCounts::new(12_936, 751, 6),
            query: ExpectedCounts::new(3_368, 750, 6),
            gallery: ExpectedCounts::new(15_913, 751, 6),
            source: "torchreid Market1501 (spec §5)".into(),
            verified: true,
        })
    }
}
