//! SDCN + VGN ("Occluded Person Re-identification via Defending Against Attacks from Obstacles", DAAO;
//! spec §2, corrections §3.11). Two training stages, two methods:
//!
//! * `vgn` (stage 1, §2.4): the verification guidance network, a ResNet (no stem ReLU, last stride 1)
//!   with GAP, GMP and their sum, one shared BNNeck classifier applied to each; CE on both views of every
//!   pair (occluded ×0.1), batch-hard triplets on the full-image features.
//! * `sdcn` (stage 2, §2.5): the same network plus the non-local block after layer4, trained under the
//!   frozen VGN: consistency MSE between its layer3/layer4 maps on the occluded view and the VGN's on the
//!   full view, and verification CE through the VGN's classifier on GAP(W_y + VGN layer4).
//!
//! Tensor names: `vgn.*` / `sdcn.*` hold the torchvision backbone names plus `classifier.bn.*` and
//! `classifier.classifier.weight` (the authors' `BNClassifier`); `nonlocal.*` the authors' non-local names.
//! [`authors_name`] maps a state dict saved by the authors' code onto them.
use occreid_torch::tch::nn::{self, VarStore};
use occreid_torch::tch::{Device, Kind, Reduction, Tensor};
use serde::{Deserialize, Serialize};

use super::{
    trainable, Built, Import, LossConfig, Method, MethodError, ModelConfig, ParamGroup, Recipe, StepOutput, TrainBatch,
    TrainView, UpdateRule,
};
use crate::layers::{classifier, BnNeck, NonLocal};
use crate::losses::{batch_hard_triplet, cross_entropy_label_smooth};
use crate::resnet::{ResNet, ResNetConfig};
use crate::weights::load_into;

mod authors;
pub use authors::{authors_name, load_authors_state, AuthorsModule};

/// Which reading of the authors' code a switch follows (spec §2.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reading {
    /// What the paper and the code evidently mean (§2.9's recommendations, §3.11 item 1).
    Intended,
    /// Exactly what the published code does, quirks included.
    AsCoded,
}

/// One quirk's switch: `"reading"` follows `sdcn.reading`, the other two override it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Switch {
    Reading,
    Intended,
    AsCoded,
}

/// `[sdcn]` in a config: the DAAO-specific part of the recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SdcnConfig {
    pub reading: Reading,
    /// As coded, `mixgap_cls_score` is overwritten, so the 0.1 bracket holds CE(verification logits of
    /// the occluded view) instead of CE(s_gap of the occluded view).
    pub occluded_gap_logits: Switch,
    /// As coded, the non-local block's scheduler is never stepped: its lr stays `nl_lr × warmup_factor`.
    pub nl_lr_schedule: Switch,
    /// As coded, the VGN is never put in eval mode: its batch norms (classifier W1's included) use batch
    /// statistics and move their running ones.
    pub vgn_bn: Switch,
    /// As coded, the non-local block stays in train mode at test time (test-batch statistics).
    pub nl_test_bn: Switch,
    /// As coded, the full image and its occluded copy get independent flips and colour jitters.
    pub pair_augment: Switch,
    /// Base learning rate of the non-local block's Adam (the SDCN's is `optim.base_lr`).
    pub nl_lr: f64,
    pub occluded_id_weight: f64,
    pub consistency_weight: f64,
    pub verification_weight: f64,
    /// Stage 2 only: the trained VGN checkpoint (empty: `sdcn_vgn` trains it first as stage 1).
    pub vgn: String,
    /// Epochs of stage 1 (0 = `train.epochs`, as the paper trains both for 150).
    pub vgn_epochs: usize,
}

impl Default for SdcnConfig {
    fn default() -> Self {
        Self {
            reading: Reading::Intended,
            occluded_gap_logits: Switch::Reading,
            nl_lr_schedule: Switch::Reading,
            vgn_bn: Switch::Reading,
            nl_test_bn: Switch::Reading,
            pair_augment: Switch::Reading,
            nl_lr: 3.5e-5,
            occluded_id_weight: 0.1,
            consistency_weight: 0.01,
            verification_weight: 0.001,
            vgn: String::new(),
            vgn_epochs: 0,
        }
    }
}

impl SdcnConfig {
    /// Whether `switch` resolves to the as-coded behaviour.
    pub fn as_coded(&self, switch: Switch) -> bool {
        match switch {
            Switch::Reading => self.reading == Reading::AsCoded,
            Switch::Intended => false,
            Switch::AsCoded => true,
        }
    }

