//! Training methods behind one trait. A method owns its network, its loss terms and its test-time
//! embedding; the engine (occreid-train) knows only [`Method`]. Adding a method means one file here, one
//! line in [`build`] and one config preset. A method trained in several stages (SDCN + VGN) is a
//! [`plan`] of single-stage methods, each declaring what it needs from the one before ([`Import`]).
use occreid_torch::tch::nn::VarStore;
use occreid_torch::tch::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::resnet::Depth;
use crate::weights::{LoadReport, WeightsError};

pub mod bot;
pub mod igoas;
pub mod sdcn;

use igoas::IgoasConfig;
use sdcn::SdcnConfig;

/// Registry names of the methods [`build`] knows.
pub const METHOD_NAMES: &[&str] = &["bot", "vgn", "sdcn", "igoas"];

/// Names a config's `method` may take: the methods, and the multi-stage plans of [`plan`].
pub const RECIPE_NAMES: &[&str] = &["bot", "sdcn_vgn", "vgn", "sdcn", "igoas"];

/// What the papers call a recipe (`sdcn_vgn` is "SDCN + VGN"), for the pages and tables people read; any
/// other name as it is.
pub fn paper_name(recipe: &str) -> &str {
    match recipe {
        "bot" => "BoT",
        "sdcn_vgn" => "SDCN + VGN",
        "vgn" => "VGN",
        "sdcn" => "SDCN",
        "igoas" => "IGOAS",
        other => other,
    }
}

/// Everything a method is built from: the network, the losses, and each method's own section.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recipe {
    pub model: ModelConfig,
    pub loss: LossConfig,
    pub sdcn: SdcnConfig,
    pub igoas: IgoasConfig,
}

/// One stage of a training plan: the method it trains, the run sub-folder (empty for a single-stage
/// run), its epoch count when it differs from `train.epochs`, and how its final checkpoint feeds the
/// next stage's recipe.
pub struct Stage {
    pub method: &'static str,
    pub folder: &'static str,
    pub epochs: Option<usize>,
    pub hand_over: Option<fn(&mut Recipe, &str)>,
}

/// The stages `name` trains. `sdcn_vgn` is stage 1 (`vgn`) then stage 2 (`sdcn`), or stage 2 alone when
/// `sdcn.vgn` names a trained VGN.
pub fn plan(name: &str, recipe: &Recipe) -> Result<Vec<Stage>, MethodError> {
    let single = |method| Stage {
        method,
        folder: "",
        epochs: None,
        hand_over: None,
    };
    match name {
        "sdcn_vgn" => {
            let stage2 = Stage {
                method: "sdcn",
                folder: "stage2_sdcn",
                epochs: None,
                hand_over: None,
            };
            if !recipe.sdcn.vgn.is_empty() {
                return Ok(vec![stage2]);
            }
            let stage1 = Stage {
                method: "vgn",
                folder: "stage1_vgn",
                epochs: (recipe.sdcn.vgn_epochs > 0).then_some(recipe.sdcn.vgn_epochs),
                hand_over: Some(|r, ckpt| r.sdcn.vgn = ckpt.to_string()),
            };
            Ok(vec![stage1, stage2])
        }
        "bot" => Ok(vec![single("bot")]),
        "vgn" => Ok(vec![single("vgn")]),
        "sdcn" => Ok(vec![single("sdcn")]),
        "igoas" => Ok(vec![single("igoas")]),
        other => Err(MethodError::Unknown(other.to_string())),
    }
}

/// What a training batch holds besides the images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainView {
    /// The augmented images only.
    Single,
    /// Each image and an occluded copy (a patch of another training image pasted in, spec §2.1), with
    /// one shared flip and colour jitter for the pair or independent ones.
    OccludedPair { shared_augment: bool },
}

/// Tensors a method takes from another run's checkpoint before training (the frozen VGN of SDCN).
#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    /// For messages ("VGN").
    pub what: &'static str,
    /// Every tensor of the method under this prefix comes from the checkpoint, under the same name.
    pub prefix: &'static str,
    /// The method that must have written the checkpoint.
    pub method: &'static str,
    /// The checkpoint (empty = not given).
    pub path: String,
    /// The config key that sets `path`, for messages.
    pub config_key: &'static str,
}

/// The network part of a recipe (`[model]` in a config); keys left out take BoT's values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    pub backbone: Depth,
    /// Stride of layer4's first block (BoT: 1, torchvision: 2).
    pub last_stride: i64,
    /// ReLU after the stem BN (torchvision: true; BoT's backbone omits it).
    pub stem_relu: bool,
    /// BNNeck between the pooled feature and the classifier.
    pub bnneck: bool,
    /// Test feature: after the BNNeck (`true`, BoT's `NECK_FEAT='after'`) or the pooled one before it.
    pub feature_after_neck: bool,
    /// ImageNet weights (torchvision state dict, `.pth` or `.safetensors`); empty = random init.
    pub pretrained: String,
}

