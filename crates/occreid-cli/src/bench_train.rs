//! `occreid bench train`: training-step and feature-extraction throughput of our stack on random inputs
//! (no data loading) for a method (BoT, or a stage of SDCN + VGN on random paired batches), and for BoT
//! the same through `tools/bench_train_peer.py` (PyTorch) in the same run.
use std::time::Instant;

use anyhow::{bail, Context, Result};
use occreid_model::methods::{build, TrainBatch, TrainView};
use occreid_torch::tch::{self, Device, Kind, Tensor};
use occreid_train::config::TrainConfig;
use occreid_train::engine::resolve_device;
use occreid_train::optim::{LossScaler, Optimizer};
use occreid_train::step::train_step;

#[derive(clap::Args)]
pub struct Args {
    /// bot, vgn (SDCN+VGN stage 1), sdcn (stage 2; its frozen VGN keeps random weights here) or igoas
    #[arg(long, default_value = "bot")]
    method: String,
    #[arg(long, default_value = "resnet50")]
    backbone: String,
    #[arg(long, default_value_t = 256)]
    height: i64,
    #[arg(long, default_value_t = 128)]
    width: i64,
    /// Training batch (P x K with K = 4)
    #[arg(long, default_value_t = 16)]
    batch_size: i64,
    #[arg(long, default_value_t = 64)]
    extract_batch: i64,
    /// Timed steps (after --warmup untimed ones)
    #[arg(long, default_value_t = 10)]
    steps: usize,
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// libtorch intra-op threads for both sides (0 = libtorch's default)
    #[arg(long, default_value_t = 0)]
    threads: usize,
    #[arg(long, default_value = "cpu")]
    device: String,
    /// fp16 autocast with loss scaling (CUDA)
    #[arg(long)]
    amp: bool,
    /// Also run the PyTorch peer (.venv/bin/python tools/bench_train_peer.py, from the repository root)
    #[arg(long)]
    peer: bool,
}

const CLASSES: i64 = 751;
const K: i64 = 4;

