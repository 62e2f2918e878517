//! `occreid demo`: with no data and no weights, generate the synthetic pedestrian dataset, train the
//! project's methods small (ResNet-18, 128x64, from scratch, CPU): BoT, SDCN + VGN (both stages) and IGOAS,
//! evaluate each on holistic and occluded queries, and write the comparison page as `report.html`.
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use occreid_data::datasets::Counts;
use occreid_data::synth::{generate, SynthOptions, SynthSummary};
use occreid_train::config;
use occreid_train::engine::load_split;

/// The presets (and the recipes they are based on), compiled in so the binary runs from any folder.
const PRESETS: [(&str, &str); 6] = [
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
    /// The Bag-of-Tricks baseline (configs/demo.toml)
    Bot,
    /// SDCN with its verification guidance network, both stages (configs/demo_sdcn_vgn.toml)
    Sdcn,
    /// IGOAS (configs/demo_igoas.toml)
    Igoas,
}

impl DemoMethod {
    /// (run folder name, preset, what the report calls it)
    fn run(self) -> (&'static str, &'static str, &'static str) {
        match self {
            DemoMethod::Bot => ("bot", "demo.toml", "BoT"),
            DemoMethod::Sdcn => ("sdcn_vgn", "demo_sdcn_vgn.toml", "SDCN + VGN"),
            DemoMethod::Igoas => ("igoas", "demo_igoas.toml", "IGOAS"),
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
    /// Synthetic dataset folder: generated once, reused while its generation options match
    #[arg(long, default_value = "runs/demo-data")]
    data: PathBuf,
    /// Which method to train; `all` trains the three and writes the comparison page
    #[arg(long, value_enum, default_value = "all")]
    method: DemoMethod,
    /// Identities in the synthetic dataset (half train, half test)
    #[arg(long, default_value_t = 160)]
    ids: usize,
    /// Probability that a synthetic image has an obstacle in front of the person (training and test)
    #[arg(long, default_value_t = SynthOptions::default().occlusion)]
    occlusion: f32,
    /// Override a value of every method's preset, e.g. --set train.epochs=4
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

fn synth_options(ids: usize, occlusion: f32) -> SynthOptions {
    SynthOptions {
        ids,
        cameras: 4,
        images_per_id: 8,
        seed: 0,
        occlusion,
        ..SynthOptions::default()
    }
}

/// The dataset at `dir`, generated unless a previous demo left one with the same options.
fn dataset(dir: &Path, opts: &SynthOptions) -> Result<()> {
    if let Ok(Some(existing)) = SynthSummary::load(dir) {
        if existing.options == *opts {
            println!("synthetic dataset: reusing {}", dir.display());
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
    println!(
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
    let opts = synth_options(a.ids, a.occlusion);
    opts.validate()?;
    for (flag, path) in [("--data", &a.data), ("--out", &a.out)] {
        if path.exists() && !path.is_dir() {
            anyhow::bail!("{flag} {}: is a file; the demo needs a folder there", path.display());
        }
    }
    // Every preset and override is checked before the dataset is generated or anything trains.
    let presets = tempfile::tempdir()?;
    for (name, text) in PRESETS {
        std::fs::write(presets.path().join(name), text)?;
    }
    let mut overrides = vec![format!("data.root={}", a.data.display())];
    overrides.extend(a.set.iter().cloned());
    let methods = a.method.methods();
    let configs = methods
        .iter()
        .map(|m| config::load(&presets.path().join(m.run().1), &overrides))
        .collect::<Result<Vec<_>, _>>()?;
    dataset(&a.data, &opts)?;
    let out = free_run_dir(&a.out);
    let mut finished = Vec::new();
    for (m, cfg) in methods.iter().zip(configs) {
        let (folder, preset, name) = m.run();
        let dir = if methods.len() == 1 {
            out.clone()
        } else {
            out.join(folder)
        };
        let split = load_split(&cfg)?;
        let chance = 1.0 / Counts::of(&split.gallery).ids as f64;
        let t = Instant::now();
        let last = crate::train::train_new(
            cfg,
            &dir,
            &format!("occreid demo: {name} (ResNet-18) on the synthetic dataset"),
            vec![format!(
                "preset configs/{preset}; chance-level R1 ≈ {:.1}% (1 / gallery identities); data generated by \
                 `occreid data synth` (seed 0, occlusion {})",
                chance * 100.0,
                opts.occlusion
            )],
        )?;
        println!(
            "demo: {name} finished in {:.0} s -> {}",
            t.elapsed().as_secs_f64(),
            last.join("report.html").display()
        );
        finished.push(dir);
    }
    if finished.len() > 1 {
        let page = out.join("report.html");
        crate::compare::write_comparison(&finished, &page, 4)?;
        println!("comparison: {}", page.display());
    }
    println!("demo finished in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}
