"""Prompt datasets as users have them: jsonl/json, parquet, or a `datasets.save_to_disk` directory, read through HF
`datasets`, with a field map (dotted paths into nested fields) per file; validated rows, per-domain weighted sampling.

Formats and keys: docs/config.md (data). A row's prompt is a string (wrapped as one user message) or a list of chat
messages [{role, content}] rendered as given (system messages kept) by the tokenizer's chat template. Bad rows (no
prompt, no domain, domain outside the mix) are counted, the first example of each kind is reported with its file and
row, and skipped. Prompts over `data.max_prompt_tokens` are dropped or truncated (`data.overlong_prompt`) and
counted. A field the whole file lacks (a wrong `prompt_key`) is a ConfigError naming the file and its keys. A domain
in `data.domain_weights` with no rows is a config error.
"""
from __future__ import annotations

import json
import logging
import random
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.errors import ConfigError
from config.rl import DataConfig, DataFile, data_file

log = logging.getLogger(__name__)

_ABSENT = object()
_SUFFIX_KIND = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}


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
    """What loading did, accumulated over files. `summary()` is the line rl/train.py logs."""

    max_prompt_tokens: int | None = None
    rows_read: dict[str, int] = field(default_factory=dict)  # per file
    kept: Counter = field(default_factory=Counter)  # per domain
    skipped: Counter = field(default_factory=Counter)  # per reason (overlong drops are counted apart)
    first_bad: dict[str, str] = field(default_factory=dict)  # reason (or "overlong") -> where + first offending row
    overlong_dropped: int = 0  # prompts over max_prompt_tokens left out (data.overlong_prompt=drop, or unfit to cut)
    overlong_truncated: int = 0  # prompts cut to max_prompt_tokens (data.overlong_prompt=truncate)
    outside_domains: Counter = field(default_factory=Counter)  # domain values of rows skipped as outside the mix
    notes: list[str] = field(default_factory=list)  # per-file remarks (e.g. a file without the answer field)

    def bad(self, reason: str, where: str, row: dict) -> None:
        self.first_bad.setdefault(reason, f"{where}: {json.dumps(row, default=str)[:200]}")

    def summary(self) -> str:
        parts = [f"read {sum(self.rows_read.values())} rows from {len(self.rows_read)} file(s)",
                 f"kept {dict(self.kept)}"]
        over = (f"prompts over data.max_prompt_tokens={self.max_prompt_tokens}: {self.overlong_dropped} dropped, "
                f"{self.overlong_truncated} truncated")
        parts.append(over + (f" (first: {self.first_bad['overlong']})" if "overlong" in self.first_bad else ""))
        for reason, n in self.skipped.items():
            parts.append(f"skipped {n} rows ({reason}; first: {self.first_bad[reason]})")
        if self.outside_domains:
            parts.append(f"domain values outside data.domain_weights: {dict(self.outside_domains.most_common(5))} "
                         "(name them there or map them with data.domain_map: {value: domain})")
        return "; ".join(parts + self.notes)


def field_value(row: dict, path: str) -> Any:
    """The value at `path` in `row`: a top-level key, else a dotted path through nested mappings (and list indices);
    `_ABSENT` when the path does not exist."""
    if path in row:
        return row[path]
    node: Any = row
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _ABSENT
    return node


def key_paths(row: dict, prefix: str = "", depth: int = 2) -> list[str]:
    """A row's keys as dotted paths (nested mappings opened `depth` levels deep): what a field map can name."""
    out = []
    for k, v in row.items():
        if isinstance(v, dict) and v and depth > 1:
            out += key_paths(v, f"{prefix}{k}.", depth - 1)
        else:
            out.append(f"{prefix}{k}")
    return out


def _missing(value: Any) -> bool:
    return value is _ABSENT or value is None or value == ""


