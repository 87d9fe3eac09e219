"""Reward workers: Ray actors, each owning a VerifierProcessPool. rl/ wraps `RewardWorker` with `ray.remote`.

A verifier that raises, hangs past the deadline or crashes its process yields RewardResult(status="error" or
"timeout") for that sample (masked by the trainer): never a crash of the run and never a silent 0.
"""
from __future__ import annotations

import logging
from typing import Any

from rewards.base import VerifyRequest
from rewards.process_pool import VerifierProcessPool
from rewards.types import RewardResult

log = logging.getLogger(__name__)


class RewardWorker:
    """domains: {domain: (verifier name, options)}; the pool's limits come from the rewards config."""

    def __init__(self, domains: dict[str, tuple[str, dict[str, Any]]], processes: int = 1, timeout_s: float = 10.0,
                 memory_mb: int | None = 4096, max_retries: int = 1) -> None:
        logging.basicConfig(level=logging.INFO)
        self.pool = VerifierProcessPool(domains, processes, timeout_s, memory_mb, max_retries)

    def score(self, items: list[tuple[str, VerifyRequest]]) -> list[RewardResult]:
        """Score (domain, request) pairs in order."""
        return self.pool.score(items)

    def restarts(self) -> int:
        """How many verifier processes were killed and replaced so far (timeouts, crashes)."""
        return self.pool.restarts

    def close(self) -> None:
        """Stop the verifier processes (and whatever they own, e.g. sandbox containers)."""
        self.pool.close()
