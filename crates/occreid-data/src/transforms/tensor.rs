//! Geometry on 8-bit images (flip, pad, crop), `ToTensor` + `Normalize` into CHW `f32`, and BoT's
//! random erasing on the normalised tensor.
use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::rng::{py_round, RandomSource};

/// ImageNet channel means (`torchvision` / BoT `PIXEL_MEAN`).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations (`PIXEL_STD`).
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// An axis-aligned rectangle in pixel coordinates (rows `top..top+height`, columns `left..left+width`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rect {
    pub top: usize,
    pub left: usize,
    pub height: usize,
    pub width: usize,
}

impl Rect {
    pub fn area(&self) -> usize {
        self.height * self.width
    }

    /// Whether pixel `(row, col)` lies inside.
    pub fn contains(&self, row: usize, col: usize) -> bool {
        row >= self.top && row < self.top + self.height && col >= self.left && col < self.left + self.width
    }
}

/// `F.hflip` in place.
pub fn hflip(img: &mut RgbImage) {
    // `imageops::flip_horizontal_in_place` goes pixel by pixel through get/put_pixel, several times slower.
    let w = img.width() as usize;
    if w == 0 {
        return;
    }
    for row in img.chunks_exact_mut(w * 3) {
        let (mut i, mut j) = (0, w - 1);
        while i < j {
            let (a, b) = row.split_at_mut(j * 3);
            a[i * 3..i * 3 + 3].swap_with_slice(&mut b[..3]);
            i += 1;
            j -= 1;
        }
    }
}

/// torchvision `Pad(padding)` with constant fill on all four sides.
pub fn pad(img: &RgbImage, padding: u32, fill: [u8; 3]) -> RgbImage {
    let mut out = RgbImage::from_pixel(img.width() + 2 * padding, img.height() + 2 * padding, image::Rgb(fill));
    image::imageops::replace(&mut out, img, padding as i64, padding as i64);
    out
}

/// `F.crop(img, top, left, height, width)` for a window inside the image.
pub fn crop(img: &RgbImage, top: u32, left: u32, height: u32, width: u32) -> RgbImage {
    image::imageops::crop_imm(img, left, top, width, height).to_image()
}

/// torchvision `RandomCrop.get_params`: `(top, left)` of a `th × tw` window in an `h × w` image; no draw
/// when the sizes are equal.
pub fn random_crop_params<R: RandomSource>(h: u32, w: u32, th: u32, tw: u32, rng: &mut R) -> (u32, u32) {
    assert!(h >= th && w >= tw, "crop {th}x{tw} larger than image {h}x{w}");
    if h == th && w == tw {
        return (0, 0);
    }
    let i = rng.below((h - th + 1) as u64) as u32;
    let j = rng.below((w - tw + 1) as u64) as u32;
    (i, j)
}

/// `ToTensor()` then `Normalize(mean, std)`, computed in `f32` with torchvision's operation order
/// (`v / 255`, then `(x − mean) / std`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalize {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Default for Normalize {
    fn default() -> Self {
        Normalize {
            mean: IMAGENET_MEAN,
            std: IMAGENET_STD,
        }
    }
}

impl Normalize {
    fn lut(&self) -> std::sync::Arc<[[f32; 256]; 3]> {
        // 768 f32 divisions per image would be a few per cent of a whole BoT transform; the table of the
        // last `Normalize` used on this thread is kept.
        type Cached = Option<([u32; 6], std::sync::Arc<[[f32; 256]; 3]>)>;
        thread_local!(static LAST: std::cell::RefCell<Cached> = const { std::cell::RefCell::new(None) });
        let (m, d) = (self.mean.map(f32::to_bits), self.std.map(f32::to_bits));
        let key = [m[0], m[1], m[2], d[0], d[1], d[2]];
        LAST.with_borrow_mut(|last| {
            if let Some((k, lut)) = last {
                if *k == key {
                    return lut.clone();
                }
            }
            let mut lut = [[0f32; 256]; 3];
            for (c, l) in lut.iter_mut().enumerate() {
                for (v, o) in l.iter_mut().enumerate() {
                    *o = (v as f32 / 255.0 - self.mean[c]) / self.std[c];
                }
            }
            let lut = std::sync::Arc::new(lut);
            *last = Some((key, lut.clone()));
            lut
        })
    }

    /// CHW tensor of the whole image.
    pub fn to_tensor(&self, img: &RgbImage) -> Vec<f32> {
        self.to_tensor_window(img, 0, 0, img.height() as usize, img.width() as usize)
    }

