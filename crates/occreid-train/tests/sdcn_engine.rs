//! SDCN + VGN through the engine on a tiny synthetic dataset: paired batches, both stages, the frozen VGN
//! imported from stage 1, resume bit-identical within each stage, checkpoints usable for extraction, and
//! the bad setups of the issue refused before training.
use std::path::Path;

use occreid_data::synth::{generate, SynthOptions};
use occreid_train::checkpoint;
use occreid_train::config::{SamplerKind, TrainConfig};
use occreid_train::engine::load_split;
use occreid_train::{Control, Engine, EpochRecord, Hook};

static TORCH_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn tiny(root: &Path, method: &str) -> TrainConfig {
    let mut c = TrainConfig {
        method: method.into(),
        ..TrainConfig::default()
    };
    c.data.root = root.display().to_string();
    c.data.height = 64;
    c.data.width = 32;
    c.data.pad = 0;
    c.data.random_erasing = 0.0;
    c.data.color_jitter = [0.25, 0.15, 0.25, 0.0];
    c.data.sampler = SamplerKind::ClassUniform;
    c.data.batch_size = 8;
    c.data.instances_per_id = 4;
    // 12 identities × 4 images: one pass is 6 batches; 4 steps per epoch cut passes mid-way, so the
    // sampler state saved at an epoch end is in the middle of a pass.
    c.data.steps_per_epoch = 4;
    c.data.workers = 2;
    c.model.backbone = "resnet18".parse().unwrap();
    c.loss.center_weight = 0.0;
    c.optim.base_lr = 2e-4;
    c.optim.warmup_epochs = 1;
    c.optim.milestones = vec![2];
    c.optim.schedule_first_epoch = 0;
    c.train.epochs = 2;
    c.train.eval_period = 0;
    c.train.device = "cpu".into();
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
            seed: 3,
            height: 64,
            width: 32,
            ..SynthOptions::default()
        },
    )
    .unwrap();
}

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

fn bytes(t: &occreid_torch::tch::Tensor) -> Vec<u8> {
    let mut b = vec![0u8; t.numel() * t.kind().elt_size_in_bytes()];
    t.copy_data_u8(&mut b, t.numel());
    b
}

/// Trains `cfg` straight and with an interruption after epoch 1; asserts both end bit-identical and
/// returns the straight run's folder.
fn straight_equals_resumed(cfg: &TrainConfig, dir: &Path) -> std::path::PathBuf {
    let straight = dir.join("straight");
    let mut e = Engine::new(cfg.clone(), load_split(cfg).unwrap(), &straight).unwrap();
    assert!(e.run(&mut []).unwrap());
    let resumed = dir.join("resumed");
    let mut e = Engine::new(cfg.clone(), load_split(cfg).unwrap(), &resumed).unwrap();
    assert!(!e.run(&mut [&mut StopAfter(1)]).unwrap());
    drop(e);
    let mut e = Engine::resume(&resumed, None).unwrap();
    assert!(e.run(&mut []).unwrap());
    let a = checkpoint::load(&straight.join("last.ckpt")).unwrap();
    let b = checkpoint::load(&resumed.join("last.ckpt")).unwrap();
    assert_eq!(a.meta.global_batch, 8, "2 epochs × 4 steps");
    assert_eq!(a.meta.sampler, b.meta.sampler);
    for (map_a, map_b) in [(&a.model, &b.model), (&a.optim, &b.optim)] {
        assert_eq!(map_a.len(), map_b.len());
        for (k, t) in map_a {
            assert!(bytes(t) == bytes(&map_b[k]), "{} {k} differs after resume", cfg.method);
        }
    }
    straight
}

