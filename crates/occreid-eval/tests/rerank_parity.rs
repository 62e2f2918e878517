//! k-reciprocal re-ranking against torchreid `re_ranking` and reid-strong-baseline outputs.
mod common;
use common::*;
use occreid_eval::npy::read_matrix;
use occreid_eval::rerank::{rerank, RerankParams, RerankTable};
use occreid_eval::Matrix;

fn max_abs_diff(a: &Matrix, b: &Matrix) -> f64 {
    assert_eq!((a.rows(), a.cols()), (b.rows(), b.cols()));
    a.as_slice()
        .iter()
        .zip(b.as_slice())
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .fold(0.0, f64::max)
}

fn torchreid_mode(case: &str, params: RerankParams) -> Matrix {
    let d = fixture(&format!("rerank/{case}"));
    let table = RerankTable::from_distances(
        &read_matrix(d.join("q_g.npy")).unwrap(),
        &read_matrix(d.join("q_q.npy")).unwrap(),
        &read_matrix(d.join("g_g.npy")).unwrap(),
    )
    .unwrap();
    rerank(table, params).unwrap()
}

#[test]
fn torchreid_default_parameters_within_1e5() {
    for case in ["case_q20_g80", "case_q50_g300", "case_q100_g600"] {
        let got = torchreid_mode(case, RerankParams::default());
        let want = read_matrix(fixture(&format!("rerank/{case}/expected_rerank.npy"))).unwrap();
        let diff = max_abs_diff(&got, &want);
        assert!(diff <= 1e-5, "{case}: max |diff| = {diff}");
    }
}

#[test]
fn torchreid_other_parameters_within_1e5() {
    let params = RerankParams {
        k1: 6,
        k2: 3,
        lambda: 0.5,
    };
    let got = torchreid_mode("case_q50_g300", params);
    let want = read_matrix(fixture("rerank/case_q50_g300/expected_rerank_k1_6_k2_3_lambda_0.5.npy")).unwrap();
    let diff = max_abs_diff(&got, &want);
    assert!(diff <= 1e-5, "max |diff| = {diff}");
}

#[test]
fn reid_strong_baseline_feature_mode_within_float16_tolerance() {
    // BoT keeps V and the Jaccard distance in float16; the float32 algorithm differs by up to 2.2e-3.
    let d = fixture("rerank/case_q50_g300");
    let table = RerankTable::from_features(
        &read_matrix(d.join("q_feats.npy")).unwrap(),
        &read_matrix(d.join("g_feats.npy")).unwrap(),
    )
    .unwrap();
    let got = rerank(table, RerankParams::default()).unwrap();
    let want = read_matrix(d.join("reid_strong_baseline/expected_rerank_rsb.npy")).unwrap();
    let diff = max_abs_diff(&got, &want);
    assert!(diff <= 5e-3, "max |diff| = {diff}");
}

#[test]
fn bad_shapes_and_parameters_are_errors() {
    let q_g = Matrix::zeros(2, 3);
    let e = RerankTable::from_distances(&q_g, &Matrix::zeros(2, 2), &Matrix::zeros(2, 2))
        .err()
        .unwrap();
    assert!(e.to_string().contains("g_g"), "{e}");
    let d = fixture("rerank/case_q20_g80");
    let table = RerankTable::from_distances(
        &read_matrix(d.join("q_g.npy")).unwrap(),
        &read_matrix(d.join("q_q.npy")).unwrap(),
        &read_matrix(d.join("g_g.npy")).unwrap(),
    )
    .unwrap();
    assert!(rerank(
        table,
        RerankParams {
            k1: 0,
            k2: 6,
            lambda: 0.3
        }
    )
    .is_err());
}

