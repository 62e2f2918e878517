//! Batch samplers: BoT's `RandomIdentitySampler` (P identities × K images, spec §1.3), DAAO's
//! `ClassUniformlySampler` (spec §2.2) and a random sampler with `drop_last`.
//!
//! Each yields batches of dataset indices through [`Sampler::next_batch`], which returns `None` at the
//! end of an epoch (the next call starts a new one). Given a seed the stream is deterministic, and
//! [`Sampler::state`] / [`Sampler::restore`] capture it completely (RNG state, the rest of the current
//! epoch, the counters) as a serde value, so a resumed run continues with exactly the batches it would
//! have drawn. The algorithms draw through [`RandomSource`] in the reference implementations' order, so
//! with [`PyRandom`](crate::transforms::PyRandom) they reproduce the Python samplers index for index.
use std::collections::BTreeMap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::transforms::RandomSource;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SamplerError {
    #[error("sampler needs {needed} identities with images per batch but the training set has only {found}")]
    TooFewIdentities { needed: usize, found: usize },
    #[error("batch size {batch_size} is not a positive multiple of images per identity {k}")]
    BadBatchShape { batch_size: usize, k: usize },
    #[error("empty training set: nothing to sample")]
    Empty,
    #[error(
        "saved sampler state is for a training set of {saved} images but this one has {found}; \
         resume with the same dataset and sampler settings"
    )]
    StateMismatch { saved: usize, found: usize },
}

/// A resumable source of index batches.
pub trait Sampler {
    type State: Serialize + DeserializeOwned + Clone;
    /// Next batch of dataset indices, or `None` at the end of the epoch.
    fn next_batch(&mut self) -> Option<Vec<usize>>;
    /// Completed epochs (passes).
    fn epoch(&self) -> u64;
    /// Everything needed to continue the stream.
    fn state(&self) -> Self::State;
    /// Continues from a saved state; the sampler must be built over the same labels.
    fn restore(&mut self, state: Self::State) -> Result<(), SamplerError>;
}

/// Groups indices by label in order of first appearance (Python's `defaultdict` insertion order).
fn group_by_label(labels: &[i64]) -> Vec<Vec<usize>> {
    let mut order: Vec<i64> = Vec::new();
    let mut map: BTreeMap<i64, usize> = BTreeMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, &l) in labels.iter().enumerate() {
        let g = *map.entry(l).or_insert_with(|| {
            order.push(l);
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(i);
    }
    groups
}

/// The part of every sampler's state that is not the dataset: RNG, the rest of the epoch, counters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamState<R, X = ()> {
    pub n_samples: usize,
    pub rng: R,
    pub epoch: u64,
    /// Indices of the current epoch not yet handed out.
    pub pending: Vec<usize>,
    pub pos: usize,
    pub in_epoch: bool,
    /// Sampler-specific persistent data.
    pub extra: X,
}

/// BoT `RandomIdentitySampler` (spec §1.3). Per epoch: each identity's indices are shuffled (an identity
/// with fewer than K images is first drawn K times with replacement) and cut into chunks of K, dropping
/// the remainder; while at least P = batch/K identities still have chunks, P distinct ones are drawn
/// uniformly (`random.sample`) and one chunk is popped from each. Batches are always full.
#[derive(Clone, Debug)]
pub struct RandomIdentitySampler<R = ChaCha8Rng> {
    groups: Vec<Vec<usize>>,
    batch_size: usize,
    k: usize,
    s: StreamState<R>,
}

impl RandomIdentitySampler<ChaCha8Rng> {
    /// `labels[i]` is the identity of dataset item `i`; BoT uses batch 64, K = 4.
    pub fn new(labels: &[i64], batch_size: usize, k: usize, seed: u64) -> Result<Self, SamplerError> {
        Self::with_rng(labels, batch_size, k, ChaCha8Rng::seed_from_u64(seed))
    }
}

impl<R: RandomSource + Clone + Serialize + DeserializeOwned> RandomIdentitySampler<R> {
    pub fn with_rng(labels: &[i64], batch_size: usize, k: usize, rng: R) -> Result<Self, SamplerError> {
        if k == 0 || batch_size == 0 || (batch_size / k) * k != batch_size {
            return Err(SamplerError::BadBatchShape { batch_size, k });
        }
        let groups = group_by_label(labels);
        let p = batch_size / k;
        if groups.len() < p {
            return Err(SamplerError::TooFewIdentities {
                needed: p,
                found: groups.len(),
            });
        }
        Ok(RandomIdentitySampler {
            groups,
            batch_size,
            k,
            s: StreamState {
                n_samples: labels.len(),
                rng,
                epoch: 0,
                pending: Vec::new(),
                pos: 0,
                in_epoch: false,
                extra: (),
            },
        })
    }

