//! Optimisers with checkpointable state.
//!
//! tch's optimisers wrap libtorch's C++ ones, whose moment buffers cannot be read back, so a resumed run
//! could not continue the same trajectory. These reimplement `torch.optim.Adam` / `SGD` (single-tensor
//! path, L2 weight decay added to the gradient) with the same arithmetic order, and expose their state as
//! named tensors for the checkpoint.
use std::collections::HashMap;

use occreid_model::methods::{ParamGroup, UpdateRule};
use occreid_torch::tch::{no_grad, Kind, Tensor};

use crate::config::{OptimConfig, OptimizerKind};

struct Group {
    name: &'static str,
    rule: UpdateRule,
    params: Vec<(String, Tensor)>,
    /// Adam: first moments; SGD with momentum: momentum buffers (lazily created, as torch does).
    first: Vec<Option<Tensor>>,
    /// Adam: second moments.
    second: Vec<Option<Tensor>>,
    /// Updates each parameter has received (torch keeps Adam's bias-correction `step` per parameter:
    /// a parameter frozen for the first epochs, as in IGOAS's fixbase, starts its count late).
    updates: Vec<u64>,
}

pub struct Optimizer {
    kind: OptimizerKind,
    betas: [f64; 2],
    eps: f64,
    momentum: f64,
    weight_decay: f64,
    /// `optim.base_lr` and the schedule's starting factor, for [`UpdateRule::OwnLr`] groups.
    base_lr: f64,
    warmup_factor: f64,
    groups: Vec<Group>,
    /// Completed steps of the main rule (Adam's bias-correction counter).
    steps: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum OptimStateError {
    #[error("checkpoint lacks optimiser state `{0}`; was it saved by a different method or config?")]
    Missing(String),
    #[error("optimiser state `{name}` has shape {found:?} but the parameter has {expected:?}")]
    Shape {
        name: String,
        found: Vec<i64>,
        expected: Vec<i64>,
    },
}

impl Optimizer {
    pub fn new(groups: Vec<ParamGroup>, cfg: &OptimConfig) -> Self {
        Self {
            kind: cfg.optimizer,
            betas: cfg.betas,
            eps: cfg.eps,
            momentum: cfg.momentum,
            weight_decay: cfg.weight_decay,
            base_lr: cfg.base_lr,
            warmup_factor: cfg.warmup_factor,
            groups: groups
                .into_iter()
                .map(|g| Group {
                    name: g.name,
                    rule: g.rule,
                    first: (0..g.params.len()).map(|_| None).collect(),
                    second: (0..g.params.len()).map(|_| None).collect(),
                    updates: vec![0; g.params.len()],
                    params: g.params,
                })
                .collect(),
            steps: 0,
        }
    }

    pub fn steps(&self) -> u64 {
        self.steps
    }

    pub fn zero_grad(&mut self) {
        for g in &mut self.groups {
            for (_, p) in &mut g.params {
                let mut grad = p.grad();
                if grad.defined() {
                    let _ = grad.detach_().zero_();
                }
            }
        }
    }

    /// Every gradient, for finiteness checks and loss-scale unscaling.
    pub fn grads(&self) -> Vec<Tensor> {
        self.groups
            .iter()
            .flat_map(|g| g.params.iter().map(|(_, p)| p.grad()))
            .filter(|g| g.defined())
            .collect()
    }

