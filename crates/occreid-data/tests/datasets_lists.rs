//! MSMT17 (list files, V1 and V2) and CUHK01 (seeded identity split), plus the registry.
mod datasets_support;

use datasets_support::{images, triples, write_text};
use occreid_data::datasets::{reader, DataError, ReaderOptions, Split, DATASET_NAMES};
use std::collections::BTreeSet;
use std::path::Path;

fn read_with(name: &str, opts: &ReaderOptions, root: &Path) -> Result<Split, DataError> {
    reader(name, opts).unwrap().read(root)
}

fn t(n: &str, p: i64, c: i64) -> (String, i64, i64) {
    (n.to_string(), p, c)
}

fn msmt_tree(d: &Path, train: &str, test: &str) {
    images(
        d,
        &[
            &format!("{train}/0000/0000_000_01_0303morning_0015_0.jpg"),
            &format!("{train}/0001/0001_003_15_0303noon_0100_1.jpg"),
            &format!("{train}/0002/0002_001_07_0303noon_0200_0.jpg"),
            &format!("{test}/0000/0000_010_02_0303afternoon_0001_0.jpg"),
            &format!("{test}/0000/0000_011_05_0303afternoon_0002_0.jpg"),
        ],
    );
    write_text(
        &d.join("list_train.txt"),
        "0000/0000_000_01_0303morning_0015_0.jpg 0\n0001/0001_003_15_0303noon_0100_1.jpg 1\n",
    );
    write_text(&d.join("list_val.txt"), "0002/0002_001_07_0303noon_0200_0.jpg 2\n");
    write_text(
        &d.join("list_query.txt"),
        "0000/0000_010_02_0303afternoon_0001_0.jpg 0\n",
    );
    write_text(
        &d.join("list_gallery.txt"),
        "0000/0000_011_05_0303afternoon_0002_0.jpg 0\n\n",
    );
}

#[test]
fn msmt17_v1_lists_with_and_without_val() {
    let tmp = tempfile::tempdir().unwrap();
    msmt_tree(&tmp.path().join("msmt17/MSMT17_V1"), "train", "test");
    let split = read_with("msmt17", &ReaderOptions::default(), tmp.path()).unwrap();
    assert_eq!(
        triples(&split.train),
        vec![
            t("0000_000_01_0303morning_0015_0.jpg", 0, 0),
            t("0001_003_15_0303noon_0100_1.jpg", 1, 14),
            t("0002_001_07_0303noon_0200_0.jpg", 2, 6),
        ]
    );
    assert_eq!(
        triples(&split.query),
        vec![t("0000_010_02_0303afternoon_0001_0.jpg", 0, 1)]
    );
    assert_eq!(
        triples(&split.gallery),
        vec![t("0000_011_05_0303afternoon_0002_0.jpg", 0, 4)]
    );
    assert!(split.query[0]
        .path
        .starts_with(tmp.path().join("msmt17/MSMT17_V1/test")));
    assert!(split.notes.iter().any(|n| n.contains("V1")));

    let no_val = ReaderOptions {
        msmt17_include_val: false,
        ..ReaderOptions::default()
    };
    assert_eq!(read_with("msmt17", &no_val, tmp.path()).unwrap().train.len(), 2);
}

#[test]
fn msmt17_v2_folders() {
    let tmp = tempfile::tempdir().unwrap();
    msmt_tree(&tmp.path().join("MSMT17_V2"), "mask_train_v2", "mask_test_v2");
    let split = read_with("msmt17", &ReaderOptions::default(), tmp.path()).unwrap();
    assert_eq!(split.train.len(), 3);
    assert!(split.gallery[0]
        .path
        .starts_with(tmp.path().join("MSMT17_V2/mask_test_v2")));
    assert!(split.notes.iter().any(|n| n.contains("V2")));
}

#[test]
fn msmt17_bad_lines_missing_files_and_empty_lists_are_named() {
    let cases: [(&str, &str, &str); 4] = [
        (
            "list_query.txt",
            "0000/0000_010_02_0303afternoon_0001_0.jpg\n",
            "list_query.txt:1",
        ),
        (
            "list_query.txt",
            "0000/0000_010_02_0303afternoon_0001_0.jpg zero\n",
            "list_query.txt:1",
        ),
        ("list_query.txt", "0000/no_cam.jpg 0\n", "list_query.txt:1"),
        ("list_query.txt", "", "list_query.txt: no entries"),
    ];
    for (list, text, want) in cases {
        let tmp = tempfile::tempdir().unwrap();
        msmt_tree(tmp.path(), "train", "test");
        write_text(&tmp.path().join(list), text);
        let msg = read_with("msmt17", &ReaderOptions::default(), tmp.path())
            .unwrap_err()
            .to_string();
        assert!(msg.contains(want), "{text:?}: {msg}");
        assert!(msg.contains(&tmp.path().display().to_string()), "{msg}");
    }
    let tmp = tempfile::tempdir().unwrap();
    msmt_tree(tmp.path(), "train", "test");
    write_text(
        &tmp.path().join("list_gallery.txt"),
        "0000/0000_011_05_0303afternoon_9999_0.jpg 0\n",
    );
    let msg = read_with("msmt17", &ReaderOptions::default(), tmp.path())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("0000_011_05_0303afternoon_9999_0.jpg") && msg.contains("list_gallery.txt line 1"),
        "{msg}"
    );
}

