"""occreid's Python module against the torchreid / fast-reid / reid-strong-baseline reference values that
the Rust tests use (crates/occreid-eval/tests/fixtures, produced by running the reference code)."""
import json
import pathlib

import numpy as np
import pytest

import occreid

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "occreid-eval" / "tests" / "fixtures"
MARKET = sorted((FIXTURES / "market").iterdir())
RERANK = sorted((FIXTURES / "rerank").iterdir())


def case(folder):
    load = lambda n: np.load(folder / f"{n}.npy")  # noqa: E731
    args = [load(n) for n in ("distmat", "q_pids", "g_pids", "q_camids", "g_camids")]
    return args, json.loads((folder / "expected.json").read_text())


@pytest.mark.parametrize("folder", MARKET, ids=lambda p: p.name)
def test_evaluate_rank_equals_torchreid_and_fastreid(folder):
    args, want = case(folder)
    cmc, mean_ap = occreid.evaluate_rank(*args, max_rank=want["max_rank"])
    assert cmc.dtype == np.float32 and cmc.shape == (want["max_rank"],)
    np.testing.assert_array_equal(cmc, np.float32(want["cmc"]))
    assert mean_ap == pytest.approx(want["mAP"], rel=1e-12)
    # fast-reid's form: per valid query, mAP / mINP are their means.
    cmc_fr, all_ap, all_inp = occreid.fastreid.evaluate_rank(*args, max_rank=want["max_rank"])
    np.testing.assert_array_equal(cmc_fr, cmc)
    valid_ap = [a for a in want["per_query_ap"] if a is not None]
    np.testing.assert_allclose(all_ap, valid_ap, rtol=1e-12)
    assert np.mean(all_ap) == pytest.approx(want["mAP"], rel=1e-12)
    assert np.mean(all_inp) == pytest.approx(want["mINP"], rel=1e-12)


def test_the_cuhk03_protocol_keeps_torchreids_ap():
    args, want = case(FIXTURES / "cuhk03" / "sgs_one_image_per_id_q60_g100")
    cmc, mean_ap = occreid.evaluate_rank(*args, use_metric_cuhk03=True)
    # One gallery image per identity: the sampled CMC is deterministic and equals the reference's.
    np.testing.assert_allclose(cmc, want["cmc"], atol=1e-6)
    assert mean_ap == pytest.approx(want["mAP"], rel=1e-12)


@pytest.mark.parametrize("folder", RERANK, ids=lambda p: p.name)
def test_re_ranking_equals_torchreid(folder):
    q_g, q_q, g_g = (np.load(folder / f"{n}.npy") for n in ("q_g", "q_q", "g_g"))
    got = occreid.re_ranking(q_g, q_q, g_g)
    want = np.load(folder / "expected_rerank.npy")
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-5)
    other = folder / "expected_rerank_k1_6_k2_3_lambda_0.5.npy"
    if other.exists():
        got = occreid.re_ranking(q_g, q_q, g_g, k1=6, k2=3, lambda_value=0.5)
        np.testing.assert_allclose(got, np.load(other), atol=1e-5)


@pytest.mark.parametrize("folder", RERANK, ids=lambda p: p.name)
def test_evaluate_features_equals_evaluate_rank_on_torchreids_distances(folder):
    load = lambda n: np.load(folder / f"{n}.npy")  # noqa: E731
    labels = [load(n) for n in ("q_pids", "g_pids", "q_camids", "g_camids")]
    cmc, mean_ap = occreid.evaluate_rank(load("q_g"), *labels)
    got = occreid.evaluate_features(load("q_feats"), load("g_feats"), *labels, per_query=True)
    assert got["mAP"] == pytest.approx(mean_ap, abs=1e-6)
    np.testing.assert_allclose(got["cmc"], cmc, atol=1e-6)
    assert got["ap"].shape == (len(labels[0]),) and got["first_match_rank"].dtype == np.int64
    # The gallery as a file, mapped and streamed: the same numbers.
    from_file = occreid.evaluate_features(load("q_feats"), folder / "g_feats.npy", *labels, per_query=True)
    assert from_file["mAP"] == got["mAP"]
    np.testing.assert_array_equal(from_file["ap"], got["ap"])


def test_rerank_features_is_reid_strong_baselines_and_streams_to_a_file(tmp_path):
    folder = FIXTURES / "rerank" / "case_q50_g300"
    qf, gf = np.load(folder / "q_feats.npy"), np.load(folder / "g_feats.npy")
    got = occreid.rerank_features(qf, gf)
    # BoT keeps V and the Jaccard distance in float16; the float32 algorithm differs by up to 2.2e-3.
    want = np.load(folder / "reid_strong_baseline" / "expected_rerank_rsb.npy")
    assert got.dtype == np.float32 and got.shape == want.shape
    assert np.abs(got - want).max() <= 5e-3
    out = tmp_path / "reranked.npy"
    assert occreid.rerank_features(qf, gf, out=out, block_rows=7) is None
    np.testing.assert_array_equal(np.load(out), got)
    with pytest.raises(ValueError, match="already exists"):
        occreid.rerank_features(qf, gf, out=out)
    occreid.rerank_features(qf[:3], gf, out=out, overwrite=True)
    assert np.load(out).shape == (3, gf.shape[0])


