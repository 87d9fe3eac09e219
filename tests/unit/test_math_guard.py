"""An answer that makes the math comparison slow is a wrong answer (status ok, score 0), decided fast, never a masked
`timeout`: structural guard rails (rewards/math_guard.py) refuse known blow-ups before sympy runs, and the CPU
budget of rewards/math_verifier.py stops whatever slips through."""
from __future__ import annotations

import signal
import threading
import time

import pytest

from rewards.base import VerifyRequest
from rewards.math_guard import MAX_DENOMINATOR_TERMS, MAX_EXPANDED_TERMS, MAX_POLY_DEGREE, guard
from rewards.math_verifier import AnswerTooSlow, MathVerifier, cpu_budget

# Before the guard each took from 3.4 s to more than 20 s on the 2-core dev box against gold 2 (a 10-20 s deadline
# masked most of them as `timeout`); measured with the old code, one process each.
BLOWUPS = {
    "binomial_power": r"(x+1)^{5000}",
    "trinomial_power": r"(x+y+z)^{100}",
    "gaussian_power": r"(1+i)^{2022}",
    "cyclotomic_quotient": r"\frac{x^{3000}-1}{x-1}",
    "product_of_powers": r"(x+1)^{200}(x+2)^{200}",
    "nested_powers": r"((x+1)^{10}+1)^{20}",
    "big_product": r"\prod_{k=1}^{10000}(x+k)",
    "power_in_a_sum": r"3 + (2a+b)^{999}",
    "power_in_a_fraction": r"\frac{1}{(x-y)^{4000}}",
    "many_medium_powers": r"(a+b)^{150}+(c+d)^{150}+(e+f)^{150}+(g+h)^{150}+(p+q)^{150}+(u+v)^{150}+(w+z)^{150}",
    "multivariate_denominator": r"\frac{1}{(x+y+z)^{22}}",
    "negative_power": r"(x+y)^{-150}",
    "trig_power": r"\sin(x)^{400}",
    "trig_power_prefix": r"\cos^{3000}(x)",
    "trig_product": r"\sin(x)^{50}\cos(x)^{50}",
}


def _verify(pred: str, gold: str, **options: float) -> tuple[str, float, str, float]:
    """(status, score, reason, wall seconds) of MathVerifier on a boxed prediction."""
    start = time.perf_counter()
    res = MathVerifier(**options).verify(VerifyRequest(prompt="p", response=rf"\boxed{{{pred}}}", reference=gold))
    return res.status, res.score, res.details["reason"], time.perf_counter() - start


@pytest.mark.parametrize("name", sorted(BLOWUPS))
def test_blowup_is_a_fast_wrong_answer(name: str) -> None:
    status, score, reason, seconds = _verify(BLOWUPS[name], "2")
    assert (status, score, reason) == ("ok", 0.0, "expansion")
    assert seconds < 0.5, f"{name} took {seconds:.2f}s"


def test_huge_binomial_is_refused() -> None:
    assert guard(r"\binom{10^{9}}{10^{5}}", 1000) == "power_tower"  # 900k digits: sympy took 19 s
    assert guard(r"\binom{10000}{5000}", 1000) is None


@pytest.mark.parametrize("pred", [
    r"x^2+2x+1", r"(x+1)^{100}", r"(x+y+z)^{18}", r"x^{10000}", r"\frac{1}{x^{5000}}", r"(2+3)^{5000}",
    r"(\sqrt{2}+\sqrt{3})^{100}", r"\binom{10000}{5000}", r"(x-1)(x-2)(x-3)(x-4)(x-5)(x-6)(x-7)(x-8)(x-9)(x-10)",
    r"\left(x+1\right)^{50}", r"(x+1)^{n}", r"e^{i\pi/4}", r"\sum_{k=1}^{n} k^2", r"2^{2023}+1", r"x^{100}+1",
    r"\frac{x+1}{(x-1)^{2}}", r"(x+y)^{-2}", r"\sin^2 x + \cos^2 x", r"\sin(x)^{20}", r"\sin^{-1}(x)",
    r"\tan\theta", r"\sin(2x)\cos(3x)",
])
def test_ordinary_answers_pass_the_guard(pred: str) -> None:
    assert guard(pred, 1000) is None


