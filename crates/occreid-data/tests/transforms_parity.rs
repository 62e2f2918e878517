//! Parity of the 8-bit and tensor transforms with torchvision 0.26 / Pillow 13.
//! Fixtures: `tools/gen_transform_fixtures.py` (inputs drawn there, outputs computed by torchvision/PIL).
use std::path::PathBuf;

use occreid_data::transforms::{
    adjust_brightness, adjust_contrast, adjust_hue, adjust_saturation, decode, resize, AugmentParams, ColorOp,
    Interpolation, Normalize, Rect, RgbImage, TestTransform, TrainTransform,
};
use occreid_eval::npy::NpyReader;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/transforms")
        .join(name)
}

fn png(name: &str) -> RgbImage {
    decode(fixture(name)).unwrap_or_else(|e| panic!("{e}"))
}

fn npy(name: &str) -> (Vec<usize>, Vec<f32>) {
    let mut r = NpyReader::open(fixture(name)).unwrap();
    let n = r.shape.iter().product();
    let mut v = vec![0f32; n];
    r.read_f32_into(&mut v).unwrap();
    (r.shape.clone(), v)
}

fn max_abs_diff_u8(a: &RgbImage, b: &RgbImage) -> u8 {
    assert_eq!(a.dimensions(), b.dimensions(), "size differs");
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap()
}

fn max_abs_diff_f32(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length differs");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn resize_matches_pil_bit_exactly() {
    let cases = [
        ("market", 256, 128),
        ("small", 256, 128),
        ("small", 384, 128),
        ("large", 64, 32),
        ("large", 77, 45),
        ("small", 64, 32),
        ("large", 50, 110),
    ];
    let mut worst = 0;
    for (src, h, w) in cases {
        let input = png(&format!("in_{src}.png"));
        for (interp, tag) in [
            (Interpolation::Bilinear, "bilinear"),
            (Interpolation::Bicubic, "bicubic"),
        ] {
            let expected = png(&format!("resize_{src}_{h}x{w}_{tag}.png"));
            let ours = resize(&input, h, w, interp);
            let d = max_abs_diff_u8(&ours, &expected);
            eprintln!("resize {src} -> {h}x{w} {tag}: max |diff| = {d}");
            worst = worst.max(d);
        }
    }
    assert_eq!(worst, 0, "resize differs from PIL by up to {worst} levels");
}

#[test]
fn resize_to_same_size_is_identity() {
    let input = png("in_small.png");
    let out = resize(&input, input.height(), input.width(), Interpolation::Bicubic);
    assert_eq!(out, input);
}

#[test]
fn jpeg_decode_is_close_to_pillow() {
    let ours = decode(fixture("in_photo.jpg")).unwrap();
    let pil = png("pil_decoded_photo.png");
    let d = max_abs_diff_u8(&ours, &pil);
    let mean: f64 = ours
        .as_raw()
        .iter()
        .zip(pil.as_raw())
        .map(|(a, b)| a.abs_diff(*b) as f64)
        .sum::<f64>()
        / ours.as_raw().len() as f64;
    eprintln!("JPEG decode vs Pillow/libjpeg: max |diff| = {d}, mean = {mean:.4}");
    // Different IDCT / chroma upsampling implementations; lossless formats are exact (PNG fixtures above).
    assert!(
        d <= 4 && mean < 0.5,
        "JPEG decode differs from Pillow: max {d}, mean {mean}"
    );
}

#[test]
fn colour_adjustments_match_pil_bit_exactly() {
    let input = png("in_color.png");
    type Op = fn(&mut RgbImage, f64);
    let cases: [(&str, &[f64], Op); 4] = [
        ("brightness", &[0.75, 1.25], adjust_brightness),
        ("contrast", &[0.0, 0.85, 1.15], adjust_contrast),
        ("saturation", &[0.0, 0.75, 1.25], adjust_saturation),
        ("hue", &[-0.5, -0.2, 0.1, 0.45], adjust_hue),
    ];
    for (name, factors, op) in cases {
        for &f in factors {
            let expected = png(&format!("color_{name}_{f:?}.png"));
            let mut ours = input.clone();
            op(&mut ours, f);
            let d = max_abs_diff_u8(&ours, &expected);
            assert_eq!(d, 0, "{name}({f}) differs from PIL by {d}");
        }
    }
}

#[test]
fn to_tensor_normalize_matches_torchvision() {
    let (shape, expected) = npy("tensor_color.npy");
    assert_eq!(shape, vec![3, 48, 32]);
    let ours = Normalize::default().to_tensor(&png("in_color.png"));
    assert_eq!(max_abs_diff_f32(&ours, &expected), 0.0);
}

#[test]
fn pad_and_crop_window_matches_torchvision() {
    let (shape, expected) = npy("padcrop_color.npy");
    assert_eq!(shape, vec![3, 3, 48, 32]);
    let img = png("in_color.png");
    let norm = Normalize::default();
    for (k, (i, j)) in [(0i64, 0i64), (20, 20), (7, 13)].into_iter().enumerate() {
        let ours = norm.to_tensor_window(&img, i - 10, j - 10, 48, 32);
        let exp = &expected[k * 3 * 48 * 32..(k + 1) * 3 * 48 * 32];
        assert_eq!(max_abs_diff_f32(&ours, exp), 0.0, "crop ({i}, {j})");
    }
}

#[test]
fn test_transform_matches_torchvision() {
    let (_, expected) = npy("test_small_64x32.npy");
    let ours = TestTransform::new(64, 32, Interpolation::Bilinear).apply(&png("in_small.png"));
    assert_eq!(max_abs_diff_f32(&ours, &expected), 0.0);
}

#[test]
fn bot_train_transform_with_fixed_draws_matches_torchvision() {
    let (_, expected) = npy("bot_train_small_64x32.npy");
    let t = TrainTransform::bot(64, 32);
    let params = AugmentParams {
        flip: true,
        crop: Some((3, 17)),
        color: vec![],
        erase: Some(Rect {
            top: 5,
            left: 2,
            height: 20,
            width: 12,
        }),
    };
    let ours = t.apply_params(&png("in_small.png"), &params);
    assert_eq!(max_abs_diff_f32(&ours, &expected), 0.0);
}

#[test]
fn daao_train_transform_with_fixed_draws_matches_torchvision() {
    let (_, expected) = npy("daao_train_small_64x32.npy");
    let t = TrainTransform {
        height: 64,
        width: 32,
        ..TrainTransform::daao()
    };
    let params = AugmentParams {
        flip: true,
        crop: None,
        color: vec![
            ColorOp::Saturation(1.2),
            ColorOp::Brightness(0.8),
            ColorOp::Contrast(1.1),
        ],
        erase: None,
    };
    let ours = t.apply_params(&png("in_small.png"), &params);
    assert_eq!(max_abs_diff_f32(&ours, &expected), 0.0);
}
