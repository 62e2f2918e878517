//! [`TrainConfig::validate`]: the value checks that types alone cannot express, run on every load and
//! before every build, so a bad value costs no training.
use occreid_model::methods::RECIPE_NAMES;

use super::{ConfigError, SamplerKind, TestSet, TrainConfig};

impl TrainConfig {
    /// Value checks that types alone cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        // A NaN or infinite rate, weight or margin would train garbage without a word.
        let table = toml::Value::try_from(self).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if let Some(key) = first_non_finite(&table, "") {
            return bad(format!("{key} must be a finite number"));
        }
        let d = &self.data;
        // Upper bounds catch typos that would otherwise end in an allocation abort or a hang.
        if !(16..=2048).contains(&d.height) || !(16..=2048).contains(&d.width) {
            return bad(format!(
                "data.height and data.width must be in 16..=2048, got {}x{}",
                d.height, d.width
            ));
        }
        if d.workers > 256 || self.train.threads > 256 {
            return bad(format!(
                "data.workers ({}) and train.threads ({}) must be at most 256 (0 = one per core)",
                d.workers, self.train.threads
            ));
        }
        if self.train.amp && self.train.device == "cpu" {
            return bad(
                "train.amp = true is float16 mixed precision on CUDA, but train.device = \"cpu\"; set one of them \
                 (with device \"auto\", amp applies only when a GPU is found)"
                    .into(),
            );
        }
        if d.batch_size == 0 {
            return bad("data.batch_size must be positive".into());
        }
        if matches!(d.sampler, SamplerKind::Identity | SamplerKind::ClassUniform)
            && (d.instances_per_id == 0 || !d.batch_size.is_multiple_of(d.instances_per_id))
        {
            return bad(format!(
                "data.batch_size ({}) must be a positive multiple of data.instances_per_id ({})",
                d.batch_size, d.instances_per_id
            ));
        }
        if !(0.0..=1.0).contains(&d.flip_p) || !(0.0..=1.0).contains(&d.random_erasing) {
            return bad("data.flip_p and data.random_erasing are probabilities in [0, 1]".into());
        }
        if !RECIPE_NAMES.contains(&self.method.as_str()) {
            return bad(format!(
                "method = '{}': expected one of {}",
                self.method,
                RECIPE_NAMES.join(", ")
            ));
        }
        if d.color_jitter.iter().any(|x| !(x.is_finite() && *x >= 0.0)) || d.color_jitter[3] > 0.5 {
            return bad(format!(
                "data.color_jitter {:?}: brightness, contrast, saturation must be non-negative, hue in [0, 0.5]",
                d.color_jitter
            ));
        }
        if d.steps_per_epoch > 0 && d.sampler != SamplerKind::ClassUniform {
            return bad(format!(
                "data.steps_per_epoch = {} is for data.sampler = \"class_uniform\" (the other samplers run whole \
                 passes)",
                d.steps_per_epoch
            ));
        }
        if self.optim.schedule_first_epoch > 1 {
            return bad(format!(
                "optim.schedule_first_epoch = {}: expected 1 (BoT) or 0 (DAAO)",
                self.optim.schedule_first_epoch
            ));
        }
        let single_test = !d.test_dataset.is_empty() || !d.test_root.is_empty();
        if !d.test_sets.is_empty() && single_test {
            return bad(
                "data.test_sets and data.test_dataset/test_root both name the test data; list every test set in \
                 data.test_sets"
                    .into(),
            );
        }
        let mut names: Vec<&str> = d.test_sets.iter().map(TestSet::label).collect();
        names.sort();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return bad(format!(
                "data.test_sets: two sets are named the same ({names:?}); give them distinct `name`s"
            ));
        }
        if self.method == "igoas" {
            let g = &self.igoas;
            if g.fixbase_epochs >= self.train.epochs {
                return bad(format!(
                    "igoas.fixbase_epochs ({}) must be shorter than train.epochs ({}): the whole network never trains",
                    g.fixbase_epochs, self.train.epochs
                ));
            }
            let (h, w) = (d.height as usize, d.width as usize);
            if let Some(why) = (0..self.train.epochs).find_map(|e| g.igo.impossible(h, w, e)) {
                return bad(format!("[igoas.igo] makes the IGO block impossible: {why}"));
            }
        }
        if self.method == "sdcn_vgn" && !self.sdcn.vgn.is_empty() && self.sdcn.vgn_epochs > 0 {
            return bad(
                "sdcn.vgn (a trained VGN: stage 2 only) and sdcn.vgn_epochs (train the VGN first) contradict each \
                 other; set one"
                    .into(),
            );
        }
        if self.train.epochs == 0 {
            return bad("train.epochs must be at least 1".into());
        }
        if !["auto", "cpu", "cuda"].contains(&self.train.device.as_str()) {
            return bad(format!(
                "train.device = '{}': expected auto, cpu or cuda",
                self.train.device
            ));
        }
        let o = &self.optim;
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if !(positive(o.base_lr) && positive(o.gamma) && o.weight_decay.is_finite() && o.weight_decay >= 0.0) {
            return bad(format!(
                "optim.base_lr ({}) and optim.gamma ({}) must be positive and finite, optim.weight_decay ({}) \
                 non-negative",
                o.base_lr, o.gamma, o.weight_decay
            ));
        }
        if o.milestones.windows(2).any(|w| w[0] >= w[1]) {
            return bad(format!(
                "optim.milestones must be strictly increasing epochs, got {:?}",
                o.milestones
            ));
        }
        let l = &self.loss;
        if !(l.triplet_margin.is_finite() && l.triplet_margin >= 0.0 && (0.0..1.0).contains(&l.label_smoothing)) {
            return bad(format!(
                "loss.triplet_margin ({}) must be non-negative and loss.label_smoothing ({}) in [0, 1)",
                l.triplet_margin, l.label_smoothing
            ));
        }
        let t = &self.test;
        if t.batch_size == 0 || t.max_rank == 0 {
            return bad("test.batch_size and test.max_rank must be positive".into());
        }
        // Checked here, not at the first evaluation: a bad value must not cost a training run.
        if t.rerank_k1 == 0 || t.rerank_k2 == 0 || !(0.0..=1.0).contains(&t.rerank_lambda) {
            return bad(format!(
                "test.rerank_k1 ({}) and test.rerank_k2 ({}) must be at least 1, test.rerank_lambda ({}) in [0, 1]",
                t.rerank_k1, t.rerank_k2, t.rerank_lambda
            ));
        }
        if let Some(r) = self.test.occlusion.ratios.iter().find(|r| !(**r > 0.0 && **r <= 1.0)) {
            return bad(format!("test.occlusion.ratios: {r} is outside (0, 1]"));
        }
        Ok(())
    }
}

/// The dotted key of the first NaN or infinite float in `value`.
fn first_non_finite(value: &toml::Value, key: &str) -> Option<String> {
    match value {
        toml::Value::Float(f) if !f.is_finite() => Some(key.to_string()),
        toml::Value::Table(t) => t.iter().find_map(|(k, v)| {
            let key = if key.is_empty() {
                k.clone()
            } else {
                format!("{key}.{k}")
            };
            first_non_finite(v, &key)
        }),
        toml::Value::Array(a) => a.iter().find_map(|v| first_non_finite(v, key)),
        _ => None,
    }
}
