"""occreid's Python module at scale, for tools/bench_scale.sh (one task a process, so that /usr/bin/time's
peak memory is the task's): the same features and steps as the torchreid-style peer
(tools/bench_scale_peer.py), with occreid's functions in place of torchreid's.

Run: .venv/bin/python tools/bench_py.py DIR distmat|features|rerank|rerank-features
  distmat          torch distances (as torchreid computes them) + occreid.evaluate_rank
  features         occreid.evaluate_features from the features (no distance matrix; the gallery by path)
  rerank           torch distances q_g / q_q / g_g + occreid.re_ranking (torchreid's call)
  rerank-features  occreid.rerank_features (BoT's call, no distance matrices)
"""
import pathlib
import sys
import time

import numpy as np

import occreid

sys.path.insert(0, str(pathlib.Path(__file__).parent))

d, task = pathlib.Path(sys.argv[1]), sys.argv[2]
if task in ("distmat", "rerank"):
    # Only where the peer's distances are needed: torch's import alone holds ~0.5 GiB.
    import torch
    from peer_eval import euclidean_squared
t0 = time.perf_counter()
qf, gf = np.load(d / "q_feats.npy"), np.load(d / "g_feats.npy", mmap_mode="r")
labels = [np.load(d / f"{n}.npy") for n in ("q_pids", "g_pids", "q_camids", "g_camids")]
print(f"loaded {qf.shape} / {gf.shape} in {time.perf_counter() - t0:.2f} s")
t = time.perf_counter()
if task == "distmat":
    distmat = euclidean_squared(torch.from_numpy(qf), torch.from_numpy(gf)).numpy()
    print(f"distance matrix {distmat.shape} in {time.perf_counter() - t:.2f} s")
    t = time.perf_counter()
    cmc, mean_ap = occreid.evaluate_rank(distmat, *labels)
    print(f"occreid.evaluate_rank in {time.perf_counter() - t:.2f} s")
    result = f"R1 {100 * cmc[0]:.2f} mAP {100 * mean_ap:.2f}"
elif task == "features":
    # The gallery by its path, as a user with a large gallery file would pass it: mapped and streamed.
    m = occreid.evaluate_features(qf, d / "g_feats.npy", *labels)
    print(f"occreid.evaluate_features in {time.perf_counter() - t:.2f} s")
    result = f"R1 {100 * m['cmc'][0]:.2f} mAP {100 * m['mAP']:.2f} mINP {100 * m['mINP']:.2f}"
elif task == "rerank":
    q, g = torch.from_numpy(qf), torch.from_numpy(gf)
    q_g, q_q, g_g = (euclidean_squared(x, y).numpy() for x, y in ((q, g), (q, q), (g, g)))
    print(f"distance matrices in {time.perf_counter() - t:.2f} s")
    t = time.perf_counter()
    final = occreid.re_ranking(q_g, q_q, g_g)
    print(f"occreid.re_ranking in {time.perf_counter() - t:.2f} s")
    result = f"re-ranked {final.shape}"
elif task == "rerank-features":
    final = occreid.rerank_features(qf, gf)
    print(f"occreid.rerank_features in {time.perf_counter() - t:.2f} s")
    result = f"re-ranked {final.shape}"
else:
    sys.exit(f"unknown task {task}: distmat, features, rerank or rerank-features")
print(f"total {time.perf_counter() - t0:.2f} s")
print(result)
