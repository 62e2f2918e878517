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

pub use metrics::{
    evaluate, evaluate_features, Cuhk03Cmc, EvalError, FeatureEvalError, Labels, Protocol, QueryOutcome, RankMetrics,
    RowSource, SkipReason, DEFAULT_BLOCK_ROWS,
};

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
    pub fn view(&self) -> MatrixView<'_> {
        MatrixView {
            rows: self.rows,
            cols: self.cols,
            data: &self.data,
        }
    }
}

/// A borrowed row-major f32 matrix: a [`Matrix`], or a `.npy` file read in place
/// ([`npy::MatrixFile`]), so a distance matrix is evaluated without a copy of it in memory.
#[derive(Debug, Clone, Copy)]
pub struct MatrixView<'a> {
    rows: usize,
    cols: usize,
    data: &'a [f32],
}

impl<'a> MatrixView<'a> {
    /// Panics if `data.len() != rows * cols` (a programming error, not an input error).
    pub fn new(rows: usize, cols: usize, data: &'a [f32]) -> Self {
        assert_eq!(
            data.len(),
            rows * cols,
            "MatrixView::new: data length must be rows * cols"
        );
        Self { rows, cols, data }
    }
    pub fn rows(&self) -> usize {
        self.rows
    }
    pub fn cols(&self) -> usize {
        self.cols
    }
    pub fn row(&self, i: usize) -> &'a [f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
    pub fn as_slice(&self) -> &'a [f32] {
        self.data
    }
}

impl<'a> From<&'a Matrix> for MatrixView<'a> {
    fn from(m: &'a Matrix) -> Self {
        m.view()
    }
}

/// A number as a person reads it in a log line: 3 decimals (`5.924`), or 3 significant digits in
/// scientific notation when small or large (`2.38e-4`); machine files keep full precision.
#[derive(Debug, Clone, Copy)]
pub struct Rounded(pub f64);

impl std::fmt::Display for Rounded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let x = self.0;
        if x == 0.0 || !x.is_finite() {
            write!(f, "{x}")
        } else if x.abs() < 1e-2 || x.abs() >= 1e5 {
            write!(f, "{x:.2e}")
        } else {
            write!(f, "{x:.3}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Rounded;

    #[test]
    fn log_numbers_are_rounded_for_people() {
        assert_eq!(Rounded(0.00023799999999999998).to_string(), "2.38e-4");
        assert_eq!(Rounded(5.92431).to_string(), "5.924");
        assert_eq!(Rounded(0.90612).to_string(), "0.906");
        assert_eq!(Rounded(123456.7).to_string(), "1.23e5");
        assert_eq!(Rounded(0.0).to_string(), "0");
    }
}
