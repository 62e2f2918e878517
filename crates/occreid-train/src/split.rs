//! The data a run trains and tests on: the training split with its (first) test set, and the further
//! test sets of `data.test_sets`.
use std::path::Path;

use occreid_data::{reader, Sample, Split};
use sha2::{Digest, Sha256};

use crate::config::TrainConfig;
use crate::TrainError;

/// Reads the training split and the test query/gallery a config names.
pub fn load_split(cfg: &TrainConfig) -> Result<Split, TrainError> {
    let d = &cfg.data;
    if d.root.is_empty() {
        return Err(TrainError::Config(crate::config::ConfigError::Invalid(
            "data.root is empty: set it in the config or with --set data.root=PATH".into(),
        )));
    }
    let split = reader(&d.dataset, &d.reader)?.read(Path::new(&d.root))?;
    let (dataset, root) = match d.test_sets.first() {
        Some(t) => (&t.dataset, &t.root),
        None => (&d.test_dataset, &d.test_root),
    };
    if dataset.is_empty() {
        return Ok(split);
    }
    let root = if root.is_empty() { &d.root } else { root };
    let test = reader(dataset, &d.reader)?.read(Path::new(root))?;
    Ok(test.with_train_from(split))
}

/// The test sets of `data.test_sets` after the first (whose query and gallery [`load_split`] returns),
/// by their labels.
pub fn load_extra_test_sets(cfg: &TrainConfig) -> Result<Vec<(String, Split)>, TrainError> {
    let d = &cfg.data;
    d.test_sets
        .iter()
        .skip(1)
        .map(|t| {
            let root = if t.root.is_empty() { &d.root } else { &t.root };
            Ok((
                t.label().to_string(),
                reader(&t.dataset, &d.reader)?.read(Path::new(root))?,
            ))
        })
        .collect()
}

/// Names a test set: SHA-256 (hex, first 16 bytes) over every query and gallery item's file name, pid and
/// camera, in order. Runs evaluated on the same lists get the same value wherever the data folder lives;
/// `occreid compare` refuses runs whose values differ.
pub fn test_set_fingerprint(query: &[Sample], gallery: &[Sample]) -> String {
    let mut h = Sha256::new();
    for (part, samples) in [("query", query), ("gallery", gallery)] {
        h.update(part.as_bytes());
        h.update((samples.len() as u64).to_le_bytes());
        for s in samples {
            let name = s.path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
            h.update((name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
            h.update(s.pid.to_le_bytes());
            h.update(s.camid.to_le_bytes());
        }
    }
    h.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(path: &str, pid: i64, camid: i64) -> Sample {
        Sample {
            path: path.into(),
            pid,
            camid,
        }
    }

    #[test]
    fn fingerprint_ignores_the_folder_and_sees_every_label() {
        let q = [sample("/a/q/0001_c1.jpg", 1, 0)];
        let g = [sample("/a/g/0001_c2.jpg", 1, 1), sample("/a/g/0002_c2.jpg", 2, 1)];
        let base = test_set_fingerprint(&q, &g);
        assert_eq!(base.len(), 32);
        let moved = [sample("/b/q/0001_c1.jpg", 1, 0)];
        assert_eq!(test_set_fingerprint(&moved, &g), base);
        let relabelled = [sample("/a/g/0001_c2.jpg", 1, 1), sample("/a/g/0002_c2.jpg", 3, 1)];
        assert_ne!(test_set_fingerprint(&q, &relabelled), base);
        // Moving an item from the gallery to the query side is another test set.
        let (q2, g2) = ([q[0].clone(), g[0].clone()], [g[1].clone()]);
        assert_ne!(test_set_fingerprint(&q2, &g2), base);
    }
}
