"""Learner -> rollout-engine weight sync, chosen by `rollout.weight_sync`:
- object_store: rank 0's state dict as a zero-copy payload in Ray's object store; every engine reads it (CPU,
  colocated GPUs, cross-node).
- nccl: a dedicated NCCL group (learner rank 0 + one rank per engine GPU); bucketed broadcast GPU to GPU.
- gloo: the same bucketed broadcast over a gloo group, for CPU learners and engines (vLLM receives it inside its
  worker process through the worker extension).
- cuda_ipc: engines colocated on the learner's GPU map the learner's weight buckets through CUDA IPC handles.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import ray

from rl.config_schema import RolloutConfig
from rl.roles import weights_method


def make_weight_sync(cfg: RolloutConfig, actor: Any, rollout_workers: Sequence[Any]) -> Callable[[int], None]:
    """Returns sync(version): pushes the actor's current weights to every engine and tags them `version`. With
    partial rollouts the loads go to the workers' weights thread and land between generation segments."""
    partial = cfg.partial_rollouts

    def call(w: Any, name: str) -> Any:
        return weights_method(w, name, partial)

    if cfg.weight_sync == "object_store":
        def sync(version: int) -> None:
            ref = actor.weights_ref()
            ray.get([call(w, "update_weights").remote(ref, version) for w in rollout_workers])
        return sync

    sender = actor.actors[0]
    if cfg.weight_sync == "cuda_ipc":
        return _ipc_sync(sender, rollout_workers, cfg.weight_bucket_mb, call)
    host = ray.get(sender.node_ip.remote())
    port, world = ray.get(sender.free_port.remote()), 1 + len(rollout_workers)
    backend = cfg.weight_sync  # nccl | gloo
    plan_ref = sender.init_weight_group.remote(host, port, world, cfg.weight_bucket_mb, backend)
    joins = [w.init_weight_group.remote(host, port, i + 1, world, backend) for i, w in enumerate(rollout_workers)]
    plan = ray.get(plan_ref)
    ray.get(joins)

    def sync(version: int) -> None:
        sent = sender.broadcast_weights.remote()
        ray.get([call(w, "receive_weights").remote(plan, version) for w in rollout_workers] + [sent])
    return sync


def _ipc_sync(sender: Any, rollout_workers: Sequence[Any], bucket_mb: int,
              call: Callable[[Any, str], Any]) -> Callable[[int], None]:
    from rl.config_load import ConfigError

    uuid, plan = ray.get(sender.ipc_init.remote(bucket_mb))
    others = ray.get([w.gpu_uuid.remote() for w in rollout_workers])
    if any(u != uuid for u in others):
        raise ConfigError("rollout.weight_sync: cuda_ipc needs every rollout worker on the learner's GPU (Ray "
                          "placed them elsewhere); use nccl for engines on other GPUs")

    def sync(version: int) -> None:
        handles = ray.get(sender.ipc_share.remote())
        ray.get([call(w, "receive_ipc").remote(handles, plan, version) for w in rollout_workers])
        ray.get(sender.ipc_release.remote())
    return sync
