//! The engine's training sampler: the configured sampler behind one interface, cut into epochs.
use occreid_data::samplers::{ClassUniformSampler, RandomIdentitySampler, RandomSampler, Sampler, SamplerError};
use occreid_data::Sample;

use crate::config::{SamplerKind, TrainConfig};
use crate::TrainError;

pub(crate) enum TrainSampler {
    Identity(RandomIdentitySampler),
    Random(RandomSampler),
    /// With the epoch length in batches (0 = one pass).
    ClassUniform(ClassUniformSampler, usize),
}

impl TrainSampler {
    pub(crate) fn new(cfg: &TrainConfig, train: &[Sample]) -> Result<Self, SamplerError> {
        let d = &cfg.data;
        Ok(match d.sampler {
            SamplerKind::Identity => {
                let labels: Vec<i64> = train.iter().map(|s| s.pid).collect();
                Self::Identity(RandomIdentitySampler::new(
                    &labels,
                    d.batch_size,
                    d.instances_per_id,
                    cfg.seed,
                )?)
            }
            SamplerKind::Random => Self::Random(RandomSampler::new(train.len(), d.batch_size, true, cfg.seed)?),
            SamplerKind::ClassUniform => {
                let labels: Vec<i64> = train.iter().map(|s| s.pid).collect();
                let p = d.batch_size / d.instances_per_id;
                let ids = labels.iter().collect::<std::collections::BTreeSet<_>>().len();
                if ids < p {
                    return Err(SamplerError::TooFewIdentities { needed: p, found: ids });
                }
                Self::ClassUniform(
                    ClassUniformSampler::new(&labels, d.batch_size, d.instances_per_id, cfg.seed)?,
                    d.steps_per_epoch,
                )
            }
        })
    }

    /// The rest of the current epoch's batches (a whole epoch at an epoch boundary).
    pub(crate) fn epoch_batches(&mut self) -> Vec<Vec<usize>> {
        let mut out = Vec::new();
        loop {
            let next = match self {
                Self::Identity(s) => s.next_batch(),
                Self::Random(s) => s.next_batch(),
                // DAAO's IterLoader: a fixed number of steps, the pass restarting when it runs out.
                Self::ClassUniform(s, steps) if *steps > 0 => {
                    if out.len() == *steps {
                        return out;
                    }
                    s.next_batch().or_else(|| s.next_batch())
                }
                Self::ClassUniform(s, _) => s.next_batch(),
            };
            match next {
                Some(b) => out.push(b),
                None => return out,
            }
        }
    }

    pub(crate) fn state(&self) -> serde_json::Value {
        match self {
            Self::Identity(s) => serde_json::to_value(s.state()),
            Self::Random(s) => serde_json::to_value(s.state()),
            Self::ClassUniform(s, _) => serde_json::to_value(s.state()),
        }
        .expect("sampler state serialises")
    }

    pub(crate) fn restore(&mut self, state: serde_json::Value) -> Result<(), TrainError> {
        let bad = |e: serde_json::Error| TrainError::Resume(format!("sampler state does not match the config: {e}"));
        match self {
            Self::Identity(s) => s.restore(serde_json::from_value(state).map_err(bad)?)?,
            Self::Random(s) => s.restore(serde_json::from_value(state).map_err(bad)?)?,
            Self::ClassUniform(s, _) => s.restore(serde_json::from_value(state).map_err(bad)?)?,
        }
        Ok(())
    }
}

/// The batches in the first epoch the config's sampler draws from `train`: what a progress estimate needs
/// before anything trains (later epochs of the identity sampler may differ by a batch).
pub fn steps_per_epoch(cfg: &TrainConfig, train: &[Sample]) -> Result<usize, TrainError> {
    Ok(TrainSampler::new(cfg, train)?.epoch_batches().len())
}
