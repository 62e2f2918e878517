//! The epoch loop. Per epoch: the schedule's learning rate, the sampler's batches through the parallel
//! loader, the method's loss terms, one optimiser step per batch; then periodic evaluation, the last
//! (full-state) and best (weights-only) checkpoints, one `metrics.jsonl` line, and the hooks.
//!
//! A run folder holds `config.toml` (resolved), `metrics.jsonl`, `last.ckpt`, `best.ckpt` and, at the
//! end, `summary.json`. [`Engine::resume`] continues from `last.ckpt` with the model, optimiser, sampler,
//! batch counter (which keys the augmentation streams) and best score restored, so an interrupted run
//! ends with the same weights as an uninterrupted one.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use occreid_data::loader::{Loader, LoaderOptions, Transform};
use occreid_data::occluders::{DaaoOccluder, PairAugment};
use occreid_data::transforms::{ColorJitter, RandomErasing};
use occreid_data::{Sample, Split, TrainTransform};
use occreid_model::methods::{self, Method, TrainBatch, TrainView};
use occreid_torch::tch::{self, Device, Tensor};
use occreid_torch::DeviceChoice;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, BestScore, EpochProgress};
use crate::config::TrainConfig;
use crate::evaluate::{self, evaluate_features, extract, ExtractOptions};
use crate::imports::{check_pairable, import_tensors};
use crate::optim::{LossScaler, Optimizer};
use crate::restore::{load_model_tensors, saved_config};
use crate::sampling::TrainSampler;
pub use crate::split::{load_extra_test_sets, load_split, test_set_fingerprint};
use crate::step::train_step;
use crate::{Rounded, TrainError};

mod run_files;
use run_files::truncate_metrics;

/// What a hook tells the engine after an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    /// End the run after this epoch's checkpoint (as an interruption would).
    Stop,
}

/// Observes the run (report curves, early stop, tests that interrupt a run).
pub trait Hook {
    fn on_epoch_end(&mut self, record: &EpochRecord) -> Control;
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub lr: f64,
    /// Mean of each loss term over the epoch's batches, and their sum under `total`.
    pub losses: BTreeMap<String, f64>,
    /// Training identity accuracy of the classifier.
    pub accuracy: f64,
    pub images: usize,
    pub seconds: f64,
    pub images_per_second: f64,
    /// With several `data.test_sets`: each set's metrics, by dataset name (`eval` is the first set's).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub test_sets: BTreeMap<String, EvalRecord>,
    /// Unreadable training images left out of their batches (`data.skip_bad_images`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped_images: usize,
    /// Mixed precision only: updates the loss scaler skipped, and the scale at the end of the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amp: Option<AmpRecord>,
    pub eval: Option<EvalRecord>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AmpRecord {
    pub skipped_steps: usize,
    pub loss_scale: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    pub rank1: f64,
    pub rank5: f64,
    pub rank10: f64,
    pub map: f64,
    pub minp: f64,
    pub rerank_rank1: Option<f64>,
    pub rerank_map: Option<f64>,
}

/// Where a built engine's weights come from.
enum Init {
    /// Random init, or the ImageNet file of `model.pretrained`.
    Fresh,
    /// A checkpoint loaded right after the build.
    FromCheckpoint,
}

pub fn resolve_device(name: &str) -> Result<Device, TrainError> {
    Ok(name.parse::<DeviceChoice>()?.resolve()?)
}

/// `cpu` or `cuda:N`, as PyTorch names devices.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cuda(n) => format!("cuda:{n}"),
        Device::Mps => "mps".into(),
        Device::Vulkan => "vulkan".into(),
        Device::Cpu => "cpu".into(),
    }
}

pub struct Engine {
    cfg: TrainConfig,
    method: Box<dyn Method>,
    optimizer: Optimizer,
    sampler: TrainSampler,
    split: Split,
    train: Arc<Vec<Sample>>,
    device: Device,
    num_classes: i64,
    epoch: usize,
    global_batch: u64,
    best: Option<BestScore>,
    scaler: Option<LossScaler>,
    run_dir: PathBuf,
    last_eval: Option<evaluate::Evaluation>,
    /// `data.test_sets[1..]` and their latest evaluations.
    extra_tests: Vec<(String, Split)>,
    last_extra: Vec<(String, evaluate::Evaluation)>,
    /// Where a checkpoint written inside an epoch left it (taken by the next `train_epoch`).
    in_epoch: Option<EpochProgress>,
    /// Non-zero asks the engine to stop after the current step (see [`Engine::set_interrupt`]).
    interrupt: Option<Arc<AtomicUsize>>,
}

