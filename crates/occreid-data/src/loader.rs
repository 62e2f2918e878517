//! Parallel batch loading: decode + augment on a thread pool, batches prefetched by a producer thread.
//!
//! Batches come out in sampler order. Each sample's augmentation RNG is derived from
//! `(seed, batch number, position in batch)`, so the output does not depend on thread scheduling or on
//! the number of threads, and a resumed run that restores the batch counter reproduces the stream.
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::datasets::Sample;
use crate::transforms::{decode, RgbImage, TestTransform, TrainTransform, TransformError};

/// A contiguous CHW f32 batch plus what methods need per sample.
#[derive(Debug, Clone)]
pub struct Batch {
    /// `[batch, 3, height, width]`, row-major.
    pub images: Vec<f32>,
    pub shape: [usize; 4],
    pub pids: Vec<i64>,
    pub camids: Vec<i64>,
    pub paths: Vec<PathBuf>,
    /// Dataset indices of the samples.
    pub indices: Vec<usize>,
    /// Sequence number of the batch since the loader's `first_batch`.
    pub number: u64,
}

/// How one decoded image becomes a tensor.
#[derive(Debug, Clone)]
pub enum Transform {
    Train(TrainTransform),
    Test(TestTransform),
}

impl Transform {
    fn size(&self) -> (usize, usize) {
        match self {
            Transform::Train(t) => (t.height as usize, t.width as usize),
            Transform::Test(t) => (t.height as usize, t.width as usize),
        }
    }

    fn apply(&self, img: &RgbImage, rng: &mut ChaCha8Rng) -> Vec<f32> {
        match self {
            Transform::Train(t) => t.apply(img, rng),
            Transform::Test(t) => t.apply(img),
        }
    }
}

#[derive(Debug, Clone)]
pub struct LoaderOptions {
    pub seed: u64,
    /// Batches decoded ahead of the consumer.
    pub prefetch: usize,
    /// Worker threads (0 = one per core).
    pub threads: usize,
    /// Number of the first batch (non-zero when resuming).
    pub first_batch: u64,
}

impl Default for LoaderOptions {
    fn default() -> Self {
        Self {
            seed: 0,
            prefetch: 4,
            threads: 0,
            first_batch: 0,
        }
    }
}

/// A running loader: iterate it for batches; dropping it stops the producer.
pub struct Loader {
    rx: Option<Receiver<Result<Batch, TransformError>>>,
    handle: Option<JoinHandle<()>>,
}

fn sample_seed(seed: u64, batch: u64, position: usize) -> u64 {
    // SplitMix64 finaliser over the three coordinates: distinct, well-mixed streams per sample.
    let mut z =
        seed ^ batch.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (position as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Loader {
    /// Starts loading `batches` (lists of indices into `samples`). A decode error ends the stream with
    /// that error (naming the file).
    pub fn spawn(
        samples: Arc<Vec<Sample>>,
        batches: impl IntoIterator<Item = Vec<usize>, IntoIter: Send + 'static>,
        transform: Transform,
        opts: LoaderOptions,
    ) -> Result<Self, rayon::ThreadPoolBuildError> {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(opts.threads).build()?;
        let (tx, rx) = sync_channel(opts.prefetch.max(1));
        let batches = batches.into_iter();
        let handle = std::thread::spawn(move || {
            let (h, w) = transform.size();
            for (k, indices) in batches.enumerate() {
                let number = opts.first_batch + k as u64;
                let per_sample = 3 * h * w;
                let mut images = vec![0f32; indices.len() * per_sample];
                let result: Result<(), TransformError> = pool.install(|| {
                    images
                        .par_chunks_mut(per_sample)
                        .zip(indices.par_iter())
                        .enumerate()
                        .try_for_each(|(pos, (dst, &i))| {
                            let img = decode(&samples[i].path)?;
                            let mut rng = ChaCha8Rng::seed_from_u64(sample_seed(opts.seed, number, pos));
                            dst.copy_from_slice(&transform.apply(&img, &mut rng));
                            Ok(())
                        })
                });
                let item = result.map(|()| Batch {
                    shape: [indices.len(), 3, h, w],
                    images,
                    pids: indices.iter().map(|&i| samples[i].pid).collect(),
                    camids: indices.iter().map(|&i| samples[i].camid).collect(),
                    paths: indices.iter().map(|&i| samples[i].path.clone()).collect(),
                    indices,
                    number,
                });
                let failed = item.is_err();
                if tx.send(item).is_err() || failed {
                    return; // consumer gone, or the stream ended with an error
                }
            }
        });
        Ok(Self {
            rx: Some(rx),
            handle: Some(handle),
        })
    }
}

impl Iterator for Loader {
    type Item = Result<Batch, TransformError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.rx.as_ref()?.recv().ok()
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        // Closing the channel makes the producer's next send fail, so it exits.
        drop(self.rx.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
