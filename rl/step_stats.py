"""Per-step telemetry computed on the driver: rewards per domain, MIS-PO filter keep fractions (overall, per
domain, per response-length bucket), ratio statistics, response lengths, policy-version span."""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import torch

from config.rl import AlgoConfig
from rewards.types import RewardResult
from rl.algos.mispo import filter_stats, mispo_filters
from rl.batch import TrainBatch
from rollout.types import Trajectory

LENGTH_BUCKETS = (16, 64, 256, 1024)


def length_bucket(n: int) -> str:
    for edge in LENGTH_BUCKETS:
        if n <= edge:
            return f"le{edge}"
    return f"gt{LENGTH_BUCKETS[-1]}"


def reward_stats(trajs: Sequence[Trajectory], results: Sequence[RewardResult]) -> dict[str, float]:
    out: dict[str, float] = {}
    by_domain: dict[str, list[float]] = defaultdict(list)
    status = defaultdict(int)
    for t, r in zip(trajs, results):
        status[r.status] += 1
        if r.ok:
            by_domain[t.domain].append(r.score)
    scores = [s for v in by_domain.values() for s in v]
    out["reward/mean"] = sum(scores) / len(scores) if scores else float("nan")
    for d, v in sorted(by_domain.items()):
        out[f"reward/{d}/mean"] = sum(v) / len(v)
    n = max(len(results), 1)
    out["reward/error_frac"] = status["error"] / n
    out["reward/timeout_frac"] = status["timeout"] / n
    lengths = [t.num_response_tokens for t in trajs]
    out["response/length_mean"] = sum(lengths) / max(len(lengths), 1)
    out["response/length_max"] = float(max(lengths, default=0))
    out["response/truncated_frac"] = sum(t.truncated for t in trajs) / max(len(trajs), 1)
    versions = [t.policy_version for t in trajs]
    out["policy/version_span"] = float(max(versions) - min(versions)) if versions else 0.0
    out["rollout/partial_frac"] = sum(len(t.versions) > 1 for t in trajs) / max(len(trajs), 1)
    episodes = [t for t in trajs if t.env_result is not None]
    if episodes:  # multi-turn domains (rollout.agent)
        out["agent/turns_mean"] = sum(t.turns for t in episodes) / len(episodes)
        out["agent/multi_turn_frac"] = sum(t.turns > 1 for t in episodes) / len(episodes)
        tokens = sum(len(t.loss_mask) for t in episodes)
        out["agent/observation_token_frac"] = sum(len(t.loss_mask) - sum(t.loss_mask) for t in episodes) / max(tokens, 1)
    return out


def filter_telemetry(batch: TrainBatch, trajs: Sequence[Trajectory], algo: AlgoConfig,
                     traj_bounds: tuple[float, float]) -> dict[str, float]:
    """MIS-PO keep fractions on the batch (computed for every objective, so ablations can compare), with the
    trajectory band actually used this step (fixed or adaptive)."""
    tb, jb = tuple(algo.token_bounds), tuple(traj_bounds)
    f = mispo_filters(batch.old_logprobs, batch.rollout_logprobs, batch.response_mask, tb, jb)
    out = {f"mispo/{k}": v for k, v in filter_stats(f, batch.response_mask).items()}
    out["mispo/traj_bound_lo"], out["mispo/traj_bound_hi"] = jb
    groups: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(trajs):
        groups[f"domain/{t.domain}"].append(i)
        groups[f"len/{length_bucket(t.num_response_tokens)}"].append(i)
    for name, idx in sorted(groups.items()):
        sel = torch.tensor(idx)
        mask = batch.response_mask[sel]
        if mask.sum() == 0:
            continue
        sub = mispo_filters(batch.old_logprobs[sel], batch.rollout_logprobs[sel], mask, tb, jb)
        out[f"mispo/keep_frac/{name}"] = filter_stats(sub, mask)["keep_frac"]
    kl = (batch.rollout_logprobs - batch.old_logprobs) * batch.response_mask
    out["mispo/rollout_kl_k1"] = float(kl.sum() / batch.response_mask.sum().clamp(min=1.0))
    return out


def staleness_stats(trajs: Sequence[Trajectory], learner_version: int) -> dict[str, float]:
    """How many versions behind the learner (before its update) the batch was generated: per trajectory (its oldest
    token) and per token (partial rollouts mix versions inside one trajectory)."""
    if not trajs:
        return {}
    lag = [learner_version - t.policy_version for t in trajs]
    tokens, weighted = 0, 0.0
    for t in trajs:  # policy tokens only (loss mask 1): observations belong to no version
        spans = t.version_spans or [(0, len(t.response_ids), t.policy_version)]
        for start, end, v in spans:
            n = sum(t.loss_mask[start:end])
            tokens += n
            weighted += n * (learner_version - v)
    return {"policy/staleness_mean": sum(lag) / len(lag), "policy/staleness_token_mean": weighted / max(tokens, 1)}
