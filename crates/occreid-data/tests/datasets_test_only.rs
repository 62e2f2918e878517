//! Occluded-REID, Partial-REID, Partial-iLIDS (test-only, synthetic camera ids) and P-DukeMTMC-reID.
mod datasets_support;

use datasets_support::{images, triples};
use occreid_data::datasets::{reader, DataError, PartialReidQuery, ReaderOptions, Split};
use std::path::Path;

fn read(name: &str, root: &Path) -> Result<Split, DataError> {
    reader(name, &ReaderOptions::default()).unwrap().read(root)
}

fn t(n: &str, p: i64, c: i64) -> (String, i64, i64) {
    (n.to_string(), p, c)
}

#[test]
fn occluded_reid_per_identity_folders_of_tif() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("Occluded_REID");
    images(
        &d,
        &[
            "occluded_body_images/001/001_01.tif",
            "occluded_body_images/001/001_02.tif",
            "occluded_body_images/002/002_01.tif",
            "whole_body_images/001/001_01.tif",
            "whole_body_images/002/002_01.tif",
        ],
    );
    let split = read("occluded_reid", tmp.path()).unwrap();
    assert!(split.train.is_empty());
    assert_eq!(
        triples(&split.query),
        vec![t("001_01.tif", 1, 0), t("001_02.tif", 1, 0), t("002_01.tif", 2, 0)]
    );
    assert_eq!(
        triples(&split.gallery),
        vec![t("001_01.tif", 1, 1), t("002_01.tif", 2, 1)]
    );
    assert!(split.notes.iter().any(|n| n.contains("query camid 0, gallery camid 1")));
    assert!(split.notes.iter().any(|n| n.contains("test-only")));
}

#[test]
fn occluded_reid_flat_layout_and_igoas_root() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("occluded-reid/Occluded_REID");
    images(
        &d,
        &[
            "occluded_body_images/005_03.tif",
            "whole_body_images/005_01.tif",
            "whole_body_images/006_01.jpg",
        ],
    );
    let split = read("occluded_reid", tmp.path()).unwrap();
    assert_eq!(triples(&split.query), vec![t("005_03.tif", 5, 0)]);
    assert_eq!(
        triples(&split.gallery),
        vec![t("005_01.tif", 5, 1), t("006_01.jpg", 6, 1)]
    );
}

#[test]
fn occluded_reid_folder_and_name_disagreeing_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    images(
        tmp.path(),
        &[
            "occluded_body_images/001/002_01.tif",
            "whole_body_images/001/001_01.tif",
        ],
    );
    let msg = read("occluded_reid", tmp.path()).unwrap_err().to_string();
    assert!(
        msg.contains("002_01.tif") && msg.contains("identity 2") && msg.contains("folder says 1"),
        "{msg}"
    );
}

#[test]
fn occluded_reid_pid_from_folder_when_name_has_none_and_bad_flat_name() {
    let tmp = tempfile::tempdir().unwrap();
    images(
        tmp.path(),
        &["occluded_body_images/017/img_a.tif", "whole_body_images/017/x.tif"],
    );
    let split = read("occluded_reid", tmp.path()).unwrap();
    assert_eq!(split.query[0].pid, 17);

    images(tmp.path(), &["whole_body_images/img_b.tif"]);
    let err = read("occluded_reid", tmp.path()).unwrap_err();
    assert!(matches!(err, DataError::BadName { .. }), "{err:?}");
    assert!(err
        .to_string()
        .contains(&tmp.path().join("whole_body_images/img_b.tif").display().to_string()));
}

#[test]
fn occluded_reid_missing_gallery_folder() {
    let tmp = tempfile::tempdir().unwrap();
    images(tmp.path(), &["Occluded_REID/occluded_body_images/001_01.tif"]);
    let msg = read("occluded_reid", tmp.path()).unwrap_err().to_string();
    let expected = tmp.path().join("Occluded_REID/whole_body_images");
    assert!(
        msg.contains(&expected.display().to_string()) && msg.contains("folder not found"),
        "{msg}"
    );
}

fn partial_reid_tree(root: &Path) {
    images(
        &root.join("Partial-REID_Dataset"),
        &[
            "partial_body_images/001_01.jpg",
            "occluded_body_images/001_01.jpg",
            "occluded_body_images/002_01.jpg",
            "whole_body_images/001_01.jpg",
            "whole_body_images/002_01.jpg",
        ],
    );
}

