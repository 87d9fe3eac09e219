"""Learner throughput: the product's actor (rl/learner.py, DeepSpeed) on one batch of mixed-length sequences, padded
micro-batches (the default path) vs packed padding-free token-budget micro-batches with chunked logprobs, in one
run. Prints tokens/s and MFU: model FLOPs (6N per token + attention, rl/perf.py) per second over the device's bf16
peak (table) and over a bf16 matmul measured in the same run.

    python scripts/bench/learner.py                       # CPU: the tiny model
    python scripts/bench/learner.py --shape 0.5b --seqs 8 --max-len 2048 --dtype bfloat16   # GPU
Variants: --variants padded,packed,packed-compiled,packed-sdpa,packed-flex (packed: the learners' varlen attention,
rl/varlen_attention.py; packed-compiled: + `actor.compile`, rl/compile_regions.py; packed-sdpa: transformers' SDPA
with a block-diagonal mask; packed-flex: flex attention).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def matmul_tflops(device, dtype, n: int = 8192, reps: int = 20) -> float:
    """Achieved TFLOP/s of a square matmul (the practical peak this run can reach)."""
    import torch

    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e12


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def build_model(out: Path, shape: str, device) -> str:
    """A random-init model of `shape` (scripts/gpu/random_model.py SHAPES) or the tiny model ('tiny')."""
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from rl.model_source import resolve_model_path

    if shape == "tiny":
        return resolve_model_path("mispo-tiny")
    from scripts.gpu.random_model import SHAPES

    tok = AutoTokenizer.from_pretrained(resolve_model_path("mispo-tiny"))
    cfg = Qwen2Config(**SHAPES[shape], max_position_embeddings=8192, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2ForCausalLM(cfg).to(torch.bfloat16)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


def make_batch(vocab: int, seqs: int, max_len: int, prompt: int, seed: int = 0):
    """`seqs` sequences with lengths spread over [max_len/8, max_len] (the longest is max_len), right-padded."""
    import torch

    from rl.batch import TrainBatch

    g = torch.Generator().manual_seed(seed)
    lengths = [max_len] + torch.randint(max_len // 8, max_len + 1, (seqs - 1,), generator=g).tolist()
    ids = torch.zeros(seqs, max_len, dtype=torch.long)
    am = torch.zeros(seqs, max_len, dtype=torch.long)
    mask = torch.zeros(seqs, max_len - 1)
    for i, n in enumerate(lengths):
        ids[i, :n] = torch.randint(10, vocab, (n,), generator=g)
        am[i, :n] = 1
        mask[i, prompt - 1: n - 1] = 1
    adv = torch.randn(seqs, 1, generator=g) * mask
    z = torch.zeros_like(mask)
    return TrainBatch(ids, am, mask, z, adv, z, z, z, z), lengths


def label_phases(learner) -> None:
    """Wrap the update's phases (logprob forward, DeepSpeed backward, DeepSpeed step) in profiler ranges."""
    from torch.profiler import record_function

    def wrap(obj, attr: str, label: str) -> None:
        orig = getattr(obj, attr)

        def wrapped(*a, **k):
            with record_function(label):
                return orig(*a, **k)
        setattr(obj, attr, wrapped)

    wrap(learner, "_logprobs", "phase.forward")
    wrap(learner.engine, "backward", "phase.backward")
    wrap(learner.engine, "step", "phase.step")


def print_sync_sites(fn) -> None:
    """Run `fn` with torch's CUDA sync debug mode on and print where host-device synchronisations happen (the
    innermost frames of mispo and DeepSpeed on the stack of each)."""
    import collections
    import traceback
    import warnings

    import torch

    sites: collections.Counter = collections.Counter()

    def record(message, category, filename, lineno, file=None, line=None):
        if "synchroniz" not in str(message):
            return
        stack = traceback.extract_stack()[:-1]
        ours = [f for f in stack if "/rl/" in f.filename or "deepspeed" in f.filename]
        inner = [f for f in stack if "/torch/" not in f.filename and "warnings" not in f.filename]
        name = " < ".join(dict.fromkeys(f"{'/'.join(Path(f.filename).parts[-2:])}:{f.lineno}"
                                        for f in (inner[-1:] + ours[-1:]))) or "autograd (no Python frame)"
        sites[name] += 1

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = record
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    print("    host syncs by Python line: " + (", ".join(f"{k} x{v}" for k, v in sites.most_common(20)) or "none"),
          flush=True)


