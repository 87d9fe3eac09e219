"""Config system: every YAML loads; bad input fails with one-line messages naming the key and the fix."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from config.errors import ConfigError
from config.load import CONFIGS_DIR, load_config
from config.rl import RLConfig, validate_rl_config
from rl.run_summary import batch_arithmetic

REPO = Path(__file__).resolve().parents[2]


def load(overrides=(), config="mispo_math_code.yaml"):
    return load_config(RLConfig, config, list(overrides), validate_rl_config)


@pytest.mark.parametrize("path", sorted(CONFIGS_DIR.glob("rl_*.yaml")) + sorted(CONFIGS_DIR.glob("mispo_*.yaml")),
                         ids=lambda p: p.name)
def test_every_rl_config_loads(path):
    cfg = load(config=str(path))
    assert cfg.trainer.total_steps > 0


def test_fixed_key_names_exist():
    cfg = load()
    assert cfg.model.path == "mispo-tiny"
    assert cfg.rollout.engine == "hf" and cfg.rollout.mode == "sync" and cfg.algo.objective == "mispo"
    assert isinstance(cfg.trainer.seed, int) and cfg.trainer.run_dir is None


def test_overrides_apply_with_types():
    cfg = load(["trainer.total_steps=7", "actor.lr=1e-5", "algo.token_bounds=[0.25,4.0]", "trainer.run_dir=/tmp/x"])
    assert cfg.trainer.total_steps == 7 and cfg.actor.lr == pytest.approx(1e-5)
    assert list(cfg.algo.token_bounds) == [0.25, 4.0] and cfg.trainer.run_dir == "/tmp/x"


def one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg, msg
    return msg


def test_unknown_key_names_path_and_allowed_keys():
    with pytest.raises(ConfigError) as exc:
        load(["rollout.temprature=0.7"])
    msg = one_line(exc)
    assert "rollout.temprature" in msg and "temperature" in msg


def test_unknown_key_in_yaml(tmp_path):
    bad = tmp_path / "bad.yaml"
    text = (CONFIGS_DIR / "mispo_math_code.yaml").read_text()
    bad.write_text(text.replace("  lr: 1.0e-4", "  learning_rate: 1.0"))
    with pytest.raises(ConfigError) as exc:
        load(config=str(bad))
    assert "actor.learning_rate" in one_line(exc) and "lr" in one_line(exc)


def test_wrong_type():
    with pytest.raises(ConfigError) as exc:
        load(["rollout.prompts_per_step=many"])
    msg = one_line(exc)
    assert "rollout.prompts_per_step" in msg and "many" in msg


def test_bad_choice_lists_allowed_values():
    with pytest.raises(ConfigError) as exc:
        load(["rollout.engine=vlm"])
    msg = one_line(exc)
    assert "rollout.engine" in msg and "'hf'" in msg and "'vllm'" in msg


def test_missing_file_lists_known_configs():
    with pytest.raises(ConfigError) as exc:
        load(config="does_not_exist.yaml")
    msg = one_line(exc)
    assert "does_not_exist.yaml" in msg and "mispo_math_code.yaml" in msg


def test_domain_without_verifier_is_config_error():
    with pytest.raises(ConfigError) as exc:
        load(["data.domain_weights={math: 1.0, poetry: 1.0}"])
    assert "data.domain_weights.poetry" in one_line(exc)


def test_indivisible_batch():
    with pytest.raises(ConfigError) as exc:
        load(["rollout.prompts_per_step=3", "rollout.samples_per_prompt=3"])
    assert "actor.mini_batches" in one_line(exc)


def test_batch_arithmetic():
    plan = batch_arithmetic(load(["actor.micro_batch_size=16"]))
    assert plan["trajectories_per_step"] == 256 and plan["trajectories_per_mini_batch"] == 64
    assert plan["grad_accum_steps"] == 4


def test_cli_dry_run_and_error_exit_codes():
    ok = subprocess.run([sys.executable, "-m", "rl.train", "--config", "mispo_math_code.yaml", "--dry-run"],
                        cwd=REPO, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "trajectories_per_step" in ok.stdout and "rollout:" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "rl.train", "--config", "mispo_math_code.yaml", "--dry-run",
                          "algo.objectiv=pg"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "algo.objectiv" in bad.stderr


def test_yaml_syntax_error_is_one_line(tmp_path):
    bad = tmp_path / "dup.yaml"
    bad.write_text("actor:\n  lr: 1.0\nactor:\n  lr: 2.0\n")
    with pytest.raises(ConfigError) as exc:
        load(config=str(bad))
    assert "dup.yaml" in one_line(exc) and "duplicate" in one_line(exc)


def test_staleness_bound_must_cover_the_mode():
    with pytest.raises(ConfigError) as exc:
        load(["rollout.mode=async", "rollout.max_staleness=0"])
    assert "rollout.max_staleness=1" in one_line(exc)
    assert load(["rollout.mode=async"]).rollout.max_staleness == 1


def test_partial_rollouts_need_async_mode():
    with pytest.raises(ConfigError) as exc:
        load(["rollout.partial_rollouts=true"])
    assert "rollout.partial_rollouts" in one_line(exc) and "rollout.mode=async" in one_line(exc)
    with pytest.raises(ConfigError) as exc:
        load(["rollout.mode=async", "rollout.partial_rollouts=true", "rollout.segment_tokens=0"])
    assert "rollout.segment_tokens" in one_line(exc)
    assert load(["rollout.mode=async", "rollout.partial_rollouts=true"]).rollout.segment_tokens == 16


def test_vllm_context_must_hold_prompt_and_response():
    with pytest.raises(ConfigError) as exc:
        load(["rollout.engine=vllm", "rollout.vllm.max_model_len=100", "data.max_prompt_tokens=64",
              "rollout.max_new_tokens=64"])
    assert "rollout.vllm.max_model_len" in one_line(exc) and "128" in one_line(exc)


def test_summary_advises_on_stale_fixed_band_only():
    from rl.run_summary import advice, format_summary

    assert advice(load([])) == [] and "advice:" not in format_summary(load([]))
    notes = advice(load(["rollout.mode=async"]))
    assert len(notes) == 1 and "algo.adaptive_traj_bounds=true" in notes[0]
    assert advice(load(["rollout.mode=async", "algo.adaptive_traj_bounds=true"])) == []


def test_baseline_objective_settings_reach_the_learner():
    from rl.learner import objective_params

    cfg = load_config(RLConfig, "mispo_math_code.yaml", ["algo.objective=gspo_mispo", "algo.icepop_bounds=[0.4,4.0]",
                                                        "algo.gspo_mispo_eps=[2e-4,3e-4]"], validate_rl_config)
    params = objective_params(cfg.algo)
    assert params.icepop_bounds == (0.4, 4.0) and params.gspo_mispo_eps == (2e-4, 3e-4)
    for bad in (["algo.icepop_bounds=[1.5,4.0]"], ["algo.gspo_mispo_eps=[1.5,0.1]"], ["actor.offload=all"],
                ["actor.zero_stage=4"], ["critic.offload=disk"], ["actor.offload_ratio=1.5"],
                ["actor.zero_stage=3", "actor.offload=optimizer", "actor.offload_ratio=0.5"]):
        with pytest.raises(ConfigError) as err:
            load_config(RLConfig, "mispo_math_code.yaml", bad, validate_rl_config)
        assert bad[0].split("=")[0] in str(err.value)


def test_partial_optimizer_offload_reaches_deepspeed():
    from rl.deepspeed_setup import deepspeed_config

    cfg = load_config(RLConfig, "mispo_math_code.yaml", ["actor.zero_stage=3", "actor.offload=optimizer",
                                                        "actor.cpu_adam=true", "actor.offload_ratio=0.4"],
                      validate_rl_config)
    ds = deepspeed_config(cfg.actor, "bfloat16", 1)
    assert ds["zero_optimization"]["offload_optimizer"]["ratio"] == 0.4
    assert ds["optimizer"]["params"]["torch_adam"] is False and "zero_force_ds_cpu_optimizer" not in ds
    plain = deepspeed_config(load_config(RLConfig, "mispo_math_code.yaml", ["actor.zero_stage=3",
                                                                            "actor.offload=optimizer"],
                                         validate_rl_config).actor, "bfloat16", 1)
    assert "ratio" not in plain["zero_optimization"]["offload_optimizer"] and plain["zero_force_ds_cpu_optimizer"] is False
