"""Policy objectives selected by `algo.objective`: MIS-PO (default) and the baselines used in ablations.

All functions take [B, S] tensors (logprobs with grad; the rest constants) and return a scalar loss aggregated
like MIS-PO (`aggregate`, same normaliser semantics), so objectives are interchangeable in the learner.

- mispo:    binary token/trajectory filters on pi_old/pi_rollout, no ratio, no clip (rl/algos/mispo.py)
- pg:       -lp * A, no off-policy correction at all
- ppo_clip: PPO clipped surrogate on pi_theta/pi_old; ignores the rollout/learner mismatch
- tis:      PPO clip multiplied by a truncated IS weight min(pi_old/pi_rollout, C)
- icepop:   PPO clip on tokens whose pi_old/pi_rollout lies in [lo, hi]; other tokens masked (IcePop-style)
- gspo:     sequence-level ratio exp(mean_t(lp - old)) with a tight clip, per GSPO
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from rl.algos.mispo import actor_loss, aggregate, pg_loss

OBJECTIVES = ("mispo", "pg", "ppo_clip", "tis", "icepop", "gspo")


@dataclass(frozen=True)
class ObjectiveParams:
    """Hyper-parameters of every objective (each objective reads its own)."""

    token_bounds: tuple[float, float] = (0.5, 2.0)  # mispo token filter; icepop mask band
    traj_bounds: tuple[float, float] = (0.996, 1.001)  # mispo trajectory filter
    clip_eps: tuple[float, float] = (0.2, 0.2)  # ppo_clip / tis / icepop (low, high)
    tis_cap: float = 2.0  # tis: truncation C of the IS weight
    gspo_eps: tuple[float, float] = (3e-4, 4e-4)  # gspo sequence-ratio clip (low, high)
    loss_agg: str = "token_mean"


def _ppo_per_token(lp: torch.Tensor, old: torch.Tensor, adv: torch.Tensor, eps: tuple[float, float]) -> torch.Tensor:
    ratio = torch.exp(lp - old)
    clipped = torch.clamp(ratio, 1.0 - eps[0], 1.0 + eps[1])
    return -torch.minimum(ratio * adv, clipped * adv)


def policy_loss(objective: str, lp: torch.Tensor, old: torch.Tensor, rollout: torch.Tensor, adv: torch.Tensor,
                mask: torch.Tensor, p: ObjectiveParams, normalizer: float | None = None) -> torch.Tensor:
    """Scalar loss of `objective` (one of OBJECTIVES)."""
    old, rollout, adv, mask = old.detach(), rollout.detach(), adv.detach().to(lp.dtype), mask.float()
    if objective == "mispo":
        return actor_loss(lp, old, rollout, adv, mask, p.token_bounds, p.traj_bounds, p.loss_agg, normalizer)[0]
    if objective == "pg":
        return pg_loss(lp, adv, mask, p.loss_agg, normalizer)
    if objective == "ppo_clip":
        return aggregate(_ppo_per_token(lp, old, adv, p.clip_eps), mask, p.loss_agg, normalizer)
    if objective == "tis":
        w = torch.clamp(torch.exp(old - rollout), max=p.tis_cap)
        return aggregate(w * _ppo_per_token(lp, old, adv, p.clip_eps), mask, p.loss_agg, normalizer)
    if objective == "icepop":
        w = torch.exp(old - rollout)
        keep = ((w >= p.token_bounds[0]) & (w <= p.token_bounds[1])).to(lp.dtype)
        return aggregate(keep * _ppo_per_token(lp, old, adv, p.clip_eps), mask, p.loss_agg, normalizer)
    if objective == "gspo":
        n = mask.sum(-1).clamp(min=1.0)
        log_s = ((lp - old) * mask).sum(-1) / n
        s = torch.exp(log_s).unsqueeze(-1)
        clipped = torch.clamp(s, 1.0 - p.gspo_eps[0], 1.0 + p.gspo_eps[1])
        per_token = -torch.minimum(s * adv, clipped * adv)
        return aggregate(per_token, mask, p.loss_agg, normalizer)
    raise ValueError(f"algo.objective: {objective!r} is not one of {list(OBJECTIVES)}")


def k3_kl(lp: torch.Tensor, old: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per-token KL(pi_theta || pi_ref) estimate: the unbiased k3 estimator, corrected by pi_theta/pi_old because
    tokens were sampled from pi_old: (pi_theta/pi_old) * (pi_ref/pi_theta - log(pi_ref/pi_theta) - 1). [B, S]."""
    log_r = ref.detach() - lp
    return torch.exp(lp - old.detach()) * (torch.exp(log_r) - log_r - 1.0)
