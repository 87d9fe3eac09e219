"""Dynamic sampling (`algo.dynamic_sampling`, DAPO, Yu et al. 2025, Sec. 3.2): keep only informative groups, generate
more prompts until the batch is full of them.

A group is the `rollout.samples_per_prompt` trajectories of one prompt (`Trajectory.group_id`). It is informative
when at least two of its samples are valid and their (shaped) rewards are not all equal; otherwise a group-relative
advantage is 0 for every sample (all right, all wrong, or nothing left to compare) and the group only dilutes the
token-mean loss. After a step's rollout is scored, while fewer than `rollout.prompts_per_step` groups are
informative and fewer than `max_rounds` rounds were generated, another round of fresh prompts is generated and
scored: as many as the informative rate so far says are needed (at most `prompts_per_step`, so a round never costs
more than a step's rollout). Then exactly `prompts_per_step` groups are taken, informative ones first.

Short after `max_rounds`, the remaining slots are filled with zero-variance groups masked out of the loss (valid 0,
so no loss, no critic target, no share of the normaliser N): the batch keeps the size the learners' mini-batch
split and gradient accumulation assume, and the step trains on the informative groups there are. Under GRPO the
filler would have advantage 0 anyway; under GAE it would not (A = R - V), which is why it is masked rather than
kept. The run never aborts for lack of informative groups (with none at all the step is a zero update).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from config.rl import DynamicSamplingConfig
from rl.step_rewards import ScoredRollout

ZERO_VAR_EPS = 1e-6


def informative_samples(rewards: torch.Tensor, valid: torch.Tensor, group_ids: torch.Tensor,
                        eps: float = ZERO_VAR_EPS) -> torch.Tensor:
    """[N] bool: the sample's group has >= 2 valid samples whose rewards span more than `eps`.
    rewards, valid (0/1), group_ids: [N]."""
    out = torch.zeros(len(group_ids), dtype=torch.bool)
    ok = valid.float() > 0
    for gid in torch.unique(group_ids):
        in_group = group_ids == gid
        r = rewards.float()[in_group & ok]
        if r.numel() >= 2 and float(r.max() - r.min()) > eps:
            out |= in_group
    return out


def group_order(group_ids: list[int]) -> list[int]:
    """Distinct group ids in order of first appearance."""
    return list(dict.fromkeys(group_ids))


def plan_batch(group_ids: list[int], informative: list[bool], n_groups: int) -> tuple[list[int], list[int]]:
    """Choose `n_groups` groups: informative ones first (in generation order), then zero-variance ones as filler.
    group_ids, informative: [N] per sample. Returns (sample indices of kept informative groups, sample indices of
    filler groups); fewer than n_groups groups in all only when fewer were generated."""
    members: dict[int, list[int]] = {}
    for i, g in enumerate(group_ids):
        members.setdefault(g, []).append(i)
    order = group_order(group_ids)
    good = [g for g in order if informative[members[g][0]]][:n_groups]
    filler = [g for g in order if not informative[members[g][0]]][: n_groups - len(good)]
    return [i for g in good for i in members[g]], [i for g in filler for i in members[g]]


def next_round_size(n_informative: int, n_generated: int, n_groups: int) -> int:
    """Prompts to generate next: the missing groups divided by the informative rate so far, capped at n_groups
    (all n_groups when nothing was informative yet)."""
    missing = n_groups - n_informative
    if n_informative == 0:
        return n_groups
    return min(n_groups, math.ceil(missing * n_generated / n_informative))


@dataclass
class DynamicBatch:
    """batch: the `n_groups` groups the learners train on (filler groups have valid 0 and reward 0);
    generated: every sample generated this step, all rounds (what reward telemetry describes); stats: metrics."""

    batch: ScoredRollout
    generated: ScoredRollout
    stats: dict[str, float]


def step_batch(first: ScoredRollout, generate: Callable[[int], ScoredRollout], n_groups: int,
               cfg: DynamicSamplingConfig) -> DynamicBatch:
    """The step's training batch: `fill_informative` when dynamic sampling is on, else the first rollout as is."""
    if cfg.enabled:
        return fill_informative(first, generate, n_groups, cfg.max_rounds)
    return DynamicBatch(first, first, group_stats(first))


def fill_informative(first: ScoredRollout, generate: Callable[[int], ScoredRollout], n_groups: int,
                     max_rounds: int) -> DynamicBatch:
    """Run the rounds described in the module docstring. `generate(n)` rolls out and scores n fresh prompts (group
    ids 0..n-1; they are shifted here to stay unique across rounds)."""
    parts, rounds = [first], 1
    while True:
        pool = ScoredRollout.cat(parts)
        ids = pool.group_ids.tolist()
        informative = informative_samples(pool.rewards, pool.valid, pool.group_ids)
        n_generated = len(set(ids))
        n_informative = len({g for g, ok in zip(ids, informative.tolist()) if ok})
        if n_informative >= n_groups or rounds >= max_rounds:
            break
        more = generate(next_round_size(n_informative, n_generated, n_groups))
        parts.append(more.with_group_offset(max(ids, default=-1) + 1))
        rounds += 1
    keep, filler = plan_batch(ids, informative.tolist(), n_groups)
    batch = pool.select(keep + filler)
    if filler:
        off = torch.arange(len(batch)) >= len(keep)
        batch.valid = torch.where(off, torch.zeros_like(batch.valid), batch.valid)
        batch.rewards = torch.where(off, torch.zeros_like(batch.rewards), batch.rewards)
    stats = {"rollout/dynamic_rounds": float(rounds - 1),
             "rollout/dynamic_filled_frac": min(n_informative, n_groups) / n_groups,
             **group_stats(pool)}
    return DynamicBatch(batch, pool, stats)


def group_stats(pool: ScoredRollout) -> dict[str, float]:
    """Groups generated this step and the share of them with zero reward variance (logged with or without dynamic
    sampling: without it, that share of the batch carries no group-relative signal)."""
    ids = pool.group_ids
    informative = informative_samples(pool.rewards, pool.valid, ids)
    groups = group_order(ids.tolist())
    n_informative = len(set(ids[informative].tolist()))
    return {"rollout/groups_generated": float(len(groups)),
            "rollout/zero_var_groups_frac": (len(groups) - n_informative) / max(len(groups), 1)}
