//! ResNets against torchvision (key sets, forward pass with deterministic weights) and weight loading.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use occreid_model::resnet::{Depth, ResNet, ResNetConfig};
use occreid_model::testing::deterministic;
use occreid_model::weights::load_into;
use occreid_torch::tch::nn::{ModuleT, VarStore};
use occreid_torch::tch::{Device, Tensor};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn torchvision_keys() -> BTreeMap<String, Vec<(String, Vec<i64>)>> {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("torchvision_keys.json")).unwrap()).unwrap();
    v.as_object()
        .unwrap()
        .iter()
        .map(|(arch, list)| {
            let keys = list
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    let shape = e[1].as_array().unwrap().iter().map(|d| d.as_i64().unwrap()).collect();
                    (e[0].as_str().unwrap().to_string(), shape)
                })
                .collect();
            (arch.clone(), keys)
        })
        .collect()
}

fn build(depth: Depth, config: ResNetConfig) -> (VarStore, ResNet) {
    let vs = VarStore::new(Device::Cpu);
    let net = ResNet::new(&vs.root(), ResNetConfig { depth, ..config });
    (vs, net)
}

#[test]
fn parameter_names_and_shapes_cover_torchvision_state_dicts() {
    for (arch, keys) in torchvision_keys() {
        let depth: Depth = arch.parse().unwrap();
        let (vs, _) = build(depth, ResNetConfig::torchvision(depth));
        let ours: BTreeMap<String, Vec<i64>> = vs.variables().into_iter().map(|(k, v)| (k, v.size())).collect();
        let theirs: BTreeMap<String, Vec<i64>> = keys
            .into_iter()
            .filter(|(k, _)| !k.starts_with("fc.") && !k.ends_with("num_batches_tracked"))
            .collect();
        assert_eq!(ours, theirs, "{arch}");
    }
}

fn forward_parity(arch: &str, train: bool, file: &str) {
    let depth: Depth = arch.parse().unwrap();
    let keys = &torchvision_keys()[arch];
    let (vs, net) = build(depth, ResNetConfig::bot(depth));
    let vars = vs.variables();
    occreid_torch::tch::no_grad(|| {
        for (t, (name, shape)) in keys.iter().enumerate() {
            if let Some(v) = vars.get(name) {
                v.shallow_clone().copy_(&deterministic(name, shape, t as i64));
            }
        }
    });
    let n = 2 * 3 * 64 * 32;
    let x: Vec<f32> = (0..n).map(|k| (((k * 31) % 255) as f64 / 127.5 - 1.0) as f32).collect();
    let x = Tensor::from_slice(&x).reshape([2, 3, 64, 32]);
    let y = occreid_torch::tch::no_grad(|| net.forward_t(&x, train));
    let want = occreid_eval::npy::read_f32_array(fixture(file)).unwrap();
    assert_eq!(
        y.size(),
        want.0.iter().map(|&d| d as i64).collect::<Vec<_>>(),
        "{file} shape"
    );
    let got: Vec<f32> = Vec::try_from(y.flatten(0, -1)).unwrap();
    let scale = want.1.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = got.iter().zip(&want.1).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        diff <= 1e-4 * scale.max(1.0),
        "{file}: max |diff| {diff} (max |value| {scale})"
    );
}

#[test]
fn resnet18_bot_form_matches_torchvision_eval_and_train() {
    forward_parity("resnet18", false, "forward_resnet18_eval.npy");
    forward_parity("resnet18", true, "forward_resnet18_train.npy");
}

#[test]
fn resnet50_bot_form_matches_torchvision_eval() {
    forward_parity("resnet50", false, "forward_resnet50_eval.npy");
}

