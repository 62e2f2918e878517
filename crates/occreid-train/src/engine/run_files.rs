//! What a run writes into its folder: `last.ckpt` (at epoch ends, and inside an epoch on Ctrl-C or every
//! `train.checkpoint_every_steps`), `best.ckpt`, `metrics.jsonl` and `summary.json`.
use std::io::Write;
use std::path::{Path, PathBuf};

use occreid_torch::tch::Tensor;

use super::{Engine, EpochRecord, EvalRecord};
use crate::checkpoint::{self, BestScore, CheckpointMeta, EpochProgress};
use crate::TrainError;

impl Engine {
    pub(super) fn model_tensors(&self) -> Vec<(String, Tensor)> {
        let mut v: Vec<(String, Tensor)> = self.method.var_store().variables().into_iter().collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    pub(super) fn meta(&self, full: bool) -> CheckpointMeta {
        CheckpointMeta {
            format: checkpoint::FORMAT,
            method: self.cfg.method.clone(),
            epoch: self.epoch,
            global_batch: self.global_batch,
            optimizer_steps: self.optimizer.steps(),
            num_classes: self.num_classes,
            sampler: if full {
                self.sampler.state()
            } else {
                serde_json::Value::Null
            },
            best: self.best,
            loss_scaler: self.scaler.clone(),
            method_state: if full {
                self.method.state()
            } else {
                serde_json::Value::Null
            },
            config: self.cfg.to_toml(),
            in_epoch: None,
        }
    }

    pub(super) fn save_checkpoints(&mut self, eval: Option<EvalRecord>) -> Result<(), TrainError> {
        let improved = eval.filter(|e| self.best.is_none_or(|b| (e.rank1, e.map) > (b.rank1, b.map)));
        if let Some(e) = improved {
            self.best = Some(BestScore {
                epoch: self.epoch,
                rank1: e.rank1,
                map: e.map,
            });
        }
        let model = self.model_tensors();
        checkpoint::save(
            &self.run_dir.join("last.ckpt"),
            &model,
            &self.optimizer.state_tensors(),
            &self.meta(true),
        )?;
        if improved.is_some() {
            checkpoint::save(&self.run_dir.join("best.ckpt"), &model, &[], &self.meta(false))?;
        }
        Ok(())
    }

    pub(super) fn append_metrics(&self, record: &EpochRecord) -> Result<(), TrainError> {
        let path = self.run_dir.join("metrics.jsonl");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| TrainError::io(&path, e))?;
        let line = serde_json::to_string(record).expect("record serialises");
        writeln!(f, "{line}").map_err(|e| TrainError::io(&path, e))
    }

    /// Writes `summary.json`: the last evaluation in the CLI's metrics format plus run facts.
    pub fn write_summary(&self, extra: serde_json::Value) -> Result<PathBuf, TrainError> {
        let ev = self
            .last_eval
            .as_ref()
            .ok_or_else(|| TrainError::Data("no evaluation has been run yet".into()))?;
        let mut s = ev.plain.summary_json();
        if let Some(r) = &ev.reranked {
            s["reranked"] = r.summary_json();
        }
        s["method"] = self.cfg.method.clone().into();
        s["dataset"] = self.cfg.data.dataset.clone().into();
        s["epochs"] = self.epoch.into();
        s["best"] = serde_json::to_value(self.best).expect("serialises");
        let sets = self.test_set_evaluations();
        if !sets.is_empty() {
            s["test_sets"] = sets
                .into_iter()
                .map(|(name, ev)| {
                    let mut j = ev.plain.summary_json();
                    if let Some(r) = &ev.reranked {
                        j["reranked"] = r.summary_json();
                    }
                    (name.to_string(), j)
                })
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
        if let (Some(obj), serde_json::Value::Object(more)) = (s.as_object_mut(), extra) {
            obj.extend(more);
        }
        let path = self.run_dir.join("summary.json");
        let text = serde_json::to_string_pretty(&s).expect("serialises");
        checkpoint::write_atomic(&path, text.as_bytes())?;
        Ok(path)
    }

    /// `last.ckpt` inside an epoch: the sampler as the epoch began and how far the epoch got.
    pub(super) fn save_in_epoch(
        &self,
        sampler_at_start: &serde_json::Value,
        progress: &EpochProgress,
    ) -> Result<(), TrainError> {
        let mut meta = self.meta(true);
        meta.sampler = sampler_at_start.clone();
        meta.in_epoch = Some(progress.clone());
        checkpoint::save(
            &self.run_dir.join("last.ckpt"),
            &self.model_tensors(),
            &self.optimizer.state_tensors(),
            &meta,
        )?;
        tracing::info!(
            epoch = self.epoch + 1,
            batch = progress.batches_done,
            "checkpoint inside the epoch"
        );
        Ok(())
    }
}

/// Drops `metrics.jsonl` lines of epochs after `epoch` (written after the checkpoint being resumed).
pub(super) fn truncate_metrics(path: &Path, epoch: usize) -> Result<(), TrainError> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: String = text
        .lines()
        .filter(|l| serde_json::from_str::<EpochRecord>(l).is_ok_and(|r| r.epoch <= epoch))
        .map(|l| format!("{l}\n"))
        .collect();
    checkpoint::write_atomic(path, kept.as_bytes())?;
    Ok(())
}
