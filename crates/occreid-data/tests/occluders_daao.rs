//! DAAO donor patch (spec §2.1): box draws vs the Python reference, paste vs PIL, pair augmentation.
use std::path::PathBuf;

use occreid_data::occluders::{daao_box, paste_patch, pick_donor, DaaoOccluder, PairAugment};
use occreid_data::transforms::{decode, PyRandom, Rect, RgbImage};
use occreid_eval::npy::read_matrix;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/transforms")
        .join(name)
}

fn png(name: &str) -> RgbImage {
    decode(fixture(name)).unwrap()
}

#[test]
fn box_draws_match_python_reference() {
    let m = read_matrix(fixture("daao_boxes.npy")).unwrap();
    assert_eq!(m.rows(), 100);
    for r in 0..m.rows() {
        let row = m.row(r);
        let (seed, h, w) = (row[0] as u64, row[1] as usize, row[2] as usize);
        let b = daao_box(h, w, &mut PyRandom::new(seed)).unwrap();
        // Reference returns (left, top, right, bottom).
        let got = [b.left, b.top, b.left + b.width, b.top + b.height].map(|v| v as f32);
        assert_eq!(&got[..], &row[3..7], "seed {seed}");
        let area = (b.width * b.height) as f64 / (h * w) as f64;
        assert!(area > 0.03 && area < 0.23, "area fraction {area}");
    }
}

#[test]
fn paste_matches_pil_including_border_clipping() {
    let target = png("in_market.png"); // 64 x 128
    let donor = png("in_large.png"); // 120 x 200
    let rect = Rect {
        top: 150,
        left: 50,
        height: 40,
        width: 60,
    };
    let (out, written) = paste_patch(&target, &donor, rect);
    assert_eq!(out, png("daao_paste_market_from_large.png"));
    assert_eq!(
        written,
        Rect {
            top: 150,
            left: 50,
            height: 0,
            width: 14
        }
    );
    // A box inside both images is copied exactly, nothing else changes.
    let rect = Rect {
        top: 10,
        left: 5,
        height: 30,
        width: 20,
    };
    let (out, written) = paste_patch(&target, &donor, rect);
    assert_eq!(written, rect);
    for (x, y, p) in out.enumerate_pixels() {
        let expect = if rect.contains(y as usize, x as usize) {
            donor.get_pixel(x, y)
        } else {
            target.get_pixel(x, y)
        };
        assert_eq!(p, expect);
    }
}

#[test]
fn donor_is_never_the_sample_itself() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let picks: Vec<usize> = (0..500).map(|_| pick_donor(2, 5, &mut rng)).collect();
    assert!(picks.iter().all(|&a| a != 2 && a < 5));
    for a in [0, 1, 3, 4] {
        assert!(picks.contains(&a));
    }
}

#[test]
fn shared_pairs_share_flip_and_jitter_independent_pairs_do_not() {
    let img = png("in_market.png");
    let donor = png("in_small.png");
    let shared = DaaoOccluder::new(PairAugment::Shared);
    let independent = DaaoOccluder::new(PairAugment::Independent);
    let mut differs = 0;
    for seed in 0..12 {
        let p = shared.make_pair(&img, &donor, &mut ChaCha8Rng::seed_from_u64(seed));
        assert_eq!(p.full_params, p.occluded_params);
        assert_eq!(p.full.len(), 3 * 256 * 128);
        assert_ne!(p.full, p.occluded, "the patch must change the occluded image");
        assert_eq!(
            p.full_params.color.len(),
            3,
            "brightness, contrast, saturation (hue = 0)"
        );
        let q = independent.make_pair(&img, &donor, &mut ChaCha8Rng::seed_from_u64(seed));
        differs += (q.full_params != q.occluded_params) as usize;
        // Deterministic given the RNG.
        assert_eq!(p, shared.make_pair(&img, &donor, &mut ChaCha8Rng::seed_from_u64(seed)));
    }
    assert!(
        differs >= 10,
        "independent draws should almost always differ ({differs}/12)"
    );
}

#[test]
fn paste_after_resize_keeps_box_in_output_coordinates() {
    let mut occ = DaaoOccluder::new(PairAugment::Shared);
    occ.paste_after_resize = true;
    occ.transform.flip_p = 0.0;
    occ.transform.color_jitter = None;
    let img = png("in_market.png");
    let donor = png("in_large.png");
    let p = occ.make_pair(&img, &donor, &mut ChaCha8Rng::seed_from_u64(7));
    let (h, w) = (256, 128);
    assert!(p.rect.top + p.rect.height <= h && p.rect.left + p.rect.width <= w);
    // Without flip/jitter the two tensors differ exactly inside the pasted rectangle.
    for c in 0..3 {
        for y in 0..h {
            for x in 0..w {
                let i = (c * h + y) * w + x;
                if !p.rect.contains(y, x) {
                    assert_eq!(p.full[i], p.occluded[i]);
                }
            }
        }
    }
}
