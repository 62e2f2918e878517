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
pylog="$(mktemp)"
trap 'rm -f "$log" "$pylog"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
# The Python module's tests (bootstrap.sh built it into .venv); no cache folder left in the tree.
.venv/bin/python -m pytest -q -p no:cacheprovider crates/occreid-py/tests 2>&1 | tee "$pylog"
# One closing line over every test binary (cargo prints one 'test result' line per binary) and pytest.
py_count() { grep -oE "[0-9]+ $1" "$pylog" | tail -1 | grep -oE '^[0-9]+' || echo 0; }
awk -v pp="$(py_count passed)" -v pf="$(py_count failed)" -v ps="$(py_count skipped)" \
  '/^test result:/ {p += $4; f += $6; s += $8} END {printf "tests: %d passed, %d failed, %d skipped\n", p + pp, f + pf, s + ps}' "$log"
