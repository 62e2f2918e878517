//! Loading state dicts saved by the authors' code (OPR-DAAO) into our SDCN / VGN / non-local tensors, so
//! their released checkpoints can be evaluated and used for extraction.
use occreid_torch::tch::nn::VarStore;

/// Maps a tensor name of the authors' `Res50BNNeck` / `Res50BNNeckk` state dict onto ours (without the
/// `vgn.`/`sdcn.` prefix). `None` for the `resnet_conv.*` aliases of the same tensors (§3.11 item 2) and
/// for `num_batches_tracked`, which tch's batch norm does not keep.
pub fn authors_name(name: &str) -> Option<String> {
    if name.starts_with("resnet_conv.") || name.ends_with("num_batches_tracked") {
        return None;
    }
    Some(if let Some(rest) = name.strip_prefix("conv1.0.") {
        format!("conv1.{rest}")
    } else if let Some(rest) = name.strip_prefix("conv1.1.") {
        format!("bn1.{rest}")
    } else {
        name.to_string()
    })
}

/// Which of the authors' modules a state-dict file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorsModule {
    /// `Res50BNNeck` (sdcnet) or `Res50BNNeckk` (vnet): backbone, aliases, `classifier.*`.
    Network,
    /// `_NonLocalBlockND` (nonnlocal).
    NonLocal,
}

/// Loads a state dict saved by the authors' code (`torch.save(net.state_dict())`, `.pth` or
/// `.safetensors`; a DataParallel `module.` prefix is accepted) into every tensor of `vs` under
/// `prefix` (`sdcn.`, `vgn.` or `nonlocal.`). Every such tensor must be provided with its shape.
pub fn load_authors_state(
    vs: &VarStore,
    path: &std::path::Path,
    module: AuthorsModule,
    prefix: &str,
) -> Result<crate::weights::LoadReport, crate::weights::WeightsError> {
    use crate::weights::{read_state_dict, LoadReport, WeightsError};
    let mut report = LoadReport::default();
    let mut file = std::collections::BTreeMap::new();
    for (name, t) in read_state_dict(path)? {
        let bare = name.strip_prefix("module.").unwrap_or(&name).to_string();
        let ours = match module {
            AuthorsModule::Network => authors_name(&bare),
            AuthorsModule::NonLocal => (!bare.ends_with("num_batches_tracked")).then(|| bare.clone()),
        };
        match ours {
            Some(n) => {
                file.insert(format!("{prefix}{n}"), t);
            }
            None => report.ignored.push(name),
        }
    }
    let vars = vs.variables();
    let mut names: Vec<&String> = vars.keys().filter(|k| k.starts_with(prefix)).collect();
    names.sort();
    for name in &names {
        match file.get(*name) {
            None => report.missing.push(name.to_string()),
            Some(t) if t.size() != vars[*name].size() => {
                return Err(WeightsError::Shape {
                    path: path.to_path_buf(),
                    count: 1,
                    name: name.to_string(),
                    file: t.size(),
                    model: vars[*name].size(),
                })
            }
            Some(_) => report.loaded.push(name.to_string()),
        }
    }
    if let Some(first) = report.missing.first() {
        return Err(WeightsError::Missing {
            path: path.to_path_buf(),
            count: report.missing.len(),
            example: first.strip_prefix(prefix).unwrap_or(first).to_string(),
            file_example: file.keys().next().cloned().unwrap_or_else(|| "(none)".into()),
        });
    }
    occreid_torch::tch::no_grad(|| {
        for name in &names {
            let mut dst = vars[*name].shallow_clone();
            dst.copy_(&file[*name].to_kind(dst.kind()).to_device(dst.device()));
        }
    });
    report.unexpected = file.keys().filter(|k| !vars.contains_key(*k)).cloned().collect();
    Ok(report)
}