    /// CHW tensor of an `out_h × out_w` window whose top-left corner is at `(top, left)` in `img`;
    /// pixels outside the image read as 0 (before normalisation). `Pad(p)` + crop at `(i, j)` of the
    /// padded image is the window at `(i − p, j − p)`, without materialising the padded image.
    pub fn to_tensor_window(&self, img: &RgbImage, top: i64, left: i64, out_h: usize, out_w: usize) -> Vec<f32> {
        let mut out = vec![0f32; 3 * out_h * out_w];
        self.write_window(img, top, left, false, out_h, out_w, &mut out);
        out
    }

    /// [`Self::to_tensor_window`] into `dst` (`3·out_h·out_w`), of the image mirrored left-right when
    /// `flip` (the window is placed on the mirrored image, as `hflip` then crop), without a flipped copy.
    #[allow(clippy::too_many_arguments)]
    pub fn write_window(
        &self,
        img: &RgbImage,
        top: i64,
        left: i64,
        flip: bool,
        out_h: usize,
        out_w: usize,
        dst: &mut [f32],
    ) {
        assert_eq!(dst.len(), 3 * out_h * out_w, "tensor is not 3x{out_h}x{out_w}");
        let lut = self.lut();
        let (w, h) = (img.width() as i64, img.height() as i64);
        let raw = img.as_raw();
        let plane = out_h * out_w;
        let (r, rest) = dst.split_at_mut(plane);
        let (g, b) = rest.split_at_mut(plane);
        // Columns of the window that fall inside the image: x in x0..x1.
        let x0 = (-left).clamp(0, out_w as i64) as usize;
        let x1 = (w - left).clamp(x0 as i64, out_w as i64) as usize;
        for y in 0..out_h {
            let row = y * out_w..(y + 1) * out_w;
            let (r, g, b) = (&mut r[row.clone()], &mut g[row.clone()], &mut b[row]);
            let sy = top + y as i64;
            let (lo, hi) = if (0..h).contains(&sy) { (x0, x1) } else { (out_w, out_w) };
            for (c, p) in [&mut *r, &mut *g, &mut *b].into_iter().enumerate() {
                p[..lo.min(out_w)].fill(lut[c][0]);
                p[hi.max(lo)..].fill(lut[c][0]);
            }
            if lo >= hi {
                continue;
            }
            let src_row = &raw[(sy * w) as usize * 3..((sy + 1) * w) as usize * 3];
            // Image columns covered, left to right in the (possibly mirrored) image.
            let (c0, c1) = ((left + lo as i64) as usize, (left + hi as i64) as usize);
            let dst = r[lo..hi].iter_mut().zip(&mut g[lo..hi]).zip(&mut b[lo..hi]);
            if flip {
                let src = &src_row[(w as usize - c1) * 3..(w as usize - c0) * 3];
                for (((r, g), b), px) in dst.zip(src.chunks_exact(3).rev()) {
                    (*r, *g, *b) = (lut[0][px[0] as usize], lut[1][px[1] as usize], lut[2][px[2] as usize]);
                }
            } else {
                for (((r, g), b), px) in dst.zip(src_row[c0 * 3..c1 * 3].chunks_exact(3)) {
                    (*r, *g, *b) = (lut[0][px[0] as usize], lut[1][px[1] as usize], lut[2][px[2] as usize]);
                }
            }
        }
    }
}

/// BoT `RandomErasing` (`data/transforms/transforms.py`, spec §1.1): with probability `probability`,
/// up to 100 attempts at a rectangle of area `U(sl, sh)·H·W` and aspect `U(r1, 1/r1)`,
/// `h = round(√(A·r))`, `w = round(√(A/r))` (Python's round: ties to even), accepted when `w < W` and
/// `h < H`; top-left `x1 ~ U{0..H−h}`, `y1 ~ U{0..W−w}`; the rectangle of channel `c` is set to
/// `fill[c]` in the *normalised* tensor. Draw order and arithmetic follow the Python code, so under
/// [`super::PyRandom`] it reproduces BoT draw for draw.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RandomErasing {
    pub probability: f64,
    pub sl: f64,
    pub sh: f64,
    pub r1: f64,
    pub fill: [f32; 3],
}

impl Default for RandomErasing {
    fn default() -> Self {
        Self::bot()
    }
}

