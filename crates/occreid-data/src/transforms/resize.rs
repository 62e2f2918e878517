//! Resampling that reproduces Pillow's `Image.resize` (what torchvision's `Resize` calls on PIL images)
//! for the bilinear and bicubic filters, 8-bit RGB.
//!
//! Pillow resizes with a separable convolution whose kernel is stretched by the scale factor when
//! downscaling (antialiasing); each pass rounds to 8 bits through 22-bit fixed-point coefficients
//! (`libImaging/Resample.c`). This is the same algorithm with the same coefficient normalisation,
//! fixed-point rounding and pass-order rule, written from that description.
//!
//! **Measured difference vs PIL** (Pillow 13.0.0 through torchvision 0.26.0 `Resize`):
//! **max |Δ| = 0 uint8 levels** for bilinear and bicubic, on the committed fixtures of
//! `tools/gen_transform_fixtures.py` (smooth / edge / noisy images; 128×64→256×128, 97×41→256×128 and
//! →384×128, antialiased downscales 200×120→64×32 / 77×45 / 50×110, 97×41→64×32 vertical-first;
//! `tests/transforms_parity.rs`) and on 240 further random-noise cases (random sizes 5–260 → 5–400,
//! both filters) checked during development. Older Pillow (< 11) always ran the horizontal pass first;
//! against those, images whose height shrinks more than twice as much as their width can differ by
//! ±1 level.
use image::RgbImage;

/// Resampling filter, as torchvision's `InterpolationMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interpolation {
    /// PIL `BILINEAR` (torchvision's default for `Resize`; BoT, IGOAS).
    Bilinear,
    /// PIL `BICUBIC` (a = −0.5; DAAO's `interpolation=3`).
    Bicubic,
}

