"""Weight-sync benchmark: seconds per full policy sync and GB/s for each method available on this machine.

    python scripts/bench/weight_sync.py [--hidden 512] [--layers 8] [--reps 3] [--methods ray hf_local vllm]

Builds a random Qwen2-shape model of the requested size (fp32), then times a full sync of its state dict (tied
weights once, as the learner sends them):
- hf_local:  load_state_dict into an HF model in the same process (the floor: a memory copy)
- ray:       learner actor -> Ray object store -> HF rollout worker actor, numpy payload read zero-copy
             (rollout/weights.py; rl/train.py's path for the hf engine)
- ray_tensors: the same with plain torch tensors (pickled in-band), for comparison
- vllm:      state dict -> in-memory safetensors buckets -> collective_rpc -> vLLM worker reload (+ CPU repack)
- gloo:      (CPU) the driver broadcasts as learner rank 0 over a gloo weight group -> HF rollout worker actor
             (rollout.weight_sync=gloo, the CPU twin of nccl)
- vllm_gloo: the same broadcast received inside vLLM's worker process (worker extension) and loaded (+ repack)
- nccl:      (2+ GPUs) learner-side sender on GPU 0 -> RolloutWorker's HF engine on GPU 1 through the
             bucketed NCCL weight group (rollout/gpu_weight_sync.py; rollout.weight_sync=nccl), broadcast + load
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

    from rl.tiny_model.build import resolve_model_path

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
    from rollout.weights import without_tied

    nbytes = sum(t.numel() * t.element_size() for t in without_tied(model.state_dict()).values())  # tied: once
    return out, nbytes


class _Holder:
    def __init__(self, path: str) -> None:
        from transformers import AutoModelForCausalLM

        self.model = AutoModelForCausalLM.from_pretrained(path)

    def weights(self, zero_copy: bool = True):
        from rollout.weights import pack

        from rollout.weights import without_tied

        sd = {k: v.detach().clone() for k, v in without_tied(self.model.state_dict()).items()}
        return pack(sd) if zero_copy else sd


def time_reps(fn, reps: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps


def bench_hf_local(path: Path, reps: int) -> float:
    from transformers import AutoModelForCausalLM

    from rollout.weights import without_tied

    src, dst = AutoModelForCausalLM.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path)
    return time_reps(lambda: dst.load_state_dict({k: v.clone() for k, v in without_tied(src.state_dict()).items()},
                                                 strict=False), reps)


def bench_ray(path: Path, reps: int, zero_copy: bool = True) -> float:
    import ray

    from rollout.worker import RolloutWorker

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        holder = ray.remote(_Holder).remote(str(path))
        worker = ray.remote(RolloutWorker).remote("hf", str(path), "float32", 1, 8)
        version = iter(range(1, 10**6))
        return time_reps(lambda: ray.get(worker.update_weights.remote(holder.weights.remote(zero_copy),
                                                                      next(version))), reps)
    finally:
        ray.shutdown()


class _GpuSender:
    """Learner stand-in on its own GPU: holds the model and sends it the way Learner.broadcast_weights does."""

    def __init__(self, path: str, dtype: str) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        self.model = AutoModelForCausalLM.from_pretrained(path, torch_dtype=getattr(torch, dtype)).cuda()

    def _sd(self) -> dict:
        from rollout.weights import without_tied

        return without_tied(self.model.state_dict())  # what Learner._policy_weights sends

    def addr(self) -> tuple[str, int]:
        import ray

        from rl.learner_group import free_port

        return ray.util.get_node_ip_address(), free_port()

    def init_group(self, host: str, port: int, world: int) -> list:
        from rollout.gpu_weight_sync import WeightGroup, plan_buckets, specs_of

        self.plan = plan_buckets(specs_of(self._sd()))
        self.group = WeightGroup(host, port, 0, world)
        return self.plan

    def send(self) -> int:
        return self.group.send(self._sd(), self.plan)

    def ipc_share(self) -> tuple[list, list]:
        from rollout.gpu_weight_sync import IpcBuckets, plan_buckets, specs_of

        if not hasattr(self, "ipc"):
            self.ipc, self.plan = IpcBuckets(), plan_buckets(specs_of(self._sd()))
        return self.ipc.share(self._sd(), self.plan), self.plan

    def weights(self):
        from rollout.weights import pack

        return pack({k: v.detach().cpu() for k, v in self._sd().items()})


def bench_gpu_pair(path: Path, reps: int, dtype: str, nccl: bool = False, ipc: bool = False,
                   colocated: bool = False) -> float:
    import ray

    from rollout.worker import RolloutWorker

    ray.init(include_dashboard=False, log_to_driver=True)
    try:
        share = 0.5 if colocated else 1
        sender = ray.remote(num_gpus=share)(_GpuSender).remote(str(path), dtype)
        worker = ray.remote(num_gpus=share)(RolloutWorker).remote("hf", str(path), dtype, 4, 8)
        version = iter(range(1, 10**6))
        if ipc:
            def once():
                handles, plan = ray.get(sender.ipc_share.remote())
                ray.get(worker.receive_ipc.remote(handles, plan, next(version)))
            return time_reps(once, reps)
        if nccl:
            host, port = ray.get(sender.addr.remote())
            plan_ref = sender.init_group.remote(host, port, 2)
            ray.get(worker.init_weight_group.remote(host, port, 1, 2))
            plan = ray.get(plan_ref)
            return time_reps(lambda: ray.get([sender.send.remote(),
                                              worker.receive_weights.remote(plan, next(version))]), reps)
        return time_reps(lambda: ray.get(worker.update_weights.remote(sender.weights.remote(), next(version))), reps)
    finally:
        ray.shutdown()


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
    """rollout.weight_sync=gloo: the driver broadcasts as learner rank 0 to an HF engine in a Ray rollout worker
    (engine=hf) or to a vLLM engine's worker process (engine=vllm, through the worker extension)."""
    import threading

    import ray
    from transformers import AutoModelForCausalLM

    from rl.learner_group import free_port
    from rollout.gpu_weight_sync import WeightGroup, plan_buckets, plan_to_wire, specs_of
    from rollout.weights import without_tied
    from rollout.worker import RolloutWorker

    sd = without_tied(AutoModelForCausalLM.from_pretrained(path).state_dict())
    plan = plan_to_wire(plan_buckets(specs_of(sd)))
    port, version = free_port(), iter(range(1, 10**6))
    if engine == "vllm":
        from rollout.vllm_engine import VLLMEngine

        receiver = VLLMEngine(str(path), gpu_memory_utilization=0.1, enforce_eager=True)
        join = lambda: receiver.init_weight_group("127.0.0.1", port, 1, 2, "gloo")  # noqa: E731
        recv = lambda v: receiver.receive_weights(plan, v)  # noqa: E731
    else:
        ray.init(include_dashboard=False)
        actor = ray.remote(RolloutWorker).remote("hf", str(path))
        join = lambda: ray.get(actor.init_weight_group.remote("127.0.0.1", port, 1, 2, "gloo"))  # noqa: E731
        recv = lambda v: ray.get(actor.receive_weights.remote(plan, v))  # noqa: E731
    group = None
    try:
        t = threading.Thread(target=join)
        t.start()
        group = WeightGroup("127.0.0.1", port, 0, 2, backend="gloo")
        t.join()

        def once() -> None:
            r = threading.Thread(target=recv, args=(next(version),))
            r.start()
            group.send(sd, plan)
            r.join()
        return time_reps(once, reps)
    finally:
        if group is not None:
            group.close()
        if engine == "vllm":
            receiver.close()
        else:
            ray.shutdown()


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
