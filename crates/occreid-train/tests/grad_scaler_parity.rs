//! The fp16 loss scaler against `torch.amp.GradScaler` wrapping Adam (tools/gen_grad_scaler_fixture.py):
//! the same scale trajectory, the same skipped updates on overflowing gradients, the same parameters.
use occreid_model::methods::{ParamGroup, UpdateRule};
use occreid_model::testing::json_f32 as floats;
use occreid_torch::tch::{Kind, Tensor};
use occreid_train::config::OptimConfig;
use occreid_train::optim::{LossScaler, Optimizer};
use serde_json::Value;

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

/// With a loss scaler (fp16 training), a non-finite loss is an overflow: the update is skipped and the
/// scale halved, as GradScaler does; only once the scale has fallen below 1 is the run said to diverge.
/// Autocast is a no-op on the CPU, so the step runs here in float32 with an input that makes the loss NaN.
#[test]
fn a_non_finite_loss_under_the_scaler_skips_steps_until_the_scale_collapses() {
    use occreid_model::methods::{build, ModelConfig, TrainBatch};
    use occreid_torch::tch::Device;
    use occreid_train::config::TrainConfig;
    use occreid_train::step::train_step;
    use occreid_train::TrainError;

    let defaults = TrainConfig::default();
    let model = ModelConfig {
        backbone: "resnet18".parse().unwrap(),
        ..defaults.model.clone()
    };
    let recipe = occreid_model::methods::Recipe {
        model,
        ..defaults.recipe()
    };
    let method = build("bot", &recipe, 4, Device::Cpu).unwrap().method;
    let mut opt = Optimizer::new(method.param_groups(), &defaults.optim);
    let weights = |m: &dyn occreid_model::methods::Method| -> Vec<Tensor> {
        let mut v: Vec<_> = m.var_store().trainable_variables().iter().map(|t| t.copy()).collect();
        v.truncate(8);
        v
    };
    let before = weights(method.as_ref());
    let images = Tensor::full([8, 3, 64, 32], f64::NAN, (Kind::Float, Device::Cpu));
    let targets = Tensor::from_slice(&[0i64, 0, 1, 1, 2, 2, 3, 3]);
    let batch = TrainBatch {
        occluded: None,
        images: &images,
        targets: &targets,
        epoch: 1,
    };
    let mut scaler = LossScaler::default();
    // 65536 halves to 1 in 16 skipped steps; the 17th takes it below 1.
    for k in 1..=16 {
        let step = train_step(method.as_ref(), &mut opt, Some(&mut scaler), &batch, 1e-3).unwrap();
        assert!(!step.stepped, "step {k}");
        assert_eq!(scaler.scale, 65536.0 / 2f64.powi(k), "step {k}");
    }
    for (a, b) in before.iter().zip(weights(method.as_ref())) {
        assert!(a.equal(&b), "a skipped step must leave the weights alone");
    }
    let err = train_step(method.as_ref(), &mut opt, Some(&mut scaler), &batch, 1e-3).unwrap_err();
    assert!(matches!(err, TrainError::Diverged { .. }), "{err}");
    // Without a scaler (float32 training) the first non-finite loss is divergence.
    let err = train_step(method.as_ref(), &mut opt, None, &batch, 1e-3).unwrap_err();
    assert!(matches!(err, TrainError::Diverged { .. }), "{err}");
}

/// A finite loss whose gradients are never finite (`sqrt` at 0 behind a zero factor: 0 x inf = NaN, what
/// float16 distances did on a GPU): GradScaler would skip every update forever; the step instead says so
/// once the scale has fallen below 1, rather than letting the run train nothing to its last epoch.
#[test]
fn finite_losses_with_gradients_never_finite_stop_the_run_once_the_scale_collapses() {
    use occreid_model::methods::{Method, StepOutput, TrainBatch};
    use occreid_torch::tch::nn::VarStore;
    use occreid_torch::tch::Device;
    use occreid_train::step::train_step;
    use occreid_train::TrainError;

    struct NanGradients(VarStore, Tensor);
    impl Method for NanGradients {
        fn name(&self) -> &'static str {
            "nan-gradients"
        }
        fn var_store(&self) -> &VarStore {
            &self.0
        }
        fn param_groups(&self) -> Vec<ParamGroup> {
            vec![ParamGroup {
                name: "model",
                params: vec![("w".into(), self.1.shallow_clone())],
                rule: UpdateRule::Main,
            }]
        }
        fn losses(&self, _batch: &TrainBatch) -> StepOutput {
            StepOutput {
                terms: vec![("sqrt0", (&self.1 * 0.0).sqrt().sum(Kind::Float))],
                logits: None,
            }
        }
        fn embed(&self, images: &Tensor) -> Tensor {
            images.shallow_clone()
        }
    }
    let vs = VarStore::new(Device::Cpu);
    let w = vs.root().var_copy("w", &Tensor::from_slice(&[1.0f32, 2.0]));
    let method = NanGradients(vs, w.shallow_clone());
    let mut opt = Optimizer::new(method.param_groups(), &OptimConfig::default());
    let (images, targets) = (
        Tensor::zeros([2, 3, 4, 4], (Kind::Float, Device::Cpu)),
        Tensor::from_slice(&[0i64, 1]),
    );
    let batch = TrainBatch {
        occluded: None,
        images: &images,
        targets: &targets,
        epoch: 3,
    };
    let mut scaler = LossScaler {
        scale: 2.0,
        ..LossScaler::default()
    };
    let step = train_step(&method, &mut opt, Some(&mut scaler), &batch, 1e-3).unwrap();
    assert!(!step.stepped && step.total == 0.0);
    assert_eq!(scaler.scale, 1.0);
    let err = train_step(&method, &mut opt, Some(&mut scaler), &batch, 1e-3).unwrap_err();
    assert!(matches!(err, TrainError::GradientsNonFinite { epoch: 3, .. }), "{err}");
    assert!(err.to_string().contains("train.amp = false"), "{err}");
    assert_eq!(Vec::<f32>::try_from(&w).unwrap(), vec![1.0, 2.0], "no update was taken");
}
