//! SDCN + VGN (DAAO) against the authors' own PyTorch modules (OPR-DAAO @ e34853c), through the values
//! in `../shared/fixtures/methods/daao/` (copied into tests/fixtures/daao; see that README). Train-mode
//! paths run in float64 against the `_f64` files (rel 1e-9); eval-mode paths in float32.
use std::path::{Path, PathBuf};

use occreid_model::layers::NonLocal;
use occreid_model::methods::sdcn::{authors_name, Reading, Sdcn, SdcnConfig, Stage2Terms, Vgn};
use occreid_model::methods::{Method, Recipe};
use occreid_model::testing::{assert_close, assert_scalar, formula_input, load_fixture_module};
use occreid_torch::tch::nn::VarStore;
use occreid_torch::tch::{no_grad, Device, Kind, Tensor};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/daao")
        .join(name)
}

fn json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap()
}

fn npy(name: &str) -> Tensor {
    Tensor::read_npy(fixture(name)).unwrap()
}

/// Writes the deterministic weights of one module of the fixtures' `weights.json` into `vs`, under
/// `prefix`, renaming with `rename`; every variable of `vs` under `prefix` must be covered.
fn load_module(vs: &VarStore, case: &str, role: &str, prefix: &str, rename: fn(&str) -> Option<String>) {
    load_fixture_module(
        &vs.variables(),
        &json("weights.json")[case][role]["entries"],
        prefix,
        rename,
    );
}

fn same(name: &str) -> Option<String> {
    (!name.ends_with("num_batches_tracked")).then(|| name.to_string())
}

#[test]
fn non_local_block_matches_the_authors_in_train_and_eval_mode() {
    let vs = VarStore::new(Device::Cpu);
    let nl = NonLocal::new(&(vs.root() / "nl"), 32);
    load_module(&vs, "non_local", "nonlocal", "nl.", same);
    let x = formula_input(&[2, 32, 16, 8]);
    // Eval mode in float32.
    let (z, w_y) = no_grad(|| nl.forward_t(&x, false));
    assert!((&z - npy("non_local/z_eval.npy")).abs().max().double_value(&[]) <= 1e-6);
    assert!((&w_y - npy("non_local/W_y_eval.npy")).abs().max().double_value(&[]) <= 1e-6);
    // Train mode in float64 at rel 1e-9, and in float32 against the float64 result: train-mode BN at batch
    // 2 and the unscaled softmax make float32 ill-conditioned here (the authors' own float32 run is 2.85e-5
    // from their float64 one, ours on an AMD EPYC 2.85e-5 too), so each CPU's float32 kernels land ~3e-5
    // from the truth in their own way; compared with the truth rather than with another CPU's float32 run,
    // abs 1e-4 keeps a margin of 3.5.
    let (z32, _) = no_grad(|| nl.forward_t(&x, true));
    let mut vs = vs;
    load_module(&vs, "non_local", "nonlocal", "nl.", same);
    vs.double();
    let (z, w_y) = no_grad(|| nl.forward_t(&x.to_kind(Kind::Double), true));
    let z_train_f64 = npy("non_local/z_train_f64.npy");
    let f32_error = (z32.to_kind(Kind::Double) - &z_train_f64).abs().max().double_value(&[]);
    assert!(
        f32_error <= 1e-4,
        "float32 train-mode z is {f32_error} from the float64 reference"
    );
    assert_close("z train f64", &z, &z_train_f64, 1e-9);
    assert_close("W_y train f64", &w_y, &npy("non_local/W_y_train_f64.npy"), 1e-9);
    // The W-BN's running statistics after one train pass (momentum 0.1, unbiased variance).
    let stats = json("non_local.json");
    let vars = vs.variables();
    for key in ["running_mean", "running_var"] {
        let want: Vec<f64> = stats[format!("W.1.{key}_after")]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_close(key, &vars[&format!("nl.W.1.{key}")], &Tensor::from_slice(&want), 1e-6);
    }
}

#[test]
fn non_local_block_starts_as_the_identity() {
    let vs = VarStore::new(Device::Cpu);
    let nl = NonLocal::new(&(vs.root() / "nl"), 32);
    let x = formula_input(&[2, 32, 16, 8]);
    for train in [true, false] {
        let (z, w_y) = no_grad(|| nl.forward_t(&x, train));
        assert_eq!(w_y.abs().max().double_value(&[]), 0.0);
        assert!(z.equal(&x), "z == x bit for bit (train {train})");
    }
}

