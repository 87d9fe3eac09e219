"""Bucketed broadcast from learner rank 0 to the engines over a dedicated process group: the shared half of the
`nccl` (GPU to GPU) and `gloo` (CPU learners and engines) backends.

The weight group is its own communicator built from its own TCPStore (hosted by the sender), so it never touches
the training process group (DeepSpeed's) or the engine's. The receiving side is the engine's own job
(`Engine.init_weight_group` / `receive_weights`): vLLM joins inside its worker process.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Iterable, Iterator

import torch

from rollout.weights.base import SyncSpec, WeightReceiver, WeightSender
from rollout.weights.buckets import TensorSpec, plan_from_wire, plan_to_wire
from rollout.weights.source import WeightSource, weight_plan


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

    def send_buckets(self, tensors: Iterable[dict[str, torch.Tensor]], plan: list[list[TensorSpec]]) -> int:
        """Broadcast bucket after bucket as `tensors` yields them (a ZeRO-3 source gathers each one just before);
        returns bytes sent."""
        sent = 0
        for bucket, named in zip(plan_from_wire(plan), tensors):
            flat = torch.cat([named[s.name].detach().reshape(-1).to(self.device) for s in bucket])
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


class BroadcastSender(WeightSender):
    """Rank 0 of the weight group; the handshake is the bucket plan (plain lists)."""

    streams = True
    backend = ""  # set by the nccl / gloo subclasses

    def open(self, spec: SyncSpec, source: WeightSource) -> list:
        self._plan = weight_plan(source, spec.bucket_mb)
        self._group = WeightGroup(spec.host, spec.port, 0, spec.world_size, backend=self.backend)
        return plan_to_wire(self._plan)

    def send(self, source: WeightSource) -> None:
        self._group.send_buckets(source.buckets(self._plan), self._plan)
        return None

    def close(self) -> None:
        self._group.close()


class BroadcastReceiver(WeightReceiver):
    """Ranks 1.. of the weight group; the engine joins (in-process, or inside vLLM's worker)."""

    backend = ""

    def open(self, engine: Any, spec: SyncSpec, rank: int) -> None:
        engine.init_weight_group(spec.host, spec.port, rank, spec.world_size, self.backend)

    def receive(self, engine: Any, message: Any, handshake: Any, version: int) -> None:
        engine.receive_weights(handshake, version)
