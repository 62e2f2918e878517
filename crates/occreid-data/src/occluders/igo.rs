//! IGOAS Incremental Generative Occlusion (`bfe.py: BatchIncErasing`, spec §3.2).
use serde::{Deserialize, Serialize};

use crate::transforms::{fill_rect, py_round, RandomSource, Rect};

/// The IGO block's occluded-area schedule and box shape: `r(e) = start + growth·e/span` up to epoch
/// `last_growing_epoch` (`epochm`), then `plateau`; aspect (height / width) drawn from `aspect`.
/// Defaults: `BatchIncErasing(epochm=55, p=1/3, r1=0.5, r2=1)` with the 0.1 + 0.4·e/90 growth.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IgoSchedule {
    pub start: f64,
    pub growth: f64,
    pub span: f64,
    pub last_growing_epoch: usize,
    pub plateau: f64,
    pub aspect: [f64; 2],
}

impl Default for IgoSchedule {
    fn default() -> Self {
        Self {
            start: 0.1,
            growth: 0.4,
            span: 90.0,
            last_growing_epoch: 55,
            plateau: 1.0 / 3.0,
            aspect: [0.5, 1.0],
        }
    }
}

impl IgoSchedule {
    /// Occluded area fraction at 0-based `epoch`.
    pub fn ratio(&self, epoch: usize) -> f64 {
        if epoch <= self.last_growing_epoch {
            self.start + self.growth * epoch as f64 / self.span
        } else {
            self.plateau
        }
    }

    /// Why no box can be drawn for an `h × w` input at 0-based `epoch` (the reference would loop
    /// 10⁶ times and crash), or `None` when one can.
    pub fn impossible(&self, h: usize, w: usize, epoch: usize) -> Option<String> {
        let r = self.ratio(epoch);
        let [lo, hi] = self.aspect;
        if !(r > 0.0 && r < 1.0) {
            return Some(format!("occluded area ratio {r} at epoch {epoch} is outside (0, 1)"));
        }
        if !(lo > 0.0 && lo <= hi && hi.is_finite()) {
            return Some(format!("aspect range [{lo}, {hi}] must satisfy 0 < low <= high"));
        }
        let target = (h * w) as f64 * r;
        if target.sqrt() > w as f64 {
            return None; // full-width band of round(A / w) <= h rows
        }
        let fits = (0..=1000).any(|k| {
            let ar = lo + (hi - lo) * k as f64 / 1000.0;
            py_round((target * ar).sqrt()) <= h as i64 && py_round((target / ar).sqrt()) <= w as i64
        });
        (!fits).then(|| {
            format!("no box of area {target:.0} px with aspect in [{lo}, {hi}] fits a {h}x{w} input at epoch {epoch}")
        })
    }
}

/// Occluded area fraction at 0-based epoch `e` with the reference's schedule.
pub fn igo_area_ratio(epoch: usize) -> f64 {
    IgoSchedule::default().ratio(epoch)
}

/// One IGO rectangle and its per-channel fill (in normalised units, as stored in an `f32` tensor).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct IgoOcclusion {
    pub rect: Rect,
    pub fill: [f32; 3],
}

/// Draws the rectangle for an `h × w` input at `epoch`, in the reference's order: aspect
/// `U(0.5, 1)` per attempt (when `√A ≤ w`; otherwise full width and `rh = round(A/w)`), until
/// `rw ≤ w` and `rh ≤ h` (at most 10⁶ attempts); then `sx ~ U{0..h−rh}`, `sy ~ U{0..w−rw}`; then three
/// fills `U(0, 1)`. `None` only if every attempt fails (the reference would crash there).
pub fn igo_draw<R: RandomSource>(h: usize, w: usize, epoch: usize, rng: &mut R) -> Option<IgoOcclusion> {
    igo_draw_with(h, w, epoch, &IgoSchedule::default(), rng)
}

/// [`igo_draw`] with another schedule.
pub fn igo_draw_with<R: RandomSource>(
    h: usize,
    w: usize,
    epoch: usize,
    schedule: &IgoSchedule,
    rng: &mut R,
) -> Option<IgoOcclusion> {
    // Evaluated as the reference does: area · (r1 + r2·e/span), or area · p.
    let area = (h * w) as f64;
    let target = area * schedule.ratio(epoch);
    let [lo, hi] = schedule.aspect;
    for _ in 0..1_000_000 {
        let (rh, rw) = if target.sqrt() <= w as f64 {
            let ar = rng.uniform(lo, hi);
            (py_round((target * ar).sqrt()), py_round((target / ar).sqrt()))
        } else {
            (py_round(target / w as f64), w as i64)
        };
        if rw <= w as i64 && rh <= h as i64 {
            let sx = rng.randint(0, h as i64 - rh) as usize;
            let sy = rng.randint(0, w as i64 - rw) as usize;
            let fill = [
                rng.uniform(0.0, 1.0) as f32,
                rng.uniform(0.0, 1.0) as f32,
                rng.uniform(0.0, 1.0) as f32,
            ];
            return Some(IgoOcclusion {
                rect: Rect {
                    top: sx,
                    left: sy,
                    height: rh as usize,
                    width: rw as usize,
                },
                fill,
            });
        }
    }
    None
}

/// Writes `occ` into every image of a `[b, 3, h, w]` batch (in place) and returns the mask
/// `[b, 1, h, w]`: 1 everywhere, 0 inside the rectangle.
pub fn igo_apply(batch: &mut [f32], b: usize, h: usize, w: usize, occ: &IgoOcclusion) -> Vec<f32> {
    assert_eq!(batch.len(), b * 3 * h * w, "batch is not [{b}, 3, {h}, {w}]");
    let mut plane = vec![1f32; h * w];
    for row in occ.rect.top..occ.rect.top + occ.rect.height {
        plane[row * w + occ.rect.left..row * w + occ.rect.left + occ.rect.width].fill(0.0);
    }
    for img in batch.chunks_exact_mut(3 * h * w) {
        fill_rect(img, h, w, occ.rect, occ.fill);
    }
    plane.repeat(b)
}

/// `BatchIncErasing.forward(x, epoch)` on a normalised `[b, 3, h, w]` batch, in place. With
/// `shards > 1` the batch is cut as `nn.DataParallel` scatters it (chunks of `⌈b/shards⌉`) and every
/// chunk draws its own rectangle, emulating the reference's 2-GPU runs (spec §3.9). Returns each
/// chunk's occlusion and the `[b, 1, h, w]` mask.
pub fn batch_inc_erasing<R: RandomSource>(
    batch: &mut [f32],
    b: usize,
    h: usize,
    w: usize,
    epoch: usize,
    shards: usize,
    rng: &mut R,
) -> (Vec<IgoOcclusion>, Vec<f32>) {
    assert_eq!(batch.len(), b * 3 * h * w, "batch is not [{b}, 3, {h}, {w}]");
    let per = b.div_ceil(shards.max(1)).max(1);
    let mut occs = Vec::new();
    let mut mask = Vec::with_capacity(b * h * w);
    for chunk in batch.chunks_mut(per * 3 * h * w) {
        let n = chunk.len() / (3 * h * w);
        match igo_draw(h, w, epoch, rng) {
            Some(occ) => {
                mask.extend(igo_apply(chunk, n, h, w, &occ));
                occs.push(occ);
            }
            None => mask.extend(std::iter::repeat_n(1f32, n * h * w)),
        }
    }
    (occs, mask)
}
