"""Dependency direction: config imports none of the project's other packages and no torch; rollout never imports
deepspeed, rl or rewards; rewards never imports rl or rollout; sandboxes import none of rl, rollout, rewards (and no
torch); sft and distill import config from config/, never a schema from rl/."""
from __future__ import annotations

import subprocess
import sys

import pytest

CASES = [
    ("config.common, config.errors, config.load, config.rollout, config.rewards, config.rl, config.sft, "
     "config.distill, rl.run_summary",
     ["torch", "ray", "deepspeed", "vllm", "rl.train", "rollout", "rewards", "sandboxes", "sft", "distill"]),
    ("rollout.base, rollout.types, rollout.worker, rollout.hf_engine", ["deepspeed", "rl"]),
    ("rewards.base, rewards.types, rewards.registry, rewards.reward_worker, rewards.math_verifier, rewards.process_pool, "
     "rewards.check, rewards.preference_verifier, rewards.preference_judges.hf_judge, "
     "rewards.preference_judges.openai_judge, "
     "rewards.code_verifier, rewards.env_verifier",
     ["rl", "rollout"]),
    ("sandboxes.docker_client, sandboxes.images, sandboxes.limits, sandboxes.container, sandboxes.pool, sandboxes.shell, "
     "sandboxes.code_runner, sandboxes.terminal_env, sandboxes.tasks.spec, sandboxes.tasks.task_image, "
     "sandboxes.tasks.__main__", ["rl", "rollout", "rewards", "torch"]),
    ("rollout.agent_loop, rollout.tools, rollout.envs, rollout.envs.terminal, rollout.envs.python_tool, "
     "rollout.weights.base, rollout.weights.object_store, rollout.weights.gloo, rollout.weights.nccl, "
     "rollout.weights.cuda_ipc", ["deepspeed", "rl", "rewards"]),
]


@pytest.mark.parametrize("modules,forbidden", CASES, ids=[c[0].split(",")[0] for c in CASES])
def test_import_boundaries(modules, forbidden):
    code = (f"import sys; import {modules}; "
            f"bad = [m for m in {forbidden!r} if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"{modules} imported {res.stdout.strip()} {res.stderr[-500:]}"
