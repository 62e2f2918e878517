//! Bag of Tricks strong baseline (Luo et al., CVPRW 2019; spec §1): ResNet (last stride 1, no stem ReLU)
//! → GAP → BNNeck → bias-free classifier; CE with label smoothing on the logits, batch-hard triplet and
//! center loss on the pooled feature; test feature = BNNeck output.
//!
//! Tensor names follow BoT's `Baseline` module (`base.*`, `bottleneck.*`, `classifier.weight`), so a
//! reid-strong-baseline checkpoint loads by name; the centres are `center_loss.centers`.
use occreid_torch::tch::nn::{self, ModuleT, VarStore};
use occreid_torch::tch::{Device, Kind, Tensor};

use super::{Built, LossConfig, Method, MethodError, ModelConfig, ParamGroup, StepOutput, TrainBatch, UpdateRule};
use crate::layers::{classifier, BnNeck};
use crate::losses::{batch_hard_triplet, center_loss, cross_entropy_label_smooth};
use crate::resnet::{ResNet, ResNetConfig};
use crate::weights::load_into;

pub struct Bot {
    vs: VarStore,
    backbone: ResNet,
    neck: Option<BnNeck>,
    classifier: nn::Linear,
    centers: Option<Tensor>,
    model: ModelConfig,
    loss: LossConfig,
}

/// The checks every ResNet + CE/triplet method shares.
pub(crate) fn check_model_and_loss(
    model: &ModelConfig,
    loss: &LossConfig,
    num_classes: i64,
) -> Result<(), MethodError> {
    if !(model.last_stride == 1 || model.last_stride == 2) {
        return Err(MethodError::Bad {
            what: "model.last_stride",
            value: model.last_stride.to_string(),
            expected: "1 or 2",
        });
    }
    if num_classes < 2 {
        return Err(MethodError::Bad {
            what: "number of training identities",
            value: num_classes.to_string(),
            expected: "at least 2",
        });
    }
    if !(0.0..1.0).contains(&loss.label_smoothing) {
        return Err(MethodError::Bad {
            what: "loss.label_smoothing",
            value: loss.label_smoothing.to_string(),
            expected: "in [0, 1)",
        });
    }
    if loss.center_weight < 0.0 || loss.triplet_weight < 0.0 {
        return Err(MethodError::Bad {
            what: "loss weights",
            value: format!("triplet {} center {}", loss.triplet_weight, loss.center_weight),
            expected: "non-negative",
        });
    }
    Ok(())
}

/// Prefix of the centres in the var store; they form their own parameter group.
const CENTERS: &str = "center_loss";

impl Bot {
    pub fn build(
        model: &ModelConfig,
        loss: &LossConfig,
        num_classes: i64,
        device: Device,
    ) -> Result<Built, MethodError> {
        check_model_and_loss(model, loss, num_classes)?;
        let mut vs = VarStore::new(device);
        let root = vs.root();
        let backbone = ResNet::new(
            &(&root / "base"),
            ResNetConfig {
                depth: model.backbone,
                last_stride: model.last_stride,
                stem_relu: model.stem_relu,
            },
        );
        let dim = model.backbone.out_channels();
        let neck = model.bnneck.then(|| BnNeck::new(&(&root / "bottleneck"), dim));
        let classifier = classifier(&(&root / "classifier"), dim, num_classes, 0.001);
        let centers = (loss.center_weight > 0.0).then(|| {
            (&root / CENTERS).var(
                "centers",
                &[num_classes, dim],
                nn::Init::Randn { mean: 0.0, stdev: 1.0 },
            )
        });
        let pretrained = if model.pretrained.is_empty() {
            None
        } else {
            Some(load_into(&mut vs, &model.pretrained, "", "base.", false)?)
        };
        Ok(Built {
            method: Box::new(Bot {
                vs,
                backbone,
                neck,
                classifier,
                centers,
                model: model.clone(),
                loss: loss.clone(),
            }),
            pretrained,
        })
    }

    /// Pooled (pre-BN) feature and the neck output.
    fn features(&self, images: &Tensor, train: bool) -> (Tensor, Tensor) {
        let global = self
            .backbone
            .forward_t(images, train)
            .adaptive_avg_pool2d([1, 1])
            .flatten(1, -1);
        let feat = match &self.neck {
            Some(neck) => neck.forward_t(&global, train),
            None => global.shallow_clone(),
        };
        (global, feat)
    }
}

impl Method for Bot {
    fn name(&self) -> &'static str {
        "bot"
    }

    fn var_store(&self) -> &VarStore {
        &self.vs
    }

    fn param_groups(&self) -> Vec<ParamGroup> {
        let mut model = Vec::new();
        let mut centers = Vec::new();
        for (name, t) in super::trainable(&self.vs) {
            if name.starts_with(CENTERS) {
                centers.push((name, t));
            } else {
                model.push((name, t));
            }
        }
        let mut groups = vec![ParamGroup {
            name: "model",
            params: model,
            rule: UpdateRule::Main,
        }];
        if !centers.is_empty() {
            groups.push(ParamGroup {
                name: "centers",
                params: centers,
                rule: UpdateRule::FixedSgd {
                    lr: self.loss.center_lr,
                    grad_scale: 1.0 / self.loss.center_weight,
                },
            });
        }
        groups
    }

    fn losses(&self, batch: &TrainBatch) -> StepOutput {
        let (global, feat) = self.features(batch.images, true);
        let logits = feat.apply(&self.classifier);
        let mut terms = vec![(
            "id",
            cross_entropy_label_smooth(&logits, batch.targets, self.loss.label_smoothing),
        )];
        if self.loss.triplet_weight > 0.0 {
            let t = batch_hard_triplet(&global, batch.targets, self.loss.triplet_margin);
            terms.push(("triplet", t * self.loss.triplet_weight));
        }
        if let Some(c) = &self.centers {
            terms.push((
                "center",
                center_loss(&global, batch.targets, c) * self.loss.center_weight,
            ));
        }
        StepOutput {
            terms,
            logits: Some(logits),
        }
    }

    fn embed(&self, images: &Tensor) -> Tensor {
        let (global, feat) = self.features(images, false);
        let out = if self.model.feature_after_neck { feat } else { global };
        out.to_kind(Kind::Float)
    }
}
