"""A third-party verifier package, pip-installed, is found through the `mispo.verifiers` entry point and scores a
short training run by name."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.ray


@pytest.fixture()
def installed_plugin(tmp_path, monkeypatch):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(target), str(REPO / "examples/verifier_plugin")],
                   check=True, capture_output=True, text=True, timeout=300)
    monkeypatch.syspath_prepend(str(target))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(target), str(REPO), os.environ.get("PYTHONPATH", "")]))
    return target


def test_plugin_installs_registers_and_trains(installed_plugin, tmp_path, tiny_model_path, ray_session):
    from rewards.base import VerifyRequest
    from rewards.registry import known_verifiers, setup_verifier
    from rl.train import main

    assert known_verifiers()["answer_format"] == "mispo_example_verifier:AnswerFormatVerifier"
    v = setup_verifier("answer_format", {"max_chars": 100})
    assert v.verify(VerifyRequest("", "1 + 1 = 2. The answer is \\boxed{2}.")).score == 1.0
    assert v.verify(VerifyRequest("", "The answer is 2.")).score == 0.0

    run_dir = tmp_path / "run"
    rc = main(["--config", "mispo_math_code.yaml", "trainer.total_steps=1", f"trainer.run_dir={run_dir}",
               "rewards.domains.math.verifier=answer_format", "rewards.domains.math.options={max_chars: 100}",
               "rollout.prompts_per_step=4", "rollout.samples_per_prompt=4", "actor.micro_batch_size=4",
               "algo.advantage=grpo", "logging.progress_bar=false", "logging.wandb.mode=disabled",
               "data.train_files=[data/math_train.jsonl]", "data.domain_weights.code=0"])
    assert rc == 0
    row = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[0])
    assert row["reward/error_frac"] == 0.0 and 0.0 <= row["reward/math/mean"] <= 1.0
    sample = json.loads((run_dir / "samples.jsonl").read_text().splitlines()[0])
    expected = setup_verifier("answer_format", {"max_chars": 100}).verify(VerifyRequest("", sample["response"]))
    assert sample["reward"] == expected.score  # the plugin, not the math checker, scored the run
