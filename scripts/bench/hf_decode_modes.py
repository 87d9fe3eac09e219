"""GPU rollout without vLLM, measured: decode throughput and MIS-PO keep (bf16) of the HF engine's
`generate` path (dynamic KV cache; static cache with `--static`; the own decoding loop is scripts/bench/hf_generate.py)
beside transformers' continuous batching (`generate_batch`:
paged attention, CUDA graphs, logprobs returned), same prompts and sampling, in one run.

Keep: the learner's logprobs (the same bf16 weights, full forward, rl/logprobs.py) against each mode's rollout
logprobs on the first `--keep-seqs` sequences, through the MIS-PO filters (rl/algos/mispo.py, default bands).

    python scripts/bench/hf_decode_modes.py --batch 256 --prompt-tokens 128 --new-tokens 256
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def keep_of(model, samples, device) -> dict[str, float]:
    """MIS-PO token/trajectory keep of (prompt ids, response ids, rollout logprobs) samples under `model`."""
    import torch

    from rl.algos.mispo import mispo_filters
    from rl.logprobs import sequence_logprobs

    rows = []
    for prompt, resp, lps in samples:
        ids = torch.tensor([prompt + resp], device=device)
        with torch.no_grad():
            lp, _ = sequence_logprobs(model, ids, torch.ones_like(ids), 1.0)
        old = lp[0, len(prompt) - 1: len(prompt) - 1 + len(resp)].float().cpu()
        rows.append((old, torch.tensor(lps, dtype=torch.float32)))
    width = max(len(o) for o, _ in rows)
    old = torch.zeros(len(rows), width)
    roll = torch.zeros(len(rows), width)
    mask = torch.zeros(len(rows), width)
    for i, (o, r) in enumerate(rows):
        old[i, : len(o)], roll[i, : len(r)], mask[i, : len(o)] = o, r, 1
    f = mispo_filters(old, roll, mask)
    return {"token_keep": float((f.token_keep * mask).sum() / mask.sum()), "traj_keep": float(f.traj_keep.float().mean()),
            "max_abs_logprob_diff": float(((old - roll) * mask).abs().max())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="qwen0.5b")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--new-tokens", type=int, default=256)
    ap.add_argument("--keep-seqs", type=int, default=32)
    ap.add_argument("--static", action="store_true", help="also the HF engine with the static cache")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    from rollout.hf_engine import HFEngine
    from rollout.types import SamplingParams
    from scripts.bench.weight_sync import build_model

    device = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    results = {"bench": "hf_decode_modes", "batch": args.batch, "prompt_tokens": args.prompt_tokens,
               "new_tokens": args.new_tokens, "date": time.strftime("%Y-%m-%d"),
               "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu", "modes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        path, _ = build_model(Path(tmp) / "model", 0, 0, args.preset, "bfloat16")
        g = torch.Generator().manual_seed(0)
        prompts = [torch.randint(10, 400, (args.prompt_tokens,), generator=g).tolist() for _ in range(args.batch)]
        learner = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16).to(device).eval()
        for static in ([False, True] if args.static else [False]):
            name = "hf_static" if static else "hf_dynamic"
            engine = HFEngine(str(path), dtype="bfloat16", batch_size=args.batch, static_cache=static,
                              decoder="generate")  # the own loop is measured by hf_generate.py
            params = SamplingParams(n=1, temperature=1.0, max_new_tokens=args.new_tokens, seed=0)
            engine.generate(prompts[:8], params)
            t0 = time.perf_counter()
            out = engine.generate(prompts, params)
            dt = time.perf_counter() - t0
            tokens = sum(len(c[0].token_ids) for c in out)
            samples = [(p, c[0].token_ids, c[0].logprobs) for p, c in zip(prompts, out)][: args.keep_seqs]
            results["modes"][name] = {"tokens_per_s": tokens / dt, **keep_of(learner, samples, device)}
            print(name, json.dumps(results["modes"][name]), flush=True)
            del engine
            torch.cuda.empty_cache() if device.type == "cuda" else None
        try:
            from transformers.generation.configuration_utils import ContinuousBatchingConfig

            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16).to(device).eval()
            gen = GenerationConfig(do_sample=True, temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=args.new_tokens,
                                   eos_token_id=model.config.eos_token_id, pad_token_id=model.config.pad_token_id)
            cb = ContinuousBatchingConfig(return_logprobs=True)
            model.generate_batch(prompts[:8], gen, cb)
            t0 = time.perf_counter()
            out = model.generate_batch(prompts, gen, cb)
            dt = time.perf_counter() - t0
            outs = list(out.values())
            tokens = sum(len(o.generated_tokens) for o in outs)
            by_prompt = {tuple(o.prompt_ids): o for o in outs}
            samples = [(p, by_prompt[tuple(p)].generated_tokens, by_prompt[tuple(p)].logprobs)
                       for p in prompts[: args.keep_seqs] if tuple(p) in by_prompt]
            results["modes"]["continuous_batching"] = {"tokens_per_s": tokens / dt,
                                                       **keep_of(learner, samples, device)}
        except Exception as exc:  # noqa: BLE001 - report what this transformers version lacks, keep the others
            results["modes"]["continuous_batching"] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
        print("continuous_batching", json.dumps(results["modes"]["continuous_batching"]), flush=True)
    print(json.dumps(results))
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps(results) + "\n")


if __name__ == "__main__":
    main()
