#!/usr/bin/env bash
# GPU smoke run for the device tool (one H100, no internet): a short bf16 training with the learner and the HF
# engine sharing the GPU. Usage (repo root, on the device; needs gpu_wheels/ carried; the tiny models install from data/tiny_models into gpu_cache/):
#   bash scripts/gpu/smoke_train.sh [extra overrides...]
set -euo pipefail
source scripts/gpu/setup_env.sh
python3 -m rl.train --config mispo_math_code.yaml trainer.run_dir="${OUT:-/tmp}/gpu_run" \
  model.dtype=bfloat16 actor.num_gpus_per_worker=0.3 critic.num_gpus_per_worker=0.3 rollout.num_gpus_per_worker=0.3 \
  logging.wandb.mode=disabled logging.progress_bar=false \
  "data.train_files=[data/math_train.jsonl]" "data.domain_weights.code=0" "$@"  # no Docker on the GPU box
