//! The deterministic Market-1501-shaped evaluation problem of the fixture spec (`market_scale/spec.json`):
//! Q = 3368 queries, G = 15913 gallery items, 751 identities, 6 cameras, built from a SplitMix64-style
//! hash with integer arithmetic only, so every port produces the same bits. Used by the parity test
//! and by the benchmarks.
use rayon::prelude::*;

use crate::{Labels, Matrix};

pub const SEED: u64 = 20240607;
pub const NUM_QUERY: usize = 3368;
pub const NUM_GALLERY: usize = 15913;
const DIM: usize = 30;
const QUERY_IDS: u64 = 750;
const GALLERY_IDS: u64 = 751;
const CLIP: i64 = 1023;
const FRAC_DENOMINATOR: f64 = 16384.0;

pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub fn hash(s: u64, a: u64, b: u64) -> u64 {
    mix64(mix64(mix64(SEED ^ s) ^ a) ^ b)
}

fn special(pid: u64) -> bool {
    pid % 75 == 74
}

fn camera(stream: u64, index: u64, pid: u64) -> i64 {
    if special(pid) {
        (pid % 6) as i64
    } else {
        (hash(stream, index, 0) % 6) as i64
    }
}

/// Distance matrix and labels of the problem.
pub struct MarketScale {
    pub distmat: Matrix,
    pub q_pids: Vec<i64>,
    pub g_pids: Vec<i64>,
    pub q_camids: Vec<i64>,
    pub g_camids: Vec<i64>,
    /// Integer features (for checks against the spec's first rows and sums).
    pub q_features: Vec<[i64; DIM]>,
    pub g_features: Vec<[i64; DIM]>,
}

impl MarketScale {
    pub fn query(&self) -> Labels<'_> {
        Labels {
            pids: &self.q_pids,
            camids: &self.q_camids,
        }
    }
    pub fn gallery(&self) -> Labels<'_> {
        Labels {
            pids: &self.g_pids,
            camids: &self.g_camids,
        }
    }
    /// The integer features as float32 matrices (query, gallery), exactly representable.
    pub fn feature_matrices(&self) -> (Matrix, Matrix) {
        let m = |rows: &[[i64; DIM]]| Matrix::new(rows.len(), DIM, rows.iter().flatten().map(|&v| v as f32).collect());
        (m(&self.q_features), m(&self.g_features))
    }
}

pub fn generate() -> MarketScale {
    let prototypes: Vec<[i64; DIM]> = (0..GALLERY_IDS)
        .map(|p| std::array::from_fn(|k| (hash(3, p, k as u64) % 7) as i64 - 3))
        .collect();
    let features = |stream: u64, n: usize, ids: u64| -> (Vec<i64>, Vec<[i64; DIM]>) {
        let pids: Vec<i64> = (0..n as u64).map(|i| (i % ids) as i64).collect();
        let feats = (0..n as u64)
            .map(|i| {
                let proto = &prototypes[(i % ids) as usize];
                std::array::from_fn(|k| proto[k] + (hash(stream, i, k as u64) % 5) as i64 - 2)
            })
            .collect();
        (pids, feats)
    };
    let (q_pids, q_features) = features(4, NUM_QUERY, QUERY_IDS);
    let (g_pids, g_features) = features(5, NUM_GALLERY, GALLERY_IDS);
    let q_camids = (0..NUM_QUERY as u64).map(|i| camera(1, i, i % QUERY_IDS)).collect();
    let g_camids = (0..NUM_GALLERY as u64).map(|j| camera(2, j, j % GALLERY_IDS)).collect();
    let mut data = vec![0f32; NUM_QUERY * NUM_GALLERY];
    data.par_chunks_mut(NUM_GALLERY).zip(&q_features).for_each(|(row, fq)| {
        for (j, (d, fg)) in row.iter_mut().zip(&g_features).enumerate() {
            let s: i64 = fq.iter().zip(fg).map(|(a, b)| (a - b) * (a - b)).sum();
            *d = (s.min(CLIP) as f64 + j as f64 / FRAC_DENOMINATOR) as f32;
        }
    });
    MarketScale {
        distmat: Matrix::new(NUM_QUERY, NUM_GALLERY, data),
        q_pids,
        g_pids,
        q_camids,
        g_camids,
        q_features,
        g_features,
    }
}
