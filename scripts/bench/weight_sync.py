"""Weight-sync benchmark: seconds per full policy sync and GB/s for each method available on this machine.

    python scripts/bench/weight_sync.py [--hidden 512] [--layers 8] [--reps 3] [--methods ray hf_local vllm]

Builds a random Qwen2-shape model of the requested size (fp32), then times a full sync of its state dict (tied
weights once, as the learner sends them):
- hf_local:  load_state_dict into an HF model in the same process (the floor: a memory copy)
- ray:       learner actor -> Ray object store -> HF rollout worker actor, numpy payload read zero-copy
             (rollout/weights/object_store.py; rl/weight_sync.py drives every method below)
- ray_tensors: the same with plain torch tensors (pickled in-band), for comparison
- vllm:      state dict -> in-memory safetensors buckets -> collective_rpc -> vLLM worker reload (+ CPU repack)
- gloo:      (CPU) learner rank 0 broadcasts over a gloo weight group -> HF rollout worker actor
             (rollout.weight_sync=gloo, the CPU twin of nccl)
- vllm_gloo: the same broadcast received inside vLLM's worker process (worker extension) and loaded (+ repack)
- nccl:      (2+ GPUs) learner-side sender on GPU 0 -> RolloutWorker's HF engine on GPU 1 through the
             bucketed NCCL weight group (rollout/weights/nccl.py; rollout.weight_sync=nccl), broadcast + load
- ray_gpu:   (2+ GPUs) the object-store path between the same two GPUs (GPU -> host -> object store -> GPU)
- cuda_ipc:  (1 GPU) sender and engine colocated on one GPU; IPC handles to the sender's buckets, copy on GPU
- ray_colocated: (1 GPU) the object-store path between the same colocated pair
`--preset qwen0.5b` builds a random-init Qwen2.5-0.5B-shape model (494M parameters); `--dtype bfloat16`.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


PRESETS = {"qwen0.5b": dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                            num_attention_heads=14, num_key_value_heads=2)}


def build_model(out: Path, hidden: int, layers: int, preset: str | None = None,
                dtype: str = "float32") -> tuple[Path, int]:
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from rl.model_source import resolve_model_path

    tok = AutoTokenizer.from_pretrained(resolve_model_path("mispo-tiny"))
    torch.manual_seed(0)
    shape = PRESETS[preset] if preset else dict(
        vocab_size=len(tok), hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 64), num_key_value_heads=max(1, hidden // 128))
    cfg = Qwen2Config(**shape, max_position_embeddings=1024, tie_word_embeddings=True, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id, torch_dtype=dtype)
    model = Qwen2ForCausalLM(cfg).to(getattr(torch, dtype))
    model.save_pretrained(out)
    tok.save_pretrained(out)
    from rollout.weights.payload import without_tied

    nbytes = sum(t.numel() * t.element_size() for t in without_tied(model.state_dict()).values())  # tied: once
    return out, nbytes


def time_reps(fn, reps: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps


def bench_hf_local(path: Path, reps: int) -> float:
    from transformers import AutoModelForCausalLM

    from rollout.weights.payload import without_tied

    src, dst = AutoModelForCausalLM.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path)
    return time_reps(lambda: dst.load_state_dict({k: v.clone() for k, v in without_tied(src.state_dict()).items()},
                                                 strict=False), reps)


class _SenderStandIn:
    """Learner rank 0 stand-in: holds the model on its device and serves the Learner's weight-sync methods
    (rl/learner.py: endpoint, open_weight_sender, send_weights, weights_sent) with the product's backends."""

    def __init__(self, path: str, dtype: str = "float32", zero_copy: bool = True) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
        if torch.cuda.is_available():
            self.model = self.model.cuda()
        self.zero_copy = zero_copy

    def _sd(self) -> dict:
        from rollout.weights.payload import without_tied

        return without_tied(self.model.state_dict())  # what Learner._policy_weights sends

    def endpoint(self) -> tuple[str, int]:
        import ray

        from rl.ports import free_port

        return ray.util.get_node_ip_address(), free_port()

    def open_weight_sender(self, spec):
        from rollout.weights.base import setup_weight_sender
        from rollout.weights.source import StateDictSource

        self.sender = setup_weight_sender(spec)
        return self.sender.open(spec, StateDictSource(self._sd()))

    def send_weights(self):
        from rollout.weights.source import StateDictSource

        if not self.zero_copy:  # plain tensors, pickled in-band (the comparison for the zero-copy payload)
            return {k: v.detach().cpu().clone() for k, v in self._sd().items()}
        return self.sender.send(StateDictSource(self._sd()))

    def weights_sent(self) -> None:
        self.sender.release()


