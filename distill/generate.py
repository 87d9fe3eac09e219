"""Prompt mix -> routed to each domain's expert -> K samples per prompt through a rollout engine (rollout/)."""
from __future__ import annotations

import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from config.distill import DomainConfig, GenerateConfig, PromptsConfig
from rollout.types import SamplingParams
from sft.data import read_rows

log = logging.getLogger(__name__)


@dataclass
class PromptRow:
    """One prompt of the mix. metadata: the row's other fields (e.g. io_pairs), handed to the verifier."""

    id: str
    domain: str
    prompt: str
    reference: Any
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Sample:
    """One generated response. num_tokens: generated token ids; truncated: hit max_new_tokens without stopping."""

    prompt: PromptRow
    teacher: str
    response: str
    num_tokens: int
    truncated: bool


def load_prompt_rows(files: list[str], cfg: PromptsConfig, key: str = "prompts.files") -> list[PromptRow]:
    """Rows with a string prompt and a domain; others are skipped with a warning naming the first one."""
    rows, bad = [], Counter()
    reserved = {cfg.prompt_key, cfg.reference_key, cfg.domain_key, "id"}
    for i, row in enumerate(read_rows(files, key)):
        prompt, domain = row.get(cfg.prompt_key), row.get(cfg.domain_key)
        if not isinstance(prompt, str) or not prompt.strip() or not isinstance(domain, str):
            bad[f"row {i}: needs a string '{cfg.prompt_key}' and '{cfg.domain_key}'"] += 1
            continue
        meta = {k: v for k, v in row.items() if k not in reserved and v is not None}
        rows.append(PromptRow(str(row.get("id") or f"{domain}-{i}"), domain, prompt, row.get(cfg.reference_key), meta))
    if bad:
        log.warning("%s: skipped %d rows without prompt/domain (first: %s)", key, sum(bad.values()), next(iter(bad)))
    return rows


def subsample(rows: list[PromptRow], max_per_domain: int, seed: int) -> list[PromptRow]:
    """At most `max_per_domain` rows per domain (a seeded sample, original order kept); 0 keeps all."""
    if max_per_domain <= 0:
        return rows
    by_domain: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by_domain.setdefault(r.domain, []).append(i)
    keep = set()
    for idx in by_domain.values():
        keep.update(random.Random(seed).sample(idx, min(len(idx), max_per_domain)))
    return [r for i, r in enumerate(rows) if i in keep]


def route(rows: list[PromptRow], domains: dict[str, DomainConfig]) -> tuple[dict[str, list[PromptRow]], Counter]:
    """Group prompts by the expert of their domain (enabled domains only). Returns (expert -> prompts, domain ->
    prompts that no enabled domain claims)."""
    routed: dict[str, list[PromptRow]] = {}
    unrouted: Counter = Counter()
    for r in rows:
        dc = domains.get(r.domain)
        if dc is None or not dc.enabled:
            unrouted[r.domain] += 1
            continue
        routed.setdefault(dc.expert, []).append(r)
    if unrouted:
        log.warning("prompts of domains without an enabled teacher were skipped: %s", dict(unrouted))
    return routed, unrouted


def chat_prompt_ids(tokenizer: Any, prompt: str) -> list[int]:
    text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                         add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False).input_ids


def sample_responses(model_path: str, name: str, rows: list[PromptRow], cfg: GenerateConfig, n: int,
                     temperature: float, max_new_tokens: int, dtype: str, seed: int) -> list[Sample]:
    """`n` samples per prompt from the model at `model_path` through the configured rollout engine."""
    from transformers import AutoTokenizer

    from rollout.base import setup_engine

    if not rows:
        return []
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    engine = setup_engine(cfg.engine, model_path, dtype, cfg.torch_threads, cfg.batch_size)
    params = SamplingParams(n=n, temperature=temperature, top_p=cfg.top_p, max_new_tokens=max_new_tokens, seed=seed)
    try:
        outs = engine.generate([chat_prompt_ids(tokenizer, r.prompt) for r in rows], params)
    finally:
        engine.close()  # one engine at a time: a vLLM engine's processes and memory go before the next expert's
    return [Sample(r, name, c.text, len(c.token_ids), c.finish_reason == "length")
            for r, group in zip(rows, outs) for c in group]


def generate_for_experts(routed: dict[str, list[PromptRow]], expert_paths: dict[str, str], cfg: GenerateConfig,
                         dtype: str) -> list[Sample]:
    """Each expert samples K responses for the prompts routed to it (one engine at a time)."""
    samples: list[Sample] = []
    for name, rows in routed.items():
        log.info("expert %s: %d prompts x %d samples", name, len(rows), cfg.samples_per_prompt)
        samples += sample_responses(expert_paths[name], name, rows, cfg, cfg.samples_per_prompt, cfg.temperature,
                                    cfg.max_new_tokens, dtype, cfg.seed)
    return samples
