//! The embedded synthetic dataset: a Market-1501-layout tree (`bounding_box_train/`, `query/`,
//! `bounding_box_test/`, names like `0001_c1s1_000025_00.jpg`) of procedurally drawn pedestrians, which
//! the `market1501` reader reads unchanged.
//!
//! * Identity = a combination, not a colour: skin, hair (short / long), top colour pair *and* pattern
//!   (solid, horizontal / vertical stripes, checks, diagonal, two-tone left/right or top/bottom), sleeve
//!   length, trousers / shorts / skirt with their own colour and pattern, shoes, build, and accessories
//!   (backpack, shoulder bag, cap, chest logo). Colours come from a small shared palette, so many
//!   identities share colours.
//! * Camera = background (wall / floor colours, texture), illumination gain and gradient, colour cast and
//!   a preferred viewpoint (front / back / side: a backpack covers the torso from behind, a logo is only
//!   seen from the front).
//! * Image = scale, translation, stride and arm swing, facing direction, clutter, an occluder (box,
//!   pole, or a car-like block over the legs) with probability `occlusion`, and pixel noise.
//! * Half the identities (a seeded choice) are train, half test. Every identity appears in 2 or more
//!   cameras; a test identity puts one image per camera (that has at least two) into `query`, the rest
//!   into `bounding_box_test`, as Market does.
//! * Deterministic: every image has its own generator derived from `(seed, pid, image index)`, so the
//!   same seed writes identical bytes whatever the thread count. The tree is written into a temporary
//!   folder next to `out` and renamed into place.
use std::path::{Path, PathBuf};

use image::codecs::jpeg::JpegEncoder;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::datasets::common::SplitMix64;
use crate::datasets::{CanonicalCounts, Counts, Sample, SplitCounts};

mod draw;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SynthOptions {
    /// Identities, 2..=1501 (Market's pid range, which the `market1501` reader enforces).
    pub ids: usize,
    /// Cameras, 2..=6 (Market's camera range).
    pub cameras: usize,
    /// Images per identity, at least 2.
    pub images_per_id: usize,
    pub seed: u64,
    pub height: u32,
    pub width: u32,
    pub jpeg_quality: u8,
    /// Probability that an image has an occluder in front of the person.
    pub occlusion: f32,
}

impl Default for SynthOptions {
    fn default() -> Self {
        Self {
            ids: 100,
            cameras: 6,
            images_per_id: 8,
            seed: 0,
            height: 128,
            width: 64,
            jpeg_quality: 90,
            occlusion: 0.2,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("bad value {value} for {option}: expected {expected}")]
    BadOption {
        option: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error(
        "{path}: output folder is not empty; the generator only writes into a new or empty folder. \
         Fix: choose another --out or remove it"
    )]
    NotEmpty { path: PathBuf },
    #[error("{path}: exists and is not a folder. Fix: choose another --out")]
    NotAFolder { path: PathBuf },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: JPEG encoding failed: {reason}")]
    Encode { path: PathBuf, reason: String },
}

/// What was written; also saved as `<out>/synth.json` (outside the split folders).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthSummary {
    pub out: PathBuf,
    pub options: SynthOptions,
    pub train: Counts,
    pub query: Counts,
    pub gallery: Counts,
    /// Original (file-name) pids of the train and test identities.
    pub train_pids: Vec<i64>,
    pub test_pids: Vec<i64>,
}

impl SynthSummary {
    /// The summary a generated tree carries in `synth.json`; `Ok(None)` when `dir` has none (not a
    /// synthetic tree). Lets `data check` compare a synthetic tree with its own counts.
    pub fn load(dir: &Path) -> Result<Option<SynthSummary>, SynthError> {
        let path = dir.join(SUMMARY_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(SynthError::Io { path, source }),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| SynthError::Io { path, source: e.into() })
    }

    /// The exact counts, for `check` (`CheckOptions::canonical`).
    pub fn canonical(&self) -> CanonicalCounts {
        let counts = SplitCounts {
            train: self.train,
            query: self.query,
            gallery: self.gallery,
        };
        CanonicalCounts::exact(counts, format!("synthetic dataset, seed {}", self.options.seed))
    }
}

impl SynthOptions {
    /// The options' ranges, checkable before anything is written.
    pub fn validate(&self) -> Result<(), SynthError> {
        validate(self)
    }
}

fn validate(o: &SynthOptions) -> Result<(), SynthError> {
    let bad = |option, value: String, expected| {
        Err(SynthError::BadOption {
            option,
            value,
            expected,
        })
    };
    if !(2..=1501).contains(&o.ids) {
        return bad("ids", o.ids.to_string(), "2..=1501 (Market-1501 pid range)");
    }
    if !(2..=6).contains(&o.cameras) {
        return bad("cameras", o.cameras.to_string(), "2..=6 (Market-1501 camera range)");
    }
    if !(2..=10_000).contains(&o.images_per_id) {
        return bad("images_per_id", o.images_per_id.to_string(), "2..=10000");
    }
    if !(32..=1024).contains(&o.height) || !(16..=1024).contains(&o.width) {
        return bad(
            "height x width",
            format!("{}x{}", o.height, o.width),
            "height 32..=1024, width 16..=1024",
        );
    }
    if !(1..=100).contains(&o.jpeg_quality) {
        return bad("jpeg_quality", o.jpeg_quality.to_string(), "1..=100");
    }
    if !(0.0..=1.0).contains(&o.occlusion) {
        return bad("occlusion", o.occlusion.to_string(), "a probability in [0, 1]");
    }
    Ok(())
}

