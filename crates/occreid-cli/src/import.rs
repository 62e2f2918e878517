//! `occreid import daao`: state dicts saved by the authors' OPR-DAAO code (`sdcnet`, `nonnlocal`, `vnet`)
//! into an occreid checkpoint that `eval` and `extract` take like one of our own runs.
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use occreid_model::methods::build;
use occreid_model::methods::sdcn::{load_authors_state, AuthorsModule};
use occreid_model::weights::read_state_dict;
use occreid_torch::tch::Device;
use occreid_train::checkpoint::{self, CheckpointMeta};
use occreid_train::config;

#[derive(clap::Subcommand)]
pub enum Command {
    /// SDCN + non-local (and optionally the VGN) or a VGN alone, from the authors' state dicts
    Daao(DaaoArgs),
}

#[derive(clap::Args)]
pub struct DaaoArgs {
    /// The recipe the networks were trained with (backbone, input size, test settings)
    #[arg(long, default_value = "configs/sdcn_vgn.toml")]
    config: PathBuf,
    /// Override a config value (e.g. --set data.root=PATH for a later `eval`)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// The SDCN's state dict (`Res50BNNeck`, resnet_conv.* aliases accepted)
    #[arg(long, requires = "nonlocal")]
    sdcn: Option<PathBuf>,
    /// The non-local block's state dict (`_NonLocalBlockND`)
    #[arg(long, requires = "sdcn")]
    nonlocal: Option<PathBuf>,
    /// The VGN's state dict (`Res50BNNeckk`): alone, a VGN checkpoint; with --sdcn, stored as its frozen VGN
    #[arg(long)]
    vgn: Option<PathBuf>,
    /// The checkpoint to write (never overwritten)
    #[arg(long)]
    out: PathBuf,
}

/// Training identities of a network state dict: rows of its classifier.
fn classes(path: &PathBuf) -> Result<i64> {
    let state = read_state_dict(path)?;
    let (_, w) = state
        .iter()
        .find(|(n, _)| n.trim_start_matches("module.") == "classifier.classifier.weight")
        .with_context(|| {
            format!(
                "{}: no classifier.classifier.weight; is it an SDCN/VGN state dict?",
                path.display()
            )
        })?;
    Ok(w.size()[0])
}

pub fn run(c: Command) -> Result<()> {
    let Command::Daao(a) = c;
    if a.out.exists() {
        bail!("{} already exists; choose another --out", a.out.display());
    }
    let mut cfg = config::load(&a.config, &a.set)?;
    cfg.model.pretrained.clear();
    cfg.sdcn.vgn.clear();
    let (method_name, net_file) = match (&a.sdcn, &a.vgn) {
        (Some(s), _) => ("sdcn", s),
        (None, Some(v)) => ("vgn", v),
        (None, None) => bail!("give --sdcn and --nonlocal (an SDCN), or --vgn (a VGN)"),
    };
    let num_classes = classes(net_file)?;
    cfg.method = method_name.to_string();
    cfg.validate()?;
    let method = build(method_name, &cfg.recipe(), num_classes, Device::Cpu)?.method;
    let vs = method.var_store();
    let mut loaded = Vec::new();
    if let (Some(s), Some(n)) = (&a.sdcn, &a.nonlocal) {
        loaded.push(load_authors_state(vs, s, AuthorsModule::Network, "sdcn.")?);
        loaded.push(load_authors_state(vs, n, AuthorsModule::NonLocal, "nonlocal.")?);
    }
    if let Some(v) = &a.vgn {
        if a.sdcn.is_some() && classes(v)? != num_classes {
            bail!(
                "{} has {} identities but the SDCN {num_classes}",
                v.display(),
                classes(v)?
            );
        }
        loaded.push(load_authors_state(vs, v, AuthorsModule::Network, "vgn.")?);
    } else if a.sdcn.is_some() {
        eprintln!("note: no --vgn: the checkpoint evaluates and extracts, but its VGN is untrained (not for training)");
    }
    let mut tensors: Vec<_> = vs.variables().into_iter().collect();
    tensors.sort_by(|x, y| x.0.cmp(&y.0));
    let meta = CheckpointMeta {
        format: checkpoint::FORMAT,
        method: method.name().to_string(),
        epoch: 0,
        global_batch: 0,
        optimizer_steps: 0,
        num_classes,
        sampler: serde_json::Value::Null,
        in_epoch: None,
        best: None,
        loss_scaler: None,
        method_state: serde_json::Value::Null,
        config: cfg.to_toml(),
    };
    checkpoint::save(&a.out, &tensors, &[], &meta)?;
    let n: usize = loaded.iter().map(|r| r.loaded.len()).sum();
    let ignored: usize = loaded.iter().map(|r| r.ignored.len()).sum();
    println!(
        "{}: '{}' checkpoint, {num_classes} identities, {n} tensors loaded ({ignored} aliases and counters skipped)",
        a.out.display(),
        method.name()
    );
    Ok(())
}