    /// One update: the main rule with learning rate `lr`, fixed-rate groups with their own.
    pub fn step(&mut self, main_lr: f64) {
        self.steps += 1;
        no_grad(|| {
            for g in &mut self.groups {
                let lr = match g.rule {
                    UpdateRule::OwnLr {
                        base_lr,
                        scheduled: true,
                    } => main_lr * base_lr / self.base_lr,
                    UpdateRule::OwnLr {
                        base_lr,
                        scheduled: false,
                    } => base_lr * self.warmup_factor,
                    _ => main_lr,
                };
                for (i, (_, p)) in g.params.iter_mut().enumerate() {
                    let grad = p.grad();
                    if !grad.defined() {
                        continue;
                    }
                    g.updates[i] += 1;
                    let t = g.updates[i] as i32;
                    match g.rule {
                        UpdateRule::FixedSgd { lr, grad_scale } => {
                            let _ = p.g_sub_(&(grad * grad_scale * lr));
                        }
                        UpdateRule::Main | UpdateRule::OwnLr { .. } => {
                            let grad = if self.weight_decay != 0.0 {
                                grad + &*p * self.weight_decay
                            } else {
                                grad
                            };
                            match self.kind {
                                OptimizerKind::Adam => {
                                    let [b1, b2] = self.betas;
                                    let m = g.first[i].get_or_insert_with(|| p.zeros_like());
                                    let _ = m.lerp_(&grad, 1.0 - b1);
                                    let v = g.second[i].get_or_insert_with(|| p.zeros_like());
                                    let _ = v.g_mul_scalar_(b2);
                                    // addcmul_(g, g, value=1-b2) evaluates self + (value * g) * g.
                                    let _ = v.addcmul_(&(&grad * (1.0 - b2)), &grad);
                                    let bc1 = 1.0 - b1.powi(t);
                                    let bc2_sqrt = (1.0 - b2.powi(t)).sqrt();
                                    let mut denom = v.sqrt();
                                    let _ = denom.g_div_scalar_(bc2_sqrt).g_add_scalar_(self.eps);
                                    // addcdiv_(m, denom, value=-lr/bc1) evaluates self + (value * m) / denom.
                                    let _ = p.addcdiv_(&(&*m * (-lr / bc1)), &denom);
                                }
                                OptimizerKind::Sgd => {
                                    let d = if self.momentum != 0.0 {
                                        match &mut g.first[i] {
                                            Some(buf) => {
                                                let _ = buf.g_mul_scalar_(self.momentum).g_add_(&grad);
                                                buf.shallow_clone()
                                            }
                                            slot @ None => slot.insert(grad.detach().copy()).shallow_clone(),
                                        }
                                    } else {
                                        grad
                                    };
                                    let _ = p.g_sub_(&(d * lr));
                                }
                            }
                        }
                    }
                }
            }
        });
    }

    /// State tensors named `<group>.<first|second>.<param>` (only those created so far), and
    /// `<group>.updates.<param>` (int64) for parameters whose update count differs from the step count.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for g in &self.groups {
            for (i, (name, _)) in g.params.iter().enumerate() {
                for (slot, which) in [(&g.first[i], "first"), (&g.second[i], "second")] {
                    if let Some(t) = slot {
                        out.push((format!("{}.{which}.{name}", g.name), t.shallow_clone()));
                    }
                }
                if g.updates[i] != self.steps {
                    out.push((format!("{}.updates.{name}", g.name), Tensor::from(g.updates[i] as i64)));
                }
            }
        }
        out
    }

    /// Restores what [`Optimizer::state_tensors`] saved after `steps` updates.
    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>, steps: u64) -> Result<(), OptimStateError> {
        let needs_first = |rule: UpdateRule, kind: OptimizerKind, momentum: f64| {
            matches!(rule, UpdateRule::Main | UpdateRule::OwnLr { .. })
                && (kind == OptimizerKind::Adam || momentum != 0.0)
        };
        for g in &mut self.groups {
            let wants_first = steps > 0 && needs_first(g.rule, self.kind, self.momentum);
            let wants_second = wants_first && self.kind == OptimizerKind::Adam;
            for (i, (name, p)) in g.params.iter().enumerate() {
                for (slot, which, wanted) in [
                    (&mut g.first[i], "first", wants_first),
                    (&mut g.second[i], "second", wants_second),
                ] {
                    let key = format!("{}.{which}.{name}", g.name);
                    match tensors.get(&key) {
                        Some(t) if t.size() != p.size() => {
                            return Err(OptimStateError::Shape {
                                name: key,
                                found: t.size(),
                                expected: p.size(),
                            })
                        }
                        Some(t) => *slot = Some(t.to_kind(Kind::Float).to_device(p.device())),
                        // A parameter that never received a gradient has no state, as in torch.
                        None if wanted && p.grad().defined() => return Err(OptimStateError::Missing(key)),
                        None => *slot = None,
                    }
                }
                g.updates[i] = match tensors.get(&format!("{}.updates.{name}", g.name)) {
                    Some(t) => t.int64_value(&[]) as u64,
                    None => steps,
                };
            }
        }
        self.steps = steps;
        Ok(())
    }
}

