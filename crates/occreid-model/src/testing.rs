//! Support for the parity tests of several crates: the deterministic tensor values that
//! tools/gen_model_fixtures.py and tools/gen_train_step_fixtures.py also write into the PyTorch models,
//! so both sides start from identical weights without shipping weight files; and the reader of the
//! JSON number arrays those fixtures hold.
use occreid_torch::tch::Tensor;

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
