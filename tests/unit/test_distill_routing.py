"""Routing: each prompt of the shared mix goes to its own domain's teacher (and only enabled domains get one);
generation calls each expert on exactly its prompts; prompt loading keeps verifier metadata."""
from __future__ import annotations

import json

from distill.config_schema import DomainConfig, GenerateConfig, PromptsConfig
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
