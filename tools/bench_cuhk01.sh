#!/usr/bin/env bash
# Real-data benchmark: the small BoT preset (configs/demo.toml: R18, 128x64, P x K = 8 x 4) trained from scratch
# on CUHK01 by occreid and by the same recipe in PyTorch (tools/cuhk01_peer.py), on the SAME identity split
# (`occreid data split`: seed 0, 485 train / 486 test identities, query = camera A, gallery = camera B) and the
# same epoch budget; prints R1 / mAP of both. See BENCHMARKS.md, "Real data: CUHK01".
#
#   tools/bench_cuhk01.sh [CUHK01_ROOT]          (default /work/shared/data/cuhk01; EPOCHS=20, KEEP=1 keeps the runs)
#
# Skips (exit 0) when the dataset folder is absent. The images are read in place, never copied.
set -euo pipefail
cd "$(dirname "$0")/.."

ROOT="${1:-/work/shared/data/cuhk01}"
EPOCHS="${EPOCHS:-20}"
if [ ! -d "$ROOT" ]; then
    echo "bench_cuhk01: skipped: CUHK01 not found at $ROOT (pass its folder as the first argument)"
    exit 0
fi
PY=.venv/bin/python
[ -x "$PY" ] || { echo "bench_cuhk01: $PY missing; run tools/bootstrap.sh first" >&2; exit 1; }

cargo build --release -p occreid-cli --quiet
BIN=target/release/occreid
TMP="$(mktemp -d /tmp/bench_cuhk01.XXXXXX)"
if [ "${KEEP:-0}" = 1 ]; then
    echo "runs kept in $TMP"
else
    trap 'rm -rf "$TMP"' EXIT
fi

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "== split"
"$BIN" data split --dataset cuhk01 --root "$ROOT" --out "$TMP/split.json"

echo "== occreid train ($EPOCHS epochs)"
t0=$(date +%s.%N)
OCCREID_LOG="${OCCREID_LOG:-info}" "$BIN" train --config configs/demo.toml \
    --set data.dataset=cuhk01 --set "data.root=$ROOT" \
    --set test.occlusion.enabled=false --set test.rerank=false --set train.eval_period=0 \
    --set "train.epochs=$EPOCHS" --out "$TMP/occreid_run"
t1=$(date +%s.%N)
echo "$t0 $t1" > "$TMP/occreid_wall"

echo "== PyTorch peer ($EPOCHS epochs)"
"$PY" tools/cuhk01_peer.py --split "$TMP/split.json" --epochs "$EPOCHS" | tee "$TMP/peer.log"

"$PY" - "$TMP" <<'EOF'
import json, sys
tmp = sys.argv[1]
s = json.load(open(f"{tmp}/occreid_run/summary.json"))
recs = [json.loads(l) for l in open(f"{tmp}/occreid_run/metrics.jsonl") if l.strip()]
t0, t1 = map(float, open(f"{tmp}/occreid_wall").read().split())
ours = {"R1": 100 * s["cmc"][0], "R5": 100 * s["cmc"][4], "R10": 100 * s["cmc"][9], "mAP": 100 * s["mAP"],
        "mINP": 100 * s["mINP"], "epochs": s["epochs"], "train_seconds": sum(r["seconds"] for r in recs),
        "seconds": t1 - t0}
peer = json.loads(open(f"{tmp}/peer.log").read().strip().splitlines()[-1])
print()
print(f"CUHK01, seed-0 split 485/486 ids, query cam A / gallery cam B, BoT R18 128x64 from scratch, {ours['epochs']} epochs")
print(f"{'':10s} {'R1':>7s} {'R5':>7s} {'R10':>7s} {'mAP':>7s} {'mINP':>7s} {'train s':>8s} {'total s':>8s}")
for name, r in [("occreid", ours), ("PyTorch", peer)]:
    print(f"{name:10s} {r['R1']:7.2f} {r['R5']:7.2f} {r['R10']:7.2f} {r['mAP']:7.2f} {r['mINP']:7.2f} "
          f"{r['train_seconds']:8.0f} {r['seconds']:8.0f}")
print(f"{'diff':10s} {ours['R1'] - peer['R1']:+7.2f} {ours['R5'] - peer['R5']:+7.2f} {ours['R10'] - peer['R10']:+7.2f} "
      f"{ours['mAP'] - peer['mAP']:+7.2f} {ours['mINP'] - peer['mINP']:+7.2f}")
print(json.dumps({"occreid": ours, "pytorch": peer}))
EOF
