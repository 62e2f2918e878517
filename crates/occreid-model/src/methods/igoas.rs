//! IGOAS ("Incremental Generative Occlusion Adversarial Suppression Network", TIP 2021; spec §3,
//! corrections §3.11): a shared trunk (stem with ReLU, layers 1–3) run once on the clean batch and its
//! IGO-occluded copy; the global branch (layer4 copy `layer41`, `res_part1`, GAP, reduction, classifier1)
//! on the clean half, the adversarial-suppression branch (CBAM `att1`, `layer42`, `res_part2`, CBAM
//! `att_module2`, GMP, reduction, classifier2) on the occluded half, classifier3 on their concatenation.
//! Loss: self-weighted CE-LS over the three classifiers (weights not detached) + the OSM mask loss.
//! Test feature: concat(L2norm(v1′), L2norm(v2′)), both branches on the clean input.
//!
//! Tensor names are those of the authors' `bfe.py` state dict (`layer0.0` = stem conv, `layer0.1` = its
//! BN, `layer41`, `res_part2.conv3`, `att_module2.fc1`, `reduction1.1`, …).
use std::cell::RefCell;

use occreid_data::occluders::{igo_draw_with, IgoSchedule};
use occreid_data::transforms::PyRandom;
use occreid_torch::tch::nn::{self, Init, VarStore};
use occreid_torch::tch::{no_grad, Device, Kind, Reduction, Tensor};
use serde::{Deserialize, Serialize};

use super::{trainable, Built, Method, MethodError, ParamGroup, Recipe, StepOutput, TrainBatch, UpdateRule};
use crate::layers::Cbam;
use crate::losses::cross_entropy_label_smooth;
use crate::resnet::{batch_norm, stem, Block, BnMode, ResLayer};
use crate::weights::load_renamed;

/// Where the OSM mask loss applies (spec §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskLoss {
    /// As coded: on both branches' final maps (the global one computed on the clean image).
    Both,
    /// As the figure draws it: on the adversarial branch only.
    Adversarial,
}

/// `[igoas]` in a config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IgoasConfig {
    /// Epochs at the start in which only the new modules train (the rest frozen, in eval mode).
    pub fixbase_epochs: usize,
    pub mask_loss: MaskLoss,
    pub mask_weight: f64,
    /// The authors ran `nn.DataParallel` on 2 GPUs: one IGO rectangle and one set of batch-norm batch
    /// statistics per half batch (running statistics from the first half). 1 = one batch.
    pub shards: usize,
    /// Seed of the Python `random` stream the IGO draws replay (the training script seeds it with 1).
    pub igo_seed: u64,
    /// The IGO block's area schedule and aspect range (`[igoas.igo]`).
    pub igo: IgoSchedule,
    /// The modules that train during the fixbase epochs (`open_specified_layers`); the rest are frozen.
    pub fixbase_open: Vec<String>,
}

