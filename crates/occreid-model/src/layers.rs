//! Small layers shared by the methods.
use occreid_torch::tch::nn::{self, Init};
use occreid_torch::tch::Tensor;

/// BoT's BNNeck: `BatchNorm1d(dim)` whose bias is fixed at zero (not trained), weight initialised to 1.
#[derive(Debug)]
pub struct BnNeck {
    weight: Tensor,
    bias: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
}

impl BnNeck {
    /// Parameters `weight`, `bias` (frozen), `running_mean`, `running_var` under `p`, as PyTorch names them.
    pub fn new(p: &nn::Path, dim: i64) -> Self {
        Self {
            weight: p.var("weight", &[dim], Init::Const(1.0)),
            bias: p.zeros_no_train("bias", &[dim]),
            running_mean: p.zeros_no_train("running_mean", &[dim]),
            running_var: p.ones_no_train("running_var", &[dim]),
        }
    }

    /// Batch statistics (and a momentum-0.1 running update) in training, running statistics otherwise.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        Tensor::batch_norm(
            x,
            Some(&self.weight),
            Some(&self.bias),
            Some(&self.running_mean),
            Some(&self.running_var),
            train,
            0.1,
            1e-5,
            false,
        )
    }
}

/// `Linear(dim, classes, bias=False)` with weights ~ N(0, std), BoT's classifier (std = 0.001).
pub fn classifier(p: &nn::Path, dim: i64, classes: i64, std: f64) -> nn::Linear {
    nn::linear(
        p,
        dim,
        classes,
        nn::LinearConfig {
            ws_init: Init::Randn { mean: 0.0, stdev: std },
            bs_init: None,
            bias: false,
        },
    )
}

/// PyTorch's default `Conv2d` / `Linear` initialisation: weight and bias ~ U(±1/√fan_in).
pub fn torch_default_conv(p: &nn::Path, c_in: i64, c_out: i64) -> nn::Conv2D {
    let bound = 1.0 / (c_in as f64).sqrt();
    let uniform = Init::Uniform { lo: -bound, up: bound };
    nn::conv2d(
        p,
        c_in,
        c_out,
        1,
        nn::ConvConfig {
            ws_init: uniform,
            bs_init: uniform,
            ..Default::default()
        },
    )
}

/// The non-local block of DAAO's SDCN ("SAT"; `_NonLocalBlockND(C, dimension=2)`, spec §2.3): θ, φ, g are
/// 1×1 convolutions to C/2 channels, φ and g max-pooled 2×2; attention = softmax(θᵀφ) over the key
/// positions, *unscaled* (no 1/√d; spec §3.11 item 5); `W_y` = BN(conv(attention · g)) with the BN's
/// weight and bias initialised to 0, so the block starts as the identity. Tensor names are the authors'
/// (`g.0`, `theta`, `phi.0`, `W.0`, `W.1`) so their state dicts load by name.
#[derive(Debug)]
pub struct NonLocal {
    theta: nn::Conv2D,
    phi: nn::Conv2D,
    g: nn::Conv2D,
    w_conv: nn::Conv2D,
    w_bn: nn::BatchNorm,
    inter: i64,
}

impl NonLocal {
    pub fn new(p: &nn::Path, channels: i64) -> Self {
        let inter = (channels / 2).max(1);
        let w_bn = nn::batch_norm2d(
            p / "W" / "1",
            channels,
            nn::BatchNormConfig {
                ws_init: Init::Const(0.0),
                bs_init: Init::Const(0.0),
                ..Default::default()
            },
        );
        Self {
            theta: torch_default_conv(&(p / "theta"), channels, inter),
            phi: torch_default_conv(&(p / "phi" / "0"), channels, inter),
            g: torch_default_conv(&(p / "g" / "0"), channels, inter),
            w_conv: torch_default_conv(&(p / "W" / "0"), inter, channels),
            w_bn,
            inter,
        }
    }

    /// `(z, W_y)` with `z = x + W_y`. In training the W-BN uses batch statistics and moves its running ones.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> (Tensor, Tensor) {
        // No size is read for the batch axis: a traced embedding (`occreid export`) would bake it in.
        let (h, w) = (x.size()[2], x.size()[3]);
        let pool = |t: Tensor| t.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false);
        let g = pool(x.apply(&self.g)).flatten(2, -1).permute([0, 2, 1]);
        let theta = x.apply(&self.theta).flatten(2, -1).permute([0, 2, 1]);
        let phi = pool(x.apply(&self.phi)).flatten(2, -1);
        // Softmax in float32 (float64 stays float64) also under fp16 autocast, as PyTorch's `F.softmax` is
        // there: the scores are not scaled by 1/sqrt(d), and in float16 they would overflow first.
        let attention = theta.matmul(&phi).softmax(-1, crate::losses::accumulation_kind(&theta));
        let y = attention
            .matmul(&g)
            .permute([0, 2, 1])
            .contiguous()
            .view([-1, self.inter, h, w]);
        let w_y = y.apply(&self.w_conv).apply_t(&self.w_bn, train);
        (&w_y + x, w_y)
    }
}

/// CBAM as IGOAS codes it (`bfe.py: CBAM_Module(C, reduction)`): channel attention (average- and
/// max-pooled vectors through one shared 1×1 MLP C → C/r → C with biases and ReLU, summed, sigmoid)
/// multiplied in, then spatial attention (channel mean and max stacked, 3×3 conv 2 → 1 with bias,
/// sigmoid) multiplied in. Names are the authors' (`fc1`, `fc2`, `conv_after_concat`).
#[derive(Debug)]
pub struct Cbam {
    fc1: nn::Conv2D,
    fc2: nn::Conv2D,
    spatial: nn::Conv2D,
}

impl Cbam {
    pub fn new(p: &nn::Path, channels: i64, reduction: i64) -> Self {
        let hidden = (channels / reduction).max(1);
        let bound = 1.0 / 18f64.sqrt(); // fan-in 2·3·3
        let uniform = Init::Uniform { lo: -bound, up: bound };
        Self {
            fc1: torch_default_conv(&(p / "fc1"), channels, hidden),
            fc2: torch_default_conv(&(p / "fc2"), hidden, channels),
            spatial: nn::conv2d(
                p / "conv_after_concat",
                2,
                1,
                3,
                nn::ConvConfig {
                    padding: 1,
                    ws_init: uniform,
                    bs_init: uniform,
                    ..Default::default()
                },
            ),
        }
    }

    /// `(y, channel attention [B,C,1,1], spatial attention [B,1,H,W])`.
    pub fn forward_parts(&self, x: &Tensor) -> (Tensor, Tensor, Tensor) {
        let mlp = |v: Tensor| v.apply(&self.fc1).relu().apply(&self.fc2);
        let channel = (mlp(x.adaptive_avg_pool2d([1, 1])) + mlp(x.adaptive_max_pool2d([1, 1]).0)).sigmoid();
        let x = x * &channel;
        let mean = x.mean_dim(1, true, x.kind());
        let max = x.max_dim(1, true).0;
        let spatial = Tensor::cat(&[mean, max], 1).apply(&self.spatial).sigmoid();
        (&x * &spatial, channel, spatial)
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.forward_parts(x).0
    }
}
