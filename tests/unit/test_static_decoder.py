"""The HF engine's own decoding loop (rollout/static_decoder.py) on CPU: the same tokens as `generate` when greedy,
logprobs equal to the learner's full forward (fp32) at any temperature/top-p, padding and sliding-window layers
handled, the sampler an exact draw, and the grouped-query decode attention equal to transformers' SDPA path. (The
CUDA-graph replay of the same step is measured on GPUs by scripts/bench/hf_generate.py.)"""
from __future__ import annotations

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM, TopPLogitsWarper

from rl.logprobs import sequence_logprobs
from rollout.hf_engine import HFEngine, left_pad
from rollout.static_decoder import StaticDecoder, grouped_decode_attention, nucleus, sample, supported
from rollout.types import SamplingParams


def random_prompts(n: int, lo: int, hi: int, vocab: int, seed: int = 0) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(3, vocab, (int(torch.randint(lo, hi, (1,), generator=g)),), generator=g).tolist()
            for _ in range(n)]


def learner_logprobs(model, prompts, decoded, temperature: float) -> list[torch.Tensor]:
    """Per row, the learner's logprobs of the decoded tokens (full forward of prompt + response)."""
    out = []
    for p, toks in zip(prompts, decoded):
        ids = torch.tensor([p + toks])
        lp, _ = sequence_logprobs(model, ids, torch.ones_like(ids), temperature)
        out.append(lp[0, len(p) - 1: len(p) - 1 + len(toks)])
    return out


def assert_greedy_equals_generate(model, seed: int, new_tokens: int) -> None:
    """The own loop's greedy tokens are `generate`'s for left-padded random prompts (eos never stops a row)."""
    assert supported(model) is None
    prompts = random_prompts(5, 2, 9, model.config.vocab_size, seed=seed)
    ids, mask = left_pad(prompts, 0)
    with torch.no_grad():
        ref = model.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=new_tokens,
                             min_new_tokens=new_tokens, pad_token_id=0, eos_token_id=None)[:, ids.shape[1]:]
    out = StaticDecoder(model, pad_id=0, stop_ids=[]).decode(ids, mask, new_tokens, 0.0, 1.0)
    assert torch.equal(out.tokens, ref)


@pytest.fixture(scope="module")
def engines(tiny_model_path):
    return HFEngine(tiny_model_path, threads=2, decoder="generate"), HFEngine(tiny_model_path, threads=2, decoder="own")


def test_greedy_tokens_equal_generate_and_logprobs_equal_learner(engines):
    gen, own = engines
    assert gen.decoder is None and own.decoder is not None
    prompts = random_prompts(12, 2, 30, len(gen.tokenizer))
    params = SamplingParams(n=1, temperature=0.0, max_new_tokens=24)
    ref = [c[0] for c in gen.generate(prompts, params)]
    got = [c[0] for c in own.generate(prompts, params)]
    assert [c.token_ids for c in got] == [c.token_ids for c in ref]
    assert [c.finish_reason for c in got] == [c.finish_reason for c in ref]
    for c, lp in zip(got, learner_logprobs(own.model, prompts, [c.token_ids for c in got], 1.0)):
        assert torch.allclose(torch.tensor(c.logprobs), lp, atol=1e-5)


@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (0.7, 1.0), (1.0, 0.9)])
def test_sampled_logprobs_are_the_learners(engines, temperature, top_p):
    """top_p = 1: the rollout logprob is the learner's tempered log-softmax (MIS-PO keeps everything in fp32).
    top_p < 1: it is the renormalised nucleus logprob, as the generate path and vLLM report: >= the learner's."""
    _, own = engines
    prompts = random_prompts(8, 3, 20, len(own.tokenizer), seed=1)
    out = [c for group in own.generate(prompts, SamplingParams(n=2, temperature=temperature, top_p=top_p,
                                                               max_new_tokens=20, seed=3)) for c in group]
    rows = [p for p in prompts for _ in range(2)]
    for c, lp in zip(out, learner_logprobs(own.model, rows, [c.token_ids for c in out], temperature)):
        got = torch.tensor(c.logprobs)
        if top_p == 1.0:
            assert torch.allclose(got, lp, atol=1e-5)
        else:
            assert bool((got >= lp - 1e-5).all()) and bool((got <= 1e-6).all())


