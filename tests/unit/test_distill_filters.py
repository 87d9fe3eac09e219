"""Rejection accounting: every generated sample is kept or rejected under exactly one reason (the first that
applies), verifier failures are their own reason (never a 0 score), and only survivors reach the verifier."""
from __future__ import annotations

from config.distill import FilterConfig
from distill.filters import REASONS, filter_samples, repeat_frac, script_mix
from distill.generate import PromptRow, Sample
from rewards.types import RewardResult

MATH = PromptRow("m1", "math", "What is 2 + 3?", "5")
CODE = PromptRow("c1", "code", "Write f.", None)


def sample(text: str, prompt: PromptRow = MATH, truncated: bool = False, tokens: int = 10) -> Sample:
    return Sample(prompt, "teacher", text, tokens, truncated)


def scorer(by_text: dict[str, RewardResult], seen: list):
    def score(items):
        seen.extend(req.response for _, req in items)
        return [by_text[req.response] for _, req in items]
    return score


def test_every_sample_is_kept_or_rejected_once_with_its_first_reason():
    loop = "the answer is the answer is the answer is the answer is the answer is"
    samples = [
        sample("good \\boxed{5}"),
        sample("cut off", truncated=True),
        sample("long but fine", tokens=500),
        sample(loop),
        sample("Ответ \\boxed{5} answer"),       # Cyrillic mixed into English
        sample("good \\boxed{5}"),               # duplicate of the first (same prompt)
        sample("wrong \\boxed{6}"),
        sample("verifier crashes"),
        sample("verifier hangs"),
        sample("Ответ mixed but code", CODE),   # code is not natural language: no mixing filter
        sample("good \\boxed{5}", PromptRow("m2", "math", "What is 1 + 4?", "5")),  # same text, other prompt
    ]
    results = {"good \\boxed{5}": RewardResult(1.0), "wrong \\boxed{6}": RewardResult(0.0),
               "verifier crashes": RewardResult.failed("error", "boom"),
               "verifier hangs": RewardResult.failed("timeout", "slow"), "Ответ mixed but code": RewardResult(1.0)}
    seen: list[str] = []
    cfg = FilterConfig(max_response_tokens=100, max_repeat_frac=0.5, max_script_mix=0.05, min_score=1.0)
    out = filter_samples(samples, cfg, {"math": True, "code": False}, scorer(results, seen))
    assert dict(out.rejected) == {"too_long": 2, "repetition": 1, "language_mixing": 1, "duplicate": 1,
                                  "verifier_error": 2, "low_score": 1}
    assert [s.response for s in out.kept] == ["good \\boxed{5}", "Ответ mixed but code", "good \\boxed{5}"]
    assert out.scores == [1.0, 1.0, 1.0]
    assert out.generated == len(samples) == len(out.kept) + sum(out.rejected.values())
    # only samples that passed the quality filters were sent to the verifier
    assert seen == ["good \\boxed{5}", "wrong \\boxed{6}", "verifier crashes", "verifier hangs",
                    "Ответ mixed but code", "good \\boxed{5}"]
    assert dict(out.per_domain["math"]) == {"generated": 10, "kept": 2, "too_long": 2, "repetition": 1,
                                            "language_mixing": 1, "duplicate": 1, "verifier_error": 2,
                                            "low_score": 1}
    assert dict(out.per_domain["code"]) == {"generated": 1, "kept": 1}
    assert set(out.examples) == set(out.rejected) and set(out.rejected) <= set(REASONS)


def test_partial_scores_use_the_threshold_and_dedupe_can_be_off():
    samples = [sample("a"), sample("a"), sample("b")]
    results = {"a": RewardResult(0.75), "b": RewardResult(0.5)}
    out = filter_samples(samples, FilterConfig(min_score=0.7, dedupe=False), {"math": True}, scorer(results, []))
    assert len(out.kept) == 2 and dict(out.rejected) == {"low_score": 1}


def test_no_survivors_means_no_verifier_call():
    def never(items):
        raise AssertionError("verifier called with nothing to score")
    out = filter_samples([sample("x", truncated=True)], FilterConfig(), {"math": True}, never)
    assert out.generated == 1 and dict(out.rejected) == {"too_long": 1}


def test_repetition_and_script_measures():
    assert repeat_frac("1 + 2 = 3. The answer is \\boxed{3}.", 4) == 0.0
    assert repeat_frac("a b a b a b a b a b a b", 2) > 0.8
    assert repeat_frac("short", 4) == 0.0
    assert script_mix("The answer is 5.") == 0.0
    assert script_mix("abc где") == 0.5
    assert script_mix("12 + 3") == 0.0
