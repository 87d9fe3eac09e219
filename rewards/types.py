"""Result record every verifier returns.

`status` separates "the policy was wrong" (ok, score 0) from "the verifier failed" (error/timeout): the trainer
masks error/timeout samples out of the loss and counts them; they are never silently scored 0.
"""
from __future__ import annotations

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

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def failed(cls, status: Status, reason: str, **details: Any) -> "RewardResult":
        """A verifier failure (not a policy failure): masked out of training."""
        return cls(score=0.0, status=status, details={"reason": reason, **details})
