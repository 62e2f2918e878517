//! The synthetic dataset: layout the Market reader accepts, determinism, atomic refusal, speed, and a
//! colour-histogram nearest-neighbour baseline that must be well above chance and well below perfect.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

use occreid_data::check::{check, CheckOptions};
use occreid_data::datasets::{reader, ReaderOptions, Sample, Split};
use occreid_data::synth::{generate, SynthError, SynthOptions, SynthSummary};
use occreid_eval::distance::{pairwise, Metric};
use occreid_eval::metrics::{evaluate, Labels, Protocol};
use occreid_eval::Matrix;

fn read_market(root: &Path) -> Split {
    reader("market1501", &ReaderOptions::default())
        .unwrap()
        .read(root)
        .unwrap()
}

fn all_files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for sub in ["bounding_box_train", "query", "bounding_box_test"] {
        for e in std::fs::read_dir(root.join(sub)).unwrap() {
            let p = e.unwrap().path();
            out.insert(
                format!("{sub}/{}", p.file_name().unwrap().to_string_lossy()),
                std::fs::read(&p).unwrap(),
            );
        }
    }
    out
}

#[test]
fn market_reader_reads_it_unchanged_and_check_is_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("synth");
    let opts = SynthOptions {
        ids: 20,
        cameras: 4,
        images_per_id: 6,
        seed: 3,
        ..SynthOptions::default()
    };
    let summary = generate(&out, &opts).unwrap();
    let split = read_market(&out);
    let c = split.counts();
    assert_eq!(
        (c.train, c.query, c.gallery),
        (summary.train, summary.query, summary.gallery)
    );
    assert_eq!(c.train.images + c.query.images + c.gallery.images, 20 * 6);
    assert_eq!((c.train.ids, c.query.ids, c.gallery.ids), (10, 10, 10));
    assert!(c.train.cameras <= 4 && c.query.cameras <= 4);
    // Market layout: every file name parses and test ids keep their file-name pids.
    let test_pids: BTreeSet<i64> = split.query.iter().map(|s| s.pid).collect();
    assert_eq!(test_pids, summary.test_pids.iter().copied().collect());
    // Every test identity has, for each query image, a gallery image from another camera.
    for q in &split.query {
        assert!(
            split.gallery.iter().any(|g| g.pid == q.pid && g.camid != q.camid),
            "{}",
            q.path.display()
        );
    }
    // One query per camera the identity appears in (each camera has >= 2 images here).
    let mut per_id_cams: BTreeMap<i64, BTreeSet<i64>> = BTreeMap::new();
    for s in split.query.iter().chain(&split.gallery) {
        per_id_cams.entry(s.pid).or_default().insert(s.camid);
    }
    for (pid, cams) in &per_id_cams {
        assert_eq!(split.query.iter().filter(|q| q.pid == *pid).count(), cams.len());
    }
    let report = check(
        "market1501",
        &out,
        &CheckOptions {
            canonical: Some(summary.canonical()),
            ..CheckOptions::default()
        },
    );
    assert!(report.ok && report.problems.is_empty(), "{:#?}", report.problems);
    assert_eq!(report.images_decoded, 120);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("synth.json")).unwrap()).unwrap();
    assert_eq!(json["options"]["seed"], 3);
    assert_eq!(json["out"], out.display().to_string());
    assert_eq!(SynthSummary::load(&out).unwrap(), Some(summary));
    assert_eq!(SynthSummary::load(tmp.path()).unwrap(), None);
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = SynthOptions {
        ids: 6,
        images_per_id: 4,
        ..SynthOptions::default()
    };
    generate(&tmp.path().join("a"), &opts).unwrap();
    generate(&tmp.path().join("b"), &opts).unwrap();
    generate(&tmp.path().join("c"), &SynthOptions { seed: 1, ..opts }).unwrap();
    let (a, b, c) = (
        all_files(&tmp.path().join("a")),
        all_files(&tmp.path().join("b")),
        all_files(&tmp.path().join("c")),
    );
    assert_eq!(a.len(), 24);
    assert!(a == b, "same seed wrote different files");
    assert_ne!(a, c);
}

