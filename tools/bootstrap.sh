#!/usr/bin/env bash
# Creates the project-local Python venv that provides libtorch (PyPI wheel torch==2.11.0) for tch 0.24.
# Idempotent: re-running with the venv in place only verifies it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
torch_version="2.11.0"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
have="$("$venv/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null || true)"
if [ "$have" != "$torch_version" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir "torch==$torch_version" "numpy>=2"
fi
# A stable name for the build (.cargo/config.toml points LIBTORCH here), whatever the python minor version.
torch_dir="$("$venv/bin/python" -c 'import torch, os; print(os.path.dirname(torch.__file__))' 2>/dev/null)"
ln -sfn "$torch_dir" "$venv/libtorch"
"$venv/bin/python" -c 'import torch, os; print("libtorch", torch.__version__, os.path.dirname(torch.__file__))'
