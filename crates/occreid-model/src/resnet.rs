//! torchvision-layout ResNets. Parameter names equal torchvision's state-dict keys (`conv1.weight`,
//! `layer3.2.bn2.running_var`, `layer1.0.downsample.0.weight`, …) so ImageNet checkpoints load by name.
use occreid_torch::tch::nn::{self, ModuleT};
use occreid_torch::tch::Tensor;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Depth {
    #[serde(rename = "resnet18")]
    R18,
    #[serde(rename = "resnet34")]
    R34,
    #[serde(rename = "resnet50")]
    R50,
    #[serde(rename = "resnet101")]
    R101,
}

impl Depth {
    fn blocks(self) -> [i64; 4] {
        match self {
            Depth::R18 => [2, 2, 2, 2],
            Depth::R34 | Depth::R50 => [3, 4, 6, 3],
            Depth::R101 => [3, 4, 23, 3],
        }
    }
    pub fn bottleneck(self) -> bool {
        matches!(self, Depth::R50 | Depth::R101)
    }
    /// Output channels of layer `index` (1..=4): 64/128/256/512 × 4 for bottlenecks.
    pub fn channels(self, index: usize) -> i64 {
        let planes = 64 << (index - 1);
        if self.bottleneck() {
            planes * 4
        } else {
            planes
        }
    }
    /// Channels of the final feature map (512 for basic blocks, 2048 for bottlenecks).
    pub fn out_channels(self) -> i64 {
        if self.bottleneck() {
            2048
        } else {
            512
        }
    }
}

impl std::str::FromStr for Depth {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "resnet18" => Ok(Self::R18),
            "resnet34" => Ok(Self::R34),
            "resnet50" => Ok(Self::R50),
            "resnet101" => Ok(Self::R101),
            _ => Err(format!(
                "unknown backbone '{s}': expected resnet18, resnet34, resnet50 or resnet101"
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ResNetConfig {
    pub depth: Depth,
    /// Stride of layer4's first block: 2 in torchvision, 1 in BoT ("last stride") for a 16×8 map.
    pub last_stride: i64,
    /// torchvision applies ReLU after the stem BN; BoT's backbone omits it (`conv1 → bn1 → maxpool`).
    pub stem_relu: bool,
}

impl ResNetConfig {
    /// BoT's backbone: last stride 1, no stem ReLU.
    pub fn bot(depth: Depth) -> Self {
        Self {
            depth,
            last_stride: 1,
            stem_relu: false,
        }
    }
    pub fn torchvision(depth: Depth) -> Self {
        Self {
            depth,
            last_stride: 2,
            stem_relu: true,
        }
    }
}

/// torchvision's ResNet init (`kaiming_normal_(mode="fan_out", nonlinearity="relu")`), which BoT's
/// `random_init` also uses; it matters when training from scratch (no ImageNet file).
const TORCHVISION_CONV_INIT: nn::Init = nn::Init::Kaiming {
    dist: nn::init::NormalOrUniform::Normal,
    fan: nn::init::FanInOut::FanOut,
    non_linearity: nn::init::NonLinearity::ReLU,
};

fn conv(p: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64) -> nn::Conv2D {
    let cfg = nn::ConvConfig {
        stride,
        padding: k / 2,
        bias: false,
        ws_init: TORCHVISION_CONV_INIT,
        ..Default::default()
    };
    nn::conv2d(p, c_in, c_out, k, cfg)
}

/// torchvision's BatchNorm2d init: weight 1, bias 0. (tch's default draws the weight from U(0, 1), which
/// starts every residual branch at a random, roughly halved scale and cost R1 when training from scratch.)
fn bn(p: nn::Path, c: i64) -> nn::BatchNorm {
    let cfg = nn::BatchNormConfig {
        ws_init: nn::Init::Const(1.0),
        bs_init: nn::Init::Const(0.0),
        ..Default::default()
    };
    nn::batch_norm2d(p, c, cfg)
}

/// How a batch norm runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BnMode {
    /// Batch statistics, running statistics updated (momentum 0.1).
    Train,
    /// Batch statistics, running statistics untouched: the replicas after the first under
    /// `nn.DataParallel`, whose updates are discarded.
    TrainFrozenStats,
    /// Running statistics.
    Eval,
}

impl BnMode {
    pub fn train(train: bool) -> Self {
        if train {
            BnMode::Train
        } else {
            BnMode::Eval
        }
    }
}

/// `bn` applied to `x` in `mode` (eps 1e-5, momentum 0.1 as tch's and PyTorch's defaults).
pub fn batch_norm(bn: &nn::BatchNorm, x: &Tensor, mode: BnMode) -> Tensor {
    match mode {
        BnMode::Train => x.apply_t(bn, true),
        BnMode::Eval => x.apply_t(bn, false),
        BnMode::TrainFrozenStats => Tensor::batch_norm(
            x,
            bn.ws.as_ref(),
            bn.bs.as_ref(),
            None::<&Tensor>,
            None::<&Tensor>,
            true,
            0.1,
            1e-5,
            false,
        ),
    }
}

/// One residual block (torchvision `BasicBlock` / `Bottleneck`, v1.5: the 3×3 convolution strides).
#[derive(Debug)]
pub struct Block {
    convs: Vec<nn::Conv2D>,
    bns: Vec<nn::BatchNorm>,
    downsample: Option<(nn::Conv2D, nn::BatchNorm)>,
}

impl Block {
    /// Convolutions initialised as torchvision's ResNet does (kaiming-normal fan-out).
    pub fn new(p: &nn::Path, c_in: i64, planes: i64, stride: i64, bottleneck: bool) -> Self {
        let expansion = if bottleneck { 4 } else { 1 };
        let c_out = planes * expansion;
        let (convs, bns) = if bottleneck {
            (
                vec![
                    conv(p / "conv1", c_in, planes, 1, 1),
                    // torchvision (v1.5) strides the 3×3 convolution.
                    conv(p / "conv2", planes, planes, 3, stride),
                    conv(p / "conv3", planes, c_out, 1, 1),
                ],
                vec![bn(p / "bn1", planes), bn(p / "bn2", planes), bn(p / "bn3", c_out)],
            )
        } else {
            (
                vec![
                    conv(p / "conv1", c_in, planes, 3, stride),
                    conv(p / "conv2", planes, planes, 3, 1),
                ],
                vec![bn(p / "bn1", planes), bn(p / "bn2", planes)],
            )
        };
        let downsample = (stride != 1 || c_in != c_out).then(|| {
            let d = p / "downsample";
            (conv(&d / "0", c_in, c_out, 1, stride), bn(&d / "1", c_out))
        });
        Self { convs, bns, downsample }
    }

    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.forward_mode(x, BnMode::train(train))
    }

    pub fn forward_mode(&self, x: &Tensor, mode: BnMode) -> Tensor {
        let mut y = x.shallow_clone();
        let last = self.convs.len() - 1;
        for (k, (c, b)) in self.convs.iter().zip(&self.bns).enumerate() {
            y = batch_norm(b, &y.apply(c), mode);
            if k < last {
                y = y.relu();
            }
        }
        let identity = match &self.downsample {
            Some((c, b)) => batch_norm(b, &x.apply(c), mode),
            None => x.shallow_clone(),
        };
        (y + identity).relu()
    }
}

/// One residual stage on its own (torchvision `layer{index}`, index 1..=4) with the given first stride,
/// for networks that use the stages separately (IGOAS's shared trunk and two layer4 copies).
#[derive(Debug)]
pub struct ResLayer {
    blocks: Vec<Block>,
}

impl ResLayer {
    pub fn new(p: &nn::Path, depth: Depth, index: usize, stride: i64) -> Self {
        let c_in = if index == 1 { 64 } else { depth.channels(index - 1) };
        let planes = 64 << (index - 1);
        let n = depth.blocks()[index - 1];
        let blocks = (0..n)
            .map(|b| {
                let c = if b == 0 { c_in } else { depth.channels(index) };
                Block::new(&(p / b), c, planes, if b == 0 { stride } else { 1 }, depth.bottleneck())
            })
            .collect();
        Self { blocks }
    }

    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.forward_mode(x, BnMode::train(train))
    }

