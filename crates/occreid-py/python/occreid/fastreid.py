"""fast-reid's ``evaluate_rank``, from occreid's implementation."""
from . import _rank_arrays


def evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50, use_metric_cuhk03=False,
                  use_cython=True, cuhk03_seed=0):
    """fast-reid's ``evaluate_rank``: ``(cmc, all_AP, all_INP)``, the last two per valid query, so that
    ``np.mean(all_AP)`` is mAP and ``np.mean(all_INP)`` mINP as fast-reid's evaluator computes them."""
    cmc, _, _, all_ap, all_inp, _ = _rank_arrays(distmat, q_pids, g_pids, q_camids, g_camids, max_rank,
                                                 use_metric_cuhk03, cuhk03_seed)
    return cmc, all_ap, all_inp
