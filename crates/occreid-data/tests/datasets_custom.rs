//! The `custom` reader: identity folders (with or without `_c<N>` cameras) and CSV lists.
mod datasets_support;

use datasets_support::{images, triples, write_text};
use occreid_data::datasets::{reader, DataError, ReaderOptions, Split};
use std::path::Path;

fn read(root: &Path) -> Result<Split, DataError> {
    reader("custom", &ReaderOptions::default()).unwrap().read(root)
}

fn t(n: &str, p: i64, c: i64) -> (String, i64, i64) {
    (n.to_string(), p, c)
}

#[test]
fn folders_with_cameras() {
    let tmp = tempfile::tempdir().unwrap();
    images(
        tmp.path(),
        &[
            "train/12/a_c1.jpg",
            "train/30/b_c2.png",
            "query/7/q_c1_0.jpg",
            "gallery/7/g_c3_0.jpg",
            "gallery/9/g_c2_1.bmp",
        ],
    );
    let split = read(tmp.path()).unwrap();
    assert_eq!(triples(&split.train), vec![t("a_c1.jpg", 0, 0), t("b_c2.png", 1, 1)]);
    assert_eq!(triples(&split.query), vec![t("q_c1_0.jpg", 7, 0)]);
    assert_eq!(
        triples(&split.gallery),
        vec![t("g_c3_0.jpg", 7, 2), t("g_c2_1.bmp", 9, 1)]
    );
    assert!(!split.notes.iter().any(|n| n.contains("no camera ids")));
}

#[test]
fn folders_without_cameras_get_query_0_gallery_1_and_a_note() {
    let tmp = tempfile::tempdir().unwrap();
    images(
        tmp.path(),
        &["query/alice/1.jpg", "gallery/alice/2.jpg", "gallery/bob/3.jpg"],
    );
    let split = read(tmp.path()).unwrap();
    assert!(split.train.is_empty());
    // Non-integer folder names: numbered in sorted order over query and gallery together.
    assert_eq!(triples(&split.query), vec![t("1.jpg", 0, 0)]);
    assert_eq!(triples(&split.gallery), vec![t("2.jpg", 0, 1), t("3.jpg", 1, 1)]);
    assert!(split
        .notes
        .iter()
        .any(|n| n.contains("no camera ids") && n.contains("query camid 0")));
    assert!(split.notes.iter().any(|n| n.contains("sorted name order")));
    assert!(split.notes.iter().any(|n| n.contains("train is empty")));
}

#[test]
fn mixed_cameras_loose_images_and_camera_zero_are_named() {
    let cases = [
        (vec!["query/1/a_c1.jpg", "gallery/1/b.jpg"], "b.jpg", "no camera id"),
        (
            vec!["query/1/a.jpg", "query/loose.jpg", "gallery/1/b.jpg"],
            "loose.jpg",
            "one folder per identity",
        ),
        (vec!["query/1/a_c0.jpg", "gallery/1/b_c1.jpg"], "a_c0.jpg", "camera 0"),
    ];
    for (files, bad, what) in cases {
        let tmp = tempfile::tempdir().unwrap();
        images(tmp.path(), &files);
        let msg = read(tmp.path()).unwrap_err().to_string();
        assert!(msg.contains(bad) && msg.contains(what), "{files:?}: {msg}");
    }
}

#[test]
fn csv_lists_with_and_without_camid() {
    let tmp = tempfile::tempdir().unwrap();
    images(tmp.path(), &["img/a.jpg", "img/b.jpg", "img/c d.jpg", "img/e.jpg"]);
    write_text(
        &tmp.path().join("train.csv"),
        "path,pid,camid\nimg/a.jpg,40,3\nimg/b.jpg,41,\n",
    );
    write_text(&tmp.path().join("query.csv"), "\u{feff}path,pid\n\"img/c d.jpg\",5\n");
    write_text(&tmp.path().join("gallery.csv"), "path,pid,camid\nimg/e.jpg,5,\n");
    let split = read(tmp.path()).unwrap();
    assert_eq!(triples(&split.train), vec![t("a.jpg", 0, 3), t("b.jpg", 1, 0)]);
    assert_eq!(triples(&split.query), vec![t("c d.jpg", 5, 0)]);
    assert_eq!(triples(&split.gallery), vec![t("e.jpg", 5, 1)]);
    assert!(split.query[0].path.starts_with(tmp.path()));
    assert!(split
        .notes
        .iter()
        .any(|n| n.contains("1 images without a camera id got camid 0")));
}

#[test]
fn csv_without_header_is_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    images(tmp.path(), &["a.jpg", "b.jpg"]);
    write_text(&tmp.path().join("query.csv"), "a.jpg,1,0\n");
    write_text(&tmp.path().join("gallery.csv"), "b.jpg,1,1\n");
    let split = read(tmp.path()).unwrap();
    assert_eq!((split.query[0].camid, split.gallery[0].camid), (0, 1));
}

#[test]
fn bad_csvs_are_named_with_line_and_expectation() {
    let cases = [
        ("", "no entries"),
        ("path,pid,camid\n", "no entries"),
        ("file,label\na.jpg,1\n", "query.csv:1"),
        ("path,pid\na.jpg\n", "query.csv:2"),
        ("path,pid\na.jpg,one\n", "query.csv:2"),
        ("path,pid,camid\na.jpg,1,-3\n", "query.csv:2"),
        ("path,pid,camid,extra\na.jpg,1,0,x\n", "query.csv:1"),
        ("path,pid\nmissing.jpg,1\n", "missing.jpg: listed in"),
    ];
    for (text, want) in cases {
        let tmp = tempfile::tempdir().unwrap();
        images(tmp.path(), &["a.jpg", "b.jpg"]);
        write_text(&tmp.path().join("query.csv"), text);
        write_text(&tmp.path().join("gallery.csv"), "path,pid\nb.jpg,1\n");
        let msg = read(tmp.path()).unwrap_err().to_string();
        assert!(msg.contains(want), "{text:?}: {msg}");
        assert!(msg.contains(&tmp.path().display().to_string()), "{text:?}: {msg}");
    }
}

#[test]
fn no_custom_layout_is_explained() {
    let tmp = tempfile::tempdir().unwrap();
    images(tmp.path(), &["x/1.jpg"]);
    let msg = read(tmp.path()).unwrap_err().to_string();
    assert!(
        msg.contains("query/ and gallery/") && msg.contains("query.csv"),
        "{msg}"
    );
    images(tmp.path(), &["query/1/a.jpg"]);
    let msg = read(tmp.path()).unwrap_err().to_string();
    assert!(msg.contains(&tmp.path().join("gallery").display().to_string()), "{msg}");
}