def test_every_input_form_gives_the_same_result():
    torch = pytest.importorskip("torch")
    args, want = case(MARKET[3])
    reference = occreid.evaluate_rank(*args)
    d = args[0]
    forms = {
        "numpy": d,
        "torch tensor": torch.from_numpy(d),
        "tensor with grad": torch.from_numpy(d).requires_grad_(True),
        "view": np.concatenate([d, d], axis=1)[:, : d.shape[1]],
        "fortran": np.asfortranarray(d),
        "float64": d.astype(np.float64),
        "list": d.tolist(),
    }
    for name, form in forms.items():
        labels = [torch.from_numpy(a) if name.startswith("torch") else a for a in args[1:]]
        cmc, mean_ap = occreid.evaluate_rank(form, *labels)
        np.testing.assert_array_equal(cmc, reference[0], err_msg=name)
        assert mean_ap == reference[1], name
    assert reference[1] == pytest.approx(want["mAP"], rel=1e-12)


def test_bad_inputs_raise_one_clear_error():
    args, _ = case(MARKET[1])
    d, qp, gp, qc, gc = args
    bad = [
        (ValueError, "2-D", lambda: occreid.evaluate_rank(d[0], qp, gp, qc, gc)),
        (ValueError, "query pids has 11 entries", lambda: occreid.evaluate_rank(d, qp[:-1], gp, qc, gc)),
        (ValueError, "NaN", lambda: occreid.evaluate_rank(np.where(d > d.mean(), np.nan, d), qp, gp, qc, gc)),
        (ValueError, "max_rank", lambda: occreid.evaluate_rank(d, qp, gp, qc, gc, max_rank=0)),
        (TypeError, "integer labels", lambda: occreid.evaluate_rank(d, qp + 0.5, gp, qc, gc)),
        (TypeError, "numbers", lambda: occreid.evaluate_rank(d.astype(str), qp, gp, qc, gc)),
        (ValueError, "empty", lambda: occreid.evaluate_rank(d[:0], qp[:0], gp, qc[:0], gc)),
        (ValueError, "k1", lambda: occreid.re_ranking(d, d[:, :12], d.T @ d, k1=-1)),
        (ValueError, "lambda", lambda: occreid.re_ranking(d, d[:, :12], d.T @ d, lambda_value=1.5)),
        (ValueError, "q_q_dist", lambda: occreid.re_ranking(d, d, d.T @ d)),
        (ValueError, "NaN or infinity", lambda: occreid.re_ranking(d, np.full((12, 12), np.inf, np.float32),
                                                                  d.T @ d)),
        (ValueError, "distance", lambda: occreid.evaluate_features(d, d, qp, qp, qc, qc, distance="l3")),
        (ValueError, "dimension", lambda: occreid.evaluate_features(d, d[:, :5], qp, qp, qc, qc)),
        (ValueError, "NaN", lambda: occreid.evaluate_features(d * np.nan, d, qp, qp, qc, qc)),
        (ValueError, "NaN", lambda: occreid.rerank_features(d * np.nan, d)),
        (ValueError, "dimension", lambda: occreid.rerank_features(d, d[:, :5])),
        (ValueError, "k1", lambda: occreid.rerank_features(d, d, k1=0)),
        (ValueError, "missing.npy", lambda: occreid.evaluate_features(d, "missing.npy", qp, gp, qc, gc)),
    ]
    for kind, words, call in bad:
        with pytest.raises(kind) as e:
            call()
        assert words in str(e.value), (words, str(e.value))


def test_datasets_read_and_check_a_market_tree(tmp_path):
    files = {
        "bounding_box_train": ["0002_c1s1_000451_03.jpg", "0002_c2s1_000001_01.jpg", "0007_c1s1_000001_01.jpg"],
        "query": ["0002_c3s1_000001_01.jpg"],
        "bounding_box_test": ["0002_c4s1_000001_01.jpg", "0000_c1s1_000002_01.jpg", "-1_c1s1_000001_01.jpg"],
    }
    for folder, names in files.items():
        (tmp_path / folder).mkdir()
        for n in names:
            (tmp_path / folder / n).write_bytes(b"")
    train, query, gallery = occreid.datasets.read("market1501", tmp_path)
    # torchreid's tuples: train pids relabelled 0..N-1, cameras 0-based, junk (-1) dropped, distractors kept.
    assert sorted((pathlib.Path(p).name, pid, cam) for p, pid, cam in train) == [
        ("0002_c1s1_000451_03.jpg", 0, 0), ("0002_c2s1_000001_01.jpg", 0, 1), ("0007_c1s1_000001_01.jpg", 1, 0)]
    assert [(pathlib.Path(p).name, pid, cam) for p, pid, cam in query] == [("0002_c3s1_000001_01.jpg", 2, 2)]
    assert sorted((pathlib.Path(p).name, pid) for p, pid, _ in gallery) == [
        ("0000_c1s1_000002_01.jpg", 0), ("0002_c4s1_000001_01.jpg", 2)]
    assert all(pathlib.Path(p).is_file() for p, _, _ in train + query + gallery)
    # The check decodes every image: empty files are errors, named; without decoding the lists are fine.
    report = occreid.datasets.check("market1501", tmp_path)
    assert report["ok"] is False
    assert any(p["severity"] == "error" and "0002_c1s1_000451_03.jpg" in (p.get("path") or "")
               for p in report["problems"]), report["problems"]
    assert report["train"]["images"] == 3 and report["gallery"]["images"] == 2
    with pytest.raises(ValueError, match="no_such_folder"):
        occreid.datasets.read("market1501", tmp_path / "no_such_folder")
    with pytest.raises(ValueError, match="market1501"):
        occreid.datasets.read("no_such_dataset", tmp_path)