    /// One epoch's index list, exactly as the Python `__iter__` builds it.
    pub fn epoch_indices(&mut self) -> Vec<usize> {
        let rng = &mut self.s.rng;
        let k = self.k;
        let mut chunks: Vec<std::collections::VecDeque<Vec<usize>>> = Vec::with_capacity(self.groups.len());
        for g in &self.groups {
            let mut idxs: Vec<usize> = if g.len() < k {
                (0..k).map(|_| g[rng.below(g.len() as u64) as usize]).collect()
            } else {
                g.clone()
            };
            rng.shuffle(&mut idxs);
            chunks.push(idxs.chunks_exact(k).map(|c| c.to_vec()).collect());
        }
        let p = self.batch_size / k;
        let mut avail: Vec<usize> = (0..self.groups.len()).collect();
        let mut out = Vec::new();
        while avail.len() >= p {
            let picked: Vec<usize> = rng
                .sample_positions(avail.len(), p)
                .into_iter()
                .map(|i| avail[i])
                .collect();
            for g in picked {
                out.extend(chunks[g].pop_front().expect("available identity has a chunk"));
                if chunks[g].is_empty() {
                    avail.retain(|&x| x != g);
                }
            }
        }
        out
    }
}

/// Hands out `pending[pos..]` in batches; refills at epoch start via `fill`.
fn next_from<R, X>(
    s: &mut StreamState<R, X>,
    batch_size: usize,
    drop_last: bool,
    fill: impl FnOnce(&mut StreamState<R, X>) -> Vec<usize>,
) -> Option<Vec<usize>> {
    if !s.in_epoch {
        s.pending = fill(s);
        s.pos = 0;
        s.in_epoch = true;
    }
    let left = s.pending.len() - s.pos;
    if left == 0 || (drop_last && left < batch_size) {
        s.in_epoch = false;
        s.pending.clear();
        s.pos = 0;
        s.epoch += 1;
        return None;
    }
    let n = left.min(batch_size);
    let b = s.pending[s.pos..s.pos + n].to_vec();
    s.pos += n;
    Some(b)
}

/// `epoch`, `state` and `restore` of a sampler whose whole state is its `s: StreamState`; a saved state
/// is accepted only for the same number of samples.
macro_rules! stream_state_methods {
    () => {
        fn epoch(&self) -> u64 {
            self.s.epoch
        }

        fn state(&self) -> Self::State {
            self.s.clone()
        }

        fn restore(&mut self, state: Self::State) -> Result<(), SamplerError> {
            if state.n_samples != self.s.n_samples {
                return Err(SamplerError::StateMismatch {
                    saved: state.n_samples,
                    found: self.s.n_samples,
                });
            }
            self.s = state;
            Ok(())
        }
    };
}

impl<R: RandomSource + Clone + Serialize + DeserializeOwned> Sampler for RandomIdentitySampler<R> {
    type State = StreamState<R>;

    fn next_batch(&mut self) -> Option<Vec<usize>> {
        if !self.s.in_epoch {
            let idx = self.epoch_indices();
            self.s.pending = idx;
            self.s.pos = 0;
            self.s.in_epoch = true;
        }
        let bs = self.batch_size;
        next_from(&mut self.s, bs, true, |_| unreachable!("filled above"))
    }

    stream_state_methods!();
}

/// Persistent per-class index lists of [`ClassUniformSampler`]: the reference shuffles them in place,
/// so each pass starts from the previous pass's order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassLists(pub Vec<Vec<usize>>);

/// DAAO / light-reid `ClassUniformlySampler(k)` + `DataLoader(batch_size, drop_last=False)` (spec §2.2).
/// Each pass shuffles the class list, then for each class takes K images: a class with at least K images
/// has its (persistent) list shuffled in place and contributes the first K; a smaller class is tiled K
/// times, shuffled, and cut to K. Batches are consecutive runs of `batch_size` (the last may be short).
#[derive(Clone, Debug)]
pub struct ClassUniformSampler<R = ChaCha8Rng> {
    batch_size: usize,
    k: usize,
    s: StreamState<R, ClassLists>,
}

