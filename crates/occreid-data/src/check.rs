//! `occreid data check`: read a dataset with its reader, decode every image, compare the counts with the
//! canonical ones, and list every problem with its path. Nothing is written.
//!
//! The JSON form of [`CheckReport`] starts with
//! `{"dataset":..., "train":{"images":n,"ids":n,"cameras":n}, "query":{...}, "gallery":{...},
//! "problems":[{"kind":..., "severity":"error"|"warning", "path":..., "message":...}]}` followed by
//! `ok`, `root`, `dataset_root`, `canonical`, `images_decoded` and `notes`.
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use crate::datasets::{self, CanonicalCounts, Counts, DataError, ExpectedCounts, ReaderOptions, Sample};

#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub reader: ReaderOptions,
    /// Fully decode every image (this is what finds truncated files). Default `true`.
    pub decode_images: bool,
    /// Compare with these counts instead of the reader's canonical ones (e.g. a synthetic tree's
    /// [`crate::synth::SynthSummary::canonical`]).
    pub canonical: Option<CanonicalCounts>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            reader: ReaderOptions::default(),
            decode_images: true,
            canonical: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The dataset cannot be used as is (the CLI exits non-zero).
    Error,
    /// Worth knowing (e.g. counts differ from unverified literature numbers).
    Warning,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// Stable tag: `missing_folder`, `bad_name`, `unreadable_image`, `count_mismatch`, ...
    pub kind: String,
    pub severity: Severity,
    pub path: Option<PathBuf>,
    pub message: String,
}

