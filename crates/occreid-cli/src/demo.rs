//! `occreid demo`: with no data and no weights, generate the synthetic pedestrian dataset, train the
//! project's methods small (ResNet-18 from scratch, on the GPU when there is one): BoT, SDCN + VGN (both
//! stages) and IGOAS, evaluate each on holistic and occluded queries, and write the comparison page as
//! `report.html`. The default schedules (`configs/demo_fast*.toml`, 64x32) fit a 2-core CPU in minutes;
//! `--full` trains the longer ones of `configs/demo*.toml` (128x64, the CUHK01 benchmark's presets).
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use occreid_data::datasets::Counts;
use occreid_data::synth::{generate, SynthOptions, SynthSummary};
use occreid_model::methods;
use occreid_train::engine::load_split;
use occreid_train::{config, progress};
use occreid_train::{say, say_raw};

/// The presets (and the recipes they are based on), compiled in so the binary runs from any folder.
const PRESETS: [(&str, &str); 9] = [
    ("demo_fast.toml", include_str!("../../../configs/demo_fast.toml")),
    (
        "demo_fast_sdcn_vgn.toml",
        include_str!("../../../configs/demo_fast_sdcn_vgn.toml"),
    ),
    (
        "demo_fast_igoas.toml",
        include_str!("../../../configs/demo_fast_igoas.toml"),
    ),
    ("demo.toml", include_str!("../../../configs/demo.toml")),
    ("bot_r50.toml", include_str!("../../../configs/bot_r50.toml")),
    (
        "demo_sdcn_vgn.toml",
        include_str!("../../../configs/demo_sdcn_vgn.toml"),
    ),
    ("sdcn_vgn.toml", include_str!("../../../configs/sdcn_vgn.toml")),
    ("demo_igoas.toml", include_str!("../../../configs/demo_igoas.toml")),
    ("igoas.toml", include_str!("../../../configs/igoas.toml")),
];

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DemoMethod {
    /// BoT, SDCN + VGN and IGOAS, then the comparison page
    All,
    /// The Bag-of-Tricks baseline (configs/demo_fast.toml; --full: demo.toml)
    Bot,
    /// SDCN with its verification guidance network, both stages (configs/demo_fast_sdcn_vgn.toml)
    Sdcn,
    /// IGOAS (configs/demo_fast_igoas.toml)
    Igoas,
}

/// What a training step of each method costs, in milliseconds at the fast presets on a 2-core AMD EPYC
/// (from the epoch times of `occreid demo`'s log, BENCHMARKS.md "First run"); only their ratios matter:
/// the overall ETA scales them by the rate it sees.
const STEP_MS: [(&str, u64); 4] = [("bot", 110), ("vgn", 220), ("sdcn", 290), ("igoas", 360)];
/// What the work around each method's training (model build, evaluation, occlusion suite, re-ranking,
/// report) costs, in the same unit (measured 4-8 s).
const FINISH_MS: u64 = 6000;

impl DemoMethod {
    /// (run folder name, preset, the full schedule's preset)
    fn run(self) -> (&'static str, &'static str, &'static str) {
        match self {
            DemoMethod::Bot => ("bot", "demo_fast.toml", "demo.toml"),
            DemoMethod::Sdcn => ("sdcn_vgn", "demo_fast_sdcn_vgn.toml", "demo_sdcn_vgn.toml"),
            DemoMethod::Igoas => ("igoas", "demo_fast_igoas.toml", "demo_igoas.toml"),
            DemoMethod::All => unreachable!("expanded by methods()"),
        }
    }

