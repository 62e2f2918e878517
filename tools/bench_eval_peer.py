"""Same-run peer timing for BENCHMARKS.md: NumPy's row-wise argsort of the Market-scale distmat, the
first step of every NumPy/Cython re-ID evaluator (torchreid, fast-reid), as a lower bound for them.
Run: occreid bench market-scale-inputs --out DIR; .venv/bin/python tools/bench_eval_peer.py DIR
"""
import pathlib
import statistics
import sys
import time

import numpy as np

d = np.load(pathlib.Path(sys.argv[1]) / "distmat.npy")
times = []
for _ in range(3):
    t = time.perf_counter()
    np.argsort(d, axis=1)
    times.append(time.perf_counter() - t)
print(f"numpy {np.__version__} argsort(distmat {d.shape}, axis=1): median {statistics.median(times):.3f} s {['%.3f' % t for t in times]}")
