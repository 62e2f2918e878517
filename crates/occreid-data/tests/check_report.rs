//! `check`: counts, canonical comparison, every problem with its path, truncated images, JSON shape, text.
mod datasets_support;

use datasets_support::{images, snapshot, truncate, write_image, write_text};
use image::{ImageFormat, Rgb, RgbImage};
use occreid_data::check::{check, decode_image, render_text, CheckOptions, CheckReport, Severity};
use occreid_data::datasets::{CanonicalCounts, Counts, SplitCounts};
use std::path::Path;

/// A 64x128 image with texture, so the compressed data is a few kB and a cut lands in the pixel data.
fn write_textured(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let img = RgbImage::from_fn(64, 128, |x, y| {
        let v = (x * 37 + y * 91 + (x * y) % 17) as u8;
        Rgb([v, v.wrapping_mul(3), v ^ 0x5a])
    });
    img.save_with_format(path, ImageFormat::from_path(path).unwrap())
        .unwrap();
}

fn market_tree(dir: &Path) {
    images(
        dir,
        &[
            "bounding_box_train/0002_c1s1_000451_03.jpg",
            "bounding_box_train/0007_c2s1_001201_01.jpg",
            "query/0003_c1s1_000100_00.jpg",
            "query/0004_c1s1_000100_00.jpg",
            "bounding_box_test/0003_c2s1_000200_01.jpg",
            "bounding_box_test/0000_c1s1_000400_03.jpg",
        ],
    );
}

fn kinds(r: &CheckReport) -> Vec<&str> {
    r.problems.iter().map(|p| p.kind.as_str()).collect()
}

#[test]
fn truncated_images_fail_to_decode_whole_ones_pass() {
    let tmp = tempfile::tempdir().unwrap();
    for ext in ["jpg", "png", "tif", "bmp"] {
        let p = tmp.path().join(format!("img.{ext}"));
        write_textured(&p);
        decode_image(&p).unwrap_or_else(|e| panic!("{ext}: {e}"));
        let len = std::fs::metadata(&p).unwrap().len() as usize;
        for keep in [len - 2, len * 3 / 4, len / 2] {
            write_textured(&p);
            truncate(&p, keep);
            let err = decode_image(&p).expect_err(&format!("{ext} cut to {keep} of {len} bytes decoded"));
            assert!(err.to_string().contains(&p.display().to_string()), "{err}");
        }
    }
}

#[test]
fn jpeg_with_bytes_after_the_end_marker_is_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("a.jpg");
    write_textured(&p);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes.extend_from_slice(&[0u8; 16]);
    std::fs::write(&p, bytes).unwrap();
    decode_image(&p).unwrap();
}

#[test]
fn a_clean_tree_reports_counts_and_only_count_mismatches_against_market() {
    let tmp = tempfile::tempdir().unwrap();
    market_tree(tmp.path());
    let r = check("market1501", tmp.path(), &CheckOptions::default());
    assert_eq!(r.dataset, "market1501");
    assert_eq!(
        r.train,
        Counts {
            images: 2,
            ids: 2,
            cameras: 2
        }
    );
    assert_eq!(
        r.query,
        Counts {
            images: 2,
            ids: 2,
            cameras: 1
        }
    );
    assert_eq!(
        r.gallery,
        Counts {
            images: 2,
            ids: 2,
            cameras: 2
        }
    );
    assert_eq!(r.images_decoded, 6);
    assert!(!r.ok);
    // One mismatch per split (every count differs from Market's published ones), plus query 0004 unmatched.
    let mismatches: Vec<&str> = r
        .problems
        .iter()
        .filter(|p| p.kind == "count_mismatch")
        .map(|p| p.message.as_str())
        .collect();
    assert_eq!(mismatches.len(), 3, "{:#?}", r.problems);
    assert_eq!(
        mismatches[0],
        "train: 2 images (canonical 12936), 2 identities (canonical 751), 2 cameras (canonical 6) \
         [torchreid Market1501 (spec §5)]"
    );
    let unmatched: Vec<_> = r.problems.iter().filter(|p| p.kind == "query_without_match").collect();
    assert_eq!(unmatched.len(), 1);
    assert_eq!(unmatched[0].severity, Severity::Warning);
    assert!(unmatched[0]
        .path
        .as_ref()
        .unwrap()
        .ends_with("query/0004_c1s1_000100_00.jpg"));
}

#[test]
fn expected_counts_can_be_supplied_and_then_a_clean_tree_is_ok() {
    let tmp = tempfile::tempdir().unwrap();
    market_tree(tmp.path());
    let counts = SplitCounts {
        train: Counts {
            images: 2,
            ids: 2,
            cameras: 2,
        },
        query: Counts {
            images: 2,
            ids: 2,
            cameras: 1,
        },
        gallery: Counts {
            images: 2,
            ids: 2,
            cameras: 2,
        },
    };
    let opts = CheckOptions {
        canonical: Some(CanonicalCounts::exact(counts, "test")),
        ..CheckOptions::default()
    };
    let r = check("market1501", tmp.path(), &opts);
    assert!(r.ok, "{:#?}", r.problems);
    assert_eq!(kinds(&r), ["query_without_match"]);
}

