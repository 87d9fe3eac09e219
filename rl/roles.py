"""Start the Ray actors of the rollout and reward roles from their sub-configs."""
from __future__ import annotations

from typing import Any

import ray

from config.rewards import RewardsConfig
from config.rollout import RolloutConfig
from rewards.reward_worker import RewardWorker
from rollout.worker import RolloutWorker

WEIGHTS_GROUP = "weights"  # with partial rollouts, weight loads run on this thread while a rollout runs


def start_rollout_workers(cfg: RolloutConfig, model_path: str, model_dtype: str) -> list[Any]:
    """With partial rollouts the actors get a second concurrency group (one thread) for weight loads; rollouts stay
    one at a time in the default group (agent environments are per worker)."""
    cls = (ray.remote(concurrency_groups={WEIGHTS_GROUP: 1})(RolloutWorker) if cfg.partial_rollouts
           else ray.remote(RolloutWorker))
    return [cls.options(num_cpus=cfg.num_cpus_per_worker, num_gpus=cfg.num_gpus_per_worker,
                        resources=dict(cfg.resources) or None).remote(cfg, model_path, model_dtype)
            for _ in range(cfg.num_workers)]


def weights_thread(method: Any, partial_rollouts: bool) -> Any:
    """A rollout actor's weight-loading method, routed to the weights thread when partial rollouts are on."""
    return method.options(concurrency_group=WEIGHTS_GROUP) if partial_rollouts else method


def start_reward_workers(cfg: RewardsConfig, domains: set[str] | None = None) -> list[Any]:
    """`cfg.num_workers` reward actors scoring `domains` (default: every configured domain)."""
    cls = ray.remote(RewardWorker)
    return [cls.options(num_cpus=cfg.num_cpus_per_worker, resources=dict(cfg.resources) or None).remote(cfg, domains)
            for _ in range(cfg.num_workers)]
