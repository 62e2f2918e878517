//! The `occreid` binary on reference fixtures and on bad input.
mod common;

use common::{occreid, occreid_with_file_limit, synth, temporary_files};
use std::path::{Path, PathBuf};
use std::process::Output;

use occreid_eval::npy::{read_matrix, write_f32, write_i64};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../occreid-eval/tests/fixtures")
}

fn metrics_args(dir: &Path) -> Vec<String> {
    let distmat = dir.join("distmat.npy").to_string_lossy().to_string();
    common::metrics_args(&["--distmat", &distmat], dir, &[])
}

fn run_strs(args: &[String]) -> Output {
    common::occreid_strings(args)
}

#[test]
fn metrics_json_matches_torchreid_fixture() {
    let dir = fixtures().join("market/case04_q60_g400");
    let mut args = metrics_args(&dir);
    args.push("--json".into());
    let out = run_strs(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let cmc = got["cmc"].as_array().unwrap();
    assert_eq!(cmc.len(), 50);
    for (g, w) in cmc.iter().zip(want["cmc"].as_array().unwrap()) {
        assert!((g.as_f64().unwrap() - w.as_f64().unwrap()).abs() <= 1e-6);
    }
    assert!((got["mAP"].as_f64().unwrap() - want["mAP"].as_f64().unwrap()).abs() <= 1e-6);
    assert!((got["mINP"].as_f64().unwrap() - want["mINP"].as_f64().unwrap()).abs() <= 1e-6);
    assert_eq!(got["num_valid_queries"], want["num_valid_queries"]);
}

#[test]
fn metrics_cmc_is_cut_to_the_gallery_size() {
    let dir = fixtures().join("market/case01_q5_g20");
    let mut args = metrics_args(&dir);
    args.push("--json".into());
    let got: serde_json::Value = serde_json::from_slice(&run_strs(&args).stdout).unwrap();
    assert_eq!(got["cmc"].as_array().unwrap().len(), 20);
}

#[test]
fn metrics_cuhk03_seed0_matches_torchreid() {
    let dir = fixtures().join("cuhk03/multishot_random_q73_g373");
    let mut args = metrics_args(&dir);
    args.extend(["--protocol", "cuhk03", "--seed", "0", "--json"].map(String::from));
    let out = run_strs(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let want: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let reference = &want["reference"]["torchreid_python_seed0"]["cmc"];
    for (g, w) in got["cmc"].as_array().unwrap().iter().zip(reference.as_array().unwrap()) {
        assert!((g.as_f64().unwrap() - w.as_f64().unwrap()).abs() <= 1e-6);
    }
}

/// Copies a fixture case into a temp folder and replaces one file.
fn broken_case(replace: &str, write: impl FnOnce(&Path)) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixtures().join("market/case02_q12_g64");
    for n in [
        "distmat.npy",
        "q_pids.npy",
        "g_pids.npy",
        "q_camids.npy",
        "g_camids.npy",
    ] {
        std::fs::copy(src.join(n), tmp.path().join(n)).unwrap();
    }
    write(&tmp.path().join(replace));
    tmp
}

fn assert_clean_failure(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure");
    assert!(!err.contains("panicked"), "panic instead of an error: {err}");
    for n in needles {
        assert!(err.contains(n), "stderr lacks '{n}': {err}");
    }
}

#[test]
fn metrics_bad_inputs_give_one_clear_error() {
    let t = broken_case("g_pids.npy", |p| write_i64(p, &[1, 2, 3]).unwrap());
    assert_clean_failure(&run_strs(&metrics_args(t.path())), &["g_pids.npy", "[64]"]);

    let t = broken_case("q_camids.npy", |p| write_f32(p, &[12], &[0.0; 12]).unwrap());
    assert_clean_failure(&run_strs(&metrics_args(t.path())), &["q_camids.npy", "int64"]);

    let t = broken_case("distmat.npy", |p| {
        write_f32(p, &[12 * 64], &vec![0.0; 12 * 64]).unwrap()
    });
    assert_clean_failure(&run_strs(&metrics_args(t.path())), &["distmat.npy", "2-D"]);

    let t = broken_case("distmat.npy", |p| std::fs::write(p, b"not a numpy file").unwrap());
    assert_clean_failure(&run_strs(&metrics_args(t.path())), &["distmat.npy", "magic"]);

    let t = broken_case("q_pids.npy", |p| std::fs::remove_file(p).unwrap());
    assert_clean_failure(&run_strs(&metrics_args(t.path())), &["q_pids.npy"]);
}

#[test]
fn rerank_writes_torchreid_result_and_never_overwrites() {
    let dir = fixtures().join("rerank/case_q20_g80");
    let tmp = tempfile::tempdir().unwrap();
    let out_path = tmp.path().join("r.npy");
    let s = |p: PathBuf| p.to_string_lossy().to_string();
    let args = [
        "rerank".to_string(),
        "--q-g".into(),
        s(dir.join("q_g.npy")),
        "--q-q".into(),
        s(dir.join("q_q.npy")),
        "--g-g".into(),
        s(dir.join("g_g.npy")),
        "--out".into(),
        s(out_path.clone()),
    ];
    let out = run_strs(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got = read_matrix(&out_path).unwrap();
    let want = read_matrix(dir.join("expected_rerank.npy")).unwrap();
    let diff = got
        .as_slice()
        .iter()
        .zip(want.as_slice())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(diff <= 1e-5, "max diff {diff}");

    let before = std::fs::read(&out_path).unwrap();
    assert_clean_failure(&run_strs(&args), &["already exists", "--overwrite"]);
    assert_eq!(
        std::fs::read(&out_path).unwrap(),
        before,
        "existing output must be untouched"
    );

    // The disk fills up while the new result is written (a 4 KiB file-size limit; the matrix is 6.5 KB):
    // one error naming the file, the previous result intact, no temporary file left.
    let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
    let full = occreid_with_file_limit(4, &[&args_ref[..], &["--overwrite"]].concat());
    assert_clean_failure(&full, &["r.npy", "File too large"]);
    assert_eq!(
        std::fs::read(&out_path).unwrap(),
        before,
        "the previous result survives"
    );
    assert_eq!(temporary_files(tmp.path()), Vec::<String>::new());

    // A mismatched g_g (the q_q file) is named in the error.
    let mut bad = args.to_vec();
    bad[6] = s(dir.join("q_q.npy"));
    bad[8] = s(tmp.path().join("r2.npy"));
    assert_clean_failure(&run_strs(&bad), &["q_q.npy", "80x80"]);
    assert!(!tmp.path().join("r2.npy").exists());
}

#[test]
fn metrics_roc_and_per_query_json() {
    let dir = fixtures().join("market/case06_q200_g1500");
    let mut args = metrics_args(&dir);
    args.extend(["--roc", "--per-query", "--json"].map(String::from));
    let out = run_strs(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("roc/case06_q200_g1500.json")).unwrap()).unwrap();
    for (g, w) in got["tpr_at_fpr"]
        .as_array()
        .unwrap()
        .iter()
        .zip(reference["points"].as_array().unwrap())
    {
        assert!((g["tpr"].as_f64().unwrap() - w["tpr"].as_f64().unwrap()).abs() < 1e-12);
    }
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let per_query = got["per_query"].as_array().unwrap();
    for (g, w) in per_query.iter().zip(expected["per_query_ap"].as_array().unwrap()) {
        match w.as_f64() {
            Some(w) => assert!((g["ap"].as_f64().unwrap() - w).abs() <= 1e-6),
            None => assert!(g.is_null()),
        }
    }

    let mut custom = metrics_args(&dir);
    custom.extend(["--roc", "--fpr", "0.01", "--json"].map(String::from));
    let got: serde_json::Value = serde_json::from_slice(&run_strs(&custom).stdout).unwrap();
    let point = &got["tpr_at_fpr"][0];
    assert!((point["tpr"].as_f64().unwrap() - reference["points"][2]["tpr"].as_f64().unwrap()).abs() < 1e-12);
    assert_eq!(got["tpr_at_fpr"].as_array().unwrap().len(), 1);

    let mut bad = metrics_args(&dir);
    bad.extend(["--roc", "--fpr", "2"].map(String::from));
    let out = run_strs(&bad);
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && e.contains("--fpr 2"), "{e}");
}

