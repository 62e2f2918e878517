//! Three whole BoT training steps (model, losses, Adam with the warmup lr, centre SGD with BoT's
//! gradient rescale, BN running statistics) against reid-strong-baseline's trainer in PyTorch
//! (fixture: tools/gen_train_step_fixtures.py).
use std::path::Path;

use occreid_model::methods::{build, LossConfig, ModelConfig, Recipe, TrainBatch};
use occreid_model::testing::deterministic;
use occreid_torch::tch::{no_grad, Device, Tensor};
use occreid_train::config::TrainConfig;
use occreid_train::optim::Optimizer;
use occreid_train::step::train_step;
use serde_json::Value;

fn close(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs().max(1e-3)
}

#[test]
fn three_bot_steps_match_reid_strong_baseline() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bot_train_steps.json");
    let f: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let (b, c, h, w) = (
        f["B"].as_i64().unwrap(),
        f["C"].as_i64().unwrap(),
        f["H"].as_i64().unwrap(),
        f["W"].as_i64().unwrap(),
    );
    let defaults = TrainConfig::default();
    let model = ModelConfig {
        backbone: "resnet18".parse().unwrap(),
        ..defaults.model.clone()
    };
    let loss: LossConfig = defaults.loss.clone();
    let recipe = Recipe {
        model,
        loss,
        ..Recipe::default()
    };
    let method = build("bot", &recipe, c, Device::Cpu).unwrap().method;
    let vars = method.var_store().variables();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    let final_ = f["final"].as_object().unwrap();
    assert_eq!(
        names.iter().map(|n| n.as_str()).collect::<Vec<_>>(),
        final_.keys().map(String::as_str).collect::<Vec<_>>(),
        "tensor names equal BoT's state dict (plus center_loss.centers)"
    );
    no_grad(|| {
        for (t, name) in names.iter().enumerate() {
            let v = &vars[*name];
            v.shallow_clone().copy_(&deterministic(name, &v.size(), t as i64));
        }
    });

    let mut opt = Optimizer::new(method.param_groups(), &defaults.optim);
    let schedule = defaults.optim.schedule();
    let labels: Vec<i64> = f["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let y = Tensor::from_slice(&labels);
    for (s, want) in f["steps"].as_array().unwrap().iter().enumerate() {
        let n = b * 3 * h * w;
        let x: Vec<f32> = (0..n)
            .map(|k| (((k * 31 + s as i64 * 17) % 255) as f64 / 127.5 - 1.0) as f32)
            .collect();
        let x = Tensor::from_slice(&x).reshape([b, 3, h, w]);
        let lr = schedule.lr(s + 1);
        assert!(close(lr, want["lr"].as_f64().unwrap(), 1e-12));
        let r = train_step(
            method.as_ref(),
            &mut opt,
            None,
            &TrainBatch {
                occluded: None,
                images: &x,
                targets: &y,
                epoch: s + 1,
            },
            lr,
        )
        .unwrap();
        for (name, v) in &r.terms {
            let expected = want[*name].as_f64().unwrap();
            assert!(close(*v, expected, 1e-4), "step {s} {name}: {v} vs {expected}");
        }
    }

    // float32 rounding differs between any two op sequences; Adam's first steps are ±lr for every element
    // whatever the gradient's size, so an element whose gradient is ~0 may move the other way. Such
    // elements are allowed (at most 0.5% of them, each within the summed step sizes); everything else
    // must agree to 2e-4 of the tensor's scale.
    let lr_sum: f64 = (1..=3).map(|e| schedule.lr(e)).sum();
    let (mut compared, mut outliers) = (0usize, 0usize);
    let vars = method.var_store().variables();
    for (name, want) in final_ {
        let v: Vec<f64> = Vec::<f32>::try_from(vars[name].flatten(0, -1))
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect();
        let abs_sum: f64 = v.iter().map(|x| x.abs()).sum();
        let want_abs = want["abs_sum"].as_f64().unwrap();
        assert!(
            close(abs_sum, want_abs, 1e-4),
            "{name}: sum |x| {abs_sum} vs {want_abs}"
        );
        let expected: Vec<f64> = want
            .get("values")
            .unwrap_or(&want["head"])
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let scale = expected.iter().fold(0f64, |m, x| m.max(x.abs())).max(1e-3);
        for (k, (g, e)) in v.iter().zip(&expected).enumerate() {
            compared += 1;
            if (g - e).abs() > 2e-4 * scale {
                outliers += 1;
                assert!((g - e).abs() <= 1.1 * lr_sum, "{name}[{k}]: {g} vs {e}");
            }
        }
    }
    assert!(outliers * 200 <= compared, "{outliers} of {compared} values differ");
}

#[test]
fn adam_and_sgd_match_torch_optim_over_eight_steps() {
    use occreid_model::methods::{ParamGroup, UpdateRule};
    use occreid_torch::tch::nn::VarStore;
    use occreid_train::config::OptimizerKind;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bot_train_steps.json");
    let f: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let o = &f["optim"];
    let floats = occreid_model::testing::json_f32;
    for (name, kind) in [("adam", OptimizerKind::Adam), ("sgd", OptimizerKind::Sgd)] {
        let vs = VarStore::new(Device::Cpu);
        let p = vs.root().var_copy("p", &Tensor::from_slice(&floats(&o["init"])));
        let mut cfg = TrainConfig::default().optim;
        cfg.optimizer = kind;
        let mut opt = Optimizer::new(
            vec![ParamGroup {
                name: "model",
                params: vec![("p".into(), p.shallow_clone())],
                rule: UpdateRule::Main,
            }],
            &cfg,
        );
        for (s, (g, want)) in o["grads"]
            .as_array()
            .unwrap()
            .iter()
            .zip(o[name].as_array().unwrap())
            .enumerate()
        {
            opt.zero_grad();
            (&p * Tensor::from_slice(&floats(g)))
                .sum(occreid_torch::tch::Kind::Float)
                .backward();
            opt.step(o["lrs"][s].as_f64().unwrap());
            let got = Vec::<f32>::try_from(&p).unwrap();
            for (k, (a, b)) in got.iter().zip(floats(want)).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-6 * b.abs().max(1e-3),
                    "{name} step {s} [{k}]: {a} vs {b}"
                );
            }
        }
    }
}
