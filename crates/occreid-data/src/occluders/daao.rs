//! DAAO occluded-sample generation (spec §2.1, `PersonReIDDataSet.__getitem__` / `get_zuoibiao`).
use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::transforms::{random_box, resize, AugmentParams, RandomSource, Rect, TrainTransform};

/// `get_zuoibiao` on a donor of `h × w`: up to 100 attempts at area `U(0.05, 0.2)·h·w`, aspect
/// `U(0.3, 1/0.3)`, `bh = round(√(A·r))`, `bw = round(√(A/r))` (ties to even), accepted when `bw < w` and
/// `bh < h`; top `~ U{0..h−bh}`, left `~ U{0..w−bw}`. `None` after 100 failures (the reference then
/// pastes the whole donor; [`DaaoOccluder`] does the same).
pub fn daao_box<R: RandomSource>(h: usize, w: usize, rng: &mut R) -> Option<Rect> {
    random_box(h, w, (0.05, 0.2), 0.3, rng)
}

/// A donor index uniform over `0..n` excluding `i` (spec §2.1 step 1, "reasonable reading": the whole
/// training set rather than the hard-coded first 12,936). Needs `n ≥ 2`.
pub fn pick_donor<R: RandomSource>(i: usize, n: usize, rng: &mut R) -> usize {
    assert!(n >= 2, "a donor needs at least two training images");
    loop {
        let a = rng.below(n as u64) as usize;
        if a != i {
            return a;
        }
    }
}

/// PIL `target.paste(donor.crop(box), box[:2])`: copies `rect` of `donor` into a copy of `target` at the
/// same coordinates, clipped to both images. Returns the image and the rectangle actually written.
pub fn paste_patch(target: &RgbImage, donor: &RgbImage, rect: Rect) -> (RgbImage, Rect) {
    let mut out = target.clone();
    let bottom = (rect.top + rect.height)
        .min(target.height() as usize)
        .min(donor.height() as usize);
    let right = (rect.left + rect.width)
        .min(target.width() as usize)
        .min(donor.width() as usize);
    let (h, w) = (bottom.saturating_sub(rect.top), right.saturating_sub(rect.left));
    for y in rect.top..rect.top + h {
        for x in rect.left..rect.left + w {
            out.put_pixel(x as u32, y as u32, *donor.get_pixel(x as u32, y as u32));
        }
    }
    let written = Rect {
        top: rect.top,
        left: rect.left,
        height: h,
        width: w,
    };
    (out, written)
}

/// Whether the full and the occluded image of a pair share their random flip and colour jitter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairAugment {
    /// As coded: each image draws its own flip and jitter (half the pairs are mirror images).
    Independent,
    /// As intended (inferred): one draw applied to both, so the pair stays spatially aligned.
    Shared,
}

/// A full / occluded training pair.
#[derive(Clone, Debug, PartialEq)]
pub struct DaaoPair {
    /// CHW `f32` of the full image.
    pub full: Vec<f32>,
    /// CHW `f32` of the occluded image.
    pub occluded: Vec<f32>,
    /// Pasted rectangle, in the coordinates the paste happened in (raw image, or `height × width`
    /// when `paste_after_resize`), before any flip.
    pub rect: Rect,
    pub full_params: AugmentParams,
    pub occluded_params: AugmentParams,
}

/// DAAO's pair generator: donor patch + the training transform (bicubic 256×128, flip, colour jitter,
/// normalise) on both images.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DaaoOccluder {
    pub transform: TrainTransform,
    pub pair: PairAugment,
    /// Inferred simplification (§2.1 step 3): resize image and donor to the output size before the
    /// box draw and paste, instead of working at the raw sizes.
    pub paste_after_resize: bool,
}

impl DaaoOccluder {
    pub fn new(pair: PairAugment) -> Self {
        DaaoOccluder {
            transform: TrainTransform::daao(),
            pair,
            paste_after_resize: false,
        }
    }

    /// Builds the pair for `img` with occluder content from `donor`. Draw order: box (on the donor),
    /// then the full image's transform, then the occluded image's (skipped when shared).
    pub fn make_pair<R: RandomSource>(&self, img: &RgbImage, donor: &RgbImage, rng: &mut R) -> DaaoPair {
        let t = &self.transform;
        let (base, donor) = if self.paste_after_resize {
            (
                resize(img, t.height, t.width, t.interpolation),
                resize(donor, t.height, t.width, t.interpolation),
            )
        } else {
            (img.clone(), donor.clone())
        };
        let rect = daao_box(donor.height() as usize, donor.width() as usize, rng).unwrap_or(Rect {
            top: 0,
            left: 0,
            height: donor.height() as usize,
            width: donor.width() as usize,
        });
        let (occ, rect) = paste_patch(&base, &donor, rect);
        let full_params = t.draw(rng);
        let occluded_params = match self.pair {
            PairAugment::Shared => full_params.clone(),
            PairAugment::Independent => t.draw(rng),
        };
        DaaoPair {
            full: t.apply_params(&base, &full_params),
            occluded: t.apply_params(&occ, &occluded_params),
            rect,
            full_params,
            occluded_params,
        }
    }
}
