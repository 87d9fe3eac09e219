"""Where a weight sender reads the policy's weights: names, shapes and dtypes up front, tensors one bucket at a
time. A sharded learner (ZeRO-3, rl/weight_source.py) gathers each bucket's shards while it is read, on every
rank at once, so no rank ever materialises the whole model; an unsharded one reads its state dict."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Iterator, Mapping

import torch

from rollout.weights.buckets import TensorSpec, plan_buckets, specs_of


class WeightSource(ABC):
    @abstractmethod
    def specs(self) -> list[TensorSpec]:
        """Every tensor the engines load (tied duplicates once), in a fixed order that every rank agrees on."""

    @abstractmethod
    def buckets(self, plan: list[list[TensorSpec]]) -> Iterator[dict[str, torch.Tensor]]:
        """Each bucket of `plan` as {name: full tensor}. A tensor is valid until the next bucket is requested
        (copy what you keep); iterate to the end: on a sharded learner every bucket is a collective."""


class StateDictSource(WeightSource):
    """An unsharded state dict (ZeRO 0-2 keep full parameters on every rank)."""

    def __init__(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        self.state_dict = dict(state_dict)

    def specs(self) -> list[TensorSpec]:
        return specs_of(self.state_dict)

    def buckets(self, plan: list[list[TensorSpec]]) -> Iterator[dict[str, torch.Tensor]]:
        for bucket in plan:
            yield {s.name: self.state_dict[s.name] for s in bucket}


def weight_plan(source: WeightSource, bucket_mb: int) -> list[list[TensorSpec]]:
    """The bucket plan every rank derives the same way (senders and the ranks that only help gather)."""
    return plan_buckets(source.specs(), bucket_mb)
