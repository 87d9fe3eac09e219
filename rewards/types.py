"""Result record every verifier returns.

`status` separates "the policy was wrong" (ok, score 0) from "the verifier failed" (error/timeout): the trainer
masks error/timeout samples out of the loss and counts them; they are never silently scored 0. A score must be a
finite real number: NaN or infinity is rejected (at construction, and again by the reward process pool, which
turns it into status "error" naming the verifier), never trained on and never silently turned into 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["ok", "error", "timeout"]
STATUSES: tuple[str, ...] = ("ok", "error", "timeout")


@dataclass
class RewardResult:
    """score: reward in [0, 1] for built-ins (plugins may use any float); meaningful only when status == "ok".
    status: "ok" | "error" | "timeout".
    details: small JSON-serialisable facts (extracted answer, reason, test counts...)."""

    score: float
    status: Status = "ok"
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"RewardResult.status must be one of {STATUSES}, got {self.status!r}")
        problem = score_problem(self.score)
        if problem is not None:
            raise ValueError(f"RewardResult.score {problem}. {SCORE_FIX}")

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def failed(cls, status: Status, reason: str, **details: Any) -> "RewardResult":
        """A verifier failure (not a policy failure): masked out of training."""
        return cls(score=0.0, status=status, details={"reason": reason, **details})


SCORE_FIX = ("Return a finite float (0.0 for a wrong answer), or RewardResult.failed('error', reason) when the "
             "verifier cannot judge the sample.")


def score_problem(score: object) -> str | None:
    """Why `score` cannot be trained on ("is NaN", "is infinite (inf)", "is not a number (str)"), or None."""
    if isinstance(score, (str, bytes)):
        return f"is not a number ({type(score).__name__})"
    try:
        value = float(score)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return f"is not a number ({type(score).__name__})"
    if math.isnan(value):
        return "is NaN"
    if math.isinf(value):
        return f"is infinite ({value})"
    return None
