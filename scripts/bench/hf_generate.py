"""HF engine decode throughput and MIS-PO keep, one decoding mode beside the other, same prompts and sampling:

- `dynamic`: `model.generate` with the dynamic KV cache (rollout.hf.decoder=generate)
- `static`: `model.generate` with transformers' static cache, compiled on CUDA (decoder=generate, static_cache)
- `own_eager`: the engine's own decoding loop (rollout/static_decoder.py), every step eager
- `own`: the same loop with the decode step captured once in a CUDA graph and replayed (decoder=own, the default
  on CUDA)
- `own_compiled`: `own` with the step's model forward compiled by torch.compile before capture (rollout.hf.compile)

Keep: the learner's logprobs (same weights, one full forward, rl/logprobs.py) against each mode's rollout logprobs
on the first `--keep-seqs` sequences, through the MIS-PO filters (default bands). Prints one JSON line per mode and
the speed-up of every mode over `dynamic`.

    python scripts/bench/hf_generate.py --preset qwen0.5b --batch 256 --prompt-tokens 128 --new-tokens 256
    python scripts/bench/hf_generate.py --model mispo-tiny --dtype float32 --batch 256 --prompt-tokens 28 \
        --new-tokens 32 --modes dynamic,own_eager                      # CPU: the project's tiny model
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

MODES = {
    "dynamic": dict(decoder="generate"),
    "static": dict(decoder="generate", static_cache=True),
    "own_eager": dict(decoder="own", cuda_graphs=False),
    "own": dict(decoder="own", cuda_graphs=True),
    "own_compiled": dict(decoder="own", cuda_graphs=True, compile=True),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="qwen0.5b", help="a Qwen2 shape of scripts/bench/weight_sync.py; '' for "
                    "--hidden/--layers")
    ap.add_argument("--model", default=None, help="a checkpoint (path or the project's tiny model names, "
                    "rl/model_source.py) instead of a random-init shape")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--prompt-tokens", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--keep-seqs", type=int, default=32)
    ap.add_argument("--modes", default="dynamic,own", help=f"comma-separated, of {list(MODES)}")
    ap.add_argument("--profile-steps", type=int, default=0,
                    help="then profile this many eager steps of the own decoder and print the top kernels")
    ap.add_argument("--json", default=None, help="append the results as one JSON line here")
    args = ap.parse_args()
    import torch

    from rollout.hf_engine import HFEngine
    from rollout.types import SamplingParams
    from scripts.bench.hf_decode_modes import keep_of
    from scripts.bench.weight_sync import build_model

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    results = {"bench": "hf_generate", "model": args.model, "preset": args.preset, "batch": args.batch,
               "prompt_tokens": args.prompt_tokens, "new_tokens": args.new_tokens, "dtype": args.dtype,
               "date": time.strftime("%Y-%m-%d"),
               "device": torch.cuda.get_device_name(0) if cuda else "cpu", "modes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        if args.model:
            from rl.model_source import resolve_model_path

            path = resolve_model_path(args.model)
        else:
            path, _ = build_model(Path(tmp) / "model", args.hidden, args.layers, args.preset or None, args.dtype)
        g = torch.Generator().manual_seed(0)
        prompts = [torch.randint(10, 400, (args.prompt_tokens,), generator=g).tolist() for _ in range(args.batch)]
        # a random-init model rarely emits eos, so every sequence decodes (about) the full length
        params = SamplingParams(n=1, temperature=1.0, max_new_tokens=args.new_tokens, seed=0)
        from transformers import AutoModelForCausalLM

        learner = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, args.dtype)).to(device).eval()
        for mode in args.modes.split(","):
            try:
                engine = HFEngine(str(path), dtype=args.dtype, batch_size=args.batch, **MODES[mode])
                t0 = time.perf_counter()
                engine.generate(prompts, params)  # warm-up: compilation / graph capture, allocation
                warm = time.perf_counter() - t0
            except Exception as exc:  # noqa: BLE001 - one mode this stack cannot run must not hide the others
                results["modes"][mode] = {"error": f"{type(exc).__name__}: {str(exc)[:400]}"}
                print(json.dumps({"mode": mode, **results["modes"][mode]}), flush=True)
                continue
            torch.cuda.synchronize() if cuda else None
            start = time.perf_counter()
            tokens = 0
            for _ in range(args.reps):
                out = engine.generate(prompts, params)
                tokens += sum(len(c[0].token_ids) for c in out)
            torch.cuda.synchronize() if cuda else None
            dt = time.perf_counter() - start
            samples = [(p, c[0].token_ids, c[0].logprobs) for p, c in zip(prompts, out)][: args.keep_seqs]
            row = {"tokens_per_s": round(tokens / dt, 1), "ms_per_step": round(1000 * dt / args.reps / max(
                1, max(len(c[0].token_ids) for c in out)), 2), "warmup_s": round(warm, 2),
                "decoder": "own" if engine.decoder is not None else "generate", **keep_of(learner, samples, device)}
            results["modes"][mode] = row
            print(json.dumps({"mode": mode, **row}), flush=True)
            del engine
            torch.cuda.empty_cache() if cuda else None
        if args.profile_steps:
            results["profile"] = profile(path, prompts, args, device)
    base = results["modes"].get("dynamic", {}).get("tokens_per_s")
    if base:
        results["speedup_over_dynamic"] = {m: round(r["tokens_per_s"] / base, 2) for m, r in results["modes"].items()
                                           if "tokens_per_s" in r}
        print(json.dumps({"speedup_over_dynamic": results["speedup_over_dynamic"]}))
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(results) + "\n")


def profile(path, prompts, args, device) -> list[dict]:
    """Where the device time of one own-decoder call goes: the top kernels by total device time (eager steps, so
    every kernel is attributed to an operator)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from rollout.hf_engine import HFEngine
    from rollout.types import SamplingParams

    engine = HFEngine(str(path), dtype=args.dtype, batch_size=args.batch, decoder="own", cuda_graphs=False)
    params = SamplingParams(n=1, temperature=1.0, max_new_tokens=args.profile_steps, seed=0)
    engine.generate(prompts, params)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch_profile(activities=activities) as prof:
        engine.generate(prompts, params)
    key = "device_time_total" if device.type == "cuda" else "cpu_time_total"
    events = sorted(prof.key_averages(), key=lambda e: getattr(e, key, 0), reverse=True)
    rows = [{"op": e.key[:80], "ms_per_step": round(getattr(e, key, 0) / 1000 / args.profile_steps, 3),
             "calls_per_step": round(e.count / args.profile_steps, 1)} for e in events[:25]]
    print(prof.key_averages().table(sort_by=key, row_limit=25, max_name_column_width=60), flush=True)
    del engine
    return rows


if __name__ == "__main__":
    main()
