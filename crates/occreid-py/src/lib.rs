//! The Rust half of the `occreid` Python module: occreid-eval's metrics and re-ranking on NumPy arrays.
//!
//! The Python half (`python/occreid/`) keeps torchreid's and fast-reid's names, arguments and return
//! types and turns whatever the caller passes (NumPy arrays of any dtype and memory order, CPU torch
//! tensors, lists) into the contiguous float32 / int64 arrays these functions take, copying only where
//! the layout or dtype requires. Here the arrays are read in place, the GIL is released while computing,
//! and every error becomes a `ValueError` carrying the library's own message; no Rust panic reaches Python
//! (PyO3 turns one into `PanicException`, and none of these paths panics on input).
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use occreid_eval::distance::Metric;
use occreid_eval::npy::{write_f32_blocks, MatrixFile};
use occreid_eval::rerank::{rerank, rerank_features, FeatureReranker, RerankParams, TableBuilder};
use occreid_eval::{evaluate, evaluate_features, Cuhk03Cmc, Labels, MatrixView, Protocol, RankMetrics, RowSource};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

fn value_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// A C-contiguous array's data (the Python half guarantees the layout; checked, not assumed).
fn slice1<'a, T: numpy::Element>(a: &'a PyReadonlyArray1<'_, T>, name: &str) -> PyResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| value_error(format!("{name} must be a contiguous 1-D array")))
}

fn view2<'a>(a: &'a PyReadonlyArray2<'_, f32>, name: &str) -> PyResult<MatrixView<'a>> {
    let shape = a.shape();
    let data = a
        .as_slice()
        .map_err(|_| value_error(format!("{name} must be a C-contiguous 2-D array")))?;
    Ok(MatrixView::new(shape[0], shape[1], data))
}

/// One side's identity and camera labels.
fn labels<'a>(
    pids: &'a PyReadonlyArray1<'_, i64>,
    camids: &'a PyReadonlyArray1<'_, i64>,
    pids_name: &str,
    camids_name: &str,
) -> PyResult<Labels<'a>> {
    Ok(Labels {
        pids: slice1(pids, pids_name)?,
        camids: slice1(camids, camids_name)?,
    })
}

/// Refuses NaN and infinity in features: their distances would be NaN, or overflow, silently.
fn check_finite(values: &[f32], what: &str) -> PyResult<()> {
    if values.iter().any(|v| !v.is_finite()) {
        return Err(value_error(format!("the {what} contain NaN or infinity")));
    }
    Ok(())
}

/// A result matrix as a NumPy array, without a copy.
fn to_numpy<'py>(py: Python<'py>, m: occreid_eval::Matrix) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let (rows, cols) = (m.rows(), m.cols());
    m.into_vec().into_pyarray(py).reshape([rows, cols]).map_err(value_error)
}

/// The per-query values of the valid queries, in query order.
fn valid_values(m: &RankMetrics, pick: impl Fn(&occreid_eval::QueryOutcome) -> f64) -> Vec<f64> {
    m.per_query.iter().filter_map(|r| r.as_ref().ok()).map(pick).collect()
}

/// torchreid's / fast-reid's `evaluate_rank` on a distance matrix: `(cmc float32, mAP, mINP, AP of each
/// valid query, INP of each valid query, num_valid_queries)`.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
#[allow(clippy::type_complexity)]
fn evaluate_rank_arrays<'py>(
    py: Python<'py>,
    distmat: PyReadonlyArray2<'py, f32>,
    q_pids: PyReadonlyArray1<'py, i64>,
    g_pids: PyReadonlyArray1<'py, i64>,
    q_camids: PyReadonlyArray1<'py, i64>,
    g_camids: PyReadonlyArray1<'py, i64>,
    max_rank: usize,
    use_metric_cuhk03: bool,
    cuhk03_seed: u32,
) -> PyResult<(
    Bound<'py, PyArray1<f32>>,
    f64,
    f64,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    usize,
)> {
    let d = view2(&distmat, "distmat")?;
    let (query, gallery) = (
        labels(&q_pids, &q_camids, "q_pids", "q_camids")?,
        labels(&g_pids, &g_camids, "g_pids", "g_camids")?,
    );
    let protocol = if use_metric_cuhk03 {
        // torchreid's eval_cuhk03 draws from NumPy's global stream; the seed makes the draw repeatable
        // (equal to `np.random.seed(seed)` before torchreid's call).
        Protocol::Cuhk03(Cuhk03Cmc::Sampled {
            seed: cuhk03_seed,
            repeats: 10,
        })
    } else {
        Protocol::Market1501
    };
    let m = py
        .detach(|| evaluate(d, query, gallery, max_rank, protocol))
        .map_err(value_error)?;
    let cmc: Vec<f32> = m.cmc.iter().map(|&c| c as f32).collect();
    let ap = valid_values(&m, |o| o.ap);
    let inp = valid_values(&m, |o| o.inp);
    Ok((
        cmc.into_pyarray(py),
        m.map,
        m.minp,
        ap.into_pyarray(py),
        inp.into_pyarray(py),
        m.num_valid_queries,
    ))
}