#[test]
fn both_stages_train_on_pairs_resume_bit_identically_and_stage2_keeps_the_vgn_frozen() {
    let _rng = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    dataset(&data);

    let cfg = tiny(&data, "vgn");
    let vgn_run = straight_equals_resumed(&cfg, &tmp.path().join("vgn"));
    let log = std::fs::read_to_string(vgn_run.join("metrics.jsonl")).unwrap();
    let first: EpochRecord = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    for term in ["id_occluded", "id_full", "triplet"] {
        assert!(first.losses[term].is_finite() && first.losses[term] > 0.0, "{term}");
    }
    assert_eq!(first.images, 4 * 8, "4 steps of 8 pairs");
    // DAAO's 0-based schedule: epoch 1 trains at base_lr × warmup_factor.
    assert!((first.lr - 2e-6).abs() < 1e-18, "{}", first.lr);

    let vgn_ckpt = vgn_run.join("last.ckpt");
    let mut cfg = tiny(&data, "sdcn");
    cfg.sdcn.vgn = vgn_ckpt.display().to_string();
    let sdcn_run = straight_equals_resumed(&cfg, &tmp.path().join("sdcn"));
    let vgn = checkpoint::load(&vgn_ckpt).unwrap();
    let sdcn = checkpoint::load(&sdcn_run.join("last.ckpt")).unwrap();
    // Every VGN tensor (running statistics included: the intended reading keeps the VGN in eval mode)
    // is the stage-1 result, unchanged by stage 2.
    let mut imported = 0;
    for (name, t) in &vgn.model {
        assert!(bytes(t) == bytes(&sdcn.model[name]), "{name} changed in stage 2");
        imported += 1;
    }
    assert!(imported > 100);
    // The non-local block trained with its own optimiser state; its W-BN left the identity start.
    assert!(sdcn.optim.keys().any(|k| k.starts_with("nonlocal.first.nonlocal.")));
    assert!(
        !sdcn.optim.keys().any(|k| k.contains(".vgn.")),
        "the VGN has no optimiser state"
    );
    assert!(sdcn.model["nonlocal.W.1.weight"].abs().max().double_value(&[]) > 0.0);
    let log = std::fs::read_to_string(sdcn_run.join("metrics.jsonl")).unwrap();
    let first: EpochRecord = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    for term in ["id_occluded", "id_full", "triplet", "consistency", "verification"] {
        assert!(first.losses[term].is_finite() && first.losses[term] > 0.0, "{term}");
    }

    // The checkpoint extracts the test feature it was trained for: f_sum, 512-d for R18.
    let restored =
        occreid_train::restore::method_from_checkpoint(&sdcn_run.join("last.ckpt"), occreid_torch::tch::Device::Cpu)
            .unwrap();
    assert_eq!(restored.method.name(), "sdcn");
    let x = occreid_torch::tch::Tensor::randn([2, 3, 64, 32], occreid_torch::tch::kind::FLOAT_CPU);
    let f = occreid_torch::tch::no_grad(|| restored.method.embed(&x));
    assert_eq!(f.size(), vec![2, 512]);
}

#[test]
fn bad_vgn_and_bad_datasets_are_refused_before_training() {
    let _rng = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    dataset(&data);
    let err = |cfg: &TrainConfig, dir: &str| {
        let run = tmp.path().join(dir);
        let e = Engine::new(cfg.clone(), load_split(cfg).unwrap(), &run)
            .err()
            .unwrap()
            .to_string();
        assert!(!run.exists(), "{dir}: nothing written for a refused run");
        e
    };

    // Stage 2 without a VGN.
    let sdcn = tiny(&data, "sdcn");
    let e = err(&sdcn, "no-vgn");
    assert!(e.contains("sdcn.vgn") && e.contains("VGN"), "{e}");

    // A checkpoint of another method: a one-epoch BoT run.
    let mut bot = tiny(&data, "bot");
    bot.data.sampler = SamplerKind::Identity;
    bot.data.steps_per_epoch = 0;
    bot.train.epochs = 1;
    let bot_run = tmp.path().join("bot");
    let mut e = Engine::new(bot.clone(), load_split(&bot).unwrap(), &bot_run).unwrap();
    e.run(&mut []).unwrap();
    let mut wrong = sdcn.clone();
    wrong.sdcn.vgn = bot_run.join("last.ckpt").display().to_string();
    let e = err(&wrong, "bot-vgn");
    assert!(
        e.contains("'bot' checkpoint") && e.contains("needs a 'vgn' checkpoint"),
        "{e}"
    );

    // A VGN of another backbone.
    let mut vgn = tiny(&data, "vgn");
    vgn.train.epochs = 1;
    vgn.model.backbone = "resnet34".parse().unwrap();
    let vgn_run = tmp.path().join("vgn34");
    let mut e = Engine::new(vgn.clone(), load_split(&vgn).unwrap(), &vgn_run).unwrap();
    e.run(&mut []).unwrap();
    let mut wrong = sdcn.clone();
    wrong.sdcn.vgn = vgn_run.join("last.ckpt").display().to_string();
    let e = err(&wrong, "r34-vgn");
    assert!(e.contains("R34") && e.contains("R18"), "{e}");
    // A missing file names it.
    wrong.sdcn.vgn = tmp.path().join("nope.ckpt").display().to_string();
    let e = err(&wrong, "missing-vgn");
    assert!(e.contains("nope.ckpt"), "{e}");

    // Too few identities for P × K (P = 16 here; the synthetic split trains on 6 of its 12).
    let mut big = tiny(&data, "vgn");
    big.data.batch_size = 64;
    let e = err(&big, "too-few");
    assert!(e.contains("16 identities") && e.contains("only 6"), "{e}");

    // An identity with a single training image: keep one file of the first identity.
    let train_dir = data.join("bounding_box_train");
    let mut files: Vec<_> = std::fs::read_dir(&train_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let first_pid = files[0].file_name().unwrap().to_string_lossy()[..4].to_string();
    for f in files
        .iter()
        .filter(|f| f.file_name().unwrap().to_string_lossy().starts_with(&first_pid))
        .skip(1)
    {
        std::fs::remove_file(f).unwrap();
    }
    let cfg = tiny(&data, "vgn");
    let e = err(&cfg, "single");
    assert!(e.contains("single image"), "{e}");
}
