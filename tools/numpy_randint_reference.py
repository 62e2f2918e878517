"""Prints NumPy legacy RandomState draws that occreid-eval's CUHK03 sampler must reproduce.

torchreid's eval_cuhk03 draws with np.random.choice(list) after np.random.seed(seed); choice(list) is
randint(0, len(list)). Run: .venv/bin/python tools/numpy_randint_reference.py
"""
import numpy as np

np.random.seed(0)
ns = (5, 1, 3, 7, 2, 1000)
print("randint", list(ns), [int(np.random.randint(0, n)) for n in ns])
np.random.seed(0)
print("choice ", list(ns), [int(np.random.choice(list(range(n)))) for n in ns])
