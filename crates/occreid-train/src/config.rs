//! Typed training configs read from TOML presets.
//!
//! A file may name `base = "other.toml"` (relative to itself) to inherit every value it does not set;
//! `--set section.key=value` overrides come last. Every key of every layer is checked against the full
//! schema (the serialised defaults) before anything is deserialised, so a typo is reported with the file
//! it came from and the nearest valid key, instead of being silently ignored.
use std::path::{Path, PathBuf};

use occreid_data::datasets::ReaderOptions;
use occreid_data::occluders::{OccluderKind, Position};
use occreid_data::transforms::Interpolation;
use occreid_model::methods::igoas::IgoasConfig;
use occreid_model::methods::sdcn::SdcnConfig;
use occreid_model::methods::{LossConfig, ModelConfig, Recipe};
use serde::{Deserialize, Serialize};
use toml::{Table, Value};

use crate::schedule::WarmupMultiStep;

mod validate;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Registry name of the method (`bot`, `sdcn_vgn` for both DAAO stages, or one stage: `vgn`, `sdcn`).
    pub method: String,
    /// The one seed every RNG of a run derives from (init, sampler, augmentation).
    pub seed: u64,
    pub data: DataConfig,
    pub model: ModelConfig,
    pub loss: LossConfig,
    pub optim: OptimConfig,
    pub train: RunConfig,
    pub test: TestConfig,
    /// SDCN + VGN's own settings (ignored by other methods).
    pub sdcn: SdcnConfig,
    /// IGOAS's own settings (ignored by other methods).
    pub igoas: IgoasConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplerKind {
    /// P identities × K images (BoT `softmax_triplet`).
    Identity,
    /// Uniform shuffle with drop_last (BoT `softmax`).
    Random,
    /// DAAO's class-uniform P × K passes without drop_last (spec §2.2), `data.steps_per_epoch` batches
    /// per epoch.
    ClassUniform,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// Training dataset (registry name, see `occreid data check --help`) and its root folder.
    pub dataset: String,
    pub root: String,
    /// Test dataset and root when testing on another dataset (cross-domain protocols); empty = the
    /// training dataset's query and gallery.
    pub test_dataset: String,
    pub test_root: String,
    /// Several test sets evaluated together (DAAO's Market-1501 → Partial-REID, Partial-iLIDS and
    /// Occluded-REID): the first takes the place of `test_dataset` (it picks the best checkpoint and
    /// fills the report's rank lists); each set's metrics go to the log, `metrics.jsonl`, `summary.json`
    /// and the report.
    pub test_sets: Vec<TestSet>,
    pub reader: ReaderOptions,
    /// Input size (height, width) for training and testing.
    pub height: u32,
    pub width: u32,
    pub interpolation: Interpolation,
    pub sampler: SamplerKind,
    pub batch_size: usize,
    /// K of the P × K identity sampler.
    pub instances_per_id: usize,
    pub flip_p: f64,
    pub pad: u32,
    /// Random-erasing probability (0 = off).
    pub random_erasing: f64,
    /// torchvision `ColorJitter(brightness, contrast, saturation, hue)`; all 0 = off.
    pub color_jitter: [f64; 4],
    /// Batches per epoch for the class-uniform sampler, which restarts its pass when it runs out
    /// (DAAO: 488 Occluded-Duke, 404 Market); 0 = one pass.
    pub steps_per_epoch: usize,
    /// Decode/augment threads (0 = one per core) and batches prefetched.
    pub workers: usize,
    pub prefetch: usize,
    /// A training image that cannot be read (deleted or damaged after the scan): false stops the run with
    /// its name and a resumable checkpoint; true leaves it out of its batch and counts it in
    /// metrics.jsonl (`skipped_images`).
    pub skip_bad_images: bool,
}

/// One entry of `[[data.test_sets]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSet {
    /// Registry name of the dataset.
    pub dataset: String,
    /// Its root folder (empty = `data.root`).
    #[serde(default)]
    pub root: String,
    /// The name in logs, `summary.json` and the report (empty = the dataset's).
    #[serde(default)]
    pub name: String,
}

