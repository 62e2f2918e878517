//! `occreid train / eval / extract` on a tiny synthetic dataset: run folder contents, a checkpoint's
//! evaluation agreeing with the run's own, feature files, and the refusals that protect results.
mod common;

use common::{failed, occreid, occreid_with_file_limit, ok, synth, temporary_files};
use std::path::{Path, PathBuf};
use std::process::Output;

fn preset() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/demo.toml")
}

const TINY: [&str; 9] = [
    "train.epochs=2",
    "train.eval_period=0",
    "data.height=64",
    "data.width=32",
    "data.batch_size=8",
    "data.instances_per_id=2",
    "test.occlusion.ratios=[0.3]",
    "test.occlusion.kinds=[\"solid_box\", \"pedestrian\"]",
    "test.rerank=false",
];

/// `train` of the demo preset on `data` into `out`, at the TINY size, with further `--set` values.
fn train_args(data: &Path, out: &Path, sets: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "train",
        "--config",
        preset().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    let root = format!("data.root={}", data.display());
    for s in TINY.iter().copied().chain([root.as_str()]).chain(sets.iter().copied()) {
        args.extend(["--set".to_string(), s.to_string()]);
    }
    args
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn train(data: &Path, out: &Path) -> Output {
    occreid(&strs(&train_args(data, out, &[])))
}

#[test]
fn train_eval_extract_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    synth(&data, 12, 2, 4);

    let run = tmp.path().join("run");
    let text = ok(&train(&data, &run));
    assert!(text.contains("holistic") && text.contains("report:"), "{text}");
    for f in [
        "config.toml",
        "metrics.jsonl",
        "last.ckpt",
        "best.ckpt",
        "summary.json",
        "report.html",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["epochs"], 2);
    assert_eq!(summary["occlusion"].as_array().unwrap().len(), 2);
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(
        html.matches("<svg").count() >= 4,
        "loss, accuracy, lr and occlusion charts"
    );
    assert!(
        html.contains("data:image/jpeg;base64,"),
        "rank-list thumbnails embedded"
    );
    assert_eq!(
        std::fs::read_to_string(run.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .count(),
        2
    );

    // Reloading the checkpoint reproduces the run's own final evaluation.
    let ck = run.join("best.ckpt");
    let out = ok(&occreid(&[
        "eval",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--json",
        "--device",
        "cpu",
    ]));
    let eval: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(eval["mAP"], summary["mAP"]);
    assert_eq!(eval["cmc"], summary["cmc"]);
    assert_eq!(eval["epoch"], 2);
    // --root alone: the checkpoint's dataset read from that folder (here a missing one, named in the error).
    let moved = tmp.path().join("moved");
    let e = failed(&occreid(&[
        "eval",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--root",
        moved.to_str().unwrap(),
        "--device",
        "cpu",
    ]));
    assert!(e.contains("moved"), "{e}");

    let feats = tmp.path().join("q.npy");
    let f = feats.to_str().unwrap();
    let args = [
        "extract",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--dataset",
        "market1501",
        "--root",
        d,
    ];
    ok(&occreid(
        &[&args[..], &["--split", "query", "--out", f, "--device", "cpu"]].concat(),
    ));
    let (shape, values) = occreid_eval::npy::read_f32_array(&feats).unwrap();
    let names = std::fs::read_to_string(tmp.path().join("q.paths.txt")).unwrap();
    assert_eq!(shape[0], names.lines().count());
    assert_eq!(shape[1], 512);
    let norm: f32 = values[..512].iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "features are L2-normalised: {norm}");
    let e = failed(&occreid(&[&args[..], &["--split", "query", "--out", f]].concat()));
    assert!(e.contains("already exists"), "{e}");
    // The file list beside a .npy is output too: it is not replaced behind the user's back.
    let other = tmp.path().join("q2.npy");
    std::fs::write(tmp.path().join("q2.paths.txt"), "mine\n").unwrap();
    let e = failed(&occreid(
        &[&args[..], &["--split", "query", "--out", other.to_str().unwrap()]].concat(),
    ));
    assert!(e.contains("q2.paths.txt") && e.contains("already exists"), "{e}");
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("q2.paths.txt")).unwrap(),
        "mine\n"
    );

    let st = tmp.path().join("all.safetensors");
    let imgs = data.join("query");
    ok(&occreid(&[
        "extract",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--images",
        imgs.to_str().unwrap(),
        "--out",
        st.to_str().unwrap(),
    ]));
    assert!(std::fs::metadata(&st).unwrap().len() > (shape[0] * 512 * 4) as u64);
    // One flipped bit in a checkpoint's tensor data: refused, not used as slightly different weights.
    let mut bytes = std::fs::read(&ck).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    let flipped = tmp.path().join("flipped.ckpt");
    std::fs::write(&flipped, &bytes).unwrap();
    let e = failed(&occreid(&[
        "extract",
        "--checkpoint",
        flipped.to_str().unwrap(),
        "--images",
        imgs.to_str().unwrap(),
        "--out",
        tmp.path().join("flipped.safetensors").to_str().unwrap(),
    ]));
    assert!(e.contains("flipped.ckpt is corrupted") && e.contains("checksum"), "{e}");

    // A finished run is never overwritten; resuming it has nothing left to do.
    let e = failed(&train(&data, &run));
    assert!(e.contains("already holds a run"), "{e}");
    ok(&occreid(&["train", "--resume", "--out", run.to_str().unwrap()]));
}

