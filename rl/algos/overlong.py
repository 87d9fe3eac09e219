"""Overlong shaping (`algo.overlong`), after DAPO (Yu et al. 2025, "DAPO: An Open-Source LLM Reinforcement Learning
System at Scale", Sec. 3.4). Pure functions on per-trajectory tensors, CPU-testable.

Shapes: N trajectories. rewards [N] float (verifier scores, 0 where invalid); valid [N] 0/1 (0 = the verifier
failed: out of the loss); truncated [N] 0/1 (the response hit its length budget without a stop token); lengths [N]
response tokens; max_lengths [N] (or a scalar) L_max, the budget the response was cut at.

- `mask` (DAPO's overlong filtering): a truncated response leaves the loss (valid 0); its reward judged an
  unfinished answer.
- `penalty` (DAPO's soft overlong punishment): R += p(L) with
      p(L) = 0                                  for L <= L_max - B
      p(L) = -penalty * (L - (L_max - B)) / B   for L_max - B < L <= L_max
  (B = buffer_tokens), so a response that ends inside the last B tokens of its budget loses up to `penalty`, and a
  truncated one (L = L_max) loses all of it. It depends on the length only, finished or not, as in DAPO.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

MODES = ("none", "mask", "penalty")


def overlong_penalty(lengths: torch.Tensor, max_lengths: torch.Tensor | float, buffer_tokens: int,
                     penalty: float) -> torch.Tensor:
    """DAPO's soft length penalty. lengths: [N]; max_lengths: [N] or scalar L_max. Returns [N] in [-penalty, 0]."""
    if buffer_tokens <= 0:
        raise ValueError(f"buffer_tokens must be > 0, got {buffer_tokens}")
    lengths = lengths.float()
    limit = torch.as_tensor(max_lengths, dtype=torch.float32).expand_as(lengths)
    over = (lengths - (limit - buffer_tokens)).clamp(min=0.0) / buffer_tokens
    return -penalty * over.clamp(max=1.0)


@dataclass
class OverlongShaping:
    """rewards: [N] shaped rewards (0 where invalid); valid: [N] 0/1 after masking; penalty: [N] what was added
    (<= 0, 0 off the penalty mode and on invalid samples); masked: [N] bool, valid samples this step masked because
    they were truncated (mode `mask`)."""

    rewards: torch.Tensor
    valid: torch.Tensor
    penalty: torch.Tensor
    masked: torch.Tensor


def shape_overlong(rewards: torch.Tensor, valid: torch.Tensor, truncated: torch.Tensor, lengths: torch.Tensor,
                   max_lengths: torch.Tensor | float, mode: str = "none", buffer_tokens: int = 16,
                   penalty: float = 1.0) -> OverlongShaping:
    """Apply `mode` (none | mask | penalty) to one batch of trajectories; shapes in the module docstring."""
    if mode not in MODES:
        raise ValueError(f"overlong mode {mode!r} is not one of {list(MODES)}")
    rewards, valid = rewards.float(), valid.float()
    ok = valid > 0
    zero = torch.zeros_like(rewards)
    if mode == "mask":
        masked = truncated.bool() & ok
        return OverlongShaping(torch.where(masked, zero, rewards), valid * (~masked).float(), zero, masked)
    pen = zero
    if mode == "penalty":
        pen = torch.where(ok, overlong_penalty(lengths, max_lengths, buffer_tokens, penalty), zero)
    return OverlongShaping(rewards + pen, valid, pen, torch.zeros_like(ok))
