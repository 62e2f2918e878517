//! `occreid export`: every method's embedding, exported to TorchScript and ONNX, gives in PyTorch and in
//! onnxruntime (tools/check_export.py, the project's venv) the features `occreid extract` gives, at two
//! batch sizes; the model card is readable from both; bad input is refused with one clear message.
mod common;

use std::path::{Path, PathBuf};

use common::{failed, occreid, ok, synth, temporary_files};
use occreid_data::transforms::Interpolation;
use occreid_data::{decode, TestTransform};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn venv_python() -> PathBuf {
    let p = workspace().join(".venv/bin/python");
    assert!(p.exists(), "{} missing: run tools/bootstrap.sh", p.display());
    p
}

/// One epoch of `preset` at 64x32 (random-ish weights are enough: the exports must match
/// occreid's own features, whatever they are); returns the checkpoint.
fn train(preset: &str, data: &Path, out: &Path, extra: &[&str]) -> PathBuf {
    let preset = workspace().join("configs").join(preset);
    let mut sets: Vec<String> = vec![
        format!("data.root={}", data.display()),
        "train.epochs=1".into(),
        "sdcn.vgn_epochs=1".into(),
        "train.eval_period=0".into(),
        "data.height=64".into(),
        "data.width=32".into(),
        "data.batch_size=8".into(),
        "data.instances_per_id=2".into(),
        "test.occlusion.enabled=false".into(),
        "test.rerank=false".into(),
    ];
    sets.extend(extra.iter().map(|s| s.to_string()));
    let mut args = vec![
        "train",
        "--config",
        preset.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    for s in &sets {
        args.extend(["--set", s.as_str()]);
    }
    ok(&occreid(&args));
    let staged = out.join("stage2_sdcn/last.ckpt");
    if staged.exists() {
        staged
    } else {
        out.join("last.ckpt")
    }
}

fn read_f32(path: &Path) -> (Vec<usize>, Vec<f32>) {
    occreid_eval::npy::read_f32_array(path).unwrap()
}

#[test]
fn exports_give_extracts_features_in_pytorch_and_onnxruntime() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    synth(&data, 8, 2, 4);
    let images = data.join("query");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&images).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    assert!(paths.len() >= 7, "need a batch that 5 does not divide");

    // The normalised inputs, computed by occreid's own test transform, so the runtimes see the exact tensor
    // `occreid extract` feeds its model (the check is of the model, not of the resize).
    let inputs = dir.path().join("inputs.npy");
    let write_inputs = |interp: Interpolation| {
        let t = TestTransform::new(64, 32, interp);
        let flat: Vec<f32> = paths.iter().flat_map(|p| t.apply(&decode(p).unwrap())).collect();
        occreid_eval::npy::write_f32(&inputs, &[paths.len(), 3, 64, 32], &flat).unwrap();
    };

    // bot with flip averaging on; sdcn (its non-local block reshapes per batch); igoas (two branches).
    let cases = [
        ("bot", "demo.toml", vec!["test.flip=true"]),
        ("sdcn", "demo_sdcn_vgn.toml", vec![]),
        ("igoas", "demo_igoas.toml", vec![]),
    ];
    for (method, preset, extra) in cases {
        let run = dir.path().join(method);
        let ck = train(preset, &data, &run, &extra);
        let ts = dir.path().join(format!("{method}.pt"));
        let onnx = dir.path().join(format!("{method}.onnx"));
        for (format, out) in [("torchscript", &ts), ("onnx", &onnx)] {
            let text = ok(&occreid(&[
                "export",
                "--checkpoint",
                ck.to_str().unwrap(),
                "--format",
                format,
                "--out",
                out.to_str().unwrap(),
            ]));
            assert!(text.contains(&format!("{method} embedding (64x32 input")), "{text}");
        }
        assert!(temporary_files(dir.path()).is_empty());
        if method == "bot" {
            // A Python without torch / onnx: one message that says what to install, and nothing written.
            let other = dir.path().join("other.onnx");
            let e = failed(&occreid(&[
                "export",
                "--checkpoint",
                ck.to_str().unwrap(),
                "--format",
                "onnx",
                "--python",
                "/usr/bin/python3",
                "--out",
                other.to_str().unwrap(),
            ]));
            assert!(e.contains("No module named") && e.contains("bootstrap.sh"), "{e}");
            assert!(!other.exists() && temporary_files(dir.path()).is_empty());
        }

        let feats = dir.path().join(format!("{method}.npy"));
        ok(&occreid(&[
            "extract",
            "--checkpoint",
            ck.to_str().unwrap(),
            "--images",
            images.to_str().unwrap(),
            "--out",
            feats.to_str().unwrap(),
        ]));
        let (shape, want) = read_f32(&feats);
        assert_eq!(shape[0], paths.len());

        let card_interp = {
            let card = occreid_train::export::read_torchscript_card(&ts).unwrap();
            assert_eq!((card.method.as_str(), card.feature_dim), (method, shape[1]));
            assert_eq!(card.flip_averaged, method == "bot");
            card.input.interpolation
        };
        write_inputs(card_interp);
        let prefix = dir.path().join(format!("{method}.out"));
        let out = std::process::Command::new(venv_python())
            .arg(workspace().join("tools/check_export.py"))
            .args([&ts, &onnx, &inputs, &prefix])
            .args(["1", "5"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let cards: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for runtime in ["torchscript", "onnx"] {
            let card = &cards[runtime];
            assert_eq!(card["method"], method, "{runtime}");
            assert_eq!(card["feature_dim"], shape[1], "{runtime}");
            assert_eq!(card["input"]["height"], 64, "{runtime}");
            assert_eq!(card["source_checkpoint"], ck.to_str().unwrap(), "{runtime}");
            for batch in [1, 5] {
                let (s, got) = read_f32(&prefix.with_extension(format!("out.{runtime}.b{batch}.npy")));
                assert_eq!(s, shape, "{method} {runtime} batch {batch}");
                let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                eprintln!("{method} {runtime} batch {batch}: max |diff| {worst:.1e}");
                assert!(worst <= 1e-4, "{method} {runtime} batch {batch}: max |diff| {worst}");
            }
        }
    }
}

#[test]
fn export_refuses_bad_input_with_one_message() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let existing = d.join("taken.pt");
    std::fs::write(&existing, b"keep me").unwrap();
    let not_a_checkpoint = d.join("weights.ckpt");
    std::fs::write(&not_a_checkpoint, b"not safetensors").unwrap();
    let run = |args: &[&str]| failed(&occreid(args));

    let e = run(&[
        "export",
        "--checkpoint",
        "x.ckpt",
        "--format",
        "onnx",
        "--out",
        existing.to_str().unwrap(),
    ]);
    assert!(e.contains("already exists") && e.contains("--overwrite"), "{e}");
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");

    let e = run(&[
        "export",
        "--checkpoint",
        not_a_checkpoint.to_str().unwrap(),
        "--format",
        "torchscript",
        "--out",
        d.join("m.pt").to_str().unwrap(),
    ]);
    assert!(e.contains("weights.ckpt"), "{e}");
    assert!(!d.join("m.pt").exists());

    let e = run(&[
        "export",
        "--checkpoint",
        "x.ckpt",
        "--format",
        "torchscript",
        "--python",
        "python3",
        "--out",
        d.join("m.pt").to_str().unwrap(),
    ]);
    assert!(e.contains("--python is for --format onnx"), "{e}");

    let e = run(&[
        "export",
        "--checkpoint",
        "x.ckpt",
        "--format",
        "onnx",
        "--out",
        d.join("no/such/folder/m.onnx").to_str().unwrap(),
    ]);
    assert!(e.contains("does not exist"), "{e}");

    // A file that is not an export is named as such when its card is read.
    let e = occreid_train::export::read_torchscript_card(&existing)
        .unwrap_err()
        .to_string();
    assert!(e.contains("taken.pt") && e.contains("not an occreid export"), "{e}");
}
