//! Your own data. Under `--root`, each split (`train` optional, `query` and `gallery` required) is either
//!
//! * a folder `<split>/<identity>/<image>`: one folder per identity (integer names are used as pids;
//!   otherwise identities are numbered in sorted name order), with an optional camera `_c<N>` (N ≥ 1,
//!   stored as N − 1) in the file names, e.g. `query/0042/img_c2_0001.jpg`; or
//! * a CSV `<split>.csv` with the header `path,pid,camid` (or `path,pid`): paths relative to the CSV's
//!   folder, integer pids, 0-based integer camids (a blank camid means "none"). A CSV wins over a folder
//!   of the same name.
//!
//! Camera ids must be given for all query and gallery images or for none; without them the query gets
//! camid 0 and the gallery camid 1, as the occluded benchmarks do (spec §4.5), and the notes say so.
//! Train images without a camera get camid 0.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::common::{self, file_name, parse_int};
use super::{CanonicalCounts, DataError, DatasetReader, Sample, Scan, Split};

const HEADER: &str = "the header 'path,pid,camid' (or 'path,pid')";
const ROW: &str = "'<path>,<integer pid>,<integer camid or blank>'";

#[derive(Debug, Clone, Copy, Default)]
pub struct Custom;

/// A sample whose camera may be unknown, and the label its identity came from.
struct Raw {
    path: PathBuf,
    label: Label,
    camid: Option<i64>,
}

enum Label {
    Pid(i64),
    Folder(String),
}

impl DatasetReader for Custom {
    fn name(&self) -> &str {
        "custom"
    }
    fn scan(&self, root: &Path) -> Result<Scan, DataError> {
        let dir = find_root(root)?;
        let mut problems = Vec::new();
        let mut notes = vec![format!("dataset folder: {}", dir.display())];
        let mut read_side = |split: &str, notes: &mut Vec<String>| {
            let csv = dir.join(format!("{split}.csv"));
            if csv.is_file() {
                notes.push(format!("{split}: read from {}", csv.display()));
                read_csv(&csv, &mut problems)
            } else {
                read_folders(&dir.join(split), split, &mut problems)
            }
        };
        let train = if dir.join("train").is_dir() || dir.join("train.csv").is_file() {
            read_side("train", &mut notes)
        } else {
            notes.push("no train/ or train.csv: train is empty".into());
            Vec::new()
        };
        let query = read_side("query", &mut notes);
        let gallery = read_side("gallery", &mut notes);

        let mut split = Split::default();
        let train_pids = resolve_pids(&train, "train", &dir, &mut notes, &mut problems);
        let missing_cam = train.iter().filter(|r| r.camid.is_none()).count();
        if missing_cam > 0 {
            notes.push(format!("train: {missing_cam} images without a camera id got camid 0"));
        }
        split.train = train
            .into_iter()
            .zip(train_pids)
            .map(|(r, pid)| Sample {
                path: r.path,
                pid,
                camid: r.camid.unwrap_or(0),
            })
            .collect();

        let nq = query.len();
        let mut test = query;
        test.extend(gallery);
        let test_pids = resolve_pids(&test, "query/gallery", &dir, &mut notes, &mut problems);
        let with_cam = test.iter().filter(|r| r.camid.is_some()).count();
        if with_cam == 0 && !test.is_empty() {
            notes.push(
                "no camera ids for query/gallery: query camid 0, gallery camid 1, so the same-camera filter \
                 removes nothing (spec §4.5)"
                    .into(),
            );
        } else if let Some(r) = test.iter().find(|r| r.camid.is_none()) {
            problems.push(DataError::Inconsistent {
                path: r.path.clone(),
                message: format!("no camera id, but {with_cam} other query/gallery images have one"),
                fix: "give every query and gallery image a camera (_c<N> in the name or the camid column), \
                      or none"
                    .into(),
            });
        }
        for (i, (r, pid)) in test.into_iter().zip(test_pids).enumerate() {
            let is_query = i < nq;
            let sample = Sample {
                path: r.path,
                pid,
                camid: r.camid.unwrap_or(if is_query { 0 } else { 1 }),
            };
            if is_query {
                split.query.push(sample);
            } else {
                split.gallery.push(sample);
            }
        }
        split.notes = notes;
        Ok(common::finish(split, problems, dir))
    }
    fn canonical(&self) -> Option<CanonicalCounts> {
        None
    }
}

fn find_root(root: &Path) -> Result<PathBuf, DataError> {
    if !root.is_dir() {
        return Err(DataError::MissingFolder {
            path: root.to_path_buf(),
            expected: "the custom dataset root folder".into(),
            fix: "pass --root pointing at an existing folder".into(),
        });
    }
    let has = |split: &str| root.join(split).is_dir() || root.join(format!("{split}.csv")).is_file();
    if has("query") || has("gallery") {
        return Ok(root.to_path_buf());
    }
    Err(DataError::NoLayout {
        root: root.to_path_buf(),
        dataset: "custom".into(),
        expected: "query/ and gallery/ (one folder per identity) or query.csv and gallery.csv".into(),
        tried: root.display().to_string(),
    })
}