impl TestSet {
    pub fn label(&self) -> &str {
        if self.name.is_empty() {
            &self.dataset
        } else {
            &self.name
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    Adam,
    Sgd,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimConfig {
    pub optimizer: OptimizerKind,
    pub base_lr: f64,
    /// L2 weight decay added to the gradient of every parameter (biases and BN weights included, as BoT).
    pub weight_decay: f64,
    pub betas: [f64; 2],
    pub eps: f64,
    /// SGD momentum (ignored by Adam).
    pub momentum: f64,
    /// Warmup multi-step schedule over epochs (spec §1.2).
    pub milestones: Vec<usize>,
    pub gamma: f64,
    pub warmup_factor: f64,
    pub warmup_epochs: usize,
    /// The scheduler's epoch index during the first epoch: 1 for BoT (stepped once at construction and
    /// once per epoch), 0 for DAAO (`scheduler.step(epoch)` with 0-based epochs).
    pub schedule_first_epoch: usize,
}

impl OptimConfig {
    /// The learning rate of 1-based epoch `epoch`.
    pub fn lr(&self, epoch: usize) -> f64 {
        self.schedule().lr(epoch - 1 + self.schedule_first_epoch)
    }

    pub fn schedule(&self) -> WarmupMultiStep {
        WarmupMultiStep {
            base_lr: self.base_lr,
            milestones: self.milestones.clone(),
            gamma: self.gamma,
            warmup_factor: self.warmup_factor,
            warmup_epochs: self.warmup_epochs,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    pub epochs: usize,
    /// Evaluate every this many epochs (and always after the last one); 0 = only at the end.
    pub eval_period: usize,
    /// Further epochs to evaluate at (IGOAS reports its epoch-60 checkpoint).
    pub eval_epochs: Vec<usize>,
    /// `auto`, `cpu` or `cuda`.
    pub device: String,
    /// Mixed precision (CUDA only): fp16 autocast with a dynamic loss scale.
    pub amp: bool,
    /// libtorch intra-op threads (0 = libtorch's default).
    pub threads: usize,
    /// Also write last.ckpt every this many training steps inside an epoch (0 = at epoch ends only): for
    /// long epochs (MSMT17, large custom sets), a crash then costs at most these steps.
    pub checkpoint_every_steps: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TestConfig {
    pub batch_size: usize,
    /// L2-normalise features before the distance (BoT `FEAT_NORM='yes'`).
    pub feat_norm: bool,
    /// Average the features of the image and its horizontal flip.
    pub flip: bool,
    /// Also report k-reciprocal re-ranked metrics (k1, k2, lambda).
    pub rerank: bool,
    pub rerank_k1: usize,
    pub rerank_k2: usize,
    pub rerank_lambda: f64,
    pub max_rank: usize,
    pub occlusion: OcclusionSuiteConfig,
}

/// Robustness evaluation after training: the query set occluded by each (kind, ratio, position).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OcclusionSuiteConfig {
    pub enabled: bool,
    pub kinds: Vec<OccluderKind>,
    pub ratios: Vec<f64>,
    pub positions: Vec<Position>,
    pub seed: u64,
}

impl Default for TrainConfig {
    /// BoT's recipe (spec §1.1, `softmax_triplet_with_center.yml`).
    fn default() -> Self {
        Self {
            method: "bot".into(),
            seed: 0,
            data: DataConfig::default(),
            model: ModelConfig::default(),
            loss: LossConfig::default(),
            optim: OptimConfig::default(),
            train: RunConfig::default(),
            test: TestConfig::default(),
            sdcn: SdcnConfig::default(),
            igoas: IgoasConfig::default(),
        }
    }
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            dataset: "market1501".into(),
            root: String::new(),
            test_dataset: String::new(),
            test_root: String::new(),
            test_sets: Vec::new(),
            reader: ReaderOptions::default(),
            height: 256,
            width: 128,
            interpolation: Interpolation::Bilinear,
            sampler: SamplerKind::Identity,
            batch_size: 64,
            instances_per_id: 4,
            flip_p: 0.5,
            pad: 10,
            random_erasing: 0.5,
            color_jitter: [0.0; 4],
            steps_per_epoch: 0,
            workers: 0,
            prefetch: 4,
            skip_bad_images: false,
        }
    }
}

impl Default for OptimConfig {
    fn default() -> Self {
        let s = WarmupMultiStep::bot();
        Self {
            optimizer: OptimizerKind::Adam,
            base_lr: s.base_lr,
            weight_decay: 5e-4,
            betas: [0.9, 0.999],
            eps: 1e-8,
            momentum: 0.9,
            milestones: s.milestones,
            gamma: s.gamma,
            warmup_factor: s.warmup_factor,
            warmup_epochs: s.warmup_epochs,
            schedule_first_epoch: 1,
        }
    }
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            epochs: 120,
            eval_period: 40,
            eval_epochs: Vec::new(),
            device: "auto".into(),
            amp: false,
            threads: 0,
            checkpoint_every_steps: 0,
        }
    }
}

impl Default for TestConfig {
    fn default() -> Self {
        Self {
            batch_size: 128,
            feat_norm: true,
            flip: false,
            rerank: false,
            rerank_k1: 20,
            rerank_k2: 6,
            rerank_lambda: 0.3,
            max_rank: 50,
            occlusion: OcclusionSuiteConfig::default(),
        }
    }
}

impl Default for OcclusionSuiteConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            kinds: OccluderKind::ALL.to_vec(),
            ratios: occreid_data::occluders::AREA_RATIOS.to_vec(),
            positions: vec![Position::Random],
            seed: 0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not valid TOML: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("unknown key `{key}` in {origin}{hint}")]
    UnknownKey { key: String, origin: String, hint: String },
    #[error("`{key}` in {origin} must be a table of keys (a [section]), not a single value")]
    NotATable { key: String, origin: String },
    #[error("{origin}: `base` must be a path string")]
    BadBase { origin: String },
    #[error("config inheritance too deep or cyclic at {path} (base chain: {chain})")]
    BaseCycle { path: PathBuf, chain: String },
    #[error("--set expects key=value, got `{0}`")]
    BadSet(String),
    #[error("invalid config: {0}")]
    Invalid(String),
}

