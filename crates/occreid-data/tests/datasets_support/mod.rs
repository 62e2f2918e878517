//! Tiny image trees for the reader / check tests (shared by `datasets_*.rs`, `check_*.rs`, `synth_*.rs`).
#![allow(dead_code)]
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use image::{ImageFormat, Rgb, RgbImage};

/// Writes a small image in the format its extension names; `shade` varies the content.
pub fn write_image(path: &Path, shade: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let img = RgbImage::from_fn(16, 32, |x, y| Rgb([shade, (x * 8) as u8, (y * 4) as u8]));
    let format = ImageFormat::from_path(path).unwrap();
    img.save_with_format(path, format).unwrap();
}

/// Writes every `rel` path under `root` as an image.
pub fn images(root: &Path, rels: &[&str]) {
    for (i, rel) in rels.iter().enumerate() {
        write_image(&root.join(rel), (i * 7 % 256) as u8);
    }
}

pub fn write_text(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Keeps the first `keep` bytes of the file.
pub fn truncate(path: &Path, keep: usize) {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.len() > keep, "{} has only {} bytes", path.display(), bytes.len());
    std::fs::write(path, &bytes[..keep]).unwrap();
}

/// Every file and folder under `root` with its size and modification time, to show nothing was written.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, (u64, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let md = std::fs::metadata(&d).unwrap();
        out.insert(d.clone(), (md.len(), md.modified().unwrap()));
        if md.is_dir() {
            for e in std::fs::read_dir(&d).unwrap() {
                stack.push(e.unwrap().path());
            }
        }
    }
    out
}

/// File names of a list, for readable assertions.
pub fn names(samples: &[occreid_data::datasets::Sample]) -> Vec<String> {
    samples
        .iter()
        .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

pub fn triples(samples: &[occreid_data::datasets::Sample]) -> Vec<(String, i64, i64)> {
    names(samples)
        .into_iter()
        .zip(samples)
        .map(|(n, s)| (n, s.pid, s.camid))
        .collect()
}

/// A synthetic Market-layout tree (6 ids × 2 cameras × 4 images, `seed`) in a temp folder, read back.
pub fn synthetic_split(seed: u64) -> (tempfile::TempDir, occreid_data::Split) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("t");
    let opts = occreid_data::synth::SynthOptions {
        ids: 6,
        cameras: 2,
        images_per_id: 4,
        seed,
        ..Default::default()
    };
    occreid_data::synth::generate(&root, &opts).unwrap();
    let split = occreid_data::reader("market1501", &occreid_data::ReaderOptions::default())
        .unwrap()
        .read(&root)
        .unwrap();
    (dir, split)
}
