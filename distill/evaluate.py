"""Held-out score of a checkpoint per domain: low-temperature samples on each domain's eval prompts, scored by
the domain's verifier; the score is the mean over samples the verifier could judge (failures are counted apart)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from config.distill import EvalConfig, GenerateConfig
from distill.filters import Scorer
from distill.generate import PromptRow, sample_responses
from rewards.base import VerifyRequest

log = logging.getLogger(__name__)


@dataclass
class DomainScore:
    """score: mean verifier score over judged samples (None if none could be judged); n: samples;
    verifier_errors: samples whose verifier failed (error/timeout), left out of the mean."""

    score: float | None
    n: int
    verifier_errors: int


def evaluate_checkpoint(model_path: str, name: str, eval_rows: dict[str, list[PromptRow]], gen: GenerateConfig,
                        cfg: EvalConfig, dtype: str, score: Scorer) -> dict[str, DomainScore]:
    """Score the model at `model_path` on every domain's held-out prompts (one generation call for all)."""
    rows = [r for d in eval_rows for r in eval_rows[d]]
    samples = sample_responses(model_path, name, rows, gen, cfg.samples_per_prompt, cfg.temperature,
                               cfg.max_new_tokens, dtype, cfg.seed)
    results = score([(s.prompt.domain, VerifyRequest(s.prompt.prompt, s.response, s.prompt.reference,
                                                     s.prompt.metadata)) for s in samples])
    out = {}
    for domain in eval_rows:
        judged = [r.score for s, r in zip(samples, results) if s.prompt.domain == domain and r.ok]
        n = sum(1 for s in samples if s.prompt.domain == domain)
        out[domain] = DomainScore(sum(judged) / len(judged) if judged else None, n, n - len(judged))
    log.info("eval %s: %s", name, {d: (round(s.score, 3) if s.score is not None else None) for d, s in out.items()})
    return out