/// Dynamic loss scaling for fp16 autocast: `torch.amp.GradScaler`'s algorithm and defaults. The loss is
/// multiplied by `scale` before backward; the gradients are unscaled before the update, which is skipped
/// (and the scale halved) when any of them is not finite; after `growth_interval` consecutive finite steps
/// the scale doubles.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct LossScaler {
    pub scale: f64,
    /// Consecutive finite steps since the scale last changed (GradScaler's growth tracker).
    pub good_steps: u32,
    #[serde(default = "default_growth_interval")]
    pub growth_interval: u32,
}

fn default_growth_interval() -> u32 {
    2000
}

impl Default for LossScaler {
    fn default() -> Self {
        Self {
            scale: 65536.0,
            good_steps: 0,
            growth_interval: default_growth_interval(),
        }
    }
}

impl LossScaler {
    const GROWTH_FACTOR: f64 = 2.0;
    const BACKOFF_FACTOR: f64 = 0.5;

    /// `scaler.scale(loss).backward(); scaler.step(optimizer); scaler.update()`: true when the update was
    /// taken. One device synchronisation, as in GradScaler.
    pub fn backward_and_step(&mut self, loss: &Tensor, optimizer: &mut Optimizer, lr: f64) -> bool {
        (loss * self.scale).backward();
        let grads = optimizer.grads();
        let finite = no_grad(|| {
            let flags: Vec<Tensor> = grads.iter().map(|g| g.isfinite().all()).collect();
            flags.is_empty() || Tensor::stack(&flags, 0).all().int64_value(&[]) == 1
        });
        if finite {
            // GradScaler multiplies by the float32 reciprocal; the scale is a power of two, so this is exact.
            let inv = 1.0 / self.scale;
            no_grad(|| {
                for g in &grads {
                    let _ = g.shallow_clone().g_mul_scalar_(inv);
                }
            });
            optimizer.step(lr);
        }
        self.update(finite);
        finite
    }

    /// GradScaler.update: back off on a non-finite step, grow after `growth_interval` finite ones.
    pub fn update(&mut self, finite: bool) {
        if finite {
            self.good_steps += 1;
            if self.good_steps >= self.growth_interval {
                self.scale *= Self::GROWTH_FACTOR;
                self.good_steps = 0;
            }
        } else {
            self.scale *= Self::BACKOFF_FACTOR;
            self.good_steps = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use occreid_torch::tch::nn::VarStore;
    use occreid_torch::tch::Device;

    #[test]
    fn state_round_trip_continues_the_same_trajectory() {
        let run = |split: Option<usize>| {
            let vs = VarStore::new(Device::Cpu);
            let p = vs.root().var_copy("w", &Tensor::from_slice(&[0.5f32, -1.0, 2.0]));
            let group = || ParamGroup {
                name: "model",
                params: vec![("w".to_string(), p.shallow_clone())],
                rule: UpdateRule::Main,
            };
            let cfg = OptimConfig::default();
            let mut opt = Optimizer::new(vec![group()], &cfg);
            for k in 0..6 {
                if Some(k) == split {
                    let saved: HashMap<String, Tensor> =
                        opt.state_tensors().into_iter().map(|(n, t)| (n, t.copy())).collect();
                    let steps = opt.steps();
                    opt = Optimizer::new(vec![group()], &cfg);
                    opt.load_state(&saved, steps).unwrap();
                }
                opt.zero_grad();
                (&p * &p * (k as f64 + 1.0)).sum(Kind::Float).backward();
                opt.step(0.01);
            }
            Vec::<f32>::try_from(&p).unwrap()
        };
        assert_eq!(run(None), run(Some(3)));
        assert_ne!(run(None), vec![0.5f32, -1.0, 2.0]);
    }

    #[test]
    fn missing_state_is_an_error_naming_the_key() {
        let vs = VarStore::new(Device::Cpu);
        let p = vs.root().var_copy("w", &Tensor::from_slice(&[1.0f32]));
        let mut opt = Optimizer::new(
            vec![ParamGroup {
                name: "model",
                params: vec![("w".into(), p.shallow_clone())],
                rule: UpdateRule::Main,
            }],
            &OptimConfig::default(),
        );
        (&p * 2.0).sum(Kind::Float).backward();
        let e = opt.load_state(&HashMap::new(), 5).unwrap_err().to_string();
        assert!(e.contains("model.first.w"), "{e}");
    }
}
