"""Where the roles' Ray actors may run: the check that the cluster can place what the config asks for.

A role's workers ask Ray for `num_cpus_per_worker` CPUs, `num_gpus_per_worker` GPUs and the custom resources of
`<role>.resources` (node placement: `rollout.resources={rollout_node: 1}` puts the rollout workers on the nodes
started with `ray start --resources '{"rollout_node": N}'`). Ray waits forever for an actor it cannot place, so
the run checks first: the cluster's totals cover every role's sum, and each role's worker fits on one node.
"""
from __future__ import annotations

from typing import Any, Mapping

from config.errors import ConfigError

Plan = Mapping[str, Mapping[str, Any]]  # rl.run_summary.resource_plan(cfg)
RESERVED = ("CPU", "GPU", "memory", "object_store_memory")  # Ray's own; not allowed in `<role>.resources`
_EPS = 1e-9


def check_resources(plan: Plan) -> None:
    """Fail fast (instead of waiting forever for an actor Ray cannot place) when roles ask for more CPUs, GPUs or
    custom resources than the live Ray cluster has. `plan` is rl.run_summary.resource_plan(cfg)."""
    import ray

    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    errors = placement_errors(plan, ray.cluster_resources(), nodes)
    if errors:
        raise ConfigError("; ".join(errors))


def worker_demand(p: Mapping[str, Any]) -> dict[str, float]:
    """What one worker of a role asks Ray for: {"CPU": .., "GPU": .., custom: ..}, zero amounts left out."""
    need = {"CPU": float(p["cpus_each"]), "GPU": float(p["gpus_each"])}
    need.update({k: float(v) for k, v in (p.get("resources") or {}).items()})
    return {k: v for k, v in need.items() if v > 0}


def placement_errors(plan: Plan, have: Mapping[str, float], nodes: list[Mapping[str, float]]) -> list[str]:
    """One message per shortfall; `have` is ray.cluster_resources(), `nodes` each live node's total resources."""
    errors = [f"{role}.resources: {k!r} is Ray's own resource; set {role}.num_{k.lower()}s_per_worker instead"
              if k in ("CPU", "GPU") else f"{role}.resources: {k!r} is reserved by Ray; remove it"
              for role, p in plan.items() for k in (p.get("resources") or {}) if k in RESERVED]
    if errors:
        return errors
    for res, field in (("CPU", "cpus_each"), ("GPU", "gpus_each")):
        need = sum(p["workers"] * p[field] for p in plan.values())
        if need > have.get(res, 0.0) + _EPS:
            detail = ", ".join(f"{r}: {p['workers']} x {p[field]}" for r, p in plan.items())
            errors.append(f"resources: roles need {need:g} {res}s ({detail}) but the Ray cluster has "
                          f"{have.get(res, 0.0):g}; lower {'/'.join(f'{r}.num_{res.lower()}s_per_worker' for r in plan)}"
                          " or the worker counts")
    errors += _custom_errors(plan, have)
    return errors or _fit_errors(plan, nodes)


def _custom_errors(plan: Plan, have: Mapping[str, float]) -> list[str]:
    """Sum of each custom resource over the roles that ask for it, against the cluster's total."""
    users: dict[str, list[str]] = {}
    for role, p in plan.items():
        for k, v in (p.get("resources") or {}).items():
            if p["workers"] and v > 0:
                users.setdefault(k, []).append(role)
    errors = []
    for k, roles in users.items():
        need = sum(plan[r]["workers"] * float(plan[r]["resources"][k]) for r in roles)
        got = have.get(k, 0.0)
        if need <= got + _EPS:
            continue
        detail = ", ".join(f"{r}: {plan[r]['workers']} x {plan[r]['resources'][k]:g}" for r in roles)
        keys = " / ".join(f"{r}.resources.{k}" for r in roles)
        where = ("no node of the Ray cluster offers it" if got <= 0 else f"the Ray cluster has {got:g}")
        errors.append(f"{keys}: roles need {need:g} of the custom resource {k!r} ({detail}) but {where}; start the "
                      f"nodes meant for these workers with `ray start ... --resources '{{\"{k}\": N}}'`, or lower "
                      f"{keys} or the worker counts")
    return errors


def _fit_errors(plan: Plan, nodes: list[Mapping[str, float]]) -> list[str]:
    """A role's one worker must fit whole on some node (totals can suffice while no node has all of it)."""
    if not nodes:
        return []
    errors = []
    for role, p in plan.items():
        need = worker_demand(p)
        if not p["workers"] or any(all(n.get(k, 0.0) + _EPS >= v for k, v in need.items()) for n in nodes):
            continue
        offers = "; ".join(_describe(n) for n in nodes)
        errors.append(f"{role}: one worker needs {_describe(need)} on one node, but no node has all of it (nodes: "
                      f"{offers}); lower {role}.num_cpus_per_worker / num_gpus_per_worker or change "
                      f"{role}.resources, or start a node that has them")
    return errors


def _describe(res: Mapping[str, float]) -> str:
    shown = {k: v for k, v in res.items() if not k.startswith("node:") and k not in ("memory", "object_store_memory")}
    return "{" + ", ".join(f"{k}: {v:g}" for k, v in sorted(shown.items())) + "}"
