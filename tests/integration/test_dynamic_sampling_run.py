"""Dynamic sampling in a real run (Ray, the tiny model, the HF engine): on a task where half of the prompts are
all-correct whatever the policy writes, the trained batch holds only informative groups, at the configured size,
and the counters add up. Sync with the critic (GAE), and async with GRPO and overlong masking. The perf/ metrics
ride along: null MFU on CPU without a peak, finite with `trainer.peak_tflops`."""
from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
pytestmark = pytest.mark.ray
PROMPTS, SAMPLES = 4, 4


@pytest.fixture()
def half_always_data(tmp_path, monkeypatch):
    """8 math prompts, every other one scored 1 whatever the response; the verifier importable by the Ray workers."""
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), str(REPO), os.environ.get("PYTHONPATH", "")]))
    rows = [json.loads(line) for line in (REPO / "data/math_train.jsonl").read_text().splitlines()[:8]]
    for i, row in enumerate(rows):
        row["reference"] = "always" if i % 2 == 0 else "varies"
    path = tmp_path / "half_always.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path, {r["prompt"] for r in rows if r["reference"] == "always"}


@pytest.mark.parametrize("overrides", [
    [],
    ["rollout.mode=async", "algo.advantage=grpo", "algo.overlong.mode=mask", "trainer.peak_tflops=1.0"],
], ids=["sync-gae", "async-grpo-overlong_mask"])
def test_dynamic_sampling_fills_the_batch_with_informative_groups(tmp_path, tiny_model_path, half_always_data,
                                                                   overrides, ray_session):
    from rl.train import main

    data, always = half_always_data
    run_dir = tmp_path / "run"
    rc = main(["--config", "mispo_math_code.yaml", "trainer.total_steps=2", f"trainer.run_dir={run_dir}",
               f"data.train_files=[{data}]", "data.domain_weights.code=0",
               "rewards.domains.math.verifier=dynamic_fixtures:HalfAlwaysVerifier",
               f"rollout.prompts_per_step={PROMPTS}", f"rollout.samples_per_prompt={SAMPLES}",
               "actor.micro_batch_size=4", "algo.dynamic_sampling.enabled=true", "algo.dynamic_sampling.max_rounds=4",
               "trainer.log_samples=1000", "logging.progress_bar=false", "logging.wandb.mode=disabled", *overrides])
    assert rc == 0
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    samples = defaultdict(list)
    for s in map(json.loads, (run_dir / "samples.jsonl").read_text().splitlines()):
        samples[s["step"]].append(s)
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        print(f"\nstep {r['step']}: rounds {r['rollout/dynamic_rounds']}, groups generated "
              f"{r['rollout/groups_generated']}, zero-var {r['rollout/zero_var_groups_frac']:.3f}, filled "
              f"{r['rollout/dynamic_filled_frac']}, perf {({k: v for k, v in r.items() if k.startswith('perf/')})}")
        generated = r["rollout/groups_generated"]
        zero_var = r["rollout/zero_var_groups_frac"] * generated
        assert abs(zero_var - round(zero_var)) < 1e-6 and 0 < zero_var < generated
        assert 0 <= r["rollout/dynamic_rounds"] <= 3 and generated >= PROMPTS
        assert r["rollout/dynamic_filled_frac"] == 1.0  # enough informative groups within 4 rounds
        batch = samples[r["step"]]
        assert len(batch) == PROMPTS * SAMPLES  # the configured batch size
        groups = defaultdict(list)
        for s in batch:
            groups[s["group"]].append(s)
        assert len(groups) == PROMPTS and all(len(g) == SAMPLES for g in groups.values())
        for g in groups.values():
            assert not any(s["prompt"].find(p) >= 0 for s in g for p in always)  # all-correct groups dropped
            scores = {s["reward"] for s in g if not s["masked"]}
            assert len(scores) >= 2  # informative: its valid samples disagree
        assert r["perf/tokens_per_s_generated"] > 0 and r["perf/tokens_per_s_trained"] > 0
    assert sum(r["rollout/dynamic_rounds"] for r in rows) >= 1  # half the prompts are all-correct: rounds were needed
    if "trainer.peak_tflops=1.0" in overrides:
        assert all(0 < r["perf/mfu_actor"] < 1 for r in rows) and "algo/overlong_masked_frac" in rows[0]
    else:
        assert all(r["perf/mfu_actor"] is None for r in rows)  # CPU, no peak: NaN, written as null
        assert all(r["critic/value_loss"] is not None and math.isfinite(r["critic/value_loss"]) for r in rows)
    assert "peak bf16 per device" in (run_dir / "batch_arithmetic.txt").read_text()