#[test]
fn refuses_non_empty_output_and_bad_options_and_leaves_no_temp_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("taken");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    let err = generate(&out, &SynthOptions::default()).unwrap_err();
    assert!(matches!(err, SynthError::NotEmpty { .. }), "{err:?}");
    assert!(err.to_string().contains(&out.display().to_string()));
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);

    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    assert!(matches!(
        generate(&file, &SynthOptions::default()),
        Err(SynthError::NotAFolder { .. })
    ));

    for bad in [
        SynthOptions {
            ids: 1,
            ..SynthOptions::default()
        },
        SynthOptions {
            ids: 1502,
            ..SynthOptions::default()
        },
        SynthOptions {
            cameras: 7,
            ..SynthOptions::default()
        },
        SynthOptions {
            images_per_id: 1,
            ..SynthOptions::default()
        },
        SynthOptions {
            occlusion: 1.5,
            ..SynthOptions::default()
        },
    ] {
        let err = generate(&tmp.path().join("new"), &bad).unwrap_err();
        assert!(matches!(err, SynthError::BadOption { .. }), "{err:?}");
    }
    // An existing empty folder is fine.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    generate(
        &empty,
        &SynthOptions {
            ids: 2,
            images_per_id: 2,
            ..SynthOptions::default()
        },
    )
    .unwrap();
    let left: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.iter().all(|n| !n.contains("tmp")), "{left:?}");
}

#[test]
fn few_images_per_id_still_give_every_query_a_cross_camera_match() {
    for (k, cameras) in [(2, 2), (3, 6), (5, 3), (4, 6)] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("s");
        let opts = SynthOptions {
            ids: 8,
            images_per_id: k,
            cameras,
            ..SynthOptions::default()
        };
        generate(&out, &opts).unwrap();
        let split = read_market(&out);
        assert_eq!(split.query.len() + split.gallery.len(), 4 * k, "k={k}");
        assert_eq!(split.counts().query.ids, 4, "k={k}: every test identity has a query");
        for q in &split.query {
            let ok = split.gallery.iter().any(|g| g.pid == q.pid && g.camid != q.camid);
            assert!(
                ok,
                "k={k} cameras={cameras}: {} has no cross-camera match",
                q.path.display()
            );
        }
    }
}

#[test]
fn hundred_ids_by_eight_images_is_fast() {
    let tmp = tempfile::tempdir().unwrap();
    let start = Instant::now();
    generate(&tmp.path().join("s"), &SynthOptions::default()).unwrap();
    let secs = start.elapsed().as_secs_f64();
    eprintln!("synth: 100 ids x 8 images in {secs:.3} s");
    assert!(secs < 3.0, "{secs} s");
}

/// Joint RGB histogram, 4 bins per channel, of the central region (where the person is), L1-normalised
/// and square-rooted (Hellinger embedding, so Euclidean distance compares distributions).
fn histogram(path: &Path) -> Vec<f32> {
    let img = image::open(path).unwrap().to_rgb8();
    let (w, h) = img.dimensions();
    let mut hist = vec![0f32; 64];
    for (x, y, p) in img.enumerate_pixels() {
        if x < w / 5 || x >= w - w / 5 || y < h / 12 || y >= h - h / 12 {
            continue;
        }
        let bin = |v: u8| (v / 64) as usize;
        hist[bin(p[0]) * 16 + bin(p[1]) * 4 + bin(p[2])] += 1.0;
    }
    let n: f32 = hist.iter().sum();
    hist.iter().map(|v| (v / n).sqrt()).collect()
}

fn features(samples: &[Sample]) -> Matrix {
    let data: Vec<f32> = samples.iter().flat_map(|s| histogram(&s.path)).collect();
    Matrix::new(samples.len(), 64, data)
}

#[test]
fn colour_histogram_baseline_is_above_chance_and_far_from_perfect() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("s");
    generate(&out, &SynthOptions::default()).unwrap();
    let split = read_market(&out);
    let (qf, gf) = (features(&split.query), features(&split.gallery));
    let dist = pairwise(&qf, &gf, Metric::Euclidean).unwrap();
    let labels = |s: &[Sample]| {
        (
            s.iter().map(|x| x.pid).collect::<Vec<_>>(),
            s.iter().map(|x| x.camid).collect::<Vec<_>>(),
        )
    };
    let ((qp, qc), (gp, gc)) = (labels(&split.query), labels(&split.gallery));
    let m = evaluate(
        &dist,
        Labels { pids: &qp, camids: &qc },
        Labels { pids: &gp, camids: &gc },
        50,
        Protocol::Market1501,
    )
    .unwrap();
    let gallery_ids = split.counts().gallery.ids as f64;
    let chance = 1.0 / gallery_ids;
    eprintln!(
        "colour-histogram NN on synth (100 ids x 8, seed 0): rank-1 {:.3}, rank-5 {:.3}, mAP {:.3}; \
         chance rank-1 {:.3} ({} queries, {} gallery images)",
        m.cmc[0],
        m.cmc[4],
        m.map,
        chance,
        split.query.len(),
        split.gallery.len()
    );
    assert!(m.cmc[0] > 5.0 * chance, "rank-1 {} is near chance {}", m.cmc[0], chance);
    assert!(
        m.cmc[0] < 0.6,
        "rank-1 {}: identity is nearly a colour lookup",
        m.cmc[0]
    );
}
