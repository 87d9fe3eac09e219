"""rl/placement.py: the plan (CPUs, GPUs, custom resources per role) against a Ray cluster's resources, no Ray."""
from __future__ import annotations

import pytest

from rl.placement import placement_errors, worker_demand


def _plan(rollout_res=None, rewards_res=None, rollout_workers=2):
    return {
        "rollout": {"workers": rollout_workers, "cpus_each": 0.5, "gpus_each": 0.0, "resources": rollout_res or {}},
        "actor": {"workers": 1, "cpus_each": 0.5, "gpus_each": 0.0, "resources": {}},
        "rewards": {"workers": 1, "cpus_each": 0.5, "gpus_each": 0.0, "resources": rewards_res or {}},
    }


HEAD = {"CPU": 2.0, "memory": 1e9, "node:127.0.0.1": 1.0, "node:__internal_head__": 1.0}
ROLLOUT_NODE = {"CPU": 1.0, "rollout_node": 2.0, "node:127.0.0.1": 1.0}


def _total(*nodes):
    out: dict[str, float] = {}
    for n in nodes:
        for k, v in n.items():
            out[k] = out.get(k, 0.0) + v
    return out


def test_custom_resources_that_the_cluster_has_pass():
    plan = _plan({"rollout_node": 1}, {"rollout_node": 0})
    assert placement_errors(plan, _total(HEAD, ROLLOUT_NODE), [HEAD, ROLLOUT_NODE]) == []


def test_missing_custom_resource_names_the_key_and_the_fix():
    errors = placement_errors(_plan({"gpu_node": 1}), _total(HEAD), [HEAD])
    assert len(errors) == 1
    msg = errors[0]
    assert msg.startswith("rollout.resources.gpu_node:") and "no node of the Ray cluster offers it" in msg
    assert "ray start ... --resources '{\"gpu_node\": N}'" in msg


def test_custom_resource_summed_over_roles():
    # rollout 2 x 1 + rewards 1 x 1 = 3 > 2 on the rollout node: both keys are named
    errors = placement_errors(_plan({"rollout_node": 1}, {"rollout_node": 1}), _total(HEAD, ROLLOUT_NODE),
                              [HEAD, ROLLOUT_NODE])
    assert len(errors) == 1
    assert "rollout.resources.rollout_node / rewards.resources.rollout_node" in errors[0]
    assert "need 3 of the custom resource 'rollout_node'" in errors[0] and "the Ray cluster has 2" in errors[0]


def test_a_worker_must_fit_on_one_node():
    # the cluster has 3 CPUs and 2 rollout_node in total, but the rollout node offers no CPU at all
    bare = {"rollout_node": 2.0}
    errors = placement_errors(_plan({"rollout_node": 1}), _total(HEAD, bare), [HEAD, bare])
    assert len(errors) == 1 and errors[0].startswith("rollout: one worker needs {CPU: 0.5, rollout_node: 1}")
    assert "{CPU: 2}" in errors[0] and "{rollout_node: 2}" in errors[0]


def test_cpu_shortfall_still_reported():
    errors = placement_errors(_plan(rollout_workers=8), _total(HEAD), [HEAD])
    assert len(errors) == 1 and "roles need 5 CPUs" in errors[0] and "rollout.num_cpus_per_worker" in errors[0]


@pytest.mark.parametrize("key,fix", [("CPU", "rollout.num_cpus_per_worker"), ("memory", "remove it")])
def test_rays_own_resources_are_refused(key, fix):
    errors = placement_errors(_plan({key: 1}), _total(HEAD), [HEAD])
    assert len(errors) == 1 and errors[0].startswith(f"rollout.resources: {key!r}") and fix in errors[0]


def test_worker_demand_drops_zeros():
    assert worker_demand({"cpus_each": 1, "gpus_each": 0, "resources": {"a": 0, "b": 0.5}}) == {"CPU": 1.0, "b": 0.5}


def test_summary_shows_custom_resources():
    from config.load import load_config
    from config.rl import RLConfig
    from rl.run_summary import format_summary, resource_plan

    cfg = load_config(RLConfig, "mispo_math_code.yaml", ["rollout.resources={rollout_node: 1}",
                                                         "rewards.resources={rollout_node: 0.5}"])
    assert resource_plan(cfg)["rollout"]["resources"] == {"rollout_node": 1}
    text = format_summary(cfg)
    assert "rollout    1 x (0.5 CPU, 0.0 GPU, rollout_node 1)" in text
    assert "rewards    1 x (0.5 CPU, 0.0 GPU, rollout_node 0.5)" in text
    assert "actor      1 x (0.5 CPU, 0.0 GPU)\n" in text

