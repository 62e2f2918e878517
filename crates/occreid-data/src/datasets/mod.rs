//! Dataset readers: each turns a root folder into train / query / gallery lists of `(path, pid, camid)`
//! exactly as spec §5 parses it, and knows its canonical counts.
//!
//! * [`reader`] looks a reader up by name ([`DATASET_NAMES`]; torchreid / IGOAS spellings are accepted
//!   too, e.g. `occludedduke`, `pdukereid`).
//! * [`DatasetReader::scan`] reads everything it can and lists every problem it met (what `occreid data
//!   check` prints); [`DatasetReader::read`] turns the first problem into an error.
//! * Conventions shared by every reader: camids are 0-based; train pids are relabelled `0..N-1` in sorted
//!   order of the original pids; query and gallery keep their original pids; every list is sorted by path.
//!   Readers never write anything.
//! * Test-only benchmarks (Occluded-REID, Partial-REID, Partial-iLIDS) return an empty train list; the
//!   standard protocol trains on Market-1501 ([`Split::with_train_from`]).
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub(crate) mod common;
pub mod cuhk01;
pub mod custom;
pub mod dukemtmcreid;
mod error;
pub mod market1501;
pub mod msmt17;
pub mod occluded_duke;
pub mod occluded_reid;
pub mod p_dukemtmc_reid;
pub mod partial_ilids;
pub mod partial_reid;

pub use common::{is_image, IMAGE_EXTENSIONS};
pub use error::DataError;

/// One image: where it is, its identity and its 0-based camera.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Sample {
    pub path: PathBuf,
    pub pid: i64,
    pub camid: i64,
}

/// The three lists of a benchmark plus human-readable notes on how they were made (root used, junk
/// dropped, synthetic camera ids, protocol choices).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Split {
    pub train: Vec<Sample>,
    pub query: Vec<Sample>,
    pub gallery: Vec<Sample>,
    pub notes: Vec<String>,
}

impl Split {
    /// Number of training identities (train pids are `0..num_train_pids()`).
    pub fn num_train_pids(&self) -> usize {
        distinct(&self.train, |s| s.pid)
    }

    pub fn counts(&self) -> SplitCounts {
        SplitCounts {
            train: Counts::of(&self.train),
            query: Counts::of(&self.query),
            gallery: Counts::of(&self.gallery),
        }
    }

    /// Cross-dataset protocol: keep this split's query / gallery, take the train list of `train_split`
    /// (e.g. train on Market-1501, test on Occluded-REID). Notes of both are kept, in that order.
    pub fn with_train_from(mut self, train_split: Split) -> Split {
        self.train = train_split.train;
        let mut notes: Vec<String> = train_split.notes.into_iter().map(|n| format!("train: {n}")).collect();
        notes.append(&mut self.notes);
        self.notes = notes;
        self
    }
}

/// Images, distinct identities and distinct cameras of one list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub images: usize,
    pub ids: usize,
    pub cameras: usize,
}

impl Counts {
    pub fn of(samples: &[Sample]) -> Counts {
        Counts {
            images: samples.len(),
            ids: distinct(samples, |s| s.pid),
            cameras: distinct(samples, |s| s.camid),
        }
    }
}

fn distinct(samples: &[Sample], key: impl Fn(&Sample) -> i64) -> usize {
    samples.iter().map(key).collect::<BTreeSet<_>>().len()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitCounts {
    pub train: Counts,
    pub query: Counts,
    pub gallery: Counts,
}

/// Published counts of one list; `None` where no source states the number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedCounts {
    pub images: Option<usize>,
    pub ids: Option<usize>,
    pub cameras: Option<usize>,
}

impl ExpectedCounts {
    pub const fn new(images: usize, ids: usize, cameras: usize) -> Self {
        Self {
            images: Some(images),
            ids: Some(ids),
            cameras: Some(cameras),
        }
    }
    /// An empty list (the train side of a test-only benchmark).
    pub const EMPTY: Self = Self::new(0, 0, 0);
    pub const UNKNOWN: Self = Self {
        images: None,
        ids: None,
        cameras: None,
    };
}

impl From<Counts> for ExpectedCounts {
    fn from(c: Counts) -> Self {
        Self::new(c.images, c.ids, c.cameras)
    }
}

/// The canonical counts of a benchmark, where they come from, and whether the source is authoritative
/// (`verified = false`: "standard in the literature" / approximate, so a mismatch is only a warning).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanonicalCounts {
    pub train: ExpectedCounts,
    pub query: ExpectedCounts,
    pub gallery: ExpectedCounts,
    pub source: String,
    pub verified: bool,
}

impl CanonicalCounts {
    /// Exact counts taken from a known split (e.g. what the synthetic generator wrote).
    pub fn exact(counts: SplitCounts, source: impl Into<String>) -> Self {
        Self {
            train: counts.train.into(),
            query: counts.query.into(),
            gallery: counts.gallery.into(),
            source: source.into(),
            verified: true,
        }
    }
}

/// What a reader read, with every problem it met. `root` is the dataset folder actually used (one of the
/// accepted root variants).
#[derive(Debug)]
pub struct Scan {
    pub split: Split,
    pub problems: Vec<DataError>,
    pub root: PathBuf,
}

