"""Reference ROC values for occreid-eval's fast-reid TPR@FPR (scikit-learn's roc_curve is the reference).

fast-reid's evaluate_roc collects, for every query, the distances of the kept gallery items (same-id
same-camera items removed, no query skipped): same-identity pairs labelled 0, different-identity pairs
labelled 1; `metrics.roc_curve(labels, scores)` then picks `argmin(|fpr - x|)` for x in 1e-4, 1e-3, 1e-2.
Run: .venv/bin/pip install scikit-learn && .venv/bin/python tools/gen_roc_fixtures.py
"""
import json
import pathlib

import numpy as np
import sklearn
from sklearn import metrics

root = pathlib.Path(__file__).resolve().parent.parent / "crates/occreid-eval/tests/fixtures"
out_dir = root / "roc"
out_dir.mkdir(exist_ok=True)

for case in ["market/case06_q200_g1500", "ties/case_q100_g600_quantized"]:
    d = root / case
    dist = np.load(d / "distmat.npy")
    qp, gp = np.load(d / "q_pids.npy"), np.load(d / "g_pids.npy")
    qc, gc = np.load(d / "q_camids.npy"), np.load(d / "g_camids.npy")
    same, diff = [], []
    for i in range(dist.shape[0]):
        removed = (gp == qp[i]) & (gc == qc[i])
        match = gp == qp[i]
        same.append(dist[i][match & ~removed])
        diff.append(dist[i][~match])
    same, diff = np.concatenate(same), np.concatenate(diff)
    scores = np.concatenate([same, diff])
    labels = np.concatenate([np.zeros(len(same)), np.ones(len(diff))])
    fpr, tpr, thresholds = metrics.roc_curve(labels, scores)
    points = []
    for x in [1e-4, 1e-3, 1e-2]:
        k = int(np.argmin(np.abs(fpr - x)))
        points.append({"target_fpr": x, "index": k, "fpr": float(fpr[k]), "tpr": float(tpr[k]),
                       "threshold": float(thresholds[k]) if np.isfinite(thresholds[k]) else None})  # null = +inf
    name = case.split("/")[1]
    np.save(out_dir / f"{name}_fpr.npy", fpr.astype(np.float64))
    np.save(out_dir / f"{name}_tpr.npy", tpr.astype(np.float64))
    json.dump({"source": case, "sklearn": sklearn.__version__, "num_same_pairs": len(same),
               "num_diff_pairs": len(diff), "num_points": len(fpr), "points": points},
              open(out_dir / f"{name}.json", "w"), indent=1)
    print(name, len(fpr), points)
