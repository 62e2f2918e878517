//! Distance matrices against PyTorch / torchreid (fixtures: rerank q_g.npy and tools/gen_distance_fixtures.py).
mod common;
use common::fixture;
use occreid_eval::distance::{pairwise, Metric};
use occreid_eval::npy::read_matrix;

#[test]
fn distances_match_torch() {
    let q = read_matrix(fixture("rerank/case_q20_g80/q_feats.npy")).unwrap();
    let g = read_matrix(fixture("rerank/case_q20_g80/g_feats.npy")).unwrap();
    for (metric, file, tol) in [
        (Metric::SqEuclidean, "rerank/case_q20_g80/q_g.npy", 1e-3), // values ~1e2: a few float32 ulps
        (Metric::Euclidean, "distance/q20_g80_euclidean.npy", 1e-4),
        (Metric::Cosine, "distance/q20_g80_cosine.npy", 1e-6),
    ] {
        let got = pairwise(&q, &g, metric).unwrap();
        let want = read_matrix(fixture(file)).unwrap();
        let diff = got
            .as_slice()
            .iter()
            .zip(want.as_slice())
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!((diff as f64) <= tol, "{metric:?}: max |diff| {diff}");
    }
}
