"""Bucket plans shared by the bucketed weight-sync backends (nccl, gloo, cuda_ipc): consecutive tensors of one
dtype, up to `bucket_mb` each. The sender makes the plan once from its state dict; receivers get it through the
driver as plain lists (`plan_to_wire`), which any RPC serializer (vLLM's included) carries."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

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
