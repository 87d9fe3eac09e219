"""Rejection sampling: quality filters (length, repetition, language mixing, duplicates) and the domain verifier.

Every generated sample ends up either kept or rejected under exactly one reason, the first that applies in the
order of REASONS, so `generated == kept + sum(rejected.values())`. Cheap filters run first; only survivors go to
the verifier (code verifiers run sandboxes). A verifier failure (status error/timeout) is a rejection reason of
its own (`verifier_error`), never a score of 0.
"""
from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from config.distill import FilterConfig
from distill.generate import Sample
from rewards.base import VerifyRequest
from rewards.types import RewardResult

REASONS = ("too_long", "repetition", "language_mixing", "duplicate", "verifier_error", "low_score")
Scorer = Callable[[list[tuple[str, VerifyRequest]]], list[RewardResult]]


@dataclass
class FilterOutcome:
    """kept: samples that passed; rejected: reason -> count; per_domain: domain -> {generated, kept, <reason>}."""

    kept: list[Sample] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)  # verifier score of each kept sample
    rejected: Counter = field(default_factory=Counter)
    per_domain: dict[str, Counter] = field(default_factory=dict)
    examples: dict[str, Sample] = field(default_factory=dict)  # reason -> first rejected sample

    @property
    def generated(self) -> int:
        return len(self.kept) + sum(self.rejected.values())

    def reject(self, sample: Sample, reason: str) -> None:
        self.rejected[reason] += 1
        self.per_domain.setdefault(sample.prompt.domain, Counter())[reason] += 1
        self.examples.setdefault(reason, sample)


def repeat_frac(text: str, n: int) -> float:
    """1 - distinct/total word n-grams: 0 for text without repeats, -> 1 for one n-gram looped."""
    words = text.split()
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


def _script(ch: str) -> str:
    """Unicode script of a letter, from its character name (LATIN, CYRILLIC, CJK, GREEK, ARABIC, ...)."""
    name = unicodedata.name(ch, "")
    return name.split(" ")[0] if name else "UNKNOWN"


def script_mix(text: str) -> float:
    """Fraction of letters outside the text's most common script (0 for single-script text)."""
    scripts = Counter(_script(ch) for ch in text if ch.isalpha())
    total = sum(scripts.values())
    return 1 - max(scripts.values()) / total if total else 0.0


def quality_reason(sample: Sample, cfg: FilterConfig, natural_language: bool) -> str | None:
    """The first quality filter the sample fails, or None."""
    if sample.truncated or (cfg.max_response_tokens and sample.num_tokens > cfg.max_response_tokens):
        return "too_long"
    if repeat_frac(sample.response, cfg.repeat_ngram) > cfg.max_repeat_frac:
        return "repetition"
    if natural_language and script_mix(sample.response) > cfg.max_script_mix:
        return "language_mixing"
    return None


def filter_samples(samples: list[Sample], cfg: FilterConfig, natural_language: dict[str, bool],
                   score: Scorer) -> FilterOutcome:
    """Apply the quality filters, then the domain verifiers (through `score`, e.g. VerifierProcessPool.score)."""
    out = FilterOutcome()
    seen: set[tuple[str, str, str]] = set()
    survivors: list[Sample] = []
    for s in samples:
        out.per_domain.setdefault(s.prompt.domain, Counter())["generated"] += 1
        reason = quality_reason(s, cfg, natural_language.get(s.prompt.domain, True))
        key = (s.prompt.domain, s.prompt.id, s.response.strip())
        if reason is None and cfg.dedupe and key in seen:
            reason = "duplicate"
        if reason is not None:
            out.reject(s, reason)
            continue
        seen.add(key)
        survivors.append(s)
    requests = [(s.prompt.domain, VerifyRequest(s.prompt.prompt, s.response, s.prompt.reference, s.prompt.metadata))
                for s in survivors]
    for s, res in zip(survivors, score(requests) if requests else []):
        if not res.ok:
            out.reject(s, "verifier_error")
        elif res.score < cfg.min_score:
            out.reject(s, "low_score")
        else:
            out.kept.append(s)
            out.scores.append(res.score)
            out.per_domain[s.prompt.domain]["kept"] += 1
    return out