def test_absurd_command_nesting_is_too_long_not_a_crash() -> None:
    assert guard("\\sin" * 5000 + "x", 100_000) == "too_long"
    assert guard("\\frac" * 5000 + "12", 100_000) == "too_long"


def test_limits_are_where_the_docstring_says() -> None:
    assert (MAX_POLY_DEGREE, MAX_EXPANDED_TERMS, MAX_DENOMINATOR_TERMS) == (100, 200, 30)
    assert guard(f"(x+1)^{{{MAX_POLY_DEGREE}}}", 1000) is None
    assert guard(f"(x+1)^{{{MAX_POLY_DEGREE + 1}}}", 1000) == "expansion"
    assert guard("(x+y+z)^{18}", 1000) is None  # C(20, 2) = 190 terms
    assert guard("(x+y+z)^{19}", 1000) == "expansion"  # 210 terms
    assert guard(r"\frac{1}{(x+y)^{29}}", 1000) is None  # 30 terms
    assert guard(r"\frac{1}{(x+y)^{30}}", 1000) == "expansion"
    assert guard(r"(x+y)^{-30}", 1000) == "expansion"
    assert guard(r"\sin(x)^{21}", 1000) == "expansion"
    assert guard(r"(x+1)^{25}(x+2)^{25}", 1000) is None  # expanding generates 26 + 26 + 26 * 26 terms
    assert guard(r"(x+1)^{30}(x+2)^{30}", 1000) == "expansion"  # 1023 > MAX_EXPANSION_WORK


@pytest.mark.parametrize(("pred", "gold"), [
    (r"(x+1)^{100}", r"(x+1)^{99}"),
    (r"(x+y+z)^{18}", r"x^{18}"),
    (r"(x+1)^{25}(x+2)^{25}", r"2"),
    (r"\frac{x^{100}-1}{x-1}", r"x^{99}"),
    (r"\frac{1}{(x+y)^{29}}", r"\sqrt{2}"),
    (r"\sin(x)^{20}", r"\cos(x)^{20}"),
    (r"\sin^{10}(x)\cos^{10}(x)", r"\sin^{10}(x)"),
])
def test_largest_allowed_answers_are_judged_within_the_budget(pred: str, gold: str) -> None:
    """What passes the guard is judged, not cut off (each took at most 0.8 s CPU when measured)."""
    assert _verify(pred, gold)[:3] == ("ok", 0.0, "mismatch")


def test_answer_too_slow_for_its_gold_scores_zero_within_the_budget() -> None:
    """(x - pi)^{30} passes the guard but ran > 60 s against a trig gold: the CPU budget cuts it off."""
    assert guard(r"(x-\pi)^{30}", 1000) is None
    status, score, reason, seconds = _verify(r"(x-\pi)^{30}", r"\cos^{2}(x)", answer_cpu_s=1.0)
    assert (status, score, reason) == ("ok", 0.0, "too_slow")
    assert seconds < 5.0, seconds
    assert signal.getsignal(signal.SIGVTALRM) in (signal.SIG_DFL, None)  # handler restored
    assert signal.getitimer(signal.ITIMER_VIRTUAL) == (0.0, 0.0)  # timer disarmed
    assert _verify(r"\cos^{2}(x)", r"\cos^{2}(x)")[:3] == ("ok", 1.0, "match")  # the process is fine after


def test_cpu_budget_interrupts_code_that_catches_exception() -> None:
    with pytest.raises(AnswerTooSlow), cpu_budget(0.2):
        while True:
            try:
                sum(range(10_000))
            except Exception:  # noqa: BLE001, S110 - what math-verify does; the budget must still win
                pass


def test_cpu_budget_is_a_no_op_off_the_main_thread() -> None:
    results = []
    worker = threading.Thread(target=lambda: results.append(_verify("8", "8")[:3]))
    worker.start()
    worker.join(timeout=60)
    assert results == [("ok", 1.0, "match")]


def test_bad_budget_option_is_clear() -> None:
    with pytest.raises(ValueError, match="answer_cpu_s"):
        MathVerifier(answer_cpu_s=0)
