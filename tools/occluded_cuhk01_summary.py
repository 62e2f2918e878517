"""Summarises tools/bench_occluded_cuhk01.sh from each seed's `occreid compare --json` output: per method the
mean and sample standard deviation over seeds of R1 / mAP (holistic, each 30 % setting, the mean over every
occluded setting), the paired difference to BoT (same seed), and the issue's goal at 30 % occlusion: the
share of BoT's holistic -> occluded R1 drop a method recovers, with its holistic R1 within 1 point of BoT's.

Run: .venv/bin/python tools/occluded_cuhk01_summary.py OUT SEED [SEED ...]   (standard library only)
"""
import json
import statistics
import sys

out, seeds = sys.argv[1], sys.argv[2:]


def load(seed):
    c = json.load(open(f"{out}/seed{seed}/compare.json"))
    labels = [r["label"] for r in c["runs"]]
    table = {}
    for row in c["table"]["rows"]:
        for label, cell in zip(labels, row["cells"]):
            if cell is not None:
                table.setdefault(label, {})[row["setting"]] = (100 * cell["rank1"], 100 * cell["map"])
    return labels, table


runs = {seed: load(seed) for seed in seeds}
labels = runs[seeds[0]][0]
base = labels[0]
settings = [s for s in runs[seeds[0]][1][base] if s not in ("holistic", "holistic + re-ranking")]
at30 = [s for s in settings if s.endswith(" 30%")]


def values(label, key):
    """Per seed: (R1, mAP) of a setting, or the mean over all occluded settings for key 'occluded mean'."""
    vals = []
    for seed in seeds:
        t = runs[seed][1][label]
        if key == "occluded mean":
            vals.append(tuple(statistics.mean(t[s][i] for s in settings) for i in (0, 1)))
        else:
            vals.append(t[key])
    return vals


def ms(xs):
    sd = statistics.stdev(xs) if len(xs) > 1 else float("nan")
    return f"{statistics.mean(xs):6.2f} ± {sd:4.2f}"


print(f"\nCUHK01 occluded benchmark, training seeds {' '.join(seeds)}; mean ± sd over seeds (percent)")
print(f"{'setting':28s} " + " ".join(f"{l + ' R1':>16s} {l + ' mAP':>16s}" for l in labels))
for key in ["holistic"] + at30 + ["occluded mean"]:
    cells = []
    for l in labels:
        v = values(l, key)
        cells.append(f"{ms([x[0] for x in v]):>16s} {ms([x[1] for x in v]):>16s}")
    print(f"{key:28s} " + " ".join(cells))

print(f"\npaired difference to {base} (same seed), R1 points, mean ± sd")
for l in labels[1:]:
    for key in ["holistic"] + at30 + ["occluded mean"]:
        d = [a[0] - b[0] for a, b in zip(values(l, key), values(base, key))]
        print(f"  {l:10s} {key:28s} {ms(d)}")

print(f"\ngoal at 30 %: share of {base}'s holistic -> occluded R1 drop recovered (mean over seeds); "
      f"holistic R1 within 1 point of {base}")
for l in labels[1:]:
    hol = statistics.mean(a[0] - b[0] for a, b in zip(values(l, "holistic"), values(base, "holistic")))
    parts = []
    for key in at30:
        shares = []
        for a, b, hb in zip(values(l, key), values(base, key), values(base, "holistic")):
            drop = hb[0] - b[0]
            shares.append((a[0] - b[0]) / drop if drop > 0 else float("nan"))
        parts.append(f"{key.replace(' 30%', '')}: {statistics.mean(shares):+.0%}")
    print(f"  {l:10s} holistic {hol:+.2f} points; " + "; ".join(parts))
