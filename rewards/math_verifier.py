"""MathVerifier: 1.0 if the last \\boxed{} answer equals the reference, else 0.0 (rules in rewards/math_answer.py).

Status "ok" covers every policy outcome, including "no \\boxed", answers refused by the guard rails and answers
too costly to compare (score 0). Status "error" means the verifier could not judge: a missing or unparseable
reference, or math-verify/sympy raising.

Time: an answer that makes the comparison slow is the policy's doing, so it must score 0, not vanish from the
loss as a masked `timeout`. Two layers: the guard rails (rewards/math_guard.py) refuse known blow-ups before sympy
runs, and the comparison of one answer gets `answer_cpu_s` seconds of this process's CPU time (ITIMER_VIRTUAL, so
a busy host does not eat into it); past that it scores 0 with reason "too_slow". The gold answers are parsed (and
cached) before that clock starts, so a slow reference is not charged to the answer. The CPU clock needs the main
thread (the reward process pool runs verifiers there); elsewhere only the pool's wall-clock deadline
(`rewards.timeout_s`) applies, and that deadline's `timeout` stays masked: it is the infrastructure's last resort.
"""
from __future__ import annotations

import logging
import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator

from rewards.base import Verifier, VerifyRequest
from rewards.math_answer import DEFAULT_MAX_CHARS, check_answer, extract_boxed, parse_golds
from rewards.types import RewardResult

logger = logging.getLogger(__name__)
DEFAULT_ANSWER_CPU_S = 2.0


class AnswerTooSlow(BaseException):
    """The answer's CPU budget ran out. A BaseException, so library code that catches Exception (math-verify and
    sympy do) cannot swallow it and keep computing."""


@contextmanager
def cpu_budget(seconds: float) -> Iterator[None]:
    """Raise AnswerTooSlow once the block has used `seconds` of this process's CPU time (SIGVTALRM). A no-op off
    the main thread, where Python cannot install signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise AnswerTooSlow(f"answer used more than {seconds}s of CPU")

    previous = signal.signal(signal.SIGVTALRM, expire)
    signal.setitimer(signal.ITIMER_VIRTUAL, seconds)
    try:
        yield
    finally:
        try:
            signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        finally:
            signal.signal(signal.SIGVTALRM, previous)


def _gold_answers(reference: Any) -> list[str]:
    """Reference as a list of gold strings: a str, a number, or a list/tuple of those."""
    if isinstance(reference, bool) or reference is None or isinstance(reference, dict):
        raise ValueError(f"math reference must be a string, a number or a list of them, got {type(reference).__name__}")
    if isinstance(reference, (str, int, float)):
        return [str(reference)]
    if isinstance(reference, (list, tuple)) and reference:
        return [str(item) for item in reference]
    raise ValueError(f"math reference must be a non-empty string or list, got {reference!r}")


def _check_positive(name: str, value: Any, example: str, integer: bool = False) -> None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value <= 0:
        what = "integer" if integer else "number"
        raise ValueError(f"rewards option {name} must be a positive {what}, got {value!r}; "
                         f"set e.g. `{name}: {example}`")


class MathVerifier(Verifier):
    """Exact-answer math verifier. Options: max_answer_chars (int, default 1000): longer answers score 0;
    answer_cpu_s (float, default 2.0): CPU seconds one answer's comparison may take before it scores 0 (keep it
    well below rewards.timeout_s)."""

    name = "math"

    def __init__(self, *, max_answer_chars: int = DEFAULT_MAX_CHARS,
                 answer_cpu_s: float = DEFAULT_ANSWER_CPU_S) -> None:
        _check_positive("max_answer_chars", max_answer_chars, "1000", integer=True)
        _check_positive("answer_cpu_s", answer_cpu_s, "2.0")
        self.max_answer_chars, self.answer_cpu_s = max_answer_chars, float(answer_cpu_s)

    def verify(self, request: VerifyRequest) -> RewardResult:
        """Score one response; verifier failures come back as status "error", never as a silent 0."""
        try:
            golds = _gold_answers(request.reference)
            parse_golds(golds)  # parsed and cached outside the answer's CPU budget
        except Exception as err:  # noqa: BLE001 - a bad reference is the dataset's fault: masked, never a 0
            return RewardResult.failed("error", reason=f"{type(err).__name__}: {err}")
        try:
            with cpu_budget(self.answer_cpu_s):
                correct, details = check_answer(request.response, golds, max_chars=self.max_answer_chars,
                                                prompt=request.prompt)
        except AnswerTooSlow:
            extracted = extract_boxed(request.response) or ""
            logger.info("math answer too slow to compare (> %ss CPU): %.200s", self.answer_cpu_s, extracted)
            return RewardResult(0.0, "ok", {"extracted": extracted[: self.max_answer_chars], "reason": "too_slow",
                                            "answer_cpu_s": self.answer_cpu_s})
        except Exception as err:  # noqa: BLE001 - math-verify/sympy bugs are the verifier's fault, not a 0 score
            logger.warning("math verifier failed: %s: %s", type(err).__name__, err)
            return RewardResult.failed("error", reason=f"{type(err).__name__}: {err}")
        return RewardResult(score=1.0 if correct else 0.0, status="ok", details=details)
