"""Critic-free advantage estimators on per-trajectory rewards. Pure functions, CPU-testable.

Shapes: rewards [N] float, group_ids [N] int (samples of one prompt share an id), valid [N] 0/1 (0 = the reward
failed: excluded from group statistics and given advantage 0). Returns [N]; broadcast over response tokens by
the caller.
"""
from __future__ import annotations

import torch


def group_baseline(
    rewards: torch.Tensor, group_ids: torch.Tensor, valid: torch.Tensor, normalize_std: bool = False,
    eps: float = 1e-6,
) -> torch.Tensor:
    """A_i = R_i - mean_{j in group(i), valid} R_j, optionally divided by the group's std (GRPO).

    A group with a single valid sample gets advantage 0 (no baseline to compare with).
    """
    rewards = rewards.float()
    valid = valid.float()
    adv = torch.zeros_like(rewards)
    for gid in torch.unique(group_ids):
        in_group = (group_ids == gid) & (valid > 0)
        n = int(in_group.sum())
        if n < 2:
            continue
        r = rewards[in_group]
        a = r - r.mean()
        if normalize_std:
            a = a / (r.std(unbiased=True) + eps)
        adv[in_group] = a
    return adv
