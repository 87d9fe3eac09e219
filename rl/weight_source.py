"""The learner's weights as a `WeightSource` (rollout/weights/source.py) for weight sync and HF export.

ZeRO 0-2 keep full parameters on every rank: the source is rank 0's state dict. ZeRO-3 shards every parameter
over the ranks: `Zero3Source` gathers one bucket's parameters at a time (`deepspeed.zero.GatheredParameters`, a
collective that EVERY rank enters in the same order), so the full model is never materialised on a device.
"""
from __future__ import annotations

from typing import Iterator

import torch

from rollout.weights.buckets import TensorSpec
from rollout.weights.payload import without_tied
from rollout.weights.source import StateDictSource, WeightSource


def is_zero3_param(p: torch.Tensor) -> bool:
    return hasattr(p, "ds_id")


class Zero3Source(WeightSource):
    """Parameters (tied ones once: named_parameters yields a shared parameter under its first name) and persistent
    buffers of a ZeRO-3-partitioned module."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.params = dict(module.named_parameters())
        persistent = set(module.state_dict().keys())
        self.buffers = {n: b for n, b in module.named_buffers() if n in persistent}

    def specs(self) -> list[TensorSpec]:
        out = [TensorSpec(n, tuple(p.ds_shape if is_zero3_param(p) else p.shape), str(p.dtype).removeprefix("torch."))
               for n, p in self.params.items()]
        buffers = [TensorSpec(n, tuple(b.shape), str(b.dtype).removeprefix("torch.")) for n, b in self.buffers.items()]
        return out + buffers

    def buckets(self, plan: list[list[TensorSpec]]) -> Iterator[dict[str, torch.Tensor]]:
        import deepspeed

        for bucket in plan:
            params = [self.params[s.name] for s in bucket if s.name in self.params]
            with deepspeed.zero.GatheredParameters(params, modifier_rank=None):
                yield {s.name: (self.params[s.name] if s.name in self.params else self.buffers[s.name]).data
                       for s in bucket}


def weight_source(module: torch.nn.Module) -> WeightSource:
    """The right source for a DeepSpeed engine's module: gathered per bucket under ZeRO-3, else the state dict."""
    if any(is_zero3_param(p) for p in module.parameters()):
        return Zero3Source(module)
    if hasattr(module, "peft_config"):  # LoRA: the engines get merged weights W + (alpha/r) B A (rl/lora.py)
        from rl.lora import merged_state_dict

        return StateDictSource(without_tied(merged_state_dict(module)))
    return StateDictSource(without_tied(module.state_dict()))