    fn check(&self) -> Result<(), MethodError> {
        let weights = [
            self.occluded_id_weight,
            self.consistency_weight,
            self.verification_weight,
        ];
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return Err(MethodError::Bad {
                what: "sdcn loss weights",
                value: format!("{weights:?}"),
                expected: "finite and non-negative",
            });
        }
        if !(self.nl_lr.is_finite() && self.nl_lr > 0.0) {
            return Err(MethodError::Bad {
                what: "sdcn.nl_lr",
                value: self.nl_lr.to_string(),
                expected: "a positive learning rate",
            });
        }
        Ok(())
    }
}

/// The authors' `BNClassifier`: BNNeck (frozen bias) then a bias-free linear layer, N(0, 0.001).
struct BnClassifier {
    bn: BnNeck,
    linear: nn::Linear,
}

impl BnClassifier {
    fn new(p: &nn::Path, dim: i64, classes: i64) -> Self {
        Self {
            bn: BnNeck::new(&(p / "bn"), dim),
            linear: classifier(&(p / "classifier"), dim, classes, 0.001),
        }
    }

    fn forward_t(&self, v: &Tensor, train: bool) -> Tensor {
        self.bn.forward_t(v, train).apply(&self.linear)
    }
}

/// One DAAO network (the VGN, or the SDCN's body): backbone, GAP/GMP/sum heads, shared BNNeck classifier.
pub struct DaaoNet {
    backbone: ResNet,
    classifier: BnClassifier,
}

/// The train-mode outputs of one pass (§2.3): pre-BN features, their logits, and the maps the
/// consistency losses compare (layer3, and layer4 *before* the non-local block).
pub struct DaaoOutputs {
    pub f_gap: Tensor,
    pub f_gmp: Tensor,
    pub f_sum: Tensor,
    pub s_gap: Tensor,
    pub s_gmp: Tensor,
    pub s_sum: Tensor,
    pub out3: Tensor,
    pub out4: Tensor,
}

fn pooled(z: &Tensor) -> (Tensor, Tensor, Tensor) {
    let gap = z.adaptive_avg_pool2d([1, 1]).flatten(1, -1);
    let gmp = z.adaptive_max_pool2d([1, 1]).0.flatten(1, -1);
    let sum = &gap + &gmp;
    (gap, gmp, sum)
}

impl DaaoNet {
    pub fn new(p: &nn::Path, model: &ModelConfig, classes: i64) -> Self {
        let backbone = ResNet::new(
            p,
            ResNetConfig {
                depth: model.backbone,
                last_stride: model.last_stride,
                stem_relu: model.stem_relu,
            },
        );
        let dim = model.backbone.out_channels();
        Self {
            backbone,
            classifier: BnClassifier::new(&(p / "classifier"), dim, classes),
        }
    }

    /// Train-mode pass; `nonlocal` (the SDCN) turns layer4's map into `z` before the heads.
    pub fn forward_train(&self, x: &Tensor, nonlocal: Option<&NonLocal>) -> DaaoOutputs {
        let mut maps = self.backbone.stages(x, true);
        let out4 = maps.pop().expect("four stages");
        let out3 = maps.pop().expect("four stages");
        let (f_gap, f_gmp, f_sum) = match nonlocal {
            Some(nl) => pooled(&nl.forward_t(&out4, true).0),
            None => pooled(&out4),
        };
        // The shared BNNeck runs once per head, in this order: its running statistics move three times.
        let s_gap = self.classifier.forward_t(&f_gap, true);
        let s_gmp = self.classifier.forward_t(&f_gmp, true);
        let s_sum = self.classifier.forward_t(&f_sum, true);
        DaaoOutputs {
            f_gap,
            f_gmp,
            f_sum,
            s_gap,
            s_gmp,
            s_sum,
            out3,
            out4,
        }
    }

    /// Test feature f_sum = GAP(z) + GMP(z), pre-BN, backbone in eval mode; `nonlocal` with its BN mode.
    pub fn feature(&self, x: &Tensor, nonlocal: Option<(&NonLocal, bool)>) -> Tensor {
        let out4 = self.backbone.stages(x, false).pop().expect("four stages");
        match nonlocal {
            Some((nl, train)) => pooled(&nl.forward_t(&out4, train).0).2,
            None => pooled(&out4).2,
        }
    }
}

