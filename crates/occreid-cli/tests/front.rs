//! The `occreid` front binary: evaluation without libtorch, every other command through `occreid-full`.
mod common;

use common::{failed, metrics_args, occreid, occreid_strings, ok};
use std::path::{Path, PathBuf};
use std::process::Command;

use occreid_eval::npy::{read_matrix, write_layout};

fn case() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../occreid-eval/tests/fixtures/market/case04_q60_g400")
}

fn metrics_json(distmat: &Path) -> String {
    let d = distmat.to_string_lossy().to_string();
    let out = occreid_strings(&metrics_args(
        &["--distmat", &d],
        &case(),
        &["--json", "--per-query", "--roc"],
    ));
    ok(&out);
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn metrics_give_the_same_output_for_every_layout_numpy_can_write() {
    // The fixture's float32 C-order file is read in place; the others are converted row block by block.
    let original = case().join("distmat.npy");
    let want = metrics_json(&original);
    let m = read_matrix(&original).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    for (descr, fortran) in [("<f8", false), ("<f4", true), (">f4", false), (">f8", true)] {
        let p = tmp.path().join("distmat.npy");
        write_layout(&p, descr, fortran, m.rows(), m.cols(), |r, c| m.get(r, c) as f64).unwrap();
        assert_eq!(metrics_json(&p), want, "{descr} fortran={fortran}");
    }
}

#[test]
fn the_front_binary_does_not_link_libtorch() {
    let out = Command::new("readelf")
        .args(["-d", env!("CARGO_BIN_EXE_occreid")])
        .output()
        .expect("readelf (binutils) runs");
    let dynamic = String::from_utf8_lossy(&out.stdout);
    assert!(dynamic.contains("(NEEDED)"), "{dynamic}");
    assert!(!dynamic.contains("torch") && !dynamic.contains("c10"), "{dynamic}");
    let full = Command::new("readelf")
        .args(["-d", env!("CARGO_BIN_EXE_occreid-full")])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&full.stdout).contains("libtorch.so"));
}

#[test]
fn other_commands_and_the_help_run_in_occreid_full() {
    // The help lists every command, the ones the front binary runs itself included.
    let help = ok(&occreid(&["--help"]));
    for command in ["train", "export", "search", "metrics", "rerank", "market-scale"] {
        assert!(help.contains(command), "{help}");
    }
    assert!(help.contains("Usage: occreid"), "{help}");
    // An error of a command run in occreid-full keeps its message and exit status.
    let err = failed(&occreid(&[
        "train",
        "--config",
        "/nonexistent/preset.toml",
        "--out",
        "/nonexistent/run",
    ]));
    assert!(err.contains("/nonexistent/preset.toml"), "{err}");
    // Without occreid-full beside it, the front binary says what is missing and how to build it.
    let tmp = tempfile::tempdir().unwrap();
    let alone = tmp.path().join("occreid");
    std::fs::copy(env!("CARGO_BIN_EXE_occreid"), &alone).unwrap();
    let out = Command::new(&alone)
        .args(["train", "--help"])
        .env_remove("OCCREID_FULL")
        .output()
        .unwrap();
    let err = failed(&out);
    assert!(
        err.contains("occreid-full is missing") && err.contains("cargo build"),
        "{err}"
    );
    // The front binary's own commands still work there.
    let out = Command::new(&alone).args(["metrics", "--help"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn metrics_from_features_equal_metrics_on_torchreids_distance_matrix_of_them() {
    // The re-ranking fixtures hold features and torchreid's squared-Euclidean q_g of them (torch addmm).
    for case in ["case_q50_g300", "case_q100_g600"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../occreid-eval/tests/fixtures/rerank")
            .join(case);
        let f = |n: &str| dir.join(n).to_string_lossy().to_string();
        let run = |input: &[&str], extra: &[&str]| {
            let mut all = vec!["--json", "--per-query"];
            all.extend(extra);
            let out = occreid_strings(&metrics_args(input, &dir, &all));
            ok(&out);
            serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
        };
        let want = run(&["--distmat", &f("q_g.npy")], &[]);
        let features = [
            "--query-features",
            &f("q_feats.npy"),
            "--gallery-features",
            &f("g_feats.npy"),
        ];
        // Blocks of 7 gallery rows: no block size divides 300 or 600 evenly into it.
        let got = run(&features, &["--block-rows", "7"]);
        assert_eq!(got["num_valid_queries"], want["num_valid_queries"], "{case}");
        for key in ["mAP", "mINP"] {
            let (g, w) = (got[key].as_f64().unwrap(), want[key].as_f64().unwrap());
            assert!((g - w).abs() < 1e-12, "{case} {key}: {g} vs {w}");
        }
        assert_eq!(got["cmc"], want["cmc"], "{case}");
        assert_eq!(got["per_query"], want["per_query"], "{case}");
    }
}

#[test]
fn metrics_from_features_refuse_what_needs_every_distance() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../occreid-eval/tests/fixtures/rerank/case_q20_g80");
    let f = |n: &str| dir.join(n).to_string_lossy().to_string();
    let (qf, gf, qp) = (f("q_feats.npy"), f("g_feats.npy"), f("q_pids.npy"));
    for extra in [&["--roc"][..], &["--protocol", "cuhk03"]] {
        let err = failed(&occreid_strings(&metrics_args(
            &["--query-features", &qf, "--gallery-features", &gf],
            &dir,
            extra,
        )));
        assert!(
            err.contains("--distmat") && !err.contains("panicked"),
            "{extra:?}: {err}"
        );
    }
    // A label file where the gallery features go: one error naming it.
    let args = metrics_args(&["--query-features", &qf, "--gallery-features", &qp], &dir, &[]);
    let err = failed(&occreid_strings(&args));
    assert!(err.contains("q_pids.npy"), "{err}");
}
