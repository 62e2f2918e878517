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
