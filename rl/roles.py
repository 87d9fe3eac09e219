"""Start the Ray actors of the rollout and reward roles from their sub-configs."""
from __future__ import annotations

import dataclasses
import os
from typing import Any

import ray

from rewards.pool import RewardWorker
from rl.config_schema import ModelConfig, RewardsConfig, RolloutConfig
from rollout.worker import RolloutWorker


def resolve_threads(threads: int) -> int:
    """0 means all cores: Ray sets OMP_NUM_THREADS=1 inside actors, so torch must be told explicitly."""
    return threads if threads > 0 else (os.cpu_count() or 1)


WEIGHTS_GROUP = "weights"  # with partial rollouts, weight loads run on this thread while a rollout runs


def start_rollout_workers(cfg: RolloutConfig, model_cfg: ModelConfig, model_path: str) -> list[Any]:
    """With partial rollouts the actors get a second concurrency group (one thread) for weight loads; rollouts stay
    one at a time in the default group (agent environments are per worker)."""
    cls = (ray.remote(concurrency_groups={WEIGHTS_GROUP: 1})(RolloutWorker) if cfg.partial_rollouts
           else ray.remote(RolloutWorker))
    return [
        cls.options(num_cpus=cfg.num_cpus_per_worker, num_gpus=cfg.num_gpus_per_worker).remote(
            cfg.engine, model_path, cfg.dtype or model_cfg.dtype, resolve_threads(cfg.torch_threads),
            cfg.generation_batch_size, dataclasses.asdict(cfg.vllm if cfg.engine == "vllm" else cfg.hf),
            _agent_dict(cfg), cfg.segment_tokens if cfg.partial_rollouts else 0)
        for _ in range(cfg.num_workers)
    ]


def weights_method(worker: Any, name: str, partial_rollouts: bool) -> Any:
    """The worker's weight-loading method, routed to the weights thread when partial rollouts are on."""
    method = getattr(worker, name)
    return method.options(concurrency_group=WEIGHTS_GROUP) if partial_rollouts else method


def _agent_dict(cfg: RolloutConfig) -> dict:
    return dataclasses.asdict(cfg.agent) if cfg.agent.domains else {}


def start_reward_workers(cfg: RewardsConfig) -> list[Any]:
    domains = {d: (c.verifier, dict(c.options)) for d, c in cfg.domains.items()}
    cls = ray.remote(RewardWorker)
    return [cls.options(num_cpus=cfg.num_cpus_per_worker).remote(
        domains, cfg.processes_per_worker, cfg.timeout_s, cfg.memory_mb, cfg.max_retries) for _ in range(cfg.num_workers)]


def check_resources(plan: dict[str, dict[str, float]]) -> None:
    """Fail fast (instead of waiting forever for an actor Ray cannot place) when roles ask for more CPUs/GPUs
    than the cluster has. `plan` is rl.run_summary.resource_plan(cfg)."""
    from rl.config_load import ConfigError

    have = ray.cluster_resources()
    keys = {role: role for role in plan}
    for res, field in (("CPU", "cpus_each"), ("GPU", "gpus_each")):
        need = sum(p["workers"] * p[field] for p in plan.values())
        if need > have.get(res, 0.0) + 1e-9:
            detail = ", ".join(f"{keys[r]}: {p['workers']} x {p[field]}" for r, p in plan.items())
            raise ConfigError(
                f"resources: roles need {need:g} {res}s ({detail}) but the Ray cluster has {have.get(res, 0.0):g}; "
                f"lower {'/'.join(f'{k}.num_{res.lower()}s_per_worker' for k in keys)} or the worker counts"
            )
