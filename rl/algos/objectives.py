"""Policy objectives selected by `algo.objective`: MIS-PO (default) and the baselines used in ablations.

All functions take [B, S] tensors (logprobs with grad; the rest constants) and return a scalar loss aggregated
like MIS-PO (`aggregate`, same normaliser semantics), so objectives are interchangeable in the learner.

- mispo:      binary token/trajectory filters on pi_old/pi_rollout, no ratio, no clip (rl/algos/mispo.py)
- pg:         -lp * A, no off-policy correction at all
- ppo_clip:   PPO clipped surrogate on pi_theta/pi_old; ignores the rollout/learner mismatch
- tis:        PPO clip multiplied by a truncated IS weight min(pi_old/pi_rollout, C)
- icepop:     IcePop (Ring-1T): PPO clip multiplied by M(k; alpha, beta), k = pi_old/pi_rollout, where
              M(k) = k inside [alpha, beta] (IcePop's defaults 0.5, 5) and 0 outside: the IS weight is kept
              inside the band, the token dropped outside
- gspo:       GSPO as published: sequence ratio exp(mean_t(lp - old)) with the tight (3e-4, 4e-4) clip, no
              correction for the engine mismatch
- gspo_mispo: the GSPO baseline of the Step 3.5 Flash report: GSPO's sequence ratio clipped at 1 +- 1e-4, on the
              tokens MIS-PO's token and trajectory filters keep (the ratio is taken over those tokens only)

On-policy (lp = old = rollout) every objective except the two GSPO ones has exactly the plain policy gradient
-A_t / N per token. GSPO's sequence ratio gives every token of a sequence the sequence's mean advantage,
-mean_t(A_t) / N: the same as PG only when advantages are constant along the sequence (grpo, rloo, group_mean),
not with per-token GAE advantages.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from config.rl import MISPO_TOKEN_BOUNDS, MISPO_TRAJ_BOUNDS
from rl.algos.mispo import actor_loss, aggregate, mispo_filters, pg_loss

OBJECTIVES = ("mispo", "pg", "ppo_clip", "tis", "icepop", "gspo", "gspo_mispo")


@dataclass(frozen=True)
class ObjectiveParams:
    """Hyper-parameters of every objective (each objective reads its own)."""

    token_bounds: tuple[float, float] = MISPO_TOKEN_BOUNDS  # mispo / gspo_mispo token filter
    traj_bounds: tuple[float, float] = MISPO_TRAJ_BOUNDS  # mispo / gspo_mispo trajectory filter
    clip_eps: tuple[float, float] = (0.2, 0.2)  # ppo_clip / tis / icepop (low, high)
    tis_cap: float = 2.0  # tis: truncation C of the IS weight
    icepop_bounds: tuple[float, float] = (0.5, 5.0)  # icepop: [alpha, beta] of pi_old/pi_rollout (IcePop's defaults)
    gspo_eps: tuple[float, float] = (3e-4, 4e-4)  # gspo sequence-ratio clip (low, high), GSPO paper
    gspo_mispo_eps: tuple[float, float] = (1e-4, 1e-4)  # gspo_mispo sequence-ratio clip, Step 3.5 Flash baseline
    loss_agg: str = "token_mean"


def _ppo_per_token(lp: torch.Tensor, old: torch.Tensor, adv: torch.Tensor, eps: tuple[float, float]) -> torch.Tensor:
    ratio = torch.exp(lp - old)
    clipped = torch.clamp(ratio, 1.0 - eps[0], 1.0 + eps[1])
    return -torch.minimum(ratio * adv, clipped * adv)


def icepop_weight(old: torch.Tensor, rollout: torch.Tensor, bounds: tuple[float, float]) -> torch.Tensor:
    """IcePop's masked IS weight M(k; alpha, beta) = k if alpha <= k <= beta else 0, with k = pi_old/pi_rollout
    (training engine at the old weights over the inference engine). [B, S] -> [B, S], no grad, bounds inclusive."""
    k = torch.exp(old.detach().float() - rollout.detach().float())
    inside = (k >= bounds[0]) & (k <= bounds[1])
    return torch.where(inside, k, torch.zeros_like(k))


def gspo_per_token(lp: torch.Tensor, old: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor,
                   eps: tuple[float, float]) -> torch.Tensor:
    """GSPO's clipped surrogate with the sequence ratio s = exp(mean over `mask` of (lp - old)), broadcast to every
    token: -min(s * A_t, clip(s, 1 - eps_lo, 1 + eps_hi) * A_t). [B, S]; rows with an empty mask give s = 1."""
    n = mask.sum(-1).clamp(min=1.0)
    s = torch.exp(((lp - old) * mask).sum(-1) / n).unsqueeze(-1)
    clipped = torch.clamp(s, 1.0 - eps[0], 1.0 + eps[1])
    return -torch.minimum(s * adv, clipped * adv)


def policy_loss(objective: str, lp: torch.Tensor, old: torch.Tensor, rollout: torch.Tensor, adv: torch.Tensor,
                mask: torch.Tensor, p: ObjectiveParams, normalizer: float | None = None) -> torch.Tensor:
    """Scalar loss of `objective` (one of OBJECTIVES)."""
    old, rollout, adv, mask = old.detach(), rollout.detach(), adv.detach().to(lp.dtype), mask.float()
    if objective == "mispo":
        return actor_loss(lp, old, rollout, adv, mask, p.token_bounds, p.traj_bounds, p.loss_agg, normalizer,
                          with_stats=False)[0]
    if objective == "pg":
        return pg_loss(lp, adv, mask, p.loss_agg, normalizer)
    if objective == "ppo_clip":
        return aggregate(_ppo_per_token(lp, old, adv, p.clip_eps), mask, p.loss_agg, normalizer)
    if objective == "tis":
        w = torch.clamp(torch.exp(old - rollout), max=p.tis_cap)
        return aggregate(w * _ppo_per_token(lp, old, adv, p.clip_eps), mask, p.loss_agg, normalizer)
    if objective == "icepop":
        w = icepop_weight(old, rollout, p.icepop_bounds).to(lp.dtype)
        return aggregate(w * _ppo_per_token(lp, old, adv, p.clip_eps), mask, p.loss_agg, normalizer)
    if objective == "gspo":
        return aggregate(gspo_per_token(lp, old, adv, mask, p.gspo_eps), mask, p.loss_agg, normalizer)
    if objective == "gspo_mispo":
        f = mispo_filters(old, rollout, mask, p.token_bounds, p.traj_bounds)
        keep = (f.token_keep * f.traj_keep.unsqueeze(-1)).to(lp.dtype)
        per_token = keep * gspo_per_token(lp, old, adv, keep, p.gspo_mispo_eps)
        return aggregate(per_token, mask, p.loss_agg, normalizer)
    raise ValueError(f"algo.objective: {objective!r} is not one of {list(OBJECTIVES)}")


def k3_kl(lp: torch.Tensor, old: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per-token KL(pi_theta || pi_ref) estimate: the unbiased k3 estimator, corrected by pi_theta/pi_old because
    tokens were sampled from pi_old: (pi_theta/pi_old) * (pi_ref/pi_theta - log(pi_ref/pi_theta) - 1). [B, S]."""
    log_r = ref.detach() - lp
    return torch.exp(lp - old.detach()) * (torch.exp(log_r) - log_r - 1.0)
