"""Advantages of one step, chosen by `algo.advantage`: GAE on critic values (with the truncation bootstrap) or a
critic-free group estimator broadcast over each trajectory's response tokens."""
from __future__ import annotations

import torch

from config.rl import AlgoConfig
from rl.algos.advantages import explained_variance, gae, group_baseline, rloo, terminal_rewards
from rl.batch import TrainBatch, broadcast_per_trajectory


def step_advantages(
    algo: AlgoConfig, batch: TrainBatch, rewards: torch.Tensor, valid: torch.Tensor, group_ids: torch.Tensor,
    truncated: torch.Tensor, last_values: torch.Tensor | None = None,
) -> tuple[TrainBatch, dict[str, float]]:
    """Fill batch.advantages (and batch.returns for GAE; batch.values must hold V(s_t) already).
    rewards, valid, group_ids, truncated: [N]; last_values: [N] V(s_T) (GAE only)."""
    mask = batch.response_mask
    stats: dict[str, float] = {}
    if algo.advantage == "gae":
        assert last_values is not None, "GAE needs critic values"
        final = terminal_rewards(rewards, truncated, last_values, algo.truncation_bootstrap)
        adv, returns = gae(final, batch.values, mask, algo.gamma, algo.lam)
        stats["critic/explained_variance"] = explained_variance(batch.values, returns, mask)
        stats["critic/value_mean"] = float((batch.values * mask).sum() / mask.sum().clamp(min=1.0))
        stats["algo/bootstrapped_frac"] = float((truncated.bool() & (valid > 0)).float().mean())
        batch = batch.with_(advantages=adv, returns=returns)
    else:
        if algo.advantage == "rloo":
            per_traj = rloo(rewards, group_ids, valid)
        else:
            per_traj = group_baseline(rewards, group_ids, valid, normalize_std=algo.advantage == "grpo")
        batch = batch.with_(advantages=broadcast_per_trajectory(per_traj, mask))
    m = mask > 0
    stats["algo/advantage_mean"] = float(batch.advantages[m].mean()) if m.any() else 0.0
    stats["algo/advantage_abs_mean"] = float(batch.advantages[m].abs().mean()) if m.any() else 0.0
    return batch, stats
