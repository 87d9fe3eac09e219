"""Dynamic sampling's group filter and batch fill (rl/dynamic_sampling.py) on hand-made rollouts, no Ray: a fake
`generate` stands in for a rollout + scoring round."""
from __future__ import annotations

import pytest
import torch

from config.errors import ConfigError
from config.load import load_config
from config.rl import DynamicSamplingConfig, RLConfig, validate_rl_config
from rewards.types import RewardResult
from rl.algos.advantages import group_baseline
from rl.dynamic_sampling import (
    fill_informative,
    group_stats,
    informative_samples,
    next_round_size,
    plan_batch,
    step_batch,
)
from rl.step_rewards import ScoredRollout
from rollout.types import Trajectory

K = 4  # samples per prompt


def rollout(group_rewards: list[list[float]], valid: list[list[float]] | None = None) -> ScoredRollout:
    """One scored round: group g has the rewards group_rewards[g] (ids 0..n-1, as start_rollout numbers them)."""
    trajs, rewards, ok = [], [], []
    for g, rs in enumerate(group_rewards):
        for j, r in enumerate(rs):
            trajs.append(Trajectory(group_id=g, domain="math", prompt_text=f"p{g}", prompt_ids=[1],
                                    response_ids=[2, 3], response_text="", rollout_logprobs=[-0.1, -0.1],
                                    loss_mask=[1, 1], policy_version=0, truncated=False))
            rewards.append(r)
            ok.append(valid[g][j] if valid else 1.0)
    n = len(trajs)
    return ScoredRollout(trajs, [RewardResult(r) for r in rewards], torch.tensor(rewards), torch.tensor(ok),
                         torch.zeros(n), torch.zeros(n, dtype=torch.bool))


ALL_RIGHT, MIXED = [1.0] * K, [0.0, 1.0, 0.0, 1.0]


def test_informative_needs_two_valid_samples_that_disagree():
    r = rollout([ALL_RIGHT, MIXED, [0.0] * K, [1.0, 0.0, 0.0, 0.0], [0.2, 0.2, 0.2, 0.2000001]],
                valid=[[1] * K, [1] * K, [1] * K, [1, 0, 0, 0], [1] * K])
    # all right, mixed, all wrong, mixed but only one valid sample, spread below 1e-6
    assert informative_samples(r.rewards, r.valid, r.group_ids).view(-1, K)[:, 0].tolist() == [
        False, True, False, False, False]
    assert group_stats(r) == {"rollout/groups_generated": 5.0, "rollout/zero_var_groups_frac": 0.8}


def test_plan_batch_takes_informative_groups_first_then_filler():
    ids = [7, 7, 3, 3, 9, 9, 1, 1]
    informative = [False, False, True, True, False, False, True, True]
    assert plan_batch(ids, informative, 3) == ([2, 3, 6, 7], [0, 1])
    assert plan_batch(ids, informative, 1) == ([2, 3], [])
    assert plan_batch(ids, informative, 5) == ([2, 3, 6, 7], [0, 1, 4, 5])  # all there is


def test_next_round_size_scales_by_the_informative_rate():
    assert next_round_size(2, 4, 4) == 4  # half informative, 2 missing
    assert next_round_size(3, 4, 8) == 7  # 5 missing at 3/4: ceil(6.67)
    assert next_round_size(1, 8, 8) == 8  # capped at a step's prompts
    assert next_round_size(0, 8, 8) == 8


def test_half_all_correct_task_fills_the_batch_with_informative_groups():
    """Every round: even groups all-correct, odd groups mixed. 4 prompts per step."""
    calls = []

    def generate(n):
        calls.append(n)
        return rollout([ALL_RIGHT if g % 2 == 0 else MIXED for g in range(n)])

    out = fill_informative(generate(4), generate, n_groups=4, max_rounds=3)
    assert calls == [4, 4]  # the first round, then 2 missing at rate 1/2
    assert len(out.batch) == 4 * K and out.batch.valid.tolist() == [1.0] * 16
    ids = out.batch.group_ids.tolist()
    assert len(set(ids)) == 4 and sorted(set(ids)) == [1, 3, 5, 7]  # round 2's ids shifted past round 1's
    assert informative_samples(out.batch.rewards, out.batch.valid, out.batch.group_ids).all()
    assert len(out.generated) == 8 * K and len(set(out.generated.group_ids.tolist())) == 8
    assert out.stats == {"rollout/dynamic_rounds": 1.0, "rollout/dynamic_filled_frac": 1.0,
                         "rollout/groups_generated": 8.0, "rollout/zero_var_groups_frac": 0.5}


def test_short_after_max_rounds_fills_with_masked_zero_variance_groups():
    rounds = iter([[ALL_RIGHT, MIXED, ALL_RIGHT, ALL_RIGHT], [ALL_RIGHT] * 4, [MIXED] * 4])
    out = fill_informative(rollout(next(rounds)), lambda n: rollout(next(rounds)[:n]), n_groups=4, max_rounds=2)
    b = out.batch
    assert len(b) == 4 * K  # the configured batch size, whatever was found
    assert b.valid.tolist() == [1.0] * K + [0.0] * 3 * K  # one informative group, three masked fillers
    assert b.rewards[K:].abs().sum() == 0
    assert out.stats == {"rollout/dynamic_rounds": 1.0, "rollout/dynamic_filled_frac": 0.25,
                         "rollout/groups_generated": 8.0, "rollout/zero_var_groups_frac": 7 / 8}
    # fillers carry no advantage and no loss: group baselines skip them, their tokens have mask 0
    adv = group_baseline(b.rewards, b.group_ids, b.valid, normalize_std=True)
    assert adv[K:].abs().sum() == 0 and adv[:K].abs().sum() > 0


def test_nothing_informative_is_a_zero_update_not_an_abort():
    out = fill_informative(rollout([ALL_RIGHT] * 2), lambda n: rollout([[0.0] * K] * n), n_groups=2, max_rounds=3)
    assert len(out.batch) == 2 * K and out.batch.valid.sum() == 0
    assert out.stats["rollout/dynamic_rounds"] == 2.0 and out.stats["rollout/dynamic_filled_frac"] == 0.0


def test_disabled_keeps_the_first_rollout_and_still_counts_zero_variance_groups():
    first = rollout([ALL_RIGHT, MIXED])
    out = step_batch(first, lambda n: pytest.fail("no extra round when disabled"), 2, DynamicSamplingConfig())
    assert out.batch is first and out.generated is first
    assert out.stats == {"rollout/groups_generated": 2.0, "rollout/zero_var_groups_frac": 0.5}


def test_config_validation():
    def load(overrides):
        return load_config(RLConfig, "mispo_math_code.yaml", list(overrides), validate_rl_config)

    cfg = load(["algo.dynamic_sampling.enabled=true", "algo.dynamic_sampling.max_rounds=4"])
    assert cfg.algo.dynamic_sampling.max_rounds == 4
    with pytest.raises(ConfigError, match="algo.dynamic_sampling.max_rounds: must be >= 1"):
        load(["algo.dynamic_sampling.max_rounds=0"])
    with pytest.raises(ConfigError, match="rollout.samples_per_prompt >= 2"):
        load(["algo.dynamic_sampling.enabled=true", "rollout.samples_per_prompt=1", "actor.mini_batches=1",
              "critic.mini_batches=1"])