#[test]
fn config_mistakes_are_reported_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let p = preset();
    let args = ["train", "--config", p.to_str().unwrap(), "--out", out.to_str().unwrap()];
    let e = failed(&occreid(&[&args[..], &["--set", "optim.base_lrr=0.1"]].concat()));
    assert!(e.contains("did you mean `optim.base_lr`"), "{e}");
    let e = failed(&occreid(
        &[&args[..], &["--set", "data.root=/nonexistent/market"]].concat(),
    ));
    assert!(e.contains("/nonexistent/market"), "{e}");
    assert!(!out.exists(), "nothing written for a failed start");
    let e = failed(&occreid(&[
        "eval",
        "--checkpoint",
        tmp.path().join("none.ckpt").to_str().unwrap(),
    ]));
    assert!(e.contains("none.ckpt"), "{e}");
}

/// SDCN + VGN from one command: stage folders, the stage-2 checkpoint's evaluation equal to the run's,
/// 512-d f_sum features from either stage, and `--resume` redoing a lost stage 2 bit for bit.
#[test]
fn sdcn_vgn_trains_both_stages_from_one_command() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synth(&data, 12, 2, 4);
    let preset = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/demo_sdcn_vgn.toml");
    let run = tmp.path().join("run");
    let root = format!("data.root={}", data.display());
    let mut args = vec![
        "train",
        "--config",
        preset.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--set",
        &root,
    ];
    for s in [
        "train.epochs=2",
        "sdcn.vgn_epochs=1",
        "train.eval_period=0",
        "data.height=64",
        "data.width=32",
        "data.batch_size=8",
        "test.occlusion.ratios=[0.3]",
        "test.occlusion.kinds=[\"solid_box\"]",
        "test.rerank=false",
    ] {
        args.extend(["--set", s]);
    }
    let text = ok(&occreid(&args));
    assert!(
        text.contains("stage 1 of 2 (vgn)") || text.contains("training vgn"),
        "{text}"
    );
    let (stage1, stage2) = (run.join("stage1_vgn"), run.join("stage2_sdcn"));
    assert!(run.join("config.toml").is_file());
    for dir in [&stage1, &stage2] {
        for f in ["config.toml", "last.ckpt", "summary.json", "report.html"] {
            assert!(dir.join(f).is_file(), "{} missing", dir.join(f).display());
        }
    }
    let s1: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(stage1.join("summary.json")).unwrap()).unwrap();
    let s2: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(stage2.join("summary.json")).unwrap()).unwrap();
    assert_eq!((s1["epochs"].as_u64(), s1["method"].as_str()), (Some(1), Some("vgn")));
    assert_eq!((s2["epochs"].as_u64(), s2["method"].as_str()), (Some(2), Some("sdcn")));
    // The occlusion suite measures the final model only; the VGN stage is evaluated holistically.
    let suite = |s: &serde_json::Value| s["occlusion"].as_array().map_or(0, |a| a.len());
    assert_eq!((suite(&s1), suite(&s2)), (0, 1));

    // The stage-2 checkpoint reproduces the run's final evaluation; both stages extract f_sum (512-d).
    let out = ok(&occreid(&[
        "eval",
        "--checkpoint",
        stage2.join("last.ckpt").to_str().unwrap(),
        "--json",
        "--device",
        "cpu",
    ]));
    let eval: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(eval["mAP"], s2["mAP"]);
    assert_eq!(eval["cmc"], s2["cmc"]);
    for (k, dir) in [&stage1, &stage2].into_iter().enumerate() {
        let feats = tmp.path().join(format!("q{k}.npy"));
        ok(&occreid(&[
            "extract",
            "--checkpoint",
            dir.join("last.ckpt").to_str().unwrap(),
            "--dataset",
            "market1501",
            "--root",
            data.to_str().unwrap(),
            "--split",
            "query",
            "--out",
            feats.to_str().unwrap(),
            "--device",
            "cpu",
        ]));
        assert_eq!(occreid_eval::npy::read_f32_array(&feats).unwrap().0[1], 512);
    }

    // The same networks saved as the authors' code saves them (their names, the resnet_conv.* aliases,
    // num_batches_tracked) import into a checkpoint that extracts the same features.
    let ck = occreid_train::checkpoint::load(&stage2.join("last.ckpt")).unwrap();
    let authors = |prefix: &str, network: bool| {
        let mut out: Vec<(String, occreid_torch::tch::Tensor)> = Vec::new();
        for (name, t) in ck.model.iter().filter(|(n, _)| n.starts_with(prefix)) {
            let bare = &name[prefix.len()..];
            let theirs = match (network, bare.strip_prefix("conv1."), bare.strip_prefix("bn1.")) {
                (true, Some(rest), _) => format!("conv1.0.{rest}"),
                (true, _, Some(rest)) => format!("conv1.1.{rest}"),
                _ => bare.to_string(),
            };
            if network && theirs.starts_with("conv1.0.") {
                out.push(("resnet_conv.0.weight".into(), t.zeros_like()));
            }
            out.push((format!("module.{theirs}"), t.shallow_clone()));
        }
        out.push((
            "module.W.1.num_batches_tracked".into(),
            occreid_torch::tch::Tensor::from(3i64),
        ));
        let path = tmp.path().join(format!("{}safetensors", prefix));
        occreid_torch::tch::Tensor::write_safetensors(&out, &path).unwrap();
        path
    };
    let (sdcn_sd, nl_sd) = (authors("sdcn.", true), authors("nonlocal.", false));
    let imported = tmp.path().join("imported.ckpt");
    let text = ok(&occreid(&[
        "import",
        "daao",
        "--config",
        preset.to_str().unwrap(),
        "--set",
        "data.height=64",
        "--set",
        "data.width=32",
        "--sdcn",
        sdcn_sd.to_str().unwrap(),
        "--nonlocal",
        nl_sd.to_str().unwrap(),
        "--out",
        imported.to_str().unwrap(),
    ]));
    assert!(text.contains("'sdcn' checkpoint"), "{text}");
    let feats = tmp.path().join("imported.npy");
    ok(&occreid(&[
        "extract",
        "--checkpoint",
        imported.to_str().unwrap(),
        "--dataset",
        "market1501",
        "--root",
        data.to_str().unwrap(),
        "--split",
        "query",
        "--out",
        feats.to_str().unwrap(),
        "--device",
        "cpu",
    ]));
    assert_eq!(
        occreid_eval::npy::read_f32_array(&feats).unwrap(),
        occreid_eval::npy::read_f32_array(tmp.path().join("q1.npy")).unwrap(),
        "the imported checkpoint extracts the trained run's features"
    );
    let e = failed(&occreid(&[
        "import",
        "daao",
        "--config",
        preset.to_str().unwrap(),
        "--sdcn",
        nl_sd.to_str().unwrap(),
        "--nonlocal",
        nl_sd.to_str().unwrap(),
        "--out",
        tmp.path().join("x.ckpt").to_str().unwrap(),
    ]));
    assert!(e.contains("classifier.classifier.weight"), "{e}");

    // A lost stage 2 is retrained by --resume from the finished stage 1, to the same bytes.
    let before = std::fs::read(stage2.join("last.ckpt")).unwrap();
    std::fs::remove_dir_all(&stage2).unwrap();
    let text = ok(&occreid(&["train", "--resume", "--out", run.to_str().unwrap()]));
    assert!(text.contains("already finished"), "{text}");
    assert!(
        std::fs::read(stage2.join("last.ckpt")).unwrap() == before,
        "stage 2 retrained identically"
    );
    // The plan's folder is protected like a single run's.
    let e = failed(&occreid(&args));
    assert!(e.contains("already holds a run"), "{e}");
}

