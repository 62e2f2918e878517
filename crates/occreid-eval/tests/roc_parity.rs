//! fast-reid ROC / TPR@FPR against scikit-learn's roc_curve (fixtures from tools/gen_roc_fixtures.py).
mod common;
use common::*;
use occreid_eval::npy::read_f64_vector;
use occreid_eval::roc::{pair_distances, roc_curve};

#[test]
fn curve_and_operating_points_match_scikit_learn() {
    for (case, name) in [
        ("market/case06_q200_g1500", "case06_q200_g1500"),
        ("ties/case_q100_g600_quantized", "case_q100_g600_quantized"),
    ] {
        let c = Case::load(case);
        let (same, diff) = pair_distances(&c.distmat, c.query(), c.gallery()).unwrap();
        let roc = roc_curve(&same, &diff);
        let want_fpr = read_f64_vector(fixture(&format!("roc/{name}_fpr.npy"))).unwrap();
        let want_tpr = read_f64_vector(fixture(&format!("roc/{name}_tpr.npy"))).unwrap();
        assert_close(&roc.fpr, &want_fpr, 1e-12, &format!("{name} fpr"));
        assert_close(&roc.tpr, &want_tpr, 1e-12, &format!("{name} tpr"));
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixture(&format!("roc/{name}.json"))).unwrap()).unwrap();
        assert_eq!(same.len() as u64, meta["num_same_pairs"].as_u64().unwrap());
        for p in meta["points"].as_array().unwrap() {
            let got = roc.at_fpr(p["target_fpr"].as_f64().unwrap());
            // serde_json's default float parsing may be 1 ulp off the shortest repr, hence 1e-15.
            assert!(
                (got.tpr - p["tpr"].as_f64().unwrap()).abs() < 1e-15,
                "{name} tpr at {}",
                p["target_fpr"]
            );
            assert!((got.fpr - p["fpr"].as_f64().unwrap()).abs() < 1e-15);
            let t = p["threshold"].as_f64().unwrap_or(f64::INFINITY); // null = +inf
            assert!(got.threshold == t || (got.threshold.is_infinite() && t.is_infinite()));
        }
    }
}
