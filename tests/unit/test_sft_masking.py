"""Assistant-only loss masking: exactly the assistant turns (content + end-of-turn marker) are trained on, for
single- and multi-turn chats, and bad rows are counted with their reason instead of crashing."""
from __future__ import annotations

import json

import pytest

from sft.data import IGNORE, load_examples, tokenize_conversation

CHAT = [{"role": "user", "content": "What is 2 + 3?"}, {"role": "assistant", "content": "It is \\boxed{5}."}]


def trained_text(example, tokenizer) -> list[str]:
    """Decoded runs of consecutive trained tokens."""
    runs, cur = [], []
    for tok, lab in zip(example.input_ids, example.labels):
        if lab != IGNORE:
            assert lab == tok
            cur.append(tok)
        elif cur:
            runs.append(tokenizer.decode(cur))
            cur = []
    if cur:
        runs.append(tokenizer.decode(cur))
    return runs


def test_single_turn_trains_only_the_assistant_reply(tiny_tokenizer):
    ex = tokenize_conversation(CHAT, tiny_tokenizer)
    assert tiny_tokenizer.decode(ex.input_ids) == tiny_tokenizer.apply_chat_template(CHAT, tokenize=False)
    assert trained_text(ex, tiny_tokenizer) == ["It is \\boxed{5}.<|im_end|>\n"]
    # the user turn and the assistant header are context only
    header = tiny_tokenizer.apply_chat_template(CHAT[:1], tokenize=False, add_generation_prompt=True)
    n_header = len(tiny_tokenizer(header, add_special_tokens=False).input_ids)
    assert all(lab == IGNORE for lab in ex.labels[:n_header])
    assert ex.num_targets == len(ex.input_ids) - n_header


def test_multi_turn_trains_every_assistant_turn_and_no_user_or_system_turn(tiny_tokenizer):
    chat = [{"role": "system", "content": "Be brief."}, *CHAT, {"role": "user", "content": "And 1 + 1?"},
            {"role": "assistant", "content": "\\boxed{2}"}]
    ex = tokenize_conversation(chat, tiny_tokenizer)
    assert trained_text(ex, tiny_tokenizer) == ["It is \\boxed{5}.<|im_end|>\n", "\\boxed{2}<|im_end|>\n"]


@pytest.mark.parametrize("row,reason", [
    ({"messages": [{"role": "user", "content": "hi"}]}, "no assistant message"),
    ({"messages": "just text"}, "messages missing or malformed"),
    ({"messages": [{"role": "user"}]}, "messages missing or malformed"),
    ({"text": "no messages key"}, "no 'messages' field"),
])
def test_bad_rows_are_counted_with_the_first_example(tmp_path, tiny_tokenizer, row, reason):
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [{"messages": CHAT}, row, row]) + "\n")
    examples, report = load_examples([str(path)], tiny_tokenizer, "messages", max_seq_len=512)
    assert len(examples) == 1 and report.kept == 1
    [(got, n)] = report.skipped.items()
    assert got.startswith(reason) and n == 2
    # `datasets` unifies columns across rows (missing keys become None); the row's own fields are reported
    assert {k: v for k, v in report.first_bad[got].items() if k in row} == row


def test_too_long_rows_are_skipped_and_reported(tmp_path, tiny_tokenizer):
    path = tmp_path / "d.jsonl"
    long_chat = [CHAT[0], {"role": "assistant", "content": "x " * 400}]
    path.write_text(json.dumps({"messages": CHAT}) + "\n" + json.dumps({"messages": long_chat}) + "\n")
    examples, report = load_examples([str(path)], tiny_tokenizer, "messages", max_seq_len=64)
    assert len(examples) == 1 and report.skipped == {"longer than data.max_seq_len=64": 1}


def test_template_that_is_not_prefix_stable_is_a_bad_row_not_a_crash(tiny_tokenizer):
    tok = tiny_tokenizer.__class__.from_pretrained(tiny_tokenizer.name_or_path)
    # renders only the last two messages: earlier prefixes are not prefixes of the full conversation
    tok.chat_template = ("{% for m in messages[-2:] %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                         "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    chat = [*CHAT, {"role": "user", "content": "more"}, {"role": "assistant", "content": "ok"}]
    out = tokenize_conversation(chat, tok)
    assert isinstance(out, str) and "prefix" in out
