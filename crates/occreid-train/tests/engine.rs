//! The engine end to end on a tiny synthetic dataset: an interrupted and resumed run ends with exactly
//! the weights and optimiser state of an uninterrupted one; run folders are protected and complete.
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use occreid_data::synth::{generate, SynthOptions};
use occreid_train::checkpoint;
use occreid_train::config::TrainConfig;
use occreid_train::engine::load_split;
use occreid_train::{Control, Engine, EpochRecord, Hook, TrainError};

fn tiny_config(root: &Path) -> TrainConfig {
    let mut c = TrainConfig::default();
    c.data.root = root.display().to_string();
    c.data.height = 64;
    c.data.width = 32;
    c.data.pad = 2;
    c.data.batch_size = 8;
    c.data.instances_per_id = 2;
    c.data.workers = 2;
    c.model.backbone = "resnet18".parse().unwrap();
    c.train.epochs = 3;
    c.train.eval_period = 2;
    c.train.device = "cpu".into();
    c.optim.warmup_epochs = 2;
    c.optim.milestones = vec![3];
    c.test.batch_size = 16;
    c
}

fn dataset(dir: &Path) {
    generate(
        dir,
        &SynthOptions {
            ids: 12,
            cameras: 2,
            images_per_id: 4,
            seed: 7,
            height: 64,
            width: 32,
            ..SynthOptions::default()
        },
    )
    .unwrap();
}

/// libtorch's default generator (model init) is process-global: tests that build models take turns so
/// one test's draws cannot interleave with another's.
static TORCH_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct StopAfter(usize);
impl Hook for StopAfter {
    fn on_epoch_end(&mut self, r: &EpochRecord) -> Control {
        if r.epoch >= self.0 {
            Control::Stop
        } else {
            Control::Continue
        }
    }
}

fn bytes_of(l: &checkpoint::Loaded) -> Vec<(String, Vec<u8>)> {
    let mut all: Vec<(String, Vec<u8>)> = l
        .model
        .iter()
        .map(|(k, t)| (format!("model.{k}"), t))
        .chain(l.optim.iter().map(|(k, t)| (format!("optim.{k}"), t)))
        .map(|(k, t)| {
            let mut b = vec![0u8; t.numel() * t.kind().elt_size_in_bytes()];
            t.copy_data_u8(&mut b, t.numel());
            (k, b)
        })
        .collect();
    all.sort();
    all
}

