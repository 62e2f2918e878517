//! The Market-scale problem (3368 x 15913) regenerated from its spec, checked bit for bit against the
//! spec's hashes, then evaluated against torchreid / fast-reid reference values.
mod common;
use common::*;
use occreid_eval::market_scale::{self, hash, mix64};
use occreid_eval::npy::{read_f64_vector, read_labels, NpyReader};
use occreid_eval::{evaluate, Protocol};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn sha_f32(v: &[f32]) -> String {
    let mut h = Sha256::new();
    for chunk in v.chunks(1 << 16) {
        let bytes: Vec<u8> = chunk.iter().flat_map(|x| x.to_le_bytes()).collect();
        h.update(&bytes);
    }
    format!("{:x}", h.finalize())
}

fn sha_i64(v: &[i64]) -> String {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    format!("{:x}", Sha256::digest(&bytes))
}

#[test]
fn generator_is_bit_identical_and_metrics_match_references() {
    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("market_scale/spec.json")).unwrap()).unwrap();
    let checks = &spec["checks"];
    assert_eq!(mix64(0), checks["mix64_0"].as_u64().unwrap());
    assert_eq!(hash(1, 0, 0), checks["H_1_0_0"].as_u64().unwrap());
    assert_eq!(hash(3, 5, 7), checks["H_3_5_7"].as_u64().unwrap());

    let p = market_scale::generate();
    let row0: Vec<i64> = checks["fq_row0"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(p.q_features[0].to_vec(), row0);
    let sum = |f: &[[i64; 30]]| f.iter().flatten().sum::<i64>();
    assert_eq!(sum(&p.q_features), checks["sum_fq"].as_i64().unwrap());
    assert_eq!(sum(&p.g_features), checks["sum_fg"].as_i64().unwrap());
    for spot in checks["spot_values"].as_array().unwrap() {
        let (i, j) = (
            spot["i"].as_u64().unwrap() as usize,
            spot["j"].as_u64().unwrap() as usize,
        );
        assert_eq!(
            p.distmat.get(i, j) as f64,
            spot["dist"].as_f64().unwrap(),
            "spot ({i}, {j})"
        );
    }
    assert_eq!(sha_i64(&p.q_pids), checks["sha256_q_pids_int64_le"].as_str().unwrap());
    assert_eq!(sha_i64(&p.g_pids), checks["sha256_g_pids_int64_le"].as_str().unwrap());
    assert_eq!(
        sha_i64(&p.q_camids),
        checks["sha256_q_camids_int64_le"].as_str().unwrap()
    );
    assert_eq!(
        sha_i64(&p.g_camids),
        checks["sha256_g_camids_int64_le"].as_str().unwrap()
    );
    assert_eq!(
        sha_f32(p.distmat.as_slice()),
        checks["sha256_distmat_float32_le_c_order"].as_str().unwrap()
    );

    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("market_scale/expected.json")).unwrap()).unwrap();
    let (query, gallery) = (p.query(), p.gallery());
    let m = evaluate(&p.distmat, query, gallery, 50, Protocol::Market1501).unwrap();
    assert_close(&m.cmc, &floats(&expected["cmc_first50"]), 1e-6, "cmc");
    assert!(
        (m.map - expected["mAP"].as_f64().unwrap()).abs() <= 1e-6,
        "mAP {}",
        m.map
    );
    assert!(
        (m.minp - expected["mINP"].as_f64().unwrap()).abs() <= 1e-6,
        "mINP {}",
        m.minp
    );
    assert_eq!(
        m.num_valid_queries as u64,
        expected["num_valid_queries"].as_u64().unwrap()
    );

    let mut ap_file = NpyReader::open(fixture("market_scale/expected_per_query_ap.npy")).unwrap();
    let mut want_ap = vec![0f32; market_scale::NUM_QUERY];
    // Stored as float64 with NaN for skipped queries.
    let want_ap64 = read_f64_vector(fixture("market_scale/expected_per_query_ap.npy")).unwrap();
    assert!(
        ap_file.read_f32_into(&mut want_ap).is_err(),
        "NaN entries must be refused by the float reader"
    );
    let want_rank = read_labels(fixture("market_scale/expected_per_query_first_match_rank.npy")).unwrap();
    for (q, r) in m.per_query.iter().enumerate() {
        match r {
            Ok(o) => {
                assert!((o.ap - want_ap64[q]).abs() <= 1e-6, "AP of query {q}");
                assert_eq!(o.first_match_rank as i64, want_rank[q], "first match of query {q}");
            }
            Err(_) => assert!(want_ap64[q].is_nan() && want_rank[q] == -1, "query {q} should be valid"),
        }
    }
}