fn recipe(reading: Reading) -> Recipe {
    Recipe {
        sdcn: SdcnConfig {
            reading,
            ..SdcnConfig::default()
        },
        ..Recipe::default()
    }
}

/// The stage-2 method with the fixture's SDCN, non-local and VGN weights, in float64 when asked.
fn stage2(reading: Reading, double: bool) -> Sdcn {
    let mut m = Sdcn::new(&recipe(reading), 8, Device::Cpu).unwrap();
    let vs = m.var_store();
    load_module(vs, "sdcn_forward", "sdcnet", "sdcn.", authors_name);
    load_module(vs, "sdcn_forward", "nonlocal", "nonlocal.", same);
    load_module(vs, "sdcn_forward", "vgn", "vgn.", authors_name);
    if double {
        m.var_store_mut().double();
    }
    m
}

fn spatial_mean(map: &Tensor) -> Tensor {
    map.mean_dim(&[2i64, 3][..], false, map.kind())
}

#[test]
fn sdcn_and_vgn_forward_match_the_authors() {
    let x = formula_input(&[2, 3, 256, 128]);
    // Eval mode, float32: SDCN's f_sum with the non-local block in eval (intended), and the VGN's.
    let m = stage2(Reading::Intended, false);
    let (sdcn, nl, vgn) = m.parts();
    let f = no_grad(|| sdcn.feature(&x, Some((nl, false))));
    assert_close(
        "sdcn eval f_sum (NL eval)",
        &f,
        &npy("sdcn/eval_f_sum_nl_eval.npy"),
        1e-5,
    );
    assert_close(
        "embed",
        &no_grad(|| m.embed(&x)),
        &npy("sdcn/eval_f_sum_nl_eval.npy"),
        1e-5,
    );
    let f = no_grad(|| vgn.feature(&x, None));
    assert_close("vgn eval f_sum", &f, &npy("vgn/eval_f_sum.npy"), 1e-5);
    // Train mode (and the as-coded eval with the non-local block in train mode), float64.
    let m = stage2(Reading::AsCoded, true);
    let (sdcn, nl, vgn) = m.parts();
    let x = x.to_kind(Kind::Double);
    let f = no_grad(|| sdcn.feature(&x, Some((nl, true))));
    assert_close(
        "sdcn eval f_sum (NL train, as coded)",
        &f,
        &npy("sdcn/eval_f_sum_nl_train_f64.npy"),
        1e-9,
    );
    assert_close(
        "embed as coded",
        &no_grad(|| m.embed(&x)).to_kind(Kind::Double),
        &f,
        1e-6,
    );
    for (name, net, nonlocal) in [("sdcn", sdcn, Some(nl)), ("vgn", vgn, None)] {
        let out = no_grad(|| net.forward_train(&x, nonlocal));
        for (what, t) in [
            ("f_gap", &out.f_gap),
            ("f_gmp", &out.f_gmp),
            ("f_sum", &out.f_sum),
            ("s_gap", &out.s_gap),
            ("s_sum", &out.s_sum),
        ] {
            assert_close(
                &format!("{name} {what}"),
                t,
                &npy(&format!("{name}/train_{what}_f64.npy")),
                1e-9,
            );
        }
        let want = npy(&format!("{name}/train_out4_spatial_mean_f64.npy"));
        assert_close(&format!("{name} out4"), &spatial_mean(&out.out4), &want, 1e-9);
    }
    let out = no_grad(|| sdcn.forward_train(&x, Some(nl)));
    assert_close("sdcn s_gmp", &out.s_gmp, &npy("sdcn/train_s_gmp_f64.npy"), 1e-9);
    let want = npy("sdcn/train_out3_spatial_mean_f64.npy");
    assert_close("sdcn out3", &spatial_mean(&out.out3), &want, 1e-9);
}