def read_rows(spec: DataFile, key: str) -> list[dict]:
    """All rows of one file (.jsonl/.json, .parquet) or `datasets.save_to_disk` directory, as plain dicts."""
    import datasets

    path = Path(spec.path).expanduser()
    if path.is_dir():
        if not ((path / "dataset_dict.json").is_file() or (path / "state.json").is_file()):
            raise ConfigError(f"{key}: {spec.path!r} is a directory but not one written by datasets.save_to_disk (no "
                              "dataset_dict.json or state.json); list its .jsonl/.parquet files instead")
        ds = datasets.load_from_disk(str(path))
        if isinstance(ds, datasets.DatasetDict):
            splits = list(ds)
            split = spec.split or ("train" if "train" in ds else splits[0] if len(splits) == 1 else None)
            if split not in ds:
                raise ConfigError(f"{key}: {spec.path!r} holds splits {splits}; choose one with "
                                  f"{{path: {spec.path}, split: NAME}}")
            ds = ds[split]
        elif spec.split:
            raise ConfigError(f"{key}: {spec.path!r} holds a single dataset, not splits; remove split")
        return ds.to_list()
    if not path.is_file():
        raise ConfigError(f"{key}: {spec.path!r} does not exist; give a .jsonl/.json or .parquet file, or a directory "
                          "written by datasets.save_to_disk")
    kind = _SUFFIX_KIND.get(path.suffix)
    if kind is None:
        raise ConfigError(f"{key}: {spec.path!r} is not .jsonl/.json/.parquet nor a datasets.save_to_disk directory")
    if spec.split:
        raise ConfigError(f"{key}: split applies to save_to_disk directories only; remove it for {spec.path!r}")
    try:
        ds = datasets.load_dataset(kind, data_files=str(path), split="train")
    except Exception as exc:  # arrow/json errors of a malformed file: name the file, keep the cause
        detail = " ".join(str(exc).split())[:300]
        raise ConfigError(f"{key}: HF datasets could not read {spec.path!r} as {kind} ({type(exc).__name__}: "
                          f"{detail}); fix the file") from exc
    return ds.to_list()