/// torchreid's `re_ranking(q_g_dist, q_q_dist, g_g_dist, k1, k2, lambda_value)`: the Q×G float32 result.
#[pyfunction]
fn re_ranking_arrays<'py>(
    py: Python<'py>,
    q_g_dist: PyReadonlyArray2<'py, f32>,
    q_q_dist: PyReadonlyArray2<'py, f32>,
    g_g_dist: PyReadonlyArray2<'py, f32>,
    k1: usize,
    k2: usize,
    lambda_value: f64,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let params = RerankParams {
        k1,
        k2,
        lambda: lambda_value,
    };
    params.validate().map_err(value_error)?;
    let (q_g, q_q, g_g) = (
        view2(&q_g_dist, "q_g_dist")?,
        view2(&q_q_dist, "q_q_dist")?,
        view2(&g_g_dist, "g_g_dist")?,
    );
    let (nq, ng) = (q_g.rows(), q_g.cols());
    for (name, m, rows, cols) in [("q_q_dist", &q_q, nq, nq), ("g_g_dist", &g_g, ng, ng)] {
        if m.rows() != rows || m.cols() != cols {
            return Err(value_error(format!(
                "{name} is {}x{}; expected {rows}x{cols} (q_g_dist is {nq}x{ng})",
                m.rows(),
                m.cols()
            )));
        }
    }
    let out = py
        .detach(|| {
            let mut table = TableBuilder::new(nq, ng)?;
            table.put_q_q_rows(0, q_q.as_slice());
            table.put_q_g_rows(0, q_g.as_slice());
            table.put_g_g_rows(0, g_g.as_slice());
            rerank(table.finish()?, params)
        })
        .map_err(value_error)?;
    to_numpy(py, out)
}

/// Metrics from features without the distance matrix (the gallery read in blocks): a dict with `cmc`,
/// `mAP`, `mINP`, `num_valid_queries`, and with `per_query`, each query's `ap`, `inp` and
/// `first_match_rank` (NaN / -1 for a skipped query).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn evaluate_features_arrays<'py>(
    py: Python<'py>,
    qf: PyReadonlyArray2<'py, f32>,
    gf: Option<PyReadonlyArray2<'py, f32>>,
    gf_path: Option<std::path::PathBuf>,
    q_pids: PyReadonlyArray1<'py, i64>,
    g_pids: PyReadonlyArray1<'py, i64>,
    q_camids: PyReadonlyArray1<'py, i64>,
    g_camids: PyReadonlyArray1<'py, i64>,
    distance: &str,
    max_rank: usize,
    per_query: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let metric: Metric = distance.parse().map_err(value_error)?;
    let q = view2(&qf, "qf")?;
    let (query, gallery) = (
        labels(&q_pids, &q_camids, "q_pids", "q_camids")?,
        labels(&g_pids, &g_camids, "g_pids", "g_camids")?,
    );
    check_finite(q.as_slice(), "query features")?;
    // The gallery: an array in memory, or an `.npy` file mapped and read block by block, its pages handed
    // back after each block (bounded memory at any gallery size, as `occreid metrics --gallery-features`).
    let file = gf_path
        .map(|p| MatrixFile::open(&p).map_err(|e| value_error(format!("{}: {e}", p.display()))))
        .transpose()?;
    let array = gf.as_ref().map(|a| view2(a, "gf")).transpose()?;
    let gallery_rows: &dyn RowSource = match (&file, &array) {
        (Some(f), _) => f,
        (None, Some(a)) => {
            check_finite(a.as_slice(), "gallery features")?;
            a
        }
        (None, None) => {
            return Err(value_error(
                "gf: give the gallery features or the path of their .npy file",
            ))
        }
    };
    let m = py
        .detach(|| {
            evaluate_features(
                q,
                gallery_rows,
                metric,
                query,
                gallery,
                max_rank,
                occreid_eval::DEFAULT_BLOCK_ROWS,
            )
        })
        .map_err(value_error)?;
    let out = PyDict::new(py);
    out.set_item("cmc", m.cmc.clone().into_pyarray(py))?;
    out.set_item("mAP", m.map)?;
    out.set_item("mINP", m.minp)?;
    out.set_item("num_valid_queries", m.num_valid_queries)?;
    if per_query {
        let field = |f: &dyn Fn(&occreid_eval::QueryOutcome) -> f64, skipped: f64| -> Vec<f64> {
            m.per_query.iter().map(|r| r.as_ref().map_or(skipped, f)).collect()
        };
        out.set_item("ap", field(&|o| o.ap, f64::NAN).into_pyarray(py))?;
        out.set_item("inp", field(&|o| o.inp, f64::NAN).into_pyarray(py))?;
        let first: Vec<i64> = m
            .per_query
            .iter()
            .map(|r| r.as_ref().map_or(-1, |o| o.first_match_rank as i64))
            .collect();
        out.set_item("first_match_rank", first.into_pyarray(py))?;
    }
    Ok(out)
}

