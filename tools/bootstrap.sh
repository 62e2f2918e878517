#!/usr/bin/env bash
# Creates the project-local Python venv that provides libtorch (PyPI wheel torch==2.11.0) for tch 0.24,
# and onnx + onnxruntime: `occreid export --format onnx` runs PyTorch's exporter with this venv's Python
# (onnx checks and annotates the file) and the export tests run the result in onnxruntime. Then builds the
# `occreid` Python module (crates/occreid-py, maturin) into it, with pytest for its tests.
# Idempotent: re-running with the venv in place only verifies it.
#   tools/bootstrap.sh            what the build and the tests need
#   tools/bootstrap.sh --peers    also torchvision 0.26.0 (the release paired with torch 2.11), which the
#                                 PyTorch peers of BENCHMARKS.md import (`occreid bench ... --peer`,
#                                 tools/cuhk01_peer.py); tests never need it
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
torch_version="2.11.0"
torchvision_version="0.26.0"
onnx_version="1.23.2"
onnxruntime_version="1.32.0"
maturin_version="1.16.0"
pytest_version="9.2.0"
peers=false
for arg in "$@"; do
  case "$arg" in
    --peers) peers=true ;;
    *) echo "bootstrap.sh: unknown option $arg (only --peers)" >&2; exit 2 ;;
  esac
done
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
have="$("$venv/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null || true)"
if [ "$have" != "$torch_version" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir "torch==$torch_version" "numpy>=2"
fi
have_onnx="$("$venv/bin/python" -c 'import onnx, onnxruntime; print(onnx.__version__, onnxruntime.__version__)' 2>/dev/null || true)"
if [ "$have_onnx" != "$onnx_version $onnxruntime_version" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
    "onnx==$onnx_version" "onnxruntime==$onnxruntime_version"
fi
have_tools="$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("maturin"), m.version("pytest"))' 2>/dev/null || true)"
if [ "$have_tools" != "$maturin_version $pytest_version" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
    "maturin==$maturin_version" "pytest==$pytest_version"
fi
# The Python module, rebuilt from this tree each time (cargo reuses target/, so an unchanged tree takes
# seconds): what the tests import is what the sources say.
# (maturin's build hook runs the `maturin` executable: the venv's bin/ goes first on PATH.)
PATH="$venv/bin:$PATH" "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
  --no-build-isolation --no-deps --force-reinstall "$root/crates/occreid-py"
if $peers; then
  have_tv="$("$venv/bin/python" -c 'import torchvision; print(torchvision.__version__.split("+")[0])' 2>/dev/null || true)"
  if [ "$have_tv" != "$torchvision_version" ]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
      "torch==$torch_version" "torchvision==$torchvision_version"
  fi
fi
# A stable name for the build (.cargo/config.toml points LIBTORCH here), whatever the python minor version.
torch_dir="$("$venv/bin/python" -c 'import torch, os; print(os.path.dirname(torch.__file__))' 2>/dev/null)"
ln -sfn "$torch_dir" "$venv/libtorch"
"$venv/bin/python" -c 'import torch, os; print("libtorch", torch.__version__, os.path.dirname(torch.__file__))'
