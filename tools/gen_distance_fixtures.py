"""Reference distance matrices from PyTorch for occreid-eval's distance module.

Cosine as torchreid's compute_distance_matrix(metric="cosine"): 1 - F.normalize(q) @ F.normalize(g).T;
Euclidean as torch.cdist (p=2). Squared Euclidean is covered by the rerank fixtures' q_g.npy.
Run: .venv/bin/python tools/gen_distance_fixtures.py
"""
import pathlib

import numpy as np
import torch
import torch.nn.functional as F

root = pathlib.Path(__file__).resolve().parent.parent / "crates/occreid-eval/tests/fixtures"
case = root / "rerank/case_q20_g80"
q = torch.from_numpy(np.load(case / "q_feats.npy"))
g = torch.from_numpy(np.load(case / "g_feats.npy"))
out = root / "distance"
out.mkdir(exist_ok=True)
cos = 1 - F.normalize(q, p=2, dim=1) @ F.normalize(g, p=2, dim=1).t()
np.save(out / "q20_g80_cosine.npy", cos.numpy().astype(np.float32))
np.save(out / "q20_g80_euclidean.npy", torch.cdist(q, g, p=2).numpy().astype(np.float32))
print("wrote", out)
