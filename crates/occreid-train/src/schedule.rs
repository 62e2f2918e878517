//! Learning-rate schedules, evaluated per epoch.
use serde::{Deserialize, Serialize};

/// BoT's `WarmupMultiStepLR` as driven by its trainer: epoch e (1-based) trains with
/// `base_lr · w(e) · gamma^(#milestones ≤ e)`, `w(e) = warmup_factor · (1 − e/W) + e/W` for e < W
/// (W = `warmup_epochs`) and 1 afterwards. (The scheduler steps once at construction and once at the
/// start of every epoch, so epoch e sees `last_epoch = e`.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarmupMultiStep {
    pub base_lr: f64,
    pub milestones: Vec<usize>,
    pub gamma: f64,
    pub warmup_factor: f64,
    pub warmup_epochs: usize,
}

impl WarmupMultiStep {
    /// BoT's recipe: 3.5e-4, ×0.1 at epochs 40 and 70, warmup from 0.01× over 10 epochs.
    pub fn bot() -> Self {
        Self {
            base_lr: 3.5e-4,
            milestones: vec![40, 70],
            gamma: 0.1,
            warmup_factor: 0.01,
            warmup_epochs: 10,
        }
    }

    pub fn lr(&self, epoch: usize) -> f64 {
        let warmup = if epoch < self.warmup_epochs {
            let alpha = epoch as f64 / self.warmup_epochs as f64;
            self.warmup_factor * (1.0 - alpha) + alpha
        } else {
            1.0
        };
        let decays = self.milestones.iter().filter(|&&m| m <= epoch).count();
        self.base_lr * warmup * self.gamma.powi(decays as i32)
    }
}
