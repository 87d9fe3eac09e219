"""SFT data: chat rows -> token ids with assistant-only labels.

Each row holds a list of chat messages. The tokenizer's own chat template renders the conversation; the
characters of each assistant turn are located by rendering the conversation prefix by prefix
(`messages[:i]` + generation prompt ... `messages[:i+1]`), and a token is trained on when its character span
starts inside an assistant turn (fast-tokenizer offsets). The turn includes its end-of-turn marker, so the model
learns to stop. Bad rows are counted per reason, the first example of each is reported, and they are skipped.
"""
from __future__ import annotations

import json
import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from config.errors import ConfigError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)
IGNORE = -100  # label of a token that is not trained on


@dataclass
class SFTExample:
    """One tokenized conversation. input_ids: [T]; labels: [T], the token id where it is trained on, else -100
    (labels are not shifted: position t's logits are scored against labels[t + 1]).
    teacher: the row's teacher name (token-level distillation), if any. topk_ids / topk_probs: [T, k] the
    teacher's top-k next-token ids and their renormalised probabilities at position t (zeros where position t has
    no target), filled by sft.teacher.annotate_topk."""

    input_ids: list[int]
    labels: list[int]
    teacher: str | None = None
    topk_ids: "torch.Tensor | None" = None
    topk_probs: "torch.Tensor | None" = None

    @property
    def num_targets(self) -> int:
        return sum(1 for x in self.labels[1:] if x != IGNORE)


@dataclass
class DataReport:
    kept: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> rows
    first_bad: dict[str, Any] = field(default_factory=dict)  # reason -> first offending row

    def skip(self, reason: str, row: Any) -> None:
        self.skipped[reason] += 1
        self.first_bad.setdefault(reason, row)

    def summary(self) -> str:
        parts = [f"kept {self.kept} rows"]
        for reason, n in self.skipped.items():
            first = json.dumps(self.first_bad[reason], default=str)[:200]
            parts.append(f"skipped {n} ({reason}; first: {first})")
        return "; ".join(parts)


def read_rows(files: list[str], key: str) -> list[dict]:
    """Rows of local .jsonl/.json/.parquet files through HF `datasets`. `key` names the config field (for errors)."""
    from datasets import load_dataset

    rows: list[dict] = []
    for f in files:
        path = Path(f)
        kind = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}.get(path.suffix)
        if not path.is_file():
            raise ConfigError(f"{key}: {f!r} does not exist; give a path to a .jsonl or .parquet file")
        if kind is None:
            raise ConfigError(f"{key}: {f!r} is not .jsonl/.json/.parquet")
        rows += load_dataset(kind, data_files=str(path), split="train").to_list()
    return rows


def _valid_messages(messages: Any) -> bool:
    return (isinstance(messages, list) and bool(messages)
            and all(isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                    for m in messages))


def assistant_spans(messages: list[dict], tokenizer: Any) -> tuple[str, list[tuple[int, int]]] | str:
    """The rendered conversation and the [start, end) character spans of its assistant turns, or a reason string
    when the template cannot be split turn by turn (it is not prefix-stable)."""
    render = lambda msgs, gen=False: tokenizer.apply_chat_template(  # noqa: E731
        msgs, tokenize=False, add_generation_prompt=gen)
    text = render(messages)
    spans = []
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        head, upto = render(messages[:i], True) if i else "", render(messages[: i + 1])
        if i and not head.startswith(render(messages[:i])):
            return "chat template: generation prompt does not extend the conversation"
        if not (upto.startswith(head) and text.startswith(upto)):
            return "chat template is not prefix-stable (renders earlier turns differently)"
        if i == 0:  # an assistant turn first: its header is whatever precedes the content
            head = upto[: max(upto.find(msg["content"]), 0)]
        spans.append((len(head), len(upto)))
    return text, spans


def tokenize_conversation(messages: list[dict], tokenizer: Any) -> SFTExample | str:
    """Token ids and assistant-only labels of one conversation, or a reason string for a bad row."""
    if not _valid_messages(messages):
        return "messages missing or malformed (need a list of {role, content} strings)"
    if not any(m["role"] == "assistant" for m in messages):
        return "no assistant message"
    split = assistant_spans(messages, tokenizer)
    if isinstance(split, str):
        return split
    text, spans = split
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    labels = []
    for tok, (start, _end) in zip(enc.input_ids, enc.offset_mapping):
        inside = any(a <= start < b for a, b in spans)
        labels.append(tok if inside else IGNORE)
    example = SFTExample(list(enc.input_ids), labels)
    if example.num_targets == 0:
        return "no assistant tokens after tokenization"
    return example


def load_examples(files: list[str], tokenizer: Any, messages_key: str, max_seq_len: int,
                  key: str = "data.train_files", teacher_key: str | None = None) -> tuple[list[SFTExample], DataReport]:
    """Tokenized conversations of `files` (with the row's `teacher_key` field as the example's teacher); bad rows
    are skipped and counted in the report."""
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError("model.path: SFT label masking needs a fast tokenizer (offset mapping); "
                          "use a model that ships tokenizer.json")
    report, examples = DataReport(), []
    for row in read_rows(files, key):
        if row.get(messages_key) is None:
            report.skip(f"no '{messages_key}' field (data.messages_key)", row)
            continue
        out = tokenize_conversation(row[messages_key], tokenizer)
        if isinstance(out, str):
            report.skip(out, row)
        elif len(out.input_ids) > max_seq_len:
            report.skip(f"longer than data.max_seq_len={max_seq_len}", row)
        else:
            out.teacher = row.get(teacher_key) if teacher_key else None
            examples.append(out)
            report.kept += 1
    if report.skipped:
        log.warning("%s: %s", key, report.summary())
    if not examples:
        raise ConfigError(f"{key}: no usable rows ({report.summary()}); fix the data or data.messages_key")
    return examples, report


def split_eval(examples: list[SFTExample], fraction: float, seed: int) -> tuple[list[SFTExample], list[SFTExample]]:
    """Deterministic (train, eval) split; at least one eval example when fraction > 0 and there are 2+ examples."""
    if fraction <= 0 or len(examples) < 2:
        return examples, []
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_eval = max(1, int(len(examples) * fraction))
    held = set(order[:n_eval])
    return ([e for i, e in enumerate(examples) if i not in held], [e for i, e in enumerate(examples) if i in held])
