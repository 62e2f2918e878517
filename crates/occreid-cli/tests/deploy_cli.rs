//! `occreid export`: every method's embedding, exported to TorchScript and ONNX, gives in PyTorch and in
//! onnxruntime (tools/check_export.py, the project's venv) the features `occreid extract` gives, at two
//! batch sizes; the model card is readable from both. `occreid extract` to a sharded gallery and `occreid
//! search` over it give the nearest neighbours of a full sort, with a checkpoint or its export. Bad input
//! is refused with one clear message.
mod common;

use std::path::{Path, PathBuf};

use common::{failed, occreid, occreid_strings, ok, synth, temporary_files, train_tiny};
use occreid_data::transforms::Interpolation;
use occreid_data::{decode, TestTransform};

/// `occreid export --checkpoint CK --format F --out OUT`.
fn export_args<'a>(ck: &'a str, format: &'a str, out: &'a str) -> [&'a str; 7] {
    ["export", "--checkpoint", ck, "--format", format, "--out", out]
}

/// `occreid extract --checkpoint CK --images IMAGES --out OUT`.
fn extract_args<'a>(ck: &'a str, images: &'a str, out: &'a str) -> [&'a str; 7] {
    ["extract", "--checkpoint", ck, "--images", images, "--out", out]
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn venv_python() -> PathBuf {
    let p = workspace().join(".venv/bin/python");
    assert!(p.exists(), "{} missing: run tools/bootstrap.sh", p.display());
    p
}

/// One epoch of `preset` at 64x32 (random-ish weights are enough: the exports must match occreid's own
/// features, whatever they are); returns the checkpoint.
fn train(preset: &str, data: &Path, out: &Path, extra: &[&str]) -> PathBuf {
    let sets: Vec<String> = ["train.epochs=1", "sdcn.vgn_epochs=1", "test.occlusion.enabled=false"]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect();
    train_tiny(preset, data, out, &sets);
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
            let text = ok(&occreid(&export_args(
                ck.to_str().unwrap(),
                format,
                out.to_str().unwrap(),
            )));
            assert!(text.contains(&format!("{method} embedding (64x32 input")), "{text}");
        }
        assert!(temporary_files(dir.path()).is_empty());
        if method == "bot" {
            // A Python without onnx (a stand-in that fails as such a Python does): one message that says
            // what to install, and nothing written.
            let python = dir.path().join("python-without-onnx");
            std::fs::write(
                &python,
                "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'onnx'\" >&2\nexit 1\n",
            )
            .unwrap();
            std::fs::set_permissions(&python, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
            let other = dir.path().join("other.onnx");
            let export_with_it = || {
                failed(&occreid(&[
                    "export",
                    "--checkpoint",
                    ck.to_str().unwrap(),
                    "--format",
                    "onnx",
                    "--python",
                    python.to_str().unwrap(),
                    "--out",
                    other.to_str().unwrap(),
                ]))
            };
            // A script just written can be "busy" for an exec while a process forked by a concurrent test
            // still holds its descriptor: try again then.
            let mut e = export_with_it();
            for _ in 0..5 {
                if !e.contains("Text file busy") {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
                e = export_with_it();
            }
            assert!(e.contains("No module named") && e.contains("bootstrap.sh"), "{e}");
            assert!(!other.exists() && temporary_files(dir.path()).is_empty());
        }

        let feats = dir.path().join(format!("{method}.npy"));
        ok(&occreid(&extract_args(
            ck.to_str().unwrap(),
            images.to_str().unwrap(),
            feats.to_str().unwrap(),
        )));
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

    let e = run(&export_args("x.ckpt", "onnx", existing.to_str().unwrap()));
    assert!(e.contains("already exists") && e.contains("--overwrite"), "{e}");
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");

    let e = run(&export_args(
        not_a_checkpoint.to_str().unwrap(),
        "torchscript",
        d.join("m.pt").to_str().unwrap(),
    ));
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

    let e = run(&export_args(
        "x.ckpt",
        "onnx",
        d.join("no/such/folder/m.onnx").to_str().unwrap(),
    ));
    assert!(e.contains("does not exist"), "{e}");

    // A file that is not an export is named as such when its card is read.
    let e = occreid_train::export::read_torchscript_card(&existing)
        .unwrap_err()
        .to_string();
    assert!(e.contains("taken.pt") && e.contains("not an occreid export"), "{e}");
}

fn json(out: &std::process::Output) -> serde_json::Value {
    ok(out);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Each query's `k` nearest gallery paths by squared Euclidean distance, ties to the earlier gallery row:
/// written out here with plain loops, independent of occreid-eval's GEMM path.
fn nearest(
    q: &occreid_train::features::FeatureFile,
    g: &occreid_train::features::FeatureFile,
    k: usize,
) -> Vec<Vec<(String, f32)>> {
    (0..q.features.rows())
        .map(|i| {
            let mut d: Vec<(usize, f32)> = (0..g.features.rows())
                .map(|j| {
                    let s: f64 = q
                        .features
                        .row(i)
                        .iter()
                        .zip(g.features.row(j))
                        .map(|(a, b)| ((a - b) as f64).powi(2))
                        .sum();
                    (j, s as f32)
                })
                .collect();
            d.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            d.into_iter().take(k).map(|(j, s)| (g.paths[j].clone(), s)).collect()
        })
        .collect()
}

#[test]
fn search_over_shards_finds_the_nearest_with_a_checkpoint_or_its_export() {
    use occreid_train::features::{read_features, save_features};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let data = d.join("data");
    synth(&data, 8, 2, 4);
    let ck = train("demo.toml", &data, &d.join("bot"), &[]);
    let export = d.join("bot.pt");
    ok(&occreid(&export_args(&s(&ck), "torchscript", &s(&export))));
    let (query, gallery_images) = (data.join("query"), data.join("bounding_box_test"));

    // The gallery twice: one file, and a folder of shards of a size the gallery's count is no multiple of.
    let (one_file, shards) = (d.join("gallery.safetensors"), d.join("gallery"));
    ok(&occreid(&extract_args(&s(&ck), &s(&gallery_images), &s(&one_file))));
    let g = read_features(&one_file).unwrap();
    let rows = g.features.rows();
    let shard_rows = (3..).find(|k| !rows.is_multiple_of(*k)).unwrap();
    let n_shards = rows.div_ceil(shard_rows);
    assert!(n_shards > 2, "{rows} rows");
    let text = ok(&occreid(&[
        "extract",
        "--checkpoint",
        &s(&export),
        "--images",
        &s(&gallery_images),
        "--out",
        &s(&shards),
        "--shard-rows",
        &shard_rows.to_string(),
    ]));
    assert!(text.contains(&format!("{n_shards} shards")), "{text}");
    let qfile = d.join("q.safetensors");
    ok(&occreid(&extract_args(&s(&ck), &s(&query), &s(&qfile))));
    // Every gallery item's distance to each query, sorted: the first five are the answer.
    let all = nearest(&read_features(&qfile).unwrap(), &g, rows);

    let html = d.join("search.html");
    for (model, gallery) in [(&ck, &shards), (&export, &one_file), (&export, &shards)] {
        let mut args = vec![
            "search".to_string(),
            "--model".into(),
            s(model),
            "--gallery".into(),
            s(gallery),
        ];
        args.extend(["--query".into(), s(&query), "--top".into(), "5".into(), "--json".into()]);
        if model == &ck {
            args.extend(["--html".into(), s(&html)]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = json(&occreid(&args));
        let results = out["results"].as_array().unwrap();
        assert_eq!(results.len(), all.len());
        for (r, w) in results.iter().zip(&all) {
            let got: Vec<(String, f64)> = r["matches"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| (m["path"].as_str().unwrap().to_string(), m["distance"].as_f64().unwrap()))
                .collect();
            assert_eq!(got.len(), 5);
            // Each match is a true top-5 item at its true distance, in order; the paths are those of the
            // full sort except where two distances tie to within float rounding.
            let fifth = w[4].1 as f64;
            for (rank, (gp, gd)) in got.iter().enumerate() {
                let truth = w.iter().find(|(p, _)| p == gp).unwrap().1 as f64;
                assert!((gd - truth).abs() < 1e-4, "{} {gp}: {gd} vs {truth}", model.display());
                assert!(truth <= fifth + 1e-5, "{gp} is not among the five nearest");
                let tied = |r: usize| w.get(r).is_some_and(|x| (x.1 as f64 - truth).abs() < 1e-5);
                assert!(
                    *gp == w[rank].0 || tied(rank + 1) || (rank > 0 && tied(rank - 1)),
                    "rank {rank}: {gp}"
                );
            }
            assert!(got.windows(2).all(|p| p[0].1 <= p[1].1));
        }
    }
    let page = std::fs::read_to_string(&html).unwrap();
    let first = Path::new(&all[0][0].0).file_name().unwrap().to_str().unwrap();
    assert!(page.contains("occreid search") && page.contains("unlabelled"), "page");
    assert!(
        page.contains(first),
        "the page names the first query's nearest image {first}"
    );

    // One query image as a file, as a person would search.
    let one = std::fs::read_dir(&query).unwrap().next().unwrap().unwrap().path();
    let out = json(&occreid(&[
        "search",
        "--model",
        &s(&ck),
        "--gallery",
        &s(&shards),
        "--query",
        &s(&one),
        "--top",
        "3",
        "--json",
    ]));
    assert_eq!(out["results"][0]["matches"].as_array().unwrap().len(), 3);

    // Query features instead of a model, and the HNSW index: built once beside the shards, reused, and
    // built again when the gallery is rewritten. At this size its neighbours are the exact ones.
    let hnsw = |expect_built: bool| {
        let out = json(&occreid(&[
            "search",
            "--query-features",
            &s(&qfile),
            "--gallery",
            &s(&shards),
            "--index",
            "hnsw",
            "--recall",
            "4",
            "--top",
            "5",
            "--json",
        ]));
        assert_eq!(out["index"]["built_now"], expect_built, "{}", out["index"]);
        assert_eq!(out["recall"]["at1"], 1.0);
        assert_eq!(out["recall"]["at10"], 1.0);
        for (r, w) in out["results"].as_array().unwrap().iter().zip(&all) {
            let got: Vec<&str> = r["matches"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["path"].as_str().unwrap())
                .collect();
            let want: Vec<&str> = w.iter().take(5).map(|(p, _)| p.as_str()).collect();
            assert_eq!(got, want);
        }
    };
    hnsw(true);
    hnsw(false);
    assert!(shards.join("hnsw/index.json").exists());
    ok(&occreid(&[
        "extract",
        "--checkpoint",
        &s(&ck),
        "--images",
        &s(&gallery_images),
        "--out",
        &s(&shards),
        "--overwrite",
        "--shard-rows",
        &shard_rows.to_string(),
    ]));
    hnsw(true);
    let e = failed(&occreid(&[
        "search",
        "--query-features",
        &s(&qfile),
        "--gallery",
        &s(&shards),
        "--recall",
        "4",
    ]));
    assert!(e.contains("use it with --index hnsw"), "{e}");

    // Bad input: one message each.
    let search = |model: &Path, gallery: &Path, query: &Path| {
        failed(&occreid(&[
            "search",
            "--model",
            &s(model),
            "--gallery",
            &s(gallery),
            "--query",
            &s(query),
        ]))
    };
    let other = train("demo.toml", &data, &d.join("bot_seed1"), &["seed=1"]);
    let e = search(&other, &shards, &query);
    assert!(e.contains("extracted by another model: weights"), "{e}");
    let mut forged = read_features(&one_file).unwrap();
    let mut card = forged.model.take().unwrap();
    card.method = "igoas".into();
    let samples: Vec<occreid_data::Sample> = g
        .paths
        .iter()
        .map(|p| occreid_data::Sample {
            path: p.into(),
            pid: -1,
            camid: -1,
        })
        .collect();
    let igoas_gallery = d.join("igoas.safetensors");
    save_features(&igoas_gallery, &forged.features, &samples, Some(&card)).unwrap();
    let e = search(&ck, &igoas_gallery, &query);
    assert!(e.contains("method igoas, the query model's bot"), "{e}");
    let onnx = d.join("bot.onnx");
    std::fs::write(&onnx, b"onnx bytes").unwrap();
    let e = search(&onnx, &shards, &query);
    assert!(e.contains("ONNX models run in onnxruntime"), "{e}");
    let unfinished = d.join("unfinished");
    std::fs::create_dir(&unfinished).unwrap();
    std::fs::copy(
        shards.join("shard-00000.safetensors"),
        unfinished.join("shard-00000.safetensors"),
    )
    .unwrap();
    let e = search(&ck, &unfinished, &query);
    assert!(e.contains("did not finish"), "{e}");
    let broken = d.join("broken");
    std::fs::create_dir(&broken).unwrap();
    std::fs::write(broken.join("0001_c1s1_000001_00.jpg"), b"not a jpeg").unwrap();
    let e = search(&ck, &shards, &broken);
    assert!(e.contains("0001_c1s1_000001_00.jpg"), "{e}");
    let empty = d.join("empty");
    std::fs::create_dir(&empty).unwrap();
    let e = search(&ck, &shards, &empty);
    assert!(e.contains("no ") && e.contains("files found"), "{e}");
    let e = failed(&occreid(&extract_args(&s(&ck), &s(&gallery_images), &s(&shards))));
    assert!(e.contains("already exists"), "{e}");
    let e = failed(&occreid(&[
        "extract",
        "--checkpoint",
        &s(&export),
        "--images",
        &s(&query),
        "--flip",
        "--out",
        &s(&d.join("f.npy")),
    ]));
    assert!(e.contains("--flip is for checkpoints"), "{e}");

    // An interrupted gallery extraction, continued: the state a killed process leaves (the first shards,
    // a half-written one, no manifest) is a copy of the finished gallery without its manifest and last two
    // shards plus a temporary file; --resume keeps the first shards and extracts the rest, and the gallery
    // keeps the first shard's model card.
    let resume_args = |ck: &Path, images: &Path, out: &Path| {
        [
            "extract".to_string(),
            "--checkpoint".into(),
            s(ck),
            "--images".into(),
            s(images),
            "--out".into(),
            s(out),
            "--shard-rows".into(),
            shard_rows.to_string(),
            "--resume".into(),
        ]
    };
    let resume = |ck: &Path, images: &Path, out: &Path| occreid_strings(&resume_args(ck, images, out));
    let interrupted = d.join("interrupted");
    std::fs::create_dir(&interrupted).unwrap();
    let kept = n_shards - 2;
    for i in 0..kept {
        let name = format!("shard-{i:05}.safetensors");
        std::fs::copy(shards.join(&name), interrupted.join(&name)).unwrap();
    }
    let half_written = interrupted.join(format!(".shard-{kept:05}.safetensors.tmp-1-0"));
    std::fs::write(&half_written, b"partial").unwrap();
    let e = failed(&resume(&other, &gallery_images, &interrupted));
    assert!(
        e.contains("shard-00000.safetensors: written by") && e.contains("--overwrite"),
        "{e}"
    );
    let e = failed(&resume(&ck, &query, &interrupted));
    assert!(e.contains("the images changed since the extraction started"), "{e}");
    assert!(half_written.exists(), "a refused resume changes nothing");
    let first = std::fs::read(interrupted.join("shard-00000.safetensors")).unwrap();
    // The checkpoint's export has its weights: it may continue what the checkpoint started.
    let text = ok(&resume(&export, &gallery_images, &interrupted));
    assert!(
        text.contains(&format!("resuming: {} of {rows} images", kept * shard_rows)),
        "{text}"
    );
    assert!(text.contains(&format!("{n_shards} shards")), "{text}");
    assert!(!half_written.exists(), "the half-written shard is removed");
    assert_eq!(
        std::fs::read(interrupted.join("shard-00000.safetensors")).unwrap(),
        first
    );
    let read_all = |dir: &Path| -> (Vec<String>, Vec<f32>) {
        let (mut paths, mut values) = (Vec::new(), Vec::new());
        for i in 0..n_shards {
            let f = read_features(&dir.join(format!("shard-{i:05}.safetensors"))).unwrap();
            paths.extend(f.paths);
            values.extend_from_slice(f.features.as_slice());
        }
        (paths, values)
    };
    let (want, got) = (read_all(&shards), read_all(&interrupted));
    assert_eq!(got.0, want.0);
    let worst = got
        .1
        .iter()
        .zip(&want.1)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-5, "resumed features differ from one run's by {worst}");
    let manifest = |dir: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("gallery.json")).unwrap()).unwrap()
    };
    assert_eq!(manifest(&interrupted), manifest(&shards));
    let e = failed(&resume(&ck, &gallery_images, &interrupted));
    assert!(e.contains("nothing to resume: the extraction finished"), "{e}");
    let e = failed(&resume(&ck, &gallery_images, &one_file));
    assert!(e.contains("is a single file"), "{e}");
    let mut both = resume_args(&ck, &gallery_images, &interrupted).to_vec();
    both.push("--overwrite".into());
    let e = failed(&occreid_strings(&both));
    assert!(e.contains("--overwrite") && e.contains("cannot be used with"), "{e}");

    // Ctrl-C for real: SIGINT once the first shard is on disk. 1,500 links to one gallery image, one per
    // batch, keep the process busy for seconds after that; it stops after its batch, keeps every row and
    // exits 130, and --resume extracts the rest.
    let many = d.join("many");
    std::fs::create_dir(&many).unwrap();
    let image = read_features(&one_file).unwrap().paths[0].clone();
    for i in 0..1500 {
        std::fs::hard_link(&image, many.join(format!("{i:04}.jpg"))).unwrap();
    }
    let stopped = d.join("stopped");
    let mut args = extract_args(&s(&ck), &s(&many), &s(&stopped))
        .map(String::from)
        .to_vec();
    args.extend(["--shard-rows", "10", "--batch-size", "1"].map(String::from));
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_occreid"))
        .args(&args)
        .env("OCCREID_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !stopped.join("shard-00000.safetensors").exists() {
        assert!(started.elapsed().as_secs() < 300, "no shard after 300 s");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    ok(&std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .output()
        .unwrap());
    let out = child.wait_with_output().unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{e}");
    let kept: usize = e
        .split_once("interrupted: ")
        .and_then(|(_, m)| m.split(" of 1500 images are in the shards").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{e}"));
    assert!(e.contains("--resume") && (10..1500).contains(&kept), "{e}");
    assert!(!stopped.join("gallery.json").exists());
    let shard_files = |dir: &Path| {
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
            .collect();
        names.sort();
        names
    };
    let on_disk: usize = shard_files(&stopped)
        .iter()
        .map(|p| read_features(p).unwrap().features.rows())
        .sum();
    assert_eq!(on_disk, kept, "every row the message counts is in a shard");
    args.push("--resume".into());
    let text = ok(&occreid_strings(&args));
    assert!(text.contains(&format!("resuming: {kept} of 1500 images")), "{text}");
    let (mut paths, mut rows) = (Vec::new(), Vec::new());
    for p in shard_files(&stopped) {
        let f = read_features(&p).unwrap();
        paths.extend(f.paths);
        rows.extend(f.features.as_slice().chunks(f.features.cols()).map(<[f32]>::to_vec));
    }
    let want: Vec<String> = (0..1500).map(|i| s(&many.join(format!("{i:04}.jpg")))).collect();
    assert_eq!(paths, want);
    // One image throughout: every row, before the stop and after the resume, is the same feature.
    assert!(rows
        .iter()
        .all(|r| r.iter().zip(&rows[0]).all(|(a, b)| (a - b).abs() < 1e-5)));
}
