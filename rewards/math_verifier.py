"""MathVerifier: 1.0 if the last \\boxed{} answer equals the reference, else 0.0 (rules in rewards/math_answer.py).

Status "ok" covers every policy outcome, including "no \\boxed" and answers refused by the guard rails (score 0).
Status "error" means the verifier could not judge: a missing or unparseable reference, or math-verify/sympy
raising. math-verify's signal-based timeouts are disabled, so run this in a worker process with a deadline.
"""
from __future__ import annotations

import logging
from typing import Any

from rewards.base import Verifier, VerifyRequest
from rewards.math_answer import DEFAULT_MAX_CHARS, check_answer
from rewards.types import RewardResult

logger = logging.getLogger(__name__)


def _gold_answers(reference: Any) -> list[str]:
    """Reference as a list of gold strings: a str, a number, or a list/tuple of those."""
    if isinstance(reference, bool) or reference is None or isinstance(reference, dict):
        raise ValueError(f"math reference must be a string, a number or a list of them, got {type(reference).__name__}")
    if isinstance(reference, (str, int, float)):
        return [str(reference)]
    if isinstance(reference, (list, tuple)) and reference:
        return [str(item) for item in reference]
    raise ValueError(f"math reference must be a non-empty string or list, got {reference!r}")


class MathVerifier(Verifier):
    """Exact-answer math verifier. Options: max_answer_chars (int, default 1000): longer answers score 0."""

    name = "math"

    def __init__(self, *, max_answer_chars: int = DEFAULT_MAX_CHARS) -> None:
        if not isinstance(max_answer_chars, int) or isinstance(max_answer_chars, bool) or max_answer_chars <= 0:
            raise ValueError(
                f"rewards option max_answer_chars must be a positive integer, got {max_answer_chars!r}; "
                "set e.g. `max_answer_chars: 1000`"
            )
        self.max_answer_chars = max_answer_chars

    def verify(self, request: VerifyRequest) -> RewardResult:
        """Score one response; verifier failures come back as status "error", never as a silent 0."""
        try:
            golds = _gold_answers(request.reference)
        except ValueError as err:
            return RewardResult.failed("error", reason=str(err))
        try:
            correct, details = check_answer(request.response, golds, max_chars=self.max_answer_chars)
        except Exception as err:  # noqa: BLE001 - math-verify/sympy bugs are the verifier's fault, not a 0 score
            logger.warning("math verifier failed: %s: %s", type(err).__name__, err)
            return RewardResult.failed("error", reason=f"{type(err).__name__}: {err}")
        return RewardResult(score=1.0 if correct else 0.0, status="ok", details=details)
