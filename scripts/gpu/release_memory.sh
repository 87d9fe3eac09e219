#!/usr/bin/env bash
# Colocated layout on one GPU (device tool): the learner and the HF engine share the GPU; the same short GRPO run
# with rollout.release_memory=false and =true, printing per step the phases, the engine's reserved memory after
# generating / after the release, and the actor update's peak. Usage (repo root; gpu_wheels/ carried):
#   bash scripts/gpu/release_memory.sh [SHAPE=1.5b] [STEPS=4] [extra overrides...]
set -euo pipefail
source scripts/gpu/setup_env.sh
shape=${1:-1.5b}; steps=${2:-4}; shift $(( $# < 2 ? $# : 2 ))
model=/tmp/random_$shape
[ -d "$model" ] || python3 scripts/gpu/random_model.py "$model" "$shape"
for release in false true; do
  run="${OUT:-/tmp}/release_${release}_$shape"
  python3 -m rl.train --config mispo_math_code.yaml model.path="$model" trainer.run_dir="$run" model.dtype=bfloat16 \
    actor.num_gpus_per_worker=0.3 critic.num_gpus_per_worker=0.3 rollout.num_gpus_per_worker=0.3 \
    logging.wandb.mode=disabled logging.progress_bar=false "data.train_files=[data/math_train.jsonl]" \
    data.domain_weights.code=0 data.domain_weights.math=1.0 algo.advantage=grpo algo.kl_coef=0 \
    trainer.total_steps="$steps" trainer.save_every=0 rollout.prompts_per_step=32 rollout.samples_per_prompt=8 \
    rollout.max_new_tokens=256 actor.mini_batches=2 actor.micro_batch_size=32 actor.max_tokens_per_micro=16384 \
    actor.zero_stage=0 rollout.weight_sync=cuda_ipc rollout.release_memory=$release "$@" > "$run.log" 2>&1 \
    || { tail -40 "$run.log"; exit 1; }
  echo "rollout.release_memory=$release ($shape):"
  python3 - "$run/metrics.jsonl" <<'PY'
import json, sys
keys = ("time/step_s", "time/rollout_and_reward_s", "time/old_logprob_s", "time/update_s", "time/sync_s",
        "rollout/engine_reserved_gib", "rollout/engine_reserved_gib_released", "actor/peak_memory_gib")
for line in open(sys.argv[1]):
    row = json.loads(line)
    print("  step", row["step"], {k.split("/")[1]: round(row[k], 3) for k in keys if k in row})
PY
done
