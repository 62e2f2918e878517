//! `occreid compare` over tiny runs: the table agrees with each run's summary.json, the page holds the
//! curves and the clean/occluded rank lists, and runs on another test set or other occlusion settings are
//! refused with the difference named.
mod common;

use common::{failed, occreid, ok, synth, train_tiny};
use std::path::Path;

/// Two epochs at 64x32 of `preset` on `data`, the occlusion suite at 30 % with two kinds (or `ratios`).
fn train(preset: &str, data: &Path, out: &Path, ratios: &str) {
    let sets = [
        "train.epochs=2".to_string(),
        format!("test.occlusion.ratios={ratios}"),
        "test.occlusion.kinds=[\"solid_box\", \"pedestrian\"]".into(),
    ];
    train_tiny(preset, data, out, &sets);
}

fn summary(run: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn compare_puts_runs_side_by_side_and_refuses_what_differs() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, other_data) = (tmp.path().join("data"), tmp.path().join("other"));
    synth(&data, 12, 2, 4);
    synth(&other_data, 14, 2, 4);
    let (bot, igoas) = (tmp.path().join("bot"), tmp.path().join("igoas"));
    train("demo.toml", &data, &bot, "[0.3]");
    train("demo_igoas.toml", &data, &igoas, "[0.3]");

    // Each run keeps its showcase: the occluded queries it was ranked with, as images.
    let s = summary(&bot);
    assert_eq!(s["test_set"]["fingerprint"], summary(&igoas)["test_set"]["fingerprint"]);
    let showcase = s["showcase"].as_array().unwrap();
    assert_eq!(showcase[0]["setting"], "holistic");
    assert_eq!(showcase.len(), 3, "holistic + one setting per kind");
    let occluded_query = showcase[1]["lists"][0]["query"]["path"].as_str().unwrap();
    assert!(occluded_query.contains("showcase") && Path::new(occluded_query).is_file());
    assert_eq!(showcase[1]["lists"][0]["gallery"].as_array().unwrap().len(), 10);
    // The single-run report: filterable rank lists, the config and the checkpoint it came from.
    let html = std::fs::read_to_string(bot.join("report.html")).unwrap();
    assert!(html.contains("id=\"rank-wrong-only\"") && html.contains("data-ap=\""));
    assert!(html.contains("<h2>Config</h2>") && html.contains("last.ckpt (epoch 2)"));

    let page = tmp.path().join("compare.html");
    let (b, i, p) = (bot.to_str().unwrap(), igoas.to_str().unwrap(), page.to_str().unwrap());
    let out = ok(&occreid(&["compare", b, i, "--json", "--out", p]));
    let json: serde_json::Value = serde_json::from_str(&out[..out.rfind('}').unwrap() + 1]).unwrap();
    let rows = json["table"]["rows"].as_array().unwrap();
    let settings: Vec<&str> = rows.iter().map(|r| r["setting"].as_str().unwrap()).collect();
    assert_eq!(settings, ["holistic", "solid_box bottom 30%", "pedestrian bottom 30%"]);
    for (k, run) in [&bot, &igoas].into_iter().enumerate() {
        let s = summary(run);
        assert_eq!(rows[0]["cells"][k]["rank1"], s["cmc"][0]);
        assert_eq!(rows[0]["cells"][k]["map"], s["mAP"]);
        assert_eq!(rows[2]["cells"][k]["rank1"], s["occlusion"][1]["rank1"]);
    }
    assert_eq!(json["runs"][1]["method"], "igoas");
    let html = std::fs::read_to_string(&page).unwrap();
    // The runs are named as the papers name their methods, and one sentence says where they differ most.
    assert!(html.contains("BoT (baseline)</th>") && html.contains("IGOAS</th>"));
    assert!(
        html.contains("What separates the methods here:"),
        "the sentence on what to look at"
    );
    assert_eq!(html.matches("<svg").count(), 4, "R1 and mAP for each of the two kinds");
    assert!(html.contains("BoT · clean") && html.contains("IGOAS · clean"));
    // The settings are taken in turn: every occluder kind gets a query.
    assert!(html.contains("IGOAS · solid_box bottom 30%") && html.contains("IGOAS · pedestrian bottom 30%"));

    // The page is not overwritten unless asked.
    let e = failed(&occreid(&["compare", b, i, "--out", p]));
    assert!(e.contains("already exists") && e.contains("--overwrite"), "{e}");

    // Another test set, and other occlusion settings: refused, naming what differs.
    let (elsewhere, other_ratios) = (tmp.path().join("elsewhere"), tmp.path().join("ratios"));
    train("demo.toml", &other_data, &elsewhere, "[0.3]");
    let e = failed(&occreid(&["compare", b, elsewhere.to_str().unwrap(), "--json"]));
    assert!(e.contains("different test sets") && e.contains("gallery"), "{e}");
    train("demo.toml", &data, &other_ratios, "[0.2, 0.3]");
    let e = failed(&occreid(&["compare", b, other_ratios.to_str().unwrap(), "--json"]));
    assert!(
        e.contains("different occlusion settings") && e.contains("only in the second: [solid_box bottom 20%"),
        "{e}"
    );
    // Not a run at all.
    let e = failed(&occreid(&["compare", b, data.to_str().unwrap(), "--json"]));
    assert!(e.contains("is not a finished run"), "{e}");
}

#[test]
fn the_demo_trains_the_three_methods_and_prints_the_headline_table() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, out) = (tmp.path().join("data"), tmp.path().join("demo"));
    let mut args = vec![
        "demo",
        "--ids",
        "12",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    for s in [
        "train.epochs=1",
        "sdcn.vgn_epochs=1",
        "data.batch_size=8",
        "data.instances_per_id=2",
        "test.rerank=false",
        "test.occlusion.ratios=[0.3]",
        "test.occlusion.kinds=[\"solid_box\", \"noise_box\"]",
    ] {
        args.extend(["--set", s]);
    }
    let text = ok(&occreid(&args));
    // The data is generated at the size the fast presets train at.
    let synth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("synth.json")).unwrap()).unwrap();
    assert_eq!(
        (synth["options"]["height"].as_u64(), synth["options"]["width"].as_u64()),
        (Some(64), Some(32))
    );
    for (k, name) in ["BoT", "SDCN + VGN", "IGOAS"].into_iter().enumerate() {
        assert!(text.contains(&format!("demo: method {} of 3: {name}", k + 1)), "{text}");
    }
    // The headline table: one row per method with its holistic R1 as its summary.json holds it.
    let table_header = text.lines().position(|l| l.starts_with("R1 (%)")).expect("the table");
    let header = text.lines().nth(table_header).unwrap();
    assert!(
        header.contains("holistic") && header.contains("noise_box bottom 30%"),
        "{header}"
    );
    for (k, (name, dir)) in [
        ("BoT", "bot"),
        ("SDCN + VGN", "sdcn_vgn/stage2_sdcn"),
        ("IGOAS", "igoas"),
    ]
    .into_iter()
    .enumerate()
    {
        let row = text.lines().nth(table_header + 1 + k).unwrap();
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join(dir).join("summary.json")).unwrap()).unwrap();
        let holistic = format!("{:.2}", summary["cmc"][0].as_f64().unwrap() * 100.0);
        assert!(
            row.starts_with(name) && row.split_whitespace().any(|c| c == holistic),
            "{row} vs {holistic}"
        );
    }
    assert!(text.contains("What separates the methods here:"), "{text}");
    assert!(out.join("report.html").is_file() && text.contains("comparison page:"));
}