impl RandomErasing {
    /// BoT's configuration: p = 0.5, area 0.02–0.4, aspect 0.3–3.33, fill = `PIXEL_MEAN`.
    pub fn bot() -> Self {
        RandomErasing {
            probability: 0.5,
            sl: 0.02,
            sh: 0.4,
            r1: 0.3,
            fill: IMAGENET_MEAN,
        }
    }

    /// The rectangle to erase in an `h × w` tensor, or `None` (not applied, or 100 failed attempts).
    pub fn draw<R: RandomSource>(&self, h: usize, w: usize, rng: &mut R) -> Option<Rect> {
        if rng.uniform(0.0, 1.0) >= self.probability {
            return None;
        }
        random_box(h, w, (self.sl, self.sh), self.r1, rng)
    }

    /// Draws and erases in place; returns the erased rectangle.
    pub fn apply<R: RandomSource>(&self, chw: &mut [f32], h: usize, w: usize, rng: &mut R) -> Option<Rect> {
        let rect = self.draw(h, w, rng)?;
        fill_rect(chw, h, w, rect, self.fill);
        Some(rect)
    }
}

/// BoT's erasing box in an `h × w` image, also DAAO's occluder box: up to 100 attempts at area
/// `U(area.0, area.1)·h·w` and aspect `U(r1, 1/r1)`, height `round(√(A·r))`, width `round(√(A/r))` (ties to
/// even), accepted when strictly inside; top `~ U{0..h−bh}`, left `~ U{0..w−bw}`. `None` after 100 failures.
pub fn random_box<R: RandomSource>(h: usize, w: usize, area: (f64, f64), r1: f64, rng: &mut R) -> Option<Rect> {
    let image_area = (h * w) as f64;
    for _ in 0..100 {
        let target = rng.uniform(area.0, area.1) * image_area;
        let aspect = rng.uniform(r1, 1.0 / r1);
        let bh = py_round((target * aspect).sqrt());
        let bw = py_round((target / aspect).sqrt());
        if bw < w as i64 && bh < h as i64 {
            let top = rng.randint(0, h as i64 - bh) as usize;
            let left = rng.randint(0, w as i64 - bw) as usize;
            return Some(Rect {
                top,
                left,
                height: bh as usize,
                width: bw as usize,
            });
        }
    }
    None
}

/// Sets `rect` of each channel plane of a CHW tensor to `fill[c]`.
pub fn fill_rect(chw: &mut [f32], h: usize, w: usize, rect: Rect, fill: [f32; 3]) {
    assert_eq!(chw.len(), 3 * h * w, "tensor is not 3x{h}x{w}");
    for (c, plane) in chw.chunks_exact_mut(h * w).enumerate() {
        for row in rect.top..(rect.top + rect.height).min(h) {
            let end = (rect.left + rect.width).min(w);
            plane[row * w + rect.left..row * w + end].fill(fill[c]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hflip_mirrors_every_row() {
        for w in [1, 2, 5, 64] {
            let img = RgbImage::from_fn(w, 3, |x, y| image::Rgb([x as u8, y as u8, (x * 3 + y) as u8]));
            let mut ours = img.clone();
            hflip(&mut ours);
            assert_eq!(ours, image::imageops::flip_horizontal(&img), "width {w}");
        }
    }

    /// The window write equals materialising the flip, the zero padding and the crop.
    #[test]
    fn write_window_equals_flip_pad_crop() {
        let norm = Normalize::default();
        let img = RgbImage::from_fn(20, 30, |x, y| {
            image::Rgb([(x * 12) as u8, (y * 8) as u8, (x * y) as u8])
        });
        let pad_px = 10;
        for flip in [false, true] {
            let mut x = img.clone();
            if flip {
                hflip(&mut x);
            }
            let padded = pad(&x, pad_px, [0, 0, 0]);
            for (i, j) in [(0, 0), (20, 20), (3, 17), (20, 0), (0, 20), (10, 10)] {
                let want = norm.to_tensor(&crop(&padded, i, j, 30, 20));
                let mut got = vec![f32::NAN; want.len()];
                let (top, left) = (i as i64 - pad_px as i64, j as i64 - pad_px as i64);
                norm.write_window(&img, top, left, flip, 30, 20, &mut got);
                assert_eq!(got, want, "flip {flip} crop at ({i}, {j})");
            }
        }
        // A window entirely outside reads as padding.
        let mut got = vec![f32::NAN; 3 * 4 * 4];
        norm.write_window(&img, -50, 100, true, 4, 4, &mut got);
        assert!(got[..16]
            .iter()
            .all(|&v| v == (0.0 - IMAGENET_MEAN[0]) / IMAGENET_STD[0]));
    }
}
