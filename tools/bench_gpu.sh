#!/usr/bin/env bash
# The CUDA / AMP measurements (BENCHMARKS.md "GPU"), as one script for a lent GPU machine that has
# PyTorch but no cargo: build here (`cargo build --release -p occreid-cli`), copy both binaries, stripped,
# into an ignored folder of the checkout (`mkdir -p gpu && for b in occreid occreid-full; do strip -o gpu/$b
# target/release/$b; done`; add `/gpu/` to .git/info/exclude), carry `gpu`, and run
# `tools/bench_gpu.sh gpu/occreid` from the repository root there. The binary links the libtorch of that
# machine's PyTorch (same 2.11 release) through LD_LIBRARY_PATH; the PyTorch peers run with its python3
# (a `.venv/bin/python` wrapper calling it is written when no venv is there).
#
#   1. `occreid demo --set train.device=cuda --set train.amp=true`: the three methods trained end to end on
#      the GPU in fp16 mixed precision (synthetic data, ResNet-18, 128x64), with evaluation;
#   2. `occreid bench train --device cuda [--amp] --peer` for BoT (ResNet-50 256x128, batch 64), the SDCN
#      stage-2 step (batch 32 pairs) and IGOAS (384x128, batch 64): ours and PyTorch's step in the same run;
#   3. the demo again in float32.
# QUICK=1 runs the fp16 parts only.
# Each step has its own time limit so that one slow step cannot use up the lease; the log goes to $OUT
# (or ./gpu-out) with the demo's comparison pages.
set -uo pipefail
BIN="${1:?usage: tools/bench_gpu.sh PATH/TO/occreid}"
OUT="${OUT:-$PWD/gpu-out}"
mkdir -p "$OUT"
TORCH_LIB="$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')" ||
    { echo "bench_gpu.sh: this machine's python3 has no torch (its libtorch is what the binary loads)" >&2; exit 1; }
export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ ! -x .venv/bin/python ]; then
    # A wrapper, not a link: a venv's python reached through a link elsewhere loses its site-packages.
    mkdir -p .venv/bin && printf '#!/bin/sh\nexec python3 "$@"\n' > .venv/bin/python && chmod +x .venv/bin/python
fi
log="$OUT/gpu.log"
step() {  # seconds, label, command...: its output (libtorch's deprecated-autocast warnings counted, not kept)
    local limit="$1" label="$2"; shift 2
    echo "== $label ($(date -u +%T))" | tee -a "$log"
    local t0=$SECONDS rc=0
    timeout "$limit" "$@" > /tmp/step.out 2>&1 || rc=$?
    grep -v -e '^\s*$' -e 'autocast_mode.h' /tmp/step.out | tee -a "$log"
    echo "   rc $rc, $((SECONDS - t0)) s, libtorch autocast warning lines: $(grep -c 'autocast_mode.h' /tmp/step.out)" |
        tee -a "$log"
}
{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())'
    echo "cpus $(nproc)"
} 2>&1 | tee -a "$log"
ldd "$BIN" "$BIN-full" | grep -E 'torch|c10|not found' | tee -a "$log"

# The demo's run folders (checkpoints) stay on the machine; its comparison pages come back.
rm -rf /tmp/demo-amp /tmp/demo  # demo never reuses a run folder: a rerun on a warm machine would write -2
step 150 "demo, all methods, cuda amp" "$BIN" demo --out /tmp/demo-amp --data /tmp/demo-data \
    --set train.device=cuda --set train.amp=true
cp /tmp/demo-amp/report.html "$OUT/demo-amp-report.html" 2>/dev/null
# QUICK=1: the fp16 demo and the fp16 steps only (a re-check after a change, in half the machine time).
[ -n "${QUICK:-}" ] && precisions=(--amp) || precisions=("" --amp)
for amp in "${precisions[@]}"; do
    step 45 "bot r50 256x128 bs64 $amp" "$BIN" bench train --method bot --batch-size 64 --extract-batch 128 \
        --steps 20 --warmup 5 --device cuda $amp --peer
    step 45 "sdcn r50 256x128 bs32 $amp" "$BIN" bench train --method sdcn --batch-size 32 --extract-batch 128 \
        --steps 10 --warmup 3 --device cuda $amp --peer
    step 45 "igoas r50 384x128 bs64 $amp" "$BIN" bench train --method igoas --height 384 --width 128 \
        --batch-size 64 --extract-batch 128 --steps 10 --warmup 3 --device cuda $amp --peer
done
[ -n "${QUICK:-}" ] && exit 0
step 150 "demo, all methods, cuda fp32" "$BIN" demo --out /tmp/demo --data /tmp/demo-data --set train.device=cuda
cp /tmp/demo/report.html "$OUT/demo-report.html" 2>/dev/null
