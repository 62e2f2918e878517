"""occreid's re-ID evaluation and re-ranking, one import away and without libtorch.

Drop-in for the functions PyTorch re-ID pipelines already call (same names, arguments, defaults and
return types; change the import):

- ``evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50, use_metric_cuhk03=False)``
  -> ``(cmc, mAP)`` as ``torchreid.metrics.evaluate_rank`` (float32 CMC of ``min(max_rank, gallery)``);
- ``fastreid.evaluate_rank(...)`` -> ``(cmc, all_AP, all_INP)`` as fast-reid's;
- ``re_ranking(q_g_dist, q_q_dist, g_g_dist, k1=20, k2=6, lambda_value=0.3)`` as
  ``torchreid.utils.re_ranking``;
- ``evaluate_features(qf, gf, q_pids, g_pids, q_camids, g_camids, distance="sqeuclidean", max_rank=50,
  per_query=False)``: metrics without the distance matrix (the gallery is read in blocks);
- ``rerank_features(qf, gf, k1=20, k2=6, lambda_value=0.3, out=None)``: reid-strong-baseline's
  re-ranking from features, returned, or streamed into an ``.npy`` file;
- ``datasets.read(name, root)`` -> ``(train, query, gallery)`` lists of ``(path, pid, camid)`` and
  ``datasets.check(name, root)`` -> the report of ``occreid data check``.

Inputs: NumPy arrays of any float / int dtype and memory order, CPU torch tensors, lists. Distances and
features are compared in float32 (as torchreid's own pipeline computes them). The GIL is released while
computing.
"""
import os

from . import _convert, _occreid

__all__ = ["evaluate_rank", "re_ranking", "evaluate_features", "rerank_features", "fastreid", "datasets"]


def _rank_arrays(distmat, q_pids, g_pids, q_camids, g_camids, max_rank, use_metric_cuhk03, cuhk03_seed):
    return _occreid.evaluate_rank_arrays(
        _convert.matrix(distmat, "distmat"),
        *_convert.all_labels(q_pids, g_pids, q_camids, g_camids),
        _convert.positive_int(max_rank, "max_rank"),
        bool(use_metric_cuhk03),
        int(cuhk03_seed),
    )


def evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50, use_metric_cuhk03=False,
                  use_cython=True, cuhk03_seed=0):
    """torchreid's ``evaluate_rank``: ``(cmc, mAP)``.

    ``use_cython`` is accepted and ignored (there is one implementation). With ``use_metric_cuhk03`` the
    single-gallery-shot CMC is drawn as torchreid draws it after ``np.random.seed(cuhk03_seed)``.
    """
    cmc, mean_ap, _, _, _, _ = _rank_arrays(distmat, q_pids, g_pids, q_camids, g_camids, max_rank,
                                            use_metric_cuhk03, cuhk03_seed)
    return cmc, mean_ap


def re_ranking(q_g_dist, q_q_dist, g_g_dist, k1=20, k2=6, lambda_value=0.3):
    """torchreid's k-reciprocal ``re_ranking``: the re-ranked Q x G distance (float32)."""
    return _occreid.re_ranking_arrays(
        _convert.matrix(q_g_dist, "q_g_dist"),
        _convert.matrix(q_q_dist, "q_q_dist"),
        _convert.matrix(g_g_dist, "g_g_dist"),
        _convert.positive_int(k1, "k1"),
        _convert.positive_int(k2, "k2"),
        float(lambda_value),  # [0, 1] checked with k1 and k2 (RerankParams::validate), NaN included
    )


def evaluate_features(qf, gf, q_pids, g_pids, q_camids, g_camids, distance="sqeuclidean", max_rank=50,
                      per_query=False):
    """Market-1501-protocol metrics of query features against gallery features.

    ``gf`` may also be the path of a float32 ``.npy`` file (e.g. ``occreid extract``'s): it is mapped and
    read block by block, its pages handed back after each, so memory stays bounded at any gallery size
    (a ``np.load(..., mmap_mode="r")`` array is read in place too, but its touched pages stay resident).
    ``distance``: ``"sqeuclidean"``, ``"euclidean"`` or ``"cosine"``. Returns a dict with ``cmc``
    (float64), ``mAP``, ``mINP``, ``num_valid_queries`` and, with ``per_query``, arrays ``ap``, ``inp``
    (NaN for a skipped query) and ``first_match_rank`` (-1 for a skipped query).
    """
    gf_path = os.fspath(gf) if isinstance(gf, (str, os.PathLike)) else None
    return _occreid.evaluate_features_arrays(
        _convert.matrix(qf, "qf"),
        None if gf_path is not None else _convert.matrix(gf, "gf"),
        gf_path,
        *_convert.all_labels(q_pids, g_pids, q_camids, g_camids),
        str(distance),
        _convert.positive_int(max_rank, "max_rank"),
        bool(per_query),
    )


def rerank_features(qf, gf, k1=20, k2=6, lambda_value=0.3, out=None, overwrite=False, block_rows=1024):
    """reid-strong-baseline's k-reciprocal re-ranking from query and gallery features (squared Euclidean),
    in float32 (BoT stores two intermediates in float16: results differ by up to ~2e-3).

    Returns the Q x G float32 array; with ``out`` (a path), writes it there as ``.npy`` instead, ``block_rows``
    query rows at a time, atomically (an existing file is kept unless ``overwrite``), and returns None.
    """
    if out is not None:
        out = os.fspath(out)
        if os.path.exists(out) and not overwrite:
            raise ValueError(f"{out} already exists; choose another out or pass overwrite=True")
    return _occreid.rerank_features_arrays(
        _convert.matrix(qf, "qf"),
        _convert.matrix(gf, "gf"),
        _convert.positive_int(k1, "k1"),
        _convert.positive_int(k2, "k2"),
        float(lambda_value),  # [0, 1] checked with k1 and k2 (RerankParams::validate), NaN included
        out,
        _convert.positive_int(block_rows, "block_rows"),
    )


# Last: fast-reid's variant is built on _rank_arrays above.
from . import datasets, fastreid  # noqa: E402
