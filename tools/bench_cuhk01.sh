#!/usr/bin/env bash
# Real-data benchmark: the small BoT preset (configs/demo.toml: R18, 128x64, P x K = 8 x 4) trained from scratch
# on CUHK01 by occreid and by the same recipe in PyTorch (tools/cuhk01_peer.py), on the SAME identity split
# (`occreid data split`: seed 0, 485 train / 486 test identities, query = camera A, gallery = camera B) and the
# same epoch budget; prints R1 / mAP of both. See BENCHMARKS.md, "Real data: CUHK01".
#
#   tools/bench_cuhk01.sh [CUHK01_ROOT]    (default /work/shared/data/cuhk01)
#   env: EPOCHS=20, SEEDS="0" (training seeds; one occreid + one PyTorch run each), KEEP=1 keeps the runs
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

SEEDS="${SEEDS:-0}"
for SEED in $SEEDS; do
    echo "== seed $SEED: occreid train ($EPOCHS epochs)"
    t0=$(date +%s.%N)
    OCCREID_LOG="${OCCREID_LOG:-info}" "$BIN" train --config configs/demo.toml \
        --set data.dataset=cuhk01 --set "data.root=$ROOT" --set "seed=$SEED" \
        --set test.occlusion.enabled=false --set test.rerank=false --set train.eval_period=0 \
        --set "train.epochs=$EPOCHS" --out "$TMP/occreid_seed$SEED"
    t1=$(date +%s.%N)
    echo "$t0 $t1" > "$TMP/occreid_seed$SEED/wall"

    echo "== seed $SEED: PyTorch peer ($EPOCHS epochs)"
    "$PY" tools/cuhk01_peer.py --split "$TMP/split.json" --epochs "$EPOCHS" --seed "$SEED" | tee "$TMP/peer_seed$SEED.log"
done

"$PY" tools/cuhk01_summary.py "$TMP" $SEEDS
