#!/usr/bin/env bash
# The self-distillation merge on the CPU default (docs/distill.md): builds the tiny base and the math/code experts
# when missing, runs `python -m distill.merge --config distill_merge.yaml`, prints the per-domain report.
#   scripts/distill.sh                              math + code (the code verifier needs Docker)
#   scripts/distill.sh domains.code.enabled=false   math only
# Any dotted.key=value argument overrides configs/distill_merge.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
"$PYTHON" -m rl.tiny_model.build > /dev/null
exec "$PYTHON" -m distill.merge --config distill_merge.yaml "$@"
