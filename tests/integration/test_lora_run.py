"""LoRA end to end (actor.lora): rl.train with the KL reference as the adapter-free base, merged weights synced to
the engine (on-policy keep ~1 in fp32), the adapter and the merged model saved; sync and async."""
from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_lora_run_trains_adapters_and_syncs_merged_weights(tmp_path, tiny_model_path, mode, ray_session):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from rl.train import main

    run_dir = tmp_path / "run"
    rc = main(["--config", "mispo_math_code.yaml", "trainer.total_steps=2", f"trainer.run_dir={run_dir}",
               "data.train_files=[data/math_train.jsonl]", "data.domain_weights.code=0", f"rollout.mode={mode}",
               "rollout.prompts_per_step=4", "rollout.samples_per_prompt=4", "actor.micro_batch_size=4",
               "actor.mini_batches=2", "algo.advantage=grpo", "algo.kl_coef=0.01", "actor.lr=1e-2",
               "actor.lora.r=4", "actor.lora.alpha=8", "logging.progress_bar=false", "logging.wandb.mode=disabled"])
    assert rc == 0
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["actor/kl_ref"] > 0  # the reference (adapters off) differs from the trained policy
    if mode == "sync":
        assert rows[-1]["mispo/keep_frac"] > 0.95  # the engine generated with the merged weights
    final = run_dir / "checkpoints" / "final"
    adapter = load_file(final / "adapter" / "adapter_model.safetensors")
    assert adapter and all("lora_" in k for k in adapter)
    merged = AutoModelForCausalLM.from_pretrained(final)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    changed = {n for (n, p), q in zip(merged.named_parameters(), base.parameters()) if not torch.equal(p, q)}
    assert changed and all(any(t in n for t in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                                 "down_proj")) for n in changed), sorted(changed)[:5]


def test_lora_raises_reward_like_full_fine_tuning(tmp_path, ray_session):
    """12 seeded steps on the tiny model's arithmetic: LoRA (r=16, lr 1e-3) lifts the reward as full fine-tuning
    (lr 1e-4) does. Measured 2026-12-03 over 15 steps: full 0.10 -> 0.50, LoRA 0.12 -> 0.49 (first/last 3 steps)."""
    from rl.train import main

    run_dir = tmp_path / "run"
    rc = main(["--config", "mispo_math_code.yaml", "trainer.total_steps=12", f"trainer.run_dir={run_dir}",
               "data.train_files=[data/math_train.jsonl]", "data.domain_weights.code=0",
               "rollout.prompts_per_step=16", "rollout.samples_per_prompt=4", "actor.micro_batch_size=16",
               "actor.mini_batches=2", "algo.advantage=grpo", "actor.lora.r=16", "actor.lora.alpha=32",
               "actor.lr=1e-3", "logging.progress_bar=false", "logging.wandb.mode=disabled"])
    assert rc == 0
    rewards = [json.loads(line)["reward/mean"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    first, last = sum(rewards[:3]) / 3, sum(rewards[-3:]) / 3
    print(f"LoRA reward {first:.3f} -> {last:.3f}")
    assert last > first + 0.15, rewards