    fn methods(self) -> Vec<DemoMethod> {
        match self {
            DemoMethod::All => vec![DemoMethod::Bot, DemoMethod::Sdcn, DemoMethod::Igoas],
            m => vec![m],
        }
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// Run folder; when it already holds a run, the next free `<out>-N` is used (nothing is overwritten)
    #[arg(long, default_value = "runs/demo")]
    out: PathBuf,
    /// Synthetic dataset folder: generated once, reused while its generation options match [default:
    /// runs/demo-data-HxW, at the size the methods train at: 64x32, or 128x64 with --full]
    #[arg(long)]
    data: Option<PathBuf>,
    /// Which method to train; `all` trains the three and writes the comparison page
    #[arg(long, value_enum, default_value = "all")]
    method: DemoMethod,
    /// Identities in the synthetic dataset (half train, half test)
    #[arg(long, default_value_t = 160)]
    ids: usize,
    /// Probability that a synthetic image has an obstacle in front of the person (training and test)
    #[arg(long, default_value_t = SynthOptions::default().occlusion)]
    occlusion: f32,
    /// The longer schedules (configs/demo.toml, demo_sdcn_vgn.toml, demo_igoas.toml: 128x64, 20 epochs)
    #[arg(long)]
    full: bool,
    /// Override a value of every method's preset, e.g. --set train.epochs=4
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

/// The synthetic dataset at the size the methods train at: an occluder drawn on a larger image and scaled
/// down loses what makes it hard (at 64x32 from 128x64, the noise box's per-pixel noise is averaged
/// towards grey: BoT's R1 under it measured 57 instead of 39).
fn synth_options(ids: usize, occlusion: f32, (height, width): (u32, u32)) -> SynthOptions {
    SynthOptions {
        ids,
        cameras: 4,
        images_per_id: 8,
        seed: 0,
        occlusion,
        height,
        width,
        ..SynthOptions::default()
    }
}

/// The dataset at `dir`, generated unless a previous demo left one with the same options.
fn dataset(dir: &Path, opts: &SynthOptions) -> Result<()> {
    if let Ok(Some(existing)) = SynthSummary::load(dir) {
        if existing.options == *opts {
            say!("synthetic dataset: reusing {}", dir.display());
            return Ok(());
        }
    }
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        anyhow::bail!(
            "{} exists and is not this demo's dataset; pass another --data folder",
            dir.display()
        );
    }
    let t = Instant::now();
    let s = generate(dir, opts).with_context(|| format!("generating the synthetic dataset in {}", dir.display()))?;
    say!(
        "synthetic dataset: {} train / {} query / {} gallery images, {} ids, {} cameras in {:.1} s -> {}",
        s.train.images,
        s.query.images,
        s.gallery.images,
        opts.ids,
        opts.cameras,
        t.elapsed().as_secs_f64(),
        dir.display()
    );
    Ok(())
}

/// `out`, or the first `<out>-N` that holds nothing yet: a demo never writes into an earlier one.
fn free_run_dir(out: &Path) -> PathBuf {
    let free = |p: &Path| std::fs::read_dir(p).map_or(true, |mut d| d.next().is_none());
    if free(out) {
        return out.to_path_buf();
    }
    (2..)
        .map(|n| PathBuf::from(format!("{}-{n}", out.display())))
        .find(|p| free(p))
        .expect("some suffix is free")
}

pub fn run(a: Args) -> Result<()> {
    let started = Instant::now();
    // Every preset and override is checked before the dataset is generated or anything trains.
    let presets = tempfile::tempdir()?;
    for (name, text) in PRESETS {
        std::fs::write(presets.path().join(name), text)?;
    }
    let methods = a.method.methods();
    let preset = |m: &DemoMethod| if a.full { m.run().2 } else { m.run().1 };
    let load = |root: &Path| {
        let mut overrides = vec![format!("data.root={}", root.display())];
        overrides.extend(a.set.iter().cloned());
        methods
            .iter()
            .map(|m| config::load(&presets.path().join(preset(m)), &overrides))
            .collect::<Result<Vec<_>, _>>()
    };
    let size = {
        let d = &load(Path::new(""))?[0].data;
        (d.height, d.width)
    };
    let data = a
        .data
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("runs/demo-data-{}x{}", size.0, size.1)));
    let opts = synth_options(a.ids, a.occlusion, size);
    opts.validate()?;
    for (flag, path) in [("--data", &data), ("--out", &a.out)] {
        if path.exists() && !path.is_dir() {
            anyhow::bail!("{flag} {}: is a file; the demo needs a folder there", path.display());
        }
    }
    let configs = load(&data)?;
    dataset(&data, &opts)?;
    let out = free_run_dir(&a.out);
    let split = load_split(&configs[0])?;
    let planned = configs
        .iter()
        .map(|cfg| planned_units(cfg, &split))
        .collect::<Result<Vec<u64>>>()?;
    let overall = progress::Overall::start(planned.iter().sum(), &STEP_MS);
    let mut finished = Vec::new();
    let mut done_units = 0;
    for (k, (m, cfg)) in methods.iter().zip(configs).enumerate() {
        let (folder, name) = (m.run().0, methods::paper_name(m.run().0));
        let dir = if methods.len() == 1 {
            out.clone()
        } else {
            out.join(folder)
        };
        let chance = 1.0 / Counts::of(&split.gallery).ids as f64;
        let part = format!("method {} of {}: {name}", k + 1, methods.len());
        overall.set_part(&part);
        let eta = (k > 0).then(|| {
            let rate = overall.elapsed() / done_units as f64;
            format!(", about {:.0} s to go", rate * planned[k..].iter().sum::<u64>() as f64)
        });
        say!("demo: {part} ({}{})", preset(m), eta.unwrap_or_default());
        let t = Instant::now();
        let last = crate::train::train_new(
            cfg,
            &dir,
            &format!("occreid demo: {name} (ResNet-18) on the synthetic dataset"),
            vec![format!(
                "preset configs/{}; chance-level R1 ≈ {:.1}% (1 / gallery identities); data generated by \
                 `occreid data synth` (seed 0, occlusion {})",
                preset(m),
                chance * 100.0,
                opts.occlusion
            )],
        )?;
        say!(
            "demo: {name} finished in {:.0} s -> {}",
            t.elapsed().as_secs_f64(),
            last.join("report.html").display()
        );
        done_units += planned[k];
        overall.set_done(done_units);
        finished.push(dir);
    }
    drop(overall);
    if finished.len() > 1 {
        let page = out.join("report.html");
        crate::compare::write_comparison(&finished, &page, 4)?;
        say!();
        let headline = crate::compare::headline_text(&finished)?;
        say_raw!("{headline}");
        say!("comparison page: {}", page.display());
    }
    say!("demo finished in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The work of training one method's config (every stage), in the unit of [`STEP_MS`].
fn planned_units(cfg: &config::TrainConfig, split: &occreid_data::Split) -> Result<u64> {
    let mut units = FINISH_MS;
    for stage in methods::plan(&cfg.method, &cfg.recipe())? {
        let mut stage_cfg = cfg.clone();
        stage_cfg.method = stage.method.to_string();
        let steps = occreid_train::steps_per_epoch(&stage_cfg, &split.train)?;
        let epochs = stage.epochs.unwrap_or(cfg.train.epochs);
        let ms = STEP_MS
            .iter()
            .find(|(m, _)| *m == stage.method)
            .map_or(1, |(_, ms)| *ms);
        units += (steps * epochs) as u64 * ms;
    }
    Ok(units)
}