#[test]
fn loads_pth_and_safetensors_by_name_and_reports_the_rest() {
    for file in [
        "small_state.pth",
        "small_state_module_prefix.pth",
        "small_state.safetensors",
    ] {
        let (mut vs, _) = build(Depth::R18, ResNetConfig::bot(Depth::R18));
        let report = load_into(&mut vs, fixture(file), "", "", false).unwrap();
        assert_eq!(
            report.loaded,
            [
                "bn1.bias",
                "bn1.running_mean",
                "bn1.running_var",
                "bn1.weight",
                "conv1.weight"
            ],
            "{file}"
        );
        assert_eq!(report.unexpected, ["fc.weight"], "{file}");
        assert!(report.missing.contains(&"layer4.1.bn2.weight".to_string()));
        let vars = vs.variables();
        // Values written by tools/gen_model_fixtures.py: conv1.weight = arange / 1000, running_var = 2.
        assert_eq!(vars["conv1.weight"].double_value(&[0, 0, 0, 5]), 0.005f32 as f64);
        assert_eq!(vars["bn1.running_var"].double_value(&[3]), 2.0);
        assert_eq!(vars["bn1.bias"].double_value(&[0]), -1.0);
        if file.ends_with(".pth") {
            assert_eq!(report.ignored.len(), 1, "num_batches_tracked is ignored");
        }
    }
}

#[test]
fn mismatched_or_missing_weights_are_clear_errors() {
    let mut vs = VarStore::new(Device::Cpu);
    let _ = (vs.root() / "conv1").zeros("weight", &[8, 3, 7, 7]);
    let e = load_into(&mut vs, fixture("small_state.pth"), "", "", false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("conv1.weight") && e.contains("[8, 3, 7, 7]") && e.contains("small_state.pth"),
        "{e}"
    );

    let (mut vs, _) = build(Depth::R18, ResNetConfig::bot(Depth::R18));
    let e = load_into(&mut vs, fixture("small_state.pth"), "", "", true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing") && e.contains("layer"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.pth");
    std::fs::write(&bad, b"definitely not a zip").unwrap();
    let e = load_into(&mut vs, &bad, "", "", false).unwrap_err().to_string();
    // One line: libtorch's C++ stack trace is left out.
    assert!(e.contains("broken.pth") && !e.contains('\n'), "{e}");
    let bad = dir.path().join("broken.safetensors");
    std::fs::write(&bad, [2, 0, 0, 0, 0, 0, 0, 0, b'[', b']']).unwrap();
    let e = load_into(&mut vs, &bad, "", "", false).unwrap_err().to_string();
    // In words, not the safetensors crate's variant name (InvalidHeaderStart).
    assert!(
        e.contains("broken.safetensors") && e.contains("does not start with"),
        "{e}"
    );
    let e = load_into(&mut vs, dir.path().join("w.onnx"), "", "", false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("extension"), "{e}");
}

/// From-scratch init against a fresh torchvision ResNet (tools/gen_init_stats_fixture.py): constant tensors
/// (BatchNorm weight/bias, running statistics) must be equal; random ones (convs) must have the same
/// distribution, checked on mean and std within a few sampling standard errors of both draws.
#[test]
fn fresh_init_follows_torchvision() {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("torchvision_init_stats.json")).unwrap()).unwrap();
    for (arch, stats) in v["stats"].as_object().unwrap() {
        let depth: Depth = arch.parse().unwrap();
        let (vs, _) = build(depth, ResNetConfig::torchvision(depth));
        let ours: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
        assert_eq!(ours.len(), stats.as_object().unwrap().len(), "{arch}");
        for (name, s) in stats.as_object().unwrap() {
            let t = &ours[name];
            let (min, max) = (s["min"].as_f64().unwrap(), s["max"].as_f64().unwrap());
            let ours_min = t.min().double_value(&[]);
            let ours_max = t.max().double_value(&[]);
            if min == max {
                assert_eq!(
                    (ours_min, ours_max),
                    (min, max),
                    "{arch} {name}: torchvision initialises it to {min}"
                );
                continue;
            }
            let n = s["numel"].as_f64().unwrap();
            let std = s["std"].as_f64().unwrap();
            let ours_std = t.std(true).double_value(&[]);
            let ours_mean = t.mean(t.kind()).double_value(&[]);
            // Standard error of a sample std is std / sqrt(2n); of the difference of two draws, std / sqrt(n).
            assert!(
                (ours_std / std - 1.0).abs() < 6.0 / n.sqrt(),
                "{arch} {name}: std {ours_std} vs torchvision {std} (n = {n})"
            );
            assert!(
                ours_mean.abs() < 6.0 * std / n.sqrt(),
                "{arch} {name}: mean {ours_mean} (std {std}, n = {n})"
            );
        }
    }
}
