"""The Verifier interface: one small base class every reward plugin implements."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Optional

from rewards.types import RewardResult


@dataclass
class VerifyRequest:
    """One sample to score.

    prompt: the prompt text shown to the policy.
    response: the policy's decoded response text.
    reference: ground truth (a string, list of acceptable answers, or a domain-specific dict).
    metadata: free per-row fields from the dataset (for example test cases for code).
    env_result: for multi-turn episodes, the environment's own verdict (its hidden tests), which the `env` verifier
      returns; None for single-turn samples.
    """

    prompt: str
    response: str
    reference: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)
    env_result: Optional[RewardResult] = None


class Verifier(ABC):
    """Scores one response. Built-ins and plugins subclass this.

    Construct with keyword options from the config (`rewards.domains.<domain>.options`). `verify` must not raise
    for bad model output (that is a score, usually 0); raise or return status="error" only when the verifier
    itself cannot judge. The reward pool turns exceptions into RewardResult(status="error"), and so a score that is
    NaN, infinite or not a number. Slowness the answer causes must be a score too (0, well inside the pool's
    deadline): the pool's own timeout is masked as a verifier failure.
    """

    name: str = "verifier"

    def __init__(self, **options: Any) -> None:
        if options:
            raise TypeError(f"verifier {self.name!r} takes no options, got {sorted(options)}")

    @classmethod
    def preflight(cls, **options: Any) -> None:
        """Check what the verifier needs outside Python (an engine, images) once, in the driver, before any worker
        starts; raise with the fix in the message. Default: nothing to check."""

    def close(self) -> None:
        """Release what the verifier holds (processes, containers); called when its worker process ends."""

    @abstractmethod
    def verify(self, request: VerifyRequest) -> RewardResult:
        """Return the reward for one sample."""
