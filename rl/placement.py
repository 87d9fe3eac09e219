"""Where the roles' Ray actors may run: the check that the cluster can place what the config asks for."""
from __future__ import annotations

import ray

from config.errors import ConfigError


def check_resources(plan: dict[str, dict[str, float]]) -> None:
    """Fail fast (instead of waiting forever for an actor Ray cannot place) when roles ask for more CPUs/GPUs
    than the cluster has. `plan` is rl.run_summary.resource_plan(cfg)."""
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
