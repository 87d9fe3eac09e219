"""The verifier process pool: deadlines enforced by the parent, failures are data, the pool stays healthy."""
from __future__ import annotations

import math
import time

import pytest

from rewards.base import Verifier, VerifyRequest
from rewards.process_pool import VerifierProcessPool
from rewards.registry import setup_verifier
from rewards.types import RewardResult


def req(response: str, reference: str = "") -> VerifyRequest:
    return VerifyRequest(prompt="", response=response, reference=reference)


class NonFiniteVerifier(Verifier):
    """A plugin with a scoring bug: NaN/inf scores, built directly or set after construction."""

    name = "nonfinite"

    def verify(self, request: VerifyRequest) -> RewardResult:
        if request.response in ("nan", "inf", "-inf"):
            return RewardResult(float(request.response))
        result = RewardResult(1.0)
        if request.response == "set_nan_later":
            result.score = math.nan
        elif request.response == "string":
            result.score = "0.5"  # type: ignore[assignment]
        return result


@pytest.fixture(scope="module")
def pool():
    domains = {"t": ("verifier_fixtures:TantrumVerifier", {}), "math": ("math", {}),
               "nf": ("test_reward_pool:NonFiniteVerifier", {})}
    with VerifierProcessPool(domains, processes=2, timeout_s=3.0, memory_mb=1024, max_retries=1) as p:
        yield p


def test_failures_are_data_and_the_pool_recovers(pool):
    start = time.monotonic()
    out = pool.score([("t", req(a)) for a in ["ok", "hang", "raise", "crash", "oom", "wrong_type", "ok"]]
                     + [("nope", req("x"))])
    elapsed = time.monotonic() - start
    statuses = [r.status for r in out]
    assert statuses == ["ok", "timeout", "error", "error", "error", "error", "ok", "error"], out
    assert "verifier bug" in out[2].details["reason"]
    assert out[3].details["attempts"] == 2  # crashed process: retried once on a fresh process, then error
    assert "memory" in out[4].details["reason"]
    assert "no verifier configured" in out[7].details["reason"]
    assert elapsed < 30, elapsed
    assert pool.restarts >= 3  # hang + 2 crashes replaced their processes
    assert [r.status for r in pool.score([("t", req("ok"))] * 4)] == ["ok"] * 4


PATHOLOGICAL = {
    "power_tower": "\\boxed{2^{2^{2^{2^{2^{2}}}}}}",
    "huge_power": "\\boxed{9^{9^{9}}}",
    "huge_sum": "\\boxed{" + "+".join(["1"] * 20000) + "}",
    "nested_braces": "\\boxed{" + "{" * 5000 + "1" + "}" * 5000 + "}",
    "one_megabyte": "x" * (1 << 20) + "\\boxed{3}",
    "factorial_tower": "\\boxed{(10!)!}",
    # short answers that expand enormously: before the guard rails these ran past the deadline (masked timeout)
    "binomial_power": "\\boxed{(x+1)^{5000}}",
    "trinomial_power": "\\boxed{(x+y+z)^{100}}",
    "nested_powers": "\\boxed{((x+1)^{10}+1)^{20}}",
    "trig_power": "\\boxed{\\cos^{3000}(x)}",
    "slow_against_gold": "\\boxed{(x-\\pi)^{30}}",  # passes the guard; the CPU budget stops it
}


@pytest.mark.serial  # wall-clock bound on CPU-budgeted scoring: measured over 3 s under two other test workers
@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_pathological_math_is_a_prompt_wrong_answer(pool, name):
    """Answer-caused slowness is the policy's fault: status ok and score 0 well inside the deadline, never a
    masked `timeout` (the 3 s pool deadline is the infrastructure's last resort)."""
    gold = "\\cos^{2}(x)" if name == "slow_against_gold" else "3"
    start = time.monotonic()
    (res,) = pool.score([("math", req(PATHOLOGICAL[name], gold))])
    assert time.monotonic() - start < 3.0
    assert res.status == "ok", res
    assert res.score == (1.0 if name == "one_megabyte" else 0.0), res


@pytest.mark.parametrize("response", ["nan", "inf", "-inf", "set_nan_later", "string"])
def test_non_finite_plugin_score_is_a_clear_error(pool, response):
    (res,) = pool.score([("nf", req(response))])
    assert (res.status, res.score) == ("error", 0.0), res
    reason = res.details["reason"]
    assert "test_reward_pool:NonFiniteVerifier" in reason and "rewards.domains.nf" in reason, reason
    assert any(word in reason for word in ("NaN", "infinite", "not a number")), reason
    assert "Return a finite float" in reason, reason
    assert pool.score([("nf", req("fine"))])[0].score == 1.0  # the worker carries on


def test_reward_result_rejects_non_finite_scores():
    for bad in (math.nan, math.inf, -math.inf, "1.0", None):
        with pytest.raises(ValueError, match="RewardResult.score"):
            RewardResult(bad)  # type: ignore[arg-type]
    assert RewardResult(0.25).score == 0.25 and RewardResult(1).ok


def test_math_through_pool_scores(pool):
    out = pool.score([("math", req("so \\boxed{\\frac{1}{2}}", "0.5")), ("math", req("\\boxed{3}", "4"))])
    assert [(r.status, r.score) for r in out] == [("ok", 1.0), ("ok", 0.0)]


def test_unknown_verifier_and_bad_options_fail_at_construction():
    with pytest.raises(ValueError, match="known verifiers"):
        VerifierProcessPool({"m": ("no_such_verifier", {})})
    with pytest.raises(ValueError, match="bad options"):
        setup_verifier("math", {"no_such_option": 1})
