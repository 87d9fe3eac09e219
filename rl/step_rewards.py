"""One rollout's rewards as tensors: the verifier's scores, which samples are valid (a failed verifier masks its sample,
never scores it 0), and the overlong shaping of `algo.overlong`. Rounds of dynamic sampling are concatenated and
selected as `ScoredRollout`s, so every per-sample tensor stays aligned with its trajectory."""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from config.rl import OverlongConfig
from config.rollout import RolloutConfig
from rewards.types import RewardResult
from rl.algos.overlong import shape_overlong
from rollout.types import Trajectory


@dataclass
class ScoredRollout:
    """N trajectories with their verifier results and per-sample tensors.

    rewards: [N] scores after overlong shaping (0 where invalid); valid: [N] 0/1 (0: out of the loss: verifier
    failure, overlong `mask`, or a dynamic-sampling filler group); penalty: [N] overlong penalty added (<= 0);
    overlong_masked: [N] bool, masked by overlong `mask`; n_stale: trajectories dropped as too stale before scoring.
    """

    trajs: list[Trajectory]
    results: list[RewardResult]
    rewards: torch.Tensor
    valid: torch.Tensor
    penalty: torch.Tensor
    overlong_masked: torch.Tensor
    n_stale: int = 0

    def __len__(self) -> int:
        return len(self.trajs)

    @property
    def group_ids(self) -> torch.Tensor:
        """[N] long: samples of one prompt share an id."""
        return torch.tensor([t.group_id for t in self.trajs], dtype=torch.long)

    @property
    def truncated(self) -> torch.Tensor:
        """[N] float 0/1."""
        return torch.tensor([float(t.truncated) for t in self.trajs])

    def select(self, index: Sequence[int]) -> ScoredRollout:
        idx = torch.as_tensor(list(index), dtype=torch.long)
        return ScoredRollout([self.trajs[i] for i in idx.tolist()], [self.results[i] for i in idx.tolist()],
                             self.rewards[idx], self.valid[idx], self.penalty[idx], self.overlong_masked[idx],
                             self.n_stale)

    def with_group_offset(self, offset: int) -> ScoredRollout:
        """The same rollout with every group id shifted by `offset` (ids stay unique across dynamic-sampling rounds)."""
        trajs = [dataclasses.replace(t, group_id=t.group_id + offset) for t in self.trajs]
        return dataclasses.replace(self, trajs=trajs)

    @staticmethod
    def cat(parts: Sequence[ScoredRollout]) -> ScoredRollout:
        return ScoredRollout([t for p in parts for t in p.trajs], [r for p in parts for r in p.results],
                             torch.cat([p.rewards for p in parts]), torch.cat([p.valid for p in parts]),
                             torch.cat([p.penalty for p in parts]), torch.cat([p.overlong_masked for p in parts]),
                             sum(p.n_stale for p in parts))


def length_budgets(trajs: Sequence[Trajectory], rollout: RolloutConfig) -> torch.Tensor:
    """[N] L_max of each trajectory: rollout.max_new_tokens, or rollout.agent.max_total_tokens for agent domains
    (their budget counts policy and observation tokens, so their length L does too)."""
    agent = set(rollout.agent.domains)
    return torch.tensor([float(rollout.agent.max_total_tokens if t.domain in agent else rollout.max_new_tokens)
                         for t in trajs])


def score_rollout(trajs: list[Trajectory], results: list[RewardResult], overlong: OverlongConfig,
                  rollout: RolloutConfig, n_stale: int = 0) -> ScoredRollout:
    """Rewards, validity and overlong shaping (`algo.overlong`) of one rollout."""
    valid = torch.tensor([1.0 if r.ok else 0.0 for r in results])
    rewards = torch.tensor([r.score if r.ok else 0.0 for r in results])
    truncated = torch.tensor([float(t.truncated) for t in trajs])
    lengths = torch.tensor([float(t.num_response_tokens) for t in trajs])
    shaped = shape_overlong(rewards, valid, truncated, lengths, length_budgets(trajs, rollout), overlong.mode,
                            overlong.buffer_tokens, overlong.penalty)
    return ScoredRollout(trajs, results, shaped.rewards, shaped.valid, shaped.penalty, shaped.masked, n_stale)


def overlong_stats(batch: ScoredRollout, mode: str) -> dict[str, float]:
    """Telemetry of the trained batch: share masked as truncated (mode mask), share penalised and the mean penalty
    over valid samples (mode penalty)."""
    if mode == "none" or not len(batch):
        return {}
    if mode == "mask":
        return {"algo/overlong_masked_frac": float(batch.overlong_masked.float().mean())}
    ok = batch.valid > 0
    pen = batch.penalty[ok]
    return {"algo/overlong_penalized_frac": float((pen < 0).float().mean()) if ok.any() else 0.0,
            "algo/overlong_penalty_mean": float(pen.mean()) if ok.any() else 0.0}
