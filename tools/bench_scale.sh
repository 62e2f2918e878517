#!/usr/bin/env bash
# Evaluation and re-ranking at the sizes of Market-1501, Market + 500k distractors and MSMT17, whole process
# (/usr/bin/time: wall seconds and peak resident memory), on synthetic 2048-d features with identity
# structure written by `occreid bench eval-features`, with the torchreid-style Python peer
# (tools/bench_scale_peer.py) in the same run where its arrays fit in this machine's memory.
#
#   tools/bench_scale.sh            env: SCALES="market market500k msmt17", DIR=/tmp/occreid-scale (kept:
#                                   the features are reused by a later run), PEER=1 (0 skips the peer),
#                                   PYMOD=1 (the same from Python through the occreid module, tools/bench_py.py;
#                                   0 skips it), CLI=1 (0 skips the command-line rows)
#
# Market + 500k is evaluated but not re-ranked: its (Q+G)^2 pairs are 2.7e11 (a day of 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
SCALES="${SCALES:-market market500k msmt17}"
DIR="${DIR:-/tmp/occreid-scale}"
PEER="${PEER:-1}"
PYMOD="${PYMOD:-1}"
CLI="${CLI:-1}"
PY=.venv/bin/python
cargo build --release -p occreid-cli --quiet
BIN=target/release/occreid
MEM_GB=$(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)
echo "== machine: $(nproc) cores, ${MEM_GB} GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "== tree: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' + uncommitted changes')"
echo "| scale | command | wall | peak RSS | result |"
echo "|---|---|---|---|---|"

# One row: the command's wall time, peak RSS and the last line it printed.
measure() {
    local scale=$1 label=$2
    shift 2
    local log
    log=$(mktemp)
    if /usr/bin/time -f "%e %M" -o "$log.time" "$@" > "$log" 2>&1; then
        read -r secs kb < "$log.time"
        printf "| %s | %s | %.1f s | %.2f GiB | %s |\n" "$scale" "$label" "$secs" "$(echo "$kb / 1048576" | bc -l)" \
            "$(grep -v '^\s*$' "$log" | tail -1)"
    else
        echo "| $scale | $label | failed | | $(tail -1 "$log") |"
    fi
    rm -f "$log" "$log.time"
}

# The peer's arrays in bytes per pair: metrics (float32 distances, int64 argsort, int64 gathered labels,
# int32 matches) 24; re-ranking (float32 table twice while concatenating and normalising, int64 argsort,
# float32 V and V_qe) 28 per (Q+G)^2 pair.
fits() { [ "$(echo "$1 < $MEM_GB * 1024^3 * 0.9" | bc)" = 1 ]; }

for S in $SCALES; do
    D="$DIR/$S"
    [ -f "$D/g_pids.npy" ] || "$BIN" bench eval-features --scale "$S" --out "$D" > /dev/null
    Q=$("$PY" -c "import numpy as np; print(np.load('$D/q_pids.npy', mmap_mode='r').shape[0])")
    G=$("$PY" -c "import numpy as np; print(np.load('$D/g_pids.npy', mmap_mode='r').shape[0])")
    LABELS=(--query-pids "$D/q_pids.npy" --gallery-pids "$D/g_pids.npy" --query-camids "$D/q_camids.npy"
        --gallery-camids "$D/g_camids.npy")
    [ "$CLI" = 1 ] && measure "$S" "occreid metrics --query-features" \
        "$BIN" metrics --query-features "$D/q_feats.npy" --gallery-features "$D/g_feats.npy" "${LABELS[@]}"
    if [ "$PYMOD" = 1 ]; then
        measure "$S" "python: occreid.evaluate_features" "$PY" tools/bench_py.py "$D" features
        fits "$(echo "8 * $Q * $G" | bc)" && \
            measure "$S" "python: torch distances + occreid.evaluate_rank" "$PY" tools/bench_py.py "$D" distmat
    fi
    if [ "$PEER" = 1 ]; then
        need=$(echo "24 * $Q * $G" | bc)
        if fits "$need"; then
            measure "$S" "peer: torch distances + eval_market1501" "$PY" tools/bench_scale_peer.py "$D" metrics
        else
            echo "| $S | peer: torch distances + eval_market1501 | does not fit | needs ≈ $(echo "$need / 1024^3" | bc) GiB by its arrays | not run |"
        fi
    fi
    [ "$S" = market500k ] && continue
    [ "$CLI" = 1 ] && measure "$S" "occreid rerank --query-features" \
        "$BIN" rerank --query-features "$D/q_feats.npy" --gallery-features "$D/g_feats.npy" --out "$D/reranked.npy" --overwrite
    rm -f "$D/reranked.npy"
    if [ "$PYMOD" = 1 ]; then
        measure "$S" "python: occreid.rerank_features" "$PY" tools/bench_py.py "$D" rerank-features
        # q_g / q_q / g_g, then the (Q+G)^2 table: 8 bytes per pair.
        fits "$(echo "8 * ($Q + $G)^2" | bc)" && \
            measure "$S" "python: torch distances + occreid.re_ranking" "$PY" tools/bench_py.py "$D" rerank
    fi
    if [ "$PEER" = 1 ]; then
        need=$(echo "28 * ($Q + $G)^2" | bc)
        if fits "$need"; then
            measure "$S" "peer: torchreid re_ranking" "$PY" tools/bench_scale_peer.py "$D" rerank
        else
            echo "| $S | peer: torchreid re_ranking | does not fit | needs ≈ $(echo "$need / 1024^3" | bc) GiB by its arrays | not run |"
        fi
    fi
done
