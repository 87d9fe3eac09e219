"""Start the Ray actors of the rollout and reward roles from their sub-configs, as `WorkerSlots` (rl/worker_faults.py):
a list of actors that also knows how to start a replacement with the same options when one dies."""
from __future__ import annotations

from typing import Any

import ray

from config.rewards import RewardsConfig
from config.rl import TrainerConfig
from config.rollout import RolloutConfig
from rewards.reward_worker import RewardWorker
from rl.worker_faults import WorkerSlots
from rollout.worker import RolloutWorker

WEIGHTS_GROUP = "weights"  # with partial rollouts, weight loads run on this thread while a rollout runs
RESTART_TIMEOUT_S = TrainerConfig.worker_restart_timeout_s


def _describe(options: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in options.items() if v)


def start_rollout_workers(cfg: RolloutConfig, model_path: str, model_dtype: str,
                          restart_timeout_s: float = RESTART_TIMEOUT_S) -> WorkerSlots:
    """With partial rollouts the actors get a second concurrency group (one thread) for weight loads; rollouts stay
    one at a time in the default group (agent environments are per worker). A replacement is started the same way
    and must be up within `restart_timeout_s` (trainer.worker_restart_timeout_s)."""
    cls = (ray.remote(concurrency_groups={WEIGHTS_GROUP: 1})(RolloutWorker) if cfg.partial_rollouts
           else ray.remote(RolloutWorker))
    options = dict(num_cpus=cfg.num_cpus_per_worker, num_gpus=cfg.num_gpus_per_worker,
                   resources=dict(cfg.resources) or None)
    return WorkerSlots.start("rollout", lambda: cls.options(**options).remote(cfg, model_path, model_dtype),
                             cfg.num_workers, restart_timeout_s, _describe(options))


def weights_thread(method: Any, partial_rollouts: bool) -> Any:
    """A rollout actor's weight-loading method, routed to the weights thread when partial rollouts are on."""
    return method.options(concurrency_group=WEIGHTS_GROUP) if partial_rollouts else method


def start_reward_workers(cfg: RewardsConfig, domains: set[str] | None = None,
                         restart_timeout_s: float = RESTART_TIMEOUT_S) -> WorkerSlots:
    """`cfg.num_workers` reward actors scoring `domains` (default: every configured domain)."""
    cls = ray.remote(RewardWorker)
    options = dict(num_cpus=cfg.num_cpus_per_worker, resources=dict(cfg.resources) or None)
    return WorkerSlots.start("reward", lambda: cls.options(**options).remote(cfg, domains), cfg.num_workers,
                             restart_timeout_s, _describe(options))
