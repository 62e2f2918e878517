//! Layout variants: Partial-REID's Probe.txt / Gallery.txt lists, the pre-split Occluded-REID
//! (train / query / test folders) and P-DukeMTMC-reID whole-body-only training.
mod datasets_support;

use datasets_support::{images, triples, write_text};
use occreid_data::check::{check, CheckOptions, Severity};
use occreid_data::datasets::{reader, DataError, PartialReidQuery, ReaderOptions, Split};
use std::path::Path;

fn read_with(name: &str, root: &Path, opts: &ReaderOptions) -> Result<Split, DataError> {
    reader(name, opts).unwrap().read(root)
}

fn read(name: &str, root: &Path) -> Result<Split, DataError> {
    read_with(name, root, &ReaderOptions::default())
}

fn t(n: &str, p: i64, c: i64) -> (String, i64, i64) {
    (n.to_string(), p, c)
}

/// Three folders of two identities; the lists are written by each test.
fn partial_reid_tree(root: &Path) -> std::path::PathBuf {
    let d = root.join("Partial-REID_Dataset");
    images(
        &d,
        &[
            "partial_body_images/001_01.jpg",
            "partial_body_images/002_01.jpg",
            "occluded_body_images/001_01.jpg",
            "occluded_body_images/001_02.jpg",
            "occluded_body_images/002_01.jpg",
            "whole_body_images/001_01.jpg",
            "whole_body_images/002_01.jpg",
            "whole_body_images/002_02.jpg",
        ],
    );
    d
}

#[test]
fn partial_reid_lists_define_membership_when_they_name_the_configured_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let d = partial_reid_tree(tmp.path());
    // CRLF line ends and a trailing blank line, as files made on Windows have.
    write_text(
        &d.join("Probe.txt"),
        "occluded_body_images/002_01.jpg\r\noccluded_body_images/001_02.jpg\r\n\r\n",
    );
    write_text(
        &d.join("Gallery.txt"),
        "whole_body_images/001_01.jpg\nwhole_body_images/002_02.jpg\n",
    );
    let split = read("partial_reid", tmp.path()).unwrap();
    assert_eq!(
        triples(&split.query),
        vec![t("001_02.jpg", 1, 0), t("002_01.jpg", 2, 0)]
    );
    assert_eq!(
        triples(&split.gallery),
        vec![t("001_01.jpg", 1, 1), t("002_02.jpg", 2, 1)]
    );
    assert!(split.query[0].path.starts_with(d.join("occluded_body_images")));
    let note = split.notes.iter().find(|n| n.starts_with("query = ")).unwrap();
    assert_eq!(
        note,
        "query = occluded_body_images (listed in Probe.txt), gallery = whole_body_images (listed in Gallery.txt)"
    );
}

#[test]
fn partial_reid_probe_list_of_another_folder_does_not_change_the_query_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let d = partial_reid_tree(tmp.path());
    write_text(&d.join("Probe.txt"), "partial_body_images/001_01.jpg\n");
    // Default query folder: the list names partial_body_images, so occluded_body_images is scanned.
    let split = read("partial_reid", tmp.path()).unwrap();
    assert_eq!(split.query.len(), 3);
    assert!(split
        .notes
        .iter()
        .any(|n| n.contains("Probe.txt lists images of partial_body_images")));
    // No Gallery.txt: the gallery folder is scanned.
    assert_eq!(split.gallery.len(), 3);
    // Configured for partial_body_images, the list is used.
    let opts = ReaderOptions {
        partial_reid_query: PartialReidQuery::PartialBodyImages,
        ..ReaderOptions::default()
    };
    let split = read_with("partial_reid", tmp.path(), &opts).unwrap();
    assert_eq!(triples(&split.query), vec![t("001_01.jpg", 1, 0)]);
    assert!(split
        .notes
        .iter()
        .any(|n| n.contains("partial_body_images (listed in Probe.txt)")));
}

