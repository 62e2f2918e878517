//! Methods rebuilt from checkpoints: the saved config, the model tensors copied in by name with shape
//! checks (for `eval`, `extract` and [`crate::Engine::resume`]).
use std::collections::HashMap;
use std::path::Path;

use occreid_model::methods::{self, Method};
use occreid_torch::tch::{self, Device, Tensor};

use crate::checkpoint::{self, CheckpointMeta};
use crate::config::TrainConfig;
use crate::TrainError;

/// The resolved config a checkpoint's run was trained with (its metadata holds it as TOML).
pub(crate) fn saved_config(meta: &CheckpointMeta, path: &Path) -> Result<TrainConfig, TrainError> {
    let table = toml::from_str(&meta.config)
        .map_err(|e| TrainError::Incompatible(format!("{}: saved config unreadable: {e}", path.display())))?;
    Ok(crate::config::from_table(table)?)
}

/// A method rebuilt from a checkpoint, with the config it was trained with.
pub struct Restored {
    pub method: Box<dyn Method>,
    pub config: TrainConfig,
    pub meta: CheckpointMeta,
}

/// Rebuilds the method a checkpoint was written by and loads its tensors (for eval / extract).
pub fn method_from_checkpoint(path: &Path, device: Device) -> Result<Restored, TrainError> {
    let loaded = checkpoint::load(path)?;
    let mut config = saved_config(&loaded.meta, path)?;
    // The checkpoint holds every weight; the ImageNet file need not exist any more.
    config.model.pretrained.clear();
    let built = methods::build(&config.method, &config.recipe(), loaded.meta.num_classes, device)?;
    load_model_tensors(built.method.as_ref(), &loaded.model, path)?;
    Ok(Restored {
        method: built.method,
        config,
        meta: loaded.meta,
    })
}

/// Copies checkpoint tensors into the method by name; every tensor of the method must be present.
pub fn load_model_tensors(
    method: &dyn Method,
    tensors: &HashMap<String, Tensor>,
    path: &Path,
) -> Result<(), TrainError> {
    let vars = method.var_store().variables();
    let mut missing: Vec<&String> = vars.keys().filter(|k| !tensors.contains_key(*k)).collect();
    missing.sort();
    if let Some(first) = missing.first() {
        return Err(TrainError::Incompatible(format!(
            "{} lacks {} of the model's tensors (e.g. `{first}`); was it written for another method or backbone?",
            path.display(),
            missing.len()
        )));
    }
    tch::no_grad(|| {
        for (name, var) in &vars {
            let src = &tensors[name];
            // Checkpoint tensors are on the CPU: these checks cost no device sync.
            let problem = if src.size() != var.size() {
                Some(format!(
                    "has shape {:?} but the model's is {:?}",
                    src.size(),
                    var.size()
                ))
            } else if src.kind() != var.kind() {
                Some(format!("is {:?} but the model's is {:?}", src.kind(), var.kind()))
            } else if src.is_floating_point() && !bool::try_from(src.isfinite().all()).unwrap_or(false) {
                Some("holds NaN or infinite values".to_string())
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(TrainError::Incompatible(format!(
                    "{}: `{name}` {problem}",
                    path.display()
                )));
            }
            var.shallow_clone().copy_(&src.to_device(var.device()));
        }
        Ok(())
    })
}