/// Stage 1: the VGN trained on (full, occluded) pairs (§2.4).
pub struct Vgn {
    vs: VarStore,
    net: DaaoNet,
    loss: LossConfig,
    sdcn: SdcnConfig,
}

/// Stage 2: SDCN + non-local under the frozen VGN (§2.5).
pub struct Sdcn {
    vs: VarStore,
    net: DaaoNet,
    nonlocal: NonLocal,
    vgn: DaaoNet,
    loss: LossConfig,
    sdcn: SdcnConfig,
}

fn check_common(recipe: &Recipe, num_classes: i64) -> Result<(), MethodError> {
    super::bot::check_model_and_loss(&recipe.model, &recipe.loss, num_classes)?;
    recipe.sdcn.check()
}

/// Every stage-1 and stage-2 loss term, unweighted, for the parity tests and the weighted sums below.
pub struct Stage2Terms {
    pub ce_logits_vo: Tensor,
    pub ce_logits_vf: Tensor,
    pub ce_s_gap_full: Tensor,
    pub ce_s_gmp_full: Tensor,
    pub ce_s_sum_full: Tensor,
    pub ce_s_gap_occ: Tensor,
    pub ce_s_gmp_occ: Tensor,
    pub ce_s_sum_occ: Tensor,
    pub tri_gap: Tensor,
    pub tri_gmp: Tensor,
    pub tri_sum: Tensor,
    pub mse_out4: Tensor,
    pub mse_out3: Tensor,
}

/// CE of the three heads and triplets of the full view (both stages' common part).
fn head_terms(out: &DaaoOutputs, targets: &Tensor, loss: &LossConfig) -> [Tensor; 6] {
    let ce = |logits: &Tensor| cross_entropy_label_smooth(logits, targets, loss.label_smoothing);
    let tri = |f: &Tensor| batch_hard_triplet(f, targets, loss.triplet_margin);
    [
        ce(&out.s_gap),
        ce(&out.s_gmp),
        ce(&out.s_sum),
        tri(&out.f_gap),
        tri(&out.f_gmp),
        tri(&out.f_sum),
    ]
}

fn occluded_view<'a>(batch: &'a TrainBatch) -> &'a Tensor {
    batch
        .occluded
        .expect("SDCN/VGN train on paired batches; the engine provides them for TrainView::OccludedPair")
}

impl Vgn {
    /// The network with random weights (ImageNet weights are [`Vgn::build`]'s job).
    pub fn new(recipe: &Recipe, num_classes: i64, device: Device) -> Result<Self, MethodError> {
        check_common(recipe, num_classes)?;
        let vs = VarStore::new(device);
        let net = DaaoNet::new(&(vs.root() / "vgn"), &recipe.model, num_classes);
        Ok(Self {
            vs,
            net,
            loss: recipe.loss.clone(),
            sdcn: recipe.sdcn.clone(),
        })
    }

    pub fn build(recipe: &Recipe, num_classes: i64, device: Device) -> Result<Built, MethodError> {
        let mut m = Self::new(recipe, num_classes, device)?;
        let pretrained = load_imagenet(&mut m.vs, &recipe.model, "vgn.")?;
        Ok(Built {
            method: Box::new(m),
            pretrained,
        })
    }

    /// For float64 parity runs: every tensor converted in place.
    pub fn var_store_mut(&mut self) -> &mut VarStore {
        &mut self.vs
    }

    pub fn net(&self) -> &DaaoNet {
        &self.net
    }

    /// The stage-1 terms: `[ce gap, gmp, sum (full); tri gap, gmp, sum (full); ce gap, gmp, sum (occ)]`.
    pub fn stage1_terms(&self, full: &Tensor, occluded: &Tensor, targets: &Tensor) -> ([Tensor; 9], Tensor) {
        let f = self.net.forward_train(full, None);
        let o = self.net.forward_train(occluded, None);
        let [a, b, c, d, e, g] = head_terms(&f, targets, &self.loss);
        let ce = |logits: &Tensor| cross_entropy_label_smooth(logits, targets, self.loss.label_smoothing);
        let terms = [a, b, c, d, e, g, ce(&o.s_gap), ce(&o.s_gmp), ce(&o.s_sum)];
        (terms, f.s_sum)
    }
}

fn load_imagenet(
    vs: &mut VarStore,
    model: &ModelConfig,
    prefix: &str,
) -> Result<Option<crate::weights::LoadReport>, MethodError> {
    if model.pretrained.is_empty() {
        return Ok(None);
    }
    Ok(Some(load_into(vs, &model.pretrained, "", prefix, false)?))
}

