//! Market-1501, DukeMTMC-reID and Occluded-Duke readers on tiny trees.
mod datasets_support;

use datasets_support::{images, snapshot, triples};
use occreid_data::datasets::{reader, DataError, ReaderOptions};
use std::path::Path;

fn market_tree(dir: &Path) {
    images(
        dir,
        &[
            "bounding_box_train/0002_c1s1_000451_03.jpg",
            "bounding_box_train/0002_c2s1_000301_01.jpg",
            "bounding_box_train/0007_c6s1_001201_01.jpg",
            "bounding_box_train/1500_c3s3_000001_00.jpg",
            "query/0003_c1s1_000100_00.jpg",
            "query/0005_c4s2_000100_00.jpg",
            "bounding_box_test/0003_c2s1_000200_01.jpg",
            "bounding_box_test/0005_c5s1_000300_02.jpg",
            "bounding_box_test/0000_c1s1_000400_03.jpg",
            "bounding_box_test/-1_c3s1_000500_01.jpg",
            "bounding_box_test/-1_c1s1_000600_02.jpg",
        ],
    );
    // Not images: ignored.
    datasets_support::write_text(&dir.join("bounding_box_test/Thumbs.db"), "x");
}

fn read(name: &str, root: &Path) -> Result<occreid_data::datasets::Split, DataError> {
    reader(name, &ReaderOptions::default()).unwrap().read(root)
}

#[test]
fn market_parses_drops_junk_keeps_distractors_and_relabels_train() {
    let tmp = tempfile::tempdir().unwrap();
    market_tree(tmp.path());
    let split = read("market1501", tmp.path()).unwrap();
    let t = |n: &str, p, c| (n.to_string(), p, c);
    assert_eq!(
        triples(&split.train),
        vec![
            t("0002_c1s1_000451_03.jpg", 0, 0),
            t("0002_c2s1_000301_01.jpg", 0, 1),
            t("0007_c6s1_001201_01.jpg", 1, 5),
            t("1500_c3s3_000001_00.jpg", 2, 2),
        ]
    );
    assert_eq!(
        triples(&split.query),
        vec![t("0003_c1s1_000100_00.jpg", 3, 0), t("0005_c4s2_000100_00.jpg", 5, 3)]
    );
    // Sorted by path: "0000" < "0003" < "0005"; the two pid -1 images are gone, pid 0 stays.
    assert_eq!(
        triples(&split.gallery),
        vec![
            t("0000_c1s1_000400_03.jpg", 0, 0),
            t("0003_c2s1_000200_01.jpg", 3, 1),
            t("0005_c5s1_000300_02.jpg", 5, 4),
        ]
    );
    assert!(
        split.notes.iter().any(|n| n.contains("dropped 2 junk")),
        "{:?}",
        split.notes
    );
    assert_eq!(split.num_train_pids(), 3);
}

#[test]
fn market_accepts_torchreid_bot_and_direct_roots() {
    for rel in [
        "market1501/Market-1501-v15.09.15",
        "market1501",
        "Market-1501-v15.09.15",
        "",
    ] {
        let tmp = tempfile::tempdir().unwrap();
        market_tree(&tmp.path().join(rel));
        let split = read("market1501", tmp.path()).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(
            (split.train.len(), split.query.len(), split.gallery.len()),
            (4, 2, 3),
            "{rel}"
        );
        assert!(split.train[0].path.starts_with(tmp.path().join(rel)));
    }
}

#[test]
fn reading_writes_nothing_into_the_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    market_tree(tmp.path());
    let before = snapshot(tmp.path());
    read("market1501", tmp.path()).unwrap();
    occreid_data::check::check("market1501", tmp.path(), &Default::default());
    assert_eq!(before, snapshot(tmp.path()));
}

#[test]
fn missing_split_folder_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    market_tree(tmp.path());
    std::fs::remove_dir_all(tmp.path().join("query")).unwrap();
    let err = read("market1501", tmp.path()).unwrap_err();
    assert!(matches!(err, DataError::MissingFolder { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&tmp.path().join("query").display().to_string()), "{msg}");
    assert!(msg.contains("Fix:"), "{msg}");
}

