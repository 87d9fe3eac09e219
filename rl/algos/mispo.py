"""MIS-PO actor loss (Step 3.5 Flash, Sec. 5.2; DESIGN.md section 3). Pure tensor functions, CPU-testable.

Shapes: every tensor argument is [batch, seq] float; `response_mask` is 0/1 and marks the loss-bearing response
tokens. `logprobs` carries grad; old/rollout logprobs and advantages are constants.

    x_t       = exp(lp_old[t] - lp_rollout[t])
    I_tok[t]  = 1[token_lo <= x_t <= token_hi]
    rho_bar   = exp(mean_t(lp_old[t] - lp_rollout[t]))    (geometric mean over the trajectory's masked tokens)
    I_traj    = 1[traj_lo <= rho_bar <= traj_hi]
    L         = -sum_t I_tok[t] * I_traj * lp[t] * A_t / N

No ratio pi_theta/pi_old and no clipping: kept tokens are treated as on-policy. With "token_mean", N counts
every valid response token (filtered ones too), so a kept token's weight 1/N does not grow when others are
filtered; the gradient's norm therefore shrinks with the keep fraction (it is keep fraction x the kept tokens'
mean gradient).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from config.rl import MISPO_TOKEN_BOUNDS, MISPO_TRAJ_BOUNDS

LOSS_AGGS = ("token_mean", "seq_mean_token_sum", "seq_mean_token_mean")


@dataclass
class FilterResult:
    """token_keep: [B, S] 0/1 (already multiplied by the mask); traj_keep: [B] 0/1; log_ratio: [B, S] masked;
    traj_ratio: [B] geometric-mean ratio (1.0 for empty trajectories, which are dropped)."""

    token_keep: torch.Tensor
    traj_keep: torch.Tensor
    log_ratio: torch.Tensor
    traj_ratio: torch.Tensor


def mispo_filters(
    old_logprobs: torch.Tensor,
    rollout_logprobs: torch.Tensor,
    response_mask: torch.Tensor,
    token_bounds: tuple[float, float] = MISPO_TOKEN_BOUNDS,
    traj_bounds: tuple[float, float] = MISPO_TRAJ_BOUNDS,
) -> FilterResult:
    """The two binary filters on pi_old / pi_rollout. A trajectory with no valid tokens is dropped."""
    mask = response_mask.float()
    log_ratio = (old_logprobs.float() - rollout_logprobs.float()) * mask
    ratio = torch.exp(log_ratio)
    token_keep = ((ratio >= token_bounds[0]) & (ratio <= token_bounds[1])).float() * mask
    n_tok = mask.sum(-1)
    mean_log = log_ratio.sum(-1) / n_tok.clamp(min=1.0)
    traj_ratio = torch.exp(mean_log)
    traj_keep = ((traj_ratio >= traj_bounds[0]) & (traj_ratio <= traj_bounds[1]) & (n_tok > 0)).float()
    return FilterResult(token_keep, traj_keep, log_ratio, traj_ratio)


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, loss_agg: str, normalizer: float | None) -> torch.Tensor:
    """Reduce a masked [B, S] per-token loss to a scalar.

    token_mean: sum / N, N = valid tokens (or `normalizer`, the mini-batch total when micro-batching).
    seq_mean_token_sum: sum over tokens per sequence, mean over sequences (`normalizer` = sequence count).
    seq_mean_token_mean: per-sequence token mean, mean over sequences (`normalizer` = sequence count).
    """
    mask = mask.float()
    if loss_agg == "token_mean":
        n = normalizer if normalizer is not None else mask.sum().clamp(min=1.0)
        return (per_token * mask).sum() / n
    if loss_agg == "seq_mean_token_sum":
        seq = (per_token * mask).sum(-1)
    elif loss_agg == "seq_mean_token_mean":
        seq = (per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)
    else:
        raise ValueError(f"algo.loss_agg: {loss_agg!r} is not one of {list(LOSS_AGGS)}")
    n = normalizer if normalizer is not None else max(per_token.shape[0], 1)
    return seq.sum() / n


def actor_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    rollout_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    token_bounds: tuple[float, float] = MISPO_TOKEN_BOUNDS,
    traj_bounds: tuple[float, float] = MISPO_TRAJ_BOUNDS,
    loss_agg: str = "token_mean",
    normalizer: float | None = None,
    with_stats: bool = True,
) -> tuple[torch.Tensor, dict[str, float]]:
    """MIS-PO policy-gradient loss with token and trajectory filters. Returns (scalar loss, stats); stats are {}
    without `with_stats` (reading them back waits for the GPU: the learner's update does not).

    `normalizer` overrides N (tokens for token_mean, sequences otherwise) so that micro-batches of one
    mini-batch sum to the mini-batch loss. stats: token_keep_frac, traj_keep_frac, keep_frac (both filters,
    over valid tokens), ratio_mean/max/min (per-token pi_old/pi_rollout over valid tokens).
    """
    mask = response_mask.float()
    f = mispo_filters(old_logprobs.detach(), rollout_logprobs.detach(), mask, token_bounds, traj_bounds)
    keep = f.token_keep * f.traj_keep.unsqueeze(-1)
    per_token = -(keep * logprobs * advantages.detach().to(logprobs.dtype))
    loss = aggregate(per_token, mask, loss_agg, normalizer)
    return loss, (filter_stats(f, mask) if with_stats else {})


def filter_stats(f: FilterResult, mask: torch.Tensor) -> dict[str, float]:
    """Keep fractions (over valid tokens / non-empty trajectories) and ratio statistics."""
    mask = mask.float()
    n_tok = mask.sum()
    nonempty = (mask.sum(-1) > 0).float()
    n_traj = nonempty.sum()
    if n_tok == 0:
        return {"token_keep_frac": 0.0, "traj_keep_frac": 0.0, "keep_frac": 0.0,
                "ratio_mean": 1.0, "ratio_max": 1.0, "ratio_min": 1.0}
    ratio = torch.exp(f.log_ratio)
    valid = mask > 0
    keep = f.token_keep * f.traj_keep.unsqueeze(-1)
    return {
        "token_keep_frac": (f.token_keep.sum() / n_tok).item(),
        "traj_keep_frac": ((f.traj_keep * nonempty).sum() / n_traj.clamp(min=1.0)).item(),
        "keep_frac": (keep.sum() / n_tok).item(),
        "ratio_mean": ratio[valid].mean().item(),
        "ratio_max": ratio[valid].max().item(),
        "ratio_min": ratio[valid].min().item(),
    }


def pg_loss(
    logprobs: torch.Tensor,
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    loss_agg: str = "token_mean",
    normalizer: float | None = None,
) -> torch.Tensor:
    """Plain policy gradient with no off-policy correction (ablation baseline)."""
    per_token = -(logprobs * advantages.detach().to(logprobs.dtype))
    return aggregate(per_token, response_mask, loss_agg, normalizer)
