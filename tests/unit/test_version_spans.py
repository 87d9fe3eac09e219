"""Version spans of partial rollouts and the staleness telemetry built on them."""
from __future__ import annotations

from rewards.types import RewardResult
from rl.step_stats import reward_stats, staleness_stats
from rollout.types import Trajectory, add_span


def _traj(n: int, spans: list[tuple[int, int, int]], version: int) -> Trajectory:
    return Trajectory(0, "math", "p", [1], list(range(n)), "r", [0.0] * n, [1] * n, version, False,
                      version_spans=spans)


def test_add_span_merges_same_version_and_skips_empty():
    spans: list[tuple[int, int, int]] = []
    add_span(spans, 0, 4, 0)
    add_span(spans, 4, 4, 1)  # empty: ignored
    add_span(spans, 4, 6, 0)
    add_span(spans, 6, 9, 1)
    add_span(spans, 12, 15, 1)  # after an observation gap, same version: one span
    assert spans == [(0, 6, 0), (6, 15, 1)]


def test_versions_fall_back_to_policy_version():
    assert _traj(3, [], 4).versions == [4]
    assert _traj(6, [(0, 2, 3), (2, 6, 4)], 3).versions == [3, 4]


def test_staleness_per_trajectory_and_per_token():
    trajs = [_traj(4, [(0, 1, 0), (1, 4, 1)], 0), _traj(4, [(0, 4, 1)], 1)]
    out = staleness_stats(trajs, learner_version=1)
    assert out["policy/staleness_mean"] == 0.5  # oldest token: 1 and 0 versions behind
    assert out["policy/staleness_token_mean"] == 1 / 8  # one token of eight is a version behind
    stats = reward_stats(trajs, [RewardResult(1.0), RewardResult(0.0)])
    assert stats["rollout/partial_frac"] == 0.5
