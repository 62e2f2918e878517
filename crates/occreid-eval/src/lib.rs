//! Re-identification evaluation in pure Rust.
//!
//! * [`distance`]: query × gallery distance matrices (cosine, Euclidean, squared Euclidean) on a GEMM.
//! * [`metrics`]: Market-1501 protocol CMC / mAP / mINP and the CUHK03 single-gallery-shot CMC,
//!   numerically matching torchreid's `eval_market1501` / `eval_cuhk03` and fast-reid's mINP.
//! * [`rerank`]: k-reciprocal re-ranking with torchreid's exact semantics, in bounded memory.
//! * [`roc`]: fast-reid's ROC and TPR at fixed FPR.
//! * [`npy`]: `.npy` input and atomic output.
pub mod distance;
pub mod market_scale;
pub mod metrics;
pub mod npy;
pub mod rerank;
pub mod roc;

pub use metrics::{evaluate, Cuhk03Cmc, EvalError, Labels, Protocol, QueryOutcome, RankMetrics, SkipReason};

/// A dense row-major f32 matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

impl Matrix {
    /// Panics if `data.len() != rows * cols` (a programming error, not an input error).
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Self {
        assert_eq!(data.len(), rows * cols, "Matrix::new: data length must be rows * cols");
        Self { rows, cols, data }
    }
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self::new(rows, cols, vec![0.0; rows * cols])
    }
    pub fn rows(&self) -> usize {
        self.rows
    }
    pub fn cols(&self) -> usize {
        self.cols
    }
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.data
    }
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }
    pub fn get(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.cols + j]
    }
}
