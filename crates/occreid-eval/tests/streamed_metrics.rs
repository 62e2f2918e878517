//! Metrics streamed from features (gallery read block by block, no Q x G matrix) equal the in-memory
//! evaluation of the full distance matrix, outcome for outcome, whatever the block size and file layout.
use occreid_eval::distance::{pairwise, Metric};
use occreid_eval::npy::{write_f32, write_layout, MatrixFile};
use occreid_eval::{
    evaluate, evaluate_features, market_scale, EvalError, FeatureEvalError, Labels, Matrix, Protocol, RowSource,
};

const METRICS: [Metric; 3] = [Metric::SqEuclidean, Metric::Euclidean, Metric::Cosine];

fn in_memory(q: &Matrix, g: &Matrix, metric: Metric, ql: Labels, gl: Labels) -> occreid_eval::RankMetrics {
    evaluate(&pairwise(q, g, metric).unwrap(), ql, gl, 50, Protocol::Market1501).unwrap()
}

#[test]
fn market_scale_features_give_the_in_memory_outcomes_for_any_block_size() {
    // Integer features: many exactly tied distances, so the tie order is exercised too.
    let p = market_scale::generate();
    let (qf, gf) = p.feature_matrices();
    for metric in METRICS {
        let want = in_memory(&qf, &gf, metric, p.query(), p.gallery());
        // 1000 and 4096 do not divide 15,913; 20,000 is one block larger than the gallery.
        for block in [1000, 4096, 20_000] {
            let got = evaluate_features(qf.view(), &gf.view(), metric, p.query(), p.gallery(), 50, block).unwrap();
            assert_eq!(got, want, "{metric:?}, block {block}");
        }
    }
}

/// Identity-structured random features: row i is identity i % ids, centre plus noise.
fn features(rows: usize, ids: usize, d: usize, seed: u64) -> (Matrix, Vec<i64>, Vec<i64>) {
    let mut s = seed;
    let mut next = move || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    };
    let centres: Vec<f32> = (0..ids * d).map(|_| next()).collect();
    let mut data = Vec::with_capacity(rows * d);
    for i in 0..rows {
        for k in 0..d {
            data.push(centres[(i % ids) * d + k] + 0.6 * next());
        }
    }
    let pids = (0..rows).map(|i| (i % ids) as i64).collect();
    let cams = (0..rows).map(|i| ((i / ids) % 3) as i64).collect();
    (Matrix::new(rows, d, data), pids, cams)
}

#[test]
fn a_mapped_gallery_file_in_any_layout_gives_the_same_outcomes() {
    let (qf, qp, qc) = features(37, 11, 24, 1);
    let (gf, gp, gc) = features(203, 13, 24, 2);
    let (ql, gl) = (Labels { pids: &qp, camids: &qc }, Labels { pids: &gp, camids: &gc });
    let dir = tempfile::tempdir().unwrap();
    let c_order = dir.path().join("g.npy");
    write_f32(&c_order, &[gf.rows(), gf.cols()], gf.as_slice()).unwrap();
    // float64 in Fortran order, laid out here: converted block by block, not read in place.
    let fortran = dir.path().join("g_f8_fortran.npy");
    write_layout(&fortran, "<f8", true, gf.rows(), gf.cols(), |r, c| gf.get(r, c) as f64).unwrap();
    let mapped = MatrixFile::open(&c_order).unwrap();
    assert!(mapped.in_place().is_some());
    let converted = MatrixFile::open(&fortran).unwrap();
    assert!(converted.in_place().is_none());
    for metric in METRICS {
        let want = in_memory(&qf, &gf, metric, ql, gl);
        for block in [1, 7, 64, 500] {
            for (name, source) in [("mapped", &mapped as &dyn RowSource), ("converted", &converted)] {
                let got = evaluate_features(qf.view(), source, metric, ql, gl, 50, block).unwrap();
                assert_eq!(got, want, "{metric:?}, {name}, block {block}");
            }
        }
    }
}

#[test]
fn bad_features_give_one_clear_error() {
    let (qf, qp, qc) = features(5, 3, 8, 1);
    let (gf, gp, gc) = features(9, 3, 8, 2);
    let ql = Labels { pids: &qp, camids: &qc };
    let gl = Labels { pids: &gp, camids: &gc };
    let (narrow, ..) = features(9, 3, 7, 2);
    let e = evaluate_features(qf.view(), &narrow.view(), Metric::Cosine, ql, gl, 50, 4).unwrap_err();
    assert!(matches!(e, FeatureEvalError::Dims(_)), "{e}");
    let e = evaluate_features(
        qf.view(),
        &gf.view(),
        Metric::Cosine,
        ql,
        Labels {
            pids: &gp[..8],
            camids: &gc,
        },
        50,
        4,
    )
    .unwrap_err();
    assert!(matches!(e, FeatureEvalError::Eval(EvalError::LabelCount { .. })), "{e}");
    // A NaN feature in the gallery file: named by the reader with its file.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nan.npy");
    let mut data = gf.as_slice().to_vec();
    data[8 * 5 + 2] = f32::NAN;
    write_layout(&p, "<f8", false, 9, 8, |r, c| data[r * 8 + c] as f64).unwrap();
    let file = MatrixFile::open(&p).unwrap();
    let e = evaluate_features(qf.view(), &file, Metric::Cosine, ql, gl, 50, 4)
        .unwrap_err()
        .to_string();
    assert!(e.contains("nan.npy") && e.contains("NaN"), "{e}");
    // The same NaN in a float32 file read in place: named with its file too.
    let p32 = dir.path().join("nan32.npy");
    write_f32(&p32, &[9, 8], &data).unwrap();
    let file = MatrixFile::open(&p32).unwrap();
    assert!(file.in_place().is_some());
    let e = evaluate_features(qf.view(), &file, Metric::Cosine, ql, gl, 50, 4)
        .unwrap_err()
        .to_string();
    assert!(e.contains("nan32.npy") && e.contains("flat index 42"), "{e}");
    assert!(file.load().err().unwrap().to_string().contains("nan32.npy"));
    // Features with no columns: one error, not a ranking of empty vectors.
    let empty = Matrix::new(5, 0, vec![]);
    let empty_g = Matrix::new(9, 0, vec![]);
    let e = evaluate_features(empty.view(), &empty_g.view(), Metric::Cosine, ql, gl, 50, 4).unwrap_err();
    assert!(matches!(e, FeatureEvalError::NoFeatures), "{e}");
    assert_eq!(
        pairwise(&empty, &empty_g, Metric::Cosine).unwrap().as_slice(),
        &[1.0; 45]
    );
    // A NaN in memory (read in place, unchecked by the reader) is caught by the ranking itself.
    let in_memory = Matrix::new(9, 8, data);
    let e = evaluate_features(qf.view(), &in_memory.view(), Metric::SqEuclidean, ql, gl, 50, 4).unwrap_err();
    assert!(
        matches!(e, FeatureEvalError::Eval(EvalError::NotANumber { gallery: 5, .. })),
        "{e}"
    );
}
