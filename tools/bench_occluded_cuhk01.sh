#!/usr/bin/env bash
# Occluded real-data benchmark: BoT, SDCN + VGN and IGOAS at demo size (configs/demo.toml,
# demo_sdcn_vgn.toml, demo_igoas.toml: R18 from scratch, 128x64, the same 20-epoch budget) trained on CUHK01
# (the reader's seed-0 split: 485 train / 486 test identities, query = camera A, gallery = camera B, the split
# of tools/bench_cuhk01.sh), evaluated on holistic queries and on the occlusion suite: the four occluder
# kinds at 10-50 % of the query, bottom and top. Per training seed: the three runs and `occreid compare`'s
# page and JSON; then tools/occluded_cuhk01_summary.py (mean ± sd per method, paired difference to BoT).
#
#   tools/bench_occluded_cuhk01.sh [CUHK01_ROOT]    (default /work/shared/data/cuhk01)
#   env: SEEDS="0 1 2", EPOCHS=20, METHODS="bot sdcn_vgn igoas", OUT=<run folders, not kept by git>,
#        KEEP=<tracked folder, default benchmarks/occluded_cuhk01: each finished run's config, summary,
#             training log and wall time are copied there, so results survive a lost runs/ folder; commit it>,
#        DATASET=cuhk01 (custom: a folder of CSVs, e.g. tools/cuhk01_validation.py's held-out split of the
#             train identities, given as the first argument), SETS="key=value ..." (more --set overrides for
#             every run: a variant of the recipe; values without spaces),
#        BIN=<an occreid binary to use instead of building target/release/occreid (occreid-full must lie
#            beside it: copy both); pin one with it when
#            you rebuild the tree while the benchmark runs>
#
# Skips (exit 0) when the dataset folder is absent. The images are read in place, never copied. A run
# folder that already holds a finished run is kept and an interrupted one is resumed (the script can be
# re-run to finish or add seeds).
set -euo pipefail
cd "$(dirname "$0")/.."

ROOT="${1:-/work/shared/data/cuhk01}"
DATASET="${DATASET:-cuhk01}"
EXTRA=()
for KV in ${SETS:-}; do EXTRA+=(--set "$KV"); done
EPOCHS="${EPOCHS:-20}"
MILESTONE="${MILESTONE:-15}"   # demo.toml's schedule for every method: warmup 3 epochs, x0.1 after MILESTONE
SEEDS="${SEEDS:-0 1 2}"
METHODS="${METHODS:-bot sdcn_vgn igoas}"
OUT="${OUT:-runs/occluded_cuhk01}"
KEEP="${KEEP:-benchmarks/occluded_cuhk01}"
if [ ! -d "$ROOT" ]; then
    echo "bench_occluded_cuhk01: skipped: $DATASET not found at $ROOT (pass its folder as the first argument)"
    exit 0
fi
PY=.venv/bin/python
[ -x "$PY" ] || { echo "bench_occluded_cuhk01: $PY missing; run tools/bootstrap.sh first" >&2; exit 1; }
if [ -z "${BIN:-}" ]; then
    cargo build --release -p occreid-cli --quiet
    BIN=target/release/occreid
fi
mkdir -p "$OUT"
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "== tree: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' + uncommitted changes')"
echo "== data: $DATASET at $ROOT; extra settings: ${SETS:-none}"

preset() {
    case "$1" in
        bot) echo configs/demo.toml ;;
        sdcn_vgn) echo configs/demo_sdcn_vgn.toml ;;
        igoas) echo configs/demo_igoas.toml ;;
        *) echo "unknown method $1" >&2; exit 1 ;;
    esac
}

# A finished run folder: its summary, or a multi-stage run's last stage's.
finished() { [ -f "$1/summary.json" ] || [ -f "$1/stage2_sdcn/summary.json" ]; }
# What `occreid compare` and the summary read of a finished run (config, summaries, wall time, the
# per-epoch training log; no checkpoints or images) copied into the tracked folder.
keep() {
    mkdir -p "$2"
    (cd "$1" && find . -maxdepth 2 \( -name summary.json -o -name config.toml -o -name wall_seconds \
        -o -name metrics.jsonl \) \
        -exec cp --parents {} "$OLDPWD/$2/" \;)
}

for SEED in $SEEDS; do
    DIRS=()
    for M in $METHODS; do
        DIR="$OUT/seed$SEED/$M"
        KEPT="$KEEP/seed$SEED/$M"
        DIRS+=("$KEPT")
        if finished "$KEPT"; then
            echo "== seed $SEED: $M already finished (results kept in $KEPT)"
            continue
        fi
        if finished "$DIR"; then
            echo "== seed $SEED: $M already finished in $DIR"
            keep "$DIR" "$KEPT"
            continue
        fi
        t0=$(date +%s)
        if [ -f "$DIR/config.toml" ]; then
            # Interrupted earlier (a killed session): continue from its last checkpoint.
            echo "== seed $SEED: $M resumed from $DIR"
            "$BIN" train --resume --out "$DIR"
            echo "resumed" > "$DIR/wall_seconds"
            keep "$DIR" "$KEPT"
            continue
        fi
        echo "== seed $SEED: $M ($EPOCHS epochs)"
        "$BIN" train --config "$(preset "$M")" \
            --set "data.dataset=$DATASET" --set "data.root=$ROOT" --set "seed=$SEED" \
            --set "train.epochs=$EPOCHS" --set "sdcn.vgn_epochs=$EPOCHS" --set "optim.milestones=[$MILESTONE]" \
            --set optim.warmup_epochs=3 --set train.eval_period=0 --set test.rerank=false \
            --set 'test.occlusion.ratios=[0.1, 0.2, 0.3, 0.4, 0.5]' \
            --set 'test.occlusion.positions=["bottom", "top"]' "${EXTRA[@]}" \
            --out "$DIR"
        echo "$(( $(date +%s) - t0 ))" > "$DIR/wall_seconds"
        keep "$DIR" "$KEPT"
    done
    "$BIN" compare "${DIRS[@]}" --json --overwrite --out "$OUT/seed$SEED/compare.html" > "$KEEP/seed$SEED/compare.json"
done

"$PY" tools/occluded_cuhk01_summary.py "$KEEP" $SEEDS
