#!/usr/bin/env bash
# GPU smoke run for the device tool (one H100, no internet): install the carried wheelhouse, then a short
# bf16 training with the learner and the HF engine sharing the GPU. Usage (from the repo root, on the device):
#   bash scripts/gpu/smoke_train.sh [extra overrides...]     (needs gpu_wheels/ and gpu_cache/ carried)
set -euo pipefail
root=$(pwd)
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$root"/gpu_wheels/*.whl
if [ ! -d /tmp/site/deepspeed ]; then
  (cd /tmp && tar xzf "$root"/gpu_wheels/deepspeed-*.tar.gz && cd deepspeed-0.19.8 && \
   DS_BUILD_OPS=0 python3 -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/site .)
fi
export PYTHONPATH=/tmp/site:$root MISPO_CACHE=$root/gpu_cache
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -m rl.train --config mispo_math_code.yaml trainer.run_dir="${OUT:-/tmp}/gpu_run" \
  model.dtype=bfloat16 actor.num_gpus_per_worker=0.3 critic.num_gpus_per_worker=0.3 rollout.num_gpus_per_worker=0.3 \
  logging.wandb.mode=disabled logging.progress_bar=false "$@"
