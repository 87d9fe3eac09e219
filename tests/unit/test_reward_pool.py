"""The verifier process pool: deadlines enforced by the parent, failures are data, the pool stays healthy."""
from __future__ import annotations

import time

import pytest

from rewards.base import VerifyRequest
from rewards.process_pool import VerifierProcessPool
from rewards.registry import setup_verifier


def req(response: str, reference: str = "") -> VerifyRequest:
    return VerifyRequest(prompt="", response=response, reference=reference)


@pytest.fixture(scope="module")
def pool():
    domains = {"t": ("verifier_fixtures:TantrumVerifier", {}), "math": ("math", {})}
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
}


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_pathological_math_returns_within_deadline(pool, name):
    start = time.monotonic()
    (res,) = pool.score([("math", req(PATHOLOGICAL[name], "3"))])
    assert time.monotonic() - start < 3.0 + 6.0  # deadline + process restart
    assert res.status in ("ok", "timeout"), res
    if res.status == "ok":
        assert res.score in (0.0, 1.0)


def test_math_through_pool_scores(pool):
    out = pool.score([("math", req("so \\boxed{\\frac{1}{2}}", "0.5")), ("math", req("\\boxed{3}", "4"))])
    assert [(r.status, r.score) for r in out] == [("ok", 1.0), ("ok", 0.0)]


def test_unknown_verifier_and_bad_options_fail_at_construction():
    with pytest.raises(ValueError, match="known verifiers"):
        VerifierProcessPool({"m": ("no_such_verifier", {})})
    with pytest.raises(ValueError, match="bad options"):
        setup_verifier("math", {"no_such_option": 1})
