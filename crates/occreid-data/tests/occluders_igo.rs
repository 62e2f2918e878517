//! IGO (spec §3.2): the epoch schedule's geometry table, parity with the Python reference draws, and
//! the returned mask.
use std::path::PathBuf;

use occreid_data::occluders::{batch_inc_erasing, igo_apply, igo_area_ratio, igo_draw};
use occreid_data::transforms::PyRandom;
use occreid_eval::npy::read_matrix;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const H: usize = 384;
const W: usize = 128;

#[test]
fn geometry_table_of_spec_3_2() {
    // (epoch, r to 3 decimals, rh range, rw range) exactly as the spec's table.
    type Row = (usize, f64, (usize, usize), (usize, usize));
    let table: &[Row] = &[
        (0, 0.100, (50, 70), (70, 99)),
        (10, 0.144, (60, 84), (84, 119)),
        (20, 0.189, (72, 96), (96, 128)),
        (30, 0.233, (89, 107), (107, 128)),
        (40, 0.278, (106, 117), (117, 128)),
        (50, 0.322, (123, 126), (126, 128)),
        (53, 0.336, (129, 129), (128, 128)),
        (54, 0.340, (131, 131), (128, 128)),
        (55, 0.344, (132, 132), (128, 128)),
        (56, 0.333, (128, 128), (128, 128)),
        (89, 0.333, (128, 128), (128, 128)),
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for &(e, r, (h0, h1), (w0, w1)) in table {
        assert_eq!((igo_area_ratio(e) * 1000.0).round() / 1000.0, r, "r at epoch {e}");
        let (mut hmin, mut hmax, mut wmin, mut wmax) = (usize::MAX, 0, usize::MAX, 0);
        for _ in 0..20_000 {
            let o = igo_draw(H, W, e, &mut rng).unwrap();
            hmin = hmin.min(o.rect.height);
            hmax = hmax.max(o.rect.height);
            wmin = wmin.min(o.rect.width);
            wmax = wmax.max(o.rect.width);
            assert!(o.rect.top + o.rect.height <= H && o.rect.left + o.rect.width <= W);
            assert!(o.fill.iter().all(|f| (0.0..1.0).contains(f)));
        }
        assert_eq!((hmin, hmax), (h0, h1), "rh range at epoch {e}");
        assert_eq!((wmin, wmax), (w0, w1), "rw range at epoch {e}");
    }
}

#[test]
fn draws_match_python_reference() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/transforms/igo_draws.npy");
    let m = read_matrix(path).unwrap();
    assert!(m.rows() > 50);
    for r in 0..m.rows() {
        let row = m.row(r);
        let (epoch, seed) = (row[0] as usize, row[1] as u64);
        let o = igo_draw(H, W, epoch, &mut PyRandom::new(seed)).unwrap();
        let got = [o.rect.top, o.rect.left, o.rect.height, o.rect.width].map(|v| v as f32);
        assert_eq!(&got[..], &row[2..6], "rect, epoch {epoch} seed {seed}");
        assert_eq!(&o.fill[..], &row[6..9], "fill, epoch {epoch} seed {seed}");
    }
}

#[test]
fn mask_and_batch_fill() {
    let b = 3;
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let original: Vec<f32> = (0..b * 3 * H * W).map(|i| (i % 97) as f32 * -0.01).collect();
    let mut batch = original.clone();
    let occ = igo_draw(H, W, 20, &mut rng).unwrap();
    let mask = igo_apply(&mut batch, b, H, W, &occ);
    assert_eq!(mask.len(), b * H * W);
    let r = occ.rect;
    for n in 0..b {
        let zeros = mask[n * H * W..(n + 1) * H * W].iter().filter(|&&m| m == 0.0).count();
        assert_eq!(zeros, r.height * r.width);
        for c in 0..3 {
            for y in 0..H {
                for x in 0..W {
                    let i = ((n * 3 + c) * H + y) * W + x;
                    let inside = r.contains(y, x);
                    assert_eq!(mask[(n * H + y) * W + x], if inside { 0.0 } else { 1.0 });
                    assert_eq!(batch[i], if inside { occ.fill[c] } else { original[i] });
                }
            }
        }
    }
}

#[test]
fn one_rectangle_per_batch_or_per_emulated_shard() {
    let b = 4;
    let mut batch = vec![0f32; b * 3 * H * W];
    let (occs, mask) = batch_inc_erasing(&mut batch, b, H, W, 30, 1, &mut ChaCha8Rng::seed_from_u64(1));
    assert_eq!(occs.len(), 1);
    let plane = H * W;
    assert!((1..b).all(|n| mask[n * plane..(n + 1) * plane] == mask[..plane]));

    let mut batch = vec![0f32; b * 3 * H * W];
    let (occs, mask) = batch_inc_erasing(&mut batch, b, H, W, 30, 2, &mut ChaCha8Rng::seed_from_u64(1));
    assert_eq!(occs.len(), 2);
    assert_ne!(occs[0], occs[1]);
    assert_eq!(mask[..plane], mask[plane..2 * plane]);
    assert_eq!(mask[2 * plane..3 * plane], mask[3 * plane..]);
    assert_ne!(mask[..plane], mask[2 * plane..3 * plane]);
}