#[test]
fn interrupted_and_resumed_run_equals_uninterrupted_run() {
    let _rng = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    dataset(&data);
    let cfg = tiny_config(&data);

    let straight = tmp.path().join("straight");
    let mut e = Engine::new(cfg.clone(), load_split(&cfg).unwrap(), &straight).unwrap();
    assert!(e.run(&mut []).unwrap());
    e.write_summary(serde_json::json!({})).unwrap();

    let resumed = tmp.path().join("resumed");
    let mut e = Engine::new(cfg.clone(), load_split(&cfg).unwrap(), &resumed).unwrap();
    assert!(!e.run(&mut [&mut StopAfter(1)]).unwrap(), "stopped after epoch 1 of 3");
    drop(e);
    let mut e = Engine::resume(&resumed, None).unwrap();
    assert_eq!(e.epoch(), 1);
    assert!(e.run(&mut []).unwrap());

    let a = checkpoint::load(&straight.join("last.ckpt")).unwrap();
    let b = checkpoint::load(&resumed.join("last.ckpt")).unwrap();
    assert_eq!(a.meta.epoch, 3);
    assert_eq!(a.meta.global_batch, b.meta.global_batch);
    assert_eq!(a.meta.sampler, b.meta.sampler);
    assert_eq!(a.meta.best, b.meta.best);
    let (ta, tb) = (bytes_of(&a), bytes_of(&b));
    assert!(
        ta.iter().any(|(k, _)| k.starts_with("optim.model.first.")),
        "Adam state saved"
    );
    assert!(
        ta.iter().any(|(k, _)| k == "model.center_loss.centers"),
        "centres saved"
    );
    assert_eq!(ta.len(), tb.len());
    for ((ka, va), (kb, vb)) in ta.iter().zip(&tb) {
        assert_eq!(ka, kb);
        assert!(va == vb, "{ka} differs between the straight and the resumed run");
    }

    // The weights moved, the log has one line per epoch, evaluation ran at epochs 2 and 3.
    let log = std::fs::read_to_string(resumed.join("metrics.jsonl")).unwrap();
    let records: Vec<EpochRecord> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.iter().map(|r| r.epoch).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(records.iter().filter(|r| r.eval.is_some()).count(), 2);
    assert!(records
        .iter()
        .all(|r| r.losses["total"].is_finite() && r.losses.contains_key("triplet")));
    let straight_log: Vec<EpochRecord> = std::fs::read_to_string(straight.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (x, y) in straight_log.iter().zip(&records) {
        assert_eq!(x.losses, y.losses, "epoch {} losses", x.epoch);
    }
    assert!(straight.join("best.ckpt").exists() && straight.join("config.toml").exists());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(straight.join("summary.json")).unwrap()).unwrap();
    assert!(summary["mAP"].as_f64().unwrap() > 0.0 && summary["cmc"].as_array().unwrap().len() > 1);
    assert_eq!(summary["epochs"], 3);

    // A finished run folder is never overwritten by a new run, with or without its last.ckpt.
    let e = Engine::new(cfg.clone(), load_split(&cfg).unwrap(), &straight);
    assert!(e.err().unwrap().to_string().contains("already holds a run"));
    std::fs::remove_file(straight.join("last.ckpt")).unwrap();
    let e = Engine::new(cfg.clone(), load_split(&cfg).unwrap(), &straight);
    assert!(e.err().unwrap().to_string().contains("config.toml of another run"));
    // best.ckpt holds weights only: resuming from it says so instead of failing on the sampler state.
    std::fs::copy(straight.join("best.ckpt"), straight.join("last.ckpt")).unwrap();
    let e = Engine::resume(&straight, None).err().unwrap().to_string();
    assert!(e.contains("weights-only"), "{e}");

    // A tensor of another type, or holding NaN, is refused by name instead of being cast or loaded.
    let best = checkpoint::load(&straight.join("best.ckpt")).unwrap();
    let name = "base.bn1.weight";
    for (tensor, says) in [
        (best.model[name].to_kind(occreid_torch::tch::Kind::Double), "Double"),
        (best.model[name].full_like(f64::NAN), "NaN"),
    ] {
        let mut model: Vec<(String, occreid_torch::tch::Tensor)> =
            best.model.iter().map(|(k, v)| (k.clone(), v.shallow_clone())).collect();
        model.iter_mut().find(|(k, _)| k == name).unwrap().1 = tensor;
        let bad = tmp.path().join("bad.ckpt");
        checkpoint::save(&bad, &model, &[], &best.meta).unwrap();
        let e = occreid_train::restore::method_from_checkpoint(&bad, occreid_torch::tch::Device::Cpu)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains(name) && e.contains(says), "{e}");
    }
}

#[test]
fn bad_setups_are_clear_errors() {
    let _rng = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    dataset(&data);
    let mut cfg = tiny_config(&data);
    cfg.data.root = tmp.path().join("nowhere").display().to_string();
    let e = load_split(&cfg).unwrap_err().to_string();
    assert!(e.contains("nowhere"), "{e}");

    let cfg = tiny_config(&data);
    let mut big = cfg.clone();
    big.data.batch_size = 64;
    big.data.instances_per_id = 4;
    let e = Engine::new(big, load_split(&cfg).unwrap(), &tmp.path().join("r1"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("identities"), "{e}");

    let e = Engine::resume(&tmp.path().join("no-run"), None)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("last.ckpt"), "{e}");
}

/// A run started from an ImageNet file resumes from its checkpoint alone: the file may be gone by then.
#[test]
fn resume_does_not_need_the_imagenet_file() {
    use occreid_model::resnet::{Depth, ResNet, ResNetConfig};
    use occreid_torch::tch::{nn::VarStore, Device};

    let _rng = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    dataset(&data);
    let weights = tmp.path().join("resnet18.safetensors");
    let vs = VarStore::new(Device::Cpu);
    let _net = ResNet::new(&vs.root(), ResNetConfig::torchvision(Depth::R18));
    vs.save(&weights).unwrap();
    let mut cfg = tiny_config(&data);
    cfg.model.pretrained = weights.display().to_string();

    let run = tmp.path().join("run");
    let mut e = Engine::new(cfg.clone(), load_split(&cfg).unwrap(), &run).unwrap();
    assert!(!e.run(&mut [&mut StopAfter(1)]).unwrap());
    drop(e);
    std::fs::remove_file(&weights).unwrap();
    let e = Engine::resume(&run, None).unwrap();
    assert_eq!(e.epoch(), 1);
    assert_eq!(
        e.config().model.pretrained,
        cfg.model.pretrained,
        "the saved config is kept as it was"
    );
}