/// The training log, read from a file or a pipe: no colour codes, numbers rounded for people.
#[test]
fn training_log_has_rounded_numbers_and_no_colour_codes_when_piped() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synth(&data, 12, 2, 4);
    let run = tmp.path().join("run");
    let args = train_args(&data, &run, &["test.occlusion.enabled=false"]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_occreid"))
        .args(&args)
        .env("OCCREID_LOG", "info")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{log}");
    assert!(!log.contains('\u{1b}'), "colour codes in a piped log: {log}");
    let line = log.lines().find(|l| l.contains("epoch done")).expect("an epoch line");
    let value = |key: &str| {
        let start = line
            .find(&format!("{key}="))
            .unwrap_or_else(|| panic!("{key} in {line}"))
            + key.len()
            + 1;
        line[start..].split_whitespace().next().unwrap().to_string()
    };
    for key in ["lr", "loss", "acc"] {
        let v = value(key);
        assert!(
            v.len() <= 8 && v.parse::<f64>().is_ok(),
            "{key}={v} is not rounded: {line}"
        );
    }
}

/// The disk fills up when the first checkpoint is written (a 1 MiB file-size limit): the run stops with one
/// error naming the checkpoint file, and leaves no temporary file behind.
#[test]
fn a_checkpoint_write_that_fails_is_named_and_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synth(&data, 12, 2, 4);
    let run = tmp.path().join("run");
    let e = failed(&occreid_with_file_limit(1024, &strs(&train_args(&data, &run, &[]))));
    assert!(e.contains("last.ckpt") && e.contains("File too large"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
    assert!(!run.join("last.ckpt").exists());
    assert_eq!(temporary_files(&run), Vec::<String>::new());
}

/// One writer per run folder, Ctrl-C, and SIGKILL at random moments: a second `train --resume` on a
/// folder in use is refused with the PID holding it; SIGINT stops the run with a resumable checkpoint,
/// exit status 130 and the command that continues it; a SIGKILLed run's lock does not block its resume;
/// and the run, stopped once by Ctrl-C and killed three times, ends with the same tensors, bit for bit,
/// as an uninterrupted one.
#[test]
fn a_run_in_use_is_refused_and_stopped_or_killed_runs_resume_bit_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synth(&data, 12, 2, 4);
    // Evaluations at epochs 2, 4 and 6, and checkpoints every 2 steps inside the epochs as well.
    let sets = [
        "train.epochs=6",
        "train.eval_period=2",
        "train.checkpoint_every_steps=2",
        "test.occlusion.enabled=false",
    ];
    let args = |out: &Path| train_args(&data, out, &sets);
    let straight = tmp.path().join("straight");
    ok(&occreid(&strs(&args(&straight))));

    let run = tmp.path().join("run");
    let spawn = |args: &[String]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_occreid"))
            .args(args)
            .env("OCCREID_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Waits until the run has written a checkpoint newer than `since`.
    let checkpoint_after = |since: Option<std::time::SystemTime>| {
        let started = std::time::Instant::now();
        loop {
            let modified = std::fs::metadata(run.join("last.ckpt")).and_then(|m| m.modified()).ok();
            if modified.is_some_and(|m| since.is_none_or(|s| m > s)) {
                return modified;
            }
            assert!(started.elapsed().as_secs() < 300, "no checkpoint after 300 s");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    let resume = ["train", "--resume", "--out", run.to_str().unwrap()].map(String::from);

    let child = spawn(&args(&run));
    let first = checkpoint_after(None);
    let e = failed(&occreid(&["train", "--resume", "--out", run.to_str().unwrap()]));
    assert!(
        e.contains("in use") && e.contains(&format!("PID {}", child.id())),
        "{e}"
    );
    let pid = child.id().to_string();
    ok(&std::process::Command::new("kill")
        .args(["-INT", &pid])
        .output()
        .unwrap());
    let out = child.wait_with_output().unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{e}");
    assert!(
        e.contains("interrupted") && e.contains("occreid train --resume --out"),
        "{e}"
    );

    // Resumed and killed three times, each somewhere after its next checkpoint: during a step, an
    // evaluation or a checkpoint write.
    let mut latest = checkpoint_after(first);
    for _ in 0..3 {
        let mut child = spawn(&resume);
        checkpoint_after(latest);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        std::thread::sleep(std::time::Duration::from_millis(u64::from(nanos % 1000)));
        child.kill().unwrap();
        if child.wait().unwrap().success() {
            break; // it finished first: the remaining kills have nothing to stop
        }
        latest = std::fs::metadata(run.join("last.ckpt")).and_then(|m| m.modified()).ok();
    }
    ok(&occreid(&strs(&resume)));
    assert_eq!(
        temporary_files(&run),
        Vec::<String>::new(),
        "writes cut by the kills are cleared"
    );

    let a = occreid_train::checkpoint::load(&straight.join("last.ckpt")).unwrap();
    let b = occreid_train::checkpoint::load(&run.join("last.ckpt")).unwrap();
    assert_eq!((a.meta.epoch, b.meta.epoch), (6, 6));
    assert_eq!(a.model.len(), b.model.len());
    for (name, t) in &a.model {
        assert!(t.equal(&b.model[name]), "{name} differs after the stops and resumes");
    }
    for (name, t) in &a.optim {
        assert!(t.equal(&b.optim[name]), "optimiser state {name} differs");
    }
}
