#!/usr/bin/env bash
# Deployment throughput (BENCHMARKS.md "Export"): a checkpoint of each size the project trains — BoT R50
# 256x128 (configs/bot_r50.toml) and R18 128x64 (configs/demo.toml) — exported to TorchScript and ONNX, then
# features of the same N images by
#   occreid extract --checkpoint CK          (the checkpoint, libtorch through tch)
#   occreid extract --checkpoint MODEL.pt    (the TorchScript export, libtorch through tch)
#   onnxruntime CPU and torch.jit.load       (tools/bench_export_peer.py: PIL preprocessing + the model)
# The weights come from one short training epoch on generated data: throughput does not depend on them.
#
#   tools/bench_export.sh [IMAGES_DIR] [N]     (default /work/shared/data/cuhk01, 1000 images)
set -euo pipefail
cd "$(dirname "$0")/.."
SRC="${1:-/work/shared/data/cuhk01}"
N="${2:-1000}"
PY=.venv/bin/python
[ -x "$PY" ] || { echo "bench_export: $PY missing; run tools/bootstrap.sh first" >&2; exit 1; }
[ -d "$SRC" ] || { echo "bench_export: skipped: no images at $SRC (pass a folder of images)"; exit 0; }
cargo build --release -p occreid-cli --quiet
BIN="$PWD/target/release/occreid"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "== tree: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' + uncommitted changes')"

# The same N images for every runtime: links in one folder, in sorted order.
mkdir -p "$TMP/images"
find "$SRC" -type f \( -iname '*.jpg' -o -iname '*.png' -o -iname '*.bmp' \) | sort > "$TMP/all.txt"
head -n "$N" "$TMP/all.txt" > "$TMP/list.txt"
i=0
while read -r f; do ln -s "$f" "$TMP/images/$(printf '%06d' $i).${f##*.}"; i=$((i + 1)); done < "$TMP/list.txt"
find "$TMP/images" -type l | sort > "$TMP/links.txt"
echo "== $(wc -l < "$TMP/links.txt") images from $SRC"
"$BIN" data synth --out "$TMP/synth" --ids 8 --cameras 2 --images-per-id 4 --seed 1 > /dev/null

for preset in bot_r50 demo; do
    run="$TMP/run_$preset"
    OCCREID_LOG=warn "$BIN" train --config "configs/$preset.toml" --set "data.root=$TMP/synth" --set data.dataset=market1501 \
        --set train.epochs=1 --set train.eval_period=0 --set test.occlusion.enabled=false --set test.rerank=false \
        --set data.batch_size=8 --set data.instances_per_id=2 --out "$run" > /dev/null
    ck="$run/last.ckpt"
    "$BIN" export --checkpoint "$ck" --format torchscript --out "$TMP/$preset.pt"
    "$BIN" export --checkpoint "$ck" --format onnx --out "$TMP/$preset.onnx"
    for model in "$ck" "$TMP/$preset.pt"; do
        rm -f "$TMP/f.safetensors"
        t0=$(date +%s.%N)
        OCCREID_LOG=warn "$BIN" extract --checkpoint "$model" --images "$TMP/images" --out "$TMP/f.safetensors" > /dev/null
        t1=$(date +%s.%N)
        python3 -c "print('$preset occreid extract --checkpoint $(basename "$model"): {:.1f} images/s ({:.1f} s, process start included)'.format($N / ($t1 - $t0), $t1 - $t0))"
    done
    "$PY" tools/bench_export_peer.py "$TMP/$preset.pt" "$TMP/$preset.onnx" "$TMP/links.txt" 128 |
        "$PY" -c "import json,sys; d=json.load(sys.stdin); print('$preset python:', json.dumps(d))"
done
