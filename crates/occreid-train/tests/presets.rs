//! The shipped presets parse, and `bot_r50.toml` spells out exactly the BoT recipe the defaults encode
//! (spec §1.1), so the file and the code cannot drift apart.
use std::path::Path;

use occreid_train::config::{load, TrainConfig};

fn configs() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs"))
}

#[test]
fn bot_r50_preset_is_the_bot_recipe() {
    let c = load(&configs().join("bot_r50.toml"), &[]).unwrap();
    assert_eq!(c, TrainConfig::default());
    assert_eq!(c.optim.schedule().lr(1), 3.5e-4 * (0.01 * 0.9 + 0.1));
}

#[test]
fn every_preset_loads() {
    for entry in std::fs::read_dir(configs()).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            let c = load(&p, &["data.root=/somewhere".into()]).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            assert_eq!(c.data.root, "/somewhere");
        }
    }
    let demo = load(&configs().join("demo.toml"), &[]).unwrap();
    assert_eq!(demo.model.backbone, "resnet18".parse().unwrap());
    assert_eq!(demo.loss, TrainConfig::default().loss, "the demo keeps BoT's losses");
}

/// `sdcn_vgn.toml` is §2.6's recipe table, with the DAAO schedule (epoch 1 at 2e-6, 2e-4 from epoch 11,
/// ×0.1 at epochs 41 and 71 in 1-based counting), and contradicting settings are refused up front.
#[test]
fn sdcn_vgn_preset_is_the_daao_recipe_and_contradictions_are_refused() {
    use occreid_model::methods::sdcn::Reading;
    use occreid_train::config::SamplerKind;
    let c = load(&configs().join("sdcn_vgn.toml"), &[]).unwrap();
    assert_eq!(c.method, "sdcn_vgn");
    assert_eq!(c.sdcn.reading, Reading::Intended);
    assert_eq!(
        (c.data.sampler, c.data.batch_size, c.data.instances_per_id),
        (SamplerKind::ClassUniform, 32, 4)
    );
    assert_eq!(
        (c.data.steps_per_epoch, c.data.color_jitter),
        (488, [0.25, 0.15, 0.25, 0.0])
    );
    assert_eq!((c.data.pad, c.data.random_erasing, c.train.epochs), (0, 0.0, 150));
    let lr = |e: usize| c.optim.lr(e);
    assert!((lr(1) - 2e-6).abs() < 1e-18, "{}", lr(1));
    assert!((lr(11) - 2e-4).abs() < 1e-15 && (lr(40) - 2e-4).abs() < 1e-15);
    assert!((lr(41) - 2e-5).abs() < 1e-15 && (lr(71) - 2e-6).abs() < 1e-16);
    assert_eq!(
        (c.sdcn.nl_lr, c.sdcn.consistency_weight, c.sdcn.verification_weight),
        (3.5e-5, 0.01, 0.001)
    );

    let refused = |sets: &[&str], says: &str| {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        let e = load(&configs().join("sdcn_vgn.toml"), &sets).unwrap_err().to_string();
        assert!(e.contains(says), "{sets:?}: {e}");
    };
    refused(&["sdcn.vgn=\"v.ckpt\"", "sdcn.vgn_epochs=10"], "contradict");
    refused(&["data.sampler=\"identity\""], "steps_per_epoch");
    refused(&["sdcn.reading=\"as_written\""], "reading");
    refused(&["sdcn.vgn_bn=\"maybe\""], "vgn_bn");
    refused(&["optim.schedule_first_epoch=2"], "schedule_first_epoch");
    refused(&["method=\"sdcn_vgm\""], "sdcn_vgm");
    refused(&["data.color_jitter=[0.2, 0.1, 0.1, 0.9]"], "color_jitter");
}

/// `igoas.toml` is §3.5's table (multi-step at 0-based epochs 20 and 40, no warmup), and settings that
/// make IGO impossible or fixbase endless are refused before anything runs.
#[test]
fn igoas_preset_is_the_bfe_recipe_and_impossible_settings_are_refused() {
    let c = load(&configs().join("igoas.toml"), &[]).unwrap();
    assert_eq!(
        (c.method.as_str(), c.data.height, c.data.width, c.data.batch_size),
        ("igoas", 384, 128, 64)
    );
    assert_eq!(
        (c.train.epochs, c.train.eval_epochs.clone(), c.igoas.fixbase_epochs),
        (90, vec![60], 5)
    );
    let lr = |e: usize| c.optim.lr(e);
    assert!((lr(1) - 3e-4).abs() < 1e-15 && (lr(20) - 3e-4).abs() < 1e-15);
    assert!((lr(21) - 3e-5).abs() < 1e-16 && (lr(41) - 3e-6).abs() < 1e-17 && (lr(90) - 3e-6).abs() < 1e-17);
    assert_eq!(c.igoas.shards, 2);

    let refused = |sets: &[&str], says: &str| {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        let e = load(&configs().join("igoas.toml"), &sets).unwrap_err().to_string();
        assert!(e.contains(says), "{sets:?}: {e}");
    };
    refused(&["igoas.fixbase_epochs=90"], "fixbase_epochs");
    refused(&["igoas.igo.start=1.2"], "outside (0, 1)");
    refused(&["igoas.igo.plateau=1.0"], "epoch 56");
    refused(&["igoas.igo.aspect=[0.01, 0.02]"], "no box");
    refused(&["igoas.igo.aspect=[1.0, 0.5]"], "low <= high");
    refused(&["igoas.mask_loss=\"global\""], "igoas.mask_loss");
}