def test_seeded_sampling_is_reproducible_and_rows_differ(engines):
    _, own = engines
    prompt = random_prompts(1, 5, 6, len(own.tokenizer), seed=2)
    params = SamplingParams(n=6, temperature=1.0, max_new_tokens=16, seed=11)
    a = [c.token_ids for c in own.generate(prompt, params)[0]]
    b = [c.token_ids for c in own.generate(prompt, params)[0]]
    assert a == b and len({tuple(t) for t in a}) > 1


def test_stop_token_ends_a_row_and_the_rest_is_cut(engines, tiny_tokenizer):
    _, own = engines
    text = tiny_tokenizer.apply_chat_template([{"role": "user", "content": "What is 1 + 1?"}],
                                              add_generation_prompt=True, tokenize=False)
    ids = tiny_tokenizer(text, add_special_tokens=False).input_ids
    full = own.generate([ids], SamplingParams(n=2, max_new_tokens=40, seed=1))[0]
    assert all(c.finish_reason == "stop" and c.token_ids[-1] == tiny_tokenizer.eos_token_id for c in full)
    assert all(len(c.logprobs) == len(c.token_ids) for c in full)
    short = own.generate([ids], SamplingParams(n=2, max_new_tokens=3, seed=1))[0]
    assert all(c.finish_reason == "length" and len(c.token_ids) == 3 for c in short)


def test_sliding_window_layers_match_generate():
    """A model whose layers alternate full and sliding-window attention, decoded past the window."""
    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=97, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=128, use_sliding_window=True, sliding_window=6,
                      max_window_layers=1, layer_types=["full_attention", "sliding_attention"], eos_token_id=1,
                      pad_token_id=0)
    assert_greedy_equals_generate(Qwen2ForCausalLM(cfg).eval(), seed=4, new_tokens=12)


@pytest.mark.parametrize("family", ["llama", "mistral"])
def test_models_without_layer_types_match_generate(family):
    """Llama (one full mask) and Mistral (one sliding-window mask for every layer, window 5 < the decoded length)
    take a single 4D mask: their forward has no {type: mask} mapping."""
    from transformers import LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM

    torch.manual_seed(0)
    shape = dict(vocab_size=97, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=128, eos_token_id=1, pad_token_id=0)
    model = (LlamaForCausalLM(LlamaConfig(**shape)) if family == "llama"
             else MistralForCausalLM(MistralConfig(**shape, sliding_window=5))).eval()
    assert_greedy_equals_generate(model, seed=6, new_tokens=10)


def test_a_smaller_request_reuses_the_larger_cache_with_the_same_result(engines):
    """Fewer rows (finished filler rows) and a shorter request (the longer cache) decode what a fresh decoder does
    (the CUDA-graph policy, forced on CPU); eager decoding (the CPU default) fits its state to each request."""
    _, own = engines
    prompts = random_prompts(6, 3, 12, len(own.tokenizer), seed=8)
    big, small = left_pad(prompts, own.pad_id), left_pad(prompts[:2], own.pad_id)
    fresh = StaticDecoder(own.model, own.pad_id, own.stop_ids).decode(*small, 6, 0.0, 1.0)
    reused = StaticDecoder(own.model, own.pad_id, own.stop_ids)
    reused.reuse_shapes = True
    reused.decode(*big, 200, 0.0, 1.0)
    out = reused.decode(*small, 6, 0.0, 1.0)
    assert reused._shape[0] == 6 and out.tokens.shape[0] == 2
    assert torch.equal(out.tokens, fresh.tokens) and torch.allclose(out.logprobs, fresh.logprobs, atol=1e-6)
    fitted = StaticDecoder(own.model, own.pad_id, own.stop_ids)
    assert not fitted.reuse_shapes  # CPU: no graphs
    fitted.decode(*big, 200, 0.0, 1.0)
    again = fitted.decode(*small, 6, 0.0, 1.0)
    assert fitted._shape == (2, 128) and torch.equal(again.tokens, fresh.tokens)


