"""MFU and throughput (rl/perf.py): the FLOPs formula against a hand count on a small Qwen2 config, the peak table,
and the step metrics (NaN MFU without a known peak, tokens/s always)."""
from __future__ import annotations

import math

import pytest

from rl.perf import ModelFlops, flops_of, peak_tflops, step_perf
from rl.run_summary import format_perf_plan, format_perf_summary


def qwen2(tie: bool):
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    config = Qwen2Config(vocab_size=100, hidden_size=64, intermediate_size=160, num_hidden_layers=3,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=tie)
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config), config


@pytest.mark.parametrize("tie", [True, False])
def test_flops_match_a_hand_count(tie):
    model, config = qwen2(tie)
    d, f, v, layers, kv = 64, 160, 100, 3, 2 * 16  # kv width: 2 kv heads x head_dim 16
    attn = d * d + d + 2 * (d * kv + kv) + d * d  # q (+bias), k and v (+bias, GQA), o (no bias)
    mlp = 3 * d * f
    norms = layers * 2 * d + d  # two RMSNorms per layer and the final one (in N: a rounding error)
    matmul = layers * (attn + mlp) + norms + v * d  # + lm_head (counted even when it is the embedding's weight)
    flops = flops_of(model, config)
    assert flops == ModelFlops(matmul_params=matmul, layers=layers, attn_dim=d)
    # forward: 2 N s + 4 L d s^2; training = 3x forward (PaLM App. B: 6N + 12 L d s per token)
    s = 10
    assert flops.forward([s]) == 2 * matmul * s + 4 * layers * d * s * s
    assert flops.train([s, 3]) == 3 * (flops.forward([s]) + flops.forward([3]))
    assert flops.per_token(s) == pytest.approx(6 * matmul + 12 * layers * d * s)
    assert flops.per_token(s, train=False) == pytest.approx(2 * matmul + 4 * layers * d * s)


def test_peak_table_and_override():
    assert peak_tflops("NVIDIA H100 80GB HBM3")[0] == 989.0
    assert peak_tflops("NVIDIA H100 PCIe")[0] == 756.0
    assert peak_tflops("NVIDIA H200")[0] == 989.0
    assert peak_tflops("NVIDIA A100-SXM4-80GB")[0] == 312.0
    assert peak_tflops("NVIDIA A10G")[0] == 70.0 and peak_tflops("NVIDIA A10")[0] == 125.0
    assert peak_tflops("NVIDIA L40S")[0] == 362.0 and peak_tflops("NVIDIA L4")[0] == 121.0
    assert peak_tflops("NVIDIA GeForce RTX 4090")[0] == 165.2
    assert peak_tflops("NVIDIA H20")[0] == 148.0  # a whole-word match: not H200's entry, and "h200" not "h20"
    value, source = peak_tflops("cpu")
    assert value is None and "trainer.peak_tflops" in source
    assert peak_tflops("cpu", 2.5) == (2.5, "trainer.peak_tflops")
    assert peak_tflops("NVIDIA H100 80GB HBM3", 500.0)[0] == 500.0


def test_step_perf_hand_computation():
    flops = ModelFlops(matmul_params=1_000_000, layers=2, attn_dim=64)
    lens = [100, 50]
    fwd = 2e6 * 150 + 4 * 2 * 64 * (100**2 + 50**2)
    # pi_old + reference forward passes, one training pass, 0.5 s on 2 ranks of 1 TFLOP/s each
    out = step_perf(flops, lens, forward_passes=2, trained=True, actor_s=0.5, peak=1.0, devices=2,
                    generated_tokens=80, step_s=2.0)
    assert out["perf/mfu_actor"] == pytest.approx((2 * fwd + 3 * fwd) / (0.5 * 1e12 * 2))
    assert out["perf/tokens_per_s_trained"] == 75.0 and out["perf/tokens_per_s_generated"] == 40.0
    frozen = step_perf(flops, lens, 1, False, 0.5, 1.0, 1, 80, 2.0)  # critic warm-up: pi_old only, nothing trained
    assert frozen["perf/mfu_actor"] == pytest.approx(fwd / 0.5e12) and frozen["perf/tokens_per_s_trained"] == 0.0
    cpu = step_perf(flops, lens, 1, True, 0.5, None, 1, 80, 2.0)
    assert math.isnan(cpu["perf/mfu_actor"]) and cpu["perf/tokens_per_s_generated"] == 40.0


def test_summary_lines():
    from rl.perf import ActorPerf

    perf = ActorPerf(ModelFlops(1000, 2, 8), "cpu", None, "unknown device 'cpu'", 1, 1)
    plan = format_perf_plan(perf, 16)
    assert "unknown (perf/mfu_actor is NaN)" in plan and "cpu x 1 rank(s)" in plan
    rows = [{"perf/mfu_actor": 0.9, "perf/tokens_per_s_trained": 1.0, "perf/tokens_per_s_generated": 1.0},
            {"perf/mfu_actor": 0.2, "perf/tokens_per_s_trained": 10.0, "perf/tokens_per_s_generated": 4.0},
            {"perf/mfu_actor": 0.4, "perf/tokens_per_s_trained": 20.0, "perf/tokens_per_s_generated": 6.0}]
    assert format_perf_summary(rows) == ("perf over 2 step(s): perf/mfu_actor 0.3, perf/tokens_per_s_trained 15, "
                                         "perf/tokens_per_s_generated 5")
    nan = [{"perf/mfu_actor": float("nan"), "perf/tokens_per_s_trained": 3.0, "perf/tokens_per_s_generated": 2.0}]
    assert "perf/mfu_actor n/a" in format_perf_summary(nan)