/// Reads `path` (with its `base` chain) and applies `--set` overrides.
pub fn load(path: &Path, overrides: &[String]) -> Result<TrainConfig, ConfigError> {
    let mut table = read_layered(path, &mut Vec::new())?;
    for item in overrides {
        let (key, value) = parse_override(item)?;
        check_keys(
            &single_key_table(&key, value.clone()),
            &schema(),
            "",
            &format!("--set {item}"),
        )?;
        set_path(&mut table, &key, value, &format!("--set {item}"))?;
    }
    from_table(table)
}

/// Deserialises a merged table (all keys already checked).
pub fn from_table(table: Table) -> Result<TrainConfig, ConfigError> {
    let config: TrainConfig = Value::Table(table.clone())
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::Invalid(format!("{}{}", failing_key(&table), e.message())))?;
    config.validate()?;
    Ok(config)
}

/// `"section.key: "` of the first value that does not deserialise on its own (over the defaults), so a
/// bad value is reported with its key (toml's message names only the type or variant it expected).
fn failing_key(table: &Table) -> String {
    let fails = |t: Table| Value::Table(t).try_into::<TrainConfig>().is_err();
    for (section, value) in table {
        let alone = Table::from_iter([(section.clone(), value.clone())]);
        if !fails(alone) {
            continue;
        }
        if let Value::Table(keys) = value {
            for (key, v) in keys {
                let one = Table::from_iter([(key.clone(), v.clone())]);
                if fails(Table::from_iter([(section.clone(), Value::Table(one))])) {
                    return format!("{section}.{key}: ");
                }
            }
        }
        return format!("{section}: ");
    }
    String::new()
}

impl TrainConfig {
    /// What the method is built from.
    pub fn recipe(&self) -> Recipe {
        Recipe {
            model: self.model.clone(),
            loss: self.loss.clone(),
            sdcn: self.sdcn.clone(),
            igoas: self.igoas.clone(),
        }
    }

    pub fn set_recipe(&mut self, r: Recipe) {
        self.model = r.model;
        self.loss = r.loss;
        self.sdcn = r.sdcn;
        self.igoas = r.igoas;
    }

    /// The full resolved config as TOML (written into every run folder).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a TrainConfig always serialises")
    }
}

