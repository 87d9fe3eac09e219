"""Logprob agreement: the HF engine's rollout logprobs vs the learner's recomputation with the same weights."""
from __future__ import annotations

import pytest
import torch

from config.rollout import RolloutConfig
from rl.batch import build_batch
from rl.logprobs import sequence_logprobs
from rollout.hf_engine import HFEngine
from rollout.types import RolloutRequest, SamplingParams
from rollout.worker import RolloutWorker


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_rollout_logprobs_match_learner(tiny_model_path, tiny_tokenizer, temperature):
    prompts = [f"What is {a} + {b}? Put the final answer in \\boxed{{}}." for a, b in [(1, 2), (11, 12), (3, 9)]]
    texts = [tiny_tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True,
                                                tokenize=False) for p in prompts]
    worker = RolloutWorker(RolloutConfig(torch_threads=2), tiny_model_path)
    reqs = [RolloutRequest(i, "math", t, tiny_tokenizer(t, add_special_tokens=False).input_ids)
            for i, t in enumerate(texts)]
    trajs = worker.rollout(reqs, SamplingParams(n=4, temperature=temperature, max_new_tokens=24, seed=0))
    assert len(trajs) == 12 and all(t.response_ids for t in trajs)
    assert len({len(r.prompt_ids) for r in reqs}) > 1  # prompts of different lengths: padding is exercised
    batch = build_batch(trajs, torch.ones(12), tiny_tokenizer.pad_token_id)
    model = worker.engine.model
    lp, _ = sequence_logprobs(model, batch.input_ids, batch.attention_mask, temperature)
    diff = ((lp - batch.rollout_logprobs).abs() * batch.response_mask)
    print(f"\nlogprob agreement (T={temperature}): max abs diff {diff.max():.2e}, "
          f"mean {diff.sum() / batch.response_mask.sum():.2e} over {int(batch.response_mask.sum())} tokens")
    assert diff.max().item() < 1e-3


def test_stop_and_length_finish_reasons(tiny_model_path, tiny_tokenizer):
    eng = HFEngine(tiny_model_path, threads=2)
    text = tiny_tokenizer.apply_chat_template([{"role": "user", "content": "What is 1 + 1?"}],
                                              add_generation_prompt=True, tokenize=False)
    ids = tiny_tokenizer(text, add_special_tokens=False).input_ids
    short = eng.generate([ids], SamplingParams(n=2, max_new_tokens=3, seed=1))[0]
    assert all(c.finish_reason == "length" and len(c.token_ids) == 3 for c in short)
    full = eng.generate([ids], SamplingParams(n=2, max_new_tokens=40, seed=1))[0]
    assert all(c.finish_reason == "stop" and c.token_ids[-1] == tiny_tokenizer.eos_token_id for c in full)
    assert len(full[0].logprobs) == len(full[0].token_ids)


def test_hf_engine_receives_a_gloo_broadcast(tiny_model_path, gloo_broadcast):
    """The Engine base class joins the weight group in-process (the path nccl takes on GPUs)."""
    from rollout.weights.payload import without_tied

    eng = HFEngine(tiny_model_path, threads=2)
    new = {k: v + 0.01 for k, v in without_tied(eng.model.state_dict()).items()}
    buckets, _ = gloo_broadcast(eng, new, 3)
    got = eng.model.state_dict()
    assert buckets > 1 and eng.version == 3 and all(torch.equal(got[k], v) for k, v in new.items())
    assert torch.equal(got["lm_head.weight"], new["model.embed_tokens.weight"])  # re-tied on load
