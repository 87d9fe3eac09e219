#!/usr/bin/env bash
# NCCL weight sync on two GPUs (device kind nvidia-h200-x2): (1) the weight-sync benchmark for a random-init
# Qwen2.5-0.5B-shape model in bf16, learner-side sender on GPU 0 -> HF engine on GPU 1, NCCL vs object store;
# (2) a short training run with rollout.weight_sync=nccl (actor+critic on GPU 0, the engine on GPU 1).
set -euo pipefail
source scripts/gpu/setup_env.sh
python3 scripts/bench/weight_sync.py --preset qwen0.5b --dtype bfloat16 --methods nccl ray_gpu --reps 5 \
  | tee "${OUT:-/tmp}/nccl_bench.jsonl"
python3 -m rl.train --config mispo_math_code.yaml trainer.run_dir="${OUT:-/tmp}/nccl_run" trainer.total_steps=6 \
  model.dtype=bfloat16 actor.num_gpus_per_worker=0.5 critic.num_gpus_per_worker=0.5 rollout.num_gpus_per_worker=1 \
  rollout.weight_sync=nccl logging.wandb.mode=disabled logging.progress_bar=false \
  "data.train_files=[data/math_train.jsonl]" "data.domain_weights.code=0" "$@"
