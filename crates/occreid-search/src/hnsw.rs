//! Approximate nearest neighbours for galleries of millions: an HNSW graph (hnsw_rs) over the gallery's
//! features, built once, saved in a folder beside them and reloaded by later searches. Distances are
//! squared Euclidean, as the exact search and the metrics use.
use std::path::{Path, PathBuf};

use hnsw_rs::prelude::{AnnT, Distance, Hnsw, HnswIo};
use occreid_eval::Matrix;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::exact::Neighbours;

/// The file beside the graph that says what it indexes.
pub const INDEX_META: &str = "index.json";
const BASENAME: &str = "hnsw";
const FORMAT: u32 = 1;
/// hnsw_rs's limit on layers (its NB_LAYER_MAX).
const MAX_LAYERS: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("{0}")]
    Params(String),
}

fn io(path: &Path, e: impl std::fmt::Display) -> IndexError {
    IndexError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Graph degree and construction breadth (the HNSW paper's M and efConstruction).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HnswParams {
    pub m: usize,
    pub ef_construction: usize,
}

impl Default for HnswParams {
    /// M = 16, efConstruction = 200: hnswlib's and FAISS's common setting for recall ≥ 0.95 at ef ≈ 64.
    fn default() -> Self {
        Self {
            m: 16,
            ef_construction: 200,
        }
    }
}

/// What an index folder holds: its graph was built over `rows` features of size `dim` of the gallery
/// whose fingerprint is `gallery`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexMeta {
    pub format: u32,
    pub rows: usize,
    pub dim: usize,
    pub params: HnswParams,
    pub gallery: String,
    pub build_seconds: f64,
}

/// Squared Euclidean distance. hnsw_rs's own L2 sums one float at a time (its SIMD feature needs a
/// nightly compiler), and a graph build spends nearly all its time here: about ten thousand distances per
/// inserted point.
#[derive(Default, Clone, Copy)]
pub struct SqL2;

impl Distance<f32> for SqL2 {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        sq_l2(a, b)
    }
}