/// The fixture's stage-2 batch: x_f from the formula, x_o = x_f with rows 96..176, columns 16..80 of
/// image (i+1) mod 8 pasted into image i; pids [2,2,2,2,5,5,5,5].
fn loss_batch() -> (Tensor, Tensor, Tensor) {
    let full = formula_input(&[8, 3, 256, 128]).to_kind(Kind::Double);
    let occluded = full.copy();
    for i in 0..8 {
        let donor = full.get((i + 1) % 8).narrow(1, 96, 80).narrow(2, 16, 64);
        occluded.get(i).narrow(1, 96, 80).narrow(2, 16, 64).copy_(&donor);
    }
    let pids = json("daao_losses.json")["pids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_i64().unwrap())
        .collect::<Vec<_>>();
    (full, occluded, Tensor::from_slice(&pids))
}

fn fixture_terms(t: &Stage2Terms) -> Vec<(&'static str, &Tensor)> {
    vec![
        ("ce_logits_vo", &t.ce_logits_vo),
        ("ce_logits_vf", &t.ce_logits_vf),
        ("ce_s_gap_full", &t.ce_s_gap_full),
        ("ce_s_gmp_full", &t.ce_s_gmp_full),
        ("ce_s_sum_full", &t.ce_s_sum_full),
        ("ce_s_gmp_occ", &t.ce_s_gmp_occ),
        ("ce_s_sum_occ", &t.ce_s_sum_occ),
        ("never_used_ce_s_gap_occ", &t.ce_s_gap_occ),
        ("tri_f_gap_full", &t.tri_gap),
        ("tri_f_gmp_full", &t.tri_gmp),
        ("tri_f_sum_full", &t.tri_sum),
        ("mse_out4_occ_vs_vgn_out4_full", &t.mse_out4),
        ("mse_out3_occ_vs_vgn_out3_full", &t.mse_out3),
    ]
}

fn total(m: &Sdcn, t: &Stage2Terms) -> Tensor {
    m.weighted(t)
        .into_iter()
        .map(|(_, v)| v)
        .fold(Tensor::zeros([], (Kind::Double, Device::Cpu)), |a, b| a + b)
}

#[test]
fn stage2_loss_terms_and_totals_match_the_authors_training_step_in_both_readings() {
    let want = json("daao_losses.json");
    let (full, occluded, pids) = loss_batch();
    let as_coded = stage2(Reading::AsCoded, true);
    let (terms, _) = as_coded.stage2_terms(&full, &occluded, &pids);
    let expected = &want["stage2_as_coded"];
    for (name, t) in fixture_terms(&terms) {
        assert_scalar(name, t, expected[name][1].as_f64().unwrap(), 1e-9);
    }
    assert_scalar(
        "total as coded",
        &total(&as_coded, &terms),
        expected["total_as_coded"][1].as_f64().unwrap(),
        1e-9,
    );
    // The intended bracket with the as-coded VGN (the fixture's `total_intended`): only the gap-logit
    // switch differs, so the same forward pass gives it.
    let mut recipe = recipe(Reading::AsCoded);
    recipe.sdcn.occluded_gap_logits = occreid_model::methods::sdcn::Switch::Intended;
    let fixed = Sdcn::new(&recipe, 8, Device::Cpu).unwrap();
    assert_scalar(
        "total intended",
        &total(&fixed, &terms),
        expected["total_intended"][1].as_f64().unwrap(),
        1e-9,
    );
    // Running statistics moved as often as in the original step (spec §3.11 item 3).
    let counts = &want["bn_num_batches_tracked_after_stage2_step"];
    assert_eq!(counts["nonlocal.W.1"], 4);
    assert_eq!(counts["sdcnet.classifier.bn"], 6);
    assert_eq!(counts["vgn.classifier.bn"], 5);
    let moved = |name: &str, fresh: &Sdcn| {
        let before = &fresh.var_store().variables()[name];
        let after = &as_coded.var_store().variables()[name];
        !before.equal(after)
    };
    let fresh = stage2(Reading::AsCoded, true);
    assert!(moved("nonlocal.W.1.running_mean", &fresh));
    assert!(moved("vgn.classifier.bn.running_mean", &fresh));
    assert!(moved("vgn.bn1.running_mean", &fresh));
}

#[test]
fn stage2_with_the_vgn_in_eval_mode_matches_the_fixture_variant() {
    // The fixture's "intended" variant (VGN in eval, W1 = BN(eval) then linear, gap-logit bug fixed) is
    // recorded in float32 only; its terms are well-conditioned, so float64 here agrees to ~1e-4 (the
    // as-coded terms' float32-vs-float64 gap) and each term moved by several percent from the as-coded one.
    let want = &json("daao_losses.json")["stage2_intended_vgn_eval_float32"];
    let (full, occluded, pids) = loss_batch();
    let m = stage2(Reading::Intended, true);
    let fresh = stage2(Reading::Intended, true);
    let (terms, _) = m.stage2_terms(&full, &occluded, &pids);
    for (name, t) in [
        ("mse_out4", &terms.mse_out4),
        ("mse_out3", &terms.mse_out3),
        ("ce_logits_vo", &terms.ce_logits_vo),
        ("ce_logits_vf", &terms.ce_logits_vf),
    ] {
        assert_scalar(name, t, want[name].as_f64().unwrap(), 1e-3);
    }
    // The total is dominated by the triplets, whose float32 values are off by up to 1.6 % (README
    // § Tolerances), so compare what the reading changes: the variant's float32 total minus the float32
    // `total_intended` (same bracket, as-coded VGN), added to the float64 `total_intended`. Both float32
    // totals carry ~1e-5 rounding.
    let as_coded_vgn = &json("daao_losses.json")["stage2_as_coded"]["total_intended"];
    let shift = want["total"].as_f64().unwrap() - as_coded_vgn[0].as_f64().unwrap();
    let expected = as_coded_vgn[1].as_f64().unwrap() + shift;
    let got = total(&m, &terms).double_value(&[]);
    assert!((got - expected).abs() < 1e-4, "total {got} vs {expected}");
    // A frozen VGN in eval mode keeps its running statistics.
    for name in ["vgn.bn1.running_mean", "vgn.classifier.bn.running_var"] {
        assert!(
            m.var_store().variables()[name].equal(&fresh.var_store().variables()[name]),
            "{name}"
        );
    }
}

#[test]
fn stage1_loss_matches_the_authors_train2_step() {
    let want = &json("daao_losses.json")["stage1"];
    let (full, occluded, pids) = loss_batch();
    let mut vgn = Vgn::new(&recipe(Reading::AsCoded), 8, Device::Cpu).unwrap();
    load_module(vgn.var_store(), "sdcn_forward", "vgn", "vgn.", authors_name);
    vgn.var_store_mut().double();
    let (terms, _) = vgn.stage1_terms(&full, &occluded, &pids);
    let names = [
        "ce_s_gap_full",
        "ce_s_gmp_full",
        "ce_s_sum_full",
        "tri_f_gap_full",
        "tri_f_gmp_full",
        "tri_f_sum_full",
        "ce_s_gap_occ",
        "ce_s_gmp_occ",
        "ce_s_sum_occ",
    ];
    for (name, t) in names.iter().zip(&terms) {
        assert_scalar(name, t, want[*name][1].as_f64().unwrap(), 1e-9);
    }
    let batch = occreid_model::methods::TrainBatch {
        images: &full,
        targets: &pids,
        occluded: Some(&occluded),
        epoch: 1,
    };
    let out = vgn.losses(&batch);
    let total = out
        .terms
        .into_iter()
        .map(|(_, v)| v)
        .fold(Tensor::zeros([], (Kind::Double, Device::Cpu)), |a, b| a + b);
    assert_scalar("stage-1 total", &total, want["total"][1].as_f64().unwrap(), 1e-9);
}

#[test]
fn authors_state_dict_names_map_onto_ours() {
    assert_eq!(authors_name("conv1.0.weight").as_deref(), Some("conv1.weight"));
    assert_eq!(authors_name("conv1.1.running_var").as_deref(), Some("bn1.running_var"));
    assert_eq!(authors_name("layer4.2.bn3.bias").as_deref(), Some("layer4.2.bn3.bias"));
    assert_eq!(
        authors_name("classifier.classifier.weight").as_deref(),
        Some("classifier.classifier.weight")
    );
    assert_eq!(authors_name("resnet_conv.4.0.conv1.weight"), None);
    assert_eq!(authors_name("conv1.1.num_batches_tracked"), None);
}
