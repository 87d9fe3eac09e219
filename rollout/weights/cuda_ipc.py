"""`rollout.weight_sync=cuda_ipc`: engines colocated on the learner's GPU map the learner's weight buckets
through CUDA IPC handles and copy them (no host round trip). Checked at start: every engine must report the
learner's GPU uuid."""
from __future__ import annotations

from typing import Any, Iterable, Iterator

import torch

from rollout.weights.base import SyncSpec, WeightReceiver, WeightSender
from rollout.weights.buckets import TensorSpec, plan_from_wire, plan_to_wire
from rollout.weights.source import WeightSource, weight_plan


class IpcBuckets:
    """CUDA IPC for an engine on the learner's own GPU: the sender flattens its weights into buckets and shares
    them as IPC handles (torch's CUDA tensor reductions); the receiver maps them and copies. The sender keeps the
    buckets alive until `release()` (after every receiver has copied)."""

    def __init__(self) -> None:
        self._keep: list[torch.Tensor] = []

    def share(self, tensors: Iterable[dict[str, torch.Tensor]], plan: list[list[TensorSpec]]) -> list[tuple]:
        """`tensors`: each bucket of `plan` as {name: tensor}, in order (a WeightSource's buckets)."""
        from torch.multiprocessing.reductions import reduce_tensor

        self.release()
        handles = []
        for bucket, named in zip(plan_from_wire(plan), tensors):
            flat = torch.cat([named[s.name].detach().reshape(-1) for s in bucket])
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


class IpcSender(WeightSender):
    """Handshake: (GPU uuid, bucket plan); message: the IPC handles of this sync's buckets."""

    def open(self, spec: SyncSpec, source: WeightSource) -> tuple[str, list]:
        self._plan = weight_plan(source, spec.bucket_mb)
        self._ipc = IpcBuckets()
        return gpu_uuid(), plan_to_wire(self._plan)

    def send(self, source: WeightSource) -> list:
        return self._ipc.share(source.buckets(self._plan), self._plan)

    def release(self) -> None:
        self._ipc.release()

    @classmethod
    def check_peers(cls, handshake: Any, receiver_infos: list[Any]) -> str | None:
        if any(u != handshake[0] for u in receiver_infos):
            return ("rollout.weight_sync: cuda_ipc needs every rollout worker on the learner's GPU (Ray placed them "
                    "elsewhere); use nccl for engines on other GPUs")
        return None


class IpcReceiver(WeightReceiver):
    def open(self, engine: Any, spec: SyncSpec, rank: int) -> str:
        return gpu_uuid()

    def receive(self, engine: Any, message: Any, handshake: Any, version: int) -> None:
        engine.update_weights(dict(IpcBuckets.receive(message, handshake[1])), version)