impl Problem {
    fn from_error(e: &DataError) -> Self {
        Self {
            kind: e.kind().to_string(),
            severity: Severity::Error,
            path: e.path().map(Path::to_path_buf),
            message: e.to_string(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub dataset: String,
    pub train: Counts,
    pub query: Counts,
    pub gallery: Counts,
    pub problems: Vec<Problem>,
    /// No problem of severity `error`.
    pub ok: bool,
    pub root: PathBuf,
    /// The dataset folder actually read (one of the accepted root variants), when one was found.
    pub dataset_root: Option<PathBuf>,
    pub canonical: Option<CanonicalCounts>,
    pub images_decoded: usize,
    pub notes: Vec<String>,
}

impl CheckReport {
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.severity == Severity::Error)
    }
}

/// Checks dataset `name` under `root`. Never fails: whatever is wrong is in `problems`.
pub fn check(name: &str, root: &Path, opts: &CheckOptions) -> CheckReport {
    let mut report = CheckReport {
        dataset: name.to_string(),
        train: Counts::default(),
        query: Counts::default(),
        gallery: Counts::default(),
        problems: Vec::new(),
        ok: false,
        root: root.to_path_buf(),
        dataset_root: None,
        canonical: opts.canonical.clone(),
        images_decoded: 0,
        notes: Vec::new(),
    };
    let scan = datasets::reader(name, &opts.reader).and_then(|r| {
        report.dataset = r.name().to_string();
        if report.canonical.is_none() {
            report.canonical = r.canonical();
        }
        r.scan(root)
    });
    let scan = match scan {
        Ok(s) => s,
        Err(e) => {
            report.problems.push(Problem::from_error(&e));
            return report;
        }
    };
    report.problems.extend(scan.problems.iter().map(Problem::from_error));
    let split = scan.split;
    report.dataset_root = Some(scan.root);
    report.notes = split.notes.clone();
    let counts = split.counts();
    (report.train, report.query, report.gallery) = (counts.train, counts.query, counts.gallery);

    if opts.decode_images {
        let paths: BTreeSet<&Path> = [&split.train, &split.query, &split.gallery]
            .into_iter()
            .flatten()
            .map(|s| s.path.as_path())
            .collect();
        let paths: Vec<&Path> = paths.into_iter().collect();
        let failures: Vec<DataError> = paths.par_iter().filter_map(|p| decode_image(p).err()).collect();
        report.images_decoded = paths.len();
        report.problems.extend(failures.iter().map(Problem::from_error));
    }
    if let Some(c) = &report.canonical {
        let dataset_root = report.dataset_root.clone();
        let found = [
            ("train", report.train),
            ("query", report.query),
            ("gallery", report.gallery),
        ];
        let expected = [c.train, c.query, c.gallery];
        for ((split_name, f), e) in found.into_iter().zip(expected) {
            report
                .problems
                .extend(count_mismatches(split_name, f, e, c, dataset_root.as_deref()));
        }
    }
    if let Some(p) = unmatched_queries(&split.query, &split.gallery) {
        report.problems.push(p);
    }
    let ok = report.errors().next().is_none();
    report.ok = ok;
    report
}

/// Decodes the whole image, so a truncated file is found and not just a bad header. JPEGs and PNGs must
/// also have their end marker: the JPEG decoder (zune-jpeg) silently pads a file cut anywhere in its scan
/// data (measured: a 9.7 kB JPEG cut to 700 bytes still "decodes"), and a PNG cut inside IEND decodes.
pub fn decode_image(path: &Path) -> Result<(), DataError> {
    let err = |reason: String| DataError::Image {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let format = image::guess_format(&bytes).map_err(|e| err(format!("unknown format ({e})")))?;
    if format == image::ImageFormat::Jpeg && !jpeg_has_eoi(&bytes) {
        return Err(err(
            "truncated JPEG (no end-of-image marker after the image data)".into()
        ));
    }
    if format == image::ImageFormat::Png && !png_has_iend(&bytes) {
        return Err(err("truncated PNG (no complete IEND chunk)".into()));
    }
    let img = image::load_from_memory_with_format(&bytes, format).map_err(|e| err(e.to_string()))?;
    if img.width() == 0 || img.height() == 0 {
        return Err(err(format!("empty image ({}x{})", img.width(), img.height())));
    }
    Ok(())
}

/// An end-of-image marker (`FF D9`) after the last start-of-scan (`FF DA`). Neither can occur inside
/// entropy-coded data (byte stuffing), and an EXIF thumbnail's pair comes before the main scan, so a file
/// cut anywhere in its scan data fails; trailing bytes after the EOI are allowed, as PIL allows them.
fn jpeg_has_eoi(bytes: &[u8]) -> bool {
    let last = |m: [u8; 2]| bytes.windows(2).rposition(|w| w == m);
    match (last([0xFF, 0xDA]), last([0xFF, 0xD9])) {
        (Some(sos), Some(eoi)) => eoi > sos,
        _ => false,
    }
}

/// The IEND chunk type and its fixed CRC near the end (a cut inside it leaves the pixels decodable).
fn png_has_iend(bytes: &[u8]) -> bool {
    const IEND: [u8; 8] = [b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82];
    bytes[bytes.len().saturating_sub(1024)..].windows(8).any(|w| w == IEND)
}

/// One problem per split whose counts differ from the canonical ones, listing every count that differs.
fn count_mismatches(
    split: &str,
    found: Counts,
    expected: ExpectedCounts,
    canonical: &CanonicalCounts,
    path: Option<&Path>,
) -> Option<Problem> {
    let differing: Vec<String> = [
        ("images", found.images, expected.images),
        ("identities", found.ids, expected.ids),
        ("cameras", found.cameras, expected.cameras),
    ]
    .into_iter()
    .filter_map(|(what, n, e)| e.filter(|&e| e != n).map(|e| format!("{n} {what} (canonical {e})")))
    .collect();
    if differing.is_empty() {
        return None;
    }
    let (severity, note) = if canonical.verified {
        (Severity::Error, "")
    } else {
        (Severity::Warning, "; unverified, so only a warning")
    };
    Some(Problem {
        kind: "count_mismatch".into(),
        severity,
        path: path.map(Path::to_path_buf),
        message: format!("{split}: {} [{}{note}]", differing.join(", "), canonical.source),
    })
}

fn unmatched_queries(query: &[Sample], gallery: &[Sample]) -> Option<Problem> {
    let gallery_ids: BTreeSet<i64> = gallery.iter().map(|s| s.pid).collect();
    let missing: BTreeSet<i64> = query
        .iter()
        .map(|s| s.pid)
        .filter(|p| !gallery_ids.contains(p))
        .collect();
    let first = query.iter().find(|s| missing.contains(&s.pid))?;
    Some(Problem {
        kind: "query_without_match".into(),
        severity: Severity::Warning,
        path: Some(first.path.clone()),
        message: format!(
            "{} query identities have no gallery image (their queries are skipped by the metrics), e.g. pid {} \
             ({})",
            missing.len(),
            first.pid,
            first.path.display()
        ),
    })
}

/// A plain-text table of the counts beside the canonical counts, then the problems.
pub fn render_text(r: &CheckReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "dataset: {}", r.dataset);
    let _ = writeln!(s, "root:    {}", r.root.display());
    if let Some(d) = &r.dataset_root {
        let _ = writeln!(s, "read:    {}", d.display());
    }
    let cell = |n: usize, e: Option<usize>| match e {
        Some(e) if e == n => format!("{n} = {e}"),
        Some(e) => format!("{n} != {e}"),
        None => format!("{n}"),
    };
    let _ = writeln!(
        s,
        "\n{:<8} {:>20} {:>16} {:>12}",
        "split", "images", "identities", "cameras"
    );
    for (name, c, idx) in [("train", r.train, 0), ("query", r.query, 1), ("gallery", r.gallery, 2)] {
        let e = r
            .canonical
            .as_ref()
            .map(|k| [k.train, k.query, k.gallery][idx])
            .unwrap_or(ExpectedCounts::UNKNOWN);
        let _ = writeln!(
            s,
            "{:<8} {:>20} {:>16} {:>12}",
            name,
            cell(c.images, e.images),
            cell(c.ids, e.ids),
            cell(c.cameras, e.cameras)
        );
    }
    match &r.canonical {
        Some(c) => {
            let v = if c.verified { "" } else { ", unverified" };
            let _ = writeln!(s, "(found = canonical; canonical from {}{v})", c.source);
        }
        None => {
            let _ = writeln!(s, "(no canonical counts for this dataset)");
        }
    }
    if r.images_decoded > 0 {
        let _ = writeln!(s, "decoded {} images", r.images_decoded);
    }
    for n in &r.notes {
        let _ = writeln!(s, "note: {n}");
    }
    let errors = r.errors().count();
    let warnings = r.problems.len() - errors;
    if r.problems.is_empty() {
        let _ = writeln!(s, "\nno problems");
    } else {
        let _ = writeln!(s, "\n{errors} error(s), {warnings} warning(s):");
        for p in &r.problems {
            let sev = match p.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            let _ = writeln!(s, "  {sev:<7} [{}] {}", p.kind, p.message);
        }
    }
    let _ = writeln!(s, "{}", if r.ok { "OK" } else { "FAILED" });
    s
}
