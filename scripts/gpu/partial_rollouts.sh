#!/usr/bin/env bash
# Async training with and without partial rollouts on two GPUs (device kind nvidia-h200-x2): actor + critic on
# GPU 0, the HF engine on GPU 1, weights by NCCL (scripts/bench/partial_rollouts.py prints the comparison).
set -euo pipefail
source scripts/gpu/setup_env.sh
python3 scripts/bench/partial_rollouts.py --config mispo_math_code.yaml --steps 8 model.dtype=bfloat16 \
  actor.num_gpus_per_worker=0.5 critic.num_gpus_per_worker=0.5 rollout.num_gpus_per_worker=1 \
  rollout.weight_sync=nccl rollout.prompts_per_step=64 rollout.samples_per_prompt=8 rollout.max_new_tokens=128 \
  actor.micro_batch_size=64 critic.micro_batch_size=64 "data.train_files=[data/math_train.jsonl]" \
  "data.domain_weights.code=0" "$@"