def test_unsupported_attention_falls_back():
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                      num_key_value_heads=1, rope_scaling={"rope_type": "dynamic", "factor": 2.0})
    assert "dynamic RoPE" in supported(LlamaForCausalLM(cfg))


def test_nucleus_is_transformers_top_p():
    scores = torch.randn(6, 50)
    for top_p in (0.3, 0.8, 0.95):
        ref = TopPLogitsWarper(top_p)(torch.zeros(6, 1, dtype=torch.long), scores.clone())
        assert torch.equal(nucleus(scores, top_p), ref)


def test_exponential_race_draws_from_the_softmax():
    torch.manual_seed(0)
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0, -3.0]]).repeat(40000, 1)
    token, logprob = sample(logits, 1.0, 1.0)
    freq = torch.bincount(token, minlength=5).float() / len(token)
    assert torch.allclose(freq, logits[0].softmax(-1), atol=0.01)
    assert torch.allclose(logprob, logits[0].log_softmax(-1)[token])
    greedy, glp = sample(logits[:2] / 0.5, 0.0, 1.0)
    assert greedy.tolist() == [0, 0] and torch.allclose(glp, (logits[0] / 0.5).log_softmax(-1)[0].repeat(2))


def test_grouped_decode_attention_equals_sdpa_with_repeated_kv():
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    class Module:
        num_key_value_groups = 4
        is_causal = True

    q, k, v = torch.randn(3, 8, 1, 16), torch.randn(3, 2, 10, 16), torch.randn(3, 2, 10, 16)
    mask = torch.rand(3, 1, 1, 10) > 0.3
    mask[..., 0] = True
    got, _ = grouped_decode_attention(Module(), q, k, v, mask, scaling=0.25)
    ref, _ = sdpa_attention_forward(Module(), q, k, v, mask, scaling=0.25)
    assert torch.allclose(got, ref, atol=1e-6)


def test_decoder_choice_is_validated(tiny_model_path):
    from config.rollout import RolloutConfig, validate_rollout

    with pytest.raises(ValueError, match="rollout.hf.decoder"):
        HFEngine(tiny_model_path, threads=1, decoder="fast")
    cfg = RolloutConfig()
    cfg.hf.decoder = "fast"
    assert any("rollout.hf.decoder" in e for e in validate_rollout(cfg))
    assert HFEngine(tiny_model_path, threads=1).decoder is not None  # auto: the own loop, CPU included
    assert HFEngine(tiny_model_path, threads=1, decoder="generate").decoder is None


def test_release_memory_frees_the_state_and_decodes_the_same_afterwards(engines):
    """rollout.release_memory: the engine drops its cache (and, on CUDA, graphs) between generations; the next call
    rebuilds it and samples what an engine that never released does (same seed)."""
    _, own = engines
    prompts = random_prompts(5, 3, 10, len(own.tokenizer), seed=4)
    params = SamplingParams(n=2, temperature=1.0, max_new_tokens=12, seed=11)
    before = own.generate(prompts, params)
    assert own.decoder.kv is not None
    own.release_memory()
    assert own.decoder.kv is None and own.decoder._shape is None
    after = own.generate(prompts, params)
    assert [[c.token_ids for c in cs] for cs in after] == [[c.token_ids for c in cs] for cs in before]
    assert own.decoder.kv is not None


def test_release_memory_config_checks():
    from config.rollout import RolloutConfig, validate_rollout

    ok = RolloutConfig(release_memory=True)
    assert not validate_rollout(ok)
    errors = validate_rollout(RolloutConfig(release_memory=True, mode="async"))
    assert any("rollout.release_memory" in e and "mode=sync" in e for e in errors)
    errors = validate_rollout(RolloutConfig(release_memory=True, engine="vllm"))
    assert any("rollout.release_memory" in e and "hf" in e for e in errors)
