//! torchvision `ColorJitter` on PIL images (`torchvision.transforms._functional_pil` → Pillow's
//! `ImageEnhance` / `Image.blend` / `convert("HSV")`), reproduced in 8-bit integer and single/double
//! precision exactly where Pillow uses them, so outputs match PIL bit for bit
//! (`tests/transforms_parity.rs`).
use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::rng::RandomSource;

/// Pillow `Image.blend(a, b, alpha)` on 8-bit data: `a + alpha·(b − a)` in `f32`, truncated, clipped
/// only when extrapolating (alpha outside [0, 1]).
#[inline]
fn blend(a: u8, b: u8, alpha: f32) -> u8 {
    let t = a as f32 + alpha * (b as i32 - a as i32) as f32;
    if (0.0..=1.0).contains(&alpha) {
        t as u8
    } else if t <= 0.0 {
        0
    } else if t >= 255.0 {
        255
    } else {
        t as u8
    }
}

/// Pillow's RGB → L (ITU-R 601-2 luma in 16-bit fixed point, rounded).
#[inline]
pub fn luma(p: &[u8]) -> u8 {
    ((p[0] as u32 * 19595 + p[1] as u32 * 38470 + p[2] as u32 * 7471 + 0x8000) >> 16) as u8
}

/// `F.adjust_brightness`: blend with black.
pub fn adjust_brightness(img: &mut RgbImage, factor: f64) {
    let factor = factor as f32;
    for v in img.iter_mut() {
        *v = blend(0, *v, factor);
    }
}

/// `F.adjust_contrast`: blend with the (rounded) mean luma of the image.
pub fn adjust_contrast(img: &mut RgbImage, factor: f64) {
    let factor = factor as f32;
    let n = (img.width() * img.height()) as u64;
    if n == 0 {
        return;
    }
    let sum: u64 = img.pixels().map(|p| luma(&p.0) as u64).sum();
    let mean = (sum as f64 / n as f64 + 0.5) as i64 as u8;
    for v in img.iter_mut() {
        *v = blend(mean, *v, factor);
    }
}

/// `F.adjust_saturation`: blend with the per-pixel luma (grayscale) image.
pub fn adjust_saturation(img: &mut RgbImage, factor: f64) {
    let factor = factor as f32;
    for p in img.pixels_mut() {
        let g = luma(&p.0);
        for c in p.0.iter_mut() {
            *c = blend(g, *c, factor);
        }
    }
}

fn rgb_to_hsv(r: u8, g: u8, b: u8) -> [u8; 3] {
    let maxc = r.max(g).max(b);
    let minc = r.min(g).min(b);
    if maxc == minc {
        return [0, 0, maxc];
    }
    let cr = (maxc - minc) as f32;
    let s = cr / maxc as f32;
    let rc = (maxc - r) as f32 / cr;
    let gc = (maxc - g) as f32 / cr;
    let bc = (maxc - b) as f32 / cr;
    let h: f32 = if r == maxc {
        bc - gc
    } else if g == maxc {
        (2.0 + rc as f64 - bc as f64) as f32
    } else {
        (4.0 + gc as f64 - rc as f64) as f32
    };
    let h = ((h as f64 / 6.0 + 1.0) % 1.0) as f32;
    let uh = ((h as f64 * 255.0) as i32).clamp(0, 255) as u8;
    let us = ((s as f64 * 255.0) as i32).clamp(0, 255) as u8;
    [uh, us, maxc]
}

fn hsv_to_rgb(h: u8, s: u8, v: u8) -> [u8; 3] {
    if s == 0 {
        return [v, v, v];
    }
    let hh = h as f32 as f64 * 6.0 / 255.0;
    let i = hh.floor() as i32;
    let f = (hh - i as f32 as f64) as f32;
    let fs = (s as f32 as f64 / 255.0) as f32;
    let vf = v as f32 as f64;
    let clip = |x: f64| (x.round() as i32).clamp(0, 255) as u8;
    let p = clip(vf * (1.0 - fs as f64));
    let q = clip(vf * (1.0 - (fs * f) as f64));
    let t = clip(vf * (1.0 - fs as f64 * (1.0 - f as f64)));
    match i % 6 {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

/// `F.adjust_hue` (PIL path): RGB → HSV (8-bit), add `int(hue_factor·255)` to H modulo 256, back to RGB.
/// `hue_factor` must be in [−0.5, 0.5].
pub fn adjust_hue(img: &mut RgbImage, hue_factor: f64) {
    assert!(
        (-0.5..=0.5).contains(&hue_factor),
        "hue_factor {hue_factor} is not in [-0.5, 0.5]"
    );
    let shift = ((hue_factor * 255.0) as i32) as u8;
    for p in img.pixels_mut() {
        let [h, s, v] = rgb_to_hsv(p.0[0], p.0[1], p.0[2]);
        p.0 = hsv_to_rgb(h.wrapping_add(shift), s, v);
    }
}

/// One of the four colour operations, applied in a random order by [`ColorJitter`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum ColorOp {
    Brightness(f64),
    Contrast(f64),
    Saturation(f64),
    Hue(f64),
}

impl ColorOp {
    pub fn apply(self, img: &mut RgbImage) {
        match self {
            ColorOp::Brightness(f) => adjust_brightness(img, f),
            ColorOp::Contrast(f) => adjust_contrast(img, f),
            ColorOp::Saturation(f) => adjust_saturation(img, f),
            ColorOp::Hue(f) => adjust_hue(img, f),
        }
    }
}

/// torchvision `ColorJitter(brightness, contrast, saturation, hue)`: factors are drawn from
/// `[max(0, 1 − x), 1 + x]` (hue from `[−h, h]`); a strength of 0 disables that operation; the enabled
/// operations run in a random permutation (torchvision's `randperm(4)` then the factor draws, in that order).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColorJitter {
    pub brightness: f64,
    pub contrast: f64,
    pub saturation: f64,
    pub hue: f64,
}

impl ColorJitter {
    /// DAAO's `ColorJitter(brightness=0.25, contrast=0.15, saturation=0.25, hue=0)` (spec §2.1).
    pub fn daao() -> Self {
        ColorJitter {
            brightness: 0.25,
            contrast: 0.15,
            saturation: 0.25,
            hue: 0.0,
        }
    }

    /// Draws the permutation and factors: the ops that would be applied, in order.
    pub fn draw<R: RandomSource>(&self, rng: &mut R) -> Vec<ColorOp> {
        let mut order = [0usize, 1, 2, 3];
        rng.shuffle(&mut order);
        let range =
            |x: f64, rng: &mut R| -> Option<f64> { (x > 0.0).then(|| rng.uniform((1.0 - x).max(0.0), 1.0 + x)) };
        let b = range(self.brightness, rng);
        let c = range(self.contrast, rng);
        let s = range(self.saturation, rng);
        let h = (self.hue > 0.0).then(|| rng.uniform(-self.hue, self.hue));
        order
            .iter()
            .filter_map(|&i| match i {
                0 => b.map(ColorOp::Brightness),
                1 => c.map(ColorOp::Contrast),
                2 => s.map(ColorOp::Saturation),
                _ => h.map(ColorOp::Hue),
            })
            .collect()
    }

    /// Draws and applies.
    pub fn apply<R: RandomSource>(&self, img: &mut RgbImage, rng: &mut R) -> Vec<ColorOp> {
        let ops = self.draw(rng);
        for op in &ops {
            op.apply(img);
        }
        ops
    }
}