impl Engine {
    /// A fresh run in `run_dir` (created; refused when it already holds a run's files, to protect them).
    pub fn new(cfg: TrainConfig, split: Split, run_dir: &Path) -> Result<Self, TrainError> {
        if run_dir.join("last.ckpt").exists() {
            return Err(TrainError::RunExists(run_dir.to_path_buf()));
        }
        let run_files = [
            "config.toml",
            "metrics.jsonl",
            "best.ckpt",
            "summary.json",
            "report.html",
        ];
        if let Some(found) = run_files.iter().find(|f| run_dir.join(f).exists()) {
            return Err(TrainError::RunFilesExist {
                dir: run_dir.to_path_buf(),
                file: found.to_string(),
            });
        }
        let engine = Self::build(cfg, split, run_dir, Init::Fresh)?;
        for import in engine.method.imports() {
            import_tensors(engine.method.as_ref(), &import, engine.num_classes, &engine.cfg)?;
        }
        std::fs::create_dir_all(run_dir).map_err(|e| TrainError::io(run_dir, e))?;
        checkpoint::write_atomic(&run_dir.join("config.toml"), engine.cfg.to_toml().as_bytes())?;
        checkpoint::write_atomic(&run_dir.join("metrics.jsonl"), b"")?;
        Ok(engine)
    }

    /// Continues the run in `run_dir` from its `last.ckpt`, with the config saved there.
    pub fn resume(run_dir: &Path, split: Option<Split>) -> Result<Self, TrainError> {
        let path = run_dir.join("last.ckpt");
        let loaded = checkpoint::load(&path)?;
        let meta = loaded.meta;
        if meta.sampler.is_null() {
            return Err(TrainError::Resume(format!(
                "{} is a weights-only checkpoint (as best.ckpt is); a run resumes from the last.ckpt it wrote",
                path.display()
            )));
        }
        let cfg = saved_config(&meta, &path)?;
        let split = match split {
            Some(s) => s,
            None => load_split(&cfg)?,
        };
        if split.num_train_pids() as i64 != meta.num_classes {
            return Err(TrainError::Resume(format!(
                "{} was trained with {} identities but the dataset now has {}",
                path.display(),
                meta.num_classes,
                split.num_train_pids()
            )));
        }
        let mut engine = Self::build(cfg, split, run_dir, Init::FromCheckpoint)?;
        load_model_tensors(engine.method.as_ref(), &loaded.model, &path)?;
        engine.optimizer.load_state(&loaded.optim, meta.optimizer_steps)?;
        engine
            .method
            .restore_state(&meta.method_state)
            .map_err(|e| TrainError::Resume(format!("{}: {e}", path.display())))?;
        engine.sampler.restore(meta.sampler)?;
        engine.in_epoch = meta.in_epoch;
        engine.epoch = meta.epoch;
        engine.global_batch = meta.global_batch;
        engine.best = meta.best;
        if let (Some(s), Some(saved)) = (engine.scaler.as_mut(), meta.loss_scaler) {
            *s = saved;
        }
        truncate_metrics(&run_dir.join("metrics.jsonl"), meta.epoch)?;
        tracing::info!(epoch = meta.epoch, path = %path.display(), "resumed");
        Ok(engine)
    }

