//! Property tests for the parsers of user input in this crate: mutated checkpoints, TOML configs and
//! `--set` values give a value or an error, never a panic; a checkpoint is either refused or loads exactly
//! what was saved. A fixed number of cases keeps CI time bounded.
use std::path::Path;

use occreid_torch::tch::Tensor;
use occreid_train::checkpoint::{self, BestScore, CheckpointMeta, FORMAT};
use occreid_train::config;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn meta() -> CheckpointMeta {
    CheckpointMeta {
        format: FORMAT,
        method: "bot".into(),
        epoch: 3,
        global_batch: 42,
        optimizer_steps: 42,
        num_classes: 5,
        sampler: serde_json::json!({"epoch": 3, "order": [4, 1, 3]}),
        best: Some(BestScore {
            epoch: 2,
            rank1: 0.5,
            map: 0.25,
        }),
        loss_scaler: None,
        method_state: serde_json::Value::Null,
        config: "seed = 1\n".into(),
        in_epoch: None,
    }
}

fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(occreid_torch::tch::Kind::Double).flatten(0, -1)).unwrap()
}

const PRESETS: [&str; 3] = ["demo.toml", "demo_sdcn_vgn.toml", "demo_igoas.toml"];

fn preset(name: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    std::fs::read_to_string(dir.join(name)).unwrap()
}

/// Every `section.key` of the default config, as `--set` takes them.
fn keys() -> Vec<String> {
    let text = config::TrainConfig::default().to_toml();
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = format!("{s}.");
        } else if let Some((k, _)) = line.split_once(" = ") {
            out.push(format!("{section}{}", k.trim()));
        }
    }
    out
}

/// Values as a user might type them after `key=`: numbers at and past their ranges, strings, arrays, junk.
fn value_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        (0u64..5000).prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| format!("{v:?}")),
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just("-inf".to_string()),
        Just("1e400".to_string()),
        Just("true".to_string()),
        "\"[ -~]{0,12}\"",
        vec((0u32..100).prop_map(|v| v.to_string()), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
        "[ -~]{0,16}",
    ]
}

/// A config that loaded has no non-finite number in it: NaN or infinity is refused, not trained with.
fn assert_finite(cfg: &config::TrainConfig, input: &str) {
    let text = cfg.to_toml();
    for bad in ["nan", "inf"] {
        assert!(
            !text.lines().any(|l| l
                .split_once(" = ")
                .is_some_and(|(_, v)| v.trim_start_matches(['+', '-']).starts_with(bad))),
            "{input} loaded with a non-finite value:\n{text}"
        );
    }
}

proptest! {
    #![proptest_config(cases(128))]

    #[test]
    fn mutated_checkpoints_are_refused_or_load_exactly_what_was_saved(
        edits in vec((any::<Index>(), any::<u8>()), 1..4),
        cut in proptest::option::of(any::<Index>()),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("last.ckpt");
        let w = Tensor::from_slice(&[1.5f32, -2.0, 3.25, 0.0, 7.0, 8.0]).reshape([2, 3]);
        let n = Tensor::from_slice(&[3i64, 9]);
        checkpoint::save(&path, &[("w".into(), w.shallow_clone()), ("n".into(), n.shallow_clone())], &[], &meta())
            .unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len()));
        }
        std::fs::write(&path, &bytes).unwrap();
        match checkpoint::load(&path) {
            Err(e) => prop_assert!(e.to_string().contains("last.ckpt"), "{e}"),
            // Only a harmless change (a byte set to its own value, header whitespace) may load.
            Ok(l) => {
                prop_assert_eq!(l.meta, meta());
                prop_assert_eq!(values(&l.model["w"]), values(&w));
                prop_assert_eq!(values(&l.model["n"]), values(&n));
                prop_assert_eq!(l.model.len(), 2);
            }
        }
    }

    #[test]
    fn mutated_presets_load_or_fail_cleanly(
        which in 0..PRESETS.len(),
        line in any::<Index>(),
        replacement in prop_oneof![value_text(), "[ -~]{0,30}"],
        value_only in any::<bool>(),
    ) {
        let text = preset(PRESETS[which]);
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        let i = line.index(lines.len());
        lines[i] = match (value_only, lines[i].split_once('=')) {
            (true, Some((key, _))) => format!("{key}= {replacement}"),
            _ => replacement.clone(),
        };
        let dir = tempfile::tempdir().unwrap();
        // The base presets beside it, as in configs/.
        for name in ["bot_r50.toml", "sdcn_vgn.toml", "igoas.toml"] {
            std::fs::write(dir.path().join(name), preset(name)).unwrap();
        }
        let path = dir.path().join("mutated.toml");
        std::fs::write(&path, lines.join("\n")).unwrap();
        match config::load(&path, &[]) {
            Ok(cfg) => assert_finite(&cfg, &lines[i]),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn set_values_load_or_fail_cleanly(key in any::<Index>(), value in value_text(), junk in "[ -~]{0,20}", raw in any::<bool>()) {
        let keys = keys();
        let item = if raw { junk } else { format!("{}={value}", keys[key.index(keys.len())]) };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("demo.toml");
        std::fs::write(&path, preset("demo.toml")).unwrap();
        std::fs::write(dir.path().join("bot_r50.toml"), preset("bot_r50.toml")).unwrap();
        match config::load(&path, std::slice::from_ref(&item)) {
            Ok(cfg) => assert_finite(&cfg, &item),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}

#[test]
fn non_finite_numbers_are_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.toml");
    std::fs::write(&path, preset("demo.toml")).unwrap();
    std::fs::write(dir.path().join("bot_r50.toml"), preset("bot_r50.toml")).unwrap();
    for (set, key) in [
        ("optim.base_lr=nan", "optim.base_lr"),
        ("loss.triplet_weight=-inf", "loss.triplet_weight"),
    ] {
        let e = config::load(&path, &[set.to_string()]).unwrap_err().to_string();
        assert!(e.contains(&format!("{key} must be a finite number")), "{e}");
    }
}
