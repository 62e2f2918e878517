//! A gallery extraction stopped part-way (as Ctrl-C stops `occreid extract`) keeps every row it computed
//! on disk, and `ShardWriter::resume` continues it to the rows and features of one uninterrupted run.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use occreid_data::loader::Transform;
use occreid_data::synth::{generate, SynthOptions};
use occreid_data::transforms::Interpolation;
use occreid_data::{reader, Sample, TestTransform};
use occreid_torch::tch::{Device, Tensor};
use occreid_train::evaluate::{extract_all, extract_gallery, ExtractOptions, GalleryExtraction};
use occreid_train::features::{read_features, ShardWriter, MANIFEST};

fn options() -> ExtractOptions {
    ExtractOptions {
        batch_size: 4,
        flip: false,
        feat_norm: false,
        device: Device::Cpu,
        workers: 1,
        prefetch: 2,
        label: "test".into(),
    }
}

/// A model that needs no weights: each image's 2×2 average pool, so a row depends on its image only.
fn pooled(images: &Tensor) -> Result<Tensor, String> {
    Ok(images.adaptive_avg_pool2d([2, 2]).flatten(1, -1))
}

/// The gallery images of a synthetic dataset of `ids` identities written under `dir`.
fn synthetic_gallery(dir: &std::path::Path, ids: usize, images_per_id: usize) -> Vec<Sample> {
    let data = dir.join("data");
    let synth = SynthOptions {
        ids,
        cameras: 2,
        images_per_id,
        height: 32,
        width: 16,
        ..SynthOptions::default()
    };
    generate(&data, &synth).unwrap();
    reader("market1501", &Default::default())
        .unwrap()
        .read(&data)
        .unwrap()
        .gallery
}

fn gallery_rows(dir: &std::path::Path, shards: usize) -> (Vec<String>, Vec<f32>) {
    let (mut paths, mut values) = (Vec::new(), Vec::new());
    for i in 0..shards {
        let f = read_features(&dir.join(format!("shard-{i:05}.safetensors"))).unwrap();
        paths.extend(f.paths);
        values.extend_from_slice(f.features.as_slice());
    }
    (paths, values)
}

#[test]
fn a_stopped_gallery_extraction_keeps_its_rows_and_resumes_to_the_same_gallery() {
    let dir = tempfile::tempdir().unwrap();
    let samples = synthetic_gallery(dir.path(), 16, 4);
    let n = samples.len();
    assert!(n > 12, "{n} gallery images: too few to stop after two batches of 4");
    let transform = || Transform::Test(TestTransform::new(32, 16, Interpolation::Bilinear));
    let whole = extract_all(&pooled, Arc::new(samples.clone()), transform(), &options()).unwrap();

    // The stop arrives while the second batch is embedded: 8 rows are extracted, of which shards of 3
    // hold 6 and memory 2, which the stop writes as a third shard.
    let gallery = dir.path().join("gallery");
    let stop = AtomicUsize::new(0);
    let calls = AtomicUsize::new(0);
    let stopping = |images: &Tensor| {
        if calls.fetch_add(1, Ordering::SeqCst) == 1 {
            stop.store(130, Ordering::SeqCst);
        }
        pooled(images)
    };
    let writer = ShardWriter::create(&gallery, 3, None).unwrap();
    let end = extract_gallery(&stopping, &samples, writer, transform(), &options(), &stop).unwrap();
    assert!(
        matches!(
            end,
            GalleryExtraction::Stopped {
                code: 130,
                rows_on_disk: 8
            }
        ),
        "{end:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2, "no batch after the stop");
    assert!(!gallery.join(MANIFEST).exists(), "a stopped gallery is unfinished");
    let (paths, values) = gallery_rows(&gallery, 3);
    assert_eq!(paths.len(), 8);
    assert_eq!(values, whole.as_slice()[..8 * whole.cols()]);

    // Resumed: only the rows after the 8 on disk are extracted.
    let writer = ShardWriter::resume(&gallery, 3, None, &samples).unwrap();
    assert_eq!(writer.rows_on_disk(), 8);
    let end = extract_gallery(&pooled, &samples, writer, transform(), &options(), &AtomicUsize::new(0)).unwrap();
    let GalleryExtraction::Finished(manifest) = end else {
        panic!("{end:?}")
    };
    assert_eq!(manifest.rows, n);
    let (paths, values) = gallery_rows(&gallery, manifest.shards.len());
    let want: Vec<String> = samples.iter().map(|s| s.path.display().to_string()).collect();
    assert_eq!(paths, want);
    assert_eq!(values, whole.as_slice());
}

#[test]
fn a_stop_during_the_last_batch_still_finishes_the_gallery() {
    let dir = tempfile::tempdir().unwrap();
    let samples = synthetic_gallery(dir.path(), 2, 2);
    assert!(!samples.is_empty() && samples.len() <= 4, "one batch");
    let gallery = dir.path().join("gallery");
    let writer = ShardWriter::create(&gallery, 3, None).unwrap();
    let transform = Transform::Test(TestTransform::new(32, 16, Interpolation::Bilinear));
    let end = extract_gallery(&pooled, &samples, writer, transform, &options(), &AtomicUsize::new(143)).unwrap();
    assert!(
        matches!(&end, GalleryExtraction::Finished(m) if m.rows == samples.len()),
        "{end:?}"
    );
    assert!(gallery.join(MANIFEST).exists());
}