/// `data.test_sets`: every set evaluated at each evaluation, in metrics.jsonl and summary.json; the first
/// one is the run's own test set.
#[test]
fn several_test_sets_are_evaluated_together() {
    use occreid_train::config::TestSet;
    let _rng = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    dataset(&data);
    let other = tmp.path().join("other");
    generate(
        &other,
        &SynthOptions {
            ids: 6,
            cameras: 2,
            images_per_id: 4,
            seed: 11,
            height: 64,
            width: 32,
            ..SynthOptions::default()
        },
    )
    .unwrap();
    let mut cfg = tiny_config(&data);
    cfg.train.epochs = 1;
    cfg.data.test_sets = vec![
        TestSet {
            dataset: "market1501".into(),
            root: String::new(),
            name: "own".into(),
        },
        TestSet {
            dataset: "market1501".into(),
            root: other.display().to_string(),
            name: "other".into(),
        },
    ];
    let run = tmp.path().join("run");
    let mut e = Engine::new(cfg.clone(), load_split(&cfg).unwrap(), &run).unwrap();
    e.run(&mut []).unwrap();
    e.write_summary(serde_json::json!({})).unwrap();
    let record: EpochRecord =
        serde_json::from_str(std::fs::read_to_string(run.join("metrics.jsonl")).unwrap().trim()).unwrap();
    assert_eq!(record.test_sets.keys().collect::<Vec<_>>(), vec!["other", "own"]);
    assert_eq!(record.test_sets["own"], record.eval.unwrap());
    assert_ne!(record.test_sets["other"], record.test_sets["own"]);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["test_sets"]["own"]["mAP"], summary["mAP"]);
    let other_queries = std::fs::read_dir(other.join("query")).unwrap().count() as u64;
    let other = &summary["test_sets"]["other"];
    let counted =
        other["num_valid_queries"].as_u64().unwrap() + other["skipped_queries"].as_array().unwrap().len() as u64;
    assert_eq!(counted, other_queries, "the other set's own queries");

    // The same name twice is refused before anything is read.
    cfg.data.test_sets[1].name = "own".into();
    let e = cfg.validate().unwrap_err().to_string();
    assert!(e.contains("named the same"), "{e}");
}

/// Sets the interrupt flag at the end of epoch `epoch`, as a signal arriving during its evaluation would.
struct InterruptAfter(usize, Arc<AtomicUsize>);
impl Hook for InterruptAfter {
    fn on_epoch_end(&mut self, r: &EpochRecord) -> Control {
        if r.epoch == self.0 {
            self.1.store(143, Ordering::SeqCst);
        }
        Control::Continue
    }
}

