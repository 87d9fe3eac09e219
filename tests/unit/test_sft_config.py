"""SFT and merge configs: every sft_*/distill_* YAML loads; bad input gives one-line errors naming the key and
the fix; the schemas import no torch; the LR schedule and the step plan."""
from __future__ import annotations

import math
import subprocess
import sys

import pytest

from config.distill import MergeConfig, used_experts, validate_merge_config
from config.errors import ConfigError
from config.load import CONFIGS_DIR, load_config
from config.sft import SFTConfig, validate_sft_config
from rewards.registry import known_verifiers
from sft.batching import plan_steps
from sft.data import SFTExample


@pytest.mark.parametrize("path", sorted(CONFIGS_DIR.glob("sft_*.yaml")), ids=lambda p: p.name)
def test_every_sft_config_loads(path):
    cfg = load_config(SFTConfig, str(path), [], validate_sft_config)
    assert cfg.data.train_files and cfg.trainer.epochs > 0


@pytest.mark.parametrize("path", sorted(CONFIGS_DIR.glob("distill_*.yaml")), ids=lambda p: p.name)
def test_every_merge_config_loads_and_its_experts_load(path):
    cfg = load_config(MergeConfig, str(path), ["domains.code.enabled=false"], validate_merge_config)
    assert used_experts(cfg) == ["math_expert"]
    for name in used_experts(cfg):
        load_config(SFTConfig, cfg.experts[name].sft_config, [], validate_sft_config)


@pytest.mark.parametrize("overrides,needle", [
    (["optim.lr=0"], "optim.lr: must be > 0"),
    (["data.attention=flash"], "data.attention"),
    (["data.pack_len=16"], "data.pack_len"),
    (["optim.zero_stage=3"], "optim.zero_stage"),
    (["optim.learning_rate=1"], "optim.learning_rate: unknown key"),
])
def test_sft_errors_name_the_key(overrides, needle):
    with pytest.raises(ConfigError) as exc:
        load_config(SFTConfig, "sft_math_expert.yaml", overrides, validate_sft_config)
    assert needle in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("overrides,needle", [
    (["domains.math.expert=nobody"], "domains.math.expert"),
    (["domains.math.verifier=nonexistent"], "domains.math.verifier"),
    (["domains.math.enabled=false", "domains.code.enabled=false"], "domains: none enabled"),
    (["generate.temperature=0"], "generate.temperature"),
    (["student.attention=x"], "student.attention"),
    (["experts.math_expert.sft_config=null"], "experts.math_expert"),
])
def test_merge_errors_name_the_key(overrides, needle):
    with pytest.raises(ConfigError) as exc:
        load_config(MergeConfig, "distill_merge.yaml", ["domains.code.enabled=false", *overrides],
                    lambda c: validate_merge_config(c, known_verifiers()))
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_schemas_and_entry_points_import_no_torch():
    code = ("import sys, config.sft, sft.train, config.distill, distill.merge; "
            "bad = [m for m in ('torch', 'deepspeed', 'ray', 'transformers') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr[-500:]


def test_warmup_then_cosine_schedule():
    from rl.deepspeed_setup import warmup_cosine

    f = warmup_cosine(warmup_steps=2, total_steps=6, min_lr_ratio=0.1)
    got = [f(s) for s in range(7)]
    assert got[:2] == [0.5, 1.0]  # the first step already learns
    assert got[2] == 1.0 and math.isclose(got[5], 0.1) and got[6] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(got[1:], got[2:]))
    assert warmup_cosine(0, 1, 0.0)(0) == 1.0


def test_step_plan_normaliser_is_the_global_target_count():
    rows = [[SFTExample([1] * (n + 1), [-100] + [1] * n)] for n in (3, 5, 7, 2, 4, 6, 8)]
    steps = plan_steps(rows, micro_batch_size=2, grad_accum=2, world_size=1, epochs=2, max_steps=0, seed=0)
    # 7 rows, 4 per step: per epoch one full step and one partial step of 3 rows (each micro-batch gets a row)
    assert len(steps) == 4 and [s.epoch for s in steps] == [0, 0, 1, 1]
    for s in steps:
        micro = [row for mb in s.micro[0] for row in mb]
        assert s.normalizer == sum(r[0].num_targets for r in micro) and len(s.micro[0]) == 2
    two_ranks = plan_steps(rows, 1, 2, 2, 1, 0, 0)
    assert all(len(s.micro) == 2 and all(len(m) == 2 for m in s.micro) for s in two_ranks)
    assert len(plan_steps(rows, 2, 2, 1, epochs=5, max_steps=3, seed=0)) == 3
    with pytest.raises(ValueError, match="optim.grad_accum_steps"):
        plan_steps(rows[:1], 1, 2, 1, 1, 0, 0)


def test_rl_schedule_learns_from_the_first_step():
    from rl.deepspeed_setup import warmup_constant

    assert warmup_constant(0)(0) == 1.0  # no warm-up: full LR at once (DeepSpeed's WarmupLR started at 0)
    f = warmup_constant(4)
    assert [f(s) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
