"""Evaluation metrics (rl/evaluation.py): the unbiased pass@k estimator and the per-domain summary."""
from __future__ import annotations

import itertools
import math

import pytest

from config.rl import EvalConfig
from rewards.types import RewardResult
from rl.evaluation import format_table, pass_at_k, summarize
from rollout.types import Trajectory


@pytest.mark.parametrize("n,c,k", [(4, 0, 1), (4, 1, 1), (4, 1, 2), (5, 2, 3), (6, 6, 2), (6, 1, 6), (3, 2, 3)])
def test_pass_at_k_equals_the_fraction_of_k_subsets_with_a_solution(n, c, k):
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    brute = sum(any(samples[i] for i in s) for s in subsets) / len(subsets)
    assert pass_at_k(n, c, k) == pytest.approx(brute)
    assert pass_at_k(n, c, 1) == pytest.approx(c / n)


def _traj(gid: int, n_tokens: int, truncated: bool = False) -> Trajectory:
    return Trajectory(gid, "math", "", [1, 2], list(range(n_tokens)), "", [0.0] * n_tokens, [1] * n_tokens, 0,
                      truncated)


def test_summary_per_domain_leaves_failed_verifiers_out_of_pass_at_k():
    domains = ["math", "math", "code"]
    greedy = ([_traj(0, 4), _traj(1, 6, True), _traj(2, 2)],
              [RewardResult(1.0), RewardResult(0.0), RewardResult.failed("error", "sandbox died")])
    sampled_trajs = [_traj(g, 3) for g in (0, 0, 0, 1, 1, 1, 2, 2, 2)]
    sampled_res = [RewardResult(s) for s in (1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0)] + \
        [RewardResult.failed("timeout", "")]
    out = summarize(domains, greedy, (sampled_trajs, sampled_res), EvalConfig(n=3, k=[1, 2]))
    assert out["eval/math/pass@1"] == 0.5  # greedy: prompt 0 solved, prompt 1 not
    assert out["eval/math/pass@2"] == pytest.approx((pass_at_k(3, 1, 2) + 0.0) / 2)
    assert out["eval/math/pass@1_sampled"] == pytest.approx((1 / 3 + 0) / 2)
    assert math.isnan(out.get("eval/code/pass@1", float("nan")))  # its greedy sample errored: left out
    assert out["eval/code/pass@2"] == 1.0  # two valid samples, both correct
    assert out["eval/code/error_frac"] == 0.5 and out["eval/math/error_frac"] == 0.0
    assert out["eval/math/truncated_frac"] == pytest.approx(1 / 8)
    assert out["eval/math/mean_response_len"] == pytest.approx((4 + 6 + 3 * 6) / 8)
    table = format_table(out)
    assert table.splitlines()[0].split()[:2] == ["domain", "pass@1"] and "math" in table