fn paired_view(sdcn: &SdcnConfig) -> TrainView {
    TrainView::OccludedPair {
        shared_augment: !sdcn.as_coded(sdcn.pair_augment),
    }
}

impl Method for Vgn {
    fn name(&self) -> &'static str {
        "vgn"
    }
    fn var_store(&self) -> &VarStore {
        &self.vs
    }
    fn param_groups(&self) -> Vec<ParamGroup> {
        vec![ParamGroup {
            name: "model",
            params: trainable(&self.vs),
            rule: UpdateRule::Main,
        }]
    }
    fn train_view(&self) -> TrainView {
        paired_view(&self.sdcn)
    }
    fn losses(&self, batch: &TrainBatch) -> StepOutput {
        let ([ce_gap, ce_gmp, ce_sum, tri_gap, tri_gmp, tri_sum, o_gap, o_gmp, o_sum], logits) =
            self.stage1_terms(batch.images, occluded_view(batch), batch.targets);
        StepOutput {
            terms: vec![
                ("id_occluded", (o_gap + o_gmp + o_sum) * self.sdcn.occluded_id_weight),
                ("id_full", ce_gap + ce_gmp + ce_sum),
                ("triplet", tri_gap + tri_gmp + tri_sum),
            ],
            logits: Some(logits),
        }
    }
    fn embed(&self, images: &Tensor) -> Tensor {
        self.net.feature(images, None).to_kind(Kind::Float)
    }
}

impl Sdcn {
    /// The networks with random weights (ImageNet weights are [`Sdcn::build`]'s job, the VGN's the
    /// engine's, through [`Method::imports`]).
    pub fn new(recipe: &Recipe, num_classes: i64, device: Device) -> Result<Self, MethodError> {
        check_common(recipe, num_classes)?;
        let vs = VarStore::new(device);
        let root = vs.root();
        let net = DaaoNet::new(&(&root / "sdcn"), &recipe.model, num_classes);
        let nonlocal = NonLocal::new(&(&root / "nonlocal"), recipe.model.backbone.out_channels());
        let vgn = DaaoNet::new(&(&root / "vgn"), &recipe.model, num_classes);
        // The VGN is never updated: no gradient, no optimiser (it still passes gradients to its inputs).
        for (name, t) in vs.variables() {
            if name.starts_with("vgn.") {
                let _ = t.set_requires_grad(false);
            }
        }
        Ok(Self {
            vs,
            net,
            nonlocal,
            vgn,
            loss: recipe.loss.clone(),
            sdcn: recipe.sdcn.clone(),
        })
    }

    pub fn build(recipe: &Recipe, num_classes: i64, device: Device) -> Result<Built, MethodError> {
        let mut m = Self::new(recipe, num_classes, device)?;
        // SDCN starts from ImageNet, not from the VGN (§2.6); the VGN comes from its checkpoint.
        let pretrained = load_imagenet(&mut m.vs, &recipe.model, "sdcn.")?;
        Ok(Built {
            method: Box::new(m),
            pretrained,
        })
    }

    /// For float64 parity runs: every tensor converted in place.
    pub fn var_store_mut(&mut self) -> &mut VarStore {
        &mut self.vs
    }

    /// The SDCN network, its non-local block and the VGN (parity tests).
    pub fn parts(&self) -> (&DaaoNet, &NonLocal, &DaaoNet) {
        (&self.net, &self.nonlocal, &self.vgn)
    }

