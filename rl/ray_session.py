"""The Ray session of a job (rl.train, rl.evaluate): started here unless the calling program already has one.

A program that called `ray.init` itself (a notebook, a sweep driver running several jobs, a test process) keeps
its session: the job uses it and leaves it running, as verl/OpenRLHF drivers do. `ray.address` and
`ray.num_cpus` apply only to a session the job starts.
"""
from __future__ import annotations

import logging

from config.common import RayConfig

log = logging.getLogger(__name__)


def start_ray(cfg: RayConfig) -> bool:
    """Connect this process to Ray; True when this call started the session (the job then shuts it down)."""
    import ray

    if ray.is_initialized():
        log.info("using this process's Ray session (ray.address / ray.num_cpus apply only to a session the job "
                 "starts); it stays up after the job")
        return False
    ray.init(address=cfg.address, num_cpus=cfg.num_cpus, include_dashboard=False)
    return True


def stop_ray(started: bool) -> None:
    """Shut down the session if `start_ray` started it."""
    import ray

    if started:
        ray.shutdown()