def run_variant(name: str, model_path: str, batch, args, device) -> dict:
    import torch

    from config.common import ModelConfig
    from config.rl import ActorConfig, AlgoConfig
    from rl.learner import Learner

    packed = name.startswith("packed")
    role = dict(lr=1e-6, mini_batches=1, zero_stage=args.zero_stage, torch_threads=0,
                compile=name.endswith("-compiled"), master_weights=args.master_weights)
    if packed:
        role.update(max_tokens_per_micro=args.tokens_per_micro, logprob_chunk_tokens=args.chunk_tokens,
                    micro_batch_size=len(batch))
    else:
        role.update(micro_batch_size=args.micro_batch)
    gas = 1 if packed else -(-len(batch) // args.micro_batch)
    model_cfg = ModelConfig(path=model_path, dtype=args.dtype, gradient_checkpointing=args.gradient_checkpointing,
                            attn_implementation={"packed-sdpa": "sdpa", "packed-flex": "flex_attention"}.get(name))
    learner = Learner(model_path, model_cfg, ActorConfig(**role), AlgoConfig(advantage="grpo"), 1.0, gas, 0, 1,
                      "127.0.0.1", args.port, 0)
    olds = learner.compute_old_logprobs(batch)
    batch = batch.with_(old_logprobs=olds.old, rollout_logprobs=olds.old, ref_logprobs=olds.ref)
    counts = None
    if packed:
        from rl.packing import budget_count

        counts = [budget_count(batch, args.tokens_per_micro)]
    for _ in range(args.warmup):
        learner.update([batch], [float(batch.response_mask.sum())], (0.5, 2.0), counts)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(args.reps):
        learner.update([batch], [float(batch.response_mask.sum())], (0.5, 2.0), counts)
    sync(device)
    update_s = (time.perf_counter() - t0) / args.reps
    t0 = time.perf_counter()
    for _ in range(args.reps):
        learner.compute_old_logprobs(batch)
    sync(device)
    old_s = (time.perf_counter() - t0) / args.reps
    if args.profile:  # where an update's time goes, by operator (the next bottleneck)
        from torch.profiler import ProfilerActivity, profile

        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        label_phases(learner)
        with profile(activities=acts) as prof:
            learner.update([batch], [float(batch.response_mask.sum())], (0.5, 2.0), counts)
            sync(device)
        if device.type == "cuda":  # which lines of Python make the update wait for the GPU
            print_sync_sites(partial(learner.update, [batch], [float(batch.response_mask.sum())], (0.5, 2.0), counts))
        key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
        table = prof.key_averages()
        print(f"--- {name}: top operators by {key}\n" + table.table(sort_by=key, row_limit=18), flush=True)
        # host side: the phases' CPU time against the device time they launch (GPU idle = host-bound)
        phases = [e for e in table if e.key.startswith("phase.") or e.key.startswith("cuda") or "Synchronize" in e.key]
        for e in sorted(phases, key=lambda e: -e.cpu_time_total)[:12]:
            print(f"    {e.key:<40} calls {e.count:>5}  host {e.cpu_time_total / 1e3:8.2f} ms", flush=True)
    peak_mem = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    del learner
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    return {"update_s": update_s, "old_logprob_s": old_s, "peak_gib": peak_mem}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", default="tiny", help="tiny | 0.5b | 1.5b | 7b")
    ap.add_argument("--seqs", type=int, default=8)
    ap.add_argument("--max-len", type=int, default=256)
    ap.add_argument("--prompt", type=int, default=64)
    ap.add_argument("--dtype", default=None, help="default: bfloat16 on CUDA, float32 on CPU")
    ap.add_argument("--micro-batch", type=int, default=8, help="padded path: sequences per micro-batch")
    ap.add_argument("--tokens-per-micro", type=int, default=16384, help="packed path: actor.max_tokens_per_micro")
    ap.add_argument("--chunk-tokens", type=int, default=4096, help="packed path: actor.logprob_chunk_tokens")
    ap.add_argument("--zero-stage", type=int, default=1)
    ap.add_argument("--gradient-checkpointing", action="store_true")
    ap.add_argument("--master-weights", default="auto",
                    help="actor.master_weights: auto (flat on a GPU at ZeRO-0) | flat | deepspeed")
    ap.add_argument("--variants", default="padded,packed")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--port", type=int, default=29512)
    ap.add_argument("--profile", action="store_true", help="print the top operators of one update per variant")
    ap.add_argument("--out", default=None, help="append the JSON result to this file")
    args = ap.parse_args()
    import torch

    from rl.perf import model_flops, peak_tflops

    device = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    args.dtype = args.dtype or ("bfloat16" if device.type == "cuda" else "float32")
    with tempfile.TemporaryDirectory() as tmp:
        path = build_model(Path(tmp) / "model", args.shape, device)
        flops = model_flops(path)
        from transformers import AutoConfig

        batch, lengths = make_batch(AutoConfig.from_pretrained(path).vocab_size, args.seqs, args.max_len, args.prompt)
        name = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"
        table_peak, _ = peak_tflops(name)
        mm = matmul_tflops(device, getattr(torch, args.dtype), 8192 if device.type == "cuda" else 1024,
                           20 if device.type == "cuda" else 3)
        tokens = sum(lengths)
        train_flops, fwd_flops = flops.train(lengths), flops.forward(lengths)
        result = {"bench": "learner", "device": name, "shape": args.shape, "dtype": args.dtype, "seqs": args.seqs,
                  "max_len": args.max_len, "real_tokens": tokens, "padded_tokens": args.seqs * args.max_len,
                  "gradient_checkpointing": args.gradient_checkpointing, "zero_stage": args.zero_stage,
                  "master_weights": args.master_weights, "matmul_tflops": round(mm, 1),
                  "table_peak_tflops": table_peak, "date": time.strftime("%Y-%m-%d"), "variants": {}}
        for variant in args.variants.split(","):
            r = run_variant(variant, path, batch, args, device)
            achieved = train_flops / r["update_s"] / 1e12
            r.update(tokens_per_s=tokens / r["update_s"], model_tflops=achieved,
                     mfu_vs_matmul=achieved / mm, mfu_vs_table=achieved / table_peak if table_peak else None,
                     old_logprob_tokens_per_s=tokens / r["old_logprob_s"],
                     old_logprob_mfu_vs_matmul=fwd_flops / r["old_logprob_s"] / 1e12 / mm)
            result["variants"][variant] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}
            print(f"{variant:>12}: update {r['update_s']:.3f} s = {r['tokens_per_s']:,.0f} tokens/s, "
                  f"{achieved:.1f} TFLOP/s = {100 * r['mfu_vs_matmul']:.1f}% of the measured matmul ({mm:.0f})"
                  + (f", {100 * r['mfu_vs_table']:.1f}% of the {table_peak:.0f} table peak" if table_peak else "")
                  + f"; pi_old pass {r['old_logprob_tokens_per_s']:,.0f} tokens/s; peak {r['peak_gib']:.1f} GiB",
                  flush=True)
        v = result["variants"]
        if "padded" in v and "packed" in v:
            print(f"packed / padded speed-up: {v['padded']['update_s'] / v['packed']['update_s']:.2f}x")
        print(json.dumps(result))
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
