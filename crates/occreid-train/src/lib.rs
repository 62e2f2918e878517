//! Training engine for the methods of occreid-model: typed configs ([`config`]), optimisers with
//! checkpointable state ([`optim`]), the warmup schedule ([`schedule`]), atomic full-state checkpoints
//! ([`checkpoint`]), methods rebuilt from them ([`restore`]), feature extraction and evaluation
//! ([`evaluate`]), one optimisation step ([`step`]) and the epoch loop ([`engine`]).
use std::path::{Path, PathBuf};

pub mod checkpoint;
pub mod config;
pub mod embedder;
pub mod engine;
pub mod evaluate;
pub mod export;
pub mod features;
mod imports;
pub mod lock;
pub mod optim;
pub mod progress;
pub mod restore;
pub mod robustness;
mod sampling;
pub use sampling::steps_per_epoch;
pub mod schedule;
mod split;
pub mod step;

pub use config::TrainConfig;
pub use engine::{Control, Engine, EpochRecord, EvalRecord, Hook};

/// Log numbers rounded for people (defined with the libtorch-free evaluation code, which logs too).
pub use occreid_eval::Rounded;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Dataset(#[from] occreid_data::DataError),
    #[error("{0}")]
    Data(String),
    #[error(transparent)]
    Sampler(#[from] occreid_data::SamplerError),
    #[error(transparent)]
    Image(#[from] occreid_data::TransformError),
    #[error("cannot start the loader: {0}")]
    Pool(#[from] rayon::ThreadPoolBuildError),
    #[error(transparent)]
    Method(#[from] occreid_model::methods::MethodError),
    #[error(transparent)]
    Device(#[from] occreid_torch::DeviceError),
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::CheckpointError),
    #[error(transparent)]
    OptimState(#[from] optim::OptimStateError),
    #[error(transparent)]
    Eval(#[from] evaluate::EvalRunError),
    #[error(transparent)]
    Export(#[from] export::ExportError),
    #[error(transparent)]
    Features(#[from] features::FeatureFileError),
    #[error("cannot resume: {0}")]
    Resume(String),
    /// A checkpoint that does not fit the model it is loaded into (missing tensors, shapes, types, values).
    #[error("{0}")]
    Incompatible(String),
    #[error("{0} already holds a run (last.ckpt); resume it with --resume or choose another --out")]
    RunExists(PathBuf),
    #[error("{} already holds {file} of another run; choose another --out or move that folder away", dir.display())]
    RunFilesExist { dir: PathBuf, file: String },
    /// A stop was asked for (SIGINT / SIGTERM through [`Engine::set_interrupt`]); `last.ckpt` holds the
    /// point reached. `code` is the value the interrupt flag was set to (the exit status to use).
    #[error(
        "interrupted {at}; {} holds this point: continue with `occreid train --resume --out {}`",
        checkpoint.display(),
        checkpoint.parent().unwrap_or(Path::new(".")).display()
    )]
    Interrupted {
        code: usize,
        at: String,
        checkpoint: PathBuf,
    },
    #[error(
        "{source}; the run stopped there and {} holds it: put the file back and continue with `occreid \
         train --resume --out {}` (a run started with data.skip_bad_images = true leaves such images out)",
        checkpoint.display(),
        checkpoint.parent().unwrap_or(Path::new(".")).display()
    )]
    UnreadableImage {
        source: occreid_data::TransformError,
        checkpoint: PathBuf,
    },
    #[error("training diverged at epoch {epoch}: loss = {loss}")]
    Diverged { epoch: usize, loss: f64 },
    #[error(
        "fp16 training stopped at epoch {epoch}: the loss scaler kept skipping updates on non-finite \
         gradients until its scale fell below 1 (this step's loss, {loss}, was finite); train in float32 with \
         train.amp = false"
    )]
    GradientsNonFinite { epoch: usize, loss: f64 },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl TrainError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
