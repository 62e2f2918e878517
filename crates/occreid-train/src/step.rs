//! One optimisation step of any method, with or without fp16 loss scaling.
use occreid_model::methods::{Method, TrainBatch};
use occreid_torch::tch::{Device, Kind, Tensor};

use crate::optim::{LossScaler, Optimizer};
use crate::TrainError;

/// Loss values of one step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepResult {
    pub terms: Vec<(&'static str, f64)>,
    pub total: f64,
    /// Correct classifier predictions in the batch.
    pub correct: i64,
    /// False when the loss scaler skipped the update (non-finite fp16 gradients).
    pub stepped: bool,
}

/// One optimisation step: forward (fp16 autocast when a loss scaler is given), sum of the method's loss
/// terms, backward, and the optimiser update (skipped when scaled gradients overflow).
pub fn train_step(
    method: &dyn Method,
    optimizer: &mut Optimizer,
    scaler: Option<&mut LossScaler>,
    batch: &TrainBatch,
    lr: f64,
) -> Result<StepResult, TrainError> {
    optimizer.zero_grad();
    let out = occreid_torch::amp::autocast(scaler.is_some(), || method.losses(batch));
    let device = batch.images.device();
    // float32 (fp16 terms under autocast are summed in float32), or float64 when the model runs in float64
    // (the trajectory parity test compares the reported terms far below float32's 7 digits).
    let kind = if out.terms.iter().any(|(_, t)| t.kind() == Kind::Double) {
        Kind::Double
    } else {
        Kind::Float
    };
    let mut total = Tensor::zeros([], (kind, device));
    let mut readout = Vec::with_capacity(out.terms.len() + 2);
    for (_, t) in &out.terms {
        let t = t.to_kind(kind);
        readout.push(t.detach().to_kind(Kind::Double));
        total += t;
    }
    readout.push(total.detach().to_kind(Kind::Double));
    readout.push(match &out.logits {
        Some(logits) => logits.argmax(1, false).eq_tensor(batch.targets).sum(Kind::Double),
        None => Tensor::zeros([], (Kind::Double, device)),
    });
    // One device-to-host copy for every number the step reports (each scalar read is a CUDA sync).
    let values = Vec::<f64>::try_from(Tensor::stack(&readout, 0).to_device(Device::Cpu))
        .expect("a 1-D double tensor converts to Vec<f64>");
    let (total_value, correct) = (values[out.terms.len()], values[out.terms.len() + 1] as i64);
    let terms: Vec<(&'static str, f64)> = out.terms.iter().map(|(name, _)| *name).zip(values).collect();
    let diverged = || TrainError::Diverged {
        epoch: batch.epoch,
        loss: total_value,
    };
    let stepped = match scaler {
        Some(scaler) if total_value.is_finite() => {
            let stepped = scaler.backward_and_step(&total, optimizer, lr);
            // GradScaler would go on halving the scale and skipping every update, so a run whose fp16
            // gradients are never finite would train nothing, silently, to its last epoch.
            if !stepped && scaler.scale < 1.0 {
                return Err(TrainError::GradientsNonFinite {
                    epoch: batch.epoch,
                    loss: total_value,
                });
            }
            stepped
        }
        // Under fp16 autocast a non-finite loss is the forward overflowing: GradScaler skips such a step
        // and backs off; only a scale that has collapsed means the run itself diverged.
        Some(scaler) => {
            scaler.update(false);
            if scaler.scale < 1.0 {
                return Err(diverged());
            }
            false
        }
        None if total_value.is_finite() => {
            total.backward();
            optimizer.step(lr);
            true
        }
        None => return Err(diverged()),
    };
    Ok(StepResult {
        terms,
        total: total_value,
        correct,
        stepped,
    })
}
