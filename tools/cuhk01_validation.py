"""A validation split inside CUHK01's training identities, for questions the test identities must not answer
(issue 11: why a method falls short is studied here, never by tuning on the test split).

From `occreid data split --dataset cuhk01` (the reader's seed-0 split: 485 train identities), VAL of the
train identities (seeded choice) become a query (camera A) / gallery (camera B) set and the rest the train
set, written as the custom dataset's CSVs (absolute paths: the images are read in place, never copied):

    target/release/occreid data split --dataset cuhk01 --root /work/shared/data/cuhk01 --out /tmp/split.json
    .venv/bin/python tools/cuhk01_validation.py /tmp/split.json OUT_DIR [--val 100] [--seed 0]
    occreid train ... --set data.dataset=custom --set data.root=OUT_DIR

Standard library only.
"""
import argparse
import json
import os
import random
import sys

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("split", help="JSON from `occreid data split --dataset cuhk01`")
p.add_argument("out", help="folder for train.csv / query.csv / gallery.csv (created; must not hold them)")
p.add_argument("--val", type=int, default=100, help="held-out train identities (default 100)")
p.add_argument("--seed", type=int, default=0, help="seed of the held-out choice (default 0)")
a = p.parse_args()

split = json.load(open(a.split))
if split.get("dataset") != "cuhk01":
    sys.exit(f"{a.split}: dataset is {split.get('dataset')!r}, expected 'cuhk01'")
train = split["train"]
pids = sorted({s["pid"] for s in train})
if not 0 < a.val < len(pids):
    sys.exit(f"--val {a.val}: must be between 1 and {len(pids) - 1} (the split has {len(pids)} train identities)")
held = set(random.Random(a.seed).sample(pids, a.val))
os.makedirs(a.out, exist_ok=True)
files = {name: os.path.join(a.out, f"{name}.csv") for name in ("train", "query", "gallery")}
for f in files.values():
    if os.path.exists(f):
        sys.exit(f"{f} exists; choose an empty folder")


def root_path(s):
    return s["path"] if os.path.isabs(s["path"]) else os.path.join(split["root"], s["path"])


rows = {name: [] for name in files}
for s in train:
    if s["pid"] not in held:
        rows["train"].append((root_path(s), s["pid"], s["camid"]))
    else:
        rows["query" if s["camid"] == 0 else "gallery"].append((root_path(s), s["pid"], s["camid"]))
for name, f in files.items():
    tmp = f + ".tmp"
    with open(tmp, "w") as out:
        out.write("path,pid,camid\n")
        for path, pid, camid in sorted(rows[name]):
            out.write(f"{os.path.abspath(path)},{pid},{camid}\n")
    os.replace(tmp, f)
    print(f"{f}: {len(rows[name])} images, {len({r[1] for r in rows[name]})} identities")
