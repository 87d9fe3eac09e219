#!/usr/bin/env bash
# Build the sandbox images offline (debootstrap + docker import + docker build). Idempotent and cached: an image
# is rebuilt only when its packages, the Dockerfile or the in-container harness change.
# Usage: scripts/build_sandbox_images.sh [PYTHON] [NAME ...]   (default: .venv/bin/python, all images)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
shift || true
bash scripts/setup_docker.sh
"$PY" -m sandboxes.images build "$@"
