//! Re-ID losses with the exact forms of reid-strong-baseline (`layers/triplet_loss.py`,
//! `layers/center_loss.py`).
use occreid_torch::amp::full_precision;
use occreid_torch::tch::nn::{self, Init};
use occreid_torch::tch::{Kind, Reduction, Tensor};

/// Cross entropy against label-smoothed targets `(1 - eps) * onehot + eps / classes`, summed over
/// classes and averaged over the batch (BoT `CrossEntropyLabelSmooth`).
///
/// The smoothed target is built in float32 whatever the logits' precision, as both reference codebases do
/// (`torch.zeros(...)`): in a float64 run its weights are the float32 numbers (0.91249996… for ε 0.1 and
/// 8 classes), not the exact ones (spec §3.11 item 4).
pub fn cross_entropy_label_smooth(logits: &Tensor, targets: &Tensor, eps: f64) -> Tensor {
    let kind = accumulation_kind(logits);
    let classes = logits.size()[1];
    let log_probs = logits.log_softmax(1, kind);
    let onehot =
        Tensor::zeros(log_probs.size(), (Kind::Float, logits.device())).scatter_value(1, &targets.unsqueeze(1), 1.0);
    let smoothed = (onehot * (1.0 - eps) + eps / classes as f64).to_kind(kind);
    (-smoothed * log_probs).mean_dim(0, false, kind).sum(kind)
}

/// float64 for float64 inputs (the parity tests' precision), float32 otherwise (fp16 autocast included).
pub(crate) fn accumulation_kind(t: &Tensor) -> Kind {
    if t.kind() == Kind::Double {
        Kind::Double
    } else {
        Kind::Float
    }
}

/// Pairwise Euclidean distances `sqrt(clamp(|a|^2 + |b|^2 - 2 a.b, 1e-12))` (BoT `euclidean_dist`).
///
/// Evaluated as BoT does, `addmm(|a|^2 + |b|^2, a, b^T, beta=1, alpha=-2)` (scaling `a` by -2 is exact):
/// near-identical features make the sum cancel, and a different rounding order there changes small
/// distances, and through them the mining and the gradients, by far more than one ulp.
///
/// In float32 (float64 stays float64) with fp16 autocast switched off: under autocast `addmm` runs in
/// float16, where the sum cancels at a resolution of ~0.5 and the 1e-12 clamp is 0, so the square root's
/// gradient at the zero diagonal is infinite and 0 x inf makes every gradient NaN. On an H200, BoT with
/// `train.amp = true` skipped every update that way and stayed at chance (R1 7.8 vs 91.0 in float32).
pub fn euclidean_dist(a: &Tensor, b: &Tensor) -> Tensor {
    let kind = accumulation_kind(a);
    full_precision(|| euclidean_dist_in(&a.to_kind(kind), &b.to_kind(kind), kind))
}

fn euclidean_dist_in(a: &Tensor, b: &Tensor, kind: Kind) -> Tensor {
    let (m, n) = (a.size()[0], b.size()[0]);
    let aa = a
        .pow_tensor_scalar(2)
        .sum_dim_intlist(1, true, kind)
        .expand([m, n], false);
    let bb = b
        .pow_tensor_scalar(2)
        .sum_dim_intlist(1, true, kind)
        .expand([n, m], false)
        .transpose(0, 1);
    (aa + bb).addmm(&(a * -2.0), &b.transpose(0, 1)).clamp_min(1e-12).sqrt()
}

/// Batch-hard triplet loss: for each anchor the farthest positive (itself included) and the nearest
/// negative, `mean(max(0, d_ap - d_an + margin))` (`MarginRankingLoss(d_an, d_ap, y = 1)`).
pub fn batch_hard_triplet(features: &Tensor, targets: &Tensor, margin: f64) -> Tensor {
    let dist = euclidean_dist(features, features);
    let n = targets.size()[0];
    let same = targets
        .unsqueeze(1)
        .expand([n, n], false)
        .eq_tensor(&targets.unsqueeze(0).expand([n, n], false));
    // max_dim / min_dim route the gradient to one element, as torch.max(dim) in BoT does.
    let d_ap = dist
        .where_self(&same, &Tensor::full_like(&dist, f64::NEG_INFINITY))
        .max_dim(1, false)
        .0;
    let d_an = dist
        .where_self(&same.logical_not(), &Tensor::full_like(&dist, f64::INFINITY))
        .min_dim(1, false)
        .0;
    let y = Tensor::ones_like(&d_an);
    Tensor::margin_ranking_loss(&d_an, &d_ap, &y, margin, Reduction::Mean)
}

/// Center loss `sum_i |f_i - c_{y_i}|^2 / B` with BoT's clamp of every distance entry to
/// [1e-12, 1e12] (masked entries included). Centres ~ N(0, 1), in their own parameter (`centers`).
#[derive(Debug)]
pub struct CenterLoss {
    pub centers: Tensor,
}

impl CenterLoss {
    pub fn new(p: &nn::Path, classes: i64, dim: i64) -> Self {
        Self {
            centers: p.var("centers", &[classes, dim], Init::Randn { mean: 0.0, stdev: 1.0 }),
        }
    }

    pub fn forward(&self, features: &Tensor, targets: &Tensor) -> Tensor {
        center_loss(features, targets, &self.centers)
    }
}

pub fn center_loss(features: &Tensor, targets: &Tensor, centers: &Tensor) -> Tensor {
    // In float32 outside autocast, for the reason given at `euclidean_dist` (cancellation in addmm).
    let kind = accumulation_kind(features);
    full_precision(|| center_loss_in(&features.to_kind(kind), targets, &centers.to_kind(kind), kind))
}

fn center_loss_in(features: &Tensor, targets: &Tensor, centers: &Tensor, kind: Kind) -> Tensor {
    let b = features.size()[0];
    let classes = centers.size()[0];
    let ff = features
        .pow_tensor_scalar(2)
        .sum_dim_intlist(1, true, kind)
        .expand([b, classes], false);
    let cc = centers
        .pow_tensor_scalar(2)
        .sum_dim_intlist(1, true, kind)
        .expand([classes, b], false)
        .transpose(0, 1);
    // BoT's `addmm(distmat, x, centers.t(), beta=1, alpha=-2)`, as in `euclidean_dist`.
    let distmat = (ff + cc).addmm(&(features * -2.0), &centers.transpose(0, 1));
    let class_ids = Tensor::arange(classes, (Kind::Int64, features.device()));
    let mask = targets.unsqueeze(1).eq_tensor(&class_ids.unsqueeze(0)).to_kind(kind);
    (distmat * mask).clamp(1e-12, 1e12).sum(kind) / b as f64
}
