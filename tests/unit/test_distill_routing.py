"""Routing: each prompt of the shared mix goes to its own domain's teacher (and only enabled domains get one);
generation calls each expert on exactly its prompts; prompt loading keeps verifier metadata."""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import torch

from config.distill import DomainConfig, GenerateConfig, PromptsConfig
from distill.generate import PromptRow, generate_for_experts, load_prompt_rows, route, subsample


def rows(spec: dict[str, int]) -> list[PromptRow]:
    return [PromptRow(f"{d}-{i}", d, f"prompt {d} {i}", str(i)) for d, n in spec.items() for i in range(n)]


def dom(expert: str, enabled: bool = True) -> DomainConfig:
    return DomainConfig(expert=expert, verifier="math", eval_files=["x"], enabled=enabled)


def test_each_prompt_goes_to_its_domains_teacher():
    routed, unrouted = route(rows({"math": 3, "code": 2}), {"math": dom("m_exp"), "code": dom("c_exp")})
    assert {e: [r.domain for r in rs] for e, rs in routed.items()} == {"m_exp": ["math"] * 3, "c_exp": ["code"] * 2}
    assert not unrouted


def test_one_expert_can_teach_several_domains():
    routed, _ = route(rows({"math": 2, "algebra": 2}), {"math": dom("gen"), "algebra": dom("gen")})
    assert list(routed) == ["gen"] and len(routed["gen"]) == 4


def test_prompts_without_an_enabled_domain_are_counted_not_routed():
    routed, unrouted = route(rows({"math": 2, "code": 3, "chat": 1}),
                             {"math": dom("m"), "code": dom("c", enabled=False)})
    assert list(routed) == ["m"] and dict(unrouted) == {"code": 3, "chat": 1}


def test_generation_calls_each_expert_on_exactly_its_prompts(monkeypatch):
    calls = []

    def fake_sample(path, name, prompts, cfg, n, temperature, max_new_tokens, dtype, seed):
        calls.append((path, name, [p.id for p in prompts], n, temperature))
        return []

    monkeypatch.setattr("distill.generate.sample_responses", fake_sample)
    routed, _ = route(rows({"math": 2, "code": 1}), {"math": dom("m"), "code": dom("c")})
    generate_for_experts(routed, {"m": "/ckpt/m", "c": "/ckpt/c"}, GenerateConfig(samples_per_prompt=3,
                                                                                  temperature=0.7), "float32")
    assert sorted(calls) == [("/ckpt/c", "c", ["code-0"], 3, 0.7), ("/ckpt/m", "m", ["math-0", "math-1"], 3, 0.7)]


def test_subsample_is_per_domain_and_deterministic():
    mix = rows({"math": 10, "code": 3})
    a, b = subsample(mix, 4, seed=1), subsample(mix, 4, seed=1)
    assert [r.id for r in a] == [r.id for r in b]
    assert sum(r.domain == "math" for r in a) == 4 and sum(r.domain == "code" for r in a) == 3
    assert subsample(mix, 0, seed=1) == mix


def test_prompt_rows_keep_extra_fields_as_verifier_metadata(tmp_path):
    path = tmp_path / "mix.jsonl"
    io = {"fn": "f", "cases": [{"args": [1], "expected": True}]}
    path.write_text("\n".join(json.dumps(r) for r in [
        {"id": "c1", "domain": "code", "prompt": "Write f.", "reference": "def f(x): ...", "io_pairs": io},
        {"id": "m1", "domain": "math", "prompt": "What is 1 + 1?", "reference": "2"},
        {"id": "bad", "prompt": "no domain"},
    ]) + "\n")
    got = load_prompt_rows([str(path)], PromptsConfig(files=[str(path)]))
    assert [(r.id, r.domain) for r in got] == [("c1", "code"), ("m1", "math")]
    assert got[0].metadata == {"io_pairs": io} and got[1].metadata == {} and got[1].reference == "2"


class Uniform(torch.nn.Module):
    """A fake teacher whose next-token distribution is uniform over `vocab` tokens: every logprob is -log(vocab)."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab
        self.unused = torch.nn.Parameter(torch.zeros(1))  # tells the caller the device

    def forward(self, input_ids, attention_mask=None):
        return SimpleNamespace(logits=torch.zeros(*input_ids.shape, self.vocab))


def test_on_policy_scores_each_sample_with_its_domains_teacher():
    from distill.on_policy import _teacher_logprobs, _trajectories, reverse_kl_advantages
    from rl.batch import build_batch
    from rollout.types import Completion

    prompts = rows({"math": 1, "code": 1})
    outs = [[Completion([3, 4], [-0.1, -0.2], "stop", "x")], [Completion([5], [-0.3], "stop", "y")]]
    trajs = _trajectories(prompts, [[1, 2], [1, 2, 3]], outs, version=0)
    batch = build_batch(trajs, torch.ones(2), pad_id=0)
    lp = _teacher_logprobs(batch, trajs, {"m": Uniform(10), "c": Uniform(20)}, {"math": "m", "code": "c"}, 1.0)
    mask = batch.response_mask.bool()
    assert torch.allclose(lp[0][mask[0]], torch.full((2,), -math.log(10)))
    assert torch.allclose(lp[1][mask[1]], torch.full((1,), -math.log(20)))
    student = torch.full_like(lp, -1.0)
    adv = reverse_kl_advantages(student, lp, batch.response_mask)
    assert torch.allclose(adv[mask], (lp - student)[mask]) and (adv[~mask] == 0).all()