/// Every valid key, as the serialised defaults.
fn schema() -> Table {
    match Value::try_from(TrainConfig::default()).expect("defaults serialise") {
        Value::Table(t) => t,
        _ => unreachable!("a struct serialises to a table"),
    }
}

fn read_layered(path: &Path, chain: &mut Vec<PathBuf>) -> Result<Table, ConfigError> {
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    if chain.contains(&canonical) || chain.len() > 16 {
        let chain_text = chain
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" -> ");
        return Err(ConfigError::BaseCycle {
            path: path.to_path_buf(),
            chain: chain_text,
        });
    }
    chain.push(canonical);
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut table: Table = toml::from_str(&text).map_err(|e: toml::de::Error| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let origin = path.display().to_string();
    let base = match table.remove("base") {
        None => None,
        Some(Value::String(s)) => Some(path.parent().unwrap_or(Path::new(".")).join(s)),
        Some(_) => return Err(ConfigError::BadBase { origin }),
    };
    check_keys(&table, &schema(), "", &origin)?;
    let mut merged = match base {
        Some(b) => read_layered(&b, chain)?,
        None => Table::new(),
    };
    merge(&mut merged, table);
    Ok(merged)
}

/// Tables merge key by key; any other value (arrays included) replaces the inherited one.
fn merge(into: &mut Table, from: Table) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(Value::Table(dst)), Value::Table(src)) => merge(dst, src),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

fn check_keys(table: &Table, schema: &Table, prefix: &str, origin: &str) -> Result<(), ConfigError> {
    for (k, v) in table {
        let full = format!("{prefix}{k}");
        match (schema.get(k), v) {
            (None, _) => {
                return Err(ConfigError::UnknownKey {
                    hint: suggestion(&full, schema, prefix),
                    key: full,
                    origin: origin.to_string(),
                })
            }
            (Some(Value::Table(sub)), Value::Table(t)) => check_keys(t, sub, &format!("{full}."), origin)?,
            (Some(Value::Table(_)), _) => {
                return Err(ConfigError::NotATable {
                    key: full,
                    origin: origin.to_string(),
                })
            }
            _ => {}
        }
    }
    Ok(())
}