/// The streamed feature path (no (Q+G)² table) against the dense table path, on every fixture case, with
/// blocks of items that do and do not divide the item count.
#[test]
fn streamed_feature_mode_equals_the_dense_table() {
    use occreid_eval::rerank::{rerank_features, FeatureReranker};
    let other = RerankParams {
        k1: 6,
        k2: 3,
        lambda: 0.5,
    };
    for case in ["case_q20_g80", "case_q50_g300", "case_q100_g600"] {
        let d = fixture(&format!("rerank/{case}"));
        let qf = read_matrix(d.join("q_feats.npy")).unwrap();
        let gf = read_matrix(d.join("g_feats.npy")).unwrap();
        for params in [RerankParams::default(), other] {
            let want = rerank(RerankTable::from_features(&qf, &gf).unwrap(), params).unwrap();
            let got = rerank_features(qf.view(), gf.view(), params).unwrap();
            assert_eq!(max_abs_diff(&got, &want), 0.0, "{case} {params:?}");
            for block in [1, 37, 64] {
                let r = FeatureReranker::with_block(qf.view(), gf.view(), params, block).unwrap();
                // Output rows in uneven blocks too.
                let mut rows = Vec::new();
                for first in (0..qf.rows()).step_by(7) {
                    rows.extend(r.rows(first, 7.min(qf.rows() - first)));
                }
                let got = Matrix::new(qf.rows(), gf.rows(), rows);
                assert_eq!(max_abs_diff(&got, &want), 0.0, "{case} {params:?} block {block}");
            }
        }
    }
}

#[test]
fn streamed_feature_mode_refuses_bad_input_like_the_dense_path() {
    use occreid_eval::rerank::{rerank_features, RerankError};
    let q = Matrix::new(2, 3, vec![0.0, 1.0, 2.0, 1.0, 1.0, 1.0]);
    let g = Matrix::new(2, 2, vec![0.0; 4]);
    assert_eq!(
        rerank_features(q.view(), g.view(), RerankParams::default()).err(),
        Some(RerankError::FeatureDims { query: 3, gallery: 2 })
    );
    let g = Matrix::new(2, 3, vec![0.0, f32::INFINITY, 0.0, 1.0, 1.0, 1.0]);
    assert_eq!(
        rerank_features(q.view(), g.view(), RerankParams::default()).err(),
        Some(RerankError::NotFinite)
    );
    // Every item at the same point: every distance is 0.
    let same = Matrix::new(2, 3, vec![1.0; 6]);
    assert_eq!(
        rerank_features(same.view(), same.view(), RerankParams::default()).err(),
        Some(RerankError::ZeroColumn(0))
    );
    let empty_width = Matrix::new(2, 0, vec![]);
    assert_eq!(
        rerank_features(empty_width.view(), empty_width.view(), RerankParams::default()).err(),
        Some(RerankError::NoFeatures)
    );
    let bad = RerankParams {
        k1: 0,
        ..RerankParams::default()
    };
    assert!(matches!(
        rerank_features(q.view(), q.view(), bad).err(),
        Some(RerankError::BadK { .. })
    ));
}

/// Tiny problems (fewer items than the neighbour lists are long) and many bit-identical features (long
/// runs of tied distances): the streamed path still ranks every row as the dense table does.
#[test]
fn streamed_feature_mode_equals_the_dense_table_on_tiny_and_tied_inputs() {
    use occreid_eval::rerank::rerank_features;
    let mut s = 11u64;
    let mut next = move || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    };
    let mut random = |rows: usize, d: usize| Matrix::new(rows, d, (0..rows * d).map(|_| next()).collect());
    // n = 5 and n = 30: below k1 + 1 = 21, and between it and 21 + 16.
    for (nq, ng) in [(2, 3), (10, 20)] {
        let (q, g) = (random(nq, 4), random(ng, 4));
        let want = rerank(RerankTable::from_features(&q, &g).unwrap(), RerankParams::default()).unwrap();
        let got = rerank_features(q.view(), g.view(), RerankParams::default()).unwrap();
        assert_eq!(max_abs_diff(&got, &want), 0.0, "{nq} x {ng}");
    }
    // 60 gallery items on four points (15 bit-identical copies each) and queries near them.
    let points = random(4, 6);
    let g = Matrix::new(60, 6, (0..60).flat_map(|i| points.row(i % 4).to_vec()).collect());
    let q = random(9, 6);
    let want = rerank(RerankTable::from_features(&q, &g).unwrap(), RerankParams::default()).unwrap();
    let got = rerank_features(q.view(), g.view(), RerankParams::default()).unwrap();
    assert_eq!(max_abs_diff(&got, &want), 0.0, "tied");
}