impl Scan {
    /// The split if nothing was wrong, else the first problem (with the number of further problems).
    pub fn into_result(mut self) -> Result<Split, DataError> {
        if self.problems.is_empty() {
            return Ok(self.split);
        }
        let more = self.problems.len() - 1;
        let first = self.problems.swap_remove(0);
        Err(if more == 0 {
            first
        } else {
            DataError::Several {
                first: Box::new(first),
                more,
            }
        })
    }
}

pub trait DatasetReader: Send + Sync {
    /// Registry name, e.g. `market1501`.
    fn name(&self) -> &str;
    /// Reads what it can. `Err` only when nothing can be read at all (root missing, no layout found);
    /// everything else (bad names, missing split folders, missing listed files) is in `Scan::problems`.
    fn scan(&self, root: &Path) -> Result<Scan, DataError>;
    /// The split, or one error naming the offending path.
    fn read(&self, root: &Path) -> Result<Split, DataError> {
        self.scan(root)?.into_result()
    }
    fn canonical(&self) -> Option<CanonicalCounts>;
}

/// Which Partial-REID folder is the query side (spec §5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartialReidQuery {
    /// `occluded_body_images`, as DAAO, IGOAS and PVPM code do.
    #[default]
    OccludedBodyImages,
    /// `partial_body_images`, the original paper's partial setting.
    PartialBodyImages,
}

/// Reader switches; `Default` is the protocol the methods' code uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReaderOptions {
    pub partial_reid_query: PartialReidQuery,
    /// Seed of the CUHK01 identity split.
    pub cuhk01_seed: u64,
    /// Identities in the CUHK01 train split (the rest are test identities).
    pub cuhk01_train_ids: usize,
    /// Add MSMT17 `list_val.txt` to train (DAAO always does; torchreid only with `combineall`). The
    /// canonical 32,621 train images include val.
    pub msmt17_include_val: bool,
    /// Train P-DukeMTMC-reID on whole-body images only (DAAO's `pduke_quanshen`); off = whole + occluded
    /// (IGOAS / PVPM).
    pub p_dukemtmc_train_whole_only: bool,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        Self {
            partial_reid_query: PartialReidQuery::default(),
            cuhk01_seed: 0,
            cuhk01_train_ids: cuhk01::TRAIN_IDS,
            msmt17_include_val: true,
            p_dukemtmc_train_whole_only: false,
        }
    }
}

/// Registry names, in the order `occreid data check` lists them.
pub const DATASET_NAMES: &[&str] = &[
    "market1501",
    "dukemtmcreid",
    "occluded_duke",
    "occluded_reid",
    "partial_reid",
    "partial_ilids",
    "p_dukemtmc_reid",
    "msmt17",
    "cuhk01",
    "custom",
];

/// Other spellings (torchreid / IGOAS registry names), compared after lower-casing and removing `-`/`_`.
const ALIASES: &[(&str, &str)] = &[
    ("market", "market1501"),
    ("duke", "dukemtmcreid"),
    ("dukemtmc", "dukemtmcreid"),
    ("pdukereid", "p_dukemtmc_reid"),
    ("pduke", "p_dukemtmc_reid"),
    ("partialilids", "partial_ilids"),
    ("msmt17v1", "msmt17"),
    ("msmt17v2", "msmt17"),
];

fn canonical_name(name: &str) -> Option<&'static str> {
    let norm = |s: &str| s.to_ascii_lowercase().replace(['-', '_'], "");
    let n = norm(name);
    DATASET_NAMES
        .iter()
        .copied()
        .find(|d| norm(d) == n)
        .or_else(|| ALIASES.iter().find(|(a, _)| *a == n).map(|(_, d)| *d))
}

/// The reader registered as `name` (see [`DATASET_NAMES`]).
pub fn reader(name: &str, opts: &ReaderOptions) -> Result<Box<dyn DatasetReader>, DataError> {
    let Some(name) = canonical_name(name) else {
        return Err(DataError::UnknownDataset {
            name: name.to_string(),
            valid: DATASET_NAMES.join(", "),
        });
    };
    if name == "cuhk01" && (opts.cuhk01_train_ids == 0 || opts.cuhk01_train_ids >= cuhk01::NUM_IDS) {
        return Err(DataError::BadOption {
            option: "cuhk01_train_ids".into(),
            value: opts.cuhk01_train_ids.to_string(),
            expected: format!("between 1 and {} (the standard split is 485)", cuhk01::NUM_IDS - 1),
        });
    }
    Ok(match name {
        "market1501" => Box::new(market1501::Market1501),
        "dukemtmcreid" => Box::new(dukemtmcreid::DukeMtmcReid),
        "occluded_duke" => Box::new(occluded_duke::OccludedDuke),
        "occluded_reid" => Box::new(occluded_reid::OccludedReid),
        "partial_reid" => Box::new(partial_reid::PartialReid {
            query: opts.partial_reid_query,
        }),
        "partial_ilids" => Box::new(partial_ilids::PartialIlids),
        "p_dukemtmc_reid" => Box::new(p_dukemtmc_reid::PDukeMtmcReid {
            whole_only: opts.p_dukemtmc_train_whole_only,
        }),
        "msmt17" => Box::new(msmt17::Msmt17 {
            include_val: opts.msmt17_include_val,
        }),
        "cuhk01" => Box::new(cuhk01::Cuhk01 {
            seed: opts.cuhk01_seed,
            train_ids: opts.cuhk01_train_ids,
        }),
        "custom" => Box::new(custom::Custom),
        other => unreachable!("{other} is in DATASET_NAMES but has no reader"),
    })
}
