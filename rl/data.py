"""Prompt datasets: local jsonl/parquet through HF `datasets`, validated rows, per-domain weighted sampling.

Bad rows (no prompt, no domain, prompt too long) are counted and the first example of each kind is reported,
then skipped. A domain in `data.domain_weights` with no rows is a config error.
"""
from __future__ import annotations

import json
import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.errors import ConfigError
from config.rl import DataConfig

log = logging.getLogger(__name__)


@dataclass
class PromptRecord:
    """One validated prompt. prompt_ids: [P] token ids after the chat template."""

    domain: str
    prompt_text: str
    prompt_ids: list[int]
    reference: Any
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoadReport:
    kept: Counter = field(default_factory=Counter)  # per domain
    skipped: Counter = field(default_factory=Counter)  # per reason
    first_bad: dict[str, Any] = field(default_factory=dict)  # reason -> first offending row

    def summary(self) -> str:
        parts = [f"kept {dict(self.kept)}"]
        for reason, n in self.skipped.items():
            parts.append(f"skipped {n} rows ({reason}; first: {json.dumps(self.first_bad[reason], default=str)[:200]})")
        return "; ".join(parts)


def _read_rows(files: list[str]) -> list[dict]:
    from datasets import load_dataset

    rows: list[dict] = []
    for f in files:
        path = Path(f)
        if not path.is_file():
            raise ConfigError(f"data.train_files: {f!r} does not exist; give a path to a .jsonl or .parquet file")
        kind = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}.get(path.suffix)
        if kind is None:
            raise ConfigError(f"data.train_files: {f!r} is not .jsonl/.json/.parquet")
        ds = load_dataset(kind, data_files=str(path), split="train")
        rows += ds.to_list()
    return rows


def _prompt_text(prompt: Any, tokenizer: Any, cfg: DataConfig) -> str | None:
    if isinstance(prompt, str) and prompt.strip():
        messages = [{"role": "user", "content": prompt}]
    elif isinstance(prompt, list) and prompt and all(isinstance(m, dict) and "content" in m for m in prompt):
        messages = prompt
    else:
        return None
    if not cfg.apply_chat_template:
        return messages[-1]["content"] if isinstance(prompt, list) else prompt
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def load_prompts(cfg: DataConfig, tokenizer: Any) -> tuple[dict[str, list[PromptRecord]], LoadReport]:
    """Validated prompts grouped by domain (only domains named in `data.domain_weights`)."""
    report = LoadReport()
    by_domain: dict[str, list[PromptRecord]] = {d: [] for d in cfg.domain_weights}
    reserved = {cfg.prompt_key, cfg.reference_key, cfg.domain_key}

    def skip(reason: str, row: dict) -> None:
        report.skipped[reason] += 1
        report.first_bad.setdefault(reason, row)

    for row in _read_rows(list(cfg.train_files)):
        domain = row.get(cfg.domain_key) or cfg.default_domain
        if not domain:
            skip(f"no '{cfg.domain_key}' field and no data.default_domain", row)
            continue
        if domain not in by_domain:
            skip("domain not in data.domain_weights", row)
            continue
        text = _prompt_text(row.get(cfg.prompt_key), tokenizer, cfg)
        if text is None:
            skip(f"missing or empty '{cfg.prompt_key}'", row)
            continue
        ids = tokenizer(text, add_special_tokens=False).input_ids
        if len(ids) > cfg.max_prompt_tokens:
            skip(f"prompt longer than data.max_prompt_tokens={cfg.max_prompt_tokens}", row)
            continue
        meta = {k: v for k, v in row.items() if k not in reserved}
        by_domain[domain].append(PromptRecord(domain, text, ids, row.get(cfg.reference_key), meta))
        report.kept[domain] += 1
    empty = [d for d, recs in by_domain.items() if not recs and cfg.domain_weights[d] > 0]
    if empty:
        raise ConfigError(
            f"data.domain_weights: domain(s) {empty} have no usable rows in data.train_files "
            f"(rows per domain: {dict(report.kept)}); add data for them or set their weight to 0"
        )
    if report.skipped:
        log.warning("dataset: %s", report.summary())
    return by_domain, report


def domain_counts(weights: dict[str, float], total: int) -> dict[str, int]:
    """Split `total` prompts over domains by weight (largest remainder, deterministic)."""
    s = sum(weights.values())
    exact = {d: total * w / s for d, w in weights.items()}
    counts = {d: int(v) for d, v in exact.items()}
    for d in sorted(exact, key=lambda d: exact[d] - counts[d], reverse=True)[: total - sum(counts.values())]:
        counts[d] += 1
    return counts


class PromptSampler:
    """Each call returns `prompts_per_step` records mixed by domain weight; each domain cycles through its
    shuffled rows (a new shuffle per pass), seeded."""

    def __init__(self, by_domain: dict[str, list[PromptRecord]], weights: dict[str, float], seed: int) -> None:
        self.by_domain = by_domain
        self.weights = {d: w for d, w in weights.items() if w > 0}
        self.rng = random.Random(seed)
        self.order: dict[str, list[int]] = {d: [] for d in self.weights}

    def _take(self, domain: str) -> PromptRecord:
        if not self.order[domain]:
            idx = list(range(len(self.by_domain[domain])))
            self.rng.shuffle(idx)
            self.order[domain] = idx
        return self.by_domain[domain][self.order[domain].pop()]

    def sizes(self) -> dict[str, int]:
        """Rows per sampled domain (a resumed run checks its data is the data the checkpoint was drawing from)."""
        return {d: len(self.by_domain[d]) for d in self.weights}

    def state_dict(self) -> dict:
        """Where the sampler is: its RNG and each domain's remaining order (a resumed run draws what the
        uninterrupted run would have drawn)."""
        return {"rng": self.rng.getstate(), "order": {d: list(o) for d, o in self.order.items()}}

    def load_state_dict(self, state: dict) -> None:
        missing = set(self.order) - set(state["order"])
        if missing:
            raise ValueError(f"sampler state has no position for domain(s) {sorted(missing)}")
        self.rng.setstate(state["rng"])
        self.order = {d: list(state["order"][d]) for d in self.order}

    def sample(self, n: int) -> list[PromptRecord]:
        counts = domain_counts(self.weights, n)
        return [self._take(d) for d, k in counts.items() for _ in range(k)]
