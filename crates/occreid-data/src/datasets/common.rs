//! Helpers shared by the readers: root resolution, image listing, file-name parsing, relabelling.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{DataError, Sample, Scan, Split};

/// File extensions treated as images (case-insensitive); anything else in a split folder is ignored.
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "tif", "tiff", "bmp"];

pub fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

pub(crate) fn file_name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

pub(crate) fn file_stem(path: &Path) -> &str {
    path.file_stem().and_then(|n| n.to_str()).unwrap_or("")
}

/// Finds the dataset folder: the first `root.join(candidate)` (`""` = `root` itself) that holds every
/// `required` entry, else the first that holds any of them (the missing ones become problems later).
/// Returns the folder and a note naming it.
pub(crate) fn resolve_root(
    root: &Path,
    dataset: &str,
    candidates: &[&str],
    required: &[&str],
) -> Result<(PathBuf, String), DataError> {
    if !root.is_dir() {
        return Err(DataError::MissingFolder {
            path: root.to_path_buf(),
            expected: format!("the {dataset} root folder"),
            fix: "pass --root pointing at an existing folder".into(),
        });
    }
    let dirs: Vec<PathBuf> = candidates
        .iter()
        .map(|c| if c.is_empty() { root.to_path_buf() } else { root.join(c) })
        .collect();
    let has = |d: &Path, r: &str| d.join(r).exists();
    let found = dirs
        .iter()
        .find(|d| required.iter().all(|r| has(d, r)))
        .or_else(|| dirs.iter().find(|d| required.iter().any(|r| has(d, r))));
    match found {
        Some(d) => Ok((d.clone(), format!("dataset folder: {}", d.display()))),
        None => Err(DataError::NoLayout {
            root: root.to_path_buf(),
            dataset: dataset.to_string(),
            expected: required.join(", "),
            tried: dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Images directly in `dir` and, with `per_id_folders`, in its immediate sub-folders (returned with the
/// sub-folder's name). Sorted by path. A missing or empty folder is recorded in `problems`.
pub(crate) fn list_images(
    dir: &Path,
    per_id_folders: bool,
    expected: &str,
    problems: &mut Vec<DataError>,
) -> Vec<(PathBuf, Option<String>)> {
    if !dir.is_dir() {
        problems.push(DataError::MissingFolder {
            path: dir.to_path_buf(),
            expected: expected.to_string(),
            fix: "check that the dataset was extracted completely and --root points at it".into(),
        });
        return Vec::new();
    }
    let mut out = Vec::new();
    for entry in read_dir_sorted(dir, problems) {
        if entry.is_dir() {
            if per_id_folders {
                let label = file_name(&entry).to_string();
                for sub in read_dir_sorted(&entry, problems) {
                    if sub.is_file() && is_image(&sub) {
                        out.push((sub, Some(label.clone())));
                    }
                }
            }
        } else if is_image(&entry) {
            out.push((entry, None));
        }
    }
    out.sort();
    if out.is_empty() {
        problems.push(DataError::NoImages {
            path: dir.to_path_buf(),
            expected: expected.to_string(),
        });
    }
    out
}

/// Entries of `dir` (hidden ones skipped), sorted; an unreadable folder is recorded in `problems`.
fn read_dir_sorted(dir: &Path, problems: &mut Vec<DataError>) -> Vec<PathBuf> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            problems.push(DataError::io(dir, e));
            return Vec::new();
        }
    };
    let mut v = Vec::new();
    for entry in rd {
        match entry {
            Ok(e) if !e.file_name().to_string_lossy().starts_with('.') => v.push(e.path()),
            Ok(_) => {}
            Err(e) => problems.push(DataError::io(dir, e)),
        }
    }
    v.sort();
    v
}

/// Python's `int(s)` for the strings datasets use: optional sign, ASCII digits.
pub(crate) fn parse_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The first match of the regex `([-\d]+)_c(\d)` (torchreid / BoT Market and Duke parsing): the pid
/// string and the single camera digit.
pub(crate) fn market_pattern(name: &str) -> Option<(&str, u8)> {
    let b = name.as_bytes();
    let is_pid_char = |c: u8| c == b'-' || c.is_ascii_digit();
    let mut start = 0;
    while start < b.len() {
        if !is_pid_char(b[start]) {
            start += 1;
            continue;
        }
        let mut end = start;
        while end < b.len() && is_pid_char(b[end]) {
            end += 1;
        }
        // The regex tries every start inside the run; all of them end at the same place.
        if b.get(end) == Some(&b'_') && b.get(end + 1) == Some(&b'c') && b.get(end + 2).is_some_and(u8::is_ascii_digit)
        {
            return Some((&name[start..end], b[end + 2] - b'0'));
        }
        start = end;
    }
    None
}

/// `int(stem.split('_')[0])`: the pid rule of Occluded-REID, Partial-REID and P-DukeMTMC.
pub(crate) fn pid_before_underscore(path: &Path) -> Option<i64> {
    parse_int(file_stem(path).split('_').next().unwrap_or(""))
}

/// The leading run of digits of the file name (Partial-iLIDS).
pub(crate) fn leading_int(path: &Path) -> Option<i64> {
    let name = file_name(path);
    let end = name.bytes().position(|b| !b.is_ascii_digit()).unwrap_or(name.len());
    name[..end].parse().ok()
}

/// Relabels pids to `0..N-1` in sorted order of the original pids.
pub(crate) fn relabel(samples: &mut [Sample]) {
    let labels: BTreeMap<i64, i64> = samples
        .iter()
        .map(|s| s.pid)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .zip(0..)
        .collect();
    for s in samples {
        s.pid = labels[&s.pid];
    }
}

/// Sorts every list by path, relabels train and wraps the result.
pub(crate) fn finish(mut split: Split, problems: Vec<DataError>, root: PathBuf) -> Scan {
    for list in [&mut split.train, &mut split.query, &mut split.gallery] {
        list.sort();
    }
    relabel(&mut split.train);
    Scan { split, problems, root }
}

/// Images of a folder (flat or one folder per identity) with pids from `pid_of`; when the images are in
/// per-identity folders whose names are integers, the folder name must agree with the file name.
pub(crate) fn read_pid_folder(
    dir: &Path,
    camid: i64,
    pid_of: fn(&Path) -> Option<i64>,
    rule: &str,
    problems: &mut Vec<DataError>,
) -> Vec<Sample> {
    let expected = format!("images named by {rule}, flat or in one folder per identity");
    let mut out = Vec::new();
    for (path, folder) in list_images(dir, true, &expected, problems) {
        let from_folder = folder.as_deref().and_then(parse_int);
        let pid = match (pid_of(&path), from_folder) {
            (Some(p), Some(f)) if p != f => {
                problems.push(DataError::Inconsistent {
                    message: format!("file name says identity {p} but its folder says {f}"),
                    path,
                    fix: "move the file into the folder of its identity".into(),
                });
                continue;
            }
            (Some(p), _) | (None, Some(p)) => p,
            (None, None) => {
                problems.push(DataError::BadName {
                    path,
                    expected: rule.to_string(),
                });
                continue;
            }
        };
        out.push(Sample { path, pid, camid });
    }
    out
}

/// A test-only benchmark with a query folder and a gallery folder and no camera ids: query camid 0,
/// gallery camid 1 (torchreid / PVPM convention, spec §4.5), empty train.
pub(crate) struct QueryGalleryFormat {
    pub name: &'static str,
    pub candidates: &'static [&'static str],
    pub query_dir: &'static str,
    pub gallery_dir: &'static str,
    pub pid_of: fn(&Path) -> Option<i64>,
    pub rule: &'static str,
    /// Query and gallery list files in the dataset folder (light-reid's `Probe.txt` / `Gallery.txt`), one
    /// `<folder>/<file>` per line. A list present and naming only images of its side's folder defines that
    /// side; otherwise the folder is scanned.
    pub lists: Option<(&'static str, &'static str)>,
}

pub(crate) fn scan_query_gallery(f: &QueryGalleryFormat, root: &Path) -> Result<Scan, DataError> {
    let (dir, note) = resolve_root(root, f.name, f.candidates, &[f.query_dir, f.gallery_dir])?;
    let mut problems = Vec::new();
    let mut notes = vec![note];
    let (query_list, gallery_list) = f.lists.unzip();
    let (query, q_src) = read_side(f, &dir, f.query_dir, query_list, 0, &mut problems, &mut notes);
    let (gallery, g_src) = read_side(f, &dir, f.gallery_dir, gallery_list, 1, &mut problems, &mut notes);
    notes.push(format!(
        "query = {}{q_src}, gallery = {}{g_src}",
        f.query_dir, f.gallery_dir
    ));
    notes.push(
        "no camera ids in this dataset: query camid 0, gallery camid 1, so the same-camera filter removes \
         nothing (spec §4.5)"
            .into(),
    );
    notes.push("test-only dataset: train is empty; the standard protocol trains on market1501 (spec §4.5)".into());
    let split = Split {
        train: Vec::new(),
        query,
        gallery,
        notes,
    };
    Ok(finish(split, problems, dir))
}

/// One side of a [`QueryGalleryFormat`]: from its list file when that is present and names only images
/// of `folder` (the list then fixes membership and order is still by path), else a scan of `folder`.
/// Returns the samples and a note fragment saying where they came from.
fn read_side(
    f: &QueryGalleryFormat,
    dir: &Path,
    folder: &str,
    list: Option<&str>,
    camid: i64,
    problems: &mut Vec<DataError>,
    notes: &mut Vec<String>,
) -> (Vec<Sample>, String) {
    if let Some(list) = list.map(|l| dir.join(l)).filter(|l| l.is_file()) {
        let mut list_problems = Vec::new();
        let entries = read_name_list(&list, dir, camid, f, &mut list_problems);
        let folders: std::collections::BTreeSet<&str> = entries.iter().map(|(_, d)| d.as_str()).collect();
        if folders.iter().all(|d| *d == folder) {
            problems.append(&mut list_problems);
            let name = file_name(&list);
            return (
                entries.into_iter().map(|(s, _)| s).collect(),
                format!(" (listed in {name})"),
            );
        }
        // A list of another folder (e.g. Probe.txt naming partial_body_images while the configured query
        // folder is occluded_body_images) must not silently change the protocol.
        notes.push(format!(
            "{} lists images of {}, not {folder}: {folder} scanned instead",
            list.display(),
            folders.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    (
        read_pid_folder(&dir.join(folder), camid, f.pid_of, f.rule, problems),
        String::new(),
    )
}

/// A list of image paths relative to `dir`, one per line (blank lines skipped), with the first path
/// component of each. Unparsable names, missing files and an empty list go to `problems`.
fn read_name_list(
    list: &Path,
    dir: &Path,
    camid: i64,
    f: &QueryGalleryFormat,
    problems: &mut Vec<DataError>,
) -> Vec<(Sample, String)> {
    let text = match std::fs::read_to_string(list) {
        Ok(t) => t,
        Err(e) => {
            problems.push(DataError::io(list, e));
            return Vec::new();
        }
    };
    let expected = format!("'<folder>/<image>' with the image named {}", f.rule);
    let mut out = Vec::new();
    let mut entries = 0;
    for (i, line) in text.lines().enumerate() {
        // Lists written on Windows may separate with backslashes; light-reid splits on '/'.
        let rel = line.trim().replace('\\', "/");
        if rel.is_empty() {
            continue;
        }
        entries += 1;
        let rel_path = Path::new(&rel);
        let folder = rel_path
            .components()
            .next()
            .filter(|_| rel_path.components().count() > 1)
            .map(|c| c.as_os_str().to_string_lossy().into_owned());
        let (Some(folder), Some(pid)) = (folder, (f.pid_of)(rel_path)) else {
            problems.push(DataError::BadLine {
                path: list.to_path_buf(),
                line: i + 1,
                found: rel.clone(),
                expected: expected.clone(),
            });
            continue;
        };
        let path = dir.join(rel_path);
        if !path.is_file() {
            problems.push(DataError::MissingFile {
                path,
                list: list.to_path_buf(),
                line: i + 1,
            });
            continue;
        }
        out.push((Sample { path, pid, camid }, folder));
    }
    if entries == 0 {
        problems.push(DataError::EmptyList {
            path: list.to_path_buf(),
            expected,
        });
    }
    out
}

/// SplitMix64 (Steele et al. 2014): a tiny, fast, well-mixed generator; enough for seeded shuffles and
/// procedural drawing, and identical on every platform.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }
    /// A generator for stream `(a, b)` of `seed`, independent of the order streams are created in.
    pub(crate) fn stream(seed: u64, a: u64, b: u64) -> Self {
        let mut g = Self(seed ^ 0x6a09_e667_f3bc_c908);
        let x = g.next_u64() ^ a.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut g = Self(x);
        Self(g.next_u64() ^ b.wrapping_mul(0xbf58_476d_1ce4_e5b9))
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `[0, 1)`.
    pub(crate) fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Uniform in `[lo, hi)`.
    pub(crate) fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.f32()
    }
    /// Integer in `0..n` (`n > 0`) by Lemire's multiply-shift (bias below `n / 2^64`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
    pub(crate) fn chance(&mut self, p: f32) -> bool {
        self.f32() < p
    }
    pub(crate) fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn market_pattern_matches_the_regex_on_known_names() {
        assert_eq!(market_pattern("0002_c1s1_000451_03.jpg"), Some(("0002", 1)));
        assert_eq!(market_pattern("-1_c3s2_012345_00.jpg"), Some(("-1", 3)));
        assert_eq!(market_pattern("0005_c2_f0046985.jpg"), Some(("0005", 2)));
        // The regex searches: a prefix that does not match is skipped.
        assert_eq!(market_pattern("x12_y_0007_c4s1.jpg"), Some(("0007", 4)));
        assert_eq!(market_pattern("0002_s1_000451.jpg"), None);
        assert_eq!(market_pattern("0002_cx.jpg"), None);
        assert_eq!(market_pattern("Thumbs.db"), None);
    }

    #[test]
    fn parse_int_is_strict() {
        assert_eq!(parse_int("0012"), Some(12));
        assert_eq!(parse_int("-1"), Some(-1));
        assert_eq!(parse_int("0-1"), None);
        assert_eq!(parse_int(""), None);
        assert_eq!(parse_int("-"), None);
        assert_eq!(parse_int("12a"), None);
    }

    #[test]
    fn relabel_uses_sorted_order() {
        let s = |pid| Sample {
            path: PathBuf::new(),
            pid,
            camid: 0,
        };
        let mut v = vec![s(30), s(7), s(30), s(12)];
        relabel(&mut v);
        assert_eq!(v.iter().map(|s| s.pid).collect::<Vec<_>>(), vec![2, 0, 2, 1]);
    }

    #[test]
    fn splitmix_below_stays_in_range_and_shuffle_is_a_permutation() {
        let mut g = SplitMix64::new(7);
        assert!((0..1000).all(|_| g.below(5) < 5));
        let mut v: Vec<u32> = (0..50).collect();
        g.shuffle(&mut v);
        let mut sorted = v.clone();
        sorted.sort();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_ne!(v, sorted);
    }
}
