"""Evaluation during training (eval: section) and `python -m rl.evaluate` on a checkpoint: real Ray, the HF engine
(greedy and sampled), the math verifier, the tiny model."""
from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow]

EVAL = ["eval.files.math=data/math_test.jsonl", "eval.max_prompts=4", "eval.n=3", "eval.k=[1,3]", "eval.every=1"]
KEYS = ["eval/math/pass@1", "eval/math/pass@3", "eval/math/pass@1_sampled", "eval/math/mean_response_len",
        "eval/math/truncated_frac", "eval/math/error_frac", "eval/time_s"]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_eval_rows_before_during_and_after_training(tmp_path, mode, capsys, ray_session):
    from rl.evaluate import main as evaluate
    from rl.train import main

    run_dir = tmp_path / "run"
    common = ["data.train_files=[data/math_train.jsonl]", "data.domain_weights.code=0", "logging.progress_bar=false",
              "logging.wandb.mode=disabled", "rollout.prompts_per_step=4", "rollout.samples_per_prompt=2",
              "actor.micro_batch_size=4", "actor.mini_batches=2", "algo.advantage=grpo", *EVAL]
    rc = main(["--config", "mispo_math_code.yaml", "trainer.total_steps=2", f"trainer.run_dir={run_dir}",
               f"rollout.mode={mode}", *common])
    assert rc == 0
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if "eval/time_s" in r]
    assert [r["step"] for r in evals] == [0, 1, 2], [r["step"] for r in rows]
    assert [r["eval/at_step"] for r in evals] == [0.0, 1.0, 2.0]
    for r in evals:
        for key in KEYS:
            assert r[key] is not None, (r["step"], key)
        assert 0 <= r["eval/math/pass@1"] <= 1 and r["eval/math/pass@1_sampled"] <= r["eval/math/pass@3"] <= 1
    assert "eval after step 0:" in capsys.readouterr().out
    if mode == "async":
        return
    out_file = tmp_path / "eval.json"
    assert evaluate(["--config", "mispo_math_code.yaml", "--checkpoint", str(run_dir / "checkpoints" / "final"),
                     "--out", str(out_file), *common]) == 0
    again = json.loads(out_file.read_text())
    # the same weights and seeds as the after-training evaluation: the same greedy and sampled results
    assert again["eval/math/pass@1"] == evals[-1]["eval/math/pass@1"]
    assert again["eval/math/mean_response_len"] == pytest.approx(evals[-1]["eval/math/mean_response_len"])
    assert "pass@1" in capsys.readouterr().out
