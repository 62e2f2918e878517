//! The loader's evaluation-occlusion transform: an occluded copy of a query set, one pass.
//!
//! Everything random about sample `i` (the occluder's seed, the donor) comes from `(seed, i)` and the
//! sample itself, never from the batch it lands in or the thread that decodes it, so the occluded query
//! set is the same whatever the batch size or thread count.
use std::sync::Arc;

use crate::datasets::common::SplitMix64;
use crate::datasets::Sample;
use crate::occluders::{occlude, OccludedImage, OccluderKind, Position};
use crate::transforms::{decode, TestTransform, TransformError};

/// `occlude(decoded image, kind, ratio, position, per-sample seed, donor)` then `test`.
#[derive(Clone)]
pub struct OccludedTest {
    pub test: TestTransform,
    pub kind: OccluderKind,
    pub ratio: f64,
    pub position: Position,
    pub seed: u64,
    /// Where donor kinds ([`OccluderKind::needs_donor`]) take their occluder from; a donor never has the
    /// query's pid. Unused by the other kinds (may be empty).
    pub donors: Arc<Vec<Sample>>,
}

impl std::fmt::Debug for OccludedTest {
    // The donor list can hold tens of thousands of samples; its size is what matters in a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OccludedTest")
            .field("test", &self.test)
            .field("kind", &self.kind)
            .field("ratio", &self.ratio)
            .field("position", &self.position)
            .field("seed", &self.seed)
            .field("donors", &self.donors.len())
            .finish()
    }
}

/// Rejection draws before falling back to a scan; with one identity in a few hundred, the fallback
/// practically never runs, and it keeps a donor list dominated by the query's pid from looping forever.
const DONOR_DRAWS: usize = 32;

impl OccludedTest {
    /// The seed passed to [`occlude`] for dataset index `index`.
    pub fn occlusion_seed(&self, index: usize) -> u64 {
        SplitMix64::stream(self.seed, index as u64, 0).next_u64()
    }

    /// The donor of dataset index `index` (`None` when the kind needs none): uniform over `donors`, redrawn
    /// while it has the query's pid. Error when no donor has another pid.
    pub fn donor_for(&self, index: usize, sample: &Sample) -> Result<Option<&Sample>, TransformError> {
        if !self.kind.needs_donor() {
            return Ok(None);
        }
        let donors = &self.donors[..];
        let no_donor = || TransformError::NoDonor {
            path: sample.path.clone(),
            pid: sample.pid,
            donors: donors.len(),
        };
        if donors.is_empty() {
            return Err(no_donor());
        }
        let mut rng = SplitMix64::stream(self.seed, index as u64, 1);
        let mut j = 0;
        for _ in 0..DONOR_DRAWS {
            j = rng.below(donors.len());
            if donors[j].pid != sample.pid {
                return Ok(Some(&donors[j]));
            }
        }
        let n = donors.len();
        (1..n)
            .map(|k| &donors[(j + k) % n])
            .find(|d| d.pid != sample.pid)
            .map(Some)
            .ok_or_else(no_donor)
    }

    /// Decodes sample `index` (and its donor) and occludes it, before the test transform.
    pub fn occlude_sample(&self, index: usize, sample: &Sample) -> Result<OccludedImage, TransformError> {
        let donor = match self.donor_for(index, sample)? {
            Some(d) => Some(decode(&d.path)?),
            None => None,
        };
        let img = decode(&sample.path)?;
        occlude(
            &img,
            self.kind,
            self.ratio,
            self.position,
            self.occlusion_seed(index),
            donor.as_ref(),
        )
        .map_err(|source| TransformError::Occlude {
            path: sample.path.clone(),
            source,
        })
    }

    /// CHW tensor of the occluded sample, and the occlusion.
    pub(crate) fn load(&self, index: usize, sample: &Sample, dst: &mut [f32]) -> Result<Occlusion, TransformError> {
        let o = self.occlude_sample(index, sample)?;
        self.test.apply_into(&o.image, dst);
        let (h, w) = (o.image.height() as usize, o.image.width() as usize);
        Ok(Occlusion {
            fraction: o.covered() as f32,
            rect: o.rect,
            source: (h, w),
        })
    }
}

/// What the loader keeps of one occlusion to fill the batch's fraction and mask fields.
pub(crate) struct Occlusion {
    pub fraction: f32,
    pub rect: crate::transforms::Rect,
    /// Source image `(height, width)`, where `rect` lives.
    pub source: (usize, usize),
}

impl Occlusion {
    /// The mask at output resolution, nearest-neighbour from the source rectangle (output pixel centres
    /// mapped to the source), so it lines up with the resized tensor.
    pub fn write_mask(&self, out_h: usize, out_w: usize, dst: &mut [u8]) {
        let (sh, sw) = self.source;
        let covered = |o: usize, n_out: usize, n_src: usize, lo: usize, len: usize| {
            let s = ((2 * o + 1) * n_src) / (2 * n_out);
            s >= lo && s < lo + len
        };
        let cols: Vec<bool> = (0..out_w)
            .map(|x| covered(x, out_w, sw, self.rect.left, self.rect.width))
            .collect();
        for (y, row) in dst.chunks_exact_mut(out_w).take(out_h).enumerate() {
            let r = covered(y, out_h, sh, self.rect.top, self.rect.height);
            for (m, &c) in row.iter_mut().zip(&cols) {
                *m = (r && c) as u8;
            }
        }
    }
}