#[test]
fn every_problem_is_listed_with_its_path() {
    let tmp = tempfile::tempdir().unwrap();
    market_tree(tmp.path());
    images(tmp.path(), &["query/garbage.jpg"]);
    let broken = tmp.path().join("bounding_box_test/0003_c3s1_000300_01.jpg");
    write_textured(&broken);
    truncate(&broken, 1000);
    let not_an_image = tmp.path().join("bounding_box_train/0002_c2s1_000001_00.jpg");
    write_text(&not_an_image, "this is not a jpeg");
    let before = snapshot(tmp.path());
    let r = check("market1501", tmp.path(), &CheckOptions::default());
    assert_eq!(before, snapshot(tmp.path()), "check wrote into the dataset");
    let find = |kind: &str| {
        r.problems
            .iter()
            .filter(|p| p.kind == kind)
            .map(|p| p.path.clone().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(find("bad_name"), [tmp.path().join("query/garbage.jpg")]);
    // Sorted by path: bounding_box_test < bounding_box_train.
    assert_eq!(find("unreadable_image"), [broken.clone(), not_an_image.clone()]);
    for p in &r.problems {
        if let Some(path) = &p.path {
            assert!(
                p.message.contains(&path.display().to_string()) || p.kind == "count_mismatch",
                "{p:?}"
            );
        }
    }
    assert!(!r.ok);
}

#[test]
fn missing_folder_unknown_dataset_and_missing_root_are_problems_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    market_tree(tmp.path());
    std::fs::remove_dir_all(tmp.path().join("bounding_box_test")).unwrap();
    let r = check("market1501", tmp.path(), &CheckOptions::default());
    let missing: Vec<_> = r.problems.iter().filter(|p| p.kind == "missing_folder").collect();
    assert_eq!(missing.len(), 1);
    assert_eq!(
        missing[0].path.as_deref(),
        Some(tmp.path().join("bounding_box_test").as_path())
    );

    let r = check("nope", tmp.path(), &CheckOptions::default());
    assert_eq!(kinds(&r), ["unknown_dataset"]);
    assert!(r.problems[0].message.contains("market1501"));

    let r = check("market1501", &tmp.path().join("absent"), &CheckOptions::default());
    assert_eq!(kinds(&r), ["missing_folder"]);
    assert!(!r.ok);
}

#[test]
fn unverified_canonical_counts_only_warn() {
    let tmp = tempfile::tempdir().unwrap();
    images(tmp.path(), &["Probe/001.jpg", "Gallery/001.jpg"]);
    let r = check("partial_ilids", tmp.path(), &CheckOptions::default());
    assert!(r.ok, "{:#?}", r.problems);
    assert!(r
        .problems
        .iter()
        .any(|p| p.kind == "count_mismatch" && p.severity == Severity::Warning));
}

#[test]
fn json_has_the_documented_shape() {
    let tmp = tempfile::tempdir().unwrap();
    market_tree(tmp.path());
    write_image(&tmp.path().join("query/x.jpg"), 3);
    let r = check("market1501", tmp.path(), &CheckOptions::default());
    let text = serde_json::to_string(&r).unwrap();
    assert!(
        text.starts_with(r#"{"dataset":"market1501","train":{"images":2,"ids":2,"cameras":2},"query":"#),
        "{text}"
    );
    let pos = |k: &str| text.find(&format!("\"{k}\":")).unwrap();
    assert!(
        pos("query") < pos("gallery") && pos("gallery") < pos("problems"),
        "{text}"
    );
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["dataset"], "market1501");
    assert_eq!(v["train"], serde_json::json!({"images": 2, "ids": 2, "cameras": 2}));
    assert_eq!(v["query"]["images"], 2);
    let p = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "bad_name")
        .unwrap();
    assert_eq!(p["severity"], "error");
    assert_eq!(p["path"], tmp.path().join("query/x.jpg").display().to_string());
    assert_eq!(v["canonical"]["train"]["images"], 12936);
}

#[test]
fn text_table_shows_counts_beside_canonical() {
    let tmp = tempfile::tempdir().unwrap();
    market_tree(tmp.path());
    let text = render_text(&check("market1501", tmp.path(), &CheckOptions::default()));
    assert!(text.contains("dataset: market1501"), "{text}");
    let train = text.lines().find(|l| l.starts_with("train")).unwrap();
    assert!(
        train.contains("2 != 12936") && train.contains("2 != 751") && train.contains("2 != 6"),
        "{text}"
    );
    assert!(text.contains("FAILED"), "{text}");

    let text = render_text(&check("custom", tmp.path(), &CheckOptions::default()));
    assert!(text.contains("no canonical counts"), "{text}");
}

/// The real CUHK01 folder, when present (never committed; see ../shared/data/cuhk01/README.md): every
/// image decodes and the counts equal the README's.
#[test]
fn real_cuhk01_checks_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cuhk01");
    if !root.join("campus").is_dir() {
        eprintln!("skipped: {} not present", root.display());
        return;
    }
    let start = std::time::Instant::now();
    let r = check("cuhk01", &root, &CheckOptions::default());
    eprintln!(
        "check cuhk01: {} images decoded in {:.2?}",
        r.images_decoded,
        start.elapsed()
    );
    assert!(r.ok && r.problems.is_empty(), "{}", render_text(&r));
    assert_eq!(r.images_decoded, 3884);
}
