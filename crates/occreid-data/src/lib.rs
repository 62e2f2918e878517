//! Re-ID data pipeline in pure Rust: dataset readers ([`datasets`]), dataset checks ([`check`]),
//! the synthetic pedestrian dataset ([`synth`]), image transforms ([`transforms`]), samplers
//! ([`samplers`]) and occluder synthesis ([`occluders`]).
pub mod check;
pub mod datasets;
pub mod loader;
pub mod occluders;
pub mod samplers;
pub mod synth;
pub mod transforms;

pub use datasets::{reader, DataError, DatasetReader, ReaderOptions, Sample, Split};
pub use samplers::{ClassUniformSampler, RandomIdentitySampler, RandomSampler, Sampler, SamplerError};
pub use transforms::{decode, PyRandom, RandomSource, TestTransform, TrainTransform, TransformError};
