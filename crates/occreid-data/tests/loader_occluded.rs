//! The loader's occluded-query transform: per-index determinism, donors of another identity, parity
//! with `occlude` + `TestTransform::apply` by hand, and errors naming the file.
mod datasets_support;

use std::sync::Arc;

use occreid_data::loader::{Batch, Loader, LoaderOptions, OccludedTest, Transform};
use occreid_data::occluders::{occlude, OccluderKind, Position};
use occreid_data::transforms::{decode, Interpolation, TestTransform};
use occreid_data::Sample;

const H: usize = 64;
const W: usize = 32;

fn split() -> (tempfile::TempDir, Arc<Vec<Sample>>, Arc<Vec<Sample>>) {
    let (dir, split) = datasets_support::synthetic_split(3);
    (dir, Arc::new(split.query), Arc::new(split.gallery))
}

fn occluded(kind: OccluderKind, position: Position, donors: &Arc<Vec<Sample>>) -> OccludedTest {
    OccludedTest {
        test: TestTransform::new(H as u32, W as u32, Interpolation::Bilinear),
        kind,
        ratio: 0.3,
        position,
        seed: 11,
        donors: donors.clone(),
    }
}

fn run(samples: &Arc<Vec<Sample>>, batches: Vec<Vec<usize>>, t: &OccludedTest, threads: usize) -> Vec<Batch> {
    let opts = LoaderOptions {
        skip_unreadable: false,
        seed: threads as u64, // the loader seed must not matter for this transform
        threads,
        prefetch: 1,
        first_batch: 7 * threads as u64,
    };
    Loader::spawn(samples.clone(), batches, Transform::OccludedTest(t.clone()), opts)
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

/// Per dataset index: the tensor, the covered fraction and the mask.
fn by_index(batches: &[Batch]) -> std::collections::BTreeMap<usize, (Vec<f32>, f32, Vec<u8>)> {
    let mut out = std::collections::BTreeMap::new();
    for b in batches {
        let frac = b.occluded_fraction.as_ref().unwrap();
        let masks = b.occlusion_masks.as_ref().unwrap();
        for (pos, &i) in b.indices.iter().enumerate() {
            let img = b.images[pos * 3 * H * W..(pos + 1) * 3 * H * W].to_vec();
            let mask = masks[pos * H * W..(pos + 1) * H * W].to_vec();
            out.insert(i, (img, frac[pos], mask));
        }
    }
    out
}

#[test]
fn occlusion_depends_on_the_index_only_not_on_batches_or_threads() {
    let (_d, query, gallery) = split();
    let n = query.len();
    assert!(n >= 6, "{n}");
    for (kind, pos) in [
        (OccluderKind::DonorPatch, Position::Random),
        (OccluderKind::NoiseBox, Position::Random),
        (OccluderKind::Pedestrian, Position::Bottom),
    ] {
        let t = occluded(kind, pos, &gallery);
        let one = by_index(&run(&query, vec![(0..n).collect()], &t, 1));
        // Another order, other batch sizes, other batch numbers and loader seed, two threads.
        let mut order: Vec<usize> = (0..n).rev().collect();
        order.swap(0, n / 2);
        let split_batches: Vec<Vec<usize>> = order.chunks(4).map(<[usize]>::to_vec).collect();
        let two = by_index(&run(&query, split_batches, &t, 2));
        assert_eq!(one.len(), n);
        assert_eq!(one, two, "{kind:?}");
        if pos == Position::Random {
            assert!(
                one[&0].2 != one[&1].2,
                "{kind:?}: two queries got the same random rectangle"
            );
        }
    }
}

#[test]
fn donors_never_share_the_query_identity() {
    let (_d, query, gallery) = split();
    let t = occluded(OccluderKind::Pedestrian, Position::Top, &gallery);
    for (i, q) in query.iter().enumerate() {
        let d = t.donor_for(i, q).unwrap().unwrap();
        assert_ne!(d.pid, q.pid, "query {i}");
    }
    // A donor list that is almost all the query's identity still yields the one other identity.
    let q = &query[0];
    let mut same: Vec<Sample> = (0..200).map(|_| q.clone()).collect();
    let other = gallery.iter().find(|g| g.pid != q.pid).unwrap().clone();
    same.insert(137, other.clone());
    let t = occluded(OccluderKind::DonorPatch, Position::Top, &Arc::new(same));
    for i in 0..20 {
        assert_eq!(t.donor_for(i, q).unwrap(), Some(&other));
    }
    // Kinds without a donor need none.
    let t = occluded(OccluderKind::SolidBox, Position::Top, &Arc::new(Vec::new()));
    assert_eq!(t.donor_for(0, q).unwrap(), None);
}

#[test]
fn output_equals_occlude_then_test_transform_by_hand() {
    let (_d, query, gallery) = split();
    let t = occluded(OccluderKind::DonorPatch, Position::Random, &gallery);
    let i = 3;
    let q = &query[i];
    let donor = t.donor_for(i, q).unwrap().unwrap();
    let o = occlude(
        &decode(&q.path).unwrap(),
        t.kind,
        t.ratio,
        t.position,
        t.occlusion_seed(i),
        Some(&decode(&donor.path).unwrap()),
    )
    .unwrap();
    let want = t.test.apply(&o.image);
    let got = by_index(&run(&query, vec![vec![5, i, 0]], &t, 2));
    let (img, frac, mask) = &got[&i];
    assert_eq!(img, &want);
    assert_eq!(*frac, o.covered() as f32);
    assert!((frac - 0.3).abs() < 0.02, "{frac}");
    // The output-resolution mask covers about the same fraction, around the scaled rectangle.
    let mask_frac = mask.iter().map(|&m| m as f32).sum::<f32>() / (H * W) as f32;
    assert!((mask_frac - frac).abs() < 0.05, "{mask_frac} vs {frac}");
    let (sh, sw) = (o.image.height() as usize, o.image.width() as usize);
    let (cy, cx) = (
        (o.rect.top * 2 + o.rect.height) * H / (2 * sh),
        (o.rect.left * 2 + o.rect.width) * W / (2 * sw),
    );
    assert_eq!(mask[cy * W + cx], 1);
}

#[test]
fn train_and_test_batches_carry_no_occlusion_fields() {
    let (_d, query, _g) = split();
    let t = Transform::Test(TestTransform::new(H as u32, W as u32, Interpolation::Bilinear));
    let b = Loader::spawn(query, vec![vec![0, 1]], t, LoaderOptions::default())
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(b.occluded_fraction, None);
    assert_eq!(b.occlusion_masks, None);
}

#[test]
fn errors_name_the_query_or_the_donor() {
    let (_d, query, gallery) = split();
    // Every donor has the query's identity.
    let q = &query[0];
    let same: Arc<Vec<Sample>> = Arc::new(gallery.iter().filter(|g| g.pid == q.pid).cloned().collect());
    assert!(!same.is_empty());
    let t = occluded(OccluderKind::Pedestrian, Position::Top, &same);
    let err = run_err(&query, &t);
    assert!(
        err.contains(&q.path.display().to_string()) && err.contains("no donor"),
        "{err}"
    );
    // A corrupt donor is named by its own path.
    let t = occluded(OccluderKind::DonorPatch, Position::Top, &gallery);
    let donor = t.donor_for(0, q).unwrap().unwrap().path.clone();
    std::fs::write(&donor, b"not a jpeg").unwrap();
    let err = run_err(&query, &t);
    assert!(err.contains(&donor.display().to_string()), "{err}");
    // A bad ratio names the query.
    let mut t = occluded(OccluderKind::SolidBox, Position::Top, &gallery);
    t.ratio = 1.5;
    let err = run_err(&query, &t);
    assert!(
        err.contains(&q.path.display().to_string()) && err.contains("1.5"),
        "{err}"
    );
}

fn run_err(query: &Arc<Vec<Sample>>, t: &OccludedTest) -> String {
    let mut it = Loader::spawn(
        query.clone(),
        vec![vec![0]],
        Transform::OccludedTest(t.clone()),
        LoaderOptions::default(),
    )
    .unwrap();
    let err = it.next().unwrap().unwrap_err().to_string();
    assert!(it.next().is_none());
    err
}