/// reid-strong-baseline's re-ranking from features (`re_ranking(probFea, galFea, k1, k2, lambda_value)`,
/// float32 instead of its float16 stores): the Q×G array, or with `out` the same rows streamed into an
/// `.npy` file written atomically (then `None`), so that an output larger than memory can be made.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn rerank_features_arrays<'py>(
    py: Python<'py>,
    qf: PyReadonlyArray2<'py, f32>,
    gf: PyReadonlyArray2<'py, f32>,
    k1: usize,
    k2: usize,
    lambda_value: f64,
    out: Option<std::path::PathBuf>,
    block_rows: usize,
) -> PyResult<Option<Bound<'py, PyArray2<f32>>>> {
    let params = RerankParams {
        k1,
        k2,
        lambda: lambda_value,
    };
    params.validate().map_err(value_error)?;
    let (q, g) = (view2(&qf, "qf")?, view2(&gf, "gf")?);
    check_finite(q.as_slice(), "query features")?;
    check_finite(g.as_slice(), "gallery features")?;
    match out {
        None => {
            let m = py.detach(|| rerank_features(q, g, params)).map_err(value_error)?;
            Ok(Some(to_numpy(py, m)?))
        }
        Some(path) => {
            py.detach(|| -> Result<(), String> {
                let r = FeatureReranker::new(q, g, params).map_err(|e| e.to_string())?;
                let (nq, ng) = (r.num_query(), r.num_gallery());
                write_f32_blocks(&path, nq, ng, block_rows, |first, n| r.rows(first, n))
                    .map_err(|e| format!("{}: {e}", path.display()))
            })
            .map_err(value_error)?;
            Ok(None)
        }
    }
}

type SampleTuple = (String, i64, i64);

/// A dataset's train / query / gallery lists of `(path, pid, camid)`, torchreid's tuple order, as the
/// reader of `occreid data` makes them.
#[pyfunction]
#[allow(clippy::type_complexity)]
fn read_dataset(
    py: Python<'_>,
    name: &str,
    root: std::path::PathBuf,
) -> PyResult<(Vec<SampleTuple>, Vec<SampleTuple>, Vec<SampleTuple>)> {
    let split = py
        .detach(|| occreid_data::datasets::reader(name, &occreid_data::datasets::ReaderOptions::default())?.read(&root))
        .map_err(value_error)?;
    let tuples = |v: &[occreid_data::Sample]| -> Vec<SampleTuple> {
        v.iter()
            .map(|s| (s.path.display().to_string(), s.pid, s.camid))
            .collect()
    };
    Ok((tuples(&split.train), tuples(&split.query), tuples(&split.gallery)))
}

/// `occreid data check`'s report as JSON text (the Python half parses it): counts, problems, `ok`.
#[pyfunction]
fn check_dataset(py: Python<'_>, name: &str, root: std::path::PathBuf, decode_images: bool) -> PyResult<String> {
    py.detach(|| {
        let mut opts = occreid_data::check::CheckOptions {
            decode_images,
            ..Default::default()
        };
        // A synthetic tree carries its own expected counts (as the CLI reads them).
        if let Ok(Some(summary)) = occreid_data::synth::SynthSummary::load(&root) {
            opts.canonical = Some(summary.canonical());
        }
        serde_json::to_string(&occreid_data::check::check(name, &root, &opts))
    })
    .map_err(value_error)
}

#[pymodule]
fn _occreid(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(evaluate_rank_arrays, m)?)?;
    m.add_function(wrap_pyfunction!(re_ranking_arrays, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate_features_arrays, m)?)?;
    m.add_function(wrap_pyfunction!(rerank_features_arrays, m)?)?;
    m.add_function(wrap_pyfunction!(read_dataset, m)?)?;
    m.add_function(wrap_pyfunction!(check_dataset, m)?)?;
    Ok(())
}
