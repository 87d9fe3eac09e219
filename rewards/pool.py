"""Reward workers: verifiers behind Ray actors. rl/ wraps `RewardWorker` with `ray.remote`.

A verifier exception becomes RewardResult(status="error") for that sample (masked by the trainer), never a crash
and never a silent 0.
"""
from __future__ import annotations

import logging
import time
import traceback
from typing import Any

from rewards.base import VerifyRequest
from rewards.registry import setup_verifier
from rewards.types import RewardResult

log = logging.getLogger(__name__)


class RewardWorker:
    """Holds one verifier instance per domain. domains: {domain: (verifier name, options)}."""

    def __init__(self, domains: dict[str, tuple[str, dict[str, Any]]]) -> None:
        logging.basicConfig(level=logging.INFO)
        self.verifiers = {d: setup_verifier(name, opts) for d, (name, opts) in domains.items()}

    def score(self, items: list[tuple[str, VerifyRequest]]) -> list[RewardResult]:
        """Score (domain, request) pairs in order."""
        results = []
        for domain, req in items:
            verifier = self.verifiers.get(domain)
            if verifier is None:
                results.append(RewardResult.failed("error", f"no verifier for domain {domain!r}"))
                continue
            start = time.perf_counter()
            try:
                res = verifier.verify(req)
            except Exception as exc:  # the verifier failed, not the policy: mask the sample
                log.warning("verifier for %s raised %s", domain, exc)
                res = RewardResult.failed("error", f"{type(exc).__name__}: {exc}",
                                          traceback=traceback.format_exc(limit=3))
            res.details.setdefault("seconds", time.perf_counter() - start)
            results.append(res)
        return results
