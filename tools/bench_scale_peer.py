"""The torchreid-style Python peer of `occreid metrics --query-features` and `occreid rerank
--query-features` at scale (BENCHMARKS.md, tools/bench_scale.sh): features from `occreid bench
eval-features`, distances as torchreid's compute_distance_matrix computes them (torch, squared Euclidean by
addmm), then eval_market1501 or torchreid's re_ranking(q_g, q_q, g_g) (tools/peer_eval.py).

Run: .venv/bin/python tools/bench_scale_peer.py DIR metrics|rerank [--out FILE.npy]
Prints its result and the seconds of each step; run it under /usr/bin/time -v for the peak memory.
"""
import argparse
import pathlib
import sys
import time

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from peer_eval import euclidean_squared, eval_market1501, re_ranking  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("dir")
p.add_argument("task", choices=["metrics", "rerank"])
p.add_argument("--out")
a = p.parse_args()
d = pathlib.Path(a.dir)
t0 = time.perf_counter()
qf, gf = torch.from_numpy(np.load(d / "q_feats.npy")), torch.from_numpy(np.load(d / "g_feats.npy"))
q_pids, g_pids = np.load(d / "q_pids.npy"), np.load(d / "g_pids.npy")
q_cams, g_cams = np.load(d / "q_camids.npy"), np.load(d / "g_camids.npy")


print(f"loaded {tuple(qf.shape)} / {tuple(gf.shape)} in {time.perf_counter() - t0:.2f} s (torch {torch.__version__}, "
      f"{torch.get_num_threads()} threads, numpy {np.__version__})")
t = time.perf_counter()
if a.task == "metrics":
    distmat = euclidean_squared(qf, gf).numpy()
    print(f"distance matrix {distmat.shape} in {time.perf_counter() - t:.2f} s")
    t = time.perf_counter()
    cmc, mAP, mINP, valid = eval_market1501(distmat, q_pids, g_pids, q_cams, g_cams)
    print(f"eval_market1501 in {time.perf_counter() - t:.2f} s")
    result = f"R1 {100 * cmc[0]:.2f} mAP {100 * mAP:.2f} mINP {100 * mINP:.2f} ({valid} valid queries)"
else:
    # BoT feature mode: the squared Euclidean distances go in as q_g / q_q / g_g; torchreid squares them again,
    # so this peer times torchreid's code on distances whose ranking the feature mode shares.
    q_g, q_q, g_g = (euclidean_squared(x, y).numpy() for x, y in ((qf, gf), (qf, qf), (gf, gf)))
    print(f"distance matrices in {time.perf_counter() - t:.2f} s")
    t = time.perf_counter()
    final = re_ranking(q_g, q_q, g_g)
    print(f"re_ranking in {time.perf_counter() - t:.2f} s")
    result = f"re-ranked {final.shape}"
    if a.out:
        np.save(a.out, final)
print(f"total {time.perf_counter() - t0:.2f} s")
print(result)
