"""The HF engine's GPU memory across generations on the device: per call, allocated/reserved GiB after generating
and after `release_memory()` (rollout.release_memory), with a weight update between calls, so growth from call to
call (a leak) shows. Usage (repo root, device tool, after `source scripts/gpu/setup_env.sh`):
    python3 scripts/gpu/engine_memory.py MODEL_DIR [CALLS=6] [release|keep]"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main(model: str, calls: int = 6, mode: str = "release") -> None:
    import torch

    from rollout.hf_engine import HFEngine
    from rollout.types import SamplingParams

    engine = HFEngine(model, dtype="bfloat16", batch_size=256)
    g = torch.Generator().manual_seed(0)
    prompts = [torch.randint(10, 400, (40,), generator=g).tolist() for _ in range(32)]
    params = SamplingParams(n=8, temperature=1.0, max_new_tokens=256, seed=0)

    def gib() -> tuple[float, float]:
        return round(torch.cuda.memory_allocated() / 2**30, 3), round(torch.cuda.memory_reserved() / 2**30, 3)

    for call in range(calls):
        engine.generate(prompts, params)
        row = {"call": call, "after_generate": gib()}
        if mode == "release":
            engine.release_memory()
            row["after_release"] = gib()
        engine.update_weights({k: v.clone() for k, v in engine.model.state_dict().items()}, call + 1)
        row["after_update"] = gib()
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 6, sys.argv[3] if len(sys.argv) > 3 else "release")
