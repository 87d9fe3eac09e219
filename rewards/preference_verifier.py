"""Preference reward: a pairwise generative judge compares the response with a fixed reference response.

The judge sees both answers and is asked which is better; its next-token log-probabilities of the two labels
give a Bradley-Terry style win probability sigma(logp_A - logp_B). Both orders are asked and averaged, which
cancels the judge's position bias and makes p(x beats y) + p(y beats x) = 1 exactly. Optional length penalty:
score -= length_penalty * max(0, len(response) / len(reference) - 1) (characters), floored at 0.

Options: judge (`hf` local transformers model | `openai` HTTP endpoint), judge_options (model_path=... for hf;
base_url=..., model=... for openai), labels ([A, B]), reference_field (row field holding the reference
response; default `reference_response`, falling back to the row's reference), length_penalty, template.
"""
from __future__ import annotations

import math
from typing import Any

from rewards.base import Verifier, VerifyRequest
from rewards.preference_judges.base import setup_judge
from rewards.types import RewardResult

DEFAULT_TEMPLATE = (
    "Question:\n{prompt}\n\nAnswer A:\n{first}\n\nAnswer B:\n{second}\n\n"
    "Which answer is better, A or B? The better answer is"
)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


class PreferenceVerifier(Verifier):
    name = "preference"

    def __init__(self, judge: str = "hf", judge_options: dict[str, Any] | None = None,
                 labels: tuple[str, str] | list[str] = (" A", " B"), reference_field: str = "reference_response",
                 length_penalty: float = 0.0, template: str = DEFAULT_TEMPLATE) -> None:
        if len(labels) != 2 or labels[0] == labels[1]:
            raise ValueError(f"preference: option labels must be two different strings, got {labels!r}")
        if length_penalty < 0:
            raise ValueError(f"preference: option length_penalty must be >= 0, got {length_penalty}")
        for key in ("{prompt}", "{first}", "{second}"):
            if key not in template:
                raise ValueError(f"preference: option template must contain {key}")
        self.judge = setup_judge(judge, **(judge_options or {}))
        self.labels = (labels[0], labels[1])
        self.reference_field, self.length_penalty, self.template = reference_field, length_penalty, template

    def win_probability(self, prompt: str, response: str, reference: str) -> tuple[float, dict[str, float]]:
        """P(response beats reference), averaged over both presentation orders."""
        a1, b1 = self.judge.label_logprobs(self.template.format(prompt=prompt, first=response, second=reference),
                                           self.labels)
        a2, b2 = self.judge.label_logprobs(self.template.format(prompt=prompt, first=reference, second=response),
                                           self.labels)
        p_first, p_second = _sigmoid(a1 - b1), _sigmoid(b2 - a2)
        return 0.5 * (p_first + p_second), {"p_response_first": p_first, "p_response_second": p_second}

    def verify(self, request: VerifyRequest) -> RewardResult:
        reference = request.metadata.get(self.reference_field, request.reference)
        if not isinstance(reference, str) or not reference.strip():
            return RewardResult.failed("error", f"no reference response: set the row field "
                                                f"{self.reference_field!r} (or reference) to a non-empty string")
        win, details = self.win_probability(request.prompt, request.response, reference)
        penalty = self.length_penalty * max(0.0, len(request.response) / max(len(reference), 1) - 1.0)
        return RewardResult(max(0.0, win - penalty), details={"win_prob": win, "length_penalty": penalty, **details})