    fn build(cfg: TrainConfig, split: Split, run_dir: &Path, init: Init) -> Result<Self, TrainError> {
        cfg.validate()?;
        let device = resolve_device(&cfg.train.device)?;
        if cfg.train.threads > 0 {
            tch::set_num_threads(cfg.train.threads as i32);
        }
        // Before anything slow: what the run will train on, so a wrong device is seen at once.
        tracing::info!(
            device = %device_name(device),
            requested = %cfg.train.device,
            threads = tch::get_num_threads(),
            amp = if cfg.train.amp && device.is_cuda() { "fp16 autocast" } else { "off (float32)" },
            "{} run",
            cfg.method
        );
        if split.train.is_empty() {
            return Err(TrainError::Data("the training split is empty".into()));
        }
        let num_classes = split.num_train_pids() as i64;
        if let Some(bad) = split.train.iter().find(|s| s.pid < 0 || s.pid >= num_classes) {
            return Err(TrainError::Data(format!(
                "training label {} of {} is outside 0..{num_classes}; train ids must be relabelled",
                bad.pid,
                bad.path.display()
            )));
        }
        // Before the (slow) model build, so a sampler that cannot be formed fails fast.
        let sampler = TrainSampler::new(&cfg, &split.train)?;
        tch::manual_seed(cfg.seed as i64);
        // A resumed run overwrites every tensor from the checkpoint: the ImageNet file is neither read nor
        // required to still exist.
        let mut recipe = cfg.recipe();
        if let Init::FromCheckpoint = init {
            recipe.model.pretrained.clear();
        }
        let built = methods::build(&cfg.method, &recipe, num_classes, device)?;
        if let Some(r) = &built.pretrained {
            tracing::info!(
                loaded = r.loaded.len(),
                missing = r.missing.len(),
                unexpected = r.unexpected.len(),
                "ImageNet weights from {}",
                cfg.model.pretrained
            );
        }
        let extra_tests = load_extra_test_sets(&cfg)?;
        let method = built.method;
        if method.train_view() != TrainView::Single {
            check_pairable(&split.train)?;
        }
        let optimizer = Optimizer::new(method.param_groups(), &cfg.optim);
        let scaler = (cfg.train.amp && device.is_cuda()).then(LossScaler::default);
        if cfg.train.amp && !device.is_cuda() {
            tracing::warn!("train.amp is for CUDA; training in float32 on the CPU");
        }
        Ok(Self {
            train: Arc::new(split.train.clone()),
            split,
            method,
            optimizer,
            sampler,
            device,
            num_classes,
            epoch: 0,
            global_batch: 0,
            best: None,
            scaler,
            run_dir: run_dir.to_path_buf(),
            cfg,
            last_eval: None,
            extra_tests,
            last_extra: Vec::new(),
            in_epoch: None,
            interrupt: None,
        })
    }

    /// A flag the engine reads after every training step: once something (a signal handler) stores a
    /// non-zero value, it writes `last.ckpt` at that point, mid-epoch if need be, and returns
    /// [`TrainError::Interrupted`] carrying the value. A resume from there is bit-identical to a run that
    /// was never stopped.
    pub fn set_interrupt(&mut self, flag: Arc<AtomicUsize>) {
        self.interrupt = Some(flag);
    }