/// Loss weights and their hyper-parameters (`[loss]` in a config); keys left out take BoT's values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LossConfig {
    /// Label-smoothing epsilon of the identity loss (0 = plain cross entropy).
    pub label_smoothing: f64,
    /// Batch-hard triplet margin; weight 0 disables the term.
    pub triplet_margin: f64,
    pub triplet_weight: f64,
    /// Center-loss weight (0 = no center loss) and the learning rate of the centres' own SGD.
    pub center_weight: f64,
    pub center_lr: f64,
}

impl Default for ModelConfig {
    /// BoT (spec §1.1): ResNet-50, last stride 1, no stem ReLU, BNNeck, feature after the neck.
    fn default() -> Self {
        Self {
            backbone: Depth::R50,
            last_stride: 1,
            stem_relu: false,
            bnneck: true,
            feature_after_neck: true,
            pretrained: String::new(),
        }
    }
}

impl Default for LossConfig {
    /// BoT's `softmax_triplet_with_center.yml` (spec §1.1).
    fn default() -> Self {
        Self {
            label_smoothing: 0.1,
            triplet_margin: 0.3,
            triplet_weight: 1.0,
            center_weight: 0.0005,
            center_lr: 0.5,
        }
    }
}

/// One training batch on the model's device.
pub struct TrainBatch<'a> {
    /// `[B, 3, H, W]`, normalised.
    pub images: &'a Tensor,
    /// Train identity labels `0..num_classes`, int64 `[B]`.
    pub targets: &'a Tensor,
    /// The occluded copies of `images`, for methods with [`TrainView::OccludedPair`].
    pub occluded: Option<&'a Tensor>,
    /// 1-based epoch being trained.
    pub epoch: usize,
}

/// What one forward pass returns: named loss terms (already weighted; the engine sums and logs them)
/// and the identity logits for the accuracy display.
pub struct StepOutput {
    pub terms: Vec<(&'static str, Tensor)>,
    pub logits: Option<Tensor>,
}

/// How a group of parameters is updated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UpdateRule {
    /// The run's optimiser and learning-rate schedule.
    Main,
    /// Plain SGD with a fixed learning rate, gradients multiplied by `grad_scale` first (BoT's centres:
    /// lr 0.5, grads × 1/center_weight so the update ignores the loss weight).
    FixedSgd { lr: f64, grad_scale: f64 },
    /// The run's optimiser (its own moments, weight decay) with base learning rate `base_lr`: on the run's
    /// schedule when `scheduled`, else fixed at the schedule's starting value `base_lr × warmup_factor`
    /// (DAAO's non-local block, whose scheduler the authors never step).
    OwnLr { base_lr: f64, scheduled: bool },
}

pub struct ParamGroup {
    pub name: &'static str,
    /// Trainable tensors with their checkpoint names.
    pub params: Vec<(String, Tensor)>,
    pub rule: UpdateRule,
}

pub trait Method {
    fn name(&self) -> &'static str;
    /// Every tensor of the method (parameters and buffers), saved and restored by name.
    fn var_store(&self) -> &VarStore;
    fn param_groups(&self) -> Vec<ParamGroup>;
    /// What each training batch must hold.
    fn train_view(&self) -> TrainView {
        TrainView::Single
    }
    /// Tensors to copy from other checkpoints before a fresh run starts.
    fn imports(&self) -> Vec<Import> {
        Vec::new()
    }
    /// State besides tensors that a resumed run needs (e.g. a random stream the method draws from).
    fn state(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
    fn restore_state(&self, _state: &serde_json::Value) -> Result<(), String> {
        Ok(())
    }
    /// Forward pass in training mode with the loss terms of `batch`.
    fn losses(&self, batch: &TrainBatch) -> StepOutput;
    /// Test-time feature of normalised images `[B, 3, H, W]` (eval mode; the caller disables grads).
    fn embed(&self, images: &Tensor) -> Tensor;
}

#[derive(Debug, thiserror::Error)]
pub enum MethodError {
    #[error("unknown method '{0}': expected one of {list}", list = METHOD_NAMES.join(", "))]
    Unknown(String),
    #[error("{what} = {value} is invalid: {expected}")]
    Bad {
        what: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("'{0}' trains in stages; build one of its stages (see methods::plan)")]
    Plan(String),
    #[error(transparent)]
    Weights(#[from] WeightsError),
}

/// A built method and, when ImageNet weights were given, what loading them did.
pub struct Built {
    pub method: Box<dyn Method>,
    pub pretrained: Option<LoadReport>,
}

/// The trainable tensors of `vs` by name, sorted (the order optimiser state is saved in).
pub(crate) fn trainable(vs: &VarStore) -> Vec<(String, Tensor)> {
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

/// Builds method `name` for `num_classes` training identities on `device`.
pub fn build(name: &str, recipe: &Recipe, num_classes: i64, device: Device) -> Result<Built, MethodError> {
    match name {
        "bot" => bot::Bot::build(&recipe.model, &recipe.loss, num_classes, device),
        "vgn" => sdcn::Vgn::build(recipe, num_classes, device),
        "sdcn" => sdcn::Sdcn::build(recipe, num_classes, device),
        "igoas" => igoas::Igoas::build(recipe, num_classes, device),
        "sdcn_vgn" => Err(MethodError::Plan(name.to_string())),
        other => Err(MethodError::Unknown(other.to_string())),
    }
}
