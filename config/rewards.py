"""Config of the reward side: which verifier scores each domain, and the reward workers that run them.

`RewardWorker(cfg.rewards)` receives this section and nothing else.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import MISSING

from config.common import check_positive


@dataclass
class DomainRewardConfig:
    """Which verifier scores a domain, and its keyword options."""

    verifier: str = MISSING  # a registered name (`math`, ...) or a dotted path `pkg.module:Class`
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class RewardsConfig:
    """Reward workers (Ray actors), each with `processes_per_worker` verifier processes."""

    domains: dict[str, DomainRewardConfig] = MISSING
    num_workers: int = 1
    num_cpus_per_worker: float = 0.5
    resources: dict[str, float] = field(default_factory=dict)  # custom Ray resources per worker (node placement)
    processes_per_worker: int = 1
    timeout_s: float = 10.0  # per-sample deadline, enforced by killing the verifier process -> status timeout
    memory_mb: Optional[int] = 4096  # address-space limit per verifier process (null = none)
    max_retries: int = 1  # a sample whose process crashed is retried this many times, then status error

    def verifier_specs(self, only: Optional[set[str]] = None) -> dict[str, tuple[str, dict[str, Any]]]:
        """domain -> (verifier name, options) for every configured domain (or those in `only`)."""
        return {d: (c.verifier, dict(c.options)) for d, c in self.domains.items() if only is None or d in only}


def validate_rewards(cfg: RewardsConfig) -> list[str]:
    """Checks of the rewards section alone; keys are reported as `rewards.<key>`."""
    return check_positive({"rewards.num_workers": cfg.num_workers,
                           "rewards.processes_per_worker": cfg.processes_per_worker,
                           "rewards.timeout_s": cfg.timeout_s})
