#!/usr/bin/env bash
# Async training with and without partial rollouts on two GPUs (device kind nvidia-h200-x2): actor + critic on
# GPU 0, the HF engine on GPU 1, weights by NCCL. Prints, per run, the mean weight-sync wait (time/sync_s), step
# time, the share of trajectories that span two policy versions and the per-token staleness.
set -euo pipefail
source scripts/gpu/setup_env.sh
common=(--config mispo_math_code.yaml trainer.total_steps=8 model.dtype=bfloat16 actor.num_gpus_per_worker=0.5
  critic.num_gpus_per_worker=0.5 rollout.num_gpus_per_worker=1 rollout.weight_sync=nccl rollout.mode=async
  rollout.prompts_per_step=64 rollout.samples_per_prompt=8 rollout.max_new_tokens=128 actor.micro_batch_size=64
  critic.micro_batch_size=64 logging.wandb.mode=disabled logging.progress_bar=false
  "data.train_files=[data/math_train.jsonl]" "data.domain_weights.code=0")
for partial in false true; do
  python3 -m rl.train "${common[@]}" trainer.run_dir="${OUT:-/tmp}/async_partial_$partial" \
    rollout.partial_rollouts=$partial rollout.segment_tokens=16 "$@" > "${OUT:-/tmp}/async_partial_$partial.log" 2>&1
  python3 - "${OUT:-/tmp}/async_partial_$partial/metrics.jsonl" "$partial" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])][1:]  # step 1 has no overlapping rollout
mean = lambda k: sum(r.get(k, 0.0) for r in rows) / len(rows)
print(json.dumps({"partial_rollouts": sys.argv[2], "steps": len(rows), "sync_s": round(mean("time/sync_s"), 3),
                  "step_s": round(mean("time/step_s"), 3), "rollout_s": round(mean("time/rollout_and_reward_s"), 3),
                  "partial_frac": round(mean("rollout/partial_frac"), 3),
                  "staleness_token_mean": round(mean("policy/staleness_token_mean"), 3),
                  "keep_frac": round(mean("mispo/keep_frac"), 3), "reward": round(mean("reward/mean"), 3)}))
PY
done