#[test]
fn an_error_cause_is_printed_once() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.npy");
    let m = missing.to_str().unwrap();
    let out = occreid(&[
        "metrics",
        "--distmat",
        m,
        "--query-pids",
        m,
        "--gallery-pids",
        m,
        "--query-camids",
        m,
        "--gallery-camids",
        m,
    ]);
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && e.contains("missing.npy"), "{e}");
    assert_eq!(e.matches("No such file or directory").count(), 1, "{e}");
}

#[test]
fn data_synth_then_check_round_trip_and_bad_roots() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("synth");
    let r = root.to_string_lossy().to_string();
    synth(&root, 12, 3, 4);
    let out = occreid(&["data", "check", "--dataset", "market1501", "--root", &r, "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for split in ["train", "query", "gallery"] {
        assert!(report[split]["images"].as_u64().unwrap() > 0, "{split}");
        assert!(report[split]["ids"].as_u64().unwrap() > 0, "{split}");
    }
    assert_eq!(
        report["train"]["ids"].as_u64().unwrap(),
        6,
        "half of 12 identities train"
    );
    assert!(report["problems"].as_array().unwrap().is_empty(), "{report}");

    // Writing again into the same folder is refused; nothing is replaced.
    let again = occreid(&["data", "synth", "--out", &r, "--ids", "12"]);
    assert_clean_failure(&again, &[&r]);

    // A truncated image is reported with its path and a non-zero exit.
    let victim = std::fs::read_dir(root.join("query"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &bytes[..bytes.len() / 3]).unwrap();
    let out = occreid(&["data", "check", "--dataset", "market1501", "--root", &r]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&*victim.file_name().unwrap().to_string_lossy()), "{text}");

    let missing = tmp.path().join("nowhere").to_string_lossy().to_string();
    let out = occreid(&["data", "check", "--dataset", "market1501", "--root", &missing, "--json"]);
    assert!(!out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["problems"].to_string().contains("nowhere"), "{report}");
}