/// `; did you mean `x`?` for the nearest key of the same table, or the list of valid keys.
fn suggestion(key: &str, schema: &Table, prefix: &str) -> String {
    let last = key.rsplit('.').next().unwrap_or(key);
    let best = schema
        .keys()
        .map(|c| (strsim::damerau_levenshtein(last, c), c))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((d, c)) if d <= 2.max(last.len() / 3) => format!("; did you mean `{prefix}{c}`?"),
        _ => format!(
            "; valid keys here: {}",
            schema
                .keys()
                .map(|k| format!("{prefix}{k}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn parse_override(item: &str) -> Result<(String, Value), ConfigError> {
    let (key, raw) = item
        .split_once('=')
        .ok_or_else(|| ConfigError::BadSet(item.to_string()))?;
    let key = key.trim();
    if key.is_empty() || key.split('.').any(str::is_empty) {
        return Err(ConfigError::BadSet(item.to_string()));
    }
    // A TOML literal when it parses as one (numbers, booleans, arrays, quoted strings), else a bare string.
    let value = toml::from_str::<Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_string()));
    Ok((key.to_string(), value))
}

fn single_key_table(key: &str, value: Value) -> Table {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().expect("non-empty key");
    let mut t = Table::new();
    t.insert(last.to_string(), value);
    for p in parts.into_iter().rev() {
        let mut outer = Table::new();
        outer.insert(p.to_string(), Value::Table(t));
        t = outer;
    }
    t
}

fn set_path(table: &mut Table, key: &str, value: Value, origin: &str) -> Result<(), ConfigError> {
    let mut parts = key.split('.').peekable();
    let mut cur = table;
    while let Some(p) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(p.to_string(), value);
            return Ok(());
        }
        let entry = cur.entry(p.to_string()).or_insert_with(|| Value::Table(Table::new()));
        cur = match entry {
            Value::Table(t) => t,
            _ => {
                return Err(ConfigError::NotATable {
                    key: p.to_string(),
                    origin: origin.to_string(),
                })
            }
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn base_inheritance_and_overrides_compose() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "parent.toml",
            "seed = 3\n[optim]\nbase_lr = 0.1\nmilestones = [5, 9]\n",
        );
        let child = write(
            dir.path(),
            "child.toml",
            "base = \"parent.toml\"\n[optim]\nmilestones = [7]\n[data]\nroot = \"/d\"\n",
        );
        let c = load(&child, &["train.epochs=4".into(), "data.dataset=cuhk01".into()]).unwrap();
        assert_eq!(c.seed, 3);
        assert_eq!(c.optim.base_lr, 0.1);
        assert_eq!(c.optim.milestones, vec![7], "arrays replace, not append");
        assert_eq!(c.data.root, "/d");
        assert_eq!(c.data.dataset, "cuhk01", "bare strings are accepted by --set");
        assert_eq!(c.train.epochs, 4);
        assert_eq!(c.optim.gamma, 0.1, "unset keys keep the defaults");
    }

    #[test]
    fn unknown_keys_name_the_file_and_the_nearest_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "bad.toml", "[optim]\nbase_lrr = 0.1\n");
        let e = load(&p, &[]).unwrap_err().to_string();
        assert!(e.contains("`optim.base_lrr`") && e.contains("bad.toml"), "{e}");
        assert!(e.contains("did you mean `optim.base_lr`"), "{e}");
        let ok = write(dir.path(), "ok.toml", "");
        let e = load(&ok, &["test.rerank_k=3".into()]).unwrap_err().to_string();
        assert!(
            e.contains("did you mean `test.rerank_k1`") && e.contains("--set"),
            "{e}"
        );
        let e = load(&ok, &["zzz.qqq=1".into()]).unwrap_err().to_string();
        assert!(e.contains("valid keys here") && e.contains("optim"), "{e}");
    }

    #[test]
    fn bad_values_and_cycles_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let ok = write(dir.path(), "ok.toml", "");
        let e = load(&ok, &["optim.base_lr=fast".into()]).unwrap_err().to_string();
        assert!(e.contains("invalid config"), "{e}");
        let e = load(&ok, &["data.batch_size=30".into()]).unwrap_err().to_string();
        assert!(e.contains("multiple of data.instances_per_id"), "{e}");
        let e = load(&ok, &["optim=3".into()]).unwrap_err().to_string();
        assert!(e.contains("must be a table"), "{e}");
        let e = load(&ok, &["novalue".into()]).unwrap_err().to_string();
        assert!(e.contains("key=value"), "{e}");
        let a = write(dir.path(), "a.toml", "base = \"b.toml\"\n");
        write(dir.path(), "b.toml", "base = \"a.toml\"\n");
        let e = load(&a, &[]).unwrap_err().to_string();
        assert!(e.contains("cyclic"), "{e}");
        let e = load(&dir.path().join("missing.toml"), &[]).unwrap_err().to_string();
        assert!(e.contains("missing.toml"), "{e}");
        // A partial [loss] / [model] table keeps BoT's values for the keys it leaves out.
        let c = load(&ok, &["loss.triplet_margin=0.5".into(), "model.last_stride=2".into()]).unwrap();
        assert_eq!((c.loss.triplet_margin, c.loss.label_smoothing), (0.5, 0.1));
        assert_eq!((c.model.last_stride, c.model.bnneck), (2, true));
        // Values that would only fail (or silently misbehave) deep into a run are refused up front.
        for (set, says) in [
            ("optim.base_lr=nan", "optim.base_lr"),
            ("optim.gamma=-1.0", "optim.gamma"),
            ("optim.milestones=[5, 1]", "strictly increasing"),
            ("loss.triplet_margin=-1.0", "loss.triplet_margin"),
            ("test.rerank_k1=0", "test.rerank_k1"),
            ("test.rerank_lambda=2.0", "test.rerank_lambda"),
            ("data.height=100000", "16..=2048"),
            ("data.workers=100000", "at most 256"),
        ] {
            let e = load(&ok, &[set.into()]).unwrap_err().to_string();
            assert!(e.contains(says), "{set}: {e}");
        }
    }

    #[test]
    fn resolved_config_round_trips() {
        let c = TrainConfig::default();
        let back: TrainConfig = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
    }
}