/// One image to draw: where it goes and what it shows.
struct Job {
    split: usize,
    pid: i64,
    index: usize,
    cam: usize,
    name: String,
}

/// Written next to the split folders; the Market reader ignores it.
pub const SUMMARY_FILE: &str = "synth.json";
const SPLIT_DIRS: [&str; 3] = ["bounding_box_train", "query", "bounding_box_test"];

/// The seeded plan: which identities train, which cameras each identity visits, which images are query.
fn plan(o: &SynthOptions) -> (Vec<Job>, Vec<i64>, Vec<i64>) {
    let mut g = SplitMix64::stream(o.seed, u64::MAX, 0);
    let mut pids: Vec<i64> = (1..=o.ids as i64).collect();
    g.shuffle(&mut pids);
    let (train, test) = pids.split_at(o.ids / 2);
    let (mut train, mut test) = (train.to_vec(), test.to_vec());
    train.sort();
    test.sort();
    let mut jobs = Vec::new();
    for &pid in pids.iter() {
        let is_train = train.binary_search(&pid).is_ok();
        let mut g = SplitMix64::stream(o.seed, pid as u64, u64::MAX);
        let k = o.images_per_id;
        let m = (2 + g.below(o.cameras - 1)).min((k / 2).max(2)).min(k);
        let mut cams: Vec<usize> = (0..o.cameras).collect();
        g.shuffle(&mut cams);
        cams.truncate(m);
        // Image i is taken by camera cams[i % m]; slot c holds ceil((k - c) / m) images.
        let slot_len = |c: usize| (k - c).div_ceil(m);
        for index in 0..k {
            let cam = cams[index % m];
            let query = index < m && (slot_len(index) >= 2 || (slot_len(0) < 2 && index == 0));
            let split = match (is_train, query) {
                (true, _) => 0,
                (false, true) => 1,
                (false, false) => 2,
            };
            let name = format!("{pid:04}_c{}s1_{:06}_00.jpg", cam + 1, (index + 1) * 25);
            jobs.push(Job {
                split,
                pid,
                index,
                cam,
                name,
            });
        }
    }
    (jobs, train, test)
}

/// Writes the tree into `out` (which must not exist or be empty).
pub fn generate(out: &Path, opts: &SynthOptions) -> Result<SynthSummary, SynthError> {
    validate(opts)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SynthError::Io { path, source }
    };
    if out.exists() {
        if !out.is_dir() {
            return Err(SynthError::NotAFolder { path: out.into() });
        }
        if std::fs::read_dir(out).map_err(io(out))?.next().is_some() {
            return Err(SynthError::NotEmpty { path: out.into() });
        }
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io(&parent))?;
    let stem = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = parent.join(format!(".{stem}.synth-tmp-{}-{call}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    let result = write_tree(&tmp, out, opts).and_then(|summary| {
        if out.exists() {
            std::fs::remove_dir(out).map_err(io(out))?;
        }
        std::fs::rename(&tmp, out).map_err(io(out))?;
        Ok(summary)
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// Writes the tree into `dir`; the summary names `out`, where `dir` will be renamed to.
fn write_tree(dir: &Path, out: &Path, o: &SynthOptions) -> Result<SynthSummary, SynthError> {
    let io = |path: PathBuf| move |source| SynthError::Io { path, source };
    for sub in SPLIT_DIRS {
        std::fs::create_dir_all(dir.join(sub)).map_err(io(dir.join(sub)))?;
    }
    let (jobs, train_pids, test_pids) = plan(o);
    let world = draw::World::new(o);
    jobs.par_iter().try_for_each(|job| {
        let path = dir.join(SPLIT_DIRS[job.split]).join(&job.name);
        let rgb = world.draw(job.pid, job.index, job.cam);
        let mut bytes = Vec::with_capacity(8 * 1024);
        JpegEncoder::new_with_quality(&mut bytes, o.jpeg_quality)
            .encode(&rgb, o.width, o.height, image::ExtendedColorType::Rgb8)
            .map_err(|e| SynthError::Encode {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        std::fs::write(&path, bytes).map_err(io(path))
    })?;
    let samples = |split: usize| -> Vec<Sample> {
        jobs.iter()
            .filter(|j| j.split == split)
            .map(|j| Sample {
                path: PathBuf::from(&j.name),
                pid: j.pid,
                camid: j.cam as i64,
            })
            .collect()
    };
    let summary = SynthSummary {
        out: out.to_path_buf(),
        options: o.clone(),
        train: Counts::of(&samples(0)),
        query: Counts::of(&samples(1)),
        gallery: Counts::of(&samples(2)),
        train_pids,
        test_pids,
    };
    let json = serde_json::to_vec_pretty(&summary).map_err(|e| SynthError::Io {
        path: dir.join(SUMMARY_FILE),
        source: e.into(),
    })?;
    std::fs::write(dir.join(SUMMARY_FILE), json).map_err(io(dir.join(SUMMARY_FILE)))?;
    Ok(summary)
}
