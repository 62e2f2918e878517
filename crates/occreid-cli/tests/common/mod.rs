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

/// `occreid metrics` with `input` (`--distmat F`, or `--query-features F --gallery-features G`), the four
/// label files of `dir` (q_pids, g_pids, q_camids, g_camids .npy) and then `extra`.
pub fn metrics_args(input: &[&str], dir: &Path, extra: &[&str]) -> Vec<String> {
    let f = |n: &str| dir.join(n).to_string_lossy().to_string();
    let mut args = vec!["metrics".to_string()];
    args.extend(input.iter().map(|a| a.to_string()));
    for (flag, file) in [
        ("--query-pids", "q_pids.npy"),
        ("--gallery-pids", "g_pids.npy"),
        ("--query-camids", "q_camids.npy"),
        ("--gallery-camids", "g_camids.npy"),
    ] {
        args.push(flag.into());
        args.push(f(file));
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

/// [`occreid`] with owned arguments.
pub fn occreid_strings(args: &[String]) -> Output {
    occreid(&args.iter().map(String::as_str).collect::<Vec<_>>())
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

/// Runs the binary with files limited to `kib` KiB (RLIMIT_FSIZE through the shell's `ulimit -f`), as
/// on a full disk or a quota: a write past it fails with EFBIG (SIGXFSZ is ignored, as the shell's trap
/// leaves it for the exec'd binary).
pub fn occreid_with_file_limit(kib: u64, args: &[&str]) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg(format!("trap '' XFSZ; ulimit -f {kib}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_occreid"))
        .args(args)
        .env("OCCREID_LOG", "warn")
        .output()
        .unwrap()
}

/// Files in `dir` whose name says they are an unfinished atomic write.
pub fn temporary_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect()
}

/// `occreid train --config configs/PRESET` on `data` into `out`, tiny: 64x32 input, batch 8 (2 per
/// identity), no evaluation during training, no re-ranking, then `sets` (`key=value`, applied last).
pub fn train_tiny(preset: &str, data: &Path, out: &Path, sets: &[String]) {
    let preset = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs").join(preset);
    let mut all: Vec<String> = vec![
        format!("data.root={}", data.display()),
        "train.eval_period=0".into(),
        "data.height=64".into(),
        "data.width=32".into(),
        "data.batch_size=8".into(),
        "data.instances_per_id=2".into(),
        "test.rerank=false".into(),
    ];
    all.extend(sets.iter().cloned());
    let mut args = vec![
        "train",
        "--config",
        preset.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    for s in &all {
        args.extend(["--set", s.as_str()]);
    }
    ok(&occreid(&args));
}
