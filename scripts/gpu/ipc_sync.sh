#!/usr/bin/env bash
# CUDA IPC weight sync on one GPU (learner and HF engine colocated): the benchmark for a random-init
# Qwen2.5-0.5B-shape model in bf16 (IPC vs object store), then a short training run with rollout.weight_sync=cuda_ipc.
set -euo pipefail
source scripts/gpu/setup_env.sh
python3 scripts/bench/weight_sync.py --preset qwen0.5b --dtype bfloat16 --methods cuda_ipc ray_colocated --reps 5 \
  | tee "${OUT:-/tmp}/ipc_bench.jsonl"
bash scripts/gpu/smoke_train.sh trainer.run_dir="${OUT:-/tmp}/ipc_run" trainer.total_steps=6 rollout.weight_sync=cuda_ipc "$@"
