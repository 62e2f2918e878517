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