impl ClassUniformSampler<ChaCha8Rng> {
    /// DAAO: k = 4, batch 32.
    pub fn new(labels: &[i64], batch_size: usize, k: usize, seed: u64) -> Result<Self, SamplerError> {
        Self::with_rng(labels, batch_size, k, ChaCha8Rng::seed_from_u64(seed))
    }
}

impl<R: RandomSource + Clone + Serialize + DeserializeOwned> ClassUniformSampler<R> {
    pub fn with_rng(labels: &[i64], batch_size: usize, k: usize, rng: R) -> Result<Self, SamplerError> {
        if k == 0 || batch_size == 0 {
            return Err(SamplerError::BadBatchShape { batch_size, k });
        }
        if labels.is_empty() {
            return Err(SamplerError::Empty);
        }
        Ok(ClassUniformSampler {
            batch_size,
            k,
            s: StreamState {
                n_samples: labels.len(),
                rng,
                epoch: 0,
                pending: Vec::new(),
                pos: 0,
                in_epoch: false,
                extra: ClassLists(group_by_label(labels)),
            },
        })
    }

    /// One pass's index list (`_generate_list`).
    pub fn pass_indices(&mut self) -> Vec<usize> {
        pass_indices(&mut self.s, self.k)
    }
}

fn pass_indices<R: RandomSource>(s: &mut StreamState<R, ClassLists>, k: usize) -> Vec<usize> {
    let rng = &mut s.rng;
    let lists = &mut s.extra.0;
    let mut keys: Vec<usize> = (0..lists.len()).collect();
    rng.shuffle(&mut keys);
    let mut out = Vec::with_capacity(keys.len() * k);
    for c in keys {
        let v = &mut lists[c];
        if v.len() >= k {
            rng.shuffle(v);
            out.extend_from_slice(&v[..k]);
        } else {
            let mut t: Vec<usize> = v.iter().copied().cycle().take(v.len() * k).collect();
            rng.shuffle(&mut t);
            out.extend_from_slice(&t[..k]);
        }
    }
    out
}

impl<R: RandomSource + Clone + Serialize + DeserializeOwned> Sampler for ClassUniformSampler<R> {
    type State = StreamState<R, ClassLists>;

    fn next_batch(&mut self) -> Option<Vec<usize>> {
        let (bs, k) = (self.batch_size, self.k);
        next_from(&mut self.s, bs, false, |s| pass_indices(s, k))
    }

    stream_state_methods!();
}

/// Uniform random permutation each epoch, cut into batches; `drop_last` drops the short tail
/// (IGOAS: batch 64, `drop_last=True`).
#[derive(Clone, Debug)]
pub struct RandomSampler<R = ChaCha8Rng> {
    batch_size: usize,
    drop_last: bool,
    s: StreamState<R>,
}

impl RandomSampler<ChaCha8Rng> {
    pub fn new(n: usize, batch_size: usize, drop_last: bool, seed: u64) -> Result<Self, SamplerError> {
        Self::with_rng(n, batch_size, drop_last, ChaCha8Rng::seed_from_u64(seed))
    }
}

impl<R: RandomSource + Clone + Serialize + DeserializeOwned> RandomSampler<R> {
    pub fn with_rng(n: usize, batch_size: usize, drop_last: bool, rng: R) -> Result<Self, SamplerError> {
        if batch_size == 0 {
            return Err(SamplerError::BadBatchShape { batch_size, k: 1 });
        }
        if n == 0 || (drop_last && n < batch_size) {
            return Err(SamplerError::Empty);
        }
        Ok(RandomSampler {
            batch_size,
            drop_last,
            s: StreamState {
                n_samples: n,
                rng,
                epoch: 0,
                pending: Vec::new(),
                pos: 0,
                in_epoch: false,
                extra: (),
            },
        })
    }

    /// Batches per epoch.
    pub fn len(&self) -> usize {
        if self.drop_last {
            self.s.n_samples / self.batch_size
        } else {
            self.s.n_samples.div_ceil(self.batch_size)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<R: RandomSource + Clone + Serialize + DeserializeOwned> Sampler for RandomSampler<R> {
    type State = StreamState<R>;

    fn next_batch(&mut self) -> Option<Vec<usize>> {
        let (bs, dl, n) = (self.batch_size, self.drop_last, self.s.n_samples);
        next_from(&mut self.s, bs, dl, |s| {
            let mut v: Vec<usize> = (0..n).collect();
            s.rng.shuffle(&mut v);
            v
        })
    }

    stream_state_methods!();
}
