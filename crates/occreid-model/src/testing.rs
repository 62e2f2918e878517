//! Support for the parity tests of several crates: the deterministic tensor values that
//! tools/gen_model_fixtures.py and tools/gen_train_step_fixtures.py also write into the PyTorch models,
//! so both sides start from identical weights without shipping weight files; and the reader of the
//! JSON number arrays those fixtures hold.
use occreid_torch::tch::{Kind, Tensor};

/// A JSON array of numbers as f32 (fixture files; panics on anything else, as a broken fixture should).
pub fn json_f32(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .expect("fixture value is an array")
        .iter()
        .map(|x| x.as_f64().expect("fixture array holds numbers") as f32)
        .collect()
}

/// Tensor number `t` (state-dict order, `num_batches_tracked` excluded) named `name`, element k:
/// u = ((k * 7919 + t * 104729) % 2001 - 1000) / 1000; running_var 1 + (u + 1) / 4, running_mean u / 10,
/// tensors with >= 2 dims u / sqrt(fan_in), other `weight`s 1 + u / 10, other tensors u / 10, and BoT's
/// frozen `bottleneck.bias` 0.
pub fn deterministic(name: &str, shape: &[i64], t: i64) -> Tensor {
    let n: i64 = shape.iter().product();
    let fan_in: i64 = shape[1..].iter().product();
    let values: Vec<f32> = (0..n)
        .map(|k| {
            let u = ((k * 7919 + t * 104729) % 2001 - 1000) as f64 / 1000.0;
            let x = if name == "bottleneck.bias" {
                0.0
            } else if name.ends_with("running_var") {
                1.0 + (u + 1.0) / 4.0
            } else if name.ends_with("running_mean") {
                u / 10.0
            } else if shape.len() >= 2 {
                u / (fan_in as f64).sqrt()
            } else if name.ends_with("weight") {
                1.0 + u / 10.0
            } else {
                u / 10.0
            };
            x as f32
        })
        .collect();
    Tensor::from_slice(&values).reshape(shape)
}

/// The method fixtures' input: element k of the flattened tensor is `((k·31) mod 255)/127.5 − 1`, float32.
pub fn formula_input(shape: &[i64]) -> Tensor {
    let n: i64 = shape.iter().product();
    let x: Vec<f32> = (0..n).map(|k| (((k * 31) % 255) as f64 / 127.5 - 1.0) as f32).collect();
    Tensor::from_slice(&x).reshape(shape)
}

/// Writes the deterministic value of every `[name, shape, t]` entry (a module of a fixture's
/// `weights.json`, compacted) into the variable `prefix + rename(name)` of `vars`; entries `rename`
/// maps to `None` are skipped. Panics unless every variable under `prefix` was written.
pub fn load_fixture_module(
    vars: &std::collections::HashMap<String, Tensor>,
    entries: &serde_json::Value,
    prefix: &str,
    rename: fn(&str) -> Option<String>,
) {
    let mut covered = 0;
    occreid_torch::tch::no_grad(|| {
        for e in entries.as_array().expect("fixture entries") {
            let name = e[0].as_str().expect("entry name");
            let Some(ours) = rename(name) else { continue };
            let shape: Vec<i64> = e[1]
                .as_array()
                .expect("shape")
                .iter()
                .map(|d| d.as_i64().expect("dim"))
                .collect();
            let var = vars
                .get(&format!("{prefix}{ours}"))
                .unwrap_or_else(|| panic!("no variable {prefix}{ours} for {name}"));
            assert_eq!(var.size(), shape, "{name}");
            var.shallow_clone()
                .copy_(&deterministic(name, &shape, e[2].as_i64().expect("t")));
            covered += 1;
        }
    });
    let ours = vars.keys().filter(|k| k.starts_with(prefix)).count();
    assert_eq!(covered, ours, "every variable under '{prefix}' gets a fixture value");
}

/// max |a − b| / max |b|, in float64.
pub fn rel_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    let (a, b) = (a.to_kind(Kind::Double), b.to_kind(Kind::Double));
    (a - &b).abs().max().double_value(&[]) / b.abs().max().double_value(&[])
}

pub fn assert_close(what: &str, got: &Tensor, want: &Tensor, rel: f64) {
    let d = rel_diff(got, want);
    assert!(d <= rel, "{what}: relative difference {d:e} > {rel:e}");
}

pub fn assert_scalar(what: &str, got: &Tensor, want: f64, rel: f64) {
    let g = got.double_value(&[]);
    assert!(
        (g - want).abs() <= rel * want.abs(),
        "{what}: {g} vs {want} (rel {rel:e})"
    );
}
