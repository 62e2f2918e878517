//! MSMT17 (spec §5). V1: `MSMT17_V1/{train, test, list_train.txt, list_val.txt, list_query.txt,
//! list_gallery.txt}`; V2: the same lists with `mask_train_v2/` and `mask_test_v2/` (detected from the
//! folders present). Each list line is `"<rel/path.jpg> <pid>"`, e.g.
//! `0000/0000_000_01_0303morning_0015_0.jpg 0`; the pid is used as-is (already 0-based) and
//! camid = `int(name.split('_')[2]) - 1` (cameras 1..15). Train and val images live in the train folder,
//! query and gallery in the test folder. `list_val.txt` is added to train when `include_val` is set.
use std::path::{Path, PathBuf};

use super::common::{self, file_name, parse_int};
use super::{CanonicalCounts, DataError, DatasetReader, ExpectedCounts, Sample, Scan, Split};

const CANDIDATES: &[&str] = &[
    "msmt17/MSMT17_V1",
    "msmt17/MSMT17_V2",
    "MSMT17_V1",
    "MSMT17_V2",
    "msmt17",
    "",
];
const LISTS: [&str; 3] = ["list_train.txt", "list_query.txt", "list_gallery.txt"];
const MAX_CAMERA: i64 = 15;

#[derive(Debug, Clone, Copy)]
pub struct Msmt17 {
    pub include_val: bool,
}

impl DatasetReader for Msmt17 {
    fn name(&self) -> &str {
        "msmt17"
    }
    fn scan(&self, root: &Path) -> Result<Scan, DataError> {
        let (dir, note) = common::resolve_root(root, self.name(), CANDIDATES, &LISTS)?;
        let mut problems = Vec::new();
        let mut notes = vec![note];
        let (train_dir, test_dir) = if dir.join("train").is_dir() || !dir.join("mask_train_v2").is_dir() {
            notes.push("MSMT17_V1 layout (train/, test/)".into());
            (dir.join("train"), dir.join("test"))
        } else {
            notes.push("MSMT17_V2 layout (mask_train_v2/, mask_test_v2/)".into());
            (dir.join("mask_train_v2"), dir.join("mask_test_v2"))
        };
        for d in [&train_dir, &test_dir] {
            if !d.is_dir() {
                problems.push(DataError::MissingFolder {
                    path: d.clone(),
                    expected: "the MSMT17 image folder (train/ and test/ for V1, mask_train_v2/ and \
                               mask_test_v2/ for V2)"
                        .into(),
                    fix: "extract the image folders next to the list files".into(),
                });
            }
        }
        let mut read = |list: &str, images: &Path| read_list(&dir.join(list), images, &mut problems);
        let mut train = read("list_train.txt", &train_dir);
        if self.include_val {
            train.extend(read("list_val.txt", &train_dir));
            notes.push("train = list_train.txt + list_val.txt (DAAO; torchreid with combineall)".into());
        } else {
            notes.push("train = list_train.txt only (torchreid default)".into());
        }
        let query = read("list_query.txt", &test_dir);
        let gallery = read("list_gallery.txt", &test_dir);
        let split = Split {
            train,
            query,
            gallery,
            notes,
        };
        Ok(common::finish(split, problems, dir))
    }
    /// torchreid docstring (train includes val: 30,248 + 2,373); without val the train image count is
    /// left open.
    fn canonical(&self) -> Option<CanonicalCounts> {
        Some(CanonicalCounts {
            train: ExpectedCounts {
                images: self.include_val.then_some(32_621),
                ..ExpectedCounts::new(0, 1_041, 15)
            },
            query: ExpectedCounts::new(11_659, 3_060, 15),
            gallery: ExpectedCounts::new(82_161, 3_060, 15),
            source: "torchreid MSMT17 (spec §5)".into(),
            verified: true,
        })
    }
}

const LINE: &str = "'<relative/path.jpg> <pid>' (e.g. 0000/0000_000_01_0303morning_0015_0.jpg 0)";

fn read_list(list: &Path, images: &Path, problems: &mut Vec<DataError>) -> Vec<Sample> {
    let text = match std::fs::read_to_string(list) {
        Ok(t) => t,
        Err(e) => {
            problems.push(DataError::io(list, e));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    let mut entries = 0usize;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        entries += 1;
        let bad = |expected: &str| DataError::BadLine {
            path: list.to_path_buf(),
            line: line_no,
            found: trimmed.to_string(),
            expected: expected.to_string(),
        };
        let fields: Vec<&str> = trimmed.split_whitespace().collect();
        let (rel, pid) = match fields.as_slice() {
            [rel, pid] => match parse_int(pid) {
                Some(pid) => (*rel, pid),
                None => {
                    problems.push(bad(LINE));
                    continue;
                }
            },
            _ => {
                problems.push(bad(LINE));
                continue;
            }
        };
        let path: PathBuf = images.join(rel);
        let cam = file_name(&path).split('_').nth(2).and_then(parse_int);
        let Some(cam) = cam else {
            problems.push(bad(
                "an image name '<pid>_<n>_<camera>_...' (e.g. 0000_000_01_0303morning_0015_0.jpg)",
            ));
            continue;
        };
        if !(1..=MAX_CAMERA).contains(&cam) {
            problems.push(DataError::OutOfRange {
                path,
                what: "camera".into(),
                value: cam,
                expected: format!("1..={MAX_CAMERA}"),
            });
            continue;
        }
        if images.is_dir() && !path.is_file() {
            problems.push(DataError::MissingFile {
                path,
                list: list.to_path_buf(),
                line: line_no,
            });
            continue;
        }
        out.push(Sample {
            path,
            pid,
            camid: cam - 1,
        });
    }
    if entries == 0 {
        problems.push(DataError::EmptyList {
            path: list.to_path_buf(),
            expected: LINE.into(),
        });
    }
    out
}