/// Integer labels as they are; otherwise every identity numbered in sorted label order.
fn resolve_pids(
    raws: &[Raw],
    what: &str,
    dir: &Path,
    notes: &mut Vec<String>,
    problems: &mut Vec<DataError>,
) -> Vec<i64> {
    let ints: Vec<i64> = raws
        .iter()
        .filter_map(|r| match &r.label {
            Label::Pid(p) => Some(*p),
            Label::Folder(n) => parse_int(n),
        })
        .collect();
    if ints.len() == raws.len() {
        return ints;
    }
    if raws.iter().any(|r| matches!(r.label, Label::Pid(_))) {
        problems.push(DataError::Inconsistent {
            path: dir.to_path_buf(),
            message: format!(
                "{what}: integer pids from a CSV cannot be matched with non-integer identity folder names"
            ),
            fix: "use integer identity folder names, or CSVs for every split".into(),
        });
    }
    let key = |l: &Label| match l {
        Label::Pid(p) => p.to_string(),
        Label::Folder(n) => n.clone(),
    };
    let index: BTreeMap<String, i64> = raws
        .iter()
        .map(|r| key(&r.label))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .zip(0..)
        .collect();
    notes.push(format!(
        "{what}: identity folder names are not all integers; {} identities numbered 0.. in sorted name order",
        index.len()
    ));
    raws.iter().map(|r| index[&key(&r.label)]).collect()
}

/// The camera `_c<N>` (first occurrence followed by digits), as N − 1; `Err` for `_c0`.
fn camera_in_name(name: &str) -> Result<Option<i64>, i64> {
    let mut rest = name;
    while let Some(i) = rest.find("_c") {
        let after = &rest[i + 2..];
        let end = after.bytes().position(|b| !b.is_ascii_digit()).unwrap_or(after.len());
        if end > 0 {
            let n: i64 = after[..end].parse().map_err(|_| -1)?;
            return if n >= 1 { Ok(Some(n - 1)) } else { Err(n) };
        }
        rest = after;
    }
    Ok(None)
}

fn read_folders(dir: &Path, split: &str, problems: &mut Vec<DataError>) -> Vec<Raw> {
    let expected = format!("{split}/<identity>/<image> (one folder per identity) or {split}.csv");
    let mut out = Vec::new();
    for (path, folder) in common::list_images(dir, true, &expected, problems) {
        let Some(folder) = folder else {
            problems.push(DataError::BadName {
                path,
                expected: format!("images inside one folder per identity: {split}/<identity>/<image>"),
            });
            continue;
        };
        let camid = match camera_in_name(file_name(&path)) {
            Ok(c) => c,
            Err(n) => {
                problems.push(DataError::OutOfRange {
                    path,
                    what: "camera".into(),
                    value: n,
                    expected: "_c<N> with N >= 1 (1-based, as Market-1501)".into(),
                });
                continue;
            }
        };
        out.push(Raw {
            path,
            label: Label::Folder(folder),
            camid,
        });
    }
    out
}

/// Splits one CSV line on commas outside double quotes (`""` inside quotes is a quote).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields.iter().map(|f| f.trim().to_string()).collect()
}

fn read_csv(csv: &Path, problems: &mut Vec<DataError>) -> Vec<Raw> {
    let text = match std::fs::read_to_string(csv) {
        Ok(t) => t,
        Err(e) => {
            problems.push(DataError::io(csv, e));
            return Vec::new();
        }
    };
    let base = csv.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    let mut rows = 0usize;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = line.trim_start_matches('\u{feff}').trim();
        if line.is_empty() {
            continue;
        }
        let f = csv_fields(line);
        let bad = |expected: &str| DataError::BadLine {
            path: csv.to_path_buf(),
            line: line_no,
            found: line.to_string(),
            expected: expected.to_string(),
        };
        let lower: Vec<String> = f.iter().map(|x| x.to_ascii_lowercase()).collect();
        if rows == 0 && out.is_empty() && (lower == ["path", "pid"] || lower == ["path", "pid", "camid"]) {
            continue;
        }
        rows += 1;
        let first_row_header_like = rows == 1 && f.get(1).is_some_and(|p| parse_int(p).is_none());
        if first_row_header_like {
            problems.push(bad(HEADER));
            return Vec::new();
        }
        if f.len() < 2 || f.len() > 3 || f[0].is_empty() {
            problems.push(bad(ROW));
            continue;
        }
        let Some(pid) = parse_int(&f[1]) else {
            problems.push(bad(ROW));
            continue;
        };
        let camid = match f.get(2).map(|c| c.as_str()) {
            None | Some("") => None,
            Some(c) => match parse_int(c) {
                Some(c) if c >= 0 => Some(c),
                _ => {
                    problems.push(bad(ROW));
                    continue;
                }
            },
        };
        let path = base.join(&f[0]);
        if !path.is_file() {
            problems.push(DataError::MissingFile {
                path,
                list: csv.to_path_buf(),
                line: line_no,
            });
            continue;
        }
        out.push(Raw {
            path,
            label: Label::Pid(pid),
            camid,
        });
    }
    if rows == 0 {
        problems.push(DataError::EmptyList {
            path: csv.to_path_buf(),
            expected: format!("{HEADER} followed by rows {ROW}"),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_handle_quotes() {
        assert_eq!(csv_fields("a,1,2"), ["a", "1", "2"]);
        assert_eq!(csv_fields("\"x, y.jpg\",3,"), ["x, y.jpg", "3", ""]);
        assert_eq!(csv_fields("\"say \"\"hi\"\".jpg\",1"), ["say \"hi\".jpg", "1"]);
    }

    #[test]
    fn camera_in_name_is_one_based() {
        assert_eq!(camera_in_name("img_c2_0001.jpg"), Ok(Some(1)));
        assert_eq!(camera_in_name("img_cat_c11.jpg"), Ok(Some(10)));
        assert_eq!(camera_in_name("img_cat.jpg"), Ok(None));
        assert_eq!(camera_in_name("img_c0.jpg"), Err(0));
    }
}
