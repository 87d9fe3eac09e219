#!/usr/bin/env bash
# One RL step of a random-init Qwen2-7B shape on one GPU: ZeRO-3 actor with CPU optimizer offload, gradient
# checkpointing, GRPO (no critic: two 7B optimizer states do not fit in host RAM), the HF engine colocated on the
# same GPU (cuda_ipc sync). Records peak GPU memory (nvidia-smi) and host RAM. Usage (device, repo root):
#   bash scripts/gpu/zero3_7b.sh [shape=7b] [extra overrides...]
set -euo pipefail
source scripts/gpu/setup_env.sh
shape=${1:-7b}; shift || true
out=${OUT:-/tmp}
model=/tmp/qwen_${shape}
[ -f "$model/config.json" ] || python3 scripts/gpu/random_model.py "$model" "$shape"
nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 500 > "$out/gpu_mem_mib.txt" &
smi=$!
( while true; do free -m | awk '/Mem:/ {print $3}'; sleep 1; done ) > "$out/host_mem_mib.txt" &
freem=$!
start=$(date +%s)
python3 -m rl.train --config mispo_math_code.yaml trainer.run_dir=/tmp/run_$shape trainer.total_steps=${STEPS:-2} \
  model.path="$model" model.dtype=bfloat16 model.gradient_checkpointing=true algo.advantage=grpo \
  actor.zero_stage=3 actor.offload=optimizer actor.num_gpus_per_worker=0.5 rollout.num_gpus_per_worker=0.5 \
  rollout.weight_sync=cuda_ipc actor.micro_batch_size=4 actor.mini_batches=1 actor.lr=1e-6 \
  rollout.prompts_per_step=8 rollout.samples_per_prompt=4 rollout.max_new_tokens=64 \
  logging.wandb.mode=disabled logging.progress_bar=false \
  "data.train_files=[data/math_train.jsonl]" "data.domain_weights.code=0" "$@"
echo "wall_s $(( $(date +%s) - start ))"
kill $smi $freem || true
cp /tmp/run_$shape/metrics.jsonl "$out/metrics_$shape.jsonl"
echo "peak GPU MiB: $(sort -n "$out/gpu_mem_mib.txt" | tail -1)   peak host used MiB: $(sort -n "$out/host_mem_mib.txt" | tail -1)"