fn cuhk01_tree(dir: &Path, ids: usize) {
    let names: Vec<String> = (1..=ids)
        .flat_map(|p| (1..=4).map(move |n| format!("{p:04}{n:03}.png")))
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    images(dir, &refs);
}

fn cuhk_opts(seed: u64, train_ids: usize) -> ReaderOptions {
    ReaderOptions {
        cuhk01_seed: seed,
        cuhk01_train_ids: train_ids,
        ..ReaderOptions::default()
    }
}

#[test]
fn cuhk01_split_is_seeded_and_query_is_camera_a() {
    let tmp = tempfile::tempdir().unwrap();
    cuhk01_tree(&tmp.path().join("campus"), 10);
    let a = read_with("cuhk01", &cuhk_opts(1, 4), tmp.path()).unwrap();
    let b = read_with("cuhk01", &cuhk_opts(1, 4), tmp.path()).unwrap();
    let c = read_with("cuhk01", &cuhk_opts(2, 4), tmp.path()).unwrap();
    assert_eq!(a, b);
    assert_ne!(a.query, c.query, "another seed gives another split");
    let counts = a.counts();
    assert_eq!(
        (counts.train.images, counts.train.ids, counts.train.cameras),
        (16, 4, 2)
    );
    assert_eq!(
        (counts.query.images, counts.query.ids, counts.query.cameras),
        (12, 6, 1)
    );
    assert_eq!(
        (counts.gallery.images, counts.gallery.ids, counts.gallery.cameras),
        (12, 6, 1)
    );
    for s in &a.query {
        let n = &s.path.file_stem().unwrap().to_string_lossy()[4..];
        assert!(n == "001" || n == "002", "{}", s.path.display());
        assert_eq!(s.camid, 0);
    }
    for s in &a.gallery {
        let n = &s.path.file_stem().unwrap().to_string_lossy()[4..];
        assert!(n == "003" || n == "004", "{}", s.path.display());
        assert_eq!(s.camid, 1);
    }
    let q: BTreeSet<i64> = a.query.iter().map(|s| s.pid).collect();
    let g: BTreeSet<i64> = a.gallery.iter().map(|s| s.pid).collect();
    assert_eq!(q, g);
    // Train and test identities are disjoint: train pids are relabelled, so compare file-name ids.
    let train_ids: BTreeSet<String> = a
        .train
        .iter()
        .map(|s| s.path.file_name().unwrap().to_string_lossy()[..4].to_string())
        .collect();
    assert!(q.iter().all(|p| !train_ids.contains(&format!("{p:04}"))));
    assert_eq!(a.train.iter().map(|s| s.pid).collect::<BTreeSet<_>>(), (0..4).collect());
}

#[test]
fn cuhk01_bad_names_and_too_few_identities() {
    let tmp = tempfile::tempdir().unwrap();
    cuhk01_tree(tmp.path(), 3);
    images(tmp.path(), &["0004005.png", "0004_001.png"]);
    let r = reader("cuhk01", &cuhk_opts(0, 2)).unwrap();
    let scan = r.scan(tmp.path()).unwrap();
    let msgs: Vec<String> = scan.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(
        msgs[0].contains("0004005.png") && msgs[0].contains("image number 5"),
        "{msgs:?}"
    );
    assert!(
        msgs[1].contains("0004_001.png") && msgs[1].contains("PPPPNNN"),
        "{msgs:?}"
    );

    let tmp = tempfile::tempdir().unwrap();
    cuhk01_tree(tmp.path(), 3);
    let msg = reader("cuhk01", &cuhk_opts(0, 5))
        .unwrap()
        .read(tmp.path())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("only 3 identities") && msg.contains(&tmp.path().display().to_string()),
        "{msg}"
    );
}

/// The real dataset, when present (never committed; see ../shared/data/cuhk01/README.md).
#[test]
fn cuhk01_real_data_matches_the_readme() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cuhk01");
    if !root.join("campus").is_dir() {
        eprintln!("skipped: {} not present", root.display());
        return;
    }
    let split = read_with("cuhk01", &ReaderOptions::default(), &root).unwrap();
    let c = split.counts();
    assert_eq!((c.train.images, c.train.ids, c.train.cameras), (1940, 485, 2));
    assert_eq!((c.query.images, c.query.ids, c.query.cameras), (972, 486, 1));
    assert_eq!((c.gallery.images, c.gallery.ids, c.gallery.cameras), (972, 486, 1));
}

#[test]
fn registry_knows_every_name_and_aliases_and_lists_names_on_error() {
    for name in DATASET_NAMES {
        assert_eq!(reader(name, &ReaderOptions::default()).unwrap().name(), *name);
    }
    for (alias, name) in [
        ("Market-1501", "market1501"),
        ("occludedduke", "occluded_duke"),
        ("OccludedREID", "occluded_reid"),
        ("pdukereid", "p_dukemtmc_reid"),
        ("partialilids", "partial_ilids"),
    ] {
        assert_eq!(reader(alias, &ReaderOptions::default()).unwrap().name(), name);
    }
    let msg = reader("viper", &ReaderOptions::default()).err().unwrap().to_string();
    assert!(msg.contains("'viper'"), "{msg}");
    for name in DATASET_NAMES {
        assert!(msg.contains(name), "{msg}");
    }
    let msg = reader("cuhk01", &cuhk_opts(0, 971)).err().unwrap().to_string();
    assert!(msg.contains("cuhk01_train_ids"), "{msg}");
}
