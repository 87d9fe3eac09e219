"""Critic (value) loss. Pure function, [B, S] tensors."""
from __future__ import annotations

import torch


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
               clip_eps: float | None = None, normalizer: float | None = None) -> torch.Tensor:
    """0.5 * (V - R)^2 averaged over masked tokens (or / `normalizer`). With clip_eps, the PPO-style clipped form:
    0.5 * max((V - R)^2, (old + clip(V - old, -eps, eps) - R)^2)."""
    mask = mask.float()
    err = (values - returns.detach()) ** 2
    if clip_eps is not None:
        clipped = old_values.detach() + torch.clamp(values - old_values.detach(), -clip_eps, clip_eps)
        err = torch.maximum(err, (clipped - returns.detach()) ** 2)
    n = normalizer if normalizer is not None else mask.sum().clamp(min=1.0)
    return 0.5 * (err * mask).sum() / n
