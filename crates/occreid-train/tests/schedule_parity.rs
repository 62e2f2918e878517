//! BoT's warmup multi-step schedule against a torch.optim LRScheduler driven as BoT's trainer does
//! (fixture from tools/gen_bot_fixtures.py).
use occreid_train::schedule::WarmupMultiStep;

#[test]
fn bot_schedule_matches_torch_per_epoch() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../occreid-model/tests/fixtures/bot_parity.json");
    let f: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let want: Vec<f64> = f["bot_schedule"]["lr_per_epoch_from_1"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(want.len(), 120);
    let s = WarmupMultiStep::bot();
    for (e, w) in (1..=120).zip(&want) {
        let got = s.lr(e);
        assert!((got - w).abs() <= 1e-15 * w.abs().max(1e-3), "epoch {e}: {got} vs {w}");
    }
}
