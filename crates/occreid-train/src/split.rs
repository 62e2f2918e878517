//! The data a run trains and tests on: the training split with its (first) test set, and the further
//! test sets of `data.test_sets`.
use std::path::Path;

use occreid_data::{reader, Split};

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
