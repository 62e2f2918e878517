//! Training methods behind one trait. A method owns its network, its loss terms and its test-time
//! embedding; the engine (occreid-train) knows only [`Method`]. Adding a method means one file here, one
//! line in [`build`] and one config preset.
use occreid_torch::tch::nn::VarStore;
use occreid_torch::tch::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::resnet::Depth;
use crate::weights::{LoadReport, WeightsError};

pub mod bot;

/// Registry names of the methods [`build`] knows.
pub const METHOD_NAMES: &[&str] = &["bot"];

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
    #[error(transparent)]
    Weights(#[from] WeightsError),
}

/// A built method and, when ImageNet weights were given, what loading them did.
pub struct Built {
    pub method: Box<dyn Method>,
    pub pretrained: Option<LoadReport>,
}

/// Builds method `name` for `num_classes` training identities on `device`.
pub fn build(
    name: &str,
    model: &ModelConfig,
    loss: &LossConfig,
    num_classes: i64,
    device: Device,
) -> Result<Built, MethodError> {
    match name {
        "bot" => bot::Bot::build(model, loss, num_classes, device),
        other => Err(MethodError::Unknown(other.to_string())),
    }
}
