//! Property test: every dataset reader, on a tree of random file names, random list files (MSMT17
//! `list_*.txt`, Partial-REID `Probe.txt` / `Gallery.txt`) and random custom CSVs, returns a split or
//! errors naming a path, never a panic; a scan without problems lists only images that exist. A fixed number of
//! cases keeps CI time bounded.
use std::path::Path;

use occreid_data::datasets::DATASET_NAMES;
use occreid_data::{reader, ReaderOptions};
use proptest::collection::vec;
use proptest::prelude::*;

/// Every folder some reader looks for at the dataset root.
const FOLDERS: [&str; 16] = [
    "bounding_box_train",
    "bounding_box_test",
    "query",
    "train",
    "test",
    "gallery",
    "mask_train_v2",
    "mask_test_v2",
    "occluded_body_images",
    "whole_body_images",
    "partial_body_images",
    "Probe",
    "Gallery",
    "campus",
    "whole",
    "occluded",
];
const LISTS: [&str; 9] = [
    "list_train.txt",
    "list_val.txt",
    "list_query.txt",
    "list_gallery.txt",
    "Probe.txt",
    "Gallery.txt",
    "train.csv",
    "query.csv",
    "gallery.csv",
];

/// File names close to the real patterns (`0002_c1s1_000451_03.jpg`, `0001001.png`, `001_01.jpg`) and
/// random ones, with and without an image extension.
fn file_name() -> impl Strategy<Value = String> {
    let stem = prop_oneof![
        "-?[0-9]{1,5}_c[0-9]{1,2}s[0-9]_[0-9]{1,6}_[0-9]{2}",
        "[0-9]{1,8}",
        "[0-9]{1,4}_[0-9a-z]{0,6}",
        "[-_.0-9a-zA-Zé ]{1,20}",
    ];
    let ext = prop_oneof![
        Just(".jpg"),
        Just(".png"),
        Just(".jpeg"),
        Just(".JPG"),
        Just(""),
        Just(".txt")
    ];
    (stem, ext)
        .prop_map(|(s, e)| format!("{s}{e}"))
        .prop_filter("a plain file name", |n| !n.contains('/') && n != "." && n != "..")
}

/// A list or CSV line: a relative path with numbers, a CSV row, quotes, or junk.
fn list_line() -> impl Strategy<Value = String> {
    prop_oneof![
        (file_name(), "-?[0-9]{1,12}").prop_map(|(f, n)| format!("{f} {n}")),
        (file_name(), file_name(), "-?[0-9]{1,4}").prop_map(|(d, f, n)| format!("{d}/{f} {n}")),
        (file_name(), "[0-9a-z]{0,6}", "-?[0-9]{0,3}").prop_map(|(f, id, c)| format!("query/{f},{id},{c}")),
        "\"[ -~]{0,20}\"?,[ -~]{0,20}",
        "[ -~]{0,40}",
    ]
}

#[derive(Debug, Clone)]
struct Tree {
    /// (folder index, optional sub-folder, file name)
    files: Vec<(usize, Option<String>, String)>,
    lists: Vec<(usize, Vec<String>)>,
}

fn tree() -> impl Strategy<Value = Tree> {
    let file = (0..FOLDERS.len(), proptest::option::of("[0-9a-zA-Z_]{1,8}"), file_name());
    let list = (0..LISTS.len(), vec(list_line(), 0..6));
    (vec(file, 0..40), vec(list, 0..5)).prop_map(|(files, lists)| Tree { files, lists })
}

fn write(root: &Path, t: &Tree) {
    for (folder, sub, name) in &t.files {
        let mut dir = root.join(FOLDERS[*folder]);
        if let Some(sub) = sub {
            dir = dir.join(sub);
        }
        // A random file name can equal a random sub-folder's in the same folder: keep whichever came first.
        if dir.is_file() || dir.join(name).is_dir() {
            continue;
        }
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), b"").unwrap();
    }
    for (list, lines) in &t.lists {
        std::fs::write(root.join(LISTS[*list]), lines.join("\n")).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_reader_survives_random_trees(t in tree()) {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &t);
        for name in DATASET_NAMES {
            let r = reader(name, &ReaderOptions::default()).unwrap();
            match r.scan(dir.path()) {
                // A clean scan lists only images that exist; otherwise its problems say what is wrong.
                Ok(scan) if scan.problems.is_empty() => {
                    for s in scan.split.train.iter().chain(&scan.split.query).chain(&scan.split.gallery) {
                        prop_assert!(s.path.is_file(), "{name}: {} listed but absent", s.path.display());
                    }
                }
                Ok(scan) => prop_assert!(scan.into_result().is_err_and(|e| !e.to_string().is_empty())),
                Err(e) => prop_assert!(!e.to_string().is_empty(), "{name}"),
            }
        }
    }
}
