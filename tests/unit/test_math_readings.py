"""Percent and complex-number readings of math answers (rewards/math_readings.py) and how the verifier uses the
prompt for them. Labelled end-to-end cases of both classes are in tests/data/math_equivalence.jsonl."""
from __future__ import annotations

import time

import pytest

from rewards.base import VerifyRequest
from rewards.math_answer import answers_equivalent
from rewards.math_readings import asks_for_percent, percent_forms, prompt_uses_index_i
from rewards.math_verifier import MathVerifier


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("What percent of the 30 tiles are red?", True),
        ("By what percentage did the rent rise?", True),
        ("What is the percent increase from 20 to 25?", True),
        ("Give your answer as a percent.", True),
        ("Write the share in percent.", True),
        ("Round to the nearest tenth of a percent.", True),
        ("What is 40 percent of 50?", False),  # asks for a value, not a percentage
        ("A coat is 20% off. What is its price now?", False),  # mentions a percentage
        ("Forty percent of the pupils walk. How many walk?", False),
        ("", False),
    ],
)
def test_asks_for_percent(prompt: str, expected: bool) -> None:
    assert asks_for_percent(prompt) is expected


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("Let c_i be the coefficients.", True),
        (r"Compute \sum_{i=1}^{n} i^2.", True),
        ("For i = 1, 2, 3 let x be ...", True),
        (r"for all i \le n", True),
        ("the i-th term", True),
        (r"Compute i^2 + i^3 where i = \sqrt{-1}.", False),
        ("Find z with z^2 = -4.", False),
    ],
)
def test_prompt_uses_index_i(prompt: str, expected: bool) -> None:
    assert prompt_uses_index_i(prompt) is expected


def test_percent_forms() -> None:
    assert percent_forms(r"40\%", "0.4", False) == (r"\frac{40}{100}", "0.4")
    assert percent_forms("0.4", r"40 \%", False) == ("0.4", r"\frac{40}{100}")
    assert percent_forms("0.4", "40", True) == ("0.4", r"\frac{40}{100}")
    assert percent_forms("0.4", "40", False) is None  # no percent context
    assert percent_forms(r"10\%, 20\%", "0.1, 0.2", False) is None  # lists keep the plain reading
    assert percent_forms("0.4", "x = 40", True) is None


@pytest.mark.parametrize(
    ("pred", "gold", "prompt", "expected"),
    [
        (r"62.5\%", r"\frac{5}{8}", "", True),
        (r"\frac{5}{8}", r"62.5\%", "", True),
        ("0.625", "62.5", "What percent of the 8 slices were eaten?", True),
        ("0.625", "62.5", "", False),
        (r"6.25\%", r"\frac{5}{8}", "", False),
        (r"\sqrt{-25}", "5i", "", True),
        (r"(1+i)^4", "-4", "", True),
        (r"i^{3}", "-i", "", True),
        (r"e^{i\pi} + 1", "0", "", True),
        (r"\frac{1+i}{1-i}", "i", "", True),
        ("5i", "5", "", False),
        (r"i^{3}", "i", "", False),
        ("0", "i^2 + 1", "For every i \\ge 0 let a_i = i^2 + 1. Write a_i in terms of i.", False),
        (r"i^2+1", "1 + i^2", "For every i \\ge 0 let a_i = i^2 + 1. Write a_i in terms of i.", True),
    ],
)
def test_readings_end_to_end(pred: str, gold: str, prompt: str, expected: bool) -> None:
    assert answers_equivalent(pred, gold, prompt=prompt) is expected


def test_verifier_passes_the_prompt() -> None:
    verifier = MathVerifier()
    ask = "What percent of the 20 cards are aces?"
    assert verifier.verify(VerifyRequest(ask, r"\boxed{0.2}", "20")).score == 1.0
    assert verifier.verify(VerifyRequest("How many of the 100 cards are aces?", r"\boxed{0.2}", "20")).score == 0.0


@pytest.mark.parametrize(
    "pred",
    [r"\sin(3+i)^{20}", r"(2+3i)^{100}", r"\tan(i)^{20}", r"(1+\sqrt{-2})^{90}+(1-\sqrt{-3})^{90}", r"e^{e^{i}}"],
)
def test_complex_mismatches_stay_cheap(pred: str) -> None:
    """Clearly different numbers are told apart numerically before `simplify` (which took > 2 s CPU on
    sin(3+i)^20 against i); the guard rails still refuse blow-ups such as (\\sqrt{2}+\\sqrt{3}i)^{100}."""
    start = time.process_time()
    assert not answers_equivalent(pred, "i")
    assert time.process_time() - start < 1.0
