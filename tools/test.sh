#!/usr/bin/env bash
# Everything CI checks: libtorch bootstrap, formatting, lints, all tests. No GPU, Python or data needed
# beyond what tools/bootstrap.sh installs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/bootstrap.sh
# One clean build: incremental caches would only cost disk (several GB with tch-linked test binaries).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
# One closing line over every test binary (cargo prints one 'test result' line per binary).
awk '/^test result:/ {p += $4; f += $6; s += $8} END {printf "tests: %d passed, %d failed, %d skipped\n", p, f, s}' "$log"
