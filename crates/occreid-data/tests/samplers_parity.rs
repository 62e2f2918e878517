//! Samplers against the Python reference algorithms run under `random.seed(s)`
//! (`tools/gen_transform_fixtures.py`), plus determinism / resume / shape properties.
use std::collections::HashMap;
use std::path::PathBuf;

use occreid_data::samplers::{ClassUniformSampler, RandomIdentitySampler, RandomSampler, Sampler, SamplerError};
use occreid_data::transforms::PyRandom;
use occreid_eval::npy::read_labels;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/transforms")
        .join(name)
}

fn labels(name: &str) -> Vec<i64> {
    read_labels(fixture(name)).unwrap()
}

fn drain_epoch<S: Sampler>(s: &mut S) -> Vec<usize> {
    let mut out = Vec::new();
    while let Some(b) = s.next_batch() {
        out.extend(b);
    }
    out
}

#[test]
fn bot_identity_sampler_matches_python_reference() {
    for name in ["small", "large"] {
        let pids = labels(&format!("sampler_{name}_pids.npy"));
        let expected: Vec<usize> = labels(&format!("sampler_{name}_bot_seed11_2epochs.npy"))
            .into_iter()
            .map(|v| v as usize)
            .collect();
        let mut s = RandomIdentitySampler::with_rng(&pids, 64, 4, PyRandom::new(11)).unwrap();
        let mut ours = drain_epoch(&mut s);
        ours.extend(drain_epoch(&mut s));
        assert_eq!(
            ours, expected,
            "{name}: stream differs from BoT's RandomIdentitySampler"
        );
        assert_eq!(s.epoch(), 2);
    }
}

#[test]
fn class_uniform_sampler_matches_python_reference() {
    let pids = labels("sampler_cu_pids.npy");
    let expected: Vec<usize> = labels("sampler_cu_seed5_3passes.npy")
        .into_iter()
        .map(|v| v as usize)
        .collect();
    let mut s = ClassUniformSampler::with_rng(&pids, 32, 4, PyRandom::new(5)).unwrap();
    let mut ours = Vec::new();
    for _ in 0..3 {
        ours.extend(s.pass_indices());
    }
    assert_eq!(ours, expected);
}

#[test]
fn bot_batches_are_p_ids_times_k_images() {
    let pids = labels("sampler_large_pids.npy");
    let mut s = RandomIdentitySampler::new(&pids, 64, 4, 3).unwrap();
    let mut n = 0;
    while let Some(b) = s.next_batch() {
        assert_eq!(b.len(), 64);
        let mut per_id: HashMap<i64, usize> = HashMap::new();
        for &i in &b {
            *per_id.entry(pids[i]).or_default() += 1;
        }
        assert_eq!(per_id.len(), 16);
        assert!(per_id.values().all(|&c| c == 4));
        n += 1;
    }
    assert!(n > 0);
}

#[test]
fn bot_small_identity_is_sampled_with_replacement() {
    // 16 ids with 4 images and one with 2: that id still yields a full chunk of 4 (repeats allowed).
    let mut pids = Vec::new();
    for p in 0..16 {
        pids.extend([p; 4]);
    }
    pids.extend([99, 99]);
    let mut s = RandomIdentitySampler::new(&pids, 64, 4, 0).unwrap();
    let epoch = drain_epoch(&mut s);
    assert_eq!(epoch.len() % 64, 0);
    let small: Vec<usize> = (0..3)
        .flat_map(|_| s.epoch_indices())
        .filter(|&i| pids[i] == 99)
        .collect();
    assert!(!small.is_empty() && small.chunks(4).all(|c| c.len() == 4));
    assert!(small.iter().all(|&i| i == 64 || i == 65));
}

#[test]
fn too_few_identities_is_an_error() {
    let pids: Vec<i64> = (0..10).flat_map(|p| [p; 4]).collect();
    assert_eq!(
        RandomIdentitySampler::new(&pids, 64, 4, 0).unwrap_err(),
        SamplerError::TooFewIdentities { needed: 16, found: 10 }
    );
}

#[test]
fn class_uniform_last_batch_is_partial_and_passes_restart() {
    let pids = labels("sampler_cu_pids.npy"); // 12 ids, k = 4 -> 48 per pass -> 32 + 16
    let mut s = ClassUniformSampler::new(&pids, 32, 4, 1).unwrap();
    assert_eq!(s.next_batch().unwrap().len(), 32);
    assert_eq!(s.next_batch().unwrap().len(), 16);
    assert_eq!(s.next_batch(), None);
    assert_eq!(s.epoch(), 1);
    assert_eq!(s.next_batch().unwrap().len(), 32);
}

#[test]
fn random_sampler_drop_last_covers_distinct_indices() {
    let mut s = RandomSampler::new(100, 32, true, 9).unwrap();
    assert_eq!(s.len(), 3);
    let e = drain_epoch(&mut s);
    assert_eq!(e.len(), 96);
    let mut sorted = e.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 96);
    let mut keep = RandomSampler::new(100, 32, false, 9).unwrap();
    assert_eq!(drain_epoch(&mut keep).len(), 100);
}

/// Draws 1.5 epochs, saves the state as JSON, restores it into a fresh sampler and checks that the
/// continuation (rest of the epoch and the next two epochs) is identical.
fn resume_is_exact<S: Sampler>(mut make: impl FnMut() -> S, batches_per_epoch_hint: usize) {
    let mut a = make();
    let first_epoch = drain_epoch(&mut a);
    assert!(!first_epoch.is_empty());
    for _ in 0..batches_per_epoch_hint / 2 {
        a.next_batch().expect("mid-epoch batch");
    }
    let saved = serde_json::to_string(&a.state()).unwrap();
    let mut b = make();
    b.restore(serde_json::from_str(&saved).unwrap()).unwrap();
    assert_eq!(a.epoch(), b.epoch());
    for _ in 0..3 * batches_per_epoch_hint {
        assert_eq!(a.next_batch(), b.next_batch());
    }
    // And a fresh sampler with the same seed reproduces the whole stream from the start.
    let mut c = make();
    assert_eq!(drain_epoch(&mut c), first_epoch);
}

#[test]
fn resume_after_one_and_a_half_epochs_continues_identically() {
    let pids = labels("sampler_large_pids.npy");
    let bot_len = {
        let mut s = RandomIdentitySampler::new(&pids, 64, 4, 21).unwrap();
        drain_epoch(&mut s).len() / 64
    };
    resume_is_exact(|| RandomIdentitySampler::new(&pids, 64, 4, 21).unwrap(), bot_len);
    resume_is_exact(
        || RandomIdentitySampler::with_rng(&pids, 64, 4, PyRandom::new(21)).unwrap(),
        bot_len,
    );
    let cu = labels("sampler_cu_pids.npy");
    resume_is_exact(|| ClassUniformSampler::new(&cu, 32, 4, 4).unwrap(), 2);
    resume_is_exact(|| RandomSampler::new(pids.len(), 64, true, 8).unwrap(), pids.len() / 64);
}

#[test]
fn restoring_into_a_different_dataset_is_refused() {
    let a = RandomSampler::new(100, 10, true, 0).unwrap();
    let mut b = RandomSampler::new(120, 10, true, 0).unwrap();
    assert_eq!(
        b.restore(a.state()).unwrap_err(),
        SamplerError::StateMismatch { saved: 100, found: 120 }
    );
}
