//! Parallel batch loading: decode + augment on a thread pool, batches prefetched by a producer thread.
//!
//! Batches come out in sampler order. Each sample's augmentation RNG is derived from
//! `(seed, batch number, position in batch)`, so the output does not depend on thread scheduling or on
//! the number of threads, and a resumed run that restores the batch counter reproduces the stream.
//! [`Transform::OccludedTest`] is keyed by dataset index instead (see [`OccludedTest`]).
mod occluded;

use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::datasets::Sample;
use crate::occluders::daao::{pick_donor, DaaoOccluder};
use crate::transforms::{decode, TestTransform, TrainTransform, TransformError};
pub use occluded::OccludedTest;
use occluded::Occlusion;

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
    /// [`Transform::OccludedTest`] only: per sample, the fraction of the source image the occluder covers.
    pub occluded_fraction: Option<Vec<f32>>,
    /// [`Transform::OccludedTest`] only: `[batch, height, width]` masks at output resolution, 1 = occluded
    /// (nearest-neighbour from the source-resolution rectangle).
    pub occlusion_masks: Option<Vec<u8>>,
    /// [`Transform::TrainPair`] only: the occluded copies of `images`, same layout.
    pub occluded: Option<Vec<f32>>,
    /// With [`LoaderOptions::skip_unreadable`]: the samples left out because their image (or a pair's
    /// donor image) could not be read: why, naming the file.
    pub skipped: Vec<String>,
}

/// How one decoded image becomes a tensor.
#[derive(Debug, Clone)]
pub enum Transform {
    Train(TrainTransform),
    Test(TestTransform),
    /// An occluded copy of the samples (robustness evaluation), then the test transform.
    OccludedTest(OccludedTest),
    /// Training pairs: each image and its copy with a patch of another training image pasted in (DAAO,
    /// spec §2.1), both through the pair's training transform.
    TrainPair(DaaoOccluder),
}

impl Transform {
    fn size(&self) -> (usize, usize) {
        let t = match self {
            Transform::Train(t) => return (t.height as usize, t.width as usize),
            Transform::TrainPair(o) => return (o.transform.height as usize, o.transform.width as usize),
            Transform::Test(t) => t,
            Transform::OccludedTest(o) => &o.test,
        };
        (t.height as usize, t.width as usize)
    }

    /// Images per sample in the batch buffer (a pair writes the full image, then the occluded one).
    fn views(&self) -> usize {
        if matches!(self, Transform::TrainPair(_)) {
            2
        } else {
            1
        }
    }

    /// Writes sample `index` (at `pos` in batch `number`) into `dst`.
    fn load(
        &self,
        samples: &[Sample],
        index: usize,
        (seed, number, pos): (u64, u64, usize),
        dst: &mut [f32],
    ) -> Result<Option<Occlusion>, TransformError> {
        let sample = &samples[index];
        match self {
            Transform::TrainPair(o) => {
                let mut rng = ChaCha8Rng::seed_from_u64(sample_seed(seed, number, pos));
                let donor = &samples[pick_donor(index, samples.len(), &mut rng)];
                let pair = o.make_pair(&decode(&sample.path)?, &decode(&donor.path)?, &mut rng);
                let (full, occluded) = dst.split_at_mut(pair.full.len());
                full.copy_from_slice(&pair.full);
                occluded.copy_from_slice(&pair.occluded);
            }
            Transform::Train(t) => {
                let mut rng = ChaCha8Rng::seed_from_u64(sample_seed(seed, number, pos));
                t.apply_into(&decode(&sample.path)?, &mut rng, dst);
            }
            Transform::Test(t) => t.apply_into(&decode(&sample.path)?, dst),
            Transform::OccludedTest(o) => return o.load(index, sample, dst).map(Some),
        }
        Ok(None)
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
    /// Leave a sample whose image cannot be read out of its batch (listed in [`Batch::skipped`]) instead
    /// of ending the stream with the error. The other samples keep their augmentation streams.
    pub skip_unreadable: bool,
}

impl Default for LoaderOptions {
    fn default() -> Self {
        Self {
            seed: 0,
            prefetch: 4,
            threads: 0,
            first_batch: 0,
            skip_unreadable: false,
        }
    }
}

/// `0..n` in order, cut into batches of `batch_size` (the last may be short): the order extraction and
/// evaluation read a split in.
pub fn sequential_batches(n: usize, batch_size: usize) -> Vec<Vec<usize>> {
    let step = batch_size.max(1);
    (0..n)
        .step_by(step)
        .map(|start| (start..n.min(start + step)).collect())
        .collect()
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
                let per_sample = 3 * h * w * transform.views();
                let mut images = vec![0f32; indices.len() * per_sample];
                let loaded: Vec<Result<Option<Occlusion>, TransformError>> = pool.install(|| {
                    images
                        .par_chunks_mut(per_sample)
                        .zip(indices.par_iter())
                        .enumerate()
                        .map(|(pos, (dst, &i))| transform.load(&samples, i, (opts.seed, number, pos), dst))
                        .collect()
                });
                let (mut indices, mut skipped) = (indices, Vec::new());
                let result: Result<Vec<Option<Occlusion>>, TransformError> = if opts.skip_unreadable {
                    // Keep the readable samples, in order, and compact the buffer over the others.
                    let mut kept = Vec::with_capacity(indices.len());
                    let mut occlusions = Vec::with_capacity(indices.len());
                    for (k, r) in loaded.into_iter().enumerate() {
                        match r {
                            Ok(o) => {
                                let n = kept.len();
                                images.copy_within(k * per_sample..(k + 1) * per_sample, n * per_sample);
                                kept.push(indices[k]);
                                occlusions.push(o);
                            }
                            Err(e) => skipped.push(e.to_string()),
                        }
                    }
                    images.truncate(kept.len() * per_sample);
                    indices = kept;
                    Ok(occlusions)
                } else {
                    loaded.into_iter().collect()
                };
                let item = result.map(|occlusions| {
                    let occluded = matches!(transform, Transform::OccludedTest(_));
                    let occluded_fraction = occluded.then(|| occlusions.iter().flatten().map(|o| o.fraction).collect());
                    let occlusion_masks = occluded.then(|| {
                        let mut m = vec![0u8; indices.len() * h * w];
                        for (o, dst) in occlusions.iter().flatten().zip(m.chunks_exact_mut(h * w)) {
                            o.write_mask(h, w, dst);
                        }
                        m
                    });
                    let (images, occluded) = match transform.views() {
                        1 => (images, None),
                        _ => {
                            let (mut full, mut occ) = (Vec::with_capacity(images.len() / 2), Vec::new());
                            for pair in images.chunks_exact(per_sample) {
                                let (f, o) = pair.split_at(per_sample / 2);
                                full.extend_from_slice(f);
                                occ.extend_from_slice(o);
                            }
                            (full, Some(occ))
                        }
                    };
                    Batch {
                        shape: [indices.len(), 3, h, w],
                        images,
                        occluded,
                        pids: indices.iter().map(|&i| samples[i].pid).collect(),
                        camids: indices.iter().map(|&i| samples[i].camid).collect(),
                        paths: indices.iter().map(|&i| samples[i].path.clone()).collect(),
                        indices,
                        number,
                        occluded_fraction,
                        occlusion_masks,
                        skipped,
                    }
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