/// Squared Euclidean distance in sixteen independent lanes (fixed-size chunks, so the compiler emits
/// vector code without bounds checks), with AVX2 + FMA code chosen at run time where the CPU has them.
pub fn sq_l2(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports the features the function is compiled for (checked just above).
            return unsafe { sq_l2_avx2(a, b) };
        }
    }
    sq_l2_lanes(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sq_l2_avx2(a: &[f32], b: &[f32]) -> f32 {
    sq_l2_lanes(a, b)
}

#[inline(always)]
fn sq_l2_lanes(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        let x: &[f32; LANES] = x.try_into().expect("chunks_exact");
        let y: &[f32; LANES] = y.try_into().expect("chunks_exact");
        for i in 0..LANES {
            let d = x[i] - y[i];
            acc[i] += d * d;
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| (x - y) * (x - y)).sum();
    acc.iter().sum::<f32>() + tail
}

/// An index being built, block by block, in gallery row order.
pub struct Builder {
    hnsw: Hnsw<'static, f32, SqL2>,
    dim: usize,
    rows: usize,
    params: HnswParams,
    started: std::time::Instant,
}

impl Builder {
    pub fn new(expected_rows: usize, dim: usize, params: HnswParams) -> Result<Self, IndexError> {
        if !(2..=256).contains(&params.m) || params.ef_construction < params.m {
            return Err(IndexError::Params(format!(
                "HNSW M = {} and efConstruction = {}: M must be 2..256 and efConstruction at least M",
                params.m, params.ef_construction
            )));
        }
        let hnsw = Hnsw::new(params.m, expected_rows.max(1), MAX_LAYERS, params.ef_construction, SqL2);
        Ok(Self {
            hnsw,
            dim,
            rows: 0,
            params,
            started: std::time::Instant::now(),
        })
    }

    /// Inserts the next gallery rows (in parallel).
    pub fn add(&mut self, block: &Matrix) -> Result<(), IndexError> {
        if block.cols() != self.dim {
            return Err(IndexError::Params(format!(
                "{}-d features added to a {}-d index",
                block.cols(),
                self.dim
            )));
        }
        let items: Vec<(&[f32], usize)> = (0..block.rows()).map(|i| (block.row(i), self.rows + i)).collect();
        self.hnsw.parallel_insert_slice(&items);
        self.rows += block.rows();
        Ok(())
    }

    /// Writes the graph and its [`IndexMeta`] into `dir`, replacing an index there only once the new one
    /// is complete.
    pub fn save(self, dir: &Path, gallery: &str) -> Result<IndexMeta, IndexError> {
        let meta = IndexMeta {
            format: FORMAT,
            rows: self.rows,
            dim: self.dim,
            params: self.params,
            gallery: gallery.to_string(),
            build_seconds: self.started.elapsed().as_secs_f64(),
        };
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let parent = dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let result = (|| {
            std::fs::create_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
            self.hnsw.file_dump(&tmp, BASENAME).map_err(|e| io(&tmp, e))?;
            let text = serde_json::to_string_pretty(&meta).expect("meta serialises");
            std::fs::write(tmp.join(INDEX_META), text).map_err(|e| io(&tmp, e))?;
            // Swap folders: the old index stays whole until the new one is in place.
            let old = parent.join(format!(".{name}.old-{}", std::process::id()));
            if dir.exists() {
                std::fs::rename(dir, &old).map_err(|e| io(dir, e))?;
            }
            std::fs::rename(&tmp, dir).map_err(|e| io(dir, e))?;
            let _ = std::fs::remove_dir_all(&old);
            Ok(meta)
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result
    }
}

/// The [`IndexMeta`] of an index folder.
pub fn read_meta(dir: &Path) -> Result<IndexMeta, IndexError> {
    let path = dir.join(INDEX_META);
    let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
    let meta: IndexMeta = serde_json::from_str(&text).map_err(|e| IndexError::Invalid {
        path: path.clone(),
        message: format!("unreadable: {e}"),
    })?;
    if meta.format != FORMAT {
        return Err(IndexError::Invalid {
            path,
            message: format!("index format {} (this occreid reads {FORMAT})", meta.format),
        });
    }
    Ok(meta)
}

/// Seconds spent loading the graph and searching it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SearchTiming {
    pub load_seconds: f64,
    pub search_seconds: f64,
}

/// The `k` approximate nearest gallery rows of each query as (gallery index, squared distance), nearest
/// first, searching with breadth `ef` (≥ k; larger is slower and closer to exact).
pub fn search(dir: &Path, queries: &Matrix, k: usize, ef: usize) -> Result<(Neighbours, SearchTiming), IndexError> {
    let t = std::time::Instant::now();
    let meta = read_meta(dir)?;
    if queries.cols() != meta.dim {
        return Err(IndexError::Params(format!(
            "{}-d queries for a {}-d index",
            queries.cols(),
            meta.dim
        )));
    }
    let reader = HnswIo::new(dir, BASENAME);
    let mut hnsw: Hnsw<f32, SqL2> = reader
        .load_hnsw_with_dist(SqL2)
        .map_err(|e| io(dir, format!("cannot load the HNSW graph: {e}")))?;
    if hnsw.get_nb_point() != meta.rows {
        return Err(IndexError::Invalid {
            path: dir.to_path_buf(),
            message: format!(
                "graph holds {} points, {INDEX_META} says {}",
                hnsw.get_nb_point(),
                meta.rows
            ),
        });
    }
    hnsw.set_searching_mode(true);
    let load_seconds = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let ef = ef.max(k);
    let found = (0..queries.rows())
        .into_par_iter()
        .map(|i| {
            let mut found: Vec<(usize, f32)> = hnsw
                .search(queries.row(i), k, ef)
                .into_iter()
                .map(|n| (n.d_id, n.distance))
                .collect();
            found.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            found
        })
        .collect();
    let timing = SearchTiming {
        load_seconds,
        search_seconds: t.elapsed().as_secs_f64(),
    };
    Ok((found, timing))
}

/// Mean fraction of each query's exact top-`k` that the approximate top-`k` holds.
pub fn recall_at(exact: &[Vec<(usize, f32)>], approx: &[Vec<(usize, f32)>], k: usize) -> f64 {
    if exact.is_empty() || k == 0 {
        return f64::NAN;
    }
    let hits: usize = exact
        .iter()
        .zip(approx)
        .map(|(e, a)| {
            let a: std::collections::HashSet<usize> = a.iter().take(k).map(|x| x.0).collect();
            e.iter().take(k).filter(|x| a.contains(&x.0)).count()
        })
        .sum();
    hits as f64 / (exact.len() * k) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32) / (1u64 << 24) as f32 - 0.5
    }

    #[test]
    fn squared_distance_matches_the_definition_for_every_length() {
        let mut seed = 1;
        for n in [0, 1, 7, 8, 9, 31, 2048] {
            let a: Vec<f32> = (0..n).map(|_| lcg(&mut seed)).collect();
            let b: Vec<f32> = (0..n).map(|_| lcg(&mut seed)).collect();
            let want: f64 = a.iter().zip(&b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
            assert!((sq_l2(&a, &b) as f64 - want).abs() <= 1e-5 * want.max(1.0), "{n}");
        }
    }

    #[test]
    fn built_saved_and_reloaded_index_finds_near_exact_neighbours() {
        let mut seed = 3;
        let (n, dim, nq, k) = (2000, 16, 50, 10);
        let g = Matrix::new(n, dim, (0..n * dim).map(|_| lcg(&mut seed)).collect());
        let q = Matrix::new(nq, dim, (0..nq * dim).map(|_| lcg(&mut seed)).collect());
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join("index");
        let mut b = Builder::new(n, dim, HnswParams::default()).unwrap();
        for start in (0..n).step_by(700) {
            let rows = 700.min(n - start);
            b.add(&Matrix::new(
                rows,
                dim,
                g.as_slice()[start * dim..(start + rows) * dim].to_vec(),
            ))
            .unwrap();
        }
        let meta = b.save(&index, "gallery-x").unwrap();
        assert_eq!((meta.rows, meta.dim, meta.gallery.as_str()), (n, dim, "gallery-x"));
        assert_eq!(read_meta(&index).unwrap(), meta);

        let mut top = crate::exact::TopK::new(nq, k);
        crate::exact::search_block(&q, &g, occreid_eval::distance::Metric::SqEuclidean, &mut top).unwrap();
        let exact = top.into_results();
        let (approx, _) = search(&index, &q, k, 100).unwrap();
        for (qi, a) in approx.iter().enumerate() {
            assert_eq!(a.len(), k);
            // Distances are the true squared distances of the rows named, nearest first.
            for &(i, d) in a {
                assert!((d - sq_l2(q.row(qi), g.row(i))).abs() <= 1e-5, "query {qi} row {i}");
            }
            assert!(a.windows(2).all(|w| w[0].1 <= w[1].1));
        }
        let r = recall_at(&exact, &approx, k);
        assert!(r >= 0.95, "recall@10 {r}");
        assert_eq!(recall_at(&exact, &exact, k), 1.0);
        // A second build replaces the first whole.
        let mut b = Builder::new(10, dim, HnswParams::default()).unwrap();
        b.add(&Matrix::new(10, dim, g.as_slice()[..10 * dim].to_vec())).unwrap();
        b.save(&index, "gallery-y").unwrap();
        assert_eq!(read_meta(&index).unwrap().rows, 10);
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("index")]);
    }

    #[test]
    fn bad_parameters_and_sizes_are_refused() {
        assert!(Builder::new(
            10,
            4,
            HnswParams {
                m: 300,
                ef_construction: 400
            }
        )
        .is_err());
        assert!(Builder::new(
            10,
            4,
            HnswParams {
                m: 16,
                ef_construction: 8
            }
        )
        .is_err());
        let mut b = Builder::new(10, 4, HnswParams::default()).unwrap();
        assert!(b.add(&Matrix::zeros(2, 5)).is_err());
    }
}
