//! Deterministic occlusion of query images for robustness evaluation: occluder kind × area ratio ×
//! position, fixed by a seed, with the binary mask of what was covered.
use image::RgbImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::transforms::{resize, Interpolation, Rect};

/// What covers the occluded rectangle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OccluderKind {
    /// One random colour.
    SolidBox,
    /// Independent uniform noise per pixel and channel.
    NoiseBox,
    /// The same rectangle of a donor image of another identity (resized to the query's size), as DAAO.
    DonorPatch,
    /// A whole donor pedestrian image, resized into the rectangle.
    Pedestrian,
}

impl OccluderKind {
    pub const ALL: [OccluderKind; 4] = [
        OccluderKind::SolidBox,
        OccluderKind::NoiseBox,
        OccluderKind::DonorPatch,
        OccluderKind::Pedestrian,
    ];

    pub fn needs_donor(self) -> bool {
        matches!(self, OccluderKind::DonorPatch | OccluderKind::Pedestrian)
    }

    /// The name configs and JSON use.
    pub fn name(self) -> &'static str {
        match self {
            OccluderKind::SolidBox => "solid_box",
            OccluderKind::NoiseBox => "noise_box",
            OccluderKind::DonorPatch => "donor_patch",
            OccluderKind::Pedestrian => "pedestrian",
        }
    }
}

/// Where the rectangle goes: full-width bands at the top / bottom, full-height bands at the left /
/// right, or a box of random aspect (height/width in [0.5, 2]) at a random place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    Top,
    Bottom,
    Left,
    Right,
    Random,
}

impl Position {
    pub const ALL: [Position; 5] = [
        Position::Top,
        Position::Bottom,
        Position::Left,
        Position::Right,
        Position::Random,
    ];

    /// The name configs and JSON use.
    pub fn name(self) -> &'static str {
        match self {
            Position::Top => "top",
            Position::Bottom => "bottom",
            Position::Left => "left",
            Position::Right => "right",
            Position::Random => "random",
        }
    }
}

/// The suite's area ratios (fraction of the image covered).
pub const AREA_RATIOS: [f64; 6] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];

/// Every (kind, ratio, position) of the suite: 4 × 6 × 5 = 120 settings.
pub fn robustness_grid() -> Vec<(OccluderKind, f64, Position)> {
    let mut v = Vec::with_capacity(120);
    for k in OccluderKind::ALL {
        for r in AREA_RATIOS {
            for p in Position::ALL {
                v.push((k, r, p));
            }
        }
    }
    v
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OccluderError {
    #[error("occluder {0:?} needs a donor image (another identity); pass one")]
    NeedsDonor(OccluderKind),
    #[error("area ratio {0} is outside (0, 1]")]
    BadRatio(f64),
    #[error("cannot occlude an empty image")]
    EmptyImage,
}

/// An occluded query: the image, the covered rectangle, and the mask (`h·w`, row-major, 1 = occluded).
#[derive(Clone, Debug, PartialEq)]
pub struct OccludedImage {
    pub image: RgbImage,
    pub rect: Rect,
    pub mask: Vec<u8>,
}

impl OccludedImage {
    /// Fraction of pixels covered.
    pub fn covered(&self) -> f64 {
        self.mask.iter().map(|&m| m as usize).sum::<usize>() as f64 / self.mask.len() as f64
    }
}

fn rect_for<R: Rng>(h: usize, w: usize, ratio: f64, position: Position, rng: &mut R) -> Rect {
    let band = |n: usize| ((ratio * n as f64).round() as usize).clamp(1, n);
    match position {
        Position::Top => Rect {
            top: 0,
            left: 0,
            height: band(h),
            width: w,
        },
        Position::Bottom => {
            let bh = band(h);
            Rect {
                top: h - bh,
                left: 0,
                height: bh,
                width: w,
            }
        }
        Position::Left => Rect {
            top: 0,
            left: 0,
            height: h,
            width: band(w),
        },
        Position::Right => {
            let bw = band(w);
            Rect {
                top: 0,
                left: w - bw,
                height: h,
                width: bw,
            }
        }
        Position::Random => {
            let area = ratio * (h * w) as f64;
            let aspect: f64 = rng.random_range(0.5..=2.0); // height / width
            let mut bh = (area * aspect).sqrt().round() as usize;
            let mut bw = (area / aspect).sqrt().round() as usize;
            if bw > w {
                bw = w;
                bh = (area / w as f64).round() as usize;
            }
            if bh > h {
                bh = h;
                bw = ((area / h as f64).round() as usize).min(w);
            }
            let (bh, bw) = (bh.clamp(1, h), bw.clamp(1, w));
            Rect {
                top: rng.random_range(0..=h - bh),
                left: rng.random_range(0..=w - bw),
                height: bh,
                width: bw,
            }
        }
    }
}

/// Occludes `img` deterministically: the same arguments always give the same output. `donor` is
/// required for [`OccluderKind::DonorPatch`] and [`OccluderKind::Pedestrian`] and ignored otherwise.
pub fn occlude(
    img: &RgbImage,
    kind: OccluderKind,
    ratio: f64,
    position: Position,
    seed: u64,
    donor: Option<&RgbImage>,
) -> Result<OccludedImage, OccluderError> {
    if !(ratio > 0.0 && ratio <= 1.0) {
        return Err(OccluderError::BadRatio(ratio));
    }
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w == 0 || h == 0 {
        return Err(OccluderError::EmptyImage);
    }
    let donor = match (kind.needs_donor(), donor) {
        (true, None) => return Err(OccluderError::NeedsDonor(kind)),
        (true, Some(d)) if d.width() == 0 || d.height() == 0 => return Err(OccluderError::EmptyImage),
        (_, d) => d,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let rect = rect_for(h, w, ratio, position, &mut rng);
    let mut out = img.clone();
    match kind {
        OccluderKind::SolidBox => {
            let c = image::Rgb([rng.random(), rng.random(), rng.random()]);
            for y in rect.top..rect.top + rect.height {
                for x in rect.left..rect.left + rect.width {
                    out.put_pixel(x as u32, y as u32, c);
                }
            }
        }
        OccluderKind::NoiseBox => {
            for y in rect.top..rect.top + rect.height {
                for x in rect.left..rect.left + rect.width {
                    out.put_pixel(
                        x as u32,
                        y as u32,
                        image::Rgb([rng.random(), rng.random(), rng.random()]),
                    );
                }
            }
        }
        OccluderKind::DonorPatch => {
            let d = donor.expect("checked above");
            let d = resize(d, h as u32, w as u32, Interpolation::Bilinear);
            for y in rect.top..rect.top + rect.height {
                for x in rect.left..rect.left + rect.width {
                    out.put_pixel(x as u32, y as u32, *d.get_pixel(x as u32, y as u32));
                }
            }
        }
        OccluderKind::Pedestrian => {
            let d = donor.expect("checked above");
            let d = resize(d, rect.height as u32, rect.width as u32, Interpolation::Bilinear);
            image::imageops::replace(&mut out, &d, rect.left as i64, rect.top as i64);
        }
    }
    let mut mask = vec![0u8; h * w];
    for y in rect.top..rect.top + rect.height {
        mask[y * w + rect.left..y * w + rect.left + rect.width].fill(1);
    }
    Ok(OccludedImage { image: out, rect, mask })
}
