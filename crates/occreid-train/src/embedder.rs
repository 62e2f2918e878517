//! A model that turns images into features, from either file a user has: a checkpoint written by
//! `occreid train` or a TorchScript file written by `occreid export`. Both give the same features (the
//! export tests check it), and both carry a [`ModelCard`].
use std::io::Read;
use std::path::Path;

use occreid_data::TestTransform;
use occreid_torch::tch::{CModule, Device, Kind, Tensor};

use crate::config::TrainConfig;
use crate::evaluate::{embed, ExtractOptions};
use crate::export::{card_for, load_torchscript, ModelCard};
use crate::restore::{method_from_checkpoint, Restored};
use crate::TrainError;

enum Model {
    Checkpoint(Box<Restored>),
    Script(CModule),
}

pub struct Embedder {
    pub card: ModelCard,
    model: Model,
    device: Device,
}

/// What the file starts with: TorchScript files are zip archives, checkpoints safetensors.
fn is_zip(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| magic == *b"PK\x03\x04")
}

impl Embedder {
    /// Loads a checkpoint or a TorchScript export onto `device`.
    pub fn load(path: &Path, device: Device) -> Result<Self, TrainError> {
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx")) {
            return Err(TrainError::Incompatible(format!(
                "{}: ONNX models run in onnxruntime or TensorRT; occreid runs a checkpoint or a TorchScript export \
                 (occreid export --format torchscript)",
                path.display()
            )));
        }
        if is_zip(path) {
            let (module, card) = load_torchscript(path, device)?;
            return Ok(Self {
                card,
                model: Model::Script(module),
                device,
            });
        }
        let restored = method_from_checkpoint(path, device)?;
        // The card's feature size: one image's embedding.
        let probe = Tensor::zeros(
            [
                1,
                3,
                restored.config.data.height as i64,
                restored.config.data.width as i64,
            ],
            (Kind::Float, device),
        );
        let cfg = &restored.config.test;
        let dim =
            occreid_torch::tch::no_grad(|| embed(restored.method.as_ref(), &probe, cfg.flip, cfg.feat_norm)).size()[1];
        let card = card_for(&restored, path, dim as usize);
        Ok(Self {
            card,
            model: Model::Checkpoint(Box::new(restored)),
            device,
        })
    }

    /// The run's config when the model is a checkpoint (dataset reader options, loader threads, test
    /// batch size); an export has none.
    pub fn config(&self) -> Option<&TrainConfig> {
        match &self.model {
            Model::Checkpoint(r) => Some(&r.config),
            Model::Script(_) => None,
        }
    }

    /// How to extract this model's features: the checkpoint's test batch size and loader settings, or the
    /// defaults for an export.
    pub fn extract_options(&self, label: &str) -> ExtractOptions {
        let default = TrainConfig::default();
        let cfg = self.config().unwrap_or(&default);
        // flip / feat_norm in the options are unused here: the embedder applies the card's.
        ExtractOptions::new(&cfg.test, &cfg.data, self.device, label)
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// The resize and normalisation the model expects.
    pub fn transform(&self) -> TestTransform {
        let i = &self.card.input;
        let mut t = TestTransform::new(i.height, i.width, i.interpolation);
        t.normalize.mean = i.mean;
        t.normalize.std = i.std;
        t
    }

    /// Features of normalised images, as the card describes them (flip-averaged, L2-normalised as set).
    pub fn features(&self, images: &Tensor) -> Result<Tensor, String> {
        match &self.model {
            Model::Checkpoint(r) => Ok(embed(
                r.method.as_ref(),
                images,
                self.card.flip_averaged,
                self.card.l2_normalized,
            )),
            Model::Script(m) => m
                .forward_ts(&[images])
                .map(|f| f.to_device(Device::Cpu).to_kind(Kind::Float))
                .map_err(|e| e.to_string()),
        }
    }

    pub fn as_fn(&self) -> impl Fn(&Tensor) -> Result<Tensor, String> + '_ {
        |images| self.features(images)
    }
}

/// Whether features written by the model of `gallery` can be compared with `query`'s: same method,
/// feature size, input and weights; the message says what differs.
pub fn same_model(query: &ModelCard, gallery: &ModelCard) -> Result<(), String> {
    match model_difference(gallery, query) {
        None => Ok(()),
        Some((what, g, q)) => Err(format!(
            "the gallery was extracted by another model: {what} {g}, the query model's {q}; extract the gallery \
             again with this model"
        )),
    }
}

/// The first thing that makes features of model `a` incomparable with `b`'s (method, feature size, input,
/// L2 / flip, weights): its name, `a`'s value and `b`'s. Paths may differ (a moved file, an export of the
/// same checkpoint); the weights may not.
pub fn model_difference(a: &ModelCard, b: &ModelCard) -> Option<(&'static str, String, String)> {
    let weights = |c: &ModelCard| format!("{} (from {})", short(&c.weights_sha256), c.source_checkpoint);
    type Field = fn(&ModelCard) -> String;
    let checks: [(&'static str, Field); 5] = [
        ("method", |c| c.method.clone()),
        ("feature size", |c| c.feature_dim.to_string()),
        ("input", |c| format!("{}x{}", c.input.height, c.input.width)),
        ("L2 normalisation", |c| c.l2_normalized.to_string()),
        ("flip averaging", |c| c.flip_averaged.to_string()),
    ];
    for (what, value) in checks {
        if value(a) != value(b) {
            return Some((what, value(a), value(b)));
        }
    }
    (a.weights_sha256 != b.weights_sha256).then(|| ("weights", weights(a), weights(b)))
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}