    pub fn forward_mode(&self, x: &Tensor, mode: BnMode) -> Tensor {
        self.blocks
            .iter()
            .fold(x.shallow_clone(), |y, b| b.forward_mode(&y, mode))
    }
}

/// torchvision's stem convolution (7×7, stride 2) and BatchNorm, initialised as in [`ResNet`].
pub fn stem(p_conv: nn::Path, p_bn: nn::Path) -> (nn::Conv2D, nn::BatchNorm) {
    let conv1 = nn::conv2d(
        p_conv,
        3,
        64,
        7,
        nn::ConvConfig {
            stride: 2,
            padding: 3,
            bias: false,
            ws_init: TORCHVISION_CONV_INIT,
            ..Default::default()
        },
    );
    (conv1, bn(p_bn, 64))
}

/// A ResNet trunk without the classifier (`fc`): image batch [B, 3, H, W] → feature map [B, C, h, w].
#[derive(Debug)]
pub struct ResNet {
    config: ResNetConfig,
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    layers: Vec<ResLayer>,
}

impl ResNet {
    pub fn new(p: &nn::Path, config: ResNetConfig) -> Self {
        let (conv1, bn1) = stem(p / "conv1", p / "bn1");
        let layers = (1..=4)
            .map(|i| {
                let stride = match i {
                    1 => 1,
                    4 => config.last_stride,
                    _ => 2,
                };
                ResLayer::new(&(p / format!("layer{i}")), config.depth, i, stride)
            })
            .collect();
        Self {
            config,
            conv1,
            bn1,
            layers,
        }
    }

    pub fn config(&self) -> ResNetConfig {
        self.config
    }
}

impl ResNet {
    /// The outputs of layer1..layer4 (SDCN's consistency losses compare the layer3 and layer4 maps).
    pub fn stages(&self, x: &Tensor, train: bool) -> Vec<Tensor> {
        let mut y = x.apply(&self.conv1).apply_t(&self.bn1, train);
        if self.config.stem_relu {
            y = y.relu();
        }
        y = y.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        let mut out = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            y = layer.forward_t(&y, train);
            out.push(y.shallow_clone());
        }
        out
    }
}

impl ModuleT for ResNet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.stages(x, train).pop().expect("a ResNet has four layers")
    }
}
