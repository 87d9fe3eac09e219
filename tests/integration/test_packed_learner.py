"""Token-budget packed micro-batches in the real learners (DeepSpeed on CPU, gloo, 2 ranks): one actor update and
one critic update equal the padded fixed-size micro-batch updates (the global loss normalisation stays exact
although the number of micro-batches now differs per mini-batch and rank), under ZeRO-2 and ZeRO-3."""
from __future__ import annotations

import dataclasses

import pytest
import torch

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _batch(tiny_model_path):
    from transformers import AutoTokenizer

    from rl.batch import build_batch
    from rollout.hf_engine import HFEngine
    from rollout.types import SamplingParams, Trajectory

    tok = AutoTokenizer.from_pretrained(tiny_model_path)
    engine = HFEngine(tiny_model_path, threads=1)
    prompts = [tok.encode(tok.apply_chat_template([{"role": "user", "content": "What is " + " + ".join(["7"] * i)}],
                                                  add_generation_prompt=True, tokenize=False)) for i in range(1, 5)]
    outs = engine.generate(prompts, SamplingParams(n=2, temperature=1.0, max_new_tokens=16, seed=0))
    trajs = [Trajectory(i, "math", "", p, c.token_ids, c.text, c.logprobs, [1] * len(c.token_ids), 0, False)
             for i, (p, cs) in enumerate(zip(prompts, outs)) for c in cs]
    n = len(trajs)
    batch = build_batch(trajs, torch.ones(n), tok.pad_token_id, advantages=torch.linspace(-1.0, 1.0, n))
    g = torch.Generator().manual_seed(1)
    returns = torch.rand(batch.response_mask.shape, generator=g) * batch.response_mask
    return batch.with_(returns=returns)


def _run(tiny_model_path, batch, stage: int, **role):
    import ray

    from config.common import ModelConfig
    from config.rl import ActorConfig, AlgoConfig, CriticConfig
    from rl.learner_group import CriticGroup, LearnerGroup

    common = dict(lr=1e-3, mini_batches=2, micro_batch_size=2, zero_stage=stage, num_workers=2,
                  num_cpus_per_worker=0.25, torch_threads=1, zero3_param_persistence_threshold=0, **role)
    actor = LearnerGroup(tiny_model_path, ModelConfig(path=tiny_model_path), ActorConfig(**common),
                         AlgoConfig(advantage="grpo", kl_coef=0.01), 1.0, len(batch), seed=0)
    critic = CriticGroup(tiny_model_path, ModelConfig(path=tiny_model_path), CriticConfig(**common), len(batch), 0)
    width = batch.rollout_logprobs.shape[1]
    olds = LearnerGroup.gather_old_logprobs(ray.get(actor.compute_old_logprobs_async(batch)), width)
    values = CriticGroup.gather_values(ray.get(critic.compute_values_async(batch)), width)
    b = batch.with_(old_logprobs=olds.old, ref_logprobs=olds.ref, values=values.values)
    a_stats = dataclasses.asdict(ray.get(actor.update_async(b, (0.5, 2.0)))[0])
    c_stats = dataclasses.asdict(ray.get(critic.update_async(b))[0])
    after = LearnerGroup.gather_old_logprobs(ray.get(actor.compute_old_logprobs_async(batch)), width).old
    v_after = CriticGroup.gather_values(ray.get(critic.compute_values_async(batch)), width).values
    for a in actor.actors + critic.actors:
        ray.kill(a)
    return olds.old, values.values, a_stats, c_stats, after, v_after


@pytest.mark.parametrize("stage", [2, 3])
def test_packed_token_budget_updates_equal_padded_updates(tiny_model_path, stage, ray_session):
    batch = _batch(tiny_model_path)
    mask = batch.response_mask
    padded = _run(tiny_model_path, batch, stage)
    packed = _run(tiny_model_path, batch, stage, max_tokens_per_micro=70, logprob_chunk_tokens=16)
    (o0, v0, a0, c0, p0, w0), (o1, v1, a1, c1, p1, w1) = padded, packed
    assert ((o0 - o1) * mask).abs().max() < 1e-5 and ((v0 - v1) * mask).abs().max() < 1e-5
    for key in ("loss", "kl", "grad_norm"):
        assert a0[key] == pytest.approx(a1[key], abs=1e-5), key
    for key in ("value_loss", "grad_norm"):
        assert c0[key] == pytest.approx(c1[key], abs=1e-5), key
    # after the optimizer step: Adam divides by sqrt(v), which turns 1e-7 gradient round-off on near-zero gradients
    # into lr-sized differences, so the updated policies agree to 1e-4 (the update itself moves them by > 1e-2)
    moved = float(((p0 - o0) * mask).abs().max())
    diff, v_diff = float(((p0 - p1) * mask).abs().max()), float(((w0 - w1) * mask).abs().max())
    print(f"zero{stage}: update moved logprobs by {moved:.2e}; packed vs padded after the update {diff:.2e}, "
          f"values {v_diff:.2e}; grad norms {a0['grad_norm']:.6f} vs {a1['grad_norm']:.6f}")
    assert moved > 1e-2, "the update did not change the policy"
    assert diff < 1e-4, "the packed update differs from the padded one"
    assert v_diff < 1e-4, "the packed critic update differs from the padded one"
