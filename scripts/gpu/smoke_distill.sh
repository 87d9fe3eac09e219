#!/usr/bin/env bash
# GPU smoke run of SFT and the merge (device tool, one GPU, no Docker): bf16 SFT of the math expert, then a
# math-only merge with top-k logit distillation and a few on-policy distillation steps, engines on the GPU.
#   bash scripts/gpu/smoke_distill.sh [extra merge overrides...]      (needs gpu_wheels/ carried; the tiny models install from data/tiny_models into gpu_cache/)
set -euo pipefail
source scripts/gpu/setup_env.sh
out=${OUT:-/tmp}
python3 -m pytest -q -p no:cacheprovider tests/unit/test_sft_packing.py tests/unit/test_sft_distill.py 2>&1 | tail -3 || true
python3 -m distill.merge --config distill_merge.yaml run.dir="$out/merge" domains.code.enabled=false \
  "experts.math_expert.sft_overrides=[trainer.run_dir=$out/math_expert,logging.progress_bar=false]" \
  model.dtype=bfloat16 student.topk_logits.topk=8 on_policy.steps=10 logging.progress_bar=false "$@"
grep -h '"step": 80' "$out/math_expert/metrics.jsonl" | head -1
python3 - "$out" <<'PY'
import json, sys, torch
from safetensors.torch import load_file
out = sys.argv[1]
sd = load_file(f"{out}/merge/student/checkpoints/final/model.safetensors")
print("student checkpoint dtype:", {str(v.dtype) for v in sd.values()}, "cuda:", torch.cuda.get_device_name(0))
print(json.dumps(json.load(open(f"{out}/merge/merge_details.json"))["seconds"]))
PY
