//! The parallel loader: order, content, determinism across thread counts, errors.
mod datasets_support;

use std::sync::Arc;

use occreid_data::loader::{Loader, LoaderOptions, Transform};
use occreid_data::transforms::{decode, Interpolation, TestTransform, TrainTransform};
use occreid_data::Sample;

fn tree() -> (tempfile::TempDir, Arc<Vec<Sample>>) {
    let (dir, split) = datasets_support::synthetic_split(5);
    (dir, Arc::new(split.train))
}

fn collect(
    samples: &Arc<Vec<Sample>>,
    batches: Vec<Vec<usize>>,
    t: Transform,
    threads: usize,
) -> Vec<occreid_data::loader::Batch> {
    let opts = LoaderOptions {
        skip_unreadable: false,
        seed: 9,
        threads,
        prefetch: 2,
        first_batch: 0,
    };
    Loader::spawn(samples.clone(), batches, t, opts)
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

#[test]
fn batches_hold_the_transformed_samples_in_sampler_order() {
    let (_d, samples) = tree();
    let batches = vec![vec![3, 0, 5], vec![7, 1]];
    let t = TestTransform::new(64, 32, Interpolation::Bilinear);
    let got = collect(&samples, batches.clone(), Transform::Test(t.clone()), 2);
    assert_eq!(got.len(), 2);
    for (b, idx) in got.iter().zip(&batches) {
        assert_eq!(&b.indices, idx);
        assert_eq!(b.shape, [idx.len(), 3, 64, 32]);
        for (pos, &i) in idx.iter().enumerate() {
            let want = t.apply(&decode(&samples[i].path).unwrap());
            assert_eq!(&b.images[pos * 3 * 64 * 32..(pos + 1) * 3 * 64 * 32], &want[..]);
            assert_eq!(b.pids[pos], samples[i].pid);
            assert_eq!(b.camids[pos], samples[i].camid);
        }
    }
}

#[test]
fn random_augmentation_does_not_depend_on_thread_count() {
    let (_d, samples) = tree();
    let batches: Vec<Vec<usize>> = (0..4).map(|k| (k * 4..k * 4 + 4).collect()).collect();
    let t = Transform::Train(TrainTransform::bot(64, 32));
    let one = collect(&samples, batches.clone(), t.clone(), 1);
    let two = collect(&samples, batches, t, 2);
    for (a, b) in one.iter().zip(&two) {
        assert_eq!(a.images, b.images);
    }
    // Different samples in a batch get different draws (flip/crop/erase), so not all equal to the test view.
    assert_ne!(one[0].images[..3 * 64 * 32], one[1].images[..3 * 64 * 32]);
}

#[test]
fn a_corrupt_image_ends_the_stream_with_an_error_naming_it() {
    let (_d, samples) = tree();
    std::fs::write(&samples[2].path, b"not a jpeg").unwrap();
    let t = Transform::Test(TestTransform::new(64, 32, Interpolation::Bilinear));
    let opts = LoaderOptions::default();
    let mut it = Loader::spawn(samples.clone(), vec![vec![0, 1], vec![2, 3], vec![4]], t, opts).unwrap();
    assert!(it.next().unwrap().is_ok());
    let err = it.next().unwrap().unwrap_err().to_string();
    assert!(
        err.contains(&*samples[2].path.file_name().unwrap().to_string_lossy()),
        "{err}"
    );
    assert!(it.next().is_none());
}

#[test]
fn sequential_batches_cover_every_index_once_in_order() {
    use occreid_data::loader::sequential_batches;
    assert_eq!(sequential_batches(5, 2), vec![vec![0, 1], vec![2, 3], vec![4]]);
    assert_eq!(sequential_batches(4, 4), vec![vec![0, 1, 2, 3]]);
    assert!(sequential_batches(0, 3).is_empty());
}
