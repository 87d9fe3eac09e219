"""Reward workers: Ray actors, each owning a VerifierProcessPool. rl/ wraps `RewardWorker` with `ray.remote`.

A verifier that raises, hangs past the deadline or crashes its process yields RewardResult(status="error" or
"timeout") for that sample (masked by the trainer): never a crash of the run and never a silent 0.
"""
from __future__ import annotations

import logging

from config.rewards import RewardsConfig
from rewards.base import VerifyRequest
from rewards.process_pool import VerifierProcessPool
from rewards.types import RewardResult

log = logging.getLogger(__name__)


class RewardWorker:
    """Scores the domains of `cfg.domains` (or the subset `domains`) with `cfg.processes_per_worker` verifier
    processes, under the section's deadline, memory limit and retry count."""

    def __init__(self, cfg: RewardsConfig, domains: set[str] | None = None) -> None:
        logging.basicConfig(level=logging.INFO)
        self.pool = VerifierProcessPool(cfg.verifier_specs(domains), cfg.processes_per_worker, cfg.timeout_s,
                                        cfg.memory_mb, cfg.max_retries)

    def score(self, items: list[tuple[str, VerifyRequest]]) -> list[RewardResult]:
        """Score (domain, request) pairs in order."""
        return self.pool.score(items)

    def restarts(self) -> int:
        """How many verifier processes were killed and replaced so far (timeouts, crashes)."""
        return self.pool.restarts

    def close(self) -> None:
        """Stop the verifier processes (and whatever they own, e.g. sandbox containers)."""
        self.pool.close()
