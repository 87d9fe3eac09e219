"""Weight sync in buckets: a broadcast from learner rank 0 to the engines (WeightGroup: NCCL between GPUs, or the
same broadcast over gloo for CPU learners and engines), and CUDA IPC to engines on the learner's own GPU
(IpcBuckets).

The weight group is its own communicator built from its own TCPStore, so it never touches the training process
group (DeepSpeed's) or the engine's. Both sides agree on a bucket plan (names, shapes, dtypes), made once by the
sender from its state dict and handed to the receivers through the driver (as plain lists: `plan_to_wire`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Iterable, Iterator

import torch

DEFAULT_BUCKET_MB = 256


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n


def plan_buckets(specs: Iterable[TensorSpec], bucket_mb: int = DEFAULT_BUCKET_MB) -> list[list[TensorSpec]]:
    """Consecutive tensors of one dtype, up to `bucket_mb` per bucket (a larger tensor gets a bucket alone)."""
    buckets: list[list[TensorSpec]] = []
    limit = bucket_mb * 1024 * 1024
    size = 0
    for spec in specs:
        nbytes = spec.numel * torch.empty((), dtype=getattr(torch, spec.dtype)).element_size()
        if not buckets or buckets[-1][0].dtype != spec.dtype or size + nbytes > limit:
            buckets.append([])
            size = 0
        buckets[-1].append(spec)
        size += nbytes
    return buckets


def specs_of(state_dict: dict[str, torch.Tensor]) -> list[TensorSpec]:
    return [TensorSpec(k, tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in state_dict.items()]


def plan_to_wire(plan: list[list[TensorSpec]]) -> list[list[list]]:
    """Plain nested lists (any RPC serializer carries them, vLLM's included)."""
    return [[[s.name, list(s.shape), s.dtype] for s in bucket] for bucket in plan]


def plan_from_wire(wire: list) -> list[list[TensorSpec]]:
    return [[s if isinstance(s, TensorSpec) else TensorSpec(s[0], tuple(s[1]), s[2]) for s in bucket]
            for bucket in wire]


class WeightGroup:
    """rank 0 sends; ranks 1..world_size-1 receive. Every rank must construct it at about the same time (the
    TCPStore rendezvous waits up to `timeout_s`). backend: nccl (GPU tensors) or gloo (CPU tensors).

    collective_timeout_s bounds one broadcast. Without partial rollouts a receiver joins only after its queued
    rollout ends (agent episodes can take many minutes on CPU) while the sender is already waiting, so it is long.
    """

    def __init__(self, host: str, port: int, rank: int, world_size: int, timeout_s: float = 300.0,
                 backend: str = "nccl", collective_timeout_s: float = 3600.0) -> None:
        import torch.distributed as dist

        if backend not in ("nccl", "gloo"):
            raise ValueError(f"weight group backend {backend!r} is not one of ['nccl', 'gloo']")
        if backend == "nccl" and not torch.cuda.is_available():
            raise RuntimeError("rollout.weight_sync=nccl needs CUDA GPUs on the learner and the engines; use "
                               "gloo or object_store on CPU")
        self.rank, self.world_size, self.backend = rank, world_size, backend
        self.device = torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else torch.device("cpu")
        store = dist.TCPStore(host, port, world_size, is_master=rank == 0, timeout=timedelta(seconds=timeout_s))
        collective = timedelta(seconds=collective_timeout_s)
        if backend == "nccl":
            opts = dist.ProcessGroupNCCL.Options()
            opts._timeout = collective
            self.pg = dist.ProcessGroupNCCL(store, rank, world_size, opts)
        else:
            self.pg = dist.ProcessGroupGloo(store, rank, world_size, collective)
        self._broadcast(torch.zeros(1, device=self.device))  # establish the communicator now, not mid-sync

    def _broadcast(self, tensor: torch.Tensor) -> None:
        import torch.distributed as dist

        opts = dist.BroadcastOptions()
        opts.rootRank = 0
        self.pg.broadcast([tensor], opts).wait()

    def send(self, state_dict: dict[str, torch.Tensor], plan: list[list[TensorSpec]]) -> int:
        """Broadcast every bucket of `plan` from this rank (0); returns bytes sent."""
        sent = 0
        for bucket in plan_from_wire(plan):
            flat = torch.cat([state_dict[s.name].detach().reshape(-1).to(self.device) for s in bucket])
            self._broadcast(flat)
            sent += flat.numel() * flat.element_size()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return sent

    def receive(self, plan: list[list[TensorSpec]]) -> Iterator[tuple[str, torch.Tensor]]:
        """Receive bucket by bucket; yields (name, tensor view into the bucket) on this rank's device."""
        for bucket in plan_from_wire(plan):
            flat = torch.empty(sum(s.numel for s in bucket), dtype=getattr(torch, bucket[0].dtype), device=self.device)
            self._broadcast(flat)
            offset = 0
            for s in bucket:
                yield s.name, flat[offset:offset + s.numel].view(s.shape)
                offset += s.numel

    def close(self) -> None:
        try:
            self.pg.shutdown()
        except Exception:  # noqa: BLE001 - older torch has no shutdown; the group dies with the process
            pass


class IpcBuckets:
    """CUDA IPC for an engine on the learner's own GPU: the sender flattens its weights into buckets and shares
    them as IPC handles (torch's CUDA tensor reductions); the receiver maps them and copies. The sender keeps the
    buckets alive until `release()` (after every receiver has copied)."""

    def __init__(self) -> None:
        self._keep: list[torch.Tensor] = []

    def share(self, state_dict: dict[str, torch.Tensor], plan: list[list[TensorSpec]]) -> list[tuple]:
        from torch.multiprocessing.reductions import reduce_tensor

        self.release()
        handles = []
        for bucket in plan_from_wire(plan):
            flat = torch.cat([state_dict[s.name].detach().reshape(-1) for s in bucket])
            self._keep.append(flat)
            handles.append(reduce_tensor(flat))
        torch.cuda.synchronize()
        return handles

    def release(self) -> None:
        self._keep = []

    @staticmethod
    def receive(handles: list[tuple], plan: list[list[TensorSpec]]) -> Iterator[tuple[str, torch.Tensor]]:
        """Map each shared bucket and yield (name, view); the caller copies before the sender releases."""
        for (rebuild, args), bucket in zip(handles, plan_from_wire(plan)):
            flat = rebuild(*args)
            offset = 0
            for s in bucket:
                yield s.name, flat[offset:offset + s.numel].view(s.shape)
                offset += s.numel


def gpu_uuid() -> str:
    """Identity of this process's GPU (the same physical GPU is what CUDA IPC needs)."""
    return str(torch.cuda.get_device_properties(torch.cuda.current_device()).uuid)
