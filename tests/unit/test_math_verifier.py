"""Unit tests for rewards/math_answer.py and rewards/math_verifier.py (CPU, no timeouts needed beyond 1 s);
guard rails and the CPU budget are in test_math_guard.py."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from rewards import math_answer
from rewards.base import VerifyRequest
from rewards.math_answer import answers_equivalent, check_answer, extract_boxed
from rewards.math_guard import guard
from rewards.math_verifier import MathVerifier
from rewards.types import RewardResult

# ------------------------------------------------------------------------------------------------ extraction


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"so the answer is \boxed{8}.", "8"),
        (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}"),  # nested braces
        (r"first \boxed{1}, then \boxed{2}", "2"),  # last boxed wins
        (r"\boxed{\{1,2\}}", r"\{1,2\}"),  # escaped braces do not unbalance
        (r"\boxed 5.", "5"),
        (r"$\boxed 5$", "5"),
        (r"\boxed {4}", "4"),
        (r"\fbox{7}", "7"),
        (r"\boxed{1} and \fbox{x+1}", "x+1"),
        ("the answer is 8", None),
        (r"\boxed{3} and then \boxed{\frac{1}{", None),  # truncated last box
        (r"\boxedx 4", None),  # a different command
    ],
)
def test_extract_boxed(text: str, expected: str | None) -> None:
    assert extract_boxed(text) == expected


# ----------------------------------------------------------------------------------------------- equivalence


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("8", "8", True),
        ("8", "9", False),
        (r"\frac{1}{2}", "0.5", True),
        (r"\dfrac{1}{2}", "1/2", True),
        (r"3\sqrt{2}", r"\sqrt{18}", True),
        (r"50\%", "50", True),  # percent sign stripped...
        ("50", r"50\%", True),
        (r"50\%", "0.5", True),  # ...and read as /100 when a side carries it (rewards/math_readings.py)
        ("0.5", r"50\%", True),
        (r"50\%", "0.05", False),
        ("50", "0.5", False),  # no percent sign anywhere: no x100 rule
        ("x=3", "3", True),
        ("(1,2]", "(1,2]", True),
        ("(1,2]", "[1,2)", False),
        (r"\{1,2\}", r"\{2,1\}", True),
        (r"90^\circ", "90", True),
        ("90°", "90", True),
        (r"\text{5 cm}", "5", True),
        (r"5\text{ cm}", "5", True),
        (r"\mbox{5 cm}", "5", True),
        ("2 or 3", "2", False),  # hedged answers
        (r"2 \text{ or } 3", "2", False),
        ("2, 3", "2", False),
        (r"\frac{1}{2004!}", r"\frac{1}{2006!}", False),  # evalf calls these equal; exact check does not
        (r"\frac{1}{2006!}", r"\frac{1}{2006!}", True),
        (r"\frac{1}{2^{99}}", r"\frac{1}{2^{98}}", False),
        (r"2^{-99}", r"\frac{1}{2^{99}}", True),
        (r"2^{2^{10}}", r"2^{1024}", True),  # two levels of exponents are allowed
    ],
)
def test_answers_equivalent(pred: str, gold: str, expected: bool) -> None:
    assert answers_equivalent(pred, gold) is expected


@pytest.mark.parametrize(
    ("pred", "gold"),
    [
        (r"\text{2 or 3}", "2"),  # wrapping text with alternatives
        (r"\mathrm{31 or 32}", "31"),
        (r"\text{either 5 or 6}", "6"),
        (r"2\text{, or possibly 3}", "2"),  # trailing text
        (r"17 \text{ (maybe 18)}", "17"),
        (r"0.5\text{; not sure}", "0.5"),
        (r"\text{2 is wrong; the answer is 5}", "2"),  # semicolon with a restated answer
        (r"\text{9; the answer is 9}", "9"),
        (r"2 \approx 3 \approx 4", "2"),  # chains with different values
        (r"x = 8 = 9", "9"),
        (r"14 = 15", "15"),
        (r"\sqrt{2} \approx 1.5", r"\sqrt{2}"),
        (r"-1, 3 \text{ (maybe 5)}", "-1, 3"),  # a collection gold allows listing, not hedging
    ],
)
def test_hedged_answers_score_zero(pred: str, gold: str) -> None:
    correct, details = check_answer(rf"\boxed{{{pred}}}", gold)
    assert (correct, details["reason"]) == (False, "hedged")


@pytest.mark.parametrize(
    ("pred", "gold"),
    [
        ("x = 2", "2"), (r"2 \text{ cm}", "2"), (r"\text{2 apples}", "2"), (r"5\,\mathrm{m}^2", "5"),
        (r"x = \frac{4}{2} = 2", "2"), (r"\pi \approx 3.14", r"\pi"), (r"\frac{2}{3} \approx 0.667", r"\frac{2}{3}"),
        (r"\sqrt{2} \approx 1.414\ldots", r"\sqrt{2}"), (r"f(3) = 7", "7"), (r"a_{10} = 5", "5"),
        (r"(x, y) = (1, 2)", "(1,2)"), ("y=2x+1", "y=2x+1"), ("x = 2, y = 3", "(2,3)"),
        (r"x \le -1 \text{ or } x \ge 3", r"x \le -1 \text{ or } x \ge 3"),
        (r"x = -1 \text{ or } x = 3", "-1, 3"), (r"1 \text{ and } 2", r"\{1, 2\}"), (r"-1 \text{ (double root)}", "-1"),
    ],
)
def test_annotated_answers_still_match(pred: str, gold: str) -> None:
    assert check_answer(rf"\boxed{{{pred}}}", gold) == (True, {"extracted": pred, "reason": "match"})


def test_list_of_golds_matches_any() -> None:
    assert answers_equivalent("7", ["5", "7"])
    assert not answers_equivalent("6", ["5", "7"])


def test_unparseable_gold_raises_with_fix() -> None:
    with pytest.raises(ValueError, match="reference"):
        answers_equivalent("8", "")


# ----------------------------------------------------------------------------------------------- guard rails


@pytest.mark.parametrize(
    "pred",
    [
        r"2^{2^{2^{2^{2}}}}",
        r"2^{2^{2^{2}}}",
        r"\dfrac{5^{(5^{(5^{(5^5)})}-4)}-5}{16}",  # math-verify issue #65
        r"2^{10^{10}}",  # two levels but a huge inner exponent
        r"2^{10001}",
        "2**10000000",
        r"(10^{9999})^{9999}",
        r"(10!)!",
        r"{10^7}!",
        r"a_{2^{2^{2^{2}}}}",
    ],
)
def test_growth_bombs_are_refused_fast(pred: str) -> None:
    start = time.perf_counter()
    correct, details = check_answer(rf"\boxed{{{pred}}}", "2")
    assert time.perf_counter() - start < 1.0
    assert not correct
    assert details["reason"] == "power_tower"


@pytest.mark.parametrize("pred", [r"2^{10000}", r"9999!", r"10^{-3}", r"\frac{2^{2010}-1}{3}", r"e^{i\pi/4}"])
def test_ordinary_powers_pass_the_guard(pred: str) -> None:
    assert guard(pred, 1000) is None


def test_too_long_is_refused() -> None:
    answer = "1" * 1001
    expected = (False, {"extracted": answer[:1000] + "...", "reason": "too_long"})
    assert check_answer(rf"\boxed{{{answer}}}", answer) == expected
    assert check_answer(rf"\boxed{{{answer}}}", answer, max_chars=2000)[1]["reason"] == "match"


def test_deep_nesting_is_refused() -> None:
    assert check_answer(r"\boxed{" + "{" * 60 + "1" + "}" * 60 + "}", "1")[1]["reason"] == "too_long"


def test_model_output_is_never_evaluated(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = f"__import__('os').system('touch {marker}')"
    assert not answers_equivalent(payload, "0")
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------- check_answer


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (r"The answer is \boxed{8}.", (True, {"extracted": "8", "reason": "match"})),
        (r"The answer is \boxed{9}.", (False, {"extracted": "9", "reason": "mismatch"})),
        ("The answer is 8.", (False, {"extracted": None, "reason": "no_boxed"})),
        (r"\boxed{}", (False, {"extracted": "", "reason": "mismatch"})),
    ],
)
def test_check_answer_details(response: str, expected: tuple[bool, dict]) -> None:
    assert check_answer(response, "8") == expected


# ------------------------------------------------------------------------------------------------- verifier


def _verify(response: str, reference: object, **options: int) -> RewardResult:
    return MathVerifier(**options).verify(VerifyRequest(prompt="p", response=response, reference=reference))


def test_verifier_scores_correct_and_wrong() -> None:
    good = _verify(r"so \boxed{\frac{1}{2}}", "0.5")
    assert (good.score, good.status, good.details) == (1.0, "ok", {"extracted": r"\frac{1}{2}", "reason": "match"})
    bad = _verify(r"\boxed{3}", ["1", "2"])
    assert (bad.score, bad.status, bad.details["reason"]) == (0.0, "ok", "mismatch")
    assert _verify(r"\boxed{4}", 4).score == 1.0  # numeric reference


def test_verifier_no_boxed_is_policy_fault() -> None:
    result = _verify("I think it is 8", "8")
    assert (result.score, result.status, result.details["reason"]) == (0.0, "ok", "no_boxed")


def test_verifier_option_max_answer_chars() -> None:
    result = _verify(r"\boxed{123456}", "123456", max_answer_chars=3)
    assert (result.score, result.status, result.details["reason"]) == (0.0, "ok", "too_long")
    with pytest.raises(ValueError, match="max_answer_chars"):
        MathVerifier(max_answer_chars=0)
    with pytest.raises(TypeError):
        MathVerifier(bogus=1)  # type: ignore[call-arg]


@pytest.mark.parametrize("reference", [None, "", [], {"answer": "8"}])
def test_verifier_bad_reference_is_error(reference: object) -> None:
    result = _verify(r"\boxed{8}", reference)
    assert (result.score, result.status) == (0.0, "error")
    assert result.details["reason"]


def test_verifier_math_verify_crash_is_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> bool:
        raise RuntimeError("sympy exploded")

    monkeypatch.setattr(math_answer, "verify", boom)
    result = _verify(r"\boxed{x+1}", "x+1")
    assert result.status == "error"
    assert "sympy exploded" in result.details["reason"]


def _equivalence_cases():
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "data" / "math_equivalence.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("case", _equivalence_cases(), ids=lambda c: f"{c['response'][:30]}|{c['reference']}")
def test_shared_equivalence_cases(case):
    """The labelled set shared with scripts/bench/verifiers.py: positive and negative case per class."""
    from rewards.math_answer import check_answer

    assert check_answer(case["response"], case["reference"], prompt=case.get("prompt", ""))[0] is case["expected"]
