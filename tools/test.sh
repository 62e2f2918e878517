#!/usr/bin/env bash
# Everything CI checks: libtorch bootstrap, formatting, lints, all tests. No GPU, Python or data needed
# beyond what tools/bootstrap.sh installs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/bootstrap.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