#[test]
fn partial_reid_list_problems_name_the_list_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let d = partial_reid_tree(tmp.path());
    write_text(
        &d.join("Probe.txt"),
        "occluded_body_images/001_01.jpg\noccluded_body_images/009_01.jpg\n",
    );
    let err = read("partial_reid", tmp.path()).unwrap_err();
    assert!(matches!(err, DataError::MissingFile { line: 2, .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("009_01.jpg") && msg.contains("Probe.txt line 2"), "{msg}");

    write_text(
        &d.join("Probe.txt"),
        "occluded_body_images/001_01.jpg\noccluded_body_images/x.jpg\n",
    );
    let err = read("partial_reid", tmp.path()).unwrap_err();
    assert!(matches!(err, DataError::BadLine { line: 2, .. }), "{err:?}");
    assert!(err.to_string().contains(&d.join("Probe.txt").display().to_string()));

    write_text(&d.join("Gallery.txt"), "\n");
    std::fs::remove_file(d.join("Probe.txt")).unwrap();
    let err = read("partial_reid", tmp.path()).unwrap_err();
    assert!(matches!(err, DataError::EmptyList { .. }), "{err:?}");
}

#[test]
fn partial_reid_with_lists_passes_data_check() {
    let tmp = tempfile::tempdir().unwrap();
    let d = partial_reid_tree(tmp.path());
    write_text(
        &d.join("Probe.txt"),
        "occluded_body_images/001_01.jpg\noccluded_body_images/002_01.jpg\n",
    );
    write_text(
        &d.join("Gallery.txt"),
        "whole_body_images/001_01.jpg\nwhole_body_images/002_01.jpg\n",
    );
    let report = check("partial_reid", tmp.path(), &CheckOptions::default());
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!((report.query.images, report.gallery.images), (2, 2));
    assert_eq!(report.images_decoded, 4);
    // The toy counts differ from the unverified literature ones: warnings, not errors.
    assert!(report.problems.iter().all(|p| p.severity == Severity::Warning));
}

#[test]
fn occluded_reid_pre_split_layout() {
    let tmp = tempfile::tempdir().unwrap();
    images(
        &tmp.path().join("Occluded_REID"),
        &[
            "train/090_01.tif",
            "train/088_03.tif",
            "train/088_01.tif",
            "query/001_02.tif",
            "query/002_01.tif",
            "test/001_06.tif",
            "test/002_07.tif",
        ],
    );
    let split = read("occludedreid", tmp.path()).unwrap();
    // Train relabelled in sorted pid order (88 -> 0, 90 -> 1), camid 0.
    assert_eq!(
        triples(&split.train),
        vec![t("088_01.tif", 0, 0), t("088_03.tif", 0, 0), t("090_01.tif", 1, 0)]
    );
    assert_eq!(
        triples(&split.query),
        vec![t("001_02.tif", 1, 0), t("002_01.tif", 2, 0)]
    );
    assert_eq!(
        triples(&split.gallery),
        vec![t("001_06.tif", 1, 1), t("002_07.tif", 2, 1)]
    );
    assert!(split.notes.iter().any(|n| n.contains("pre-split")));

    let report = check("occluded_reid", tmp.path(), &CheckOptions::default());
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(report.train.ids, 2);

    // A missing train folder is named; a bad name too.
    std::fs::remove_dir_all(tmp.path().join("Occluded_REID/train")).unwrap();
    let msg = read("occluded_reid", tmp.path()).unwrap_err().to_string();
    assert!(
        msg.contains(&tmp.path().join("Occluded_REID/train").display().to_string()),
        "{msg}"
    );
    images(&tmp.path().join("Occluded_REID"), &["train/090_01.tif", "test/bad.tif"]);
    let err = read("occluded_reid", tmp.path()).unwrap_err();
    assert!(
        matches!(err, DataError::BadName { .. }) && err.to_string().contains("bad.tif"),
        "{err}"
    );
}

#[test]
fn occluded_reid_standard_layout_wins_over_stray_split_folders() {
    let tmp = tempfile::tempdir().unwrap();
    images(
        tmp.path(),
        &[
            "occluded_body_images/001_01.tif",
            "whole_body_images/001_01.tif",
            "query/001_09.tif",
            "test/001_09.tif",
        ],
    );
    let split = read("occluded_reid", tmp.path()).unwrap();
    assert!(split.train.is_empty());
    assert_eq!(triples(&split.query), vec![t("001_01.tif", 1, 0)]);
}

#[test]
fn p_duke_whole_only_training_is_an_option() {
    let tmp = tempfile::tempdir().unwrap();
    images(
        &tmp.path().join("P-DukeMTMC-reid"),
        &[
            "train/whole_body_images/0010/0010_c1_f0000001.jpg",
            "train/occluded_body_images/0010/0010_c2_f0000002.jpg",
            "train/occluded_body_images/0004/0004_c2_f0000009.jpg",
            "train/whole_body_images/0004/0004_c1_f0000003.jpg",
            "test/occluded_body_images/0100/0100_c1_f0000004.jpg",
            "test/whole_body_images/0100/0100_c3_f0000005.jpg",
        ],
    );
    assert!(!ReaderOptions::default().p_dukemtmc_train_whole_only);
    assert_eq!(read("p_dukemtmc_reid", tmp.path()).unwrap().train.len(), 4);
    let opts = ReaderOptions {
        p_dukemtmc_train_whole_only: true,
        ..ReaderOptions::default()
    };
    let split = read_with("p_dukemtmc_reid", tmp.path(), &opts).unwrap();
    assert_eq!(
        triples(&split.train),
        vec![t("0004_c1_f0000003.jpg", 0, 1), t("0010_c1_f0000001.jpg", 1, 1)]
    );
    assert_eq!(split.query.len(), 1);
    assert!(split.notes.iter().any(|n| n.contains("whole-body images only")));
    let canonical = reader("p_dukemtmc_reid", &opts).unwrap().canonical().unwrap();
    assert_eq!((canonical.train.images, canonical.train.ids), (None, Some(665)));
    // The default keeps the published counts.
    let default = reader("p_dukemtmc_reid", &ReaderOptions::default()).unwrap();
    assert_eq!(default.canonical().unwrap().train.images, Some(12_927));
    // The option round-trips through serde like the others.
    let json = serde_json::to_string(&opts).unwrap();
    assert!(json.contains("\"p_dukemtmc_train_whole_only\":true"), "{json}");
}