/// Ctrl-C inside an epoch and at an epoch's end, with `checkpoint_every_steps` writing checkpoints in
/// between: each stop leaves a checkpoint at the point reached, and the twice-resumed run ends with the
/// tensors, sampler state and per-epoch losses of an uninterrupted one, bit for bit.
#[test]
fn a_run_stopped_inside_an_epoch_resumes_bit_identical() {
    let _rng = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    dataset(&data);
    let mut cfg = tiny_config(&data);
    cfg.train.checkpoint_every_steps = 2;
    cfg.train.eval_period = 0;

    let straight = tmp.path().join("straight");
    let mut e = Engine::new(cfg.clone(), load_split(&cfg).unwrap(), &straight).unwrap();
    assert!(e.run(&mut []).unwrap());

    let run = tmp.path().join("run");
    let mut e = Engine::new(cfg.clone(), load_split(&cfg).unwrap(), &run).unwrap();
    let flag = Arc::new(AtomicUsize::new(130));
    e.set_interrupt(flag);
    let err = e.run(&mut []).err().unwrap();
    let text = err.to_string();
    assert!(matches!(err, TrainError::Interrupted { code: 130, .. }), "{text}");
    assert!(
        text.contains("in epoch 1 after batch 1 of") && text.contains("--resume --out"),
        "{text}"
    );
    let ck = checkpoint::load(&run.join("last.ckpt")).unwrap();
    assert_eq!((ck.meta.epoch, ck.meta.global_batch), (0, 1));
    assert_eq!(ck.meta.in_epoch.as_ref().map(|p| p.batches_done), Some(1));
    drop(e);

    let mut e = Engine::resume(&run, None).unwrap();
    let flag = Arc::new(AtomicUsize::new(0));
    e.set_interrupt(flag.clone());
    let err = e.run(&mut [&mut InterruptAfter(1, flag)]).err().unwrap();
    assert!(err.to_string().contains("after epoch 1"), "{err}");
    assert!(checkpoint::load(&run.join("last.ckpt"))
        .unwrap()
        .meta
        .in_epoch
        .is_none());
    drop(e);

    let mut e = Engine::resume(&run, None).unwrap();
    assert!(e.run(&mut []).unwrap());
    let (a, b) = (
        checkpoint::load(&straight.join("last.ckpt")).unwrap(),
        checkpoint::load(&run.join("last.ckpt")).unwrap(),
    );
    assert_eq!(
        (a.meta.global_batch, &a.meta.sampler),
        (b.meta.global_batch, &b.meta.sampler)
    );
    let (ta, tb) = (bytes_of(&a), bytes_of(&b));
    assert_eq!(ta.len(), tb.len());
    for ((ka, va), (_, vb)) in ta.iter().zip(&tb) {
        assert!(
            va == vb,
            "{ka} differs between the straight and the stopped-and-resumed run"
        );
    }
    let log = |dir: &Path| -> Vec<EpochRecord> {
        std::fs::read_to_string(dir.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let (la, lb) = (log(&straight), log(&run));
    assert_eq!(lb.iter().map(|r| r.epoch).collect::<Vec<_>>(), vec![1, 2, 3]);
    for (x, y) in la.iter().zip(&lb) {
        assert_eq!(
            (&x.losses, x.accuracy, x.images),
            (&y.losses, y.accuracy, y.images),
            "epoch {}",
            x.epoch
        );
    }
}

/// A training image damaged after the scan: the run stops naming it, with a checkpoint at that point;
/// with the file put back the resumed run ends bit-identical to an uninterrupted one. With
/// `data.skip_bad_images` the run leaves the image out and counts it in every epoch's record.
#[test]
fn an_unreadable_training_image_stops_resumably_or_is_skipped() {
    let _rng = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    dataset(&data);
    let mut cfg = tiny_config(&data);
    cfg.train.epochs = 2;
    cfg.train.eval_period = 0;
    let straight = tmp.path().join("straight");
    let mut e = Engine::new(cfg.clone(), load_split(&cfg).unwrap(), &straight).unwrap();
    assert!(e.run(&mut []).unwrap());

    let split = load_split(&cfg).unwrap();
    let victim = split.train[5].path.clone();
    let original = std::fs::read(&victim).unwrap();
    let run = tmp.path().join("run");
    let mut e = Engine::new(cfg.clone(), split.clone(), &run).unwrap();
    std::fs::write(&victim, &original[..40]).unwrap();
    let err = e.run(&mut []).err().unwrap().to_string();
    let name = victim.file_name().unwrap().to_str().unwrap();
    assert!(err.contains(name) && err.contains("--resume --out"), "{err}");
    assert!(checkpoint::load(&run.join("last.ckpt"))
        .unwrap()
        .meta
        .in_epoch
        .is_some());
    drop(e);
    std::fs::write(&victim, &original).unwrap();
    let mut e = Engine::resume(&run, None).unwrap();
    assert!(e.run(&mut []).unwrap());
    let (a, b) = (
        checkpoint::load(&straight.join("last.ckpt")).unwrap(),
        checkpoint::load(&run.join("last.ckpt")).unwrap(),
    );
    for ((ka, va), (_, vb)) in bytes_of(&a).iter().zip(&bytes_of(&b)) {
        assert!(
            va == vb,
            "{ka} differs after the stop at the unreadable image and the resume"
        );
    }

    let mut skipping = cfg.clone();
    skipping.data.skip_bad_images = true;
    let run = tmp.path().join("skipping");
    let mut e = Engine::new(skipping, split, &run).unwrap();
    std::fs::remove_file(&victim).unwrap();
    assert!(e.run(&mut []).unwrap());
    let records: Vec<EpochRecord> = std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    for r in &records {
        assert!(r.skipped_images >= 1, "epoch {}: {} skipped", r.epoch, r.skipped_images);
        assert!(r.losses["total"].is_finite());
    }
}
