"""Overlong shaping (`algo.overlong`) on hand-made tensors, the per-domain length budgets, and the validation of its
joint with the critic's truncation bootstrap."""
from __future__ import annotations

import pytest
import torch

from config.errors import ConfigError
from config.load import load_config
from config.rl import OverlongConfig, RLConfig, validate_rl_config
from config.rollout import AgentEnvConfig, RolloutConfig
from rewards.types import RewardResult
from rl.algos.overlong import overlong_penalty, shape_overlong
from rl.step_rewards import overlong_stats, score_rollout
from rollout.types import Trajectory


def test_penalty_is_zero_then_linear_over_the_last_buffer_tokens():
    # L_max = 32, buffer 8: free up to 24 tokens, then -1/8 per token, -penalty at 32
    lengths = torch.tensor([0, 10, 24, 25, 28, 31, 32])
    pen = overlong_penalty(lengths, 32, buffer_tokens=8, penalty=1.0)
    assert pen.tolist() == pytest.approx([0, 0, 0, -1 / 8, -4 / 8, -7 / 8, -1.0])
    assert overlong_penalty(lengths, 32, 8, 0.5).tolist() == pytest.approx((0.5 * pen).tolist())
    # per-sample budgets (single-turn and agent samples in one batch); never below -penalty
    per = overlong_penalty(torch.tensor([30, 30, 600]), torch.tensor([32.0, 512.0, 512.0]), 8, 1.0)
    assert per.tolist() == pytest.approx([-6 / 8, 0.0, -1.0])
    with pytest.raises(ValueError):
        overlong_penalty(lengths, 32, 0, 1.0)


def test_modes_on_hand_made_tensors():
    rewards = torch.tensor([1.0, 1.0, 0.0, 0.0, 1.0])
    valid = torch.tensor([1.0, 1.0, 1.0, 0.0, 1.0])  # sample 3: verifier failed (reward 0, masked already)
    truncated = torch.tensor([0.0, 1.0, 1.0, 1.0, 0.0])
    lengths = torch.tensor([10.0, 32.0, 32.0, 32.0, 28.0])

    none = shape_overlong(rewards, valid, truncated, lengths, 32, "none")
    assert none.rewards.tolist() == rewards.tolist() and none.valid.tolist() == valid.tolist()
    assert not none.masked.any() and none.penalty.abs().sum() == 0

    mask = shape_overlong(rewards, valid, truncated, lengths, 32, "mask")
    assert mask.valid.tolist() == [1.0, 0.0, 0.0, 0.0, 1.0]  # truncated samples leave the loss
    assert mask.masked.tolist() == [False, True, True, False, False]  # sample 3 was invalid already: not counted
    assert mask.rewards.tolist() == [1.0, 0.0, 0.0, 0.0, 1.0]  # 0 where invalid, as everywhere
    assert mask.penalty.abs().sum() == 0

    pen = shape_overlong(rewards, valid, truncated, lengths, 32, "penalty", buffer_tokens=8, penalty=1.0)
    assert pen.valid.tolist() == valid.tolist()  # nothing masked
    assert pen.penalty.tolist() == pytest.approx([0.0, -1.0, -1.0, 0.0, -0.5])  # invalid sample 3: no penalty
    assert pen.rewards.tolist() == pytest.approx([1.0, 0.0, -1.0, 0.0, 0.5])
    with pytest.raises(ValueError):
        shape_overlong(rewards, valid, truncated, lengths, 32, "clip")


def traj(domain: str, n_tokens: int, truncated: bool, group_id: int = 0) -> Trajectory:
    return Trajectory(group_id=group_id, domain=domain, prompt_text="", prompt_ids=[1], response_ids=[5] * n_tokens,
                      response_text="", rollout_logprobs=[-0.1] * n_tokens, loss_mask=[1] * n_tokens, policy_version=0,
                      truncated=truncated)


def test_score_rollout_uses_each_domains_budget_and_reports_the_trained_batch():
    rollout = RolloutConfig(max_new_tokens=32)
    rollout.agent.domains = {"term": AgentEnvConfig(env="terminal")}
    rollout.agent.max_total_tokens = 512
    trajs = [traj("math", 32, True), traj("term", 32, False), traj("term", 512, True), traj("math", 4, False)]
    results = [RewardResult(1.0), RewardResult(1.0), RewardResult(0.0), RewardResult.failed("error", "boom")]
    s = score_rollout(trajs, results, OverlongConfig(mode="penalty", buffer_tokens=8, penalty=0.5), rollout)
    # math at its 32-token budget: -0.5; a 32-token episode is far from the agent budget of 512: no penalty
    assert s.penalty.tolist() == pytest.approx([-0.5, 0.0, -0.5, 0.0])
    assert s.rewards.tolist() == pytest.approx([0.5, 1.0, -0.5, 0.0]) and s.valid.tolist() == [1, 1, 1, 0]
    assert overlong_stats(s, "penalty") == pytest.approx({"algo/overlong_penalized_frac": 2 / 3,
                                                          "algo/overlong_penalty_mean": -1 / 3})
    m = score_rollout(trajs, results, OverlongConfig(mode="mask"), rollout)
    assert m.valid.tolist() == [0, 1, 0, 0]
    assert overlong_stats(m, "mask") == {"algo/overlong_masked_frac": 0.5}
    assert overlong_stats(m, "none") == {}


def load(overrides):
    return load_config(RLConfig, "mispo_math_code.yaml", list(overrides), validate_rl_config)


def test_overlong_and_the_truncation_bootstrap_are_exclusive_under_gae():
    for mode in ("mask", "penalty"):
        with pytest.raises(ConfigError) as exc:
            load([f"algo.overlong.mode={mode}"])  # the YAML runs GAE with the bootstrap on
        msg = str(exc.value)
        assert "\n" not in msg and "algo.overlong.mode" in msg and "algo.truncation_bootstrap=false" in msg
        assert load([f"algo.overlong.mode={mode}", "algo.truncation_bootstrap=false"]).algo.overlong.mode == mode
        assert load([f"algo.overlong.mode={mode}", "algo.advantage=grpo"]).algo.advantage == "grpo"


def test_overlong_settings_are_validated():
    with pytest.raises(ConfigError, match=r"algo.overlong.buffer_tokens: must be in \[1, rollout.max_new_tokens=32\]"):
        load(["algo.advantage=grpo", "algo.overlong.mode=penalty", "algo.overlong.buffer_tokens=64"])
    with pytest.raises(ConfigError, match="algo.overlong.penalty"):
        load(["algo.advantage=grpo", "algo.overlong.mode=penalty", "algo.overlong.penalty=-1"])
    with pytest.raises(ConfigError, match="algo.overlong.mode: 'soft' is not one of"):
        load(["algo.overlong.mode=soft"])
    # buffer_tokens only matters in penalty mode
    assert load(["algo.advantage=grpo", "algo.overlong.mode=mask", "algo.overlong.buffer_tokens=64"])
