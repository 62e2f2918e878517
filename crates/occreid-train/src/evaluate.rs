//! Test-time feature extraction and evaluation: embed → (flip TTA) → L2 norm → squared Euclidean
//! distance → torchreid's Market-1501 metrics, optionally k-reciprocal re-ranking (BoT's feature mode).
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use occreid_data::loader::{Loader, LoaderOptions, Transform};
use occreid_data::{Sample, TestTransform};
use occreid_eval::distance::{pairwise, Metric};
use occreid_eval::rerank::{rerank, RerankParams, RerankTable};
use occreid_eval::{evaluate, Labels, Matrix, Protocol, RankMetrics};
use occreid_model::methods::Method;
use occreid_torch::tch::{no_grad, Device, Kind, Tensor};

use crate::config::{DataConfig, TestConfig};

#[derive(Debug, thiserror::Error)]
pub enum EvalRunError {
    #[error(transparent)]
    Image(#[from] occreid_data::TransformError),
    #[error("cannot start the loader: {0}")]
    Pool(#[from] rayon::ThreadPoolBuildError),
    #[error(transparent)]
    Eval(#[from] occreid_eval::EvalError),
    #[error(transparent)]
    Rerank(#[from] occreid_eval::rerank::RerankError),
    #[error("feature dimensions differ: {0}")]
    Dimension(#[from] occreid_eval::distance::DimensionMismatch),
    #[error("{0} set is empty: nothing to evaluate")]
    Empty(&'static str),
}

/// How features are extracted.
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    pub batch_size: usize,
    pub flip: bool,
    pub feat_norm: bool,
    pub device: Device,
    pub workers: usize,
    pub prefetch: usize,
    /// Shows a progress bar labelled with this text (hidden when stderr is not a terminal).
    pub label: String,
}

impl ExtractOptions {
    pub fn new(test: &TestConfig, data: &DataConfig, device: Device, label: &str) -> Self {
        Self {
            batch_size: test.batch_size,
            flip: test.flip,
            feat_norm: test.feat_norm,
            device,
            workers: data.workers,
            prefetch: data.prefetch,
            label: label.to_string(),
        }
    }
}

/// The test transform of a config (resize + normalise).
pub fn test_transform(data: &DataConfig) -> TestTransform {
    TestTransform::new(data.height, data.width, data.interpolation)
}

/// Features of `samples` in order, one row each.
pub fn extract(
    method: &dyn Method,
    samples: Arc<Vec<Sample>>,
    transform: Transform,
    opts: &ExtractOptions,
) -> Result<Matrix, EvalRunError> {
    let n = samples.len();
    let batches = occreid_data::loader::sequential_batches(n, opts.batch_size);
    let bar = progress_bar(batches.len() as u64, &opts.label);
    let loader = Loader::spawn(
        samples,
        batches,
        transform,
        LoaderOptions {
            seed: 0,
            prefetch: opts.prefetch,
            threads: opts.workers,
            first_batch: 0,
            skip_unreadable: false,
        },
    )?;
    let mut rows: Vec<f32> = Vec::new();
    let mut dim = 0;
    for batch in loader {
        let batch = batch?;
        let shape: Vec<i64> = batch.shape.iter().map(|&d| d as i64).collect();
        let images = Tensor::from_slice(&batch.images).reshape(&shape).to_device(opts.device);
        let feats = no_grad(|| embed(method, &images, opts.flip, opts.feat_norm));
        dim = feats.size()[1] as usize;
        rows.extend(Vec::<f32>::try_from(feats.flatten(0, -1)).expect("float features"));
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(Matrix::new(n, dim, rows))
}

/// The method's feature, averaged with the flipped image's when `flip`, L2-normalised when `norm`
/// (`F.normalize`: divided by max(‖f‖, 1e-12)).
pub fn embed(method: &dyn Method, images: &Tensor, flip: bool, norm: bool) -> Tensor {
    let mut f = method.embed(images);
    if flip {
        f = (f + method.embed(&images.flip([3]))) / 2.0;
    }
    if norm {
        let n = f.norm_scalaropt_dim(2, [1], true).clamp_min(1e-12);
        f /= n;
    }
    f.to_device(Device::Cpu).to_kind(Kind::Float)
}

/// Metrics of one query/gallery feature pair.
pub struct Evaluation {
    pub plain: RankMetrics,
    pub reranked: Option<RankMetrics>,
    /// Query × gallery squared Euclidean distances (for rank lists).
    pub distmat: Matrix,
}

/// One query's ranking as a report shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryRanking {
    pub query: usize,
    /// The top gallery indices in rank order, with their distances.
    pub top: Vec<(usize, f32)>,
    /// The query's average precision; `None` when the metric skipped it (no valid match).
    pub ap: Option<f64>,
}

impl Evaluation {
    /// The top `k` of query `qi` (plain distances) as the metric ranks them: gallery items of the query's
    /// identity and camera removed, ties in gallery order.
    pub fn ranking(&self, qi: usize, query: &[Sample], gallery: &[Sample], k: usize) -> QueryRanking {
        let q = &query[qi];
        let row = self.distmat.row(qi);
        let mut order: Vec<usize> = (0..gallery.len())
            .filter(|&g| !(gallery[g].pid == q.pid && gallery[g].camid == q.camid))
            .collect();
        order.sort_by(|&a, &b| row[a].total_cmp(&row[b]).then(a.cmp(&b)));
        QueryRanking {
            query: qi,
            top: order.into_iter().take(k).map(|g| (g, row[g])).collect(),
            ap: self.plain.per_query.get(qi).and_then(|r| r.as_ref().ok()).map(|o| o.ap),
        }
    }
}

fn labels(samples: &[Sample]) -> (Vec<i64>, Vec<i64>) {
    (
        samples.iter().map(|s| s.pid).collect(),
        samples.iter().map(|s| s.camid).collect(),
    )
}

/// Squared Euclidean distances (BoT's `R1_mAP`), Market-1501 protocol, optional re-ranking.
pub fn evaluate_features(
    qf: &Matrix,
    gf: &Matrix,
    query: &[Sample],
    gallery: &[Sample],
    test: &TestConfig,
) -> Result<Evaluation, EvalRunError> {
    if query.is_empty() {
        return Err(EvalRunError::Empty("query"));
    }
    if gallery.is_empty() {
        return Err(EvalRunError::Empty("gallery"));
    }
    let (qp, qc) = labels(query);
    let (gp, gc) = labels(gallery);
    let (ql, gl) = (Labels { pids: &qp, camids: &qc }, Labels { pids: &gp, camids: &gc });
    let distmat = pairwise(qf, gf, Metric::SqEuclidean)?;
    let plain = evaluate(&distmat, ql, gl, test.max_rank, Protocol::Market1501)?;
    let reranked = if test.rerank {
        let table = RerankTable::from_features(qf, gf)?;
        let params = RerankParams {
            k1: test.rerank_k1,
            k2: test.rerank_k2,
            lambda: test.rerank_lambda,
        };
        let d = rerank(table, params)?;
        Some(evaluate(&d, ql, gl, test.max_rank, Protocol::Market1501)?)
    } else {
        None
    };
    Ok(Evaluation {
        plain,
        reranked,
        distmat,
    })
}

pub(crate) fn progress_bar(len: u64, label: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    bar
}

#[derive(Debug, thiserror::Error)]
pub enum FeatureFileError {
    #[error("{0}: feature files end in .safetensors or .npy")]
    Extension(std::path::PathBuf),
    #[error("cannot write {path}: {message}")]
    Write { path: std::path::PathBuf, message: String },
}

/// Writes features with their file names: `.safetensors` holds `features` `[N, D]` f32, `pids` and
/// `camids` (int64) and the paths as JSON in the header metadata (`paths`); `.npy` holds the features and
/// a `<name>.paths.txt` beside it lists the files, one per line. Both written atomically.
pub fn save_features(path: &std::path::Path, features: &Matrix, samples: &[Sample]) -> Result<(), FeatureFileError> {
    let werr = |message: String| FeatureFileError::Write {
        path: path.to_path_buf(),
        message,
    };
    let paths: Vec<String> = samples.iter().map(|s| s.path.display().to_string()).collect();
    match path.extension().and_then(|e| e.to_str()) {
        Some("safetensors") => {
            use crate::checkpoint::{safetensors_bytes, RawTensor};
            use safetensors::tensor::Dtype;
            let n = samples.len();
            let ints = |name: &str, values: Vec<i64>| RawTensor {
                name: name.to_string(),
                dtype: Dtype::I64,
                shape: vec![n],
                bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            };
            let tensors = [
                RawTensor {
                    name: "features".to_string(),
                    dtype: Dtype::F32,
                    shape: vec![features.rows(), features.cols()],
                    bytes: features.as_slice().iter().flat_map(|v| v.to_le_bytes()).collect(),
                },
                ints("pids", samples.iter().map(|s| s.pid).collect()),
                ints("camids", samples.iter().map(|s| s.camid).collect()),
            ];
            let meta = std::collections::HashMap::from([(
                "paths".to_string(),
                serde_json::to_string(&paths).expect("strings serialise"),
            )]);
            let bytes = safetensors_bytes(&tensors, meta).map_err(werr)?;
            crate::checkpoint::write_atomic(path, &bytes).map_err(|e| werr(e.to_string()))
        }
        Some("npy") => {
            occreid_eval::npy::write_f32(path, &[features.rows(), features.cols()], features.as_slice())
                .map_err(|e| werr(e.to_string()))?;
            let list = path.with_extension("paths.txt");
            let text: String = paths.iter().map(|p| format!("{p}\n")).collect();
            crate::checkpoint::write_atomic(&list, text.as_bytes()).map_err(|e| werr(e.to_string()))
        }
        _ => Err(FeatureFileError::Extension(path.to_path_buf())),
    }
}
