"""The engines sample from the distribution they report, whatever the checkpoint's generation_config.json says.

transformers fills every generation setting left unset from that file; a checkpoint shipping penalties, min_p,
top_k or min_new_tokens must change neither what is sampled nor the logprobs. With top_p < 1 both engines report
the truncated, renormalised nucleus distribution (vLLM: processed_logprobs), checked against one reference.
"""
from __future__ import annotations

import json
import logging
import shutil

import pytest
import torch

from rollout.hf_engine import HFEngine, SamplingConfigError
from rollout.types import Completion, SamplingParams

# Settings that would each distort sampling if transformers applied them. min_new_tokens exceeds the generation
# budget below, so a checkpoint-aware engine could never sample eos.
CHECKPOINT_SETTINGS = {
    "do_sample": True, "temperature": 0.3, "top_p": 0.5, "top_k": 3, "min_p": 0.2, "typical_p": 0.5,
    "repetition_penalty": 5.0, "no_repeat_ngram_size": 2, "min_new_tokens": 100, "min_length": 100,
}
MAX_NEW = 40


@pytest.fixture(scope="module")
def opinionated_model(tiny_model_path, tmp_path_factory) -> str:
    """The tiny model with a generation_config.json full of sampling settings."""
    path = tmp_path_factory.mktemp("opinionated") / "model"
    shutil.copytree(tiny_model_path, path)
    cfg_file = path / "generation_config.json"
    cfg = json.loads(cfg_file.read_text()) if cfg_file.is_file() else {}
    cfg_file.write_text(json.dumps({**cfg, **CHECKPOINT_SETTINGS}))
    return str(path)


@pytest.fixture(scope="module")
def engine(opinionated_model) -> HFEngine:
    return HFEngine(opinionated_model, threads=2)


@pytest.fixture(scope="module")
def plain_model(tiny_model_path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_model_path, dtype=torch.float32).eval()


def _prompts(tokenizer) -> list[list[int]]:
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True, tokenize=False)
             for q in ("What is 1 + 1?", "What is 12 + 30? Put the final answer in \\boxed{}.")]
    return [tokenizer(t, add_special_tokens=False).input_ids for t in texts]


def _nucleus(scores: torch.Tensor, top_p: float) -> torch.Tensor:
    """[T, V] scores with vLLM's (and transformers') top-p mask: the tokens whose ascending cumulative probability
    is <= 1 - top_p are set to -inf; the most likely token always stays."""
    ordered, idx = scores.sort(dim=-1)
    drop = ordered.softmax(-1).cumsum(-1) <= 1 - top_p
    drop[:, -1] = False
    return scores.masked_fill(drop.scatter(-1, idx, drop), float("-inf"))


def _recomputed(model, prompt: list[int], c: Completion, temperature: float, top_p: float = 1.0) -> torch.Tensor:
    """[T] learner-style logprobs of the completion's tokens: one plain forward pass, log_softmax(logits / T),
    with the nucleus mask when top_p < 1."""
    seq = torch.tensor([prompt + c.token_ids])
    with torch.no_grad():
        scores = model(seq).logits[0, len(prompt) - 1:-1].float() / temperature
    if top_p < 1.0:
        scores = _nucleus(scores, top_p)
    return torch.log_softmax(scores, -1).gather(-1, torch.tensor(c.token_ids)[:, None])[:, 0]


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_checkpoint_sampling_settings_do_not_distort_sampling(engine, plain_model, tiny_tokenizer, temperature):
    prompts = _prompts(tiny_tokenizer)
    outs = engine.generate(prompts, SamplingParams(n=4, temperature=temperature, max_new_tokens=MAX_NEW, seed=0))
    comps = [(p, c) for p, cs in zip(prompts, outs) for c in cs]
    # the checkpoint's min_new_tokens (100 > MAX_NEW) would mask eos at every step
    assert any(c.finish_reason == "stop" for _, c in comps), [c.text for _, c in comps]
    diff = max((_recomputed(plain_model, p, c, temperature) - torch.tensor(c.logprobs)).abs().max().item()
               for p, c in comps)
    logging.getLogger(__name__).info("T=%s: max abs logprob diff vs a plain forward pass %.2e", temperature, diff)
    assert diff < 1e-4
    expected = [] if temperature == 1.0 else ["TemperatureLogitsWarper"]
    assert engine.sampling_processors(engine.sampling_config(SamplingParams(temperature=temperature))) == expected


def test_top_p_reports_the_nucleus_distribution(engine, plain_model, tiny_tokenizer, caplog, monkeypatch):
    from rollout import base

    base._warn_top_p.cache_clear()
    prompts = _prompts(tiny_tokenizer)
    params = SamplingParams(n=4, temperature=1.0, top_p=0.7, max_new_tokens=MAX_NEW, seed=1)
    with caplog.at_level(logging.WARNING, logger="rollout.base"):
        outs = engine.generate(prompts, params)
        engine.generate(prompts[:1], params)
    assert sum("top_p=0.7 < 1" in r.getMessage() for r in caplog.records) == 1  # warned once
    assert engine.sampling_processors(engine.sampling_config(params)) == ["TopPLogitsWarper"]
    truncated_steps = 0
    for p, cs in zip(prompts, outs):
        for c in cs:
            got = torch.tensor(c.logprobs)
            assert (got - _recomputed(plain_model, p, c, 1.0, top_p=0.7)).abs().max().item() < 1e-4
            full = _recomputed(plain_model, p, c, 1.0)
            assert (got >= full - 1e-5).all()  # renormalised over the nucleus: never below the full softmax
            truncated_steps += int((got > full + 1e-3).sum())
    assert truncated_steps > 0, "top_p=0.7 never truncated the tiny model's distribution: the test checks nothing"


def test_a_processor_leaking_in_from_the_model_config_fails_loudly(opinionated_model, tiny_tokenizer):
    """min_p is a setting whose neutral value is None, so `generate` would fill it from model.generation_config."""
    eng = HFEngine(opinionated_model, threads=2)
    eng.model.generation_config.min_p = 0.2
    with pytest.raises(SamplingConfigError, match="MinPLogitsWarper"):
        eng.generate(_prompts(tiny_tokenizer)[:1], SamplingParams(max_new_tokens=4, seed=0))


@pytest.mark.vllm
def test_vllm_ignores_the_checkpoint_and_reports_the_same_nucleus(opinionated_model, plain_model, tiny_tokenizer):
    from rollout.vllm_engine import VLLMEngine

    eng = VLLMEngine(opinionated_model, dtype="float32", gpu_memory_utilization=0.1, enforce_eager=True)
    try:
        prompts = _prompts(tiny_tokenizer)
        full = eng.generate(prompts, SamplingParams(n=4, temperature=0.7, max_new_tokens=MAX_NEW, seed=0))
        nucleus = eng.generate(prompts, SamplingParams(n=4, temperature=1.0, top_p=0.7, max_new_tokens=MAX_NEW, seed=1))
    finally:
        eng.close()
    assert any(c.finish_reason == "stop" for cs in full for c in cs)
    worst = 0.0
    for outs, temperature, top_p in ((full, 0.7, 1.0), (nucleus, 1.0, 0.7)):
        for p, cs in zip(prompts, outs):
            for c in cs:
                ref = _recomputed(plain_model, p, c, temperature, top_p)
                worst = max(worst, (torch.tensor(c.logprobs) - ref).abs().max().item())
    logging.getLogger(__name__).info("vLLM vs the reference (T=0.7 full; T=1 top_p=0.7): max abs diff %.2e", worst)
    assert worst < 1e-3