    fn interrupt_code(&self) -> usize {
        self.interrupt.as_ref().map_or(0, |f| f.load(Ordering::SeqCst))
    }

    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }
    pub fn method(&self) -> &dyn Method {
        self.method.as_ref()
    }
    pub fn split(&self) -> &Split {
        &self.split
    }
    pub fn device(&self) -> Device {
        self.device
    }
    /// Completed epochs.
    pub fn epoch(&self) -> usize {
        self.epoch
    }
    pub fn best(&self) -> Option<BestScore> {
        self.best
    }
    /// The most recent evaluation (distances included, for rank lists).
    pub fn last_evaluation(&self) -> Option<&evaluate::Evaluation> {
        self.last_eval.as_ref()
    }
    /// With several `data.test_sets`: the latest evaluation of every set, the first included, by name.
    pub fn test_set_evaluations(&self) -> Vec<(&str, &evaluate::Evaluation)> {
        let Some(first) = (!self.extra_tests.is_empty())
            .then_some(self.last_eval.as_ref())
            .flatten()
        else {
            return Vec::new();
        };
        let name = self.cfg.data.test_sets.first().map_or("", |t| t.label());
        std::iter::once((name, first))
            .chain(self.last_extra.iter().map(|(n, e)| (n.as_str(), e)))
            .collect()
    }

    fn train_transform(&self) -> Transform {
        let d = &self.cfg.data;
        let mut t = TrainTransform::bot(d.height, d.width);
        t.interpolation = d.interpolation;
        t.flip_p = d.flip_p;
        t.pad = d.pad;
        t.erasing = (d.random_erasing > 0.0).then(|| RandomErasing {
            probability: d.random_erasing,
            ..RandomErasing::bot()
        });
        let [brightness, contrast, saturation, hue] = d.color_jitter;
        t.color_jitter = (d.color_jitter != [0.0; 4]).then_some(ColorJitter {
            brightness,
            contrast,
            saturation,
            hue,
        });
        match self.method.train_view() {
            TrainView::Single => Transform::Train(t),
            TrainView::OccludedPair { shared_augment } => Transform::TrainPair(DaaoOccluder {
                transform: t,
                pair: if shared_augment {
                    PairAugment::Shared
                } else {
                    PairAugment::Independent
                },
                // The inferred simplification of spec §2.1 step 3 is not taken: box and paste happen at the
                // raw sizes, as coded (identical up to scale for Market's uniform 128×64 images).
                paste_after_resize: false,
            }),
        }
    }

    /// Trains until `train.epochs` or until a hook says stop. Returns true when all epochs are done.
    pub fn run(&mut self, hooks: &mut [&mut dyn Hook]) -> Result<bool, TrainError> {
        while self.epoch < self.cfg.train.epochs {
            let epoch = self.epoch + 1;
            let mut record = self.train_epoch(epoch, self.cfg.optim.lr(epoch))?;
            let period = self.cfg.train.eval_period;
            if epoch == self.cfg.train.epochs
                || (period > 0 && epoch.is_multiple_of(period))
                || self.cfg.train.eval_epochs.contains(&epoch)
            {
                record.eval = Some(self.evaluate_now()?);
                record.test_sets = self
                    .test_set_evaluations()
                    .into_iter()
                    .map(|(name, ev)| (name.to_string(), eval_record(ev)))
                    .collect();
            }
            self.epoch = epoch;
            self.save_checkpoints(record.eval)?;
            self.append_metrics(&record)?;
            tracing::info!(
                epoch,
                lr = %Rounded(record.lr),
                loss = %Rounded(record.losses["total"]),
                acc = %Rounded(record.accuracy),
                img_per_s = %Rounded(record.images_per_second),
                "epoch done"
            );
            if let Some(amp) = &record.amp {
                tracing::info!(
                    epoch,
                    skipped_steps = amp.skipped_steps,
                    loss_scale = amp.loss_scale,
                    "fp16 loss scaler"
                );
            }
            if let Some(e) = &record.eval {
                let (r1, map, minp) = (Rounded(e.rank1), Rounded(e.map), Rounded(e.minp));
                tracing::info!(epoch, rank1 = %r1, map = %map, minp = %minp, "evaluation");
            }
            for (name, e) in &record.test_sets {
                tracing::info!(epoch, set = %name, rank1 = %Rounded(e.rank1), map = %Rounded(e.map), "test set");
            }
            // Every hook sees every epoch, even after one asked to stop.
            let mut stop = false;
            for h in hooks.iter_mut() {
                stop |= h.on_epoch_end(&record) == Control::Stop;
            }
            let code = self.interrupt_code();
            if code != 0 && self.epoch < self.cfg.train.epochs {
                return Err(TrainError::Interrupted {
                    code,
                    at: format!("after epoch {epoch}"),
                    checkpoint: self.run_dir.join("last.ckpt"),
                });
            }
            if stop {
                return Ok(self.epoch >= self.cfg.train.epochs);
            }
        }
        Ok(true)
    }

    fn train_epoch(&mut self, epoch: usize, lr: f64) -> Result<EpochRecord, TrainError> {
        // The state the epoch starts from: a checkpoint inside the epoch stores it, and a resume draws the
        // same batches from it and skips those already trained on.
        let sampler_at_start = self.sampler.state();
        let batches = self.sampler.epoch_batches();
        let n_batches = batches.len();
        let mut progress = self.in_epoch.take().unwrap_or_default();
        let remaining: Vec<Vec<usize>> = batches.into_iter().skip(progress.batches_done).collect();
        let loader = Loader::spawn(
            self.train.clone(),
            remaining,
            self.train_transform(),
            LoaderOptions {
                seed: self.cfg.seed ^ 0x5eed_a11a,
                prefetch: self.cfg.data.prefetch,
                threads: self.cfg.data.workers,
                first_batch: self.global_batch,
                skip_unreadable: self.cfg.data.skip_bad_images,
            },
        )?;
        let bar = crate::progress::bar(n_batches as u64, &format!("epoch {epoch}/{}", self.cfg.train.epochs));
        bar.set_position(progress.batches_done as u64);
        let start = Instant::now();
        let seconds_before = progress.seconds;
        for batch in loader {
            let batch = match batch {
                Ok(b) => b,
                Err(source) => {
                    // A file gone or damaged since the scan: keep everything trained so far.
                    progress.seconds = seconds_before + start.elapsed().as_secs_f64();
                    self.save_in_epoch(&sampler_at_start, &progress)?;
                    bar.abandon();
                    return Err(TrainError::UnreadableImage {
                        source,
                        checkpoint: self.run_dir.join("last.ckpt"),
                    });
                }
            };
            for e in &batch.skipped {
                tracing::warn!(epoch, error = %e, "unreadable training image left out (data.skip_bad_images)");
            }
            progress.skipped_images += batch.skipped.len();
            if batch.pids.is_empty() {
                // Every image of the batch was unreadable: nothing to train on, the batch still counts.
                progress.batches_done += 1;
                self.global_batch += 1;
                bar.inc(1);
                continue;
            }
            let shape: Vec<i64> = batch.shape.iter().map(|&d| d as i64).collect();
            let x = Tensor::from_slice(&batch.images).reshape(&shape).to_device(self.device);
            let y = Tensor::from_slice(&batch.pids).to_device(self.device);
            let occluded = batch
                .occluded
                .as_ref()
                .map(|o| Tensor::from_slice(o).reshape(&shape).to_device(self.device));
            let step = train_step(
                self.method.as_ref(),
                &mut self.optimizer,
                self.scaler.as_mut(),
                &TrainBatch {
                    images: &x,
                    targets: &y,
                    occluded: occluded.as_ref(),
                    epoch,
                },
                lr,
            )?;
            let p = &mut progress;
            for (name, v) in &step.terms {
                *p.sums.entry(name.to_string()).or_default() += v;
            }
            *p.sums.entry("total".into()).or_default() += step.total;
            p.correct += step.correct;
            p.skipped += usize::from(!step.stepped);
            p.images += batch.pids.len();
            p.batches_done += 1;
            self.global_batch += 1;
            bar.set_message(format!(
                "loss {:.3} acc {:.3} lr {lr:.2e}",
                p.sums["total"] / p.batches_done as f64,
                p.correct as f64 / p.images as f64
            ));
            bar.inc(1);
            crate::progress::training_step_done(&self.cfg.method);
            let code = self.interrupt_code();
            let every = self.cfg.train.checkpoint_every_steps;
            let periodic = every > 0 && self.global_batch.is_multiple_of(every);
            if progress.batches_done < n_batches && (code != 0 || periodic) {
                progress.seconds = seconds_before + start.elapsed().as_secs_f64();
                self.save_in_epoch(&sampler_at_start, &progress)?;
                if code != 0 {
                    bar.abandon();
                    return Err(TrainError::Interrupted {
                        code,
                        at: format!("in epoch {epoch} after batch {} of {n_batches}", progress.batches_done),
                        checkpoint: self.run_dir.join("last.ckpt"),
                    });
                }
            }
        }
        bar.finish_and_clear();
        let seconds = seconds_before + start.elapsed().as_secs_f64();
        let steps = progress.batches_done;
        let losses = progress
            .sums
            .into_iter()
            .map(|(k, v)| (k, v / steps.max(1) as f64))
            .collect();
        Ok(EpochRecord {
            epoch,
            lr,
            losses,
            accuracy: progress.correct as f64 / progress.images.max(1) as f64,
            images: progress.images,
            skipped_images: progress.skipped_images,
            seconds,
            images_per_second: progress.images as f64 / seconds.max(1e-9),
            test_sets: BTreeMap::new(),
            amp: self.scaler.as_ref().map(|s| AmpRecord {
                skipped_steps: progress.skipped,
                loss_scale: s.scale,
            }),
            eval: None,
        })
    }

    /// Extracts query and gallery features and evaluates them (`[test]` settings).
    /// With several `data.test_sets`, every set is evaluated; the first one's record is returned.
    pub fn evaluate_now(&mut self) -> Result<EvalRecord, TrainError> {
        let ev = evaluate_split(self.method.as_ref(), &self.split, &self.cfg, self.device)?;
        let rec = eval_record(&ev);
        self.last_eval = Some(ev);
        self.last_extra = self
            .extra_tests
            .iter()
            .map(|(name, split)| {
                let ev = evaluate_split(self.method.as_ref(), split, &self.cfg, self.device)?;
                Ok((name.clone(), ev))
            })
            .collect::<Result<_, TrainError>>()?;
        Ok(rec)
    }
}