impl Default for IgoasConfig {
    fn default() -> Self {
        Self {
            fixbase_epochs: 5,
            mask_loss: MaskLoss::Both,
            mask_weight: 1.0,
            shards: 2,
            igo_seed: 1,
            igo: IgoSchedule::default(),
            fixbase_open: FIXBASE_OPEN.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// bfe.py's fixbase list (`open_layers` in configs/bfe.yaml).
const FIXBASE_OPEN: [&str; 8] = [
    "res_part1",
    "res_part2",
    "classifier1",
    "classifier2",
    "reduction1",
    "reduction2",
    "att1",
    "att_module2",
];

/// The network's top-level modules (the names `fixbase_open` may list).
pub const MODULES: [&str; 15] = [
    "layer0",
    "layer1",
    "layer2",
    "layer3",
    "layer41",
    "layer42",
    "res_part1",
    "res_part2",
    "att1",
    "att_module2",
    "reduction1",
    "reduction2",
    "classifier1",
    "classifier2",
    "classifier3",
];

/// Linear(in → 512) + BatchNorm1d + ReLU: weights kaiming-normal (fan-out), bias 0, BN weight N(1, 0.02).
struct Reduction512 {
    linear: nn::Linear,
    bn: nn::BatchNorm,
}

impl Reduction512 {
    fn new(p: &nn::Path, dim: i64) -> Self {
        let linear = nn::linear(
            p / "0",
            dim,
            512,
            nn::LinearConfig {
                ws_init: Init::Randn {
                    mean: 0.0,
                    stdev: (2.0f64 / 512.0).sqrt(),
                },
                bs_init: Some(Init::Const(0.0)),
                bias: true,
            },
        );
        let bn = nn::batch_norm1d(
            p / "1",
            512,
            nn::BatchNormConfig {
                ws_init: Init::Randn { mean: 1.0, stdev: 0.02 },
                bs_init: Init::Const(0.0),
                ..Default::default()
            },
        );
        Self { linear, bn }
    }

    fn forward_mode(&self, v: &Tensor, mode: BnMode) -> Tensor {
        batch_norm(&self.bn, &v.apply(&self.linear), mode).relu()
    }
}

fn classifier(p: nn::Path, dim: i64, classes: i64) -> nn::Linear {
    nn::linear(
        p,
        dim,
        classes,
        nn::LinearConfig {
            ws_init: Init::Randn { mean: 0.0, stdev: 0.01 },
            bs_init: Some(Init::Const(0.0)),
            bias: true,
        },
    )
}

/// A torchvision ResNet state-dict name → the bfe.py names it initialises.
fn torchvision_to_bfe(name: &str) -> Vec<String> {
    if let Some(rest) = name.strip_prefix("conv1.") {
        vec![format!("layer0.0.{rest}")]
    } else if let Some(rest) = name.strip_prefix("bn1.") {
        vec![format!("layer0.1.{rest}")]
    } else if let Some(rest) = name.strip_prefix("layer4.") {
        vec![format!("layer41.0.{rest}"), format!("layer42.0.{rest}")]
    } else {
        vec![name.to_string()]
    }
}

/// The train-mode outputs of one (shard of a) batch (spec §3.1, §3.3).
pub struct IgoasOutputs {
    pub y1: Tensor,
    pub y2: Tensor,
    pub y3: Tensor,
    /// Channel means of f1 / f2 `[B,1,h,w]` and the IGO mask resized to `h × w`.
    pub p1: Tensor,
    pub p2: Tensor,
    pub mask: Tensor,
    pub v1: Tensor,
    pub v1_1: Tensor,
    pub v2: Tensor,
    pub v2_1: Tensor,
}

pub struct Igoas {
    vs: VarStore,
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    trunk: Vec<ResLayer>,
    layer41: ResLayer,
    layer42: ResLayer,
    res_part1: Block,
    res_part2: Block,
    att1: Cbam,
    att_module2: Cbam,
    reduction1: Reduction512,
    reduction2: Reduction512,
    classifier1: nn::Linear,
    classifier2: nn::Linear,
    classifier3: nn::Linear,
    label_smoothing: f64,
    cfg: IgoasConfig,
    igo_rng: RefCell<PyRandom>,
}

impl Igoas {
    /// The network with random weights (ImageNet weights are [`Igoas::build`]'s job).
    pub fn new(recipe: &Recipe, num_classes: i64, device: Device) -> Result<Self, MethodError> {
        super::bot::check_model_and_loss(&recipe.model, &recipe.loss, num_classes)?;
        let cfg = recipe.igoas.clone();
        if cfg.shards == 0 || !(cfg.mask_weight.is_finite() && cfg.mask_weight >= 0.0) {
            return Err(MethodError::Bad {
                what: "igoas.shards / igoas.mask_weight",
                value: format!("{} / {}", cfg.shards, cfg.mask_weight),
                expected: "at least 1 shard, a finite non-negative weight",
            });
        }
        if let Some(bad) = cfg.fixbase_open.iter().find(|m| !MODULES.contains(&m.as_str())) {
            return Err(MethodError::Bad {
                what: "igoas.fixbase_open",
                value: format!("'{bad}'"),
                expected: "module names of the IGOAS network: layer0, layer1, layer2, layer3, layer41, layer42, \
                           res_part1, res_part2, att1, att_module2, reduction1, reduction2, classifier1, classifier2, \
                           classifier3",
            });
        }
        let depth = recipe.model.backbone;
        let vs = VarStore::new(device);
        let root = vs.root();
        let (conv1, bn1) = stem(&root / "layer0" / "0", &root / "layer0" / "1");
        let trunk = (1..=3)
            .map(|i| ResLayer::new(&(&root / format!("layer{i}")), depth, i, if i == 1 { 1 } else { 2 }))
            .collect();
        let c3 = depth.channels(3);
        let c4 = depth.channels(4);
        let planes = 512;
        let m = Self {
            conv1,
            bn1,
            trunk,
            // bfe.py wraps each copy in an nn.Sequential: `layer41.0.<block>`.
            layer41: ResLayer::new(&(&root / "layer41" / "0"), depth, 4, 1),
            layer42: ResLayer::new(&(&root / "layer42" / "0"), depth, 4, 1),
            res_part1: Block::new(&(&root / "res_part1"), c4, planes, 1, depth.bottleneck()),
            res_part2: Block::new(&(&root / "res_part2"), c4, planes, 1, depth.bottleneck()),
            att1: Cbam::new(&(&root / "att1"), c3, 16),
            att_module2: Cbam::new(&(&root / "att_module2"), c4, 16),
            reduction1: Reduction512::new(&(&root / "reduction1"), c4),
            reduction2: Reduction512::new(&(&root / "reduction2"), c4),
            classifier1: classifier(&root / "classifier1", 512, num_classes),
            classifier2: classifier(&root / "classifier2", 512, num_classes),
            classifier3: classifier(&root / "classifier3", 1024, num_classes),
            label_smoothing: recipe.loss.label_smoothing,
            igo_rng: RefCell::new(PyRandom::new(cfg.igo_seed)),
            cfg,
            vs,
        };
        // bfe.py builds res_part1/2 as plain `Bottleneck`s: PyTorch's default conv init, not torchvision's.
        // In name order: the variables map's own order changes from run to run, and so would the draws.
        let mut vars: Vec<(String, Tensor)> = m.vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        no_grad(|| {
            for (name, mut t) in vars {
                if name.starts_with("res_part") && name.contains(".conv") {
                    let fan_in: i64 = t.size()[1..].iter().product();
                    let b = 1.0 / (fan_in as f64).sqrt();
                    let _ = t.uniform_(-b, b);
                }
            }
        });
        Ok(m)
    }

    pub fn build(recipe: &Recipe, num_classes: i64, device: Device) -> Result<Built, MethodError> {
        let mut m = Self::new(recipe, num_classes, device)?;
        let pretrained = if recipe.model.pretrained.is_empty() {
            None
        } else {
            // torchvision names → bfe.py's: the stem becomes layer0.{0,1}, layer4 seeds both copies.
            Some(load_renamed(
                &mut m.vs,
                &recipe.model.pretrained,
                torchvision_to_bfe,
                false,
            )?)
        };
        Ok(Built {
            method: Box::new(m),
            pretrained,
        })
    }

    /// For float64 parity runs.
    pub fn var_store_mut(&mut self) -> &mut VarStore {
        &mut self.vs
    }

    fn trunk_forward(&self, x: &Tensor, mode: BnMode) -> Tensor {
        let y = batch_norm(&self.bn1, &x.apply(&self.conv1), mode).relu();
        let y = y.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        self.trunk.iter().fold(y, |y, l| l.forward_mode(&y, mode))
    }

    /// f1: layer41 (in `base` mode) then res_part1 (in `open` mode).
    fn global_map(&self, t: &Tensor, base: BnMode, open: BnMode) -> Tensor {
        self.res_part1.forward_mode(&self.layer41.forward_mode(t, base), open)
    }

    /// f2: att1, layer42 (in `base` mode), res_part2 (in `open` mode), att_module2.
    fn adversarial_map(&self, t: &Tensor, base: BnMode, open: BnMode) -> Tensor {
        let x2 = self.att1.forward(t);
        self.att_module2
            .forward(&self.res_part2.forward_mode(&self.layer42.forward_mode(&x2, base), open))
    }

    /// Train-mode forward of a clean batch and its occluded copy with its `[B,1,H,W]` mask. `open_only`
    /// (fixbase): the frozen modules run in eval mode. `track_stats` false: batch norms use batch
    /// statistics without updating the running ones (a second DataParallel shard).
    pub fn forward_train(
        &self,
        x: &Tensor,
        x_occ: &Tensor,
        mask: &Tensor,
        open_only: bool,
        track_stats: bool,
    ) -> IgoasOutputs {
        let open = if track_stats {
            BnMode::Train
        } else {
            BnMode::TrainFrozenStats
        };
        let base = if open_only { BnMode::Eval } else { open };
        let b = x.size()[0];
        let t = self.trunk_forward(&Tensor::cat(&[x, x_occ], 0), base);
        let (t1, t2) = (t.narrow(0, 0, b), t.narrow(0, b, b));
        let f1 = self.global_map(&t1, base, open);
        let f2 = self.adversarial_map(&t2, base, open);
        let v1 = f1.adaptive_avg_pool2d([1, 1]).flatten(1, -1);
        let v2 = f2.adaptive_max_pool2d([1, 1]).0.flatten(1, -1);
        let v1_1 = self.reduction1.forward_mode(&v1, open);
        let v2_1 = self.reduction2.forward_mode(&v2, open);
        let y1 = v1_1.apply(&self.classifier1);
        let y2 = v2_1.apply(&self.classifier2);
        let y3 = Tensor::cat(&[&v1_1, &v2_1], 1).apply(&self.classifier3);
        let (h, w) = (f1.size()[2], f1.size()[3]);
        let mask = mask.upsample_bilinear2d([h, w], true, None, None);
        IgoasOutputs {
            y1,
            y2,
            y3,
            p1: f1.mean_dim(1, true, f1.kind()),
            p2: f2.mean_dim(1, true, f2.kind()),
            mask,
            v1,
            v1_1,
            v2,
            v2_1,
        }
    }

    /// The IGO block (`BatchIncErasing`) on a normalised batch: one rectangle and fill drawn from the
    /// method's Python-`random` stream at 0-based `epoch`; returns the occluded copy and the mask.
    pub fn igo(&self, x: &Tensor, epoch: usize) -> (Tensor, Tensor) {
        let (b, h, w) = (x.size()[0], x.size()[2], x.size()[3]);
        let occ = igo_draw_with(
            h as usize,
            w as usize,
            epoch,
            &self.cfg.igo,
            &mut *self.igo_rng.borrow_mut(),
        );
        let x_occ = x.copy();
        let mask = Tensor::ones([b, 1, h, w], (x.kind(), x.device()));
        if let Some(o) = occ {
            let r = o.rect;
            let (top, left, rh, rw) = (r.top as i64, r.left as i64, r.height as i64, r.width as i64);
            for (c, fill) in o.fill.iter().enumerate() {
                let _ = x_occ
                    .narrow(1, c as i64, 1)
                    .narrow(2, top, rh)
                    .narrow(3, left, rw)
                    .fill_(*fill as f64);
            }
            let _ = mask.narrow(2, top, rh).narrow(3, left, rw).fill_(0.0);
        }
        (x_occ, mask)
    }

    /// The three CE-LS terms, the self-weighted identity loss (softmax weights *not* detached, as coded:
    /// d L / d L_k = w_k (1 + L_k − Σ w L)) and the two mask terms.
    pub fn loss_terms(&self, out: &IgoasOutputs, targets: &Tensor) -> ([Tensor; 3], Tensor, [Tensor; 2]) {
        let ce = |y: &Tensor| cross_entropy_label_smooth(y, targets, self.label_smoothing);
        let l = [ce(&out.y1), ce(&out.y2), ce(&out.y3)];
        let stacked = Tensor::stack(&l, 0);
        let weights = stacked.softmax(0, stacked.kind());
        let id = (&weights * &stacked).sum(stacked.kind());
        let mse = |p: &Tensor| p.mse_loss(&(p * &out.mask), Reduction::Mean);
        (l, id, [mse(&out.p1), mse(&out.p2)])
    }

    fn set_fixbase(&self, on: bool) {
        for (name, t) in self.vs.variables() {
            let is_buffer = name.ends_with("running_mean") || name.ends_with("running_var");
            if !is_buffer {
                let module = name.split('.').next().unwrap_or_default();
                let open = self.cfg.fixbase_open.iter().any(|m| m == module);
                let _ = t.set_requires_grad(open || !on);
            }
        }
    }
}

/// Concatenates per-shard outputs along the batch.
fn gather(parts: Vec<IgoasOutputs>) -> IgoasOutputs {
    let cat = |f: fn(&IgoasOutputs) -> &Tensor| Tensor::cat(&parts.iter().map(f).collect::<Vec<_>>(), 0);
    IgoasOutputs {
        y1: cat(|o| &o.y1),
        y2: cat(|o| &o.y2),
        y3: cat(|o| &o.y3),
        p1: cat(|o| &o.p1),
        p2: cat(|o| &o.p2),
        mask: cat(|o| &o.mask),
        v1: cat(|o| &o.v1),
        v1_1: cat(|o| &o.v1_1),
        v2: cat(|o| &o.v2),
        v2_1: cat(|o| &o.v2_1),
    }
}

impl Method for Igoas {
    fn name(&self) -> &'static str {
        "igoas"
    }
    fn var_store(&self) -> &VarStore {
        &self.vs
    }
    fn param_groups(&self) -> Vec<ParamGroup> {
        self.set_fixbase(false);
        vec![ParamGroup {
            name: "model",
            params: trainable(&self.vs),
            rule: UpdateRule::Main,
        }]
    }
    fn losses(&self, batch: &TrainBatch) -> StepOutput {
        let fixbase = batch.epoch <= self.cfg.fixbase_epochs;
        self.set_fixbase(fixbase);
        let b = batch.images.size()[0];
        let per = (b + self.cfg.shards as i64 - 1) / self.cfg.shards as i64;
        let mut parts = Vec::new();
        for (k, start) in (0..b).step_by(per.max(1) as usize).enumerate() {
            let x = batch.images.narrow(0, start, per.min(b - start));
            let (x_occ, mask) = self.igo(&x, batch.epoch - 1);
            // nn.DataParallel keeps the running statistics of its first replica only.
            parts.push(self.forward_train(&x, &x_occ, &mask, fixbase, k == 0));
        }
        let out = gather(parts);
        let (_, id, [m1, m2]) = self.loss_terms(&out, batch.targets);
        let mask = match self.cfg.mask_loss {
            MaskLoss::Both => m1 + m2,
            MaskLoss::Adversarial => m2,
        };
        StepOutput {
            terms: vec![("id_weighted", id), ("mask", mask * self.cfg.mask_weight)],
            logits: Some(out.y3),
        }
    }
    fn state(&self) -> serde_json::Value {
        serde_json::json!({ "igo_rng": *self.igo_rng.borrow() })
    }
    fn restore_state(&self, state: &serde_json::Value) -> Result<(), String> {
        let rng: PyRandom = serde_json::from_value(state["igo_rng"].clone())
            .map_err(|e| format!("the IGO random stream in the checkpoint is unreadable: {e}"))?;
        *self.igo_rng.borrow_mut() = rng;
        Ok(())
    }
    fn embed(&self, images: &Tensor) -> Tensor {
        let eval = BnMode::Eval;
        let t = self.trunk_forward(images, eval);
        let v1 = self
            .global_map(&t, eval, eval)
            .adaptive_avg_pool2d([1, 1])
            .flatten(1, -1);
        let v2 = self
            .adversarial_map(&t, eval, eval)
            .adaptive_max_pool2d([1, 1])
            .0
            .flatten(1, -1);
        let n = |v: Tensor| {
            let norm = v.norm_scalaropt_dim(2, [1], true).clamp_min(1e-12);
            v / norm
        };
        let v1_1 = n(self.reduction1.forward_mode(&v1, eval));
        let v2_1 = n(self.reduction2.forward_mode(&v2, eval));
        Tensor::cat(&[v1_1, v2_1], 1).to_kind(Kind::Float)
    }
}
