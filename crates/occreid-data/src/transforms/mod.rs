//! Image transforms of the three recipes, matching torchvision + PIL.
//!
//! * [`decode`]: JPEG / PNG / TIFF / BMP → 8-bit RGB (`PIL.Image.open(p).convert("RGB")`).
//! * [`resize`]: Pillow's bilinear / bicubic resampling with antialias, bit-exact (max |Δ| = 0 levels
//!   measured against Pillow 13 / torchvision 0.26, see [`resize`](mod@resize)).
//! * [`hflip`], [`pad`], [`crop`], [`random_crop_params`]; [`ColorJitter`] and the four `adjust_*`
//!   functions with PIL semantics; [`Normalize`] (`ToTensor` + `Normalize` into CHW `f32`);
//!   [`RandomErasing`] exactly as BoT.
//! * [`TrainTransform`] / [`TestTransform`] compose them for BoT (default 256×128), DAAO and IGOAS.
//!
//! Every random draw goes through a [`RandomSource`]: a serialisable `ChaCha8Rng` in the pipeline, or
//! [`PyRandom`] to replay Python's `random` stream in parity tests.
mod color;
pub mod resize;
mod rng;
mod tensor;

use std::path::{Path, PathBuf};

pub use color::{adjust_brightness, adjust_contrast, adjust_hue, adjust_saturation, luma, ColorJitter, ColorOp};
pub use image::RgbImage;
pub use resize::{resize, Interpolation};
pub use rng::{py_round, PyRandom, RandomSource};
use serde::{Deserialize, Serialize};
pub use tensor::{
    crop, fill_rect, hflip, pad, random_box, random_crop_params, Normalize, RandomErasing, Rect, IMAGENET_MEAN,
    IMAGENET_STD,
};

/// A failure to load one sample (decode, or the evaluation occluder), naming the file.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    #[error("{path}: cannot read image: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a decodable JPEG/PNG/TIFF/BMP image (corrupt or truncated?): {source}")]
    Decode { path: PathBuf, source: image::ImageError },
    #[error("{path}: cannot occlude: {source}")]
    Occlude {
        path: PathBuf,
        source: crate::occluders::OccluderError,
    },
    #[error(
        "{path}: no donor image with an identity other than {pid} among {donors} donors. \
         Fix: pass donors of other identities (e.g. the gallery)"
    )]
    NoDonor { path: PathBuf, pid: i64, donors: usize },
}

/// Decodes an image file to 8-bit RGB. Grey images are replicated to three channels and alpha is
/// dropped, as PIL's `convert("RGB")`; the format is sniffed from the content, not the extension.
pub fn decode(path: impl AsRef<Path>) -> Result<RgbImage, TransformError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| TransformError::Io {
        path: path.to_owned(),
        source,
    })?;
    decode_bytes(&bytes, path)
}

/// [`decode`] from memory; `path` only names the source in errors.
pub fn decode_bytes(bytes: &[u8], path: &Path) -> Result<RgbImage, TransformError> {
    let err = |source| TransformError::Decode {
        path: path.to_owned(),
        source,
    };
    let img = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| err(image::ImageError::IoError(e)))?
        .decode()
        .map_err(err)?;
    // `into_rgb8` keeps the decoder's buffer when it is already RGB8 (JPEG), where `to_rgb8` would copy it.
    Ok(img.into_rgb8())
}

/// What one [`TrainTransform`] application drew: enough to replay it on another image (DAAO's shared
/// flip/jitter for a full/occluded pair) or to log it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AugmentParams {
    pub flip: bool,
    /// Top-left of the crop window in the padded image.
    pub crop: Option<(u32, u32)>,
    pub color: Vec<ColorOp>,
    pub erase: Option<Rect>,
}

/// Training transform: `Resize(h, w)` → `RandomHorizontalFlip(p)` → [`Pad(pad)` → `RandomCrop(h, w)`]
/// → [`ColorJitter`] → `ToTensor` → `Normalize` → [`RandomErasing`]; output CHW `f32` of `3·h·w`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainTransform {
    pub height: u32,
    pub width: u32,
    pub interpolation: Interpolation,
    pub flip_p: f64,
    /// Zero-fill padding before the random crop back to `height × width`; 0 disables pad + crop.
    pub pad: u32,
    pub color_jitter: Option<ColorJitter>,
    pub erasing: Option<RandomErasing>,
    pub normalize: Normalize,
}

impl Default for TrainTransform {
    fn default() -> Self {
        Self::bot(256, 128)
    }
}

impl TrainTransform {
    /// BoT (§1.1): bilinear resize, flip 0.5, `Pad(10)` + `RandomCrop`, normalise, random erasing p = 0.5.
    pub fn bot(height: u32, width: u32) -> Self {
        TrainTransform {
            height,
            width,
            interpolation: Interpolation::Bilinear,
            flip_p: 0.5,
            pad: 10,
            color_jitter: None,
            erasing: Some(RandomErasing::bot()),
            normalize: Normalize::default(),
        }
    }

