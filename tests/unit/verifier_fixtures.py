"""Misbehaving verifiers for reward-pool tests (imported by dotted path inside verifier processes)."""
from __future__ import annotations

import os
import time

from rewards.base import Verifier, VerifyRequest
from rewards.types import RewardResult


class EchoVerifier(Verifier):
    """Scores 1 when the response equals the reference."""

    name = "echo"

    def verify(self, request: VerifyRequest) -> RewardResult:
        return RewardResult(float(request.response == request.reference))


class TantrumVerifier(Verifier):
    """Misbehaves according to the response text: hang, raise, crash the process, eat memory, or wrong type."""

    name = "tantrum"

    def verify(self, request: VerifyRequest) -> RewardResult:
        action = request.response
        if action == "hang":
            time.sleep(3600)
        if action == "raise":
            raise RuntimeError("verifier bug")
        if action == "crash":
            os._exit(3)
        if action == "oom":
            blob = bytearray(8 * 1024**3)  # above the pool's memory limit
            return RewardResult(float(len(blob)))
        if action == "wrong_type":
            return 1.0  # type: ignore[return-value]
        return RewardResult(1.0)
