"""Summarises tools/bench_cuhk01.sh: per-seed R1/mAP of occreid and the PyTorch peer, then mean and sample
standard deviation over seeds and the paired difference (same seed index, same split).

Run: .venv/bin/python tools/cuhk01_summary.py TMPDIR SEED [SEED ...]
"""
import json
import statistics
import sys

tmp, seeds = sys.argv[1], sys.argv[2:]
KEYS = ["R1", "R5", "R10", "mAP", "mINP"]


def ours(seed):
    run = f"{tmp}/occreid_seed{seed}"
    s = json.load(open(f"{run}/summary.json"))
    recs = [json.loads(line) for line in open(f"{run}/metrics.jsonl") if line.strip()]
    t0, t1 = map(float, open(f"{run}/wall").read().split())
    return {"R1": 100 * s["cmc"][0], "R5": 100 * s["cmc"][4], "R10": 100 * s["cmc"][9], "mAP": 100 * s["mAP"],
            "mINP": 100 * s["mINP"], "epochs": s["epochs"], "train_seconds": sum(r["seconds"] for r in recs),
            "seconds": t1 - t0}


def peer(seed):
    return json.loads(open(f"{tmp}/peer_seed{seed}.log").read().strip().splitlines()[-1])


rows = {seed: {"occreid": ours(seed), "pytorch": peer(seed)} for seed in seeds}
print()
print(f"CUHK01, seed-0 split 485/486 ids, query cam A / gallery cam B, BoT R18 128x64 from scratch, "
      f"{rows[seeds[0]]['occreid']['epochs']} epochs, training seeds {' '.join(seeds)}")
print(f"{'':16s} " + " ".join(f"{k:>7s}" for k in KEYS) + f" {'train s':>8s} {'total s':>8s}")
for seed, r in rows.items():
    for name in ("occreid", "pytorch"):
        m = r[name]
        print(f"{name + ' s' + seed:16s} " + " ".join(f"{m[k]:7.2f}" for k in KEYS)
              + f" {m['train_seconds']:8.0f} {m['seconds']:8.0f}")


def mean_sd(values):
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else float("nan"))


summary = {}
for name in ("occreid", "pytorch"):
    summary[name] = {k: mean_sd([r[name][k] for r in rows.values()]) for k in KEYS}
summary["diff"] = {k: mean_sd([r["occreid"][k] - r["pytorch"][k] for r in rows.values()]) for k in KEYS}
for name in ("occreid", "pytorch", "diff"):
    print(f"{name + ' mean±sd':16s} " + " ".join(f"{summary[name][k][0]:+7.2f}±{summary[name][k][1]:.2f}"
                                                 if name == "diff" else
                                                 f"{summary[name][k][0]:7.2f}±{summary[name][k][1]:.2f}"
                                                 for k in KEYS))
print(json.dumps({"seeds": seeds, "runs": rows, "summary": summary}))
