"""HF engine decode throughput: dynamic KV cache vs static KV cache (compiled by transformers on CUDA), same
prompts, same sampling; prints tokens/s for each and the speed-up.

    python scripts/bench/hf_generate.py [--preset qwen0.5b] [--batch 64] [--new-tokens 128] [--dtype bfloat16]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="qwen0.5b")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--prompt-tokens", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    import torch

    from rollout.hf_engine import HFEngine
    from rollout.types import SamplingParams
    from scripts.bench.weight_sync import build_model

    with tempfile.TemporaryDirectory() as tmp:
        path, _ = build_model(Path(tmp) / "model", 0, 0, args.preset, args.dtype)
        g = torch.Generator().manual_seed(0)
        prompts = [torch.randint(10, 400, (args.prompt_tokens,), generator=g).tolist() for _ in range(args.batch)]
        # min_new_tokens-like: a random model rarely emits eos, so every sequence decodes the full length
        params = SamplingParams(n=1, temperature=1.0, max_new_tokens=args.new_tokens, seed=0)
        rows = {}
        for static in (False, True):
            engine = HFEngine(str(path), dtype=args.dtype, batch_size=args.batch, static_cache=static)
            engine.generate(prompts, params)  # warm-up (and compilation for the static cache)
            torch.cuda.synchronize() if torch.cuda.is_available() else None
            start = time.perf_counter()
            tokens = 0
            for _ in range(args.reps):
                out = engine.generate(prompts, params)
                tokens += sum(len(c[0].token_ids) for c in out)
            torch.cuda.synchronize() if torch.cuda.is_available() else None
            rows["static" if static else "dynamic"] = tokens / (time.perf_counter() - start)
            print(json.dumps({"cache": "static" if static else "dynamic", "tokens_per_s": round(rows[
                "static" if static else "dynamic"], 1), "batch": args.batch, "new_tokens": args.new_tokens}), flush=True)
            del engine
            torch.cuda.empty_cache() if torch.cuda.is_available() else None
        print(json.dumps({"static_speedup": round(rows["static"] / rows["dynamic"], 2)}))


if __name__ == "__main__":
    main()
