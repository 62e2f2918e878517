"""Turns what callers pass (NumPy arrays of any dtype and memory order, CPU torch tensors, lists) into
the contiguous float32 / int64 arrays the Rust functions read in place; copies only where the dtype or
layout requires it. Errors are TypeError (a wrong kind of input) or ValueError (a wrong shape or value),
named after the argument."""
import numpy as np


def _to_numpy(x, name):
    # A torch tensor without importing torch: CPU tensors convert without a copy; gradients are dropped
    # (evaluation reads values only); a GPU tensor must be moved by the caller, who knows the cost.
    if hasattr(x, "detach") and hasattr(x, "device") and hasattr(x, "numpy"):
        if getattr(x.device, "type", "cpu") != "cpu":
            raise TypeError(f"{name} is a tensor on {x.device}; pass {name}.cpu()")
        x = x.detach().numpy()
    try:
        return np.asarray(x)
    except Exception as e:  # e.g. a ragged list
        raise TypeError(f"{name} cannot be read as an array: {e}") from None


def matrix(x, name):
    a = _to_numpy(x, name)
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise TypeError(f"{name} must hold numbers, not {a.dtype}")
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
    return np.ascontiguousarray(a, dtype=np.float32)


def labels(x, name):
    a = _to_numpy(x, name)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if np.issubdtype(a.dtype, np.integer):
        return np.ascontiguousarray(a, dtype=np.int64)
    if np.issubdtype(a.dtype, np.floating) and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
        return np.ascontiguousarray(a, dtype=np.int64)
    raise TypeError(f"{name} must hold integer labels, not {a.dtype}")


def positive_int(v, name):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, not {type(v).__name__}")
    if v < 1:
        raise ValueError(f"{name} must be at least 1 (got {v})")
    return int(v)


def all_labels(q_pids, g_pids, q_camids, g_camids):
    """The four label arrays of an evaluation, in torchreid's argument order."""
    return [labels(q_pids, "q_pids"), labels(g_pids, "g_pids"), labels(q_camids, "q_camids"),
            labels(g_camids, "g_camids")]