#[test]
fn data_split_writes_the_reader_lists_and_refuses_to_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("synth");
    let r = root.to_string_lossy().to_string();
    synth(&root, 10, 3, 4);
    let file = tmp.path().join("split.json");
    let f = file.to_string_lossy().to_string();
    let split_args = ["data", "split", "--dataset", "market1501", "--root", &r, "--out", &f];
    let out = occreid(&split_args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let split: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let out = occreid(&["data", "check", "--dataset", "market1501", "--root", &r, "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(split["dataset"], "market1501");
    for name in ["train", "query", "gallery"] {
        let list = split[name].as_array().unwrap();
        let distinct = |key: &str| {
            list.iter()
                .map(|s| s[key].as_i64().unwrap())
                .collect::<std::collections::BTreeSet<_>>()
        };
        assert_eq!(list.len() as u64, report[name]["images"].as_u64().unwrap(), "{name}");
        assert_eq!(
            distinct("pid").len() as u64,
            report[name]["ids"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            distinct("camid").len() as u64,
            report[name]["cameras"].as_u64().unwrap(),
            "{name}"
        );
        for s in list {
            let p = Path::new(s["path"].as_str().unwrap());
            assert!(p.is_absolute() && p.is_file(), "{s}");
        }
        if name == "train" {
            let pids = distinct("pid");
            assert_eq!(pids, (0..pids.len() as i64).collect(), "train pids relabelled 0..N-1");
        }
    }

    // An existing output is kept unless --overwrite is given.
    let before = std::fs::read(&file).unwrap();
    assert_clean_failure(&occreid(&split_args), &[&f, "--overwrite"]);
    assert_eq!(std::fs::read(&file).unwrap(), before);
    let mut again = split_args.to_vec();
    again.push("--overwrite");
    assert!(occreid(&again).status.success());

    // A missing root is one error naming it.
    let missing = tmp.path().join("nowhere").to_string_lossy().to_string();
    let other = tmp.path().join("other.json").to_string_lossy().to_string();
    let out = occreid(&[
        "data",
        "split",
        "--dataset",
        "market1501",
        "--root",
        &missing,
        "--out",
        &other,
    ]);
    assert_clean_failure(&out, &[&missing]);
    assert!(!Path::new(&other).exists());
}

/// Flags that would be ignored, and folders that cannot be written, are refused before any input is read
/// or any work is done, naming the flag or the path.
#[test]
fn ignored_flags_and_unusable_folders_are_refused_up_front() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixtures().join("market/case06_q200_g1500");
    let mut args = metrics_args(&dir);
    args.push("--per-query".into());
    assert_clean_failure(&run_strs(&args), &["--per-query", "--json"]);
    let mut args = metrics_args(&dir);
    args.push("--cuhk03-exact".into());
    assert_clean_failure(&run_strs(&args), &["--cuhk03-exact", "--protocol cuhk03"]);

    // Re-ranking parameters are checked before the (here missing) inputs are read.
    let missing = tmp.path().join("missing.npy");
    let (m, out) = (missing.to_str().unwrap(), tmp.path().join("r.npy"));
    let rerank = |extra: &[&str]| {
        let mut a = vec![
            "rerank",
            "--q-g",
            m,
            "--q-q",
            m,
            "--g-g",
            m,
            "--out",
            out.to_str().unwrap(),
        ];
        a.extend(extra);
        occreid(&a)
    };
    assert_clean_failure(&rerank(&["--lambda", "1.5"]), &["lambda", "1.5"]);
    assert_clean_failure(&rerank(&["--k1", "0"]), &["k1"]);
    assert!(!String::from_utf8_lossy(&rerank(&["--k2", "0"]).stderr).contains("missing.npy"));

    // A file where a folder must go: named, before the demo generates data or market-scale computes.
    let file = tmp.path().join("a_file");
    std::fs::write(&file, "x").unwrap();
    let f = file.to_str().unwrap();
    assert_clean_failure(&occreid(&["market-scale", "--out", f]), &["--out", "a_file"]);
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    assert_clean_failure(&occreid(&["demo", "--data", f]), &["--data", "a_file", "is a file"]);
    assert_clean_failure(
        &occreid(&["demo", "--data", d, "--out", f]),
        &["--out", "a_file", "is a file"],
    );
    assert_clean_failure(
        &occreid(&["demo", "--data", d, "--occlusion", "1.5"]),
        &["occlusion", "1.5"],
    );
    assert!(!data.exists(), "nothing generated");

    // Mixed precision asked for where it cannot apply.
    assert_clean_failure(
        &occreid(&["bench", "train", "--amp", "--device", "cpu", "--backbone", "resnet18"]),
        &["--amp", "CPU"],
    );
    let preset = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/demo.toml");
    assert_clean_failure(
        &occreid(&[
            "train",
            "--config",
            preset.to_str().unwrap(),
            "--set",
            "train.amp=true",
            "--set",
            "train.device=\"cpu\"",
            "--out",
            tmp.path().join("run").to_str().unwrap(),
        ]),
        &["train.amp", "train.device"],
    );
    assert!(!tmp.path().join("run").exists());
}