fn eval_record(ev: &evaluate::Evaluation) -> EvalRecord {
    EvalRecord {
        rank1: ev.plain.rank(1),
        rank5: ev.plain.rank(5),
        rank10: ev.plain.rank(10),
        map: ev.plain.map,
        minp: ev.plain.minp,
        rerank_rank1: ev.reranked.as_ref().map(|m| m.rank(1)),
        rerank_map: ev.reranked.as_ref().map(|m| m.map),
    }
}

/// Features of the split's query and gallery through `method`, evaluated with the config's `[test]`.
pub fn evaluate_split(
    method: &dyn Method,
    split: &Split,
    cfg: &TrainConfig,
    device: Device,
) -> Result<evaluate::Evaluation, TrainError> {
    let transform = Transform::Test(evaluate::test_transform(&cfg.data));
    let opts = ExtractOptions::new(&cfg.test, &cfg.data, device, "query");
    let qf = extract(method, Arc::new(split.query.clone()), transform.clone(), &opts)?;
    let opts = ExtractOptions {
        label: "gallery".into(),
        ..opts
    };
    let gf = extract(method, Arc::new(split.gallery.clone()), transform, &opts)?;
    Ok(evaluate_features(
        qf,
        Arc::new(gf),
        &split.query,
        &split.gallery,
        &cfg.test,
    )?)
}