#[test]
fn missing_root_and_unrecognised_layout_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let nowhere = tmp.path().join("nowhere");
    let msg = read("market1501", &nowhere).unwrap_err().to_string();
    assert!(msg.contains(&nowhere.display().to_string()), "{msg}");

    images(tmp.path(), &["somewhere/else.jpg"]);
    let err = read("market1501", tmp.path()).unwrap_err();
    assert!(matches!(err, DataError::NoLayout { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("bounding_box_train") && msg.contains("market1501/Market-1501-v15.09.15"),
        "{msg}"
    );
}

#[test]
fn bad_names_and_ranges_are_errors_naming_the_file() {
    let cases = [
        ("query/0003_x1s1_000100_00.jpg", "cannot parse"),
        ("query/abc_c1s1.jpg", "cannot parse"),
        ("query/0-3_c1s1_000100_00.jpg", "cannot parse"),
        ("query/0003_c7s1_000100_00.jpg", "camera 7 is out of range"),
        ("query/0003_c0s1_000100_00.jpg", "camera 0 is out of range"),
        ("query/1502_c1s1_000100_00.jpg", "person id 1502 is out of range"),
        ("query/-2_c1s1_000100_00.jpg", "person id -2 is out of range"),
    ];
    for (bad, what) in cases {
        let tmp = tempfile::tempdir().unwrap();
        market_tree(tmp.path());
        images(tmp.path(), &[bad]);
        let msg = read("market1501", tmp.path()).unwrap_err().to_string();
        assert!(
            msg.contains(&tmp.path().join(bad).display().to_string()),
            "{bad}: {msg}"
        );
        assert!(msg.contains(what), "{bad}: {msg}");
    }
}

#[test]
fn several_problems_are_counted_and_all_listed_by_scan() {
    let tmp = tempfile::tempdir().unwrap();
    market_tree(tmp.path());
    images(
        tmp.path(),
        &["query/bad1.jpg", "query/bad2.jpg", "bounding_box_train/bad3.jpg"],
    );
    let r = reader("market1501", &ReaderOptions::default()).unwrap();
    let scan = r.scan(tmp.path()).unwrap();
    assert_eq!(scan.problems.len(), 3);
    assert_eq!(scan.split.query.len(), 2, "good files are still read");
    let msg = r.read(tmp.path()).unwrap_err().to_string();
    assert!(msg.contains("and 2 more problems"), "{msg}");
    assert!(
        msg.contains("bad3.jpg"),
        "first problem in scan order (train first): {msg}"
    );
}

#[test]
fn empty_split_folder_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    market_tree(tmp.path());
    for f in std::fs::read_dir(tmp.path().join("query")).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    let msg = read("market1501", tmp.path()).unwrap_err().to_string();
    assert!(msg.contains("no images found") && msg.contains("query"), "{msg}");
}

#[test]
fn duke_allows_eight_cameras_and_keeps_every_pid() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("dukemtmc-reid/DukeMTMC-reID");
    images(
        &d,
        &[
            "bounding_box_train/0005_c2_f0046985.jpg",
            "bounding_box_train/0001_c8_f0000001.jpg",
            "query/0005_c8_f0050000.jpg",
            "bounding_box_test/0005_c1_f0040000.jpg",
            "bounding_box_test/7140_c3_f0000001.jpg",
        ],
    );
    let split = read("dukemtmcreid", tmp.path()).unwrap();
    let t = |n: &str, p, c| (n.to_string(), p, c);
    assert_eq!(
        triples(&split.train),
        vec![t("0001_c8_f0000001.jpg", 0, 7), t("0005_c2_f0046985.jpg", 1, 1)]
    );
    assert_eq!(triples(&split.query), vec![t("0005_c8_f0050000.jpg", 5, 7)]);
    assert_eq!(split.gallery.iter().map(|s| s.pid).collect::<Vec<_>>(), vec![5, 7140]);

    images(&d, &["query/0005_c9_f0050000.jpg"]);
    let msg = read("dukemtmcreid", tmp.path()).unwrap_err().to_string();
    assert!(
        msg.contains("0005_c9_f0050000.jpg") && msg.contains("camera 9"),
        "{msg}"
    );
}

#[test]
fn occluded_duke_reads_the_igoas_root() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("occluded-duke/Occluded_Duke");
    images(
        &d,
        &[
            "bounding_box_train/0010_c1_f0000001.jpg",
            "query/0020_c2_f0000002.jpg",
            "bounding_box_test/0020_c5_f0000003.jpg",
        ],
    );
    let split = read("occluded_duke", tmp.path()).unwrap();
    assert_eq!(split.train[0].pid, 0);
    assert_eq!((split.query[0].pid, split.query[0].camid), (20, 1));
    assert_eq!((split.gallery[0].pid, split.gallery[0].camid), (20, 4));
    assert!(split.notes[0].contains("Occluded_Duke"));
    // Also found from the folder itself.
    assert_eq!(read("occluded_duke", &d).unwrap().gallery.len(), 1);
}
