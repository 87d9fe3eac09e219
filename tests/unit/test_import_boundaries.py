"""Dependency direction: config never imports torch; rollout never imports deepspeed or rl; rewards and
sandboxes never import rl or rollout."""
from __future__ import annotations

import subprocess
import sys

import pytest

CASES = [
    ("rl.config_schema, rl.config_load, rl.run_summary", ["torch", "ray", "deepspeed", "vllm"]),
    ("rollout.base, rollout.types, rollout.worker, rollout.hf_engine", ["deepspeed", "rl"]),
    ("rewards.base, rewards.types, rewards.registry, rewards.pool, rewards.math_verifier, rewards.process_pool, "
     "rewards.check, rewards.preference_verifier, rewards.judges.hf_judge, rewards.judges.openai_judge",
     ["rl", "rollout"]),
]


@pytest.mark.parametrize("modules,forbidden", CASES, ids=[c[0].split(",")[0] for c in CASES])
def test_import_boundaries(modules, forbidden):
    code = (f"import sys; import {modules}; "
            f"bad = [m for m in {forbidden!r} if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"{modules} imported {res.stdout.strip()} {res.stderr[-500:]}"
