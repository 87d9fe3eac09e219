"""The exact fast path agrees with the full (math-verify) checker wherever it gives a verdict."""
from __future__ import annotations

import random

import pytest

import rewards.math_answer as math_answer
from rewards.math_fastpath import fast_equivalent

CASES = [
    ("8", "8", True), ("9", "8", False), ("\\frac{1}{2}", "0.5", True), ("\\frac{1}{3}", "0.5", None),
    ("50\\%", "50", True), ("(1,2]", "(1,2]", True), ("[1,2)", "(1,2]", False), ("\\{1,2\\}", "\\{2,1\\}", True),
    ("\\{1,3\\}", "\\{2,1\\}", False), ("(2,1)", "(1,2)", None), ("x=3", "3", None), ("7", "-7", False),
    ("\\dfrac{3}{4}", "3/4", True), ("1,000", "1000", None), ("0.10", "0.1", True), ("3.1416", "3.14159", None),
    ("\\left(1, 2\\right]", "(1,2]", True), ("\\frac{1}{0}", "1", None), ("(1,2,3)", "[1,2,3]", None),
    ("(3,1]", "(5,2]", None), ("(2,1)", "(2,1)", None),
    ("9" * 80, "9" * 80, None),
]


@pytest.mark.parametrize("pred,gold,expected", CASES)
def test_fast_path_cases(pred, gold, expected):
    assert fast_equivalent(pred, gold) is expected


def _full(pred: str, gold: str, monkeypatch) -> bool:
    monkeypatch.setattr(math_answer, "fast_equivalent", lambda p, g: None)
    return math_answer.answers_equivalent(pred, gold)


def test_fast_path_agrees_with_full_checker(monkeypatch):
    rng = random.Random(0)
    forms = [lambda a, b: str(a), lambda a, b: f"\\frac{{{a}}}{{{b}}}", lambda a, b: f"{a}/{b}",
             lambda a, b: f"({a},{b}]", lambda a, b: f"[{a},{b})", lambda a, b: f"\\{{{a},{b}\\}}",
             lambda a, b: f"({a},{b})", lambda a, b: str(-a)]
    checked = 0
    for _ in range(150):
        a, b, c = rng.randint(0, 30), rng.randint(1, 30), rng.randint(0, 30)
        pred = rng.choice(forms)(a, b)
        gold = rng.choice(forms)(rng.choice([a, c]), rng.choice([b, c + 1]))
        fast = fast_equivalent(pred, gold)
        if fast is not None:
            with monkeypatch.context() as m:
                assert fast == _full(pred, gold, m), (pred, gold)
            checked += 1
    assert checked > 50