def _bench_product_sync(path: Path, reps: int, method: str, dtype: str = "float32", gpus: float = 0.0,
                        zero_copy: bool = True, engine: str = "hf") -> float:
    """rl/weight_sync.py's WeightSync from a sender stand-in actor to one RolloutWorker actor."""
    import ray

    from config.rollout import RolloutConfig
    from rl.weight_sync import WeightSync
    from rollout.worker import RolloutWorker

    ray.init(include_dashboard=False, log_to_driver=False)
    try:
        cfg = RolloutConfig(engine=engine, weight_sync=method, torch_threads=1, generation_batch_size=8)
        if engine == "vllm":
            cfg.vllm.gpu_memory_utilization = 0.1
        sender = ray.remote(num_gpus=gpus)(_SenderStandIn).remote(str(path), dtype, zero_copy)
        worker = ray.remote(num_gpus=gpus)(RolloutWorker).remote(cfg, str(path), dtype)
        sync = WeightSync(cfg, sender, [worker])
        version = iter(range(1, 10**6))
        try:
            return time_reps(lambda: sync(next(version)), reps)
        finally:
            ray.get(worker.close.remote())
    finally:
        ray.shutdown()


def bench_ray(path: Path, reps: int, zero_copy: bool = True) -> float:
    return _bench_product_sync(path, reps, "object_store", zero_copy=zero_copy)


def bench_gpu_pair(path: Path, reps: int, dtype: str, nccl: bool = False, ipc: bool = False,
                   colocated: bool = False) -> float:
    method = "cuda_ipc" if ipc else "nccl" if nccl else "object_store"
    return _bench_product_sync(path, reps, method, dtype, gpus=0.5 if colocated else 1)


def bench_vllm(path: Path, reps: int) -> float:
    from transformers import AutoModelForCausalLM

    from rollout.vllm_engine import VLLMEngine

    engine = VLLMEngine(str(path), gpu_memory_utilization=0.1, enforce_eager=True)
    sd = AutoModelForCausalLM.from_pretrained(path).state_dict()
    version = iter(range(1, 10**6))
    try:
        return time_reps(lambda: engine.update_weights(sd, next(version)), reps)
    finally:
        engine.close()


def bench_gloo(path: Path, reps: int, engine: str = "hf") -> float:
    """rollout.weight_sync=gloo: bucketed broadcast from the sender stand-in to an HF engine in a rollout worker
    (engine=hf) or into a vLLM engine's worker process (engine=vllm, through the worker extension)."""
    return _bench_product_sync(path, reps, "gloo", engine=engine)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--methods", nargs="+", default=["hf_local", "ray", "ray_tensors", "gloo", "vllm", "vllm_gloo"])
    p.add_argument("--preset", choices=sorted(PRESETS), default=None)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    args = p.parse_args()
    benches = {"hf_local": bench_hf_local, "ray": bench_ray, "vllm": bench_vllm, "gloo": bench_gloo,
               "vllm_gloo": lambda path, reps: bench_gloo(path, reps, engine="vllm"),
               "ray_tensors": lambda path, reps: bench_ray(path, reps, zero_copy=False),
               "nccl": lambda path, reps: bench_gpu_pair(path, reps, args.dtype, nccl=True),
               "ray_gpu": lambda path, reps: bench_gpu_pair(path, reps, args.dtype),
               "cuda_ipc": lambda path, reps: bench_gpu_pair(path, reps, args.dtype, ipc=True, colocated=True),
               "ray_colocated": lambda path, reps: bench_gpu_pair(path, reps, args.dtype, colocated=True)}
    with tempfile.TemporaryDirectory() as tmp:
        path, nbytes = build_model(Path(tmp) / "model", args.hidden, args.layers, args.preset, args.dtype)
        rows = []
        for name in args.methods:
            try:
                seconds = benches[name](path, args.reps)
            except ImportError as exc:
                print(json.dumps({"method": name, "skipped": f"not installed: {exc}"}))
                continue
            rows.append({"method": name, "model_gb": round(nbytes / 1e9, 3), "seconds_per_sync": round(seconds, 3),
                         "gb_per_s": round(nbytes / 1e9 / seconds, 2)})
            print(json.dumps(rows[-1]), flush=True)
        base = next((r for r in rows if r["method"] == "hf_local"), None)
        for r in rows:
            if base and r is not base:
                print(json.dumps({"method": r["method"], "slowdown_vs_hf_local": round(
                    r["seconds_per_sync"] / base["seconds_per_sync"], 1)}))


if __name__ == "__main__":
    main()
