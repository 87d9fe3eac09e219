"""A verifier for the dynamic-sampling run (imported by dotted path in the reward workers' verifier processes)."""
from __future__ import annotations

import zlib

from rewards.base import Verifier, VerifyRequest
from rewards.types import RewardResult

ALWAYS = "always"


class HalfAlwaysVerifier(Verifier):
    """Prompts whose reference is "always" score 1 whatever the response (an all-correct group: zero variance);
    the others score a hash of the response in [0, 1], so their samples disagree unless two texts are identical."""

    name = "half_always"

    def verify(self, request: VerifyRequest) -> RewardResult:
        if request.reference == ALWAYS:
            return RewardResult(1.0)
        return RewardResult((zlib.crc32(request.response.encode()) % 1000) / 999)
