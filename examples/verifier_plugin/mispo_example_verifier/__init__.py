"""An example mispo verifier plugin: rewards answers that follow an output format.

Installing this package (`pip install ./examples/verifier_plugin`) registers the verifier name `answer_format`
through the `mispo.verifiers` entry-point group; a config then uses it with
`rewards.domains.<domain>.verifier: answer_format` and no change to mispo.
"""
from __future__ import annotations

import re

from rewards.base import Verifier, VerifyRequest
from rewards.types import RewardResult


class AnswerFormatVerifier(Verifier):
    """Score 1 when the response ends with exactly one `\\boxed{...}` and is at most `max_chars` long.

    Options: max_chars (int, default 200). A format reward like this is typically mixed with a correctness
    reward; here it stands alone to keep the example small.
    """

    name = "answer_format"

    def __init__(self, max_chars: int = 200) -> None:
        if not isinstance(max_chars, int) or max_chars <= 0:
            raise ValueError(f"answer_format: option max_chars must be a positive int, got {max_chars!r}")
        self.max_chars = max_chars

    def verify(self, request: VerifyRequest) -> RewardResult:
        text = request.response.strip()
        boxes = re.findall(r"\\boxed\{[^{}]*\}", text)
        ok = len(boxes) == 1 and len(text) <= self.max_chars and text.rstrip(".").endswith(boxes[0])
        return RewardResult(float(ok), details={"boxes": len(boxes), "chars": len(text)})