impl Interpolation {
    fn support(self) -> f64 {
        match self {
            Interpolation::Bilinear => 1.0,
            Interpolation::Bicubic => 2.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        let x = x.abs();
        match self {
            Interpolation::Bilinear => {
                if x < 1.0 {
                    1.0 - x
                } else {
                    0.0
                }
            }
            Interpolation::Bicubic => {
                const A: f64 = -0.5;
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
        }
    }
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Per-output-pixel taps: first input index, tap count, and fixed-point weights (`ksize` per output).
struct Coeffs {
    ksize: usize,
    bounds: Vec<(usize, usize)>,
    kk: Vec<i32>,
    /// [`Coeffs::fixed_width`], computed once.
    fixed: Option<(usize, Vec<usize>, Vec<i32>)>,
    /// Per output: [`reduce16`] of its weights, for the vertical pass.
    narrow: Vec<Option<Narrow>>,
}

/// Two-tap weights `k0, k1 ≥ 0` sharing a factor `2^s` small enough that `HALF + a·k0 + b·k1` over 8-bit
/// `a, b`, divided by `2^s`, fits 16 bits: `(HALF >> s) + a·(k0 >> s) + b·(k1 >> s)` then `>> (22 − s)` is
/// exactly `clip8` of the 32-bit sum (a common power of two divides out of the floor). Dyadic scales, e.g.
/// the 2× bilinear upscale of Market-1501's 128×64 crops (weights ¼, ¾), qualify; the 16-bit form runs
/// in 8-lane SIMD on baseline x86-64, where 32-bit multiplies are emulated.
#[derive(Clone, Copy)]
struct Narrow {
    half: u16,
    k0: u16,
    k1: u16,
    shift: u32,
}

fn reduce16(k: &[i32]) -> Option<Narrow> {
    let &[k0, k1] = k else { return None };
    if k0 < 0 || k1 < 0 || (k0 | k1) == 0 {
        return None;
    }
    let s = (k0 | k1).trailing_zeros().min(PRECISION_BITS - 1);
    let (half, k0, k1) = (HALF >> s, k0 >> s, k1 >> s);
    let fits = half as i64 + 255 * (k0 as i64 + k1 as i64) <= u16::MAX as i64;
    fits.then(|| Narrow {
        half: half as u16,
        k0: k0 as u16,
        k1: k1 as u16,
        shift: PRECISION_BITS - s,
    })
}

impl Coeffs {
    /// The same taps, each window shifted left so it spans exactly `k` inputs, `k` = the largest tap count
    /// (often below `ksize`: a 2× bilinear upscale has 2 non-zero taps of 3); zero weights fill the rest.
    /// Fixed-length inner loops then need no bounds juggling, and a zero weight adds nothing to the
    /// integer sum, so the result is unchanged. `None` when the input is narrower than `k`.
    fn fixed_width(&self, in_size: usize) -> Option<(usize, Vec<usize>, Vec<i32>)> {
        debug_assert!(self.fixed.is_none(), "computed once, in precompute");
        let k = self.bounds.iter().map(|&(_, n)| n).max().unwrap_or(0);
        if in_size < k || k == 0 {
            return None;
        }
        let mut starts = Vec::with_capacity(self.bounds.len());
        let mut kk = vec![0i32; self.bounds.len() * k];
        for (xx, &(xmin, n)) in self.bounds.iter().enumerate() {
            let start = xmin.min(in_size - k);
            let shift = xmin - start;
            let src = &self.kk[xx * self.ksize..xx * self.ksize + n];
            kk[xx * k + shift..xx * k + shift + n].copy_from_slice(src);
            starts.push(start);
        }
        Some((k, starts, kk))
    }
}

/// Coefficients of the last few `(in, out, filter)` on this thread: a loader resizes every image of a
/// dataset between the same few sizes, and recomputing costs ~1 % of a BoT transform.
fn coeffs(in_size: usize, out_size: usize, filter: Interpolation) -> std::rc::Rc<Coeffs> {
    type Cache = Vec<((usize, usize, Interpolation), std::rc::Rc<Coeffs>)>;
    thread_local!(static CACHE: std::cell::RefCell<Cache> = const { std::cell::RefCell::new(Vec::new()) });
    let key = (in_size, out_size, filter);
    CACHE.with_borrow_mut(|cache| {
        if let Some(pos) = cache.iter().position(|(k, _)| *k == key) {
            let hit = cache.remove(pos);
            cache.insert(0, hit);
        } else {
            cache.insert(0, (key, std::rc::Rc::new(precompute(in_size, out_size, filter))));
            cache.truncate(8);
        }
        cache[0].1.clone()
    })
}

fn precompute(in_size: usize, out_size: usize, filter: Interpolation) -> Coeffs {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size);
    let mut kk = vec![0i32; out_size * ksize];
    let mut w = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // C's (int) cast truncates toward zero; negative values are clamped to 0 right after.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize - xmin;
        let mut ww = 0.0;
        for (x, wx) in w.iter_mut().enumerate().take(xmax) {
            *wx = filter.weight((x as f64 + xmin as f64 - center + 0.5) * ss);
            ww += *wx;
        }
        let k = &mut kk[xx * ksize..(xx + 1) * ksize];
        for x in 0..xmax {
            let v = if ww != 0.0 { w[x] / ww } else { w[x] };
            let f = v * (1u32 << PRECISION_BITS) as f64;
            k[x] = if v < 0.0 { (-0.5 + f) as i32 } else { (0.5 + f) as i32 };
        }
        bounds.push((xmin, xmax));
    }
    let mut c = Coeffs {
        ksize,
        bounds,
        kk,
        fixed: None,
        narrow: Vec::new(),
    };
    c.fixed = c.fixed_width(in_size);
    c.narrow = c
        .bounds
        .iter()
        .enumerate()
        .map(|(xx, &(_, n))| reduce16(&c.kk[xx * ksize..xx * ksize + n]))
        .collect();
    c
}

#[inline]
fn clip8(v: i32) -> u8 {
    let s = v >> PRECISION_BITS;
    s.clamp(0, 255) as u8
}

const HALF: i32 = 1 << (PRECISION_BITS - 1);

fn horizontal_pass(src: &[u8], in_w: usize, rows: std::ops::Range<usize>, c: &Coeffs, out_w: usize) -> Vec<u8> {
    let mut out = vec![0u8; rows.len() * out_w * 3];
    let src = &src[rows.start * in_w * 3..rows.end * in_w * 3];
    // Monomorphised tap counts let the compiler unroll the tap loop and drop bounds checks; the sums are
    // the same integers.
    match &c.fixed {
        Some((2, starts, kk)) => horizontal_fixed::<2>(src, in_w, starts, kk, out_w, &mut out),
        Some((3, starts, kk)) => horizontal_fixed::<3>(src, in_w, starts, kk, out_w, &mut out),
        Some((4, starts, kk)) => horizontal_fixed::<4>(src, in_w, starts, kk, out_w, &mut out),
        Some((5, starts, kk)) => horizontal_fixed::<5>(src, in_w, starts, kk, out_w, &mut out),
        Some((6, starts, kk)) => horizontal_fixed::<6>(src, in_w, starts, kk, out_w, &mut out),
        _ => horizontal_any(src, in_w, c, out_w, &mut out),
    }
    out
}

fn horizontal_fixed<const K: usize>(
    src: &[u8],
    in_w: usize,
    starts: &[usize],
    kk: &[i32],
    out_w: usize,
    out: &mut [u8],
) {
    for (in_row, out_row) in src.chunks_exact(in_w * 3).zip(out.chunks_exact_mut(out_w * 3)) {
        for ((px, &start), k) in out_row.chunks_exact_mut(3).zip(starts).zip(kk.chunks_exact(K)) {
            let taps = &in_row[start * 3..(start + K) * 3];
            let k: &[i32; K] = k.try_into().expect("K weights");
            let (mut s0, mut s1, mut s2) = (HALF, HALF, HALF);
            for x in 0..K {
                s0 += taps[3 * x] as i32 * k[x];
                s1 += taps[3 * x + 1] as i32 * k[x];
                s2 += taps[3 * x + 2] as i32 * k[x];
            }
            px[0] = clip8(s0);
            px[1] = clip8(s1);
            px[2] = clip8(s2);
        }
    }
}

fn horizontal_any(src: &[u8], in_w: usize, c: &Coeffs, out_w: usize, out: &mut [u8]) {
    for (in_row, out_row) in src.chunks_exact(in_w * 3).zip(out.chunks_exact_mut(out_w * 3)) {
        for (xx, px) in out_row.chunks_exact_mut(3).enumerate() {
            let (xmin, n) = c.bounds[xx];
            let k = &c.kk[xx * c.ksize..xx * c.ksize + n];
            let (mut s0, mut s1, mut s2) = (HALF, HALF, HALF);
            for (p, &kx) in in_row[xmin * 3..(xmin + n) * 3].chunks_exact(3).zip(k) {
                s0 += p[0] as i32 * kx;
                s1 += p[1] as i32 * kx;
                s2 += p[2] as i32 * kx;
            }
            px[0] = clip8(s0);
            px[1] = clip8(s1);
            px[2] = clip8(s2);
        }
    }
}

/// Vertical pass over a buffer `w` pixels wide whose first row is source row `row0`.
///
/// Tap-major: each tap adds a whole source row into an `i32` row accumulator, a loop the compiler
/// vectorises. Integer addition is associative, so the sums (and the 8-bit results) are exactly those
/// of the per-pixel loop in Pillow.
fn vertical_pass(src: &[u8], w: usize, row0: usize, c: &Coeffs, out_h: usize) -> Vec<u8> {
    let stride = w * 3;
    let mut out = vec![0u8; out_h * stride];
    let mut acc = vec![0i32; stride];
    for (yy, out_row) in out.chunks_exact_mut(stride).enumerate() {
        let (ymin, n) = c.bounds[yy];
        let ymin = ymin - row0;
        let k = &c.kk[yy * c.ksize..yy * c.ksize + n];
        let rows = &src[ymin * stride..(ymin + n) * stride];
        if let (Some(nw), (r0, r1)) = (c.narrow[yy], rows.split_at(stride)) {
            for ((o, &a), &b) in out_row.iter_mut().zip(r0).zip(r1) {
                *o = ((nw.half + a as u16 * nw.k0 + b as u16 * nw.k1) >> nw.shift).min(255) as u8;
            }
            continue;
        }
        if let ([k0, k1], (r0, r1)) = (k, rows.split_at(stride)) {
            // Two taps (every row of a bilinear upscale): one fused pass, no accumulator.
            for ((o, &a), &b) in out_row.iter_mut().zip(r0).zip(r1) {
                *o = clip8(HALF + a as i32 * k0 + b as i32 * k1);
            }
            continue;
        }
        acc.fill(HALF);
        for (row, &ky) in rows.chunks_exact(stride).zip(k) {
            for (a, &p) in acc.iter_mut().zip(row) {
                *a += p as i32 * ky;
            }
        }
        for (o, &a) in out_row.iter_mut().zip(&acc) {
            *o = clip8(a);
        }
    }
    out
}

/// Resizes to `height × width` exactly as PIL's `Image.resize((width, height), filter)`.
///
/// Pass order follows Pillow ≥ 11 (`ImagingResampleInner`): vertical first when the height shrinks by
/// more than twice as many pixels as the width, horizontal first otherwise (the order changes the
/// 8-bit intermediate, so it matters for bit-exactness; upscaling, as in Market 128×64 → 256×128, is
/// always horizontal first).
pub fn resize(img: &RgbImage, height: u32, width: u32, filter: Interpolation) -> RgbImage {
    let (in_w, in_h) = (img.width() as usize, img.height() as usize);
    let (out_w, out_h) = (width as usize, height as usize);
    assert!(out_w > 0 && out_h > 0, "resize to an empty size {height}x{width}");
    if (in_w, in_h) == (out_w, out_h) {
        return img.clone();
    }
    let src = img.as_raw();
    let need_h = in_w != out_w;
    let need_v = in_h != out_h;
    let dy = in_h as i64 - out_h as i64;
    let horizontal_first = !(dy > 0 && dy > (in_w as i64 - out_w as i64) * 2);
    let data = if !need_v {
        horizontal_pass(src, in_w, 0..in_h, &coeffs(in_w, out_w, filter), out_w)
    } else if !need_h {
        vertical_pass(src, in_w, 0, &coeffs(in_h, out_h, filter), out_h)
    } else if horizontal_first {
        let vert = coeffs(in_h, out_h, filter);
        // Only the rows the vertical pass reads.
        let first = vert.bounds[0].0;
        let last = vert.bounds[out_h - 1].0 + vert.bounds[out_h - 1].1;
        let tmp = horizontal_pass(src, in_w, first..last, &coeffs(in_w, out_w, filter), out_w);
        vertical_pass(&tmp, out_w, first, &vert, out_h)
    } else {
        let tmp = vertical_pass(src, in_w, 0, &coeffs(in_h, out_h, filter), out_h);
        horizontal_pass(&tmp, in_w, 0..out_h, &coeffs(in_w, out_w, filter), out_w)
    };
    RgbImage::from_raw(out_w as u32, out_h as u32, data).expect("buffer size")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The passes as Pillow writes them (per output pixel, every tap), the form the parity fixtures were
    /// first matched with; the optimised passes must give the same bytes.
    fn reference(img: &RgbImage, height: u32, width: u32, filter: Interpolation) -> RgbImage {
        let pass = |src: &[u8], (w, h): (usize, usize), c: &Coeffs, horizontal: bool, out_n: usize| {
            let (ow, oh) = if horizontal { (out_n, h) } else { (w, out_n) };
            let mut out = vec![0u8; ow * oh * 3];
            for y in 0..oh {
                for x in 0..ow {
                    let (xmin, n) = c.bounds[if horizontal { x } else { y }];
                    let k = &c.kk[(if horizontal { x } else { y }) * c.ksize..][..n];
                    for ch in 0..3 {
                        let mut s = HALF;
                        for (t, &kt) in k.iter().enumerate() {
                            let (sx, sy) = if horizontal { (xmin + t, y) } else { (x, xmin + t) };
                            s += src[(sy * w + sx) * 3 + ch] as i32 * kt;
                        }
                        out[(y * ow + x) * 3 + ch] = clip8(s);
                    }
                }
            }
            out
        };
        let (in_w, in_h) = (img.width() as usize, img.height() as usize);
        let (out_w, out_h) = (width as usize, height as usize);
        let dy = in_h as i64 - out_h as i64;
        let horizontal_first = !(dy > 0 && dy > (in_w as i64 - out_w as i64) * 2);
        let (hc, vc) = (precompute(in_w, out_w, filter), precompute(in_h, out_h, filter));
        let data = if horizontal_first {
            let tmp = pass(img.as_raw(), (in_w, in_h), &hc, true, out_w);
            pass(&tmp, (out_w, in_h), &vc, false, out_h)
        } else {
            let tmp = pass(img.as_raw(), (in_w, in_h), &vc, false, out_h);
            pass(&tmp, (in_w, out_h), &hc, true, out_w)
        };
        RgbImage::from_raw(width, height, data).unwrap()
    }

    #[test]
    fn optimised_passes_equal_the_per_pixel_reference() {
        let mut g = crate::datasets::common::SplitMix64::new(3);
        let mut cases = vec![
            (128, 64, 256, 128),
            (64, 128, 128, 64),
            (97, 41, 384, 128),
            (200, 120, 64, 32),
        ];
        for _ in 0..60 {
            let mut d = || 1 + g.below(150) as u32;
            cases.push((d(), d(), d(), d()));
        }
        for (ih, iw, oh, ow) in cases {
            // Noise on a gradient: both smooth areas and every byte value.
            let img = RgbImage::from_fn(iw, ih, |x, y| {
                let n = g.next_u64();
                image::Rgb([(x * 255 / iw) as u8 ^ (n as u8 & 0x3f), (y * 7) as u8, (n >> 8) as u8])
            });
            for filter in [Interpolation::Bilinear, Interpolation::Bicubic] {
                let ours = resize(&img, oh, ow, filter);
                if (ih, iw) != (oh, ow) {
                    assert_eq!(
                        ours,
                        reference(&img, oh, ow, filter),
                        "{ih}x{iw} -> {oh}x{ow} {filter:?}"
                    );
                }
            }
        }
    }
}