def _messages(prompt: Any) -> list[dict] | None:
    """A prompt as chat messages: a non-empty string becomes one user message; a list of {role, content} mappings is
    kept as given (fields that are None, e.g. filled in by Arrow for other rows' keys, are dropped)."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}] if prompt.strip() else None
    def is_message(m: Any) -> bool:
        return isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)

    if isinstance(prompt, list) and prompt and all(is_message(m) for m in prompt):
        return [{k: v for k, v in m.items() if v is not None} for m in prompt]
    return None


def _render(messages: list[dict], tokenizer: Any, cfg: DataConfig) -> str:
    if not cfg.apply_chat_template:
        return messages[-1]["content"]
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def _encode(text: str, tokenizer: Any) -> list[int]:
    return tokenizer(text, add_special_tokens=False).input_ids


def _fit(messages: list[dict], tokenizer: Any, cfg: DataConfig) -> tuple[str, list[int]] | None:
    """Cut the text of the last user message from the left until the rendered prompt fits data.max_prompt_tokens:
    the chat template, system and other messages stay whole and the message keeps its end (where the question and
    the answer-format instruction usually are). None when the rest of the prompt alone is over the budget."""
    budget = cfg.max_prompt_tokens
    users = [i for i, m in enumerate(messages) if m["role"] == "user"]
    idx = users[-1] if users and cfg.apply_chat_template else len(messages) - 1
    content_ids = _encode(messages[idx]["content"], tokenizer)
    keep, ids = len(content_ids), _encode(_render(messages, tokenizer, cfg), tokenizer)
    for _ in range(4):  # token boundaries can shift by a few tokens after the cut: re-measure
        keep -= len(ids) - budget
        if keep <= 0:
            return None
        cut = {**messages[idx], "content": tokenizer.decode(content_ids[-keep:])}
        text = _render(messages[:idx] + [cut] + messages[idx + 1:], tokenizer, cfg)
        ids = _encode(text, tokenizer)
        if len(ids) <= budget:
            return text, ids
    return None


def _check_fields(spec: DataFile, rows: list[dict], cfg: DataConfig, key: str, report: LoadReport) -> None:
    """A field map that names a field no row of the file has is a config error (naming the file and its keys)."""
    if not rows:
        report.notes.append(f"{spec.path}: no rows")
        return
    keys = key_paths(rows[0])

    def has(path: str) -> bool:
        return any(not _missing(field_value(r, path)) for r in rows)

    if not has(spec.prompt_key):
        raise ConfigError(f"{key}: no row of {spec.path} has the prompt field {spec.prompt_key!r} (row 0's keys: "
                          f"{keys}); set prompt_key in this file's entry ({{path: {spec.path}, prompt_key: KEY}}) "
                          "or data.prompt_key")
    if spec.domain is None and cfg.default_domain is None and not has(spec.domain_key):
        raise ConfigError(f"{key}: no row of {spec.path} has the domain field {spec.domain_key!r} (row 0's keys: "
                          f"{keys}); give the file a fixed domain ({{path: {spec.path}, domain: DOMAIN}}), name the "
                          "field with domain_key (verl: data_source, plus data.domain_map), or set data.default_domain")
    if not has(spec.answer_key):
        report.notes.append(f"{spec.path} has no answer field {spec.answer_key!r}, rows carry reference=None (keys: "
                            f"{keys}; set answer_key if its verifier needs one)")


def _row_domain(row: dict, spec: DataFile, cfg: DataConfig) -> str | None:
    if spec.domain:
        return spec.domain
    raw = field_value(row, spec.domain_key)
    if _missing(raw):
        return cfg.default_domain
    return cfg.domain_map.get(str(raw), str(raw))


def _record(row: dict, where: str, spec: DataFile, cfg: DataConfig, tokenizer: Any, report: LoadReport,
            domains: Collection[str] | None) -> PromptRecord | None:
    """One row as a PromptRecord, or None (counted in `report`) when it is skipped."""
    def skip(reason: str) -> None:
        report.skipped[reason] += 1
        report.bad(reason, f"{where}, keys {key_paths(row)}", row)

    domain = _row_domain(row, spec, cfg)
    if domain is None:
        return skip(f"no '{spec.domain_key}' field and no data.default_domain")
    if domains is not None and domain not in domains:
        report.outside_domains[domain] += 1
        return skip("domain not in data.domain_weights")
    messages = _messages(field_value(row, spec.prompt_key))
    if messages is None:
        return skip(f"missing or empty '{spec.prompt_key}'")
    text = _render(messages, tokenizer, cfg)
    ids = _encode(text, tokenizer)
    if len(ids) > cfg.max_prompt_tokens:
        report.bad("overlong", f"{where} ({len(ids)} tokens)", row)
        fitted = _fit(messages, tokenizer, cfg) if cfg.overlong_prompt == "truncate" else None
        if fitted is None:
            report.overlong_dropped += 1
            return None
        report.overlong_truncated += 1
        text, ids = fitted
    answer = field_value(row, spec.answer_key)
    reserved = {spec.prompt_key, spec.answer_key, spec.domain_key}
    meta = {k: v for k, v in row.items() if k not in reserved}
    report.kept[domain] += 1
    return PromptRecord(domain, text, ids, None if answer is _ABSENT else answer, meta)


def load_prompt_file(entry: str | dict | DataFile, cfg: DataConfig, tokenizer: Any, report: LoadReport | None = None,
                     key: str = "data.train_files", domains: Collection[str] | None = None,
                     ) -> tuple[list[PromptRecord], LoadReport]:
    """Validated prompts of one file or save_to_disk directory, in file order. `entry`: a path or a mapping
    {path, domain, prompt_key, answer_key, domain_key, split}; keys it leaves out come from `cfg` (the data section).
    `report`: accumulate into it (a new one when None); `key`: the config key named in errors; `domains`: rows of
    other domains are skipped (None: any domain). For a held-out file of one domain:
    `load_prompt_file({"path": p, "domain": "math"}, cfg.data, tokenizer, key="eval.files.math")`."""
    report = report if report is not None else LoadReport(max_prompt_tokens=cfg.max_prompt_tokens)
    spec = entry if isinstance(entry, DataFile) else data_file(entry, cfg, key)
    rows = read_rows(spec, key)
    report.rows_read[spec.path] = report.rows_read.get(spec.path, 0) + len(rows)
    _check_fields(spec, rows, cfg, key, report)
    records = [_record(row, f"{spec.path} row {i}", spec, cfg, tokenizer, report, domains)
               for i, row in enumerate(rows)]
    return [r for r in records if r is not None], report


def load_prompts(cfg: DataConfig, tokenizer: Any) -> tuple[dict[str, list[PromptRecord]], LoadReport]:
    """Validated prompts of every `data.train_files` entry grouped by domain (only domains in `data.domain_weights`)."""
    report = LoadReport(max_prompt_tokens=cfg.max_prompt_tokens)
    by_domain: dict[str, list[PromptRecord]] = {d: [] for d in cfg.domain_weights}
    for i, entry in enumerate(cfg.train_files):
        records, _ = load_prompt_file(entry, cfg, tokenizer, report, f"data.train_files[{i}]", domains=by_domain)
        for rec in records:
            by_domain[rec.domain].append(rec)
    empty = [d for d, recs in by_domain.items() if not recs and cfg.domain_weights[d] > 0]
    if empty:
        hint = (f"; rows had domain values {dict(report.outside_domains.most_common(5))}: map them with "
                "data.domain_map: {value: domain} or give each file a fixed domain") if report.outside_domains else ""
        raise ConfigError(
            f"data.domain_weights: domain(s) {empty} have no usable rows in data.train_files "
            f"(rows per domain: {dict(report.kept)}{hint}); add data for them or set their weight to 0"
        )
    if report.skipped or report.overlong_dropped:
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