    /// DAAO (§2.1 step 4): bicubic resize 256×128, flip 0.5, `ColorJitter(0.25, 0.15, 0.25, 0)`, normalise.
    pub fn daao() -> Self {
        TrainTransform {
            height: 256,
            width: 128,
            interpolation: Interpolation::Bicubic,
            flip_p: 0.5,
            pad: 0,
            color_jitter: Some(ColorJitter::daao()),
            erasing: None,
            normalize: Normalize::default(),
        }
    }

    /// IGOAS (§3.5): bilinear resize 384×128, flip 0.5, normalise (IGO occlusion happens on the batch).
    pub fn igoas() -> Self {
        TrainTransform {
            height: 384,
            width: 128,
            interpolation: Interpolation::Bilinear,
            flip_p: 0.5,
            pad: 0,
            color_jitter: None,
            erasing: None,
            normalize: Normalize::default(),
        }
    }

    /// Draws every random parameter, in the order torchvision's `Compose` consumes them.
    pub fn draw<R: RandomSource>(&self, rng: &mut R) -> AugmentParams {
        let flip = self.flip_p > 0.0 && rng.random() < self.flip_p;
        let crop = (self.pad > 0).then(|| {
            let (ph, pw) = (self.height + 2 * self.pad, self.width + 2 * self.pad);
            random_crop_params(ph, pw, self.height, self.width, rng)
        });
        let color = self.color_jitter.map(|j| j.draw(rng)).unwrap_or_default();
        let erase = self
            .erasing
            .and_then(|e| e.draw(self.height as usize, self.width as usize, rng));
        AugmentParams {
            flip,
            crop,
            color,
            erase,
        }
    }

    /// The 8-bit stage (resize, flip, colour) with given parameters.
    pub fn augment_u8(&self, img: &RgbImage, p: &AugmentParams) -> RgbImage {
        let mut x = resize(img, self.height, self.width, self.interpolation);
        if p.flip {
            hflip(&mut x);
        }
        for op in &p.color {
            op.apply(&mut x);
        }
        x
    }

    /// Applies given parameters: CHW `f32` of `3·height·width`.
    pub fn apply_params(&self, img: &RgbImage, p: &AugmentParams) -> Vec<f32> {
        let mut t = vec![0f32; 3 * self.height as usize * self.width as usize];
        self.apply_params_into(img, p, &mut t);
        t
    }

    /// [`Self::apply_params`] into `dst` (`3·height·width`), e.g. straight into a batch.
    pub fn apply_params_into(&self, img: &RgbImage, p: &AugmentParams, dst: &mut [f32]) {
        let mut x = resize(img, self.height, self.width, self.interpolation);
        // Without colour ops the flip is folded into the tensor write (reading columns mirrored); with
        // them it is done first, in the order torchvision applies them.
        let fold_flip = p.flip && p.color.is_empty();
        if p.flip && !fold_flip {
            hflip(&mut x);
        }
        for op in &p.color {
            op.apply(&mut x);
        }
        let (h, w) = (self.height as usize, self.width as usize);
        let (top, left) = match p.crop {
            Some((i, j)) => (i as i64 - self.pad as i64, j as i64 - self.pad as i64),
            None => (0, 0),
        };
        self.normalize.write_window(&x, top, left, fold_flip, h, w, dst);
        if let (Some(rect), Some(e)) = (p.erase, self.erasing) {
            fill_rect(dst, h, w, rect, e.fill);
        }
    }

    /// Draws and applies.
    pub fn apply<R: RandomSource>(&self, img: &RgbImage, rng: &mut R) -> Vec<f32> {
        let p = self.draw(rng);
        self.apply_params(img, &p)
    }

    /// Draws and applies into `dst` (`3·height·width`).
    pub fn apply_into<R: RandomSource>(&self, img: &RgbImage, rng: &mut R, dst: &mut [f32]) {
        let p = self.draw(rng);
        self.apply_params_into(img, &p, dst);
    }
}

/// Test transform: `Resize(h, w)` → `ToTensor` → `Normalize`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestTransform {
    pub height: u32,
    pub width: u32,
    pub interpolation: Interpolation,
    pub normalize: Normalize,
}

impl Default for TestTransform {
    fn default() -> Self {
        Self::new(256, 128, Interpolation::Bilinear)
    }
}

impl TestTransform {
    pub fn new(height: u32, width: u32, interpolation: Interpolation) -> Self {
        TestTransform {
            height,
            width,
            interpolation,
            normalize: Normalize::default(),
        }
    }

    pub fn apply(&self, img: &RgbImage) -> Vec<f32> {
        let mut t = vec![0f32; 3 * self.height as usize * self.width as usize];
        self.apply_into(img, &mut t);
        t
    }

    /// [`Self::apply`] into `dst` (`3·height·width`).
    pub fn apply_into(&self, img: &RgbImage, dst: &mut [f32]) {
        let x = resize(img, self.height, self.width, self.interpolation);
        let (h, w) = (self.height as usize, self.width as usize);
        self.normalize.write_window(&x, 0, 0, false, h, w, dst);
    }
}
