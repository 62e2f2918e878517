//! Loading of the reference fixtures (outputs of torchreid / fast-reid / reid-strong-baseline).
#![allow(dead_code)]
use std::path::{Path, PathBuf};

use occreid_eval::{npy, Labels, Matrix};
use serde_json::Value;

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

pub struct Case {
    pub distmat: Matrix,
    pub q_pids: Vec<i64>,
    pub g_pids: Vec<i64>,
    pub q_camids: Vec<i64>,
    pub g_camids: Vec<i64>,
    pub expected: Value,
}

impl Case {
    pub fn load(dir: &str) -> Self {
        let d = fixture(dir);
        let distmat = npy::read_matrix(d.join("distmat.npy")).unwrap();
        let labels = |name: &str| npy::read_labels(d.join(name)).unwrap();
        let expected = serde_json::from_str(&std::fs::read_to_string(d.join("expected.json")).unwrap()).unwrap();
        Self {
            distmat,
            q_pids: labels("q_pids.npy"),
            g_pids: labels("g_pids.npy"),
            q_camids: labels("q_camids.npy"),
            g_camids: labels("g_camids.npy"),
            expected,
        }
    }
    pub fn query(&self) -> Labels<'_> {
        Labels {
            pids: &self.q_pids,
            camids: &self.q_camids,
        }
    }
    pub fn gallery(&self) -> Labels<'_> {
        Labels {
            pids: &self.g_pids,
            camids: &self.g_camids,
        }
    }
}

pub fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

/// Per-query values where JSON `null` marks a skipped query.
pub fn optional_floats(v: &Value) -> Vec<Option<f64>> {
    v.as_array().unwrap().iter().map(|x| x.as_f64()).collect()
}

pub fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol, "{what}[{k}]: got {g}, want {w} (tol {tol})");
    }
}
