//! Running the `occreid` binary from the CLI tests.
#![allow(dead_code)]
use std::path::Path;
use std::process::{Command, Output};

/// Runs the binary with warnings-only logs.
pub fn occreid(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_occreid"))
        .args(args)
        .env("OCCREID_LOG", "warn")
        .output()
        .unwrap()
}

/// `occreid data synth --out root` with the given identities, cameras and images per identity, seed 3;
/// panics with the binary's output when it fails.
pub fn synth(root: &Path, ids: u32, cameras: u32, images_per_id: u32) {
    let (ids, cameras, images) = (ids.to_string(), cameras.to_string(), images_per_id.to_string());
    let out = occreid(&[
        "data",
        "synth",
        "--out",
        root.to_str().unwrap(),
        "--ids",
        &ids,
        "--cameras",
        &cameras,
        "--images-per-id",
        &images,
        "--seed",
        "3",
    ]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The output's stdout and stderr; panics with them when the command failed.
pub fn ok(out: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

/// The stderr of a command that must have failed.
pub fn failed(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    String::from_utf8_lossy(&out.stderr).to_string()
}
