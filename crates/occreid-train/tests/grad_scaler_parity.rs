//! The fp16 loss scaler against `torch.amp.GradScaler` wrapping Adam (tools/gen_grad_scaler_fixture.py):
//! the same scale trajectory, the same skipped updates on overflowing gradients, the same parameters.
use occreid_model::methods::{ParamGroup, UpdateRule};
use occreid_torch::tch::{Kind, Tensor};
use occreid_train::config::OptimConfig;
use occreid_train::optim::{LossScaler, Optimizer};
use serde_json::Value;

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn loss_scaler_matches_grad_scaler_over_overflowing_steps() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/grad_scaler_steps.json");
    let fx: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let w = Tensor::from_slice(&floats(&fx["init"]["w"])).set_requires_grad(true);
    let v = Tensor::from_slice(&floats(&fx["init"]["v"])).set_requires_grad(true);
    let group = ParamGroup {
        name: "model",
        params: vec![("w".into(), w.shallow_clone()), ("v".into(), v.shallow_clone())],
        rule: UpdateRule::Main,
    };
    // OptimConfig's defaults are BoT's Adam: betas 0.9/0.999, eps 1e-8, weight decay 5e-4, as in the fixture.
    let mut opt = Optimizer::new(vec![group], &OptimConfig::default());
    let mut scaler = LossScaler {
        growth_interval: fx["growth_interval"].as_u64().unwrap() as u32,
        ..LossScaler::default()
    };
    let lr = fx["lr"].as_f64().unwrap();
    let mut skipped = 0;
    for (k, step) in fx["steps"].as_array().unwrap().iter().enumerate() {
        opt.zero_grad();
        let a = Tensor::from_slice(&floats(&step["a"]));
        let b = Tensor::from_slice(&floats(&step["b"]));
        let loss = (&w * a).sum(Kind::Float) + (v.pow_tensor_scalar(2) * b).sum(Kind::Float);
        let stepped = scaler.backward_and_step(&loss, &mut opt, lr);
        skipped += usize::from(!stepped);
        assert_eq!(stepped, step["stepped"].as_bool().unwrap(), "step {k}");
        assert_eq!(scaler.scale, step["scale"].as_f64().unwrap(), "step {k}");
        for (name, ours) in [("w", &w), ("v", &v)] {
            let ours = Vec::<f32>::try_from(ours).unwrap();
            for (o, t) in ours.iter().zip(floats(&step[name])) {
                assert!((o - t).abs() <= 1e-6, "step {k} {name}: {ours:?} vs {:?}", step[name]);
            }
        }
    }
    assert!(skipped >= 2, "the fixture must exercise skipped updates");
}
