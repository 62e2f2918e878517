//! Checks and transfers a method needs before a fresh run: paired views need every identity twice, and
//! frozen tensors ([`Import`]) come from another run's checkpoint.
use std::collections::BTreeMap;
use std::path::Path;

use occreid_data::Sample;
use occreid_model::methods::{Import, Method};
use occreid_torch::tch;

use crate::checkpoint;
use crate::config::TrainConfig;
use crate::restore::saved_config;
use crate::TrainError;

/// Paired views need a donor other than the image itself, and (for the identity losses on both views)
/// every identity with two images at least.
pub(crate) fn check_pairable(train: &[Sample]) -> Result<(), TrainError> {
    let mut count: BTreeMap<i64, (usize, &Path)> = BTreeMap::new();
    for s in train {
        count.entry(s.pid).or_insert((0, &s.path)).0 += 1;
    }
    if let Some((pid, (_, path))) = count.iter().find(|(_, (n, _))| *n < 2) {
        return Err(TrainError::Data(format!(
            "training identity {pid} has a single image ({}); this method's P×K batches and triplets need at \
             least two per identity: remove it from the training set",
            path.display()
        )));
    }
    Ok(())
}

/// Copies the tensors under `import.prefix` from the checkpoint it names, after checking that the
/// checkpoint was written by the expected method for the same identities and network.
pub(crate) fn import_tensors(
    method: &dyn Method,
    import: &Import,
    num_classes: i64,
    config: &TrainConfig,
) -> Result<(), TrainError> {
    let what = import.what;
    if import.path.is_empty() {
        return Err(TrainError::Incompatible(format!(
            "method '{}' trains under a frozen {what}: set {} to its checkpoint (the `last.ckpt` of a '{}' run)",
            method.name(),
            import.config_key,
            import.method
        )));
    }
    let path = Path::new(&import.path);
    let loaded = checkpoint::load(path)?;
    let meta = &loaded.meta;
    let expected = format!("a '{}' checkpoint for {num_classes} training identities", import.method);
    if meta.method != import.method || meta.num_classes != num_classes {
        return Err(TrainError::Incompatible(format!(
            "{} ({}) is a '{}' checkpoint for {} identities, but {what} needs {expected}",
            path.display(),
            import.config_key,
            meta.method,
            meta.num_classes
        )));
    }
    let theirs = saved_config(meta, path)?.model;
    let ours = &config.model;
    if (theirs.backbone, theirs.last_stride, theirs.stem_relu) != (ours.backbone, ours.last_stride, ours.stem_relu) {
        return Err(TrainError::Incompatible(format!(
            "{} ({}) was trained with {:?} (last stride {}, stem ReLU {}) but this run's {what} is {:?} (last \
             stride {}, stem ReLU {}); set model.* to match or train a new {what}",
            path.display(),
            import.config_key,
            theirs.backbone,
            theirs.last_stride,
            theirs.stem_relu,
            ours.backbone,
            ours.last_stride,
            ours.stem_relu
        )));
    }
    let vars = method.var_store().variables();
    let mut names: Vec<&String> = vars.keys().filter(|k| k.starts_with(import.prefix)).collect();
    names.sort();
    for name in &names {
        let var = &vars[*name];
        match loaded.model.get(*name) {
            Some(t) if t.size() == var.size() => {}
            found => {
                return Err(TrainError::Incompatible(format!(
                    "{} ({}): `{name}` is {} but this run's {what} needs {:?}; was the {what} trained with another \
                     model.backbone?",
                    path.display(),
                    import.config_key,
                    found.map_or("missing".to_string(), |t| format!("{:?}", t.size())),
                    var.size()
                )))
            }
        }
    }
    tch::no_grad(|| {
        for name in names {
            let mut dst = vars[name].shallow_clone();
            dst.copy_(&loaded.model[name].to_kind(dst.kind()).to_device(dst.device()));
        }
    });
    tracing::info!(path = %path.display(), "{what} loaded");
    Ok(())
}
