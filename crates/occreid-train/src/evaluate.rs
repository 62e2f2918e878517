//! Test-time feature extraction and evaluation: embed → (flip TTA) → L2 norm → squared Euclidean
//! distance → torchreid's Market-1501 metrics, optionally k-reciprocal re-ranking (BoT's feature mode).
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use occreid_data::loader::{Loader, LoaderOptions, Transform};
use occreid_data::{Sample, TestTransform};
use occreid_eval::distance::{distances_into, Metric, Prepared};
use occreid_eval::rerank::{rerank_features, RerankParams};
use occreid_eval::{evaluate, FeatureEvalError, Labels, Matrix, Protocol, RankMetrics, DEFAULT_BLOCK_ROWS};
use occreid_model::methods::Method;
use occreid_torch::tch::{no_grad, Device, Kind, Tensor};

use crate::config::{DataConfig, TestConfig};
use crate::features::{Manifest, ShardWriter};

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
    #[error(transparent)]
    Features(#[from] FeatureEvalError),
    #[error("{0} set is empty: nothing to evaluate")]
    Empty(&'static str),
    #[error("the model failed: {0}")]
    Model(String),
    #[error("{0}")]
    Output(String),
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
    let model = |images: &Tensor| Ok(embed(method, images, opts.flip, opts.feat_norm));
    extract_all(&model, samples, transform, opts)
}

/// Every batch of [`extract_streaming`] collected into one matrix, one row per sample in order.
pub fn extract_all(
    model: &EmbedFn,
    samples: Arc<Vec<Sample>>,
    transform: Transform,
    opts: &ExtractOptions,
) -> Result<Matrix, EvalRunError> {
    let n = samples.len();
    let (mut rows, mut dim) = (Vec::new(), 0);
    extract_streaming(model, samples, transform, opts, &mut |_, m| {
        dim = m.cols();
        rows.extend_from_slice(m.as_slice());
        Ok(ControlFlow::Continue(()))
    })?;
    Ok(Matrix::new(n, dim, rows))
}

/// A model's test-time features of a batch of normalised images `[B, 3, H, W]`, as float32 on the CPU.
pub type EmbedFn<'a> = dyn Fn(&Tensor) -> Result<Tensor, String> + 'a;

/// Runs `model` over `samples` in order and hands each batch's features to `sink` with the index of its
/// first sample, so that memory holds one batch whatever the number of samples. `sink` may end the run
/// early with [`ControlFlow::Break`].
pub fn extract_streaming(
    model: &EmbedFn,
    samples: Arc<Vec<Sample>>,
    transform: Transform,
    opts: &ExtractOptions,
    sink: &mut dyn FnMut(usize, Matrix) -> Result<ControlFlow<()>, EvalRunError>,
) -> Result<(), EvalRunError> {
    let n = samples.len();
    let batches = occreid_data::loader::sequential_batches(n, opts.batch_size);
    let bar = crate::progress::bar(n as u64, &opts.label);
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
    let mut first = 0;
    for batch in loader {
        let batch = batch?;
        let shape: Vec<i64> = batch.shape.iter().map(|&d| d as i64).collect();
        let rows = shape[0] as usize;
        let images = Tensor::from_slice(&batch.images).reshape(&shape).to_device(opts.device);
        let feats = no_grad(|| model(&images)).map_err(EvalRunError::Model)?;
        let dim = feats.size().get(1).copied().unwrap_or(0) as usize;
        let values = Vec::<f32>::try_from(feats.flatten(0, -1)).map_err(|e| EvalRunError::Model(e.to_string()))?;
        if feats.dim() != 2 || values.len() != rows * dim {
            return Err(EvalRunError::Model(format!(
                "the model returned {:?} for {rows} images, not [{rows}, D]",
                feats.size()
            )));
        }
        let flow = sink(first, Matrix::new(rows, dim, values))?;
        first += rows;
        bar.inc(rows as u64);
        if flow.is_break() {
            bar.abandon();
            return Ok(());
        }
    }
    bar.finish_and_clear();
    Ok(())
}

/// How [`extract_gallery`] ended.
#[derive(Debug)]
pub enum GalleryExtraction {
    Finished(Box<Manifest>),
    /// `stop` turned non-zero (a signal): every row extracted so far is in the shards on disk, with no
    /// manifest, so [`ShardWriter::resume`] continues from there. `code` is the value `stop` held.
    Stopped {
        code: usize,
        rows_on_disk: usize,
    },
}

/// Extracts the samples after the `writer.rows_on_disk()` already in `writer`'s gallery and finishes it,
/// unless `stop` turns non-zero first: it is read after each batch, and then the rows held in memory are
/// written as a shard of their own, so an interrupted extraction loses nothing it computed. `writer` is
/// new or resumed (no rows held in memory).
pub fn extract_gallery(
    model: &EmbedFn,
    samples: &[Sample],
    mut writer: ShardWriter,
    transform: Transform,
    opts: &ExtractOptions,
    stop: &AtomicUsize,
) -> Result<GalleryExtraction, EvalRunError> {
    let done = writer.rows_on_disk();
    let Some(rest) = samples.get(done..) else {
        return Err(EvalRunError::Output(format!(
            "the gallery's shards hold {done} rows, more than the {} images to extract",
            samples.len()
        )));
    };
    let rest = Arc::new(rest.to_vec());
    let out = |e: crate::features::FeatureFileError| EvalRunError::Output(e.to_string());
    let mut code = 0;
    if !rest.is_empty() {
        extract_streaming(model, rest.clone(), transform, opts, &mut |first, m| {
            let end = first + m.rows();
            writer.push(&m, &rest[first..end]).map_err(out)?;
            code = if end < rest.len() {
                stop.load(Ordering::SeqCst)
            } else {
                0
            };
            Ok(if code == 0 {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            })
        })?;
    }
    Ok(if code == 0 {
        GalleryExtraction::Finished(Box::new(writer.finish().map_err(out)?))
    } else {
        GalleryExtraction::Stopped {
            code,
            rows_on_disk: writer.suspend().map_err(|e| {
                EvalRunError::Output(format!(
                    "{e} (while stopping: the shards written before it are kept and --resume continues them)"
                ))
            })?,
        }
    })
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
    /// The features the metrics came from: rank lists compute their few rows from them, so no
    /// query × gallery matrix is kept (or made: the metrics stream the gallery in blocks).
    query_features: Matrix,
    gallery_features: Arc<Matrix>,
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
        let metric = Metric::SqEuclidean;
        let d = self.query_features.cols();
        let mut row = vec![0f32; self.gallery_features.rows()];
        distances_into(
            &Prepared::new(self.query_features.row(qi), d, metric),
            &Prepared::new(self.gallery_features.as_slice(), d, metric),
            metric,
            &mut row,
        );
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
    qf: Matrix,
    gf: Arc<Matrix>,
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
    let plain = occreid_eval::evaluate_features(
        qf.view(),
        &gf.view(),
        Metric::SqEuclidean,
        ql,
        gl,
        test.max_rank,
        DEFAULT_BLOCK_ROWS,
    )?;
    let reranked = if test.rerank {
        let params = RerankParams {
            k1: test.rerank_k1,
            k2: test.rerank_k2,
            lambda: test.rerank_lambda,
        };
        let d = rerank_features(qf.view(), gf.view(), params)?;
        Some(evaluate(&d, ql, gl, test.max_rank, Protocol::Market1501)?)
    } else {
        None
    };
    Ok(Evaluation {
        plain,
        reranked,
        query_features: qf,
        gallery_features: gf,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(pid: i64, camid: i64) -> Sample {
        Sample {
            path: format!("p{pid}c{camid}.jpg").into(),
            pid,
            camid,
        }
    }

    #[test]
    fn a_rank_list_is_the_query_row_of_the_distances_sorted_as_the_metric_ranks() {
        // Two queries and five gallery items in 3-d; gallery 0 shares query 0's identity and camera.
        let qf = Matrix::new(2, 3, vec![0.0, 0.0, 0.0, 1.0, 1.0, 0.0]);
        let gf = Matrix::new(
            5,
            3,
            vec![
                0.1, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.5, 0.0, 0.0, 0.0, 0.5, 0.0,
            ],
        );
        let query = [sample(1, 0), sample(2, 0)];
        let gallery = [sample(1, 0), sample(1, 1), sample(2, 1), sample(3, 1), sample(1, 1)];
        let ev = evaluate_features(qf, Arc::new(gf), &query, &gallery, &TestConfig::default()).unwrap();
        let r = ev.ranking(0, &query, &gallery, 3);
        // Squared distances from query 0 (the origin): 0.01 (removed), 4, 1, 0.25, 0.25: the tie goes to
        // the earlier index.
        let order: Vec<usize> = r.top.iter().map(|t| t.0).collect();
        assert_eq!(order, vec![3, 4, 2]);
        assert!((r.top[0].1 - 0.25).abs() < 1e-6 && (r.top[2].1 - 1.0).abs() < 1e-6);
        // Query 0's matches (gallery 1 and 4) rank 5th and 2nd of the kept four: AP = (1/2 + 2/4) / 2.
        assert!((r.ap.unwrap() - 0.5).abs() < 1e-12, "{:?}", r.ap);
        let r = ev.ranking(1, &query, &gallery, 5);
        // From (1, 1, 0): 1.81, 2, 1, 1.25, 1.25 -> 2 (1.0), 3, 4 (1.25 each), 0 (1.81), 1 (2.0).
        assert_eq!(r.top.iter().map(|t| t.0).collect::<Vec<_>>(), vec![2, 3, 4, 0, 1]);
    }
}