    /// Every stage-2 term in the authors' call order (§2.5): SDCN(x_o), SDCN(x_f), VGN(x_f) without
    /// gradients, then the non-local block recomputed on both layer4 maps for the verification features.
    /// The running statistics move as in the original: BNNeck 6×, non-local W-BN 4×, VGN classifier 5×
    /// (as coded; never in the intended reading, where the VGN runs in eval mode).
    pub fn stage2_terms(&self, full: &Tensor, occluded: &Tensor, targets: &Tensor) -> (Stage2Terms, Tensor) {
        let vgn_train = self.sdcn.as_coded(self.sdcn.vgn_bn);
        let o = self.net.forward_train(occluded, Some(&self.nonlocal));
        let f = self.net.forward_train(full, Some(&self.nonlocal));
        let (vgn_out3, vgn_out4) = occreid_torch::tch::no_grad(|| {
            if vgn_train {
                let out = self.vgn.forward_train(full, None);
                (out.out3, out.out4)
            } else {
                let mut maps = self.vgn.backbone.stages(full, false);
                let out4 = maps.pop().expect("four stages");
                (maps.pop().expect("four stages"), out4)
            }
        });
        let verify = |out4: &Tensor| {
            let (_, w_y) = self.nonlocal.forward_t(out4, true);
            let v = (w_y + &vgn_out4).adaptive_avg_pool2d([1, 1]).flatten(1, -1);
            self.vgn.classifier.forward_t(&v, vgn_train)
        };
        let logits_vo = verify(&o.out4);
        let logits_vf = verify(&f.out4);
        let ce = |logits: &Tensor| cross_entropy_label_smooth(logits, targets, self.loss.label_smoothing);
        let [ce_s_gap_full, ce_s_gmp_full, ce_s_sum_full, tri_gap, tri_gmp, tri_sum] =
            head_terms(&f, targets, &self.loss);
        let terms = Stage2Terms {
            ce_logits_vo: ce(&logits_vo),
            ce_logits_vf: ce(&logits_vf),
            ce_s_gap_full,
            ce_s_gmp_full,
            ce_s_sum_full,
            ce_s_gap_occ: ce(&o.s_gap),
            ce_s_gmp_occ: ce(&o.s_gmp),
            ce_s_sum_occ: ce(&o.s_sum),
            tri_gap,
            tri_gmp,
            tri_sum,
            mse_out4: o.out4.mse_loss(&vgn_out4, Reduction::Mean),
            mse_out3: o.out3.mse_loss(&vgn_out3, Reduction::Mean),
        };
        (terms, f.s_sum)
    }

    /// The weighted stage-2 loss terms of the configured reading.
    pub fn weighted(&self, t: &Stage2Terms) -> Vec<(&'static str, Tensor)> {
        let c = &self.sdcn;
        let first = if c.as_coded(c.occluded_gap_logits) {
            &t.ce_logits_vo
        } else {
            &t.ce_s_gap_occ
        };
        vec![
            (
                "id_occluded",
                (first + &t.ce_s_gmp_occ + &t.ce_s_sum_occ) * c.occluded_id_weight,
            ),
            ("id_full", &t.ce_s_gap_full + &t.ce_s_gmp_full + &t.ce_s_sum_full),
            ("triplet", &t.tri_gap + &t.tri_gmp + &t.tri_sum),
            ("consistency", (&t.mse_out4 + &t.mse_out3) * c.consistency_weight),
            (
                "verification",
                (&t.ce_logits_vo + &t.ce_logits_vf) * c.verification_weight,
            ),
        ]
    }
}

impl Method for Sdcn {
    fn name(&self) -> &'static str {
        "sdcn"
    }
    fn var_store(&self) -> &VarStore {
        &self.vs
    }
    fn param_groups(&self) -> Vec<ParamGroup> {
        let (nonlocal, sdcn): (Vec<_>, Vec<_>) = trainable(&self.vs)
            .into_iter()
            .partition(|(n, _)| n.starts_with("nonlocal."));
        vec![
            ParamGroup {
                name: "model",
                params: sdcn,
                rule: UpdateRule::Main,
            },
            ParamGroup {
                name: "nonlocal",
                params: nonlocal,
                rule: UpdateRule::OwnLr {
                    base_lr: self.sdcn.nl_lr,
                    scheduled: !self.sdcn.as_coded(self.sdcn.nl_lr_schedule),
                },
            },
        ]
    }
    fn train_view(&self) -> TrainView {
        paired_view(&self.sdcn)
    }
    fn imports(&self) -> Vec<Import> {
        vec![Import {
            what: "VGN",
            prefix: "vgn.",
            method: "vgn",
            path: self.sdcn.vgn.clone(),
            config_key: "sdcn.vgn",
        }]
    }
    fn losses(&self, batch: &TrainBatch) -> StepOutput {
        let (terms, logits) = self.stage2_terms(batch.images, occluded_view(batch), batch.targets);
        StepOutput {
            terms: self.weighted(&terms),
            logits: Some(logits),
        }
    }
    fn embed(&self, images: &Tensor) -> Tensor {
        let nl_train = self.sdcn.as_coded(self.sdcn.nl_test_bn);
        self.net
            .feature(images, Some((&self.nonlocal, nl_train)))
            .to_kind(Kind::Float)
    }
}
