"""Judge interface: next-token log-probabilities of the two verdict labels after a judging prompt."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class Judge(ABC):
    """Reads a judge model's preference between two labels (e.g. "A" / "B") at the next token."""

    @abstractmethod
    def label_logprobs(self, prompt: str, labels: tuple[str, str]) -> tuple[float, float]:
        """log p(labels[0]) and log p(labels[1]) as the next token after `prompt` (raw text, no template)."""


def setup_judge(kind: str, **options: Any) -> Judge:
    """Judge factory keyed on the preference verifier's `judge` option."""
    if kind == "hf":
        from rewards.preference_judges.hf_judge import HFJudge

        return HFJudge(**options)
    if kind == "openai":
        from rewards.preference_judges.openai_judge import OpenAIJudge

        return OpenAIJudge(**options)
    raise ValueError(f"preference verifier: judge {kind!r} is not one of ['hf', 'openai']")
