"""Critic-free advantage estimators on per-trajectory rewards. Pure functions, CPU-testable.

Shapes: rewards [N] float, group_ids [N] int (samples of one prompt share an id), valid [N] 0/1 (0 = the reward
failed: excluded from group statistics and given advantage 0). Returns [N]; broadcast over response tokens by
the caller.
"""
from __future__ import annotations

from collections.abc import Callable

import torch


def _per_group(rewards: torch.Tensor, group_ids: torch.Tensor, valid: torch.Tensor,
               fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Apply `fn` to the valid rewards of each group (groups with < 2 valid samples get advantage 0)."""
    rewards = rewards.float()
    adv = torch.zeros_like(rewards)
    for gid in torch.unique(group_ids):
        in_group = (group_ids == gid) & (valid.float() > 0)
        if int(in_group.sum()) >= 2:
            adv[in_group] = fn(rewards[in_group])
    return adv


def group_baseline(
    rewards: torch.Tensor, group_ids: torch.Tensor, valid: torch.Tensor, normalize_std: bool = False,
    eps: float = 1e-6,
) -> torch.Tensor:
    """A_i = R_i - mean_{j in group(i), valid} R_j, optionally divided by the group's std (GRPO).

    A group with a single valid sample gets advantage 0 (no baseline to compare with).
    """
    def centre(r: torch.Tensor) -> torch.Tensor:
        a = r - r.mean()
        return a / (r.std(unbiased=True) + eps) if normalize_std else a

    return _per_group(rewards, group_ids, valid, centre)


def rloo(rewards: torch.Tensor, group_ids: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Leave-one-out baseline: A_i = R_i - mean_{j != i, same group, valid} R_j. [N]."""
    return _per_group(rewards, group_ids, valid, lambda r: r - (r.sum() - r) / (r.numel() - 1))


def terminal_rewards(
    rewards: torch.Tensor, truncated: torch.Tensor, bootstrap_values: torch.Tensor, bootstrap: bool = True
) -> torch.Tensor:
    """Per-trajectory return R: the verifier's reward, or V(s_T) for responses cut by the length limit (their
    reward judges an unfinished answer). rewards, truncated (0/1), bootstrap_values: [N] -> [N]."""
    if not bootstrap:
        return rewards.float()
    return torch.where(truncated.bool(), bootstrap_values.float(), rewards.float())


def gae(
    final_reward: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0, lam: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token-level GAE with the reward on the last response token (no per-token rewards).

    final_reward: [B]; values: [B, S] V(s_t) aligned with response tokens; mask: [B, S] 0/1 (response tokens,
    contiguous or not: non-response positions are skipped, so observation tokens in multi-turn episodes pass the
    value through). Returns (advantages [B, S], returns [B, S]); zeros off the mask.
    With gamma = lam = 1: A_t = R - V(s_t).
    """
    values, mask = values.float(), mask.float()
    B, S = values.shape
    adv = torch.zeros_like(values)
    next_value = torch.zeros(B)
    next_adv = torch.zeros(B)
    seen_last = torch.zeros(B, dtype=torch.bool)
    for t in range(S - 1, -1, -1):
        m = mask[:, t] > 0
        is_last = m & ~seen_last
        reward = torch.where(is_last, final_reward.float(), torch.zeros(B))
        nv = torch.where(is_last, torch.zeros(B), next_value)
        delta = reward + gamma * nv - values[:, t]
        a = delta + gamma * lam * torch.where(is_last, torch.zeros(B), next_adv)
        adv[:, t] = torch.where(m, a, torch.zeros(B))
        next_value = torch.where(m, values[:, t], next_value)
        next_adv = torch.where(m, a, next_adv)
        seen_last |= m
    returns = (adv + values) * mask
    return adv, returns


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> float:
    """1 - Var(returns - values) / Var(returns) over masked entries (1 = perfect critic, <= 0 = useless)."""
    m = mask > 0
    if m.sum() < 2:
        return float("nan")
    r, v = returns[m].float(), values[m].float()
    var = r.var()
    return float("nan") if var == 0 else float(1 - (r - v).var() / var)
