"""Group baseline and the token alignment of TrainBatch."""
from __future__ import annotations

import pytest
import torch

from rl.algos.advantages import group_baseline
from rl.batch import build_batch
from rollout.types import Trajectory


def test_group_baseline_excludes_invalid_samples():
    rewards = torch.tensor([1.0, 0.0, 0.0, 5.0, 1.0, 1.0])
    groups = torch.tensor([0, 0, 0, 0, 1, 1])
    valid = torch.tensor([1, 1, 1, 0, 1, 0])  # sample 3 (reward failed) is masked; group 1 has one valid sample
    adv = group_baseline(rewards, groups, valid)
    assert adv.tolist() == pytest.approx([2 / 3, -1 / 3, -1 / 3, 0.0, 0.0, 0.0])
    adv_std = group_baseline(rewards, groups, valid, normalize_std=True)
    std = torch.tensor([1.0, 0.0, 0.0]).std().item()
    assert adv_std[0].item() == pytest.approx((2 / 3) / std, rel=1e-4)


def traj(prompt, resp, lps, mask=None):
    return Trajectory(group_id=0, domain="math", prompt_text="", prompt_ids=prompt, response_ids=resp,
                      response_text="", rollout_logprobs=lps, loss_mask=mask or [1] * len(resp), policy_version=0,
                      truncated=False)


def test_build_batch_aligns_response_tokens_with_logit_positions():
    trajs = [traj([5, 6, 7], [8, 9], [-0.1, -0.2]), traj([5], [4, 3, 2], [-1.0, -2.0, -3.0], [1, 0, 1])]
    b = build_batch(trajs, torch.tensor([1.0, 1.0]), pad_id=0, advantages=torch.tensor([0.5, -1.0]))
    assert b.input_ids.tolist() == [[5, 6, 7, 8, 9], [5, 4, 3, 2, 0]]
    # position t scores token t+1: response tokens of row 0 are input positions 3,4 -> logit positions 2,3
    assert b.response_mask.tolist() == [[0, 0, 1, 1], [1, 0, 1, 0]]
    assert b.rollout_logprobs[0].tolist() == pytest.approx([0, 0, -0.1, -0.2])
    assert b.advantages[1].tolist() == pytest.approx([-1.0, -1.0, -1.0, 0.0])
    small = b.select([0])
    assert small.input_ids.shape == (1, 5) and small.response_mask.shape == (1, 4)


def test_invalid_reward_masks_whole_trajectory():
    b = build_batch([traj([1, 2], [3], [-0.5])], torch.tensor([0.0]), pad_id=0, advantages=torch.tensor([1.0]))
    assert b.response_mask.sum().item() == 0