pub fn run(a: Args) -> Result<()> {
    if a.batch_size % K != 0 || a.batch_size < 2 * K {
        bail!("--batch-size must be a multiple of {K}, at least {}", 2 * K);
    }
    if !(32..=2048).contains(&a.height) || !(32..=2048).contains(&a.width) {
        bail!("--height and --width must be in 32..=2048");
    }
    if a.threads > 256 || a.steps == 0 || a.extract_batch < 1 {
        bail!("--threads must be at most 256, --steps and --extract-batch at least 1");
    }
    if a.threads > 0 {
        tch::set_num_threads(a.threads as i32);
    }
    let device = resolve_device(&a.device)?;
    if a.amp && !device.is_cuda() {
        bail!("--amp is float16 mixed precision on CUDA; this bench runs on the CPU (drop --amp, or --device cuda)");
    }
    let defaults = TrainConfig::default();
    if a.peer && !["bot", "sdcn", "igoas"].contains(&a.method.as_str()) {
        bail!(
            "--peer has PyTorch steps for bot, sdcn and igoas; run --method {} without --peer",
            a.method
        );
    }
    let mut recipe = defaults.recipe();
    recipe.model.backbone = a.backbone.parse().map_err(anyhow::Error::msg)?;
    tch::manual_seed(0);
    let method = build(&a.method, &recipe, CLASSES, device)?.method;
    let mut opt = Optimizer::new(method.param_groups(), &defaults.optim);
    let mut scaler = (a.amp && device.is_cuda()).then(LossScaler::default);
    let x = Tensor::randn([a.batch_size, 3, a.height, a.width], (Kind::Float, device));
    let y = Tensor::arange(a.batch_size / K, (Kind::Int64, device)).repeat_interleave_self_int(K, None, None);
    let occluded = (method.train_view() != TrainView::Single)
        .then(|| Tensor::randn([a.batch_size, 3, a.height, a.width], (Kind::Float, device)));
    let batch = TrainBatch {
        images: &x,
        targets: &y,
        occluded: occluded.as_ref(),
        // Past IGOAS's fixbase epochs, so every module trains (the other methods ignore the epoch).
        epoch: 10,
    };
    let sync = || {
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
    };
    for _ in 0..a.warmup {
        train_step(method.as_ref(), &mut opt, scaler.as_mut(), &batch, 3.5e-4)?;
    }
    sync();
    let t = Instant::now();
    for _ in 0..a.steps {
        train_step(method.as_ref(), &mut opt, scaler.as_mut(), &batch, 3.5e-4)?;
    }
    sync();
    let train_ips = (a.steps as i64 * a.batch_size) as f64 / t.elapsed().as_secs_f64();

    let xe = Tensor::randn([a.extract_batch, 3, a.height, a.width], (Kind::Float, device));
    let amp = scaler.is_some();
    tch::no_grad(|| occreid_torch::amp::autocast(amp, || (0..a.warmup).for_each(|_| drop(method.embed(&xe)))));
    sync();
    let t = Instant::now();
    tch::no_grad(|| occreid_torch::amp::autocast(amp, || (0..a.steps).for_each(|_| drop(method.embed(&xe)))));
    sync();
    let extract_ips = (a.steps as i64 * a.extract_batch) as f64 / t.elapsed().as_secs_f64();
    println!(
        "ours:    {} train {train_ips:8.2} {}/s (bs {}, {}x{}, {}, {} threads, {:?}{})   extract {extract_ips:8.1} img/s (bs {})",
        a.method,
        if occluded.is_some() { "pairs" } else { "img" },
        a.batch_size,
        a.height,
        a.width,
        a.backbone,
        tch::get_num_threads(),
        device,
        if amp { ", amp" } else { "" },
        a.extract_batch
    );
    if a.peer {
        let dev = if device.is_cuda() { "cuda" } else { "cpu" };
        let mut args = Vec::new();
        for (k, v) in [
            ("--backbone", a.backbone.clone()),
            ("--height", a.height.to_string()),
            ("--width", a.width.to_string()),
            ("--batch-size", a.batch_size.to_string()),
            ("--steps", a.steps.to_string()),
            ("--warmup", a.warmup.to_string()),
            ("--threads", tch::get_num_threads().to_string()),
            ("--device", dev.to_string()),
        ] {
            args.extend([k.to_string(), v]);
        }
        if amp {
            args.push("--amp".into());
        }
        // The methods' own peers time the training step only: (script, JSON key, unit).
        let own = match a.method.as_str() {
            "igoas" => Some(("tools/bench_igoas_peer.py", "train_images_per_s", "img")),
            "sdcn" => Some(("tools/bench_sdcn_peer.py", "train_pairs_per_s", "pairs")),
            _ => None,
        };
        if let Some((script, key, unit)) = own {
            let text = crate::bench::run_peer(script, &args)?;
            let v: serde_json::Value =
                serde_json::from_str(text.lines().last().unwrap_or("")).context("peer output")?;
            let pt = v[key].as_f64().unwrap_or(f64::NAN);
            println!(
                "pytorch: {} train {pt:8.2} {unit}/s   ({} threads)",
                a.method, v["threads"]
            );
            println!("ratio:   train {:.2}x", train_ips / pt);
            return Ok(());
        }
        args.extend(["--extract-batch".to_string(), a.extract_batch.to_string()]);
        let text = crate::bench::run_peer("tools/bench_train_peer.py", &args)?;
        let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap_or("")).context("peer output")?;
        let (pt, pe) = (
            v["train_images_per_s"].as_f64().unwrap_or(f64::NAN),
            v["extract_images_per_s"].as_f64().unwrap_or(f64::NAN),
        );
        println!(
            "pytorch: train {pt:8.1} img/s   extract {pe:8.1} img/s   ({} threads)",
            v["threads"]
        );
        println!(
            "ratio:   train {:.2}x   extract {:.2}x",
            train_ips / pt,
            extract_ips / pe
        );
    }
    Ok(())
}