#[test]
fn partial_reid_query_folder_is_selectable() {
    let tmp = tempfile::tempdir().unwrap();
    partial_reid_tree(tmp.path());
    let default = read("partial_reid", tmp.path()).unwrap();
    assert_eq!(default.query.len(), 2);
    assert!(default
        .query
        .iter()
        .all(|s| s.path.to_string_lossy().contains("occluded_body_images")));
    assert!(default.notes.iter().any(|n| n.contains("query = occluded_body_images")));

    let opts = ReaderOptions {
        partial_reid_query: PartialReidQuery::PartialBodyImages,
        ..ReaderOptions::default()
    };
    let partial = reader("partial_reid", &opts).unwrap().read(tmp.path()).unwrap();
    assert_eq!(triples(&partial.query), vec![t("001_01.jpg", 1, 0)]);
    assert!(partial.query[0].path.to_string_lossy().contains("partial_body_images"));
    assert!(partial.notes.iter().any(|n| n.contains("query = partial_body_images")));
    assert_eq!(
        triples(&partial.gallery),
        vec![t("001_01.jpg", 1, 1), t("002_01.jpg", 2, 1)]
    );
}

#[test]
fn partial_ilids_leading_integer() {
    let tmp = tempfile::tempdir().unwrap();
    images(
        &tmp.path().join("Partial_iLIDS"),
        &["Probe/001.jpg", "Probe/119.jpg", "Gallery/001.jpg", "Gallery/119.jpg"],
    );
    let split = read("partial_ilids", tmp.path()).unwrap();
    assert_eq!(triples(&split.query), vec![t("001.jpg", 1, 0), t("119.jpg", 119, 0)]);
    assert_eq!(triples(&split.gallery), vec![t("001.jpg", 1, 1), t("119.jpg", 119, 1)]);

    images(&tmp.path().join("Partial_iLIDS"), &["Gallery/probe_x.jpg"]);
    let msg = read("partial_ilids", tmp.path()).unwrap_err().to_string();
    assert!(msg.contains("probe_x.jpg") && msg.contains("leading integer"), "{msg}");
}

#[test]
fn cross_dataset_protocol_takes_market_train() {
    let tmp = tempfile::tempdir().unwrap();
    images(
        &tmp.path().join("market1501"),
        &[
            "bounding_box_train/0002_c1s1_000451_03.jpg",
            "query/0003_c1s1_000100_00.jpg",
            "bounding_box_test/0003_c2s1_000200_01.jpg",
        ],
    );
    images(&tmp.path().join("Partial_iLIDS"), &["Probe/001.jpg", "Gallery/001.jpg"]);
    let market = read("market1501", tmp.path()).unwrap();
    let split = read("partial_ilids", tmp.path()).unwrap().with_train_from(market);
    assert_eq!(triples(&split.train), vec![t("0002_c1s1_000451_03.jpg", 0, 0)]);
    assert_eq!(triples(&split.query), vec![t("001.jpg", 1, 0)]);
    assert!(split.notes[0].starts_with("train: "));
}

#[test]
fn p_duke_train_whole_and_occluded_test_query_occluded() {
    let tmp = tempfile::tempdir().unwrap();
    images(
        &tmp.path().join("P-DukeMTMC-reid"),
        &[
            "train/whole_body_images/0010/0010_c1_f0000001.jpg",
            "train/occluded_body_images/0010/0010_c2_f0000002.jpg",
            "train/whole_body_images/0004/0004_c1_f0000003.jpg",
            "test/occluded_body_images/0100/0100_c1_f0000004.jpg",
            "test/whole_body_images/0100/0100_c3_f0000005.jpg",
            "test/whole_body_images/0101/0101_c3_f0000006.jpg",
        ],
    );
    let split = read("p_dukemtmc_reid", tmp.path()).unwrap();
    // Sorted by path: occluded_body_images < whole_body_images; relabelled 4 -> 0, 10 -> 1.
    assert_eq!(
        triples(&split.train),
        vec![
            t("0010_c2_f0000002.jpg", 1, 0),
            t("0004_c1_f0000003.jpg", 0, 1),
            t("0010_c1_f0000001.jpg", 1, 1),
        ]
    );
    assert_eq!(triples(&split.query), vec![t("0100_c1_f0000004.jpg", 100, 0)]);
    assert_eq!(
        triples(&split.gallery),
        vec![t("0100_c3_f0000005.jpg", 100, 1), t("0101_c3_f0000006.jpg", 101, 1)]
    );
}

#[test]
fn p_duke_missing_test_subfolder_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    images(
        tmp.path(),
        &[
            "train/whole_body_images/0010/0010_c1_f0000001.jpg",
            "train/occluded_body_images/0010/0010_c2_f0000002.jpg",
            "test/whole_body_images/0100/0100_c3_f0000005.jpg",
        ],
    );
    let msg = read("p_dukemtmc_reid", tmp.path()).unwrap_err().to_string();
    let missing = tmp.path().join("test/occluded_body_images");
    assert!(msg.contains(&missing.display().to_string()), "{msg}");
}
