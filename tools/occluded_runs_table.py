"""One line per run folder (as kept by tools/bench_occluded_cuhk01.sh): holistic R1 / mAP, R1 at 30 % bottom
occlusion per occluder kind, the mean R1 over every occluded setting, and from the training log the last
epoch's training accuracy and loss, and the summed epoch seconds (per stage for SDCN + VGN). For reading
runs that differ in recipe or budget next to each other (issue 11's goal analysis), without `occreid compare`'s
same-test-set requirement.

Run: .venv/bin/python tools/occluded_runs_table.py RUN [RUN ...]   (standard library only)
"""
import json
import os
import statistics
import sys

KINDS = ["solid_box", "noise_box", "donor_patch", "pedestrian"]


def stages(run):
    """(name, folder) of each training stage: a multi-stage run's stage folders, else the run itself."""
    subs = sorted(d for d in os.listdir(run) if d.startswith("stage") and os.path.isdir(os.path.join(run, d)))
    return [(d, os.path.join(run, d)) for d in subs] or [("", run)]


def training(folder):
    path = os.path.join(folder, "metrics.jsonl")
    if not os.path.exists(path):
        return None
    epochs = [json.loads(line) for line in open(path) if line.strip()]
    last = epochs[-1]
    return len(epochs), last["accuracy"], last["losses"]["total"], sum(e["seconds"] for e in epochs)


print(f"{'run':44s} {'hol R1':>6s} {'mAP':>6s} " + " ".join(f"{k[:8] + ' 30':>11s}" for k in KINDS)
      + f" {'occ mean':>8s}   training (epochs, last accuracy, last loss, seconds)")
for run in sys.argv[1:]:
    st = stages(run) if os.path.isdir(run) else []
    if not st or not os.path.exists(os.path.join(st[-1][1], "summary.json")):
        continue  # not a finished run (a shell glob over a seed folder also matches compare.json, plots/)
    summary = json.load(open(os.path.join(st[-1][1], "summary.json")))
    at30 = {o["kind"]: o["rank1"] for o in summary["occlusion"] if o["position"] == "bottom" and o["ratio"] == 0.3}
    occ = statistics.mean(o["rank1"] for o in summary["occlusion"]) if summary["occlusion"] else float("nan")
    logs = []
    for name, folder in st:
        t = training(folder)
        if t:
            logs.append(f"{name + ' ' if name else ''}{t[0]} ep, acc {t[1]:.3f}, loss {t[2]:.3f}, {t[3]:.0f} s")
    print(f"{run[-44:]:44s} {100 * summary['cmc'][0]:6.2f} {100 * summary['mAP']:6.2f} "
          + " ".join(f"{100 * at30[k]:11.2f}" if k in at30 else f"{'-':>11s}" for k in KINDS)
          + f" {100 * occ:8.2f}   " + "; ".join(logs))
