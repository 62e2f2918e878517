//! BoT head, losses and Adam against PyTorch autograd (fixture: tools/gen_bot_fixtures.py).
use std::path::Path;

use occreid_model::layers::BnNeck;
use occreid_model::losses::{batch_hard_triplet, center_loss, cross_entropy_label_smooth};
use occreid_model::testing::json_f32 as floats;
use occreid_torch::tch::nn::{self, OptimizerConfig, VarStore};
use occreid_torch::tch::{Device, Kind, Tensor};
use serde_json::Value;

fn fixture() -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bot_parity.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn tensor(v: &Value, shape: &[i64]) -> Tensor {
    Tensor::from_slice(&floats(v)).reshape(shape)
}

fn assert_close(got: &Tensor, want: &Value, tol: f32, what: &str) {
    let got: Vec<f32> = Vec::try_from(got.flatten(0, -1)).unwrap();
    let want = floats(want);
    assert_eq!(got.len(), want.len(), "{what}");
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((g - w).abs() <= tol * w.abs().max(1.0), "{what}[{k}]: {g} vs {w}");
    }
}

fn dims(f: &Value) -> (i64, i64, i64) {
    (
        f["B"].as_i64().unwrap(),
        f["D"].as_i64().unwrap(),
        f["C"].as_i64().unwrap(),
    )
}

#[test]
fn losses_match_pytorch_values_and_gradients() {
    let f = fixture();
    let (b, d, c) = dims(&f);
    let labels = Tensor::from_slice(
        &f["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect::<Vec<_>>(),
    );

    let logits = tensor(&f["logits"], &[b, c]).set_requires_grad(true);
    let loss = cross_entropy_label_smooth(&logits, &labels, 0.1);
    loss.backward();
    assert_close(
        &loss,
        &Value::from(vec![f["ce_ls"]["loss"].clone()]),
        1e-6,
        "ce_ls loss",
    );
    assert_close(&logits.grad(), &f["ce_ls"]["grads"][0], 1e-6, "ce_ls grad");

    let feats = tensor(&f["features"], &[b, d]).set_requires_grad(true);
    let loss = batch_hard_triplet(&feats, &labels, 0.3);
    loss.backward();
    assert_close(
        &loss,
        &Value::from(vec![f["triplet"]["loss"].clone()]),
        1e-5,
        "triplet loss",
    );
    assert_close(&feats.grad(), &f["triplet"]["grads"][0], 1e-5, "triplet grad");

    let feats = tensor(&f["features"], &[b, d]).set_requires_grad(true);
    let centers = tensor(&f["centers"], &[c, d]).set_requires_grad(true);
    let loss = center_loss(&feats, &labels, &centers);
    loss.backward();
    assert_close(
        &loss,
        &Value::from(vec![f["center"]["loss"].clone()]),
        1e-5,
        "center loss",
    );
    assert_close(
        &feats.grad(),
        &f["center"]["grads"][0],
        1e-5,
        "center grad wrt features",
    );
    assert_close(
        &centers.grad(),
        &f["center"]["grads"][1],
        1e-5,
        "center grad wrt centers",
    );
}

#[test]
fn bnneck_matches_batchnorm1d_with_frozen_bias() {
    let f = fixture();
    let (b, d, _) = dims(&f);
    let e = &f["bnneck"];
    let vs = VarStore::new(Device::Cpu);
    let neck = BnNeck::new(&vs.root(), d);
    let x = tensor(&f["features"], &[b, d]).set_requires_grad(true);
    let y = neck.forward_t(&x, true);
    (&y * tensor(&e["weights"], &[b, d])).sum(Kind::Float).backward();
    assert_close(&y, &e["train_out"], 1e-5, "train output");
    assert_close(&x.grad(), &e["grad_input"], 1e-4, "grad input");
    let vars = vs.variables();
    assert_close(&vars["weight"].grad(), &e["grad_weight"], 1e-5, "grad weight");
    assert!(e["bias_grad_is_none"].as_bool().unwrap());
    assert!(!vars["bias"].requires_grad(), "the BNNeck bias must be frozen");
    assert_eq!(vs.trainable_variables().len(), 1, "only the BN weight trains");
    assert_close(&vars["running_mean"], &e["running_mean"], 1e-6, "running mean");
    assert_close(&vars["running_var"], &e["running_var"], 1e-5, "running var");
    let eval = occreid_torch::tch::no_grad(|| neck.forward_t(&tensor(&f["features"], &[b, d]), false));
    assert_close(&eval, &e["eval_out"], 1e-5, "eval output");
}

#[test]
fn adam_with_l2_weight_decay_matches_torch_optim_adam() {
    let f = fixture();
    let a = &f["adam"];
    let vs = VarStore::new(Device::Cpu);
    let p = vs.root().var_copy("p", &tensor(&a["init"], &[5]));
    let mut opt = nn::Adam {
        beta1: 0.9,
        beta2: 0.999,
        wd: a["weight_decay"].as_f64().unwrap(),
        eps: 1e-8,
        amsgrad: false,
    }
    .build(&vs, a["lr"].as_f64().unwrap())
    .unwrap();
    for (g, want) in a["grads"]
        .as_array()
        .unwrap()
        .iter()
        .zip(a["trajectory"].as_array().unwrap())
    {
        opt.zero_grad();
        (&p * tensor(g, &[5])).sum(Kind::Float).backward();
        opt.step();
        assert_close(&p, want, 1e-7, "adam trajectory");
    }
}
